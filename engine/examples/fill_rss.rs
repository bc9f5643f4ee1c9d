//! Where the anonymous memory of the compare bench's write workloads goes. Runs what
//! `compare --engines strata --workloads fillrandom,readrandom,overwrite` runs (16-byte decimal
//! keys in scattered order, 100-byte values, one put per write, a flush at the end; then close,
//! reopen, `num` random gets, and `num` random overwrites) while a thread samples the process
//! every 2 ms: `RssAnon` from /proc/self/status, the memtables the database holds and their
//! charge (`strata.stats`), the block cache's charge and the number of level-0 tables. Prints,
//! per phase, the sample at the anonymous peak and what it is made of, then (with `-v`) a
//! timeline every 50 ms.
//!
//! `cargo run --release -p strata --example fill_rss -- [num] [dir] [cache MiB] [-v]` (Linux
//! only; `num` 1000000, `dir` /tmp/fill_rss, cache 64 by default).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use strata::{Db, Options};

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

const PHASES: [&str; 3] = ["fill", "reopen + gets", "overwrite"];

#[derive(Clone, Copy, Default, Debug)]
struct Sample {
    ms: u64,
    phase: usize,
    anon_kib: u64,
    mems: usize,
    mem_mib: f64,
    cache_mib: f64,
    l0: usize,
}

/// The memtables line of `strata.stats`: "memtables: N (X MB)".
fn parse_mems(stats: &str) -> (usize, f64) {
    let line = stats.lines().find(|l| l.starts_with("memtables: ")).unwrap_or("");
    let n = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    let mib = line.split('(').nth(1).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0.0);
    (n, mib)
}

fn sample(db: &Db, ms: u64, phase: usize) -> Sample {
    let (mems, mem_mib) = parse_mems(&db.property("strata.stats").unwrap_or_default());
    let num = |p: &str| db.property(p).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let cache = num("strata.block-cache-usage") + num("strata.block-cache-pinned-usage");
    Sample {
        ms,
        phase,
        anon_kib: status_kib("RssAnon:"),
        mems,
        mem_mib,
        cache_mib: cache as f64 / (1024.0 * 1024.0),
        l0: num("strata.num-files-at-level0") as usize,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v");
    let mut args = args.into_iter().filter(|a| a != "-v");
    let num: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let dir = args.next().unwrap_or_else(|| "/tmp/fill_rss".into());
    let cache_mib: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut pool = Vec::with_capacity((1 << 20) + 8);
    let mut seed = 0x5eed_u64;
    while pool.len() < 1 << 20 {
        seed += 1;
        pool.extend_from_slice(&mix(seed).to_le_bytes());
    }
    let value = |k: u64| {
        let off = (mix(k) % ((1 << 20) - 100)) as usize;
        &pool[off..off + 100]
    };
    let opts = Options { block_cache_capacity: cache_mib << 20, ..Options::default() };
    let before_open = status_kib("RssAnon:");
    let db = Arc::new(std::sync::RwLock::new(Some(Arc::new(Db::open(&dir, opts.clone())?))));
    let after_open = status_kib("RssAnon:");
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let sampler = {
        let (db, stop, phase) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&phase));
        std::thread::spawn(move || {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let d = db.read().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(d) = d {
                    out.push(sample(&d, start.elapsed().as_millis() as u64, phase.load(Ordering::Relaxed)));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            out
        })
    };
    let current = || db.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or("no database");
    let mut secs = [0.0; 3];
    // Fill.
    let t = Instant::now();
    let d = current()?;
    for i in 0..num {
        let k = mix(i) % num;
        d.put(format!("{k:016}").as_bytes(), value(k))?;
    }
    d.flush()?;
    drop(d);
    secs[0] = t.elapsed().as_secs_f64();
    // Close, reopen, random gets (they fill the block cache, as compare's readrandom does).
    phase.store(1, Ordering::Relaxed);
    let t = Instant::now();
    let mut old = db.write().unwrap_or_else(|e| e.into_inner()).take().ok_or("no database")?;
    // The sampler may hold it for a moment.
    let old = loop {
        match Arc::try_unwrap(old) {
            Ok(d) => break d,
            Err(d) => old = d,
        }
        std::thread::yield_now();
    };
    old.close()?;
    *db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Db::open(&dir, opts)?));
    let d = current()?;
    let mut found = 0u64;
    for i in 0..num {
        let k = mix(i.wrapping_mul(7919).wrapping_add(3 * num)) % num;
        found += u64::from(d.get(format!("{k:016}").as_bytes())?.is_some());
    }
    secs[1] = t.elapsed().as_secs_f64();
    // Overwrite.
    phase.store(2, Ordering::Relaxed);
    let t = Instant::now();
    for i in 0..num {
        let k = mix(i + num) % num;
        d.put(format!("{k:016}").as_bytes(), value(k + num))?;
    }
    d.flush()?;
    drop(d);
    secs[2] = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().map_err(|_| "sampler panicked")?;
    println!("anonymous memory before the open {before_open} KiB, after it {after_open} KiB; {found} of {num} found");
    for (p, name) in PHASES.iter().enumerate() {
        let Some(peak) = samples.iter().filter(|s| s.phase == p).max_by_key(|s| s.anon_kib).copied() else { continue };
        let anon = peak.anon_kib as f64 / 1024.0;
        println!(
            "{name}: {:.0} ops/s; peak anonymous {anon:.1} MiB at {} ms = memtables {:.1} MiB ({} of them) + block cache \
             {:.1} MiB + the rest {:.1} MiB; {} level-0 tables",
            num as f64 / secs[p],
            peak.ms,
            peak.mem_mib,
            peak.mems,
            peak.cache_mib,
            anon - peak.mem_mib - peak.cache_mib,
            peak.l0
        );
    }
    if verbose {
        let mut next = 0;
        for s in &samples {
            if s.ms >= next {
                println!(
                    "{:>6} ms {:<14} anon {:>6.1} MiB  memtables {} {:>5.1} MiB  cache {:>5.1} MiB  L0 {}",
                    s.ms,
                    PHASES[s.phase],
                    s.anon_kib as f64 / 1024.0,
                    s.mems,
                    s.mem_mib,
                    s.cache_mib,
                    s.l0
                );
                next = s.ms + 50;
            }
        }
    }
    Ok(())
}
