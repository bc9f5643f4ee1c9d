//! Snapshot repository benchmark (a measurement, not a test): on one database per size,
//! - a plain hard-link checkpoint vs a first repository snapshot into a fresh repository on the
//!   same file system (median of several runs each; both link every table);
//! - a second snapshot after 1% of the keys were rewritten: `bytes_added` against the total,
//!   as filled and again after a full compaction (a settled database);
//! - restore with `copy_files` and a raw copy (`std::fs::copy` + fsync per file) of the same
//!   tables (the database's own, which the repository links: the same inodes), in MiB/s,
//!   measured in the same run;
//! - export to another file system (so it copies: `/dev/shm` unless `STRATA_BENCH_EXPORT_DIR`
//!   says otherwise) against a raw copy of the same files to the same place;
//!
//! each of the last two for `STRATA_BENCH_ROUNDS` rounds (default 3, the order alternating),
//! medians printed with the load average of every round.
//!
//! Run: `cargo bench -p strata-benches --bench repository`
//! Environment: `STRATA_BENCH_SIZES_MIB` (default `256,1024`), `STRATA_BENCH_DIR` (default a
//! temporary directory), `STRATA_BENCH_ITERATIONS` (default 10).

use std::error::Error;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use strata::{Db, Options, WriteBatch, WriteOptions};
use strata_benches::{mix, scattered_key as key};
use strata_checkpoint::Checkpoint;
use strata_checkpoint::repo::{Repository, RestoreOptions, SnapshotInfo, SnapshotOptions};

type Res<T> = Result<T, Box<dyn Error>>;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 1000;
const BATCH: u64 = 100;

fn value(i: u64, buf: &mut [u8; VALUE_LEN]) {
    let mut x = mix(i ^ 0x5555);
    for chunk in buf.chunks_mut(8) {
        x = mix(x);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn write_range(db: &Db, from: u64, to: u64, salt: u64) -> Res<()> {
    let wo = WriteOptions { disable_wal: true, ..Default::default() };
    let mut v = [0u8; VALUE_LEN];
    let mut i = from;
    while i < to {
        let mut b = WriteBatch::new();
        for j in i..(i + BATCH).min(to) {
            value(j ^ salt, &mut v);
            b.put(key(j), v);
        }
        db.write(b, &wo)?;
        i += BATCH;
    }
    db.flush()?;
    db.wait_for_compactions()?;
    Ok(())
}

/// Copies every table (`*.sst`) of the database directory `from` into the new directory `to`
/// with the standard library, fsyncing each and then the directory: the raw-disk baseline for
/// the same bytes; MiB/s. The repository's tables are hard links of exactly these files (the
/// snapshot was taken after the last flush and compaction), so restore, export and the raw
/// copies read the same inodes in the same page-cache state.
fn raw_copy_mib_s(from: &Path, to: &Path) -> Res<f64> {
    std::fs::create_dir(to)?;
    let t = Instant::now();
    let mut bytes = 0;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.path().extension().is_none_or(|x| x != "sst") {
            continue;
        }
        bytes += std::fs::copy(e.path(), to.join(e.file_name()))?;
        std::fs::File::open(to.join(e.file_name()))?.sync_all()?;
    }
    std::fs::File::open(to)?.sync_all()?;
    Ok(bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64())
}

/// A snapshot, then keys `from..to` rewritten (flushed, compactions finished), then another
/// snapshot: the pair whose `bytes_added` shows what the repository shares.
fn rewrite_between_snapshots(
    repo: &Repository,
    db: &Db,
    from: u64,
    to: u64,
    salt: u64,
) -> Res<(SnapshotInfo, SnapshotInfo)> {
    let before = repo.create_snapshot(db, &SnapshotOptions::default())?;
    write_range(db, from, to, salt)?;
    Ok((before, repo.create_snapshot(db, &SnapshotOptions::default())?))
}

fn report_incremental(what: &str, before: &SnapshotInfo, after: &SnapshotInfo) {
    println!(
        "{what} adds {} of {} bytes ({:.2}%; the snapshot before it added {})",
        after.bytes_added,
        after.bytes_total,
        100.0 * after.bytes_added as f64 / after.bytes_total as f64,
        before.bytes_added
    );
}

/// Writes back every dirty page of the machine (the `sync` command), so that a timed copy does
/// not wait behind the writeback the previous step left.
fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
}

fn run(base: &Path, mib: u64, iterations: usize) -> Res<()> {
    let dir = base.join(format!("db-{mib}"));
    let db = Db::open(&dir, Options::default())?;
    let entries = (mib << 20) / (KEY_LEN + VALUE_LEN) as u64;
    write_range(&db, 0, entries, 0)?;
    let (mut cp_ms, mut snap_ms) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        let cp = base.join(format!("cp-{mib}-{i}"));
        let t = Instant::now();
        Checkpoint::new(&db).create(&cp)?;
        cp_ms.push(t.elapsed().as_secs_f64() * 1e3);
        std::fs::remove_dir_all(&cp)?;
        let repo_dir = base.join(format!("repo-{mib}-{i}"));
        let repo = Repository::create(&repo_dir)?;
        let t = Instant::now();
        repo.create_snapshot(&db, &SnapshotOptions::default())?;
        snap_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(repo);
        std::fs::remove_dir_all(&repo_dir)?;
    }
    let (cp, snap) = (median(&mut cp_ms), median(&mut snap_ms));
    println!("{mib} MiB: checkpoint {cp:.2} ms, first repository snapshot {snap:.2} ms ({:.2}x)", snap / cp);

    let repo_dir = base.join(format!("repo-{mib}"));
    let repo = Repository::create(&repo_dir)?;
    // Rewrite 1% of the keys (a contiguous run of key indices, scattered over the key space).
    let (first, second) = rewrite_between_snapshots(&repo, &db, 0, entries / 100, 0xabcdef)?;
    report_incremental(&format!("{mib} MiB: second snapshot after 1% of keys rewritten"), &first, &second);
    // The same on a settled database: after a full compaction the rewrite's flush makes one
    // level-0 table and starts no compaction, so what the snapshot adds is the rewrite alone.
    // Above, whether the flush reaches the level-0 trigger (and a compaction then rewrites the
    // level-1 tables the scattered keys overlap) depends on where the fill left level 0.
    db.compact_range(&db.default_cf(), None, None)?;
    db.wait_for_compactions()?;
    let (third, fourth) = rewrite_between_snapshots(&repo, &db, entries / 100, 2 * (entries / 100), 0x5eed)?;
    report_incremental(&format!("{mib} MiB, compacted: a snapshot after another 1% rewritten"), &third, &fourth);
    let rounds = env_or("STRATA_BENCH_ROUNDS", 3);
    let export_base = export_dir(base)?;
    let copy = RestoreOptions { copy_files: true, ..Default::default() };
    // The raw copies' source: the database's own tables, which the repository links.
    let reference = dir.clone();
    let (mut restore, mut raw, mut export, mut raw_export) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        println!("{mib} MiB round {round}: load average {}", load_average());
        let restored = base.join(format!("restore-{mib}-{round}"));
        let raw_dir = base.join(format!("raw-{mib}-{round}"));
        let exported = export_base.path().join(format!("export-{mib}-{round}"));
        let raw_exported = export_base.path().join(format!("raw-{mib}-{round}"));
        // Alternate which goes first, so neither always meets a colder or warmer page cache.
        for step in if round % 2 == 0 { [0, 1, 2, 3] } else { [1, 0, 3, 2] } {
            // Every copy ends in fsyncs, which wait for the disk: start each from an idle disk,
            // not behind the writeback of the step before it (`sync`: all dirty pages).
            settle_disk();
            match step {
                0 => {
                    let t = Instant::now();
                    let r = repo.restore(fourth.id, &restored, &copy)?;
                    restore.push(r.copied_bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64());
                }
                1 => raw.push(raw_copy_mib_s(&reference, &raw_dir)?),
                2 => {
                    let t = Instant::now();
                    let e = repo.export(fourth.id, &exported)?;
                    let secs = t.elapsed().as_secs_f64();
                    if copied(&exported)? {
                        export.push(e.bytes as f64 / (1 << 20) as f64 / secs);
                    }
                }
                _ => raw_export.push(raw_copy_mib_s(&reference, &raw_exported)?),
            }
            // Each copy is removed before the next step: kept, the four copies of a 4 GiB
            // database (two of them on tmpfs, which only RAM holds) pushed the source's pages
            // out of the page cache, and whichever step came last read them from the disk.
            for d in [&restored, &raw_dir, &exported, &raw_exported] {
                if d.exists() {
                    std::fs::remove_dir_all(d)?;
                }
            }
        }
    }
    let (restore, raw) = (median(&mut restore), median(&mut raw));
    println!(
        "{mib} MiB: restore by copy {restore:.0} MiB/s; raw copy of the same files {raw:.0} MiB/s ({:.0}%; medians of {rounds})",
        100.0 * restore / raw
    );
    let raw_export = median(&mut raw_export);
    if export.is_empty() {
        println!("{mib} MiB: export linked its files (same file system as the repository): no copy to measure");
    } else {
        let export = median(&mut export);
        println!(
            "{mib} MiB: export by copy to {} {export:.0} MiB/s; raw copy there {raw_export:.0} MiB/s ({:.0}%)",
            export_base.path().display(),
            100.0 * export / raw_export
        );
    }
    std::io::stdout().flush()?;
    Ok(())
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}

/// Where exports go: `STRATA_BENCH_EXPORT_DIR`, else `/dev/shm` (another file system, so the
/// export copies instead of linking), else beside the repository.
fn export_dir(base: &Path) -> Res<tempfile::TempDir> {
    let dir = std::env::var("STRATA_BENCH_EXPORT_DIR").ok().map(std::path::PathBuf::from);
    let dir = dir.or_else(|| Some(Path::new("/dev/shm").to_path_buf()).filter(|d| d.is_dir()));
    Ok(tempfile::tempdir_in(dir.as_deref().unwrap_or(base))?)
}

/// Whether the tables of an exported bundle are copies (one link each), not hard links.
fn copied(dir: &Path) -> Res<bool> {
    use std::os::unix::fs::MetadataExt;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_name().to_string_lossy().ends_with(".sst") {
            return Ok(e.metadata()?.nlink() == 1);
        }
    }
    Ok(false)
}

fn main() -> Res<()> {
    let sizes: Vec<u64> = std::env::var("STRATA_BENCH_SIZES_MIB")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![256, 1024]);
    let iterations = env_or("STRATA_BENCH_ITERATIONS", 10);
    let tmp = match std::env::var("STRATA_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d)?,
        Err(_) => tempfile::tempdir()?,
    };
    println!("load average: {}", load_average());
    for mib in sizes {
        run(tmp.path(), mib, iterations)?;
    }
    Ok(())
}
