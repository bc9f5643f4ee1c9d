//! Replaying the WAL files of an open: every log at or above the manifest's log number, oldest
//! first, into fresh memtables, honouring `Options::wal_recovery_mode`.
//!
//! By default a torn tail of the last WAL (a crash mid-append) is dropped and everything before
//! it is kept; corruption before the tail is an error naming the file and offset. Closed WALs
//! are not synced unless a synced write needed it, so a crash can also tear an earlier WAL:
//! each WAL's header record names its predecessor and the predecessor's length, and a
//! predecessor that lost bytes it held (a tear) ends the history there, the later WALs being
//! discarded and the cut reported (`RecoveryReport::wal_history_cut`); a predecessor whose
//! recorded bytes are present but damaged is `Corruption`. What each `RecoveryMode` does:
//! docs/format/wal.md, "Recovery across WALs".
//!
//! Invariants: the records replayed are a prefix of the history without holes (except under
//! `SkipCorrupted`, which salvages what reads); a header record is only accepted first in a WAL.
//!
//! Thread safety: runs on the opening thread only.

use super::predecessor::{self, Verdict};
use super::{RecoveryReport, WalHistoryCut};
use crate::error::{Error, Result};
use crate::memtable::MemTable;
use crate::options::{Options, RecoveryMode};
use crate::wal_header::{WalHeader, WalRecord};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use strata_base::{CfId, FileNumber};
use strata_base::{FileSystem, MemFile, RandomAccessFile};
use strata_manifest::{FileKind, VersionSet};
use strata_wal::LogReader;

/// What the replay recovered.
pub(super) struct Recovered {
    /// One memtable per column family holding the replayed writes.
    pub(super) mems: BTreeMap<CfId, Arc<MemTable>>,
    /// The last sequence number: the manifest's, or the largest replayed.
    pub(super) last_seq: u64,
    /// The logs replayed, oldest first, with the offset where their valid records end.
    pub(super) logs: Vec<(FileNumber, u64)>,
}

/// A WAL replay has read, for the check its successor's header makes.
struct Prev {
    number: FileNumber,
    file: Arc<dyn RandomAccessFile>,
    valid_end: u64,
}

/// What the next WAL's header says about the history so far.
enum Step {
    /// Replay this WAL.
    Go,
    /// The history ends before this WAL: stop replaying.
    Stop,
}

/// Replays the WALs among `names` at or above `versions`' log number.
#[allow(clippy::too_many_arguments, reason = "the open's phases hand their results on explicitly")]
pub(super) fn replay_wals(
    fs: &dyn FileSystem,
    path: &Path,
    opts: &Options,
    read_only: bool,
    names: &[String],
    versions: &VersionSet,
    cf_ids: &[CfId],
    report: &mut RecoveryReport,
) -> Result<Recovered> {
    let mut logs: Vec<FileNumber> = names
        .iter()
        .filter_map(|n| match strata_manifest::parse_file_name(n) {
            Some(FileKind::Log(n)) if n >= versions.log_number() => Some(n),
            _ => None,
        })
        .collect();
    logs.sort_unstable();
    let mems: BTreeMap<CfId, Arc<MemTable>> = cf_ids.iter().map(|&id| (id, Arc::new(MemTable::new()))).collect();
    let mut out = Recovered { mems, last_seq: versions.last_sequence(), logs: Vec::new() };
    // The WAL whose tail was dropped, if any. For a successor without a header record (WAL
    // format version 1) the rule is the old one: its WALs were synced before the next took
    // writes, so a torn tail can only be in the last one; `PointInTime` stops there and
    // `TolerateCorruptedTail` fails when a later WAL holds records. A successor with a header
    // settles the question itself (`check_predecessor`).
    let mut dropped: Option<(FileNumber, u64, String)> = None;
    let mut prev: Option<Prev> = None;
    for (i, &n) in logs.iter().enumerate() {
        let log_path = path.join(strata_manifest::log_file_name(n));
        let file = open_log(fs, &log_path, read_only)?;
        let mut reader = LogReader::new(Arc::clone(&file), &log_path, opts.wal_recovery_mode);
        let first = reader.read_record()?;
        let header = match &first {
            Some(rec) if WalHeader::is_header(&rec.payload) => {
                Some(WalHeader::decode_from(&rec.payload, &log_path, rec.offset)?)
            }
            _ => None,
        };
        let checked = match header {
            Some(h) if h.predecessor.get() != 0 && h.predecessor >= versions.log_number() => {
                check_predecessor(path, opts, prev.as_ref(), h, &logs[i..], report)?
            }
            _ => None,
        };
        match checked {
            Some(Step::Stop) => break,
            Some(Step::Go) => dropped = None,
            None => {
                if dropped.is_some() && opts.wal_recovery_mode == RecoveryMode::PointInTime {
                    break;
                }
                if let Some((bad, offset, reason)) = &dropped
                    && opts.wal_recovery_mode == RecoveryMode::TolerateCorruptedTail
                    && log_has_records(&file, &log_path, opts)?
                {
                    return Err(Error::corruption(
                        path.join(strata_manifest::log_file_name(*bad)),
                        *offset,
                        format!(
                            "{reason}; not a torn tail: a later WAL ({}) holds records",
                            strata_manifest::log_file_name(n)
                        ),
                    ));
                }
            }
        }
        let first = if header.is_some() { None } else { first };
        let replayed = replay_log(reader, first, &log_path, &out.mems)?;
        out.last_seq = out.last_seq.max(replayed.last_seq);
        out.logs.push((n, replayed.valid_end));
        report.wals_replayed += 1;
        if let Some((offset, reason)) = replayed.dropped_tail {
            report.wal_tail_dropped = Some((strata_manifest::log_file_name(n), offset));
            dropped = Some((n, offset, reason));
        }
        prev = Some(Prev { number: n, file, valid_end: replayed.valid_end });
    }
    Ok(out)
}

/// Checks the predecessor named by the header of `rest[0]` (the WAL about to be replayed;
/// `rest` is it and every later WAL) against what replay found in it. `None` when the header
/// gives no verdict (its predecessor is not the WAL replayed just before).
fn check_predecessor(
    dir: &Path,
    opts: &Options,
    prev: Option<&Prev>,
    header: WalHeader,
    rest: &[FileNumber],
    report: &mut RecoveryReport,
) -> Result<Option<Step>> {
    let mode = opts.wal_recovery_mode;
    let name = |n: FileNumber| strata_manifest::log_file_name(n);
    let Some(prev) = prev.filter(|p| p.number == header.predecessor) else {
        if prev.is_some_and(|p| p.number > header.predecessor) {
            return Ok(None); // a WAL started at an open after a cut: see `build_inner`
        }
        // The predecessor is at or above the log number, so the manifest still needs it,
        // and it was created with a directory sync: it is missing, not lost to a crash.
        let reason = format!(
            "WAL {} names predecessor {} (still needed), which is missing",
            name(rest[0]),
            name(header.predecessor)
        );
        return match mode {
            RecoveryMode::PointInTime => Ok(Some(Step::Stop)),
            RecoveryMode::SkipCorrupted => Ok(Some(Step::Go)),
            _ => Err(Error::corruption(dir.join(name(rest[0])), 0, reason)),
        };
    };
    let file_len = prev.file.len();
    let wanted_end = header.predecessor_len.min(file_len);
    let present = if prev.valid_end < wanted_end {
        let len =
            usize::try_from(wanted_end - prev.valid_end).map_err(|_| Error::InvalidArgument("WAL too large".into()))?;
        prev.file.read_at(prev.valid_end, len).map_err(|e| Error::io(dir.join(name(prev.number)), e))?
    } else {
        bytes::Bytes::new()
    };
    match predecessor::judge(prev.valid_end, header.predecessor_len, file_len, &present) {
        Verdict::Intact => Ok(Some(Step::Go)),
        Verdict::Tear if matches!(mode, RecoveryMode::TolerateCorruptedTail | RecoveryMode::PointInTime) => {
            report.wal_history_cut = Some(WalHistoryCut {
                wal: name(prev.number),
                valid_end: prev.valid_end,
                recorded_len: header.predecessor_len,
                discarded: rest.iter().map(|&n| name(n)).collect(),
            });
            Ok(Some(Step::Stop))
        }
        Verdict::Tear | Verdict::Corrupt(..) if mode == RecoveryMode::SkipCorrupted => Ok(Some(Step::Go)),
        Verdict::Corrupt(..) if mode == RecoveryMode::PointInTime => Ok(Some(Step::Stop)),
        Verdict::Tear => Err(Error::corruption(
            dir.join(name(prev.number)),
            prev.valid_end,
            format!(
                "lost its tail: records end at {} but {} recorded {} bytes (AbsoluteConsistency)",
                prev.valid_end,
                name(rest[0]),
                header.predecessor_len
            ),
        )),
        Verdict::Corrupt(offset, reason) => Err(Error::corruption(dir.join(name(prev.number)), offset, reason)),
    }
}

/// Opens WAL `path` for replay. Read-only, a writer elsewhere may still append to it or trim
/// its preallocated tail, so replay reads a copy of what it holds now (a record cut off by
/// the copy is a torn tail, dropped like one).
fn open_log(fs: &dyn FileSystem, path: &Path, read_only: bool) -> Result<Arc<dyn RandomAccessFile>> {
    if read_only {
        let bytes = copy_log(fs, path).map_err(|e| Error::io(path, e))?;
        Ok(Arc::new(MemFile::new(bytes)))
    } else {
        fs.open_unmapped(path).map_err(|e| Error::io(path, e))
    }
}

/// What WAL `path` holds now, without the trailing whole blocks of zeros: the live WAL is
/// preallocated to about a memtable's size (64 MiB by default), and copying its unwritten tail
/// cost that much memory per read-only open. Zero blocks followed by data are kept, so the
/// reader still sees (and reports) zeros in the middle of a log. A writer trimming the
/// preallocated tail while we read shortens the file: the read is retried at its new length.
fn copy_log(fs: &dyn FileSystem, path: &Path) -> io::Result<bytes::Bytes> {
    let block = strata_wal::BLOCK_SIZE as u64;
    let file = fs.open_unmapped(path)?;
    let mut len = file.len();
    let (mut out, mut zeros, mut off) = (Vec::new(), 0usize, 0u64);
    while off < len {
        let n = (len - off).min(block);
        // n <= BLOCK_SIZE, which fits in usize.
        let chunk = match file.read_at(off, n as usize) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                let now = fs.file_size(path)?;
                if now >= off + n {
                    return Err(e); // not a truncation
                }
                len = now; // strictly shorter: the loop makes progress
                continue;
            }
            Err(e) => return Err(e),
        };
        if chunk.iter().all(|&b| b == 0) {
            zeros += chunk.len();
        } else {
            out.resize(out.len() + zeros, 0);
            zeros = 0;
            out.extend_from_slice(&chunk);
        }
        off += n;
    }
    Ok(out.into())
}

/// Whether the WAL `file` (named `path`) holds at least one readable record other than its
/// header record.
fn log_has_records(file: &Arc<dyn RandomAccessFile>, path: &Path, opts: &Options) -> Result<bool> {
    let mut reader = LogReader::new(Arc::clone(file), path, opts.wal_recovery_mode);
    while let Some(rec) = reader.read_record()? {
        if !WalHeader::is_header(&rec.payload) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What replaying one WAL found.
struct Replayed {
    /// The largest sequence number seen (0 if none).
    last_seq: u64,
    /// The offset where valid records end.
    valid_end: u64,
    /// Offset and reason of a tail the recovery mode dropped.
    dropped_tail: Option<(u64, String)>,
}

/// Replays one WAL into `mems`: `first`, a record already read (not a header), then the rest
/// of `reader`.
fn replay_log(
    mut reader: LogReader,
    first: Option<strata_wal::Record>,
    path: &Path,
    mems: &BTreeMap<CfId, Arc<MemTable>>,
) -> Result<Replayed> {
    let mut last = 0;
    let mut next = first;
    if next.is_none() {
        next = reader.read_record()?;
    }
    while let Some(rec) = next {
        let batch = WalRecord::batch_after_first(&rec.payload, path, rec.offset)?;
        let base = batch.sequence();
        for (i, op) in batch.iter().enumerate() {
            if let Some(mem) = mems.get(&op.cf) {
                mem.add(base + i as u64, op.kind, op.key, op.value);
            }
        }
        if batch.count() > 0 {
            last = last.max(base + batch.count() as u64 - 1);
        }
        next = reader.read_record()?;
    }
    let report = reader.report();
    Ok(Replayed { last_seq: last, valid_end: report.valid_end_offset, dropped_tail: report.dropped_tail.clone() })
}
