//! Structure-aware fuzzing of the table reader: the input is a recipe (options, comparator,
//! sorted entries, deletes, sequence numbers, user properties) for a valid table, which must
//! read back exactly as written; the rest of the input overwrites bytes of its data, index,
//! filter and properties blocks or footer with the checksums recomputed, so the decoders see
//! the mutated bytes, and the result is opened, iterated both ways, looked up and verified.
//! A first byte of 0xff opens the remaining bytes as they are.
//! Run: `cargo +nightly fuzz run sst_open` (from `fuzz/`). The proptest twin is
//! `sst/tests/sst_fuzz_twin.rs`; both call `strata_sst::fuzzing::build_and_mutate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_sst::fuzzing::build_and_mutate(data);
});
