//! The engine's error type. The building blocks' errors convert into it.

use std::path::PathBuf;

/// Everything that can go wrong in Strata, with a message a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with the file it happened on when known.
    #[error("I/O error{}: {source}", fmt_path(.path))]
    Io {
        path: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk are not what was written: a checksum, magic, length or encoding is wrong.
    #[error("corruption in {} at offset {offset}: {reason}", .file.display())]
    Corruption { file: PathBuf, offset: u64, reason: String },
    /// A caller passed something unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The target exists and must not.
    #[error("already exists: {}", .0.display())]
    AlreadyExists(PathBuf),
    /// Something the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Another writable `Db` (in this or another process) holds the directory's lock.
    #[error("database at {} is locked by another writer", .0.display())]
    Locked(PathBuf),
    /// The database was opened read-only.
    #[error("database is open read-only")]
    ReadOnly,
    /// No column family by that name or id.
    #[error("column family not found: {0}")]
    ColumnFamilyNotFound(String),
    /// A background error (failed write, failed fsync, full disk) stopped all writes until the
    /// database is reopened. Reads keep working.
    #[error("database is in an error state after a background failure, reopen to recover: {0}")]
    Poisoned(String),
    /// The operation raced with a change it cannot wait out (a read-only open beside a writer
    /// that kept changing the database); retrying later may succeed.
    #[error("try again: {0}")]
    TryAgain(String),
    /// The database is closing or closed.
    #[error("database is closed")]
    Closed,
    /// Another writer changed the same thing first (e.g. two writers committing to one
    /// snapshot repository kept colliding); the caller may retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A long operation was cancelled by its progress callback.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A file was written by a newer format version than this build reads.
    #[error("unsupported version: {0}")]
    UnsupportedVersion(String),
}

fn fmt_path(p: &Option<PathBuf>) -> String {
    match p {
        Some(p) => format!(" on {}", p.display()),
        None => String::new(),
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Io { path: None, source }
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: Some(path.into()), source }
    }

    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption { file: file.into(), offset, reason: reason.into() }
    }

    /// A copy for reporting one background error to many callers (`io::Error` is not `Clone`).
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Io { path, source } => {
                Error::Io { path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
            }
            Error::Corruption { file, offset, reason } => {
                Error::Corruption { file: file.clone(), offset: *offset, reason: reason.clone() }
            }
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::AlreadyExists(p) => Error::AlreadyExists(p.clone()),
            Error::NotFound(s) => Error::NotFound(s.clone()),
            Error::Locked(p) => Error::Locked(p.clone()),
            Error::ReadOnly => Error::ReadOnly,
            Error::ColumnFamilyNotFound(s) => Error::ColumnFamilyNotFound(s.clone()),
            Error::Poisoned(s) => Error::Poisoned(s.clone()),
            Error::TryAgain(s) => Error::TryAgain(s.clone()),
            Error::Closed => Error::Closed,
            Error::Conflict(s) => Error::Conflict(s.clone()),
            Error::Cancelled(s) => Error::Cancelled(s.clone()),
            Error::UnsupportedVersion(s) => Error::UnsupportedVersion(s.clone()),
        }
    }
}

/// `std::result::Result` with Strata's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<strata_manifest::Error> for Error {
    fn from(e: strata_manifest::Error) -> Self {
        use strata_manifest::Error as M;
        match e {
            M::Io { path, source } => Error::Io { path: Some(path), source },
            M::Corruption { file, offset, reason } => Error::Corruption { file, offset, reason },
            M::InvalidArgument(s) => Error::InvalidArgument(s),
            M::NotFound { file, reason } => Error::NotFound(format!("{} is missing: {reason}", file.display())),
            M::Poisoned(s) => Error::Poisoned(s),
            M::AlreadyExists { dir, .. } => Error::AlreadyExists(dir),
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}

impl From<strata_wal::Error> for Error {
    fn from(e: strata_wal::Error) -> Self {
        use strata_wal::Error as W;
        match e {
            W::Io { path, source } => Error::Io { path: Some(path), source },
            W::Corruption { file, offset, reason } => Error::Corruption { file, offset, reason },
            W::InvalidArgument(s) => Error::InvalidArgument(s),
            p @ W::Poisoned { .. } => Error::Poisoned(p.to_string()),
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}

impl From<strata_sst::Error> for Error {
    fn from(e: strata_sst::Error) -> Self {
        use strata_sst::Error as S;
        match e {
            S::Io { path, source } => Error::Io { path: Some(path), source },
            S::Corruption { file, offset, reason } => Error::Corruption { file, offset, reason },
            S::InvalidArgument(s) => Error::InvalidArgument(s),
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}
