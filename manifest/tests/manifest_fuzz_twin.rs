//! The proptest twin of the `manifest_edit` fuzz target: random recipes of edit sequences are
//! applied to a `Version` and a `VersionSet`, recovered, mutated and recovered again by the
//! target's own body, `strata_manifest::fuzzing::replay_edits`, which panics on a bug.

use proptest::prelude::*;
use strata_manifest::fuzzing::{decode_any, replay_edits};

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_target_body(mode in any::<u8>(), data in prop::collection::vec(any::<u8>(), 0..1024)) {
        let mut input = vec![mode & 0x7f];
        input.extend_from_slice(&data);
        replay_edits(&input);
    }

    #[test]
    fn arbitrary_bytes_as_one_edit(data in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_any(&data);
    }
}
