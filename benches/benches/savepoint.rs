//! Savepoint benchmark (not a timed test): on a database of about 1 GiB of user data, the
//! write speed of `Savepoint::create` and of `Savepoint::restore` (tables built directly, with
//! 1, 2 and 4 threads; and through `WriteBatch`es),
//! against the raw sequential write bandwidth of the same disk measured in the same run, and
//! against replaying the same entries with one `put` each (the WAL on, as a user would).
//!
//! Run: `cargo bench -p strata-benches --bench savepoint`
//!
//! Environment: `STRATA_BENCH_SP_MIB` (default 1024) is the user data size; `STRATA_BENCH_DIR`
//! is where files go (default: a temporary directory under the system's).
//!
//! The source is filled fillrandom-style (16-byte keys, 1000-byte values, batches of 100, the
//! WAL off), flushed and compacted. MB/s are of user bytes (keys + values), 1 MB = 10^6 bytes.

use std::error::Error;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use strata::{Db, Options, WriteBatch, WriteOptions};
use strata_benches::{mix, scattered_key as key};
use strata_checkpoint::savepoint::SavepointReader;
use strata_checkpoint::{RestoreMethod, Savepoint, SavepointOptions, SavepointRestoreOptions};

const VALUE_LEN: usize = 1000;
type Res<T> = Result<T, Box<dyn Error>>;

fn value(i: u64, buf: &mut [u8; VALUE_LEN]) {
    let mut x = mix(i ^ 0x5555);
    for chunk in buf.chunks_mut(8) {
        x = mix(x);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// Sequential write of `bytes` in 1 MiB appends, then fsync: the disk's raw bandwidth.
fn raw_write(dir: &Path, bytes: u64) -> Res<f64> {
    let path = dir.join("raw.bin");
    let buf: Vec<u8> = (0..1usize << 20).map(|i| mix(i as u64) as u8).collect();
    let t = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut n = 0;
    while n < bytes {
        f.write_all(&buf)?;
        n += buf.len() as u64;
    }
    f.sync_all()?;
    let secs = t.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(mbps(n, secs))
}

fn fill(dir: &Path, mib: u64) -> Res<(Db, u64)> {
    let db = Db::open(dir, Options::default())?;
    let entries = (mib << 20) / (16 + VALUE_LEN) as u64;
    let wo = WriteOptions { disable_wal: true, ..Default::default() };
    let mut v = [0u8; VALUE_LEN];
    let mut i = 0;
    while i < entries {
        let mut b = WriteBatch::new();
        for j in i..(i + 100).min(entries) {
            value(j, &mut v);
            b.put(key(j), v);
        }
        db.write(b, &wo)?;
        i += 100;
    }
    db.flush()?;
    db.wait_for_compactions()?;
    Ok((db, entries))
}

/// Replays every entry of the savepoint with one `put` each into a new database, flushed.
fn replay_with_puts(sp: &Path, target: &Path) -> Res<f64> {
    let t = Instant::now();
    let r = SavepointReader::open(strata::RealFs::arc(), sp)?;
    let db = Db::open(target, Options::default())?;
    let mut bytes = 0u64;
    for i in 0..r.index().chunks.len() {
        for (k, v) in r.read_chunk(i)?.entries {
            db.put(&k, &v)?;
            bytes += (k.len() + v.len()) as u64;
        }
    }
    db.flush()?;
    db.close()?;
    Ok(mbps(bytes, t.elapsed().as_secs_f64()))
}

fn main() -> Res<()> {
    let mib: u64 = std::env::var("STRATA_BENCH_SP_MIB").ok().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let base = match std::env::var("STRATA_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d)?,
        Err(_) => tempfile::tempdir()?,
    };
    let dir = base.path();
    let load = || std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_default();
    println!("savepoint bench: {mib} MiB of user data in {}, load {}", dir.display(), load());
    let (db, entries) = fill(&dir.join("src"), mib)?;
    let data = entries * (16 + VALUE_LEN as u64);
    // The disk is shared and its speed drifts: measure it before and after, compare with the
    // faster of the two.
    let raw_before = raw_write(dir, data)?;
    let raw = raw_before.max(raw_write(dir, data)?);
    println!("| step | MB/s of user data | vs raw disk write |");
    println!("|---|---|---|");
    println!(
        "| raw sequential write + fsync ({} MB), best of 2 before | {raw:.0} ({raw_before:.0} first) | 100% |",
        data / 1_000_000
    );
    let t = Instant::now();
    let info = Savepoint::create(&db, dir.join("sp"), &SavepointOptions::default())?;
    let w = mbps(data, t.elapsed().as_secs_f64());
    println!(
        "| Savepoint::create ({} chunks, {} MB file) | {w:.0} | {:.0}% |",
        info.chunks,
        info.file_bytes / 1_000_000,
        100.0 * w / raw
    );
    drop(db);
    let t = Instant::now();
    Savepoint::verify(dir.join("sp"))?;
    let v = mbps(data, t.elapsed().as_secs_f64());
    println!("| Savepoint::verify | {v:.0} | - |");
    let runs = [
        (RestoreMethod::Tables, 1usize),
        (RestoreMethod::Tables, 2),
        (RestoreMethod::Tables, 4),
        (RestoreMethod::Writes, 1),
    ];
    for (method, threads) in runs {
        let target = dir.join(format!("restored-{method:?}-{threads}"));
        let ro = SavepointRestoreOptions { threads, method, ..Default::default() };
        let t = Instant::now();
        let r = Savepoint::restore(dir.join("sp"), &target, &Options::default(), &ro)?;
        assert_eq!(r.entries, entries);
        let m = mbps(data, t.elapsed().as_secs_f64());
        println!("| Savepoint::restore, {method:?}, {threads} thread(s) | {m:.0} | {:.0}% |", 100.0 * m / raw);
        std::fs::remove_dir_all(&target)?;
    }
    let p = replay_with_puts(&dir.join("sp"), &dir.join("replayed"))?;
    println!("| replay with one put per entry (WAL on) | {p:.0} | {:.0}% |", 100.0 * p / raw);
    let raw_after = raw_write(dir, data)?;
    println!("| raw sequential write + fsync, after | {raw_after:.0} | {:.0}% |", 100.0 * raw_after / raw);
    println!("load at the end: {}", load());
    Ok(())
}
