//! Recovery over damaged manifests never panics: every byte of a real manifest flipped, and
//! random bytes, give either a state or an error that names the manifest.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, meta, opts, sim, touch_table};
use proptest::prelude::*;
use strata_base::{FileSystem, SimFs};
use strata_manifest::{Error, VersionEdit, VersionSet, manifest_file_name};

/// A database with a few edits; returns the manifest's path and bytes.
fn build() -> (SimFs, std::path::PathBuf, Vec<u8>) {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let mut e = VersionEdit::new();
    e.add_cf(set.next_cf_id(), "one", set.options().comparator.name());
    set.log_and_apply(e).unwrap();
    for seq in 1..4 {
        let n = set.new_file_number();
        touch_table(&fs, n);
        let mut e = VersionEdit::new();
        e.add_file(seq as u32 % 2, 0, meta(n, seq));
        set.log_and_apply(e).unwrap();
    }
    let path = dir().join(manifest_file_name(set.manifest_number()));
    let bytes = fs.read_all(&path).unwrap().to_vec();
    (fs, path, bytes)
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

#[test]
fn every_flipped_byte_is_survived() {
    let (fs, path, bytes) = build();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        rewrite(&fs, &path, &bad);
        recover_checked(&fs, &path);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_manifests_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (fs, path, _) = build();
        rewrite(&fs, &path, &data);
        recover_checked(&fs, &path);
    }
}
