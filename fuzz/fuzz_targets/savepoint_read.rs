//! Structure-aware fuzzing of the savepoint reader: the input is a recipe (families, options,
//! chunk size, sorted entries) for a savepoint that must read back exactly as written; the rest
//! mutates its records (bytes, lengths, types, order) and re-lays the file with every checksum
//! recomputed, so the header, index and chunk decoders see the damage. A first byte of 0xff
//! reads the remaining bytes as they are.
//! Run: `cargo +nightly fuzz run savepoint_read` (from `fuzz/`). The proptest twin is
//! `tests/tests/savepoint_fuzz_twin.rs`; both call
//! `strata_checkpoint::savepoint::fuzzing::build_and_mutate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_checkpoint::savepoint::fuzzing::build_and_mutate(data);
});
