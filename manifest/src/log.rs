//! The manifest's record log: a thin adapter over the record format, so the rest of the crate
//! sees one small interface (`add_record`, `sync`, `len`; `read_record`).
//!
//! STAND-IN: until `strata-wal` lands, records are framed here as
//! `fixed32 masked_crc32(len ++ payload) ++ fixed32 len ++ payload`. Swapping in
//! `strata_wal::{LogWriter, LogReader}` touches only this file.
//!
//! Invariants: a record whose frame runs past the end of the file, or whose checksum fails and
//! which ends exactly at the end of the file, is a torn tail and ends the log silently; any
//! other bad record is `Corruption` naming the file and the record's offset.
//!
//! Thread safety: a writer has one owner; a reader is used by one thread.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::checksum::{crc32_parts, mask, unmask};
use strata_base::{RandomAccessFile, WritableFile};

const HEADER_LEN: usize = 8;

/// Appends records to a manifest file.
#[derive(Debug)]
pub(crate) struct RecordWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
}

impl RecordWriter {
    pub(crate) fn new(file: Box<dyn WritableFile>, path: PathBuf) -> Self {
        Self { file, path }
    }

    /// Appends one record; returns the file length after it.
    pub(crate) fn add_record(&mut self, payload: &[u8]) -> Result<u64> {
        let len = u32::try_from(payload.len())
            .map_err(|_| Error::InvalidArgument(format!("edit of {} bytes is too large", payload.len())))?;
        let len_bytes = len.to_le_bytes();
        let crc = mask(crc32_parts(&[&len_bytes, payload]));
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
        frame.extend_from_slice(&crc.to_le_bytes());
        frame.extend_from_slice(&len_bytes);
        frame.extend_from_slice(payload);
        self.file.append(&frame).map_err(|e| Error::io(&self.path, e))?;
        Ok(self.file.len())
    }

    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file.sync().map_err(|e| Error::io(&self.path, e))
    }

    pub(crate) fn len(&self) -> u64 {
        self.file.len()
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
    file: Arc<dyn RandomAccessFile>,
    path: PathBuf,
    offset: u64,
}

impl RecordReader {
    pub(crate) fn new(file: Arc<dyn RandomAccessFile>, path: &Path) -> Self {
        Self { file, path: path.to_path_buf(), offset: 0 }
    }

    /// The next record, `None` at the end of the log or at a torn tail.
    pub(crate) fn read_record(&mut self) -> Result<Option<Record>> {
        let size = self.file.len();
        let start = self.offset;
        if size.saturating_sub(start) < HEADER_LEN as u64 {
            return Ok(None);
        }
        let header = self.file.read_at(start, HEADER_LEN).map_err(|e| Error::io(&self.path, e))?;
        let (Some(crc), Some(len)) = (header.get(0..4), header.get(4..8)) else {
            return Err(Error::corruption(&self.path, start, "short record header"));
        };
        let stored = unmask(u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]));
        let len_bytes = [len[0], len[1], len[2], len[3]];
        let len = u64::from(u32::from_le_bytes(len_bytes));
        let body = start + HEADER_LEN as u64;
        if size - body < len {
            return Ok(None);
        }
        let n = usize::try_from(len).map_err(|_| Error::corruption(&self.path, start, "record length overflows"))?;
        let payload = self.file.read_at(body, n).map_err(|e| Error::io(&self.path, e))?;
        let end = body + len;
        if crc32_parts(&[&len_bytes, &payload]) != stored {
            if end == size {
                return Ok(None);
            }
            return Err(Error::corruption(&self.path, start, "record checksum mismatch"));
        }
        self.offset = end;
        Ok(Some(Record { payload, offset: start }))
    }
}
