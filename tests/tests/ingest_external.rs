//! `Db::ingest_external_files(_multi)` and `Db::import_column_family`, mirroring RocksDB's
//! external_sst_file tests (names in the comments): placement, sequence numbers, snapshots,
//! memtable overlap, move and link, and every error case leaving the database unchanged, no
//! stray file and the sources untouched.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata::{Db, Error, ImportFile, ImportOptions, IngestOptions, IngestSpec, Options, ReadOptions, SstFileWriter};
use strata_base::RealFs;
use strata_tests::{dump, dump_cf, level_file_counts};

/// Writes an external file at `dir/name` with `entries` (`None`: a delete), sorted by key.
fn sst(dir: &Path, name: &str, entries: &[(&str, Option<&str>)]) -> PathBuf {
    let path = dir.join(name);
    let mut sorted = entries.to_vec();
    sorted.sort();
    let mut w = SstFileWriter::create(&path, &Options::default()).unwrap();
    for (k, v) in sorted {
        match v {
            Some(v) => w.put(k, v).unwrap(),
            None => w.delete(k).unwrap(),
        }
    }
    w.finish().unwrap();
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn get(db: &Db, k: &str) -> Option<String> {
    db.get(k).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap())
}

struct Fixture {
    _dir: tempfile::TempDir,
    db_path: PathBuf,
    files: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    Fixture { db_path, files, _dir: dir }
}

fn opts() -> Options {
    Options { disable_auto_compactions: true, ..Default::default() }
}

/// RocksDB `Basic`: an empty database; the file lands at the bottom level with sequence 0.
#[test]
fn ingest_into_empty_family_lands_at_the_bottom_with_sequence_zero() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let f = sst(&fx.files, "a.sst", &[("a", Some("1")), ("b", Some("2")), ("c", None)]);
    let r = db.ingest_external_files(&db.default_cf(), &[&f], &IngestOptions::default()).unwrap();
    assert_eq!(r.files.len(), 1);
    assert_eq!((r.files[0].level, r.files[0].sequence), (6, 0));
    assert_eq!(db.sequence(), 0, "no sequence number was used");
    assert_eq!(level_file_counts(&db), vec![0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(get(&db, "a").as_deref(), Some("1"));
    assert_eq!(get(&db, "c"), None);
    assert!(f.exists(), "copy by default: the source stays");
    // Writes after the ingestion shadow it.
    db.put("a", "new").unwrap();
    assert_eq!(get(&db, "a").as_deref(), Some("new"));
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    assert_eq!(get(&db, "a").as_deref(), Some("new"));
    assert_eq!(get(&db, "b").as_deref(), Some("2"));
}

/// RocksDB `IngestFileWithGlobalSeqnoPickedSeqno` and `IngestFileAfterDBPut`: a file that
/// overlaps data takes exactly `last + 1`; one that does not keeps 0.
#[test]
fn ingest_over_existing_keys_takes_exactly_last_plus_one_per_file() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    for k in ["a", "b", "c"] {
        db.put(k, "old").unwrap();
    }
    db.flush().unwrap();
    assert_eq!(db.sequence(), 3);
    let f1 = sst(&fx.files, "1.sst", &[("b", Some("f1"))]);
    let r = db.ingest_external_files(&db.default_cf(), &[&f1], &IngestOptions::default()).unwrap();
    assert_eq!(r.files[0].sequence, 4);
    assert_eq!(db.sequence(), 4);
    assert_eq!(get(&db, "b").as_deref(), Some("f1"));
    // Two files, each overlapping data: one number each, in input order.
    let f2 = sst(&fx.files, "2.sst", &[("a", Some("f2"))]);
    let f3 = sst(&fx.files, "3.sst", &[("c", Some("f3"))]);
    let r = db.ingest_external_files(&db.default_cf(), &[&f2, &f3], &IngestOptions::default()).unwrap();
    assert_eq!(r.files.iter().map(|f| f.sequence).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(db.sequence(), 6);
    // Disjoint from everything: sequence 0, bottom level, the counter unchanged.
    let f4 = sst(&fx.files, "4.sst", &[("x", Some("f4"))]);
    let r = db.ingest_external_files(&db.default_cf(), &[&f4], &IngestOptions::default()).unwrap();
    assert_eq!((r.files[0].level, r.files[0].sequence), (6, 0));
    assert_eq!(db.sequence(), 6);
    // A write takes the next number after the ingested ones.
    db.put("b", "after").unwrap();
    assert_eq!(db.sequence(), 7);
    let want: BTreeMap<Vec<u8>, Vec<u8>> = [("a", "f2"), ("b", "after"), ("c", "f3"), ("x", "f4")]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(dump(&db), want);
    // Everything survives reopen and a full compaction (which applies the global sequence
    // numbers to the entries it rewrites).
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    assert_eq!(db.sequence(), 7);
    assert_eq!(dump(&db), want);
    db.compact_range(&db.default_cf(), None, None).unwrap();
    assert_eq!(dump(&db), want);
    assert_eq!(get(&db, "b").as_deref(), Some("after"));
}

/// RocksDB `SnapshotInconsistencyBug` and the snapshot half of `...PickedSeqno`.
#[test]
fn a_snapshot_taken_before_ingest_reads_the_old_values() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    db.put("k", "v1").unwrap();
    let snap = db.snapshot();
    let f = sst(&fx.files, "v2.sst", &[("k", Some("v2")), ("z", Some("new"))]);
    let o = IngestOptions { move_files: true, ..Default::default() };
    let r = db.ingest_external_files(&db.default_cf(), &[&f], &o).unwrap();
    assert_eq!(r.files[0].sequence, 2);
    assert!(!f.exists(), "moved");
    let at_snap = ReadOptions { snapshot: Some(&snap), ..Default::default() };
    assert_eq!(db.get_opt(&at_snap, "k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(db.get_opt(&at_snap, "z").unwrap(), None);
    assert_eq!(get(&db, "k").as_deref(), Some("v2"));
    // A file overlapping nothing still takes a number while a snapshot is open, so the
    // snapshot does not see it; without snapshot consistency it keeps 0 and is seen.
    let g = sst(&fx.files, "g.sst", &[("zq", Some("1"))]);
    let r = db.ingest_external_files(&db.default_cf(), &[&g], &IngestOptions::default()).unwrap();
    assert_eq!((r.files[0].level, r.files[0].sequence), (6, 3));
    assert_eq!(db.get_opt(&at_snap, "zq").unwrap(), None);
    let h = sst(&fx.files, "h.sst", &[("zp", Some("1"))]);
    let o = IngestOptions { snapshot_consistency: false, ..Default::default() };
    let r = db.ingest_external_files(&db.default_cf(), &[&h], &o).unwrap();
    assert_eq!(r.files[0].sequence, 0);
    assert_eq!(db.get_opt(&at_snap, "zp").unwrap().as_deref(), Some(&b"1"[..]));
    let mut it = db.iter(&at_snap).unwrap();
    it.seek_to_first();
    let mut keys = Vec::new();
    while it.valid() {
        keys.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    assert_eq!(keys, vec![(b"k".to_vec(), b"v1".to_vec()), (b"zp".to_vec(), b"1".to_vec())]);
}

/// RocksDB `IngestFileWithGlobalSeqnoMemtableFlush` and `FailIfNotBottommostLevelAndDisallowMemtable`.
#[test]
fn memtable_overlap_flushes_or_fails_without_changes() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    db.put("m", "mem").unwrap();
    db.put("other", "x").unwrap();
    let f = sst(&fx.files, "m.sst", &[("m", Some("file"))]);
    let before_files = names(&fx.db_path);
    let bytes = std::fs::read(&f).unwrap();
    let o = IngestOptions { allow_blocking_flush: false, ..Default::default() };
    let e = db.ingest_external_files(&db.default_cf(), &[&f], &o).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("m.sst") && e.to_string().contains("flush"), "{e}");
    assert_eq!(get(&db, "m").as_deref(), Some("mem"));
    assert_eq!(names(&fx.db_path), before_files, "no stray file");
    assert_eq!(std::fs::read(&f).unwrap(), bytes, "source untouched");
    assert_eq!(db.sequence(), 2);
    // With a blocking flush: the memtable goes to L0 first, the file above it.
    let r = db.ingest_external_files(&db.default_cf(), &[&f], &IngestOptions::default()).unwrap();
    assert_eq!(r.files[0].sequence, 3);
    assert_eq!(r.files[0].level, 0, "the flushed table at L0 overlaps it");
    assert_eq!(get(&db, "m").as_deref(), Some("file"));
    assert_eq!(get(&db, "other").as_deref(), Some("x"));
    assert_eq!(level_file_counts(&db)[0], 2);
    // L0 order is by epoch: the newer (ingested) table is read first, after reopen too.
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    assert_eq!(get(&db, "m").as_deref(), Some("file"));
}

/// RocksDB `OverlappingFiles`: five files, two overlaps.
#[test]
fn five_overlapping_files_later_wins_and_levels_as_computed() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let files = vec![
        sst(&fx.files, "1.sst", &[("a", Some("1")), ("i", Some("1"))]),
        sst(&fx.files, "2.sst", &[("i", Some("2")), ("k", Some("2"))]),
        sst(&fx.files, "3.sst", &[("x", Some("3")), ("y", Some("3"))]),
        sst(&fx.files, "4.sst", &[("j", Some("4")), ("k", Some("4"))]),
        sst(&fx.files, "5.sst", &[("w", Some("5")), ("y", Some("5"))]),
    ];
    let o = IngestOptions { allow_global_seqno: false, ..Default::default() };
    let e = db.ingest_external_files(&db.default_cf(), &files, &o).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("2.sst") && e.to_string().contains("1.sst"), "{e}");
    assert!(names(&fx.db_path).iter().all(|n| !n.ends_with(".sst")));
    let r = db.ingest_external_files(&db.default_cf(), &files, &IngestOptions::default()).unwrap();
    assert_eq!(r.files.iter().map(|f| f.level).collect::<Vec<_>>(), vec![6, 5, 5, 4, 4]);
    assert_eq!(r.files.iter().map(|f| f.sequence).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert_eq!(level_file_counts(&db), vec![0, 0, 0, 0, 2, 2, 1]);
    assert_eq!(get(&db, "i").as_deref(), Some("2"));
    assert_eq!(get(&db, "k").as_deref(), Some("4"));
    assert_eq!(get(&db, "y").as_deref(), Some("5"));
    assert_eq!(get(&db, "a").as_deref(), Some("1"));
    db.compact_range(&db.default_cf(), None, None).unwrap();
    assert_eq!(get(&db, "i").as_deref(), Some("2"));
    assert_eq!(get(&db, "y").as_deref(), Some("5"));
}

/// RocksDB `NoCopy` and `LinkFailFallBackExternalSst`.
#[test]
fn move_removes_the_source_on_success_and_keeps_it_on_failure() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let good = sst(&fx.files, "good.sst", &[("a", Some("1"))]);
    let missing = fx.files.join("missing.sst");
    let o = IngestOptions { move_files: true, ..Default::default() };
    let before = names(&fx.db_path);
    let e = db.ingest_external_files(&db.default_cf(), &[&good, &missing], &o).unwrap_err();
    assert!(e.to_string().contains("missing.sst"), "{e}");
    assert!(good.exists(), "kept on failure");
    assert_eq!(names(&fx.db_path), before);
    assert_eq!(get(&db, "a"), None);
    db.ingest_external_files(&db.default_cf(), &[&good], &o).unwrap();
    assert!(!good.exists(), "removed on success");
    assert_eq!(get(&db, "a").as_deref(), Some("1"));
    // Link: the source stays and shares the file with the database.
    let linked = sst(&fx.files, "linked.sst", &[("b", Some("2"))]);
    let o = IngestOptions { link_files: true, ..Default::default() };
    db.ingest_external_files(&db.default_cf(), &[&linked], &o).unwrap();
    assert!(linked.exists());
    assert_eq!(strata_base::FileSystem::link_count(&RealFs::new(), &linked).unwrap(), 2);
    assert_eq!(get(&db, "b").as_deref(), Some("2"));
}

/// Every error of the issue: a clear error naming the file, the database unchanged, no stray
/// file in its directory, sources untouched.
#[test]
fn every_error_leaves_everything_unchanged() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let a = db.create_cf("a").unwrap();
    let b = db.create_cf("b").unwrap();
    db.put("k", "v").unwrap();
    db.flush().unwrap();
    let good = sst(&fx.files, "good.sst", &[("g", Some("1"))]);
    let mut wa = SstFileWriter::for_cf(&db, &a, fx.files.join("for_a.sst")).unwrap();
    wa.put("k", "a").unwrap();
    let for_a = wa.finish().unwrap().path;
    let db_table = fx.db_path.join(names(&fx.db_path).into_iter().find(|n| n.ends_with(".sst")).unwrap());
    let copied_db_table = fx.files.join("from_db.sst");
    std::fs::copy(&db_table, &copied_db_table).unwrap();
    let foreign = fx.files.join("foreign.sst");
    write_foreign(&foreign);
    let dropped = db.create_cf("gone").unwrap();
    db.drop_cf("gone").unwrap();

    let sources = [&good, &for_a, &copied_db_table, &foreign];
    let source_bytes: Vec<Vec<u8>> = sources.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let db_files = names(&fx.db_path);
    let seq = db.sequence();
    let state = (dump(&db), dump_cf(&db, &a, &ReadOptions::default()), dump_cf(&db, &b, &ReadOptions::default()));
    let d = IngestOptions::default();
    let default_cf = db.default_cf();
    let over = sst(&fx.files, "over.sst", &[("k", Some("x"))]);
    let one = |cf, p: &PathBuf| vec![IngestSpec { cf, files: vec![p.clone()] }];
    let cases: Vec<(&str, Vec<IngestSpec<'_>>, IngestOptions, &str)> = vec![
        ("missing file", one(&a, &fx.files.join("nope.sst")), d, "nope.sst"),
        ("non-zero sequence numbers", one(&a, &copied_db_table), d, "from_db.sst"),
        ("comparator mismatch", one(&a, &foreign), d, "foreign.sst"),
        ("family mismatch", one(&b, &for_a), d, "for_a.sst"),
        ("dropped family", one(&dropped, &good), d, "gone"),
        ("empty list", vec![IngestSpec { cf: &a, files: vec![] }], d, "empty"),
        ("no specs", vec![], d, "empty"),
        (
            "same family twice",
            vec![IngestSpec { cf: &a, files: vec![good.clone()] }, IngestSpec { cf: &a, files: vec![good.clone()] }],
            d,
            "twice",
        ),
        ("move and link", one(&a, &good), IngestOptions { move_files: true, link_files: true, ..d }, "move_files"),
        (
            "not bottommost",
            one(&default_cf, &over),
            IngestOptions { fail_if_not_bottommost_level: true, ..d },
            "over.sst",
        ),
        (
            "multi: one bad file fails all",
            vec![IngestSpec { cf: &b, files: vec![good.clone()] }, IngestSpec { cf: &a, files: vec![foreign.clone()] }],
            d,
            "foreign.sst",
        ),
    ];
    for (what, specs, o, needle) in cases {
        let e = db.ingest_external_files_multi(&specs, &o).unwrap_err();
        assert!(e.to_string().contains(needle), "{what}: {e}");
        if what == "not bottommost" {
            assert!(matches!(e, Error::TryAgain(_)), "{what}: {e}");
        }
        if what == "comparator mismatch" || what == "family mismatch" || what == "empty list" {
            assert!(matches!(e, Error::InvalidArgument(_)), "{what}: {e}");
        }
        assert_eq!(names(&fx.db_path), db_files, "{what}: stray file");
        assert_eq!(db.sequence(), seq, "{what}");
        let now = (dump(&db), dump_cf(&db, &a, &ReadOptions::default()), dump_cf(&db, &b, &ReadOptions::default()));
        assert_eq!(now, state, "{what}: data changed");
        for (p, bytes) in sources.iter().zip(&source_bytes) {
            assert_eq!(&std::fs::read(p).unwrap(), bytes, "{what}: source changed");
        }
    }
    // After all that, a good ingestion still works.
    db.ingest_external_files(&a, &[&for_a], &d).unwrap();
    assert_eq!(db.get_cf(&a, "k").unwrap().as_deref(), Some(&b"a"[..]));
}

fn write_foreign(path: &Path) {
    use std::sync::Arc;
    #[derive(Debug)]
    struct Other(strata_base::ikey::InternalKeyComparator);
    impl strata_base::Comparator for Other {
        fn name(&self) -> &str {
            "other.Comparator"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
            self.0.compare(a, b)
        }
        fn filter_key<'a>(&self, key: &'a [u8]) -> &'a [u8] {
            self.0.filter_key(key)
        }
    }
    let icmp = strata_base::ikey::InternalKeyComparator::new(Arc::new(strata_base::BytewiseComparator));
    let opts = strata_sst::TableOptions { comparator: Arc::new(Other(icmp)), ..Default::default() };
    let mut b = strata_sst::TableBuilder::create(RealFs::arc(), path, opts).unwrap();
    b.add(&strata_base::ikey::encode(b"k", 0, strata::EntryKind::Put), strata::EntryKind::Put, b"v").unwrap();
    b.finish().unwrap();
}

/// The seed's workflow: one file per column family, ingested together; all-or-nothing.
#[test]
fn multi_family_ingest_is_one_edit() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let meta = db.create_cf("meta").unwrap();
    let log = db.create_cf("raft_log").unwrap();
    db.put_cf(&meta, "applied", "5").unwrap();
    let mut w = SstFileWriter::for_cf(&db, &meta, fx.files.join("meta.sst")).unwrap();
    w.put("applied", "9").unwrap();
    let p_meta = w.finish().unwrap().path;
    let mut w = SstFileWriter::for_cf(&db, &log, fx.files.join("log.sst")).unwrap();
    for i in 6..=9 {
        w.put(format!("entry{i}"), format!("e{i}")).unwrap();
    }
    let p_log = w.finish().unwrap().path;
    let r = db
        .ingest_external_files_multi(
            &[IngestSpec { cf: &log, files: vec![p_log] }, IngestSpec { cf: &meta, files: vec![p_meta] }],
            &IngestOptions::default(),
        )
        .unwrap();
    assert_eq!(r.files.len(), 2);
    assert_eq!((r.files[0].sequence, r.files[0].level), (0, 6), "raft_log was empty");
    assert_eq!(r.files[1].sequence, 2, "meta overlapped its memtable (flushed first)");
    assert_eq!(db.get_cf(&meta, "applied").unwrap().as_deref(), Some(&b"9"[..]));
    assert_eq!(dump_cf(&db, &log, &ReadOptions::default()).len(), 4);
}

/// RocksDB `CreateColumnFamilyWithImport` (ImportExportedSSTFromAnotherDB): tables keep their
/// sequence numbers and levels; the last sequence number is raised.
#[test]
fn import_column_family_keeps_sequence_numbers() {
    let fx = fixture();
    let src_path = fx.files.join("src");
    let src = Db::open(&src_path, opts()).unwrap();
    for i in 0..50 {
        src.put(format!("k{i:02}"), format!("old{i}")).unwrap();
    }
    src.flush().unwrap();
    for i in 0..10 {
        src.put(format!("k{i:02}"), format!("new{i}")).unwrap();
    }
    src.flush().unwrap();
    let want = dump(&src);
    drop(src);
    let mut tables: Vec<String> = names(&src_path).into_iter().filter(|n| n.ends_with(".sst")).collect();
    tables.sort();
    assert_eq!(tables.len(), 2);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    db.put("x", "1").unwrap();
    // Listed newest first: the import orders L0 by sequence numbers, not input order.
    let files: Vec<ImportFile> =
        tables.iter().rev().map(|t| ImportFile { path: src_path.join(t), level: 0, global_seq: 0 }).collect();
    let cf = db.import_column_family("copy", &files, &ImportOptions::default()).unwrap();
    assert_eq!(db.sequence(), 60);
    assert_eq!(dump_cf(&db, &cf, &ReadOptions::default()), want);
    db.put("y", "2").unwrap();
    assert_eq!(db.sequence(), 61);
    // Errors: the name is taken, no files, overlapping tables in one level >= 1.
    assert!(matches!(
        db.import_column_family("copy", &files, &ImportOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(db.import_column_family("e", &[], &ImportOptions::default()), Err(Error::InvalidArgument(_))));
    let l1: Vec<ImportFile> =
        tables.iter().map(|t| ImportFile { path: src_path.join(t), level: 1, global_seq: 0 }).collect();
    let before = names(&fx.db_path);
    let e = db.import_column_family("bad", &l1, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("overlap"), "{e}");
    assert_eq!(names(&fx.db_path), before);
    assert!(db.cf("bad").is_none());
    // The newer table below the older one would let old values shadow new ones.
    // tables[0] is the older flush (sequence numbers 1..=50), tables[1] the newer (51..=60).
    let at = |levels: [usize; 2]| -> Vec<ImportFile> {
        tables
            .iter()
            .zip(levels)
            .map(|(t, level)| ImportFile { path: src_path.join(t), level, global_seq: 0 })
            .collect()
    };
    let upside_down = at([5, 6]);
    let e = db.import_column_family("bad", &upside_down, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("read first (a lower level)"), "{e}");
    assert!(e.to_string().contains("\"k00\""), "{e}");
    // Two external files (both at sequence 0) overlapping: ambiguous.
    let x = sst(&fx.files, "x.sst", &[("k", Some("1"))]);
    let y = sst(&fx.files, "y.sst", &[("k", Some("2"))]);
    let both = [ImportFile { path: x, level: 0, global_seq: 0 }, ImportFile { path: y, level: 0, global_seq: 0 }];
    let e = db.import_column_family("bad", &both, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("sequence numbers"), "{e}");
    assert_eq!(names(&fx.db_path), before);
    // Right side up (older table deeper) is fine.
    let right = at([6, 5]);
    let cf2 = db.import_column_family("levels", &right, &ImportOptions::default()).unwrap();
    assert_eq!(dump_cf(&db, &cf2, &ReadOptions::default()), want);
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let cf = db.cf("copy").unwrap();
    assert_eq!(dump_cf(&db, &cf, &ReadOptions::default()), want);
    assert_eq!(db.sequence(), 61);
}

/// Found by ingest_model (seed 0x1e57000f): a table flushed from the WAL at open had no epoch,
/// sorted below an ingested L0 table and let its older value shadow a newer delete.
#[test]
fn wal_recovered_table_is_newer_than_an_ingested_one() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    db.put("k", "v1").unwrap();
    db.flush().unwrap();
    let f = sst(&fx.files, "k.sst", &[("k", Some("ingested"))]);
    let r = db.ingest_external_files(&db.default_cf(), &[&f], &IngestOptions::default()).unwrap();
    assert_eq!(r.files[0].level, 0);
    db.delete("k").unwrap();
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    assert_eq!(level_file_counts(&db)[0], 3, "the WAL was flushed to L0 at open");
    assert_eq!(get(&db, "k"), None);
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    assert_eq!(get(&db, "k"), None);
}

/// RocksDB `IngestFileWithBadBlockChecksum` / `IngestFileWithCorruptedDataBlock`: with
/// `verify_checksums_before_ingest` a damaged data block is `Corruption` naming the file, and
/// nothing changes.
#[test]
fn damaged_block_is_refused_with_verification() {
    let fx = fixture();
    let db = Db::open(&fx.db_path, opts()).unwrap();
    db.put("m", "old").unwrap();
    let path = fx.files.join("bad.sst");
    let mut w = SstFileWriter::create(&path, &Options { block_size: 256, ..Default::default() }).unwrap();
    for i in 0..300 {
        w.put(format!("k{i:04}"), format!("value-{i}")).unwrap();
    }
    w.finish().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3000] ^= 0x01; // inside a middle data block
    std::fs::write(&path, &bytes).unwrap();
    let before = names(&fx.db_path);
    let o = IngestOptions { verify_checksums_before_ingest: true, ..Default::default() };
    let e = db.ingest_external_files(&db.default_cf(), &[&path], &o).unwrap_err();
    match &e {
        Error::Corruption { file, .. } => assert_eq!(file, &path),
        other => panic!("{other}"),
    }
    assert_eq!(names(&fx.db_path), before);
    assert_eq!(get(&db, "k0100"), None);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "source untouched");
}

/// `Db::import_column_families`: several families in one manifest edit; any bad family (or a
/// name given twice, or taken) refuses the whole import, leaving no family and no file behind.
#[test]
fn import_column_families_is_all_or_nothing() {
    let fx = fixture();
    let a = sst(&fx.files, "a.sst", &[("a1", Some("1")), ("a2", None)]);
    let b = sst(&fx.files, "b.sst", &[("b1", Some("2"))]);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    db.put("x", "1").unwrap();
    db.flush().unwrap();
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    let before = names(&fx.db_path);
    let fa = [ImportFile { path: a.clone(), level: 6, global_seq: 0 }];
    let fb = [ImportFile { path: b.clone(), level: 6, global_seq: 0 }];
    let missing = [ImportFile { path: fx.files.join("nope.sst"), level: 6, global_seq: 0 }];
    let io = ImportOptions::default();
    for bad in [
        vec![("fa", &fa[..]), ("fa", &fb[..])],
        vec![("fa", &fa[..]), ("default", &fb[..])],
        vec![("fa", &fa[..]), ("fb", &missing[..])],
        vec![("fa", &fa[..]), ("fb", &[][..])],
        vec![],
    ] {
        assert!(db.import_column_families(&bad, &io).is_err(), "{bad:?}");
        assert_eq!(names(&fx.db_path), before);
        assert_eq!(db.cf_names(), ["default"]);
    }
    let cfs = db.import_column_families(&[("fa", &fa[..]), ("fb", &fb[..])], &io).unwrap();
    assert_eq!(cfs.iter().map(|c| c.name()).collect::<Vec<_>>(), ["fa", "fb"]);
    assert_ne!(cfs[0].id(), cfs[1].id());
    drop(db);
    let db = Db::open(&fx.db_path, opts()).unwrap();
    assert_eq!(db.get_cf(&db.cf("fa").unwrap(), "a1").unwrap().unwrap(), &b"1"[..]);
    assert_eq!(db.get_cf(&db.cf("fb").unwrap(), "b1").unwrap().unwrap(), &b"2"[..]);
    assert!(a.exists() && b.exists(), "sources are untouched without move_files");
}
