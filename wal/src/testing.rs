//! Test support shared by the crate's unit, integration, property and fuzz tests; not part of
//! the API and not covered by semver. The checks here panic on a violated property: that is the
//! point of them.
//!
//! Invariants: the checks only read logs through the public reader and writer.
//!
//! Thread safety: plain functions.
#![allow(clippy::expect_used, reason = "test support: a failure here is a test failure")]

use crate::format::{
    BLOCK_SIZE, CHECKSUM_OFFSET, FRAGMENT_PAYLOAD_MAX, HEADER_LEN, LENGTH_OFFSET, TYPE_OFFSET, fragment_checksum,
};
use crate::{Error, LogReader, LogWriter, ReadReport, Record, RecoveryMode, Result};
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
use strata_base::fuzz_input::FuzzInput;
use strata_base::{FileSystem, MemFile, SimFs};

/// Every recovery mode.
pub const MODES: [RecoveryMode; 4] = [
    RecoveryMode::TolerateCorruptedTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
    RecoveryMode::SkipCorrupted,
];

/// Writes `payloads` as a log; returns its bytes and each record's end offset.
pub fn encode_log<P: AsRef<[u8]>>(payloads: &[P]) -> (Vec<u8>, Vec<u64>) {
    let fs = SimFs::new();
    let path = Path::new("/test.log");
    let mut w = LogWriter::with_path(fs.create(path).expect("create"), path);
    let ends: Vec<u64> = payloads.iter().map(|p| w.add_record(p.as_ref()).expect("add_record")).collect();
    w.flush().expect("flush");
    let data = fs.read_all(path).expect("read back").to_vec();
    assert_eq!(data.len() as u64, w.len());
    (data, ends)
}

/// Reads every record of `data` under `mode`, stopping at the first error.
pub fn read_log(data: &[u8], mode: RecoveryMode) -> (Result<Vec<Record>>, ReadReport) {
    read_bytes(Bytes::copy_from_slice(data), mode)
}

/// [`read_log`] without copying `data`.
pub fn read_bytes(data: Bytes, mode: RecoveryMode) -> (Result<Vec<Record>>, ReadReport) {
    let file = Arc::new(MemFile::new(data));
    let mut r = LogReader::new(file, Path::new("mem.log"), mode);
    let mut out = Vec::new();
    let result = loop {
        match r.read_record() {
            Ok(Some(rec)) => out.push(rec),
            Ok(None) => break Ok(out),
            Err(e) => break Err(e),
        }
    };
    (result, r.report().clone())
}

fn check_well_formed(records: &[Record], report: &ReadReport, file_len: u64) {
    let mut prev_end = 0;
    for r in records {
        assert!(r.offset >= prev_end, "record at {} overlaps the previous one ending at {prev_end}", r.offset);
        assert!(
            r.offset < r.end_offset && r.end_offset <= file_len,
            "record {}..{} in {file_len}",
            r.offset,
            r.end_offset
        );
        prev_end = r.end_offset;
    }
    assert_eq!(report.valid_end_offset, prev_end);
    assert_eq!(report.records, records.len() as u64);
}

/// Properties of the reader on arbitrary bytes: no panic; records in order and in bounds; the
/// modes agree with each other as documented.
pub fn check_arbitrary_bytes(data: &[u8]) {
    let len = data.len() as u64;
    let (tol, tol_rep) = read_log(data, RecoveryMode::TolerateCorruptedTail);
    let (abs, abs_rep) = read_log(data, RecoveryMode::AbsoluteConsistency);
    let (pit, pit_rep) = read_log(data, RecoveryMode::PointInTime);
    let (skip, skip_rep) = read_log(data, RecoveryMode::SkipCorrupted);
    let pit = pit.expect("PointInTime never fails on corruption");
    let skip = skip.expect("SkipCorrupted never fails on corruption");
    check_well_formed(&pit, &pit_rep, len);
    check_well_formed(&skip, &skip_rep, len);
    assert!(skip_rep.dropped_tail.is_none());
    // Records before the first anomaly are the same in every mode.
    assert!(skip.starts_with(&pit), "PointInTime records are a prefix of SkipCorrupted's");
    match &tol {
        Ok(t) => {
            check_well_formed(t, &tol_rep, len);
            assert_eq!(t, &pit);
            assert_eq!(tol_rep.dropped_tail, pit_rep.dropped_tail);
        }
        Err(Error::Corruption { offset, .. }) => {
            let (pit_off, _) = pit_rep.dropped_tail.as_ref().expect("Tolerate failed, so PointInTime stopped early");
            assert_eq!(offset, pit_off);
        }
        Err(e) => panic!("unexpected error {e}"),
    }
    match &abs {
        Ok(a) => {
            check_well_formed(a, &abs_rep, len);
            assert_eq!(a, &skip);
            assert!(skip_rep.skipped.is_empty() && pit_rep.dropped_tail.is_none());
        }
        Err(Error::Corruption { .. }) => assert!(!skip_rep.skipped.is_empty() || pit_rep.dropped_tail.is_some()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn same_records(got: &[Record], want: &[&Record]) {
    assert_eq!(got.len(), want.len(), "record count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, *w);
    }
}

/// Writes `payloads`, checks a clean read, then checks the log cut at `cut % (len + 1)` and the
/// log with one bit flipped at `flip % len` against the documented behaviour of each mode.
pub fn check_damaged_log<P: AsRef<[u8]>>(payloads: &[P], cut: usize, flip: usize, bit: u8) {
    let (log, ends) = encode_log(payloads);
    let (clean, rep) = read_log(&log, RecoveryMode::AbsoluteConsistency);
    let clean = clean.expect("a log as written reads back in AbsoluteConsistency");
    assert_eq!(clean.len(), payloads.len());
    for ((r, p), end) in clean.iter().zip(payloads).zip(&ends) {
        assert_eq!(&r.payload[..], p.as_ref());
        assert_eq!(r.end_offset, *end);
    }
    assert!(rep.skipped.is_empty() && rep.dropped_tail.is_none());
    check_cut(&Bytes::from(log.clone()), &clean, cut % (log.len() + 1), &MODES);
    if !log.is_empty() {
        check_flip(&log, &clean, flip % log.len(), bit % 8);
    }
}

/// The torn-tail property: cut at `c`, the log holds exactly the records wholly before `c`;
/// the record the cut goes through, if any, is reported as documented for each of `modes`.
pub fn check_cut(log: &Bytes, clean: &[Record], c: usize, modes: &[RecoveryMode]) {
    let c64 = c as u64;
    let want: Vec<&Record> = clean.iter().filter(|r| r.end_offset <= c64).collect();
    let torn = clean.iter().find(|r| r.offset < c64 && c64 < r.end_offset);
    for &mode in modes {
        let (got, rep) = read_bytes(log.slice(..c), mode);
        match (mode, torn) {
            (RecoveryMode::AbsoluteConsistency, Some(t)) => match got {
                Err(Error::Corruption { offset, .. }) => assert_eq!(offset, t.offset, "cut {c}"),
                other => panic!("cut {c}: AbsoluteConsistency gave {other:?}"),
            },
            _ => {
                let got = got.unwrap_or_else(|e| panic!("cut {c}, {mode:?}: {e}"));
                same_records(&got, &want);
                let expect_drop = if mode == RecoveryMode::SkipCorrupted { None } else { torn.map(|t| t.offset) };
                assert_eq!(rep.dropped_tail.as_ref().map(|d| d.0), expect_drop, "cut {c}, {mode:?}");
                let expect_skip = if mode == RecoveryMode::SkipCorrupted { torn.map(|t| t.offset) } else { None };
                assert_eq!(rep.skipped.first().map(|s| s.offset), expect_skip, "cut {c}, {mode:?}");
            }
        }
    }
}

/// One bit flipped at `p`: what each mode must return.
pub fn check_flip(log: &[u8], clean: &[Record], p: usize, bit: u8) {
    let mut damaged = log.to_vec();
    damaged[p] ^= 1 << bit;
    let p64 = p as u64;
    let bs = BLOCK_SIZE as u64;
    let block_end = (p64 / bs + 1) * bs;
    let hit = clean.iter().position(|r| r.offset <= p64 && p64 < r.end_offset);
    let before: Vec<&Record> = clean.iter().filter(|r| r.end_offset <= p64).collect();
    let (abs, _) = read_log(&damaged, RecoveryMode::AbsoluteConsistency);
    assert!(matches!(abs, Err(Error::Corruption { .. })), "flip at {p}: AbsoluteConsistency gave {abs:?}");
    let Some(hit) = hit else {
        // Padding in a block trailer: harmless outside AbsoluteConsistency.
        for mode in [RecoveryMode::TolerateCorruptedTail, RecoveryMode::PointInTime, RecoveryMode::SkipCorrupted] {
            let (got, rep) = read_log(&damaged, mode);
            same_records(&got.expect("a trailer flip is harmless"), &clean.iter().collect::<Vec<_>>());
            assert_eq!(rep.skipped.len(), 1, "flip at {p}: {mode:?}");
        }
        return;
    };
    let (pit, pit_rep) = read_log(&damaged, RecoveryMode::PointInTime);
    same_records(&pit.expect("PointInTime never fails"), &before);
    assert_eq!(pit_rep.dropped_tail.as_ref().map(|d| d.0), Some(clean[hit].offset), "flip at {p}");
    let (skip, _) = read_log(&damaged, RecoveryMode::SkipCorrupted);
    let skip = skip.expect("SkipCorrupted never fails");
    for r in clean.iter().filter(|r| r.end_offset <= p64 || r.offset >= block_end) {
        assert!(skip.contains(r), "flip at {p}: SkipCorrupted lost the undamaged record at {}", r.offset);
    }
    for r in &skip {
        assert!(clean.contains(r), "flip at {p}: SkipCorrupted invented a record at {}", r.offset);
    }
    let (tol, tol_rep) = read_log(&damaged, RecoveryMode::TolerateCorruptedTail);
    let last = clean.len() - 1;
    let last_frag_start = clean[last].offset.max((clean[last].end_offset - 1) / bs * bs);
    if hit < last || p64 < last_frag_start {
        assert!(matches!(tol, Err(Error::Corruption { .. })), "flip at {p}: valid data follows, Tolerate gave {tol:?}");
    } else {
        same_records(&tol.expect("damage in the last fragment is a torn tail"), &before);
        assert_eq!(tol_rep.dropped_tail.as_ref().map(|d| d.0), Some(clean[last].offset));
    }
}

/// The fuzz target's body: the first byte picks arbitrary bytes, a log built from the input
/// then cut and bit-flipped, or (structure-aware) a log built from a recipe, checked to read
/// back as written, then mutated with its fragment checksums recomputed.
pub fn fuzz_one(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    if selector % 4 == 3 {
        check_recipe(rest);
        return;
    }
    if selector % 2 == 0 {
        check_arbitrary_bytes(rest);
        return;
    }
    // Structured: record sizes from pairs of bytes (scaled so that some span blocks).
    let Some((params, sizes)) = rest.split_first_chunk::<6>() else { return };
    let payloads: Vec<Vec<u8>> = sizes
        .chunks(2)
        .take(16)
        .enumerate()
        .map(|(i, c)| {
            let n = usize::from(c[0]) | (usize::from(c.get(1).copied().unwrap_or(0)) << 8);
            let n = if selector & 2 != 0 { n % 300 } else { n * 2 };
            (0..n).map(|j| (i * 31 + j * 7) as u8).collect()
        })
        .collect();
    let cut = usize::from(u16::from_le_bytes([params[0], params[1]])) * 3;
    let flip = usize::from(u16::from_le_bytes([params[2], params[3]])) * 3 + usize::from(params[4]);
    check_damaged_log(&payloads, cut, flip, params[5]);
}

/// Records a recipe may ask for.
const RECIPE_RECORDS_MAX: usize = 24;
/// Mutations applied to one log.
const RECIPE_MUTATIONS_MAX: usize = 6;

/// Where each fragment of a well-formed log starts (its header), in file order.
fn fragment_starts(log: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER_LEN <= log.len() {
        let left_in_block = BLOCK_SIZE - at % BLOCK_SIZE;
        if left_in_block < HEADER_LEN {
            at += left_in_block;
            continue;
        }
        let len = usize::from(u16::from_le_bytes([log[at + LENGTH_OFFSET], log[at + LENGTH_OFFSET + 1]]));
        out.push(at);
        at += HEADER_LEN + len;
    }
    out
}

/// Structure-aware: payloads (small, block-sized or spanning several blocks) from the input; the
/// log must read back exactly in every mode; then fragment types, lengths, payload bytes and
/// the file's end are mutated, checksums recomputed (unless the input says otherwise), and the
/// modes must still agree as documented ([`check_arbitrary_bytes`]).
pub fn check_recipe(data: &[u8]) {
    let mut input = FuzzInput::new(data);
    let payloads: Vec<Vec<u8>> = (0..input.below(RECIPE_RECORDS_MAX))
        .map(|_| {
            let n = match input.u8() % 8 {
                0 => input.below(3 * BLOCK_SIZE),
                1 => FRAGMENT_PAYLOAD_MAX - 2 + input.below(5),
                2..=4 => input.below(4096),
                _ => input.below(64),
            };
            let pattern = input.bytes(16);
            (0..n).map(|j| pattern.get(j % pattern.len().max(1)).copied().unwrap_or(j as u8)).collect()
        })
        .collect();
    let (log, ends) = encode_log(&payloads);
    for mode in MODES {
        let (got, rep) = read_log(&log, mode);
        let got = got.unwrap_or_else(|e| panic!("{mode:?}: a log as written fails: {e}"));
        assert_eq!(got.len(), payloads.len(), "{mode:?}: record count");
        for ((r, p), end) in got.iter().zip(&payloads).zip(&ends) {
            assert_eq!(&r.payload[..], &p[..], "{mode:?}: payload");
            assert_eq!(r.end_offset, *end, "{mode:?}: end offset");
        }
        assert!(rep.skipped.is_empty() && rep.dropped_tail.is_none(), "{mode:?}: {rep:?}");
    }
    if input.is_empty() || log.is_empty() {
        return;
    }
    let frags = fragment_starts(&log);
    let mut b = log.clone();
    let mut dirty = Vec::new();
    for _ in 0..1 + input.below(RECIPE_MUTATIONS_MAX) {
        let f = frags[input.below(frags.len())];
        let v = input.u8();
        let op = input.u8() % 6;
        if op <= 3 && f + HEADER_LEN > b.len() {
            continue; // cut off by an earlier truncation
        }
        match op {
            0 => b[f + TYPE_OFFSET] = v % 6,
            1 => {
                let len = u16::from_le_bytes([b[f + LENGTH_OFFSET], b[f + LENGTH_OFFSET + 1]]);
                let len = if v & 1 == 0 {
                    len.wrapping_add(u16::from(v >> 1) % 8)
                } else {
                    len.wrapping_sub(u16::from(v >> 1) % 8)
                };
                b[f + LENGTH_OFFSET..f + TYPE_OFFSET].copy_from_slice(&len.to_le_bytes());
            }
            2 => {
                let at = f + HEADER_LEN + input.below(BLOCK_SIZE);
                if let Some(x) = b.get_mut(at) {
                    *x = v;
                }
            }
            3 => b[f..f + HEADER_LEN].fill(0),
            4 => b.truncate(f + input.below(HEADER_LEN + BLOCK_SIZE)),
            _ => b.extend(std::iter::repeat_n(v, input.below(2 * HEADER_LEN))),
        }
        dirty.push(f);
    }
    if !input.u8().is_multiple_of(8) {
        for f in dirty {
            let Some(h) = b.get(f..f + HEADER_LEN) else { continue };
            let len = usize::from(u16::from_le_bytes([h[LENGTH_OFFSET], h[LENGTH_OFFSET + 1]]));
            let kind = h[TYPE_OFFSET];
            if let Some(payload) = b.get(f + HEADER_LEN..f + HEADER_LEN + len) {
                let crc = fragment_checksum(kind, payload);
                b[f + CHECKSUM_OFFSET..f + LENGTH_OFFSET].copy_from_slice(&crc.to_le_bytes());
            }
        }
    }
    check_arbitrary_bytes(&b);
}
