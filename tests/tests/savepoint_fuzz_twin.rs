//! The proptest twin of the `savepoint_read` fuzz target: arbitrary bytes, and valid savepoints
//! with random bytes overwritten, truncated or extended, are opened, verified and fully read
//! without a panic; a damaged savepoint never reads as valid with other contents.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use strata::{FileSystem, SimFs};
use strata_checkpoint::savepoint::SavepointWriter;
use strata_checkpoint::savepoint::format::{FamilyDesc, Header};
use strata_checkpoint::savepoint::fuzzing::{build_and_mutate, read_all};

/// A valid savepoint of `n` entries in `families` families with `chunk` byte chunks.
fn build(n: usize, families: usize, chunk: usize) -> Vec<u8> {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/sp")).unwrap();
    let path = PathBuf::from("/sp/SAVEPOINT");
    let header = Header {
        sequence: n as u64,
        created_unix_secs: 1,
        options: vec![("o".into(), "1".into())],
        families: (0..families)
            .map(|f| FamilyDesc { name: format!("f{f}"), comparator: "strata.BytewiseComparator".into() })
            .collect(),
    };
    let mut w = SavepointWriter::new(fs.create(&path).unwrap(), path.clone(), &header, chunk).unwrap();
    for i in 0..n {
        let f = i * families / n.max(1);
        w.add(f, format!("k{i:04}").as_bytes(), format!("v{}", i % 13).as_bytes()).unwrap();
    }
    w.finish().unwrap();
    fs.read_all(&path).unwrap().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        // Random bytes are not a savepoint (the magic alone rules out all but 2^-64 of them).
        prop_assert_eq!(read_all(&data), None);
    }

    #[test]
    fn damaged_savepoints_never_panic_nor_read_as_valid(
        n in 0usize..50,
        families in 1usize..4,
        chunk in 8usize..200,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = build(n, families, chunk);
        prop_assert_eq!(read_all(&bytes), Some(n as u64));
        let mut b = bytes.clone();
        for (at, v) in &edits {
            let i = at.index(b.len());
            b[i] = *v;
        }
        if b != bytes {
            prop_assert_eq!(read_all(&b), None);
        }
        prop_assert_eq!(read_all(&bytes[..cut.index(bytes.len())]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(read_all(&longer), None);
    }

    /// The fuzz target's body on random recipes: a savepoint written from the recipe reads back
    /// exactly, and its records mutated with every checksum recomputed never panic the reader.
    #[test]
    fn fuzz_target_body(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        build_and_mutate(&data);
    }
}

/// The empty savepoint (no families at all) is valid.
#[test]
fn empty_savepoint_reads_as_empty() {
    assert_eq!(read_all(&build(0, 1, 64)), Some(0));
}
