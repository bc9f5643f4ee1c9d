//! Snapshot repositories under concurrency: snapshots while writers, flushes and compactions
//! run (each restores to a prefix of the write history that holds every write acknowledged
//! before it began); gc while a snapshot is being created (its creating record protects the
//! tables); a reused table that vanishes mid-create is stored again; gc and create racing in
//! threads; two processes committing to one repository.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata::{Db, Options, WriteOptions};
use strata_checkpoint::repo::{Progress, Repository, RestoreOptions, SnapshotOptions, SnapshotState, VerifyLevel};
use strata_tests::history::{Acked, History, SIDE_CF, check_prefix};
use strata_tests::small_options;

#[test]
fn snapshots_while_writers_flushes_and_compactions_run() {
    let t = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(t.path().join("db"), small_options()).unwrap());
    let side = db.create_cf(SIDE_CF).unwrap();
    let repo = Repository::create(t.path().join("repo")).unwrap();
    let history = History::new(7);
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, written, stop, side) = (db.clone(), written.clone(), stop.clone(), side.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) || i < 200 {
                db.write(history.batch(i, &side), &WriteOptions::default()).unwrap();
                i += 1;
                written.store(i, Ordering::SeqCst);
            }
        })
    };
    let compactor = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                db.flush().unwrap();
                db.compact_range(&db.default_cf(), None, None).unwrap();
            }
        })
    };
    let mut taken = Vec::new();
    for round in 0..12 {
        let before = written.load(Ordering::SeqCst);
        let flush = round % 3 != 2;
        let s = repo.create_snapshot(&db, &SnapshotOptions { flush, ..Default::default() }).unwrap();
        let after = written.load(Ordering::SeqCst) + 1;
        taken.push((s.id, Acked { durable: before, attempted: after }));
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    compactor.join().unwrap();
    let mut last = 0;
    for (id, acked) in taken {
        assert!(repo.verify(id, VerifyLevel::Checksums).unwrap().is_ok());
        let dir = t.path().join(format!("r{id}"));
        repo.restore(id, &dir, &RestoreOptions::default()).unwrap();
        let r = Db::open_read_only(&dir, Options::default()).unwrap();
        let n = check_prefix(&r, &history, acked, &format!("snapshot {id}"));
        assert!(n >= last, "snapshot {id} holds {n} batches, an earlier one held {last}");
        last = n;
        assert_eq!(r.sequence(), repo.snapshot(id).unwrap().sequence);
    }
}

#[test]
fn gc_during_create_spares_the_creating_snapshot_and_vanished_tables_are_stored_again() {
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), Options { disable_auto_compactions: true, ..small_options() }).unwrap();
    let repo_dir = t.path().join("repo");
    let repo = Repository::create(&repo_dir).unwrap();
    for i in 0..1500 {
        db.put(format!("k{i:05}"), "v".repeat(50)).unwrap();
    }
    let s1 = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    let want = strata_tests::dump(&db);
    // Delete the only snapshot: its tables are unreferenced, but the next snapshot (of the
    // unchanged database) needs every one of them.
    let lock = strata::RealFs::new();
    let held = strata_base::FileSystem::lock(&lock, &repo_dir.join("GC.lock")).unwrap();
    repo.delete(s1.id).unwrap();
    drop(held);
    let dir = repo_dir.clone();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let progress = Progress::new(move |ev| {
        if ev.files_done == 1 && !r2.swap(true, Ordering::SeqCst) {
            // A gc in "another process" while this snapshot is creating: it forgets snapshot 1
            // but must spare every table the creating record lists.
            let other = Repository::open(&dir).unwrap();
            let gc = other.gc().unwrap();
            assert_eq!(gc.forgotten.len(), 1);
            assert_eq!(gc.objects_deleted, 0, "{gc:?}");
            // And a table vanishing anyway (a gc that read the log before our creating record)
            // is stored again by the final check.
            let victim = std::fs::read_dir(dir.join("tables")).unwrap().next().unwrap().unwrap().path();
            std::fs::remove_file(victim).unwrap();
        }
        true
    });
    let s2 = repo.create_snapshot(&db, &SnapshotOptions { progress: Some(progress), ..Default::default() }).unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert!(repo.verify(s2.id, VerifyLevel::Checksums).unwrap().is_ok());
    let r = repo.restore(s2.id, t.path().join("r"), &RestoreOptions::default()).unwrap();
    assert_eq!(strata_tests::dump(&Db::open_read_only(&r.dir, Options::default()).unwrap()), want);
}

#[test]
fn gc_and_create_racing_in_threads_lose_nothing() {
    let t = tempfile::tempdir().unwrap();
    let repo_dir = t.path().join("repo");
    Repository::create(&repo_dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let (dir, stop) = (repo_dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let repo = Repository::open(&dir).unwrap();
            let mut runs = 0;
            while !stop.load(Ordering::SeqCst) || runs < 5 {
                match repo.gc() {
                    Ok(_) | Err(strata::Error::TryAgain(_)) => runs += 1,
                    Err(e) => panic!("gc: {e}"),
                }
            }
        })
    };
    let creators: Vec<_> = (0..2)
        .map(|w| {
            let (dir, root) = (repo_dir.clone(), t.path().to_path_buf());
            std::thread::spawn(move || {
                let repo = Repository::open(&dir).unwrap();
                let db = Db::open(root.join(format!("db{w}")), small_options()).unwrap();
                let mut kept = Vec::new();
                for round in 0..8 {
                    for i in 0..300 {
                        db.put(format!("k{:05}", (i * 7 + round * 31) % 900), format!("{w}-{round}-{i}")).unwrap();
                    }
                    let s = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
                    kept.push((s.id, strata_tests::dump(&db)));
                    // Delete every other one, so gc always has something to sweep.
                    if round % 2 == 0 {
                        repo.delete(s.id).unwrap();
                        kept.pop();
                    }
                }
                kept
            })
        })
        .collect();
    let kept: Vec<_> = creators.into_iter().flat_map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    gc.join().unwrap();
    let repo = Repository::open(&repo_dir).unwrap();
    repo.gc().unwrap();
    let complete = repo.list().unwrap().into_iter().filter(|s| s.state == SnapshotState::Complete).count();
    assert_eq!(complete, kept.len());
    for (id, want) in kept {
        let report = repo.verify(id, VerifyLevel::Checksums).unwrap();
        assert!(report.is_ok(), "snapshot {id}: {:?}", report.problems);
        let r = repo.restore(id, t.path().join(format!("r{id}")), &RestoreOptions::default()).unwrap();
        assert_eq!(strata_tests::dump(&Db::open_read_only(&r.dir, Options::default()).unwrap()), want);
    }
}

const CHILD_ENV: &str = "STRATA_REPO_CHILD";

/// The child: snapshots its own database into the shared repository, when re-executed.
#[test]
fn repo_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (repo_dir, db_dir) = spec.split_once('|').expect("spec");
    let repo = Repository::open(repo_dir).expect("child opens the repository");
    let db = Db::open(db_dir, Options::default()).expect("child db");
    for i in 0..10 {
        db.put(format!("k{i}"), "v").unwrap();
        repo.create_snapshot(&db, &SnapshotOptions::default()).expect("child snapshot");
    }
}

#[test]
fn two_processes_commit_to_one_repository() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let repo_dir = t.path().join("repo");
    Repository::create(&repo_dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|c| {
            let spec = format!("{}|{}", repo_dir.display(), t.path().join(format!("db{c}")).display());
            Command::new(&exe)
                .args(["--exact", "repo_child_entry", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, spec)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child failed");
    }
    let repo = Repository::open(&repo_dir).unwrap();
    let list = repo.list().unwrap();
    let mut ids: Vec<u64> = list.iter().map(|s| s.id.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>(), "both processes' snapshots, ids distinct, none lost");
    assert!(list.iter().all(|s| s.state == SnapshotState::Complete));
    let dbs: std::collections::BTreeSet<_> = list.iter().map(|s| s.db_id).collect();
    assert_eq!(dbs.len(), 2, "snapshots record which database they came from");
    assert!(Path::new(&repo_dir).join("log").exists());
}
