//! The engine's error type. The building blocks' errors convert into it.
//!
//! Invariants: every variant of a lower crate's error maps to the engine variant of the same
//! meaning (corruption to `Corruption`, a newer format to `UnsupportedVersion`, ...); one the
//! engine does not know (the lower enums are `#[non_exhaustive]`) becomes `Internal` with its
//! message, never `InvalidArgument`, which would blame the caller.
//!
//! Thread safety: plain data, `Send + Sync`.

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
    /// A file is intact but in a format version this build does not read (written by a newer
    /// Strata, or an older one no longer supported). Not corruption: another build can read it.
    #[error("unsupported format version in {} at offset {offset}: {reason}", .file.display())]
    UnsupportedVersion { file: PathBuf, offset: u64, reason: String },
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
    /// An error from a building block that this build of the engine does not classify (a new
    /// variant of a lower crate's `#[non_exhaustive]` error). A bug to report, not a caller
    /// mistake.
    #[error("internal error: {0}")]
    Internal(String),
    /// Another writer changed the same thing first (e.g. two writers committing to one
    /// snapshot repository kept colliding); the caller may retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A long operation was cancelled by its progress callback.
    #[error("cancelled: {0}")]
    Cancelled(String),
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
            Error::UnsupportedVersion { file, offset, reason } => {
                Error::UnsupportedVersion { file: file.clone(), offset: *offset, reason: reason.clone() }
            }
            Error::Internal(s) => Error::Internal(s.clone()),
            Error::Conflict(s) => Error::Conflict(s.clone()),
            Error::Cancelled(s) => Error::Cancelled(s.clone()),
        }
    }

    /// Bytes on disk are damaged ([`Error::Corruption`]).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// A file is in a format version this build does not read ([`Error::UnsupportedVersion`]).
    pub fn is_unsupported_version(&self) -> bool {
        matches!(self, Error::UnsupportedVersion { .. })
    }

    /// Something needed does not exist: a file or database ([`Error::NotFound`]) or a column
    /// family ([`Error::ColumnFamilyNotFound`]). A missing *key* is not an error (`Ok(None)`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_) | Error::ColumnFamilyNotFound(_))
    }

    /// The operating system reported an I/O failure ([`Error::Io`]).
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }

    /// The caller passed something unusable ([`Error::InvalidArgument`]).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Error::InvalidArgument(_))
    }

    /// Writes are refused until the database is reopened ([`Error::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned(_))
    }

    /// Retrying the same operation later may succeed ([`Error::TryAgain`]).
    pub fn is_try_again(&self) -> bool {
        matches!(self, Error::TryAgain(_))
    }

    /// The database is closing or closed ([`Error::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
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
            M::UnsupportedVersion { file, offset, reason } => Error::UnsupportedVersion { file, offset, reason },
            other => Error::Internal(format!("manifest: {other}")),
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
            other => Error::Internal(format!("log: {other}")),
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
            S::UnsupportedVersion { file, offset, reason } => Error::UnsupportedVersion { file, offset, reason },
            other => Error::Internal(format!("table: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// One of the `Error::is_*` helpers.
    type Classifier = fn(&Error) -> bool;

    fn io_err() -> std::io::Error {
        std::io::Error::other("disk on fire")
    }

    #[test]
    fn lower_errors_keep_their_meaning() {
        let f = Path::new("/db/000007.sst");
        let cases: Vec<(Error, Classifier)> = vec![
            (strata_sst::Error::Io { path: f.into(), source: io_err() }.into(), Error::is_io),
            (
                strata_sst::Error::Corruption { file: f.into(), offset: 9, reason: "x".into() }.into(),
                Error::is_corruption,
            ),
            (
                strata_sst::Error::UnsupportedVersion { file: f.into(), offset: 52, reason: "v2".into() }.into(),
                Error::is_unsupported_version,
            ),
            (strata_sst::Error::InvalidArgument("k".into()).into(), Error::is_invalid_argument),
            (strata_manifest::Error::Io { path: f.into(), source: io_err() }.into(), Error::is_io),
            (
                strata_manifest::Error::Corruption { file: f.into(), offset: 1, reason: "x".into() }.into(),
                Error::is_corruption,
            ),
            (
                strata_manifest::Error::UnsupportedVersion { file: f.into(), offset: 1, reason: "tag".into() }.into(),
                Error::is_unsupported_version,
            ),
            (strata_manifest::Error::NotFound { file: f.into(), reason: "gone".into() }.into(), Error::is_not_found),
            (strata_manifest::Error::Poisoned("p".into()).into(), Error::is_poisoned),
            (strata_manifest::Error::InvalidArgument("a".into()).into(), Error::is_invalid_argument),
            (strata_wal::Error::Io { path: f.into(), source: io_err() }.into(), Error::is_io),
            (
                strata_wal::Error::Corruption { file: f.into(), offset: 3, reason: "x".into() }.into(),
                Error::is_corruption,
            ),
            (strata_wal::Error::Poisoned { path: f.into(), reason: "r".into() }.into(), Error::is_poisoned),
            (strata_wal::Error::InvalidArgument("a".into()).into(), Error::is_invalid_argument),
        ];
        for (e, is) in &cases {
            assert!(is(e), "{e:?}");
            // Exactly one classification holds for each of these.
            let all: [Classifier; 8] = [
                Error::is_io,
                Error::is_corruption,
                Error::is_unsupported_version,
                Error::is_not_found,
                Error::is_invalid_argument,
                Error::is_poisoned,
                Error::is_try_again,
                Error::is_closed,
            ];
            assert_eq!(all.iter().filter(|f| f(e)).count(), 1, "{e:?}");
            // A duplicate classifies the same and says the same.
            let d = e.duplicate();
            assert!(is(&d), "{d:?}");
            assert_eq!(d.to_string(), e.to_string());
        }
    }

    #[test]
    fn errors_name_the_file_and_offset() {
        let e: Error =
            strata_sst::Error::UnsupportedVersion { file: "/db/000007.sst".into(), offset: 52, reason: "v2".into() }
                .into();
        let s = e.to_string();
        assert!(s.contains("/db/000007.sst") && s.contains("offset 52") && s.contains("v2"), "{s}");
        assert!(!e.is_corruption());
    }

    #[test]
    fn engine_only_variants_classify() {
        assert!(Error::ColumnFamilyNotFound("x".into()).is_not_found());
        assert!(Error::NotFound("x".into()).is_not_found());
        assert!(Error::TryAgain("x".into()).is_try_again());
        assert!(Error::Closed.is_closed());
        assert!(Error::from(io_err()).is_io());
        let internal = Error::Internal("new variant".into());
        assert!(!internal.is_invalid_argument() && !internal.is_corruption());
        assert_eq!(internal.duplicate().to_string(), "internal error: new variant");
    }
}
