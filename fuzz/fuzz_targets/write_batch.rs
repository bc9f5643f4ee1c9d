//! Structure-aware fuzzing of the write-batch decoder: the input is a recipe (base sequence,
//! puts and deletes across column families) for a batch that must decode to itself, then
//! mutations of its encoding, which must decode to a batch that re-encodes to the same bytes or
//! be refused. A first byte of 0xff decodes the remaining bytes as they are.
//! Run: `cargo +nightly fuzz run write_batch` (from `fuzz/`). The proptest twin is in
//! `tests/tests/fuzz_twins.rs`; both call `strata::fuzzing::batch_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata::fuzzing::batch_decode(data);
});
