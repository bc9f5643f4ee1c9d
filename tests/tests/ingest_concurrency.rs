//! Ingestion racing writes, flushes, compactions, readers and column-family drops from other
//! threads (RocksDB's `MultiThreaded`, `CompactDuringAddFileRandom`,
//! `ConcurrentIngestionAndDropColumnFamily`). Outcomes are checked, not timings: every
//! ingestion's values win over older ones, readers never see a key go back to an older
//! version, and the database matches after reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata::{Db, Error, FileSystem as _, IngestOptions, SstFileWriter};
use strata_tests::fault_fs::{CreateHook, SelectiveFaultFs};
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
/// compaction; an ingestion must not hold anything that compaction waits for (once the
/// compaction lock, now the I/O gate) while it waits for the commit lock. Tight L0 triggers
/// make the stall frequent.
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

/// An external table of `keys` (each value `value`), written on `opts`' file system.
fn table_of(opts: &strata::Options, path: &str, keys: std::ops::Range<u32>, value: &str) -> PathBuf {
    let mut w = SstFileWriter::create(path, opts).unwrap();
    for i in keys {
        w.put(format!("k{i:04}"), value).unwrap();
    }
    w.finish().unwrap();
    PathBuf::from(path)
}

/// Levels >= 1 of every family hold tables whose key ranges do not overlap.
fn assert_levels_disjoint(db: &Db) {
    let mut tables = db.live_files(false).unwrap().tables;
    tables.retain(|t| t.level > 0);
    tables.sort_by(|a, b| (a.cf_id, a.level, &a.meta.smallest).cmp(&(b.cf_id, b.level, &b.meta.smallest)));
    for w in tables.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.cf_id, a.level) == (b.cf_id, b.level) {
            let (a_max, b_min) =
                (strata_base::ikey::user_key(&a.meta.largest), strata_base::ikey::user_key(&b.meta.smallest));
            assert!(a_max < b_min, "L{}: {} and {} overlap", a.level, a.path.display(), b.path.display());
        }
    }
}

/// An ingestion does not wait for a running compaction (neither does RocksDB's): it places its
/// files as if the compaction's outputs were there already. Family `t` holds one table of
/// k0000-k0999 at L2 and two flushed L0 tables, k0000-k0099 and k0200-k0299; their compaction
/// into L1 is held inside the create of its output. A file of k0150-k0160 overlaps no table of
/// L0 or L1 but the L2 one, so by the tables alone it would go to L1, where the compaction's
/// output k0000-k0299 lands a moment later: two overlapping L1 tables. Placed around the
/// compaction it goes to L0 with a sequence number. A file beyond every range still goes to
/// the bottom level with none.
#[test]
fn ingest_beside_a_running_compaction_places_around_it_without_waiting() {
    let sim = strata::SimFs::new();
    let ffs = SelectiveFaultFs::new(sim.arc());
    let opts = strata::Options { fs: Some(ffs.arc()), disable_auto_compactions: true, ..small_options() };
    sim.create_dir_all("/files".as_ref()).unwrap();
    let base = table_of(&opts, "/files/base.sst", 0..1000, "base");
    let gap = table_of(&opts, "/files/gap.sst", 150..161, "ingested");
    let beyond = table_of(&opts, "/files/beyond.sst", 2000..2011, "beyond");
    let db = Arc::new(Db::open("/db", opts.clone()).unwrap());
    let import = [strata::ImportFile { path: base, level: 2, global_seq: 0 }];
    let cf = db.import_column_family("t", &import, &strata::ImportOptions::default()).unwrap();
    for range in [0..100, 200..300] {
        for i in range {
            db.put_cf(&cf, format!("k{i:04}"), "written").unwrap();
        }
        db.flush().unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let other = Arc::clone(&db);
    let cf2 = cf.clone();
    let ingest_now = move || {
        // On the compaction's thread, with its output not yet created: ingest from another
        // thread and give it 30 s (it takes milliseconds unless it waits for this compaction).
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let o = IngestOptions::default();
            let r = (other.ingest_external_files(&cf2, &[&gap], &o), other.ingest_external_files(&cf2, &[&beyond], &o));
            let _ = done_tx.send(r);
        });
        let _ = tx.send(done_rx.recv_timeout(std::time::Duration::from_secs(30)).ok());
    };
    ffs.set_create_hook(Some(CreateHook { suffix: ".sst".into(), run: Box::new(ingest_now) }));
    db.compact_range(&cf, None, None).unwrap();
    let (in_gap, beyond) = rx.recv().unwrap().expect("the ingestion waited for the running compaction");
    let (in_gap, beyond) = (in_gap.unwrap().files[0].clone(), beyond.unwrap().files[0].clone());
    assert_eq!(in_gap.level, 0, "placed above the compaction's output level");
    assert!(in_gap.sequence > 0);
    assert_eq!((beyond.level, beyond.sequence), (strata_tests::NUM_LEVELS - 1, 0));
    let mut want = std::collections::BTreeMap::new();
    for i in 0..1000 {
        let v = match i {
            0..100 | 200..300 => "written",
            150..161 => "ingested",
            _ => "base",
        };
        want.insert(format!("k{i:04}").into_bytes(), v.as_bytes().to_vec());
    }
    for i in 2000..2011 {
        want.insert(format!("k{i:04}").into_bytes(), b"beyond".to_vec());
    }
    let check = |db: &Db| {
        let cf = db.cf("t").unwrap();
        let got = strata_tests::dump_cf(db, &cf, &strata::ReadOptions::default());
        strata_tests::history::assert_maps_eq(&got, &want, "family t");
        for i in [0, 99, 150, 155, 160, 161, 250, 999, 2005] {
            let key = format!("k{i:04}");
            assert_eq!(db.get_cf(&cf, &key).unwrap().as_deref(), want.get(key.as_bytes()).map(Vec::as_slice), "{key}");
        }
        assert_levels_disjoint(db);
    };
    check(&db);
    db.compact_range(&cf, None, None).unwrap();
    check(&db);
    let db = Arc::into_inner(db).expect("the hook ran and released its handle");
    db.close().unwrap();
    check(&Db::open("/db", opts).unwrap());
}

/// Ingestions of sparse files with random ranges while a writer walks the keys between them in
/// order (so flushed tables cover narrow ranges and ingested files often fit below L0) and
/// three background compactions run: every ingestion lands beside whatever compactions run
/// then (debug builds also assert that no compaction is picked into a running one's range).
/// Ingested keys are even, written keys odd, so the final contents are known exactly; levels
/// stay disjoint, and everything holds after a reopen. With the running compactions' ranges
/// left out of the placement, about one run in four poisons the database (two overlapping L1
/// tables); the test above makes that case every time.
#[test]
fn ingestions_with_random_ranges_beside_background_compactions_match_a_model() {
    let sim = strata::SimFs::new();
    let opts = strata::Options { fs: Some(sim.arc()), max_background_compactions: 3, ..small_options() };
    sim.create_dir_all("/files".as_ref()).unwrap();
    let db = Arc::new(Db::open("/db", opts.clone()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut last = std::collections::BTreeMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 2000 {
                let key = format!("k{:04}", (n % 2000) * 2 + 1).into_bytes();
                let value = format!("w{n:0>200}").into_bytes();
                db.put(&key, &value).unwrap();
                last.insert(key, value);
                n += 1;
            }
            last
        })
    };
    let mut rng = strata_tests::history::Rng::new(11);
    let mut want = std::collections::BTreeMap::new();
    for v in 0..400u64 {
        let (start, step, count) = (rng.below(1800) * 2, 2 * (1 + rng.below(8)), 1 + rng.below(150));
        let path = format!("/files/f{v}.sst");
        let mut w = SstFileWriter::create(&path, &opts).unwrap();
        for key in (0..count).map(|i| start + i * step).take_while(|&k| k < 4000) {
            let (key, value) = (format!("k{key:04}").into_bytes(), format!("i{v:0>100}").into_bytes());
            w.put(&key, &value).unwrap();
            want.insert(key, value);
        }
        w.finish().unwrap();
        let o = IngestOptions { move_files: rng.chance(1, 2), ..Default::default() };
        db.ingest_external_files(&db.default_cf(), &[&path], &o).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    want.extend(writer.join().unwrap());
    let check = |db: &Db| {
        strata_tests::history::assert_maps_eq(&strata_tests::dump(db), &want, "after the race");
        assert_levels_disjoint(db);
    };
    check(&db);
    db.wait_for_compactions().unwrap();
    check(&db);
    let db = Arc::into_inner(db).unwrap();
    db.close().unwrap();
    check(&Db::open("/db", opts).unwrap());
}
