//! Open tables by file number, shared by every reader of the database.
//!
//! Invariants: a table file is immutable, so one open `Table` per file number serves every
//! version that contains it. Entries are evicted when the file is deleted.
//!
//! Thread safety: a read-mostly `RwLock` around the map; opening happens outside the lock
//! and the first opener wins.

use crate::error::Result;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use strata_base::FileSystem;
use strata_sst::{BlockCache, Table, TableReadOptions};

#[derive(Debug)]
pub(crate) struct TableCache {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    read_opts: TableReadOptions,
    tables: RwLock<HashMap<u64, Arc<Table>>>,
}

impl TableCache {
    pub(crate) fn new(dir: PathBuf, fs: Arc<dyn FileSystem>, read_opts: TableReadOptions) -> Self {
        Self { dir, fs, read_opts, tables: RwLock::new(HashMap::new()) }
    }

    pub(crate) fn path(&self, number: u64) -> PathBuf {
        self.dir.join(strata_manifest::table_file_name(number))
    }

    /// The open table with this file number, opening it on first use.
    pub(crate) fn get(&self, number: u64) -> Result<Arc<Table>> {
        if let Some(t) = self.tables.read().get(&number) {
            return Ok(Arc::clone(t));
        }
        let path = self.path(number);
        let file = self.fs.open(&path).map_err(|e| crate::Error::io(&path, e))?;
        let mut opts = self.read_opts.clone();
        opts.cache_id = number;
        let table = Table::open(file, &path, opts)?;
        let mut tables = self.tables.write();
        Ok(Arc::clone(tables.entry(number).or_insert(table)))
    }

    pub(crate) fn evict(&self, number: u64) {
        self.tables.write().remove(&number);
    }

    pub(crate) fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.read_opts.cache.as_ref()
    }
}
