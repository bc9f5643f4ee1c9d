//! The memtable: the in-memory sorted buffer of recent writes of one column family.
//!
//! A B-tree (`std::collections::BTreeMap`) keyed by internal key behind a reader-writer lock.
//! Short internal keys (up to 38 bytes) live inside the tree's nodes, so a search touches a few
//! cache-friendly nodes instead of chasing ~20 skip-list pointers: on this project's machine a
//! B-tree insert cost about half, and a lookup a quarter, of `crossbeam_skiplist`'s at 500k
//! entries. Writes come from one thread at a time in practice (the group-commit leader), so
//! the write lock is uncontended; readers hold the read lock only for one search. Lookups and
//! seeks compare through a borrowed [`KeyView`] so they allocate nothing.
//!
//! Invariants: entries are never removed or changed, so a cursor stays valid while the map
//! grows; `approximate_size` only grows.
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
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use strata_base::ikey::{self, SEQ_MAX, SeqNo, ValueKind};

/// Bytes charged per entry on top of its internal key and value.
///
/// The rule: a memtable is charged what it costs in memory, so `write_buffer_size` is a memory
/// budget (RocksDB's is too: it counts the bytes of its arena). An entry costs its value (in a
/// shared chunk of the [`Arena`]) and one B-tree slot, [`SLOT_BYTES`] = 48 (a 40-byte key
/// holding internal keys up to [`INLINE_KEY_MAX`] bytes inline, and an 8-byte [`ValueRef`]),
/// in nodes of 11 slots about 69% full under random inserts (55% under ascending ones), plus
/// the internal nodes: about 76 bytes per entry. The charge is the internal key's length plus
/// the value's plus this constant, which for a 16-byte user key and a 100-byte value is 176.
///
/// Measured (RSS growth of one memtable of 329k, 460k and 1M entries with 16-byte keys and
/// 100-byte values, 2026-11-30): 173-176 bytes used per entry under random inserts, 195 under
/// ascending ones (the charge is exact for random keys, 10% low for ascending ones). Before
/// values were held by 8-byte references instead of 32-byte `Bytes` handles (a 72-byte slot)
/// the same entry cost 210 and 238 bytes. RocksDB's skip list spends about 139 bytes of arena
/// on it (varint lengths 2, internal key 24, value 100, and 8 bytes per level of a node 1.33
/// levels high on average), so 64 MiB holds about 480k such entries there and 381k here.
pub const ENTRY_OVERHEAD_BYTES: usize = 52;

/// Bytes of one B-tree slot: key and value handle (the node's fill and the internal nodes come
/// on top; see [`ENTRY_OVERHEAD_BYTES`]).
pub const SLOT_BYTES: usize = std::mem::size_of::<InternalKey>() + std::mem::size_of::<ValueRef>();
// The figures in `ENTRY_OVERHEAD_BYTES`'s derivation: re-measure if these change.
const _: () = assert!(SLOT_BYTES == 48);
const _: () = assert!(INLINE_KEY_MAX == 38);

/// An internal key as an ordered view: user key bytewise ascending, then trailer descending.
/// Both the stored [`InternalKey`] and the borrowed [`LookupKey`] implement it, which lets the
/// B-tree compare a stored key with a lookup key without building an owned key.
trait KeyView {
    /// User key and trailer, in one virtual call.
    fn parts(&self) -> (&[u8], u64);
}

impl PartialEq for dyn KeyView + '_ {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        let (ua, ta) = self.parts();
        let (ub, tb) = other.parts();
        ua.cmp(ub).then_with(|| tb.cmp(&ta))
    }
}

/// Internal keys up to this many bytes are stored inside the B-tree node, so comparing
/// against them costs no pointer chase (one cache miss per node instead of two).
const INLINE_KEY_MAX: usize = 38;

/// A stored, encoded internal key. Its order is internal-key order ([`compare_ikey`]), the same
/// as its [`KeyView`] order.
#[derive(Debug, Clone)]
pub struct InternalKey(KeyRepr);

#[derive(Debug, Clone)]
enum KeyRepr {
    Inline { len: u8, buf: [u8; INLINE_KEY_MAX] },
    Heap(Box<[u8]>),
}

impl InternalKey {
    fn new(ikey: &[u8]) -> Self {
        if ikey.len() <= INLINE_KEY_MAX {
            let mut buf = [0u8; INLINE_KEY_MAX];
            buf[..ikey.len()].copy_from_slice(ikey);
            // INLINE_KEY_MAX < 256, so the length fits in a byte.
            InternalKey(KeyRepr::Inline { len: ikey.len() as u8, buf })
        } else {
            InternalKey(KeyRepr::Heap(ikey.into()))
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            KeyRepr::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyRepr::Heap(b) => b,
        }
    }
}

const _: () = assert!(INLINE_KEY_MAX < 256);

impl PartialEq for InternalKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for InternalKey {}

impl Ord for InternalKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        compare_ikey(self.as_bytes(), other.as_bytes())
    }
}
impl PartialOrd for InternalKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl KeyView for InternalKey {
    #[inline]
    fn parts(&self) -> (&[u8], u64) {
        split_ikey(self.as_bytes())
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for InternalKey {
    #[inline]
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// A borrowed key to search for.
struct LookupKey<'a> {
    user_key: &'a [u8],
    trailer: u64,
}

impl<'a> LookupKey<'a> {
    fn from_ikey(ikey: &'a [u8]) -> Self {
        let (user_key, trailer) = split_ikey(ikey);
        Self { user_key, trailer }
    }
}

impl KeyView for LookupKey<'_> {
    #[inline]
    fn parts(&self) -> (&[u8], u64) {
        (self.user_key, self.trailer)
    }
}

/// Values up to this size are copied into shared arena chunks instead of one allocation each.
const ARENA_VALUE_MAX: usize = 4096;
/// Size of one arena chunk.
const ARENA_CHUNK: usize = 64 * 1024;

/// Where a value lives in the [`Arena`]: `len` bytes from `offset` of chunk `chunk`; a value
/// above [`ARENA_VALUE_MAX`] has an allocation of its own (`len == OWN`, `chunk` indexes
/// `Arena::own`). Eight bytes in the B-tree slot instead of a 32-byte `Bytes` handle: the
/// memtable's largest per-entry cost is its slots (see [`ENTRY_OVERHEAD_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValueRef {
    chunk: u32,
    offset: u16,
    len: u16,
}

/// `ValueRef::len` of a value with an allocation of its own.
const OWN: u16 = u16::MAX;
const _: () = assert!(ARENA_VALUE_MAX < OWN as usize && ARENA_CHUNK <= 1 << 16);

/// The memtable's values: small ones copied into 64 KiB chunks (one allocation per chunk, not
/// per value, and one `free` per chunk when the memtable is dropped), larger ones on their own.
/// A chunk is sealed (frozen into `Bytes`) when the next value does not fit; a reader's value
/// from a sealed chunk shares it (a reference-count increment, the chunk lives while the reader
/// holds the value), one from the open chunk is copied (only the newest 64 KiB of values).
///
/// Invariants: the open chunk never reallocates (its capacity is reserved whole), so a
/// `ValueRef` into it stays valid; it becomes `sealed[sealed.len()]` when sealed, which is the
/// index its values were given.
#[derive(Debug, Default)]
struct Arena {
    sealed: Vec<Bytes>,
    open: BytesMut,
    own: Vec<Bytes>,
}

impl Arena {
    /// Stores `value`; returns where.
    fn put(&mut self, value: &[u8]) -> ValueRef {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        if value.is_empty() {
            return ValueRef { chunk: 0, offset: 0, len: 0 };
        }
        if value.len() > ARENA_VALUE_MAX {
            self.own.push(Bytes::copy_from_slice(value));
            return ValueRef { chunk: count(self.own.len() - 1), offset: 0, len: OWN };
        }
        if self.open.capacity() - self.open.len() < value.len() {
            // Freezing keeps the allocation (no copy, no shrink).
            let full = std::mem::replace(&mut self.open, BytesMut::with_capacity(ARENA_CHUNK));
            if full.capacity() > 0 {
                self.sealed.push(full.freeze());
            }
        }
        // offset < ARENA_CHUNK <= 2^16 and len <= ARENA_VALUE_MAX: both fit in u16.
        let offset = self.open.len() as u16;
        self.open.extend_from_slice(value);
        ValueRef { chunk: count(self.sealed.len()), offset, len: value.len() as u16 }
    }

    /// The value `r` points at (empty if `r` points nowhere, which `put` never returns).
    fn get(&self, r: ValueRef) -> Bytes {
        let (chunk, from) = (r.chunk as usize, usize::from(r.offset));
        match r.len {
            0 => Bytes::new(),
            OWN => self.own.get(chunk).cloned().unwrap_or_default(),
            len => {
                let range = from..from + usize::from(len);
                match self.sealed.get(chunk) {
                    Some(c) if range.end <= c.len() => c.slice(range),
                    Some(_) => Bytes::new(),
                    None => self.open.get(range).map_or_else(Bytes::new, Bytes::copy_from_slice),
                }
            }
        }
    }
}

/// What the memtable says about a key at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemGet {
    Value(Bytes),
    Deleted,
}

/// The entries and the arena their values live in: one lock covers both, so an
/// insert takes one lock.
#[derive(Debug, Default)]
struct Tree {
    map: BTreeMap<InternalKey, ValueRef>,
    arena: Arena,
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

impl MemTable {
    pub fn new() -> MemTable {
        MemTable { tree: RwLock::new(Tree::default()), size_bytes: AtomicUsize::new(0) }
    }

    /// Adds one version. Safe to call from several threads at once. The caller gives each
    /// `(user_key, seq)` once (sequence numbers are unique); adding the same internal key again
    /// replaces the value and charges its size twice.
    pub fn add(&self, seq: SeqNo, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        debug_assert!(seq <= SEQ_MAX, "sequence {seq} exceeds SEQ_MAX");
        let mut buf = [0u8; INLINE_KEY_MAX];
        let key = if user_key.len() + ikey::TRAILER_LEN <= INLINE_KEY_MAX {
            let n = user_key.len();
            buf[..n].copy_from_slice(user_key);
            buf[n..n + ikey::TRAILER_LEN].copy_from_slice(&ikey::pack_trailer(seq, kind).to_le_bytes());
            InternalKey::new(&buf[..n + ikey::TRAILER_LEN])
        } else {
            InternalKey::new(&ikey::encode(user_key, seq, kind))
        };
        let charge = key.as_bytes().len() + value.len() + ENTRY_OVERHEAD_BYTES;
        let mut tree = self.tree.write();
        let value = tree.arena.put(value);
        tree.map.insert(key, value);
        drop(tree);
        self.size_bytes.fetch_add(charge, AtomicOrdering::Relaxed);
    }

    /// The newest version of `user_key` with sequence `<= seq`, if any.
    pub fn get(&self, user_key: &[u8], seq: SeqNo) -> Option<MemGet> {
        let trailer = ikey::pack_trailer(seq.min(SEQ_MAX), ValueKind::MAX);
        let probe = LookupKey { user_key, trailer };
        let tree = self.tree.read();
        let (key, value) =
            tree.map.range::<dyn KeyView, _>((Bound::Included(&probe as &dyn KeyView), Bound::Unbounded)).next()?;
        let parsed = ikey::parse(key.as_bytes())?;
        if parsed.user_key != user_key {
            return None;
        }
        Some(match parsed.kind {
            ValueKind::Put => MemGet::Value(tree.arena.get(*value)),
            ValueKind::Delete => MemGet::Deleted,
        })
    }

    /// Bytes charged so far: internal keys, values and [`ENTRY_OVERHEAD_BYTES`] per entry, an
    /// estimate of the memory the memtable uses (see [`ENTRY_OVERHEAD_BYTES`] for the rule).
    pub fn approximate_size(&self) -> usize {
        self.size_bytes.load(AtomicOrdering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.tree.read().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.read().map.is_empty()
    }

    /// A cursor over every entry, owning a reference to the table. It starts invalid.
    pub fn iter(self: &Arc<Self>) -> MemTableIter {
        MemTableIter { table: Arc::clone(self), window: Vec::new(), pos: 0, dir: Dir::Forward, next_window: WINDOW_MIN }
    }

    /// Up to `n` entries in `range`, from the front or (with `back`) from the back.
    fn find(
        &self,
        lower: Bound<&dyn KeyView>,
        upper: Bound<&dyn KeyView>,
        back: bool,
        n: usize,
        out: &mut Vec<(InternalKey, Bytes)>,
    ) {
        out.clear();
        let tree = self.tree.read();
        let r = tree.map.range::<dyn KeyView, _>((lower, upper));
        let clone = |(k, v): (&InternalKey, &ValueRef)| (k.clone(), tree.arena.get(*v));
        if back {
            out.extend(r.rev().take(n).map(clone));
        } else {
            out.extend(r.take(n).map(clone));
        }
    }
}

/// Entries fetched by the first search after a seek; each refill in the same direction doubles
/// up to [`WINDOW_MAX`]. Small first windows keep seeks cheap, large later ones make scans cost
/// one search per many entries.
const WINDOW_MIN: usize = 4;
const WINDOW_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Backward,
}

/// An [`InternalIterator`] over a [`MemTable`]. It holds no lock between moves: it copies a
/// window of entries (cheap: inline keys and reference-counted values) and searches again from
/// its position when the window runs out.
///
/// Entries added after a window was fetched may be missed inside that window. Readers never
/// need them: an entry becomes visible to readers only after it is in the table, and an
/// iterator reads at a sequence number taken before it was created. Flushes read immutable
/// tables.
pub struct MemTableIter {
    table: Arc<MemTable>,
    /// In iteration order: ascending when `dir` is forward, descending when backward.
    window: Vec<(InternalKey, Bytes)>,
    pos: usize,
    dir: Dir,
    next_window: usize,
}

impl std::fmt::Debug for MemTableIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTableIter").field("valid", &self.valid()).finish()
    }
}

impl MemTableIter {
    fn current(&self) -> Option<&(InternalKey, Bytes)> {
        self.window.get(self.pos)
    }

    fn load(&mut self, lower: Bound<&dyn KeyView>, upper: Bound<&dyn KeyView>, dir: Dir, n: usize) {
        let mut w = std::mem::take(&mut self.window);
        self.table.find(lower, upper, dir == Dir::Backward, n, &mut w);
        self.window = w;
        self.pos = 0;
        self.dir = dir;
        self.next_window = (n * 2).min(WINDOW_MAX);
    }

    /// Moves one step in `dir` from the current entry.
    fn step(&mut self, dir: Dir) {
        if self.dir == dir && self.pos + 1 < self.window.len() {
            self.pos += 1;
            return;
        }
        let Some((k, _)) = self.current().cloned() else { return };
        let n = if self.dir == dir { self.next_window } else { WINDOW_MIN };
        match dir {
            Dir::Forward => self.load(Bound::Excluded(&k as &dyn KeyView), Bound::Unbounded, dir, n),
            Dir::Backward => self.load(Bound::Unbounded, Bound::Excluded(&k as &dyn KeyView), dir, n),
        }
    }
}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.pos < self.window.len()
    }

    fn seek_to_first(&mut self) {
        self.load(Bound::Unbounded, Bound::Unbounded, Dir::Forward, WINDOW_MIN);
    }

    fn seek_to_last(&mut self) {
        self.load(Bound::Unbounded, Bound::Unbounded, Dir::Backward, WINDOW_MIN);
    }

    fn seek(&mut self, target: &[u8]) {
        let probe = LookupKey::from_ikey(target);
        self.load(Bound::Included(&probe as &dyn KeyView), Bound::Unbounded, Dir::Forward, WINDOW_MIN);
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        let probe = LookupKey::from_ikey(target);
        self.load(Bound::Unbounded, Bound::Included(&probe as &dyn KeyView), Dir::Backward, WINDOW_MIN);
    }

    fn next(&mut self) {
        self.step(Dir::Forward);
    }

    fn prev(&mut self) {
        self.step(Dir::Backward);
    }

    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |(k, _)| k.as_bytes())
    }

    fn value(&self) -> &[u8] {
        self.current().map_or(&[], |(_, v)| v.as_ref())
    }

    fn value_bytes(&self) -> Bytes {
        self.current().map_or_else(Bytes::new, |(_, v)| v.clone())
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

    /// Values carved from the arena are independent copies: later values, chunk changes and
    /// large or empty values never disturb earlier ones.
    #[test]
    fn arena_values_keep_their_bytes() {
        let m = MemTable::new();
        let value = |i: usize| -> Vec<u8> {
            let len = match i % 5 {
                0 => 0,
                1 => ARENA_VALUE_MAX + 1,
                _ => (i * 37) % 3000,
            };
            (0..len).map(|j| (i + j) as u8).collect()
        };
        // Enough bytes for several chunks.
        let n = 4 * ARENA_CHUNK / 1000;
        for i in 0..n {
            m.add(i as u64 + 1, ValueKind::Put, format!("k{i:05}").as_bytes(), &value(i));
        }
        for i in 0..n {
            match m.get(format!("k{i:05}").as_bytes(), SEQ_MAX) {
                Some(MemGet::Value(v)) => assert_eq!(&v[..], &value(i)[..], "value {i}"),
                other => panic!("value {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_value_read_from_the_open_chunk_survives_its_sealing() {
        let m = MemTable::new();
        m.add(1, ValueKind::Put, b"first", b"in the open chunk");
        let Some(MemGet::Value(early)) = m.get(b"first", SEQ_MAX) else { panic!("first is missing") };
        // Fill past several chunks: the first chunk is sealed and shared from then on.
        let filler = vec![9u8; 3000];
        for i in 0..(3 * ARENA_CHUNK / filler.len()) as u64 {
            m.add(i + 2, ValueKind::Put, format!("z{i:05}").as_bytes(), &filler);
        }
        let Some(MemGet::Value(late)) = m.get(b"first", SEQ_MAX) else { panic!("first is missing") };
        assert_eq!(&early[..], b"in the open chunk");
        assert_eq!(&late[..], b"in the open chunk");
        let tree = m.tree.read();
        assert!(tree.arena.sealed.len() >= 2, "{} chunks sealed", tree.arena.sealed.len());
        assert_eq!(std::mem::size_of::<ValueRef>(), 8);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn get_matches_model(
            ops in prop::collection::vec((prop::collection::vec(0u8..4, 0..3), prop::option::of(any::<u8>())), 0..60),
            probes in prop::collection::vec((prop::collection::vec(0u8..4, 0..3), 0u64..70), 1..30),
        ) {
            let m = MemTable::new();
            let mut model: BTreeMap<Vec<u8>, Vec<(u64, Option<u8>)>> = BTreeMap::new();
            for (i, (k, v)) in ops.iter().enumerate() {
                let seq = i as u64 + 1;
                match v {
                    Some(b) => m.add(seq, ValueKind::Put, k, &[*b]),
                    None => m.add(seq, ValueKind::Delete, k, b""),
                }
                model.entry(k.clone()).or_default().push((seq, *v));
            }
            for (k, seq) in probes {
                let want = model.get(&k).and_then(|vs| vs.iter().rev().find(|(s, _)| *s <= seq)).map(|(_, v)| match v {
                    Some(b) => MemGet::Value(Bytes::copy_from_slice(&[*b])),
                    None => MemGet::Deleted,
                });
                prop_assert_eq!(m.get(&k, seq), want, "key {:?} at {}", k, seq);
            }
        }
    }
}
