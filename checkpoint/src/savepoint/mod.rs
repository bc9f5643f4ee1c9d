//! Savepoints: a canonical, self-contained, relocatable copy of a database's key/value state at
//! one sequence number, owned by the user and restorable under other options (Flink's
//! canonical savepoints; see `docs/savepoints.md` for how they differ from checkpoints).
//!
//! ```no_run
//! # fn main() -> strata::Result<()> {
//! use strata_checkpoint::{Savepoint, SavepointOptions, SavepointRestoreOptions};
//! let db = strata::Db::open("/tmp/src-db", strata::Options::default())?;
//! let info = Savepoint::create(&db, "/tmp/sp-1", &SavepointOptions::default())?;
//! Savepoint::verify("/tmp/sp-1")?;
//! let opts = strata::Options { block_size: 16 << 10, ..Default::default() };
//! Savepoint::restore("/tmp/sp-1", "/tmp/new-db", &opts, &SavepointRestoreOptions::default())?;
//! # Ok(()) }
//! ```
//!
//! Layout: `format.rs` (every constant, encode/decode, beside `docs/format/savepoint.md`),
//! `writer.rs` (`SavepointWriter` and `create`), `reader.rs` (`SavepointReader` and `verify`),
//! `restore.rs` (planning, the `WriteBatch` path), `tables.rs` (the table-building path),
//! `claim.rs` (opening a native checkpoint as a live database, claim modes), `fuzzing.rs`.
//!
//! Invariants: a savepoint directory appears whole or not at all (built in a temporary sibling,
//! fsynced, renamed); once renamed nothing in Strata writes to or deletes it; it holds no path,
//! so it can be moved anywhere. Restores build the new database in a temporary sibling too.
//!
//! Thread safety: `create` runs beside writers (it reads through a snapshot); `restore` decodes
//! chunks on several threads; progress callbacks must be `Send + Sync`.

mod claim;
mod cursor;
pub mod format;
pub mod fuzzing;
mod reader;
mod restore;
mod tables;
mod writer;

pub use claim::{ClaimMode, open_checkpoint};

pub use reader::SavepointReader;
pub use writer::SavepointWriter;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use strata::{Db, FileSystem, Options, Result, SeqNo, Snapshot};

/// Progress of a `create` or `restore`, reported after each chunk.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SavepointProgress {
    /// Chunks written (create) or applied (restore) so far.
    pub chunks_done: u64,
    /// Chunks to apply (restore); unknown (0) while creating.
    pub chunks_total: u64,
    pub entries: u64,
    /// Key and value bytes so far.
    pub bytes: u64,
}

/// Called after each chunk; `ControlFlow::Break(())` cancels the operation, which then fails
/// with `Error::Cancelled` and leaves nothing but (at most) its temporary sibling directory.
pub type ProgressFn = dyn Fn(&SavepointProgress) -> ControlFlow<()> + Send + Sync;

/// How a savepoint is made.
#[derive(Clone, Default)]
pub struct SavepointOptions<'a> {
    /// The families to save; `None` (the default) saves all.
    pub column_families: Option<Vec<String>>,
    /// Save the state this snapshot sees; `None` takes one when `create` starts.
    pub snapshot: Option<&'a Snapshot>,
    /// Target bytes of entries per chunk (default [`DEFAULT_CHUNK_BYTES`]): the unit of
    /// checksumming, of parallel restore and of key-range selection.
    pub chunk_bytes: Option<usize>,
    /// The file system to write the savepoint through; `None` uses the database's.
    pub fs: Option<Arc<dyn FileSystem>>,
    pub progress: Option<Arc<ProgressFn>>,
}

/// Default target size of a chunk.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

impl std::fmt::Debug for SavepointOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavepointOptions")
            .field("column_families", &self.column_families)
            .field("snapshot", &self.snapshot)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

/// A half-open key range `[start, end)`; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Option<Vec<u8>>,
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_deref().is_none_or(|s| key >= s) && self.end.as_deref().is_none_or(|e| key < e)
    }

    /// Whether any key in `[first, last]` can be in the range.
    pub fn overlaps(&self, first: &[u8], last: &[u8]) -> bool {
        self.start.as_deref().is_none_or(|s| last >= s) && self.end.as_deref().is_none_or(|e| first < e)
    }
}

/// How a savepoint is restored.
#[derive(Clone, Default)]
pub struct SavepointRestoreOptions {
    /// `(name in the savepoint, name in the new database)` for each family to restore; `None`
    /// (the default) restores all under their own names. Families not listed are left out.
    pub column_families: Option<Vec<(String, String)>>,
    /// Restore only the keys in this range (of every family).
    pub key_range: Option<KeyRange>,
    /// Threads reading, checking and applying chunks (default 0 = up to 4, by cores).
    pub threads: usize,
    /// How entries reach the new database (default: tables built directly).
    pub method: RestoreMethod,
    pub progress: Option<Arc<ProgressFn>>,
}

impl std::fmt::Debug for SavepointRestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavepointRestoreOptions")
            .field("column_families", &self.column_families)
            .field("key_range", &self.key_range)
            .field("threads", &self.threads)
            .field("method", &self.method)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How a restore writes the new database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestoreMethod {
    /// Build bottom-level tables straight from the chunks, in parallel, under the target's
    /// table options, and describe them in a fresh manifest: no WAL, memtable, flush or
    /// compaction (the target is a new database, so nothing needs ingesting).
    #[default]
    Tables,
    /// Write each chunk as a `WriteBatch` without the WAL, then flush: the engine's own write
    /// path (slower; kept for comparison and as a cross-check of the table path).
    Writes,
}

/// One family of a savepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FamilyInfo {
    pub name: String,
    pub comparator: String,
    pub entries: u64,
    /// Key and value bytes.
    pub data_bytes: u64,
    pub chunks: u32,
    /// Smallest and largest key; `None` for an empty family.
    pub key_range: Option<(Vec<u8>, Vec<u8>)>,
}

/// What a savepoint holds.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SavepointInfo {
    pub dir: PathBuf,
    /// The state of every family at this sequence number of the source.
    pub sequence: SeqNo,
    pub created_unix_secs: u64,
    /// The format version the writer used.
    pub format_version: u16,
    /// The source's options, for information.
    pub source_options: Vec<(String, String)>,
    pub families: Vec<FamilyInfo>,
    pub chunks: u64,
    /// Size of the savepoint file.
    pub file_bytes: u64,
    /// Wall time of the call that returned this.
    pub duration: Duration,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SavepointRestoreInfo {
    pub target: PathBuf,
    /// The savepoint's sequence number.
    pub sequence: SeqNo,
    /// `(name in the new database, entries restored)`.
    pub families: Vec<(String, u64)>,
    pub entries: u64,
    pub bytes: u64,
    pub chunks_read: u64,
    pub duration: Duration,
}

/// Savepoints: create, verify, restore.
#[derive(Debug)]
pub struct Savepoint;

impl Savepoint {
    /// Writes the state of `db` (the chosen families, at one sequence number) into `dir`, which
    /// must not exist; its parent must. Writers may keep going meanwhile.
    pub fn create(db: &Db, dir: impl AsRef<Path>, opts: &SavepointOptions<'_>) -> Result<SavepointInfo> {
        writer::create(db, dir.as_ref(), opts)
    }

    /// Reads the whole savepoint in `dir` on the operating system's file system and checks
    /// every checksum, order and count; opens no database.
    pub fn verify(dir: impl AsRef<Path>) -> Result<SavepointInfo> {
        Self::verify_with(strata::RealFs::arc(), dir)
    }

    /// [`Savepoint::verify`] through `fs`.
    pub fn verify_with(fs: Arc<dyn FileSystem>, dir: impl AsRef<Path>) -> Result<SavepointInfo> {
        SavepointReader::open(fs, dir.as_ref())?.verify()
    }

    /// Restores the savepoint in `dir` into a new database at `target` (which must not exist)
    /// opened with `opts` (any options; `opts.fs` is used for both directories).
    pub fn restore(
        dir: impl AsRef<Path>,
        target: impl AsRef<Path>,
        opts: &Options,
        restore_opts: &SavepointRestoreOptions,
    ) -> Result<SavepointRestoreInfo> {
        restore::restore(dir.as_ref(), target.as_ref(), opts, restore_opts)
    }
}

/// Calls the progress callback, turning a `Break` into `Error::Cancelled`.
pub(crate) fn report(progress: Option<&Arc<ProgressFn>>, p: &SavepointProgress, what: &str) -> Result<()> {
    if what == "restore" {
        let (done, total) = (p.chunks_done as usize, p.chunks_total as usize);
        strata_base::testing::kill_point_midway(done, total, "savepoint.restore_midway");
    }
    match progress.map(|f| f(p)) {
        Some(ControlFlow::Break(())) => {
            Err(strata::Error::Cancelled(format!("{what} cancelled by its progress callback")))
        }
        _ => Ok(()),
    }
}

/// The file system `opts` names, or the operating system's.
pub(crate) fn fs_of(opts: &Options) -> Arc<dyn FileSystem> {
    opts.fs.clone().unwrap_or_else(strata::RealFs::arc)
}
