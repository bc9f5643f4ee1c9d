//! The stress tool's point-in-time artifacts beside the database: checkpoints and savepoints
//! (verified and restored), each checked against the oracle; and, on start, the check of every
//! artifact an earlier (maybe killed) run left behind. Repository rounds (snapshot, restore,
//! export, import, delete, retain, gc) and their start-up checks are in `repo.rs`.
//!
//! The oracle of an artifact is the prefix rule of [`verify_db`]: in the artifact (or the
//! database restored from it) each thread's marker `R` is between the writes it had finished
//! when the artifact was started (`lo`) and the writes it had started when the artifact was
//! finished (`hi`), and its keys hold exactly the replay of writes `1..=R`. After a kill only the
//! prefix rule is checked (the bounds died with the process).
//!
//! Invariants: an artifact directory without a leading `.` is whole: a kill at any step leaves
//! either nothing under the final name or an artifact that opens and verifies (temporary
//! siblings, named with a leading `.`, may remain; they are removed on start, except those of a
//! round's fixed targets, which the next round's operation must remove); a repository
//! snapshot that is not `Complete` refuses to be restored. Every restore made here goes under
//! `<db>.restores/` and is removed after its check.
//!
//! Thread safety: the functions take `&Db` and may run beside writers; one thread at a time
//! per artifact kind (each directory is written by one stress thread).

use super::ops::Shape;
use super::repo::{RepoExpect, RepoVerified, temporary_of, verify_repo_left_behind};
use super::rng::Rng;
use super::verify::verify_db;
use std::path::{Path, PathBuf};
use strata::{Db, Options};
use strata_checkpoint::{
    Checkpoint, CheckpointOptions, Repository, Savepoint, SavepointOptions, SavepointRestoreOptions,
};

/// The directories beside database `db`.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub checkpoints: PathBuf,
    pub repo: PathBuf,
    pub savepoints: PathBuf,
    pub restores: PathBuf,
    /// Bundles exported from the repository (`bundle`, replaced each round).
    pub exports: PathBuf,
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
            exports: sibling(db, ".exports"),
        }
    }
}

/// How many artifacts the start-up check verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verified {
    pub checkpoints: usize,
    /// The repository, its bundle, and what the start-up gc finished.
    pub repo: RepoVerified,
    pub savepoints: usize,
    /// Whole restored databases left by a kill between a restore and its removal.
    pub restores: usize,
    /// Temporary siblings of a round's restore, import or export left by a kill, kept for the
    /// next round's operation of the same kind to remove (which the round checks).
    pub temporaries: usize,
}

/// Checks the markers `got` against the bounds of an artifact made while writers ran.
pub(crate) fn check_bounds(what: &str, got: &[u64], lo: &[u64], hi: &[u64]) -> Result<(), String> {
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
pub(crate) fn open_and_verify(dir: &Path, shape: &Shape, what: &str) -> Result<Vec<u64>, String> {
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

/// Entries of `dir` (none if it does not exist); temporary ones (leading `.`) are removed,
/// except the temporary siblings of a round's targets (`.round-*`, `.bundle.*`), counted in
/// `kept` and left for the next round to remove.
fn final_entries(dir: &Path, kept: &mut usize) -> Result<Vec<PathBuf>, String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if (name.starts_with(".round-") || name.starts_with(".bundle.")) && name.ends_with(".tmp") {
            *kept += 1;
        } else if name.starts_with('.') || name.starts_with("trash-") {
            std::fs::remove_dir_all(e.path()).map_err(|err| format!("{}: {err}", e.path().display()))?;
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Verifies every artifact an earlier run left: checkpoints, savepoints (verified, restored,
/// checked), whole restored databases, the repository and its bundle
/// ([`verify_repo_left_behind`], with a gc when `gc`); removes temporary siblings other than
/// those of a round's targets.
pub fn verify_left_behind(
    dirs: &Dirs,
    shape: &Shape,
    expect: Option<&RepoExpect>,
    gc: bool,
) -> Result<Verified, String> {
    let mut v = Verified::default();
    for dir in final_entries(&dirs.restores, &mut v.temporaries)? {
        open_and_verify(&dir, shape, "restored database")?;
        remove_whole(&dir)?;
        v.restores += 1;
    }
    for dir in final_entries(&dirs.checkpoints, &mut v.temporaries)? {
        open_and_verify(&dir, shape, "checkpoint")?;
        v.checkpoints += 1;
    }
    for dir in final_entries(&dirs.savepoints, &mut v.temporaries)? {
        Savepoint::verify(&dir).map_err(|e| format!("savepoint {} does not verify: {e}", dir.display()))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        restore_savepoint(&dir, dirs, shape, &Options::default(), &format!("check-{name}"))?;
        v.savepoints += 1;
    }
    for dir in final_entries(&dirs.exports, &mut v.temporaries)? {
        if dir.file_name().is_none_or(|n| n != "bundle") {
            return Err(format!("unexpected {} among the exports", dir.display()));
        }
    }
    v.repo = verify_repo_left_behind(dirs, shape, expect, gc)?;
    Ok(v)
}

/// Restores savepoint `dir` to `<restores>/<name>` with `opts`, checks it (and that its
/// temporary sibling is gone), removes it; returns the markers.
fn restore_savepoint(dir: &Path, dirs: &Dirs, shape: &Shape, opts: &Options, name: &str) -> Result<Vec<u64>, String> {
    std::fs::create_dir_all(&dirs.restores).map_err(|e| format!("{}: {e}", dirs.restores.display()))?;
    let target = dirs.restores.join(name);
    let opts = Options { fs: None, ..opts.clone() };
    Savepoint::restore(dir, &target, &opts, &SavepointRestoreOptions::default())
        .map_err(|e| format!("savepoint {} does not restore: {e}", dir.display()))?;
    let tmp = temporary_of(&target, "strata-restore");
    if tmp.exists() {
        return Err(format!("{} is left after the savepoint restore returned", tmp.display()));
    }
    let markers = open_and_verify(&target, shape, "database restored from a savepoint")?;
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
    let got = restore_savepoint(&dir, dirs, shape, opts, "round-savepoint")?;
    check_bounds(&format!("savepoint {}", dir.display()), &got, lo, &hi)?;
    keep_newest(&dirs.savepoints, "sp-", 2)
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
