//! Random batches across several column families, reopened from the WAL alone (nothing was
//! flushed before the reopen), compared with a model. Batches are atomic: after a torn WAL tail
//! each batch is entirely present or entirely absent.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use proptest::prelude::*;
use std::collections::BTreeMap;
use strata::{Db, Options, ReadOptions, WriteBatch, WriteOptions};
use strata_tests::dump_cf;

#[derive(Debug, Clone)]
enum Op {
    Put(usize, u8, Vec<u8>),
    Delete(usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..3, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(c, k, v)| Op::Put(c, k % 32, v)),
        1 => (0usize..3, any::<u8>()).prop_map(|(c, k)| Op::Delete(c, k % 32)),
    ]
}

type Model = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

fn key(k: u8) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

fn apply(model: &mut Model, batch: &[Op]) {
    for op in batch {
        match op {
            Op::Put(c, k, v) => {
                model[*c].insert(key(*k), v.clone());
            }
            Op::Delete(c, k) => {
                model[*c].remove(&key(*k));
            }
        }
    }
}

fn open(dir: &std::path::Path) -> Db {
    // A large write buffer: nothing is flushed before the reopen, so the WAL is the only copy.
    Db::open(dir, Options { write_buffer_size: 64 << 20, ..Default::default() }).unwrap()
}

fn check(db: &Db, model: &Model) {
    let cfs = [db.default_cf(), db.cf("one").unwrap(), db.cf("two").unwrap()];
    for (c, cf) in cfs.iter().enumerate() {
        assert_eq!(dump_cf(db, cf, &ReadOptions::default()), model[c], "column family {c}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reopen_from_wal_matches_model(batches in proptest::collection::vec(proptest::collection::vec(op(), 1..8), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db");
        let mut model: Model = vec![BTreeMap::new(); 3];
        {
            let db = open(&dir);
            let cfs = [db.default_cf(), db.create_cf("one").unwrap(), db.create_cf("two").unwrap()];
            for (i, ops) in batches.iter().enumerate() {
                let mut b = WriteBatch::new();
                for op in ops {
                    match op {
                        Op::Put(c, k, v) => b.put_cf(&cfs[*c], key(*k), v),
                        Op::Delete(c, k) => b.delete_cf(&cfs[*c], key(*k)),
                    }
                }
                db.write(b, &WriteOptions { sync: i % 5 == 0, ..Default::default() }).unwrap();
                apply(&mut model, ops);
            }
            let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            prop_assert!(!files.iter().any(|f| f.ends_with(".sst")), "nothing was flushed: {files:?}");
        }
        let db = open(&dir);
        check(&db, &model);
        drop(db);
        // Reopen again (now from the tables the first reopen flushed).
        let db = open(&dir);
        check(&db, &model);
    }

    #[test]
    fn torn_wal_tail_leaves_whole_batches(batches in proptest::collection::vec(proptest::collection::vec(op(), 1..6), 2..20), cut in 1usize..200) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db");
        let mut models: Vec<Model> = vec![vec![BTreeMap::new(); 3]];
        {
            let db = open(&dir);
            let cfs = [db.default_cf(), db.create_cf("one").unwrap(), db.create_cf("two").unwrap()];
            for ops in &batches {
                let mut b = WriteBatch::new();
                for op in ops {
                    match op {
                        Op::Put(c, k, v) => b.put_cf(&cfs[*c], key(*k), v),
                        Op::Delete(c, k) => b.delete_cf(&cfs[*c], key(*k)),
                    }
                }
                db.write(b, &WriteOptions::default()).unwrap();
                let mut next = models.last().unwrap().clone();
                apply(&mut next, ops);
                models.push(next);
            }
        }
        // Tear the newest WAL: drop its last `cut` bytes (at most all but its first byte).
        let mut logs: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "log")).collect();
        logs.sort();
        let wal = logs.last().unwrap();
        let len = std::fs::metadata(wal).unwrap().len();
        let keep = len.saturating_sub(cut as u64).max(1);
        std::fs::OpenOptions::new().write(true).open(wal).unwrap().set_len(keep).unwrap();
        let db = open(&dir);
        let cfs = [db.default_cf(), db.cf("one").unwrap(), db.cf("two").unwrap()];
        let got: Model = cfs.iter().map(|cf| dump_cf(&db, cf, &ReadOptions::default())).collect();
        prop_assert!(models.contains(&got), "the recovered state is not the state after any whole prefix of batches");
    }
}
