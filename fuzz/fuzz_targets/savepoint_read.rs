//! Opens arbitrary bytes as a savepoint file, verifies it and reads every chunk.
//! Run: `cargo fuzz run savepoint_read` (from `fuzz/`). The proptest twin is
//! `tests/tests/savepoint_fuzz_twin.rs`; both call `strata_checkpoint::savepoint::fuzzing::read_all`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = strata_checkpoint::savepoint::fuzzing::read_all(data);
});
