//! Ingestion racing writes, flushes, compactions, readers and column-family drops from other
//! threads (RocksDB's `MultiThreaded`, `CompactDuringAddFileRandom`,
//! `ConcurrentIngestionAndDropColumnFamily`). Outcomes are checked, not timings: every
//! ingestion's values win over older ones, readers never see a key go back to an older
//! version, and the database matches after reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata::{Db, Error, IngestOptions, SstFileWriter};
use strata_tests::small_options;

/// Version `v` of keys `b000..b099` (every key, so each file overlaps the previous one).
fn versioned_file(dir: &Path, v: u32) -> PathBuf {
    let path = dir.join(format!("v{v}.sst"));
    let mut w = SstFileWriter::create(&path, &small_options()).unwrap();
    for i in 0..100 {
        w.put(format!("b{i:03}"), format!("{v:06}")).unwrap();
    }
    w.finish().unwrap();
    path
}

#[test]
fn ingest_races_writes_flushes_compactions_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let db = Arc::new(Db::open(dir.path().join("db"), small_options()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // Writer: keys a000..a199, disjoint from the ingested ones, plus overwrites of the
    // ingested keys' neighbours so flushes hold data around them.
    {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                db.put(format!("a{:03}", n % 200), format!("{n}")).unwrap();
                db.put(format!("c{:03}", n % 50), vec![b'x'; 200]).unwrap();
                n += 1;
            }
            n
        }));
    }
    // Flusher and compactor.
    for compact in [false, true] {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if compact {
                    db.compact_range(&db.default_cf(), None, None).unwrap();
                } else {
                    db.flush().unwrap();
                }
                n += 1;
            }
            n
        }));
    }
    // Reader: a key's version never goes backwards.
    {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut last = [0u32; 100];
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (i, seen) in last.iter_mut().enumerate() {
                    if let Some(v) = db.get(format!("b{i:03}")).unwrap() {
                        let v: u32 = std::str::from_utf8(&v).unwrap().parse().unwrap();
                        assert!(v >= *seen, "b{i:03} went back from version {seen} to {v}");
                        *seen = v;
                    }
                    reads += 1;
                }
            }
            reads
        }));
    }
    let versions = 30;
    for v in 1..=versions {
        let f = versioned_file(&files, v);
        let o = IngestOptions { move_files: v % 2 == 0, ..Default::default() };
        db.ingest_external_files(&db.default_cf(), &[&f], &o).unwrap();
        for i in [0, 50, 99] {
            let got = db.get(format!("b{i:03}")).unwrap().unwrap();
            assert_eq!(got, format!("{v:06}").as_bytes(), "right after ingesting version {v}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        assert!(t.join().unwrap() > 0, "every thread did some work");
    }
    let check = |db: &Db| {
        for i in 0..100 {
            assert_eq!(db.get(format!("b{i:03}")).unwrap().unwrap(), format!("{versions:06}").as_bytes());
        }
    };
    check(&db);
    let before = strata_tests::dump(&db);
    drop(db);
    let db = Db::open(dir.path().join("db"), small_options()).unwrap();
    check(&db);
    assert_eq!(strata_tests::dump(&db), before);
}

/// Writers stalled on too many L0 tables hold the commit lock while they wait for a
/// compaction; an ingestion (which also stops compactions while it commits) must not wait for
/// them while holding the compaction lock. Tight L0 triggers make the stall frequent.
#[test]
fn ingest_with_writers_stalled_on_l0_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let opts = strata::Options {
        level0_compaction_trigger: 2,
        level0_slowdown_writes_trigger: 2,
        level0_stop_writes_trigger: 3,
        write_buffer_size: 8 * 1024,
        ..small_options()
    };
    let db = Arc::new(Db::open(dir.path().join("db"), opts).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    db.put(format!("w{t}-{:04}", n % 3000), vec![b'v'; 300]).unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    for v in 1..=20 {
        let f = versioned_file(&files, v);
        db.ingest_external_files(&db.default_cf(), &[&f], &IngestOptions::default()).unwrap();
        assert_eq!(db.get("b042").unwrap().unwrap(), format!("{v:06}").as_bytes());
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn ingest_racing_a_column_family_drop_is_all_or_nothing() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path().join("db"), small_options()).unwrap());
        let cf = db.create_cf("victim").unwrap();
        let path = dir.path().join("f.sst");
        let mut w = SstFileWriter::for_cf(&db, &cf, &path).unwrap();
        for i in 0..200 {
            w.put(format!("k{i:03}"), "v").unwrap();
        }
        w.finish().unwrap();
        let dropper = {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                if round % 2 == 0 {
                    std::thread::yield_now();
                }
                db.drop_cf("victim").unwrap();
            })
        };
        match db.ingest_external_files(&cf, &[&path], &IngestOptions::default()) {
            Ok(_) | Err(Error::InvalidArgument(_)) => {}
            Err(e) => panic!("round {round}: {e}"),
        }
        dropper.join().unwrap();
        assert!(db.cf("victim").is_none());
        assert!(path.exists(), "round {round}: copy mode never touches the source");
        drop(db);
        let db = Db::open(dir.path().join("db"), small_options()).unwrap();
        assert!(db.cf("victim").is_none());
        db.put("x", "y").unwrap();
        let tables = std::fs::read_dir(dir.path().join("db"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".sst"))
            .count();
        assert_eq!(tables, 0, "round {round}: the dropped family's tables are deleted");
    }
}
