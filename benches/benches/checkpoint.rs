//! Checkpoint benchmark: the cost of `Checkpoint::create` with hard links and with copies on
//! databases of about 256 MiB and 1 GiB (4 GiB with `STRATA_BENCH_LARGE=1`), and the write
//! throughput of one writer thread without and with a checkpoint every second.
//!
//! Run: `cargo bench -p strata-benches --bench checkpoint`
//!
//! Environment: `STRATA_BENCH_LARGE=1` adds the 4 GiB database; `STRATA_BENCH_SIZES_MIB=64,128`
//! replaces the sizes (smoke runs); `STRATA_BENCH_DIR` is where databases go (default: a
//! temporary directory under the system's; an empty `STRATA_BENCH_SIZES_MIB=` skips the sizes and
//! measures the writer only); `STRATA_BENCH_WRITE_SECS` (default 5) is the length of each
//! throughput phase and `STRATA_BENCH_WRITE_ROUNDS` (default 3) the number of rounds: each round
//! runs the writer alone, with a flushing checkpoint every second and with a WAL-copying one
//! (`flush: false`), in an order that rotates from round to round, and prints the ratios of that
//! round, so a load change between phases shows as disagreement between rounds.
//!
//! Databases are filled fillrandom-style (16-byte keys, 1000-byte values, batches of 100 with
//! the WAL off), flushed and compacted until no compaction is pending, so the file set is stable
//! while `create` is timed. Each timed `create` goes into a fresh directory that is removed
//! (untimed) afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use strata::{Db, Options, WriteBatch, WriteOptions};
use strata_checkpoint::{Checkpoint, CheckpointOptions};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 1000;
const BATCH: u64 = 100;
const LINK_ITERATIONS: usize = 50;

type Res<T> = Result<T, Box<dyn Error>>;

use strata_benches::{mix, scattered_key as key};

fn value(i: u64, buf: &mut [u8; VALUE_LEN]) {
    let mut x = mix(i ^ 0x5555);
    for chunk in buf.chunks_mut(8) {
        x = mix(x);
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn count_tables(dir: &Path) -> Res<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        if e?.file_name().to_string_lossy().ends_with(".sst") {
            n += 1;
        }
    }
    Ok(n)
}

/// Fills `dir` with about `mib` MiB of user data, flushed and compacted.
fn fill(dir: &Path, mib: u64) -> Res<Db> {
    let db = Db::open(dir, Options::default())?;
    let entries = (mib << 20) / (KEY_LEN + VALUE_LEN) as u64;
    let wo = WriteOptions { disable_wal: true, ..Default::default() };
    let mut v = [0u8; VALUE_LEN];
    let mut i = 0;
    while i < entries {
        let mut b = WriteBatch::new();
        for j in i..(i + BATCH).min(entries) {
            value(j, &mut v);
            b.put(key(j), v);
        }
        db.write(b, &wo)?;
        i += BATCH;
    }
    db.flush()?;
    db.wait_for_compactions()?;
    Ok(db)
}

/// Times `create` `iterations` times into fresh directories under `scratch`; milliseconds.
fn time_create(db: &Db, scratch: &Path, copy_files: bool, iterations: usize) -> Res<Vec<f64>> {
    let opts = CheckpointOptions { copy_files, ..Default::default() };
    let mut ms = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let dir = scratch.join(format!("cp-{}-{i}", if copy_files { "copy" } else { "link" }));
        let t = Instant::now();
        let info = Checkpoint::new(db).options(opts.clone()).create(&dir)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        if copy_files {
            assert_eq!(info.linked_files, 0);
        } else {
            assert_eq!(info.copied_files, 0, "nothing to copy after a flush: {info:?}");
        }
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(ms)
}

/// Writes from one thread for `secs`; with `checkpoint_every`, the main thread takes a
/// checkpoint that often (deleting the previous one). Returns (writes/s, checkpoints taken).
fn write_phase(dir: &Path, secs: u64, checkpoint_every: Option<(Duration, bool)>) -> Res<(f64, usize)> {
    let db = Arc::new(Db::open(dir.join("db"), Options::default())?);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, count) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&count));
        std::thread::spawn(move || -> strata::Result<()> {
            let mut v = [0u8; VALUE_LEN];
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                value(i, &mut v);
                db.put(key(i), v)?;
                i += 1;
                count.store(i, Ordering::Relaxed);
            }
            Ok(())
        })
    };
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut taken = 0;
    let mut previous: Option<std::path::PathBuf> = None;
    while Instant::now() < end {
        match checkpoint_every {
            Some((every, flush)) => {
                let next = start + every * (taken as u32 + 1);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                if Instant::now() >= end {
                    break;
                }
                let cp = dir.join(format!("cp{taken}"));
                Checkpoint::new(&db).options(CheckpointOptions { flush, ..Default::default() }).create(&cp)?;
                if let Some(p) = previous.replace(cp) {
                    std::fs::remove_dir_all(p)?;
                }
                taken += 1;
            }
            None => std::thread::sleep(end.saturating_duration_since(Instant::now())),
        }
    }
    let writes = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    writer.join().map_err(|_| "writer thread panicked")??;
    Ok((writes as f64 / elapsed, taken))
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; this harness has no options of its own.
    let large = std::env::var("STRATA_BENCH_LARGE").is_ok_and(|v| v == "1");
    let sizes: Vec<u64> = match std::env::var("STRATA_BENCH_SIZES_MIB") {
        Ok(s) => s.split(',').filter(|x| !x.trim().is_empty()).map(|x| x.trim().parse()).collect::<Result<_, _>>()?,
        Err(_) if large => vec![256, 1024, 4096],
        Err(_) => vec![256, 1024],
    };
    let write_secs: u64 = std::env::var("STRATA_BENCH_WRITE_SECS").ok().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let base = match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let started = Instant::now();
    println!("checkpoint benchmark in {} (load average at start: {})", base.path().display(), load());
    println!(
        "{:>9} {:>7} {:>10} {:>12} {:>11} {:>12} {:>11} {:>10}",
        "db", "tables", "fill s", "link ms", "link ms/f", "copy ms", "copy ms/f", "copy/link"
    );
    for &mib in &sizes {
        let dir = base.path().join(format!("db-{mib}"));
        let t = Instant::now();
        let db = fill(&dir, mib)?;
        let fill_s = t.elapsed().as_secs_f64();
        let tables = count_tables(&dir)?;
        let scratch = base.path().join("scratch");
        std::fs::create_dir_all(&scratch)?;
        let link = median(&mut time_create(&db, &scratch, false, LINK_ITERATIONS)?);
        let copy_iterations = match mib {
            0..=512 => 3,
            513..=2048 => 2,
            _ => 1,
        };
        let copy = median(&mut time_create(&db, &scratch, true, copy_iterations)?);
        let per_file = |ms: f64| ms / tables.max(1) as f64;
        println!(
            "{:>5} MiB {tables:>7} {fill_s:>10.1} {link:>12.3} {:>11.4} {copy:>12.1} {:>11.2} {:>10.0}",
            mib,
            per_file(link),
            per_file(copy),
            copy / link
        );
        drop(db);
        std::fs::remove_dir_all(&dir)?;
    }
    println!("(link: median of {LINK_ITERATIONS} creates; copy: median of 1-3; ms/f = per table)");
    let rounds: usize = std::env::var("STRATA_BENCH_WRITE_ROUNDS").ok().map(|s| s.parse()).transpose()?.unwrap_or(3);
    println!("writer, {write_secs} s per phase, 16-byte keys / 1000-byte values, WAL on, no sync, {rounds} rounds:");
    println!(
        "{:>6} {:>12} {:>16} {:>9} {:>16} {:>9}  order",
        "round", "alone w/s", "flush cp w/s", "ratio", "WAL-copy cp w/s", "ratio"
    );
    let phases: [Option<(Duration, bool)>; 3] =
        [None, Some((Duration::from_secs(1), true)), Some((Duration::from_secs(1), false))];
    let (mut flush_ratios, mut wal_ratios) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut got = [(0.0, 0); 3];
        let order: Vec<usize> = (0..3).map(|i| (i + round) % 3).collect();
        for &p in &order {
            let dir = base.path().join(format!("writes-{round}-{p}"));
            std::fs::create_dir_all(&dir)?;
            got[p] = write_phase(&dir, write_secs, phases[p])?;
            std::fs::remove_dir_all(&dir)?;
        }
        let (r1, r2) = (got[1].0 / got[0].0, got[2].0 / got[0].0);
        flush_ratios.push(r1);
        wal_ratios.push(r2);
        let names = ["alone", "flush", "wal"];
        println!(
            "{round:>6} {:>12.0} {:>11.0} ({:>2}) {r1:>9.3} {:>11.0} ({:>2}) {r2:>9.3}  {}",
            got[0].0,
            got[1].0,
            got[1].1,
            got[2].0,
            got[2].1,
            order.iter().map(|&p| names[p]).collect::<Vec<_>>().join(",")
        );
    }
    if rounds > 0 {
        println!(
            "median ratio with/without: flushing checkpoint {:.3}, WAL-copying checkpoint {:.3}",
            median(&mut flush_ratios),
            median(&mut wal_ratios)
        );
    }
    println!("total {:.0} s; load average at end: {}", started.elapsed().as_secs_f64(), load());
    Ok(())
}
