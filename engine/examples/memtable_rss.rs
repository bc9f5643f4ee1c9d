//! Memory of one memtable per entry, measured: inserts N entries (16-byte keys, 100-byte values)
//! and prints the growth of the process's resident set
//! (VmRSS in /proc/self/status, Linux only) divided by N, next to the charge
//! (`approximate_size / N`), the bytes `write_buffer_size` counts, and the time per insert (mean
//! and slowest; noisy on a shared machine), then the time per point lookup of a present key.
//!
//! Keys: `random` (default: 8 scattered bytes then the index, big-endian), `ascending` (the index
//! big-endian), or `decimal` (db_bench's and the compare bench's: a scattered number as 16
//! zero-padded decimal digits, so every key starts with the same bytes).
//!
//! Run one size per process (memory freed by a previous memtable would be reused and hide the
//! growth): `cargo run --release -p strata --example memtable_rss -- 460000 [random|ascending|decimal]`.

use std::time::Instant;
use strata::memtable::MemTable;
use strata_base::ikey::{SEQ_MAX, ValueKind};

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Key `i` in the given mode (see the module doc).
fn key_of(mode: &str, i: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    match mode {
        "decimal" => key.copy_from_slice(format!("{:016}", mix(i) % 10_000_000_000_000_000).as_bytes()),
        "ascending" => key[8..].copy_from_slice(&i.to_be_bytes()),
        _ => {
            key[..8].copy_from_slice(&mix(i).to_be_bytes());
            key[8..].copy_from_slice(&i.to_be_bytes());
        }
    }
    key
}

/// Resident set in KiB, from /proc/self/status.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(460_000), |a| a.parse())?;
    let mode = args.next().unwrap_or_else(|| "random".to_string());
    let value = [7u8; 100];
    let m = MemTable::new();
    let before = rss_kib().ok_or("no VmRSS in /proc/self/status")?;
    let start = Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..n {
        let key = key_of(&mode, i);
        let t = Instant::now();
        m.add(i + 1, ValueKind::Put, &key, &value);
        slowest = slowest.max(t.elapsed());
    }
    let elapsed = start.elapsed();
    let after = rss_kib().ok_or("no VmRSS in /proc/self/status")?;
    let grown = (after.saturating_sub(before) * 1024) as f64;
    println!(
        "entries {n} ({mode}): rss growth {:.1} B/entry, charge {:.1} B/entry, {:.0} entries per 64 MiB charged, insert {:.0} ns/entry, slowest insert {:.1} us",
        grown / n as f64,
        m.approximate_size() as f64 / n as f64,
        (64u64 << 20) as f64 / (m.approximate_size() as f64 / n as f64),
        elapsed.as_nanos() as f64 / n as f64,
        slowest.as_secs_f64() * 1e6,
    );
    assert_eq!(m.len() as u64, n);
    // Point lookups of present keys in scattered order (after the RSS reading).
    let start = Instant::now();
    let mut found = 0u64;
    for j in 0..n {
        let i = mix(j ^ 0x5555) % n;
        let key = key_of(&mode, i);
        found += u64::from(m.get(&key, SEQ_MAX).is_some());
    }
    println!("  get of a present key: {:.0} ns", start.elapsed().as_nanos() as f64 / n as f64);
    assert_eq!(found, n);
    Ok(())
}
