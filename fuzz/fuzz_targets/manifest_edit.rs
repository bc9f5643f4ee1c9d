//! Fuzzes the version-edit decoder: arbitrary bytes must never panic, and whatever decodes must
//! re-encode to an edit that decodes to the same value. Proptest twin:
//! `manifest/tests/edit_decode.rs`.
#![no_main]

use strata_manifest::VersionEdit;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(edit) = VersionEdit::decode_from(data) {
        let again = VersionEdit::decode_from(&edit.encode());
        assert_eq!(again.as_ref(), Ok(&edit), "re-encoded edit does not decode to itself");
    }
});
