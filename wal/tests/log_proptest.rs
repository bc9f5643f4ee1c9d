//! Property tests: the proptest twin of `fuzz/fuzz_targets/wal_read.rs` (the same checks, from
//! `strata_wal::testing`), run in CI. Raise the case count with PROPTEST_CASES.

use proptest::prelude::*;
use strata_wal::testing::{check_arbitrary_bytes, check_damaged_log, encode_log, fuzz_one};

/// Record sizes weighted towards the interesting: empty, small, around a block, multi-block.
fn record_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..200,
        1 => 32_700usize..32_800,
        1 => 0usize..100_000,
    ]
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec((record_size(), any::<u8>()), 1..8).prop_map(|v| {
        v.into_iter().map(|(n, seed)| (0..n).map(|j| seed.wrapping_add((j * 13) as u8)).collect()).collect()
    })
}

/// 64 cases by default (the suite stays fast); PROPTEST_CASES overrides.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// A written log reads back; cut anywhere it gives the records before the cut; one bit
    /// flipped, each mode does what the format document says.
    #[test]
    fn damaged_logs_behave_as_documented(recs in payloads(), cut in any::<usize>(), flip in any::<usize>(), bit in any::<u8>()) {
        check_damaged_log(&recs, cut, flip, bit);
    }

    /// A valid log with bytes overwritten, a cut and garbage appended: the modes stay consistent.
    #[test]
    fn mutated_logs_keep_the_modes_consistent(
        recs in payloads(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
        garbage in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let (mut log, _) = encode_log(&recs);
        for (at, b) in edits {
            if !log.is_empty() {
                let i = at % log.len();
                log[i] = b;
            }
        }
        log.truncate(cut % (log.len() + 1));
        log.extend_from_slice(&garbage);
        check_arbitrary_bytes(&log);
    }

    /// The fuzz target's own entry point, on small random inputs.
    #[test]
    fn fuzz_entry_point(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz_one(&data);
    }

    /// The structure-aware mode of the fuzz target (first byte 3: a log from a recipe, read
    /// back, then mutated with its fragment checksums recomputed), on random recipes.
    #[test]
    fn fuzz_entry_point_structured(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        let mut input = vec![3u8];
        input.extend_from_slice(&data);
        fuzz_one(&input);
    }
}
