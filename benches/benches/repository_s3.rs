//! Snapshot repository on object storage (a measurement, not a test), against a local
//! `moto_server` (started by `strata_tests::s3_server`, its request log kept to count requests):
//! - with 1, 4 and 16 parallel transfers: a first snapshot of the database into a fresh
//!   `s3://` repository and a restore of it, each against a plain `object_store` put (get) of
//!   the same table files through the same server with the same number of requests in flight,
//!   in the same run, two rounds, alternating which goes first; MB/s and the ratio;
//! - requests per snapshot and per restore (lines of the server's request log);
//! - a second snapshot after 1% of the keys were rewritten: bytes uploaded against the total.
//!
//! moto_server is a single Python process: it is probably the bottleneck, which is why the
//! ratio against plain put/get through the same server is the figure that counts.
//!
//! Run: `cargo bench -p strata-benches --bench repository_s3` (needs `moto_server` on the PATH,
//! `pip install 'moto[server]'`). Environment: `STRATA_BENCH_SIZES_MIB` (default `1024`),
//! `STRATA_BENCH_DIR` (default a temporary directory).

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strata::{Db, Options, WriteBatch, WriteOptions};
use strata_benches::{mix, scattered_key as key};
use strata_checkpoint::StoreOptions;
use strata_checkpoint::repo::{Repository, RepositoryOptions, RestoreOptions, SnapshotOptions};
use strata_tests::s3_server::S3Server;

type Res<T> = Result<T, Box<dyn Error>>;
const VALUE_LEN: usize = 1000;
const BUCKET: &str = "bench";

fn write_range(db: &Db, from: u64, to: u64, salt: u64) -> Res<()> {
    let wo = WriteOptions { disable_wal: true, ..Default::default() };
    let mut v = [0u8; VALUE_LEN];
    let mut i = from;
    while i < to {
        let mut b = WriteBatch::new();
        for j in i..(i + 100).min(to) {
            let mut x = mix((j ^ salt) ^ 0x5555);
            for chunk in v.chunks_mut(8) {
                x = mix(x);
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            b.put(key(j), v);
        }
        db.write(b, &wo)?;
        i += 100;
    }
    db.flush()?;
    db.wait_for_compactions()?;
    Ok(())
}

/// The server, its request log, and a plain client for the baseline.
struct Bench {
    server: S3Server,
    log: PathBuf,
    plain: AmazonS3,
    rt: tokio::runtime::Runtime,
}

impl Bench {
    fn requests(&self) -> Res<usize> {
        Ok(std::fs::read_to_string(&self.log)?.lines().filter(|l| l.contains(" HTTP/1.1\" ")).count())
    }

    fn options(&self, parallelism: usize) -> StoreOptions {
        StoreOptions { parallelism, ..self.server.options() }
    }

    /// Plain puts of `files` under `prefix`, `parallelism` in flight; seconds.
    fn plain_put(&self, files: &[PathBuf], prefix: &str, parallelism: usize) -> Res<f64> {
        let t = Instant::now();
        self.rt.block_on(
            futures::stream::iter(files)
                .map(|f| async move {
                    let data =
                        std::fs::read(f).map_err(|e| object_store::Error::Generic { store: "fs", source: e.into() })?;
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    self.plain.put(&ObjPath::from(format!("{prefix}/{name}")), data.into()).await
                })
                .buffer_unordered(parallelism)
                .try_collect::<Vec<_>>(),
        )?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Plain gets of everything under `prefix` into new fsynced files in `dir`; seconds.
    fn plain_get(&self, prefix: &str, dir: &Path, parallelism: usize) -> Res<f64> {
        std::fs::create_dir(dir)?;
        let t = Instant::now();
        let keys: Vec<ObjPath> =
            self.rt.block_on(self.plain.list(Some(&prefix.into())).map_ok(|m| m.location).try_collect())?;
        self.rt.block_on(
            futures::stream::iter(keys)
                .map(|k| async move {
                    let data = self.plain.get(&k).await?.bytes().await?;
                    let path = dir.join(k.filename().unwrap_or("x"));
                    let mut f = std::fs::File::create(path)
                        .map_err(|e| object_store::Error::Generic { store: "fs", source: e.into() })?;
                    f.write_all(&data)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| object_store::Error::Generic { store: "fs", source: e.into() })
                })
                .buffer_unordered(parallelism)
                .try_collect::<Vec<_>>(),
        )?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(t.elapsed().as_secs_f64())
    }

    /// Deletes every object under `prefix` (moto keeps objects in memory).
    fn clear(&self, prefix: &str) -> Res<()> {
        let keys: Vec<ObjPath> =
            self.rt.block_on(self.plain.list(Some(&prefix.into())).map_ok(|m| m.location).try_collect())?;
        for k in keys {
            self.rt.block_on(self.plain.delete(&k))?;
        }
        Ok(())
    }
}

fn mb_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn run(b: &Bench, base: &Path, mib: u64) -> Res<()> {
    let dir = base.join(format!("db-{mib}"));
    let db = Db::open(&dir, Options::default())?;
    let entries = (mib << 20) / (16 + VALUE_LEN) as u64;
    write_range(&db, 0, entries, 0)?;
    let mut tables: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    tables.sort();
    let bytes: u64 = tables.iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    println!("{mib} MiB: {} tables, {bytes} bytes", tables.len());
    let mut n = 0;
    for round in 0..2 {
        for parallelism in [1, 4, 16] {
            n += 1;
            let (plain_prefix, url) = (format!("plain-{n}"), format!("s3://{BUCKET}/repo-{n}"));
            let mut order = [true, false];
            if round == 1 {
                order.reverse();
            }
            let (mut put_s, mut get_s, mut snap_s, mut restore_s) = (0.0, 0.0, 0.0, 0.0);
            let (mut snap_req, mut restore_req, mut snap_bytes) = (0, 0, 0);
            for plain_first in order {
                if plain_first {
                    put_s = b.plain_put(&tables, &plain_prefix, parallelism)?;
                    get_s = b.plain_get(&plain_prefix, &base.join(format!("plain-get-{n}")), parallelism)?;
                    b.clear(&plain_prefix)?;
                    std::fs::remove_dir_all(base.join(format!("plain-get-{n}")))?;
                    continue;
                }
                let repo = Repository::create_url(&url, b.options(parallelism), RepositoryOptions::default())?;
                let before = b.requests()?;
                let t = Instant::now();
                let s = repo.create_snapshot(&db, &SnapshotOptions::default())?;
                snap_s = t.elapsed().as_secs_f64();
                snap_bytes = s.bytes_total;
                let mid = b.requests()?;
                snap_req = mid - before;
                let target = base.join(format!("restore-{n}"));
                let t = Instant::now();
                repo.restore(s.id, &target, &RestoreOptions::default())?;
                restore_s = t.elapsed().as_secs_f64();
                restore_req = b.requests()? - mid;
                std::fs::remove_dir_all(&target)?;
                b.clear(&format!("repo-{n}"))?;
            }
            println!(
                "{mib} MiB, {parallelism:>2} transfers, round {round}: snapshot {:.1} MB/s vs plain put {:.1} MB/s ({:.0}%), \
                 {snap_req} requests; restore {:.1} MB/s vs plain get {:.1} MB/s ({:.0}%), {restore_req} requests; \
                 load {}",
                mb_s(snap_bytes, snap_s),
                mb_s(bytes, put_s),
                100.0 * mb_s(snap_bytes, snap_s) / mb_s(bytes, put_s),
                mb_s(snap_bytes, restore_s),
                mb_s(bytes, get_s),
                100.0 * mb_s(snap_bytes, restore_s) / mb_s(bytes, get_s),
                std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
            );
            std::io::stdout().flush()?;
        }
    }
    // Incremental: 1% of the keys rewritten, then a second snapshot.
    let url = format!("s3://{BUCKET}/incremental-{mib}");
    let repo = Repository::create_url(&url, b.options(4), RepositoryOptions::default())?;
    let first = repo.create_snapshot(&db, &SnapshotOptions::default())?;
    write_range(&db, 0, entries / 100, 0xabcdef)?;
    let before = b.requests()?;
    let second = repo.create_snapshot(&db, &SnapshotOptions::default())?;
    println!(
        "{mib} MiB: second snapshot after 1% of keys rewritten uploads {} of {} bytes ({:.2}%; the first uploaded {}), {} requests",
        second.bytes_added,
        second.bytes_total,
        100.0 * second.bytes_added as f64 / second.bytes_total as f64,
        first.bytes_added,
        b.requests()? - before
    );
    b.clear(&format!("incremental-{mib}"))?;
    Ok(())
}

fn main() -> Res<()> {
    let sizes: Vec<u64> = std::env::var("STRATA_BENCH_SIZES_MIB")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1024]);
    let tmp = match std::env::var("STRATA_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d)?,
        Err(_) => tempfile::tempdir()?,
    };
    let log = tmp.path().join("moto-requests.log");
    let Some(server) = S3Server::start_logged("repository_s3 bench", Some(&log)) else {
        return Err("no moto_server: install it with `pip install 'moto[server]'`".into());
    };
    server.create_bucket(BUCKET);
    let plain = AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(server.endpoint())
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let b = Bench { server, log, plain, rt };
    println!("load average: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    for mib in sizes {
        run(&b, tmp.path(), mib)?;
    }
    Ok(())
}
