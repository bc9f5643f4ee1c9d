//! A savepoint taken while writers run holds exactly the state at its sequence number: each
//! writer's keys form a prefix of what it wrote, and the prefixes add up to the sequence.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use savepoint_common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata::{Db, Options, SimFs};
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
