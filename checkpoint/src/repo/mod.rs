//! Snapshot repositories: a directory holding named, durable snapshots of one or more
//! databases that share unchanged tables, with a Delta-style metadata log.
//!
//! Words (kept apart in every message): a *repository snapshot* ([`SnapshotInfo`],
//! [`SnapshotId`]) is durable and lives here; it is not `strata::Snapshot`, the in-memory MVCC
//! read snapshot. A *log checkpoint* is the full-state file of the metadata log, not a database
//! checkpoint. Layout, log format and crash behaviour: `docs/repository.md`; file formats:
//! `docs/format/repository.md`.
//!
//! Files: `mod.rs` (the [`Repository`] type: create, open, list), `types.rs` (public values),
//! `format.rs` (names, framing, records), `record.rs` (the pure state machine), `log.rs` (the
//! commit log), `snapshot.rs` (create), `verify.rs`, `restore.rs`, `retain.rs` (delete,
//! retain, gc), `bundle.rs` (export, import into a new directory), `import.rs` (import into
//! an open database), `wal_tables.rs` (a bundle's WAL prefixes: strict checks, and L0 tables
//! of them for new families).
//!
//! Invariants: every change to the repository's state is one exclusive, durable commit; tables
//! are stored once under names that two different tables never share; nothing a complete
//! snapshot references is deleted; restore and export never write into or unlink a repository
//! object.
//!
//! Thread safety: a [`Repository`] is `Send + Sync`; any number of threads and processes may
//! use one repository at once (commits race safely). `gc` and the table sweep of `delete` take
//! an exclusive lock on `GC.lock`, so one runs at a time.

mod bundle;
pub mod format;
mod import;
mod log;
mod parallel;
pub mod record;
mod restore;
mod retain;
mod snapshot;
mod types;
mod verify;
mod wal_tables;

pub use bundle::import_into_new_database;
pub use import::import;
pub use log::LogOptions;
pub use record::SnapshotState;
pub use retain::plan_retention;
pub use types::{
    ExportInfo, FileProblem, GcReport, ImportInfo, ImportMode, ImportOptions, Problem, Progress, ProgressEvent,
    RestoreInfo, RestoreOptions, Retention, SnapshotId, SnapshotInfo, SnapshotOptions, VerifyLevel, VerifyReport,
};

use crate::store::{LocalStore, Store};
use format::{KIND_REPOSITORY, LOG_DIR, REPOSITORY_KEY, RepositoryMarker, TABLES_DIR, WALS_DIR, frame, unframe};
use log::MetaLog;
use record::{Entry, LogState};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use strata::{Error, Result};
use strata_base::{FileSystem, RealFs};

/// How a repository is opened.
#[derive(Debug, Clone)]
pub struct RepositoryOptions {
    /// The file system (default: the real one). Tests pass a `SimFs`.
    pub fs: Option<Arc<dyn FileSystem>>,
    pub log: LogOptions,
    /// A creating snapshot not completed within this time may be failed by `gc`, which then
    /// reclaims its tables; temporary files older than this are removed by `gc` (default one
    /// hour). Keep it well above the longest snapshot creation.
    pub creating_grace: Duration,
}

impl Default for RepositoryOptions {
    fn default() -> Self {
        Self { fs: None, log: LogOptions::default(), creating_grace: Duration::from_secs(3600) }
    }
}

/// A snapshot repository. See the module docs.
#[derive(Debug)]
pub struct Repository {
    root: PathBuf,
    fs: Arc<dyn FileSystem>,
    store: Arc<dyn Store>,
    log: MetaLog,
    opts: RepositoryOptions,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Checks that `dir` can become a new directory: it does not exist (`AlreadyExists`), it has a
/// final component and its parent is a directory (`InvalidArgument`). Returns `(parent, name)`.
pub(crate) fn new_dir_target(fs: &dyn FileSystem, dir: &Path) -> Result<(PathBuf, String)> {
    let norm = crate::paths::normalize(dir);
    let name = norm.file_name().and_then(|n| n.to_str()).map(str::to_string).ok_or_else(|| {
        Error::InvalidArgument(format!("{} has no usable final component (root or non-UTF-8)", dir.display()))
    })?;
    if fs.exists(&norm) {
        return Err(Error::AlreadyExists(dir.to_path_buf()));
    }
    let parent = norm.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    if !fs.is_dir(&parent) {
        return Err(Error::InvalidArgument(format!("the parent of {} is not a directory", dir.display())));
    }
    Ok((parent, name))
}

/// Complete snapshot `id`'s entry in `state`: `NotFound` if absent, `InvalidArgument` if not
/// complete.
pub(crate) fn complete_entry_in(state: &LogState, id: SnapshotId) -> Result<Entry> {
    let e = state.entry(id.0).ok_or_else(|| not_found(id))?;
    if e.state != SnapshotState::Complete || e.record.is_none() {
        return Err(Error::InvalidArgument(format!("repository snapshot {id} is {:?}, not complete", e.state)));
    }
    Ok(e.clone())
}

impl Repository {
    /// Creates a new, empty repository at `path`, which must not exist (`AlreadyExists`); its
    /// parent must. Built in a temporary sibling and renamed into place.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::create_with(path, RepositoryOptions::default())
    }

    pub fn create_with(path: impl AsRef<Path>, opts: RepositoryOptions) -> Result<Self> {
        let path = path.as_ref();
        let fs = opts.fs.clone().unwrap_or_else(|| Arc::new(RealFs::new()));
        let (parent, name) = new_dir_target(&*fs, path)?;
        let tmp = parent.join(format!(".{name}.strata-repo.tmp"));
        if fs.exists(&tmp) {
            fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        let built = (|| {
            for d in [LOG_DIR, TABLES_DIR, WALS_DIR] {
                let p = tmp.join(d);
                fs.create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
                fs.sync_dir(&p).map_err(|e| Error::io(&p, e))?;
            }
            let marker = RepositoryMarker { format_version: format::FORMAT_VERSION, created_at_ms: now_ms() };
            LocalStore::new(Arc::clone(&fs), &tmp).put_if_absent(REPOSITORY_KEY, &frame(KIND_REPOSITORY, &marker)?)?;
            fs.rename(&tmp, &parent.join(&name)).map_err(|e| Error::io(path, e))?;
            fs.sync_dir(&parent).map_err(|e| Error::io(&parent, e))
        })();
        if let Err(e) = built {
            let _ = fs.remove_dir_all(&tmp);
            return Err(e);
        }
        Self::open_with(parent.join(name), opts)
    }

    /// Opens the repository at `path`: `NotFound` if there is none, so a mistyped path never
    /// yields an empty repository.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, RepositoryOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, opts: RepositoryOptions) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        let fs = opts.fs.clone().unwrap_or_else(|| Arc::new(RealFs::new()));
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(Arc::clone(&fs), &root));
        let exists = fs.is_dir(&root);
        Self::open_store(root, fs, store, exists, opts)
    }

    /// Creates a new, empty repository at `url` (`s3://bucket/prefix`) on object storage;
    /// `AlreadyExists` if one is there. The bucket must exist. Databases to snapshot and restore
    /// targets are on `opts.fs` (default: the real file system).
    #[cfg(feature = "s3")]
    pub fn create_url(url: &str, store_opts: crate::store::StoreOptions, opts: RepositoryOptions) -> Result<Self> {
        let store = crate::store::ObjectStore::new(url, store_opts)?;
        let marker = RepositoryMarker { format_version: format::FORMAT_VERSION, created_at_ms: now_ms() };
        if store.put_if_absent(REPOSITORY_KEY, &frame(KIND_REPOSITORY, &marker)?)? == crate::store::Put::Exists {
            return Err(Error::AlreadyExists(PathBuf::from(store.location())));
        }
        Self::from_object_store(store, opts)
    }

    /// Opens the repository at `url` (`s3://bucket/prefix`): `NotFound` if there is none.
    #[cfg(feature = "s3")]
    pub fn open_url(url: &str, store_opts: crate::store::StoreOptions, opts: RepositoryOptions) -> Result<Self> {
        Self::from_object_store(crate::store::ObjectStore::new(url, store_opts)?, opts)
    }

    #[cfg(feature = "s3")]
    fn from_object_store(store: crate::store::ObjectStore, opts: RepositoryOptions) -> Result<Self> {
        let fs = opts.fs.clone().unwrap_or_else(|| Arc::new(RealFs::new()));
        let root = PathBuf::from(store.location());
        Self::open_store(root, fs, Arc::new(store), true, opts)
    }

    /// Opens the repository in `store` (at `root`, for messages); `exists` false: `NotFound`.
    fn open_store(
        root: PathBuf,
        fs: Arc<dyn FileSystem>,
        store: Arc<dyn Store>,
        exists: bool,
        opts: RepositoryOptions,
    ) -> Result<Self> {
        let marker = root.join(REPOSITORY_KEY);
        let Some(bytes) = (if exists { format::get_metadata(&*store, REPOSITORY_KEY, &marker)? } else { None }) else {
            return Err(Error::NotFound(format!(
                "no snapshot repository at {} (no {REPOSITORY_KEY} file)",
                root.display()
            )));
        };
        let _: RepositoryMarker = unframe(KIND_REPOSITORY, &bytes, &marker)?;
        let log = MetaLog::new(Arc::clone(&store), opts.log.clone());
        log.load()?;
        Ok(Self { root, fs, store, log, opts })
    }

    /// The repository's directory (its URL for an object store).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Every snapshot, in every state, oldest first.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>> {
        let state = self.log.load()?;
        Ok(state.snapshots.iter().map(SnapshotInfo::from_entry).collect())
    }

    /// One snapshot; `NotFound` if there is none with that id.
    pub fn snapshot(&self, id: SnapshotId) -> Result<SnapshotInfo> {
        let state = self.log.load()?;
        state.entry(id.0).map(SnapshotInfo::from_entry).ok_or_else(|| not_found(id))
    }

    /// The newest state of the metadata log.
    pub(crate) fn state(&self) -> Result<LogState> {
        self.log.load()
    }

    /// A complete snapshot's entry: `NotFound` if absent, `InvalidArgument` if not complete.
    pub(crate) fn complete_entry(&self, id: SnapshotId) -> Result<Entry> {
        complete_entry_in(&self.log.load()?, id)
    }

    /// Refuses a target directory inside the repository (`gc` and people would trip over it).
    pub(crate) fn check_outside(&self, dir: &Path) -> Result<()> {
        if !self.store.is_remote() && crate::paths::normalize(dir).starts_with(crate::paths::normalize(&self.root)) {
            return Err(Error::InvalidArgument(format!(
                "{} is inside the snapshot repository {}",
                dir.display(),
                self.root.display()
            )));
        }
        Ok(())
    }

    /// The path of object `key`, for messages.
    pub(crate) fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Writes a log checkpoint of the current state now (normally every
    /// `LogOptions::checkpoint_interval` commits).
    pub fn write_log_checkpoint(&self) -> Result<()> {
        let state = self.log.load()?;
        if state.version == 0 {
            return Ok(());
        }
        self.log.write_checkpoint(&state)
    }
}

pub(crate) fn not_found(id: SnapshotId) -> Error {
    Error::NotFound(format!("repository snapshot {id} does not exist"))
}
