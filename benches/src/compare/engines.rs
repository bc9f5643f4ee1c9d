//! The Strata adapter (always built).
//!
//! Invariants: opened with `Options::default()` except the block cache, which gets the shared
//! budget; writes go through the WAL (synced only when asked).
//!
//! Thread safety: `Db` is `Send + Sync`.

use super::{CheckpointHow, Engine, OpenCfg, Res, StrataCompression};
use std::path::{Path, PathBuf};
use strata::{Compression, Db, IngestOptions, Options, ReadOptions, SstFileWriter, WriteBatch, WriteOptions};

/// `Options::default()` with the block cache and compression of the run;
/// `STRATA_COMPARE_BACKGROUND_FLUSH_SYNCS=0` or `=1` sets `Options::background_flush_syncs` (on by
/// default) for an A/B run (inherited by the child processes).
fn strata_options(cache_bytes: usize, c: StrataCompression) -> Options {
    let mut o = Options { block_cache_capacity: cache_bytes, ..Options::default() };
    match std::env::var_os("STRATA_COMPARE_BACKGROUND_FLUSH_SYNCS") {
        Some(v) if v == "0" => o.background_flush_syncs = false,
        Some(v) if v == "1" => o.background_flush_syncs = true,
        _ => {}
    }
    let zstd = Compression::Zstd { level: 3 };
    match c {
        StrataCompression::Default => {}
        StrataCompression::None => (o.compression, o.bottommost_compression) = (Compression::None, None),
        StrataCompression::Zstd => (o.compression, o.bottommost_compression) = (zstd, None),
        StrataCompression::ZstdBottom => (o.compression, o.bottommost_compression) = (Compression::None, Some(zstd)),
    }
    o
}

pub(super) fn strata_settings(cache_mib: usize, c: StrataCompression) -> String {
    let d = strata_options(cache_mib << 20, c);
    format!(
        "block cache {cache_mib} MiB (CLOCK), compression {:?}, bottommost compression {:?} ({c:?}), memtable {} MiB x{}, \
         bloom {} bits/key, WAL on, sync only for fillsync (WriteOptions::sync), checkpoint: hard links + fresh manifest, \
         ingest: SstFileWriter + ingest_external_files (move){}",
        d.compression,
        d.bottommost_compression,
        d.write_buffer_size >> 20,
        d.max_write_buffers + 1,
        d.bloom_bits_per_key,
        if d.background_flush_syncs { "" } else { ", flush pieces synced on the flush thread" }
    )
}

pub(super) fn open_strata(dir: &Path, cfg: &OpenCfg) -> Res<Box<dyn Engine>> {
    let opts = strata_options(cfg.cache_bytes, cfg.strata_compression);
    Ok(Box::new(StrataEngine { db: Db::open(dir, opts.clone())?, opts }))
}

struct StrataEngine {
    db: Db,
    /// The options the database was opened with (its SST writer uses the same).
    opts: Options,
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
        if std::env::var_os("STRATA_COMPARE_STATS").is_some() {
            eprintln!("{}", self.db.property("strata.stats").unwrap_or_default());
        }
        Ok(self.db.close()?)
    }

    fn write_external(&self, path: &Path, items: &mut dyn Iterator<Item = (Vec<u8>, &[u8])>) -> Res<bool> {
        let mut w = SstFileWriter::create(path, &self.opts)?;
        for (k, v) in items {
            w.put(&k, v)?;
        }
        w.finish()?;
        Ok(true)
    }

    fn ingest(&self, paths: &[PathBuf]) -> Res<()> {
        let io = IngestOptions { move_files: true, ..IngestOptions::default() };
        self.db.ingest_external_files(&self.db.default_cf(), paths, &io)?;
        Ok(())
    }

    fn compact_all(&self) -> Res<()> {
        Ok(self.db.compact_range(&self.db.default_cf(), None, None)?)
    }
}
