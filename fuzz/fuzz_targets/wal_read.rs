//! Fuzzes the log reader. The first input byte picks either arbitrary bytes read in every
//! recovery mode (no panic, records in bounds, the modes agree as documented), or a log built
//! from the input, then cut and bit-flipped (each mode returns what docs/format/wal.md says).
//! The same checks run in CI as the proptest twin, `wal/tests/log_proptest.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_wal::testing::fuzz_one(data);
});
