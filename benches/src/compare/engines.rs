//! The Strata adapter (always built).
//!
//! Invariants: opened with `Options::default()` except the block cache, which gets the shared
//! budget; writes go through the WAL (synced only when asked).
//!
//! Thread safety: `Db` is `Send + Sync`.

use super::{CheckpointHow, Engine, Res};
use std::path::Path;
use strata::{Db, Options, ReadOptions, WriteBatch, WriteOptions};

pub(super) fn strata_settings(cache_mib: usize) -> String {
    let d = Options::default();
    format!(
        "block cache {cache_mib} MiB (LRU), compression none (Strata's default), memtable {} MiB x{}, bloom {} bits/key, \
         WAL on, sync only for fillsync (WriteOptions::sync), checkpoint: hard links + fresh manifest",
        d.write_buffer_size >> 20,
        d.max_write_buffers + 1,
        d.bloom_bits_per_key
    )
}

pub(super) fn open_strata(dir: &Path, cache_bytes: usize) -> Res<Box<dyn Engine>> {
    let opts = Options { block_cache_capacity: cache_bytes, ..Options::default() };
    Ok(Box::new(StrataEngine { db: Db::open(dir, opts)? }))
}

struct StrataEngine {
    db: Db,
}

impl Engine for StrataEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Res<()> {
        Ok(self.db.put_opt(&WriteOptions { sync, ..Default::default() }, key, value)?)
    }

    fn write_batch(&self, items: &[(Vec<u8>, Vec<u8>)], sync: bool) -> Res<()> {
        let mut b = WriteBatch::new();
        for (k, v) in items {
            b.put(k, v);
        }
        Ok(self.db.write(b, &WriteOptions { sync, ..Default::default() })?)
    }

    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Res<(u64, u64)> {
        let mut it = self.db.iter(&ReadOptions::default())?;
        it.seek(start);
        let (mut n, mut bytes) = (0u64, 0u64);
        while it.valid() && (n as usize) < limit {
            n += 1;
            bytes += (it.key().len() + it.value().len()) as u64;
            it.next();
        }
        it.status()?;
        Ok((n, bytes))
    }

    fn flush(&self) -> Res<()> {
        Ok(self.db.flush()?)
    }

    fn checkpoint(&self, dir: &Path) -> Res<CheckpointHow> {
        strata_checkpoint::Checkpoint::new(&self.db).create(dir)?;
        Ok(CheckpointHow::Native)
    }

    fn close(self: Box<Self>) -> Res<()> {
        Ok(self.db.close()?)
    }
}
