//! Proptest twins of the fuzz targets whose body lives in the engine: `write_batch`
//! (`strata::fuzzing::batch_decode`). The other targets' twins sit beside their crates:
//! `sst/tests/sst_fuzz_twin.rs`, `wal/tests/log_proptest.rs`,
//! `manifest/tests/manifest_fuzz_twin.rs`, `tests/tests/savepoint_fuzz_twin.rs`.

use proptest::prelude::*;
use strata::fuzzing::batch_decode;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random recipes: the batch round-trips, and its mutated encodings decode to batches
    /// that re-encode to themselves, or are refused.
    #[test]
    fn write_batch_recipes(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        batch_decode(&data);
    }

    /// Random bytes as an encoded batch.
    #[test]
    fn write_batch_raw_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut input = vec![0xff];
        input.extend_from_slice(&data);
        batch_decode(&input);
    }
}
