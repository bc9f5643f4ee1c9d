//! Model test: random histories of puts, deletes, flushes and compactions over two families,
//! with savepoints taken at random points (some through a held snapshot, after which more
//! writes land), each restored under random options, chunk sizes, thread counts, key ranges and
//! family renames, must equal a `BTreeMap` model of the state at the savepoint's sequence.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use proptest::prelude::*;
use savepoint_common::*;
use std::collections::BTreeMap;
use strata::{Compression, Db, Options, SimFs};
use strata_checkpoint::{KeyRange, RestoreMethod, Savepoint, SavepointOptions, SavepointRestoreOptions};

#[derive(Debug, Clone)]
enum Op {
    Put {
        meta: bool,
        k: u8,
        v: u16,
    },
    Delete {
        meta: bool,
        k: u8,
    },
    Flush,
    Compact,
    /// A savepoint now, or through a snapshot taken now with `later` writes landing before
    /// the savepoint is written.
    Savepoint {
        chunk: u16,
        via_snapshot: bool,
        later: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), any::<u8>(), any::<u16>()).prop_map(|(meta, k, v)| Op::Put { meta, k, v }),
        3 => (any::<bool>(), any::<u8>()).prop_map(|(meta, k)| Op::Delete { meta, k }),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => (16u16..600, any::<bool>(), 0u8..20).prop_map(|(chunk, via_snapshot, later)| Op::Savepoint { chunk, via_snapshot, later }),
    ]
}

fn k(b: u8) -> Vec<u8> {
    vec![b'k', b / 16, b]
}

#[derive(Debug, Clone)]
struct Restore {
    block_size: usize,
    zstd: bool,
    threads: usize,
    range: (Option<u8>, Option<u8>),
    rename: bool,
    tables: bool,
}

fn restore_strategy() -> impl Strategy<Value = Restore> {
    let shape = (prop_oneof![Just(128usize), Just(4096)], any::<bool>(), 1usize..4);
    (shape, any::<(Option<u8>, Option<u8>)>(), any::<bool>(), any::<bool>()).prop_map(
        |((block_size, zstd, threads), range, rename, tables)| Restore {
            block_size,
            zstd,
            threads,
            range,
            rename,
            tables,
        },
    )
}

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

fn apply(db: &Db, model: &mut Model, op: &Op) {
    match op {
        Op::Put { meta, k: key, v } => {
            let (name, val) = (if *meta { "meta" } else { "default" }, format!("v{v}").into_bytes());
            db.put_cf(&db.cf(name).unwrap(), k(*key), &val).unwrap();
            model.get_mut(name).unwrap().insert(k(*key), val);
        }
        Op::Delete { meta, k: key } => {
            let name = if *meta { "meta" } else { "default" };
            db.delete_cf(&db.cf(name).unwrap(), k(*key)).unwrap();
            model.get_mut(name).unwrap().remove(&k(*key));
        }
        Op::Flush => db.flush().unwrap(),
        Op::Compact => db.compact_range(&db.default_cf(), None, None).unwrap(),
        Op::Savepoint { .. } => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn restored_savepoints_equal_the_model(
        ops in prop::collection::vec(op(), 1..120),
        restores in prop::collection::vec(restore_strategy(), 4),
    ) {
        let sim = SimFs::new();
        let db = Db::open("/db", source_options(sim.arc())).unwrap();
        db.create_cf("meta").unwrap();
        let mut model: Model = [("default".to_string(), BTreeMap::new()), ("meta".to_string(), BTreeMap::new())].into();
        let mut saved: Vec<(String, Model)> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            apply(&db, &mut model, o);
            if let Op::Savepoint { chunk, via_snapshot, later } = o {
                let dir = format!("/sp{i}");
                let so = |s| SavepointOptions { chunk_bytes: Some(*chunk as usize), snapshot: s, ..Default::default() };
                if *via_snapshot {
                    let snap = db.snapshot();
                    let at = model.clone();
                    for j in 0..*later {
                        apply(&db, &mut model, &Op::Put { meta: j % 2 == 0, k: j.wrapping_mul(37), v: 60000 + u16::from(j) });
                    }
                    Savepoint::create(&db, &dir, &so(Some(&snap))).unwrap();
                    saved.push((dir, at));
                } else {
                    Savepoint::create(&db, &dir, &so(None)).unwrap();
                    saved.push((dir, model.clone()));
                }
            }
        }
        for (n, (dir, at)) in saved.iter().enumerate() {
            let r = &restores[n % restores.len()];
            let compression = if r.zstd { Compression::Zstd { level: 1 } } else { Compression::None };
            let o = Options { fs: Some(sim.arc()), block_size: r.block_size, compression, write_buffer_size: 8 << 10, target_file_size: 2 << 10, ..Default::default() };
            let (lo, hi) = (r.range.0.map(k), r.range.1.map(k));
            let range = KeyRange { start: lo, end: hi };
            let families = r.rename.then(|| vec![("default".to_string(), "d2".to_string()), ("meta".to_string(), "default".to_string())]);
            let method = if r.tables { RestoreMethod::Tables } else { RestoreMethod::Writes };
            let ro = SavepointRestoreOptions { key_range: Some(range.clone()), threads: r.threads, column_families: families, method, ..Default::default() };
            let target = format!("{dir}-restored");
            Savepoint::restore(dir, &target, &o, &ro).unwrap();
            let got = state_at(sim.arc(), &target);
            let filter = |m: &BTreeMap<Vec<u8>, Vec<u8>>| -> BTreeMap<Vec<u8>, Vec<u8>> {
                m.iter().filter(|(key, _)| range.contains(key)).map(|(a, b)| (a.clone(), b.clone())).collect()
            };
            let want: Model = if r.rename {
                [("d2".to_string(), filter(&at["default"])), ("default".to_string(), filter(&at["meta"]))].into()
            } else {
                at.iter().map(|(f, m)| (f.clone(), filter(m))).collect()
            };
            prop_assert_eq!(got, want, "savepoint {} restored with {:?}", dir, r);
        }
    }
}
