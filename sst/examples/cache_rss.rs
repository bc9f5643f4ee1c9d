//! Measures what a full block cache really costs: fills a 64 MiB `BlockCache` with 4.1-4.3 KiB
//! blocks made the way the read path makes them (a view of the buffer the block and its 5-byte
//! trailer were read into) and compares the growth of the anonymous resident set with the
//! cache's charged usage. `BlockCache::ENTRY_OVERHEAD` is set from this (Linux only):
//!
//!     cargo run --release -p strata-sst --example cache_rss

use bytes::Bytes;
use strata_sst::BlockCache;

/// `RssAnon` of this process in bytes (0 where `/proc` is missing).
fn anon_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("RssAnon:")).map(|v| v.trim().trim_end_matches("kB").trim());
    kb.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

fn main() -> Result<(), strata_sst::Error> {
    let capacity: usize = 64 << 20;
    let cache = BlockCache::new(capacity);
    let before = anon_rss();
    let mut lens = 0u64;
    for i in 0..200_000u64 {
        let len = 4096 + (i as usize * 37) % 200;
        // A block ends with its restart array: one restart point at 0, a count of 1.
        let mut read = vec![1u8; len + 5];
        read[len - 8..len].copy_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        cache.insert(i % 5, i, Bytes::from(read).slice(..len))?;
        lens += len as u64;
    }
    let grown = anon_rss().saturating_sub(before);
    let usage = cache.usage();
    let mean_len = lens as f64 / 200_000.0;
    let entries = usage as f64 / (mean_len + BlockCache::ENTRY_OVERHEAD as f64);
    println!(
        "capacity {capacity}, charged usage {usage}, RssAnon growth {grown} ({:.3}x the usage); about {entries:.0} \
         entries, {:.0} bytes per entry beyond its charge (ENTRY_OVERHEAD {})",
        grown as f64 / usage as f64,
        (grown as f64 - usage as f64) / entries,
        BlockCache::ENTRY_OVERHEAD
    );
    Ok(())
}
