//! A cursor over the entries of one block, forward and backward.
//!
//! Invariants: the iterator is valid only on an entry it decoded completely with checked reads;
//! `key`, `value` and `kind` describe that entry. After any error it is invalid. Every decode
//! step moves strictly forward inside the entry region, so no loop here can run forever on
//! corrupt input.
//!
//! Thread safety: one owner; the bytes are a shared `Bytes`.

use crate::error::{BlockCorrupt, block_corrupt};
use crate::format::{EntryLayout, RESTART_LEN};
use bytes::Bytes;
use std::cmp::Ordering;
use strata_base::Comparator;
use strata_base::coding::{get_fixed32, get_u8, get_varint32};
use strata_base::ikey::ValueKind;

type BResult<T> = Result<T, BlockCorrupt>;

/// A block whose restart array has been checked: at least one restart point, the first at 0,
/// strictly increasing, all inside a non-empty entry region.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(super) data: Bytes,
    /// Where the restart array starts (the end of the entry region); below `BLOCK_LEN_MAX`,
    /// which fits in a `u32` (so a cached block's node stays small).
    restarts_at: u32,
    num_restarts: u32,
    /// Restart points `1..=hint_len` by order summary of their keys and by offset, beside the
    /// block's handle ([`Block::with_restart_hints`]), so that a point lookup in a cached block
    /// finds its restart interval without loading the restart array or a restart key. Plain
    /// fields rather than a struct, whose padding would push a cache node past 96 bytes.
    hint_prefixes: [u64; HINTS],
    hint_offsets: [u16; HINTS],
    /// [`NO_HINTS`] when the block has none: more than `HINTS + 1` restart points, an offset
    /// past `u16::MAX`, a comparator without summaries (unless there is one restart point,
    /// which needs none), or a restart entry that does not decode (a lookup then finds the
    /// fault the usual way). Otherwise the block has exactly `hint_len + 1` restart points.
    hint_len: u8,
    pub(super) layout: EntryLayout,
}

/// Most restart points after the first that a block summarizes ([`Block::with_restart_hints`]):
/// a 4 KiB block of entries of 64 bytes or more at the default restart interval (16) has at
/// most four restart points.
pub(super) const HINTS: usize = 3;

/// `Block::hint_len` of a block without hints.
const NO_HINTS: u8 = u8::MAX;

impl Block {
    /// A block of no bytes, for a free cache slot; never searched (every search of a block
    /// starts from a parsed one).
    pub(crate) fn empty() -> Self {
        Self {
            data: Bytes::new(),
            restarts_at: 0,
            num_restarts: 0,
            hint_prefixes: [0; HINTS],
            hint_offsets: [0; HINTS],
            hint_len: NO_HINTS,
            layout: EntryLayout::KindBit,
        }
    }

    /// Bytes of the block's contents (what holding it keeps in memory).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Checks the restart array of `data`, a block whose entries are laid out as `layout` says
    /// (the table's format version).
    pub fn parse(data: Bytes, layout: EntryLayout) -> BResult<Self> {
        let len = data.len();
        let Some(mut tail) = len.checked_sub(RESTART_LEN).and_then(|at| data.get(at..)) else {
            return Err(block_corrupt(0, "block shorter than its restart count"));
        };
        let count_at = len - RESTART_LEN;
        let n = get_fixed32(&mut tail).map_or(0, |n| n as usize);
        if n == 0 {
            return Err(block_corrupt(count_at, "block has no restart points"));
        }
        if n > count_at / RESTART_LEN {
            return Err(block_corrupt(count_at, "restart count larger than the block"));
        }
        let restarts_at = count_at - n * RESTART_LEN;
        if restarts_at == 0 {
            return Err(block_corrupt(0, "block has no entries"));
        }
        let mut arr = data.get(restarts_at..count_at).unwrap_or_default();
        let mut prev: Option<usize> = None;
        for i in 0..n {
            let r = get_fixed32(&mut arr).map_or(usize::MAX, |r| r as usize);
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p && r < restarts_at,
            };
            if !ok {
                return Err(block_corrupt(restarts_at + i * RESTART_LEN, "bad restart point"));
            }
            prev = Some(r);
        }
        // The block is not longer than BLOCK_LEN_MAX (a u32) when read from a table; a longer
        // one (built in memory) is refused rather than truncated.
        let (Ok(restarts_at), Ok(num_restarts)) = (u32::try_from(restarts_at), u32::try_from(n)) else {
            return Err(block_corrupt(0, "block longer than BLOCK_LEN_MAX"));
        };
        Ok(Self {
            data,
            restarts_at,
            num_restarts,
            hint_prefixes: [0; HINTS],
            hint_offsets: [0; HINTS],
            hint_len: NO_HINTS,
            layout,
        })
    }

    /// Adds the restart hints made with `summary`, an order summary of the keys of the order
    /// every later [`Block::seek_point`] of this block is given (a table's blocks get their
    /// index's, [`IndexEntries::summary`](super::IndexEntries::summary)): whenever `a < b`,
    /// `summary(a) <= summary(b)`, and equal keys have equal summaries; `None` for one key
    /// means none for any. Reads the restart entries, which a block just read from its file
    /// has in the CPU cache.
    pub fn with_restart_hints(mut self, summary: impl Fn(&[u8]) -> Option<u64>) -> Self {
        let Some(n) = self.num_restarts().checked_sub(1).filter(|&n| n <= HINTS) else { return self };
        let (mut prefixes, mut offsets) = ([0; HINTS], [0; HINTS]);
        for i in 0..n {
            let off = self.restart_offset(i + 1);
            let (Ok((key, _)), Ok(off)) = (self.restart_entry(i + 1), u16::try_from(off)) else { return self };
            let Some(p) = summary(key) else { return self };
            (prefixes[i], offsets[i]) = (p, off);
        }
        (self.hint_prefixes, self.hint_offsets, self.hint_len) = (prefixes, offsets, n as u8);
        self
    }

    /// The order summaries of the hinted restart points (`1..`), when the block has hints.
    #[inline]
    pub(crate) fn hint_prefixes(&self) -> Option<&[u64]> {
        (self.hint_len != NO_HINTS).then(|| self.hint_prefixes.get(..self.hint_len as usize).unwrap_or_default())
    }

    /// Offset of the restart array: the end of the entry region.
    #[inline]
    pub(super) fn restarts_at(&self) -> usize {
        self.restarts_at as usize
    }

    /// Number of restart points (at least one).
    #[inline]
    pub(super) fn num_restarts(&self) -> usize {
        self.num_restarts as usize
    }

    /// Offset of the entry at restart point `i` inside the block.
    pub fn restart_offset(&self, i: usize) -> usize {
        restart_point(&self.data, self.restarts_at(), i)
    }

    /// [`Block::restart_offset`], from the hints when the block has them (no load of the
    /// restart array).
    #[inline]
    pub(super) fn hinted_restart_offset(&self, i: usize) -> usize {
        if self.hint_len == NO_HINTS {
            return self.restart_offset(i);
        }
        match i.checked_sub(1) {
            None => 0,
            Some(j) if j < self.hint_len as usize => {
                self.hint_offsets.get(j).map_or(self.restarts_at(), |&o| o as usize)
            }
            Some(_) => self.restarts_at(),
        }
    }

    /// Key and value of the entry at restart point `i < num_restarts()`.
    pub fn restart_entry(&self, i: usize) -> BResult<(&[u8], &[u8])> {
        self.restart_entry_at(self.restart_offset(i))
    }

    /// Key and value of the restart entry at offset `off`.
    pub(super) fn restart_entry_at(&self, off: usize) -> BResult<(&[u8], &[u8])> {
        let e = decode_entry(&self.data, off, self.restarts_at(), self.layout)?;
        if e.shared != 0 {
            return Err(block_corrupt(off, "restart entry shares a prefix"));
        }
        let key = self.data.get(e.key_start..e.key_end).unwrap_or_default();
        Ok((key, self.data.get(e.key_end..e.value_end).unwrap_or_default()))
    }
}

/// Offset of restart point `i` (checked by `Block::parse`; out of range reads as `restarts_at`).
#[inline]
fn restart_point(data: &[u8], restarts_at: usize, i: usize) -> usize {
    let at = restarts_at + i * RESTART_LEN;
    match data.get(at..at + RESTART_LEN) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => restarts_at,
    }
}

/// Decodes the header of the entry at `off`, which must lie inside `data[..restarts_at]`.
#[inline]
pub(super) fn decode_entry(data: &[u8], off: usize, restarts_at: usize, layout: EntryLayout) -> BResult<Entry> {
    let region = data.get(off..restarts_at).unwrap_or_default();
    // Fast path: three one-byte varints (and, before version 3, the kind byte after them).
    let fast = match (layout, region) {
        (EntryLayout::KindBit, &[a, b, c, ..]) if (a | b | c) < 0x80 => {
            let kind = if b & 1 == 0 { ValueKind::Delete } else { ValueKind::Put };
            Some((a as usize, (b >> 1) as usize, c as usize, kind, 3))
        }
        (EntryLayout::KindByte, &[a, b, c, k, ..]) if (a | b | c) < 0x80 => {
            ValueKind::from_u8(k).map(|kind| (a as usize, b as usize, c as usize, kind, 4))
        }
        _ => None,
    };
    let (shared, non_shared, value_len, kind, header_len) = match fast {
        Some(h) => h,
        None => decode_header_slow(region, off, layout)?,
    };
    let bad = |reason| block_corrupt(off, reason);
    let key_start = off + header_len;
    let key_end = key_start.checked_add(non_shared).filter(|&e| e <= restarts_at);
    let key_end = key_end.ok_or_else(|| bad("key runs past the entries"))?;
    let value_end = key_end.checked_add(value_len).filter(|&e| e <= restarts_at);
    let value_end = value_end.ok_or_else(|| bad("value runs past the entries"))?;
    Ok(Entry { shared, key_start, key_end, value_end, kind })
}

/// An entry header with a length of 128 or more, a bad kind byte, or a truncated header:
/// `(shared, non_shared, value_len, kind, header_len)`.
#[cold]
#[inline(never)]
fn decode_header_slow(
    region: &[u8],
    off: usize,
    layout: EntryLayout,
) -> BResult<(usize, usize, usize, ValueKind, usize)> {
    let bad = |reason| block_corrupt(off, reason);
    let mut src = region;
    let shared = get_varint32(&mut src).ok_or_else(|| bad("bad shared length"))? as usize;
    let second = get_varint32(&mut src).ok_or_else(|| bad("bad key length"))?;
    let value_len = get_varint32(&mut src).ok_or_else(|| bad("bad value length"))? as usize;
    let (non_shared, kind) = match layout {
        EntryLayout::KindBit => ((second >> 1) as usize, (second & 1) as u8),
        EntryLayout::KindByte => (second as usize, get_u8(&mut src).ok_or_else(|| bad("bad entry kind"))?),
    };
    let kind = ValueKind::from_u8(kind).ok_or_else(|| bad("bad entry kind"))?;
    Ok((shared, non_shared, value_len, kind, region.len() - src.len()))
}

#[derive(Debug)]
pub(crate) struct BlockIter {
    data: Bytes,
    /// Offset of the restart array, which is the end of the entry region.
    restarts_at: usize,
    num_restarts: usize,
    current: usize,
    next: usize,
    restart_index: usize,
    key: Vec<u8>,
    value_start: usize,
    value_end: usize,
    kind: ValueKind,
    valid: bool,
    layout: EntryLayout,
}

/// The header of one entry.
pub(super) struct Entry {
    pub(super) shared: usize,
    pub(super) key_start: usize,
    pub(super) key_end: usize,
    pub(super) value_end: usize,
    pub(super) kind: ValueKind,
}

impl BlockIter {
    /// An iterator over no block; invalid until [`reset`](Self::reset) succeeds.
    pub fn empty() -> Self {
        Self {
            data: Bytes::new(),
            restarts_at: 0,
            num_restarts: 0,
            current: 0,
            next: 0,
            restart_index: 0,
            key: Vec::new(),
            value_start: 0,
            value_end: 0,
            kind: ValueKind::Put,
            valid: false,
            layout: EntryLayout::KindBit,
        }
    }

    /// An iterator over a checked block; unpositioned.
    pub fn new(block: Block) -> Self {
        let mut it = Self::empty();
        it.set_block(block);
        it
    }

    /// Points the iterator at another checked block, keeping the key buffer's allocation. The
    /// iterator is left unpositioned.
    pub fn set_block(&mut self, block: Block) {
        self.valid = false;
        self.key.clear();
        self.restarts_at = block.restarts_at();
        self.num_restarts = block.num_restarts();
        self.data = block.data;
        self.layout = block.layout;
        self.next = 0;
        self.current = 0;
        self.restart_index = 0;
    }

    /// Makes the iterator invalid without moving it.
    pub fn invalidate(&mut self) {
        self.valid = false;
    }

    #[inline]
    pub fn valid(&self) -> bool {
        self.valid
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        self.data.get(self.value_start..self.value_end).unwrap_or_default()
    }

    /// The value as a zero-copy slice of the block.
    pub fn value_bytes(&self) -> Bytes {
        if self.valid { self.data.slice(self.value_start..self.value_end) } else { Bytes::new() }
    }

    #[inline]
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    #[inline]
    fn restart_point(&self, i: usize) -> usize {
        restart_point(&self.data, self.restarts_at, i)
    }

    #[inline]
    fn decode_header(&self, off: usize) -> BResult<Entry> {
        decode_entry(&self.data, off, self.restarts_at, self.layout)
    }

    fn fail(&mut self, e: BlockCorrupt) -> BlockCorrupt {
        self.valid = false;
        self.key.clear();
        e
    }

    /// Decodes the entry at `self.next`. Returns false (invalid, no error) at the end.
    fn decode_next(&mut self) -> BResult<bool> {
        let off = self.next;
        if off >= self.restarts_at {
            self.valid = false;
            self.current = self.restarts_at;
            return Ok(false);
        }
        let e = match self.decode_header(off) {
            Ok(e) => e,
            Err(err) => return Err(self.fail(err)),
        };
        while self.restart_index + 1 < self.num_restarts {
            let r = self.restart_point(self.restart_index + 1);
            if r > off {
                break;
            }
            if r < off {
                return Err(self.fail(block_corrupt(off, "entry crosses a restart point")));
            }
            self.restart_index += 1;
        }
        let at_restart = self.restart_point(self.restart_index) == off;
        if e.shared > self.key.len() || (at_restart && e.shared != 0) {
            return Err(self.fail(block_corrupt(off, "bad shared key prefix")));
        }
        self.key.truncate(e.shared);
        self.key.extend_from_slice(self.data.get(e.key_start..e.key_end).unwrap_or_default());
        self.current = off;
        self.next = e.value_end;
        self.value_start = e.key_end;
        self.value_end = e.value_end;
        self.kind = e.kind;
        self.valid = true;
        Ok(true)
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.key.clear();
        self.valid = false;
        self.restart_index = i;
        self.next = self.restart_point(i);
    }

    pub fn seek_to_first(&mut self) -> BResult<()> {
        if self.num_restarts == 0 {
            self.valid = false;
            return Ok(());
        }
        self.seek_to_restart(0);
        self.decode_next().map(|_| ())
    }

    pub fn seek_to_last(&mut self) -> BResult<()> {
        if self.num_restarts == 0 {
            self.valid = false;
            return Ok(());
        }
        self.seek_to_restart(self.num_restarts - 1);
        while self.decode_next()? {
            if self.next >= self.restarts_at {
                break;
            }
        }
        Ok(())
    }

    pub fn next(&mut self) -> BResult<()> {
        if !self.valid {
            return Ok(());
        }
        self.decode_next().map(|_| ())
    }

    pub fn prev(&mut self) -> BResult<()> {
        if !self.valid {
            return Ok(());
        }
        let original = self.current;
        while self.restart_point(self.restart_index) >= original {
            if self.restart_index == 0 {
                self.valid = false;
                self.key.clear();
                return Ok(());
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart(self.restart_index);
        loop {
            if !self.decode_next()? {
                return Err(self.fail(block_corrupt(original, "entry not reachable from its restart point")));
            }
            if self.next >= original {
                break;
            }
        }
        if self.next != original {
            return Err(self.fail(block_corrupt(self.current, "entry boundaries disagree")));
        }
        Ok(())
    }

    /// The key stored whole at restart point `i`.
    fn restart_key(&self, i: usize) -> BResult<&[u8]> {
        let off = self.restart_point(i);
        let e = self.decode_header(off)?;
        if e.shared != 0 {
            return Err(block_corrupt(off, "restart entry shares a prefix"));
        }
        Ok(self.data.get(e.key_start..e.key_end).unwrap_or_default())
    }

    /// Positions at the first entry whose key is `>= target`, or invalid if there is none.
    pub fn seek(&mut self, target: &[u8], cmp: &dyn Comparator) -> BResult<()> {
        if self.num_restarts == 0 {
            self.valid = false;
            return Ok(());
        }
        let (mut lo, mut hi) = (0, self.num_restarts - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let ord = match self.restart_key(mid) {
                Ok(k) => cmp.compare(k, target),
                Err(e) => return Err(self.fail(e)),
            };
            if ord == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.seek_to_restart(lo);
        while self.decode_next()? {
            if cmp.compare(&self.key, target) != Ordering::Less {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockBuilder;
    use strata_base::BytewiseComparator;

    const LAYOUTS: [EntryLayout; 2] = [EntryLayout::KindByte, EntryLayout::KindBit];

    fn build(entries: &[(&[u8], ValueKind, &[u8])], interval: usize, layout: EntryLayout) -> Bytes {
        let mut b = BlockBuilder::new(interval, 4096, layout);
        let mut prev: &[u8] = &[];
        for (k, kind, v) in entries {
            b.add(prev, k, *kind, v);
            prev = k;
        }
        Bytes::copy_from_slice(b.finish())
    }

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("key{:05}", i * 2).into_bytes()).collect()
    }

    fn kind_of(i: usize) -> ValueKind {
        if i.is_multiple_of(3) { ValueKind::Delete } else { ValueKind::Put }
    }

    fn block_of(n: usize, interval: usize, layout: EntryLayout) -> (Vec<Vec<u8>>, Bytes) {
        let ks = keys(n);
        let entries: Vec<_> = ks.iter().enumerate().map(|(i, k)| (k.as_slice(), kind_of(i), k.as_slice())).collect();
        let data = build(&entries, interval, layout);
        (ks, data)
    }

    #[test]
    fn forward_backward_and_seek() {
        for (interval, layout) in [1, 2, 3, 16].into_iter().flat_map(|i| LAYOUTS.map(|l| (i, l))) {
            let (ks, data) = block_of(40, interval, layout);
            let mut it = BlockIter::new(Block::parse(data, layout).unwrap());
            it.seek_to_first().unwrap();
            for (i, k) in ks.iter().enumerate() {
                assert!(it.valid());
                assert_eq!(it.key(), k.as_slice());
                assert_eq!(it.value(), k.as_slice());
                assert_eq!(it.kind(), kind_of(i));
                it.next().unwrap();
            }
            assert!(!it.valid());
            it.seek_to_last().unwrap();
            for k in ks.iter().rev() {
                assert_eq!(it.key(), k.as_slice());
                it.prev().unwrap();
            }
            assert!(!it.valid());
            // Seek to present keys and to gaps.
            for (i, k) in ks.iter().enumerate() {
                it.seek(k, &BytewiseComparator).unwrap();
                assert_eq!(it.key(), k.as_slice());
                let mut gap = k.clone();
                gap.push(0);
                it.seek(&gap, &BytewiseComparator).unwrap();
                assert_eq!(it.valid(), i + 1 < ks.len());
                if i + 1 < ks.len() {
                    assert_eq!(it.key(), ks[i + 1].as_slice());
                }
            }
            it.seek(b"", &BytewiseComparator).unwrap();
            assert_eq!(it.key(), ks[0].as_slice());
        }
    }

    #[test]
    fn empty_and_short_blocks_are_rejected() {
        assert!(Block::parse(Bytes::new(), EntryLayout::KindBit).is_err());
        assert!(Block::parse(Bytes::from_static(&[0, 0, 0]), EntryLayout::KindBit).is_err());
        assert!(Block::parse(Bytes::from_static(&[0, 0, 0, 0]), EntryLayout::KindBit).is_err());
        // One restart point at 0 and no entries.
        assert!(Block::parse(Bytes::from_static(&[0, 0, 0, 0, 1, 0, 0, 0]), EntryLayout::KindBit).is_err());
        // Restart count larger than the block.
        assert!(Block::parse(Bytes::from_static(&[1, 2, 3, 4, 9, 0, 0, 0]), EntryLayout::KindBit).is_err());
        // Restart points not increasing.
        assert!(
            Block::parse(Bytes::from_static(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]), EntryLayout::KindBit)
                .is_err()
        );
    }

    /// Version 3's entry header: `shared`, `non_shared << 1 | kind`, `value_len`, no kind byte.
    #[test]
    fn kind_bit_layout_is_three_varints() {
        let data = build(&[(b"ab", ValueKind::Put, b"x"), (b"ac", ValueKind::Delete, b"")], 16, EntryLayout::KindBit);
        assert_eq!(&data[..], &[0, (2 << 1) | 1, 1, b'a', b'b', b'x', 1, 1 << 1, 0, b'c', 0, 0, 0, 0, 1, 0, 0, 0]);
        let long = vec![b'k'; 200];
        let data = build(&[(&long, ValueKind::Put, b"")], 16, EntryLayout::KindBit);
        // (200 << 1) | 1 = 401 = varint 0x91 0x03.
        assert_eq!(&data[..4], &[0, 0x91, 0x03, 0]);
        let mut it = BlockIter::new(Block::parse(data, EntryLayout::KindBit).unwrap());
        it.seek_to_first().unwrap();
        assert_eq!((it.key(), it.kind(), it.value()), (&long[..], ValueKind::Put, &b""[..]));
    }

    #[test]
    fn bad_kind_is_reported() {
        let mut data = build(&[(b"a", ValueKind::Put, b"x")], 16, EntryLayout::KindByte).to_vec();
        data[3] = 9; // The kind byte of the first entry.
        let mut it = BlockIter::new(Block::parse(Bytes::from(data), EntryLayout::KindByte).unwrap());
        assert_eq!(it.seek_to_first(), Err(block_corrupt(0, "bad entry kind")));
        assert!(!it.valid());
    }

    #[test]
    fn every_byte_flip_is_an_error_or_well_formed() {
        // No checksum here: decoding arbitrary flips must never panic or loop.
        for layout in LAYOUTS {
            let (_, data) = block_of(20, 4, layout);
            for i in 0..data.len() {
                for bit in [0x01u8, 0x10, 0x80] {
                    let mut d = data.to_vec();
                    d[i] ^= bit;
                    let Ok(block) = Block::parse(Bytes::from(d), layout) else { continue };
                    let mut it = BlockIter::new(block);
                    let mut steps = 0;
                    let _ = it.seek_to_first();
                    while it.valid() && steps < 100 {
                        let _ = it.next();
                        steps += 1;
                    }
                    let _ = it.seek_to_last();
                    while it.valid() && steps < 200 {
                        let _ = it.prev();
                        steps += 1;
                    }
                    let _ = it.seek(b"key00011", &BytewiseComparator);
                    assert!(steps < 200, "iteration did not end after flip at {i}");
                }
            }
        }
    }
}
