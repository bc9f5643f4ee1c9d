//! `VersionSet`: the current version, the counters, and the manifest that makes changes to them
//! durable.
//!
//! Every change goes through [`VersionSet::log_and_apply`]: the edit is checked against the
//! current version, stamped with the counters, appended to the manifest and synced, and only
//! then installed. When the manifest has grown past `manifest_size_limit`, and on every
//! read-write open, the set *rolls over*: it writes a new manifest that begins with one snapshot
//! edit of the whole state and switches `CURRENT` to it, so recovery never reads old history.
//!
//! Invariants:
//! - an edit is durable before the version it produces is installed;
//! - after any failed manifest write the set is poisoned and refuses further edits (the on-disk
//!   state is then either the old or the new one, which only a reopen can tell);
//! - every version ever installed and still referenced is reported by
//!   [`VersionSet::live_table_numbers`], so no table a reader holds is deleted.
//!
//! Thread safety: single-threaded; the engine owns it under its mutex. Versions it hands out are
//! immutable and `Send + Sync`.

use crate::edit::VersionEdit;
use crate::error::{Error, Result};
use crate::filename::{FileKind, LiveState, manifest_file_name, obsolete_files, parse_file_name, table_file_name};
use crate::format::{
    CF_NAME_LEN_MAX, DEFAULT_CF_ID, DEFAULT_CF_NAME, FILE_NUMBER_MAX, MANIFEST_SIZE_LIMIT_DEFAULT, NAME_LEN_MAX,
};
use crate::identity::DbId;
use crate::locate::{ManifestRecovery, ManifestSource, locate_manifest, manual_fix};
use crate::log::RecordWriter;
use crate::manifest::{create_manifest, read_edits, set_current, snapshot_edit};
use crate::version::Version;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use strata_base::ikey::InternalKeyComparator;
use strata_base::testing::kill_point;
use strata_base::{BytewiseComparator, CfId, Comparator, FileNumber, FileSystem};

/// How a version set orders keys and when it rolls its manifest over.
#[derive(Debug, Clone)]
pub struct VersionSetOptions {
    /// Orders the internal keys of tables (the engine passes `InternalKeyComparator`). Its name
    /// is stored in the manifest and checked on recovery.
    pub comparator: Arc<dyn Comparator>,
    /// A manifest larger than this is replaced by a fresh snapshot before the next edit.
    pub manifest_size_limit: u64,
}

impl Default for VersionSetOptions {
    fn default() -> Self {
        Self {
            comparator: Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator))),
            manifest_size_limit: MANIFEST_SIZE_LIMIT_DEFAULT,
        }
    }
}

/// The counters persisted with every edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counters {
    next_file_number: FileNumber,
    last_sequence: u64,
    log_number: FileNumber,
    max_cf_id: CfId,
}

/// The live version, its history still in use, and the manifest.
#[derive(Debug)]
pub struct VersionSet {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    opts: VersionSetOptions,
    current: Arc<Version>,
    /// Every version installed; pruned of dead ones lazily.
    live: Vec<Weak<Version>>,
    prune_at: usize,
    counters: Counters,
    manifest_number: FileNumber,
    /// `None` for a read-only set.
    manifest: Option<RecordWriter>,
    manifest_size: u64,
    poisoned: Option<String>,
    /// What recovery found; `None` for a new database.
    recovery: Option<ManifestRecovery>,
    /// The database's identity and its parent's, written into every snapshot edit.
    db_id: Option<DbId>,
    parent_db_id: Option<DbId>,
}

const PRUNE_AT_MIN: usize = 16;

/// Every table `version` names must be in `names` (one listing instead of a stat per table);
/// for a manifest found by listing (`strict`), each must also have its recorded size.
fn check_tables(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
    version: &Version,
    manifest: &Path,
    strict: bool,
) -> Result<()> {
    let present: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    for cf in version.cfs() {
        for (_, f) in cf.files() {
            let name = table_file_name(f.number);
            if !present.contains(name.as_str()) {
                let reason = format!("{} references table {}, which does not exist", manifest.display(), f.number);
                return Err(Error::NotFound { file: dir.join(name), reason });
            }
            if strict {
                let size = fs.file_size(&dir.join(&name)).map_err(|e| Error::io(dir.join(&name), e))?;
                if size != f.size {
                    let reason = format!("table {name} has {size} bytes, the manifest records {}", f.size);
                    return Err(Error::corruption(dir.join(&name), 0, reason));
                }
            }
        }
    }
    Ok(())
}

impl VersionSet {
    /// Creates a new database's manifest in `dir` (`MANIFEST-000001`, then `CURRENT`) with the
    /// column family 0 `"default"`. Refuses a directory that holds a `CURRENT` or any manifest,
    /// table or WAL file (`AlreadyExists`): those belong to a database, which is recovered or
    /// refused, never replaced, so a create can never overwrite a file.
    pub fn create_new(fs: Arc<dyn FileSystem>, dir: &Path, opts: VersionSetOptions) -> Result<Self> {
        fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let names = fs.list(dir).map_err(|e| Error::io(dir, e))?;
        let mut ours: Vec<&String> = names
            .iter()
            .filter(|n| {
                matches!(
                    parse_file_name(n),
                    Some(FileKind::Current | FileKind::Manifest(_) | FileKind::Table(_) | FileKind::Log(_))
                )
            })
            .collect();
        if !ours.is_empty() {
            ours.sort_unstable();
            let list: Vec<&str> = ours.iter().map(|s| s.as_str()).collect();
            return Err(Error::AlreadyExists {
                dir: dir.to_path_buf(),
                reason: format!("it holds database files ({})", list.join(", ")),
            });
        }
        let mut seed = VersionEdit::new();
        seed.add_cf(CfId::DEFAULT, DEFAULT_CF_NAME, opts.comparator.name());
        let version = Version::empty().apply(&seed, opts.comparator.as_ref()).map_err(Error::InvalidArgument)?;
        let counters = Counters {
            next_file_number: FileNumber::new(1),
            last_sequence: 0,
            log_number: FileNumber::new(0),
            max_cf_id: DEFAULT_CF_ID,
        };
        let mut set = Self::assemble(fs, dir, opts, version, counters, FileNumber::new(0), 0);
        set.db_id = Some(DbId::generate());
        set.roll_over(None, true)?;
        Ok(set)
    }

    /// Finds the live manifest and replays it: the one `CURRENT` names, or, when `CURRENT` is
    /// missing, damaged or names a missing manifest, the newest one found by listing (see
    /// [`crate::locate`] for when that choice is proven and when the open refuses instead).
    /// Read-write (`read_only == false`) then rolls over to a fresh manifest and points
    /// `CURRENT` at it (which also repairs a damaged `CURRENT`), so appends never follow a torn
    /// tail; read-only writes nothing. [`VersionSet::recovery`] tells what was found.
    pub fn recover(fs: Arc<dyn FileSystem>, dir: &Path, opts: VersionSetOptions, read_only: bool) -> Result<Self> {
        let mut set = Self::recover_read(fs, dir, opts)?;
        if !read_only {
            set.start_writing()?;
        }
        Ok(set)
    }

    /// [`VersionSet::recover`] without writing anything: the set is read-only until
    /// [`VersionSet::start_writing`]. Lets a caller check the directory before the first write.
    pub fn recover_read(fs: Arc<dyn FileSystem>, dir: &Path, opts: VersionSetOptions) -> Result<Self> {
        let names = fs.list(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                file: dir.join(crate::format::CURRENT_FILE_NAME),
                reason: "the database directory does not exist".into(),
            },
            _ => Error::io(dir, e),
        })?;
        let (manifest_number, source) = locate_manifest(fs.as_ref(), dir, &names)?;
        let listed = matches!(source, ManifestSource::Listed { .. });
        let path = dir.join(manifest_file_name(manifest_number));
        let refuse =
            |what: String| Error::corruption(&path, 0, format!("{what}; {}", manual_fix(dir, manifest_number)));
        let cmp = opts.comparator.clone();
        let mut version = Version::empty();
        let (mut next, mut last, mut log, mut max_cf) = (None, None, None, None::<CfId>);
        let mut records = 0u64;
        let (mut db_id, mut parent_db_id) = (None, None);
        let read = read_edits(fs.as_ref(), dir, manifest_number, |edit, offset| {
            match &edit.comparator {
                Some(name) if name != cmp.name() => {
                    return Err(Error::InvalidArgument(format!(
                        "{} was written with comparator {name:?}, opened with {:?}",
                        path.display(),
                        cmp.name()
                    )));
                }
                None if records == 0 => {
                    return Err(Error::corruption(&path, offset, "first edit is not a snapshot (no comparator)"));
                }
                _ => {}
            }
            records += 1;
            version = version.apply(&edit, cmp.as_ref()).map_err(|r| Error::corruption(&path, offset, r))?;
            next = edit.next_file_number.or(next);
            last = edit.last_sequence.or(last);
            log = edit.log_number.or(log);
            (db_id, parent_db_id) = (edit.db_id.or(db_id), edit.parent_db_id.or(parent_db_id));
            let added = edit.cf_adds.iter().map(|a| a.id).chain(edit.max_cf_id).max();
            max_cf = max_cf.max(added);
            Ok(())
        });
        let read = match read {
            // A listed manifest must prove itself: any damage makes the choice unprovable.
            Err(Error::Corruption { file, offset, reason }) if listed => {
                return Err(Error::Corruption {
                    file,
                    offset,
                    reason: format!("{reason}; {}", manual_fix(dir, manifest_number)),
                });
            }
            other => other?,
        };
        if listed && let Some(offset) = read.dropped_tail {
            return Err(Error::corruption(
                &path,
                offset,
                format!(
                    "the newest manifest, found by listing, ends in a torn edit, so it is not provably \
                     the live one; {}",
                    manual_fix(dir, manifest_number)
                ),
            ));
        }
        let missing = |what: &str| Error::corruption(&path, 0, format!("no edit sets the {what}"));
        if records == 0 {
            let e = Error::corruption(&path, 0, "manifest holds no edits");
            return Err(if listed { refuse("the newest manifest holds no edits".into()) } else { e });
        }
        let next = next.ok_or_else(|| missing("next file number"))?;
        if next >= FILE_NUMBER_MAX || manifest_number >= FILE_NUMBER_MAX {
            let reason = format!("file numbers {next} / {manifest_number} exceed FILE_NUMBER_MAX {FILE_NUMBER_MAX}");
            return Err(Error::corruption(&path, 0, reason));
        }
        let mut counters = Counters {
            next_file_number: next.max(manifest_number.next()),
            last_sequence: last.ok_or_else(|| missing("last sequence"))?,
            log_number: log.ok_or_else(|| missing("log number"))?,
            max_cf_id: max_cf.unwrap_or(DEFAULT_CF_ID),
        };
        version
            .check_invariants(counters.next_file_number, cmp.as_ref())
            .map_err(|r| Error::corruption(&path, 0, r))?;
        // Tables from before epochs get them from their recovered L0 order (ingestion).
        let version = version.with_recovered_epochs();
        check_tables(fs.as_ref(), dir, &names, &version, &path, listed).map_err(|e| match e {
            Error::Corruption { file, offset, reason } if listed => {
                Error::Corruption { file, offset, reason: format!("{reason}; {}", manual_fix(dir, manifest_number)) }
            }
            Error::NotFound { file, reason } if listed => {
                Error::Corruption { file, offset: 0, reason: format!("{reason}; {}", manual_fix(dir, manifest_number)) }
            }
            other => other,
        })?;
        // Numbers handed out after the last durable edit (WAL files of later generations,
        // tables of a lost flush, a manifest of a failed rollover) are above the recorded next
        // file number. Never hand them out again: the rollover below would create a manifest
        // under a name that is taken.
        let max_used = names
            .iter()
            .filter_map(|n| match parse_file_name(n) {
                Some(FileKind::Log(n) | FileKind::Table(n) | FileKind::Manifest(n)) => Some(n),
                _ => None,
            })
            .max();
        if let Some(max_used) = max_used
            && max_used < FILE_NUMBER_MAX
        {
            counters.next_file_number = counters.next_file_number.max(max_used.next());
        }
        let mut set = Self::assemble(fs, dir, opts, version, counters, manifest_number, read.size);
        set.recovery = Some(ManifestRecovery { manifest_number, source, dropped_tail: read.dropped_tail });
        (set.db_id, set.parent_db_id) = (db_id, parent_db_id);
        Ok(set)
    }

    /// Starts logging edits: writes a fresh manifest holding a snapshot of the recovered state
    /// and points `CURRENT` at it. Called once, after [`VersionSet::recover_read`].
    pub fn start_writing(&mut self) -> Result<()> {
        if self.manifest.is_some() {
            return Err(Error::InvalidArgument("the version set is already writing".into()));
        }
        // A database from before identities gets one at its first read-write open.
        if self.db_id.is_none() {
            self.db_id = Some(DbId::generate());
        }
        self.roll_over(None, false)
    }

    /// What the recovery found (`None` for a set made by [`VersionSet::create_new`]).
    pub fn recovery(&self) -> Option<&ManifestRecovery> {
        self.recovery.as_ref()
    }

    fn assemble(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        opts: VersionSetOptions,
        version: Version,
        counters: Counters,
        manifest_number: FileNumber,
        manifest_size: u64,
    ) -> Self {
        let current = Arc::new(version);
        Self {
            fs,
            dir: dir.to_path_buf(),
            opts,
            live: vec![Arc::downgrade(&current)],
            current,
            prune_at: PRUNE_AT_MIN,
            counters,
            manifest_number,
            manifest: None,
            manifest_size,
            poisoned: None,
            recovery: None,
            db_id: None,
            parent_db_id: None,
        }
    }

    /// Writes a new manifest holding a snapshot of `next` (or of the current version) and
    /// switches `CURRENT` to it. Installs `next` on success; poisons the set on failure.
    /// `via_temp`: write the manifest under a temporary name first (see `create_manifest`).
    fn roll_over(&mut self, next: Option<(Version, Counters)>, via_temp: bool) -> Result<()> {
        let (version, mut counters) = match next {
            Some(v) => v,
            None => ((*self.current).clone(), self.counters),
        };
        let number = counters.next_file_number;
        counters.next_file_number = number.next();
        let mut snap = snapshot_edit(
            &version,
            self.opts.comparator.name(),
            counters.log_number,
            counters.next_file_number,
            counters.last_sequence,
        );
        snap.max_cf_id = Some(counters.max_cf_id);
        (snap.db_id, snap.parent_db_id) = (self.db_id, self.parent_db_id);
        let written = create_manifest(self.fs.as_ref(), &self.dir, number, std::slice::from_ref(&snap), via_temp)
            .and_then(|w| {
                kill_point("manifest.rollover_written");
                set_current(self.fs.as_ref(), &self.dir, number)?;
                kill_point("manifest.rollover_current_set");
                Ok(w)
            });
        let writer = written.inspect_err(|e| self.poisoned = Some(format!("manifest rollover failed: {e}")))?;
        self.manifest_size = writer.len();
        self.manifest = Some(writer);
        self.manifest_number = number;
        self.counters = counters;
        self.install(version);
        Ok(())
    }

    fn install(&mut self, version: Version) {
        self.current = Arc::new(version);
        self.live.push(Arc::downgrade(&self.current));
        if self.live.len() >= self.prune_at {
            self.live.retain(|w| w.strong_count() > 0);
            self.prune_at = (self.live.len() * 2).max(PRUNE_AT_MIN);
        }
    }

    /// The installed version; hold the `Arc` to pin every column family's tables.
    pub fn current(&self) -> Arc<Version> {
        self.current.clone()
    }

    /// Checks `edit` against the current version, stamps the counters into it, makes it durable
    /// in the manifest (rolling over first if the manifest is over its limit), and installs the
    /// resulting version. An edit that does not fit is `InvalidArgument` and nothing is written.
    pub fn log_and_apply(&mut self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        if let Some(why) = &self.poisoned {
            return Err(Error::Poisoned(why.clone()));
        }
        if self.manifest.is_none() {
            return Err(Error::InvalidArgument("the version set was opened read-only".into()));
        }
        if edit.db_id.is_some() || edit.parent_db_id.is_some() {
            return Err(Error::InvalidArgument("a database's identity is set only when it is created".into()));
        }
        let counters = self.check_counters(&edit)?;
        let cmp = self.opts.comparator.clone();
        let version = self.current.apply(&edit, cmp.as_ref()).map_err(Error::InvalidArgument)?;
        #[cfg(debug_assertions)]
        version.check_invariants(counters.next_file_number, cmp.as_ref()).map_err(Error::InvalidArgument)?;

        edit.next_file_number = Some(counters.next_file_number);
        edit.last_sequence = Some(counters.last_sequence);
        edit.log_number = Some(counters.log_number);
        if !edit.cf_adds.is_empty() {
            edit.max_cf_id = Some(counters.max_cf_id);
        }
        if self.manifest_size >= self.opts.manifest_size_limit {
            self.roll_over(Some((version, counters)), false)?;
            return Ok(self.current());
        }
        let Some(writer) = self.manifest.as_mut() else {
            return Err(Error::InvalidArgument("the version set was opened read-only".into()));
        };
        let bytes = edit.encode();
        // Check the bytes right before they are written, as recovery will read them.
        debug_assert_eq!(VersionEdit::decode_from(&bytes).as_ref(), Ok(&edit), "edit does not round-trip");
        let appended = writer.add_record(&bytes).and_then(|end| writer.sync().map(|()| end));
        let end = appended.inspect_err(|e| self.poisoned = Some(format!("manifest append failed: {e}")))?;
        self.manifest_size = end;
        self.counters = counters;
        self.install(version);
        Ok(self.current())
    }

    /// The counters after `edit`, or why the edit's counters or ids are not acceptable.
    fn check_counters(&self, edit: &VersionEdit) -> Result<Counters> {
        let c = self.counters;
        let bad = |s: String| Err(Error::InvalidArgument(s));
        if let Some(name) = &edit.comparator
            && name != self.opts.comparator.name()
        {
            return bad(format!("edit names comparator {name:?}, the database uses {:?}", self.opts.comparator.name()));
        }
        if let Some(l) = edit.log_number
            && l < c.log_number
        {
            return bad(format!("log number {l} is below the current {}", c.log_number));
        }
        if let Some(s) = edit.last_sequence
            && s < c.last_sequence
        {
            return bad(format!("last sequence {s} is below the current {}", c.last_sequence));
        }
        let next_file_number = edit.next_file_number.unwrap_or_default().max(c.next_file_number);
        if next_file_number >= FILE_NUMBER_MAX {
            return bad(format!("next file number {next_file_number} exceeds FILE_NUMBER_MAX {FILE_NUMBER_MAX}"));
        }
        for f in &edit.new_files {
            if f.meta.number >= next_file_number {
                return bad(format!("table {} was not allocated (next file number {next_file_number})", f.meta.number));
            }
        }
        let mut max_cf_id = c.max_cf_id;
        for a in &edit.cf_adds {
            if a.name.is_empty() || a.name.len() > CF_NAME_LEN_MAX {
                let n = a.name.len();
                return bad(format!("column family {}: name of {n} bytes is not 1 to {CF_NAME_LEN_MAX}", a.id));
            }
            if a.comparator.len() > NAME_LEN_MAX {
                return bad(format!("column family {}: comparator name longer than {NAME_LEN_MAX} bytes", a.id));
            }
            if a.id <= max_cf_id {
                let next = max_cf_id.next();
                return bad(format!("column family id {} was already used (next is {next})", a.id));
            }
            max_cf_id = a.id;
        }
        Ok(Counters {
            next_file_number,
            last_sequence: edit.last_sequence.unwrap_or(c.last_sequence),
            log_number: edit.log_number.unwrap_or(c.log_number),
            max_cf_id,
        })
    }

    /// Allocates a file number; it is persisted by the next edit.
    pub fn new_file_number(&mut self) -> FileNumber {
        let n = self.counters.next_file_number;
        self.counters.next_file_number = n.next();
        n
    }

    pub fn next_file_number(&self) -> FileNumber {
        self.counters.next_file_number
    }

    pub fn last_sequence(&self) -> u64 {
        self.counters.last_sequence
    }

    pub fn log_number(&self) -> FileNumber {
        self.counters.log_number
    }

    /// The id the next column family added should get; ids are never reused.
    pub fn next_cf_id(&self) -> CfId {
        self.counters.max_cf_id.next()
    }

    /// The database's identity; `None` only for a database from before identities that was
    /// opened read-only.
    pub fn db_id(&self) -> Option<DbId> {
        self.db_id
    }

    /// The identity of the database this one was copied from, if any.
    pub fn parent_db_id(&self) -> Option<DbId> {
        self.parent_db_id
    }

    pub fn manifest_number(&self) -> FileNumber {
        self.manifest_number
    }

    /// Bytes in the live manifest.
    pub fn manifest_size(&self) -> u64 {
        self.manifest_size
    }

    pub fn options(&self) -> &VersionSetOptions {
        &self.opts
    }

    pub fn is_read_only(&self) -> bool {
        self.manifest.is_none()
    }

    /// Why writes are refused, if an earlier manifest write failed.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Tables of the current version and of every version still referenced: none of these may
    /// be deleted.
    pub fn live_table_numbers(&self) -> BTreeSet<FileNumber> {
        // `live` holds the current version too (every installed version is pushed).
        let mut out = BTreeSet::new();
        for v in self.live.iter().filter_map(Weak::upgrade) {
            out.extend(v.cfs().flat_map(|c| c.files().map(|(_, f)| f.number)));
        }
        out
    }

    /// The names among `names` (the directory's entries) that can be deleted now: the pure
    /// [`obsolete_files`] applied to this set's live state and the caller's pending outputs,
    /// WAL pins (`logs_pinned_from`, `FileNumber::MAX` for none) and temp-file switch.
    pub fn obsolete_files(
        &self,
        names: &[String],
        pending_outputs: &BTreeSet<FileNumber>,
        logs_pinned_from: FileNumber,
        delete_temp: bool,
    ) -> Vec<String> {
        let live_tables = self.live_table_numbers();
        let live = LiveState {
            live_tables: &live_tables,
            log_number: self.counters.log_number,
            manifest_number: self.manifest_number,
            pending_outputs,
            next_file_number: self.counters.next_file_number,
            logs_pinned_from,
            delete_temp,
        };
        obsolete_files(names, &live)
    }

    /// Number of versions still referenced (including the current one).
    pub fn live_version_count(&self) -> usize {
        self.live.iter().filter(|w| w.strong_count() > 0).count()
    }
}
