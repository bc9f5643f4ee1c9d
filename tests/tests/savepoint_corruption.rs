//! Damaged savepoints: every byte of a small savepoint flipped, and the file truncated at every
//! offset. `verify` and `restore` must report `Corruption` naming the savepoint file and an
//! offset inside it, never panic, never restore wrong data, never leave the target behind.
//! Also: a savepoint from a newer format version is refused with `UnsupportedVersion`, one a
//! newer writer marked readable by this version is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use savepoint_common::*;
use std::path::Path;
use strata::{Db, Error, FileSystem, Options, SimFs};
use strata_checkpoint::savepoint::format::{self, PREAMBLE_LEN, Preamble};
use strata_checkpoint::{RestoreMethod, Savepoint, SavepointOptions, SavepointRestoreOptions};
use strata_tests::fault_fs::overwrite_file;

const FILE: &str = "/sp/SAVEPOINT";

/// A small savepoint (two families, several chunks) on `sim`; returns its bytes.
fn small(sim: &SimFs) -> Vec<u8> {
    let db = Db::open("/db", source_options(sim.arc())).unwrap();
    let meta = db.create_cf("meta").unwrap();
    for i in 0..12u64 {
        db.put(key(i), format!("value-{i}")).unwrap();
    }
    db.put_cf(&meta, b"m", b"1").unwrap();
    let opts = SavepointOptions { chunk_bytes: Some(48), ..Default::default() };
    Savepoint::create(&db, "/sp", &opts).unwrap();
    sim.read_all(Path::new(FILE)).unwrap().to_vec()
}

fn restore_opts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), ..Default::default() }
}

/// Both `verify` and `restore` of the damaged file in place report corruption in it.
fn assert_refused(sim: &SimFs, len: usize, ctx: &str) {
    let (file, offset) = corruption(Savepoint::verify_with(sim.arc(), "/sp"), &format!("verify, {ctx}"));
    assert_eq!(file, Path::new(FILE), "{ctx}");
    assert!(offset <= len as u64, "{ctx}: offset {offset} outside the {len}-byte file");
    for method in [RestoreMethod::Tables, RestoreMethod::Writes] {
        let ro = SavepointRestoreOptions { method, threads: 2, ..Default::default() };
        let r = Savepoint::restore("/sp", "/t", &restore_opts(sim), &ro);
        let (file, _) = corruption(r, &format!("restore ({method:?}), {ctx}"));
        assert_eq!(file, Path::new(FILE), "{ctx}");
        assert!(!sim.exists(Path::new("/t")), "{ctx}: a failed restore left its target");
    }
    assert!(!sim.list(Path::new("/")).unwrap().iter().any(|n| n.contains("tmp")), "{ctx}: temporary left");
}

#[test]
fn every_flipped_byte_is_reported_as_corruption() {
    let sim = SimFs::new();
    let good = small(&sim);
    let info = Savepoint::verify_with(sim.arc(), "/sp").unwrap();
    assert!(info.chunks >= 3, "several chunks: {}", info.chunks);
    assert!(good.len() < 1200, "keep the test fast: {} bytes", good.len());
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = good.clone();
            b[i] ^= bit;
            overwrite_file(&*sim.arc(), Path::new(FILE), &b).unwrap();
            assert_refused(&sim, b.len(), &format!("byte {i} ^ {bit:#x}"));
        }
    }
    overwrite_file(&*sim.arc(), Path::new(FILE), &good).unwrap();
    Savepoint::verify_with(sim.arc(), "/sp").unwrap();
}

#[test]
fn truncation_at_every_offset_is_reported_as_corruption() {
    let sim = SimFs::new();
    let good = small(&sim);
    for n in 0..good.len() {
        overwrite_file(&*sim.arc(), Path::new(FILE), &good[..n]).unwrap();
        assert_refused(&sim, n, &format!("truncated to {n} bytes"));
    }
    // Bytes appended after the footer are damage too.
    let mut longer = good.clone();
    longer.extend_from_slice(b"tail");
    overwrite_file(&*sim.arc(), Path::new(FILE), &longer).unwrap();
    assert_refused(&sim, longer.len(), "four bytes appended");
}

/// Rewrites the preamble with other versions (and a valid checksum).
fn with_versions(good: &[u8], version: u16, min_reader_version: u16) -> Vec<u8> {
    let mut b = good.to_vec();
    b[..PREAMBLE_LEN].copy_from_slice(&Preamble { version, min_reader_version }.encode());
    b
}

#[test]
fn a_newer_format_is_refused_with_unsupported_version() {
    let sim = SimFs::new();
    let good = small(&sim);
    let newer = with_versions(&good, 2, 2);
    overwrite_file(&*sim.arc(), Path::new(FILE), &newer).unwrap();
    let e = Savepoint::verify_with(sim.arc(), "/sp").unwrap_err();
    let text = e.to_string();
    assert!(matches!(&e, Error::UnsupportedVersion { .. }) && text.contains("SAVEPOINT") && text.contains('2'), "{e}");
    let r = Savepoint::restore("/sp", "/t", &restore_opts(&sim), &SavepointRestoreOptions::default());
    assert!(matches!(r, Err(Error::UnsupportedVersion { .. })), "{r:?}");
    assert!(!sim.exists(Path::new("/t")));
}

#[test]
fn a_newer_writer_that_stays_compatible_is_read() {
    let sim = SimFs::new();
    let good = small(&sim);
    let want = Savepoint::verify_with(sim.arc(), "/sp").unwrap();
    // The file CRC covers the preamble, so the footer is rewritten too.
    let mut b = with_versions(&good, 7, 1);
    let foot = b.len() - format::FOOTER_LEN;
    let f = format::Footer::decode(&b[foot..], b.len() as u64).unwrap();
    let crc = strata_base::checksum::mask(strata_base::checksum::crc32(&b[..foot]));
    b[foot..].copy_from_slice(&format::Footer { file_crc: crc, ..f }.encode());
    overwrite_file(&*sim.arc(), Path::new(FILE), &b).unwrap();
    let got = Savepoint::verify_with(sim.arc(), "/sp").unwrap();
    assert_eq!(got.format_version, 7);
    assert_eq!(got.families, want.families);
}
