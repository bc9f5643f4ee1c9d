//! `Checkpoint::create`.

use crate::paths::check_target;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata::{Db, Error, LiveFiles, Result, SeqNo};
use strata_base::fs::{copy_file, copy_file_prefix};
use strata_base::limits::DEFAULT_CF_NAME;
use strata_base::testing::kill_point;
use strata_base::{FileSystem, IoGate, IoGateGuard};
use strata_manifest::CfId;
use strata_manifest::format::CURRENT_FILE_NAME;
use strata_manifest::{
    FileNumber, VersionEdit, read_current, snapshot_edit, write_current_unpublished, write_manifest,
};

/// How a checkpoint is made.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// Flush the memtables first, so the checkpoint is tables only (default `true`). With
    /// `false`, unflushed writes are carried by copying the WAL up to the pinned sequence.
    pub flush: bool,
    /// Copy tables instead of hard-linking them (default `false`). Tables are copied anyway
    /// when the target is on another file system.
    pub copy_files: bool,
    /// Checkpoint only these column families (plus `default`, which every database has).
    /// `None` (the default) takes all.
    pub column_families: Option<Vec<String>>,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        Self { flush: true, copy_files: false, column_families: None }
    }
}

/// What a checkpoint contains and what it cost.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The last sequence number in the checkpoint, across every column family.
    pub sequence: SeqNo,
    /// The checkpoint's directory.
    pub dir: PathBuf,
    /// Tables hard-linked.
    pub linked_files: usize,
    /// Tables and WAL files copied.
    pub copied_files: usize,
    /// Bytes copied (tables and WAL prefixes).
    pub copied_bytes: u64,
    /// Column families in the checkpoint.
    pub column_families: Vec<String>,
    /// Wall time of `create`.
    pub duration: Duration,
}

/// Makes checkpoints of one database.
#[derive(Debug)]
pub struct Checkpoint<'a> {
    db: &'a Db,
    opts: CheckpointOptions,
}

/// Name of the temporary sibling a checkpoint into `parent/name` is built in.
pub(crate) fn tmp_name(name: &str) -> String {
    format!(".{name}.strata-checkpoint.tmp")
}

impl<'a> Checkpoint<'a> {
    pub fn new(db: &'a Db) -> Self {
        Self { db, opts: CheckpointOptions::default() }
    }

    pub fn options(mut self, opts: CheckpointOptions) -> Self {
        self.opts = opts;
        self
    }

    /// Creates a checkpoint in `dir`, which must not exist; its parent must. On any error
    /// nothing is left at `dir` (and the temporary directory is removed).
    pub fn create(&self, dir: impl AsRef<Path>) -> Result<CheckpointInfo> {
        let start = Instant::now();
        let fs = self.db.file_system();
        let dir = dir.as_ref();
        let (parent, name) = check_target(&*fs, self.db.path(), dir)?;
        let wanted = self.wanted_cfs()?;
        // Pin first: from here on no file of the state is deleted, whatever compaction does.
        let live = self.db.live_files(self.opts.flush && !self.db.is_read_only())?;
        let tmp = parent.join(tmp_name(&name));
        if fs.exists(&tmp) {
            fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        fs.create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut info = CheckpointInfo { sequence: live.sequence, dir: dir.to_path_buf(), ..Default::default() };
        let gate = self.db.io_gate();
        let built = self.build(&*fs, &live, &tmp, wanted.as_deref(), &mut info, &gate);
        let target = parent.join(&name);
        let finished = built.and_then(|held| {
            fs.sync_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
            fs.rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
            Ok(held)
        });
        let held = match finished {
            Ok(held) => held,
            Err(e) => {
                let _ = fs.remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = fs.sync_dir(&parent) {
            // The rename happened but may not be durable: undo it, so that an error never
            // leaves `dir` behind.
            let _ = fs.remove_dir_all(&target);
            let _ = fs.sync_dir(&parent);
            return Err(Error::io(&parent, e));
        }
        drop(held);
        drop(live);
        info.duration = start.elapsed();
        Ok(info)
    }

    fn wanted_cfs(&self) -> Result<Option<Vec<String>>> {
        let Some(list) = &self.opts.column_families else { return Ok(None) };
        let names = self.db.cf_names();
        for n in list {
            if !names.contains(n) {
                return Err(Error::ColumnFamilyNotFound(n.clone()));
            }
        }
        let mut out = list.clone();
        if !out.iter().any(|n| n == DEFAULT_CF_NAME) {
            out.push(DEFAULT_CF_NAME.into());
        }
        Ok(Some(out))
    }

    fn build<'g>(
        &self,
        fs: &dyn FileSystem,
        live: &LiveFiles,
        tmp: &Path,
        wanted: Option<&[String]>,
        info: &mut CheckpointInfo,
        gate: &'g IoGate,
    ) -> Result<IoGateGuard<'g>> {
        let keep: Vec<CfId> = live
            .column_families
            .iter()
            .filter(|(_, n)| wanted.is_none_or(|w| w.contains(n)))
            .map(|(id, _)| *id)
            .collect();
        info.column_families =
            live.column_families.iter().filter(|(id, _)| keep.contains(id)).map(|(_, n)| n.clone()).collect();
        let tables: Vec<_> = live.tables.iter().filter(|t| keep.contains(&t.cf_id)).collect();
        // The gate closes before the links, not only around the syncs: a table piece whose sync
        // is in flight then has the links' time to finish before the first fsync below, and no
        // new one starts. A copy (of a table or a WAL) opens it again: copies are long and sync
        // their own bytes, and compactions must not wait for them.
        let mut held = (!self.opts.copy_files).then(|| gate.hold());
        for (i, t) in tables.iter().enumerate() {
            if i == tables.len() / 2 {
                kill_point("checkpoint.links_midway");
            }
            let Some(file_name) = t.path.file_name() else { continue };
            let dst = tmp.join(file_name);
            let linked = !self.opts.copy_files && link_or_fallback(fs, &t.path, &dst)?;
            if linked {
                info.linked_files += 1;
            } else {
                held = None;
                info.copied_bytes += copy_file(fs, &t.path, &dst).map_err(|e| Error::io(&t.path, e))?;
                info.copied_files += 1;
            }
        }
        // The live WAL keeps growing: copy exactly the bytes of the pinned state, never link.
        if !live.wals.is_empty() {
            held = None;
        }
        for w in &live.wals {
            let Some(file_name) = w.path.file_name() else { continue };
            let dst = tmp.join(file_name);
            info.copied_bytes += copy_file_prefix(fs, &w.path, &dst, w.size).map_err(|e| Error::io(&w.path, e))?;
            info.copied_files += 1;
        }
        // `CURRENT` is the source's own, hard-linked, when it can be: then the MANIFEST below is
        // the checkpoint's only file to sync, and its tail is three fsyncs instead of four.
        let linked_current = if !self.opts.copy_files && !self.db.is_read_only() {
            link_source_current(fs, &live.dir, tmp)?
        } else {
            None
        };
        kill_point("checkpoint.before_manifest");
        // A linked `CURRENT` names the source's manifest at the link: the checkpoint's manifest
        // takes that name, which no table or WAL of the source (so of the checkpoint) has.
        // Otherwise the source's next file number, which no file of the checkpoint has either.
        let manifest_number = linked_current.unwrap_or(live.next_file_number);
        let next_file_number = live.next_file_number.max(manifest_number.next());
        let mut edit: VersionEdit =
            snapshot_edit(live.version(), &live.comparator, live.log_number(), next_file_number, live.sequence);
        filter_edit(&mut edit, &keep);
        // The checkpoint's history diverges from the source's from here on: a new identity that
        // records where it came from.
        edit.db_id = Some(strata::DbId::generate());
        edit.parent_db_id = live.db_id;
        // From here to the parent's fsync the checkpoint only syncs: no flush or compaction
        // starts syncing a piece of a table beside these fsyncs (a device cache flush waits for
        // every write in flight), so they wait for at most the one piece already in flight
        // (docs/performance.md, "Checkpoints").
        let held = held.unwrap_or_else(|| gate.hold());
        // Without a linked `CURRENT`, the temporary directory is invisible until renamed, so
        // CURRENT is written in place: one file fsync, no rename, and the directory fsync below
        // covers both entries. The two fsyncs run one after the other on this thread: syncing
        // the MANIFEST on a thread of its own overlapped them, but a new thread beside a
        // compaction waits for a core on a small machine, and with table syncs in small pieces
        // behind the gate that wait cost more than the overlap saved (docs/performance.md,
        // "Checkpoints").
        write_manifest(fs, tmp, manifest_number, &[edit])?;
        if linked_current.is_none() {
            write_current_unpublished(fs, tmp, manifest_number)?;
        }
        Ok(held)
    }
}

/// Keeps only the column families in `keep`.
fn filter_edit(edit: &mut VersionEdit, keep: &[CfId]) {
    edit.cf_adds.retain(|c| keep.contains(&c.id));
    edit.new_files.retain(|f| keep.contains(&f.cf));
}

/// Hard-links the source's `CURRENT` into `tmp` and returns the manifest number it names, or
/// `None` (and no `tmp/CURRENT`) when it cannot be used, so the caller writes a fresh one.
///
/// Why this is safe: a read-write database only ever replaces its `CURRENT` by renaming a
/// synced temporary file over it (`set_current`; every read-write open rolls over to a fresh
/// manifest that way), never writes into it, so the inode linked here is complete, durable and
/// immutable whichever one the link catches while the source rolls over. Its content is
/// `MANIFEST-<n>\n`, and the checkpoint's manifest is then written as `MANIFEST-<n>` (an
/// unrelated file that happens to share the source manifest's name).
///
/// The link only saves a sync, so any failure falls back to a written `CURRENT`: a link across
/// devices, one the file system refuses (`EPERM` on vfat, some network and FUSE mounts,
/// `protected_hardlinks`), a `CURRENT` missing or unlinked by a rollover at that instant
/// (`ENOENT`). A real I/O error surfaces from the write that follows.
fn link_source_current(fs: &dyn FileSystem, src_dir: &Path, tmp: &Path) -> Result<Option<FileNumber>> {
    let src = src_dir.join(CURRENT_FILE_NAME);
    let dst = tmp.join(CURRENT_FILE_NAME);
    if fs.link(&src, &dst).is_err() {
        return Ok(None);
    }
    match read_current(fs, tmp) {
        Ok(n) => Ok(Some(n)),
        // Not what a read-write open leaves (someone replaced it by hand): unlink it (a written
        // `CURRENT` must never go through the shared inode) and write a fresh one.
        Err(_) => {
            fs.remove_file(&dst).map_err(|e| Error::io(&dst, e))?;
            Ok(None)
        }
    }
}

/// Hard-links `src` to `dst`. `Ok(false)` when linking is impossible across file systems (or
/// not supported), so the caller copies instead.
fn link_or_fallback(fs: &dyn FileSystem, src: &Path, dst: &Path) -> Result<bool> {
    match fs.link(src, dst) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.kind(), io::ErrorKind::CrossesDevices | io::ErrorKind::Unsupported) => Ok(false),
        Err(e) => Err(Error::io(dst, e)),
    }
}
