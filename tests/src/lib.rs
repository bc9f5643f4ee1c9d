//! Helpers shared by Strata's cross-crate tests (the tests themselves are in `tests/tests/`).

#![allow(clippy::expect_used, reason = "test support: a failed expectation is the calling test failing")]

pub mod fault_fs;
pub mod history;
pub mod s3_server;
pub mod stress;

use std::collections::BTreeMap;
use strata::{Db, ReadOptions};

/// Every `(key, value)` of the default column family, by forward iteration.
pub fn dump(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    dump_cf(db, &db.default_cf(), &ReadOptions::default())
}

/// Every `(key, value)` of `cf` as `opts` sees it, by forward iteration; panics on an
/// iterator error (tests only).
pub fn dump_cf(db: &Db, cf: &strata::ColumnFamily, opts: &ReadOptions<'_>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut it = db.iter_cf(cf, opts).expect("iterator");
    it.seek_to_first();
    let mut out = BTreeMap::new();
    while it.valid() {
        out.insert(it.key().to_vec(), it.value().to_vec());
        it.next();
    }
    it.status().expect("iterator status");
    out
}

/// The same, by backward iteration (must agree with [`dump_cf`]).
pub fn dump_cf_backward(db: &Db, cf: &strata::ColumnFamily, opts: &ReadOptions<'_>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut it = db.iter_cf(cf, opts).expect("iterator");
    it.seek_to_last();
    let mut out = BTreeMap::new();
    while it.valid() {
        out.insert(it.key().to_vec(), it.value().to_vec());
        it.prev();
    }
    it.status().expect("iterator status");
    out
}

/// Every entry of a table as `(user key, kind, value)`, by forward iteration from the first
/// (the iterator's status checked at the end).
pub fn table_contents(t: &std::sync::Arc<strata_sst::Table>) -> Vec<(Vec<u8>, strata_sst::EntryKind, Vec<u8>)> {
    let mut it = t.iter();
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.kind(), it.value().to_vec()));
        it.next();
    }
    it.status().expect("table iterator status");
    out
}

/// Where a fixture generator (an `#[ignore]`d test run by hand) writes: `$STRATA_FIXTURES_OUT`,
/// or `target/<default_name>`. It must not exist yet: a generator never overwrites fixtures.
pub fn new_fixtures_dir(default_name: &str) -> std::path::PathBuf {
    let out = std::env::var_os("STRATA_FIXTURES_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target").join(default_name));
    assert!(!out.exists(), "{} exists: the generator never overwrites fixtures", out.display());
    out
}

/// Options that make flushes and compactions happen with little data.
pub fn small_options() -> strata::Options {
    strata::Options {
        write_buffer_size: 16 * 1024,
        target_file_size: 16 * 1024,
        max_bytes_for_level_base: 64 * 1024,
        level0_compaction_trigger: 2,
        block_size: 512,
        block_cache_capacity: 1 << 20,
        ..Default::default()
    }
}

/// Number of levels `strata.num-files-at-level<N>` is asked about (the manifest's `NUM_LEVELS`).
pub const NUM_LEVELS: usize = 7;

/// Table files per level of the default column family, from `strata.num-files-at-level<N>`.
pub fn level_file_counts(db: &Db) -> Vec<usize> {
    (0..NUM_LEVELS)
        .map(|l| {
            db.property(&format!("strata.num-files-at-level{l}"))
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("strata.num-files-at-level{l} is missing or not a number"))
        })
        .collect()
}
