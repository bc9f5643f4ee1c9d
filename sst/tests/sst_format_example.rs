//! Encodes the worked example of `docs/format/sst.md` and compares it byte for byte with the
//! hex dump in the document, then checks the field offsets the document states.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use strata_sst::format::{FOOTER_LEN, FORMAT_VERSION, MAGIC};
use strata_sst::{EntryKind, TableOptions, TableReadOptions};

const DOC: &str = include_str!("../../docs/format/sst.md");

/// The example: three entries, default options, creation time fixed.
fn example_bytes() -> Vec<u8> {
    let fs = strata_base::SimFs::new();
    let path = std::path::Path::new("/000001.sst");
    let mut b = strata_sst::TableBuilder::create(fs.arc(), path, TableOptions::default()).unwrap();
    b.set_creation_time(1_700_000_000);
    b.set_user_property("cf", b"\x01");
    b.add(b"apple", EntryKind::Put, b"red").unwrap();
    b.add(b"apricot", EntryKind::Put, b"orange").unwrap();
    b.add(b"banana", EntryKind::Delete, b"").unwrap();
    b.finish().unwrap();
    strata_base::FileSystem::read_all(&fs, path).unwrap().to_vec()
}

/// The bytes of the hex dump between the example markers: each line is an offset followed by
/// up to sixteen hex bytes.
fn doc_bytes() -> Vec<u8> {
    let start = DOC.find("<!-- example-hex-begin -->").expect("begin marker");
    let end = DOC.find("<!-- example-hex-end -->").expect("end marker");
    let mut out = Vec::new();
    for line in DOC[start..end].lines().filter(|l| l.len() > 4 && l.as_bytes()[0].is_ascii_hexdigit()) {
        let mut tokens = line.split_whitespace();
        let offset = usize::from_str_radix(tokens.next().unwrap(), 16).unwrap();
        assert_eq!(offset, out.len(), "offset column of line {line:?}");
        out.extend(tokens.map(|t| u8::from_str_radix(t, 16).unwrap()));
    }
    out
}

fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let hex: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}  {}\n", i * 16, hex.join(" "))
        })
        .collect()
}

#[test]
fn worked_example_matches_the_document_byte_for_byte() {
    let bytes = example_bytes();
    let doc = doc_bytes();
    assert!(bytes == doc, "the encoder and docs/format/sst.md disagree; the encoder writes:\n{}", hex_dump(&bytes));
}

#[test]
fn worked_example_fields_are_where_the_document_says() {
    let b = example_bytes();
    // Data block: 42 bytes of contents at 0, raw (type 0). Each entry header is three
    // varints: shared, non_shared << 1 | kind, value length (version 3: no kind byte).
    assert_eq!(&b[0..3], &[0x00, (5 << 1) | 1, 0x03]);
    assert_eq!(&b[3..11], b"applered");
    assert_eq!(&b[11..14], &[0x02, (5 << 1) | 1, 0x06]);
    assert_eq!(&b[14..25], b"ricotorange");
    assert_eq!(&b[25..28], &[0x00, 6 << 1, 0x00]);
    assert_eq!(&b[28..34], b"banana");
    assert_eq!(&b[34..42], &[0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(b[42], 0, "data block type");
    // Filter block at 47: one 64-byte line and 6 probes; `apple` sets bit 9 (byte 1, bit 1)
    // and bit 452 (byte 56, bit 4), as the document works out.
    assert_eq!(b[47 + 64], 6);
    assert_eq!(b[47 + 1] & 0x02, 0x02);
    assert_eq!(b[47 + 56] & 0x10, 0x10);
    assert_eq!(b[112], 0, "filter block type");
    // Index block at 117: one entry "c" whose value is the size of data block 0 (42); its
    // offset, 0, is implied.
    assert_eq!(&b[117..122], &[0x00, (1 << 1) | 1, 0x01, b'c', 42]);
    // Footer.
    let f = &b[b.len() - FOOTER_LEN..];
    assert_eq!(&f[60..], &MAGIC.to_le_bytes());
    assert_eq!(&f[0..16], &[117, 0, 0, 0, 0, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0], "index handle");
    assert_eq!(&f[16..32], &[47, 0, 0, 0, 0, 0, 0, 0, 65, 0, 0, 0, 0, 0, 0, 0], "filter handle");
    assert_eq!(&f[32..40], &[135, 0, 0, 0, 0, 0, 0, 0], "properties offset");
    assert_eq!(&f[52..56], &FORMAT_VERSION.to_le_bytes(), "format version");
    assert_eq!(FORMAT_VERSION, 3);
    let crc = crc32fast::hash(&b[..b.len() - FOOTER_LEN]);
    assert_eq!(&f[48..52], &crc.to_le_bytes(), "file crc");
    // And it is a table.
    let t = open(bytes::Bytes::from(b), TableReadOptions::default()).unwrap();
    t.verify_checksums().unwrap();
    assert_eq!(scan_forward(&t).unwrap().len(), 3);
}
