//! Reads records back from a log, reassembling fragments, and decides what an anomaly means
//! according to a [`RecoveryMode`].
//!
//! Anomalies are: a header or fragment cut by the end of the file, an all-zero header, an
//! unknown type, a length running past its block, a checksum mismatch, a middle or last fragment
//! with no first, a record whose last fragment never comes (a new record starts, or the file
//! ends), a record over `RECORD_LEN_MAX`, and nonzero bytes in a block trailer. The last one can
//! hold no data, so only `AbsoluteConsistency` treats it as an error; the others report it in
//! [`ReadReport::skipped`] and carry on. What each mode does with the rest is documented on
//! [`RecoveryMode`] and in `docs/format/wal.md`.
//!
//! Invariants: records come out in file order with `offset < end_offset <= file length`;
//! `report().valid_end_offset` is the `end_offset` of the last record returned (0 before any).
//! Once the reader has stopped (end, dropped tail, or a corruption error) it stays stopped:
//! later calls return `Ok(None)` or the same error.
//!
//! Thread safety: a `LogReader` has one owner; the file is shared through an `Arc`.

use crate::error::{Error, Result};
use crate::format::{FragmentType, RECORD_LEN_MAX};
use crate::fragment::{Cursor, Frag};
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
use strata_base::{FileSystem, RandomAccessFile};

/// What the reader does when the log is not exactly what the writer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A torn or garbled tail (an anomaly after which no valid fragment starts anywhere in the
    /// file) is dropped and reported in [`ReadReport::dropped_tail`]; an anomaly followed by a
    /// valid fragment is corruption in the middle and an error.
    #[default]
    TolerateCorruptedTail,
    /// Any anomaly is an error, a torn tail included.
    AbsoluteConsistency,
    /// Stops at the first anomaly and returns every record before it; the anomaly is reported
    /// in [`ReadReport::dropped_tail`] whether or not valid data follows.
    PointInTime,
    /// Skips every bad region, reports each in [`ReadReport::skipped`], and returns every valid
    /// record. Never fails on corruption.
    SkipCorrupted,
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The bytes given to `add_record`. For a one-fragment record this is a view into the
    /// block read (no copy), which keeps that block's 32 KiB alive while it is held.
    pub payload: Bytes,
    /// File offset of the header of its first fragment.
    pub offset: u64,
    /// File offset just past its last fragment; cutting the log here leaves a valid log.
    pub end_offset: u64,
}

/// A region the reader skipped (`SkipCorrupted`, or a nonzero block trailer in any mode
/// but `AbsoluteConsistency`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// File offset where the region starts (the start of the record it broke, if any).
    pub offset: u64,
    /// Bytes in the region.
    pub len: u64,
    /// What was wrong (of the first anomaly, when adjacent regions were merged).
    pub reason: String,
}

/// What the reader found besides records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// `end_offset` of the last record returned; 0 before any.
    pub valid_end_offset: u64,
    /// Offset and reason of the anomaly where reading stopped without error
    /// (`TolerateCorruptedTail` and `PointInTime`).
    pub dropped_tail: Option<(u64, String)>,
    /// Regions skipped, in file order, adjacent ones merged.
    pub skipped: Vec<Skipped>,
    /// Records returned so far.
    pub records: u64,
}

#[derive(Debug)]
enum State {
    Reading,
    Done,
    Failed { offset: u64, reason: String },
}

#[derive(Debug)]
struct Partial {
    offset: u64,
    data: Vec<u8>,
}

/// What to do after an anomaly.
enum Flow {
    Continue,
    Stop,
}

/// Reads records from a log file.
#[derive(Debug)]
pub struct LogReader {
    cursor: Cursor,
    mode: RecoveryMode,
    report: ReadReport,
    partial: Option<Partial>,
    state: State,
}

impl LogReader {
    /// A reader of `file` (named `path` in errors) from its start.
    pub fn new(file: Arc<dyn RandomAccessFile>, path: &Path, mode: RecoveryMode) -> LogReader {
        LogReader {
            cursor: Cursor::new(file, path),
            mode,
            report: ReadReport::default(),
            partial: None,
            state: State::Reading,
        }
    }

    /// Opens `path` on `fs` and reads it.
    pub fn open(fs: &dyn FileSystem, path: &Path, mode: RecoveryMode) -> Result<LogReader> {
        let file = fs.open_unmapped(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Ok(Self::new(file, path, mode))
    }

    /// What was found so far besides records.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// The next record, `Ok(None)` at the end (or where reading stopped), or an error.
    pub fn read_record(&mut self) -> Result<Option<Record>> {
        match &self.state {
            State::Reading => {}
            State::Done => return Ok(None),
            State::Failed { offset, reason } => return Err(self.corruption(*offset, reason.clone())),
        }
        loop {
            let (kind, offset, end, payload) = match self.cursor.next_fragment()? {
                Frag::Eof => {
                    let file_len = self.cursor.file_len();
                    if let Some(p) = self.partial.take() {
                        let reason = "the file ends before the last fragment of this record".to_owned();
                        if let Flow::Stop = self.anomaly(p.offset, file_len, reason, file_len)? {
                            return Ok(None);
                        }
                    }
                    self.state = State::Done;
                    return Ok(None);
                }
                Frag::Bad { offset, end, reason, harmless: true } => {
                    if self.mode == RecoveryMode::AbsoluteConsistency {
                        return Err(self.fail(offset, reason));
                    }
                    self.push_skipped(offset, end, reason);
                    continue;
                }
                Frag::Bad { offset, end, reason, harmless: false } => {
                    let (start, reason) = match self.partial.take() {
                        Some(p) => (p.offset, format!("{reason}, at offset {offset} inside this record")),
                        None => (offset, reason),
                    };
                    match self.anomaly(start, end, reason, offset + 1)? {
                        Flow::Continue => continue,
                        Flow::Stop => return Ok(None),
                    }
                }
                Frag::Fragment { kind, offset, end, payload } => (kind, offset, end, payload),
            };
            match kind {
                FragmentType::Full | FragmentType::First => {
                    if let Some(p) = self.partial.take() {
                        let reason = format!("record has no last fragment: a new record starts at offset {offset}");
                        if let Flow::Stop = self.anomaly(p.offset, offset, reason, offset)? {
                            return Ok(None);
                        }
                    }
                    if kind == FragmentType::Full {
                        return Ok(Some(self.emit(offset, end, payload)));
                    }
                    self.partial = Some(Partial { offset, data: payload.to_vec() });
                }
                FragmentType::Middle | FragmentType::Last => {
                    let Some(mut p) = self.partial.take() else {
                        let reason = format!("{kind:?} fragment without a First fragment before it");
                        match self.anomaly(offset, end, reason, offset + 1)? {
                            Flow::Continue => continue,
                            Flow::Stop => return Ok(None),
                        }
                    };
                    if p.data.len() + payload.len() > RECORD_LEN_MAX {
                        let reason = format!("record is longer than RECORD_LEN_MAX ({RECORD_LEN_MAX})");
                        match self.anomaly(p.offset, end, reason, offset + 1)? {
                            Flow::Continue => continue,
                            Flow::Stop => return Ok(None),
                        }
                    }
                    p.data.extend_from_slice(&payload);
                    if kind == FragmentType::Last {
                        return Ok(Some(self.emit(p.offset, end, Bytes::from(p.data))));
                    }
                    self.partial = Some(p);
                }
            }
        }
    }

    fn emit(&mut self, offset: u64, end_offset: u64, payload: Bytes) -> Record {
        debug_assert!(offset < end_offset, "record offsets {offset}..{end_offset}");
        self.report.valid_end_offset = end_offset;
        self.report.records += 1;
        Record { payload, offset, end_offset }
    }

    /// Applies the recovery mode to an anomaly: the bytes `[start, end)` are lost; `scan_from`
    /// is where a valid fragment would prove the anomaly is not a torn tail.
    fn anomaly(&mut self, start: u64, end: u64, reason: String, scan_from: u64) -> Result<Flow> {
        match self.mode {
            RecoveryMode::AbsoluteConsistency => Err(self.fail(start, reason)),
            RecoveryMode::PointInTime => {
                self.stop_with_dropped_tail(start, reason);
                Ok(Flow::Stop)
            }
            RecoveryMode::TolerateCorruptedTail => match self.cursor.scan_for_fragment(scan_from)? {
                Some(next) => {
                    let reason = format!("{reason}; not a torn tail: a valid fragment follows at offset {next}");
                    Err(self.fail(start, reason))
                }
                None => {
                    self.stop_with_dropped_tail(start, reason);
                    Ok(Flow::Stop)
                }
            },
            RecoveryMode::SkipCorrupted => {
                self.push_skipped(start, end, reason);
                Ok(Flow::Continue)
            }
        }
    }

    fn stop_with_dropped_tail(&mut self, offset: u64, reason: String) {
        self.report.dropped_tail = Some((offset, reason));
        self.partial = None;
        self.state = State::Done;
    }

    fn push_skipped(&mut self, offset: u64, end: u64, reason: String) {
        debug_assert!(offset <= end, "skipped region {offset}..{end}");
        let len = end.saturating_sub(offset);
        if let Some(last) = self.report.skipped.last_mut()
            && last.offset + last.len == offset
        {
            last.len += len;
            return;
        }
        self.report.skipped.push(Skipped { offset, len, reason });
    }

    fn fail(&mut self, offset: u64, reason: String) -> Error {
        self.partial = None;
        self.state = State::Failed { offset, reason: reason.clone() };
        self.corruption(offset, reason)
    }

    fn corruption(&self, offset: u64, reason: String) -> Error {
        Error::Corruption { file: self.cursor.path().to_path_buf(), offset, reason }
    }
}
