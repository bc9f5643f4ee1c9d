//! The error type of `strata-sst`.
//!
//! Invariants: every error met while decoding bytes from a file is a [`Error::Corruption`] that
//! names the file, the byte offset (of the block, or of the byte inside a block stored raw) and
//! what was wrong. Caller mistakes are [`Error::InvalidArgument`]; I/O failures are
//! [`Error::Io`].
//!
//! Thread safety: plain data, `Send + Sync`.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while writing or reading a table.
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
    /// The bytes of a table are not what the writer wrote.
    #[error("corrupt table {} at offset {offset}: {reason}", file.display())]
    Corruption { file: PathBuf, offset: u64, reason: String },
    /// The table is intact (magic and footer checksum verified) but was written in a format
    /// version this build does not read.
    #[error("table {} at offset {offset} needs another version of Strata: {reason}", file.display())]
    UnsupportedVersion { file: PathBuf, offset: u64, reason: String },
    /// The caller asked for something the format cannot do (unsorted keys, a key that is too
    /// long, a table opened with the wrong comparator, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn corruption(path: &Path, offset: u64, reason: impl Into<String>) -> Self {
        Self::Corruption { file: path.to_path_buf(), offset, reason: reason.into() }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Self::Corruption { .. })
    }

    /// A copy of this error, for iterators that report the same error from `status()` more than
    /// once. An `io::Error` is not `Clone`, so its copy keeps the kind and the message.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Io { path, source } => {
                Self::Io { path: path.clone(), source: io::Error::new(source.kind(), source.to_string()) }
            }
            Self::Corruption { file, offset, reason } => {
                Self::Corruption { file: file.clone(), offset: *offset, reason: reason.clone() }
            }
            Self::InvalidArgument(m) => Self::InvalidArgument(m.clone()),
            Self::UnsupportedVersion { file, offset, reason } => {
                Self::UnsupportedVersion { file: file.clone(), offset: *offset, reason: reason.clone() }
            }
        }
    }
}

/// A decoding failure inside one block, before the caller knows which file and where the block
/// is. `at` is the byte offset inside the block's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockCorrupt {
    pub at: usize,
    pub reason: &'static str,
}

pub(crate) fn block_corrupt(at: usize, reason: &'static str) -> BlockCorrupt {
    BlockCorrupt { at, reason }
}

/// Renders bytes for an error message: printable ASCII as is, the rest escaped, long keys cut.
pub(crate) fn show_key(key: &[u8]) -> String {
    const SHOWN_MAX: usize = 64;
    let mut s: String =
        key.iter().take(SHOWN_MAX).flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if key.len() > SHOWN_MAX {
        s.push_str(&format!("...({} bytes)", key.len()));
    }
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_offset_reason() {
        let e = Error::corruption(Path::new("/x/000001.sst"), 42, "bad block checksum");
        assert_eq!(e.to_string(), "corrupt table /x/000001.sst at offset 42: bad block checksum");
        assert!(e.is_corruption());
        let d = e.duplicate();
        assert_eq!(d.to_string(), e.to_string());
    }

    #[test]
    fn show_key_escapes_and_cuts() {
        assert_eq!(show_key(b"a\x00b"), "\"a\\x00b\"");
        let long = vec![b'k'; 100];
        assert!(show_key(&long).ends_with("...(100 bytes)\""));
    }
}
