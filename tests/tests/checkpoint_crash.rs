//! Checkpoints and power loss, on the fault-injecting in-memory file system.
//!
//! `SimFs::crash` keeps only synced bytes and synced directory entries. The source lives at
//! `/db`, checkpoints at `/cp` (whose parent, the root, models a mount point and is always
//! durable, so a crashed `create` can leave its temporary sibling behind, as on a real disk
//! after a process kill).
//!
//! The database is dropped before every `crash()`: dropping hands buffered bytes to the "OS"
//! (the last thing the process did), and the crash then throws away what was never synced.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::path::Path;
use strata::{Db, FileSystem, Options, SimFs, WriteOptions};
use strata_checkpoint::{Checkpoint, CheckpointInfo, CheckpointOptions};
use strata_tests::{dump, small_options};

const TMP: &str = "/.cp.strata-checkpoint.tmp";

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn opts(sim: &SimFs) -> Options {
    // No background compactions: after setup nothing runs in the background, so the file-system
    // operations of `create` are (nearly) deterministic.
    Options { fs: Some(sim.arc()), disable_auto_compactions: true, ..small_options() }
}

fn value(prefix: &str, i: u32) -> String {
    format!("{prefix}{i}-{}", "x".repeat(90))
}

/// What the source was given.
struct Expected {
    /// Everything written (the checkpoint must hold exactly this).
    all: Map,
    /// Keys whose writes were flushed or synced (the source must keep them through a crash).
    durable: Map,
    /// The unsynced tail, in write order (the source keeps some prefix of it).
    unsynced: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A source at `/db` with tables on two levels, synced writes only in the WAL, and an
/// unsynced tail. No background work is pending when this returns (the database is reopened
/// before the WAL writes, and `wait_for_background_work` makes sure), so the file-system
/// operations after it are `create`'s alone.
fn setup() -> (SimFs, Db, Expected) {
    let sim = SimFs::new();
    let mut durable = Map::new();
    {
        let db = Db::open("/db", opts(&sim)).unwrap();
        for i in 0..300 {
            db.put(format!("a{i:04}"), value("a", i)).unwrap();
            durable.insert(format!("a{i:04}").into_bytes(), value("a", i).into_bytes());
        }
        db.flush().unwrap();
        db.compact_range(&db.default_cf(), None, None).unwrap();
        for i in 0..150 {
            db.put(format!("b{i:04}"), value("b", i)).unwrap();
            durable.insert(format!("b{i:04}").into_bytes(), value("b", i).into_bytes());
        }
        db.delete("a0007").unwrap();
        durable.remove(&b"a0007"[..]);
        db.flush().unwrap();
    }
    let db = Db::open("/db", opts(&sim)).unwrap();
    let sync = WriteOptions { sync: true, ..Default::default() };
    for i in 0..40 {
        db.put_opt(&sync, format!("c{i:04}"), value("c", i)).unwrap();
        durable.insert(format!("c{i:04}").into_bytes(), value("c", i).into_bytes());
    }
    let mut unsynced = Vec::new();
    for i in 0..20 {
        db.put(format!("d{i:04}"), value("d", i)).unwrap();
        unsynced.push((format!("d{i:04}").into_bytes(), value("d", i).into_bytes()));
    }
    db.wait_for_background_work().unwrap();
    let mut all = durable.clone();
    all.extend(unsynced.iter().cloned());
    (sim, db, Expected { all, durable, unsynced })
}

fn create(db: &Db, dir: &str, flush: bool) -> strata::Result<CheckpointInfo> {
    Checkpoint::new(db).options(CheckpointOptions { flush, ..Default::default() }).create(dir)
}

/// `dir` opens read-only and read-write and holds exactly `expected`.
fn assert_whole_checkpoint(sim: &SimFs, dir: &str, expected: &Map, what: &str) {
    let ro = Db::open_read_only(dir, opts(sim)).unwrap_or_else(|e| panic!("{what}: {dir} does not open: {e}"));
    assert_eq!(dump(&ro), *expected, "{what}: contents of {dir}");
    drop(ro);
    let rw = Db::open(dir, opts(sim)).unwrap_or_else(|e| panic!("{what}: {dir} does not open read-write: {e}"));
    assert_eq!(dump(&rw), *expected, "{what}: contents of {dir} opened read-write");
}

/// The source reopens after a crash with every durable write and a prefix of the unsynced tail.
fn assert_source_unharmed(sim: &SimFs, exp: &Expected, what: &str) -> Db {
    let db = Db::open("/db", opts(sim)).unwrap_or_else(|e| panic!("{what}: source does not reopen: {e}"));
    let got = dump(&db);
    for (k, v) in &exp.durable {
        assert_eq!(got.get(k), Some(v), "{what}: durable key {} lost", String::from_utf8_lossy(k));
    }
    let kept = exp.unsynced.iter().take_while(|(k, _)| got.contains_key(k)).count();
    for (k, v) in &exp.unsynced[..kept] {
        assert_eq!(got.get(k), Some(v));
    }
    for (k, _) in &exp.unsynced[kept..] {
        assert!(!got.contains_key(k), "{what}: unsynced tail is not a prefix");
    }
    assert_eq!(got.len(), exp.durable.len() + kept, "{what}: unexpected keys in the source");
    db
}

/// Index of the last trace line equal to `line`, or starting with `prefix*`.
fn last_pos(trace: &[String], pred: impl Fn(&str) -> bool) -> usize {
    trace.iter().rposition(|l| pred(l)).unwrap_or_else(|| panic!("no such step in trace:\n{}", trace.join("\n")))
}

fn first_pos(trace: &[String], pred: impl Fn(&str) -> bool) -> usize {
    trace.iter().position(|l| pred(l)).unwrap_or_else(|| panic!("no such step in trace:\n{}", trace.join("\n")))
}

/// The order of the key steps of `create` in its file-system trace.
fn assert_step_order(trace: &[String]) {
    let in_tmp = |l: &str, op: &str| l.starts_with(&format!("{op} {TMP}/"));
    let last_link = last_pos(trace, |l| in_tmp(l, "link"));
    let manifest_create = first_pos(trace, |l| l.starts_with(&format!("create {TMP}/MANIFEST-")));
    let manifest_sync = last_pos(trace, |l| l.starts_with(&format!("sync {TMP}/MANIFEST-")));
    // A read-write source's `CURRENT` is hard-linked (already durable), not written and synced.
    let current_link = last_pos(trace, |l| l == format!("link {TMP}/CURRENT"));
    assert!(!trace.iter().any(|l| l == &format!("create {TMP}/CURRENT")), "CURRENT is linked, not written");
    let tmp_sync = last_pos(trace, |l| l == format!("sync_dir {TMP}"));
    let rename = last_pos(trace, |l| l == format!("rename {TMP}"));
    let parent_sync = last_pos(trace, |l| l == "sync_dir /");
    let first_tmp_op = first_pos(trace, |l| l.contains(TMP));
    let mkdir = first_pos(trace, |l| l == format!("mkdir {TMP}"));
    assert_eq!(first_tmp_op, mkdir, "the temporary directory is created before anything goes in it");
    assert!(last_link < manifest_create, "tables and CURRENT are linked before the manifest is written");
    // CURRENT names the manifest before the manifest exists: harmless in a directory no reader
    // can see; both are durable before the directory sync, which comes before the rename.
    assert!(manifest_sync < tmp_sync, "the manifest is synced before the directory sync");
    assert!(current_link < tmp_sync, "CURRENT is in place before the directory sync");
    assert!(tmp_sync < rename, "the directory is synced before it is renamed into place");
    assert!(rename < parent_sync, "the parent is synced after the rename");
    // Nothing of `create` follows the parent sync (the source's close, when the caller drops it
    // before taking the trace, syncs its WAL there).
    assert!(trace[parent_sync + 1..].iter().all(|l| !l.contains(TMP) && !l.starts_with("sync_dir /")));
    for l in trace {
        if let Some(p) = l.strip_prefix("append ").or_else(|| l.strip_prefix("create ")) {
            assert!(!p.starts_with("/db/") || p.ends_with(".log") || p.ends_with(".sst") || p.contains("MANIFEST"));
            assert!(!p.starts_with("/db/") || !p.contains("CURRENT"), "the source's CURRENT is never touched");
        }
        if let Some(p) = l.strip_prefix("remove ") {
            assert!(!p.ends_with(".sst"), "create never deletes a source table: {l}");
        }
    }
}

/// The file-system steps of `create("/cp")` without flush, on the source built by [`setup`].
const GOLDEN_NO_FLUSH: &[&str] = &[
    "mkdir /.cp.strata-checkpoint.tmp",
    "link /.cp.strata-checkpoint.tmp/N.sst",
    "create /.cp.strata-checkpoint.tmp/N.log",
    "append /.cp.strata-checkpoint.tmp/N.log",
    "sync /.cp.strata-checkpoint.tmp/N.log",
    "link /.cp.strata-checkpoint.tmp/CURRENT",
    "create /.cp.strata-checkpoint.tmp/MANIFEST-N",
    "append /.cp.strata-checkpoint.tmp/MANIFEST-N",
    "sync /.cp.strata-checkpoint.tmp/MANIFEST-N",
    "sync_dir /.cp.strata-checkpoint.tmp",
    "rename /.cp.strata-checkpoint.tmp",
    "sync_dir /",
];

/// `trace` with digit runs replaced by `N` and consecutive duplicates removed.
fn normalized(trace: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in trace {
        let mut n = String::new();
        for c in l.chars() {
            if !c.is_ascii_digit() {
                n.push(c);
            } else if !n.ends_with('N') {
                n.push('N');
            }
        }
        if out.last() != Some(&n) {
            out.push(n);
        }
    }
    out
}

/// (a) Unsynced data is thrown away right after `create` returns: the checkpoint is whole.
#[test]
fn checkpoint_survives_power_loss_right_after_create() {
    for flush in [true, false] {
        let (sim, db, exp) = setup();
        let info = create(&db, "/cp", flush).unwrap();
        if !flush {
            assert!(info.copied_files >= 1, "the WAL prefix is copied: {info:?}");
        }
        drop(db);
        sim.crash();
        assert_whole_checkpoint(&sim, "/cp", &exp.all, &format!("flush={flush}"));
        assert!(!sim.exists(Path::new(TMP)));
        drop(assert_source_unharmed(&sim, &exp, &format!("flush={flush}")));
    }
}

/// (b) A crash at every file-system step of `create`: afterwards `/cp` either does not exist
/// or is a whole checkpoint, and the source is unharmed.
fn crash_at_every_step(flush: bool) {
    // Learning run: how many operations `create` performs, and in which order.
    let (sim, db, exp) = setup();
    let start = sim.op_count();
    let info = create(&db, "/cp", flush).unwrap();
    // Dropping closes the source (it syncs its WAL): those operations are counted too, so the
    // last crash points below fall after `create`. A flush's WAL removal is inside `create`:
    // `flush` returns only once no deletion pass that could still remove it is running.
    drop(db);
    let ops = sim.op_count() - start;
    let trace: Vec<String> = sim.trace().split_off(start as usize);
    println!("golden trace of create (flush={flush}, {ops} operations, {info:?}):");
    for (i, l) in trace.iter().enumerate() {
        println!("  {i:3} {l}");
    }
    assert_step_order(&trace);
    // Operations after the parent's sync, the last step of `create`, are not `create`'s: the
    // source's close syncs its WAL.
    let parent_sync = last_pos(&trace, |l| l == "sync_dir /") as u64;
    if !flush {
        // Deterministic without a flush: the whole trace, file numbers replaced by `N` and runs
        // of the same step (one link per table, appends) shown once.
        // Closing the source (the drop above) trims and syncs its WAL after `create`: that is
        // the source's own shutdown, not a step of `create`.
        let create_ops: Vec<String> = trace.iter().filter(|l| !l.starts_with("sync /db/")).cloned().collect();
        assert_eq!(normalized(&create_ops), GOLDEN_NO_FLUSH, "golden trace changed");
    }
    sim.crash();
    assert_whole_checkpoint(&sim, "/cp", &exp.all, "learning run");

    let (mut absent, mut whole) = (0, 0);
    // `k == ops` injects nothing into `create`: the checkpoint must then be whole.
    for k in 0..=ops {
        let what = format!("flush={flush}, crash at operation {k} of {ops}");
        let (sim, db, exp) = setup();
        let start = sim.op_count();
        sim.fail_after(Some(start + k));
        let r = create(&db, "/cp", flush);
        let trace: Vec<String> = sim.trace().split_off(start as usize);
        if k == ops {
            r.as_ref().unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        if r.is_ok() {
            // Only possible when every operation of `create` came before the fault.
            let parent_sync = last_pos(&trace, |l| l == "sync_dir /");
            assert!((parent_sync as u64) < k, "{what}: create succeeded past an injected fault:\n{}", trace.join("\n"));
        }
        drop(db);
        sim.crash();
        // The rename is durable only once the parent is synced, the last step of a create
        // that succeeds: `/cp` survives exactly when `create` returned Ok.
        assert_eq!(sim.exists(Path::new("/cp")), r.is_ok(), "{what}: {r:?}");
        if sim.exists(Path::new("/cp")) {
            whole += 1;
            assert_whole_checkpoint(&sim, "/cp", &exp.all, &what);
        } else {
            absent += 1;
        }
        // The source is unharmed and can take a checkpoint again; a leftover temporary
        // directory is cleaned up on the way.
        let db = assert_source_unharmed(&sim, &exp, &what);
        let again = create(&db, "/cp2", true).unwrap_or_else(|e| panic!("{what}: checkpoint after crash: {e}"));
        assert_eq!(again.sequence, db.sequence());
        if !sim.exists(Path::new("/cp")) {
            create(&db, "/cp", false).unwrap_or_else(|e| panic!("{what}: checkpoint into /cp after crash: {e}"));
        }
        assert!(!sim.exists(Path::new(TMP)), "{what}: temporary directory left after a successful create");
        let source_now = dump(&db);
        drop(db);
        assert_whole_checkpoint(&sim, "/cp2", &source_now, &what);
    }
    println!("flush={flush}: {ops} crash points: /cp absent after {absent}, whole after {whole}");
    // A crash at any operation of `create` up to the parent's sync leaves no `/cp`: every run
    // performs the learning run's operations in the same order.
    assert!(whole >= 1 && absent > parent_sync, "absent {absent}, whole {whole}, parent synced at {parent_sync}");
}

#[test]
fn crash_at_every_step_of_create_with_flush() {
    crash_at_every_step(true);
}

#[test]
fn crash_at_every_step_of_create_without_flush() {
    crash_at_every_step(false);
}

/// (c) A temporary sibling left by a crashed `create` is removed by the next `create`.
#[test]
fn leftover_temporary_directory_is_removed_by_next_create() {
    let (sim, db, exp) = setup();
    // Fail at the rename into place: the temporary directory is complete and synced, and the
    // failed cleanup cannot remove it either.
    let start = sim.op_count();
    let info = create(&db, "/probe", false).unwrap();
    let ops = sim.op_count() - start;
    let trace: Vec<String> = sim.trace().split_off(start as usize);
    let rename = trace.iter().position(|l| l == "rename /.probe.strata-checkpoint.tmp").unwrap() as u64;
    assert!(rename < ops, "{info:?}");
    let start = sim.op_count();
    sim.fail_after(Some(start + rename));
    assert!(create(&db, "/cp", false).is_err());
    drop(db);
    sim.crash();
    assert!(sim.is_dir(Path::new(TMP)), "the crash left the temporary directory behind");
    assert!(!sim.exists(Path::new("/cp")));
    let leftover = sim.list(Path::new(TMP)).unwrap();
    assert!(leftover.iter().any(|n| n == "CURRENT"), "{leftover:?}");
    // Junk that was never part of any checkpoint must not end up in the next one.
    sim.write_atomic(Path::new(&format!("{TMP}/junk")), b"junk").unwrap();
    let db = assert_source_unharmed(&sim, &exp, "after crash");
    let expected = dump(&db);
    create(&db, "/cp", true).unwrap();
    assert!(!sim.exists(Path::new(TMP)), "the leftover is gone");
    let names = sim.list(Path::new("/cp")).unwrap();
    assert!(!names.iter().any(|n| n == "junk"), "{names:?}");
    drop(db);
    assert_whole_checkpoint(&sim, "/cp", &expected, "after leftover");
}

/// A file system that fails `sync_dir` of one directory once, and is otherwise the real one.
#[derive(Debug)]
struct FailSyncDirOnce {
    inner: strata::RealFs,
    dir: std::path::PathBuf,
    armed: std::sync::atomic::AtomicBool,
}

impl FileSystem for FailSyncDirOnce {
    fn create(&self, p: &Path) -> std::io::Result<Box<dyn strata_base::WritableFile>> {
        self.inner.create(p)
    }
    fn open(&self, p: &Path) -> std::io::Result<std::sync::Arc<dyn strata_base::RandomAccessFile>> {
        self.inner.open(p)
    }
    fn open_unmapped(&self, p: &Path) -> std::io::Result<std::sync::Arc<dyn strata_base::RandomAccessFile>> {
        self.inner.open_unmapped(p)
    }
    fn read_all(&self, p: &Path) -> std::io::Result<bytes::Bytes> {
        self.inner.read_all(p)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.link(from, to)
    }
    fn remove_file(&self, p: &Path) -> std::io::Result<()> {
        self.inner.remove_file(p)
    }
    fn remove_dir_all(&self, p: &Path) -> std::io::Result<()> {
        self.inner.remove_dir_all(p)
    }
    fn create_dir_all(&self, p: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(p)
    }
    fn list(&self, p: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(p)
    }
    fn exists(&self, p: &Path) -> bool {
        self.inner.exists(p)
    }
    fn is_dir(&self, p: &Path) -> bool {
        self.inner.is_dir(p)
    }
    fn file_size(&self, p: &Path) -> std::io::Result<u64> {
        self.inner.file_size(p)
    }
    fn lock(&self, p: &Path) -> std::io::Result<Box<dyn strata_base::FileLock>> {
        self.inner.lock(p)
    }
    fn sync_dir(&self, p: &Path) -> std::io::Result<()> {
        if p == self.dir && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("injected: parent directory fsync failed"));
        }
        self.inner.sync_dir(p)
    }
    fn link_count(&self, p: &Path) -> std::io::Result<u64> {
        self.inner.link_count(p)
    }
}

/// A failed fsync of the parent after the rename is still an error of `create`, and like every
/// error it leaves nothing at the target (the rename's durability is unknown).
#[test]
fn failed_parent_sync_leaves_no_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = std::sync::Arc::new(FailSyncDirOnce {
        inner: strata::RealFs::default(),
        dir: tmp.path().to_path_buf(),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let db = Db::open(tmp.path().join("src"), Options { fs: Some(fs.clone()), ..Default::default() }).unwrap();
    db.put("k", "v").unwrap();
    fs.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let cp = tmp.path().join("cp");
    let r = Checkpoint::new(&db).create(&cp);
    assert!(r.is_err(), "{r:?}");
    assert!(!cp.exists(), "an error left a checkpoint at the target");
    assert!(!tmp.path().join(".cp.strata-checkpoint.tmp").exists());
    // And the next attempt works.
    Checkpoint::new(&db).create(&cp).unwrap();
    let c = Db::open_read_only(&cp, Options::default()).unwrap();
    assert_eq!(c.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

/// (c) on the real file system: a leftover directory with junk in it is replaced.
#[test]
fn leftover_temporary_directory_is_removed_on_real_fs() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), Options::default()).unwrap();
    db.put("k", "v").unwrap();
    let leftover = tmp.path().join(".cp.strata-checkpoint.tmp");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("junk"), b"junk").unwrap();
    std::fs::write(leftover.join("CURRENT"), b"MANIFEST-999999\n").unwrap();
    Checkpoint::new(&db).create(tmp.path().join("cp")).unwrap();
    assert!(!leftover.exists());
    assert!(!tmp.path().join("cp").join("junk").exists());
    let c = Db::open_read_only(tmp.path().join("cp"), Options::default()).unwrap();
    assert_eq!(c.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}
