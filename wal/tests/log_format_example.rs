//! The worked example of `docs/format/wal.md`, read from the document's table, encoded and
//! compared byte for byte. If this test fails, the document and the code disagree: fix whichever
//! is wrong, and never reuse a type.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use strata_wal::testing::{encode_log, read_log};
use strata_wal::{BLOCK_SIZE, HEADER_LEN, RecoveryMode};

const DOC: &str = include_str!("../../docs/format/wal.md");

/// The worked example's table, from its header row to the first line that is not a row.
fn example_rows() -> Vec<&'static str> {
    let section = &DOC[DOC.find("## Worked example").expect("worked example section")..];
    let table = &section[section.find("| offset | bytes | what |").expect("example table")..];
    table.lines().skip(2).take_while(|l| l.starts_with('|')).collect()
}

/// The example's bytes as the document's table lists them: each row gives its offset (checked
/// against the bytes before it) and either hex bytes in backticks or `N × \`xx\``.
fn document_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    for row in example_rows() {
        let cols: Vec<&str> = row.split('|').map(str::trim).collect();
        let (offset, bytes) = (cols[1], cols[2]);
        assert_eq!(offset.parse::<usize>().unwrap(), v.len(), "offset column of row {row:?}");
        let hex = |t: &str| u8::from_str_radix(t.trim_matches('`'), 16).unwrap();
        if let Some((count, byte)) = bytes.split_once('×') {
            v.extend(std::iter::repeat_n(hex(byte.trim()), count.trim().parse().unwrap()));
        } else {
            v.extend(bytes.trim_matches('`').split_whitespace().map(hex));
        }
    }
    v
}

/// The number in "The file is N bytes" and the offset pairs in "`Record::offset`/`end_offset`
/// are a/b, c/d, ...", from the prose under the table.
fn document_sizes() -> (usize, Vec<(u64, u64)>) {
    let section = &DOC[DOC.find("## Worked example").expect("worked example section")..];
    let after = |marker: &str| {
        let i = section.find(marker).unwrap_or_else(|| panic!("{marker:?} in wal.md")) + marker.len();
        &section[i..]
    };
    let len = after("The file is ").split_whitespace().next().unwrap().parse().unwrap();
    let list = after("`Record::offset`/`end_offset` are ");
    let list = &list[..list.find(':').unwrap()];
    let pairs = list
        .split(',')
        .map(|p| {
            let (a, b) = p.trim().trim_end_matches('.').split_once('/').unwrap();
            (a.trim().parse().unwrap(), b.trim().parse().unwrap())
        })
        .collect();
    (len, pairs)
}

fn example_records() -> Vec<Vec<u8>> {
    vec![b"hi".to_vec(), vec![0x61; 32749], vec![0x62; 70000], Vec::new()]
}

#[test]
fn writer_produces_the_documented_bytes() {
    let (log, ends) = encode_log(&example_records());
    let doc = document_bytes();
    let (doc_len, doc_offsets) = document_sizes();
    assert_eq!(doc.len(), doc_len, "the table and the stated file size disagree");
    assert_eq!(doc.len(), 102_796);
    assert_eq!(log.len(), doc.len());
    if let Some(i) = log.iter().zip(&doc).position(|(a, b)| a != b) {
        panic!("first difference at offset {i}: wrote {:#04x}, document says {:#04x}", log[i], doc[i]);
    }
    assert_eq!(ends, doc_offsets.iter().map(|&(_, end)| end).collect::<Vec<u64>>());
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
    assert_eq!(offsets, document_sizes().1);
    assert_eq!(offsets, vec![(0, 9), (9, 32_765), (32_768, 102_789), (102_789, 102_796)]);
    for (r, want) in got.iter().zip(example_records()) {
        assert_eq!(r.payload[..], want[..]);
    }
    assert_eq!(report.valid_end_offset, 102_796);
    assert!(report.skipped.is_empty() && report.dropped_tail.is_none());
}
