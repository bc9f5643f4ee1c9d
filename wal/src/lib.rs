//! Strata's record log format: the write-ahead log, and the manifest's container.
//!
//! A log is a sequence of 32 KiB blocks holding fragments; a record too large for the rest of a
//! block is split into first / middle / last fragments, each with a checksummed header. The
//! byte-level format is `docs/format/wal.md` and [`format`]. [`LogWriter`] appends records;
//! [`LogReader`] reads them back under a [`RecoveryMode`] that decides what a torn tail or
//! corruption means.
//!
//! Invariants: a record is entirely present or entirely absent after reading; the end offset of
//! every record is a clean place to cut the log (a prefix ending there reads back without
//! anomaly); decoders treat every byte of the file as untrusted.
//!
//! Thread safety: a `LogWriter` and a `LogReader` each have one owner; both are `Send`.

mod error;
pub mod format;
mod fragment;
mod reader;
#[doc(hidden)]
#[cfg(feature = "testing")]
pub mod testing;
mod writer;

pub use error::{Error, Result};
pub use format::{BLOCK_SIZE, HEADER_LEN, RECORD_LEN_MAX};
pub use reader::{LogReader, ReadReport, Record, RecoveryMode, Skipped};
pub use writer::LogWriter;
