//! A savepoint taken while writers run holds exactly the state at its sequence number: each
//! writer's keys form a prefix of what it wrote, and the prefixes add up to the sequence.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use savepoint_common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata::{Db, FileSystem as _, Options, SimFs};
use strata_checkpoint::{Savepoint, SavepointOptions, SavepointRestoreOptions};

const WRITERS: u64 = 3;

fn wkey(w: u64, i: u64) -> Vec<u8> {
    format!("w{w}-{i:08}").into_bytes()
}

#[test]
fn savepoint_under_writers_is_the_state_at_its_sequence() {
    let sim = SimFs::new();
    let db = Arc::new(Db::open("/db", source_options(sim.arc())).unwrap());
    let base = db.sequence();
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u64;
                // Each put is one sequence number; at least some writes before and after.
                while !stop.load(Ordering::Relaxed) || i < 3000 {
                    db.put(wkey(w, i), format!("value-{i}")).unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    while db.sequence() < base + 1500 {
        std::thread::yield_now();
    }
    let mut infos = Vec::new();
    for n in 0..3 {
        let so = SavepointOptions { chunk_bytes: Some(4096), ..Default::default() };
        infos.push(Savepoint::create(&db, format!("/sp{n}"), &so).unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let written: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (n, info) in infos.iter().enumerate() {
        let target = format!("/r{n}");
        let o = Options { fs: Some(sim.arc()), ..Default::default() };
        Savepoint::restore(format!("/sp{n}"), &target, &o, &SavepointRestoreOptions::default()).unwrap();
        let got = state_at(sim.arc(), &target);
        let mut total = 0;
        for w in 0..WRITERS {
            let mine: Vec<&Vec<u8>> =
                got["default"].keys().filter(|k| k.starts_with(format!("w{w}-").as_bytes())).collect();
            let count = mine.len() as u64;
            assert!(count <= written[w as usize]);
            for (i, k) in mine.iter().enumerate() {
                assert_eq!(**k, wkey(w, i as u64), "savepoint {n}: writer {w}'s keys are not a prefix");
                assert_eq!(got["default"][*k], format!("value-{i}").into_bytes());
            }
            total += count;
        }
        assert_eq!(total, info.sequence - base, "savepoint {n}: entries do not match its sequence");
    }
}

/// A family dropped while a savepoint of every family is written is still in it, whole at the
/// savepoint's snapshot: the savepoint pins every family before it reads any (found by
/// `strata-stress`, 2026-12-02: a repository round dropped its imported family while thread 2
/// wrote a savepoint, which failed with "column family not found").
#[test]
fn a_family_dropped_during_a_savepoint_is_in_it_whole() {
    let sim = SimFs::new();
    let db = Arc::new(Db::open("/db", source_options(sim.arc())).unwrap());
    fill(&db, 3000, 1);
    let doomed = db.create_cf("doomed").unwrap();
    for i in 0..500 {
        db.put_cf(&doomed, key(i), format!("doomed-{i}")).unwrap();
    }
    db.flush().unwrap();
    for i in 500..600 {
        db.put_cf(&doomed, key(i), format!("doomed-{i}")).unwrap();
    }
    let want = state(&db, None);
    assert!(want.contains_key("doomed"));
    let dropped = Arc::new(AtomicBool::new(false));
    let (other, flag) = (Arc::clone(&db), Arc::clone(&dropped));
    let progress = move |_: &strata_checkpoint::SavepointProgress| {
        // At the first finished chunk, which belongs to the first family (`default`).
        if !flag.swap(true, Ordering::Relaxed) {
            other.drop_cf("doomed").unwrap();
        }
        std::ops::ControlFlow::Continue(())
    };
    let so = SavepointOptions { chunk_bytes: Some(4096), progress: Some(Arc::new(progress)), ..Default::default() };
    Savepoint::create(&db, "/sp", &so).unwrap();
    assert!(dropped.load(Ordering::Relaxed) && db.cf("doomed").is_none());
    let o = Options { fs: Some(sim.arc()), ..Default::default() };
    Savepoint::restore("/sp", "/restored", &o, &SavepointRestoreOptions::default()).unwrap();
    assert_eq!(state_at(sim.arc(), "/restored"), want);
    // Named explicitly, a family that is gone is an error, and nothing is left.
    let so = SavepointOptions { column_families: Some(vec!["default".into(), "doomed".into()]), ..Default::default() };
    let err = Savepoint::create(&db, "/sp2", &so).unwrap_err();
    assert!(matches!(err, strata::Error::ColumnFamilyNotFound(_)), "{err}");
    assert!(!sim.exists("/sp2".as_ref()));
}
