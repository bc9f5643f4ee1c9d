//! One named test per boundary case, in the style of leveldb's `log_test.cc`, each checking what
//! every recovery mode does as `docs/format/wal.md` documents.

use bytes::Bytes;
use std::io;
use std::path::Path;
use std::sync::Arc;
use strata_base::RandomAccessFile;
use strata_wal::format::{LENGTH_OFFSET, TYPE_OFFSET, fragment_checksum};
use strata_wal::testing::{MODES, encode_log, read_log};
use strata_wal::{BLOCK_SIZE, Error, HEADER_LEN, LogReader, RECORD_LEN_MAX, ReadReport, Record, RecoveryMode};

use RecoveryMode::{AbsoluteConsistency, PointInTime, SkipCorrupted, TolerateCorruptedTail};

fn big(seed: &str, n: usize) -> Vec<u8> {
    seed.bytes().cycle().take(n).collect()
}

fn read_ok(log: &[u8], mode: RecoveryMode) -> (Vec<Vec<u8>>, ReadReport) {
    let (got, report) = read_log(log, mode);
    let got = got.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    (got.into_iter().map(|r| r.payload.to_vec()).collect(), report)
}

/// The corruption error's offset and reason.
fn read_err(log: &[u8], mode: RecoveryMode) -> (u64, String) {
    match read_log(log, mode).0 {
        Err(Error::Corruption { offset, reason, .. }) => (offset, reason),
        other => panic!("{mode:?}: expected corruption, got {other:?}"),
    }
}

/// Recomputes the checksum of the fragment whose header is at `at`, after a test changed it.
fn fix_checksum(log: &mut [u8], at: usize) {
    let len = usize::from(u16::from_le_bytes([log[at + LENGTH_OFFSET], log[at + LENGTH_OFFSET + 1]]));
    let crc = fragment_checksum(log[at + TYPE_OFFSET], &log[at + HEADER_LEN..at + HEADER_LEN + len]);
    log[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

fn set_type(log: &mut [u8], at: usize, kind: u8) {
    log[at + TYPE_OFFSET] = kind;
    fix_checksum(log, at);
}

#[test]
fn empty_file_has_no_records() {
    for mode in MODES {
        let (got, report) = read_ok(&[], mode);
        assert!(got.is_empty());
        assert_eq!(report, ReadReport::default());
    }
}

#[test]
fn read_write_small_records() {
    let recs = vec![b"foo".to_vec(), b"bar".to_vec(), Vec::new(), b"xxxx".to_vec()];
    let (log, _) = encode_log(&recs);
    for mode in MODES {
        assert_eq!(read_ok(&log, mode).0, recs);
    }
}

#[test]
fn many_blocks() {
    let recs: Vec<Vec<u8>> = (0..20_000u32).map(|i| i.to_string().into_bytes()).collect();
    let (log, _) = encode_log(&recs);
    assert!(log.len() > 3 * BLOCK_SIZE);
    assert_eq!(read_ok(&log, AbsoluteConsistency).0, recs);
}

#[test]
fn fragmentation() {
    let recs = vec![b"small".to_vec(), big("medium", 50_000), big("large", 100_000)];
    let (log, _) = encode_log(&recs);
    assert_eq!(read_ok(&log, AbsoluteConsistency).0, recs);
}

#[test]
fn marginal_trailer() {
    // A trailer exactly the size of an empty record: the empty record goes there.
    let n = BLOCK_SIZE - 2 * HEADER_LEN;
    let recs = vec![big("foo", n), Vec::new(), b"bar".to_vec()];
    let (log, ends) = encode_log(&recs);
    assert_eq!(ends[0], (BLOCK_SIZE - HEADER_LEN) as u64);
    assert_eq!(ends[1], BLOCK_SIZE as u64, "the empty record is a Full fragment in the last 7 bytes");
    assert_eq!(log[BLOCK_SIZE - HEADER_LEN + TYPE_OFFSET], 1);
    assert_eq!(read_ok(&log, AbsoluteConsistency).0, recs);
}

#[test]
fn marginal_trailer2() {
    // A non-empty record after a 7-byte leftover starts with an empty First fragment.
    let n = BLOCK_SIZE - 2 * HEADER_LEN;
    let recs = vec![big("foo", n), b"bar".to_vec()];
    let (log, ends) = encode_log(&recs);
    assert_eq!(log[BLOCK_SIZE - HEADER_LEN + TYPE_OFFSET], 2);
    assert_eq!(log[BLOCK_SIZE - HEADER_LEN + LENGTH_OFFSET..BLOCK_SIZE - 1], [0, 0]);
    assert_eq!(log[BLOCK_SIZE + TYPE_OFFSET], 4);
    assert_eq!(ends[1], (BLOCK_SIZE + HEADER_LEN + 3) as u64);
    let (got, _) = read_log(&log, AbsoluteConsistency);
    let got = got.unwrap();
    assert_eq!(
        got[1].offset,
        (BLOCK_SIZE - HEADER_LEN) as u64,
        "a record starts at its first fragment, even an empty one"
    );
    assert_eq!(got[1].payload[..], b"bar"[..]);
}

#[test]
fn short_trailer() {
    let n = BLOCK_SIZE - 2 * HEADER_LEN + 4;
    let recs = vec![big("foo", n), Vec::new(), b"bar".to_vec()];
    let (log, ends) = encode_log(&recs);
    assert_eq!(ends[0], (BLOCK_SIZE - HEADER_LEN + 4) as u64);
    assert_eq!(log[BLOCK_SIZE - 3..BLOCK_SIZE], [0, 0, 0], "zero-filled trailer");
    assert_eq!(ends[1], (BLOCK_SIZE + HEADER_LEN) as u64);
    assert_eq!(read_ok(&log, AbsoluteConsistency).0, recs);
}

#[test]
fn aligned_eof() {
    // The file ends 3 bytes before a block end: nothing is missing.
    let n = BLOCK_SIZE - 2 * HEADER_LEN + 4;
    let recs = vec![big("foo", n)];
    let (log, _) = encode_log(&recs);
    assert_eq!(log.len(), BLOCK_SIZE - 3);
    let (got, report) = read_ok(&log, AbsoluteConsistency);
    assert_eq!(got, recs);
    assert_eq!(report.valid_end_offset, (BLOCK_SIZE - 3) as u64);
    // And a partial, zero trailer at the end is clean too.
    let mut padded = log.clone();
    padded.push(0);
    assert_eq!(read_ok(&padded, AbsoluteConsistency).0, recs);
}

#[derive(Debug)]
struct FailingFile;

impl RandomAccessFile for FailingFile {
    fn read_at(&self, _offset: u64, _len: usize) -> io::Result<Bytes> {
        Err(io::Error::other("injected read error"))
    }
    fn len(&self) -> u64 {
        100
    }
}

#[test]
fn read_error_is_an_io_error_naming_the_file() {
    let mut r = LogReader::new(Arc::new(FailingFile), Path::new("/db/000003.log"), PointInTime);
    match r.read_record() {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("/db/000003.log"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_record_type() {
    let (mut log, _) = encode_log(&[b"foo".to_vec()]);
    set_type(&mut log, 0, 100);
    let (got, report) = read_ok(&log, TolerateCorruptedTail);
    assert!(got.is_empty());
    let (off, reason) = report.dropped_tail.unwrap();
    assert_eq!(off, 0);
    assert!(reason.contains("unknown fragment type 100"), "{reason}");
    assert!(read_err(&log, AbsoluteConsistency).1.contains("unknown fragment type"));
    let (_, skip) = read_ok(&log, SkipCorrupted);
    assert_eq!(skip.skipped.len(), 1);
    assert_eq!(skip.skipped[0].len, 10);
}

#[test]
fn truncated_trailing_record_is_ignored() {
    let (log, _) = encode_log(&[b"foo".to_vec()]);
    let log = &log[..log.len() - 1];
    let (got, report) = read_ok(log, TolerateCorruptedTail);
    assert!(got.is_empty());
    assert!(report.dropped_tail.unwrap().1.contains("file ends inside a fragment"));
    assert_eq!(read_err(log, AbsoluteConsistency).0, 0);
}

#[test]
fn bad_length() {
    // The first record fills block 0; its length, made larger, runs past the block.
    let recs = vec![big("bar", BLOCK_SIZE - HEADER_LEN), b"foo".to_vec()];
    let (mut log, _) = encode_log(&recs);
    log[LENGTH_OFFSET] += 1;
    let (got, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(got, vec![b"foo".to_vec()], "resynchronised at the next block");
    assert_eq!(report.skipped[0].offset, 0);
    assert_eq!(report.skipped[0].len, BLOCK_SIZE as u64);
    assert!(report.skipped[0].reason.contains("runs past the end of its block"));
    let (off, reason) = read_err(&log, TolerateCorruptedTail);
    assert_eq!(off, 0);
    assert!(reason.contains(&format!("valid fragment follows at offset {BLOCK_SIZE}")), "{reason}");
    let (got, report) = read_ok(&log, PointInTime);
    assert!(got.is_empty());
    assert_eq!(report.dropped_tail.unwrap().0, 0);
    read_err(&log, AbsoluteConsistency);
}

#[test]
fn bad_length_at_end_is_ignored() {
    let (mut log, _) = encode_log(&[b"foo".to_vec()]);
    log[LENGTH_OFFSET] += 1;
    let (got, report) = read_ok(&log, TolerateCorruptedTail);
    assert!(got.is_empty());
    assert!(report.dropped_tail.unwrap().1.contains("file ends inside a fragment"));
    read_err(&log, AbsoluteConsistency);
}

#[test]
fn checksum_mismatch() {
    let (mut log, _) = encode_log(&[b"foooooo".to_vec()]);
    log[0] ^= 0x40;
    let (got, report) = read_ok(&log, TolerateCorruptedTail);
    assert!(got.is_empty());
    assert!(report.dropped_tail.unwrap().1.contains("checksum mismatch"));
    let (_, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].len, 14);
    assert!(read_err(&log, AbsoluteConsistency).1.contains("checksum mismatch"));
}

#[test]
fn checksum_mismatch_in_the_middle_is_an_error_in_the_default_mode() {
    let recs =
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec(), big("next block", BLOCK_SIZE), b"last".to_vec()];
    let (mut log, ends) = encode_log(&recs);
    log[ends[0] as usize + HEADER_LEN] ^= 1; // the payload of "two"
    let (off, reason) = read_err(&log, TolerateCorruptedTail);
    assert_eq!(off, ends[0]);
    assert!(reason.contains("checksum mismatch") && reason.contains("not a torn tail"), "{reason}");
    // The error sticks.
    let mut r = LogReader::new(
        Arc::new(strata_base::MemFile::new(Bytes::from(log.clone()))),
        Path::new("x"),
        TolerateCorruptedTail,
    );
    assert_eq!(r.read_record().unwrap().unwrap().payload[..], b"one"[..]);
    assert!(r.read_record().is_err());
    assert!(r.read_record().is_err());
    // PointInTime keeps the prefix.
    let (got, report) = read_ok(&log, PointInTime);
    assert_eq!(got, vec![b"one".to_vec()]);
    assert_eq!(report.dropped_tail.unwrap().0, ends[0]);
    assert_eq!(report.valid_end_offset, ends[0]);
    // SkipCorrupted loses the rest of block 0 (lengths there cannot be trusted) and resumes at
    // block 1, where the big record's Last fragment is an orphan; "last" is found.
    let (got, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(got, vec![b"one".to_vec(), b"last".to_vec()]);
    assert_eq!(report.skipped.len(), 1, "adjacent regions merge: {:?}", report.skipped);
    assert_eq!(report.skipped[0].offset, ends[0]);
    assert_eq!(report.skipped[0].offset + report.skipped[0].len, ends[3]);
}

#[test]
fn unexpected_middle_type() {
    let (mut log, _) = encode_log(&[b"foo".to_vec()]);
    set_type(&mut log, 0, 3);
    let (got, report) = read_ok(&log, TolerateCorruptedTail);
    assert!(got.is_empty());
    assert!(report.dropped_tail.unwrap().1.contains("Middle fragment without a First"));
    let (_, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(report.skipped[0].len, 10);
    read_err(&log, AbsoluteConsistency);
}

#[test]
fn unexpected_last_type() {
    let (mut log, _) = encode_log(&[b"foo".to_vec(), b"bar".to_vec()]);
    set_type(&mut log, 0, 4);
    let (got, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(got, vec![b"bar".to_vec()]);
    assert!(report.skipped[0].reason.contains("Last fragment without a First"));
    assert!(read_err(&log, TolerateCorruptedTail).1.contains("valid fragment follows at offset 10"));
    assert_eq!(read_ok(&log, PointInTime).0, Vec::<Vec<u8>>::new());
}

#[test]
fn unexpected_full_type() {
    let (mut log, _) = encode_log(&[b"foo".to_vec(), b"bar".to_vec()]);
    set_type(&mut log, 0, 2); // "foo" becomes a First that never ends
    let (got, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(got, vec![b"bar".to_vec()]);
    assert_eq!((report.skipped[0].offset, report.skipped[0].len), (0, 10));
    assert!(report.skipped[0].reason.contains("no last fragment"));
    assert_eq!(read_err(&log, TolerateCorruptedTail).0, 0);
    assert_eq!(read_err(&log, AbsoluteConsistency).0, 0);
}

#[test]
fn unexpected_first_type() {
    let recs = vec![b"foo".to_vec(), big("bar", 100_000)];
    let (mut log, _) = encode_log(&recs);
    set_type(&mut log, 0, 2);
    let (got, _) = read_ok(&log, SkipCorrupted);
    assert_eq!(got, vec![recs[1].clone()]);
    assert_eq!(read_err(&log, TolerateCorruptedTail).0, 0);
}

#[test]
fn missing_last_is_ignored() {
    let (log, _) = encode_log(&[big("bar", BLOCK_SIZE)]);
    // Block 0 is the First fragment; drop the Last fragment in block 1 entirely.
    let log = &log[..BLOCK_SIZE];
    let (got, report) = read_ok(log, TolerateCorruptedTail);
    assert!(got.is_empty());
    let (off, reason) = report.dropped_tail.unwrap();
    assert_eq!(off, 0);
    assert!(reason.contains("ends before the last fragment"), "{reason}");
    read_err(log, AbsoluteConsistency);
}

#[test]
fn partial_last_is_ignored() {
    let (log, _) = encode_log(&[big("bar", BLOCK_SIZE)]);
    let log = &log[..log.len() - 1];
    let (got, report) = read_ok(log, TolerateCorruptedTail);
    assert!(got.is_empty());
    assert_eq!(report.dropped_tail.unwrap().0, 0);
}

#[test]
fn error_joins_records() {
    // First(R1) Last(R1) First(R2) Last(R2), with the middle two fragments zeroed: R1's First
    // must not be joined with R2's Last.
    let recs = vec![big("foo", BLOCK_SIZE), big("bar", BLOCK_SIZE), b"correct".to_vec()];
    let (mut log, _) = encode_log(&recs);
    log[BLOCK_SIZE..2 * BLOCK_SIZE].fill(0);
    let (got, report) = read_ok(&log, SkipCorrupted);
    assert_eq!(got, vec![b"correct".to_vec()]);
    let dropped: u64 = report.skipped.iter().map(|s| s.len).sum();
    assert!(dropped >= 2 * BLOCK_SIZE as u64, "{:?}", report.skipped);
    assert!(read_err(&log, TolerateCorruptedTail).1.contains("all-zero"));
}

#[test]
fn zero_filled_tail_is_a_torn_tail() {
    let recs = vec![b"a".to_vec(), big("b", 40_000)];
    let (mut log, ends) = encode_log(&recs);
    log.resize(log.len() + 3 * BLOCK_SIZE, 0);
    let (got, report) = read_ok(&log, TolerateCorruptedTail);
    assert_eq!(got, recs);
    let (off, reason) = report.dropped_tail.unwrap();
    assert_eq!(off, ends[1]);
    assert!(reason.contains("all-zero"), "{reason}");
    assert_eq!(report.valid_end_offset, ends[1]);
    read_err(&log, AbsoluteConsistency);
}

#[test]
fn garbage_tail_is_a_torn_tail() {
    let recs = vec![b"a".to_vec(), b"b".to_vec()];
    let (mut log, ends) = encode_log(&recs);
    let mut x: u32 = 12345;
    log.extend((0..5000).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (x >> 16) as u8
    }));
    let (got, report) = read_ok(&log, TolerateCorruptedTail);
    assert_eq!(got, recs);
    assert_eq!(report.dropped_tail.unwrap().0, ends[1]);
}

#[test]
fn nonzero_trailer_is_harmless_except_in_absolute_consistency() {
    let n = BLOCK_SIZE - 2 * HEADER_LEN + 4;
    let recs = vec![big("foo", n), b"bar".to_vec()];
    let (mut log, _) = encode_log(&recs);
    log[BLOCK_SIZE - 2] = 0xff;
    for mode in [TolerateCorruptedTail, PointInTime, SkipCorrupted] {
        let (got, report) = read_ok(&log, mode);
        assert_eq!(got, recs, "{mode:?}");
        assert_eq!(report.skipped.len(), 1);
        assert_eq!((report.skipped[0].offset, report.skipped[0].len), ((BLOCK_SIZE - 3) as u64, 3));
        assert!(report.dropped_tail.is_none());
    }
    assert_eq!(read_err(&log, AbsoluteConsistency).0, (BLOCK_SIZE - 3) as u64);
}

#[test]
fn truncated_header_at_end() {
    let (log, ends) = encode_log(&[b"foo".to_vec(), b"bar".to_vec()]);
    let log = &log[..ends[0] as usize + 3];
    let (got, report) = read_ok(log, TolerateCorruptedTail);
    assert_eq!(got, vec![b"foo".to_vec()]);
    let (off, reason) = report.dropped_tail.unwrap();
    assert_eq!(off, ends[0]);
    assert!(reason.contains("inside a fragment header (3 of 7 bytes)"), "{reason}");
}

#[test]
fn corruption_error_names_file_and_offset() {
    let (mut log, ends) = encode_log(&[b"foo".to_vec(), b"bar".to_vec()]);
    log[ends[0] as usize + HEADER_LEN] ^= 1;
    let file = Arc::new(strata_base::MemFile::new(Bytes::from(log)));
    let mut r = LogReader::new(file, Path::new("/db/000009.log"), AbsoluteConsistency);
    r.read_record().unwrap();
    let e = r.read_record().unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("/db/000009.log") && msg.contains(&format!("offset {}", ends[0])), "{msg}");
}

#[test]
fn records_report_their_first_and_end_offsets() {
    let recs = vec![b"x".to_vec(), big("y", 40_000)];
    let (log, ends) = encode_log(&recs);
    let (got, _) = read_log(&log, AbsoluteConsistency);
    let got: Vec<Record> = got.unwrap();
    assert_eq!((got[0].offset, got[0].end_offset), (0, ends[0]));
    assert_eq!((got[1].offset, got[1].end_offset), (ends[0], ends[1]));
}

#[test]
fn payload_over_record_len_max_is_invalid() {
    let fs = strata_base::SimFs::new();
    let file = strata_base::FileSystem::create(&fs, Path::new("/a.log")).unwrap();
    let mut w = strata_wal::LogWriter::new(file);
    // Zeroed allocation: the pages are never touched, the length check comes first.
    let huge = vec![0u8; RECORD_LEN_MAX + 1];
    assert!(matches!(w.add_record(&huge), Err(Error::InvalidArgument(_))));
    assert!(matches!(w.add_records(&[b"ok", &huge]), Err(Error::InvalidArgument(_))));
    assert_eq!(w.len(), 0, "nothing written");
}
