//! The memtable: the in-memory sorted buffer of recent writes of one column family.
//!
//! A lock-free skip list (`crossbeam_skiplist::SkipMap`) keyed by internal key. Each entry is
//! one allocation for the encoded internal key and one `Bytes` for the value. Lookups and seeks
//! compare through a borrowed [`KeyView`] so they allocate nothing.
//!
//! Invariants: entries are never removed or changed, so a cursor stays valid while the map
//! grows; `first_seq <= largest_seq` once the table is non-empty; `approximate_size` only grows.
//!
//! Thread safety: `MemTable` is `Send + Sync`; `add` may be called from several threads at
//! once (the skip list is concurrent, the counters atomic). A [`MemTableIter`] owns an
//! `Arc<MemTable>`, so it is `'static + Send` and sees entries added after it was created.

use crate::iter::{InternalIterator, compare_ikey, split_ikey};
use crate::error::Result;
use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use crossbeam_skiplist::map::Entry;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use strata_base::ikey::{self, SEQ_MAX, SeqNo, ValueKind};

/// Bytes charged per entry on top of key and value: the skip-list node (header, tower of
/// about 1.33 pointers on average, the key's `Box` and the value's `Bytes` handles) and the
/// allocator's rounding, measured roughly.
pub const ENTRY_OVERHEAD_BYTES: usize = 80;

/// An internal key as an ordered view: user key bytewise ascending, then trailer descending.
/// Both the stored [`InternalKey`] and the borrowed [`LookupKey`] implement it, which lets the
/// skip list compare a stored key with a lookup key without building an owned key.
trait KeyView {
    fn user_key(&self) -> &[u8];
    fn trailer(&self) -> u64;
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
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
        self.user_key().cmp(other.user_key()).then_with(|| other.trailer().cmp(&self.trailer()))
    }
}

/// A stored, encoded internal key. Its order is internal-key order ([`compare_ikey`]), the same
/// as its [`KeyView`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalKey(Box<[u8]>);

impl InternalKey {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_ikey(&self.0, &other.0)
    }
}
impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl KeyView for InternalKey {
    fn user_key(&self) -> &[u8] {
        split_ikey(&self.0).0
    }
    fn trailer(&self) -> u64 {
        split_ikey(&self.0).1
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for InternalKey {
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
    fn user_key(&self) -> &[u8] {
        self.user_key
    }
    fn trailer(&self) -> u64 {
        self.trailer
    }
}

/// What the memtable says about a key at a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemGet {
    Value(Bytes),
    Deleted,
}

/// A concurrent, ordered map from internal key to value.
#[derive(Debug)]
pub struct MemTable {
    map: SkipMap<InternalKey, Bytes>,
    size_bytes: AtomicUsize,
    /// `u64::MAX` while empty.
    first_seq: AtomicU64,
    largest_seq: AtomicU64,
}

impl Default for MemTable {
    fn default() -> Self {
        Self::new()
    }
}

impl MemTable {
    pub fn new() -> MemTable {
        MemTable {
            map: SkipMap::new(),
            size_bytes: AtomicUsize::new(0),
            first_seq: AtomicU64::new(u64::MAX),
            largest_seq: AtomicU64::new(0),
        }
    }

    /// Adds one version. Safe to call from several threads at once. The caller gives each
    /// `(user_key, seq)` once (sequence numbers are unique); adding the same internal key again
    /// replaces the value and charges its size twice.
    pub fn add(&self, seq: SeqNo, kind: ValueKind, user_key: &[u8], value: &[u8]) {
        debug_assert!(seq <= SEQ_MAX, "sequence {seq} exceeds SEQ_MAX");
        let key = ikey::encode(user_key, seq, kind).into_boxed_slice();
        let charge = key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        self.map.insert(InternalKey(key), Bytes::copy_from_slice(value));
        self.size_bytes.fetch_add(charge, AtomicOrdering::Relaxed);
        self.first_seq.fetch_min(seq, AtomicOrdering::Relaxed);
        self.largest_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// The newest version of `user_key` with sequence `<= seq`, if any.
    pub fn get(&self, user_key: &[u8], seq: SeqNo) -> Option<MemGet> {
        let trailer = ikey::pack_trailer(seq.min(SEQ_MAX), ValueKind::MAX);
        let probe = LookupKey { user_key, trailer };
        let entry = self.map.lower_bound(Bound::Included(&probe as &dyn KeyView))?;
        let parsed = ikey::parse(entry.key().as_bytes())?;
        if parsed.user_key != user_key {
            return None;
        }
        Some(match parsed.kind {
            ValueKind::Put => MemGet::Value(entry.value().clone()),
            ValueKind::Delete => MemGet::Deleted,
        })
    }

    /// Bytes charged so far: keys, values and [`ENTRY_OVERHEAD_BYTES`] per entry.
    pub fn approximate_size(&self) -> usize {
        self.size_bytes.load(AtomicOrdering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The smallest sequence number added, `None` while empty.
    pub fn first_seq(&self) -> Option<SeqNo> {
        let s = self.first_seq.load(AtomicOrdering::Relaxed);
        (s != u64::MAX).then_some(s)
    }

    /// The largest sequence number added, `None` while empty.
    pub fn largest_seq(&self) -> Option<SeqNo> {
        self.first_seq().map(|_| self.largest_seq.load(AtomicOrdering::Relaxed))
    }

    /// A cursor over every entry, owning a reference to the table. It starts invalid.
    pub fn iter(self: &Arc<Self>) -> MemTableIter {
        MemTableIter { cursor: Cursor::new(Arc::clone(self), |_| None) }
    }
}

type Position<'a> = Option<Entry<'a, InternalKey, Bytes>>;

self_cell::self_cell!(
    /// The table and a cursor borrowing it.
    struct Cursor {
        owner: Arc<MemTable>,
        #[covariant]
        dependent: Position,
    }
);

/// An [`InternalIterator`] over a [`MemTable`].
pub struct MemTableIter {
    cursor: Cursor,
}

impl std::fmt::Debug for MemTableIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTableIter").field("valid", &self.valid()).finish()
    }
}

impl MemTableIter {
    fn position(&self) -> Option<&Entry<'_, InternalKey, Bytes>> {
        self.cursor.borrow_dependent().as_ref()
    }

    fn reposition(&mut self, f: impl for<'a> FnOnce(&'a SkipMap<InternalKey, Bytes>) -> Position<'a>) {
        self.cursor.with_dependent_mut(|table, pos| *pos = f(&table.map));
    }
}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.position().is_some()
    }

    fn seek_to_first(&mut self) {
        self.reposition(|m| m.front());
    }

    fn seek_to_last(&mut self) {
        self.reposition(|m| m.back());
    }

    fn seek(&mut self, target: &[u8]) {
        let probe = LookupKey::from_ikey(target);
        self.reposition(|m| m.lower_bound(Bound::Included(&probe as &dyn KeyView)));
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        let probe = LookupKey::from_ikey(target);
        self.reposition(|m| m.upper_bound(Bound::Included(&probe as &dyn KeyView)));
    }

    fn next(&mut self) {
        self.cursor.with_dependent_mut(|_, pos| {
            if let Some(e) = pos
                && !e.move_next()
            {
                *pos = None;
            }
        });
    }

    fn prev(&mut self) {
        self.cursor.with_dependent_mut(|_, pos| {
            if let Some(e) = pos
                && !e.move_prev()
            {
                *pos = None;
            }
        });
    }

    fn key(&self) -> &[u8] {
        self.position().map_or(&[], |e| e.key().as_bytes())
    }

    fn value(&self) -> &[u8] {
        self.position().map_or(&[], |e| e.value().as_ref())
    }

    fn value_bytes(&self) -> Bytes {
        self.position().map_or_else(Bytes::new, |e| e.value().clone())
    }

    fn status(&self) -> Result<()> {
        Ok(())
    }
}
