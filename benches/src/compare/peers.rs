//! Adapters for the peer engines: RocksDB, fjall, sled and redb (built with `--features peers`;
//! `--features pure-peers` builds all but RocksDB).
//!
//! Each is configured the way its documentation recommends for a general key-value workload,
//! with the block/page cache set to the shared budget; `settings` states what was chosen.
//!
//! Invariants: a write with `sync: false` is handed to the engine's log or journal without an
//! fsync (redb: `Durability::None`, made durable by the next `flush`); `sync: true` is durable
//! when the call returns.
//!
//! Thread safety: every handle used here is `Send + Sync` (RocksDB's `DB`, fjall's `Database`
//! and `Keyspace`, sled's `Db`, redb's `Database`).

use super::{CheckpointHow, Engine, EngineKind, Res, copy_dir};
use std::path::Path;

pub(super) fn settings(kind: EngineKind, mib: usize) -> String {
    match kind {
        EngineKind::RocksDb => format!(
            "block cache {mib} MiB (LRU, index+filter blocks cached), compression none for L0-Ln-1 + zstd bottommost \
             (RocksDB tuning guide: LZ4 upper levels, zstd bottommost; lz4 not built), bloom 10 bits/key, \
             memtable 64 MiB, max_background_jobs 2, bytes_per_sync 1 MiB, dynamic level bytes, WAL on, \
             WriteOptions::sync only for fillsync, checkpoint: rocksdb::checkpoint (hard links)"
        ),
        EngineKind::Fjall => format!(
            "cache {mib} MiB, compression lz4 (fjall's default), default keyspace options, journal written per \
             write without fsync; fillsync: PersistMode::SyncAll after each write; no checkpoint: directory \
             copied after flush"
        ),
        EngineKind::Sled => format!(
            "cache_capacity {mib} MiB, Mode::HighThroughput, flush_every_ms 500 (default), no compression; \
             fillsync: Db::flush after each write; no checkpoint: directory copied after flush"
        ),
        EngineKind::Redb => format!(
            "cache {mib} MiB, one write transaction per put/batch, Durability::None (Immediate for fillsync and \
             flush), 1 table of &[u8] -> &[u8]; no checkpoint: file copied after an Immediate commit"
        ),
        EngineKind::Strata => super::engines::strata_settings(mib, super::StrataCompression::Default),
    }
}

pub(super) fn version(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::RocksDb => "rocksdb 0.25.0 (librocksdb-sys 0.19.0+11.8.1)",
        EngineKind::Fjall => "fjall 3.1.13",
        EngineKind::Sled => "sled 0.34.7",
        EngineKind::Redb => "redb 4.1.0",
        EngineKind::Strata => env!("CARGO_PKG_VERSION"),
    }
}

pub(super) fn open(kind: EngineKind, dir: &Path, cfg: &super::OpenCfg) -> Res<Box<dyn Engine>> {
    let cache_bytes = cfg.cache_bytes;
    match kind {
        #[cfg(feature = "peers")]
        EngineKind::RocksDb => open_rocks(dir, cache_bytes),
        #[cfg(not(feature = "peers"))]
        EngineKind::RocksDb => Err("rocksdb is not built: rebuild with --features peers".into()),
        EngineKind::Fjall => open_fjall(dir, cache_bytes),
        EngineKind::Sled => open_sled(dir, cache_bytes),
        EngineKind::Redb => open_redb(dir, cache_bytes),
        EngineKind::Strata => super::engines::open_strata(dir, cfg),
    }
}

// ---- RocksDB ----

#[cfg(feature = "peers")]
struct Rocks {
    db: rocksdb::DB,
    /// The options the database was opened with (its SST writer uses the same).
    opts: rocksdb::Options,
}

#[cfg(feature = "peers")]
fn open_rocks(dir: &Path, cache_bytes: usize) -> Res<Box<dyn Engine>> {
    use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options};
    let cache = Cache::new_lru_cache(cache_bytes);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&cache);
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut o = Options::default();
    o.create_if_missing(true);
    o.set_block_based_table_factory(&table);
    o.set_compression_type(DBCompressionType::None);
    o.set_bottommost_compression_type(DBCompressionType::Zstd);
    o.set_write_buffer_size(64 << 20);
    o.increase_parallelism(2);
    o.set_max_background_jobs(2);
    o.set_bytes_per_sync(1 << 20);
    o.set_level_compaction_dynamic_level_bytes(true);
    let db = rocksdb::DB::open(&o, dir)?;
    Ok(Box::new(Rocks { db, opts: o }))
}

#[cfg(feature = "peers")]
fn rocks_wo(sync: bool) -> rocksdb::WriteOptions {
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(sync);
    wo
}

#[cfg(feature = "peers")]
impl Engine for Rocks {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Res<()> {
        Ok(self.db.put_opt(key, value, &rocks_wo(sync))?)
    }

    fn write_batch(&self, items: &[(Vec<u8>, Vec<u8>)], sync: bool) -> Res<()> {
        let mut b = rocksdb::WriteBatch::default();
        for (k, v) in items {
            b.put(k, v);
        }
        Ok(self.db.write_opt(b, &rocks_wo(sync))?)
    }

    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get_pinned(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Res<(u64, u64)> {
        let mut it = self.db.raw_iterator();
        it.seek(start);
        let (mut n, mut bytes) = (0u64, 0u64);
        while (n as usize) < limit {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            n += 1;
            bytes += (k.len() + v.len()) as u64;
            it.next();
        }
        it.status()?;
        Ok((n, bytes))
    }

    fn flush(&self) -> Res<()> {
        self.db.flush()?;
        Ok(self.db.flush_wal(true)?)
    }

    fn checkpoint(&self, dir: &Path) -> Res<CheckpointHow> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(dir)?;
        Ok(CheckpointHow::Native)
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.db.flush_wal(true)?;
        drop(self);
        Ok(())
    }

    fn write_external(&self, path: &Path, items: &mut dyn Iterator<Item = (Vec<u8>, &[u8])>) -> Res<bool> {
        let mut w = rocksdb::SstFileWriter::create(&self.opts);
        w.open(path)?;
        for (k, v) in items {
            w.put(&k, v)?;
        }
        w.finish()?;
        Ok(true)
    }

    fn ingest(&self, paths: &[std::path::PathBuf]) -> Res<()> {
        let mut io = rocksdb::IngestExternalFileOptions::default();
        io.set_move_files(true);
        Ok(self.db.ingest_external_file_opts(&io, paths.to_vec())?)
    }

    fn compact_all(&self) -> Res<()> {
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }
}

// ---- fjall ----

struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
    dir: std::path::PathBuf,
}

fn open_fjall(dir: &Path, cache_bytes: usize) -> Res<Box<dyn Engine>> {
    let db = fjall::Database::builder(dir).cache_size(cache_bytes as u64).open()?;
    let ks = db.keyspace("bench", fjall::KeyspaceCreateOptions::default)?;
    Ok(Box::new(Fjall { db, ks, dir: dir.to_path_buf() }))
}

impl Engine for Fjall {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Res<()> {
        self.ks.insert(key, value)?;
        if sync {
            self.db.persist(fjall::PersistMode::SyncAll)?;
        }
        Ok(())
    }

    fn write_batch(&self, items: &[(Vec<u8>, Vec<u8>)], sync: bool) -> Res<()> {
        let mut b = self.db.batch().durability(sync.then_some(fjall::PersistMode::SyncAll));
        for (k, v) in items {
            b.insert(&self.ks, k.as_slice(), v.as_slice());
        }
        Ok(b.commit()?)
    }

    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.ks.get(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Res<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for g in self.ks.range::<&[u8], _>(start..).take(limit) {
            let (k, v) = g.into_inner()?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    fn flush(&self) -> Res<()> {
        self.ks.rotate_memtable_and_wait()?;
        Ok(self.db.persist(fjall::PersistMode::SyncAll)?)
    }

    fn checkpoint(&self, dir: &Path) -> Res<CheckpointHow> {
        self.flush()?;
        // Background compaction may delete a file between listing and copying it: start over.
        for _ in 0..5 {
            match copy_dir(&self.dir, dir) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::remove_dir_all(dir)?,
                r => {
                    r?;
                    return Ok(CheckpointHow::CopiedDirectory);
                }
            }
        }
        Err("fjall: files kept vanishing while copying the directory".into())
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        drop(self);
        Ok(())
    }
}

// ---- sled ----

struct Sled {
    db: sled::Db,
    dir: std::path::PathBuf,
}

fn open_sled(dir: &Path, cache_bytes: usize) -> Res<Box<dyn Engine>> {
    let db =
        sled::Config::new().path(dir).cache_capacity(cache_bytes as u64).mode(sled::Mode::HighThroughput).open()?;
    Ok(Box::new(Sled { db, dir: dir.to_path_buf() }))
}

impl Engine for Sled {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Res<()> {
        self.db.insert(key, value)?;
        if sync {
            self.db.flush()?;
        }
        Ok(())
    }

    fn write_batch(&self, items: &[(Vec<u8>, Vec<u8>)], sync: bool) -> Res<()> {
        let mut b = sled::Batch::default();
        for (k, v) in items {
            b.insert(k.as_slice(), v.as_slice());
        }
        self.db.apply_batch(b)?;
        if sync {
            self.db.flush()?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Res<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for kv in self.db.range::<&[u8], _>(start..).take(limit) {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    fn flush(&self) -> Res<()> {
        self.db.flush()?;
        Ok(())
    }

    fn checkpoint(&self, dir: &Path) -> Res<CheckpointHow> {
        self.flush()?;
        copy_dir(&self.dir, dir)?;
        Ok(CheckpointHow::CopiedDirectory)
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.db.flush()?;
        drop(self);
        Ok(())
    }
}

// ---- redb ----

const REDB_TABLE: redb::TableDefinition<'_, &[u8], &[u8]> = redb::TableDefinition::new("bench");
const REDB_FILE: &str = "data.redb";

struct Redb {
    db: redb::Database,
    file: std::path::PathBuf,
}

fn open_redb(dir: &Path, cache_bytes: usize) -> Res<Box<dyn Engine>> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join(REDB_FILE);
    let db = redb::Database::builder().set_cache_size(cache_bytes).create(&file)?;
    let e = Redb { db, file };
    e.commit(&[], true)?; // creates the table
    Ok(Box::new(e))
}

impl Redb {
    fn commit(&self, items: &[(&[u8], &[u8])], sync: bool) -> Res<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(if sync { redb::Durability::Immediate } else { redb::Durability::None })?;
        {
            let mut t = tx.open_table(REDB_TABLE)?;
            for (k, v) in items {
                t.insert(*k, *v)?;
            }
        }
        Ok(tx.commit()?)
    }
}

impl Engine for Redb {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Res<()> {
        self.commit(&[(key, value)], sync)
    }

    fn write_batch(&self, items: &[(Vec<u8>, Vec<u8>)], sync: bool) -> Res<()> {
        let pairs: Vec<(&[u8], &[u8])> = items.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
        self.commit(&pairs, sync)
    }

    fn get(&self, key: &[u8]) -> Res<Option<usize>> {
        use redb::ReadableDatabase as _;
        let tx = self.db.begin_read()?;
        let t = tx.open_table(REDB_TABLE)?;
        Ok(t.get(key)?.map(|g| g.value().len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Res<(u64, u64)> {
        use redb::ReadableDatabase as _;
        let tx = self.db.begin_read()?;
        let t = tx.open_table(REDB_TABLE)?;
        let (mut n, mut bytes) = (0u64, 0u64);
        for kv in t.range::<&[u8]>(start..)?.take(limit) {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.value().len() + v.value().len()) as u64;
        }
        Ok((n, bytes))
    }

    fn flush(&self) -> Res<()> {
        self.commit(&[], true)
    }

    fn checkpoint(&self, dir: &Path) -> Res<CheckpointHow> {
        self.flush()?;
        std::fs::create_dir_all(dir)?;
        std::fs::copy(&self.file, dir.join(REDB_FILE))?;
        std::fs::File::open(dir.join(REDB_FILE))?.sync_all()?;
        Ok(CheckpointHow::CopiedDirectory)
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.flush()?;
        drop(self);
        Ok(())
    }
}
