//! Appends records to a log: splits each into fragments so that none crosses a block boundary,
//! zero-fills block trailers too small for a header, and hands bytes to the file.
//!
//! Invariants: after `add_record` returns `Ok(end)`, `end == self.len()` and the file's bytes
//! `[0, end)` are a valid log whose last record is the one just added (padding is written lazily,
//! before the *next* fragment, so a record's end offset is always a clean place to cut the log).
//! After any failed append, flush or sync the writer is poisoned and refuses further work.
//!
//! Thread safety: a `LogWriter` has one owner (`Send`, not shared); the engine serialises
//! appends through its write group leader.

use crate::error::{Error, Result};
use crate::format::{BLOCK_SIZE, FRAGMENT_PAYLOAD_MAX, FragmentType, HEADER_LEN, RECORD_LEN_MAX, encode_header};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use strata_base::WritableFile;

const ZEROS: [u8; HEADER_LEN] = [0; HEADER_LEN];

/// Writes records in the log format to a [`WritableFile`].
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    /// Bytes used in the current block, in `[0, BLOCK_SIZE)`.
    block_offset: usize,
    /// Total bytes handed to `file`.
    len: u64,
    poisoned: Option<String>,
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("block_offset", &self.block_offset)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl LogWriter {
    /// A writer appending to `file`. If `file` already holds bytes (its `len()` is not zero),
    /// the writer continues the block structure from there.
    pub fn new(file: Box<dyn WritableFile>) -> LogWriter {
        Self::with_path(file, PathBuf::new())
    }

    /// Like [`new`](Self::new), naming the file in errors.
    pub fn with_path(file: Box<dyn WritableFile>, path: impl AsRef<Path>) -> LogWriter {
        let len = file.len();
        // The remainder is < BLOCK_SIZE, which fits in usize.
        let block_offset = (len % BLOCK_SIZE as u64) as usize;
        LogWriter { file, path: path.as_ref().to_path_buf(), block_offset, len, poisoned: None }
    }

    /// Appends one record and returns the file offset just past it. The bytes may stay in the
    /// file's buffer until [`flush`](Self::flush) or [`sync`](Self::sync).
    pub fn add_record(&mut self, payload: &[u8]) -> Result<u64> {
        self.check_usable()?;
        check_payload_len(payload)?;
        self.emit_record(payload)?;
        Ok(self.len)
    }

    /// Appends several records (a commit group) and returns the end offset of each. Every
    /// payload is checked before anything is written, so an `InvalidArgument` writes nothing.
    pub fn add_records(&mut self, payloads: &[&[u8]]) -> Result<Vec<u64>> {
        self.check_usable()?;
        for p in payloads {
            check_payload_len(p)?;
        }
        let mut ends = Vec::with_capacity(payloads.len());
        for p in payloads {
            self.emit_record(p)?;
            ends.push(self.len);
        }
        Ok(ends)
    }

    /// Hands buffered bytes to the operating system.
    pub fn flush(&mut self) -> Result<()> {
        self.check_usable()?;
        let r = self.file.flush();
        self.io_result(r)
    }

    /// Flushes and makes every appended byte durable (`fdatasync`).
    pub fn sync(&mut self) -> Result<()> {
        self.check_usable()?;
        let r = self.file.sync();
        self.io_result(r)
    }

    /// Bytes appended so far (the end offset of the last record).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Reserves `len` bytes for the log so that appends do not grow the file and a `sync`
    /// need not commit a new size. Until [`trim`](Self::trim), the file ends in zeros, which
    /// readers treat as a torn tail (type 0 is never written); call `trim` when the log is
    /// closed so that a closed log is exactly its records.
    pub fn preallocate(&mut self, len: u64) -> Result<()> {
        self.check_usable()?;
        let r = self.file.preallocate(len);
        self.io_result(r)
    }

    /// Flushes and cuts the file back to the records written (undoing `preallocate`). Does not
    /// sync: call [`sync`](Self::sync) for that (the engine syncs a closed WAL only when a
    /// later synced write needs it).
    pub fn trim(&mut self) -> Result<()> {
        self.check_usable()?;
        let r = self.file.trim();
        self.io_result(r)
    }

    /// True when no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file name given to [`with_path`](Self::with_path), empty otherwise.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(reason) => Err(Error::Poisoned { path: self.path.clone(), reason: reason.clone() }),
            None => Ok(()),
        }
    }

    fn emit_record(&mut self, payload: &[u8]) -> Result<()> {
        let mut rest = payload;
        let mut first = true;
        loop {
            let leftover = BLOCK_SIZE - self.block_offset;
            if leftover < HEADER_LEN {
                // Too small for a header: zero-fill the trailer and start a new block.
                self.append(&ZEROS[..leftover])?;
                self.block_offset = 0;
            }
            let avail = BLOCK_SIZE - self.block_offset - HEADER_LEN;
            debug_assert!(avail <= FRAGMENT_PAYLOAD_MAX);
            let n = rest.len().min(avail);
            let last = n == rest.len();
            let kind = match (first, last) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, false) => FragmentType::Middle,
                (false, true) => FragmentType::Last,
            };
            let (frag, tail) = rest.split_at(n);
            self.append(&encode_header(kind, frag))?;
            self.append(frag)?;
            self.block_offset += HEADER_LEN + n;
            debug_assert!(self.block_offset <= BLOCK_SIZE);
            if self.block_offset == BLOCK_SIZE {
                self.block_offset = 0;
            }
            rest = tail;
            first = false;
            if last {
                return Ok(());
            }
        }
    }

    fn append(&mut self, data: &[u8]) -> Result<()> {
        let r = self.file.append(data);
        self.io_result(r)?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn io_result(&mut self, r: io::Result<()>) -> Result<()> {
        r.map_err(|source| {
            self.poisoned = Some(source.to_string());
            Error::Io { path: self.path.clone(), source }
        })
    }
}

fn check_payload_len(payload: &[u8]) -> Result<()> {
    if payload.len() > RECORD_LEN_MAX {
        return Err(Error::InvalidArgument(format!(
            "log record of {} bytes is over RECORD_LEN_MAX ({RECORD_LEN_MAX})",
            payload.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_base::fs::Fault;
    use strata_base::{FileSystem, SimFs};

    fn writer(fs: &SimFs) -> LogWriter {
        LogWriter::with_path(fs.create(Path::new("/w.log")).unwrap(), "/w.log")
    }

    #[test]
    fn end_offsets_include_headers_and_padding() {
        let fs = SimFs::new();
        let mut w = writer(&fs);
        assert_eq!(w.add_record(b"abc").unwrap(), (HEADER_LEN + 3) as u64);
        // Fill the block so that 3 bytes remain; the next record starts in block 1.
        let fill = BLOCK_SIZE - 2 * HEADER_LEN - 3 - 3;
        assert_eq!(w.add_record(&vec![7; fill]).unwrap(), (BLOCK_SIZE - 3) as u64);
        assert_eq!(w.add_record(b"x").unwrap(), (BLOCK_SIZE + HEADER_LEN + 1) as u64);
        assert_eq!(w.len(), fs.file_size(Path::new("/w.log")).unwrap());
    }

    #[test]
    fn a_record_filling_a_block_exactly_leaves_no_trailer() {
        let fs = SimFs::new();
        let mut w = writer(&fs);
        assert_eq!(w.add_record(&vec![1; FRAGMENT_PAYLOAD_MAX]).unwrap(), BLOCK_SIZE as u64);
        assert_eq!(w.add_record(b"").unwrap(), (BLOCK_SIZE + HEADER_LEN) as u64);
    }

    #[test]
    fn failed_sync_poisons_the_writer() {
        let fs = SimFs::new();
        let mut w = writer(&fs);
        w.add_record(b"a").unwrap();
        fs.set_fault(Some(Fault::SyncFails));
        assert!(matches!(w.sync(), Err(Error::Io { .. })));
        fs.set_fault(None);
        assert!(matches!(w.sync(), Err(Error::Poisoned { .. })));
        assert!(matches!(w.add_record(b"b"), Err(Error::Poisoned { .. })));
    }

    #[test]
    fn add_records_checks_every_length_first() {
        let fs = SimFs::new();
        let mut w = writer(&fs);
        let ends = w.add_records(&[b"a", b"bc"]).unwrap();
        assert_eq!(ends, vec![8, 17]);
        assert_eq!(w.len(), 17);
    }
}
