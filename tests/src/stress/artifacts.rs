//! The stress tool's point-in-time artifacts beside the database: checkpoints, repository
//! snapshots (verified and restored) and savepoints (verified and restored), each checked
//! against the oracle; and, on start, the check of every artifact an earlier (maybe killed)
//! run left behind.
//!
//! The oracle of an artifact is the prefix rule of [`verify_db`]: in the artifact (or the
//! database restored from it) each thread's marker `R` is between the writes it had finished
//! when the artifact was started (`lo`) and the writes it had started when the artifact was
//! finished (`hi`), and its keys hold exactly the replay of writes `1..=R`. After a kill only the
//! prefix rule is checked (the bounds died with the process).
//!
//! Invariants: an artifact directory without a leading `.` is whole: a kill at any step leaves
//! either nothing under the final name or an artifact that opens and verifies (temporary
//! siblings, named with a leading `.`, may remain; they are removed on start); a repository
//! snapshot that is not `Complete` refuses to be restored. Every restore made here goes under
//! `<db>.restores/` and is removed after its check.
//!
//! Thread safety: the functions take `&Db` and may run beside writers; one thread at a time
//! per artifact kind (each directory is written by one stress thread).

use super::ops::Shape;
use super::rng::Rng;
use super::verify::verify_db;
use std::path::{Path, PathBuf};
use strata::{Db, Options};
use strata_checkpoint::repo::{RestoreOptions, Retention, SnapshotState, VerifyLevel};
use strata_checkpoint::{
    Checkpoint, CheckpointOptions, Repository, Savepoint, SavepointOptions, SavepointRestoreOptions, SnapshotOptions,
};

/// The directories beside database `db`.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub checkpoints: PathBuf,
    pub repo: PathBuf,
    pub savepoints: PathBuf,
    pub restores: PathBuf,
}

/// `db` with `suffix` appended to its last component.
pub fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Dirs {
    pub fn of(db: &Path) -> Dirs {
        Dirs {
            checkpoints: sibling(db, ".checkpoints"),
            repo: sibling(db, ".repo"),
            savepoints: sibling(db, ".savepoints"),
            restores: sibling(db, ".restores"),
        }
    }
}

/// How many artifacts the start-up check verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verified {
    pub checkpoints: usize,
    pub repo_snapshots: usize,
    /// Repository snapshots left `creating` by a kill (checked to refuse a restore).
    pub repo_creating: usize,
    pub savepoints: usize,
    /// Whole restored databases left by a kill between a restore and its removal.
    pub restores: usize,
}

/// Checks the markers `got` against the bounds of an artifact made while writers ran.
fn check_bounds(what: &str, got: &[u64], lo: &[u64], hi: &[u64]) -> Result<(), String> {
    for (t, &r) in got.iter().enumerate() {
        let (l, h) = (lo.get(t).copied().unwrap_or(0), hi.get(t).copied().unwrap_or(u64::MAX));
        if r < l || r > h {
            return Err(format!(
                "{what}: thread {t} has writes up to {r}, but {l} were finished when it was started and \
                 {h} started when it was finished"
            ));
        }
    }
    Ok(())
}

/// Opens `dir` read-only and verifies it against the oracle; returns the markers.
fn open_and_verify(dir: &Path, shape: &Shape, what: &str) -> Result<Vec<u64>, String> {
    let db = Db::open_read_only(dir, Options::default())
        .map_err(|e| format!("{what} {} does not open: {e}", dir.display()))?;
    verify_db(&db, shape, &[]).map_err(|e| format!("{what} {}: {e}", dir.display()))
}

/// Removes a directory by renaming it to a `.trash-` sibling first, so a kill mid-removal
/// never leaves a half-deleted directory under a final name.
pub fn remove_whole(dir: &Path) -> Result<(), String> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let trash = dir.with_file_name(format!(".trash-{name}"));
    std::fs::rename(dir, &trash).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::remove_dir_all(&trash).map_err(|e| format!("{}: {e}", trash.display()))
}

/// Entries of `dir` (none if it does not exist); temporary ones (leading `.`) are removed.
fn final_entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with("trash-") {
            std::fs::remove_dir_all(e.path()).map_err(|err| format!("{}: {err}", e.path().display()))?;
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Verifies every artifact an earlier run left: checkpoints, savepoints (verified, restored,
/// checked), repository snapshots (complete ones verified, restored, checked; creating ones
/// must refuse a restore) and whole restored databases; removes temporary siblings.
pub fn verify_left_behind(dirs: &Dirs, shape: &Shape) -> Result<Verified, String> {
    let mut v = Verified::default();
    for dir in final_entries(&dirs.restores)? {
        open_and_verify(&dir, shape, "restored database")?;
        remove_whole(&dir)?;
        v.restores += 1;
    }
    for dir in final_entries(&dirs.checkpoints)? {
        open_and_verify(&dir, shape, "checkpoint")?;
        v.checkpoints += 1;
    }
    for dir in final_entries(&dirs.savepoints)? {
        Savepoint::verify(&dir).map_err(|e| format!("savepoint {} does not verify: {e}", dir.display()))?;
        restore_savepoint(&dir, dirs, shape, &Options::default(), "check")?;
        v.savepoints += 1;
    }
    // A kill inside `Repository::create` leaves only its temporary sibling.
    if dirs.repo.exists() {
        let repo = Repository::open(&dirs.repo).map_err(|e| format!("repository {}: {e}", dirs.repo.display()))?;
        for s in repo.list().map_err(|e| format!("repository list: {e}"))? {
            match s.state {
                SnapshotState::Complete => {
                    restore_repo_snapshot(&repo, s.id, dirs, shape, "check")?;
                    v.repo_snapshots += 1;
                }
                SnapshotState::Creating => {
                    let target = dirs.restores.join(format!("creating-{}", s.id.0));
                    if repo.restore(s.id, &target, &RestoreOptions::default()).is_ok() {
                        return Err(format!("repository snapshot {} is creating but restored", s.id.0));
                    }
                    if target.exists() {
                        return Err(format!("a refused restore left {}", target.display()));
                    }
                    v.repo_creating += 1;
                }
                _ => {}
            }
        }
    }
    Ok(v)
}

/// Restores savepoint `dir` under `dirs.restores` with `opts`, checks it, removes it; returns
/// the markers.
fn restore_savepoint(dir: &Path, dirs: &Dirs, shape: &Shape, opts: &Options, tag: &str) -> Result<Vec<u64>, String> {
    std::fs::create_dir_all(&dirs.restores).map_err(|e| format!("{}: {e}", dirs.restores.display()))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = dirs.restores.join(format!("{tag}-{name}"));
    let opts = Options { fs: None, ..opts.clone() };
    Savepoint::restore(dir, &target, &opts, &SavepointRestoreOptions::default())
        .map_err(|e| format!("savepoint {} does not restore: {e}", dir.display()))?;
    let markers = open_and_verify(&target, shape, "database restored from a savepoint")?;
    remove_whole(&target)?;
    Ok(markers)
}

/// Verifies repository snapshot `id` (every checksum), restores it, checks it, removes it;
/// returns the markers.
fn restore_repo_snapshot(
    repo: &Repository,
    id: strata_checkpoint::SnapshotId,
    dirs: &Dirs,
    shape: &Shape,
    tag: &str,
) -> Result<Vec<u64>, String> {
    let report = repo.verify(id, VerifyLevel::Checksums).map_err(|e| format!("verify snapshot {}: {e}", id.0))?;
    if !report.is_ok() {
        return Err(format!("repository snapshot {} is damaged: {:?}", id.0, report.problems));
    }
    std::fs::create_dir_all(&dirs.restores).map_err(|e| format!("{}: {e}", dirs.restores.display()))?;
    let target = dirs.restores.join(format!("{tag}-snap-{}", id.0));
    repo.restore(id, &target, &RestoreOptions::default())
        .map_err(|e| format!("repository snapshot {} does not restore: {e}", id.0))?;
    let markers = open_and_verify(&target, shape, "database restored from a repository snapshot")?;
    remove_whole(&target)?;
    Ok(markers)
}

/// The writes each thread had finished and had started, read by the caller before and after
/// an artifact is made.
pub type Bounds<'a> = (&'a [u64], &'a dyn Fn() -> Vec<u64>);

/// Takes a checkpoint named after write `n`, opens and checks it, keeps the newest three.
pub fn checkpoint_round(
    db: &Db,
    dirs: &Dirs,
    shape: &Shape,
    n: u64,
    (lo, hi): Bounds<'_>,
    rng: &mut Rng,
) -> Result<(), String> {
    std::fs::create_dir_all(&dirs.checkpoints).map_err(|e| format!("{}: {e}", dirs.checkpoints.display()))?;
    let dir = dirs.checkpoints.join(format!("cp-{n:012}"));
    if dir.exists() {
        // Left by a run killed after making it (it was verified at start).
        remove_whole(&dir)?;
    }
    let copts = CheckpointOptions { flush: rng.percent(50), ..Default::default() };
    Checkpoint::new(db).options(copts).create(&dir).map_err(|e| format!("checkpoint {}: {e}", dir.display()))?;
    let hi = hi();
    let got = open_and_verify(&dir, shape, "checkpoint")?;
    check_bounds(&format!("checkpoint {}", dir.display()), &got, lo, &hi)?;
    keep_newest(&dirs.checkpoints, "cp-", 3)
}

/// Takes a savepoint named after write `n`, verifies it, restores it under the stress options
/// and checks the restored database; keeps the newest two savepoints.
pub fn savepoint_round(
    db: &Db,
    dirs: &Dirs,
    shape: &Shape,
    n: u64,
    (lo, hi): Bounds<'_>,
    opts: &Options,
) -> Result<(), String> {
    std::fs::create_dir_all(&dirs.savepoints).map_err(|e| format!("{}: {e}", dirs.savepoints.display()))?;
    let dir = dirs.savepoints.join(format!("sp-{n:012}"));
    if dir.exists() {
        remove_whole(&dir)?;
    }
    // Small chunks, so a savepoint of a small database has several (and a kill between them).
    let sopts = SavepointOptions { chunk_bytes: Some(8 << 10), ..Default::default() };
    Savepoint::create(db, &dir, &sopts).map_err(|e| format!("savepoint {}: {e}", dir.display()))?;
    let hi = hi();
    Savepoint::verify(&dir).map_err(|e| format!("savepoint {} does not verify: {e}", dir.display()))?;
    let got = restore_savepoint(&dir, dirs, shape, opts, "round")?;
    check_bounds(&format!("savepoint {}", dir.display()), &got, lo, &hi)?;
    keep_newest(&dirs.savepoints, "sp-", 2)
}

/// Takes a repository snapshot, verifies it, restores it and checks the restored database;
/// keeps the newest two snapshots (retention, then gc).
pub fn repo_round(
    db: &Db,
    repo: &Repository,
    dirs: &Dirs,
    shape: &Shape,
    (lo, hi): Bounds<'_>,
    rng: &mut Rng,
) -> Result<(), String> {
    let sopts = SnapshotOptions { flush: rng.percent(50), ..Default::default() };
    let info = repo.create_snapshot(db, &sopts).map_err(|e| format!("repository snapshot: {e}"))?;
    let hi = hi();
    let got = restore_repo_snapshot(repo, info.id, dirs, shape, "round")?;
    check_bounds(&format!("repository snapshot {}", info.id.0), &got, lo, &hi)?;
    repo.retain(&Retention { keep_last: 2, ..Default::default() }).map_err(|e| format!("retain: {e}"))?;
    match repo.gc() {
        Ok(_) | Err(strata::Error::TryAgain(_)) => Ok(()),
        Err(e) => Err(format!("gc: {e}")),
    }
}

/// Opens the repository at `dir`, creating it if missing.
pub fn open_or_create_repo(dir: &Path) -> Result<Repository, String> {
    if dir.exists() { Repository::open(dir) } else { Repository::create(dir) }
        .map_err(|e| format!("repository {}: {e}", dir.display()))
}

/// Keeps the newest `keep` entries of `dir` whose names start with `prefix`.
fn keep_newest(dir: &Path, prefix: &str, keep: usize) -> Result<(), String> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    all.sort();
    for old in all.iter().take(all.len().saturating_sub(keep)) {
        remove_whole(old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_accept_the_range_and_name_the_thread_outside_it() {
        assert!(check_bounds("x", &[5, 7], &[5, 6], &[9, 7]).is_ok());
        let e = check_bounds("x", &[5, 8], &[5, 6], &[9, 7]).unwrap_err();
        assert!(e.contains("thread 1 has writes up to 8"), "{e}");
        let e = check_bounds("x", &[4], &[5], &[9]).unwrap_err();
        assert!(e.contains("thread 0"), "{e}");
    }
}
