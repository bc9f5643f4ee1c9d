//! The stress tool's repository round and the checks of what a killed round left behind:
//! snapshot, restore, export of a bundle, import of the bundle into a new directory and into
//! the open database (as a new column family), delete or retain, gc.
//!
//! Every round uses the same target names (`<db>.restores/round-snap`, `round-import`,
//! `<db>.exports/bundle`), so a temporary sibling a kill left (`.round-snap.strata-restore.tmp`,
//! ..) is removed by the next round's operation of the same kind, which the round checks. An
//! imported family is named `imp.cf1.<m0>_<m1>_..` after the markers of the snapshot it comes
//! from, so after a restart its contents can be checked against the replay of those writes.
//!
//! The driver keeps what the tool reported about the repository ("repo complete ID" after a
//! snapshot was created, "repo deleting ID.." before a delete or retain, "repo deleted ID.."
//! after it returned) in a file; [`RepoExpect::check`] holds the listed snapshots to it.
//!
//! Invariants: a round never leaves a temporary sibling of its own operations behind (checked
//! after each); on start, every complete snapshot is restored after a gc ran, so a gc (or the
//! sweep of a delete) that removed a table a surviving snapshot needs is found.
//!
//! Thread safety: one thread at a time runs rounds (thread 1 of the stress tool); the start-up
//! checks run before any worker starts.

use super::artifacts::{Bounds, Dirs, check_bounds, open_and_verify, remove_whole};
use super::ops::{CFS, Shape, replay};
use super::rng::Rng;
use super::verify::check_range;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use strata::{Db, ReadOptions};
use strata_checkpoint::repo::{
    ImportMode, ImportOptions, RestoreOptions, Retention, SnapshotState, VerifyLevel, import, import_into_new_database,
};
use strata_checkpoint::{Repository, SnapshotId, SnapshotOptions};

/// The family of the stressed ones that rounds import into the open database, and the prefix
/// of the imported family's name.
const IMPORTED_FROM: usize = 1;
const IMPORTED_PREFIX: &str = "imp.cf1.";
/// Retention of the rounds: the newest snapshots kept.
const KEEP_LAST: usize = 2;

/// What the stress tool reported about the repository, as the driver collected it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoExpect {
    /// Snapshots whose creation returned.
    pub complete: BTreeSet<u64>,
    /// Snapshots a delete or retain was about to delete.
    pub deleting: BTreeSet<u64>,
    /// Snapshots whose delete (or retain) returned.
    pub deleted: BTreeSet<u64>,
}

impl RepoExpect {
    /// Reads lines "repo complete|deleting|deleted ID.." (other lines are an error).
    pub fn parse(text: &str) -> Result<RepoExpect, String> {
        let mut e = RepoExpect::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut w = line.split_whitespace();
            let set = match (w.next(), w.next()) {
                (Some("repo"), Some("complete")) => &mut e.complete,
                (Some("repo"), Some("deleting")) => &mut e.deleting,
                (Some("repo"), Some("deleted")) => &mut e.deleted,
                _ => return Err(format!("bad repository line {line:?}")),
            };
            for id in w {
                set.insert(id.parse().map_err(|_| format!("bad id in {line:?}"))?);
            }
        }
        Ok(e)
    }

    /// Checks the listed `(id, state)` of a repository after a restart: every snapshot created
    /// and not being deleted is complete; no deleted one is complete; a complete one the tool
    /// never reported is the one whose creation was in flight (newer than every reported id).
    /// Returns that one, if any: the restarted tool reports it ("adopts" it), since a kill
    /// between the creation's commit and its report line leaves it complete but unreported.
    pub fn check(&self, listed: &[(u64, SnapshotState)]) -> Result<Option<u64>, String> {
        let state: BTreeMap<u64, SnapshotState> = listed.iter().copied().collect();
        for id in self.complete.difference(&self.deleting) {
            if state.get(id) != Some(&SnapshotState::Complete) {
                return Err(format!("repository snapshot {id} was created but is listed as {:?}", state.get(id)));
            }
        }
        for id in &self.deleted {
            if matches!(state.get(id), Some(SnapshotState::Complete | SnapshotState::Creating)) {
                return Err(format!("repository snapshot {id} was deleted but is listed as {:?}", state.get(id)));
            }
        }
        let newest = self.complete.iter().chain(&self.deleting).chain(&self.deleted).max().copied().unwrap_or(0);
        let unreported: Vec<u64> = state
            .iter()
            .filter(|(id, s)| **s == SnapshotState::Complete && !self.complete.contains(id))
            .map(|(id, _)| *id)
            .collect();
        if unreported.len() > 1 || unreported.iter().any(|&id| id <= newest) {
            return Err(format!(
                "repository lists complete snapshots {unreported:?} that were never reported (newest reported {newest})"
            ));
        }
        Ok(unreported.first().copied())
    }
}

/// What the start-up check of the repository, bundle and imported families found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoVerified {
    pub snapshots: usize,
    pub creating: usize,
    /// Tables put back or deleted by the start-up gc (work a killed sweep left).
    pub gc_objects: usize,
    pub gc_forgotten: usize,
    pub bundles: usize,
    /// A complete snapshot whose creation was in flight at the kill (committed, not reported):
    /// the tool reports it now.
    pub adopted: Option<u64>,
}

/// The repository part of the start-up check: the listing against `expect`, creating
/// snapshots refuse a restore, a gc completes any interrupted delete or sweep (nothing left
/// deleting, `trash/` empty, nothing damaged), then every complete snapshot verifies with
/// checksums and restores; a bundle left in `<db>.exports/` imports into a new directory whole.
pub fn verify_repo_left_behind(
    dirs: &Dirs,
    shape: &Shape,
    expect: Option<&RepoExpect>,
    gc: bool,
) -> Result<RepoVerified, String> {
    let mut v = RepoVerified::default();
    let bundle = dirs.exports.join("bundle");
    if bundle.exists() {
        import_bundle_into_dir(&bundle, dirs, shape, "check-import")?;
        v.bundles += 1;
    }
    // A kill inside `Repository::create` leaves only its temporary sibling.
    if !dirs.repo.exists() {
        return Ok(v);
    }
    let repo = Repository::open(&dirs.repo).map_err(|e| format!("repository {}: {e}", dirs.repo.display()))?;
    let listed = list(&repo)?;
    if let Some(expect) = expect {
        v.adopted = expect.check(&listed)?;
    }
    for &(id, _) in listed.iter().filter(|(_, s)| *s == SnapshotState::Creating) {
        let target = dirs.restores.join(format!("creating-{id}"));
        if repo.restore(SnapshotId(id), &target, &RestoreOptions::default()).is_ok() {
            return Err(format!("repository snapshot {id} is creating but restored"));
        }
        if target.exists() {
            return Err(format!("a refused restore left {}", target.display()));
        }
        v.creating += 1;
    }
    if gc {
        let report = repo.gc().map_err(|e| format!("start-up gc: {e}"))?;
        if !report.damaged.is_empty() {
            return Err(format!("start-up gc found damaged snapshots: {:?}", report.damaged));
        }
        v.gc_objects = report.objects_deleted + report.objects_restored;
        v.gc_forgotten = report.forgotten.len();
        let after = list(&repo)?;
        if let Some((id, s)) = after.iter().find(|(_, s)| matches!(s, SnapshotState::Deleting | SnapshotState::Failed))
        {
            return Err(format!("repository snapshot {id} is still {s:?} after a gc"));
        }
        let trash = dirs.repo.join(strata_checkpoint::repo::format::TRASH_DIR);
        let left: Vec<_> =
            std::fs::read_dir(&trash).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        if !left.is_empty() {
            return Err(format!("{} still holds {left:?} after a gc", trash.display()));
        }
    }
    for &(id, _) in list(&repo)?.iter().filter(|(_, s)| *s == SnapshotState::Complete) {
        restore_snapshot(&repo, SnapshotId(id), dirs, shape, &format!("check-snap-{id}"))?;
        v.snapshots += 1;
    }
    Ok(v)
}

/// `(id, state)` of every listed snapshot.
fn list(repo: &Repository) -> Result<Vec<(u64, SnapshotState)>, String> {
    Ok(repo.list().map_err(|e| format!("repository list: {e}"))?.iter().map(|s| (s.id.0, s.state)).collect())
}

/// Verifies snapshot `id` (every checksum), restores it to `<restores>/<name>`, checks the
/// restored database, removes it; returns the markers. The temporary sibling of the target
/// must be gone afterwards.
pub fn restore_snapshot(
    repo: &Repository,
    id: SnapshotId,
    dirs: &Dirs,
    shape: &Shape,
    name: &str,
) -> Result<Vec<u64>, String> {
    let report = repo.verify(id, VerifyLevel::Checksums).map_err(|e| format!("verify snapshot {}: {e}", id.0))?;
    if !report.is_ok() {
        return Err(format!("repository snapshot {} is damaged: {:?}", id.0, report.problems));
    }
    std::fs::create_dir_all(&dirs.restores).map_err(|e| format!("{}: {e}", dirs.restores.display()))?;
    let target = dirs.restores.join(name);
    repo.restore(id, &target, &RestoreOptions::default())
        .map_err(|e| format!("repository snapshot {} does not restore: {e}", id.0))?;
    no_temporary(&target, "strata-restore")?;
    let markers = open_and_verify(&target, shape, "database restored from a repository snapshot")?;
    remove_whole(&target)?;
    Ok(markers)
}

/// Fails if the temporary sibling `.<name>.<tag>.tmp` of `target` exists.
fn no_temporary(target: &Path, tag: &str) -> Result<(), String> {
    let tmp = temporary_of(target, tag);
    if tmp.exists() {
        return Err(format!("{} is left after the operation on {} returned", tmp.display(), target.display()));
    }
    Ok(())
}

/// The temporary sibling an operation tagged `tag` builds `target` in.
pub fn temporary_of(target: &Path, tag: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.{tag}.tmp"))
}

/// Imports `bundle` into the new directory `<restores>/<name>`, checks it, removes it;
/// returns the markers.
fn import_bundle_into_dir(bundle: &Path, dirs: &Dirs, shape: &Shape, name: &str) -> Result<Vec<u64>, String> {
    std::fs::create_dir_all(&dirs.restores).map_err(|e| format!("{}: {e}", dirs.restores.display()))?;
    let target = dirs.restores.join(name);
    import_into_new_database(strata::RealFs::arc(), bundle, &target, &ImportOptions::default())
        .map_err(|e| format!("bundle {} does not import into {}: {e}", bundle.display(), target.display()))?;
    no_temporary(&target, "strata-import")?;
    let markers = open_and_verify(&target, shape, "database imported from a bundle")?;
    remove_whole(&target)?;
    Ok(markers)
}

/// Lines the round reports (the driver collects them).
pub type Emit<'a> = &'a dyn Fn(String);

/// Blocks every writer until the returned guard is dropped (so a flushed snapshot holds no WAL
/// prefix and its bundle can be imported as new families).
pub type HoldWriters<'a> = &'a dyn Fn() -> Box<dyn Held + 'a>;

/// Anything held for its `Drop` (a set of lock guards).
pub trait Held {}
impl<T> Held for T {}

/// One repository round: snapshot, restore and check, export, import into a new directory and
/// into the open database (checked, then dropped), delete or retain, gc. Half of the
/// snapshots are flushed with the writers held (`hold`), so their bundle has no WAL prefix.
#[allow(clippy::too_many_arguments, reason = "the stress tool's shared state, passed apart")]
pub fn repo_round(
    db: &Db,
    repo: &Repository,
    dirs: &Dirs,
    shape: &Shape,
    (lo, hi): Bounds<'_>,
    rng: &mut Rng,
    emit: Emit<'_>,
    hold: HoldWriters<'_>,
) -> Result<RoundCounts, String> {
    let mut counts = RoundCounts::default();
    let quiet = rng.percent(50);
    let sopts = SnapshotOptions { flush: quiet || rng.percent(50), ..Default::default() };
    let info = {
        let _held = quiet.then(hold);
        repo.create_snapshot(db, &sopts).map_err(|e| format!("repository snapshot: {e}"))?
    };
    emit(format!("repo complete {}", info.id.0));
    let hi = hi();
    let got = restore_snapshot(repo, info.id, dirs, shape, "round-snap")?;
    check_bounds(&format!("repository snapshot {}", info.id.0), &got, lo, &hi)?;
    std::fs::create_dir_all(&dirs.exports).map_err(|e| format!("{}: {e}", dirs.exports.display()))?;
    let bundle = dirs.exports.join("bundle");
    if bundle.exists() {
        remove_whole(&bundle)?;
    }
    repo.export(info.id, &bundle).map_err(|e| format!("export of snapshot {}: {e}", info.id.0))?;
    no_temporary(&bundle, "strata-export")?;
    let imported = import_bundle_into_dir(&bundle, dirs, shape, "round-import")?;
    if imported != got {
        return Err(format!(
            "bundle of snapshot {} imports with markers {imported:?}, restores with {got:?}",
            info.id.0
        ));
    }
    counts.imports_into_db += usize::from(import_into_db(db, &bundle, shape, &got)?);
    counts.deleted += delete_some(repo, rng, emit)?;
    match repo.gc() {
        Ok(_) | Err(strata::Error::TryAgain(_)) => Ok(counts),
        Err(e) => Err(format!("gc: {e}")),
    }
}

/// What one round did beyond its snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundCounts {
    pub imports_into_db: usize,
    pub deleted: usize,
}

/// Imports family cf1 of `bundle` into `db` as a new family named after `markers`, checks it
/// and drops it. `false` when the bundle cannot be imported as new families (it holds WAL
/// prefixes: a snapshot taken without flush, or written to between the flush and the pin).
fn import_into_db(db: &Db, bundle: &Path, shape: &Shape, markers: &[u64]) -> Result<bool, String> {
    let rd = std::fs::read_dir(bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
    if rd.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".log")) {
        return Ok(false);
    }
    let name = imported_name(markers);
    let opts = ImportOptions {
        column_families: vec![(CFS[IMPORTED_FROM].to_string(), name.clone())],
        mode: ImportMode::NewColumnFamilies,
        ..Default::default()
    };
    match import(db, bundle, &opts) {
        Ok(_) => {}
        // A family with no table (nothing written to it yet, or all of it deleted).
        Err(strata::Error::InvalidArgument(m)) if m.contains("holds no table") => return Ok(false),
        Err(e) => return Err(format!("import of {} into the database as {name}: {e}", bundle.display())),
    }
    check_imported(db, shape, &name)?;
    db.drop_cf(&name).map_err(|e| format!("drop_cf {name}: {e}"))?;
    Ok(true)
}

/// The name of a family imported from a snapshot with `markers`.
pub fn imported_name(markers: &[u64]) -> String {
    let m: Vec<String> = markers.iter().map(u64::to_string).collect();
    format!("{IMPORTED_PREFIX}{}", m.join("_"))
}

/// The markers in an imported family's name; `None` for other names.
pub fn imported_markers(name: &str, threads: u32) -> Option<Vec<u64>> {
    let m: Vec<u64> = name.strip_prefix(IMPORTED_PREFIX)?.split('_').map(|s| s.parse().ok()).collect::<Option<_>>()?;
    (m.len() == threads as usize).then_some(m)
}

/// Checks imported family `name`: for every thread exactly the replay of the writes its name
/// records (so the family is whole: a missing table shows as a missing or older value), and
/// nothing else.
fn check_imported(db: &Db, shape: &Shape, name: &str) -> Result<(), String> {
    let markers = imported_markers(name, shape.threads).ok_or_else(|| format!("{name} is not an imported family"))?;
    let cf = db.cf(name).ok_or_else(|| format!("imported family {name} missing"))?;
    let snap = db.snapshot();
    let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    let mut want = 0;
    for (t, &m) in markers.iter().enumerate() {
        let model = replay(shape, t as u32, m);
        want += model.cfs[IMPORTED_FROM].len();
        check_range(db, (&cf, IMPORTED_FROM), &ro, t as u32, (0, shape.keys), &model, false)
            .map_err(|e| format!("imported family {name}: {e}"))?;
    }
    let mut it = db.iter_cf(&cf, &ro).map_err(|e| format!("iter {name}: {e}"))?;
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status().map_err(|e| format!("iter {name}: {e}"))?;
    if n != want {
        return Err(format!("imported family {name} holds {n} entries, expected {want}"));
    }
    Ok(())
}

/// The start-up check of imported families a killed round left in `db`: each is whole;
/// dropped afterwards when `drop`. Returns how many were checked.
pub fn check_imported_families(db: &Db, shape: &Shape, drop: bool) -> Result<usize, String> {
    let mut n = 0;
    for name in db.cf_names().into_iter().filter(|n| n.starts_with(IMPORTED_PREFIX)) {
        check_imported(db, shape, &name)?;
        if drop {
            db.drop_cf(&name).map_err(|e| format!("drop_cf {name}: {e}"))?;
        }
        n += 1;
    }
    Ok(n)
}

/// Deletes snapshots beyond the newest [`KEEP_LAST`]: by `retain` or, half of the time, the
/// oldest one by `delete`. Reports the ids before ("deleting") and after ("deleted").
fn delete_some(repo: &Repository, rng: &mut Rng, emit: Emit<'_>) -> Result<usize, String> {
    let mut complete: Vec<_> = repo
        .list()
        .map_err(|e| format!("repository list: {e}"))?
        .into_iter()
        .filter(|s| s.state == SnapshotState::Complete)
        .collect();
    // Newest first, as retention orders them.
    complete.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
    let doomed: Vec<SnapshotId> = complete.iter().skip(KEEP_LAST).map(|s| s.id).collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    let ids = |v: &[SnapshotId]| v.iter().map(|i| i.0.to_string()).collect::<Vec<_>>().join(" ");
    if rng.percent(50) {
        let oldest = doomed.iter().min().copied().unwrap_or(doomed[0]);
        emit(format!("repo deleting {}", oldest.0));
        repo.delete(oldest).map_err(|e| format!("delete snapshot {}: {e}", oldest.0))?;
        emit(format!("repo deleted {}", oldest.0));
        return Ok(1);
    }
    emit(format!("repo deleting {}", ids(&doomed)));
    let mut done =
        repo.retain(&Retention { keep_last: KEEP_LAST, ..Default::default() }).map_err(|e| format!("retain: {e}"))?;
    emit(format!("repo deleted {}", ids(&done)));
    done.sort();
    let mut planned = doomed.clone();
    planned.sort();
    if done != planned {
        return Err(format!("retain deleted {done:?}, the newest-first rule says {planned:?}"));
    }
    Ok(done.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use SnapshotState::{Complete, Creating, Deleting};

    fn expect(text: &str) -> RepoExpect {
        RepoExpect::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_listing_must_hold_every_created_snapshot_and_no_deleted_one() {
        let e = expect("repo complete 1\nrepo complete 2\nrepo complete 3\nrepo deleting 1\nrepo deleted 1\n");
        assert_eq!(e.check(&[(2, Complete), (3, Complete)]), Ok(None));
        assert_eq!(e.check(&[(1, Deleting), (2, Complete), (3, Complete)]), Ok(None));
        // The creation in flight at the kill may have committed (then it is adopted), or not.
        assert_eq!(e.check(&[(2, Complete), (3, Complete), (4, Complete)]), Ok(Some(4)));
        assert_eq!(e.check(&[(2, Complete), (3, Complete), (4, Creating)]), Ok(None));
        // A created snapshot lost, a deleted one back, an old unreported one.
        assert!(e.check(&[(3, Complete)]).unwrap_err().contains("snapshot 2 was created"));
        assert!(e.check(&[(1, Complete), (2, Complete), (3, Complete)]).unwrap_err().contains("1 was deleted"));
        let two_new = e.check(&[(2, Complete), (3, Complete), (4, Complete), (5, Complete)]);
        assert!(two_new.unwrap_err().contains("never reported"));
    }

    #[test]
    fn a_delete_in_flight_may_or_may_not_have_happened() {
        let e = expect("repo complete 1\nrepo complete 2\nrepo deleting 1\n");
        assert!(e.check(&[(1, Complete), (2, Complete)]).is_ok());
        assert!(e.check(&[(1, Deleting), (2, Complete)]).is_ok());
        assert!(e.check(&[(2, Complete)]).is_ok());
        assert!(RepoExpect::parse("repo made 3").is_err());
        assert!(RepoExpect::parse("repo complete x").is_err());
    }

    #[test]
    fn imported_names_carry_the_markers() {
        let name = imported_name(&[5, 0, 17]);
        assert_eq!(name, "imp.cf1.5_0_17");
        assert_eq!(imported_markers(&name, 3), Some(vec![5, 0, 17]));
        assert_eq!(imported_markers(&name, 2), None);
        assert_eq!(imported_markers("cf1", 3), None);
        assert_eq!(imported_markers("imp.cf1.5_x_1", 3), None);
    }

    #[test]
    fn temporaries_are_dot_siblings() {
        let t = temporary_of(Path::new("/a/b/round-snap"), "strata-restore");
        assert_eq!(t, Path::new("/a/b/.round-snap.strata-restore.tmp"));
    }
}
