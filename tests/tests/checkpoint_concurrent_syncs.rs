//! A checkpoint on a real file system (`FileSystem::concurrent_syncs` says yes) still writes and
//! syncs its MANIFEST and `CURRENT` one after the other on the caller's thread: a thread of its
//! own cost more than the overlap saved (docs/performance.md, "Checkpoints"). These tests check
//! that, and that a failure of either file or of a copy leaves nothing behind: no checkpoint, no
//! temporary directory, and the next checkpoint succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use strata::{Db, FileSystem as _, Options, RealFs};
use strata_checkpoint::{Checkpoint, CheckpointOptions};
use strata_tests::fault_fs::{CreateHook, FaultRule, SelectiveFaultFs};
use strata_tests::small_options;

fn open(dir: &Path) -> (SelectiveFaultFs, Db) {
    let ffs = SelectiveFaultFs::new(Arc::new(RealFs::new()));
    let opts = Options { fs: Some(ffs.arc()), ..small_options() };
    let db = Db::open(dir.join("db"), opts).unwrap();
    for i in 0..200u32 {
        db.put(format!("key{i:05}").as_bytes(), format!("value{i}").as_bytes()).unwrap();
    }
    db.flush().unwrap();
    (ffs, db)
}

/// The checkpoint of a read-write source hard-links the source's `CURRENT` and names its own
/// MANIFEST after the source's.
fn checkpoint_manifest_name(db: &Db) -> String {
    let n = strata_manifest::read_current(&RealFs::new(), db.path()).unwrap();
    strata_manifest::manifest_file_name(n)
}

fn no_flush() -> CheckpointOptions {
    CheckpointOptions { flush: false, ..Default::default() }
}

/// Entries of `parent` other than the database directory.
fn leftovers(parent: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "db")
        .collect();
    v.sort();
    v
}

fn assert_opens_with_all_keys(dir: &Path) {
    let cp = Db::open(dir, small_options()).unwrap();
    for i in 0..200u32 {
        assert_eq!(cp.get(format!("key{i:05}").as_bytes()).unwrap().as_deref(), Some(format!("value{i}").as_bytes()));
    }
}

/// A checkpoint into `parent/cp` whose file ending with `suffix` fails to be written returns the
/// injected error and leaves nothing in `parent`.
fn assert_fails_leaving_nothing(
    ffs: &SelectiveFaultFs,
    db: &Db,
    parent: &Path,
    opts: CheckpointOptions,
    suffix: String,
) {
    ffs.set_rule(Some(FaultRule { suffix: suffix.clone(), kind: std::io::ErrorKind::PermissionDenied }));
    let err = Checkpoint::new(db).options(opts).create(parent.join("cp")).unwrap_err();
    assert!(err.to_string().contains("injected selective fault"), "{suffix}: {err}");
    assert!(leftovers(parent).is_empty(), "{suffix}: left {:?}", leftovers(parent));
    ffs.set_rule(None);
}

/// After failed attempts, a checkpoint into `parent/cp` succeeds, is the only entry left, and
/// opens with every key.
fn assert_next_checkpoint_works(db: Db, parent: &Path) {
    Checkpoint::new(&db).options(no_flush()).create(parent.join("cp")).unwrap();
    assert_eq!(leftovers(parent), vec!["cp".to_string()]);
    drop(db);
    assert_opens_with_all_keys(&parent.join("cp"));
}

#[test]
fn the_manifest_is_written_on_the_callers_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let (ffs, db) = open(tmp.path());
    assert!(ffs.concurrent_syncs());
    let seen: Arc<Mutex<Option<ThreadId>>> = Arc::default();
    let record = Arc::clone(&seen);
    ffs.set_create_hook(Some(CreateHook {
        suffix: format!(".tmp/{}", checkpoint_manifest_name(&db)),
        run: Box::new(move || *record.lock().unwrap() = Some(std::thread::current().id())),
    }));
    Checkpoint::new(&db).options(no_flush()).create(tmp.path().join("cp")).unwrap();
    let manifest_thread = seen.lock().unwrap().expect("the checkpoint's MANIFEST was created");
    assert_eq!(manifest_thread, std::thread::current().id(), "the MANIFEST was written on another thread");
    drop(db);
    assert_opens_with_all_keys(&tmp.path().join("cp"));
}

#[test]
fn a_failed_manifest_or_current_leaves_nothing_and_the_next_checkpoint_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (ffs, db) = open(tmp.path());
    // The MANIFEST's create, the link of `CURRENT` (a read-write source), and with `copy_files`
    // the written `CURRENT`'s create.
    let copy = CheckpointOptions { copy_files: true, ..no_flush() };
    for (opts, suffix) in [
        (no_flush(), format!(".tmp/{}", checkpoint_manifest_name(&db))),
        (no_flush(), ".tmp/CURRENT".to_string()),
        (copy, ".tmp/CURRENT".to_string()),
    ] {
        assert_fails_leaving_nothing(&ffs, &db, tmp.path(), opts, suffix);
    }
    assert_next_checkpoint_works(db, tmp.path());
}

#[test]
fn a_failed_copy_leaves_nothing_and_the_next_checkpoint_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (ffs, db) = open(tmp.path());
    db.put(b"unflushed", b"in the WAL").unwrap();
    let live = db.live_files(false).unwrap();
    let name = |p: &Path| format!(".cp.strata-checkpoint.tmp/{}", p.file_name().unwrap().to_string_lossy());
    let table = name(&live.tables[0].path);
    let wal = name(&live.wals.last().expect("a live WAL").path);
    drop(live);
    // A table copy (`copy_files`) and a WAL copy fail after the temporary directory was made.
    let copy = CheckpointOptions { copy_files: true, ..no_flush() };
    for (opts, suffix) in [(copy, table), (no_flush(), wal)] {
        assert_fails_leaving_nothing(&ffs, &db, tmp.path(), opts, suffix);
    }
    assert_next_checkpoint_works(db, tmp.path());
}

/// A link of the source's `CURRENT` that fails, for any reason (here `EPERM`, as vfat or a
/// FUSE mount gives), only costs the sync it would have saved: the checkpoint writes a
/// `CURRENT` of its own and succeeds, and the source's `CURRENT` keeps one link.
/// Link errors a file system gives for a link it will not make: `EPERM`, `EXDEV`, `ENOENT`.
const REFUSED: [std::io::ErrorKind; 3] =
    [std::io::ErrorKind::PermissionDenied, std::io::ErrorKind::CrossesDevices, std::io::ErrorKind::NotFound];

#[test]
fn a_refused_link_of_current_falls_back_to_a_written_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (ffs, db) = open(tmp.path());
    for kind in REFUSED {
        ffs.set_link_rule(Some(FaultRule { suffix: ".tmp/CURRENT".into(), kind }));
        let cp = tmp.path().join(format!("cp-{kind:?}"));
        Checkpoint::new(&db).options(no_flush()).create(&cp).unwrap();
        assert_eq!(RealFs::new().link_count(&cp.join("CURRENT")).unwrap(), 1, "{kind:?}");
        assert_eq!(RealFs::new().link_count(&db.path().join("CURRENT")).unwrap(), 1, "{kind:?}");
        assert_ne!(
            strata_manifest::read_current(&RealFs::new(), &cp).unwrap(),
            strata_manifest::read_current(&RealFs::new(), db.path()).unwrap(),
            "{kind:?}: a fresh manifest number"
        );
    }
    ffs.set_link_rule(None);
    drop(db);
    for kind in REFUSED {
        assert_opens_with_all_keys(&tmp.path().join(format!("cp-{kind:?}")));
    }
}
