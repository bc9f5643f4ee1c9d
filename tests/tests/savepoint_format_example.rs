//! Encodes the worked example of `docs/format/savepoint.md` and compares it byte for byte with
//! the hex dump in the document, then checks the fields the document points at and reads the
//! example back.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::{Path, PathBuf};
use strata::{FileSystem, SimFs};
use strata_checkpoint::savepoint::format::{FamilyDesc, Header, MAGIC};
use strata_checkpoint::savepoint::{SavepointReader, SavepointWriter};

const DOC: &str = include_str!("../../docs/format/savepoint.md");

/// The example: two families, three entries, chunks of 16 bytes, fixed time and sequence.
fn example_bytes() -> Vec<u8> {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/sp")).unwrap();
    let path = PathBuf::from("/sp/SAVEPOINT");
    let cmp = "strata.BytewiseComparator".to_string();
    let header = Header {
        sequence: 42,
        created_unix_secs: 1_700_000_000,
        options: vec![("block_size".into(), "4096".into())],
        families: vec![
            FamilyDesc { name: "default".into(), comparator: cmp.clone() },
            FamilyDesc { name: "meta".into(), comparator: cmp },
        ],
    };
    let mut w = SavepointWriter::new(fs.create(&path).unwrap(), path.clone(), &header, 16).unwrap();
    w.add(0, b"apple", b"red").unwrap();
    w.add(0, b"banana", b"yellow").unwrap();
    w.add(1, b"k", b"v").unwrap();
    w.finish().unwrap();
    fs.read_all(&path).unwrap().to_vec()
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
        out.extend(tokens.take_while(|t| t.len() == 2).map(|t| u8::from_str_radix(t, 16).unwrap()));
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
    assert!(
        bytes == doc,
        "the encoder and docs/format/savepoint.md disagree; the encoder writes:\n{}",
        hex_dump(&bytes)
    );
}

/// The document's bytes are a frozen version-1 savepoint: every build restores them.
#[test]
fn the_documented_version_1_file_restores() {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/sp")).unwrap();
    let mut w = fs.create(Path::new("/sp/SAVEPOINT")).unwrap();
    w.append(&doc_bytes()).unwrap();
    w.sync().unwrap();
    drop(w);
    let o = strata::Options { fs: Some(fs.arc()), ..Default::default() };
    let r = strata_checkpoint::Savepoint::restore("/sp", "/db", &o, &Default::default()).unwrap();
    assert_eq!((r.sequence, r.entries), (42, 3));
    let db = strata::Db::open_read_only("/db", o).unwrap();
    assert_eq!(db.get(b"banana").unwrap().as_deref(), Some(&b"yellow"[..]));
    assert_eq!(db.get_cf(&db.cf("meta").unwrap(), b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn worked_example_fields_are_where_the_document_says() {
    let b = example_bytes();
    assert_eq!(&b[0..8], &MAGIC);
    assert_eq!(&b[8..12], &[1, 0, 1, 0], "version 1, min_reader_version 1");
    // Header record at 16: its payload starts with the sequence and the creation time.
    assert_eq!(b[16 + 4], 1, "record type header");
    assert_eq!(&b[21..29], &42u64.to_le_bytes());
    assert_eq!(&b[29..37], &1_700_000_000u64.to_le_bytes());
    // Footer: the last 32 bytes end with the magic; the index ends where it starts.
    let f = &b[b.len() - 32..];
    assert_eq!(&f[24..], &MAGIC);
    let index_offset = u64::from_le_bytes(f[0..8].try_into().unwrap());
    let index_len = u64::from_le_bytes(f[8..16].try_into().unwrap());
    assert_eq!(index_offset + index_len, (b.len() - 32) as u64);
    assert_eq!(b[index_offset as usize + 4], 3, "record type index");
    let crc = strata_base::checksum::mask(strata_base::checksum::crc32(&b[..b.len() - 32]));
    assert_eq!(&f[16..20], &crc.to_le_bytes(), "file crc");
    // And it reads back.
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/sp")).unwrap();
    let mut w = fs.create(Path::new("/sp/SAVEPOINT")).unwrap();
    w.append(&b).unwrap();
    w.sync().unwrap();
    let r = SavepointReader::open(fs.arc(), Path::new("/sp")).unwrap();
    let info = r.verify().unwrap();
    assert_eq!((info.sequence, info.chunks), (42, 3));
    let c = r.read_chunk(1).unwrap();
    assert_eq!((&c.entries[0].0[..], &c.entries[0].1[..]), (&b"banana"[..], &b"yellow"[..]));
}
