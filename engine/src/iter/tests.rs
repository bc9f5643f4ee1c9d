//! Model tests: `MergingIterator` and `DbIter` over inputs split randomly across several
//! `VecIter`s and a `MemTable`, against a `BTreeMap` of versions.

use super::{DbIter, InternalIterator, MergingIterator, VecIter, compare_ikey};
use crate::memtable::MemTable;
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_base::ikey::{self, SEQ_MAX, ValueKind};

/// One version: user key, sequence, value (`None` = tombstone), and which input holds it.
#[derive(Debug, Clone)]
struct Version {
    key: Vec<u8>,
    seq: u64,
    value: Option<Vec<u8>>,
    input: usize,
}

#[derive(Debug, Clone)]
enum Op {
    First,
    Last,
    Seek(Vec<u8>),
    SeekForPrev(Vec<u8>),
    Next,
    Prev,
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', b'd']), 0..3)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::First),
        1 => Just(Op::Last),
        2 => user_key().prop_map(Op::Seek),
        2 => user_key().prop_map(Op::SeekForPrev),
        4 => Just(Op::Next),
        4 => Just(Op::Prev),
    ]
}

/// Versions with unique sequence numbers `1..=n`, in random order, spread over `inputs` inputs.
fn versions(inputs: usize) -> impl Strategy<Value = Vec<Version>> {
    prop::collection::vec(
        (user_key(), prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..4)), 0..inputs),
        0..50,
    )
    .prop_flat_map(|raw| {
        let n = raw.len();
        (Just(raw), Just((1..=n as u64).collect::<Vec<_>>()).prop_shuffle())
    })
    .prop_map(|(raw, seqs)| {
        raw.into_iter().zip(seqs).map(|((key, value, input), seq)| Version { key, seq, value, input }).collect()
    })
}

fn ikey_of(v: &Version) -> Vec<u8> {
    let kind = if v.value.is_some() { ValueKind::Put } else { ValueKind::Delete };
    ikey::encode(&v.key, v.seq, kind)
}

/// Builds the merged input: inputs `0..inputs-1` are `VecIter`s, the last is a `MemTable`.
fn merged(vs: &[Version], inputs: usize) -> MergingIterator {
    let mem = Arc::new(MemTable::new());
    let mut vecs: Vec<Vec<(Vec<u8>, Bytes)>> = vec![Vec::new(); inputs - 1];
    for v in vs {
        let value = v.value.clone().unwrap_or_default();
        if v.input == inputs - 1 {
            let kind = if v.value.is_some() { ValueKind::Put } else { ValueKind::Delete };
            mem.add(v.seq, kind, &v.key, &value);
        } else {
            vecs[v.input].push((ikey_of(v), Bytes::from(value)));
        }
    }
    let mut children: Vec<Box<dyn InternalIterator>> =
        vecs.into_iter().map(|e| Box::new(VecIter::new(e)) as Box<dyn InternalIterator>).collect();
    children.push(Box::new(mem.iter()));
    MergingIterator::new(children)
}

/// The user-visible state at `read_seq` within bounds.
fn visible(
    vs: &[Version],
    read_seq: u64,
    lower: &Option<Vec<u8>>,
    upper: &Option<Vec<u8>>,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut newest: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    for v in vs.iter().filter(|v| v.seq <= read_seq) {
        let e = newest.entry(v.key.clone()).or_insert((0, None));
        if v.seq >= e.0 {
            *e = (v.seq, v.value.clone());
        }
    }
    newest
        .into_iter()
        .filter(|(k, _)| lower.as_ref().is_none_or(|l| k >= l) && upper.as_ref().is_none_or(|u| k < u))
        .filter_map(|(k, (_, v))| v.map(|v| (k, v)))
        .collect()
}

fn check_db_iter(
    vs: &[Version],
    inputs: usize,
    read_seq: u64,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let model = visible(vs, read_seq, &lower, &upper);
    let mut it = DbIter::new(Box::new(merged(vs, inputs)), read_seq, lower, upper);
    let mut cur: Option<Vec<u8>> = None;
    for op in ops {
        cur = match op {
            Op::First => {
                it.seek_to_first();
                model.keys().next().cloned()
            }
            Op::Last => {
                it.seek_to_last();
                model.keys().next_back().cloned()
            }
            Op::Seek(t) => {
                it.seek(t);
                model.range(t.clone()..).next().map(|e| e.0.clone())
            }
            Op::SeekForPrev(t) => {
                it.seek_for_prev(t);
                model.range(..=t.clone()).next_back().map(|e| e.0.clone())
            }
            Op::Next => {
                it.next();
                cur.and_then(|c| {
                    model.range((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded)).next().map(|e| e.0.clone())
                })
            }
            Op::Prev => {
                it.prev();
                cur.and_then(|c| model.range(..c).next_back().map(|e| e.0.clone()))
            }
        };
        prop_assert_eq!(it.valid(), cur.is_some(), "after {:?}", op);
        if let Some(k) = &cur {
            prop_assert_eq!(it.key(), k.as_slice(), "after {:?}", op);
            prop_assert_eq!(it.value(), model[k].as_slice(), "after {:?}", op);
            let vb = it.value_bytes();
            prop_assert_eq!(vb.as_ref(), model[k].as_slice());
        }
        prop_assert!(it.status().is_ok());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merging_iterator_matches_sorted_model(
        (inputs, vs, ops, seqs) in (1usize..5).prop_flat_map(|n| (
            Just(n),
            versions(n),
            prop::collection::vec(op(), 1..40),
            prop::collection::vec(0u64..60, 40),
        ))
    ) {
        let mut all: Vec<Vec<u8>> = vs.iter().map(ikey_of).collect();
        all.sort_by(|a, b| compare_ikey(a, b));
        let mut it = merged(&vs, inputs);
        let mut pos: Option<usize> = None;
        for (op, seq) in ops.iter().zip(&seqs) {
            // Seek targets carry a sequence number too, to land between versions.
            let target = |k: &Vec<u8>| ikey::encode(k, *seq, ValueKind::Put);
            pos = match op {
                Op::First => { it.seek_to_first(); (!all.is_empty()).then_some(0) }
                Op::Last => { it.seek_to_last(); all.len().checked_sub(1) }
                Op::Seek(k) => {
                    let t = target(k);
                    it.seek(&t);
                    let i = all.partition_point(|e| compare_ikey(e, &t).is_lt());
                    (i < all.len()).then_some(i)
                }
                Op::SeekForPrev(k) => {
                    let t = target(k);
                    it.seek_for_prev(&t);
                    all.partition_point(|e| compare_ikey(e, &t).is_le()).checked_sub(1)
                }
                Op::Next => { it.next(); pos.map(|p| p + 1).filter(|&p| p < all.len()) }
                Op::Prev => { it.prev(); pos.and_then(|p| p.checked_sub(1)) }
            };
            prop_assert_eq!(it.valid(), pos.is_some(), "after {:?}", op);
            if let Some(p) = pos {
                prop_assert_eq!(it.key(), all[p].as_slice(), "after {:?}", op);
            }
        }
        prop_assert!(it.status().is_ok());
    }

    #[test]
    fn db_iter_matches_versioned_model(
        (inputs, vs, ops) in (1usize..5).prop_flat_map(|n| (Just(n), versions(n), prop::collection::vec(op(), 1..40))),
        read_seq in prop_oneof![0u64..55, Just(SEQ_MAX)],
        lower in prop::option::of(user_key()),
        upper in prop::option::of(user_key()),
    ) {
        check_db_iter(&vs, inputs, read_seq, lower, upper, &ops)?;
    }
}

#[test]
fn db_iter_hides_newer_deleted_and_shadowed() {
    let e = |k: &[u8], s, kind, v: &'static [u8]| (ikey::encode(k, s, kind), Bytes::from_static(v));
    let inner = VecIter::new(vec![
        e(b"a", 1, ValueKind::Put, b"a1"),
        e(b"a", 5, ValueKind::Put, b"a5"),
        e(b"b", 2, ValueKind::Put, b"b2"),
        e(b"b", 3, ValueKind::Delete, b""),
        e(b"c", 9, ValueKind::Put, b"c9"),
    ]);
    let mut it = DbIter::new(Box::new(inner.clone()), 4, None, None);
    it.seek_to_first();
    assert_eq!((it.key(), it.value()), (&b"a"[..], &b"a1"[..]));
    it.next();
    assert!(!it.valid(), "b is deleted at 3 and c is newer than 4");
    let mut it = DbIter::new(Box::new(inner), 9, None, None);
    it.seek_to_last();
    assert_eq!((it.key(), it.value()), (&b"c"[..], &b"c9"[..]));
    it.prev();
    assert_eq!((it.key(), it.value()), (&b"a"[..], &b"a5"[..]));
    it.next();
    assert_eq!(it.key(), b"c");
}

#[test]
fn child_error_surfaces_in_status() {
    let entries: Vec<_> =
        (0..10u8).map(|i| (ikey::encode(&[i], u64::from(i) + 1, ValueKind::Put), Bytes::from(vec![i]))).collect();
    let good = VecIter::new(entries[..5].to_vec());
    let bad = VecIter::new(entries[5..].to_vec()).fail_at(2);
    let mut m = MergingIterator::new(vec![Box::new(good), Box::new(bad)]);
    m.seek_to_first();
    let mut seen = 0;
    while m.valid() {
        seen += 1;
        m.next();
    }
    assert!(seen < 10, "iteration stops at the failure");
    assert!(m.status().is_err());

    let good = VecIter::new(entries[..5].to_vec());
    let bad = VecIter::new(entries[5..].to_vec()).fail_at(4);
    let mut it = DbIter::new(Box::new(MergingIterator::new(vec![Box::new(good), Box::new(bad)])), SEQ_MAX, None, None);
    it.seek_to_last();
    assert!(!it.valid(), "the last entry cannot be read");
    assert!(it.status().is_err());
}

/// A malformed internal key read from a table is reported naming the table and the offset of
/// the data block it came from (it used to say "(iterator)" at offset 0).
#[test]
fn malformed_key_from_a_table_names_the_table_and_block() {
    use strata_base::{BytewiseComparator, FileSystem, SimFs};
    use strata_sst::{Table, TableBuilder, TableOptions, TableReadOptions};
    let fs = SimFs::new();
    fs.create_dir_all(std::path::Path::new("/d")).expect("dir");
    let path = std::path::Path::new("/d/000009.sst");
    // Keys shorter than an internal key's 8-byte trailer: checksums pass, parsing fails.
    let mut b = TableBuilder::create(fs.arc(), path, TableOptions { block_size: 64, ..TableOptions::default() })
        .expect("builder");
    for k in [b"ab", b"cd", b"ef"] {
        b.add(k, ValueKind::Put, &[7u8; 40]).expect("add");
    }
    b.finish().expect("finish");
    let read =
        TableReadOptions { comparator: Arc::new(BytewiseComparator), cache: None, cache_id: 9, verify_checksums: true };
    let table = Table::open_path(&fs, path, read).expect("open");
    let mut it = DbIter::new(Box::new(table.iter()), SEQ_MAX, None, None);
    it.seek_to_last();
    assert!(!it.valid());
    match it.status() {
        Err(crate::Error::Corruption { file, offset, reason }) => {
            assert_eq!(file, path, "{reason}");
            assert!(offset > 0, "the last entry's block is not the first one (offset {offset})");
            assert!(reason.contains("malformed internal key"), "{reason}");
        }
        other => panic!("expected corruption naming the table, got {other:?}"),
    }
}
