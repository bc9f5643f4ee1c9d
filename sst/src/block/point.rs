//! Point lookups inside one block, and the located restart keys of an index block.
//!
//! A point lookup wants one entry, the first whose key is `>= target`, so it does not need the
//! iterator's machinery (restart bookkeeping for `prev`, a cursor that can move on): it finds
//! the restart interval, then decodes entries forward from its restart point into a caller's
//! key buffer until the first key `>= target`. A block a table caches has restart hints (the
//! order summaries and offsets of up to [`HINTS`](super::iter::HINTS) restart points after the
//! first, held beside the block's handle): the interval then comes from them, with no load of
//! the restart array or of a restart key unless the target's summary ties one. In a block the
//! CPU cache does not hold, that spares two of a lookup's dependent misses. Without hints it
//! binary-searches the restart keys. [`IndexEntries`] goes further for index
//! blocks, whose every entry is a restart point: it locates each key and decodes each handle
//! once, when the table opens, so the index search of every lookup compares keys and decodes
//! nothing (and a version 3 index, whose handles are sizes whose offsets follow from the
//! previous blocks, needs that one sequential pass anyway).
//!
//! Invariants: the same checks as [`BlockIter`](super::BlockIter) on the entries it decodes: a
//! restart entry shares no prefix, no entry shares more than the previous key, no entry
//! crosses a restart point, every length stays inside the entry region; any failure is a
//! [`BlockCorrupt`]. Each step moves strictly forward, so a scan ends on any input.
//! [`IndexEntries`] holds ranges checked against the block it was built from and handles checked
//! to lie in the data region.
//!
//! Thread safety: `IndexEntries` is immutable and shared with its table.

use super::iter::{Block, decode_entry};
use crate::error::{BlockCorrupt, block_corrupt};
use crate::format::{BlockHandle, EntryLayout};
use bytes::Bytes;
use std::cmp::Ordering;
use std::ops::Range;
use strata_base::Comparator;
use strata_base::coding::get_varint64;
use strata_base::comparator::{bytewise_head, common_prefix_len};
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
    ///
    /// `summary` is the target's order summary under the function the block's restart hints
    /// were made with ([`Block::with_restart_hints`]); `None` searches without the hints.
    pub fn seek_point(
        &self,
        target: &[u8],
        summary: Option<u64>,
        cmp: &dyn Comparator,
        key: &mut Vec<u8>,
    ) -> BResult<Option<PointHit>> {
        // The last restart point whose key is below the target (or 0): the answer is in its
        // interval or is the next restart point's entry.
        let lo = match self.hinted_restart(target, summary, cmp)? {
            Some(lo) => lo,
            None => {
                let (mut lo, mut hi) = (0, self.num_restarts() - 1);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    if cmp.compare(self.restart_entry(mid)?.0, target) == Ordering::Less {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                lo
            }
        };
        key.clear();
        let mut off = self.hinted_restart_offset(lo);
        let mut restart = lo;
        let (restarts_at, num_restarts) = (self.restarts_at(), self.num_restarts());
        // With a bytewise head (`Comparator::bytewise_head_tail`), most entries are ordered
        // against the target without a comparison: `decided` is the length of the common prefix
        // of the previous key and the target when they differ at that byte inside both heads.
        // An entry that shares more than that with the previous key differs from the target at
        // the same byte, the same way; one that shares no more is compared from its shared
        // length on, byte by byte.
        let tail = cmp.bytewise_head_tail();
        let target_head = tail.map(|t| target.len().saturating_sub(t));
        let mut decided: Option<usize> = None;
        while off < restarts_at {
            let e = decode_entry(&self.data, off, restarts_at, self.layout)?;
            // `restart` is the last restart point at or before `off`: an entry that starts on
            // the next one must share nothing, and none may straddle it.
            if restart + 1 < num_restarts {
                let next = self.hinted_restart_offset(restart + 1);
                if off == next {
                    restart += 1;
                } else if off > next {
                    return Err(block_corrupt(off, "entry crosses a restart point"));
                }
            }
            let at_restart = self.hinted_restart_offset(restart) == off;
            if e.shared > key.len() || (at_restart && e.shared != 0) {
                return Err(block_corrupt(off, "bad shared key prefix"));
            }
            key.truncate(e.shared);
            key.extend_from_slice(self.data.get(e.key_start..e.key_end).unwrap_or_default());
            let below = match (target_head, tail) {
                (Some(th), Some(tail)) => {
                    let kh = key.len().saturating_sub(tail);
                    let common = match decided {
                        Some(c) if e.shared > c => c,
                        prev => {
                            let from = prev.map_or(0, |_| e.shared);
                            from + common_prefix_len(
                                key.get(from..).unwrap_or_default(),
                                target.get(from..).unwrap_or_default(),
                            )
                        }
                    };
                    match (key.get(common), target.get(common)) {
                        (Some(k), Some(t)) if common < kh && common < th => {
                            decided = Some(common);
                            k < t
                        }
                        _ => {
                            decided = None;
                            cmp.compare(key, target) == Ordering::Less
                        }
                    }
                }
                _ => cmp.compare(key, target) == Ordering::Less,
            };
            if !below {
                return Ok(Some(PointHit { kind: e.kind, value: e.key_end..e.value_end }));
            }
            off = e.value_end;
        }
        Ok(None)
    }

    /// With restart hints ([`Block::with_restart_hints`]): the last restart point whose key is
    /// below `target` (or 0), found from the summaries; only restart keys whose summary ties the
    /// target's (`summary`) are loaded and compared. `None` without hints or a summary.
    ///
    /// Summaries agree with the order: a restart key whose summary is below the target's is
    /// below the target, one whose summary is above it is above it, and the sorted keys'
    /// summaries are sorted, so the ties are one run.
    #[inline]
    fn hinted_restart(&self, target: &[u8], summary: Option<u64>, cmp: &dyn Comparator) -> BResult<Option<usize>> {
        let Some(prefixes) = self.hint_prefixes() else { return Ok(None) };
        if prefixes.is_empty() {
            return Ok(Some(0));
        }
        let Some(p) = summary else { return Ok(None) };
        let mut below = prefixes.iter().take_while(|&&x| x < p).count();
        while prefixes.get(below) == Some(&p) {
            let off = self.hinted_restart_offset(below + 1);
            if cmp.compare(self.restart_entry_at(off)?.0, target) != Ordering::Less {
                break;
            }
            below += 1;
        }
        Ok(Some(below))
    }

    /// The block's bytes (values found by [`Block::seek_point`] are ranges of them).
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }
}

/// The order summary of a head given the bytes `shared` that (nearly) every separator's head
/// starts with: the eight bytes after them, big-endian, zero-padded; for a head that does not
/// start with them, 0 if it orders below them and `u64::MAX` above (a shortened last separator).
/// Order-preserving over all heads: heads starting with `shared` order by the bytes after it,
/// and a head below (above) `shared`'s range is below (above) every head in it. Equal summaries
/// are ties, which the search settles with whole-key comparisons.
#[inline]
fn head_prefix(head: &[u8], shared: &[u8]) -> u64 {
    match head.strip_prefix(shared) {
        Some(rest) => strata_base::comparator::bytewise_order_prefix(rest),
        None if head < shared => 0,
        None => u64::MAX,
    }
}

/// Every entry of an index block, located and decoded once, when the table opens: its
/// separator key (a range of the block) and the data block handle its value names. The index
/// search of every lookup is then a binary search that compares keys and decodes nothing.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntries {
    data: Bytes,
    /// One per data block: where its separator is in `data`, and its handle, side by side so
    /// that the binary search's last probe has brought the handle into the cache.
    entries: Box<[IndexEntry]>,
    /// Per entry, an order-preserving 8-byte summary of its separator
    /// ([`IndexEntries::with_order_prefixes`]): [`IndexEntries::seek`] binary-searches this
    /// dense array (8 bytes per entry, where the keys themselves are scattered through the
    /// block) and compares whole keys only where summaries tie the target's.
    prefixes: Option<Box<[u64]>>,
    /// Every [`SAMPLE`]-th summary (`prefixes[0]`, `prefixes[SAMPLE]`, ...): the search runs
    /// its first steps in this array, 1/8 the size, whose entries every lookup visits and so
    /// stay in the CPU cache, and ends in one run of `SAMPLE` summaries; a plain binary search
    /// of a 64 MiB table's 16k summaries (128 KiB) takes its last four or five steps in lines
    /// no recent lookup loaded, each a miss waiting on the one before.
    sampled: Box<[u64]>,
    /// How the summaries were made: `Some(skip)` when the comparator has a bytewise head
    /// ([`Comparator::bytewise_head_tail`]): the eight head bytes after the first `skip` bytes
    /// of the first separator's head, which the other heads share ([`head_prefix`]), so keys
    /// with a long common prefix (decimal keys, a shared key prefix) still differ in their
    /// summaries. `None`: the comparator's [`Comparator::order_prefix`].
    skip: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    key_start: u32,
    key_end: u32,
    handle: BlockHandle,
}

impl IndexEntry {
    #[inline]
    fn key<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.key_start as usize..self.key_end as usize).unwrap_or_default()
    }
}

impl IndexEntries {
    /// Decodes index block `block`, whose data blocks end at `data_end`. Every entry must be a
    /// restart point (each ends where the next restart point starts, the last at the restart
    /// array) and hold exactly one handle that ends within `[0, data_end]`. In a version 3
    /// index (`EntryLayout::KindBit`) the value is the size alone: block 0 starts at 0 and each
    /// later one where the previous one's trailer ends, and the last must end at `data_end`.
    pub fn new(block: &Block, data_end: u64) -> BResult<Self> {
        let n = block.num_restarts();
        let mut entries = Vec::with_capacity(n);
        let mut next_offset = 0u64;
        for i in 0..n {
            let off = block.restart_offset(i);
            let e = decode_entry(&block.data, off, block.restarts_at(), block.layout)?;
            if e.shared != 0 {
                return Err(block_corrupt(off, "restart entry shares a prefix"));
            }
            let next = if i + 1 < n { block.restart_offset(i + 1) } else { block.restarts_at() };
            if e.value_end != next {
                return Err(block_corrupt(off, "index entries are not all restart points"));
            }
            let mut v = block.data.get(e.key_end..e.value_end).unwrap_or_default();
            let handle = match block.layout {
                EntryLayout::KindByte => BlockHandle::decode_from(&mut v),
                EntryLayout::KindBit => get_varint64(&mut v).map(|size| BlockHandle { offset: next_offset, size }),
            };
            let handle = handle.filter(|_| v.is_empty()).ok_or_else(|| block_corrupt(off, "bad block handle"))?;
            let end = handle.end().filter(|&end| end <= data_end);
            next_offset = end.ok_or_else(|| block_corrupt(off, "index entry points outside the data blocks"))?;
            // Offsets are below `restarts_at <= BLOCK_LEN_MAX <= u32::MAX` (format.rs).
            let at = |x: usize| u32::try_from(x).map_err(|_| block_corrupt(off, "entry beyond 4 GiB"));
            entries.push(IndexEntry { key_start: at(e.key_start)?, key_end: at(e.key_end)?, handle });
        }
        if block.layout == EntryLayout::KindBit && next_offset != data_end {
            return Err(block_corrupt(block.restarts_at(), "index does not reach the end of the data blocks"));
        }
        Ok(Self {
            data: block.data.clone(),
            entries: entries.into_boxed_slice(),
            prefixes: None,
            sampled: Box::default(),
            skip: None,
        })
    }

    /// Adds the order summaries of `cmp` (the comparator every later [`IndexEntries::seek`] is
    /// given); without them, or when `cmp` has neither a bytewise head nor an order prefix, a
    /// seek compares whole keys only. A comparator answers for every key or for none (the
    /// contracts of both), so the array exists only when every entry has a summary.
    pub fn with_order_prefixes(mut self, cmp: &dyn Comparator) -> Self {
        let data = &self.data;
        let head = |e: &IndexEntry| cmp.bytewise_head_tail().map(|tail| bytewise_head(e.key(data), tail));
        let n = self.entries.len();
        // The bytes the heads share, from the first separator and the last but one: the last
        // separator may be a shortened successor of the table's last key ("1" after
        // "0000000000299995"), which shares nothing with the others.
        let ends = (self.entries.first().and_then(head), self.entries.get(n.saturating_sub(2)).and_then(head));
        if let (Some(first), Some(last_but_one)) = ends {
            let skip = if n >= 3 { common_prefix_len(first, last_but_one) } else { 0 };
            let shared = first.get(..skip).unwrap_or_default();
            self.prefixes = self.entries.iter().map(|e| head(e).map(|h| head_prefix(h, shared))).collect();
            self.skip = self.prefixes.is_some().then_some(skip);
        } else {
            self.prefixes = self.entries.iter().map(|e| cmp.order_prefix(e.key(data))).collect();
        }
        self.sampled = self.prefixes.as_deref().unwrap_or_default().iter().step_by(SAMPLE).copied().collect();
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held besides the index block itself: the decoded entries and the prefix arrays.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries)
            + self.prefixes.as_ref().map_or(0, |p| std::mem::size_of_val(&**p))
            + std::mem::size_of_val(&*self.sampled)
    }

    /// The separator key of entry `i < len()`.
    pub fn key(&self, i: usize) -> &[u8] {
        self.entries.get(i).map_or(&[][..], |e| e.key(&self.data))
    }

    /// The handle of the data block of entry `i < len()` (checked to lie in the data region).
    #[inline]
    pub fn handle(&self, i: usize) -> BlockHandle {
        self.entries.get(i).map_or_else(BlockHandle::default, |e| e.handle)
    }

    /// The order summary of `key` the index's own summaries are made with, under `cmp` (the
    /// comparator [`IndexEntries::with_order_prefixes`] was given); `None` when the index has
    /// none. Order-preserving over every key of `cmp`'s order, not only the table's: it also
    /// summarizes the restart keys of the table's data blocks ([`Block::with_restart_hints`]).
    #[inline]
    pub fn summary(&self, key: &[u8], cmp: &dyn Comparator) -> Option<u64> {
        self.prefixes.as_ref()?;
        match self.skip {
            Some(skip) => {
                let (first, tail) = (self.entries.first()?, cmp.bytewise_head_tail()?);
                let shared = bytewise_head(first.key(&self.data), tail).get(..skip).unwrap_or_default();
                Some(head_prefix(bytewise_head(key, tail), shared))
            }
            None => cmp.order_prefix(key),
        }
    }

    /// The first entry whose key is `>= target` (`len()` if none).
    pub fn seek(&self, target: &[u8], cmp: &dyn Comparator) -> usize {
        self.seek_summarized(target, self.summary(target, cmp), cmp)
    }

    /// [`IndexEntries::seek`] given the target's [`IndexEntries::summary`].
    pub fn seek_summarized(&self, target: &[u8], summary: Option<u64>, cmp: &dyn Comparator) -> usize {
        let below = |e: &IndexEntry| cmp.compare(e.key(&self.data), target) == Ordering::Less;
        let (Some(prefixes), Some(p)) = (&self.prefixes, summary) else {
            return self.entries.partition_point(below);
        };
        // Keys are sorted, so their prefixes are too. A prefix below the target's belongs to a
        // key below the target, and one above it to a key above it; only the keys whose prefix
        // equals the target's need a whole comparison.
        let lo = first_not_below(prefixes, &self.sampled, p);
        let hi = lo + prefixes.get(lo..).map_or(0, |rest| tie_run(rest, p));
        lo + self.entries.get(lo..hi).map_or(0, |tied| tied.partition_point(below))
    }
}

/// Summaries per entry of [`IndexEntries::sampled`].
const SAMPLE: usize = 8;

/// The first index of sorted `prefixes` whose value is `>= p` (`prefixes.len()` if none), given
/// `sampled`, every [`SAMPLE`]-th of them: `prefixes.partition_point(|&x| x < p)`.
#[inline]
fn first_not_below(prefixes: &[u64], sampled: &[u64], p: u64) -> usize {
    // sampled[g - 1] = prefixes[SAMPLE * (g - 1)] < p <= sampled[g] = prefixes[SAMPLE * g] (or
    // no such sample), so the answer is in SAMPLE * (g - 1) + 1 ..= SAMPLE * g: the run below
    // SAMPLE * g, or SAMPLE * g itself when the whole run is below p.
    let g = sampled.partition_point(|&x| x < p);
    let start = g.saturating_sub(1) * SAMPLE;
    let end = (g * SAMPLE).min(prefixes.len());
    start + prefixes.get(start..end).map_or(0, |run| run.partition_point(|&x| x < p))
}

/// How many of the first values of sorted `rest` equal `p`, all `>= p`: galloping, so that the
/// usual answer (none or one) reads only the first value or two, which the search that found
/// `rest`'s start has just loaded, and a long run of ties still takes a logarithmic number of
/// steps.
#[inline]
fn tie_run(rest: &[u64], p: u64) -> usize {
    let mut bound = 1;
    while bound <= rest.len() && rest.get(bound - 1) == Some(&p) {
        bound *= 2;
    }
    // rest[..bound / 2] all equal p, rest[bound - 1] does not (or is past the end).
    let from = bound / 2;
    from + rest.get(from..bound.min(rest.len())).map_or(0, |run| run.partition_point(|&x| x == p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::iter::HINTS;
    use crate::block::{BlockBuilder, BlockIter};
    use crate::format::BLOCK_TRAILER_LEN;
    use strata_base::BytewiseComparator;

    const LAYOUTS: [EntryLayout; 2] = [EntryLayout::KindByte, EntryLayout::KindBit];

    fn block_of(n: usize, interval: usize, layout: EntryLayout) -> (Vec<Vec<u8>>, Block) {
        let ks: Vec<Vec<u8>> = (0..n).map(|i| format!("key{:05}", i * 2).into_bytes()).collect();
        let mut b = BlockBuilder::new(interval, 4096, layout);
        let mut prev: &[u8] = &[];
        for (i, k) in ks.iter().enumerate() {
            let kind = if i % 3 == 0 { ValueKind::Delete } else { ValueKind::Put };
            b.add(prev, k, kind, format!("v{i}").as_bytes());
            prev = k;
        }
        (ks, Block::parse(Bytes::copy_from_slice(b.finish()), layout).unwrap())
    }

    /// An index block of `n` entries (restart interval `interval`) over contiguous data blocks
    /// of sizes 100, 101, ...; returns the keys, the handles, and the block.
    fn index_of(n: usize, interval: usize, layout: EntryLayout) -> (Vec<Vec<u8>>, Vec<BlockHandle>, Block) {
        let ks: Vec<Vec<u8>> = (0..n).map(|i| format!("sep{:05}", i * 2).into_bytes()).collect();
        let mut b = BlockBuilder::new(interval, 4096, layout);
        let mut handles = Vec::new();
        let mut offset = 0;
        let mut prev: &[u8] = &[];
        for (i, k) in ks.iter().enumerate() {
            let h = BlockHandle { offset, size: 100 + i as u64 };
            offset = h.end().unwrap();
            let mut v = Vec::new();
            match layout {
                EntryLayout::KindByte => h.encode_into(&mut v),
                EntryLayout::KindBit => h.encode_size_into(&mut v),
            }
            b.add(prev, k, ValueKind::Put, &v);
            handles.push(h);
            prev = k;
        }
        (ks, handles, Block::parse(Bytes::copy_from_slice(b.finish()), layout).unwrap())
    }

    /// What the iterator's seek finds, as (key, kind, value).
    fn by_iter(block: &Block, target: &[u8]) -> Option<(Vec<u8>, ValueKind, Vec<u8>)> {
        let mut it = BlockIter::new(block.clone());
        it.seek(target, &BytewiseComparator).unwrap();
        it.valid().then(|| (it.key().to_vec(), it.kind(), it.value().to_vec()))
    }

    fn by_point(block: &Block, target: &[u8]) -> Option<(Vec<u8>, ValueKind, Vec<u8>)> {
        let mut key = Vec::new();
        let hit = block
            .seek_point(target, BytewiseComparator.order_prefix(target), &BytewiseComparator, &mut key)
            .unwrap()?;
        Some((key, hit.kind, block.bytes()[hit.value].to_vec()))
    }

    #[test]
    fn seek_point_agrees_with_the_iterator_on_keys_gaps_and_ends() {
        for layout in LAYOUTS {
            for interval in [1, 2, 3, 16] {
                for n in [1, 2, 17, 40] {
                    let (ks, block) = block_of(n, interval, layout);
                    let mut targets: Vec<Vec<u8>> = vec![b"".to_vec(), b"zzz".to_vec(), b"key".to_vec()];
                    for k in &ks {
                        targets.push(k.clone());
                        let mut gap = k.clone();
                        gap.push(0);
                        targets.push(gap);
                    }
                    for t in &targets {
                        let (p, i) = (by_point(&block, t), by_iter(&block, t));
                        assert_eq!(p, i, "{layout:?}, interval {interval}, n {n}, target {t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn index_entries_locate_every_key_and_decode_every_handle() {
        for layout in LAYOUTS {
            let (ks, handles, block) = index_of(30, 1, layout);
            let data_end = handles.last().unwrap().end().unwrap();
            let ix = IndexEntries::new(&block, data_end).unwrap();
            assert_eq!(ix.len(), 30);
            for (i, k) in ks.iter().enumerate() {
                assert_eq!(ix.key(i), k.as_slice());
                assert_eq!(ix.handle(i), handles[i]);
                assert_eq!(ix.seek(k, &BytewiseComparator), i);
                let mut gap = k.clone();
                gap.push(0);
                assert_eq!(ix.seek(&gap, &BytewiseComparator), i + 1);
            }
            assert_eq!(ix.seek(b"", &BytewiseComparator), 0);
            assert_eq!(ix.key(30), b"");
            assert_eq!(ix.handle(30), BlockHandle::default());
        }
    }

    /// A version 3 index block whose separators are `keys` (sorted), over contiguous data
    /// blocks of 10 bytes each; returns the block and where the data blocks end.
    fn index_over(keys: &[Vec<u8>]) -> (Block, u64) {
        let layout = EntryLayout::KindBit;
        let mut b = BlockBuilder::new(1, 4096, layout);
        let (mut prev, mut data_end): (&[u8], u64) = (&[], 0);
        for k in keys {
            let h = BlockHandle { offset: data_end, size: 10 };
            data_end = h.end().unwrap();
            let mut v = Vec::new();
            h.encode_size_into(&mut v);
            b.add(prev, k, ValueKind::Put, &v);
            prev = k;
        }
        (Block::parse(Bytes::copy_from_slice(b.finish()), layout).unwrap(), data_end)
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
        fn index_seek_with_order_prefixes_matches_whole_keys(
            keys in proptest::collection::btree_set(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..12), 1..60),
            targets in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..12), 1..20),
        ) {
            let keys: Vec<Vec<u8>> = keys.into_iter().collect();
            let (block, data_end) = index_over(&keys);
            let with = IndexEntries::new(&block, data_end).unwrap().with_order_prefixes(&BytewiseComparator);
            let without = IndexEntries::new(&block, data_end).unwrap().with_order_prefixes(&NoPrefix);
            proptest::prop_assert!(with.prefixes.is_some() && without.prefixes.is_none());
            for t in targets.iter().chain(&keys) {
                let expected = keys.partition_point(|k| k.as_slice() < t.as_slice());
                proptest::prop_assert_eq!(with.seek(t, &BytewiseComparator), expected);
                proptest::prop_assert_eq!(without.seek(t, &NoPrefix), expected);
            }
        }
    }

    /// An order that delegates to another but offers no bytewise head or order prefix, so every
    /// search through it compares whole keys.
    #[derive(Debug)]
    struct Plain<'a>(&'a dyn Comparator);
    impl Comparator for Plain<'_> {
        fn name(&self) -> &str {
            "test.Plain"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
            self.0.compare(a, b)
        }
    }

    /// A data block of `keys` (sorted by `cmp`) at restart interval `interval`, value = index.
    fn data_block(keys: &[Vec<u8>], interval: usize, layout: EntryLayout) -> Block {
        let mut b = BlockBuilder::new(interval, 1 << 20, layout);
        let mut prev: &[u8] = &[];
        for (i, k) in keys.iter().enumerate() {
            b.add(prev, k, ValueKind::Put, &(i as u32).to_le_bytes());
            prev = k;
        }
        Block::parse(Bytes::copy_from_slice(b.finish()), layout).unwrap()
    }

    /// Internal keys: user key `users[i]` in `versions[i]` versions, newest (highest sequence)
    /// first.
    fn versioned(users: &[Vec<u8>], versions: &[usize]) -> Vec<Vec<u8>> {
        let mut ikeys = Vec::new();
        let mut seq = 1000u64;
        for (u, &n) in users.iter().zip(versions) {
            for _ in 0..n {
                ikeys.push(strata_base::ikey::lookup_key(u, seq));
                seq -= 3;
            }
        }
        ikeys
    }

    fn point(block: &Block, target: &[u8], cmp: &dyn Comparator) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut key = Vec::new();
        let hit = block.seek_point(target, cmp.order_prefix(target), cmp, &mut key).unwrap()?;
        Some((key, block.bytes()[hit.value].to_vec()))
    }

    proptest::proptest! {
        /// The scan that decides entries from one byte (bytewise heads) finds what a scan that
        /// compares whole keys finds: plain bytewise keys with long shared prefixes, keys that
        /// are prefixes of others, and internal keys with several versions of one user key.
        #[test]
        fn seek_point_with_bytewise_heads_matches_whole_key_compares(
            users in proptest::collection::btree_set(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..10), 1..80),
            versions in proptest::collection::vec(1usize..4, 80),
            targets in proptest::collection::vec((proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..10), 0u64..300), 1..20),
            interval in proptest::sample::select(vec![1usize, 2, 3, 16]),
            layout in proptest::sample::select(LAYOUTS.to_vec()),
        ) {
            use strata_base::ikey::{InternalKeyComparator, lookup_key};
            let users: Vec<Vec<u8>> = users.into_iter().collect();
            // Bytewise keys.
            let block = data_block(&users, interval, layout);
            for t in targets.iter().map(|(t, _)| t).chain(&users) {
                proptest::prop_assert_eq!(point(&block, t, &BytewiseComparator), point(&block, t, &Plain(&BytewiseComparator)));
            }
            // Internal keys: each user key in 1-3 versions, newest (highest sequence) first.
            let icmp = InternalKeyComparator::new(std::sync::Arc::new(BytewiseComparator));
            let ikeys = versioned(&users, &versions);
            let block = data_block(&ikeys, interval, layout);
            for (t, s) in targets.iter().map(|(t, s)| (t, *s * 4)).chain(users.iter().map(|u| (u, 500))) {
                let t = lookup_key(t, s);
                proptest::prop_assert_eq!(point(&block, &t, &icmp), point(&block, &t, &Plain(&icmp)));
            }
        }

        /// The index search's two steps agree with plain binary searches: the sampled search
        /// for the first summary not below the target, and the galloping count of the summaries
        /// that tie it, over sorted arrays with long runs of ties, and arrays shorter than a
        /// sample.
        #[test]
        fn sampled_search_and_tie_runs_match_partition_point(
            mut v in proptest::collection::vec(0u64..6, 0..200),
            p in 0u64..7,
        ) {
            v.sort_unstable();
            let sampled: Vec<u64> = v.iter().step_by(SAMPLE).copied().collect();
            let lo = v.partition_point(|&x| x < p);
            proptest::prop_assert_eq!(first_not_below(&v, &sampled, p), lo);
            proptest::prop_assert_eq!(tie_run(&v[lo..], p), v[lo..].partition_point(|&x| x == p));
        }

        /// A lookup that finds its restart interval from the restart hints finds what the binary
        /// search over the restart keys finds: blocks of one to four restart points (the most
        /// hints hold), keys that tie on their first eight bytes (so the hints tie too and the
        /// tied restart keys are compared whole), keys shorter than eight bytes, and internal
        /// keys with several versions of one user key.
        #[test]
        fn seek_point_with_restart_hints_matches_the_binary_search(
            users in proptest::collection::btree_set(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..12), 1..40),
            versions in proptest::collection::vec(1usize..4, 40),
            targets in proptest::collection::vec((proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..12), 0u64..300), 1..20),
            restarts in 1usize..=HINTS + 1,
            layout in proptest::sample::select(LAYOUTS.to_vec()),
            skip in 0usize..6,
        ) {
            use strata_base::ikey::{InternalKeyComparator, lookup_key};
            let users: Vec<Vec<u8>> = users.into_iter().collect();
            // The interval that gives at most `restarts` restart points.
            let interval = |n: usize| n.div_ceil(restarts).max(1);
            let block = data_block(&users, interval(users.len()), layout);
            let hinted = block.clone().with_restart_hints(|k| BytewiseComparator.order_prefix(k));
            proptest::prop_assert_eq!(hinted.hint_prefixes().map(<[u64]>::len), Some(block.num_restarts() - 1));
            for t in targets.iter().map(|(t, _)| t).chain(&users) {
                proptest::prop_assert_eq!(point(&hinted, t, &BytewiseComparator), point(&block, t, &Plain(&BytewiseComparator)));
            }
            // The summaries a table's index makes (`IndexEntries::summary`): the eight bytes
            // after some shared head bytes, which not every key or target starts with.
            let shared = users[users.len() / 2].get(..skip).unwrap_or(&users[0]).to_vec();
            let by_head = |k: &[u8]| Some(head_prefix(k, &shared));
            let hinted = block.clone().with_restart_hints(by_head);
            for t in targets.iter().map(|(t, _)| t).chain(&users) {
                let mut key = Vec::new();
                let hit = hinted.seek_point(t, by_head(t), &BytewiseComparator, &mut key).unwrap();
                let found = hit.map(|h| (key, hinted.bytes()[h.value].to_vec()));
                proptest::prop_assert_eq!(found, point(&block, t, &Plain(&BytewiseComparator)));
            }
            let icmp = InternalKeyComparator::new(std::sync::Arc::new(BytewiseComparator));
            let ikeys = versioned(&users, &versions);
            let block = data_block(&ikeys, interval(ikeys.len()), layout);
            let hinted = block.clone().with_restart_hints(|k| icmp.order_prefix(k));
            proptest::prop_assert_eq!(hinted.hint_prefixes().map(<[u64]>::len), Some(block.num_restarts() - 1));
            for (t, s) in targets.iter().map(|(t, s)| (t, *s * 4)).chain(users.iter().map(|u| (u, 500))) {
                let t = lookup_key(t, s);
                proptest::prop_assert_eq!(point(&hinted, &t, &icmp), point(&block, &t, &Plain(&icmp)));
            }
        }
    }

    #[test]
    fn restart_hints_only_where_they_fit() {
        let keys = |n: usize| (0..n).map(|i| format!("key{i:05}").into_bytes()).collect::<Vec<_>>();
        let hints = |b: &Block, cmp: &dyn Comparator| {
            b.clone().with_restart_hints(|k| cmp.order_prefix(k)).hint_prefixes().map(<[u64]>::len)
        };
        // One to HINTS + 1 restart points: hints for all but the first.
        for restarts in 1..=HINTS + 1 {
            let block = data_block(&keys(restarts * 4), 4, EntryLayout::KindBit);
            assert_eq!(block.num_restarts(), restarts);
            assert_eq!(hints(&block, &BytewiseComparator), Some(restarts - 1));
            // A comparator without order summaries gives none (one restart point needs none).
            let none = if restarts == 1 { Some(0) } else { None };
            assert_eq!(hints(&block, &Plain(&BytewiseComparator)), none);
        }
        // More restart points than hints hold.
        let block = data_block(&keys((HINTS + 2) * 4), 4, EntryLayout::KindBit);
        assert_eq!(hints(&block, &BytewiseComparator), None);
        // A restart point past u16::MAX: a value of 70,000 bytes before it.
        let mut b = BlockBuilder::new(1, 1 << 20, EntryLayout::KindBit);
        b.add(b"", b"a", ValueKind::Put, &vec![7u8; 70_000]);
        b.add(b"a", b"b", ValueKind::Put, b"v");
        let block = Block::parse(Bytes::copy_from_slice(b.finish()), EntryLayout::KindBit).unwrap();
        assert_eq!(block.num_restarts(), 2);
        assert_eq!(hints(&block, &BytewiseComparator), None);
        assert_eq!(
            point(&block.clone().with_restart_hints(|k| BytewiseComparator.order_prefix(k)), b"b", &BytewiseComparator),
            Some((b"b".to_vec(), b"v".to_vec()))
        );
        // The prefixes and offsets are those of the restart keys.
        let block =
            data_block(&keys(12), 4, EntryLayout::KindBit).with_restart_hints(|k| BytewiseComparator.order_prefix(k));
        assert_eq!(
            block.hint_prefixes(),
            Some(&[u64::from_be_bytes(*b"key00004"), u64::from_be_bytes(*b"key00008")][..])
        );
        for i in 0..3 {
            assert_eq!(block.hinted_restart_offset(i), block.restart_offset(i));
        }
    }

    #[test]
    fn index_seek_skips_the_shared_head_bytes() {
        // Decimal keys share their first 13 bytes: the summaries start after them, and targets
        // outside the shared bytes land at either end. The last separator is a shortened
        // successor, as a table's is, sharing nothing.
        let mut keys: Vec<Vec<u8>> = (0..40).map(|i| format!("{:016}", 100_000 + i * 7).into_bytes()).collect();
        keys.push(b"1".to_vec());
        let (block, data_end) = index_over(&keys);
        let ix = IndexEntries::new(&block, data_end).unwrap().with_order_prefixes(&BytewiseComparator);
        assert_eq!(ix.skip, Some(13));
        let prefixes = ix.prefixes.as_ref().unwrap();
        assert!(prefixes.windows(2).all(|w| w[0] < w[1]), "every summary differs");
        for t in [
            &b""[..],
            b"0",
            b"00000000001",
            b"0000000000100000",
            b"0000000000100001",
            b"0000000000100273",
            b"0000000000100274",
            b"00000000001003",
            b"1",
            b"\xff",
        ] {
            let expected = keys.partition_point(|k| k.as_slice() < t);
            assert_eq!(ix.seek(t, &BytewiseComparator), expected, "{:?}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn version_3_index_values_are_sizes_whose_offsets_follow() {
        let (_, handles, block) = index_of(3, 1, EntryLayout::KindBit);
        // Entry 1: shared 0, 8 key bytes and Put (8 << 1 | 1 = 17), value of 1 byte (101).
        let at = block.restart_offset(1);
        assert_eq!(&block.bytes()[at..at + 12], &[0, 17, 1, b's', b'e', b'p', b'0', b'0', b'0', b'0', b'2', 101]);
        assert_eq!(handles[1], BlockHandle { offset: 105, size: 101 });
        let data_end = handles[2].end().unwrap();
        assert!(IndexEntries::new(&block, data_end).is_ok());
        // The last block must end exactly where the data region does.
        let e = IndexEntries::new(&block, data_end + 1).unwrap_err();
        assert_eq!(e.reason, "index does not reach the end of the data blocks");
        let e = IndexEntries::new(&block, data_end - 1).unwrap_err();
        assert_eq!((e.at, e.reason), (block.restart_offset(2), "index entry points outside the data blocks"));
        // Version 1 and 2 handles name their offsets; a region larger than the blocks is fine.
        let (_, handles, block) = index_of(3, 1, EntryLayout::KindByte);
        assert!(IndexEntries::new(&block, handles[2].end().unwrap() + BLOCK_TRAILER_LEN as u64).is_ok());
    }

    #[test]
    fn index_entries_reject_entries_that_are_not_restart_points() {
        for layout in LAYOUTS {
            let (_, handles, block) = index_of(4, 2, layout);
            let e = IndexEntries::new(&block, handles[3].end().unwrap()).unwrap_err();
            assert_eq!((e.at, e.reason), (0, "index entries are not all restart points"));
        }
    }

    #[test]
    fn index_entries_reject_a_value_that_is_not_one_handle() {
        for layout in LAYOUTS {
            let mut b = BlockBuilder::new(1, 4096, layout);
            b.add(&[], b"a", ValueKind::Put, &[0x80]);
            let block = Block::parse(Bytes::copy_from_slice(b.finish()), layout).unwrap();
            assert_eq!(IndexEntries::new(&block, 1 << 20).unwrap_err().reason, "bad block handle");
            let mut b = BlockBuilder::new(1, 4096, layout);
            b.add(&[], b"a", ValueKind::Put, &[1, 2, 3]);
            let block = Block::parse(Bytes::copy_from_slice(b.finish()), layout).unwrap();
            assert_eq!(IndexEntries::new(&block, 1 << 20).unwrap_err().reason, "bad block handle");
        }
    }

    #[test]
    fn index_entries_reject_a_restart_entry_that_shares_a_prefix() {
        for layout in LAYOUTS {
            // Interval 2: the second entry shares "sep0"; claim it is a restart point too.
            let (_, handles, block) = index_of(2, 2, layout);
            let mut d = block.bytes().to_vec();
            let n = d.len();
            let second = {
                let e = decode_entry(&d, 0, n - 8, layout).unwrap();
                e.value_end as u32
            };
            d.truncate(n - 8); // Drop the restart array [0] and its count 1.
            d.extend_from_slice(&0u32.to_le_bytes());
            d.extend_from_slice(&second.to_le_bytes());
            d.extend_from_slice(&2u32.to_le_bytes());
            let block = Block::parse(Bytes::from(d), layout).unwrap();
            let e = IndexEntries::new(&block, handles[1].end().unwrap()).unwrap_err();
            assert_eq!(e.reason, "restart entry shares a prefix");
            assert!(block.seek_point(b"sep00002", None, &BytewiseComparator, &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn seek_point_and_index_entries_survive_every_byte_flip() {
        // No checksum here: a flipped byte must give an error or an answer, never a panic.
        for layout in LAYOUTS {
            let (ks, block) = block_of(20, 4, layout);
            // Three restart points: a block with restart hints.
            let (_, hinted) = block_of(12, 4, layout);
            let (_, handles, index) = index_of(20, 1, layout);
            let data_end = handles[19].end().unwrap();
            for (block, index) in [(block, false), (hinted, false), (index, true)] {
                let data = block.bytes().clone();
                for i in 0..data.len() {
                    for bit in [0x01u8, 0x10, 0x80] {
                        let mut d = data.to_vec();
                        d[i] ^= bit;
                        let Ok(block) = Block::parse(Bytes::from(d), layout) else { continue };
                        let hinted = block.clone().with_restart_hints(|k| BytewiseComparator.order_prefix(k));
                        for t in [&ks[0], &ks[7], &ks[19], &b"zzz".to_vec()] {
                            let p = BytewiseComparator.order_prefix(t);
                            let _ = block.seek_point(t, p, &BytewiseComparator, &mut Vec::new());
                            let _ = hinted.seek_point(t, p, &BytewiseComparator, &mut Vec::new());
                        }
                        if let Ok(ix) = IndexEntries::new(&block, data_end) {
                            let _ = ix.seek(&ks[5], &BytewiseComparator);
                            for j in 0..ix.len() {
                                assert!(ix.handle(j).end().unwrap() <= data_end, "flip at {i} of index {index}");
                            }
                        }
                    }
                }
            }
        }
    }
}
