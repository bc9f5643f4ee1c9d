//! Guards `docs/format/manifest.md` against drift: its worked example is encoded here and
//! compared byte for byte, and its tag table is compared with `format.rs`.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use strata_manifest::format::{
    SUB_NEW_FILE_EPOCH, SUB_NEW_FILE_GLOBAL_SEQ, TAG_CF_ADD, TAG_CF_DROP, TAG_COMPARATOR, TAG_DB_ID, TAG_DELETED_FILE,
    TAG_LAST_SEQUENCE, TAG_LOG_NUMBER, TAG_MAX_CF_ID, TAG_NEW_FILE, TAG_NEXT_FILE_NUMBER, TAG_PARENT_DB_ID,
    TAG_SAFE_TO_IGNORE,
};
use strata_manifest::{CfId, FileNumber};
use strata_manifest::{DbId, FileMeta, VersionEdit};

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/format/manifest.md"));

/// The hex bytes between the `example-begin` and `example-end` markers of the document.
fn doc_example_bytes() -> Vec<u8> {
    let start = DOC.find("<!-- example-begin -->").unwrap();
    let end = DOC.find("<!-- example-end -->").unwrap();
    let mut out = Vec::new();
    for line in DOC[start..end].lines().filter(|l| l.starts_with("| `")) {
        // Rows look like: | `01 03 63 6d 70` | comparator ... |
        let hex = line.split('`').nth(1).unwrap();
        for b in hex.split_whitespace() {
            out.push(u8::from_str_radix(b, 16).unwrap());
        }
    }
    out
}

fn example_edit() -> VersionEdit {
    let mut e = VersionEdit {
        comparator: Some("cmp".into()),
        log_number: Some(FileNumber::new(4)),
        next_file_number: Some(FileNumber::new(300)),
        last_sequence: Some(7),
        max_cf_id: Some(CfId::new(1)),
        ..VersionEdit::default()
    };
    e.add_cf(CfId::new(1), "a", "cmp")
        .drop_cf(CfId::new(2))
        .delete_file(CfId::DEFAULT, 0, FileNumber::new(5))
        .add_file(
            CfId::new(1),
            1,
            FileMeta {
                number: FileNumber::new(6),
                size: 100,
                smallest: b"b".to_vec(),
                largest: b"c".to_vec(),
                smallest_seq: 1,
                largest_seq: 7,
                checksum: 0x1122_3344,
                epoch: 0,
                global_seq: 0,
            },
        );
    e.add_file(
        CfId::new(1),
        0,
        FileMeta {
            number: FileNumber::new(7),
            size: 100,
            smallest: b"d".to_vec(),
            largest: b"e".to_vec(),
            smallest_seq: 7,
            largest_seq: 7,
            checksum: 0x5566_7788,
            epoch: 3,
            global_seq: 7,
        },
    );
    e
}

#[test]
fn worked_example_matches_the_encoder() {
    let doc = doc_example_bytes();
    assert!(!doc.is_empty());
    assert_eq!(example_edit().encode(), doc, "docs/format/manifest.md worked example drifted from the encoder");
    assert_eq!(VersionEdit::decode_from(&doc).unwrap(), example_edit());
}

#[test]
fn tag_table_matches_format_rs() {
    for (name, tag) in [
        ("COMPARATOR", TAG_COMPARATOR),
        ("LOG_NUMBER", TAG_LOG_NUMBER),
        ("NEXT_FILE_NUMBER", TAG_NEXT_FILE_NUMBER),
        ("LAST_SEQUENCE", TAG_LAST_SEQUENCE),
        ("MAX_CF_ID", TAG_MAX_CF_ID),
        ("CF_ADD", TAG_CF_ADD),
        ("CF_DROP", TAG_CF_DROP),
        ("DELETED_FILE", TAG_DELETED_FILE),
        ("NEW_FILE", TAG_NEW_FILE),
        ("DB_ID", TAG_DB_ID),
        ("PARENT_DB_ID", TAG_PARENT_DB_ID),
    ] {
        let row = format!("| {tag} | `{name}` |");
        assert!(DOC.contains(&row), "docs/format/manifest.md lacks the row {row:?}");
    }
    assert!(DOC.contains(&format!("`0x{TAG_SAFE_TO_IGNORE:02x}`")), "safe-to-ignore bit not documented");
    for (name, tag) in [("EPOCH", SUB_NEW_FILE_EPOCH), ("GLOBAL_SEQ", SUB_NEW_FILE_GLOBAL_SEQ)] {
        let row = format!("| {tag} | `NEW_FILE.{name}` |");
        assert!(DOC.contains(&row), "docs/format/manifest.md lacks the row {row:?}");
    }
}

#[test]
fn documented_extension_rule_holds() {
    let mut skip = doc_example_bytes();
    skip.extend_from_slice(&[0x4a, 0x02, 0x68, 0x69]);
    assert_eq!(VersionEdit::decode_from(&skip).unwrap(), example_edit());
    let mut refuse = doc_example_bytes();
    refuse.extend_from_slice(&[0x0a, 0x02, 0x68, 0x69]);
    assert!(VersionEdit::decode_from(&refuse).is_err());
}

#[test]
fn identity_example_matches_the_encoder() {
    let id = DbId::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
    let bytes = VersionEdit { db_id: Some(id), ..VersionEdit::default() }.encode();
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let row = format!("`{}`", hex.join(" "));
    assert!(DOC.contains(&row), "docs/format/manifest.md identity example drifted: expected {row}");
}
