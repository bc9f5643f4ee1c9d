//! Per-table cost of a repository snapshot against a hard-link checkpoint (a measurement, not
//! a test). For each table count a database of that many tiny tables (ingested, one key range
//! each, so no compaction merges them) is snapshotted into a fresh repository and
//! checkpointed, alternating, `STRATA_BENCH_ITERATIONS` times each; then a repository that
//! already holds `STRATA_BENCH_HISTORY` snapshots of the same database takes one more (every
//! table reused: the log's state and its log checkpoints are then that many times larger).
//! Prints medians of wall time and means of the thread's CPU time, the slope between the smallest and the largest count in microseconds per
//! table, and the metadata bytes a fresh snapshot wrote to `log/`.
//!
//! Put `STRATA_BENCH_DIR` on tmpfs (default `/dev/shm/...`) so fsyncs cost nothing and what is
//! left is CPU and system calls.
//!
//! Run: `cargo bench -p strata-checkpoint --bench repo_tables` (release), or quicker to build,
//! `cargo test -p strata-checkpoint --bench repo_tables` (the test profile).
//! Environment: `STRATA_BENCH_TABLES` (default `10,1000`), `STRATA_BENCH_ITERATIONS`
//! (default 15), `STRATA_BENCH_HISTORY` (default 20), `STRATA_BENCH_DIR`, `STRATA_BENCH_ONLY`
//! (`checkpoint`, `snapshot` or `none`: run one side alone, no history, for `strace -c`;
//! `history`: only the snapshots into one repository, each between two reads of
//! `/proc/thread-self/schedstat`, so `strace -f` shows each one's system calls).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use std::path::{Path, PathBuf};
use std::time::Instant;
use strata::{Db, IngestOptions, Options, SstFileWriter};
use strata_checkpoint::Checkpoint;
use strata_checkpoint::repo::{Repository, SnapshotOptions};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CPU time of the calling thread (user and kernel), in ms, from the scheduler's count
/// (`/proc/thread-self/schedstat`): unlike wall time it leaves out the time other processes on
/// a shared machine hold the CPU. Both operations run on the calling thread. The count moves
/// at scheduler ticks, so only a mean over many runs means anything ([`mean`]).
fn cpu_ms() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).map_or(f64::NAN, |ns| ns as f64 / 1e6)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A database at `dir` holding `tables` tables of 4 entries each, in disjoint key ranges.
fn build(dir: &Path, tables: usize) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    let staging = dir.with_extension("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let mut files = Vec::new();
    for t in 0..tables {
        let path = staging.join(format!("{t:06}.sst"));
        let mut w = SstFileWriter::for_cf(&db, &db.default_cf(), &path).unwrap();
        for k in 0..4u64 {
            w.put(format!("key-{t:08}-{k:04}"), [b'v'; 100]).unwrap();
        }
        w.finish().unwrap();
        files.push(path);
    }
    db.ingest_external_files(&db.default_cf(), &files, &IngestOptions::default()).unwrap();
    std::fs::remove_dir_all(&staging).unwrap();
    db
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

struct Figures {
    checkpoint_ms: f64,
    snapshot_ms: f64,
    history_ms: f64,
    checkpoint_cpu_ms: f64,
    snapshot_cpu_ms: f64,
    history_cpu_ms: f64,
    log_bytes: u64,
}

fn measure(base: &Path, tables: usize, iterations: usize, history: usize, only: Option<usize>) -> Figures {
    let db = build(&base.join(format!("db-{tables}")), tables);
    let live = db.live_files(false).unwrap();
    assert_eq!(live.tables.len(), tables, "one table per ingested file");
    drop(live);
    let (mut cp, mut snap) = (Vec::new(), Vec::new());
    let (mut cp_cpu, mut snap_cpu, mut hist_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut log_bytes = 0;
    for i in 0..iterations {
        let cp_dir = base.join(format!("cp-{tables}-{i}"));
        let repo_dir = base.join(format!("repo-{tables}-{i}"));
        let repo = Repository::create(&repo_dir).unwrap();
        for step in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
            if only.is_some_and(|o| o != step) {
                continue;
            }
            let (t, c) = (Instant::now(), cpu_ms());
            if step == 0 {
                Checkpoint::new(&db).create(&cp_dir).unwrap();
                cp.push(t.elapsed().as_secs_f64() * 1e3);
                cp_cpu.push(cpu_ms() - c);
            } else {
                repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
                snap.push(t.elapsed().as_secs_f64() * 1e3);
                snap_cpu.push(cpu_ms() - c);
            }
        }
        log_bytes = dir_bytes(&repo_dir.join("log"));
        drop(repo);
        let _ = std::fs::remove_dir_all(&cp_dir);
        std::fs::remove_dir_all(&repo_dir).unwrap();
    }
    let repo_dir = base.join(format!("repo-{tables}-history"));
    let repo = Repository::create(&repo_dir).unwrap();
    let mut hist = Vec::new();
    for _ in 0..if only.is_some_and(|o| o != 3) { 0 } else { history } {
        let (t, c) = (Instant::now(), cpu_ms());
        repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
        hist.push(t.elapsed().as_secs_f64() * 1e3);
        hist_cpu.push(cpu_ms() - c);
    }
    let later_cpu = if hist_cpu.len() > history / 2 { hist_cpu.split_off(history / 2) } else { Vec::new() };
    // The later half: a repository already holding at least history/2 snapshots.
    let mut later = if hist.len() > history / 2 { hist.split_off(history / 2) } else { Vec::new() };
    drop(repo);
    std::fs::remove_dir_all(&repo_dir).unwrap();
    Figures {
        checkpoint_ms: median(&mut cp),
        snapshot_ms: median(&mut snap),
        history_ms: median(&mut later),
        checkpoint_cpu_ms: mean(&cp_cpu),
        snapshot_cpu_ms: mean(&snap_cpu),
        history_cpu_ms: mean(&later_cpu),
        log_bytes,
    }
}

fn main() {
    let counts: Vec<usize> = std::env::var("STRATA_BENCH_TABLES")
        .unwrap_or_else(|_| "10,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let iterations = env_or("STRATA_BENCH_ITERATIONS", 15usize).max(1);
    let history = env_or("STRATA_BENCH_HISTORY", 20usize).max(2);
    // For counting system calls of one side alone: `checkpoint`, `snapshot` or `none`.
    let only = std::env::var("STRATA_BENCH_ONLY").ok().map(|o| match o.as_str() {
        "checkpoint" => 0,
        "snapshot" => 1,
        "history" => 3,
        _ => 2,
    });
    let base: PathBuf = std::env::var("STRATA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(format!("/dev/shm/strata-repo-tables-{}", std::process::id())));
    std::fs::create_dir_all(&base).unwrap();
    println!("load average at start: {}", load());
    let mut all = Vec::new();
    for &n in &counts {
        let f = measure(&base, n, iterations, history, only);
        println!(
            "{n} tables: checkpoint {:.3} ms (cpu {:.3}), fresh snapshot {:.3} ms (cpu {:.3}; {:.2}x wall, {:.2}x cpu), snapshot into a repository of {}+ snapshots {:.3} ms (cpu {:.3}), log/ after one snapshot {} bytes ({} per table)",
            f.checkpoint_ms,
            f.checkpoint_cpu_ms,
            f.snapshot_ms,
            f.snapshot_cpu_ms,
            f.snapshot_ms / f.checkpoint_ms,
            f.snapshot_cpu_ms / f.checkpoint_cpu_ms,
            history / 2,
            f.history_ms,
            f.history_cpu_ms,
            f.log_bytes,
            f.log_bytes / n.max(1) as u64
        );
        all.push((n, f));
    }
    if let (Some((n0, a)), Some((n1, b))) = (all.first(), all.last())
        && n1 > n0
    {
        let per = |x: f64, y: f64| (y - x) * 1e3 / (n1 - n0) as f64;
        println!(
            "per table ({n0} -> {n1}), wall: checkpoint {:.1} us, fresh snapshot {:.1} us, snapshot with history {:.1} us",
            per(a.checkpoint_ms, b.checkpoint_ms),
            per(a.snapshot_ms, b.snapshot_ms),
            per(a.history_ms, b.history_ms)
        );
        println!(
            "per table ({n0} -> {n1}), cpu: checkpoint {:.1} us, fresh snapshot {:.1} us, snapshot with history {:.1} us",
            per(a.checkpoint_cpu_ms, b.checkpoint_cpu_ms),
            per(a.snapshot_cpu_ms, b.snapshot_cpu_ms),
            per(a.history_cpu_ms, b.history_cpu_ms)
        );
    }
    println!("load average at end: {}", load());
    let _ = std::fs::remove_dir_all(&base);
}
