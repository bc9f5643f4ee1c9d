//! Where the anonymous memory of a random fill goes: fills a database as the compare bench's
//! `fillrandom` does (16-byte decimal keys in scattered order, 100-byte values, one put per
//! write, then a flush) while a thread samples the process every 2 ms: `RssAnon` from
//! /proc/self/status, the memtables the database holds (`strata.stats`), and every 20 ms the
//! resident anonymous memory by mapping kind from /proc/self/smaps (glibc's main heap, other
//! anonymous maps: memtable chunks, other threads' malloc arenas, stacks). Prints the sample at
//! the peak and a timeline.
//!
//! `cargo run --release -p strata --example fill_rss -- [num] [dir] [cache MiB]` (Linux only).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strata::{Db, Options};

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// Resident KiB of glibc's main heap (`[heap]`), of other anonymous maps, and their count.
fn smaps_kib() -> (u64, u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let (mut heap, mut other, mut big, mut maps) = (0, 0, 0, 0);
    let mut kind = 0; // 0 file, 1 heap, 2 other anonymous
    let mut size = 0u64;
    for l in s.lines() {
        let mut f = l.split_whitespace();
        let first = f.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let _perms = f.next();
            let _off = f.next();
            let _dev = f.next();
            let inode = f.next().unwrap_or("0");
            let name = f.next().unwrap_or("");
            kind = if name == "[heap]" {
                1
            } else if inode == "0" && (name.is_empty() || name.starts_with("[anon") || name == "[stack]") {
                maps += 1;
                2
            } else {
                0
            };
            let (a, b) = first.split_once('-').unwrap_or(("0", "0"));
            size = u64::from_str_radix(b, 16).unwrap_or(0).saturating_sub(u64::from_str_radix(a, 16).unwrap_or(0));
        } else if first == "Rss:" {
            let kb: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match kind {
                1 => heap += kb,
                2 if size >= 60 << 20 => big += kb,
                2 => other += kb,
                _ => {}
            }
        }
    }
    (heap, other, big, maps)
}

#[derive(Clone, Copy, Default, Debug)]
struct Sample {
    ms: u64,
    anon_kib: u64,
    mems: usize,
    mem_mb: f64,
    l0: usize,
    heap_kib: u64,
    maps_kib: u64,
    arenas_kib: u64,
    maps: u64,
}

fn parse_mems(stats: &str) -> (usize, f64) {
    let line = stats.lines().find(|l| l.starts_with("memtables: ")).unwrap_or("");
    let n = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    let mb = line.split('(').nth(1).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0.0);
    (n, mb)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let num: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let dir = args.next().unwrap_or_else(|| "/tmp/fill_rss".into());
    let cache_mb: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut pool = Vec::with_capacity((1 << 20) + 8);
    let mut seed = 0x5eed_u64;
    while pool.len() < 1 << 20 {
        seed += 1;
        pool.extend_from_slice(&mix(seed).to_le_bytes());
    }
    let live = vec![false; num as usize];
    let db = Arc::new(Db::open(&dir, Options { block_cache_capacity: cache_mb << 20, ..Options::default() })?);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let sampler = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut last = (0, 0, 0, 0);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if i.is_multiple_of(10) {
                    last = smaps_kib();
                }
                i += 1;
                let (mems, mem_mb) = parse_mems(&db.property("strata.stats").unwrap_or_default());
                let l0 = db.property("strata.num-files-at-level0").and_then(|v| v.parse().ok()).unwrap_or(0);
                out.push(Sample {
                    ms: start.elapsed().as_millis() as u64,
                    anon_kib: status_kib("RssAnon:"),
                    mems,
                    mem_mb,
                    l0,
                    heap_kib: last.0,
                    maps_kib: last.1,
                    arenas_kib: last.2,
                    maps: last.3,
                });
                std::thread::sleep(Duration::from_millis(2));
            }
            out
        })
    };
    let t = Instant::now();
    for i in 0..num {
        let k = mix(i) % num;
        let key = format!("{k:016}");
        let off = (mix(k) % ((1 << 20) - 100)) as usize;
        db.put(key.as_bytes(), &pool[off..off + 100])?;
    }
    db.flush()?;
    let secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().map_err(|_| "sampler panicked")?;
    std::hint::black_box(&live);
    let peak = samples.iter().max_by_key(|s| s.anon_kib).copied().unwrap_or_default();
    println!("{num} puts in {secs:.2} s ({:.0}/s); VmHWM {} KiB", num as f64 / secs, status_kib("VmHWM:"));
    println!("peak: {peak:?}");
    let mut next = 0;
    for s in &samples {
        if s.ms >= next || s.ms == peak.ms {
            println!(
                "{:>6} ms anon {:>7} KiB  mems {} {:>6.1} MB  L0 {:>2}  heap {:>7} anon-maps {:>7} 64M-arenas {:>7} ({} maps)",
                s.ms, s.anon_kib, s.mems, s.mem_mb, s.l0, s.heap_kib, s.maps_kib, s.arenas_kib, s.maps
            );
            next = s.ms + 50;
        }
    }
    Ok(())
}
