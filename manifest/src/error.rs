//! The crate's error type.
//!
//! Invariants: `Corruption` always names the file and the byte offset of the record (or 0 for
//! whole-file problems such as a malformed `CURRENT`); `NotFound` names the missing file.
//!
//! Thread safety: plain data.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file system failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Bytes on disk are not what the format allows.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption { file: PathBuf, offset: u64, reason: String },
    /// The manifest is intact but was written by a newer version of the format (an edit at
    /// `offset` holds a must-understand tag this build does not know).
    #[error("{} at offset {offset} needs a newer version of Strata: {reason}", file.display())]
    UnsupportedVersion { file: PathBuf, offset: u64, reason: String },
    /// The caller asked for something impossible (an edit that breaks an invariant).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A file the database needs is missing.
    #[error("{} is missing: {reason}", file.display())]
    NotFound { file: PathBuf, reason: String },
    /// A new database was asked for where one (or its files) already is.
    #[error("{} already holds a database: {reason}", dir.display())]
    AlreadyExists { dir: PathBuf, reason: String },
    /// A manifest write failed earlier; the on-disk state is unknown until reopen.
    #[error("manifest writes refused until reopen after an earlier failure: {0}")]
    Poisoned(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Self::Corruption { file: file.into(), offset, reason: reason.into() }
    }
}

/// Why an edit failed to decode: the byte offset within the edit and what was wrong. Callers
/// that know the file turn it into [`Error::Corruption`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset} of edit: {reason}")]
pub struct DecodeError {
    pub offset: usize,
    pub reason: String,
    /// The edit is well formed but holds a must-understand tag this build does not know: it was
    /// written by a newer version (the record's checksum already ruled out damage). Callers
    /// report it as [`Error::UnsupportedVersion`] rather than [`Error::Corruption`].
    pub newer_format: bool,
}
