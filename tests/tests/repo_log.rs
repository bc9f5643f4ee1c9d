//! The repository's metadata log: log checkpoints and the `_last_checkpoint` hint (damaged,
//! missing, pointing at a missing or damaged log checkpoint), cleanup of old commits, gaps and
//! damaged commits (`Corruption` naming the file), and several writers committing at once.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::path::{Path, PathBuf};
use strata::{Db, Error, FileSystem, Options, SimFs};
use strata_checkpoint::repo::{LogOptions, Repository, RepositoryOptions, SnapshotOptions, SnapshotState};

const REPO: &str = "/repo";

fn ropts(sim: &SimFs, checkpoint_interval: u64, log_retention_commits: u64) -> RepositoryOptions {
    RepositoryOptions {
        fs: Some(sim.arc()),
        log: LogOptions { checkpoint_interval, log_retention_commits, ..Default::default() },
        ..Default::default()
    }
}

fn db(sim: &SimFs, dir: &str) -> Db {
    Db::open(dir, Options { fs: Some(sim.arc()), ..Options::default() }).unwrap()
}

fn log_file(name: &str) -> PathBuf {
    Path::new(REPO).join("log").join(name)
}

fn commit(v: u64) -> PathBuf {
    log_file(&format!("{v:020}.commit"))
}

fn checkpoint(v: u64) -> PathBuf {
    log_file(&format!("{v:020}.checkpoint"))
}

fn overwrite(sim: &SimFs, path: &Path, data: &[u8]) {
    let _ = sim.remove_file(path);
    let mut f = sim.create(path).unwrap();
    f.append(data).unwrap();
    f.sync().unwrap();
}

fn flip(sim: &SimFs, path: &Path, at_from_end: usize) {
    let mut bytes = sim.read_all(path).unwrap().to_vec();
    let i = bytes.len() - at_from_end;
    bytes[i] ^= 0x08;
    overwrite(sim, path, &bytes);
}

/// `n` snapshots (two commits each) of a small database.
fn snapshots(sim: &SimFs, repo: &Repository, n: usize) {
    let d = db(sim, "/db");
    for i in 0..n {
        d.put(format!("k{i}"), "v").unwrap();
        repo.create_snapshot(&d, &SnapshotOptions::default()).unwrap();
    }
}

fn names(repo: &Repository) -> Vec<u64> {
    repo.list().unwrap().iter().map(|s| s.id.0).collect()
}

#[test]
fn log_checkpoints_hint_and_fallbacks() {
    let sim = SimFs::new();
    let opts = ropts(&sim, 3, 1000);
    let repo = Repository::create_with(REPO, opts.clone()).unwrap();
    snapshots(&sim, &repo, 5);
    for v in [3, 6, 9] {
        assert!(sim.exists(&checkpoint(v)), "log checkpoint {v}");
    }
    assert!(!sim.exists(&checkpoint(10)));
    let hint = sim.read_all(&log_file("_last_checkpoint")).unwrap();
    let hint: String = std::str::from_utf8(&hint).unwrap().chars().filter(|c| !c.is_whitespace()).collect();
    assert!(hint.contains("\"version\":9"), "{hint}");
    let want = vec![1, 2, 3, 4, 5];
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);

    // A damaged hint is ignored (listing finds the log checkpoints).
    flip(&sim, &log_file("_last_checkpoint"), 3);
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);
    overwrite(&sim, &log_file("_last_checkpoint"), b"garbage");
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);
    sim.remove_file(&log_file("_last_checkpoint")).unwrap();
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);
    // The newest log checkpoint damaged, then missing: an older one (or the commits) serve.
    Repository::open_with(REPO, opts.clone()).unwrap().write_log_checkpoint().unwrap();
    flip(&sim, &checkpoint(10), 5);
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);
    sim.remove_file(&checkpoint(10)).unwrap();
    sim.remove_file(&checkpoint(9)).unwrap();
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);
    for v in [3, 6] {
        sim.remove_file(&checkpoint(v)).unwrap();
    }
    assert_eq!(names(&Repository::open_with(REPO, opts).unwrap()), want, "all commits are still there");
}

#[test]
fn old_commits_are_cleaned_up_and_then_needed_checkpoints_matter() {
    let sim = SimFs::new();
    let opts = ropts(&sim, 3, 4);
    let repo = Repository::create_with(REPO, opts.clone()).unwrap();
    snapshots(&sim, &repo, 6);
    // After commit 12: cutoff 8, newest log checkpoint at or below it is 6: commits 1..=5 and
    // checkpoint 3 are gone, commit 6 kept.
    for v in 1..=5 {
        assert!(!sim.exists(&commit(v)), "commit {v} should be cleaned up");
    }
    assert!(sim.exists(&commit(6)) && sim.exists(&checkpoint(6)) && !sim.exists(&checkpoint(3)));
    let want: Vec<u64> = (1..=6).collect();
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), want);
    // Without any log checkpoint the commits no longer start at 1: a gap, not an empty state.
    for v in [6, 9, 12] {
        sim.remove_file(&checkpoint(v)).unwrap();
    }
    match Repository::open_with(REPO, opts) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(file, commit(1), "{reason}");
            assert!(reason.contains("gap"), "{reason}");
        }
        other => panic!("expected a gap: {other:?}"),
    }
}

#[test]
fn gap_and_damaged_commit_are_corruption_naming_the_file() {
    let sim = SimFs::new();
    let opts = ropts(&sim, 0, 1000);
    let repo = Repository::create_with(REPO, opts.clone()).unwrap();
    snapshots(&sim, &repo, 3);
    let saved = sim.read_all(&commit(3)).unwrap();
    flip(&sim, &commit(3), 10);
    match Repository::open_with(REPO, opts.clone()) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, commit(3)),
        other => panic!("expected corruption: {other:?}"),
    }
    overwrite(&sim, &commit(3), &saved);
    assert_eq!(names(&Repository::open_with(REPO, opts.clone()).unwrap()), vec![1, 2, 3]);
    sim.remove_file(&commit(3)).unwrap();
    match Repository::open_with(REPO, opts.clone()) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(file, commit(3));
            assert!(reason.contains("gap"));
        }
        other => panic!("expected a gap: {other:?}"),
    }
    // A commit numbered as another one (copied over the missing name) is refused too.
    overwrite(&sim, &commit(3), &sim.read_all(&commit(4)).unwrap());
    assert!(matches!(Repository::open_with(REPO, opts), Err(Error::Corruption { .. })));
}

#[test]
fn writers_in_threads_all_commit() {
    let sim = SimFs::new();
    let opts = ropts(&sim, 5, 1000);
    Repository::create_with(REPO, opts.clone()).unwrap();
    let per_thread = 5;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (sim, opts) = (sim.clone(), opts.clone());
            std::thread::spawn(move || {
                let repo = Repository::open_with(REPO, opts).unwrap();
                let d = db(&sim, &format!("/db{t}"));
                let mut ids = Vec::new();
                for i in 0..per_thread {
                    d.put(format!("t{t}-{i}"), "v").unwrap();
                    ids.push(repo.create_snapshot(&d, &SnapshotOptions::default()).unwrap().id.0);
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
    ids.sort_unstable();
    let want: Vec<u64> = (1..=20).collect();
    assert_eq!(ids, want, "ids distinct, none lost");
    let fresh = Repository::open_with(REPO, opts).unwrap();
    let list = fresh.list().unwrap();
    assert_eq!(list.len(), 20);
    assert!(list.iter().all(|s| s.state == SnapshotState::Complete));
    let commits = sim.list(&Path::new(REPO).join("log")).unwrap().iter().filter(|n| n.ends_with(".commit")).count();
    assert_eq!(commits, 40, "two commits per snapshot, no more, no fewer");
}
