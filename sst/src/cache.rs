//! A sharded CLOCK cache of checked, decompressed data blocks, shared by many tables.
//!
//! Keyed by `(cache_id, block offset)`; each table gets a distinct `cache_id` (the engine uses
//! the file number). A block is cached as [`Block`], its restart array already checked, so a hit
//! is searched without checking it again. The charge of an entry is the length of its block plus
//! [`ENTRY_OVERHEAD`], the memory an entry really costs beyond its block (measured; see the
//! constant). File numbers are never reused, so the blocks of a deleted table are never hit
//! again and are simply evicted by the clock (no per-table erase, which would scan every shard).
//!
//! Replacement is CLOCK (second chance): a hit sets its entry's reference bit; to make room,
//! a hand sweeps the shard's slab, clearing set bits and evicting the first entry whose bit is
//! clear. A hit therefore writes only its own entry (an LRU list relinks it at the head, which
//! writes both neighbours), and [`BlockCache::with_block`] lends the block to the searcher
//! under the shard's lock, so the hit takes no reference count either.
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
//! map holds exactly the slab's live nodes (nonzero charge) and the free list the others, `reserved` is the sum of the live
//! reservations' shares in that shard, and after an insert or a reservation
//! `usage + min(reserved, capacity / 2) <= capacity` or the shard holds no entry (an entry that
//! does not fit beside the reservations is not cached).
//!
//! Thread safety: `Send + Sync`; each shard has its own mutex, held for a map lookup and, on a
//! hit through `with_block`, the caller's search of one block (a few hundred nanoseconds).

use crate::block::Block;
use crate::format::EntryLayout;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Bytes charged per entry on top of the block itself: what a cached block costs beyond its
/// length. A block read from a table is a view of the buffer it was read into (its 5-byte
/// trailer and the allocator's header and rounding, 13-28 bytes), whose `Bytes` handle shares
/// a 24-byte header allocation (32 with the allocator's); the slab node is 96 bytes (72 before
/// the block's restart hints) in a vector up to twice that, the map slot 24 bytes plus a
/// control byte at up to 7/8 load. Measured (`RssAnon` growth of a 64 MiB cache filled with
/// 4.1-4.3 KiB blocks the way the read path makes them, `cargo run --release -p strata-sst
/// --example cache_rss`): 268 bytes per entry beyond the block with 72-byte nodes
/// (2026-12-01; it was charged 64, so a full cache used 1.048x its capacity), 36 more with
/// 96-byte nodes (2026-12-02).
const ENTRY_OVERHEAD: usize = 308;
/// Reservations displace data blocks from at most this fraction (1 / n) of the capacity.
const RESERVED_SHARE_MAX: usize = 2;

type Key = (u64, u64);

/// Cache ids and offsets are not attacker-chosen: the fast identifier hash.
type KeyMap = HashMap<Key, u32, strata_base::ids::IdBuildHasher>;

/// A cached block: its key, the checked block, its charge, and the CLOCK reference bit. A free
/// slot holds an empty block and a zero charge.
#[derive(Debug)]
struct Node {
    key: Key,
    block: Block,
    charge: u32,
    /// Set by a hit, cleared when the clock hand passes: a block the hand finds clear has not
    /// been used since its last pass and is evicted.
    referenced: bool,
}

// ENTRY_OVERHEAD was measured with 96-byte nodes.
const _: () = assert!(std::mem::size_of::<Node>() <= 96);

/// One shard: a slab of nodes swept by a clock hand (second-chance replacement).
///
/// Why CLOCK and not a recency list: a hit only sets its node's reference bit, where a list
/// relinks the node at its head, which writes its two neighbours (two more cache misses on a
/// random lookup) under the lock.
#[derive(Debug)]
struct Shard {
    map: KeyMap,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// The next node the clock looks at for eviction.
    hand: usize,
    usage: usize,
    /// This shard's share of the live [`CacheReservation`]s.
    reserved: usize,
    capacity: usize,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        Self { map: KeyMap::default(), nodes: Vec::new(), free: Vec::new(), hand: 0, usage: 0, reserved: 0, capacity }
    }

    /// The part of the reservations that displaces data blocks.
    fn reserved_charge(&self) -> usize {
        self.reserved.min(self.capacity / RESERVED_SHARE_MAX)
    }

    /// Evicts entries the clock finds unreferenced until `extra` more bytes fit, or none is left.
    fn make_room(&mut self, extra: usize) {
        while self.usage + self.reserved_charge() + extra > self.capacity && !self.map.is_empty() {
            self.evict_one();
        }
    }

    /// Advances the hand to the first live node whose reference bit is clear, clearing the bits
    /// it passes, and removes that node. Ends within two sweeps: the first clears every bit.
    /// Only called with at least one live node.
    fn evict_one(&mut self) {
        let n = self.nodes.len();
        for _ in 0..2 * n {
            let i = self.hand;
            self.hand = if i + 1 < n { i + 1 } else { 0 };
            let node = &mut self.nodes[i];
            if node.charge == 0 {
                continue;
            }
            if node.referenced {
                node.referenced = false;
                continue;
            }
            self.remove_index(i);
            return;
        }
    }

    fn reserve(&mut self, bytes: usize) {
        self.reserved += bytes;
        self.make_room(0);
    }

    fn release(&mut self, bytes: usize) {
        self.reserved = self.reserved.saturating_sub(bytes);
    }

    /// The node cached under `key`, marked as used.
    #[inline]
    fn hit(&mut self, key: &Key) -> Option<&Block> {
        let i = *self.map.get(key)? as usize;
        let node = self.nodes.get_mut(i)?;
        node.referenced = true;
        Some(&node.block)
    }

    fn remove_index(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let key = node.key;
        self.usage -= node.charge as usize;
        node.charge = 0;
        node.referenced = false;
        node.block = Block::empty();
        self.map.remove(&key);
        // Slab indices fit in u32: a shard holds at most capacity / ENTRY_OVERHEAD nodes, and
        // a slot index past u32::MAX is never created (see `insert`).
        self.free.push(i as u32);
    }

    fn insert(&mut self, key: Key, block: Block) {
        let charge = block.size() + ENTRY_OVERHEAD;
        if let Some(&i) = self.map.get(&key) {
            self.remove_index(i as usize);
        }
        if self.reserved_charge() + charge > self.capacity {
            return;
        }
        self.make_room(charge);
        // block.size() <= BLOCK_LEN_MAX < u32::MAX - ENTRY_OVERHEAD (Block::parse checks it).
        let node = Node { key, block, charge: charge as u32, referenced: false };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let Ok(i) = u32::try_from(self.nodes.len()) else { return };
                self.nodes.push(node);
                i
            }
        };
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

    /// Runs `f` on the block cached for `(cache_id, offset)`, marking it used; `None` on a
    /// miss. `f` runs under the shard's lock, so the hit costs no reference count: it must be
    /// short and must not use this cache.
    #[inline]
    pub(crate) fn with_block<R>(&self, cache_id: u64, offset: u64, f: impl FnOnce(&Block) -> R) -> Option<R> {
        let key = (cache_id, offset);
        let mut shard = self.shard(&key).lock();
        let found = shard.hit(&key).map(f);
        drop(shard);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The block cached for `(cache_id, offset)`, marking it used.
    pub(crate) fn get_block(&self, cache_id: u64, offset: u64) -> Option<Block> {
        self.with_block(cache_id, offset, Block::clone)
    }

    /// Caches a checked block, evicting blocks the clock finds unused since its last pass.
    pub(crate) fn insert_block(&self, cache_id: u64, offset: u64, block: Block) {
        let key = (cache_id, offset);
        self.shard(&key).lock().insert(key, block);
    }

    /// The bytes of the block cached for `(cache_id, offset)`, marking it used.
    pub fn get(&self, cache_id: u64, offset: u64) -> Option<Bytes> {
        self.with_block(cache_id, offset, |b| b.bytes().clone())
    }

    /// Caches `block`, the contents of a data block of the newest table format. Its restart
    /// array is checked: a block that fails the check is not cached (`InvalidArgument`). Tables
    /// cache their blocks themselves; this is for tools and measurements.
    pub fn insert(&self, cache_id: u64, offset: u64, block: Bytes) -> crate::Result<()> {
        let layout = EntryLayout::of_version(crate::format::FORMAT_VERSION);
        let block = Block::parse(block, layout)
            .map_err(|c| crate::Error::InvalidArgument(format!("not a data block: {} at byte {}", c.reason, c.at)))?;
        self.insert_block(cache_id, offset, block);
        Ok(())
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

    /// A well-formed block of `len >= 9` bytes filled with `fill`: one restart point at 0 and
    /// a restart count of 1 in its last 8 bytes (the cache checks only the restart array).
    fn block_of(len: usize, fill: u8) -> Bytes {
        let mut b = vec![fill; len];
        b[len - 8..].copy_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        Bytes::from(b)
    }

    #[test]
    fn hit_miss_and_usage() {
        let c = BlockCache::new(1 << 20);
        assert!(c.get(1, 0).is_none());
        c.insert(1, 0, block_of(50, 7)).unwrap();
        assert_eq!(c.get(1, 0), Some(block_of(50, 7)));
        assert_eq!((c.hits(), c.misses()), (1, 1));
        assert_eq!(c.usage(), 50 + ENTRY_OVERHEAD);
        c.insert(1, 0, block_of(20, 7)).unwrap();
        assert_eq!(c.usage(), 20 + ENTRY_OVERHEAD);
        assert_eq!(c.with_block(1, 0, |b| b.size()), Some(20));
        assert_eq!(c.with_block(1, 1, |b| b.size()), None);
        assert_eq!((c.hits(), c.misses()), (2, 2));
    }

    #[test]
    fn refuses_what_is_not_a_block() {
        let c = BlockCache::new(1 << 20);
        for bad in [&b""[..], b"block", &[0, 0, 0, 0, 1, 0, 0, 0], &[1, 2, 3, 4, 9, 0, 0, 0]] {
            let e = c.insert(1, 0, Bytes::copy_from_slice(bad)).unwrap_err();
            assert!(matches!(e, crate::Error::InvalidArgument(_)), "{e}");
        }
        assert_eq!(c.usage(), 0);
        assert!(c.get(1, 0).is_none());
    }

    #[test]
    fn clock_evicts_a_block_unused_since_the_last_sweep_first() {
        // One shard's worth of room for three blocks, all in shard `s`.
        let charge = 1000 + ENTRY_OVERHEAD;
        let c = BlockCache::new(SHARDS * 3 * charge);
        let in_shard = |s: usize| (0..).filter(move |&o| shard_of(&(9, o)) == s);
        let offs: Vec<u64> = in_shard(shard_of(&(9, 0))).take(5).collect();
        for &o in &offs[..3] {
            c.insert(9, o, block_of(1000, 1)).unwrap();
        }
        // Blocks 0 and 2 are used; block 1 is not: the fourth insert evicts block 1.
        assert!(c.get(9, offs[0]).is_some() && c.get(9, offs[2]).is_some());
        c.insert(9, offs[3], block_of(1000, 1)).unwrap();
        let cached = |c: &BlockCache| offs.iter().map(|&o| c.get(9, o).is_some()).collect::<Vec<_>>();
        assert_eq!(cached(&c), [true, false, true, true, false]);
        // Now every block was just used (the check above): the hand clears all three bits and
        // evicts where it started its sweep.
        c.insert(9, offs[4], block_of(1000, 1)).unwrap();
        assert_eq!(cached(&c).iter().filter(|&&x| x).count(), 3);
        assert!(c.usage() <= c.capacity());
    }

    #[test]
    fn evicts_unused_blocks_within_capacity() {
        let block = block_of(1000, 0);
        let c = BlockCache::new(SHARDS * 3 * (1000 + ENTRY_OVERHEAD));
        for off in 0..500u64 {
            c.insert(7, off, block.clone()).unwrap();
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
        let block = block_of(1000, 0);
        let per_shard = 10 * (1000 + ENTRY_OVERHEAD);
        let c = Arc::new(BlockCache::new(SHARDS * per_shard));
        for off in 0..1000u64 {
            c.insert(1, off, block.clone()).unwrap();
        }
        let full = c.usage();
        assert!(full > c.capacity() / 2, "{full}");
        // Half the capacity reserved: blocks are evicted to make room, and stay within the rest.
        let r = c.reserve(c.capacity() / 2);
        assert_eq!((r.bytes(), c.reserved()), (c.capacity() / 2, c.capacity() / 2));
        assert!(c.usage() + c.reserved() <= c.capacity(), "{} + {}", c.usage(), c.reserved());
        for off in 1000..2000u64 {
            c.insert(1, off, block.clone()).unwrap();
            assert!(c.usage() + c.reserved() <= c.capacity());
        }
        assert!(c.usage() > 0);
        // Released: the room comes back.
        drop(r);
        assert_eq!(c.reserved(), 0);
        for off in 2000..3000u64 {
            c.insert(1, off, block.clone()).unwrap();
        }
        assert!(c.usage() > c.capacity() / 2, "{}", c.usage());
    }

    #[test]
    fn reservations_beyond_half_the_capacity_leave_half_for_blocks() {
        let block = block_of(100, 0);
        let c = Arc::new(BlockCache::new(SHARDS * 4096));
        let r = c.reserve(2 * c.capacity());
        assert_eq!(c.reserved(), 2 * c.capacity());
        for off in 0..1000u64 {
            c.insert(1, off, block.clone()).unwrap();
            assert!(c.usage() <= c.capacity() / RESERVED_SHARE_MAX, "{}", c.usage());
        }
        let cached = c.usage();
        assert!(cached > c.capacity() / RESERVED_SHARE_MAX - SHARDS * (100 + ENTRY_OVERHEAD), "{cached}");
        // A reservation made while blocks fill the cache evicts them down to the same bound.
        drop(r);
        for off in 1000..2000u64 {
            c.insert(1, off, block.clone()).unwrap();
        }
        assert!(c.usage() > c.capacity() / RESERVED_SHARE_MAX, "{}", c.usage());
        let _r = c.reserve(2 * c.capacity());
        assert!(c.usage() <= c.capacity() / RESERVED_SHARE_MAX, "{}", c.usage());
    }

    #[test]
    fn oversized_block_is_not_cached() {
        let c = BlockCache::new(SHARDS * 100);
        c.insert(1, 1, block_of(1000, 0)).unwrap();
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
                        c.insert(t, o, block_of(100, t as u8)).unwrap();
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
