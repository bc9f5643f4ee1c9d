//! Options of one stress run, drawn from a seed, and the knobs of the workload that are not
//! engine options.
//!
//! Invariants: every option set drawn here opens any database another set wrote (no option
//! changes the on-disk format in a way a reopen rejects); recovery modes that may drop a
//! middle of the log (`SkipCorrupted`) are never drawn, since the crash checks demand a prefix.
//!
//! Thread safety: plain data.

use super::rng::Rng;
use strata::{Compression, Options, RecoveryMode};

/// Workload knobs that are not engine options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Percentage of batch/put/delete writes made with `sync: true`.
    pub sync_pct: u64,
    /// Percentage of writes followed by a read check.
    pub read_pct: u64,
}

/// The options and knobs of seed `opts_seed`.
pub fn random_options(opts_seed: u64) -> (Options, Knobs) {
    let mut r = Rng::new(opts_seed ^ 0x0F0F_0F0F);
    let opts = Options {
        write_buffer_size: *r.pick(&[16 << 10, 64 << 10, 256 << 10, 1 << 20]),
        max_write_buffers: *r.pick(&[1, 2, 3]),
        block_size: *r.pick(&[256, 1024, 4096, 16384]),
        block_restart_interval: *r.pick(&[1, 4, 16]),
        compression: if r.percent(50) { Compression::None } else { Compression::Zstd { level: 1 + r.below(3) as i32 } },
        bloom_bits_per_key: *r.pick(&[0, 4, 10]),
        block_cache_capacity: *r.pick(&[0, 64 << 10, 8 << 20]),
        level0_compaction_trigger: 2 + r.below(3) as usize,
        max_bytes_for_level_base: *r.pick(&[128 << 10, 512 << 10, 2 << 20]),
        target_file_size: *r.pick(&[32 << 10, 128 << 10, 1 << 20]),
        manifest_size_limit: *r.pick(&[4 << 10, 64 << 10, 1 << 20]),
        use_mmap_reads: r.percent(50),
        max_background_compactions: 1 + r.below(2) as usize,
        max_open_files: *r.pick(&[0, 20, 1000]),
        wal_recovery_mode: if r.percent(50) { RecoveryMode::TolerateCorruptedTail } else { RecoveryMode::PointInTime },
        ..Default::default()
    };
    let knobs = Knobs { sync_pct: *r.pick(&[5, 20, 50, 90]), read_pct: *r.pick(&[10, 30, 60]) };
    // Drawn last, so the options above stay what earlier runs' seeds gave. Small pieces make
    // the flushes of these small memtables sync in pieces at all (on a helper thread when
    // `background_flush_syncs`).
    let opts =
        Options { table_sync_bytes: *r.pick(&[2 << 20, 8 << 10]), background_flush_syncs: r.percent(50), ..opts };
    (opts, knobs)
}

/// One line describing the options, for logs and failure reports.
pub fn describe(opts: &Options, knobs: &Knobs) -> String {
    format!(
        "write_buffer={} max_write_buffers={} block={} restart={} compression={:?} bloom={} cache={} \
         l0_trigger={} l1={} target_file={} manifest_limit={} mmap={} bg_compactions={} \
         max_open_files={} recovery={:?} table_sync={} background_flush_syncs={} sync_pct={} read_pct={}",
        opts.write_buffer_size,
        opts.max_write_buffers,
        opts.block_size,
        opts.block_restart_interval,
        opts.compression,
        opts.bloom_bits_per_key,
        opts.block_cache_capacity,
        opts.level0_compaction_trigger,
        opts.max_bytes_for_level_base,
        opts.target_file_size,
        opts.manifest_size_limit,
        opts.use_mmap_reads,
        opts.max_background_compactions,
        opts.max_open_files,
        opts.wal_recovery_mode,
        opts.table_sync_bytes,
        opts.background_flush_syncs,
        knobs.sync_pct,
        knobs.read_pct
    )
}
