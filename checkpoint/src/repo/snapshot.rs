//! `Repository::create_snapshot`: pin the database's state, commit a *creating* record naming
//! the tables it will use, store the tables not yet in the repository (hard links where
//! possible), check every table is still there, commit the *complete* record. On an object
//! store what the repository holds comes from one listing of `tables/` before the uploads and
//! one after, instead of a HEAD at each table each time, unless the repository holds far more
//! tables than the snapshot ([`check_by_listing`]). Locally a snapshot that links lists nothing
//! before: a table no other snapshot references is linked at once (the exclusive link says
//! whether it was there), one another snapshot references gets a `stat` (its size checked);
//! the check after the links is one listing of `tables/` or a `stat` per table
//! ([`local_listing`] decides). The complete commit goes on top of the creating one without
//! listing `log/` again (`MetaLog::commit_on`).
//!
//! Crash behaviour: before the creating commit, nothing is visible (at most a temporary file);
//! after it, the snapshot is listed as creating until `gc` fails it once its grace period has
//! passed and reclaims what it stored; the complete commit is the moment it becomes a
//! snapshot. An error or a cancel commits `failed` (best effort) and leaves the same.
//!
//! Invariants: the record describes exactly the pinned state (one sequence number across every
//! column family); a table is stored once under its key and never rewritten.
//!
//! Thread safety: runs beside writers, flushes and compactions of the source (the pin keeps its
//! files); several snapshots may be created at once, in threads or processes.

use super::format::{
    CfRecord, FileKind, FileRecord, SnapshotRecord, TABLES_DIR, check_name_and_labels, to_hex, wal_key, write_table_key,
};
use super::log::CommitSync;
use super::parallel::for_each_bounded;
use super::record::{Action, LogState, SnapshotState};
use super::types::{SnapshotId, SnapshotInfo, SnapshotOptions, Tracker};
use super::{Repository, now_ms};
use crate::store::{Put, Store, Transfer};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use strata::{Db, DbId, Error, LiveFiles, Result};
use strata_base::testing::kill_point;
use strata_manifest::CfId;

/// A table of the pinned state, and where it is in the source.
struct Planned {
    record: FileRecord,
    src: PathBuf,
    /// Another snapshot references it: most likely stored already (set after the creating
    /// commit, from its state).
    known: bool,
}

/// The pure part of a snapshot: the records of the pinned tables of the families in `keep`.
fn plan_tables(live: &LiveFiles, db_id: &DbId, keep: &[CfId]) -> Vec<Planned> {
    let db_hex = db_id.to_hex();
    live.tables
        .iter()
        .filter(|t| keep.contains(&t.cf_id))
        .map(|t| {
            let m = &t.meta;
            let mut key = String::new();
            write_table_key(&mut key, &db_hex, m.number, m.size, m.checksum);
            Planned {
                record: FileRecord {
                    kind: FileKind::Table,
                    key,
                    name: strata_manifest::table_file_name(m.number),
                    cf: t.cf_id,
                    level: u32::try_from(t.level).unwrap_or(u32::MAX),
                    number: m.number,
                    size: m.size,
                    checksum: m.checksum,
                    smallest: to_hex(&m.smallest),
                    largest: to_hex(&m.largest),
                    smallest_seq: m.smallest_seq,
                    largest_seq: m.largest_seq,
                    epoch: m.epoch,
                    global_seq: m.global_seq,
                },
                src: t.path.clone(),
                known: false,
            }
        })
        .collect()
}

/// Ids of the column families `wanted` names (all if `None`), plus `default`.
fn keep_ids(live: &LiveFiles, wanted: Option<&[String]>) -> Result<Vec<CfId>> {
    if let Some(w) = wanted {
        for n in w {
            if !live.column_families.iter().any(|(_, name)| name == n) {
                return Err(Error::ColumnFamilyNotFound(n.clone()));
            }
        }
    }
    Ok(live
        .column_families
        .iter()
        .filter(|(id, n)| *id == CfId::DEFAULT || wanted.is_none_or(|w| w.contains(n)))
        .map(|(id, _)| *id)
        .collect())
}

/// Objects one listing request returns (S3's page size).
const LIST_PAGE_OBJECTS: usize = 1000;

/// Whether one listing of `tables/`, which holds about `tables_stored` objects, costs fewer
/// requests than a look (HEAD) at each of the `tables_planned` tables of a snapshot. Only on an
/// object store: locally a look is a `stat`, and listing a large directory costs more. Pure,
/// tested alone.
pub(crate) fn check_by_listing(remote: bool, tables_planned: usize, tables_stored: usize) -> bool {
    remote && tables_stored / LIST_PAGE_OBJECTS < tables_planned
}

/// Locally: whether one names-only listing of `tables/` (about `tables_stored` entries) costs
/// less than the `stat` per planned table it replaces (a directory entry read costs a small
/// fraction of a `stat`; 16 entries per table is a safe bound: the bound was 32 when one
/// listing replaced two `stat`s per table, before the links and after). A first snapshot into a
/// fresh repository lists the directory its links just filled. Pure, tested alone.
pub(crate) fn local_listing(tables_planned: usize, tables_stored: usize) -> bool {
    tables_planned > 0 && tables_stored < 16 * tables_planned
}

/// How a snapshot learns what `tables/` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// One listing with sizes (an object store: a LIST page answers for 1000 objects).
    ListSizes,
    /// One listing of names (locally); sizes are looked up only for tables already there.
    ListNames,
    /// A look at each table.
    EachTable,
    /// Locally: a table no other snapshot references is linked without a look (the exclusive
    /// link says whether it was there); one another snapshot references gets a `stat` instead
    /// (its size checked, no link tried).
    LinkFirst,
}

/// What `tables/` holds, as far as a snapshot needs to know.
enum Stored {
    /// The size of every object, from one listing.
    Listed(HashMap<String, u64>),
    /// The name of every object in `tables/` (without the directory), from one listing.
    Names(HashSet<String>),
    /// Nothing known: look each table up.
    LookUp,
    /// Nothing listed: a table other snapshots reference is looked up (its size), any other
    /// is linked, and looked up only if the link finds its name taken.
    LinkFirst,
}

/// The name of table key `key` in `tables/` (a key elsewhere stays whole, so it matches no name).
fn name_in_tables(key: &str) -> &str {
    key.strip_prefix(TABLES_DIR).and_then(|rest| rest.strip_prefix('/')).unwrap_or(key)
}

impl Stored {
    /// The size of the object `key`, or `None` if there is none.
    fn size(&self, store: &dyn Store, key: &str) -> Result<Option<u64>> {
        match self {
            Stored::Listed(sizes) => Ok(sizes.get(key).copied()),
            Stored::Names(names) if !names.contains(name_in_tables(key)) => Ok(None),
            Stored::Names(_) | Stored::LookUp | Stored::LinkFirst => store.size(key),
        }
    }

    /// Whether the table `key` of `size` bytes is there. A name in `tables/` is always a whole
    /// file (an exclusive link of a synced copy, or of the source's table) and `gc` takes
    /// whole files away, so where the listing has no sizes, being there is enough: the size of
    /// a reused table was checked before the links.
    fn holds(&self, store: &dyn Store, key: &str, size: u64) -> Result<bool> {
        match self {
            Stored::Names(names) => Ok(names.contains(name_in_tables(key))),
            _ => Ok(self.size(store, key)? == Some(size)),
        }
    }
}

impl Repository {
    /// Takes a repository snapshot of `db`. See the module docs.
    pub fn create_snapshot(&self, db: &Db, opts: &SnapshotOptions) -> Result<SnapshotInfo> {
        check_name_and_labels(opts.name.as_deref(), &opts.labels).map_err(Error::InvalidArgument)?;
        let db_id = db.identity().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} has no database identity (a database from before identities opened read-only): open it read-write once",
                db.path().display()
            ))
        })?;
        // Pin first: no file of the state is deleted until `live` is dropped.
        let live = db.live_files(opts.flush && !db.is_read_only())?;
        let keep = keep_ids(&live, opts.column_families.as_deref())?;
        let mut planned = plan_tables(&live, &db_id, &keep);
        let created_at_ms = now_ms();
        let grace_ms = u64::try_from(self.opts.creating_grace.as_millis()).unwrap_or(u64::MAX);
        let mut id = 0;
        // The creating record need only be visible to a concurrent gc: its name becomes durable
        // with the complete (or failed) commit's fsync of `log/`.
        let begun = self.log.commit_as(CommitSync::NameLater, |s| {
            id = s.next_id;
            Ok(Some(vec![Action::Begin {
                id,
                name: opts.name.clone(),
                db_id: db_id.to_hex(),
                labels: opts.labels.clone(),
                created_at_ms,
                expires_at_ms: created_at_ms.saturating_add(grace_ms),
                tables: planned.iter().map(|p| p.record.key.clone()).collect(),
            }]))
        })?;
        // On an object store one listing of `tables/` before the uploads and one after replace a
        // HEAD at each table before and after, unless the repository holds far more tables than
        // this snapshot. Locally links need no look before (the exclusive link finds a taken
        // name), copies do; the check after is one listing or a `stat` per table.
        let others = begun.referenced_keys_except(id);
        let mut stored_count = others.len();
        for p in &mut planned {
            p.known = others.contains(p.record.key.as_str());
            stored_count += usize::from(!p.known);
        }
        drop(others);
        let (before, after) = if self.store.is_remote() {
            let look =
                if check_by_listing(true, planned.len(), stored_count) { Look::ListSizes } else { Look::EachTable };
            (look, look)
        } else {
            let look = if local_listing(planned.len(), stored_count) { Look::ListNames } else { Look::EachTable };
            (if opts.copy_files { look } else { Look::LinkFirst }, look)
        };
        let built = self.store_and_complete(
            db,
            &live,
            id,
            &begun,
            &db_id,
            &keep,
            planned,
            opts,
            created_at_ms,
            [before, after],
        );
        let done = match built {
            Ok(state) => state,
            Err(e) => {
                let reason = e.to_string();
                let _ = self.log.commit(|s| {
                    Ok(s.entry(id)
                        .filter(|e| e.state == SnapshotState::Creating)
                        .map(|_| vec![Action::Fail { id, reason: reason.clone() }]))
                });
                return Err(e);
            }
        };
        drop(live);
        // The state the complete commit made: no need to read the log again.
        done.entry(id).map(SnapshotInfo::from_entry).ok_or_else(|| super::not_found(SnapshotId(id)))
    }

    /// What `tables/` holds, learnt as `look` says.
    fn stored_tables(&self, look: Look) -> Result<Stored> {
        let key = |name: &str| format!("{TABLES_DIR}/{name}");
        Ok(match look {
            Look::EachTable => Stored::LookUp,
            Look::LinkFirst => Stored::LinkFirst,
            Look::ListSizes => Stored::Listed(
                self.store.list_sizes(TABLES_DIR)?.into_iter().map(|(name, n)| (key(&name), n)).collect(),
            ),
            // Names as listed: a key is looked up by its name (no key built per listed table).
            Look::ListNames => Stored::Names(self.store.list(TABLES_DIR)?.into_iter().collect()),
        })
    }

    #[allow(clippy::too_many_arguments, reason = "one private step of create_snapshot")]
    fn store_and_complete(
        &self,
        db: &Db,
        live: &LiveFiles,
        id: u64,
        begun: &LogState,
        db_id: &DbId,
        keep: &[CfId],
        planned: Vec<Planned>,
        opts: &SnapshotOptions,
        created_at_ms: u64,
        [before, after]: [Look; 2],
    ) -> Result<LogState> {
        let src_fs = db.file_system();
        let stored = self.stored_tables(before)?;
        let wal_bytes: u64 = live.wals.iter().map(|w| w.size).sum();
        let bytes_total = planned.iter().map(|p| p.record.size).sum::<u64>() + wal_bytes;
        let mut tracker = Tracker::new(opts.progress.as_ref(), "create", planned.len() + live.wals.len(), bytes_total);
        let mut bytes_added = 0;
        let mut wals: Vec<FileRecord> = Vec::with_capacity(live.wals.len());
        // Up to the store's parallelism tables at once; progress is counted here, in order of
        // completion; the first error stops the rest (and the snapshot is committed failed).
        for_each_bounded(
            planned.len(),
            self.store.file_parallelism(),
            |i| {
                if i == planned.len() / 2 {
                    kill_point("repo.snapshot_midway");
                }
                self.store_table(&*src_fs, &planned[i], opts.copy_files, &stored)
            },
            |i, added| {
                bytes_added += added;
                tracker.file_done(planned[i].record.size)
            },
        )?;
        // The live WAL keeps growing: store exactly the pinned prefix, private to this snapshot.
        for w in &live.wals {
            let len = usize::try_from(w.size).map_err(|_| Error::InvalidArgument("WAL too large".into()))?;
            let f = src_fs.open_unmapped(&w.path).map_err(|e| Error::io(&w.path, e))?;
            let bytes = f.read_at(0, len).map_err(|e| Error::io(&w.path, e))?;
            let key = wal_key(db_id, id, w.number);
            self.store.put_if_absent(&key, &bytes)?;
            bytes_added += w.size;
            wals.push(FileRecord::wal(key, w.number, w.size, strata_base::checksum::crc32(&bytes)));
            tracker.file_done(w.size)?;
        }
        // A concurrent gc may have moved a reused table aside before our creating record was
        // visible to it: put back whatever is missing now, from the pinned source.
        let stored = self.stored_tables(after)?;
        for p in &planned {
            if !stored.holds(&*self.store, &p.record.key, p.record.size)? {
                self.store_table(&*src_fs, p, opts.copy_files, &stored)?;
            }
        }
        // The record lists the tables in the pinned order, whatever order they went up in, then
        // the WAL prefixes; the planned records move into it (no copy per table).
        let files: Vec<FileRecord> = planned.into_iter().map(|p| p.record).chain(wals).collect();
        // One directory fsync makes every linked name durable before the complete commit is
        // published (it runs beside the commit's own file fsync where the store can).
        let version = live.version();
        let column_families: Vec<CfRecord> = version
            .cfs()
            .filter(|c| keep.contains(&c.id))
            .map(|c| CfRecord { id: c.id, name: c.name.clone(), comparator: c.comparator.clone() })
            .collect();
        let record = std::sync::Arc::new(SnapshotRecord {
            id,
            name: opts.name.clone(),
            db_id: db_id.to_hex(),
            parent_db_id: db.parent_identity().map(|p| p.to_hex()),
            sequence: live.sequence,
            created_at_ms,
            labels: opts.labels.clone(),
            comparator: live.comparator.clone(),
            log_number: live.log_number(),
            next_file_number: live.next_file_number,
            max_cf_id: column_families.iter().map(|c| c.id).max().unwrap_or(CfId::DEFAULT),
            column_families,
            files,
            bytes_total,
            bytes_added,
        });
        // `apply` validates the record (as every reader does) before the commit is written. On
        // top of the creating commit, without listing `log/` unless another writer came between.
        kill_point("repo.snapshot_before_complete");
        self.log.commit_on(begun, TABLES_DIR, |s| match s.entry(id).map(|e| e.state) {
            Some(SnapshotState::Creating) => {
                Ok(Some(vec![Action::Complete { record: std::sync::Arc::clone(&record) }]))
            }
            other => Err(Error::Conflict(format!(
                "repository snapshot {id} became {other:?} while it was being created (gc found its grace period over)"
            ))),
        })
    }

    /// Stores one table unless an intact copy is there; returns the bytes it added.
    fn store_table(&self, src_fs: &dyn strata::FileSystem, p: &Planned, copy: bool, stored: &Stored) -> Result<u64> {
        let key = &p.record.key;
        let link_first = matches!(stored, Stored::LinkFirst);
        if (!link_first || p.known)
            && let Some(n) = stored.size(&*self.store, key)?
        {
            return self.check_stored_size(p, n).map(|()| 0);
        }
        // Absent from a listing or a look just made, or (linking first) not looked at: the
        // store need not look again.
        let (put, transfer) = self.store.put_new_file(key, src_fs, &p.src, copy)?;
        if put == Put::Exists
            && link_first
            && !p.known
            && let Some(n) = self.store.size(key)?
        {
            // The link found the name taken: the size check a look before would have made. (A
            // table gone again since is stored again by the check after the links.)
            self.check_stored_size(p, n)?;
        }
        Ok(match (put, transfer) {
            (Put::Created, Transfer::Linked | Transfer::Copied(_)) => p.record.size,
            _ => 0,
        })
    }

    /// A stored table of `n` bytes where `p`'s name says its size: `Corruption` if they differ.
    fn check_stored_size(&self, p: &Planned, n: u64) -> Result<()> {
        if n == p.record.size {
            return Ok(());
        }
        Err(Error::corruption(
            self.object_path(&p.record.key),
            0,
            format!("stored table is {n} bytes, its name says {}", p.record.size),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_replaces_heads_only_on_an_object_store_and_only_when_cheaper() {
        assert!(!check_by_listing(false, 1000, 0), "locally a look is a stat");
        assert!(local_listing(1, 0), "a fresh repository: an empty directory to list");
        assert!(local_listing(66, 1055), "16 entries per table still cost less than a stat");
        assert!(!local_listing(66, 1056));
        assert!(!local_listing(0, 0), "nothing to look at");
        assert!(check_by_listing(true, 1, 0), "an empty repository: one LIST for one HEAD");
        assert!(check_by_listing(true, 16, 999));
        assert!(check_by_listing(true, 16, 15_999), "16 pages for 16 HEADs");
        assert!(!check_by_listing(true, 16, 16_000), "17 pages for 16 HEADs");
        assert!(!check_by_listing(true, 0, 0), "nothing to look at");
    }

    #[test]
    fn a_table_key_is_looked_up_by_its_name_in_the_listing() {
        assert_eq!(name_in_tables("tables/ab-000012-5-00000006.sst"), "ab-000012-5-00000006.sst");
        assert_eq!(name_in_tables("tablesx/a.sst"), "tablesx/a.sst");
        assert_eq!(name_in_tables("wals/a.log"), "wals/a.log");
    }
}
