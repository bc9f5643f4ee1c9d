//! Ingestion benchmark: building a set of external files with `SstFileWriter` against the raw
//! disk write bandwidth measured in the same run, and the cost of `ingest_external_files` in
//! link mode (expected: milliseconds, flat in the data size) and in copy mode.
//!
//! Run: `cargo bench -p strata-benches --bench ingest`
//!
//! Environment: `STRATA_BENCH_SIZES_MIB` (default `64,256,1024`) are the data sizes;
//! `STRATA_BENCH_FILE_MIB` (default 64) the size of each external file; `STRATA_BENCH_DIR`
//! where the files go (default: a temporary directory under the system's);
//! `STRATA_BENCH_BESIDE_MIB` (default 256, 0 skips it) the data under a running compaction in
//! the last part; `STRATA_BENCH_BESIDE_ROUNDS` (default 3) its rounds.
//!
//! Last part, an ingestion beside a running compaction: a database holds
//! `STRATA_BENCH_BESIDE_MIB` in L0 tables, `compact_range` runs in another thread, and 300 ms
//! into it one small table (1,000 entries beyond every key) is ingested by link while a writer
//! puts without pause. Reported: the ingestion's milliseconds, the writer's slowest put during
//! it, and how long the whole compaction took (the bound an ingestion that waits for it pays).
//!
//! Data: 16-byte sequential keys, 1000-byte pseudo-random values (incompressible enough), split
//! into files of `STRATA_BENCH_FILE_MIB`. Raw bandwidth: the same number of bytes written with
//! `std::fs` in 1 MiB appends to one file per external file, each fsynced, like the writer.
//! Each ingestion goes into a fresh database that holds an overlapping memtable-free table set
//! (so placement, overlap checks and one manifest edit are all exercised); the database is
//! created and filled untimed.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strata::{Db, IngestOptions, Options, SstFileWriter};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 1000;

type Res<T> = Result<T, Box<dyn Error>>;

fn value(i: u64, buf: &mut [u8; VALUE_LEN]) {
    let mut x = strata_benches::mix(i ^ 0xabcd);
    for chunk in buf.chunks_mut(8) {
        x = strata_benches::mix(x);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

fn key(i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(b"ingest::");
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn env_list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name).unwrap_or_else(|_| default.into()).split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

/// Writes `files` files of `per_file` entries each with plain appends + fsync; seconds.
fn raw_write(dir: &Path, files: u64, per_file: u64) -> Res<f64> {
    let mut v = [0u8; VALUE_LEN];
    let mut buf = Vec::with_capacity(1 << 20);
    let t = Instant::now();
    for f in 0..files {
        let mut out = std::fs::File::create(dir.join(format!("raw{f}")))?;
        for i in f * per_file..(f + 1) * per_file {
            value(i, &mut v);
            buf.extend_from_slice(&key(i));
            buf.extend_from_slice(&v);
            if buf.len() >= 1 << 20 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        out.write_all(&buf)?;
        buf.clear();
        out.sync_all()?;
    }
    let secs = t.elapsed().as_secs_f64();
    for f in 0..files {
        std::fs::remove_file(dir.join(format!("raw{f}")))?;
    }
    Ok(secs)
}

/// Builds the external files; returns their paths, their total size and the seconds taken.
fn build(dir: &Path, files: u64, per_file: u64) -> Res<(Vec<PathBuf>, u64, f64)> {
    let mut v = [0u8; VALUE_LEN];
    let mut paths = Vec::new();
    let mut bytes = 0;
    let t = Instant::now();
    for f in 0..files {
        let path = dir.join(format!("ext{f:04}.sst"));
        let mut w = SstFileWriter::create(&path, &Options::default())?;
        for i in f * per_file..(f + 1) * per_file {
            value(i, &mut v);
            w.put(key(i), v)?;
        }
        bytes += w.finish()?.file_size;
        paths.push(path);
    }
    Ok((paths, bytes, t.elapsed().as_secs_f64()))
}

/// Ingests `paths` into a fresh database holding one overlapping table; milliseconds.
fn ingest(scratch: &Path, paths: &[PathBuf], opts: &IngestOptions, name: &str) -> Res<f64> {
    let dir = scratch.join(name);
    let db = Db::open(&dir, Options::default())?;
    db.put(key(0), b"old")?;
    db.flush()?;
    let t = Instant::now();
    let r = db.ingest_external_files(&db.default_cf(), paths, opts)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(r.files.len(), paths.len());
    assert_eq!(db.get(key(1))?.map(|v| v.len()), Some(VALUE_LEN));
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    Ok(ms)
}

/// One round of the last part (see the module docs): (ingest ms, slowest put ms during it,
/// compaction s).
fn ingest_beside_compaction(scratch: &Path, mib: u64) -> Res<(f64, f64, f64)> {
    let opts = Options { disable_auto_compactions: true, ..Options::default() };
    let db = std::sync::Arc::new(Db::open(scratch.join("db-beside"), opts)?);
    let entries = (mib << 20) / (KEY_LEN + VALUE_LEN) as u64;
    let mut v = [0u8; VALUE_LEN];
    for i in 0..entries {
        value(i, &mut v);
        db.put(key(strata_benches::mix(i) % entries), v)?;
    }
    db.flush()?;
    let ext = scratch.join("beside.sst");
    let mut w = SstFileWriter::create(&ext, &Options::default())?;
    for i in 0..1000 {
        value(i, &mut v);
        w.put(key(entries + i), v)?;
    }
    w.finish()?;
    let compactor = {
        let db = std::sync::Arc::clone(&db);
        std::thread::spawn(move || -> strata::Result<f64> {
            let t = Instant::now();
            db.compact_range(&db.default_cf(), None, None)?;
            Ok(t.elapsed().as_secs_f64())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, done) = (std::sync::Arc::clone(&db), std::sync::Arc::clone(&done));
        std::thread::spawn(move || -> strata::Result<f64> {
            let mut slowest = 0f64;
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                db.put(key(i % 1000), b"beside")?;
                slowest = slowest.max(t.elapsed().as_secs_f64() * 1e3);
                i += 1;
            }
            Ok(slowest)
        })
    };
    let t = Instant::now();
    db.ingest_external_files(&db.default_cf(), &[&ext], &IngestOptions { link_files: true, ..Default::default() })?;
    let ingest_ms = t.elapsed().as_secs_f64() * 1e3;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let slowest_put = writer.join().map_err(|_| "writer panicked")??;
    let compaction_s = compactor.join().map_err(|_| "compactor panicked")??;
    assert_eq!(db.get(key(entries + 1))?.map(|v| v.len()), Some(VALUE_LEN));
    drop(db);
    std::fs::remove_dir_all(scratch.join("db-beside"))?;
    std::fs::remove_file(ext)?;
    Ok((ingest_ms, slowest_put, compaction_s))
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let sizes = env_list("STRATA_BENCH_SIZES_MIB", "64,256,1024");
    let file_mib = env_list("STRATA_BENCH_FILE_MIB", "64").first().copied().unwrap_or(64).max(1);
    let base = match std::env::var("STRATA_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d)?,
        Err(_) => tempfile::tempdir()?,
    };
    let entry = (KEY_LEN + VALUE_LEN) as u64;
    // build/raw: user-data bandwidth of the writer over the raw appends (same bytes of keys and
    // values; the tables add an index, a filter and properties on top).
    println!(
        "size_mib files build_s raw_s build/raw link_ingest_ms copy_ingest_ms  (user MiB/s build, raw; table MiB)"
    );
    for mib in sizes {
        let files = (mib / file_mib).max(1);
        let per_file = (mib << 20) / entry / files;
        let scratch = base.path().join(format!("{mib}"));
        std::fs::create_dir_all(&scratch)?;
        let raw_s = raw_write(&scratch, files, per_file)?;
        let (paths, bytes, build_s) = build(&scratch, files, per_file)?;
        let link_ms = ingest(&scratch, &paths, &IngestOptions { link_files: true, ..Default::default() }, "db-link")?;
        let copy_ms = ingest(&scratch, &paths, &IngestOptions::default(), "db-copy")?;
        let raw_bytes = files * per_file * entry;
        println!(
            "{mib:>8} {files:>5} {build_s:>7.2} {raw_s:>5.2} {:>9.2} {link_ms:>14.2} {copy_ms:>14.1}  ({:.0}, {:.0}; {})",
            raw_s / build_s,
            raw_bytes as f64 / build_s / (1 << 20) as f64,
            raw_bytes as f64 / raw_s / (1 << 20) as f64,
            bytes >> 20,
        );
        std::fs::remove_dir_all(&scratch)?;
    }
    let beside = env_list("STRATA_BENCH_BESIDE_MIB", "256").first().copied().unwrap_or(0);
    if beside > 0 {
        let rounds = env_list("STRATA_BENCH_BESIDE_ROUNDS", "3").first().copied().unwrap_or(3);
        println!("beside a compaction of {beside} MiB: ingest_ms slowest_put_ms compaction_s");
        for _ in 0..rounds {
            let (ingest_ms, put_ms, compaction_s) = ingest_beside_compaction(base.path(), beside)?;
            println!("{:>35} {ingest_ms:>9.2} {put_ms:>14.2} {compaction_s:>12.2}", "");
        }
    }
    Ok(())
}
