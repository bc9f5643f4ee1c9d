//! The manifest's record log: a thin adapter over `strata-wal`, so the rest of the crate sees
//! one small interface (`add_record`, `sync`, `len`; `read_record`) and this crate's errors.
//!
//! Invariants: the reader runs in `RecoveryMode::TolerateCorruptedTail`: a torn last record
//! (a crash mid-append) ends the log silently; any other anomaly is `Corruption` naming the
//! manifest and the offset.
//!
//! Thread safety: a writer has one owner; a reader is used by one thread.

use crate::error::{Error, Result};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::{RandomAccessFile, WritableFile};
use strata_wal::{LogReader, LogWriter, RecoveryMode};

fn convert(path: &Path, e: strata_wal::Error) -> Error {
    match e {
        strata_wal::Error::Io { path, source } => Error::Io { path, source },
        strata_wal::Error::Corruption { file, offset, reason } => Error::Corruption { file, offset, reason },
        strata_wal::Error::InvalidArgument(s) => Error::InvalidArgument(s),
        strata_wal::Error::Poisoned { reason, .. } => Error::Poisoned(reason),
        other => Error::io(path, io::Error::other(other.to_string())),
    }
}

/// Appends records to a manifest file.
#[derive(Debug)]
pub(crate) struct RecordWriter {
    log: LogWriter,
    path: PathBuf,
}

impl RecordWriter {
    pub(crate) fn new(file: Box<dyn WritableFile>, path: PathBuf) -> Self {
        Self { log: LogWriter::with_path(file, &path), path }
    }

    /// Appends one record; returns the file length after it.
    pub(crate) fn add_record(&mut self, payload: &[u8]) -> Result<u64> {
        self.log.add_record(payload).map_err(|e| convert(&self.path, e))
    }

    pub(crate) fn sync(&mut self) -> Result<()> {
        self.log.sync().map_err(|e| convert(&self.path, e))
    }

    pub(crate) fn len(&self) -> u64 {
        self.log.len()
    }
}

/// One record read back, with the offset it starts at.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) payload: bytes::Bytes,
    pub(crate) offset: u64,
}

/// Reads the records of a manifest file front to back.
#[derive(Debug)]
pub(crate) struct RecordReader {
    log: LogReader,
    path: PathBuf,
}

impl RecordReader {
    pub(crate) fn new(file: Arc<dyn RandomAccessFile>, path: &Path) -> Self {
        Self { log: LogReader::new(file, path, RecoveryMode::TolerateCorruptedTail), path: path.to_path_buf() }
    }

    /// The next record, `None` at the end of the log or at a torn tail.
    pub(crate) fn read_record(&mut self) -> Result<Option<Record>> {
        let rec = self.log.read_record().map_err(|e| convert(&self.path, e))?;
        Ok(rec.map(|r| Record { payload: r.payload, offset: r.offset }))
    }

    /// Where a torn tail was dropped, once `read_record` has returned `None`.
    pub(crate) fn dropped_tail(&self) -> Option<u64> {
        self.log.report().dropped_tail.as_ref().map(|(offset, _)| *offset)
    }
}
