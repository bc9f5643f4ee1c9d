//! A log cut at any byte reads back as exactly the records wholly before the cut; a log cut at a
//! record's end offset (what a checkpoint copies) is a valid log.
#![allow(clippy::unwrap_used, reason = "test helpers: a failure is a test failure")]

use bytes::Bytes;
use std::path::Path;
use strata_base::fs::copy_file_prefix;
use strata_base::{FileSystem, RealFs, SimFs};
use strata_wal::testing::{MODES, check_cut, encode_log, read_bytes, read_log};
use strata_wal::{BLOCK_SIZE, HEADER_LEN, LogReader, LogWriter, RecoveryMode};

/// Text-like payload bytes. NB: bytes 1-4 would make many positions look like fragment types
/// to the tail scan, whose cost this exhaustive test multiplies by every cut; random payloads
/// are covered by the property tests and the fuzz target.
fn payload(i: usize, n: usize) -> Vec<u8> {
    (0..n).map(|j| b'a' + ((i * 7 + j + j / 26) % 26) as u8).collect()
}

/// Records of various sizes, about four blocks in all: empty, small, one that leaves a 3-byte
/// trailer, one that leaves exactly a header's room (so the next record starts with an empty
/// First fragment, then a Middle and a Last), and one that ends exactly at a block boundary.
fn varied_payloads() -> Vec<Vec<u8>> {
    let mut sizes = vec![100, 0, 1, 4096];
    let used = |sizes: &[usize]| sizes.iter().map(|n| n + HEADER_LEN).sum::<usize>();
    // Leave 3 bytes in block 0.
    sizes.push(BLOCK_SIZE - used(&sizes) - 3 - HEADER_LEN);
    let mut pos = BLOCK_SIZE;
    sizes.push(200);
    pos += 200 + HEADER_LEN;
    // Leave exactly HEADER_LEN bytes in block 1.
    let fill = BLOCK_SIZE - pos % BLOCK_SIZE - 2 * HEADER_LEN;
    sizes.push(fill);
    pos += fill + HEADER_LEN;
    // First (empty) at the end of block 1, Middle filling block 2, Last in block 3.
    sizes.push(33_000);
    pos += 33_000 + 3 * HEADER_LEN;
    // End exactly at the end of block 3, then two more records.
    sizes.push(BLOCK_SIZE - pos % BLOCK_SIZE - HEADER_LEN);
    sizes.extend([5, 300]);
    sizes.into_iter().enumerate().map(|(i, n)| payload(i, n)).collect()
}

#[test]
fn layout_has_the_edge_cases_the_tests_rely_on() {
    let payloads = varied_payloads();
    let (log, ends) = encode_log(&payloads);
    let leftovers: Vec<usize> = ends.iter().map(|&e| BLOCK_SIZE - (e as usize % BLOCK_SIZE)).collect();
    assert!(leftovers.contains(&3), "a 3-byte trailer: {leftovers:?}");
    assert!(leftovers.contains(&HEADER_LEN), "a marginal trailer: {leftovers:?}");
    assert!(leftovers.contains(&BLOCK_SIZE), "a record ending on a block boundary: {leftovers:?}");
    let (records, _) = read_log(&log, RecoveryMode::AbsoluteConsistency);
    let spans_three_blocks =
        |r: &strata_wal::Record| r.end_offset as usize / BLOCK_SIZE >= r.offset as usize / BLOCK_SIZE + 2;
    assert!(records.unwrap().iter().any(spans_three_blocks), "a record with a middle fragment");
    assert!(log.len() < 5 * BLOCK_SIZE, "small enough to cut at every byte: {}", log.len());
}

#[test]
fn tolerate_mode_returns_the_records_before_every_possible_cut() {
    let payloads = varied_payloads();
    let (log, _) = encode_log(&payloads);
    let log = Bytes::from(log);
    let (clean, _) = read_bytes(log.clone(), RecoveryMode::AbsoluteConsistency);
    let clean = clean.unwrap();
    assert_eq!(clean.len(), payloads.len());
    // Every byte offset in the default mode; all four modes near every fragment boundary and on
    // a stride (each full check is four reads).
    let near_boundary = |c: usize| {
        let in_block = c % BLOCK_SIZE;
        !(2 * HEADER_LEN..=BLOCK_SIZE - 2 * HEADER_LEN).contains(&in_block)
            || clean
                .iter()
                .any(|r| (r.offset as usize).abs_diff(c) <= 2 * HEADER_LEN || (r.end_offset as usize).abs_diff(c) <= 2)
    };
    for c in 0..=log.len() {
        if near_boundary(c) || c % 97 == 0 {
            check_cut(&log, &clean, c, &MODES);
        } else {
            check_cut(&log, &clean, c, &[RecoveryMode::TolerateCorruptedTail]);
        }
    }
}

#[test]
fn a_log_cut_at_any_record_end_is_clean() {
    let payloads = varied_payloads();
    let (log, ends) = encode_log(&payloads);
    for (i, &e) in ends.iter().enumerate() {
        let (got, report) = read_log(&log[..e as usize], RecoveryMode::AbsoluteConsistency);
        let got = got.unwrap_or_else(|err| panic!("cut at end of record {i} ({e}): {err}"));
        assert_eq!(got.len(), i + 1);
        assert_eq!(got[i].end_offset, e);
        assert_eq!(got[i].payload[..], payloads[i][..]);
        assert_eq!(report.valid_end_offset, e);
        assert!(report.skipped.is_empty() && report.dropped_tail.is_none());
    }
}

/// What a checkpoint does: copy a live, flushed WAL up to a captured record's end offset with
/// `copy_file_prefix`, on the real file system, while the writer goes on appending.
#[test]
fn copying_a_live_log_up_to_a_record_end_gives_a_valid_log() {
    let dir = tempfile::tempdir().unwrap();
    let fs = RealFs::new();
    let live = dir.path().join("000007.log");
    let mut w = LogWriter::with_path(fs.create(&live).unwrap(), &live);
    let payloads = varied_payloads();
    let mut ends = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        ends.push(w.add_record(p).unwrap());
        w.flush().unwrap();
        if i % 3 != 2 {
            continue;
        }
        // Capture now, then keep appending before the copy is taken.
        let captured = *ends.last().unwrap();
        w.add_record(b"appended after the capture").unwrap();
        w.flush().unwrap();
        ends.push(w.len());
        let copy = dir.path().join(format!("copy-{i}.log"));
        assert_eq!(copy_file_prefix(&fs, &live, &copy, captured).unwrap(), captured);
        let mut r = LogReader::open(&fs, &copy, RecoveryMode::AbsoluteConsistency).unwrap();
        let mut n = 0;
        while let Some(rec) = r.read_record().unwrap() {
            n += 1;
            assert!(rec.end_offset <= captured);
        }
        assert_eq!(r.report().valid_end_offset, captured);
        assert_eq!(n, ends.iter().filter(|&&e| e <= captured).count());
    }
    w.sync().unwrap();
}

/// Only synced bytes survive a `SimFs` crash; the log reads back to at least the last sync.
#[test]
fn after_a_crash_every_synced_record_is_recovered() {
    let fs = SimFs::new();
    let path = Path::new("/000001.log");
    let mut w = LogWriter::with_path(fs.create(path).unwrap(), path);
    let payloads = varied_payloads();
    let mut synced = 0;
    for (i, p) in payloads.iter().enumerate() {
        w.add_record(p).unwrap();
        if i % 4 == 0 {
            w.sync().unwrap();
            synced = i + 1;
        }
    }
    fs.sync_dir(Path::new("/")).unwrap();
    fs.crash();
    let mut r = LogReader::open(&fs, path, RecoveryMode::TolerateCorruptedTail).unwrap();
    let mut got = Vec::new();
    while let Some(rec) = r.read_record().unwrap() {
        got.push(rec.payload);
    }
    assert!(got.len() >= synced);
    for (g, p) in got.iter().zip(&payloads) {
        assert_eq!(g[..], p[..]);
    }
}
