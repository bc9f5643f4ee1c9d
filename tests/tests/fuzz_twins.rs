//! Proptest twins of the fuzz targets whose body lives in the engine: `write_batch`
//! (`strata::fuzzing::batch_decode`). The other targets' twins sit beside their crates:
//! `sst/tests/sst_fuzz_twin.rs`, `wal/tests/log_proptest.rs`,
//! `manifest/tests/manifest_fuzz_twin.rs`, `tests/tests/savepoint_fuzz_twin.rs`.

#![allow(clippy::unwrap_used, reason = "test code: a failure is the test failing")]

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

/// Inputs the `write_batch` fuzzer found (2026-11-30): a batch whose encoding, mutated, holds an
/// over-long varint column-family id (`80 c0 00`) or a column-family tag naming family 0. The
/// decoder accepts both (they mean the same ops; the writer never produces them), so a decoded
/// batch does not always re-encode to the same bytes; the harness now checks that it re-encodes
/// to the same ops instead.
#[test]
fn write_batch_regressions() {
    let found: [&[u8]; 3] = [
        &[
            2, 255, 0, 0, 10, 1, 0, 0, 0, 0, 0, 0, 12, 161, 0, 255, 118, 118, 118, 0, 0, 37, 255, 255, 0, 161, 0, 255,
            255,
        ],
        &[
            2, 255, 0, 0, 10, 0, 29, 0, 0, 0, 0, 0, 0, 161, 0, 255, 118, 118, 118, 0, 0, 37, 255, 255, 0, 161, 0, 255,
            255,
        ],
        &[2, 253, 0, 0, 1, 0, 0, 0, 0, 0, 197, 105, 0, 0, 0, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0, 0, 1, 2, 255, 0, 0],
    ];
    for input in found {
        batch_decode(input);
    }
}

/// The two non-canonical forms decode to the same op as the canonical one.
#[test]
fn non_canonical_batch_encodings_mean_the_same_ops() {
    use std::path::Path;
    use strata::WriteBatch;
    let header = [0u8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    let decode = |body: &[u8]| {
        let mut b = header.to_vec();
        b.extend_from_slice(body);
        let batch = WriteBatch::from_record(b, Path::new("x.log"), 0).unwrap();
        batch.iter().map(|o| (o.kind, o.cf, o.key.to_vec(), o.value.to_vec())).collect::<Vec<_>>()
    };
    // Put in family 8192: canonical varint `80 40`, over-long `80 c0 00`.
    assert_eq!(decode(&[3, 0x80, 0x40, 1, b'k', 1, b'v']), decode(&[3, 0x80, 0xc0, 0x00, 1, b'k', 1, b'v']));
    // Put in family 0: tag 1 without an id, or tag 3 with id 0.
    assert_eq!(decode(&[1, 1, b'k', 1, b'v']), decode(&[3, 0, 1, b'k', 1, b'v']));
}
