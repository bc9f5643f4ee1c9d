//! Counters behind `Db::property`: compaction bytes per level, stalls, user bytes.
//!
//! Thread safety: relaxed atomics; figures are approximate while work is running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct LevelStats {
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) trivial_moves: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) levels: [LevelStats; strata_manifest::NUM_LEVELS],
    pub(crate) user_bytes_written: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) flush_bytes_written: AtomicU64,
    /// Entries flushes wrote, and older versions they left out (shadowed in their memtable).
    pub(crate) flush_entries_written: AtomicU64,
    pub(crate) flush_entries_dropped: AtomicU64,
    /// Bytes appended to WALs (record framing included) and WAL syncs asked by writers.
    pub(crate) wal_bytes_written: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) stall_slowdown_micros: AtomicU64,
    pub(crate) stall_stop_micros: AtomicU64,
    pub(crate) stall_events: AtomicU64,
}

impl Stats {
    pub(crate) fn level(&self, level: usize) -> &LevelStats {
        let last = self.levels.len() - 1;
        &self.levels[level.min(last)]
    }

    pub(crate) fn add_stall(&self, d: Duration, stop: bool) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let slot = if stop { &self.stall_stop_micros } else { &self.stall_slowdown_micros };
        slot.fetch_add(us, Ordering::Relaxed);
        self.stall_events.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes written to tables (flushes and compactions) over bytes users wrote.
    pub(crate) fn write_amplification(&self) -> f64 {
        let user = self.user_bytes_written.load(Ordering::Relaxed);
        if user == 0 {
            return 0.0;
        }
        let written: u64 = self.levels.iter().map(|l| l.bytes_written.load(Ordering::Relaxed)).sum();
        written as f64 / user as f64
    }
}
