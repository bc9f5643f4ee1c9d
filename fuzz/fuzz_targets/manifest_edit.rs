//! Structure-aware fuzzing of the manifest: the input is a recipe for a sequence of version
//! edits (column families added and dropped, tables added, deleted and moved, counters), each
//! of which must round-trip through its encoding and be accepted by `VersionSet::log_and_apply`
//! exactly when `Version::apply` accepts it; the manifest must recover to the same version;
//! then its records are mutated (WAL checksums recomputed by the rewrite) and recovered again:
//! no panic, and any recovered version satisfies its invariants. A first byte of 0xff decodes
//! the remaining bytes as one edit.
//! Run: `cargo +nightly fuzz run manifest_edit` (from `fuzz/`). The proptest twin is
//! `manifest/tests/manifest_fuzz_twin.rs`; both call `strata_manifest::fuzzing::replay_edits`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_manifest::fuzzing::replay_edits(data);
});
