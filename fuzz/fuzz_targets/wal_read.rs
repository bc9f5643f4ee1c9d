//! Fuzzes the log reader. The first input byte picks arbitrary bytes read in every
//! recovery mode (no panic, records in bounds, the modes agree as documented), a log built
//! from the input, then cut and bit-flipped (each mode returns what docs/format/wal.md says),
//! or (first byte % 4 == 3) a log built from a recipe, checked to read back, then mutated
//! (fragment types, lengths, payloads, zeroed headers, cuts) with the fragment checksums
//! recomputed so the reassembly logic sees the damage.
//! The same checks run in CI as the proptest twin, `wal/tests/log_proptest.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_wal::testing::fuzz_one(data);
});
