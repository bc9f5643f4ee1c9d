//! Snapshot repository on object storage (a measurement, not a test), against a local
//! `moto_server` (started by `strata_tests::s3_server`, its request log kept to count requests):
//! - with 1, 4 and 16 parallel transfers: a first snapshot of the database into a fresh
//!   `s3://` repository and a restore of it, each against a plain `object_store` put (get) of
//!   the same table files through the same server with the same number of requests in flight,
//!   in the same run, two rounds, alternating which goes first; MB/s and the ratio;
//! - requests per snapshot and per restore (lines of the server's request log);
//! - a second snapshot after 1% of the keys were rewritten: bytes uploaded against the total;
//! - where the time goes: with 1 transfer, each snapshot's and restore's time by phase (from the
//!   store's request hook, the progress callback and a timing file system, see
//!   `strata_benches::phases`); at every parallelism, the serial time before the first transfer
//!   and after the last; and the cost of a log checkpoint.
//!
//! moto_server is a single Python process: it is probably the bottleneck, which is why the
//! ratio against plain put/get through the same server is the figure that counts.
//!
//! Run: `cargo bench -p strata-benches --bench repository_s3` (needs `moto_server` on the PATH,
//! `pip install 'moto[server]'`). Environment: `STRATA_BENCH_SIZES_MIB` (default `1024`),
//! `STRATA_BENCH_DIR` (default a temporary directory), and `AWS_TIMEOUT` (e.g. `600s`), read by
//! both clients: on a loaded machine moto can take longer than the default 30 s to answer 16
//! PUTs of 64 MiB at once.

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strata::{Db, Options, WriteBatch, WriteOptions};
use strata_benches::phases::{TimedFs, Timeline};
use strata_benches::{mix, scattered_key as key};
use strata_checkpoint::StoreOptions;
use strata_checkpoint::repo::{Progress, Repository, RepositoryOptions, RestoreOptions, SnapshotOptions};
use strata_checkpoint::store::RequestHook;
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

/// The server, its request log, a plain client for the baseline, and the timeline the
/// repository's hooks mark.
struct Bench {
    server: S3Server,
    log: PathBuf,
    plain: AmazonS3,
    rt: tokio::runtime::Runtime,
    timeline: Arc<Timeline>,
}

/// A label for an object key: what kind of object a request touched.
fn object_class(key: &str) -> &str {
    match key {
        "log" => "log/",
        "tables" => "tables/",
        k if k.ends_with(".commit") => "commit",
        k if k.ends_with(".checkpoint") => "log checkpoint",
        k if k.starts_with("log/") => "log hint",
        k if k.starts_with("tables/") => "table",
        k if k.starts_with("wals/") => "wal",
        k => k,
    }
}

/// Prints where the time of one call went (see `strata_benches::phases`).
fn print_breakdown(what: &str, timeline: &Timeline, end: Instant) {
    let parts = timeline.breakdown(end);
    let total: f64 = parts.iter().map(|p| p.1).sum();
    let shown: Vec<String> = parts
        .iter()
        .map(|(label, secs, n)| format!("{label} x{n} {:.1} ms ({:.1}%)", secs * 1e3, 100.0 * secs / total))
        .collect();
    println!("  {what} by phase ({:.3} s): {}", total, shown.join("; "));
}

impl Bench {
    /// A repository's options: its file system marks the timeline.
    fn repo_options(&self) -> RepositoryOptions {
        let fs = TimedFs::new(strata::RealFs::arc(), Arc::clone(&self.timeline));
        RepositoryOptions { fs: Some(Arc::new(fs)), ..RepositoryOptions::default() }
    }

    /// Progress that marks the timeline at every file done.
    fn progress(&self) -> Progress {
        let timeline = Arc::clone(&self.timeline);
        Progress(Arc::new(move |_| {
            timeline.mark("file done");
            true
        }))
    }

    fn requests(&self) -> Res<usize> {
        Ok(std::fs::read_to_string(&self.log)?.lines().filter(|l| l.contains(" HTTP/1.1\" ")).count())
    }

    fn options(&self, parallelism: usize) -> StoreOptions {
        let timeline = Arc::clone(&self.timeline);
        let hook = RequestHook(Arc::new(move |op, key| timeline.mark(format!("s3 {op} {}", object_class(key)))));
        StoreOptions { parallelism, request_hook: Some(hook), ..self.server.options() }
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
                let repo = Repository::create_url(&url, b.options(parallelism), b.repo_options())?;
                let before = b.requests()?;
                b.timeline.reset();
                let t = Instant::now();
                let s =
                    repo.create_snapshot(&db, &SnapshotOptions { progress: Some(b.progress()), ..Default::default() })?;
                let end = Instant::now();
                snap_s = (end - t).as_secs_f64();
                snap_bytes = s.bytes_total;
                let mid = b.requests()?;
                snap_req = mid - before;
                let (head, tail) = b.timeline.ends("s3 put file", "file done", end);
                println!(
                    "  snapshot: {:.1} ms before the first upload, {:.1} ms after the last",
                    head * 1e3,
                    tail * 1e3
                );
                if parallelism == 1 {
                    print_breakdown("snapshot", &b.timeline, end);
                }
                let target = base.join(format!("restore-{n}"));
                b.timeline.reset();
                let t = Instant::now();
                repo.restore(s.id, &target, &RestoreOptions { progress: Some(b.progress()), ..Default::default() })?;
                let end = Instant::now();
                restore_s = (end - t).as_secs_f64();
                restore_req = b.requests()? - mid;
                let (head, tail) = b.timeline.ends("s3 get file", "file done", end);
                println!(
                    "  restore: {:.1} ms before the first download, {:.1} ms after the last",
                    head * 1e3,
                    tail * 1e3
                );
                if parallelism == 1 {
                    print_breakdown("restore", &b.timeline, end);
                }
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
    let repo = Repository::create_url(&url, b.options(4), b.repo_options())?;
    let first = repo.create_snapshot(&db, &SnapshotOptions::default())?;
    write_range(&db, 0, entries / 100, 0xabcdef)?;
    let before = b.requests()?;
    b.timeline.reset();
    let second = repo.create_snapshot(&db, &SnapshotOptions { progress: Some(b.progress()), ..Default::default() })?;
    print_breakdown("second snapshot (4 transfers)", &b.timeline, Instant::now());
    println!(
        "{mib} MiB: second snapshot after 1% of keys rewritten uploads {} of {} bytes ({:.2}%; the first uploaded {}), {} requests",
        second.bytes_added,
        second.bytes_total,
        100.0 * second.bytes_added as f64 / second.bytes_total as f64,
        first.bytes_added,
        b.requests()? - before
    );
    let before = b.requests()?;
    b.timeline.reset();
    repo.write_log_checkpoint()?;
    print_breakdown("log checkpoint (every 10th commit)", &b.timeline, Instant::now());
    println!("{mib} MiB: a log checkpoint of 2 snapshots costs {} requests", b.requests()? - before);
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
    // moto's own threaded server: one writer makes no racing conditional PUTs, and parallel
    // transfers overlap in it (the tests' server runs requests one at a time).
    let Some(server) = S3Server::start_threaded_logged("repository_s3 bench", Some(&log)) else {
        return Err("no moto_server: install it with `pip install 'moto[server]'`".into());
    };
    server.create_bucket(BUCKET);
    // From the environment like the repository's store, so that both see `AWS_TIMEOUT`.
    let plain = AmazonS3Builder::from_env()
        .with_bucket_name(BUCKET)
        .with_endpoint(server.endpoint())
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let b = Bench { server, log, plain, rt, timeline: Timeline::new() };
    println!("load average: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    for mib in sizes {
        run(&b, tmp.path(), mib)?;
    }
    Ok(())
}
