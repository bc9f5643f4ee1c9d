//! Rescaling: one savepoint split across N databases by key range. The shards' union is the
//! whole and their pairwise intersections are empty, for boundaries on, between and outside
//! keys and on chunk boundaries; a narrow shard reads only the chunks that meet its range.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use savepoint_common::*;
use std::collections::BTreeMap;
use std::path::Path;
use strata::{Options, SimFs};
use strata_checkpoint::savepoint::SavepointReader;
use strata_checkpoint::{KeyRange, Savepoint, SavepointOptions, SavepointRestoreOptions};

/// Restores `[bounds[i], bounds[i+1])` for each i (`None` = open end) and checks the shards.
fn split_and_check(sim: &SimFs, want: &State, bounds: &[Option<Vec<u8>>], tag: &str) {
    let o = Options { fs: Some(sim.arc()), ..Default::default() };
    let mut shards = Vec::new();
    for (i, w) in bounds.windows(2).enumerate() {
        let target = format!("/{tag}-shard-{i}");
        let range = KeyRange { start: w[0].clone(), end: w[1].clone() };
        let ro = SavepointRestoreOptions { key_range: Some(range.clone()), threads: 1 + i % 3, ..Default::default() };
        let r = Savepoint::restore("/sp", &target, &o, &ro).unwrap();
        let got = state_at(sim.arc(), &target);
        assert_eq!(r.entries, got.values().map(|m| m.len() as u64).sum::<u64>(), "{tag} shard {i}");
        for (fam, m) in &got {
            assert!(m.keys().all(|k| range.contains(k)), "{tag} shard {i} {fam}: a key outside its range");
        }
        shards.push(got);
    }
    for fam in want.keys() {
        let mut union = BTreeMap::new();
        for (i, s) in shards.iter().enumerate() {
            for (k, v) in &s[fam] {
                assert!(
                    union.insert(k.clone(), v.clone()).is_none(),
                    "{tag}: {fam} key {k:?} in two shards (one is {i})"
                );
            }
        }
        assert!(union == want[fam], "{tag}: the shards of {fam} do not add up to the whole");
    }
}

#[test]
fn shards_partition_the_savepoint() {
    let sim = SimFs::new();
    let db = source(&sim, 2000);
    let want = state(&db, None);
    Savepoint::create(&db, "/sp", &SavepointOptions { chunk_bytes: Some(2048), ..Default::default() }).unwrap();
    // Boundaries on keys, between keys (a suffix), before all and after all.
    for n in [1u64, 2, 3, 5, 8] {
        let mut bounds = vec![None];
        for i in 1..n {
            let mut b = key(i * 2000 / n);
            if i % 2 == 0 {
                b.push(b'~');
            }
            bounds.push(Some(b));
        }
        bounds.push(None);
        split_and_check(&sim, &want, &bounds, &format!("n{n}"));
    }
    let odd = [None, Some(b"a".to_vec()), Some(key(1000)), Some(b"zzz".to_vec()), None];
    split_and_check(&sim, &want, &odd, "outside");
    // On chunk boundaries exactly.
    let r = SavepointReader::open(sim.arc(), Path::new("/sp")).unwrap();
    let firsts: Vec<Vec<u8>> = r.index().chunks.iter().filter(|c| c.family == 0).map(|c| c.first_key.clone()).collect();
    assert!(firsts.len() > 8);
    let mut bounds = vec![None];
    bounds.extend(firsts.iter().skip(1).step_by(3).cloned().map(Some));
    bounds.push(None);
    split_and_check(&sim, &want, &bounds, "chunks");
}

#[test]
fn a_narrow_range_reads_only_its_chunks() {
    let sim = SimFs::new();
    let db = source(&sim, 2000);
    let info =
        Savepoint::create(&db, "/sp", &SavepointOptions { chunk_bytes: Some(1024), ..Default::default() }).unwrap();
    let o = Options { fs: Some(sim.arc()), ..Default::default() };
    let range = KeyRange { start: Some(key(500)), end: Some(key(520)) };
    let ro = SavepointRestoreOptions { key_range: Some(range), ..Default::default() };
    let r = Savepoint::restore("/sp", "/narrow", &o, &ro).unwrap();
    assert!(r.chunks_read <= 4 && info.chunks > 40, "read {} of {} chunks", r.chunks_read, info.chunks);
    let got = state_at(sim.arc(), "/narrow");
    let want = state(&db, None);
    let expect: BTreeMap<_, _> =
        want["default"].range(key(500)..key(520)).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(got["default"] == expect && !expect.is_empty());
}
