//! The worked example of `docs/format/wal.md`, encoded and compared byte for byte. If this test
//! fails, the document and the code disagree: fix whichever is wrong, and never reuse a type.

use strata_wal::testing::{encode_log, read_log};
use strata_wal::{BLOCK_SIZE, HEADER_LEN, RecoveryMode};

/// The example's bytes exactly as the document's table lists them.
fn document_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0x6b, 0xba, 0x6f, 0xb9, 0x02, 0x00, 0x01]);
    v.extend_from_slice(b"hi");
    v.extend_from_slice(&[0xd2, 0xb1, 0x78, 0x2f, 0xed, 0x7f, 0x01]);
    v.extend(std::iter::repeat_n(0x61, 32749));
    v.extend_from_slice(&[0x00, 0x00, 0x00]);
    v.extend_from_slice(&[0xa1, 0x47, 0x5f, 0xb7, 0xf9, 0x7f, 0x02]);
    v.extend(std::iter::repeat_n(0x62, 32761));
    v.extend_from_slice(&[0x1c, 0xfa, 0xcd, 0x71, 0xf9, 0x7f, 0x03]);
    v.extend(std::iter::repeat_n(0x62, 32761));
    v.extend_from_slice(&[0xd8, 0xef, 0x80, 0x1c, 0x7e, 0x11, 0x04]);
    v.extend(std::iter::repeat_n(0x62, 4478));
    v.extend_from_slice(&[0xe3, 0x34, 0xba, 0x60, 0x00, 0x00, 0x01]);
    v
}

fn example_records() -> Vec<Vec<u8>> {
    vec![b"hi".to_vec(), vec![0x61; 32749], vec![0x62; 70000], Vec::new()]
}

#[test]
fn writer_produces_the_documented_bytes() {
    let (log, ends) = encode_log(&example_records());
    let doc = document_bytes();
    assert_eq!(doc.len(), 102_796);
    assert_eq!(log.len(), doc.len());
    if let Some(i) = log.iter().zip(&doc).position(|(a, b)| a != b) {
        panic!("first difference at offset {i}: wrote {:#04x}, document says {:#04x}", log[i], doc[i]);
    }
    assert_eq!(ends, vec![9, 32_765, 102_789, 102_796]);
    // The table's offsets agree with the constants.
    assert_eq!(32_768, BLOCK_SIZE);
    assert_eq!(32_765 + 3, BLOCK_SIZE);
    assert_eq!(HEADER_LEN, 7);
}

#[test]
fn reader_returns_the_documented_offsets() {
    let (got, report) = read_log(&document_bytes(), RecoveryMode::AbsoluteConsistency);
    let got = got.unwrap();
    let offsets: Vec<(u64, u64)> = got.iter().map(|r| (r.offset, r.end_offset)).collect();
    assert_eq!(offsets, vec![(0, 9), (9, 32_765), (32_768, 102_789), (102_789, 102_796)]);
    for (r, want) in got.iter().zip(example_records()) {
        assert_eq!(r.payload[..], want[..]);
    }
    assert_eq!(report.valid_end_offset, 102_796);
    assert!(report.skipped.is_empty() && report.dropped_tail.is_none());
}
