//! Snapshot repositories and power loss, on `SimFs` (which keeps only synced bytes and synced
//! directory entries): a crash at every file-system operation of `create_snapshot`, `delete`,
//! `gc` and `restore`. Afterwards the repository opens, lists exactly the committed snapshots
//! (plus, at most, the interrupted one as creating or deleting), each complete one verifies
//! and restores with the right contents, and a `gc` leaves only what the snapshots reference.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use strata::{Db, FileSystem, Options, SimFs};
use strata_checkpoint::repo::{
    Progress, Repository, RepositoryOptions, RestoreOptions, SnapshotId, SnapshotOptions, SnapshotState, VerifyLevel,
};
use strata_tests::{dump, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;
const REPO: &str = "/repo";

fn dopts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), disable_auto_compactions: true, ..small_options() }
}

fn ropts(sim: &SimFs) -> RepositoryOptions {
    // No grace: a creating snapshot left by a crash is failed by the next gc.
    RepositoryOptions { fs: Some(sim.arc()), creating_grace: Duration::ZERO, ..Default::default() }
}

fn write(db: &Db, from: u32, to: u32) {
    for i in from..to {
        db.put(format!("k{i:05}"), format!("{i}-{}", "x".repeat(80))).unwrap();
    }
    db.flush().unwrap();
}

/// A database at `/db` and a repository at `/repo` holding `n` complete snapshots, each after
/// more writes; returns the contents each snapshot must restore to.
fn setup(n: u32) -> (SimFs, Db, BTreeMap<u64, Map>) {
    let sim = SimFs::new();
    let db = Db::open("/db", dopts(&sim)).unwrap();
    let repo = Repository::create_with(REPO, ropts(&sim)).unwrap();
    let mut want = BTreeMap::new();
    for s in 0..n {
        write(&db, s * 300, s * 300 + 400);
        let info = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
        want.insert(info.id.0, dump(&db));
    }
    write(&db, 5000, 5300);
    (sim, db, want)
}

/// Everything the checks need after a crash.
fn check_after_crash(sim: &SimFs, want: &BTreeMap<u64, Map>, ctx: &str) {
    let repo =
        Repository::open_with(REPO, ropts(sim)).unwrap_or_else(|e| panic!("{ctx}: repository does not open: {e}"));
    let list = repo.list().unwrap();
    let complete: BTreeSet<u64> = list.iter().filter(|s| s.state == SnapshotState::Complete).map(|s| s.id.0).collect();
    let expected: BTreeSet<u64> = want.keys().copied().collect();
    assert_eq!(complete, expected, "{ctx}: complete snapshots ({list:?})");
    for s in &list {
        if s.state != SnapshotState::Complete {
            assert!(!want.contains_key(&s.id.0), "{ctx}: snapshot {} should be complete", s.id);
        }
    }
    check_snapshots(sim, &repo, want, ctx);
    let gc = repo.gc().unwrap_or_else(|e| panic!("{ctx}: gc: {e}"));
    assert!(gc.damaged.is_empty(), "{ctx}: {gc:?}");
    let creating: Vec<SnapshotId> = list.iter().filter(|s| s.state == SnapshotState::Creating).map(|s| s.id).collect();
    assert_eq!(gc.expired, creating, "{ctx}: creating snapshots past their (zero) grace are failed");
    let after: BTreeSet<u64> = repo.list().unwrap().iter().map(|s| s.id.0).collect();
    assert_eq!(after, expected, "{ctx}: after gc only complete snapshots remain");
    check_snapshots(sim, &repo, want, ctx);
    // Exactly the referenced tables remain; no temporary file, no trash, no stray WAL prefix.
    let mut referenced = 0;
    for id in want.keys() {
        referenced += repo.snapshot(SnapshotId(*id)).unwrap().tables;
    }
    let stored = sim.list(&Path::new(REPO).join("tables")).unwrap();
    assert!(stored.len() <= referenced, "{ctx}: unreferenced tables left: {stored:?}");
    for dir in ["log", "tables", "wals", "trash"] {
        let names = sim.list(&Path::new(REPO).join(dir)).unwrap_or_default();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{ctx}: temporary files in {dir}: {names:?}");
        if dir != "log" && dir != "tables" {
            assert!(names.is_empty(), "{ctx}: {dir} not empty: {names:?}");
        }
    }
}

/// Each complete snapshot verifies and restores to its contents.
fn check_snapshots(sim: &SimFs, repo: &Repository, want: &BTreeMap<u64, Map>, ctx: &str) {
    for (id, contents) in want {
        let report = repo.verify(SnapshotId(*id), VerifyLevel::Checksums).unwrap();
        assert!(report.is_ok(), "{ctx}: snapshot {id}: {:?}", report.problems);
        let dir = format!("/restored-{id}");
        if sim.exists(Path::new(&dir)) {
            sim.remove_dir_all(Path::new(&dir)).unwrap();
        }
        repo.restore(SnapshotId(*id), &dir, &RestoreOptions::default())
            .unwrap_or_else(|e| panic!("{ctx}: restore {id}: {e}"));
        let db = Db::open_read_only(&dir, dopts(sim)).unwrap();
        assert_eq!(dump(&db), *contents, "{ctx}: contents of snapshot {id}");
    }
}

/// Runs `op` failing at its `n`-th file-system operation, for n = 0, 1, ... until it succeeds;
/// after each, crashes and calls `check(sim, op_succeeded, n)`.
fn at_every_step(
    setup_n: u32,
    mut op: impl FnMut(&SimFs, &Db, &Repository) -> bool,
    mut check: impl FnMut(&SimFs, BTreeMap<u64, Map>, bool, u64),
) -> u64 {
    for n in 0.. {
        let (sim, db, want) = setup(setup_n);
        let repo = Repository::open_with(REPO, ropts(&sim)).unwrap();
        sim.fail_after(Some(sim.op_count() + n));
        let ok = op(&sim, &db, &repo);
        sim.fail_after(None);
        drop(repo);
        drop(db);
        sim.crash();
        check(&sim, want, ok, n);
        if ok {
            return n;
        }
    }
    unreachable!()
}

#[test]
fn crash_at_every_step_of_create() {
    let steps = at_every_step(
        1,
        |_, db, repo| repo.create_snapshot(db, &SnapshotOptions::default()).is_ok(),
        |sim, mut want, ok, n| {
            if ok {
                // Everything was flushed before the snapshot and nothing written after it, so
                // the source after the crash holds exactly the snapshot's contents.
                let db = Db::open_read_only("/db", dopts(sim)).unwrap();
                want.insert(2, dump(&db));
            }
            check_after_crash(sim, &want, &format!("create, crash at step {n}"));
        },
    );
    assert!(steps > 10, "create took only {steps} file-system operations");
}

#[test]
fn crash_at_every_step_of_delete() {
    at_every_step(
        2,
        |_, _, repo| repo.delete(SnapshotId(1)).is_ok(),
        |sim, mut want, ok, n| {
            let ctx = format!("delete, crash at step {n}");
            let repo = Repository::open_with(REPO, ropts(sim)).unwrap();
            match repo.snapshot(SnapshotId(1)).map(|s| s.state) {
                Ok(SnapshotState::Complete) => assert!(!ok, "{ctx}: acknowledged delete undone"),
                Ok(SnapshotState::Deleting) | Err(_) => {
                    want.remove(&1);
                }
                other => panic!("{ctx}: snapshot 1 is {other:?}"),
            }
            drop(repo);
            check_after_crash(sim, &want, &ctx);
        },
    );
}

#[test]
fn crash_at_every_step_of_gc() {
    let prepare = |sim: &SimFs, db: &Db, repo: &Repository| {
        // A failed snapshot (cancelled after storing its tables) and a deleting one (its
        // sweep skipped because the gc lock is held) give gc work to do.
        write(db, 9000, 9400);
        let cancel = Progress::new(|ev| ev.files_done < 2);
        assert!(repo.create_snapshot(db, &SnapshotOptions { progress: Some(cancel), ..Default::default() }).is_err());
        let s = repo.create_snapshot(db, &SnapshotOptions::default()).unwrap();
        let lock = sim.lock(&Path::new(REPO).join("GC.lock")).unwrap();
        repo.delete(s.id).unwrap();
        drop(lock);
        assert_eq!(repo.snapshot(s.id).unwrap().state, SnapshotState::Deleting);
    };
    for n in 0.. {
        let (sim, db, want) = setup(1);
        let repo = Repository::open_with(REPO, ropts(&sim)).unwrap();
        prepare(&sim, &db, &repo);
        sim.fail_after(Some(sim.op_count() + n));
        let ok = repo.gc().is_ok();
        sim.fail_after(None);
        drop(repo);
        drop(db);
        sim.crash();
        check_after_crash(&sim, &want, &format!("gc, crash at step {n}"));
        if ok {
            assert!(n > 10, "gc took only {n} file-system operations");
            break;
        }
    }
}

#[test]
fn crash_at_every_step_of_restore_never_touches_the_repository() {
    at_every_step(
        1,
        |sim, _, repo| {
            let before = sim.trace().len();
            let ok = repo.restore(SnapshotId(1), "/r", &RestoreOptions::default()).is_ok();
            for line in &sim.trace()[before..] {
                assert!(!line.contains(REPO), "restore changed the repository: {line}");
            }
            ok
        },
        |sim, want, ok, n| {
            let ctx = format!("restore, crash at step {n}");
            if sim.exists(Path::new("/r")) {
                let db = Db::open_read_only("/r", dopts(sim)).unwrap_or_else(|e| panic!("{ctx}: partial restore: {e}"));
                assert_eq!(dump(&db), want[&1], "{ctx}");
            } else {
                assert!(!ok, "{ctx}: acknowledged restore lost");
            }
            check_after_crash(sim, &want, &ctx);
        },
    );
}

#[test]
fn crash_at_every_step_of_export_and_import() {
    use strata_checkpoint::repo::{ImportOptions, import_into_new_database};
    for n in 0.. {
        let (sim, db, want) = setup(1);
        drop(db);
        let repo = Repository::open_with(REPO, ropts(&sim)).unwrap();
        sim.fail_after(Some(sim.op_count() + n));
        let exported = repo.export(SnapshotId(1), "/bundle").is_ok();
        let imported =
            exported && import_into_new_database(sim.arc(), "/bundle", "/imported", &ImportOptions::default()).is_ok();
        sim.fail_after(None);
        drop(repo);
        sim.crash();
        let ctx = format!("export + import, crash at step {n}");
        // The bundle and the imported database each exist exactly when whole.
        if sim.exists(Path::new("/imported")) {
            let db = Db::open_read_only("/imported", dopts(&sim)).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(dump(&db), want[&1], "{ctx}");
        } else {
            assert!(!imported, "{ctx}: acknowledged import lost");
        }
        if sim.exists(Path::new("/bundle")) {
            let check = import_into_new_database(sim.arc(), "/bundle", "/check", &ImportOptions::default());
            check.unwrap_or_else(|e| panic!("{ctx}: partial bundle: {e}"));
        } else {
            assert!(!exported, "{ctx}: acknowledged export lost");
        }
        check_after_crash(&sim, &want, &ctx);
        if imported {
            assert!(n > 10, "export + import took only {n} operations");
            break;
        }
    }
}
