//! Point lookups inside one block, and the located restart keys of an index block.
//!
//! A point lookup wants one entry, the first whose key is `>= target`, so it does not need the
//! iterator's machinery (restart bookkeeping for `prev`, a cursor that can move on): it
//! binary-searches the restart points, then decodes entries forward from one of them into a
//! caller's key buffer until the first key `>= target`. [`RestartKeys`] goes further for index
//! blocks, whose every entry is a restart point: it locates each key and value once, when the
//! table opens, so the index search of every lookup compares keys and decodes nothing.
//!
//! Invariants: the same checks as [`BlockIter`](super::BlockIter) on the entries it decodes: a
//! restart entry shares no prefix, no entry shares more than the previous key, no entry
//! crosses a restart point, every length stays inside the entry region; any failure is a
//! [`BlockCorrupt`]. Each step moves strictly forward, so a scan ends on any input.
//! [`RestartKeys`] holds ranges checked against the block it was built from.
//!
//! Thread safety: `RestartKeys` is immutable and shared with its table.

use super::iter::{Block, decode_entry};
use crate::error::{BlockCorrupt, block_corrupt};
use bytes::Bytes;
use std::cmp::Ordering;
use std::ops::Range;
use strata_base::Comparator;
use strata_base::ikey::ValueKind;

type BResult<T> = Result<T, BlockCorrupt>;

/// Where a point lookup landed: the entry's kind and its value's bytes in the block (the key
/// is in the caller's buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PointHit {
    pub kind: ValueKind,
    pub value: Range<usize>,
}

impl Block {
    /// The first entry whose key is `>= target`, its key written into `key`; `None` (and `key`
    /// unspecified) if every key of the block is below `target`.
    pub fn seek_point(&self, target: &[u8], cmp: &dyn Comparator, key: &mut Vec<u8>) -> BResult<Option<PointHit>> {
        // The last restart point whose key is below the target (or 0): the answer is in its
        // interval or is the next restart point's entry.
        let (mut lo, mut hi) = (0, self.num_restarts - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if cmp.compare(self.restart_entry(mid)?.0, target) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        key.clear();
        let mut off = self.restart_offset(lo);
        let mut restart = lo;
        while off < self.restarts_at {
            let e = decode_entry(&self.data, off, self.restarts_at)?;
            // `restart` is the last restart point at or before `off`: an entry that starts on
            // the next one must share nothing, and none may straddle it.
            if restart + 1 < self.num_restarts {
                let next = self.restart_offset(restart + 1);
                if off == next {
                    restart += 1;
                } else if off > next {
                    return Err(block_corrupt(off, "entry crosses a restart point"));
                }
            }
            let at_restart = self.restart_offset(restart) == off;
            if e.shared > key.len() || (at_restart && e.shared != 0) {
                return Err(block_corrupt(off, "bad shared key prefix"));
            }
            key.truncate(e.shared);
            key.extend_from_slice(self.data.get(e.key_start..e.key_end).unwrap_or_default());
            if cmp.compare(key, target) != Ordering::Less {
                return Ok(Some(PointHit { kind: e.kind, value: e.key_end..e.value_end }));
            }
            off = e.value_end;
        }
        Ok(None)
    }

    /// The block's bytes (values found by [`Block::seek_point`] are ranges of them).
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }
}

/// The key and value of every restart point of one block, located once. For index blocks,
/// whose every entry is a restart point: [`RestartKeys::seek`] is then a binary search that
/// compares keys and decodes nothing.
#[derive(Debug, Clone)]
pub(crate) struct RestartKeys {
    data: Bytes,
    /// Per restart point: key start, key end (= value start), value end, in `data`.
    entries: Box<[[u32; 3]]>,
    /// Per restart point, the comparator's [`Comparator::order_prefix`] of its key, when the
    /// comparator has one: [`RestartKeys::seek`] binary-searches this dense array (8 bytes per
    /// entry, where the keys themselves are scattered through the block) and compares whole
    /// keys only among the entries whose prefix ties the target's.
    prefixes: Option<Box<[u64]>>,
}

impl RestartKeys {
    /// Locates the entry at each restart point of `block`, checking each as
    /// [`Block::restart_entry`] does.
    pub fn new(block: &Block, cmp: &dyn Comparator) -> BResult<Self> {
        let mut entries = Vec::with_capacity(block.num_restarts);
        for i in 0..block.num_restarts {
            let off = block.restart_offset(i);
            let e = decode_entry(&block.data, off, block.restarts_at)?;
            if e.shared != 0 {
                return Err(block_corrupt(off, "restart entry shares a prefix"));
            }
            // Offsets are below `restarts_at <= BLOCK_LEN_MAX <= u32::MAX` (format.rs).
            let at = |x: usize| u32::try_from(x).map_err(|_| block_corrupt(off, "entry beyond 4 GiB"));
            entries.push([at(e.key_start)?, at(e.key_end)?, at(e.value_end)?]);
        }
        let data = block.data.clone();
        let key = |&[k, v, _]: &[u32; 3]| data.get(k as usize..v as usize).unwrap_or_default();
        // A comparator answers for every key or for none (`order_prefix`'s contract); a
        // prefix array exists only when every entry has one.
        let prefixes: Option<Box<[u64]>> = entries.iter().map(|e| cmp.order_prefix(key(e))).collect();
        Ok(Self { data, entries: entries.into_boxed_slice(), prefixes })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held besides the block itself: the located entries and the prefix array.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + self.prefixes.as_ref().map_or(0, |p| std::mem::size_of_val(&**p))
    }

    fn slice(&self, from: u32, to: u32) -> &[u8] {
        self.data.get(from as usize..to as usize).unwrap_or_default()
    }

    /// The key at restart point `i < len()`.
    pub fn key(&self, i: usize) -> &[u8] {
        self.entries.get(i).map_or(&[][..], |&[k, v, _]| self.slice(k, v))
    }

    /// The value at restart point `i < len()`.
    pub fn value(&self, i: usize) -> &[u8] {
        self.entries.get(i).map_or(&[][..], |&[_, v, end]| self.slice(v, end))
    }

    /// The first restart point whose key is `>= target` (`len()` if none).
    pub fn seek(&self, target: &[u8], cmp: &dyn Comparator) -> usize {
        let below = |&[k, v, _]: &[u32; 3]| cmp.compare(self.slice(k, v), target) == Ordering::Less;
        let (Some(prefixes), Some(p)) = (&self.prefixes, cmp.order_prefix(target)) else {
            return self.entries.partition_point(below);
        };
        // Keys are sorted, so their prefixes are too. A prefix below the target's belongs to a
        // key below the target, and one above it to a key above it; only the keys whose prefix
        // equals the target's need a whole comparison.
        let lo = prefixes.partition_point(|&x| x < p);
        let hi = lo + prefixes.get(lo..).map_or(0, |rest| rest.partition_point(|&x| x == p));
        lo + self.entries.get(lo..hi).map_or(0, |tied| tied.partition_point(below))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockBuilder, BlockIter};
    use strata_base::BytewiseComparator;

    fn block_of(n: usize, interval: usize) -> (Vec<Vec<u8>>, Block) {
        let ks: Vec<Vec<u8>> = (0..n).map(|i| format!("key{:05}", i * 2).into_bytes()).collect();
        let mut b = BlockBuilder::new(interval, 4096);
        let mut prev: &[u8] = &[];
        for (i, k) in ks.iter().enumerate() {
            let kind = if i % 3 == 0 { ValueKind::Delete } else { ValueKind::Put };
            b.add(prev, k, kind, format!("v{i}").as_bytes());
            prev = k;
        }
        (ks, Block::parse(Bytes::copy_from_slice(b.finish())).unwrap())
    }

    /// What the iterator's seek finds, as (key, kind, value).
    fn by_iter(block: &Block, target: &[u8]) -> Option<(Vec<u8>, ValueKind, Vec<u8>)> {
        let mut it = BlockIter::new(block.clone());
        it.seek(target, &BytewiseComparator).unwrap();
        it.valid().then(|| (it.key().to_vec(), it.kind(), it.value().to_vec()))
    }

    fn by_point(block: &Block, target: &[u8]) -> Option<(Vec<u8>, ValueKind, Vec<u8>)> {
        let mut key = Vec::new();
        let hit = block.seek_point(target, &BytewiseComparator, &mut key).unwrap()?;
        Some((key, hit.kind, block.bytes()[hit.value].to_vec()))
    }

    #[test]
    fn seek_point_agrees_with_the_iterator_on_keys_gaps_and_ends() {
        for interval in [1, 2, 3, 16] {
            for n in [1, 2, 17, 40] {
                let (ks, block) = block_of(n, interval);
                let mut targets: Vec<Vec<u8>> = vec![b"".to_vec(), b"zzz".to_vec(), b"key".to_vec()];
                for k in &ks {
                    targets.push(k.clone());
                    let mut gap = k.clone();
                    gap.push(0);
                    targets.push(gap);
                }
                for t in &targets {
                    assert_eq!(by_point(&block, t), by_iter(&block, t), "interval {interval}, n {n}, target {t:?}");
                }
            }
        }
    }

    #[test]
    fn restart_keys_locate_every_entry_of_an_index_block() {
        let (ks, block) = block_of(30, 1);
        let rk = RestartKeys::new(&block, &BytewiseComparator).unwrap();
        assert_eq!(rk.len(), 30);
        for (i, k) in ks.iter().enumerate() {
            assert_eq!(rk.key(i), k.as_slice());
            assert_eq!(rk.value(i), block.restart_entry(i).unwrap().1);
            assert_eq!(rk.seek(k, &BytewiseComparator), i);
            let mut gap = k.clone();
            gap.push(0);
            assert_eq!(rk.seek(&gap, &BytewiseComparator), i + 1);
        }
        assert_eq!(rk.seek(b"", &BytewiseComparator), 0);
        assert_eq!(rk.key(30), b"");
    }

    /// Bytewise order without an order prefix: the plain binary search over whole keys.
    #[derive(Debug)]
    struct NoPrefix;
    impl Comparator for NoPrefix {
        fn name(&self) -> &str {
            "test.NoPrefix"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
            a.cmp(b)
        }
    }

    proptest::proptest! {
        /// The prefix search finds what a whole-key binary search finds, with keys that tie on
        /// their first eight bytes, are shorter than eight bytes, or end in zero bytes.
        #[test]
        fn restart_keys_seek_with_prefixes_matches_whole_keys(
            mut keys in proptest::collection::btree_set(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..12), 1..60),
            targets in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..12), 1..20),
        ) {
            let keys: Vec<Vec<u8>> = std::mem::take(&mut keys).into_iter().collect();
            let mut b = BlockBuilder::new(1, 4096);
            let mut prev: &[u8] = &[];
            for k in &keys {
                b.add(prev, k, ValueKind::Put, b"v");
                prev = k;
            }
            let block = Block::parse(Bytes::copy_from_slice(b.finish())).unwrap();
            let with = RestartKeys::new(&block, &BytewiseComparator).unwrap();
            let without = RestartKeys::new(&block, &NoPrefix).unwrap();
            proptest::prop_assert!(with.prefixes.is_some() && without.prefixes.is_none());
            for t in targets.iter().chain(&keys) {
                let expected = keys.partition_point(|k| k.as_slice() < t.as_slice());
                proptest::prop_assert_eq!(with.seek(t, &BytewiseComparator), expected);
                proptest::prop_assert_eq!(without.seek(t, &NoPrefix), expected);
            }
        }
    }

    #[test]
    fn restart_keys_reject_a_restart_entry_that_shares_a_prefix() {
        // Interval 2: the second entry shares "key0"; claim it is a restart point too.
        let (_, block) = block_of(2, 2);
        let mut d = block.bytes().to_vec();
        let n = d.len();
        let second = {
            let e = decode_entry(&d, 0, n - 8).unwrap();
            e.value_end as u32
        };
        d.truncate(n - 8); // Drop the restart array [0] and its count 1.
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&second.to_le_bytes());
        d.extend_from_slice(&2u32.to_le_bytes());
        let block = Block::parse(Bytes::from(d)).unwrap();
        assert_eq!(RestartKeys::new(&block, &BytewiseComparator).unwrap_err().reason, "restart entry shares a prefix");
        assert!(block.seek_point(b"key00002", &BytewiseComparator, &mut Vec::new()).is_err());
    }

    #[test]
    fn seek_point_survives_every_byte_flip() {
        // No checksum here: a flipped byte must give an error or an answer, never a panic.
        let (ks, block) = block_of(20, 4);
        let data = block.bytes().clone();
        for i in 0..data.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut d = data.to_vec();
                d[i] ^= bit;
                let Ok(block) = Block::parse(Bytes::from(d)) else { continue };
                for t in [&ks[0], &ks[7], &ks[19], &b"zzz".to_vec()] {
                    let _ = block.seek_point(t, &BytewiseComparator, &mut Vec::new());
                }
                let _ = RestartKeys::new(&block, &BytewiseComparator).map(|rk| rk.seek(&ks[5], &BytewiseComparator));
            }
        }
    }
}
