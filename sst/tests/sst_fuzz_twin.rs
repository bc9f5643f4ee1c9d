//! The proptest twin of the `sst_open` fuzz target: arbitrary bytes, and valid tables with
//! random bytes overwritten, are opened and fully iterated without a panic; and the target's
//! own body, `build_and_mutate`, runs on random recipes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use proptest::prelude::*;
use strata_sst::fuzzing::{build_and_mutate, open_and_iterate};
use strata_sst::{Compression, TableOptions};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        // Random bytes are not a table (the magic alone rules out all but 2^-64 of them).
        prop_assert_eq!(open_and_iterate(&data), None);
    }

    #[test]
    fn mutated_tables_never_panic(
        n in 1usize..60,
        zstd in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let compression = if zstd { Compression::Zstd { level: 1 } } else { Compression::None };
        let opts = TableOptions { block_size: 128, restart_interval: 2, compression, ..TableOptions::default() };
        let (bytes, _) = build(&sample_model(n, 10), opts);
        prop_assert_eq!(open_and_iterate(&bytes), Some(n));
        let mut b = bytes.to_vec();
        for (at, v) in &edits {
            let i = at.index(b.len());
            b[i] = *v;
        }
        let _ = open_and_iterate(&b);
    }

    /// The fuzz target's body: random recipes (options, entries, mutations with recomputed
    /// checksums); it checks the round trip itself and panics on a bug.
    #[test]
    fn fuzz_target_body(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        build_and_mutate(&data);
    }
}
