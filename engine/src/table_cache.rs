//! Open tables by file number, shared by every reader of the database, at most
//! `Options::max_open_files` of them (read-write; 0 = no limit).
//!
//! Invariants: a table file is immutable, so one open `Table` per file number serves every
//! version that contains it. Entries are evicted when the file is deleted, and, past the
//! limit, the least recently used one is closed (an iterator or read holding its `Arc` keeps
//! it open until done; the next use opens it again). A read-only database never evicts: it
//! opened every table at open so that a writer elsewhere deleting one cannot break its view.
//!
//! Thread safety: a read-mostly `RwLock` around the map; opening happens outside the lock
//! and the first opener wins; use stamps are atomics, so hits take only the read lock and
//! write no shared counter.

use crate::error::Result;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_base::FileNumber;
use strata_base::FileSystem;
use strata_sst::{BlockCache, Table, TableReadOptions};

/// File numbers are never attacker-chosen: the fast identifier hash instead of SipHash (the
/// lookup runs once per table a point read probes).
type TableMap = HashMap<FileNumber, Entry, strata_base::ids::IdBuildHasher>;

#[derive(Debug)]
struct Entry {
    table: Arc<Table>,
    /// The cache's clock at the last use: the smallest is evicted first.
    last_used: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct TableCache {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    read_opts: TableReadOptions,
    tables: RwLock<TableMap>,
    /// At most this many open tables; 0 for no limit.
    capacity: usize,
    clock: AtomicU64,
}

impl TableCache {
    pub(crate) fn new(dir: PathBuf, fs: Arc<dyn FileSystem>, read_opts: TableReadOptions, capacity: usize) -> Self {
        Self { dir, fs, read_opts, tables: RwLock::new(TableMap::default()), capacity, clock: AtomicU64::new(0) }
    }

    pub(crate) fn path(&self, number: FileNumber) -> PathBuf {
        self.dir.join(strata_manifest::table_file_name(number))
    }

    /// The open table with this file number, opening it on first use.
    pub(crate) fn get(&self, number: FileNumber) -> Result<Arc<Table>> {
        // A hit only reads the clock (no shared write on the read path); the clock advances on
        // misses, so recency is kept at the granularity of opens, which is what eviction needs.
        if let Some(e) = self.tables.read().get(&number) {
            e.last_used.store(self.clock.load(Ordering::Relaxed), Ordering::Relaxed);
            return Ok(Arc::clone(&e.table));
        }
        let now = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        let path = self.path(number);
        let file = self.fs.open(&path).map_err(|e| crate::Error::io(&path, e))?;
        let mut opts = self.read_opts.clone();
        // The block cache keys blocks by a plain id: the file number's raw value.
        opts.cache_id = number.get();
        let table = Table::open(file, &path, opts)?;
        let mut tables = self.tables.write();
        let entry = tables.entry(number).or_insert(Entry { table, last_used: AtomicU64::new(now) });
        let table = Arc::clone(&entry.table);
        if self.capacity > 0 && tables.len() > self.capacity {
            // O(open tables), on a miss only: far cheaper than the open it follows.
            let victim = tables
                .iter()
                .filter(|(n, _)| **n != number)
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(&n, _)| n);
            if let Some(v) = victim {
                tables.remove(&v);
            }
        }
        Ok(table)
    }

    pub(crate) fn evict(&self, number: FileNumber) {
        self.tables.write().remove(&number);
    }

    /// Tables open now.
    pub(crate) fn len(&self) -> usize {
        self.tables.read().len()
    }

    /// Bytes the open tables hold outside the block cache's LRU (index blocks and filters;
    /// charged to the block cache's capacity when there is one).
    pub(crate) fn pinned_bytes(&self) -> usize {
        self.tables.read().values().map(|e| e.table.pinned_bytes()).sum()
    }

    pub(crate) fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.read_opts.cache.as_ref()
    }
}
