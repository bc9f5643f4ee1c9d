//! Key comparators.
//!
//! A table stores its comparator's [`Comparator::name`] and refuses to open under another one,
//! because a table sorted by one order is garbage under another.

use std::cmp::Ordering;
use std::fmt::Debug;

/// A total order over keys, plus the helpers a table builder needs to shorten index keys.
pub trait Comparator: Send + Sync + Debug {
    /// Stored in every table; must change whenever the order changes.
    fn name(&self) -> &str;

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering;

    /// A short key `k` with `start <= k < limit` (when `start < limit`), used as an index
    /// separator between two blocks. Returning `start` itself is always correct.
    fn separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8> {
        let _ = limit;
        start.to_vec()
    }

    /// A short key `k >= key`, used after the last block. Returning `key` is always correct.
    fn successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }

    /// The part of a key that bloom filters hash. Identity by default; the engine's
    /// internal-key comparator strips the sequence-number trailer so that a filter answers
    /// for a user key whatever its version.
    fn filter_key<'a>(&self, key: &'a [u8]) -> &'a [u8] {
        key
    }

    /// A 64-bit summary of `key` whose order agrees with this comparator's: whenever
    /// `compare(a, b)` is `Less`, `order_prefix(a) <= order_prefix(b)`, and whenever it is
    /// `Equal`, the two summaries are equal (a comparator that calls different bytes equal must
    /// summarize them alike, or return `None`). Lets a reader
    /// binary-search a dense array of summaries and compare whole keys only where summaries tie.
    /// `None` (the default) when the comparator has no such summary; it must then be `None` for
    /// every key.
    fn order_prefix(&self, key: &[u8]) -> Option<u64> {
        let _ = key;
        None
    }
}

/// The first eight bytes of `key` as a big-endian integer, zero-padded: bytewise order's
/// [`Comparator::order_prefix`]. If `a < b` bytewise they first differ at a byte below eight (so
/// the summaries differ the same way), or one is a prefix of the other (zero padding sorts it
/// first or equal), or they agree on eight bytes (equal summaries).
#[inline]
pub fn bytewise_order_prefix(key: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = key.len().min(8);
    buf[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(buf)
}

/// Lexicographic byte order, the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct BytewiseComparator;

impl BytewiseComparator {
    pub const NAME: &'static str = "strata.BytewiseComparator";
}

/// Shortest `k` with `start <= k < limit` in bytewise order (LevelDB's rule: increment the first
/// differing byte when that keeps it below `limit`).
pub fn bytewise_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let common = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if common < start.len() && common < limit.len() {
        let byte = start[common];
        if byte < 0xff && byte + 1 < limit[common] {
            let mut out = start[..=common].to_vec();
            out[common] = byte + 1;
            return out;
        }
    }
    start.to_vec()
}

/// Shortest `k >= key` in bytewise order: the first byte that can be incremented, incremented.
pub fn bytewise_successor(key: &[u8]) -> Vec<u8> {
    for (i, &b) in key.iter().enumerate() {
        if b != 0xff {
            let mut out = key[..=i].to_vec();
            out[i] = b + 1;
            return out;
        }
    }
    key.to_vec()
}

impl Comparator for BytewiseComparator {
    fn name(&self) -> &str {
        Self::NAME
    }

    #[inline]
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8> {
        bytewise_separator(start, limit)
    }

    fn successor(&self, key: &[u8]) -> Vec<u8> {
        bytewise_successor(key)
    }

    fn order_prefix(&self, key: &[u8]) -> Option<u64> {
        Some(bytewise_order_prefix(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn separator_examples() {
        assert_eq!(bytewise_separator(b"abc", b"abz"), b"abd".to_vec());
        assert_eq!(bytewise_separator(b"abc", b"abd"), b"abc".to_vec());
        assert_eq!(bytewise_separator(b"ab", b"abc"), b"ab".to_vec());
        assert_eq!(bytewise_successor(b"\xff\xffa"), b"\xff\xffb".to_vec());
        assert_eq!(bytewise_successor(b"\xff"), b"\xff".to_vec());
    }

    proptest! {
        /// `order_prefix` agrees with the order: a < b implies prefix(a) <= prefix(b), for
        /// bytewise keys and for internal keys over them (the alphabet makes ties on eight
        /// bytes, short keys and zero padding common).
        #[test]
        fn order_prefix_agrees_with_the_order(
            a in proptest::collection::vec(proptest::sample::select(vec![0u8, 1, 0xff]), 0..12),
            b in proptest::collection::vec(proptest::sample::select(vec![0u8, 1, 0xff]), 0..12),
            sa in 0u64..4, sb in 0u64..4,
        ) {
            let by = BytewiseComparator;
            let (pa, pb) = (by.order_prefix(&a).unwrap(), by.order_prefix(&b).unwrap());
            match a.cmp(&b) {
                Ordering::Less => prop_assert!(pa <= pb),
                Ordering::Greater => prop_assert!(pa >= pb),
                Ordering::Equal => prop_assert_eq!(pa, pb),
            }
            let ic = crate::ikey::InternalKeyComparator::new(std::sync::Arc::new(BytewiseComparator));
            let (ia, ib) = (crate::ikey::encode(&a, sa, crate::ikey::ValueKind::Put), crate::ikey::encode(&b, sb, crate::ikey::ValueKind::Put));
            let (qa, qb) = (ic.order_prefix(&ia).unwrap(), ic.order_prefix(&ib).unwrap());
            match ic.compare(&ia, &ib) {
                Ordering::Less => prop_assert!(qa <= qb),
                Ordering::Greater => prop_assert!(qa >= qb),
                Ordering::Equal => prop_assert_eq!(qa, qb),
            }
        }
    }

    proptest! {
        #[test]
        fn separator_is_between(mut a in proptest::collection::vec(any::<u8>(), 0..8),
                                mut b in proptest::collection::vec(any::<u8>(), 0..8)) {
            if a > b { std::mem::swap(&mut a, &mut b); }
            prop_assume!(a < b);
            let s = bytewise_separator(&a, &b);
            prop_assert!(a <= s && s < b);
            let t = bytewise_successor(&a);
            prop_assert!(t >= a);
        }
    }
}
