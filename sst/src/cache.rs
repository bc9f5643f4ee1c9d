//! A sharded LRU cache of decompressed blocks, shared by many tables.
//!
//! Keyed by `(cache_id, block offset)`; each table gets a distinct `cache_id` (the engine uses
//! the file number). The charge of an entry is the length of its block plus [`ENTRY_OVERHEAD`],
//! the memory an entry really costs beyond its block (measured; see the constant). File numbers
//! are never reused, so the blocks of a deleted table are never hit again and simply age out of
//! the LRU (no per-table erase, which would scan every shard).
//!
//! The capacity also bounds memory held outside the LRU: an open table's index and filter
//! blocks are charged to the cache through a [`CacheReservation`] (RocksDB's
//! `cache_index_and_filter_blocks` with every such block pinned), which evicts data blocks to
//! make room and is released when the table is closed. So `capacity` bounds data blocks plus
//! the index and filter blocks of every open table, except that reservations take at most half
//! of it from the data blocks ([`RESERVED_SHARE_MAX`]): past that they are held on top, so a
//! database whose open tables' index and filter blocks outgrow the cache keeps caching data
//! blocks (RocksDB keeps its index and filter blocks in a high-priority pool of half the cache
//! by default, for the same reason).
//!
//! Invariants: in every shard, `usage` is the sum of the charges of the entries in the map, the
//! map and the recency list hold the same entries, `reserved` is the sum of the live
//! reservations' shares in that shard, and after an insert or a reservation
//! `usage + min(reserved, capacity / 2) <= capacity` or the shard holds no entry (an entry that
//! does not fit beside the reservations is not cached).
//!
//! Thread safety: `Send + Sync`; each shard has its own mutex, held only for a map lookup and a
//! few pointer updates.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Bytes charged per entry on top of the block itself: what a cached block costs beyond its
/// length. A block read from a table is a view of the buffer it was read into (its 5-byte
/// trailer and the allocator's header and rounding, 13-28 bytes), whose `Bytes` handle shares
/// a 24-byte header allocation (32 with the allocator's); the slab node is 72 bytes in a
/// vector up to twice that, the map slot 24 bytes plus a control byte at up to 7/8 load.
/// Measured (`RssAnon` growth of a 64 MiB cache filled with 4.1-4.3 KiB blocks the way the read
/// path makes them, 2026-12-01): 268 bytes per entry beyond the block (it was charged 64, so a
/// full cache used 1.048x its capacity).
const ENTRY_OVERHEAD: usize = 272;
const NIL: usize = usize::MAX;
/// Reservations displace data blocks from at most this fraction (1 / n) of the capacity.
const RESERVED_SHARE_MAX: usize = 2;

type Key = (u64, u64);

/// A fast hasher for `(u64, u64)` keys (cache ids and offsets are not attacker-chosen).
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(26) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type KeyMap = HashMap<Key, usize, BuildHasherDefault<KeyHasher>>;

#[derive(Debug)]
struct Node {
    key: Key,
    value: Bytes,
    charge: usize,
    prev: usize,
    next: usize,
}

/// One LRU list: a slab of nodes linked most recent first.
#[derive(Debug)]
struct Shard {
    map: KeyMap,
    nodes: Vec<Node>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    usage: usize,
    /// This shard's share of the live [`CacheReservation`]s.
    reserved: usize,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self {
            map: KeyMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            usage: 0,
            reserved: 0,
            capacity,
        }
    }

    /// The part of the reservations that displaces data blocks.
    fn reserved_charge(&self) -> usize {
        self.reserved.min(self.capacity / RESERVED_SHARE_MAX)
    }

    /// Evicts least recently used entries until `extra` more bytes fit, or none is left.
    fn make_room(&mut self, extra: usize) {
        while self.usage + self.reserved_charge() + extra > self.capacity && self.tail != NIL {
            self.remove_index(self.tail);
        }
    }

    fn reserve(&mut self, bytes: usize) {
        self.reserved += bytes;
        self.make_room(0);
    }

    fn release(&mut self, bytes: usize) {
        self.reserved = self.reserved.saturating_sub(bytes);
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        if prev == NIL {
            self.head = next
        } else {
            self.nodes[prev].next = next
        }
        if next == NIL { self.tail = prev } else { self.nodes[next].prev = prev }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head;
        if self.head != NIL {
            self.nodes[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn get(&mut self, key: &Key) -> Option<Bytes> {
        let i = *self.map.get(key)?;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Some(self.nodes[i].value.clone())
    }

    fn remove_index(&mut self, i: usize) {
        self.unlink(i);
        let key = self.nodes[i].key;
        self.map.remove(&key);
        self.usage -= self.nodes[i].charge;
        self.nodes[i].value = Bytes::new();
        self.free.push(i);
    }

    fn insert(&mut self, key: Key, value: Bytes) {
        let charge = value.len() + ENTRY_OVERHEAD;
        if let Some(&i) = self.map.get(&key) {
            self.remove_index(i);
        }
        if self.reserved_charge() + charge > self.capacity {
            return;
        }
        self.make_room(charge);
        let node = Node { key, value, charge, prev: NIL, next: NIL };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.push_front(i);
        self.map.insert(key, i);
        self.usage += charge;
    }
}

/// A block cache shared between tables (wrap it in an `Arc`).
#[derive(Debug)]
pub struct BlockCache {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[inline]
fn shard_of(key: &Key) -> usize {
    let h = (key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    (h >> (64 - SHARD_BITS)) as usize
}

impl BlockCache {
    /// Bytes charged per cached block on top of its length (measured; see the module).
    pub const ENTRY_OVERHEAD: usize = ENTRY_OVERHEAD;

    /// A cache holding about `capacity_bytes` of blocks.
    pub fn new(capacity_bytes: usize) -> Self {
        let per_shard = capacity_bytes.div_ceil(SHARDS);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::new(per_shard))).collect();
        Self { shards, capacity: capacity_bytes, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        // shard_of returns a value below SHARDS, the length of `shards`.
        &self.shards[shard_of(key) % self.shards.len()]
    }

    /// The block cached for `(cache_id, offset)`, marking it most recently used.
    pub fn get(&self, cache_id: u64, offset: u64) -> Option<Bytes> {
        let key = (cache_id, offset);
        let found = self.shard(&key).lock().get(&key);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches a block, evicting the least recently used ones of its shard.
    pub fn insert(&self, cache_id: u64, offset: u64, block: Bytes) {
        let key = (cache_id, offset);
        self.shard(&key).lock().insert(key, block);
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Bytes charged to the cached blocks now (reservations not included).
    pub fn usage(&self) -> usize {
        self.shards.iter().map(|s| s.lock().usage).sum()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes charged by the live reservations (the open tables' index and filter blocks).
    pub fn reserved(&self) -> usize {
        self.shards.iter().map(|s| s.lock().reserved).sum()
    }

    /// Charges `bytes` held outside the cache to its capacity until the returned reservation is
    /// dropped, evicting data blocks to make room. The charge is spread evenly over the shards.
    /// Reservations are never refused, and displace data blocks from at most half the capacity:
    /// past that the cache holds more than its capacity (data blocks up to half of it, plus
    /// every reservation) until enough of them are released.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> CacheReservation {
        for (i, s) in self.shards.iter().enumerate() {
            s.lock().reserve(share(bytes, i, self.shards.len()));
        }
        CacheReservation { cache: Arc::clone(self), bytes }
    }
}

/// Shard `i`'s part of `bytes` spread over `n` shards (the parts add up to `bytes`).
fn share(bytes: usize, i: usize, n: usize) -> usize {
    let upto = |j: usize| (bytes as u128 * j as u128 / n as u128) as usize;
    upto(i + 1) - upto(i)
}

/// Bytes charged to a [`BlockCache`]'s capacity by something held outside it; released on drop.
#[derive(Debug)]
pub struct CacheReservation {
    cache: Arc<BlockCache>,
    bytes: usize,
}

impl CacheReservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for CacheReservation {
    fn drop(&mut self) {
        let n = self.cache.shards.len();
        for (i, s) in self.cache.shards.iter().enumerate() {
            s.lock().release(share(self.bytes, i, n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_miss_and_usage() {
        let c = BlockCache::new(1 << 20);
        assert!(c.get(1, 0).is_none());
        c.insert(1, 0, Bytes::from_static(b"block"));
        assert_eq!(c.get(1, 0).as_deref(), Some(&b"block"[..]));
        assert_eq!((c.hits(), c.misses()), (1, 1));
        assert_eq!(c.usage(), 5 + ENTRY_OVERHEAD);
        c.insert(1, 0, Bytes::from_static(b"bl"));
        assert_eq!(c.usage(), 2 + ENTRY_OVERHEAD);
    }

    #[test]
    fn evicts_least_recently_used_within_capacity() {
        let block = Bytes::from(vec![0u8; 1000]);
        let c = BlockCache::new(SHARDS * 3 * (1000 + ENTRY_OVERHEAD));
        for off in 0..500u64 {
            c.insert(7, off, block.clone());
            // Keep block 0 hot.
            let _ = c.get(7, 0);
            assert!(c.usage() <= c.capacity());
        }
        assert!(c.get(7, 0).is_some(), "the hot block was evicted");
        let cached = (0..500u64).filter(|&o| c.get(7, o).is_some()).count();
        assert!(cached <= SHARDS * 3, "{cached} blocks cached");
        assert!(cached >= SHARDS, "{cached} blocks cached");
    }

    #[test]
    fn shares_add_up() {
        for bytes in [0, 1, 15, 16, 17, 1000, usize::MAX] {
            assert_eq!((0..SHARDS).map(|i| share(bytes, i, SHARDS) as u128).sum::<u128>(), bytes as u128);
        }
    }

    #[test]
    fn reservations_evict_blocks_and_bound_what_is_cached() {
        let block = Bytes::from(vec![0u8; 1000]);
        let per_shard = 10 * (1000 + ENTRY_OVERHEAD);
        let c = Arc::new(BlockCache::new(SHARDS * per_shard));
        for off in 0..1000u64 {
            c.insert(1, off, block.clone());
        }
        let full = c.usage();
        assert!(full > c.capacity() / 2, "{full}");
        // Half the capacity reserved: blocks are evicted to make room, and stay within the rest.
        let r = c.reserve(c.capacity() / 2);
        assert_eq!((r.bytes(), c.reserved()), (c.capacity() / 2, c.capacity() / 2));
        assert!(c.usage() + c.reserved() <= c.capacity(), "{} + {}", c.usage(), c.reserved());
        for off in 1000..2000u64 {
            c.insert(1, off, block.clone());
            assert!(c.usage() + c.reserved() <= c.capacity());
        }
        assert!(c.usage() > 0);
        // Released: the room comes back.
        drop(r);
        assert_eq!(c.reserved(), 0);
        for off in 2000..3000u64 {
            c.insert(1, off, block.clone());
        }
        assert!(c.usage() > c.capacity() / 2, "{}", c.usage());
    }

    #[test]
    fn reservations_beyond_half_the_capacity_leave_half_for_blocks() {
        let block = Bytes::from(vec![0u8; 100]);
        let c = Arc::new(BlockCache::new(SHARDS * 4096));
        let r = c.reserve(2 * c.capacity());
        assert_eq!(c.reserved(), 2 * c.capacity());
        for off in 0..1000u64 {
            c.insert(1, off, block.clone());
            assert!(c.usage() <= c.capacity() / RESERVED_SHARE_MAX, "{}", c.usage());
        }
        let cached = c.usage();
        assert!(cached > c.capacity() / RESERVED_SHARE_MAX - SHARDS * (100 + ENTRY_OVERHEAD), "{cached}");
        // A reservation made while blocks fill the cache evicts them down to the same bound.
        drop(r);
        for off in 1000..2000u64 {
            c.insert(1, off, block.clone());
        }
        assert!(c.usage() > c.capacity() / RESERVED_SHARE_MAX, "{}", c.usage());
        let _r = c.reserve(2 * c.capacity());
        assert!(c.usage() <= c.capacity() / RESERVED_SHARE_MAX, "{}", c.usage());
    }

    #[test]
    fn oversized_block_is_not_cached() {
        let c = BlockCache::new(SHARDS * 100);
        c.insert(1, 1, Bytes::from(vec![0u8; 1000]));
        assert!(c.get(1, 1).is_none());
        assert_eq!(c.usage(), 0);
    }

    #[test]
    fn shared_between_threads() {
        let c = std::sync::Arc::new(BlockCache::new(1 << 20));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for o in 0..200 {
                        c.insert(t, o, Bytes::from(vec![t as u8; 100]));
                        assert_eq!(c.get(t, o).map(|b| b[0]), Some(t as u8));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.hits(), 800);
    }
}
