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

    /// For an order that compares a head of each key bytewise before anything else, where
    /// the head is all of a key but its last `n` bytes: `Some(n)`; `None` (the default) for any
    /// other order. The bytewise order's head is the whole key (`Some(0)`); the engine's
    /// internal-key order over bytewise user keys has the user key as its head (`Some(8)`, the
    /// trailer). The promise: when two keys' heads differ at a byte inside both heads, the
    /// keys order as that byte does, and a key whose head is a proper prefix of the other's
    /// head orders first. Lets a reader skip the bytes a run of keys shares and decide most
    /// comparisons from a single byte.
    fn bytewise_head_tail(&self) -> Option<usize> {
        None
    }
}

/// The head of `key` under a [`Comparator::bytewise_head_tail`] of `tail`: all but its last
/// `tail` bytes (empty for a shorter key).
#[inline]
pub fn bytewise_head(key: &[u8], tail: usize) -> &[u8] {
    key.get(..key.len().saturating_sub(tail)).unwrap_or_default()
}

/// The number of leading bytes `a` and `b` share, eight at a time.
#[inline]
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i..i + 8), b.get(i..i + 8)) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else { break };
        let diff = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    // i <= n: it only grows past bytes both slices have.
    let (ra, rb) = (a.get(i..n).unwrap_or_default(), b.get(i..n).unwrap_or_default());
    i + ra.iter().zip(rb).take_while(|(x, y)| x == y).count()
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

    fn bytewise_head_tail(&self) -> Option<usize> {
        Some(0)
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
