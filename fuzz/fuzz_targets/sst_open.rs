//! Opens arbitrary bytes as a table through an in-memory file and reads all of it.
//! Run: `cargo fuzz run sst_open` (from `fuzz/`). The proptest twin is
//! `sst/tests/sst_fuzz_twin.rs`; both call `strata_sst::fuzzing::open_and_iterate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = strata_sst::fuzzing::open_and_iterate(data);
});
