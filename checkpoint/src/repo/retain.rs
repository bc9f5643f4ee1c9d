//! Deleting snapshots, retention and garbage collection.
//!
//! `delete(id)` commits `deleting` (the snapshot is no longer restorable), then, holding the gc
//! lock, removes its private WAL prefixes, sweeps its tables that no other snapshot references
//! and commits `forget`. If the lock is busy the sweep is left to the `gc` that holds it, or to
//! the next one.
//!
//! `gc()` (under the gc lock): removes temporary files older than the grace period; fails creating snapshots past their
//! grace period; finishes deleting snapshots and forgets failed ones; puts back tables a
//! crashed sweep moved aside that a snapshot needs; sweeps tables and WAL prefixes nothing
//! references; reports complete snapshots with missing files (never deletes them).
//!
//! The sweep never unlinks a table a snapshot may still need: it first moves each candidate to
//! `trash/`, then re-reads the log; a candidate that a snapshot began using meanwhile is put
//! back, the rest are deleted. A snapshot whose creating record the sweep did not see began
//! after the move, so its final check finds the table missing and stores it again.
//!
//! Invariants: only tables unreferenced in a state read after they were moved aside are
//! deleted; complete snapshots are never deleted except by `delete` or `retain`.
//!
//! Thread safety: `delete` and `retain` may run anywhere; sweeps are serialised by the lock.

use super::Repository;
use super::format::{FileKind, LOG_DIR, TABLES_DIR, TRASH_DIR, WALS_DIR};
use super::now_ms;
use super::record::{Action, Entry, LogState, SnapshotState};
use super::types::{GcReport, Retention, SnapshotId};
use crate::store::{Put, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use strata::{Error, Result};
use strata_base::FileLock;
use strata_base::testing::{kill_point, kill_point_midway};

/// The name of the lock file `gc` and sweeps hold.
const GC_LOCK_NAME: &str = "GC.lock";

/// The pure retention rule: the complete snapshots among `entries` that `r` does not keep,
/// counted per database identity (never across databases sharing the repository). `now_ms` is
/// the current time.
pub fn plan_retention(entries: &[Entry], r: &Retention, now_ms: u64) -> Vec<SnapshotId> {
    let mut by_db: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.state == SnapshotState::Complete) {
        by_db.entry(e.db_id.as_str()).or_default().push(e);
    }
    let within_ms = r.keep_within.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut out = Vec::new();
    for list in by_db.values_mut() {
        // Newest first: by creation time, then by id (ids grow with commit order).
        list.sort_by_key(|e| std::cmp::Reverse((e.created_at_ms, e.id)));
        for (i, e) in list.iter().enumerate() {
            let recent = within_ms.is_some_and(|w| now_ms.saturating_sub(e.created_at_ms) < w);
            let keep = i < r.keep_last || recent || (r.keep_named && e.name.is_some());
            if !keep {
                out.push(SnapshotId(e.id));
            }
        }
    }
    out.sort();
    out
}

/// The snapshot id in a WAL prefix's name (`<db id>-s<id>-<number>.log`).
fn wal_snapshot_id(name: &str) -> Option<u64> {
    let rest = name.split_once("-s")?.1;
    rest.split_once('-')?.0.parse().ok()
}

/// The first word of a gc lease object; the creation time in ms follows.
const GC_LEASE_MAGIC: &str = "strata-gc-lease-v1";

/// Whether lease object `body` (untrusted) was taken less than `grace_ms` before `now_ms`. An
/// unreadable lease counts as stale: it was not written by this code.
fn lease_is_live(body: &[u8], now_ms: u64, grace_ms: u64) -> bool {
    let text = std::str::from_utf8(body).unwrap_or("");
    match text.strip_prefix(GC_LEASE_MAGIC).and_then(|t| t.trim().parse::<u64>().ok()) {
        Some(at) => now_ms.saturating_sub(at) < grace_ms,
        None => false,
    }
}

/// A held gc lease; released (deleted) on drop.
#[derive(Debug)]
struct GcLease {
    store: Arc<dyn Store>,
}

impl FileLock for GcLease {}

impl Drop for GcLease {
    fn drop(&mut self) {
        // A failed delete leaves a lease that goes stale after the grace period.
        let _ = self.store.delete(GC_LOCK_NAME);
    }
}

impl Repository {
    fn gc_lock(&self) -> Result<Option<Box<dyn FileLock>>> {
        if self.store.is_remote() {
            return self.gc_lease();
        }
        let path = self.root.join(GC_LOCK_NAME);
        match self.fs.lock(&path) {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The gc lock on an object store, which has no lock files: the object `GC.lock`, created
    /// by a conditional put (so one holder at a time) and deleted on release. A lease older than
    /// `creating_grace` (its holder crashed) is removed and taken over.
    fn gc_lease(&self) -> Result<Option<Box<dyn FileLock>>> {
        for _ in 0..2 {
            let body = format!("{GC_LEASE_MAGIC} {}", now_ms());
            if self.store.put_if_absent(GC_LOCK_NAME, body.as_bytes())? == Put::Created {
                return Ok(Some(Box::new(GcLease { store: Arc::clone(&self.store) })));
            }
            let grace_ms = u64::try_from(self.opts.creating_grace.as_millis()).unwrap_or(u64::MAX);
            let held = self.store.get(GC_LOCK_NAME)?.is_some_and(|b| lease_is_live(&b, now_ms(), grace_ms));
            if held {
                return Ok(None);
            }
            self.store.delete(GC_LOCK_NAME)?;
        }
        Ok(None)
    }

    /// Deletes snapshot `id` (complete or failed). See the module docs.
    pub fn delete(&self, id: SnapshotId) -> Result<()> {
        self.log.commit(|s| match s.entry(id.0).map(|e| e.state) {
            None => Err(super::not_found(id)),
            Some(SnapshotState::Creating) => Err(Error::InvalidArgument(format!(
                "repository snapshot {id} is being created; gc fails it once its grace period is over"
            ))),
            Some(SnapshotState::Deleting) => Ok(None),
            Some(SnapshotState::Complete | SnapshotState::Failed) => Ok(Some(vec![Action::Delete { id: id.0 }])),
        })?;
        kill_point("repo.delete_committed");
        if let Some(_lock) = self.gc_lock()? {
            let mut report = GcReport::default();
            self.finish(id.0, &mut report)?;
        }
        Ok(())
    }

    /// Deletes the complete snapshots `r` does not keep (per database identity); returns them.
    pub fn retain(&self, r: &Retention) -> Result<Vec<SnapshotId>> {
        if r.keep_last == 0 && r.keep_within.is_none() && !r.keep_named {
            return Err(Error::InvalidArgument("this retention keeps nothing; delete snapshots one by one".into()));
        }
        let state = self.state()?;
        let doomed = plan_retention(&state.snapshots, r, now_ms());
        for &id in &doomed {
            self.delete(id)?;
        }
        Ok(doomed)
    }

    /// Removes a deleting or failed snapshot's private files and unreferenced tables, then
    /// forgets it. Caller holds the gc lock.
    fn finish(&self, id: u64, report: &mut GcReport) -> Result<()> {
        let state = self.state()?;
        let Some(e) = state.entry(id) else { return Ok(()) };
        if !matches!(e.state, SnapshotState::Deleting | SnapshotState::Failed) {
            return Ok(());
        }
        let files = e.record.as_ref().map(|r| r.files.clone()).unwrap_or_default();
        for f in files.iter().filter(|f| f.kind == FileKind::Wal) {
            self.store.delete(&f.key)?;
            report.objects_deleted += 1;
        }
        self.store.sync(WALS_DIR)?;
        let tables: Vec<String> = files.iter().filter(|f| f.kind == FileKind::Table).map(|f| f.key.clone()).collect();
        self.sweep(&state, tables, report)?;
        kill_point("repo.sweep_before_forget");
        self.log.commit(|s| {
            Ok(s.entry(id)
                .filter(|e| matches!(e.state, SnapshotState::Deleting | SnapshotState::Failed))
                .map(|_| vec![Action::Forget { id }]))
        })?;
        report.forgotten.push(SnapshotId(id));
        Ok(())
    }

    /// Deletes the tables among `candidates` that nothing references, safely against snapshots
    /// being created at the same time (see the module docs).
    fn sweep(&self, state: &LogState, candidates: Vec<String>, report: &mut GcReport) -> Result<()> {
        let referenced = state.referenced_tables();
        let moved: Vec<(String, String)> = candidates
            .into_iter()
            .filter(|k| !referenced.contains(k))
            .map(|k| {
                let trash = format!("{TRASH_DIR}/{}", k.rsplit('/').next().unwrap_or(&k));
                (k, trash)
            })
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        for (i, (key, trash)) in moved.iter().enumerate() {
            if self.store.size(key)?.is_some() {
                self.store.copy_object(key, trash)?;
                self.store.delete(key)?;
            }
            kill_point_midway(i + 1, moved.len(), "repo.sweep_midway");
        }
        self.store.sync(TABLES_DIR)?;
        let referenced = self.state()?.referenced_tables();
        for (key, trash) in &moved {
            if referenced.contains(key) {
                if self.store.size(trash)?.is_some() {
                    self.store.copy_object(trash, key)?;
                    report.objects_restored += 1;
                }
            } else {
                report.objects_deleted += 1;
            }
            self.store.delete(trash)?;
        }
        self.store.sync(TRASH_DIR)
    }

    /// Collects garbage. See the module docs.
    pub fn gc(&self) -> Result<GcReport> {
        let Some(_lock) = self.gc_lock()? else {
            return Err(Error::TryAgain(format!("another gc holds {}", self.object_path(GC_LOCK_NAME).display())));
        };
        let mut report = GcReport::default();
        let now = now_ms();
        // Temporary files younger than the grace period may belong to live writers.
        let grace_ms = u64::try_from(self.opts.creating_grace.as_millis()).unwrap_or(u64::MAX);
        for dir in [LOG_DIR, TABLES_DIR, WALS_DIR, TRASH_DIR] {
            report.temporaries_removed += self.store.remove_temporaries(dir, now.saturating_sub(grace_ms))?;
        }
        let mut expired = Vec::new();
        self.log.commit(|s| {
            expired = s
                .snapshots
                .iter()
                .filter(|e| e.state == SnapshotState::Creating && e.expires_at_ms <= now)
                .map(|e| SnapshotId(e.id))
                .collect();
            let fail = |id: &SnapshotId| Action::Fail {
                id: id.0,
                reason: "creation did not finish within its grace period".into(),
            };
            Ok((!expired.is_empty()).then(|| expired.iter().map(fail).collect()))
        })?;
        report.expired = expired;
        let state = self.state()?;
        for e in state.snapshots.iter().filter(|e| matches!(e.state, SnapshotState::Deleting | SnapshotState::Failed)) {
            self.finish(e.id, &mut report)?;
        }
        self.recover_trash(&mut report)?;
        let state = self.state()?;
        let unreferenced: Vec<String> =
            self.store.list(TABLES_DIR)?.into_iter().map(|n| format!("{TABLES_DIR}/{n}")).collect();
        self.sweep(&state, unreferenced, &mut report)?;
        self.sweep_wals(&state, &mut report)?;
        self.find_damaged(&mut report)?;
        Ok(report)
    }

    /// Puts back (or deletes) tables a crashed sweep left in `trash/`.
    fn recover_trash(&self, report: &mut GcReport) -> Result<()> {
        let referenced = self.state()?.referenced_tables();
        for name in self.store.list(TRASH_DIR)? {
            let (key, trash) = (format!("{TABLES_DIR}/{name}"), format!("{TRASH_DIR}/{name}"));
            if referenced.contains(&key) {
                self.store.copy_object(&trash, &key)?;
                report.objects_restored += 1;
            }
            self.store.delete(&trash)?;
        }
        self.store.sync(TRASH_DIR)
    }

    /// Deletes WAL prefixes of snapshots that no longer exist (or never completed).
    fn sweep_wals(&self, state: &LogState, report: &mut GcReport) -> Result<()> {
        let live: BTreeSet<u64> = state
            .snapshots
            .iter()
            .filter(|e| matches!(e.state, SnapshotState::Creating | SnapshotState::Complete))
            .map(|e| e.id)
            .collect();
        let mut deleted = false;
        for name in self.store.list(WALS_DIR)? {
            if wal_snapshot_id(&name).is_none_or(|id| !live.contains(&id)) {
                self.store.delete(&format!("{WALS_DIR}/{name}"))?;
                report.objects_deleted += 1;
                deleted = true;
            }
        }
        if deleted {
            self.store.sync(WALS_DIR)?;
        }
        Ok(())
    }

    /// Complete snapshots whose files are not all present, with the missing keys.
    fn find_damaged(&self, report: &mut GcReport) -> Result<()> {
        let state = self.state()?;
        let present: BTreeSet<String> = [TABLES_DIR, WALS_DIR]
            .iter()
            .map(|d| Ok(self.store.list(d)?.into_iter().map(move |n| format!("{d}/{n}"))))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        for e in state.snapshots.iter().filter(|e| e.state == SnapshotState::Complete) {
            let missing: Vec<String> = e
                .record
                .iter()
                .flat_map(|r| r.files.iter())
                .filter(|f| !present.contains(&f.key))
                .map(|f| f.key.clone())
                .collect();
            if !missing.is_empty() {
                report.damaged.push((SnapshotId(e.id), missing));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn gc_leases_go_stale_after_the_grace_period() {
        let lease = format!("{GC_LEASE_MAGIC} 1000");
        assert!(lease_is_live(lease.as_bytes(), 1500, 1000));
        assert!(!lease_is_live(lease.as_bytes(), 2000, 1000));
        assert!(lease_is_live(lease.as_bytes(), 0, 1), "a clock behind the lease keeps it");
        for junk in [&b""[..], b"strata-gc-lease-v1", b"strata-gc-lease-v1 x", b"other 5", b"\xff\xfe"] {
            assert!(!lease_is_live(junk, 1500, 1000), "{junk:?}");
        }
    }

    fn entry(id: u64, db: &str, created_at_ms: u64, named: bool) -> Entry {
        Entry {
            id,
            state: SnapshotState::Complete,
            name: named.then(|| format!("n{id}")),
            db_id: db.into(),
            labels: BTreeMap::new(),
            created_at_ms,
            expires_at_ms: 0,
            pending_tables: Vec::new(),
            record: None,
            failure: None,
        }
    }

    #[test]
    fn retention_counts_per_database() {
        let es = vec![
            entry(1, "a", 100, false),
            entry(2, "b", 110, false),
            entry(3, "a", 120, false),
            entry(4, "a", 130, false),
            entry(5, "b", 140, false),
        ];
        let keep1 = Retention { keep_last: 1, ..Default::default() };
        assert_eq!(plan_retention(&es, &keep1, 1000), vec![SnapshotId(1), SnapshotId(2), SnapshotId(3)]);
        let keep2 = Retention { keep_last: 2, ..Default::default() };
        assert_eq!(plan_retention(&es, &keep2, 1000), vec![SnapshotId(1)]);
        let within = Retention { keep_within: Some(Duration::from_millis(25)), ..Default::default() };
        assert_eq!(plan_retention(&es, &within, 150), vec![SnapshotId(1), SnapshotId(2), SnapshotId(3)]);
        let mut named = es.clone();
        named[0].name = Some("keep me".into());
        let r = Retention { keep_last: 1, keep_named: true, ..Default::default() };
        assert_eq!(plan_retention(&named, &r, 1000), vec![SnapshotId(2), SnapshotId(3)]);
        let mut other = es;
        other[2].state = SnapshotState::Deleting;
        assert_eq!(
            plan_retention(&other, &keep1, 1000),
            vec![SnapshotId(1), SnapshotId(2)],
            "only complete ones count"
        );
    }

    #[test]
    fn wal_names_give_their_snapshot() {
        assert_eq!(wal_snapshot_id("0123-s17-000005.log"), Some(17));
        assert_eq!(wal_snapshot_id("junk"), None);
    }
}
