//! Recovery over damaged manifests never panics: every byte of a real manifest flipped, and
//! random bytes, give either a state or an error that names the manifest.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, meta, opts, sim, touch_table};
use proptest::prelude::*;
use strata_base::{FileSystem, SimFs};
use strata_manifest::{CfId, Error, FileNumber, Version, VersionEdit, VersionSet, manifest_file_name};

/// A database with a few edits; returns the manifest's path, its bytes and the offset at which
/// its last record starts.
fn build() -> (SimFs, std::path::PathBuf, Vec<u8>, usize) {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let mut e = VersionEdit::new();
    e.add_cf(set.next_cf_id(), "one", set.options().comparator.name());
    set.log_and_apply(e).unwrap();
    let mut last_start = 0;
    for seq in 1..4 {
        let n = set.new_file_number();
        touch_table(&fs, n);
        let mut e = VersionEdit::new();
        e.add_file(CfId::new(seq as u32 % 2), 0, meta(n, seq));
        last_start = usize::try_from(set.manifest_size()).unwrap();
        set.log_and_apply(e).unwrap();
    }
    let path = dir().join(manifest_file_name(set.manifest_number()));
    let bytes = fs.read_all(&path).unwrap().to_vec();
    assert!(last_start > 0 && last_start < bytes.len(), "last record at {last_start} of {}", bytes.len());
    (fs, path, bytes, last_start)
}

/// Everything recovery rebuilds from a manifest.
#[derive(Debug, PartialEq)]
struct State {
    version: Version,
    next_file_number: FileNumber,
    last_sequence: u64,
    log_number: FileNumber,
    next_cf_id: CfId,
}

fn recover_state(fs: &SimFs) -> Result<State, Error> {
    let set = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true)?;
    set.current().check_invariants(set.next_file_number(), set.options().comparator.as_ref()).unwrap();
    Ok(State {
        version: (*set.current()).clone(),
        next_file_number: set.next_file_number(),
        last_sequence: set.last_sequence(),
        log_number: set.log_number(),
        next_cf_id: set.next_cf_id(),
    })
}

fn rewrite(fs: &dyn FileSystem, path: &std::path::Path, data: &[u8]) {
    let mut f = fs.create(path).unwrap();
    f.append(data).unwrap();
    f.sync().unwrap();
}

fn recover_checked(fs: &SimFs, path: &std::path::Path) {
    match VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true) {
        Ok(set) => set.current().check_invariants(set.next_file_number(), set.options().comparator.as_ref()).unwrap(),
        Err(Error::Corruption { file, .. } | Error::UnsupportedVersion { file, .. }) => assert_eq!(file, path),
        Err(Error::NotFound { .. } | Error::InvalidArgument(_)) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// A flip before the last record is `Corruption` naming the manifest (or, if some byte were not
/// covered by a checksum, recovers the original state exactly); a flip inside the last record
/// is either `Corruption` or a torn tail, dropped: the state before the last edit.
#[test]
fn every_flipped_byte_is_survived() {
    let (fs, path, bytes, last_start) = build();
    let original = recover_state(&fs).unwrap();
    rewrite(&fs, &path, &bytes[..last_start]);
    let before_last = recover_state(&fs).unwrap();
    assert_ne!(original, before_last, "the last edit must change the state");
    let mut torn_tails = 0;
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        rewrite(&fs, &path, &bad);
        match recover_state(&fs) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, path, "flip at {i}"),
            Err(e) => panic!("flip at {i}: expected Corruption, got {e}"),
            Ok(state) if i < last_start => assert_eq!(state, original, "flip at {i} (before the last record)"),
            Ok(state) => {
                assert_eq!(state, before_last, "flip at {i} (in the last record)");
                torn_tails += 1;
            }
        }
    }
    // The test must see both outcomes, or it checks less than it claims.
    assert!(torn_tails > 0, "no flip in the last record was read as a torn tail");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_manifests_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (fs, path, _, _) = build();
        rewrite(&fs, &path, &data);
        recover_checked(&fs, &path);
    }
}

/// Column-family names are limited by the one shared limit (`strata_base::limits`), the same
/// one `Db::create_cf` checks: a longer name in a new edit is refused.
#[test]
fn column_family_names_follow_the_shared_limit() {
    use strata_base::limits::CF_NAME_LEN_MAX;
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let cmp = set.options().comparator.name().to_string();
    for bad_name in [String::new(), "n".repeat(CF_NAME_LEN_MAX + 1)] {
        let mut e = VersionEdit::new();
        e.add_cf(set.next_cf_id(), bad_name.clone(), cmp.clone());
        assert!(matches!(set.log_and_apply(e), Err(Error::InvalidArgument(_))), "name of {} bytes", bad_name.len());
    }
    let mut e = VersionEdit::new();
    e.add_cf(set.next_cf_id(), "n".repeat(CF_NAME_LEN_MAX), cmp);
    set.log_and_apply(e).unwrap();
}

/// Writes a manifest whose records are `payloads` (a snapshot, then raw edits) and points
/// `CURRENT` at it; returns its path.
fn manifest_of(fs: &SimFs, set: &mut VersionSet, extra: &[Vec<u8>]) -> std::path::PathBuf {
    let number = set.new_file_number();
    let cmp = set.options().comparator.name().to_string();
    let snap = strata_manifest::snapshot_edit(
        &set.current(),
        &cmp,
        set.log_number(),
        set.next_file_number(),
        set.last_sequence(),
    );
    let path = dir().join(manifest_file_name(number));
    let mut w = strata_wal::LogWriter::with_path(fs.create(&path).unwrap(), &path);
    w.add_record(&snap.encode()).unwrap();
    for p in extra {
        w.add_record(p).unwrap();
    }
    w.sync().unwrap();
    strata_manifest::set_current(fs, dir(), number).unwrap();
    path
}

/// An intact edit holding a must-understand tag this build does not know comes from a newer
/// writer: `UnsupportedVersion` naming the manifest and the record, not `Corruption`. Tag 0 and
/// a malformed field stay `Corruption`.
#[test]
fn unknown_must_understand_tag_is_unsupported_version() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    // Tag 63: must-understand (bit 0x40 clear) and unassigned; an empty payload.
    let path = manifest_of(&fs, &mut set, &[vec![63, 0]]);
    match VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true) {
        Err(Error::UnsupportedVersion { file, offset, reason }) => {
            assert_eq!(file, path);
            assert!(offset > 0, "the second record, not the file start");
            assert!(reason.contains("63"), "{reason}");
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    // The same tag with the safe-to-ignore bit is skipped.
    manifest_of(&fs, &mut set, &[vec![63 | 0x40, 0]]);
    VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    // An unknown must-understand sub-field inside a known field is also a newer format.
    // MAX_CF_ID (tag 5), payload of 3 bytes: varint 7, then sub-field 63 of length 0.
    let max_cf = vec![5u8, 3, 7, 63, 0];
    let path = manifest_of(&fs, &mut set, &[max_cf]);
    assert!(
        matches!(VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true), Err(Error::UnsupportedVersion { file, .. }) if file == path)
    );
    for malformed in [vec![0u8, 0], vec![5u8, 9, 1]] {
        let path = manifest_of(&fs, &mut set, std::slice::from_ref(&malformed));
        match VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
            other => panic!("{malformed:?}: expected Corruption, got {other:?}"),
        }
    }
}
