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
