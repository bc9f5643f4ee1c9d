//! The table iterator agrees with a `BTreeMap` for random sequences of seek, seek_for_prev,
//! next, prev and seek_to_first/last, under random options.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use proptest::prelude::*;
use strata_sst::{Compression, EntryKind, TableOptions, TableReadOptions};

#[derive(Debug, Clone)]
enum Op {
    First,
    Last,
    Seek(Vec<u8>),
    SeekForPrev(Vec<u8>),
    Next,
    Prev,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..4, 0..6)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::First),
        1 => Just(Op::Last),
        2 => key().prop_map(Op::Seek),
        2 => key().prop_map(Op::SeekForPrev),
        4 => Just(Op::Next),
        4 => Just(Op::Prev),
    ]
}

/// The model's answer: an index into the sorted entries, or None (invalid).
fn apply(keys: &[Vec<u8>], pos: Option<usize>, op: &Op) -> Option<usize> {
    match op {
        Op::First => (!keys.is_empty()).then_some(0),
        Op::Last => keys.len().checked_sub(1),
        Op::Seek(t) => {
            let i = keys.partition_point(|k| k < t);
            (i < keys.len()).then_some(i)
        }
        Op::SeekForPrev(t) => keys.partition_point(|k| k <= t).checked_sub(1),
        Op::Next => pos.and_then(|p| (p + 1 < keys.len()).then_some(p + 1)),
        Op::Prev => pos.and_then(|p| p.checked_sub(1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn iterator_matches_btreemap(
        m in prop::collection::btree_map(key(), (any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)), 1..200),
        block_size in prop::sample::select(vec![1usize, 48, 256, 4096]),
        restart_interval in 1usize..6,
        zstd in any::<bool>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let m: Model = m.into_iter()
            .map(|(k, (put, v))| (k, (if put { EntryKind::Put } else { EntryKind::Delete }, v)))
            .collect();
        let compression = if zstd { Compression::Zstd { level: 1 } } else { Compression::None };
        let opts = TableOptions { block_size, restart_interval, compression, ..TableOptions::default() };
        let (bytes, _) = build(&m, opts);
        let t = open(bytes, TableReadOptions::default()).unwrap();
        let keys: Vec<Vec<u8>> = m.keys().cloned().collect();
        let mut it = t.iter();
        let mut pos = None;
        for op in &ops {
            match op {
                Op::First => it.seek_to_first(),
                Op::Last => it.seek_to_last(),
                Op::Seek(k) => it.seek(k),
                Op::SeekForPrev(k) => it.seek_for_prev(k),
                Op::Next => it.next(),
                Op::Prev => it.prev(),
            }
            pos = apply(&keys, pos, op);
            prop_assert!(it.status().is_ok());
            prop_assert_eq!(it.valid(), pos.is_some(), "after {:?}", op);
            if let Some(p) = pos {
                let (kind, v) = &m[&keys[p]];
                prop_assert_eq!(it.key(), keys[p].as_slice(), "after {:?}", op);
                prop_assert_eq!(it.kind(), *kind);
                prop_assert_eq!(it.value(), v.as_slice());
                prop_assert_eq!(it.value_bytes().to_vec(), v.clone());
            }
        }
    }
}

#[test]
fn iterator_is_send_and_static() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let (bytes, _) = build(&sample_model(10, 4), TableOptions::default());
    let t = open(bytes, TableReadOptions::default()).unwrap();
    let it = t.iter();
    drop(t);
    assert_send_static(&it);
    let h = std::thread::spawn(move || {
        let mut it = it;
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next();
        }
        n
    });
    assert_eq!(h.join().unwrap(), 10);
}

#[test]
fn unpositioned_iterator_is_invalid_and_empty() {
    let (bytes, _) = build(&sample_model(3, 4), TableOptions::default());
    let t = open(bytes, TableReadOptions::default()).unwrap();
    let mut it = t.iter();
    assert!(!it.valid());
    assert_eq!(it.key(), b"");
    it.next();
    it.prev();
    assert!(!it.valid());
    assert!(it.status().is_ok());
}
