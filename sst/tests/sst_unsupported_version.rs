//! A table whose footer is intact (magic and checksum verified) but names another format
//! version is `UnsupportedVersion` naming the file and the version field's offset; the same
//! bytes with the footer checksum left stale are `Corruption`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use bytes::Bytes;
use common::*;
use strata_base::checksum;
use strata_sst::format::{FOOTER_CRC_AT, FOOTER_LEN, FOOTER_VERSION_AT, FORMAT_VERSION};
use strata_sst::{EntryKind, Error, TableOptions, TableReadOptions};

fn table() -> Vec<u8> {
    let mut m = Model::new();
    m.insert(b"a".to_vec(), (EntryKind::Put, b"1".to_vec()));
    m.insert(b"b".to_vec(), (EntryKind::Delete, Vec::new()));
    build(&m, TableOptions::default()).0.to_vec()
}

/// Sets the footer's version field to `v`, re-sealing the footer checksum when `reseal`.
fn with_version(mut t: Vec<u8>, v: u32, reseal: bool) -> Vec<u8> {
    let footer = t.len() - FOOTER_LEN;
    t[footer + FOOTER_VERSION_AT..footer + FOOTER_VERSION_AT + 4].copy_from_slice(&v.to_le_bytes());
    if reseal {
        let crc = checksum::mask(checksum::crc32(&t[footer..footer + FOOTER_CRC_AT]));
        t[footer + FOOTER_CRC_AT..footer + FOOTER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    }
    t
}

#[test]
fn other_versions_are_unsupported_not_corrupt() {
    let t = table();
    let footer = (t.len() - FOOTER_LEN) as u64;
    assert!(open(Bytes::from(with_version(t.clone(), FORMAT_VERSION, true)), TableReadOptions::default()).is_ok());
    for v in [0, FORMAT_VERSION + 1, u32::MAX] {
        match open(Bytes::from(with_version(t.clone(), v, true)), TableReadOptions::default()) {
            Err(Error::UnsupportedVersion { file, offset, reason }) => {
                assert_eq!(file, std::path::Path::new("/db/000001.sst"));
                assert_eq!(offset, footer + FOOTER_VERSION_AT as u64);
                assert!(reason.contains(&v.to_string()), "{reason}");
            }
            other => panic!("version {v}: expected UnsupportedVersion, got {other:?}"),
        }
        let stale = open(Bytes::from(with_version(t.clone(), v, false)), TableReadOptions::default());
        assert!(stale.unwrap_err().is_corruption(), "version {v} with a stale footer checksum");
    }
}
