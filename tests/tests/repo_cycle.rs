//! Snapshot repositories end to end on the real file system: the full cycle (create, list,
//! verify, export, import into a new directory under new names, restore, delete, gc) with
//! contents checked against the source at each snapshot's sequence; incremental sharing;
//! WAL-carried snapshots; damage found by verify and gc; cancel; argument errors.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::BTreeMap;
use std::path::Path;
use strata::{Db, Error, Options, ReadOptions};
use strata_checkpoint::repo::{
    ImportOptions, Problem, Progress, Repository, RestoreOptions, Retention, SnapshotId, SnapshotOptions,
    SnapshotState, VerifyLevel, import_into_new_database,
};
use strata_tests::{dump_cf, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Both column families of `db`.
fn contents(db: &Db) -> (Map, Map) {
    let ro = ReadOptions::default();
    let meta = db.cf("meta").map(|c| dump_cf(db, &c, &ro)).unwrap_or_default();
    (dump_cf(db, &db.default_cf(), &ro), meta)
}

fn fill(db: &Db, from: u32, to: u32, tag: &str) {
    let meta = db.cf("meta").unwrap();
    for i in from..to {
        db.put(format!("k{i:05}"), format!("{tag}-{i}-{}", "v".repeat(60))).unwrap();
        if i % 3 == 0 {
            db.put_cf(&meta, format!("m{i:05}"), format!("{tag}{i}")).unwrap();
        }
    }
}

fn named(name: &str) -> SnapshotOptions {
    SnapshotOptions { name: Some(name.into()), ..Default::default() }
}

fn table_objects(repo: &Path) -> Vec<String> {
    std::fs::read_dir(repo.join("tables")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

fn open_both(dir: &Path) -> (Map, Map) {
    let ro = Db::open_read_only(dir, Options::default()).unwrap();
    let a = contents(&ro);
    drop(ro);
    let rw = Db::open(dir, Options::default()).unwrap();
    assert_eq!(contents(&rw), a, "{} reads the same read-write", dir.display());
    a
}

#[test]
fn full_cycle() {
    let t = tempfile::tempdir().unwrap();
    let (db_dir, repo_dir) = (t.path().join("db"), t.path().join("repo"));
    let db = Db::open(&db_dir, small_options()).unwrap();
    db.create_cf("meta").unwrap();
    fill(&db, 0, 2000, "a");
    let repo = Repository::create(&repo_dir).unwrap();
    assert!(matches!(Repository::create(&repo_dir), Err(Error::AlreadyExists(_))));
    assert!(matches!(Repository::open(t.path().join("nope")), Err(Error::NotFound(_))));
    assert!(matches!(Repository::open(&db_dir), Err(Error::NotFound(_))), "a database is not a repository");

    let s1 = repo.create_snapshot(&db, &named("first")).unwrap();
    let want1 = contents(&db);
    assert_eq!(s1.sequence, db.sequence(), "no writes ran: the snapshot holds everything");
    assert_eq!((s1.id, s1.state, s1.db_id), (SnapshotId(1), SnapshotState::Complete, db.identity()));
    assert_eq!(s1.bytes_added, s1.bytes_total, "the first snapshot stores everything");
    assert_eq!(s1.column_families, vec!["default".to_string(), "meta".to_string()]);

    fill(&db, 1000, 3000, "b");
    for i in (0..500).step_by(7) {
        db.delete(format!("k{i:05}")).unwrap();
    }
    db.compact_range(&db.default_cf(), None, None).unwrap();
    let s2 = repo.create_snapshot(&db, &named("second")).unwrap();
    let want2 = contents(&db);
    assert_eq!(s2.id, SnapshotId(2));
    assert_ne!(want1, want2);

    let list = Repository::open(&repo_dir).unwrap().list().unwrap();
    assert_eq!(
        list.iter().map(|s| (s.id, s.name.clone().unwrap())).collect::<Vec<_>>(),
        vec![(SnapshotId(1), "first".to_string()), (SnapshotId(2), "second".to_string())]
    );
    for s in [&s1, &s2] {
        let report = repo.verify(s.id, VerifyLevel::Checksums).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.files_checked, s.tables);
    }
    assert!(matches!(repo.snapshot(SnapshotId(9)), Err(Error::NotFound(_))));

    // Restore each; contents equal the source's at the snapshot's sequence.
    let r1 = repo.restore(s1.id, t.path().join("r1"), &RestoreOptions::default()).unwrap();
    assert_eq!(open_both(&r1.dir), want1);
    let r1db = Db::open_read_only(&r1.dir, Options::default()).unwrap();
    assert_eq!(
        (r1db.identity(), r1db.parent_identity()),
        (Some(r1.db_id), db.identity()),
        "new identity, parent recorded"
    );
    assert_eq!(r1db.sequence(), s1.sequence);
    drop(r1db);
    let copy = RestoreOptions { copy_files: true, verify_checksums: true, ..Default::default() };
    let r2 = repo.restore(s2.id, t.path().join("r2"), &copy).unwrap();
    assert_eq!(r2.linked_files, 0);
    assert_eq!(open_both(&r2.dir), want2);
    assert!(matches!(repo.restore(s2.id, &r2.dir, &copy), Err(Error::AlreadyExists(_))));

    // Export and import into a new directory under a new column-family name.
    let bundle = t.path().join("bundle");
    let ex = repo.export(s2.id, &bundle).unwrap();
    assert_eq!(ex.files, s2.tables);
    let renamed = ImportOptions { column_families: vec![("meta".into(), "meta_copy".into())], ..Default::default() };
    let imported =
        import_into_new_database(std::sync::Arc::new(strata::RealFs::new()), &bundle, t.path().join("imp"), &renamed)
            .unwrap();
    let idb = Db::open(&imported.dir, Options::default()).unwrap();
    assert_eq!(idb.cf_names(), vec!["default".to_string(), "meta_copy".to_string()]);
    assert_eq!((idb.identity(), idb.parent_identity()), (Some(imported.db_id), db.identity()));
    assert_eq!(dump_cf(&idb, &idb.default_cf(), &ReadOptions::default()), want2.0);
    assert_eq!(dump_cf(&idb, &idb.cf("meta_copy").unwrap(), &ReadOptions::default()), want2.1);
    idb.put("after-import", "x").unwrap();
    drop(idb);
    let bad = ImportOptions { column_families: vec![("nope".into(), "x".into())], ..Default::default() };
    let fs = std::sync::Arc::new(strata::RealFs::new());
    assert!(import_into_new_database(fs.clone(), &bundle, t.path().join("imp2"), &bad).is_err());
    assert!(!t.path().join("imp2").exists());

    // Delete the first; gc keeps what the second needs.
    repo.delete(s1.id).unwrap();
    assert!(matches!(repo.snapshot(s1.id), Err(Error::NotFound(_))));
    let gc = repo.gc().unwrap();
    assert!(gc.damaged.is_empty(), "{gc:?}");
    assert!(repo.verify(s2.id, VerifyLevel::Checksums).unwrap().is_ok());
    assert_eq!(open_both(&repo.restore(s2.id, t.path().join("r2b"), &RestoreOptions::default()).unwrap().dir), want2);
    assert_eq!(table_objects(&repo_dir).len(), s2.tables, "exactly the second snapshot's tables remain");
    // The restored databases and the source are independent of the repository's copies.
    assert_eq!(open_both(&r1.dir), want1);
    let s3 = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    assert_eq!(s3.id, SnapshotId(3), "ids are never reused");
}

#[test]
fn incremental_snapshots_share_tables() {
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), Options { disable_auto_compactions: true, ..small_options() }).unwrap();
    db.create_cf("meta").unwrap();
    let repo_dir = t.path().join("repo");
    let repo = Repository::create(&repo_dir).unwrap();
    fill(&db, 0, 3000, "a");
    let s1 = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    fill(&db, 3000, 3030, "b");
    let s2 = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    let live = db.live_files(false).unwrap();
    let pinned: u64 = live.tables.iter().map(|t| t.meta.size).sum();
    assert_eq!(s2.bytes_total, pinned, "the second snapshot references every live table");
    assert!(s2.bytes_added > 0 && s2.bytes_added * 10 < s1.bytes_total, "second adds only its new tables: {s2:?}");
    let all = table_objects(&repo_dir).len();
    assert!(all < s1.tables + s2.tables, "tables are stored once");
    // Deleting the first keeps everything the second needs.
    repo.delete(s1.id).unwrap();
    repo.gc().unwrap();
    assert_eq!(table_objects(&repo_dir).len(), s2.tables);
    assert!(repo.verify(s2.id, VerifyLevel::Checksums).unwrap().is_ok());
    // A hard-linked source: the repository's copy is the same inode, so its link count is 2.
    let t0 = &live.tables[0];
    assert!(std::fs::metadata(&t0.path).map(|m| std::os::unix::fs::MetadataExt::nlink(&m)).unwrap() >= 2);
}

#[test]
fn unflushed_writes_travel_as_wal_prefixes() {
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), Options::default()).unwrap();
    db.create_cf("meta").unwrap();
    fill(&db, 0, 50, "a");
    let repo = Repository::create(t.path().join("repo")).unwrap();
    let s = repo.create_snapshot(&db, &SnapshotOptions { flush: false, ..Default::default() }).unwrap();
    let want = contents(&db);
    fill(&db, 50, 100, "late");
    assert_eq!(s.tables, 0, "nothing was flushed");
    assert!(s.bytes_total > 0);
    assert!(repo.verify(s.id, VerifyLevel::Checksums).unwrap().is_ok());
    let r = repo.restore(s.id, t.path().join("r"), &RestoreOptions::default()).unwrap();
    assert_eq!(open_both(&r.dir), want, "exactly the pinned prefix of the WAL");
    repo.delete(s.id).unwrap();
    assert!(repo.gc().unwrap().damaged.is_empty());
    assert_eq!(std::fs::read_dir(t.path().join("repo/wals")).unwrap().count(), 0, "private WAL prefixes go with it");
}

#[test]
fn damage_is_found_and_named_never_deleted() {
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), small_options()).unwrap();
    db.create_cf("meta").unwrap();
    fill(&db, 0, 1500, "a");
    let repo_dir = t.path().join("repo");
    let repo = Repository::create(&repo_dir).unwrap();
    // Copies, so damaging the repository's file does not damage the source.
    let s = repo.create_snapshot(&db, &SnapshotOptions { copy_files: true, ..Default::default() }).unwrap();
    let names = table_objects(&repo_dir);
    assert!(names.len() >= 2);
    let victim = repo_dir.join("tables").join(&names[0]);
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();
    assert!(repo.verify(s.id, VerifyLevel::Sizes).unwrap().is_ok(), "sizes alone cannot see a flipped byte");
    let report = repo.verify(s.id, VerifyLevel::Checksums).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].file, victim, "the bad file is named");
    assert!(matches!(report.problems[0].problem, Problem::ChecksumMismatch { .. }));
    let strict = RestoreOptions { verify_checksums: true, ..Default::default() };
    match repo.restore(s.id, t.path().join("r"), &strict) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, victim),
        other => panic!("restore of a damaged snapshot: {other:?}"),
    }
    assert!(!t.path().join("r").exists(), "nothing left behind");
    // A flipped byte in the footer is caught too.
    bytes[mid] ^= 0x40;
    let end = bytes.len() - 3;
    bytes[end] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    assert!(!repo.verify(s.id, VerifyLevel::Checksums).unwrap().is_ok());
    // A missing table: reported by verify and gc, the snapshot is kept.
    std::fs::remove_file(repo_dir.join("tables").join(&names[1])).unwrap();
    let report = repo.verify(s.id, VerifyLevel::Sizes).unwrap();
    assert!(report.problems.iter().any(|p| p.problem == Problem::Missing));
    let gc = repo.gc().unwrap();
    assert_eq!(gc.damaged.len(), 1);
    assert_eq!(gc.damaged[0].0, s.id);
    assert_eq!(repo.snapshot(s.id).unwrap().state, SnapshotState::Complete, "never silently deleted");
    assert!(repo.restore(s.id, t.path().join("r"), &RestoreOptions::default()).is_err());
}

#[test]
fn cancel_leaves_a_failed_snapshot_that_gc_removes() {
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), small_options()).unwrap();
    db.create_cf("meta").unwrap();
    fill(&db, 0, 1500, "a");
    let repo_dir = t.path().join("repo");
    let repo = Repository::create(&repo_dir).unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let progress = Progress::new(move |ev| {
        assert_eq!(ev.operation, "create");
        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 1
    });
    let opts = SnapshotOptions { progress: Some(progress), ..Default::default() };
    assert!(matches!(repo.create_snapshot(&db, &opts), Err(Error::Cancelled(_))));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let list = repo.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, SnapshotState::Failed);
    assert!(matches!(
        repo.restore(list[0].id, t.path().join("r"), &RestoreOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!table_objects(&repo_dir).is_empty());
    let gc = repo.gc().unwrap();
    assert_eq!(gc.forgotten, vec![list[0].id]);
    assert!(repo.list().unwrap().is_empty());
    assert!(table_objects(&repo_dir).is_empty(), "its tables are reclaimed");
    assert_eq!(repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap().id, SnapshotId(2));
}

#[test]
fn retention_is_per_database() {
    let t = tempfile::tempdir().unwrap();
    let repo = Repository::create(t.path().join("repo")).unwrap();
    let a = Db::open(t.path().join("a"), Options::default()).unwrap();
    let b = Db::open(t.path().join("b"), Options::default()).unwrap();
    for i in 0..3 {
        a.put(format!("a{i}"), "x").unwrap();
        repo.create_snapshot(&a, &SnapshotOptions::default()).unwrap();
        b.put(format!("b{i}"), "x").unwrap();
        repo.create_snapshot(&b, &SnapshotOptions::default()).unwrap();
    }
    assert!(matches!(repo.retain(&Retention::default()), Err(Error::InvalidArgument(_))));
    let deleted = repo.retain(&Retention { keep_last: 2, ..Default::default() }).unwrap();
    assert_eq!(deleted, vec![SnapshotId(1), SnapshotId(2)], "the oldest of each database");
    let left: Vec<_> = repo.list().unwrap().into_iter().map(|s| (s.id.0, s.db_id)).collect();
    assert_eq!(left.len(), 4);
    assert_eq!(left.iter().filter(|(_, d)| *d == a.identity()).count(), 2);
}

#[test]
fn bad_arguments_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), Options::default()).unwrap();
    let repo = Repository::create(t.path().join("repo")).unwrap();
    let cf = SnapshotOptions { column_families: Some(vec!["nope".into()]), ..Default::default() };
    assert!(matches!(repo.create_snapshot(&db, &cf), Err(Error::ColumnFamilyNotFound(_))));
    let long = SnapshotOptions { name: Some("x".repeat(5000)), ..Default::default() };
    assert!(matches!(repo.create_snapshot(&db, &long), Err(Error::InvalidArgument(_))));
    assert!(repo.list().unwrap().is_empty(), "refused before anything was committed");
    assert!(matches!(repo.verify(SnapshotId(1), VerifyLevel::Sizes), Err(Error::NotFound(_))));
    assert!(matches!(repo.delete(SnapshotId(1)), Err(Error::NotFound(_))));
    let s = repo.create_snapshot(&db, &SnapshotOptions::default()).unwrap();
    assert!(matches!(
        repo.restore(s.id, t.path().join("no/such/parent"), &RestoreOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(
        import_into_new_database(
            std::sync::Arc::new(strata::RealFs::new()),
            t.path(),
            t.path().join("x"),
            &ImportOptions::default()
        )
        .is_err()
    );
    let inside = t.path().join("repo").join("restored");
    assert!(matches!(repo.restore(s.id, &inside, &RestoreOptions::default()), Err(Error::InvalidArgument(_))));
    assert!(matches!(repo.export(s.id, &inside), Err(Error::InvalidArgument(_))));
}

#[test]
fn oversized_metadata_is_refused_before_it_is_read() {
    let t = tempfile::tempdir().unwrap();
    let repo_dir = t.path().join("repo");
    Repository::create(&repo_dir).unwrap();
    // A sparse 300 MiB "commit": refused by its size, without reading 300 MiB.
    let commit = repo_dir.join("log").join(format!("{:020}.commit", 1));
    std::fs::File::create(&commit).unwrap().set_len(300 << 20).unwrap();
    match Repository::open(&repo_dir) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(file, commit);
            assert!(reason.contains("METADATA_FILE_LEN_MAX"), "{reason}");
        }
        other => panic!("expected corruption: {other:?}"),
    }
}
