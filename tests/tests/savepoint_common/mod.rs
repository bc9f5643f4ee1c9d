//! Helpers shared by the `savepoint_*` tests: a source database with two families, overwrites
//! and deletes spread over tables and memtables, and dumps of every family.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::BTreeMap;
use std::sync::Arc;
use strata::{Db, FileSystem, Options, ReadOptions, SimFs, Snapshot, WriteBatch, WriteOptions};
use strata_tests::dump_cf;

/// Family name -> its contents.
pub type State = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Small buffers and tables, so the source spans memtables, L0 and deeper levels.
pub fn source_options(fs: Arc<dyn FileSystem>) -> Options {
    Options { fs: Some(fs), ..strata_tests::small_options() }
}

pub fn key(i: u64) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

/// Writes `n` keys to `default` and `n / 2` to `meta` (with overwrites and deletes), flushing
/// part-way so data sits in tables and in the memtable.
pub fn fill(db: &Db, n: u64, salt: u64) {
    let meta = db.cf("meta").unwrap_or_else(|| db.create_cf("meta").expect("create meta"));
    for round in 0..2u64 {
        let mut batch = WriteBatch::new();
        for i in 0..n {
            let v = format!("v{salt}-{round}-{i}-{}", "x".repeat((i % 40) as usize));
            batch.put(key(i), v.as_bytes());
            if i % 2 == 0 {
                batch.put_cf(&meta, key(i), format!("m{round}-{i}").as_bytes());
            }
            if round == 1 && i % 7 == 0 {
                batch.delete(key(i));
            }
            if batch.len() >= 200 {
                db.write(std::mem::take(&mut batch), &WriteOptions::default()).expect("write");
            }
        }
        db.write(batch, &WriteOptions::default()).expect("write");
        if round == 0 {
            db.flush().expect("flush");
        }
    }
}

/// A source database on `sim` at `/db` with `n` keys.
pub fn source(sim: &SimFs, n: u64) -> Db {
    let db = Db::open("/db", source_options(sim.arc())).expect("open source");
    fill(&db, n, 0);
    db
}

/// Every family of `db` as `snap` (or now) sees it.
pub fn state(db: &Db, snap: Option<&Snapshot>) -> State {
    let opts = ReadOptions { snapshot: snap, ..Default::default() };
    db.cf_names()
        .into_iter()
        .map(|n| {
            let cf = db.cf(&n).expect("family listed");
            (n, dump_cf(db, &cf, &opts))
        })
        .collect()
}

/// Opens `path` on `fs` read-only and dumps it.
pub fn state_at(fs: Arc<dyn FileSystem>, path: &str) -> State {
    let db = Db::open_read_only(path, Options { fs: Some(fs), ..Default::default() }).expect("open restored");
    state(&db, None)
}

/// The `(file, offset)` of a `Corruption`, or a panic naming what came instead.
pub fn corruption(r: strata::Result<impl std::fmt::Debug>, ctx: &str) -> (std::path::PathBuf, u64) {
    match r {
        Err(strata::Error::Corruption { file, offset, .. }) => (file, offset),
        other => panic!("{ctx}: expected Corruption, got {other:?}"),
    }
}
