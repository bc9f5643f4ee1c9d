//! Internal keys: a user key plus a sequence number and a kind.
//!
//! The layout (a user key then an 8-byte *trailer* packing the sequence number and kind), the
//! order (newest version of a key first) and a worked example are in
//! `docs/format/internal_key.md`, which `base/tests/ikey_format_example.rs` checks.
//!
//! Invariants: `seq <= SEQ_MAX` (56 bits); every internal key is at least [`TRAILER_LEN`] bytes.

use crate::comparator::{BytewiseComparator, Comparator};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A sequence number: the position of a write in the database's single history.
pub type SeqNo = u64;

/// The largest sequence number that fits in a trailer.
pub const SEQ_MAX: SeqNo = (1 << 56) - 1;
/// Bytes of the trailer after the user key.
pub const TRAILER_LEN: usize = 8;

/// What an entry says about its key. DO NOT CHANGE THESE VALUES: they are stored in tables,
/// write batches and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is deleted as of this sequence number.
    Delete = 0,
    /// A value.
    Put = 1,
}

impl ValueKind {
    /// The largest kind byte; used in lookup keys so they sort before every entry of their
    /// sequence number.
    pub const MAX: ValueKind = ValueKind::Put;

    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Delete),
            1 => Some(Self::Put),
            _ => None,
        }
    }
}

#[inline]
pub fn pack_trailer(seq: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seq <= SEQ_MAX, "sequence {seq} exceeds SEQ_MAX");
    (seq << 8) | kind as u64
}

/// Appends the internal key for `(user_key, seq, kind)` to `dst`.
#[inline]
pub fn encode_into(dst: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: ValueKind) {
    dst.reserve(user_key.len() + TRAILER_LEN);
    dst.extend_from_slice(user_key);
    dst.extend_from_slice(&pack_trailer(seq, kind).to_le_bytes());
}

/// The internal key for `(user_key, seq, kind)`.
#[inline]
pub fn encode(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    encode_into(&mut v, user_key, seq, kind);
    v
}

/// The key a reader at `seq` seeks to: it sorts before every version of `user_key` that is
/// `<= seq` and after every newer one.
#[inline]
pub fn lookup_key(user_key: &[u8], seq: SeqNo) -> Vec<u8> {
    encode(user_key, seq, ValueKind::MAX)
}

/// A decoded view of an internal key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub user_key: &'a [u8],
    pub seq: SeqNo,
    pub kind: ValueKind,
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}:{:?}", String::from_utf8_lossy(self.user_key), self.seq, self.kind)
    }
}

/// Splits an internal key; `None` if it is too short or its kind byte is unknown.
#[inline]
pub fn parse(ikey: &[u8]) -> Option<ParsedKey<'_>> {
    let split = ikey.len().checked_sub(TRAILER_LEN)?;
    let (user_key, trailer) = ikey.split_at(split);
    let trailer = u64::from_le_bytes(trailer.try_into().ok()?);
    let kind = ValueKind::from_u8((trailer & 0xff) as u8)?;
    Some(ParsedKey { user_key, seq: trailer >> 8, kind })
}

/// The user key of an internal key (the whole input if it is too short to have a trailer).
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER_LEN)]
}

#[inline]
fn trailer(ikey: &[u8]) -> u64 {
    let n = ikey.len();
    if n < TRAILER_LEN {
        return 0;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&ikey[n - TRAILER_LEN..]);
    u64::from_le_bytes(t)
}

/// `a.cmp(b)` for byte strings, eight bytes at a time as big-endian words (no `memcmp` call:
/// keys are short, and a read compares some 25 of them).
#[inline]
fn bytewise_compare(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_be_bytes(x.try_into().unwrap_or_default());
        let y = u64::from_be_bytes(y.try_into().unwrap_or_default());
        if x != y {
            return x.cmp(&y);
        }
    }
    // Equal so far; what is left of the shorter one is less than a word.
    let done = a.len().min(b.len()) / 8 * 8;
    let (ta, tb) = (a.get(done..).unwrap_or_default(), b.get(done..).unwrap_or_default());
    for (x, y) in ta.iter().zip(tb) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Orders internal keys: user key by the wrapped comparator, then trailer descending.
#[derive(Debug, Clone)]
pub struct InternalKeyComparator {
    user: Arc<dyn Comparator>,
    name: String,
    /// The user order is bytewise (the comparator bears [`BytewiseComparator::NAME`], which
    /// names that order and no other): user keys are compared inline, not through `user`.
    /// Every read compares keys some 25 times, so the dynamic call is worth skipping.
    bytewise: bool,
}

impl InternalKeyComparator {
    pub fn new(user: Arc<dyn Comparator>) -> Self {
        let name = format!("strata.InternalKeyComparator:{}", user.name());
        let bytewise = user.name() == BytewiseComparator::NAME;
        Self { user, name, bytewise }
    }

    pub fn user_comparator(&self) -> &Arc<dyn Comparator> {
        &self.user
    }
}

impl Comparator for InternalKeyComparator {
    fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        let users = if self.bytewise {
            bytewise_compare(user_key(a), user_key(b))
        } else {
            self.user.compare(user_key(a), user_key(b))
        };
        users.then_with(|| trailer(b).cmp(&trailer(a)))
    }

    fn separator(&self, start: &[u8], limit: &[u8]) -> Vec<u8> {
        let (su, lu) = (user_key(start), user_key(limit));
        let sep = self.user.separator(su, lu);
        if sep.len() < su.len() && self.user.compare(su, &sep) == Ordering::Less {
            // A strictly larger, shorter user key: give it the largest trailer so it sorts
            // first among its versions.
            let mut out = sep;
            out.extend_from_slice(&pack_trailer(SEQ_MAX, ValueKind::MAX).to_le_bytes());
            return out;
        }
        start.to_vec()
    }

    fn successor(&self, key: &[u8]) -> Vec<u8> {
        let u = user_key(key);
        let succ = self.user.successor(u);
        if succ.len() < u.len() && self.user.compare(u, &succ) == Ordering::Less {
            let mut out = succ;
            out.extend_from_slice(&pack_trailer(SEQ_MAX, ValueKind::MAX).to_le_bytes());
            return out;
        }
        key.to_vec()
    }

    /// The user key's summary: internal keys order by user key first, so the user order's
    /// summary agrees with this order too.
    fn order_prefix(&self, key: &[u8]) -> Option<u64> {
        if self.bytewise {
            Some(crate::comparator::bytewise_order_prefix(user_key(key)))
        } else {
            self.user.order_prefix(user_key(key))
        }
    }

    #[inline]
    fn filter_key<'a>(&self, key: &'a [u8]) -> &'a [u8] {
        user_key(key)
    }

    /// The user key, when the user order is bytewise: internal keys order by user key first,
    /// and the trailer is the last `TRAILER_LEN` bytes.
    fn bytewise_head_tail(&self) -> Option<usize> {
        self.bytewise.then_some(TRAILER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp() -> InternalKeyComparator {
        InternalKeyComparator::new(Arc::new(BytewiseComparator))
    }

    #[test]
    fn order_is_user_key_then_newest_first() {
        let c = cmp();
        let a5 = encode(b"a", 5, ValueKind::Put);
        let a3 = encode(b"a", 3, ValueKind::Delete);
        let ab1 = encode(b"ab", 1, ValueKind::Put);
        assert_eq!(c.compare(&a5, &a3), Ordering::Less);
        assert_eq!(c.compare(&a3, &ab1), Ordering::Less);
        assert_eq!(c.compare(&lookup_key(b"a", 4), &a3), Ordering::Less);
        assert_eq!(c.compare(&lookup_key(b"a", 4), &a5), Ordering::Greater);
    }

    /// A user order that is not bytewise (reversed), to check the inline bytewise path is
    /// taken only for the bytewise comparator.
    #[derive(Debug)]
    struct Reverse;

    impl Comparator for Reverse {
        fn name(&self) -> &str {
            "test.Reverse"
        }

        fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
            b.cmp(a)
        }
    }

    #[test]
    fn bytewise_compare_is_slice_order() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![0xff],
            b"abcdefgh".to_vec(),
            b"abcdefgh\0".to_vec(),
            b"abcdefgi".to_vec(),
            b"abcdefghabcdefgh".to_vec(),
            b"abcdefghabcdefgg".to_vec(),
            b"abcdefghabcdefghz".to_vec(),
            vec![0x80; 9],
            vec![0x7f; 23],
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(bytewise_compare(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn bytewise_compare_matches_slice_order(
            a in proptest::collection::vec(0u8..4, 0..30),
            b in proptest::collection::vec(0u8..4, 0..30),
        ) {
            proptest::prop_assert_eq!(bytewise_compare(&a, &b), a.cmp(&b));
        }
    }

    #[test]
    fn a_custom_user_order_is_honoured() {
        let c = InternalKeyComparator::new(Arc::new(Reverse));
        assert!(!c.bytewise);
        assert!(cmp().bytewise);
        let (a5, b5, b3) =
            (encode(b"a", 5, ValueKind::Put), encode(b"b", 5, ValueKind::Put), encode(b"b", 3, ValueKind::Put));
        assert_eq!(c.compare(&a5, &b5), Ordering::Greater);
        assert_eq!(cmp().compare(&a5, &b5), Ordering::Less);
        assert_eq!(c.compare(&b5, &b3), Ordering::Less, "trailers still order newest first");
        assert_eq!(c.compare(&b5, &b5), Ordering::Equal);
    }

    #[test]
    fn parse_round_trips_and_rejects_bad_kind() {
        let k = encode(b"key", SEQ_MAX, ValueKind::Delete);
        let p = parse(&k).unwrap();
        assert_eq!((p.user_key, p.seq, p.kind), (&b"key"[..], SEQ_MAX, ValueKind::Delete));
        let mut bad = k.clone();
        bad[3] = 7;
        assert!(parse(&bad).is_none());
        assert!(parse(b"short").is_none());
    }

    #[test]
    fn separator_stays_between() {
        let c = cmp();
        let a = encode(b"abcdef", 9, ValueKind::Put);
        let b = encode(b"abzzz", 2, ValueKind::Put);
        let s = c.separator(&a, &b);
        assert_eq!(user_key(&s), b"abd");
        assert_eq!(c.compare(&a, &s), Ordering::Less);
        assert_eq!(c.compare(&s, &b), Ordering::Less);
    }
}
