//! `Repository::restore`, and the database builder it shares with importing a bundle into a
//! new directory: a new database directory holding exactly a snapshot's state.
//!
//! Steps: check the target (must not exist; its parent must); build in a temporary sibling
//! `.<name>.strata-restore.tmp` (a leftover one from a crash is removed first); hard-link each
//! file (an fsynced copy across file systems, or when asked); write a fresh manifest of the
//! snapshot's state with a new database identity whose parent is the snapshot's database; write
//! `CURRENT` last; fsync the directory; rename it into place; fsync the parent.
//!
//! Invariants: a crash or error leaves either no target or a whole database; repository
//! objects are only linked or read, never written or unlinked (the restored database may later
//! unlink its own links, which never touches the repository's names).
//!
//! Thread safety: may run beside any repository operation; a concurrent `delete` + `gc` of the
//! same snapshot can make it fail (a file gone), never produce a partial database.

use super::format::{FileKind, FileRecord, SnapshotRecord, from_hex};
use super::parallel::for_each_bounded;
use super::types::{RestoreInfo, RestoreOptions, SnapshotId, Tracker, VerifyLevel};
use super::verify::StreamCheck;
use super::{Repository, new_dir_target};
use crate::store::Transfer;
use std::path::Path;
use strata::{DbId, Error, Result};
use strata_base::FileSystem;
use strata_base::testing::{kill_point, kill_point_midway};
use strata_manifest::CfId;
use strata_manifest::{FileMeta, VersionEdit, write_current_unpublished, write_manifest};

/// The manifest edit that recreates `record`'s state, with column families named by `names`.
pub(crate) fn snapshot_manifest_edit(
    record: &SnapshotRecord,
    names: &[(CfId, String)],
    db_id: DbId,
) -> Result<VersionEdit> {
    let bad = |why: String| Error::InvalidArgument(format!("snapshot {}: {why}", record.id));
    let mut edit = VersionEdit {
        comparator: Some(record.comparator.clone()),
        log_number: Some(record.log_number),
        next_file_number: Some(record.next_file_number.next()),
        last_sequence: Some(record.sequence),
        max_cf_id: Some(record.max_cf_id),
        db_id: Some(db_id),
        parent_db_id: record.db_id(),
        ..VersionEdit::default()
    };
    for c in &record.column_families {
        let name = names.iter().find(|(id, _)| *id == c.id).map_or(&c.name, |(_, n)| n);
        edit.add_cf(c.id, name.clone(), c.comparator.clone());
    }
    for f in record.files.iter().filter(|f| f.kind == FileKind::Table) {
        let smallest = from_hex(&f.smallest).ok_or_else(|| bad(format!("bad smallest key of {}", f.name)))?;
        let largest = from_hex(&f.largest).ok_or_else(|| bad(format!("bad largest key of {}", f.name)))?;
        let meta = FileMeta {
            number: f.number,
            size: f.size,
            smallest,
            largest,
            smallest_seq: f.smallest_seq,
            largest_seq: f.largest_seq,
            checksum: f.checksum,
            epoch: f.epoch,
            global_seq: f.global_seq,
        };
        edit.add_file(f.cf, f.level as usize, meta);
    }
    Ok(edit)
}

/// The kill points (`strata_base::testing`) of a [`build_database`] tagged `tag`: part of
/// the files fetched, and everything synced before the rename.
fn kill_points_of(tag: &str) -> (&'static str, &'static str) {
    match tag {
        "strata-restore" => ("repo.restore_midway", "repo.restore_before_rename"),
        _ => ("repo.import_midway", "repo.import_before_rename"),
    }
}

/// Builds a new database at `dir` from `record`; `fetch(file, dst)` puts one file at `dst`,
/// up to `parallelism` files at once (progress is counted on the calling thread).
#[allow(clippy::too_many_arguments, reason = "shared by restore and both imports")]
pub(crate) fn build_database(
    fs: &dyn FileSystem,
    dir: &Path,
    tag: &str,
    record: &SnapshotRecord,
    names: &[(CfId, String)],
    fetch: impl Fn(&FileRecord, &Path) -> Result<Transfer> + Sync,
    parallelism: usize,
    tracker: &mut Tracker<'_>,
) -> Result<RestoreInfo> {
    let (parent, name) = new_dir_target(fs, dir)?;
    let db_id = DbId::generate();
    let edit = snapshot_manifest_edit(record, names, db_id)?;
    let tmp = parent.join(format!(".{name}.{tag}.tmp"));
    if fs.exists(&tmp) {
        fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let mut info = RestoreInfo {
        dir: parent.join(&name),
        db_id,
        sequence: record.sequence,
        linked_files: 0,
        copied_files: 0,
        copied_bytes: 0,
    };
    let (midway, before_rename) = kill_points_of(tag);
    let built = (|| {
        fs.create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let files = &record.files;
        for_each_bounded(
            files.len(),
            parallelism,
            |i| {
                kill_point_midway(i, files.len(), midway);
                fetch(&files[i], &tmp.join(&files[i].name))
            },
            |i, transfer| {
                match transfer {
                    Transfer::Linked => info.linked_files += 1,
                    Transfer::Copied(n) => {
                        info.copied_files += 1;
                        info.copied_bytes += n;
                    }
                    Transfer::None => {}
                }
                tracker.file_done(files[i].size)
            },
        )?;
        let manifest_number = record.next_file_number;
        write_manifest(fs, &tmp, manifest_number, &[edit])?;
        // CURRENT last: the directory is invisible until renamed, so it is written in place.
        write_current_unpublished(fs, &tmp, manifest_number)?;
        fs.sync_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        kill_point(before_rename);
        fs.rename(&tmp, &info.dir).map_err(|e| Error::io(&info.dir, e))
    })();
    if let Err(e) = built {
        let _ = fs.remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = fs.sync_dir(&parent) {
        // The rename may not be durable: undo it, so an error never leaves `dir` behind.
        let _ = fs.remove_dir_all(&info.dir);
        let _ = fs.sync_dir(&parent);
        return Err(Error::io(&parent, e));
    }
    Ok(info)
}

impl Repository {
    /// Makes a new database directory `dir` holding complete snapshot `id`. See the module docs.
    pub fn restore(&self, id: SnapshotId, dir: impl AsRef<Path>, opts: &RestoreOptions) -> Result<RestoreInfo> {
        self.check_outside(dir.as_ref())?;
        let entry = self.complete_entry(id)?;
        let Some(record) = entry.record else { return Err(super::not_found(id)) };
        let level = if opts.verify_checksums { VerifyLevel::Checksums } else { VerifyLevel::Sizes };
        let total = record.files.iter().map(|f| f.size).sum();
        let mut tracker = Tracker::new(opts.progress.as_ref(), "restore", record.files.len(), total);
        let remote = self.store.is_remote();
        let parallelism = self.store.file_parallelism();
        let files_at_once = parallelism.min(record.files.len());
        let fetch = |f: &FileRecord, dst: &Path| {
            if remote {
                // Every read of an object store is a transfer: download once, check the bytes
                // as they are written.
                return self.fetch_and_check(f, dst, level, id, files_at_once);
            }
            if let Some(problem) = super::verify::check_file(&*self.store, f, level)? {
                return Err(Error::corruption(
                    self.object_path(&f.key),
                    0,
                    format!("repository snapshot {id} is damaged, not restored: {problem:?}"),
                ));
            }
            self.store.get_file(&f.key, &*self.fs, dst, opts.copy_files)
        };
        build_database(&*self.fs, dir.as_ref(), "strata-restore", &record, &[], fetch, parallelism, &mut tracker)
    }

    /// Downloads `f` to `dst`, checking its bytes at `level` as they are written: the size
    /// always (the object's, before any byte moves, and the bytes written), the checksum at
    /// `VerifyLevel::Checksums`. A damaged object is `Corruption` naming it.
    fn fetch_and_check(
        &self,
        f: &FileRecord,
        dst: &Path,
        level: VerifyLevel,
        id: SnapshotId,
        files_at_once: usize,
    ) -> Result<Transfer> {
        let mut check = StreamCheck::new(f, level);
        let transfer =
            self.store.get_file_checked(&f.key, f.size, &*self.fs, dst, files_at_once, &mut |d| check.update(d))?;
        if let Some(problem) = check.finish() {
            return Err(Error::corruption(
                self.object_path(&f.key),
                0,
                format!("repository snapshot {id} is damaged, not restored: {problem:?}"),
            ));
        }
        Ok(transfer)
    }
}
