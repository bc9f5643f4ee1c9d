//! Every single-byte flip, every truncation and every extension of a small table is detected
//! (no byte is slack), and decoding never panics, even with data-block checksums turned off.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use bytes::Bytes;
use common::*;
use std::sync::Arc;
use strata_sst::{Compression, Error, Table, TableOptions, TableReadOptions};

fn small_tables() -> Vec<(Model, Bytes)> {
    let m = sample_model(40, 12);
    [Compression::None, Compression::Zstd { level: 3 }]
        .into_iter()
        .map(|compression| {
            let opts = TableOptions { block_size: 160, restart_interval: 3, compression, ..TableOptions::default() };
            let (bytes, _) = build(&m, opts);
            (m.clone(), bytes)
        })
        .collect()
}

/// Reads everything a user can read; Ok(true) if it all matched the model.
fn read_all(t: &Arc<Table>, m: &Model) -> strata_sst::Result<bool> {
    let fwd = scan_forward(t)?;
    let bwd = scan_backward(t)?;
    let mut same = fwd == entries(m) && bwd == fwd;
    for (k, (kind, v)) in m {
        let got = t.get(k)?;
        same &= got.map(|(kd, val)| (kd, val.to_vec())) == Some((*kind, v.clone()));
    }
    Ok(same)
}

fn assert_corruption(r: &strata_sst::Result<impl std::fmt::Debug>, what: &str) {
    match r {
        Err(Error::Corruption { file, .. }) => assert!(file.ends_with("000001.sst"), "{what}: error names {file:?}"),
        other => panic!("{what}: expected corruption, got {other:?}"),
    }
}

#[test]
fn every_byte_flip_is_detected() {
    for (m, bytes) in small_tables() {
        let mut silently_unaffected = 0;
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.to_vec();
                b[i] ^= mask;
                let what = format!("flip {mask:#04x} at byte {i} of {}", bytes.len());
                let t = match open(Bytes::from(b), TableReadOptions::default()) {
                    Ok(t) => t,
                    r @ Err(_) => {
                        assert_corruption(&r, &what);
                        continue;
                    }
                };
                // Every byte is covered by a checksum, so verification always notices.
                assert_corruption(&t.verify_checksums(), &what);
                // Reading sees an error or exactly the original data (a flip in the filter can
                // only turn a "maybe" into a "no", which `read_all` would notice as a miss).
                match read_all(&t, &m) {
                    Ok(true) => silently_unaffected += 1,
                    Ok(false) => panic!("{what}: read wrong data without an error"),
                    Err(e) => assert!(e.is_corruption(), "{what}: {e}"),
                }
            }
        }
        // Flips in data blocks are only seen when the block is read; some must be caught there.
        assert!(silently_unaffected < bytes.len() * 3);
    }
}

#[test]
fn flips_without_block_checksums_never_panic() {
    let ropts = TableReadOptions { verify_checksums: false, ..TableReadOptions::default() };
    for (m, bytes) in small_tables() {
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x10, 0xff] {
                let mut b = bytes.to_vec();
                b[i] ^= mask;
                if let Ok(t) = open(Bytes::from(b), ropts.clone()) {
                    // Any outcome but a panic or a hang is acceptable here.
                    let _ = read_all(&t, &m);
                    let mut it = t.iter();
                    it.seek(b"key0000000000050");
                    it.seek_for_prev(b"key0000000000050");
                    for _ in 0..5 {
                        it.prev();
                    }
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    for (_, bytes) in small_tables() {
        for len in 0..bytes.len() {
            let r = open(bytes.slice(..len), TableReadOptions::default());
            assert_corruption(&r, &format!("truncated to {len}"));
        }
    }
}

#[test]
fn every_extension_is_detected() {
    for (_, bytes) in small_tables() {
        for extra in 1..=80usize {
            for fill in [0u8, 0xff] {
                let mut b = bytes.to_vec();
                b.extend(std::iter::repeat_n(fill, extra));
                assert_corruption(&open(Bytes::from(b), TableReadOptions::default()), &format!("extended by {extra}"));
            }
            // A copy of the footer appended after garbage is still caught by the file CRC.
            let mut b = bytes.to_vec();
            let footer = bytes.slice(bytes.len() - strata_sst::format::FOOTER_LEN..);
            b.extend(std::iter::repeat_n(7u8, extra));
            b.extend_from_slice(&footer);
            if let Ok(t) = open(Bytes::from(b), TableReadOptions::default()) {
                assert_corruption(&t.verify_checksums(), "footer repeated");
            }
        }
    }
}

#[test]
fn corruption_names_file_offset_and_reason() {
    let (_, bytes) = small_tables().remove(0);
    let mut b = bytes.to_vec();
    b[5] ^= 0x40; // Inside the first data block.
    let t = open(Bytes::from(b), TableReadOptions::default()).unwrap();
    let err = scan_forward(&t).unwrap_err();
    let Error::Corruption { file, offset, reason } = &err else { panic!("{err:?}") };
    assert_eq!(file.to_str(), Some("/db/000001.sst"));
    // The first data block starts at 0 and is about 160 bytes; the mismatch is reported at
    // its trailer.
    assert!((100..300).contains(offset), "offset {offset}");
    assert!(reason.contains("checksum"), "{reason}");
    assert!(err.to_string().contains("/db/000001.sst"), "{err}");
}

#[test]
fn garbage_is_not_a_table() {
    for len in [0usize, 1, 67, 68, 69, 500] {
        let b: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        assert_corruption(&open(Bytes::from(b), TableReadOptions::default()), &format!("{len} bytes of garbage"));
    }
}
