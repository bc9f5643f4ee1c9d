//! Records written through `RealFs` read back identically, through `pread` and `mmap` readers.
#![allow(clippy::unwrap_used, reason = "test helpers: a failure is a test failure")]

use strata_base::{FileSystem, RealFs};
use strata_wal::{BLOCK_SIZE, LogReader, LogWriter, Record, RecoveryMode};

fn sizes() -> Vec<usize> {
    let mut x: u64 = 7;
    (0..600)
        .map(|i| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            match i % 10 {
                0 => (x >> 33) as usize % 150_000,
                1 => BLOCK_SIZE - 7 + (x >> 60) as usize,
                _ => (x >> 33) as usize % 300,
            }
        })
        .collect()
}

fn read_all(fs: &dyn FileSystem, path: &std::path::Path) -> Vec<Record> {
    let mut r = LogReader::open(fs, path, RecoveryMode::AbsoluteConsistency).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.read_record().unwrap() {
        out.push(rec);
    }
    assert!(r.report().skipped.is_empty() && r.report().dropped_tail.is_none());
    out
}

#[test]
fn records_round_trip_on_the_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.log");
    let fs = RealFs::new();
    let mut w = LogWriter::with_path(fs.create(&path).unwrap(), &path);
    let payloads: Vec<Vec<u8>> =
        sizes().into_iter().enumerate().map(|(i, n)| (0..n).map(|j| (i ^ j) as u8).collect()).collect();
    let mut ends = Vec::new();
    for chunk in payloads.chunks(5) {
        // A commit group: several records, one flush.
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        ends.extend(w.add_records(&refs).unwrap());
        w.flush().unwrap();
    }
    w.sync().unwrap();
    assert_eq!(fs.file_size(&path).unwrap(), w.len());
    for reader_fs in [RealFs::new(), RealFs::with_mmap(true)] {
        let got = read_all(&reader_fs, &path);
        assert_eq!(got.len(), payloads.len());
        let mut prev_end = 0;
        for ((r, p), e) in got.iter().zip(&payloads).zip(&ends) {
            assert_eq!(r.payload[..], p[..]);
            assert_eq!(r.end_offset, *e);
            assert!(r.offset >= prev_end);
            prev_end = r.end_offset;
        }
    }
}
