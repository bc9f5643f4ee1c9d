//! `strata wal dump`: the records of a write-ahead log, the write batch in each (sequence
//! numbers, operations), and what each recovery mode would keep and drop.
//!
//! The listing reads with `SkipCorrupted`, which returns every valid record, so it is the most
//! any mode can recover; each mode is then replayed on its own and compared with it. A record
//! that is a valid log record but not a valid write batch fails a database open in every mode,
//! exactly as the engine's recovery (`WriteBatch::from_record`) does.
//!
//! Invariants: the file is only read. A mode's `records_dropped` is the listing's record count
//! minus the records that mode returns before stopping.
//!
//! Thread safety: runs on the main thread.

use crate::output::{self, CliError, Report, encode_bytes};
use crate::{Ctx, Formats};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use strata::RecoveryMode;
use strata::wal_header::{WalHeader, WalRecord};
use strata_base::RealFs;
use strata_base::ikey::ValueKind;
use strata_wal::LogReader;

#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// List a WAL's records and batches, and what each recovery mode would drop.
    #[command(after_help = "Recovery modes: tolerate-corrupted-tail (the default of Options::wal_recovery_mode) \
        drops a torn tail and fails on damage in the middle; absolute-consistency fails on any damage; \
        point-in-time stops at the first damage; skip-corrupted skips every damaged region.\n\n\
        Examples:\n  strata wal dump /tmp/my-db/000003.log\n  \
        strata wal dump /tmp/my-db/000003.log --ops --limit 100\n  \
        strata --json wal dump /tmp/my-db/000003.log")]
    Dump {
        /// The WAL file (NNNNNN.log in a database directory).
        file: PathBuf,
        /// Also list every operation (sequence number, column family id, kind, key, value).
        #[arg(long)]
        ops: bool,
        /// List at most this many records (the mode summary always reads the whole file).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        #[command(flatten)]
        formats: Formats,
    },
}

pub fn run(cmd: WalCommand, _ctx: &Ctx) -> Result<Report, CliError> {
    match cmd {
        WalCommand::Dump { file, ops, limit, formats } => dump(&file, ops, limit, formats),
    }
}

const MODES: [(RecoveryMode, &str); 4] = [
    (RecoveryMode::TolerateCorruptedTail, "tolerate-corrupted-tail"),
    (RecoveryMode::AbsoluteConsistency, "absolute-consistency"),
    (RecoveryMode::PointInTime, "point-in-time"),
    (RecoveryMode::SkipCorrupted, "skip-corrupted"),
];

fn wal_error(file: &Path, e: strata_wal::Error) -> CliError {
    output::engine_error(file, strata::Error::from(e))
}

/// What one recovery mode gets out of the file.
struct ModeResult {
    records: u64,
    last_sequence: Option<u64>,
    valid_end: u64,
    dropped_tail: Option<(u64, String)>,
    skipped: Vec<strata_wal::Skipped>,
    /// The open would fail: offset and reason.
    error: Option<(u64, String)>,
}

fn replay(file: &Path, mode: RecoveryMode) -> Result<ModeResult, CliError> {
    let mut r = LogReader::open(&RealFs::new(), file, mode).map_err(|e| wal_error(file, e))?;
    let (mut records, mut last_sequence, mut error) = (0u64, None, None);
    loop {
        match r.read_record() {
            // Every record so far was valid (the loop stops at the first error): this one is
            // the file's first exactly when none was counted.
            Ok(Some(rec)) => match WalRecord::decode(&rec.payload, file, rec.offset, records == 0) {
                // The header is a record of the file like any other: counted, so that a clean
                // file's `records_dropped` is 0.
                Ok(WalRecord::Header(_)) => records += 1,
                Ok(WalRecord::Batch(b)) => {
                    records += 1;
                    if b.count() > 0 {
                        last_sequence = Some(b.sequence() + u64::from(b.count()) - 1);
                    }
                }
                Err(strata::Error::Corruption { offset, reason, .. }) => {
                    error = Some((offset, reason));
                    break;
                }
                Err(e) => return Err(output::engine_error(file, e)),
            },
            Ok(None) => break,
            Err(strata_wal::Error::Corruption { offset, reason, .. }) => {
                error = Some((offset, reason));
                break;
            }
            Err(e) => return Err(wal_error(file, e)),
        }
    }
    let rep = r.report();
    Ok(ModeResult {
        records,
        last_sequence,
        valid_end: rep.valid_end_offset,
        dropped_tail: rep.dropped_tail.clone(),
        skipped: rep.skipped.clone(),
        error,
    })
}

fn dump(file: &Path, with_ops: bool, limit: Option<u64>, f: Formats) -> Result<Report, CliError> {
    let bytes = std::fs::read(file).map_err(|e| output::engine_error(file, strata::Error::io(file, e)))?;
    let mut reader =
        LogReader::open(&RealFs::new(), file, RecoveryMode::SkipCorrupted).map_err(|e| wal_error(file, e))?;
    let (mut records, mut rows, mut op_rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut total = 0u64;
    while let Some(rec) = reader.read_record().map_err(|e| wal_error(file, e))? {
        total += 1;
        if limit.is_some_and(|l| records.len() as u64 >= l) {
            continue;
        }
        let len = rec.payload.len();
        let mut doc = json!({ "offset": rec.offset, "end_offset": rec.end_offset, "len": len });
        match WalRecord::decode(&rec.payload, file, rec.offset, total == 1) {
            Ok(WalRecord::Header(h)) => {
                doc["header"] = json!({ "predecessor": h.predecessor.get(), "predecessor_len": h.predecessor_len });
                let what = format!("header: predecessor {} of {} bytes", h.predecessor.get(), h.predecessor_len);
                rows.push(vec![rec.offset.to_string(), len.to_string(), "-".into(), "-".into(), what]);
            }
            Ok(WalRecord::Batch(b)) => {
                doc["sequence"] = json!(b.sequence());
                doc["count"] = json!(b.count());
                let mut ops = Vec::new();
                for (i, op) in b.iter().enumerate() {
                    let seq = b.sequence() + i as u64;
                    let kind = if op.kind == ValueKind::Put { "put" } else { "delete" };
                    let (k, v) = (encode_bytes(op.key, f.key_format), encode_bytes(op.value, f.value_format));
                    if with_ops {
                        op_rows.push(vec![seq.to_string(), op.cf.to_string(), kind.into(), k.clone(), v.clone()]);
                        ops.push(json!({ "sequence": seq, "cf": op.cf.get(), "kind": kind, "key": k, "value": v }));
                    }
                }
                if with_ops {
                    doc["ops"] = Value::Array(ops);
                }
                let last = (b.count() > 0).then(|| b.sequence() + u64::from(b.count()) - 1);
                let seqs = last.map_or("-".into(), |l| format!("{}..={l}", b.sequence()));
                rows.push(vec![rec.offset.to_string(), len.to_string(), seqs, b.count().to_string(), String::new()]);
            }
            Err(e) => {
                doc["error"] = json!(e.to_string());
                let what = if WalHeader::is_header(&rec.payload) { "bad header record" } else { "not a write batch" };
                rows.push(vec![
                    rec.offset.to_string(),
                    len.to_string(),
                    "-".into(),
                    "-".into(),
                    format!("{what}: {e}"),
                ]);
            }
        }
        records.push(doc);
    }
    let (modes, mode_rows) = modes(file, &bytes, total)?;
    let doc = json!({
        "file": file.display().to_string(), "size_bytes": bytes.len(), "records_total": total,
        "truncated": (records.len() as u64) < total, "records": records, "modes": modes,
    });
    let mut text = output::fields(&[
        ("wal", file.display().to_string()),
        ("size", format!("{} bytes", bytes.len())),
        ("records", format!("{total} valid")),
    ]);
    text.push_str("\nrecords:\n");
    text.push_str(&output::table(
        &["offset", "bytes", "sequences", "ops", "problem"],
        &["offset", "bytes", "ops"],
        rows,
    ));
    if with_ops {
        text.push_str("\noperations:\n");
        text.push_str(&output::table(&["seq", "cf", "kind", "key", "value"], &["seq", "cf"], op_rows));
    }
    text.push_str("\nrecovery modes:\n");
    text.push_str(&output::table(
        &["mode", "records", "dropped", "last seq", "outcome"],
        &["records", "dropped", "last seq"],
        mode_rows,
    ));
    Ok(Report::ok(doc, text))
}

/// A one-line verdict of what `mode` does with the file.
fn outcome(m: &ModeResult, zero_tail: bool) -> String {
    match (&m.error, &m.dropped_tail) {
        (Some((off, why)), _) => format!("open fails: offset {off}: {why}"),
        (None, Some((off, why))) if zero_tail => format!("drops zero-filled tail from offset {off} (no data): {why}"),
        (None, Some((off, why))) => format!("drops tail from offset {off}: {why}"),
        (None, None) if !m.skipped.is_empty() => {
            let bytes: u64 = m.skipped.iter().map(|s| s.len).sum();
            format!("skips {} regions ({bytes} bytes)", m.skipped.len())
        }
        (None, None) => "reads everything".into(),
    }
}

/// Replays the file under every recovery mode: the JSON and the table rows. `total` is the
/// number of records the listing (skip-corrupted) found.
fn modes(file: &Path, bytes: &[u8], total: u64) -> Result<(Vec<Value>, Vec<Vec<String>>), CliError> {
    let (mut modes, mut rows) = (Vec::new(), Vec::new());
    for (mode, name) in MODES {
        let m = replay(file, mode)?;
        let dropped = total.saturating_sub(m.records);
        let zero_tail = m.dropped_tail.as_ref().is_some_and(|(off, _)| all_zero(bytes, *off));
        let last_seq = m.last_sequence.map_or("-".into(), |s| s.to_string());
        rows.push(vec![name.into(), m.records.to_string(), dropped.to_string(), last_seq, outcome(&m, zero_tail)]);
        let skipped: Vec<Value> =
            m.skipped.iter().map(|s| json!({ "offset": s.offset, "len": s.len, "reason": s.reason })).collect();
        let tail = m.dropped_tail.as_ref().map(|(o, r)| json!({ "offset": o, "reason": r, "zero_filled": zero_tail }));
        modes.push(json!({
            "mode": name, "records": m.records, "records_dropped": dropped, "last_sequence": m.last_sequence,
            "valid_end_offset": m.valid_end, "opens": m.error.is_none(),
            "error": m.error.as_ref().map(|(o, r)| json!({ "offset": o, "reason": r })),
            "dropped_tail": tail, "skipped": skipped,
        }));
    }
    Ok((modes, rows))
}

/// Whether every byte from `offset` to the end is zero (a preallocated or unwritten tail).
fn all_zero(bytes: &[u8], offset: u64) -> bool {
    usize::try_from(offset).ok().and_then(|o| bytes.get(o..)).is_some_and(|rest| rest.iter().all(|&b| b == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(error: Option<(u64, &str)>, tail: Option<(u64, &str)>, skipped: usize) -> ModeResult {
        let skip = strata_wal::Skipped { offset: 7, len: 10, reason: "bad".into() };
        ModeResult {
            records: 1,
            last_sequence: Some(3),
            valid_end: 9,
            dropped_tail: tail.map(|(o, r)| (o, r.to_string())),
            skipped: vec![skip; skipped],
            error: error.map(|(o, r)| (o, r.to_string())),
        }
    }

    #[test]
    fn outcomes_say_what_is_lost() {
        assert_eq!(outcome(&result(Some((5, "crc")), Some((1, "x")), 0), false), "open fails: offset 5: crc");
        assert!(
            outcome(&result(None, Some((9, "zeros")), 0), true).starts_with("drops zero-filled tail from offset 9")
        );
        assert_eq!(outcome(&result(None, Some((9, "torn")), 0), false), "drops tail from offset 9: torn");
        assert_eq!(outcome(&result(None, None, 2), false), "skips 2 regions (20 bytes)");
        assert_eq!(outcome(&result(None, None, 0), false), "reads everything");
    }

    #[test]
    fn zero_tails_are_told_apart_from_garbage() {
        assert!(all_zero(&[1, 2, 0, 0], 2));
        assert!(!all_zero(&[1, 2, 0, 3], 2));
        assert!(all_zero(&[1], 1));
        assert!(!all_zero(&[1], 5));
    }
}
