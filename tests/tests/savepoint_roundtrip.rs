//! Savepoint round trips: restored under every combination of changed table options, the
//! contents equal the source at the savepoint's sequence (writes after it are absent); families
//! renamed or left out; argument errors; cancellation leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use savepoint_common::*;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata::{Compression, Error, FileSystem, Options, SimFs};
use strata_checkpoint::{RestoreMethod, Savepoint, SavepointOptions, SavepointRestoreOptions};

#[test]
fn restore_under_every_option_combination_equals_the_state_at_the_sequence() {
    let sim = SimFs::new();
    let db = source(&sim, 1500);
    let snap = db.snapshot();
    let want = state(&db, Some(&snap));
    assert!(want["default"].len() > 1000 && want["meta"].len() > 500);
    // Written after the snapshot: must not be in the savepoint.
    fill(&db, 300, 9);
    db.put(b"zz-after", b"late").unwrap();
    let opts = SavepointOptions { snapshot: Some(&snap), chunk_bytes: Some(4096), ..Default::default() };
    let info = Savepoint::create(&db, "/sp", &opts).unwrap();
    assert_eq!(info.sequence, snap.sequence());
    assert!(info.chunks > 4, "several chunks: {}", info.chunks);
    let verified = Savepoint::verify_with(sim.arc(), "/sp").unwrap();
    assert_eq!(verified.families, info.families);
    for (name, fam) in want.iter() {
        let f = info.families.iter().find(|f| &f.name == name).unwrap();
        assert_eq!(f.entries, fam.len() as u64, "{name}");
    }
    assert!(info.source_options.iter().any(|(k, v)| k == "block_size" && v == "512"));
    let mut n = 0;
    for method in [RestoreMethod::Tables, RestoreMethod::Writes] {
        for block_size in [256usize, 16 << 10] {
            for compression in [Compression::None, Compression::Zstd { level: 3 }] {
                for bloom_bits_per_key in [0u32, 14] {
                    for target_file_size in [8u64 << 10, 64 << 20] {
                        let target = format!("/restored-{n}");
                        n += 1;
                        let o = Options {
                            fs: Some(sim.arc()),
                            block_size,
                            compression,
                            bloom_bits_per_key,
                            target_file_size,
                            write_buffer_size: 32 << 10,
                            ..Default::default()
                        };
                        // Both methods under every combination.
                        let ctx = format!("{method:?} {o:?}");
                        let ro = SavepointRestoreOptions { method, ..Default::default() };
                        let r = Savepoint::restore("/sp", &target, &o, &ro).expect(&ctx);
                        assert_eq!(r.sequence, snap.sequence());
                        assert_eq!(r.entries, want.values().map(|m| m.len() as u64).sum::<u64>(), "{ctx}");
                        assert!(state_at(sim.arc(), &target) == want, "contents differ under {ctx}");
                    }
                }
            }
        }
    }
    // The savepoint itself is untouched by restores.
    assert_eq!(Savepoint::verify_with(sim.arc(), "/sp").unwrap().file_bytes, info.file_bytes);
}

#[test]
fn families_can_be_renamed_or_left_out() {
    let sim = SimFs::new();
    let db = source(&sim, 400);
    let want = state(&db, None);
    Savepoint::create(&db, "/sp", &SavepointOptions::default()).unwrap();
    let o = Options { fs: Some(sim.arc()), ..Default::default() };
    let ro = SavepointRestoreOptions {
        column_families: Some(vec![("meta".into(), "default".into()), ("default".into(), "old".into())]),
        ..Default::default()
    };
    Savepoint::restore("/sp", "/swapped", &o, &ro).unwrap();
    let got = state_at(sim.arc(), "/swapped");
    assert_eq!(got.keys().collect::<Vec<_>>(), ["default", "old"]);
    assert!(got["default"] == want["meta"] && got["old"] == want["default"]);
    let ro =
        SavepointRestoreOptions { column_families: Some(vec![("meta".into(), "meta".into())]), ..Default::default() };
    Savepoint::restore("/sp", "/only-meta", &o, &ro).unwrap();
    let got = state_at(sim.arc(), "/only-meta");
    assert!(got["default"].is_empty() && got["meta"] == want["meta"]);
    // Only the chosen families are saved.
    let so = SavepointOptions { column_families: Some(vec!["meta".into()]), ..Default::default() };
    let info = Savepoint::create(&db, "/sp-meta", &so).unwrap();
    assert_eq!(info.families.len(), 1);
    Savepoint::restore("/sp-meta", "/from-meta", &o, &SavepointRestoreOptions::default()).unwrap();
    assert_eq!(state_at(sim.arc(), "/from-meta")["meta"], want["meta"]);
}

#[test]
fn argument_errors_are_named() {
    let sim = SimFs::new();
    let db = source(&sim, 50);
    Savepoint::create(&db, "/sp", &SavepointOptions::default()).unwrap();
    assert!(matches!(Savepoint::create(&db, "/sp", &SavepointOptions::default()), Err(Error::AlreadyExists(_))));
    assert!(matches!(
        Savepoint::create(&db, "/db/inside", &SavepointOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    let so = SavepointOptions { column_families: Some(vec!["nope".into()]), ..Default::default() };
    assert!(matches!(Savepoint::create(&db, "/sp2", &so), Err(Error::ColumnFamilyNotFound(_))));
    let so = SavepointOptions { chunk_bytes: Some(0), ..Default::default() };
    assert!(matches!(Savepoint::create(&db, "/sp3", &so), Err(Error::InvalidArgument(_))));
    assert!(!sim.exists(std::path::Path::new("/sp3")));
    let o = Options { fs: Some(sim.arc()), ..Default::default() };
    let d = SavepointRestoreOptions::default();
    assert!(matches!(Savepoint::restore("/sp", "/db", &o, &d), Err(Error::AlreadyExists(_))));
    assert!(matches!(Savepoint::restore("/missing", "/t", &o, &d), Err(Error::NotFound(_))));
    assert!(matches!(Savepoint::restore("/db", "/t", &o, &d), Err(Error::NotFound(_))));
    let ro = SavepointRestoreOptions { column_families: Some(vec![("x".into(), "y".into())]), ..Default::default() };
    assert!(matches!(Savepoint::restore("/sp", "/t", &o, &ro), Err(Error::ColumnFamilyNotFound(_))));
    assert!(!sim.exists(std::path::Path::new("/t")));
}

#[test]
fn cancelled_create_and_restore_leave_nothing() {
    let sim = SimFs::new();
    let db = source(&sim, 800);
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let cancel_second = Arc::new(move |_: &strata_checkpoint::SavepointProgress| {
        if c.fetch_add(1, Ordering::SeqCst) >= 1 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    let so = SavepointOptions { chunk_bytes: Some(1024), progress: Some(cancel_second.clone()), ..Default::default() };
    assert!(matches!(Savepoint::create(&db, "/sp", &so), Err(Error::Cancelled(_))));
    assert_eq!(sim.list(std::path::Path::new("/")).unwrap(), ["db"], "a cancelled create leaves nothing");
    let so = SavepointOptions { chunk_bytes: Some(1024), ..Default::default() };
    Savepoint::create(&db, "/sp", &so).unwrap();
    calls.store(0, Ordering::SeqCst);
    let o = Options { fs: Some(sim.arc()), ..Default::default() };
    for method in [RestoreMethod::Tables, RestoreMethod::Writes] {
        calls.store(0, Ordering::SeqCst);
        let ro =
            SavepointRestoreOptions { progress: Some(cancel_second.clone()), threads: 2, method, ..Default::default() };
        assert!(matches!(Savepoint::restore("/sp", "/t", &o, &ro), Err(Error::Cancelled(_))), "{method:?}");
        assert_eq!(sim.list(std::path::Path::new("/")).unwrap(), ["db", "sp"], "a cancelled restore leaves nothing");
    }
    // Progress is reported per chunk, up to the total.
    let last = Arc::new(parking_lot_free::Last::default());
    let l = Arc::clone(&last);
    let ro = SavepointRestoreOptions {
        progress: Some(Arc::new(move |p: &strata_checkpoint::SavepointProgress| {
            l.set(p.chunks_done, p.chunks_total);
            ControlFlow::Continue(())
        })),
        ..Default::default()
    };
    let r = Savepoint::restore("/sp", "/t", &o, &ro).unwrap();
    let (done, total) = last.get();
    assert!(total > 1 && done == total && r.chunks_read == total, "{done}/{total}");
}

#[test]
fn tables_built_by_a_restore_form_a_live_database() {
    let sim = SimFs::new();
    let db = source(&sim, 3000);
    let mut want = state(&db, None);
    Savepoint::create(&db, "/sp", &SavepointOptions { chunk_bytes: Some(4096), ..Default::default() }).unwrap();
    let o = Options { fs: Some(sim.arc()), target_file_size: 32 << 10, ..strata_tests::small_options() };
    let ro = SavepointRestoreOptions { threads: 3, ..Default::default() };
    Savepoint::restore("/sp", "/t", &o, &ro).unwrap();
    let t = strata::Db::open("/t", o.clone()).unwrap();
    // Straight to the bottom level, several tables, nothing in L0 (no memtable, no flush).
    let levels = strata_tests::level_file_counts(&t);
    assert!(levels[0] == 0 && levels[6] > 3, "levels {levels:?}");
    assert!(state(&t, None) == want);
    // The restored tables take part in writes, flushes and compactions like any others.
    let meta = t.cf("meta").unwrap();
    for i in (0..3000).step_by(3) {
        t.put(key(i), b"new").unwrap();
        want.get_mut("default").unwrap().insert(key(i), b"new".to_vec());
        t.delete_cf(&meta, key(i)).unwrap();
        want.get_mut("meta").unwrap().remove(&key(i));
    }
    t.flush().unwrap();
    t.compact_range(&t.default_cf(), None, None).unwrap();
    t.compact_range(&meta, None, None).unwrap();
    assert!(state(&t, None) == want);
    drop(t);
    let t = strata::Db::open("/t", o).unwrap();
    assert!(state(&t, None) == want);
    assert!(t.sequence() > 0);
}

#[test]
fn a_moved_savepoint_restores_from_its_new_place() {
    let sim = SimFs::new();
    let db = source(&sim, 300);
    let want = state(&db, None);
    Savepoint::create(&db, "/sp", &SavepointOptions::default()).unwrap();
    drop(db);
    // Relocatable: no path inside, so renaming the directory or copying its one file works.
    sim.create_dir_all(std::path::Path::new("/elsewhere")).unwrap();
    sim.rename(std::path::Path::new("/sp"), std::path::Path::new("/elsewhere/moved")).unwrap();
    sim.create_dir_all(std::path::Path::new("/copy")).unwrap();
    let from = std::path::Path::new("/elsewhere/moved/SAVEPOINT");
    strata_base::fs::copy_file(&sim, from, std::path::Path::new("/copy/SAVEPOINT")).unwrap();
    sim.remove_dir_all(std::path::Path::new("/db")).unwrap();
    // `error_if_exists` is about the target, which a restore always creates: no conflict.
    let o = Options { fs: Some(sim.arc()), error_if_exists: true, ..Default::default() };
    for (dir, target) in [("/elsewhere/moved", "/t1"), ("/copy", "/t2")] {
        Savepoint::restore(dir, target, &o, &SavepointRestoreOptions::default()).unwrap();
        assert!(state_at(sim.arc(), target) == want, "{dir}");
    }
}

#[test]
fn savepoint_and_restored_database_survive_a_crash() {
    let sim = SimFs::new();
    let db = source(&sim, 600);
    let want = state(&db, None);
    Savepoint::create(&db, "/sp", &SavepointOptions { chunk_bytes: Some(2048), ..Default::default() }).unwrap();
    let o = Options { fs: Some(sim.arc()), write_buffer_size: 16 << 10, ..Default::default() };
    Savepoint::restore("/sp", "/t", &o, &SavepointRestoreOptions { threads: 3, ..Default::default() }).unwrap();
    drop(db);
    // Only synced bytes and directory entries survive.
    sim.crash();
    Savepoint::verify_with(sim.arc(), "/sp").unwrap();
    assert!(state_at(sim.arc(), "/t") == want);
}

/// A tiny holder for the last progress seen (no extra dependency).
mod parking_lot_free {
    use std::sync::Mutex;
    #[derive(Default)]
    pub struct Last(Mutex<(u64, u64)>);
    impl Last {
        pub fn set(&self, done: u64, total: u64) {
            let mut g = self.0.lock().unwrap();
            g.0 = g.0.max(done);
            g.1 = total;
        }
        pub fn get(&self) -> (u64, u64) {
            *self.0.lock().unwrap()
        }
    }
}
