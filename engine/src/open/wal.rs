//! Replaying the WAL files of an open: every log at or above the manifest's log number, oldest
//! first, into fresh memtables, honouring `Options::wal_recovery_mode`.
//!
//! By default a torn tail of the last WAL (a crash mid-append) is dropped and everything before
//! it is kept; corruption before the tail is an error naming the file and offset.
//!
//! Thread safety: runs on the opening thread only.

use super::RecoveryReport;
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::memtable::MemTable;
use crate::options::{Options, RecoveryMode};
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
    // The WAL whose tail was dropped, if any: the history ends there. A later WAL's records
    // would be replayed after a hole, so `PointInTime` stops at it, and with
    // `TolerateCorruptedTail` it is an error when a later WAL holds records (a WAL is synced
    // before the next one takes writes, so a truly torn tail is only ever in the last one).
    let mut dropped: Option<(FileNumber, u64, String)> = None;
    for &n in &logs {
        if dropped.is_some() && opts.wal_recovery_mode == RecoveryMode::PointInTime {
            break;
        }
        let log_path = path.join(strata_manifest::log_file_name(n));
        let file = open_log(fs, &log_path, read_only)?;
        if let Some((bad, offset, reason)) = &dropped
            && opts.wal_recovery_mode == RecoveryMode::TolerateCorruptedTail
            && log_has_records(&file, &log_path, opts)?
        {
            return Err(Error::corruption(
                path.join(strata_manifest::log_file_name(*bad)),
                *offset,
                format!("{reason}; not a torn tail: a later WAL ({}) holds records", strata_manifest::log_file_name(n)),
            ));
        }
        let replayed = replay_log(file, &log_path, opts, &out.mems)?;
        out.last_seq = out.last_seq.max(replayed.last_seq);
        out.logs.push((n, replayed.valid_end));
        report.wals_replayed += 1;
        if let Some((offset, reason)) = replayed.dropped_tail {
            report.wal_tail_dropped = Some((strata_manifest::log_file_name(n), offset));
            dropped = Some((n, offset, reason));
        }
    }
    Ok(out)
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

/// Whether the WAL `file` (named `path`) holds at least one readable record.
fn log_has_records(file: &Arc<dyn RandomAccessFile>, path: &Path, opts: &Options) -> Result<bool> {
    let mut reader = LogReader::new(Arc::clone(file), path, opts.wal_recovery_mode);
    Ok(reader.read_record()?.is_some())
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

/// Replays one WAL into `mems`.
fn replay_log(
    file: Arc<dyn RandomAccessFile>,
    path: &Path,
    opts: &Options,
    mems: &BTreeMap<CfId, Arc<MemTable>>,
) -> Result<Replayed> {
    let mut reader = LogReader::new(file, path, opts.wal_recovery_mode);
    let mut last = 0;
    while let Some(rec) = reader.read_record()? {
        let batch = WriteBatch::from_record(rec.payload.to_vec(), path, rec.offset)?;
        let base = batch.sequence();
        for (i, op) in batch.iter().enumerate() {
            if let Some(mem) = mems.get(&op.cf) {
                mem.add(base + i as u64, op.kind, op.key, op.value);
            }
        }
        if batch.count() > 0 {
            last = last.max(base + batch.count() as u64 - 1);
        }
    }
    let report = reader.report();
    Ok(Replayed { last_seq: last, valid_end: report.valid_end_offset, dropped_tail: report.dropped_tail.clone() })
}
