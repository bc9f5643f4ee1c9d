//! `Db::property`: human- and machine-readable statistics.

use crate::state::DbInner;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(crate) fn property(inner: &DbInner, name: &str) -> Option<String> {
    let rs = inner.read_state();
    let default = rs.version.cf(crate::cf::DEFAULT_CF_ID);
    if let Some(n) = name.strip_prefix("strata.num-files-at-level") {
        let level: usize = n.parse().ok()?;
        return Some(default.and_then(|c| c.levels.get(level)).map_or(0, |l| l.len()).to_string());
    }
    match name {
        "strata.estimate-num-keys" => {
            let cf = rs.cfs.get(&crate::cf::DEFAULT_CF_ID)?;
            let mem: usize = cf.mems.iter().map(|m| m.len()).sum();
            let mut tables = 0u64;
            if let Some(c) = default {
                for f in c.levels.iter().flatten() {
                    if let Ok(t) = inner.table_cache.get(f.number) {
                        tables += t.properties().num_entries;
                    }
                }
            }
            Some((mem as u64 + tables).to_string())
        }
        "strata.total-sst-bytes" => {
            let total: u64 = rs.version.cfs().flat_map(|c| c.levels.iter().flatten()).map(|f| f.size).sum();
            Some(total.to_string())
        }
        "strata.write-amplification" => Some(format!("{:.3}", inner.stats.write_amplification())),
        "strata.stats" => Some(stats(inner, &rs)),
        "strata.recovery" => Some(inner.recovery.to_string()),
        "strata.open-tables" => Some(inner.table_cache.len().to_string()),
        "strata.block-cache-usage" => Some(inner.table_cache.block_cache().map_or(0, |c| c.usage()).to_string()),
        "strata.block-cache-pinned-usage" => {
            Some(inner.table_cache.block_cache().map_or(0, |c| c.reserved()).to_string())
        }
        _ => None,
    }
}

fn stats(inner: &DbInner, rs: &crate::state::ReadState) -> String {
    let s = &inner.stats;
    let mut out = String::new();
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    for cf in rs.version.cfs() {
        let _ = writeln!(out, "** column family {} (id {}) **", cf.name, cf.id);
        let _ = writeln!(out, "level  files   size(MB)");
        for (level, files) in cf.levels.iter().enumerate() {
            let _ = writeln!(out, "L{level:<5}{:>6}{:>11.1}", files.len(), mb(cf.level_size_bytes(level)));
        }
        if let Some(c) = rs.cfs.get(&cf.id) {
            let mem: usize = c.mems.iter().map(|m| m.approximate_size()).sum();
            let _ = writeln!(out, "memtables: {} ({:.1} MB)", c.mems.len(), mb(mem as u64));
        }
    }
    let _ = writeln!(out, "** flushes and compactions, all column families, by output level **");
    let _ = writeln!(out, "level  read(MB)  written(MB)  compactions  trivial-moves");
    for level in 0..strata_manifest::NUM_LEVELS {
        let ls = s.level(level);
        let _ = writeln!(
            out,
            "L{level:<5}{:>9.1}{:>13.1}{:>13}{:>15}",
            mb(ls.bytes_read.load(Ordering::Relaxed)),
            mb(ls.bytes_written.load(Ordering::Relaxed)),
            ls.compactions.load(Ordering::Relaxed),
            ls.trivial_moves.load(Ordering::Relaxed),
        );
    }
    let _ = writeln!(
        out,
        "user writes: {} batches, {:.1} MB; flushed {:.1} MB ({} entries, {} shadowed versions left out); \
         write amplification {:.2}",
        s.writes.load(Ordering::Relaxed),
        mb(s.user_bytes_written.load(Ordering::Relaxed)),
        mb(s.flush_bytes_written.load(Ordering::Relaxed)),
        s.flush_entries_written.load(Ordering::Relaxed),
        s.flush_entries_dropped.load(Ordering::Relaxed),
        s.write_amplification()
    );
    let _ = writeln!(
        out,
        "wal: {:.1} MB appended, {} synced commits",
        mb(s.wal_bytes_written.load(Ordering::Relaxed)),
        s.wal_syncs.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "{}", memory_line(inner, rs));
    let _ = writeln!(
        out,
        "stalls: {} events, slowdown {:.3} s, stopped {:.3} s",
        s.stall_events.load(Ordering::Relaxed),
        s.stall_slowdown_micros.load(Ordering::Relaxed) as f64 / 1e6,
        s.stall_stop_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(out, "snapshots: {}; last sequence {}", inner.snapshots.len(), inner.last_sequence());
    if let Some(cache) = inner.table_cache.block_cache() {
        let _ = writeln!(
            out,
            "block cache: {:.1} MB used by data blocks, {:.1} MB charged for index and filter blocks, {} hits, \
             {} misses",
            mb(cache.usage() as u64),
            mb(cache.reserved() as u64),
            cache.hits(),
            cache.misses()
        );
    }
    // What went wrong, without reading logs: the background error that stopped writes, and
    // what the open had to recover.
    match inner.bg.error.lock().as_ref() {
        Some(e) => {
            let _ = writeln!(out, "background error: {e} (writes refused until reopen)");
        }
        None => {
            let _ = writeln!(out, "background error: none");
        }
    }
    let r = &inner.recovery;
    let _ = writeln!(
        out,
        "recovery at open: wal files replayed {}, torn tails dropped {}, CURRENT recovered {}",
        r.wals_replayed,
        usize::from(r.wal_tail_dropped.is_some()) + usize::from(r.manifest_tail_dropped_at.is_some()),
        if r.current_recovered.is_some() { "yes" } else { "no" }
    );
    if r.current_recovered.is_some() || !r.unrecognised_files.is_empty() {
        let _ = writeln!(out, "** recovery at open (strata.recovery) **");
        let _ = write!(out, "{r}");
    }
    out
}

/// The memory budget line of `strata.stats`: what Strata holds on purpose, against the bound
/// the options set (heap fragmentation, iterators' pinned blocks and the allocator's own
/// overhead come on top; docs/performance.md, "Memory"). With a block cache, the open tables'
/// index and filter blocks are charged to its capacity (`BlockCache::reserve`), so the bound is
/// the memtables' limit per column family plus the cache's capacity.
fn memory_line(inner: &DbInner, rs: &crate::state::ReadState) -> String {
    let mb = |b: usize| b as f64 / (1024.0 * 1024.0);
    let mems: usize = rs.cfs.values().flat_map(|c| c.mems.iter()).map(|m| m.approximate_size()).sum();
    let mem_limit = inner.opts.write_buffer_size.saturating_mul(inner.opts.max_write_buffers + 1);
    let families = rs.cfs.len().max(1);
    let open = inner.table_cache.len();
    match inner.table_cache.block_cache() {
        Some(cache) => {
            let (blocks, pinned) = (cache.usage(), cache.reserved());
            format!(
                "memory: {:.1} MB of a {:.1} MB budget = memtables {:.1} MB (limit {:.1} MB per family, {families} \
                 families) + block cache {:.1} MB (capacity {:.1} MB: data blocks {:.1} MB + index and filter blocks \
                 of {open} open tables {:.1} MB)",
                mb(mems + blocks + pinned),
                mb(mem_limit.saturating_mul(families).saturating_add(inner.opts.block_cache_capacity)),
                mb(mems),
                mb(mem_limit),
                mb(blocks + pinned),
                mb(inner.opts.block_cache_capacity),
                mb(blocks),
                mb(pinned)
            )
        }
        None => {
            let pinned = inner.table_cache.pinned_bytes();
            format!(
                "memory: {:.1} MB = memtables {:.1} MB (limit {:.1} MB per family, {families} families) + no block \
                 cache + index and filter blocks of {open} open tables {:.1} MB (bounded by max_open_files)",
                mb(mems + pinned),
                mb(mems),
                mb(mem_limit),
                mb(pinned)
            )
        }
    }
}
