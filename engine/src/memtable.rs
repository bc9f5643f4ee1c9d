//! The memtable: the in-memory sorted buffer of recent writes of one column family.
//!
//! Two parts behind one reader-writer lock:
//!
//! - Records: each entry appended once to 64 KiB chunks as `[klen varint][internal key][vtag
//!   varint][value]` and never changed (`vtag` is the value's length plus one; 0 means the value,
//!   above [`VALUE_INLINE_MAX`] bytes, has an allocation of its own and a varint index into those
//!   follows). An entry's address is a `u32`: chunk index << 16 | offset. A full chunk is frozen
//!   into `Bytes`, so values read from it are shared, not copied (an iterator's window still
//!   copies values up to 512 bytes, which is cheaper than sharing them).
//! - Index: a B+tree of 64-slot nodes whose slots are two `u32`s, a 4-byte key prefix and the
//!   record address. A node's prefixes are the 4 user-key bytes after the bytes all its keys
//!   share (the common prefix of the separators that bound it), so a binary search in a node
//!   compares integers and reads a record only where prefixes tie, even for keys with long
//!   common prefixes (db_bench's zero-padded decimal keys). Leaves are linked both ways.
//!
//! Why: a flush writes one version per key its memtable holds, so the more entries a memtable of
//! `write_buffer_size` holds, the more overwrites meet before a flush and the fewer bytes reach
//! the disk. The `std` B-tree this replaced kept a 48-byte slot per entry (a 40-byte inline key,
//! an 8-byte value reference) in nodes about 69% full: 173-176 bytes per entry of a 16-byte key
//! and a 100-byte value, 381k entries per 64 MiB against 461k in RocksDB's skip list. This layout
//! stores the key once, in the record, and 8 bytes of slot per entry (11.6 at 69% fill): about
//! 139 bytes per such entry, 483k per 64 MiB (see [`ENTRY_OVERHEAD_BYTES`]). A skip list in a
//! byte arena (about 132 bytes per entry) was tried and measured: 2-3x slower inserts than the
//! B-tree at 500k entries (a cache miss per node visited), fill 0.6x.
//!
//! Writes come from one thread at a time in practice (the group-commit leader), so the write
//! lock is uncontended; readers hold the read lock only for one search. Nothing is ever merged or
//! rebuilt: an insert appends one record and puts two `u32`s into a leaf, shifting at most 63
//! slots; a split (one insert in about 20) copies half a node and recomputes the prefixes of the
//! two halves if their shared bytes changed (at most 64 record reads per level split). No
//! insert holds the lock for more than a few microseconds.
//!
//! Limits: addresses are `u32`, so the records span at most 65,536 chunks (4 GiB). Should a
//! memtable ever grow past that (a `write_buffer_size` of several GiB), further entries go to an
//! overflow `BTreeMap` of owned keys that every read also consults: slower and charged below
//! its cost, but nothing is refused or lost.
//!
//! Invariants: records are never changed or moved, so an address stays valid while the table
//! grows; every key a node holds, and every key a search routes to it, shares the node's `skip`
//! bytes; `approximate_size` only grows.
//!
//! Thread safety: `MemTable` is `Send + Sync`; `add` may be called from several threads at
//! once (it takes the write lock; the counters are atomic). A [`MemTableIter`] owns an
//! `Arc<MemTable>`, so it is `'static + Send`; it holds no lock between moves (it copies windows
//! of entries and searches again from its position when a window runs out).

use crate::error::Result;
use crate::iter::{InternalIterator, compare_ikey, split_ikey};
use bytes::{Bytes, BytesMut};
use parking_lot::RwLock;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::{Bound, Range};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use strata_base::coding::{get_varint64, varint_len};
use strata_base::ikey::{self, SEQ_MAX, SeqNo, ValueKind};

/// Bytes charged per entry on top of its internal key and value.
///
/// The rule: a memtable is charged what it costs in memory, so `write_buffer_size` is a memory
/// budget (RocksDB's is too: it counts the bytes of its arena). An entry costs its key and value
/// in a record, two varint lengths (1 byte each below 128 bytes), and an 8-byte slot in a leaf
/// about 69% full under random inserts (11.6 bytes; ascending inserts keep leaves full, 8), plus
/// the inner nodes and the chunks' unused tails: 15 bytes. The charge for a 16-byte user key
/// (24-byte internal key) and a 100-byte value is 139.
///
/// Measured (`cargo run --release -p strata --example memtable_rss -- <n> [random|decimal|
/// ascending]`, RSS growth of one memtable of n entries with 16-byte keys and 100-byte values,
/// 2026-12-01): 138.8-139.0 bytes per entry at 330k, 460k and 1M random or decimal keys, 135.1
/// ascending. The `std` B-tree before it: 176.3-176.6 random, 195.8 ascending (charge 176).
/// RocksDB's skip list spends about 145.6 (its arena holds 460,787 such puts per 64 MiB); 64 MiB
/// holds 482,798 here.
pub const ENTRY_OVERHEAD_BYTES: usize = 15;

/// Values above this many bytes get an allocation of their own (shared when read).
pub const VALUE_INLINE_MAX: usize = 4096;
/// Bytes of one arena chunk; an entry's offset in its chunk fits the low 16 bits of its address.
const CHUNK: usize = 1 << 16;
/// Entries larger than this get a chunk of their own (spanning as many chunk indices as they
/// need 64 KiB units), so a regular chunk never wastes more than this at its end.
const BIG_RECORD: usize = CHUNK / 8;
/// Chunk indices an address can name.
const CHUNKS_MAX: usize = 1 << 16;
/// No record (chunk 0 is never used, so no record has this address).
const NIL: u32 = 0;

/// Compares an internal key given as parts with another: user key ascending, trailer descending.
#[inline]
fn cmp_parts(a: (&[u8], u64), b: (&[u8], u64)) -> Ordering {
    a.0.cmp(b.0).then_with(|| b.1.cmp(&a.1))
}

/// The ordering prefix of a user key in a node whose keys all share their first `skip` bytes:
/// the 4 bytes after those, big-endian, zero-padded. Between keys sharing those bytes a strict
/// inequality of prefixes is the keys' order (a padding byte is below every byte and belongs to
/// a shorter key); equal prefixes need the full comparison.
#[inline]
fn prefix_at(user_key: &[u8], skip: usize) -> u32 {
    match user_key.get(skip..) {
        Some([a, b, c, d, ..]) => u32::from_be_bytes([*a, *b, *c, *d]),
        Some(rest) => {
            let mut p = [0u8; 4];
            p[..rest.len()].copy_from_slice(rest);
            u32::from_be_bytes(p)
        }
        None => 0,
    }
}

/// Where an entry's value is.
#[derive(Debug, Clone, Copy)]
enum ValueAt {
    /// In chunk `chunk`, these bytes.
    Inline { chunk: usize, start: usize, len: usize },
    /// `Records::own[i]`.
    Own(usize),
}

/// The chunk records are appended to. A full-size chunk ([`CHUNK`] bytes) is an anonymous
/// memory map of its own, not a heap allocation: when a flushed memtable is dropped its records
/// go back to the operating system at once. From the heap, glibc keeps freed 64 KiB blocks
/// resident (they sit below its mmap threshold, in the middle of the heap), so a process's
/// resident set stayed at its fill-time peak after the last flush ("Memory" in
/// docs/performance.md); RocksDB's arena gets the same effect from blocks of
/// `write_buffer_size / 8`, which glibc maps. The first, smaller chunks of a memtable (4-32 KiB)
/// stay on the heap, and a failed map falls back to it.
#[derive(Debug, Default)]
enum OpenChunk {
    #[default]
    Empty,
    Heap(BytesMut),
    Mapped {
        map: memmap2::MmapMut,
        len: usize,
    },
}

impl OpenChunk {
    fn with_capacity(size: usize) -> Self {
        if size >= CHUNK
            && let Ok(map) = memmap2::MmapMut::map_anon(size)
        {
            return OpenChunk::Mapped { map, len: 0 };
        }
        OpenChunk::Heap(BytesMut::with_capacity(size))
    }

    fn capacity(&self) -> usize {
        match self {
            OpenChunk::Empty => 0,
            OpenChunk::Heap(b) => b.capacity(),
            OpenChunk::Mapped { map, .. } => map.len(),
        }
    }

    fn len(&self) -> usize {
        self.filled().len()
    }

    /// The bytes appended so far.
    #[inline]
    fn filled(&self) -> &[u8] {
        match self {
            OpenChunk::Empty => &[],
            OpenChunk::Heap(b) => b,
            OpenChunk::Mapped { map, len } => map.get(..*len).unwrap_or_default(),
        }
    }

    /// Appends `part`; the caller has checked that it fits (a heap chunk would grow, a mapped
    /// one drops what does not fit, and neither happens).
    fn extend_from_slice(&mut self, part: &[u8]) {
        match self {
            OpenChunk::Empty => *self = OpenChunk::Heap(BytesMut::from(part)),
            OpenChunk::Heap(b) => b.extend_from_slice(part),
            OpenChunk::Mapped { map, len } => {
                let end = (*len + part.len()).min(map.len());
                if let Some(dst) = map.get_mut(*len..end) {
                    dst.copy_from_slice(&part[..end - *len]);
                }
                *len = end;
            }
        }
    }

    /// The chunk's bytes as shared, immutable `Bytes` (no copy).
    fn freeze(self) -> Bytes {
        match self {
            OpenChunk::Empty => Bytes::new(),
            OpenChunk::Heap(b) => b.freeze(),
            OpenChunk::Mapped { map, len } => Bytes::from_owner(map).slice(..len),
        }
    }
}

/// The entries' bytes: records `[klen varint][internal key][vtag varint][value]` appended to
/// 64 KiB chunks and never changed. A chunk is sealed (frozen into `Bytes`) when the next record
/// does not fit, so a value read from a sealed chunk can be shared (a reference-count
/// increment); one from the open chunk is copied. A record above [`BIG_RECORD`] bytes gets a sealed chunk of
/// its own, followed by empty placeholders for the rest of the 64 KiB units it spans, so the
/// 65,536 chunk indices always span 4 GiB.
#[derive(Debug)]
struct Records {
    /// Every chunk but the open one (whose index holds an empty placeholder). Chunk 0 is an
    /// empty placeholder: address 0 is [`NIL`].
    chunks: Vec<Bytes>,
    open: OpenChunk,
    /// The open chunk's index, if there is an open chunk.
    open_index: Option<usize>,
    /// Most chunk indices (`CHUNKS_MAX`; smaller in tests).
    limit: usize,
    /// Values above [`VALUE_INLINE_MAX`] bytes.
    own: Vec<Bytes>,
}

impl Records {
    fn new(limit: usize) -> Self {
        Records {
            chunks: vec![Bytes::new()],
            open: OpenChunk::default(),
            open_index: None,
            limit: limit.clamp(2, CHUNKS_MAX),
            own: Vec::new(),
        }
    }

    #[inline]
    fn chunk(&self, c: usize) -> &[u8] {
        if Some(c) == self.open_index { self.open.filled() } else { self.chunks.get(c).map_or(&[][..], |b| &b[..]) }
    }

    /// Appends a record; returns its address, or `None` if the address space is used up.
    fn put(&mut self, ikey: &[u8], value: &[u8]) -> Option<u32> {
        let own = value.len() > VALUE_INLINE_MAX;
        let tag = if own { 0 } else { value.len() as u64 + 1 };
        let own_index = self.own.len() as u64;
        let len = varint_len(ikey.len() as u64)
            + ikey.len()
            + varint_len(tag)
            + if own { varint_len(own_index) } else { value.len() };
        let mut head = Varints::default();
        head.put(ikey.len() as u64);
        let mut tail = Varints::default();
        tail.put(tag);
        if own {
            tail.put(own_index);
        }
        let (head, tail) = (head.bytes(), tail.bytes());
        let value_bytes = if own { &[][..] } else { value };
        let (c, off) = if len > BIG_RECORD {
            let span = len.div_ceil(CHUNK);
            if self.chunks.len() + span > self.limit {
                return None;
            }
            let mut rec = Vec::with_capacity(len);
            for part in [head, ikey, tail, value_bytes] {
                rec.extend_from_slice(part);
            }
            let c = self.chunks.len();
            self.chunks.push(Bytes::from(rec));
            self.chunks.extend(std::iter::repeat_with(Bytes::new).take(span - 1));
            (c, 0)
        } else {
            if self.open_index.is_none() || self.open.capacity() - self.open.len() < len {
                if self.chunks.len() >= self.limit {
                    return None;
                }
                // Chunks start at 4 KiB and double up to 64 KiB, so a small memtable reserves
                // little. Freezing keeps the allocation (no copy, no shrink).
                let size = (self.open.capacity() * 2).clamp(CHUNK / 16, CHUNK).max(len);
                let full = std::mem::replace(&mut self.open, OpenChunk::with_capacity(size));
                if let Some(i) = self.open_index
                    && let Some(slot) = self.chunks.get_mut(i)
                {
                    *slot = full.freeze();
                }
                self.open_index = Some(self.chunks.len());
                self.chunks.push(Bytes::new());
            }
            let off = self.open.len();
            for part in [head, ikey, tail, value_bytes] {
                self.open.extend_from_slice(part);
            }
            (self.open_index.unwrap_or(0), off)
        };
        if own {
            self.own.push(Bytes::copy_from_slice(value));
        }
        // c < limit <= 2^16; off < CHUNK = 2^16.
        Some(((c as u32) << 16) | off as u32)
    }

    /// Reads a byte of each cache line of the records at `addrs` (up to their value's last
    /// byte) before they are copied, so that their cache misses overlap. Records are in
    /// insertion order and a scan reads them in key order, so in a large memtable each record is
    /// a miss (and a TLB miss); copying them one by one waits for each miss in turn, while these
    /// loads do not depend on one another. Measured on a flush's scan of 483k entries (16-byte
    /// keys, 100-byte values): 190-250 ns per entry without, 90-125 with.
    fn touch(&self, addrs: &[u32]) {
        let mut sum = 0u8;
        // The first two lines: the lengths, the key and the start of the value.
        for &addr in addrs {
            let (c, off) = ((addr >> 16) as usize, (addr & 0xFFFF) as usize);
            let chunk = self.chunk(c);
            sum ^= chunk.get(off).copied().unwrap_or(0) ^ chunk.get(off + 64).copied().unwrap_or(0);
        }
        // The value's last byte (its header is in the lines loaded above).
        for &addr in addrs {
            if let (_, ValueAt::Inline { chunk, start, len }) = self.entry(addr)
                && len > 0
            {
                sum ^= self.chunk(chunk).get(start + len - 1).copied().unwrap_or(0);
            }
        }
        std::hint::black_box(sum);
    }

    /// The internal key at `addr`.
    #[inline]
    fn key(&self, addr: u32) -> &[u8] {
        let (c, off) = ((addr >> 16) as usize, (addr & 0xFFFF) as usize);
        let mut cur = self.chunk(c).get(off..).unwrap_or_default();
        match cur.first() {
            // The one-byte length of every key below 128 bytes.
            Some(&n) if n < 0x80 => cur.get(1..1 + usize::from(n)).unwrap_or_default(),
            _ => {
                let klen = get_varint64(&mut cur).unwrap_or(0) as usize;
                cur.get(..klen).unwrap_or_default()
            }
        }
    }

    /// The internal key at `addr` and where its value is.
    fn entry(&self, addr: u32) -> (&[u8], ValueAt) {
        let (c, off) = ((addr >> 16) as usize, (addr & 0xFFFF) as usize);
        let chunk = self.chunk(c);
        let mut cur = chunk.get(off..).unwrap_or_default();
        let klen = get_varint64(&mut cur).unwrap_or(0) as usize;
        let key = cur.get(..klen).unwrap_or_default();
        let mut cur = cur.get(klen..).unwrap_or_default();
        let at_tag = chunk.len() - cur.len();
        let tag = get_varint64(&mut cur).unwrap_or(1) as usize;
        let value = if tag == 0 {
            ValueAt::Own(get_varint64(&mut cur).unwrap_or(u64::MAX) as usize)
        } else {
            ValueAt::Inline { chunk: c, start: at_tag + varint_len(tag as u64), len: tag - 1 }
        };
        (key, value)
    }

    /// The value at `v` as a window takes it: shared when it can be and is longer than
    /// `copy_max`, else bytes to copy.
    fn window_value(&self, v: ValueAt, copy_max: usize) -> WindowValue<'_> {
        match v {
            ValueAt::Inline { chunk, start, len } => {
                if len > copy_max
                    && Some(chunk) != self.open_index
                    && let Some(b) = self.chunks.get(chunk)
                    && start + len <= b.len()
                {
                    WindowValue::Shared(b.slice(start..start + len))
                } else {
                    WindowValue::Copy(self.chunk(chunk).get(start..start + len).unwrap_or_default())
                }
            }
            ValueAt::Own(i) => WindowValue::Shared(self.own.get(i).cloned().unwrap_or_default()),
        }
    }

    fn value(&self, v: ValueAt) -> Bytes {
        match self.window_value(v, 0) {
            WindowValue::Shared(b) => b,
            WindowValue::Copy(s) => Bytes::copy_from_slice(s),
        }
    }
}

/// Up to two varints encoded on the stack.
#[derive(Default)]
struct Varints {
    buf: [u8; 20],
    len: usize,
}

impl Varints {
    fn put(&mut self, mut v: u64) {
        while let Some(b) = self.buf.get_mut(self.len) {
            self.len += 1;
            if v < 0x80 {
                *b = v as u8;
                return;
            }
            *b = (v as u8) | 0x80;
            v >>= 7;
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Slots per B-tree node.
const FAN: usize = 64;
/// The null node link.
const NO_NODE: u32 = u32::MAX;

/// A leaf: entries in order, each a key prefix and a record address.
#[derive(Debug, Clone)]
struct Leaf {
    len: usize,
    /// The user-key bytes every key this leaf may hold shares (see [`prefix_at`]).
    skip: usize,
    pre: [u32; FAN],
    addr: [u32; FAN],
    next: u32,
    prev: u32,
}

/// An inner node: child `i` holds the keys from separator `i` (the first key of the child; the
/// first separator is unused) up to separator `i + 1`.
#[derive(Debug, Clone)]
struct Inner {
    len: usize,
    skip: usize,
    pre: [u32; FAN],
    addr: [u32; FAN],
    child: [u32; FAN],
}

/// Nodes in fixed chunks of `SLAB` (a chunk never reallocates, so growth never copies nodes).
#[derive(Debug)]
struct Slab<T> {
    chunks: Vec<Vec<T>>,
}

const SLAB: usize = 256;

impl<T> Slab<T> {
    fn new() -> Self {
        Slab { chunks: Vec::new() }
    }
    #[inline]
    fn get(&self, id: u32) -> Option<&T> {
        self.chunks.get(id as usize / SLAB)?.get(id as usize % SLAB)
    }
    #[inline]
    fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.chunks.get_mut(id as usize / SLAB)?.get_mut(id as usize % SLAB)
    }
    /// Adds a node. A chunk grows by doubling up to `SLAB` nodes (a small memtable reserves
    /// little; a reallocation copies at most half a chunk, about 100 KB).
    fn push(&mut self, node: T) -> u32 {
        if self.chunks.last().is_none_or(|c| c.len() == SLAB) {
            self.chunks.push(Vec::with_capacity(4));
        }
        let n = self.chunks.len() - 1;
        if let Some(c) = self.chunks.last_mut() {
            c.push(node);
            (n * SLAB + c.len() - 1) as u32
        } else {
            NO_NODE
        }
    }
}

/// A search target: the key as parts, and whether entries equal to it count as before it
/// (`after`: find the first entry after the target instead of the first at or after).
#[derive(Clone, Copy)]
struct Target<'a> {
    key: (&'a [u8], u64),
    after: bool,
}

impl<'a> Target<'a> {
    fn new(key: (&'a [u8], u64), after: bool) -> Self {
        Target { key, after }
    }
}

/// A node's key range as record addresses of its fences (`None`: unbounded): every key the node
/// holds, and every target a search routes to it, has a user key between the fences' (inclusive).
type Fences = (Option<u32>, Option<u32>);

/// One step of an insert's path: inner node, child index taken, the node's fences.
type Step = (u32, usize, Fences);

/// The index: a B+tree of record addresses with 4-byte key prefixes beside them, so a search
/// reads the records only where prefixes tie. A node's prefixes start after the bytes all its
/// keys share (the common prefix of its fences), so keys with a long common prefix ("user:000…")
/// still differ in them. Leaves are linked both ways for scans.
#[derive(Debug)]
struct Index {
    records: Records,
    leaves: Slab<Leaf>,
    inners: Slab<Inner>,
    root: u32,
    /// Inner levels above the leaves (0: the root is a leaf).
    depth: usize,
    entries: usize,
    /// Distinct user keys among the entries.
    user_keys: usize,
    /// The largest trailer (sequence and kind) added.
    max_trailer: u64,
    /// Scratch for an insert's path.
    path: Vec<Step>,
}

/// A position: a leaf and a slot in it (`len` means past its last entry).
type Pos = (u32, usize);

impl Index {
    fn new(chunk_limit: usize) -> Self {
        let mut leaves = Slab::new();
        let root = leaves.push(Leaf { len: 0, skip: 0, pre: [0; FAN], addr: [0; FAN], next: NO_NODE, prev: NO_NODE });
        Index {
            records: Records::new(chunk_limit),
            leaves,
            inners: Slab::new(),
            root,
            depth: 0,
            entries: 0,
            user_keys: 0,
            max_trailer: 0,
            path: Vec::new(),
        }
    }

    fn user_key(&self, addr: u32) -> &[u8] {
        split_ikey(self.records.key(addr)).0
    }

    /// The prefix of the record at `addr` for a node with `skip`.
    fn pre_of(&self, addr: u32, skip: usize) -> u32 {
        prefix_at(self.user_key(addr), skip)
    }

    /// The shared user-key bytes of a node with these fences.
    fn skip_of(&self, (lo, hi): Fences) -> usize {
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                let (a, b) = (self.user_key(lo), self.user_key(hi));
                a.iter().zip(b).take_while(|(x, y)| x == y).count()
            }
            _ => 0,
        }
    }

    /// Whether the entry (`pre`, `addr`) is before the target whose prefix is `tp`.
    #[inline]
    fn before(&self, pre: u32, addr: u32, t: &Target<'_>, tp: u32) -> bool {
        match pre.cmp(&tp) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => {
                let o = cmp_parts(split_ikey(self.records.key(addr)), t.key);
                o.is_lt() || (t.after && o.is_eq())
            }
        }
    }

    /// `from` plus the number of slots in `pre[from..len]`/`addr` before the target.
    #[inline]
    fn partition(&self, pre: &[u32], addr: &[u32], (from, len): (usize, usize), t: &Target<'_>, skip: usize) -> usize {
        let tp = prefix_at(t.key.0, skip);
        let (mut lo, mut hi) = (from, len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.before(pre[mid], addr[mid], t, tp) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The leaf position of the first entry not before the target (possibly past a leaf's end)
    /// and the leaf's fences; with `path`, the inner nodes taken.
    fn descend(&self, t: &Target<'_>, mut path: Option<&mut Vec<Step>>) -> (Pos, Fences) {
        let mut node = self.root;
        let mut fences: Fences = (None, None);
        for _ in 0..self.depth {
            let Some(inner) = self.inners.get(node) else { break };
            // Separators 1.. before the target: the child holding the boundary is the last one.
            let i = self.partition(&inner.pre, &inner.addr, (1, inner.len), t, inner.skip) - 1;
            if let Some(p) = path.as_deref_mut() {
                p.push((node, i, fences));
            }
            if i >= 1 {
                fences.0 = Some(inner.addr[i]);
            }
            if i + 1 < inner.len {
                fences.1 = Some(inner.addr[i + 1]);
            }
            node = inner.child[i];
        }
        let Some(leaf) = self.leaves.get(node) else { return ((NO_NODE, 0), fences) };
        ((node, self.partition(&leaf.pre, &leaf.addr, (0, leaf.len), t, leaf.skip)), fences)
    }

    /// The address at a position, moving to the next leaf if it is past its leaf's end.
    fn at_or_next(&self, (mut leaf, mut i): Pos) -> Option<(u32, Pos)> {
        loop {
            let l = self.leaves.get(leaf)?;
            if i < l.len {
                return Some((l.addr[i], (leaf, i)));
            }
            leaf = l.next;
            i = 0;
        }
    }

    /// The address just before a position, moving to earlier leaves as needed.
    fn before_pos(&self, (mut leaf, mut i): Pos) -> Option<(u32, Pos)> {
        loop {
            let l = self.leaves.get(leaf)?;
            let j = i.min(l.len);
            if j > 0 {
                return Some((l.addr[j - 1], (leaf, j - 1)));
            }
            leaf = l.prev;
            i = usize::MAX;
        }
    }

    /// The first entry at or after the target, by address ([`NIL`] if none).
    fn first_from(&self, key: (&[u8], u64)) -> u32 {
        let (pos, _) = self.descend(&Target::new(key, false), None);
        self.at_or_next(pos).map_or(NIL, |(a, _)| a)
    }

    /// Adds an entry; an entry with the same internal key gets the new value (the old record
    /// stays in the arena). Returns false, changing nothing, if the record arena is full.
    fn insert(&mut self, ikey: &[u8], value: &[u8]) -> bool {
        let t = Target::new(split_ikey(ikey), false);
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        let (pos, fences) = self.descend(&t, Some(&mut path));
        let (leaf_id, i) = pos;
        let leaf = self.leaves.get(leaf_id);
        let tp = leaf.map_or(0, |l| prefix_at(t.key.0, l.skip));
        // The first entry at or after the key (the next leaf's first if the boundary is at the end
        // of this one), read if its prefix ties: if it is the key, its value is replaced.
        let next = match leaf {
            Some(l) if i < l.len => (l.pre[i] == tp).then(|| (self.records.key(l.addr[i]), pos)),
            _ => self
                .at_or_next(pos)
                .filter(|&(_, p)| self.prefix_ties(p, t.key.0))
                .map(|(a, p)| (self.records.key(a), p)),
        };
        let same = next.filter(|&(k, _)| k == ikey).map(|(_, p)| p);
        // Every version of a user key is next to the others, so a user key is new if neither
        // neighbour has it. Versions normally arrive newest last, in front of the older ones:
        // an entry before the new one with its user key is a newer version, and there is none
        // if the new trailer is above every trailer added so far.
        let prev_has_it = t.key.1 <= self.max_trailer
            && match leaf {
                Some(l) if i > 0 => l.pre[i - 1] == tp && self.user_key(l.addr[i - 1]) == t.key.0,
                _ => self
                    .before_pos(pos)
                    .is_some_and(|(a, p)| self.prefix_ties(p, t.key.0) && self.user_key(a) == t.key.0),
            };
        let new_user_key = same.is_none() && next.is_none_or(|(k, _)| split_ikey(k).0 != t.key.0) && !prev_has_it;
        let done = self.insert_at(ikey, value, pos, fences, same, &mut path);
        self.path = path;
        if done {
            self.user_keys += usize::from(new_user_key);
            self.max_trailer = self.max_trailer.max(t.key.1);
        }
        done
    }

    /// Whether the entry at `(leaf, j)` has the prefix `user_key` would have in its leaf: it
    /// can have the same user key only then.
    #[inline]
    fn prefix_ties(&self, (leaf, j): Pos, user_key: &[u8]) -> bool {
        self.leaves.get(leaf).is_some_and(|l| l.pre[j] == prefix_at(user_key, l.skip))
    }

    /// The rest of [`Self::insert`]: the leaf position found and its fences, the entry to
    /// replace if any.
    fn insert_at(
        &mut self,
        ikey: &[u8],
        value: &[u8],
        (leaf_id, i): Pos,
        fences: Fences,
        same: Option<Pos>,
        path: &mut Vec<Step>,
    ) -> bool {
        let Some(addr) = self.records.put(ikey, value) else { return false };
        if let Some((l, j)) = same {
            if let Some(leaf) = self.leaves.get_mut(l) {
                leaf.addr[j] = addr;
            }
            return true;
        }
        self.entries += 1;
        let Some(leaf) = self.leaves.get(leaf_id) else { return false };
        let pre = prefix_at(split_ikey(ikey).0, leaf.skip);
        if leaf.len < FAN {
            if let Some(leaf) = self.leaves.get_mut(leaf_id) {
                slot_insert(&mut leaf.pre, leaf.len, i, pre);
                slot_insert(&mut leaf.addr, leaf.len, i, addr);
                leaf.len += 1;
            }
            return true;
        }
        // Split the full leaf: the upper half moves to a new leaf after it. Appends at the end of
        // the rightmost leaf (ascending inserts) keep the left leaf full.
        let (mut left, old_skip) = (leaf.clone(), leaf.skip);
        let keep = if i == FAN && left.next == NO_NODE { FAN } else { FAN / 2 };
        let mut right =
            Leaf { len: FAN - keep, skip: old_skip, pre: [0; FAN], addr: [0; FAN], next: left.next, prev: leaf_id };
        right.pre[..FAN - keep].copy_from_slice(&left.pre[keep..]);
        right.addr[..FAN - keep].copy_from_slice(&left.addr[keep..]);
        left.len = keep;
        if i <= keep && keep < FAN {
            slot_insert(&mut left.pre, left.len, i, pre);
            slot_insert(&mut left.addr, left.len, i, addr);
            left.len += 1;
        } else {
            slot_insert(&mut right.pre, right.len, i - keep, pre);
            slot_insert(&mut right.addr, right.len, i - keep, addr);
            right.len += 1;
        }
        let sep = right.addr[0];
        // Each half's prefixes start after its own fences' common bytes.
        self.reprefix_leaf(&mut left, (fences.0, Some(sep)));
        self.reprefix_leaf(&mut right, (Some(sep), fences.1));
        let old_next = left.next;
        let right_id = self.leaves.push(right);
        left.next = right_id;
        if let Some(l) = self.leaves.get_mut(leaf_id) {
            *l = left;
        }
        if let Some(n) = self.leaves.get_mut(old_next) {
            n.prev = right_id;
        }
        self.insert_separator(path, sep, right_id);
        true
    }

    /// Gives `leaf` the skip of `fences` and recomputes its prefixes if that changes it.
    fn reprefix_leaf(&self, leaf: &mut Leaf, fences: Fences) {
        let skip = self.skip_of(fences);
        if skip != leaf.skip {
            leaf.skip = skip;
            for j in 0..leaf.len {
                leaf.pre[j] = self.pre_of(leaf.addr[j], skip);
            }
        }
    }

    /// The same for an inner node (slot 0 has no separator).
    fn reprefix_inner(&self, node: &mut Inner, fences: Fences) {
        let skip = self.skip_of(fences);
        if skip != node.skip {
            node.skip = skip;
            for j in 1..node.len {
                node.pre[j] = self.pre_of(node.addr[j], skip);
            }
        }
    }

    /// Inserts the separator `sep` (a record address) for the new node `child` (just after the
    /// child the path took) into the inner nodes along `path`, splitting upward.
    fn insert_separator(&mut self, path: &mut Vec<Step>, mut sep: u32, mut child: u32) {
        loop {
            let Some((node_id, i, fences)) = path.pop() else {
                // The root split: a new root over the old one and `child`.
                let mut root = Inner { len: 2, skip: 0, pre: [0; FAN], addr: [0; FAN], child: [NO_NODE; FAN] };
                root.child[0] = self.root;
                root.child[1] = child;
                root.pre[1] = self.pre_of(sep, 0);
                root.addr[1] = sep;
                self.root = self.inners.push(root);
                self.depth += 1;
                return;
            };
            let rightmost = path.iter().all(|&(n, i, _)| i + 1 == self.inner_len(n));
            let Some(node) = self.inners.get(node_id) else { return };
            let at = i + 1;
            let pre = self.pre_of(sep, node.skip);
            let mut node = node.clone();
            if node.len < FAN {
                slot_insert(&mut node.pre, node.len, at, pre);
                slot_insert(&mut node.addr, node.len, at, sep);
                slot_insert(&mut node.child, node.len, at, child);
                node.len += 1;
                if let Some(n) = self.inners.get_mut(node_id) {
                    *n = node;
                }
                return;
            }
            let keep = if at == FAN && rightmost { FAN } else { FAN / 2 };
            let mut right =
                Inner { len: FAN - keep, skip: node.skip, pre: [0; FAN], addr: [0; FAN], child: [NO_NODE; FAN] };
            right.pre[..FAN - keep].copy_from_slice(&node.pre[keep..]);
            right.addr[..FAN - keep].copy_from_slice(&node.addr[keep..]);
            right.child[..FAN - keep].copy_from_slice(&node.child[keep..]);
            node.len = keep;
            let (half, at) = if at <= keep && keep < FAN { (&mut node, at) } else { (&mut right, at - keep) };
            slot_insert(&mut half.pre, half.len, at, pre);
            slot_insert(&mut half.addr, half.len, at, sep);
            slot_insert(&mut half.child, half.len, at, child);
            half.len += 1;
            // The right node's first separator moves up; its slot 0 keeps only the child.
            sep = right.addr[0];
            self.reprefix_inner(&mut node, (fences.0, Some(sep)));
            self.reprefix_inner(&mut right, (Some(sep), fences.1));
            if let Some(n) = self.inners.get_mut(node_id) {
                *n = node;
            }
            child = self.inners.push(right);
        }
    }

    fn inner_len(&self, n: u32) -> usize {
        self.inners.get(n).map_or(0, |n| n.len)
    }

    /// Entry addresses for a window: up to `n` from `bound` forward (`back` false; `bound` is the
    /// lower bound) or backward (`back`; `bound` is the upper bound).
    fn collect(&self, bound: Bound<(&[u8], u64)>, back: bool, n: usize, out: &mut Vec<u32>) {
        out.clear();
        if n == 0 {
            return;
        }
        let start = match bound {
            Bound::Unbounded if back => self.last_pos(),
            Bound::Unbounded => self.first_pos(),
            // Backward: the boundary of "at or before" (Included) or "before" (Excluded).
            Bound::Included(k) => self.descend(&Target::new(k, back), None).0,
            Bound::Excluded(k) => self.descend(&Target::new(k, !back), None).0,
        };
        let mut pos = start;
        if back {
            while out.len() < n
                && let Some((a, p)) = self.before_pos(pos)
            {
                out.push(a);
                pos = p;
            }
        } else {
            while out.len() < n
                && let Some((a, p)) = self.at_or_next(pos)
            {
                out.push(a);
                pos = (p.0, p.1 + 1);
            }
        }
    }

    fn first_pos(&self) -> Pos {
        let mut node = self.root;
        for _ in 0..self.depth {
            node = self.inners.get(node).map_or(NO_NODE, |n| n.child[0]);
        }
        (node, 0)
    }

    fn last_pos(&self) -> Pos {
        let mut node = self.root;
        for _ in 0..self.depth {
            node = self.inners.get(node).map_or(NO_NODE, |n| n.child[n.len.saturating_sub(1)]);
        }
        (node, self.leaves.get(node).map_or(0, |l| l.len))
    }
}

/// Inserts `v` at `at` into the first `len` slots of `a` (`len < a.len()`), shifting the rest up.
#[inline]
fn slot_insert(a: &mut [u32; FAN], len: usize, at: usize, v: u32) {
    if len < FAN && at <= len {
        a.copy_within(at..len, at + 1);
        a[at] = v;
    }
}

/// An owned internal key in internal-key order, the overflow map's key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OwnedKey(Box<[u8]>);

impl Ord for OwnedKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_ikey(&self.0, &other.0)
    }
}
impl PartialOrd for OwnedKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An internal key as parts, so the overflow map can be searched with a borrowed key.
struct Parts<'a>((&'a [u8], u64));

trait KeyView {
    fn parts(&self) -> (&[u8], u64);
}
impl KeyView for OwnedKey {
    fn parts(&self) -> (&[u8], u64) {
        split_ikey(&self.0)
    }
}
impl KeyView for Parts<'_> {
    fn parts(&self) -> (&[u8], u64) {
        self.0
    }
}
impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_parts(self.parts(), other.parts())
    }
}
impl<'a> Borrow<dyn KeyView + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// What the memtable says about a key at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemGet {
    Value(Bytes),
    Deleted,
}

/// Everything behind the lock: the index with its records and, once the records are full, the
/// overflow map.
#[derive(Debug)]
struct Tree {
    index: Index,
    overflow: BTreeMap<OwnedKey, Bytes>,
    /// Overflow entries whose internal key the index also holds (re-added after the records
    /// filled up): they replace the index's entry, so they do not count twice.
    shadowed: usize,
}

/// A concurrent, ordered map from internal key to value.
#[derive(Debug)]
pub struct MemTable {
    tree: RwLock<Tree>,
    size_bytes: AtomicUsize,
}

impl Default for MemTable {
    fn default() -> Self {
        Self::new()
    }
}

/// One entry found for a window, from either structure.
enum Found<'a> {
    List(u32),
    Overflow(&'a OwnedKey, &'a Bytes),
}

impl MemTable {
    pub fn new() -> MemTable {
        Self::with_chunk_limit(CHUNKS_MAX)
    }

    /// A memtable whose arena holds at most `chunks` chunks (tests reach the overflow with it).
    fn with_chunk_limit(chunks: usize) -> MemTable {
        MemTable {
            tree: RwLock::new(Tree { index: Index::new(chunks), overflow: BTreeMap::new(), shadowed: 0 }),
            size_bytes: AtomicUsize::new(0),
        }
    }

    /// Adds one version. Safe to call from several threads at once. The caller gives each
    /// `(user_key, seq)` once (sequence numbers are unique); adding the same internal key again
    /// replaces the value and charges its size twice.
    pub fn add(&self, seq: SeqNo, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        debug_assert!(seq <= SEQ_MAX, "sequence {seq} exceeds SEQ_MAX");
        let mut buf = [0u8; 64];
        let owned;
        let key: &[u8] = if user_key.len() + ikey::TRAILER_LEN <= buf.len() {
            let n = user_key.len();
            buf[..n].copy_from_slice(user_key);
            buf[n..n + ikey::TRAILER_LEN].copy_from_slice(&ikey::pack_trailer(seq, kind).to_le_bytes());
            &buf[..n + ikey::TRAILER_LEN]
        } else {
            owned = ikey::encode(user_key, seq, kind);
            &owned
        };
        let charge = key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        let mut tree = self.tree.write();
        if tree.overflow.is_empty() && tree.index.insert(key, value) {
            drop(tree);
        } else {
            let shadows = {
                let x = tree.index.first_from(split_ikey(key));
                x != NIL && tree.index.records.key(x) == key
            };
            if tree.overflow.insert(OwnedKey(key.into()), Bytes::copy_from_slice(value)).is_none() && shadows {
                tree.shadowed += 1;
            }
            drop(tree);
        }
        self.size_bytes.fetch_add(charge, AtomicOrdering::Relaxed);
    }

    /// The newest version of `user_key` with sequence `<= seq`, if any.
    pub fn get(&self, user_key: &[u8], seq: SeqNo) -> Option<MemGet> {
        let trailer = ikey::pack_trailer(seq.min(SEQ_MAX), ValueKind::MAX);
        let probe = (user_key, trailer);
        let tree = self.tree.read();
        let index = &tree.index;
        let x = index.first_from(probe);
        let mut found = (x != NIL).then(|| {
            let (k, v) = index.records.entry(x);
            (k, Some(v), None)
        });
        if !tree.overflow.is_empty() {
            let lookup = Parts(probe);
            let o = tree
                .overflow
                .range::<dyn KeyView, _>((Bound::Included(&lookup as &dyn KeyView), Bound::Unbounded))
                .next();
            if let Some((k, v)) = o
                && found.as_ref().is_none_or(|(fk, _, _)| compare_ikey(&k.0, fk).is_le())
            {
                found = Some((&k.0[..], None, Some(v)));
            }
        }
        let (key, list_value, overflow_value) = found?;
        let parsed = ikey::parse(key)?;
        if parsed.user_key != user_key {
            return None;
        }
        Some(match parsed.kind {
            ValueKind::Put => MemGet::Value(match (list_value, overflow_value) {
                (Some(v), _) => index.records.value(v),
                (None, Some(v)) => v.clone(),
                (None, None) => Bytes::new(),
            }),
            ValueKind::Delete => MemGet::Deleted,
        })
    }

    /// Bytes charged so far: internal keys, values and [`ENTRY_OVERHEAD_BYTES`] per entry, an
    /// estimate of the memory the memtable uses (see [`ENTRY_OVERHEAD_BYTES`] for the rule).
    pub fn approximate_size(&self) -> usize {
        self.size_bytes.load(AtomicOrdering::Relaxed)
    }

    pub fn len(&self) -> usize {
        let tree = self.tree.read();
        tree.index.entries + tree.overflow.len() - tree.shadowed
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many distinct user keys the entries have (a flush writes that many filter keys), or
    /// `None` once the records are full and entries go to the overflow map, which does not
    /// count them. Kept up to date by every insert, at the cost of a prefix comparison with the
    /// entry before the new one (the entry after it is read anyway).
    pub fn distinct_user_keys(&self) -> Option<usize> {
        let tree = self.tree.read();
        tree.overflow.is_empty().then_some(tree.index.user_keys)
    }

    /// A cursor over every entry, owning a reference to the table. It starts invalid.
    pub fn iter(self: &Arc<Self>) -> MemTableIter {
        MemTableIter {
            table: Arc::clone(self),
            window: Window::default(),
            pos: 0,
            dir: Dir::Forward,
            next_window: WINDOW_MIN,
            addrs: Vec::new(),
        }
    }

    /// Up to `n` entries from `bound` forward (a lower bound) or, with `back`, backward (an upper
    /// bound), copied into `out`.
    fn find(&self, bound: Bound<(&[u8], u64)>, back: bool, n: usize, addrs: &mut Vec<u32>, out: &mut Window) {
        let tree = self.tree.read();
        let index = &tree.index;
        index.collect(bound, back, n, addrs);
        if n >= TOUCH_WINDOW_MIN {
            index.records.touch(addrs);
        }
        let copy = |x: u32| {
            let (k, v) = index.records.entry(x);
            (k, index.records.window_value(v, WINDOW_COPY_MAX))
        };
        if tree.overflow.is_empty() {
            out.fill(addrs.iter().map(|&x| copy(x)));
            return;
        }
        let mut found: Vec<Found<'_>>;
        {
            let lookup = bound.map(Parts);
            let range = match (&lookup, back) {
                (Bound::Included(p), false) => (Bound::Included(p as &dyn KeyView), Bound::Unbounded),
                (Bound::Excluded(p), false) => (Bound::Excluded(p as &dyn KeyView), Bound::Unbounded),
                (Bound::Included(p), true) => (Bound::Unbounded, Bound::Included(p as &dyn KeyView)),
                (Bound::Excluded(p), true) => (Bound::Unbounded, Bound::Excluded(p as &dyn KeyView)),
                (Bound::Unbounded, _) => (Bound::Unbounded, Bound::Unbounded),
            };
            let r = tree.overflow.range::<dyn KeyView, _>(range);
            let others: Vec<_> = if back { r.rev().take(n).collect() } else { r.take(n).collect() };
            // Merge in iteration order; on equal keys the overflow's (newer) entry wins.
            found = Vec::with_capacity(n);
            let (mut i, mut j) = (0, 0);
            while found.len() < n && (i < addrs.len() || j < others.len()) {
                let order = match (addrs.get(i), others.get(j)) {
                    (Some(&x), Some((k, _))) => {
                        let o = compare_ikey(index.records.key(x), &k.0);
                        if back { o.reverse() } else { o }
                    }
                    (Some(_), None) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                if order.is_lt() {
                    found.push(Found::List(addrs[i]));
                    i += 1;
                } else {
                    let (k, v) = others[j];
                    found.push(Found::Overflow(k, v));
                    j += 1;
                    if order.is_eq() {
                        i += 1;
                    }
                }
            }
        }
        out.fill(found.into_iter().map(|f| match f {
            Found::List(x) => copy(x),
            Found::Overflow(k, v) => (&k.0[..], WindowValue::Shared(v.clone())),
        }));
    }
}

/// A window's value as found: bytes to copy, or a shared handle.
enum WindowValue<'a> {
    Copy(&'a [u8]),
    Shared(Bytes),
}

/// A window's value: a range of its buffer, or a shared handle.
type Span = std::result::Result<Range<usize>, Bytes>;

/// Entries copied out of the table: keys and small values in one buffer (one allocation per
/// window), large values shared. A value in the buffer becomes a `Bytes` only when asked for
/// one (`value_bytes`): a slice per entry would cost two atomic updates of the buffer's count.
#[derive(Debug, Default)]
struct Window {
    buf: Bytes,
    /// Each entry's key range in `buf` and its value.
    entries: Vec<(Range<usize>, Span)>,
}

impl Window {
    fn fill<'a>(&mut self, found: impl Iterator<Item = (&'a [u8], WindowValue<'a>)>) {
        // About the previous window's bytes (scans reach the largest window in a few steps).
        let mut buf = BytesMut::with_capacity(self.buf.len());
        self.entries.clear();
        for (k, v) in found {
            let ks = buf.len();
            buf.extend_from_slice(k);
            let key = ks..buf.len();
            let value = match v {
                WindowValue::Copy(v) => {
                    let vs = buf.len();
                    buf.extend_from_slice(v);
                    Ok(vs..buf.len())
                }
                WindowValue::Shared(b) => Err(b),
            };
            self.entries.push((key, value));
        }
        self.buf = buf.freeze();
    }
}

/// Entries fetched by the first search after a seek; each refill in the same direction doubles
/// up to [`WINDOW_MAX`]. Small first windows keep seeks cheap, large later ones make scans cost
/// one search per many entries.
const WINDOW_MIN: usize = 4;
const WINDOW_MAX: usize = 256;
/// Values up to this many bytes are copied into a window's buffer rather than shared: a shared
/// value costs two atomic updates of its chunk's reference count, a cache miss each in a large
/// memtable read in key order (7% of a flush's time with 100-byte values), where the copy reads
/// lines the window has just loaded.
const WINDOW_COPY_MAX: usize = 512;
/// Windows of at least this many entries (a scan's, not a seek's first few) touch their records
/// before copying them ([`Records::touch`]).
const TOUCH_WINDOW_MIN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Backward,
}

/// An [`InternalIterator`] over a [`MemTable`]. It holds no lock between moves: it copies a
/// window of entries (keys and small values into one buffer, large values shared) and searches
/// again from its position when the window runs out.
///
/// Entries added after a window was fetched may be missed inside that window. Readers never
/// need them: an entry becomes visible to readers only after it is in the table, and an
/// iterator reads at a sequence number taken before it was created. Flushes read immutable
/// tables.
pub struct MemTableIter {
    table: Arc<MemTable>,
    /// In iteration order: ascending when `dir` is forward, descending when backward.
    window: Window,
    pos: usize,
    dir: Dir,
    next_window: usize,
    /// Scratch for the addresses of a window.
    addrs: Vec<u32>,
}

impl std::fmt::Debug for MemTableIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTableIter").field("valid", &self.valid()).finish()
    }
}

impl MemTableIter {
    fn current(&self) -> Option<(&[u8], &Span)> {
        let (k, v) = self.window.entries.get(self.pos)?;
        Some((self.window.buf.get(k.clone()).unwrap_or_default(), v))
    }

    fn load(&mut self, bound: Bound<(&[u8], u64)>, dir: Dir, n: usize) {
        let mut w = std::mem::take(&mut self.window);
        let mut addrs = std::mem::take(&mut self.addrs);
        self.table.find(bound, dir == Dir::Backward, n, &mut addrs, &mut w);
        self.window = w;
        self.addrs = addrs;
        self.pos = 0;
        self.dir = dir;
        self.next_window = (n * 2).min(WINDOW_MAX);
    }

    /// Moves one step in `dir` from the current entry.
    fn step(&mut self, dir: Dir) {
        if self.dir == dir && self.pos + 1 < self.window.entries.len() {
            self.pos += 1;
            return;
        }
        let Some((k, _)) = self.current() else { return };
        // The window's buffer is replaced by the load: keep the key alive through it.
        let buf = self.window.buf.clone();
        let k = buf.slice_ref(k);
        let n = if self.dir == dir { self.next_window } else { WINDOW_MIN };
        self.load(Bound::Excluded(split_ikey(&k)), dir, n);
    }
}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.pos < self.window.entries.len()
    }

    fn seek_to_first(&mut self) {
        self.load(Bound::Unbounded, Dir::Forward, WINDOW_MIN);
    }

    fn seek_to_last(&mut self) {
        self.load(Bound::Unbounded, Dir::Backward, WINDOW_MIN);
    }

    fn seek(&mut self, target: &[u8]) {
        self.load(Bound::Included(split_ikey(target)), Dir::Forward, WINDOW_MIN);
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.load(Bound::Included(split_ikey(target)), Dir::Backward, WINDOW_MIN);
    }

    fn next(&mut self) {
        self.step(Dir::Forward);
    }

    fn prev(&mut self) {
        self.step(Dir::Backward);
    }

    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |(k, _)| k)
    }

    fn value(&self) -> &[u8] {
        match self.current() {
            Some((_, Ok(r))) => self.window.buf.get(r.clone()).unwrap_or_default(),
            Some((_, Err(b))) => b,
            None => &[],
        }
    }

    fn value_bytes(&self) -> Bytes {
        match self.current() {
            Some((_, Ok(r))) => self.window.buf.slice(r.clone()),
            Some((_, Err(b))) => b.clone(),
            None => Bytes::new(),
        }
    }

    fn status(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Values of every size class keep their bytes: empty, inline, at the inline limit, own
    /// allocations; keys small and large enough to get chunks of their own.
    #[test]
    fn entries_of_every_size_keep_their_bytes() {
        let m = Arc::new(MemTable::new());
        let value = |i: usize| -> Vec<u8> {
            let len = match i % 6 {
                0 => 0,
                1 => VALUE_INLINE_MAX + 1,
                2 => VALUE_INLINE_MAX,
                _ => (i * 37) % 3000,
            };
            (0..len).map(|j| (i + j) as u8).collect()
        };
        let key = |i: usize| -> Vec<u8> {
            let mut k = format!("k{i:05}").into_bytes();
            // Some keys above BIG_RECORD and above CHUNK bytes, some with 2-byte varint lengths.
            k.resize(
                match i % 7 {
                    0 => BIG_RECORD + 1,
                    1 => CHUNK + 3,
                    2 => 200,
                    _ => 6,
                },
                b'x',
            );
            k
        };
        let n = 4 * CHUNK / 1000;
        for i in 0..n {
            m.add(i as u64 + 1, ValueKind::Put, &key(i), &value(i));
        }
        for i in 0..n {
            match m.get(&key(i), SEQ_MAX) {
                Some(MemGet::Value(v)) => assert_eq!(&v[..], &value(i)[..], "value {i}"),
                other => panic!("value {i}: {other:?}"),
            }
        }
        let mut it = m.iter();
        it.seek_to_first();
        let mut seen = 0;
        while it.valid() {
            let k = ikey::user_key(it.key()).to_vec();
            let i: usize = std::str::from_utf8(&k[1..6]).unwrap().parse().unwrap();
            assert_eq!((k, it.value()), (key(i), &value(i)[..]));
            assert_eq!(it.value_bytes(), value(i));
            seen += 1;
            it.next();
        }
        assert_eq!(seen, n);
        assert!(m.tree.read().index.records.chunks.len() > 4);
    }

    /// Enough entries for three inner levels, in random, ascending and descending order, with
    /// keys whose 4-byte prefixes all tie ("user...") and keys whose prefixes differ: scans both
    /// ways, seeks and gets agree with the sorted keys.
    #[test]
    fn large_trees_keep_order_in_every_insert_order() {
        const N: u64 = 150_000;
        let mix = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        for order in 0..3 {
            for tied in [true, false] {
                let key = |i: u64| {
                    if tied {
                        format!("user{:010}", mix(i) % 1_000_000_007).into_bytes()
                    } else {
                        mix(i).to_be_bytes().to_vec()
                    }
                };
                let m = Arc::new(MemTable::new());
                let mut model: Vec<Vec<u8>> = Vec::new();
                for j in 0..N {
                    let i = match order {
                        0 => mix(j) % N,
                        1 => j,
                        _ => N - 1 - j,
                    };
                    // Sequence and value from i: some keys several times in random order.
                    let seq = j + 1;
                    m.add(seq, ValueKind::Put, &key(i), &seq.to_le_bytes());
                    model.push(ikey::encode(&key(i), seq, ValueKind::Put));
                }
                model.sort_by(|a, b| compare_ikey(a, b));
                let tree = m.tree.read();
                assert!(tree.index.depth >= 2, "depth {}", tree.index.depth);
                drop(tree);
                let mut it = m.iter();
                it.seek_to_first();
                for want in &model {
                    assert_eq!(it.key(), &want[..]);
                    assert_eq!(it.value(), &ikey::parse(want).unwrap().seq.to_le_bytes());
                    it.next();
                }
                assert!(!it.valid());
                it.seek_to_last();
                for want in model.iter().rev() {
                    assert_eq!(it.key(), &want[..]);
                    it.prev();
                }
                assert!(!it.valid());
                for k in model.iter().step_by(997) {
                    let p = ikey::parse(k).unwrap();
                    assert_eq!(
                        m.get(p.user_key, p.seq),
                        Some(MemGet::Value(Bytes::copy_from_slice(&p.seq.to_le_bytes())))
                    );
                    it.seek(k);
                    assert_eq!(it.key(), &k[..]);
                    it.seek_for_prev(k);
                    assert_eq!(it.key(), &k[..]);
                }
                // Adding an internal key again replaces its value wherever it sits (a leaf's
                // first entry is also a separator above it).
                for k in model.iter().step_by(13) {
                    let p = ikey::parse(k).unwrap();
                    m.add(p.seq, p.kind, p.user_key, b"again");
                    assert_eq!(m.get(p.user_key, p.seq), Some(MemGet::Value(Bytes::from_static(b"again"))));
                }
                assert_eq!(m.len() as u64, N);
            }
        }
    }

    #[test]
    fn get_sees_newest_version_at_or_below_seq() {
        let m = MemTable::new();
        assert!(m.is_empty());
        m.add(10, ValueKind::Put, b"k", b"v10");
        m.add(20, ValueKind::Delete, b"k", b"");
        m.add(30, ValueKind::Put, b"k", b"v30");
        m.add(15, ValueKind::Put, b"j", b"j15");
        m.add(12, ValueKind::Put, b"k\0", b"next key");
        assert_eq!(m.get(b"k", 9), None);
        assert_eq!(m.get(b"k", 10), Some(MemGet::Value(Bytes::from_static(b"v10"))));
        assert_eq!(m.get(b"k", 19), Some(MemGet::Value(Bytes::from_static(b"v10"))));
        assert_eq!(m.get(b"k", 20), Some(MemGet::Deleted));
        assert_eq!(m.get(b"k", SEQ_MAX), Some(MemGet::Value(Bytes::from_static(b"v30"))));
        assert_eq!(m.get(b"k", u64::MAX), Some(MemGet::Value(Bytes::from_static(b"v30"))));
        assert_eq!(m.get(b"", SEQ_MAX), None);
        assert_eq!(m.get(b"j", 14), None, "must not fall through to the next user key");
        assert_eq!(m.get(b"zz", SEQ_MAX), None);
        assert_eq!(m.len(), 5);
        let keys_and_values = (3 * 9 + 9 + 10) + (3 + 3 + 3 + 8); // v10, tombstone, v30, j15, "next key"
        assert_eq!(m.approximate_size(), keys_and_values + 5 * ENTRY_OVERHEAD_BYTES);
    }

    /// Adding an internal key again replaces its value (in the index and in the overflow).
    #[test]
    fn adding_the_same_internal_key_again_replaces_the_value() {
        for limit in [CHUNKS_MAX, 2] {
            let m = Arc::new(MemTable::with_chunk_limit(limit));
            for i in 0..2000u64 {
                m.add(i + 1, ValueKind::Put, format!("k{:04}", i % 500).as_bytes(), b"first");
            }
            m.add(7, ValueKind::Put, b"k0006", b"second");
            assert_eq!(m.get(b"k0006", 7), Some(MemGet::Value(Bytes::from_static(b"second"))));
            assert_eq!(m.len(), 2000);
            let mut it = m.iter();
            it.seek(&ikey::encode(b"k0006", 7, ValueKind::Put));
            assert_eq!((it.key(), it.value()), (&ikey::encode(b"k0006", 7, ValueKind::Put)[..], &b"second"[..]));
            it.next();
            assert_eq!(ikey::parse(it.key()).unwrap().user_key, b"k0007");
            it.prev();
            it.prev();
            assert_eq!(ikey::parse(it.key()).unwrap().seq, 507);
        }
    }

    #[test]
    fn iterator_walks_both_ways_and_sees_adds_made_before_a_seek() {
        let m = Arc::new(MemTable::new());
        for (i, k) in [b"b", b"d", b"f"].iter().enumerate() {
            m.add(i as u64 + 1, ValueKind::Put, *k, *k);
        }
        let mut it = m.iter();
        assert!(!it.valid());
        it.seek(&ikey::lookup_key(b"c", SEQ_MAX));
        assert_eq!(it.key(), ikey::encode(b"d", 2, ValueKind::Put));
        m.add(9, ValueKind::Put, b"e", b"e");
        it.seek(&ikey::lookup_key(b"d", SEQ_MAX));
        it.next();
        assert_eq!(ikey::user_key(it.key()), b"e", "an entry added before the seek is visible");
        it.prev();
        it.prev();
        assert_eq!(ikey::user_key(it.key()), b"b");
        it.prev();
        assert!(!it.valid());
        it.seek_for_prev(&ikey::encode(b"c", 0, ValueKind::Delete));
        assert_eq!(ikey::user_key(it.key()), b"b");
        it.seek_to_last();
        assert_eq!((ikey::user_key(it.key()), it.value()), (&b"f"[..], &b"f"[..]));
        drop(m);
        it.seek_to_first();
        assert_eq!(ikey::user_key(it.key()), b"b", "the iterator keeps the table alive");
        fn is_static_send<T: Send + 'static>(_: &T) {}
        is_static_send(&it);
    }

    #[test]
    fn concurrent_adds_from_four_threads() {
        const PER_THREAD: u64 = 5_000;
        let m = Arc::new(MemTable::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        // Threads interleave on the same user keys with distinct sequences.
                        let seq = i * 4 + t + 1;
                        let key = format!("key{:05}", i % 1000);
                        m.add(seq, ValueKind::Put, key.as_bytes(), &seq.to_le_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = 4 * PER_THREAD;
        assert_eq!(m.len() as u64, n);
        let mut it = m.iter();
        it.seek_to_first();
        let mut count = 0u64;
        let mut prev: Option<Vec<u8>> = None;
        while it.valid() {
            let p = ikey::parse(it.key()).unwrap();
            assert_eq!(it.value(), &p.seq.to_le_bytes());
            if let Some(prev) = &prev {
                assert!(compare_ikey(prev, it.key()).is_lt());
            }
            prev = Some(it.key().to_vec());
            count += 1;
            it.next();
        }
        assert_eq!(count, n);
        // Key i%1000 gets sequences 4i+t+1 for i in {j, j+1000, ...}: the newest is the largest.
        for j in [0u64, 1, 999] {
            let newest = (PER_THREAD - 1000 + j) * 4 + 4;
            let key = format!("key{j:05}");
            assert_eq!(
                m.get(key.as_bytes(), SEQ_MAX),
                Some(MemGet::Value(Bytes::copy_from_slice(&newest.to_le_bytes())))
            );
        }
    }

    /// Readers (gets and iterators in both directions) running while one writer adds, past the
    /// arena's limit into the overflow: every entry added before a read began is seen, in order.
    #[test]
    fn readers_during_adds_see_every_earlier_entry_in_order() {
        const N: u64 = 20_000;
        // About 9 chunks of these entries: the last third goes to the overflow.
        let m = Arc::new(MemTable::with_chunk_limit(7));
        let done = Arc::new(AtomicUsize::new(0));
        let key = |i: u64| format!("key{:08}", (i * 7919) % N).into_bytes();
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (m, done) = (Arc::clone(&m), Arc::clone(&done));
                std::thread::spawn(move || {
                    let mut rounds = 0;
                    while done.load(AtomicOrdering::Acquire) == 0 || rounds < 2 {
                        rounds += 1;
                        let before = done.load(AtomicOrdering::Acquire) as u64;
                        let added = m.len() as u64;
                        for i in (0..added).step_by(97) {
                            let want = Bytes::copy_from_slice(&i.to_le_bytes());
                            assert_eq!(m.get(&key(i), SEQ_MAX), Some(MemGet::Value(want)), "key {i}");
                        }
                        let mut it = m.iter();
                        let mut count = 0u64;
                        let mut last: Option<Vec<u8>> = None;
                        if r == 0 {
                            it.seek_to_first();
                        } else {
                            it.seek_to_last();
                        }
                        while it.valid() {
                            let k = it.key().to_vec();
                            if let Some(last) = &last {
                                let o = compare_ikey(last, &k);
                                assert_eq!(o, if r == 0 { Ordering::Less } else { Ordering::Greater });
                            }
                            let seq = ikey::parse(&k).unwrap().seq;
                            assert_eq!(it.value(), &(seq - 1).to_le_bytes());
                            last = Some(k);
                            count += 1;
                            if r == 0 { it.next() } else { it.prev() }
                        }
                        assert!(count >= added, "{count} entries seen, {added} added before");
                        if before == 1 {
                            assert_eq!(count, N);
                        }
                    }
                })
            })
            .collect();
        for i in 0..N {
            m.add(i + 1, ValueKind::Put, &key(i), &i.to_le_bytes());
        }
        done.store(1, AtomicOrdering::Release);
        for r in readers {
            r.join().unwrap();
        }
        let tree = m.tree.read();
        assert!(!tree.overflow.is_empty() && tree.index.entries > 0, "both structures in use");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>, Option<u8>),
        Get(Vec<u8>, u64),
        /// Seek (or seek-for-prev) to a key at a sequence, then move: true is next, false prev.
        Iter {
            key: Vec<u8>,
            seq: u64,
            for_prev: bool,
            moves: Vec<bool>,
        },
        SeekEnd {
            last: bool,
            moves: Vec<bool>,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = prop::collection::vec(0u8..4, 0..3);
        prop_oneof![
            4 => (key.clone(), prop::option::of(any::<u8>())).prop_map(|(k, v)| Op::Add(k, v)),
            2 => (key.clone(), 0u64..90).prop_map(|(k, s)| Op::Get(k, s)),
            2 => (key, 0u64..90, any::<bool>(), prop::collection::vec(any::<bool>(), 0..12))
                .prop_map(|(key, seq, for_prev, moves)| Op::Iter { key, seq, for_prev, moves }),
            1 => (any::<bool>(), prop::collection::vec(any::<bool>(), 0..12)).prop_map(|(last, moves)| Op::SeekEnd { last, moves }),
        ]
    }

    /// Interleaved adds, gets and iterator walks against a `BTreeMap` of internal keys, with the
    /// arena unlimited and limited to one chunk (everything after the first chunk in the
    /// overflow).
    fn check_model(ops: &[Op], chunk_limit: usize, value_len: usize) -> std::result::Result<(), TestCaseError> {
        let m = Arc::new(MemTable::with_chunk_limit(chunk_limit));
        // Internal key -> value, in internal-key order.
        let mut model: BTreeMap<OwnedKey, Vec<u8>> = BTreeMap::new();
        let value = |b: u8| vec![b; value_len];
        let mut seq = 0u64;
        let mut it = m.iter();
        for op in ops {
            match op {
                Op::Add(k, v) => {
                    seq += 1;
                    let (kind, val) = match v {
                        Some(b) => (ValueKind::Put, value(*b)),
                        None => (ValueKind::Delete, Vec::new()),
                    };
                    m.add(seq, kind, k, &val);
                    model.insert(OwnedKey(ikey::encode(k, seq, kind).into()), val);
                }
                Op::Get(k, at) => {
                    let probe = OwnedKey(ikey::lookup_key(k, *at).into());
                    let want = model.range(probe..).next().and_then(|(ik, v)| {
                        let p = ikey::parse(&ik.0).unwrap();
                        (p.user_key == &k[..]).then(|| match p.kind {
                            ValueKind::Put => MemGet::Value(Bytes::copy_from_slice(v)),
                            ValueKind::Delete => MemGet::Deleted,
                        })
                    });
                    prop_assert_eq!(m.get(k, *at), want, "get {:?} at {}", k, at);
                }
                Op::Iter { key, seq: at, for_prev, moves } => {
                    let target = ikey::lookup_key(key, *at);
                    let probe = OwnedKey(target.clone().into());
                    let mut pos: Option<OwnedKey> = if *for_prev {
                        it.seek_for_prev(&target);
                        model.range(..=probe).next_back().map(|(k, _)| k.clone())
                    } else {
                        it.seek(&target);
                        model.range(probe..).next().map(|(k, _)| k.clone())
                    };
                    walk(&mut it, &model, &mut pos, moves)?;
                }
                Op::SeekEnd { last, moves } => {
                    let mut pos = if *last {
                        it.seek_to_last();
                        model.keys().next_back().cloned()
                    } else {
                        it.seek_to_first();
                        model.keys().next().cloned()
                    };
                    walk(&mut it, &model, &mut pos, moves)?;
                }
            }
        }
        prop_assert_eq!(m.len(), model.len());
        let distinct = model.keys().map(|k| split_ikey(&k.0).0).collect::<std::collections::BTreeSet<_>>().len();
        match m.distinct_user_keys() {
            Some(n) => prop_assert_eq!(n, distinct),
            None => prop_assert!(!m.tree.read().overflow.is_empty(), "unknown only past the records"),
        }
        Ok(())
    }

    /// Versions added in any sequence order, some internal keys added twice, enough of them for
    /// one user key's versions to span leaves: the count of distinct user keys is exact.
    fn check_distinct_user_keys(adds: &[(u8, u64)]) -> std::result::Result<(), TestCaseError> {
        let m = MemTable::new();
        let mut model: BTreeMap<Vec<u8>, std::collections::BTreeSet<u64>> = BTreeMap::new();
        for &(k, seq) in adds {
            let key = format!("user{k:03}").into_bytes();
            m.add(seq, ValueKind::Put, &key, &seq.to_le_bytes());
            model.entry(key).or_default().insert(seq);
        }
        prop_assert_eq!(m.distinct_user_keys(), Some(model.len()));
        prop_assert_eq!(m.len(), model.values().map(|s| s.len()).sum::<usize>());
        Ok(())
    }

    fn walk(
        it: &mut MemTableIter,
        model: &BTreeMap<OwnedKey, Vec<u8>>,
        pos: &mut Option<OwnedKey>,
        moves: &[bool],
    ) -> std::result::Result<(), TestCaseError> {
        for &forward in std::iter::once(&true).chain(moves) {
            match pos {
                Some(k) => {
                    prop_assert!(it.valid());
                    prop_assert_eq!(it.key(), &k.0[..]);
                    prop_assert_eq!(it.value(), &model[k][..]);
                    prop_assert_eq!(it.value_bytes(), &model[k][..]);
                }
                None => {
                    prop_assert!(!it.valid());
                    return Ok(());
                }
            }
            let Some(k) = pos.take() else { break };
            if forward {
                it.next();
                *pos = model.range((Bound::Excluded(k), Bound::Unbounded)).next().map(|(k, _)| k.clone());
            } else {
                it.prev();
                *pos = model.range(..k).next_back().map(|(k, _)| k.clone());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_model(ops in prop::collection::vec(op(), 0..120)) {
            check_model(&ops, CHUNKS_MAX, 1)?;
        }

        /// Long enough for leaf splits (64 entries a leaf).
        #[test]
        fn matches_model_over_leaf_splits(ops in prop::collection::vec(op(), 100..1000)) {
            check_model(&ops, CHUNKS_MAX, 1)?;
        }

        #[test]
        fn distinct_user_keys_are_counted_in_any_order(
            adds in prop::collection::vec((0u8..40, 1u64..3000), 0..1500),
        ) {
            check_distinct_user_keys(&adds)?;
        }

        /// Values of 3000 bytes: a chunk holds 21, later entries go to the overflow; some
        /// values above the inline limit.
        #[test]
        fn matches_model_across_the_overflow(ops in prop::collection::vec(op(), 0..120), big in any::<bool>()) {
            check_model(&ops, 2, if big { VALUE_INLINE_MAX + 1 } else { 3000 })?;
        }
    }
}
