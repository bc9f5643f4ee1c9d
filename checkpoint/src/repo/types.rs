//! The repository's public value types: ids, infos, options, reports, progress.
//!
//! Invariants: none beyond the field docs; these are plain data handed to and from callers.
//!
//! Thread safety: plain data; [`Progress`] wraps a `Send + Sync` callback.

use super::format::{FileKind, SnapshotRecord};
use super::record::{Entry, SnapshotState};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strata::{DbId, Error, Result, SeqNo};

/// A repository snapshot's id: assigned in creation order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId(pub u64);

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A repository snapshot as `list` and `snapshot` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    pub name: Option<String>,
    /// The identity of the database it was taken of.
    pub db_id: Option<DbId>,
    /// The last sequence number it holds (0 while creating).
    pub sequence: SeqNo,
    pub created_at: SystemTime,
    pub column_families: Vec<String>,
    /// Tables it references.
    pub tables: usize,
    /// Bytes of all its files.
    pub bytes_total: u64,
    /// Bytes it added to the repository (tables no earlier snapshot had, WAL prefixes).
    pub bytes_added: u64,
    pub state: SnapshotState,
    pub labels: BTreeMap<String, String>,
    /// Why creation failed (failed snapshots).
    pub failure: Option<String>,
}

pub(crate) fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl SnapshotInfo {
    pub(crate) fn from_entry(e: &Entry) -> Self {
        let r: Option<&SnapshotRecord> = e.record.as_deref();
        Self {
            id: SnapshotId(e.id),
            name: e.name.clone(),
            db_id: DbId::from_hex(&e.db_id),
            sequence: r.map_or(0, |r| r.sequence),
            created_at: time_of(e.created_at_ms),
            column_families: r.map(|r| r.column_families.iter().map(|c| c.name.clone()).collect()).unwrap_or_default(),
            tables: r.map_or(e.pending_tables.len(), |r| r.files.iter().filter(|f| f.kind == FileKind::Table).count()),
            bytes_total: r.map_or(0, |r| r.bytes_total),
            bytes_added: r.map_or(0, |r| r.bytes_added),
            state: e.state,
            labels: e.labels.clone(),
            failure: e.failure.clone(),
        }
    }
}

/// What a progress callback is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgressEvent {
    /// `"create"`, `"verify"`, `"restore"`, `"export"` or `"import"`.
    pub operation: &'static str,
    pub files_done: usize,
    pub files_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// A progress callback: called after every file; returning `false` cancels the operation,
/// which then fails with `Error::Cancelled` and leaves at most a temporary sibling or a failed
/// snapshot that the next call or `gc` removes.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&ProgressEvent) -> bool + Send + Sync>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl Progress {
    pub fn new(f: impl Fn(&ProgressEvent) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

/// Counts files and bytes of one operation and reports them.
#[derive(Debug)]
pub(crate) struct Tracker<'a> {
    progress: Option<&'a Progress>,
    event: ProgressEvent,
}

impl<'a> Tracker<'a> {
    pub(crate) fn new(
        progress: Option<&'a Progress>,
        operation: &'static str,
        files_total: usize,
        bytes_total: u64,
    ) -> Self {
        Self { progress, event: ProgressEvent { operation, files_done: 0, files_total, bytes_done: 0, bytes_total } }
    }

    /// One more file of `bytes` done; `Cancelled` if the callback says stop.
    pub(crate) fn file_done(&mut self, bytes: u64) -> Result<()> {
        self.event.files_done += 1;
        self.event.bytes_done += bytes;
        match self.progress {
            Some(p) if !(p.0)(&self.event) => Err(Error::Cancelled(format!(
                "{} cancelled by its progress callback after {} of {} files",
                self.event.operation, self.event.files_done, self.event.files_total
            ))),
            _ => Ok(()),
        }
    }
}

/// How `create_snapshot` works.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    pub name: Option<String>,
    /// Flush memtables first (default `true`); with `false`, unflushed writes are carried by
    /// WAL prefixes stored with the snapshot.
    pub flush: bool,
    /// Only these column families (plus `default`); `None` takes all.
    pub column_families: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// Copy tables into the repository even where they could be hard-linked.
    pub copy_files: bool,
    pub progress: Option<Progress>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self {
            name: None,
            flush: true,
            column_families: None,
            labels: BTreeMap::new(),
            copy_files: false,
            progress: None,
        }
    }
}

/// How thoroughly `verify` checks files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyLevel {
    /// Every file exists with its recorded size.
    Sizes,
    /// And every byte matches its recorded checksum.
    Checksums,
}

/// What is wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing,
    SizeMismatch {
        expected: u64,
        actual: u64,
    },
    ChecksumMismatch {
        expected: u32,
        actual: u32,
    },
    /// A structural check failed (a table's footer).
    Corrupt(String),
    /// Reading failed.
    Unreadable(String),
}

/// One bad file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The object's key in the repository.
    pub key: String,
    /// Where it is (for a local repository, the file's path).
    pub file: PathBuf,
    pub problem: Problem,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.file.display(), self.problem)
    }
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    pub id: SnapshotId,
    pub level: VerifyLevel,
    pub files_checked: usize,
    pub bytes_checked: u64,
    /// Every bad file, named.
    pub problems: Vec<FileProblem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How `restore` (and `import_into_new_database`) builds a database.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Copy files even where they could be hard-linked.
    pub copy_files: bool,
    /// Check every file's checksum before using it (sizes are always checked).
    pub verify_checksums: bool,
    pub progress: Option<Progress>,
}

/// What `restore` (or an import into a new directory) made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreInfo {
    pub dir: PathBuf,
    /// The new database's identity (its parent is the snapshot's database).
    pub db_id: DbId,
    pub sequence: SeqNo,
    pub linked_files: usize,
    pub copied_files: usize,
    pub copied_bytes: u64,
}

/// Which complete snapshots `retain` keeps, counted per database identity. A snapshot is kept
/// if any rule keeps it.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// The newest this many of each database.
    pub keep_last: usize,
    /// Those created less than this long ago.
    pub keep_within: Option<Duration>,
    /// Those with a name (named snapshots are usually taken by hand).
    pub keep_named: bool,
}

/// What `gc` did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Creating snapshots past their grace period, now failed.
    pub expired: Vec<SnapshotId>,
    /// Failed and deleting snapshots removed from the log.
    pub forgotten: Vec<SnapshotId>,
    /// Tables and WAL prefixes no snapshot references, deleted.
    pub objects_deleted: usize,
    /// Tables a crashed `gc` had moved aside that a snapshot needs, put back.
    pub objects_restored: usize,
    /// Temporary files of interrupted writes, removed.
    pub temporaries_removed: usize,
    /// Complete snapshots with missing files: reported, never deleted.
    pub damaged: Vec<(SnapshotId, Vec<String>)>,
}

/// What `export` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportInfo {
    pub dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// How a bundle is imported: into a new database directory
/// ([`import_into_new_database`](super::import_into_new_database)) or into an open database
/// ([`import`](super::import)).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `(name in the bundle, name in the database)`. Into a new directory: renames, every
    /// family is imported, `default` cannot be renamed. Into an open database: exactly the
    /// families listed are imported (empty: every family of the bundle under its own name).
    pub column_families: Vec<(String, String)>,
    /// Into an open database: new families or an upsert (ignored for a new directory).
    pub mode: ImportMode,
    /// Copy even where hard links are possible. Otherwise tables are hard-linked from the
    /// bundle when it is on the target's file system (into a new directory, or into an open
    /// database as new families: the database owns its links and never writes into them; the
    /// bundle is never modified). An upsert always writes new tables.
    pub copy_files: bool,
    pub progress: Option<Progress>,
}

/// How [`import`](super::import) brings a bundle's families into an open database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImportMode {
    /// Each family becomes a NEW family (its name must be free) made of the bundle's tables,
    /// which keep their levels and sequence numbers; the database's last sequence number is
    /// raised to at least the bundle's, in the same manifest edit.
    #[default]
    NewColumnFamilies,
    /// Each family is written into an EXISTING family: the bundle's visible entries (latest
    /// version per key at the bundle's sequence, tombstones dropped) overwrite the target's
    /// values for the same keys; keys only in the target stay.
    Upsert,
}

/// What [`import`](super::import) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportInfo {
    /// The families written, by their names in the database, in the order given.
    pub column_families: Vec<String>,
    /// The bundle's sequence number (the state imported).
    pub sequence: SeqNo,
    /// Tables handed to the engine (bundle tables and the tables made of WAL prefixes for new
    /// families, or rewritten tables for an upsert).
    pub tables: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Entries written into new tables: rewritten (upsert), or carried from the bundle's WAL
    /// prefixes (new families; 0 without WAL prefixes).
    pub entries: u64,
}
