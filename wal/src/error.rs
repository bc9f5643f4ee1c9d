//! The crate's error type.
//!
//! Invariants: a `Corruption` always names the file, the byte offset where the anomaly starts
//! and what was wrong.
//!
//! Thread safety: plain data.

use std::io;
use std::path::PathBuf;

/// Errors of the log writer and reader.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file system failed.
    #[error("I/O error on log {}: {source}", path.display())]
    Io {
        /// The log file.
        path: PathBuf,
        /// What the operating system (or `SimFs`) said.
        #[source]
        source: io::Error,
    },
    /// The log's bytes are not what the writer writes, and the recovery mode does not allow it.
    #[error("corrupt log {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The log file.
        file: PathBuf,
        /// File offset where the anomaly begins.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A caller passed something the format cannot hold (e.g. a payload over `RECORD_LEN_MAX`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An earlier append, flush or sync failed; the file's state is unknown, so the writer
    /// refuses further writes (a retried fsync can report success over lost data).
    #[error("log writer for {} is poisoned by an earlier failure: {reason}", path.display())]
    Poisoned {
        /// The log file.
        path: PathBuf,
        /// The first failure.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
