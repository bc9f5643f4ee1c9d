//! Bundles: `Repository::export` writes a self-contained, relocatable directory holding one
//! snapshot's files under their database names (`000012.sst`, `000013.log`) and
//! `snapshot.json` (the snapshot's record in the repository framing: format version, database
//! identity, sequence, column families with comparators, every file with level, key range,
//! sequence range, size and checksum; the whole body checksummed). [`import_into_new_database`]
//! turns a bundle into a new database directory.
//!
//! Import into an *open* database (as new column families, or as an upsert into an existing
//! one) is `import.rs`; it reads and checks the bundle with [`read_bundle`] and
//! [`check_bundle_file`] exactly as the import into a new directory does.
//!
//! Invariants: a bundle's metadata is untrusted when read back: the framing is checked, the
//! record validated (file names are derived from file numbers, never taken as paths), every
//! file's size and checksum verified before use, and nothing is left behind on error.
//!
//! Thread safety: export may run beside any repository operation; import touches only the
//! bundle (read) and the new directory.

use super::format::{FileRecord, KIND_BUNDLE, METADATA_FILE_LEN_MAX, SnapshotRecord, frame, unframe};
use super::parallel::for_each_bounded;
use super::restore::build_database;
use super::types::{ExportInfo, ImportOptions, Progress, RestoreInfo, SnapshotId, Tracker, VerifyLevel};
use super::{Repository, new_dir_target};
use crate::store::{LocalStore, Store, Transfer};
use std::path::Path;
use std::sync::Arc;
use strata::{Error, Result};
use strata_base::FileSystem;
use strata_manifest::CfId;

/// The name of a bundle's metadata file.
pub const BUNDLE_METADATA_NAME: &str = "snapshot.json";

/// Reads and checks `bundle/snapshot.json`.
pub(crate) fn read_bundle(fs: &dyn FileSystem, bundle: &Path) -> Result<SnapshotRecord> {
    let path = bundle.join(BUNDLE_METADATA_NAME);
    if !fs.exists(&path) {
        return Err(Error::NotFound(format!("{} is not a bundle (no {BUNDLE_METADATA_NAME})", bundle.display())));
    }
    let size = fs.file_size(&path).map_err(|e| Error::io(&path, e))?;
    if size > METADATA_FILE_LEN_MAX {
        return Err(Error::corruption(&path, 0, format!("{size} bytes exceed METADATA_FILE_LEN_MAX")));
    }
    let bytes = fs.read_all(&path).map_err(|e| Error::io(&path, e))?;
    let record: SnapshotRecord = unframe(KIND_BUNDLE, &bytes, &path)?;
    record.validate().map_err(|r| Error::corruption(&path, 0, r))?;
    Ok(record)
}

/// A bundle's file as a store object, so the repository's checks apply unchanged.
pub(crate) fn as_bundle_object(f: &FileRecord) -> FileRecord {
    FileRecord { key: f.name.clone(), ..f.clone() }
}

impl Repository {
    /// Exports complete snapshot `id` to the new directory `dir` (see the module docs).
    pub fn export(&self, id: SnapshotId, dir: impl AsRef<Path>) -> Result<ExportInfo> {
        self.export_with(id, dir, None)
    }

    /// [`export`](Self::export) with a progress callback that can cancel.
    pub fn export_with(
        &self,
        id: SnapshotId,
        dir: impl AsRef<Path>,
        progress: Option<&Progress>,
    ) -> Result<ExportInfo> {
        let entry = self.complete_entry(id)?;
        let Some(record) = entry.record else { return Err(super::not_found(id)) };
        let dir = dir.as_ref();
        self.check_outside(dir)?;
        let fs = &*self.fs;
        let (parent, name) = new_dir_target(fs, dir)?;
        let tmp = parent.join(format!(".{name}.strata-export.tmp"));
        if fs.exists(&tmp) {
            fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        let total = record.files.iter().map(|f| f.size).sum();
        let mut tracker = Tracker::new(progress, "export", record.files.len(), total);
        let target = parent.join(&name);
        let built = (|| {
            fs.create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let files = &record.files;
            let fetch = |i: usize| {
                strata_base::testing::kill_point_midway(i, files.len(), "repo.export_midway");
                let f = &files[i];
                if let Some(problem) = super::verify::check_file(&*self.store, f, VerifyLevel::Sizes)? {
                    let why = format!("repository snapshot {id} is damaged, not exported: {problem:?}");
                    return Err(Error::corruption(self.object_path(&f.key), 0, why));
                }
                self.store.get_file(&f.key, fs, &tmp.join(&f.name), false)
            };
            let parallelism = self.store.file_parallelism();
            for_each_bounded(files.len(), parallelism, fetch, |i, _| tracker.file_done(files[i].size))?;
            let meta = tmp.join(BUNDLE_METADATA_NAME);
            let mut w = fs.create(&meta).map_err(|e| Error::io(&meta, e))?;
            w.append(&frame(KIND_BUNDLE, &*record)?).map_err(|e| Error::io(&meta, e))?;
            w.sync().map_err(|e| Error::io(&meta, e))?;
            fs.sync_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
            strata_base::testing::kill_point("repo.export_before_rename");
            fs.rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
            fs.sync_dir(&parent).map_err(|e| Error::io(&parent, e))
        })();
        if let Err(e) = built {
            let _ = fs.remove_dir_all(&tmp);
            return Err(e);
        }
        Ok(ExportInfo { dir: target, files: record.files.len(), bytes: total })
    }
}

/// Makes a new database directory `dir` from the bundle at `bundle`, on `fs`: every file's
/// size and checksum is checked first (and every WAL prefix read strictly: its writes are
/// replayed when the new database opens); column families may be renamed; the new database
/// gets a new identity whose parent is the bundle's database.
pub fn import_into_new_database(
    fs: Arc<dyn FileSystem>,
    bundle: impl AsRef<Path>,
    dir: impl AsRef<Path>,
    opts: &ImportOptions,
) -> Result<RestoreInfo> {
    let bundle = bundle.as_ref();
    let record = read_bundle(&*fs, bundle)?;
    let names = renames(&record, &opts.column_families)?;
    super::wal_tables::check_wal_prefixes(&fs, bundle, &record)?;
    let store = LocalStore::new(Arc::clone(&fs), bundle);
    let total = record.files.iter().map(|f| f.size).sum();
    let mut tracker = Tracker::new(opts.progress.as_ref(), "import", record.files.len(), total);
    let fetch = |f: &FileRecord, dst: &Path| fetch_bundle_file(&store, &*fs, bundle, f, dst, opts.copy_files);
    build_database(&*fs, dir.as_ref(), "strata-import", &record, &names, fetch, 1, &mut tracker)
}

/// Checks the size and whole-file checksum of bundle file `f` (`store` is a [`LocalStore`]
/// rooted at `bundle`): `Corruption` naming the file when it is damaged. Every import checks
/// every file it uses through this function, before using it.
pub(crate) fn check_bundle_file(store: &dyn Store, bundle: &Path, f: &FileRecord) -> Result<()> {
    match super::verify::check_file(store, &as_bundle_object(f), VerifyLevel::Checksums)? {
        None => Ok(()),
        Some(problem) => {
            Err(Error::corruption(bundle.join(&f.name), 0, format!("bundle file is damaged: {problem:?}")))
        }
    }
}

/// Checks bundle file `f` ([`check_bundle_file`]), then puts it at `dst` on `fs` (a hard link
/// where possible unless `copy`).
pub(crate) fn fetch_bundle_file(
    store: &dyn Store,
    fs: &dyn FileSystem,
    bundle: &Path,
    f: &FileRecord,
    dst: &Path,
    copy: bool,
) -> Result<Transfer> {
    check_bundle_file(store, bundle, f)?;
    store.get_file(&f.name, fs, dst, copy)
}

/// The new names of `record`'s column families under `renames`, checked: every source exists,
/// `default` is not renamed, no two families end up with one name.
fn renames(record: &SnapshotRecord, renames: &[(String, String)]) -> Result<Vec<(CfId, String)>> {
    let mut out: Vec<(CfId, String)> = record.column_families.iter().map(|c| (c.id, c.name.clone())).collect();
    for (from, to) in renames {
        let Some(c) = record.column_families.iter().find(|c| &c.name == from) else {
            return Err(Error::ColumnFamilyNotFound(from.clone()));
        };
        if c.id == CfId::DEFAULT || to.is_empty() {
            return Err(Error::InvalidArgument(format!("cannot rename column family {from:?} to {to:?}")));
        }
        if let Some(slot) = out.iter_mut().find(|(id, _)| *id == c.id) {
            slot.1 = to.clone();
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (_, n) in &out {
        if !seen.insert(n) {
            return Err(Error::InvalidArgument(format!("two column families would be named {n:?}")));
        }
    }
    Ok(out)
}
