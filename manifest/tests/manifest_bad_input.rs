//! Recovery over damaged manifests never panics: every byte of a real manifest flipped, and
//! random bytes, give either a state or an error that names the manifest.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, meta, opts, sim, touch_table};
use proptest::prelude::*;
use strata_base::{FileSystem, SimFs};
use strata_manifest::{Error, Version, VersionEdit, VersionSet, manifest_file_name};

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
        e.add_file(seq as u32 % 2, 0, meta(n, seq));
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
    next_file_number: u64,
    last_sequence: u64,
    log_number: u64,
    next_cf_id: u32,
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
        Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
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
