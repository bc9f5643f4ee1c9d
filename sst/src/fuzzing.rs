//! The body of the `sst_open` fuzz target, shared with its proptest twin so both run the same
//! code: open arbitrary bytes as a table and read everything a user could read.
//!
//! Invariants: never panics, whatever the input; every loop is bounded.
//!
//! Thread safety: no shared state.

use crate::{Table, TableReadOptions};
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
use strata_base::MemFile;

/// Steps of iteration allowed per direction, so that a huge input cannot make a run slow.
const STEPS_MAX: usize = 100_000;

/// Opens `data` as a table (with data-block checksums on and off) and iterates it fully in both
/// directions, looks up and seeks every key it saw, and verifies checksums. Returns the number
/// of entries seen by the forward scan of the checksummed open, or `None` if it did not open.
pub fn open_and_iterate(data: &[u8]) -> Option<usize> {
    let bytes = Bytes::copy_from_slice(data);
    let mut seen = None;
    for verify in [true, false] {
        let ropts = TableReadOptions { verify_checksums: verify, ..TableReadOptions::default() };
        let Ok(t) = Table::open(Arc::new(MemFile::new(bytes.clone())), Path::new("fuzz.sst"), ropts) else {
            continue;
        };
        let mut it = t.iter();
        let mut keys = Vec::new();
        it.seek_to_first();
        while it.valid() && keys.len() < STEPS_MAX {
            keys.push(it.key().to_vec());
            let _ = (it.kind(), it.value().len(), it.value_bytes());
            it.next();
        }
        let _ = it.status();
        it.seek_to_last();
        let mut back = 0;
        while it.valid() && back < STEPS_MAX {
            back += 1;
            it.prev();
        }
        for k in keys.iter().take(64) {
            let _ = t.get(k);
            let _ = t.seek_entry(k);
            it.seek(k);
            it.seek_for_prev(k);
            let _ = t.may_contain(k);
        }
        let _ = t.verify_checksums();
        let _ = t.properties();
        if verify {
            seen = Some(keys.len());
        }
    }
    seen
}
