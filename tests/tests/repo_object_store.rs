//! One repository test suite run against both backends: a local directory and an S3 bucket on
//! a real S3-protocol server (`moto_server`, started per test by `strata_tests::s3_server`).
//! Each scenario is a function over a [`Backend`]; each `#[test]` runs it on one backend.
//!
//! Scenarios: the full cycle (create, snapshot, list, verify, restore, delete, gc) with
//! incremental uploads; two writers committing at once (the loser of a put-if-absent sees the
//! server's 412 and the log retries on top); a damaged object found by verify and refused by
//! restore; an interrupted upload resumed by the next snapshot; and, S3 only, large files by
//! multipart upload and the server stopped mid-restore.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use strata::{Db, Error, Options, ReadOptions};
use strata_checkpoint::StoreOptions;
use strata_checkpoint::repo::{
    Problem, Progress, Repository, RepositoryOptions, RestoreOptions, SnapshotId, SnapshotOptions, SnapshotState,
    VerifyLevel,
};
use strata_checkpoint::store::{LocalStore, ObjectStore, Put, RequestHook, Store, TransferHook};
use strata_tests::s3_server::{S3Server, StoreCalls, count_calls};
use strata_tests::{dump_cf, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Where the repository under test lives.
struct Backend {
    /// Local: the repository directory. S3: the URL.
    location: String,
    server: Option<Arc<S3Server>>,
    /// A raw view of the repository's objects, to list and damage them.
    raw: Arc<dyn Store>,
    /// S3: `StoreOptions::parallelism` and `transfer_hook` of the repositories opened.
    parallelism: usize,
    hook: Option<TransferHook>,
}

impl Backend {
    fn local(t: &Path) -> Self {
        let dir = t.join("repo");
        let raw = Arc::new(LocalStore::new(Arc::new(strata::RealFs::new()), &dir));
        Self { location: dir.display().to_string(), server: None, raw, parallelism: 1, hook: None }
    }

    /// `None` (skipped, outside CI) when no server can be started. `parallelism`: transfers in
    /// flight at once (files, and the requests of all of them together).
    fn s3(test: &str, parallelism: usize) -> Option<Self> {
        let server = S3Server::start(test)?;
        let bucket = "strata-test";
        server.create_bucket(bucket);
        let location = format!("s3://{bucket}/repos/{test}");
        let raw = Arc::new(ObjectStore::new(&location, server.options()).unwrap());
        Some(Self { location, server: Some(Arc::new(server)), raw, parallelism, hook: None })
    }

    /// Another repository location on the same server.
    fn sibling(&self, name: &str) -> Self {
        let location = format!("{}-{name}", self.location);
        let server = self.server.clone().expect("an S3 backend");
        let raw = Arc::new(ObjectStore::new(&location, server.options()).unwrap());
        Self { location, server: Some(server), raw, parallelism: self.parallelism, hook: None }
    }

    fn store_options(&self, s: &S3Server) -> StoreOptions {
        StoreOptions { parallelism: self.parallelism, transfer_hook: self.hook.clone(), ..s.options() }
    }

    fn create(&self) -> strata::Result<Repository> {
        match &self.server {
            None => Repository::create(&self.location),
            Some(s) => Repository::create_url(&self.location, self.store_options(s), RepositoryOptions::default()),
        }
    }

    fn open(&self) -> strata::Result<Repository> {
        match &self.server {
            None => Repository::open(&self.location),
            Some(s) => Repository::open_url(&self.location, self.store_options(s), RepositoryOptions::default()),
        }
    }

    fn tables(&self) -> Vec<String> {
        self.raw.list("tables").unwrap()
    }

    /// What `FileProblem::file` and `Corruption` name for `key`.
    fn named(&self, key: &str) -> PathBuf {
        PathBuf::from(&self.location).join(key)
    }
}

fn contents(db: &Db) -> (Map, Map) {
    let ro = ReadOptions::default();
    let meta = db.cf("meta").map(|c| dump_cf(db, &c, &ro)).unwrap_or_default();
    (dump_cf(db, &db.default_cf(), &ro), meta)
}

fn fill(db: &Db, from: u32, to: u32, tag: &str) {
    let meta = db.cf("meta").unwrap();
    for i in from..to {
        db.put(format!("k{i:05}"), format!("{tag}-{i}-{}", "v".repeat(60))).unwrap();
        if i % 3 == 0 {
            db.put_cf(&meta, format!("m{i:05}"), format!("{tag}{i}")).unwrap();
        }
    }
}

fn new_db(dir: &Path, n: u32) -> Db {
    let db = Db::open(dir, Options { disable_auto_compactions: true, ..small_options() }).unwrap();
    db.create_cf("meta").unwrap();
    fill(&db, 0, n, "a");
    db
}

fn restored(dir: &Path) -> (Map, Map) {
    let db = Db::open(dir, Options::default()).unwrap();
    contents(&db)
}

fn cycle(b: &Backend, t: &Path) {
    let db = new_db(&t.join("db"), 1500);
    assert!(matches!(b.open(), Err(Error::NotFound(_))), "no repository yet");
    let repo = b.create().unwrap();
    assert!(matches!(b.create(), Err(Error::AlreadyExists(_))));
    let s1 = repo.create_snapshot(&db, &SnapshotOptions { name: Some("one".into()), ..Default::default() }).unwrap();
    let want1 = contents(&db);
    assert_eq!(s1.bytes_added, s1.bytes_total, "the first snapshot uploads everything");
    fill(&db, 1500, 1530, "b");
    let s2 = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    let want2 = contents(&db);
    assert!(s2.bytes_added > 0 && s2.bytes_added * 5 < s1.bytes_total, "incremental: {s2:?} after {s1:?}");
    let reopened = b.open().unwrap();
    let list = reopened.list().unwrap();
    assert_eq!(
        list.iter().map(|s| (s.id, s.state)).collect::<Vec<_>>(),
        vec![(SnapshotId(1), SnapshotState::Complete), (SnapshotId(2), SnapshotState::Complete)]
    );
    assert_eq!(list[0].name.as_deref(), Some("one"));
    for s in [&s1, &s2] {
        let report = reopened.verify(s.id, VerifyLevel::Checksums).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.files_checked, s.tables);
    }
    let strict = RestoreOptions { verify_checksums: true, ..Default::default() };
    let r1 = repo.restore(s1.id, t.join("r1"), &strict).unwrap();
    assert_eq!(restored(&r1.dir), want1);
    let r2 = reopened.restore(s2.id, t.join("r2"), &RestoreOptions::default()).unwrap();
    assert_eq!(restored(&r2.dir), want2);
    assert!(matches!(repo.restore(s2.id, &r2.dir, &strict), Err(Error::AlreadyExists(_))));
    repo.delete(s1.id).unwrap();
    assert!(matches!(repo.snapshot(s1.id), Err(Error::NotFound(_))));
    let gc = repo.gc().unwrap();
    assert!(gc.damaged.is_empty(), "{gc:?}");
    assert_eq!(b.tables().len(), s2.tables, "exactly the second snapshot's tables remain");
    if b.server.is_some() {
        assert!(b.raw.get("GC.lock").unwrap().is_none(), "the gc lease is released");
    }
    let r2b = repo.restore(s2.id, t.join("r2b"), &strict).unwrap();
    assert_eq!(restored(&r2b.dir), want2);
    assert_eq!(repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap().id, SnapshotId(3));
}

fn two_writers(b: &Backend, t: &Path) {
    b.create().unwrap();
    // The primitive: of racing put-if-absents exactly one creates, the rest see the 412.
    let barrier = Arc::new(Barrier::new(4));
    let created: Vec<Put> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4u8)
            .map(|i| {
                let (raw, barrier) = (Arc::clone(&b.raw), Arc::clone(&barrier));
                s.spawn(move || {
                    barrier.wait();
                    raw.put_if_absent("race/key", &[i; 100]).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(created.iter().filter(|p| **p == Put::Created).count(), 1, "{created:?}");
    let winner = b.raw.get("race/key").unwrap().unwrap();
    assert_eq!(b.raw.put_if_absent("race/key", b"late").unwrap(), Put::Exists, "a later writer loses too");
    assert_eq!(b.raw.get("race/key").unwrap().unwrap(), winner, "the object is never replaced");

    // Two writers snapshotting two databases into one repository at once.
    let dbs: Vec<Db> = (0..2).map(|i| new_db(&t.join(format!("db{i}")), 600 + 100 * i)).collect();
    let barrier = Arc::new(Barrier::new(2));
    let ids: Vec<SnapshotId> = std::thread::scope(|s| {
        let hs: Vec<_> = dbs
            .iter()
            .map(|db| {
                let barrier = Arc::clone(&barrier);
                s.spawn(move || {
                    let repo = b.open().unwrap();
                    barrier.wait();
                    (0..3)
                        .map(|_| repo.create_snapshot(db, &SnapshotOptions::default()).unwrap().id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "no commit lost, no id shared: {ids:?}");
    let repo = b.open().unwrap();
    let list = repo.list().unwrap();
    assert_eq!(list.len(), 6);
    assert!(list.iter().all(|s| s.state == SnapshotState::Complete), "{list:?}");
    for (i, db) in dbs.iter().enumerate() {
        let last = list.iter().filter(|s| s.db_id == db.identity()).map(|s| s.id).max().unwrap();
        let r = repo.restore(last, t.join(format!("r{i}")), &RestoreOptions::default()).unwrap();
        assert_eq!(restored(&r.dir), contents(db));
    }
}

fn damaged_object(b: &Backend, t: &Path) {
    let db = new_db(&t.join("db"), 1500);
    let repo = b.create().unwrap();
    let s = repo.create_snapshot(&db, &SnapshotOptions { copy_files: true, ..Default::default() }).unwrap();
    let names = b.tables();
    assert!(names.len() >= 2, "{names:?}");
    let key = format!("tables/{}", names[0]);
    let mut bytes = b.raw.get(&key).unwrap().unwrap().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    b.raw.put(&key, &bytes).unwrap();
    assert!(repo.verify(s.id, VerifyLevel::Sizes).unwrap().is_ok(), "sizes alone cannot see a flipped byte");
    let report = repo.verify(s.id, VerifyLevel::Checksums).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!((report.problems[0].key.as_str(), &report.problems[0].file), (key.as_str(), &b.named(&key)));
    assert!(matches!(report.problems[0].problem, Problem::ChecksumMismatch { .. }));
    let strict = RestoreOptions { verify_checksums: true, ..Default::default() };
    match repo.restore(s.id, t.join("r"), &strict) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, b.named(&key)),
        other => panic!("restore of a damaged snapshot: {other:?}"),
    }
    assert_no_target(t, "r");
    b.raw.delete(&key).unwrap();
    let report = repo.verify(s.id, VerifyLevel::Sizes).unwrap();
    assert_eq!(report.problems[0].problem, Problem::Missing);
}

/// An upload interrupted mid-way (the writer dies: here a panic out of its progress callback,
/// so nothing after it runs, as after a kill) leaves a creating snapshot and the completely
/// uploaded tables; the next snapshot uploads only the rest.
fn interrupted_upload_resumed(b: &Backend, t: &Path) {
    let db = new_db(&t.join("db"), 2000);
    let repo = b.create().unwrap();
    let files = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&files);
    let dying = Progress::new(move |_| {
        assert!(f.fetch_add(1, Ordering::SeqCst) < 2, "the writer dies after two uploads");
        true
    });
    let opts = SnapshotOptions { progress: Some(dying), copy_files: true, ..Default::default() };
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| repo.create_snapshot(&db, &opts)));
    assert!(died.is_err(), "the writer died");
    let uploaded = b.tables();
    assert!(uploaded.len() >= 2, "complete uploads stay: {uploaded:?}");
    let list = repo.list().unwrap();
    assert_eq!(list.iter().map(|s| s.state).collect::<Vec<_>>(), vec![SnapshotState::Creating]);
    let uploaded_bytes: u64 = uploaded.iter().map(|n| b.raw.size(&format!("tables/{n}")).unwrap().unwrap()).sum();
    let s = repo.create_snapshot(&db, &SnapshotOptions { copy_files: true, ..Default::default() }).unwrap();
    assert_eq!(s.bytes_added, s.bytes_total - uploaded_bytes, "only what was not uploaded: {s:?}");
    assert!(repo.verify(s.id, VerifyLevel::Checksums).unwrap().is_ok());
    let r = repo.restore(s.id, t.join("r"), &RestoreOptions::default()).unwrap();
    assert_eq!(restored(&r.dir), contents(&db));
}

fn assert_no_target(t: &Path, name: &str) {
    let left: Vec<String> = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n == name || n.starts_with(&format!(".{name}.")))
        .collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}

macro_rules! both_backends {
    ($($scenario:ident: $local:ident, $s3:ident;)*) => {$(
        #[test]
        fn $local() {
            let t = tempfile::tempdir().unwrap();
            $scenario(&Backend::local(t.path()), t.path());
        }

        /// Files one at a time, then up to 16 at once.
        #[test]
        fn $s3() {
            for parallelism in [1, 16] {
                let t = tempfile::tempdir().unwrap();
                let Some(b) = Backend::s3(stringify!($s3), parallelism) else { return };
                $scenario(&b, t.path());
            }
        }
    )*};
}

both_backends! {
    cycle: local_full_cycle, s3_full_cycle;
    two_writers: local_two_writers_commit_at_once, s3_two_writers_commit_at_once;
    damaged_object: local_damaged_object_found_by_verify, s3_damaged_object_found_by_verify;
    interrupted_upload_resumed: local_interrupted_upload_resumed, s3_interrupted_upload_resumed;
}

#[test]
fn s3_large_files_go_by_multipart_upload_and_ranged_gets() {
    let Some(server) = S3Server::start("s3_large_files_go_by_multipart_upload_and_ranged_gets") else { return };
    server.create_bucket("big");
    let t = tempfile::tempdir().unwrap();
    let part = 5 << 20;
    let opts = strata_checkpoint::StoreOptions { multipart_bytes: part as u64, part_bytes: part, ..server.options() };
    let store = ObjectStore::new("s3://big/p", opts).unwrap();
    let data: Vec<u8> = (0..(2 * part + 12345)).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(t.path().join("src"), &data).unwrap();
    let fs = strata::RealFs::new();
    let (put, moved) = store.put_file("tables/big", &fs, &t.path().join("src"), false).unwrap();
    assert_eq!((put, moved.bytes_copied()), (Put::Created, data.len() as u64));
    assert_eq!(store.put_file("tables/big", &fs, &t.path().join("src"), false).unwrap().0, Put::Exists);
    assert_eq!(store.size("tables/big").unwrap(), Some(data.len() as u64));
    store.get_file("tables/big", &fs, &t.path().join("dst"), false).unwrap();
    assert_eq!(std::fs::read(t.path().join("dst")).unwrap(), data);
    let f = store.open("tables/big").unwrap();
    assert_eq!(&f.read_at(part as u64 - 3, 6).unwrap()[..], &data[part - 3..part + 3]);
    assert!(f.read_at(data.len() as u64 - 1, 2).is_err(), "no read past the end");
}

/// A checked download comes down in one streamed GET when enough files move at once, else in
/// ranged GETs; either way every byte reaches the file and the observer in order, with no HEAD
/// first, and an object of another size than expected is `Corruption` naming it. A listing
/// gives every size at once.
#[test]
fn s3_checked_downloads_stream_or_split_and_refuse_a_wrong_size() {
    let Some(server) = S3Server::start("s3_checked_downloads") else { return };
    server.create_bucket("down");
    let t = tempfile::tempdir().unwrap();
    let part = 5 << 20;
    let heads = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&heads);
    let hook = RequestHook(Arc::new(move |op: &str, _key: &str| {
        if op == "head" {
            h.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let opts = StoreOptions {
        multipart_bytes: part as u64,
        part_bytes: part,
        parallelism: 4,
        request_hook: Some(hook),
        ..server.options()
    };
    let store = ObjectStore::new("s3://down/p", opts).unwrap();
    let data: Vec<u8> = (0..(2 * part + 12345)).map(|i| (i * 31 % 251) as u8).collect();
    let len = data.len() as u64;
    std::fs::write(t.path().join("src"), &data).unwrap();
    let fs = strata::RealFs::new();
    let (put, _) = store.put_new_file("tables/big", &fs, &t.path().join("src"), false).unwrap();
    assert_eq!(put, Put::Created);
    // 4 files at once: one GET each; 1 file: ranges of at least a part, 3 here.
    for files_at_once in [4, 1] {
        let dst = t.path().join(format!("dst{files_at_once}"));
        let mut seen = Vec::new();
        let moved =
            store.get_file_checked("tables/big", len, &fs, &dst, files_at_once, &mut |d| seen.extend_from_slice(d));
        assert_eq!(moved.unwrap().bytes_copied(), len);
        assert!(seen == data, "the observer saw every byte in order ({files_at_once} files at once)");
        assert!(std::fs::read(&dst).unwrap() == data, "the file holds every byte");
    }
    assert_eq!(heads.load(Ordering::SeqCst), 0, "no HEAD: the size comes with the GET");
    for wrong in [len - 1, len + 1] {
        let dst = t.path().join(format!("wrong{wrong}"));
        match store.get_file_checked("tables/big", wrong, &fs, &dst, 1, &mut |_| {}) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, PathBuf::from("s3://down/p/tables/big")),
            other => panic!("an object of {len} bytes fetched as {wrong}: {other:?}"),
        }
    }
    assert_eq!(store.list_sizes("tables").unwrap(), vec![("big".to_string(), len)]);
}

/// The requests of a snapshot and a restore, seen through the store's request hook: one listing
/// of `tables/` before the uploads and one after instead of two HEADs per table, no log read
/// after the complete commit, and no HEAD before a download.
#[test]
fn s3_snapshots_list_instead_of_a_head_per_table_and_restores_make_no_head() {
    let t = tempfile::tempdir().unwrap();
    let Some(server) = S3Server::start("s3_requests_per_snapshot") else { return };
    server.create_bucket("req");
    let ops = StoreCalls::default();
    let opts = StoreOptions { request_hook: Some(ops.hook()), ..server.options() };
    let repo = Repository::create_url("s3://req/r", opts, RepositoryOptions::default()).unwrap();
    let db = new_db(&t.path().join("db"), 3000);
    let count = count_calls;
    ops.take();
    let s = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    let first = ops.take();
    assert!(s.tables >= 4, "{s:?}");
    assert_eq!(count(&first, "head "), 0, "{first:?}");
    assert_eq!(count(&first, "list tables"), 2, "{first:?}");
    assert_eq!(count(&first, "put file tables/"), s.tables, "{first:?}");
    assert_eq!((count(&first, "list log"), count(&first, "conditional put log/")), (2, 2), "{first:?}");
    // Nothing new: nothing uploaded, still no HEAD.
    let second = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    let again = ops.take();
    assert_eq!(second.bytes_added, 0);
    assert_eq!((count(&again, "put file"), count(&again, "head ")), (0, 0), "{again:?}");
    // Restore with checksums: one transfer per file, no HEAD, the contents right.
    let strict = RestoreOptions { verify_checksums: true, ..Default::default() };
    let r = repo.restore(s.id, t.path().join("r"), &strict).unwrap();
    let restore = ops.take();
    assert_eq!(count(&restore, "head "), 0, "{restore:?}");
    assert_eq!(count(&restore, "get file tables/"), s.tables, "{restore:?}");
    assert_eq!(restored(&r.dir), contents(&db));
}

#[test]
fn s3_server_stopped_mid_restore_gives_a_clean_error_and_no_target() {
    let t = tempfile::tempdir().unwrap();
    let Some(b) = Backend::s3("s3_server_stopped_mid_restore", 4) else { return };
    let db = new_db(&t.path().join("db"), 1500);
    let repo = b.create().unwrap();
    let s = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    assert!(s.tables >= 2);
    // The server dies once the first file is down.
    let server = Arc::clone(b.server.as_ref().unwrap());
    let files = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&files);
    let progress = Progress::new(move |_| {
        f.fetch_add(1, Ordering::SeqCst);
        server.stop();
        true
    });
    let opts = RestoreOptions { progress: Some(progress), ..Default::default() };
    match repo.restore(s.id, t.path().join("r"), &opts) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("s3://strata-test/"), "names the object: {e}"),
        other => panic!("restore without a server: {other:?}"),
    }
    let done = files.load(Ordering::SeqCst);
    assert!(done >= 1 && done < s.tables, "it failed before the last file: {done} of {}", s.tables);
    assert_no_target(t.path(), "r");
}

/// Waits (bounded) until `want` transfers are in the hook at once; records whether they were.
#[derive(Default)]
struct Overlap {
    state: parking_lot::Mutex<(usize, usize)>,
    cv: parking_lot::Condvar,
}

impl Overlap {
    fn enter(&self, want: usize) {
        let mut g = self.state.lock();
        g.0 += 1;
        g.1 = g.1.max(g.0);
        self.cv.notify_all();
        // Bounded: a store moving one file at a time never gets here twice at once, and then
        // the peak stays 1 and the test fails instead of hanging.
        let _ = self.cv.wait_while_for(&mut g, |g| g.1 < want, std::time::Duration::from_secs(10));
        g.0 -= 1;
    }

    fn peak(&self) -> usize {
        self.state.lock().1
    }
}

/// With parallelism 4 a snapshot uploads, and a restore downloads, several files at once: each
/// transfer waits in the store's hook until 3 are in flight together. And a transfer failing
/// mid-way leaves no complete snapshot and no restore target.
#[test]
fn s3_files_move_in_parallel_and_a_failure_mid_way_commits_nothing() {
    let t = tempfile::tempdir().unwrap();
    let Some(mut b) = Backend::s3("s3_files_move_in_parallel", 4) else { return };
    let db = new_db(&t.path().join("db"), 3000);
    let live = db.live_files(true).unwrap();
    assert!(live.tables.len() >= 4, "enough tables to overlap: {}", live.tables.len());
    drop(live);

    let overlap = Arc::new(Overlap::default());
    let o = Arc::clone(&overlap);
    b.hook = Some(TransferHook(Arc::new(move |_key: &str| {
        o.enter(3);
        Ok(())
    })));
    let repo = b.create().unwrap();
    let s = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    assert!(overlap.peak() >= 3, "snapshot: at most {} files in flight at once", overlap.peak());
    let overlap2 = Arc::new(Overlap::default());
    let o = Arc::clone(&overlap2);
    b.hook = Some(TransferHook(Arc::new(move |_key: &str| {
        o.enter(3);
        Ok(())
    })));
    let r = b.open().unwrap().restore(s.id, t.path().join("r"), &RestoreOptions::default()).unwrap();
    assert_eq!(restored(&r.dir), contents(&db));
    assert!(overlap2.peak() >= 3, "restore: at most {} files in flight at once", overlap2.peak());
    assert!(overlap2.peak() <= 4, "never more than the bound: {}", overlap2.peak());

    // The third transfer fails: the error names it, nothing is committed or left behind.
    let third_fails = |calls: &Arc<AtomicUsize>| {
        let c = Arc::clone(calls);
        Some(TransferHook(Arc::new(move |key: &str| {
            if c.fetch_add(1, Ordering::SeqCst) == 2 {
                return Err(std::io::Error::other(format!("injected failure of {key}")));
            }
            Ok(())
        })))
    };
    let calls = Arc::new(AtomicUsize::new(0));
    b.hook = third_fails(&calls);
    match b.open().unwrap().restore(s.id, t.path().join("r2"), &RestoreOptions::default()) {
        Err(e) => assert!(e.to_string().contains("injected failure of "), "{e}"),
        Ok(r) => panic!("a failed download restored {r:?}"),
    }
    assert_no_target(t.path(), "r2");
    // A fresh repository, so that every table is uploaded.
    let mut other = b.sibling("other");
    other.hook = third_fails(&calls);
    calls.store(0, Ordering::SeqCst);
    let repo = other.create().unwrap();
    match repo.create_snapshot(&db, &SnapshotOptions::default()) {
        Err(e) => assert!(e.to_string().contains("injected failure of tables/"), "{e}"),
        Ok(s) => panic!("a failed upload made snapshot {s:?}"),
    }
    let states: Vec<SnapshotState> = repo.list().unwrap().iter().map(|s| s.state).collect();
    assert_eq!(states, vec![SnapshotState::Failed], "nothing committed complete");
}
