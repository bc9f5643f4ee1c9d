//! Options for opening a database, writing and reading, with documented defaults.

use crate::snapshot::Snapshot;
use std::fmt;
use std::sync::Arc;
use strata_base::FileSystem;
pub use strata_sst::Compression;
pub use strata_wal::RecoveryMode;

/// How a database is opened and tuned. Every field is public and has a default that suits a
/// general workload on a small machine.
#[derive(Clone)]
pub struct Options {
    /// Create the directory and an empty database when missing. Default `true`.
    pub create_if_missing: bool,
    /// Fail with `AlreadyExists` if a database is already there. Default `false`.
    pub error_if_exists: bool,
    /// Memory a memtable may use before it becomes immutable and a new one takes writes,
    /// as charged by `MemTable::approximate_size` (keys, values and
    /// `memtable::ENTRY_OVERHEAD_BYTES` per entry: 139 bytes for a 16-byte key and a 100-byte
    /// value, measured). Default 64 MiB, as in RocksDB, whose skip list holds about 5% fewer such
    /// entries in it.
    pub write_buffer_size: usize,
    /// Immutable memtable generations allowed to wait for a flush before writers stop.
    /// Default 2.
    pub max_write_buffers: usize,
    /// Target size of a data block before compression. Default 4 KiB.
    pub block_size: usize,
    /// Entries between restart points in a data block. Default 16.
    pub block_restart_interval: usize,
    /// Block compression for tables above the bottom level (flushes, compactions into any
    /// level with data below it). Default none.
    pub compression: Compression,
    /// Block compression for tables written to the bottommost level (compaction outputs with
    /// no data below them, and `SstFileWriter` tables, which ingestion places at the bottom
    /// when they overlap nothing); `None` means `compression`. Each block records its codec,
    /// so changing either never affects reading existing tables. Default `None`.
    pub bottommost_compression: Option<Compression>,
    /// Bloom filter bits per key; 0 disables filters. Default 10 (about 1% false positives).
    pub bloom_bits_per_key: u32,
    /// Bytes the shared block cache may hold: decompressed data blocks, plus the index and
    /// filter blocks of every open table, which are charged to it while the table is open
    /// (RocksDB's `cache_index_and_filter_blocks` with those blocks pinned) and evict data
    /// blocks to make room. Each cached block is charged its length plus its bookkeeping
    /// (`strata_sst::BlockCache::ENTRY_OVERHEAD`, measured), so the cache's real footprint stays
    /// within this. Index and filter blocks displace data blocks from at most half of it (as
    /// RocksDB's high-priority pool): if the open tables' index and filter blocks outgrow half
    /// the capacity, the excess is held on top of it (raise the capacity or lower
    /// `max_open_files` then). 0 disables the cache (index and filter blocks are then held
    /// beside it, bounded by `max_open_files`). Default 64 MiB.
    ///
    /// Strata's memory budget is `write_buffer_size * (max_write_buffers + 1)` per column
    /// family plus this; `strata.stats` prints it on its `memory:` line (docs/performance.md,
    /// "Memory", has what is outside it).
    pub block_cache_capacity: usize,
    /// Number of L0 tables that triggers an L0 -> L1 compaction. Default 4.
    pub level0_compaction_trigger: usize,
    /// Number of L0 tables at which each write is delayed. Default 20.
    pub level0_slowdown_writes_trigger: usize,
    /// Number of L0 tables at which writes stop until compaction catches up. Default 36.
    pub level0_stop_writes_trigger: usize,
    /// Target size of L1; level N targets `base * multiplier^(N-1)`. Default 256 MiB.
    pub max_bytes_for_level_base: u64,
    /// Growth factor between levels. Default 10.
    pub max_bytes_for_level_multiplier: u64,
    /// Compaction outputs are split at about this size. Default 64 MiB.
    pub target_file_size: u64,
    /// How damage in the write-ahead log is handled on open. Default `TolerateCorruptedTail`.
    /// Within one WAL the mode acts as [`RecoveryMode`] says. Across WALs (a crash can tear an
    /// earlier WAL, which is not synced unless a synced write needed it): a tear proved by the
    /// next WAL's header ends the history there with `TolerateCorruptedTail` and `PointInTime`
    /// (later WALs discarded, `RecoveryReport::wal_history_cut`), is `Corruption` with
    /// `AbsoluteConsistency`, and is skipped over with `SkipCorrupted`; damage to bytes the header
    /// recorded is `Corruption` except with `PointInTime` (stop) and `SkipCorrupted` (go on).
    /// The full table: docs/format/wal.md, "Recovery across WALs".
    pub wal_recovery_mode: RecoveryMode,
    /// The manifest is rewritten as one snapshot edit when it passes this size. Default 64 MiB.
    pub manifest_size_limit: u64,
    /// Read tables through memory maps instead of `pread`. Default `false`.
    pub use_mmap_reads: bool,
    /// The file system all I/O goes through. Default: the operating system's.
    pub fs: Option<Arc<dyn FileSystem>>,
    /// Disable background compactions (flushes still run). Default `false`.
    pub disable_auto_compactions: bool,
    /// Background compactions that may run at once, on files the others are not compacting
    /// (an L0->L1 compaction beside deeper ones). Default 1: on the 2-core machine the
    /// benchmarks run on, a second compaction thread lowered fillrandom throughput to 0.74x
    /// (docs/performance.md, "Parallel compactions"); raise it on machines with more cores.
    /// At most [`MAX_BACKGROUND_COMPACTIONS_LIMIT`].
    pub max_background_compactions: usize,
    /// Tables kept open at once (file descriptors, and maps with `use_mmap_reads`); past it the
    /// least recently used table is closed and reopened on its next use. 0 means no limit.
    /// Default 1000 (LevelDB's). A read-only database keeps every table open regardless, so a
    /// writer beside it cannot delete one from under it.
    pub max_open_files: usize,
    /// Tables written by flushes and compactions are synced in pieces of about this many bytes
    /// while they are written, each through the database's I/O gate, which a checkpoint (and an
    /// ingestion that links) closes for its own syncs ([`Db::io_gate`](crate::Db::io_gate)): a checkpoint's fsyncs then wait
    /// for at most one piece, not a whole table. The table is still synced completely before
    /// its manifest edit is installed. 0 syncs each table once, when it is finished (no gate).
    /// Default 2 MiB: with it the slowest of 11 checkpoints stayed within about 3x the median
    /// at 1 and 4 GiB (32 MiB: up to 9.6x). Each piece's sync also writes the file's inode
    /// (4 KiB), and with 1 MiB pieces the bytes written already exceeded RocksDB's
    /// (docs/performance.md, "Checkpoints").
    pub table_sync_bytes: u64,
    /// A flush syncs each piece of its table (`table_sync_bytes`) on a helper thread while it
    /// writes the next one, at most one at a time, each still through the I/O gate, where the
    /// file system offers a second handle to the file (the real one does); `finish` waits for
    /// it, so a table is still durable whole before it is installed. The flush ends sooner, so
    /// its memtable is freed sooner and a bulk load goes faster: the fill's peak memory drops by
    /// about 4 MiB (anonymous memory with 64 MiB memtables: 75-79 against 79-82 MiB over five
    /// alternating rounds) and a 1 GiB load of 4 KiB values took about 5% less time. The cost:
    /// the first checkpoint right after such a load waited longer at 1 GiB (the slowest of 11
    /// was higher in 10 of 14 alternating pairs, median 9.0 against 6.7 ms; within 2x its
    /// median as often either way: 5 and 6 of 14). While one piece syncs the next is written, so a sync may carry up
    /// to about two pieces. No effect with `table_sync_bytes: 0`. Compactions always sync their
    /// own pieces. Default `true` since session 31 (`false` before); docs/performance.md, "Table
    /// syncs in the background".
    pub background_flush_syncs: bool,
}

/// The largest accepted [`Options::max_background_compactions`].
pub const MAX_BACKGROUND_COMPACTIONS_LIMIT: usize = 16;

impl Default for Options {
    fn default() -> Self {
        Self {
            create_if_missing: true,
            error_if_exists: false,
            write_buffer_size: 64 << 20,
            max_write_buffers: 2,
            block_size: 4096,
            block_restart_interval: 16,
            compression: Compression::None,
            bottommost_compression: None,
            bloom_bits_per_key: 10,
            block_cache_capacity: 64 << 20,
            level0_compaction_trigger: 4,
            level0_slowdown_writes_trigger: 20,
            level0_stop_writes_trigger: 36,
            max_bytes_for_level_base: 256 << 20,
            max_bytes_for_level_multiplier: 10,
            target_file_size: 64 << 20,
            wal_recovery_mode: RecoveryMode::TolerateCorruptedTail,
            manifest_size_limit: 64 << 20,
            use_mmap_reads: false,
            fs: None,
            disable_auto_compactions: false,
            max_background_compactions: 1,
            max_open_files: 1000,
            table_sync_bytes: 2 << 20,
            background_flush_syncs: true,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("create_if_missing", &self.create_if_missing)
            .field("error_if_exists", &self.error_if_exists)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("max_write_buffers", &self.max_write_buffers)
            .field("block_size", &self.block_size)
            .field("compression", &self.compression)
            .field("bottommost_compression", &self.bottommost_compression)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("block_cache_capacity", &self.block_cache_capacity)
            .field("level0_compaction_trigger", &self.level0_compaction_trigger)
            .field("max_bytes_for_level_base", &self.max_bytes_for_level_base)
            .field("target_file_size", &self.target_file_size)
            .field("wal_recovery_mode", &self.wal_recovery_mode)
            .field("custom_fs", &self.fs.is_some())
            .field("table_sync_bytes", &self.table_sync_bytes)
            .field("background_flush_syncs", &self.background_flush_syncs)
            .finish_non_exhaustive()
    }
}

impl Options {
    pub(crate) fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::InvalidArgument(m.to_string()));
        if self.write_buffer_size < 4096 {
            return bad("write_buffer_size must be at least 4096 bytes");
        }
        if self.max_write_buffers == 0 {
            return bad("max_write_buffers must be at least 1");
        }
        if self.block_size == 0 || self.block_restart_interval == 0 {
            return bad("block_size and block_restart_interval must be positive");
        }
        if self.level0_compaction_trigger == 0 {
            return bad("level0_compaction_trigger must be positive");
        }
        if self.level0_slowdown_writes_trigger < self.level0_compaction_trigger
            || self.level0_stop_writes_trigger < self.level0_slowdown_writes_trigger
        {
            return bad(
                "need level0_compaction_trigger <= level0_slowdown_writes_trigger <= level0_stop_writes_trigger",
            );
        }
        if self.max_bytes_for_level_multiplier < 2 || self.target_file_size == 0 || self.max_bytes_for_level_base == 0 {
            return bad("level sizes must be positive and the multiplier at least 2");
        }
        if self.max_background_compactions == 0 || self.max_background_compactions > MAX_BACKGROUND_COMPACTIONS_LIMIT {
            return bad("max_background_compactions must be between 1 and MAX_BACKGROUND_COMPACTIONS_LIMIT (16)");
        }
        Ok(())
    }
}

/// Options for one write.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Fsync the WAL before the write returns; the write then survives power loss.
    pub sync: bool,
    /// Skip the WAL: the write is lost on a crash unless a flush made it durable first.
    pub disable_wal: bool,
}

/// Options for reads and iterators.
#[derive(Debug, Clone)]
pub struct ReadOptions<'a> {
    /// Read as of this snapshot instead of the latest state.
    pub snapshot: Option<&'a Snapshot>,
    /// Iterators: the smallest user key returned (inclusive).
    pub lower_bound: Option<Vec<u8>>,
    /// Iterators: the first user key not returned (exclusive).
    pub upper_bound: Option<Vec<u8>>,
    /// Iterators: add the table blocks read to the block cache. Default `true`; a scan that
    /// reads much data once (an export, a full count) sets `false` so it does not evict the
    /// blocks point reads keep hot. Compactions never fill the cache.
    pub fill_cache: bool,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        Self { snapshot: None, lower_bound: None, upper_bound: None, fill_cache: true }
    }
}
