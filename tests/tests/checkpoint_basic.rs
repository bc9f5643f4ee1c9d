//! Checkpoint behaviour: contents, independence, hard links, errors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::Path;
use strata::{Db, Error, Options, ReadOptions, WriteBatch, WriteOptions};
use strata_checkpoint::{Checkpoint, CheckpointOptions};
use strata_tests::{dump, small_options};

fn get(db: &Db, k: &str) -> Option<String> {
    db.get(k).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap())
}

#[test]
fn checkpoint_sees_v1_source_sees_v2_even_after_source_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cp = tmp.path().join("cp");
    let db = Db::open(&src, small_options()).unwrap();
    for i in 0..500 {
        db.put(format!("k{i:04}"), "v1").unwrap();
    }
    let info = Checkpoint::new(&db).create(&cp).unwrap();
    assert_eq!(info.sequence, db.sequence());
    for i in 0..500 {
        db.put(format!("k{i:04}"), "v2").unwrap();
    }
    db.flush().unwrap();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    assert_eq!(get(&db, "k0007").as_deref(), Some("v2"));
    {
        let c = Db::open_read_only(&cp, Options::default()).unwrap();
        assert_eq!(get(&c, "k0007").as_deref(), Some("v1"));
        assert_eq!(c.sequence(), info.sequence);
    }
    db.close().unwrap();
    std::fs::remove_dir_all(&src).unwrap();
    let c = Db::open(&cp, Options::default()).unwrap();
    let all = dump(&c);
    assert_eq!(all.len(), 500);
    assert!(all.values().all(|v| v == b"v1"));
}

#[test]
fn flush_false_carries_unflushed_writes_and_nothing_later() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), Options::default()).unwrap();
    db.put("a", "1").unwrap();
    db.flush().unwrap();
    db.put("b", "2").unwrap(); // only in the memtable and WAL
    let cf = db.create_cf("other").unwrap();
    db.put_cf(&cf, "c", "3").unwrap();
    let info = Checkpoint::new(&db)
        .options(CheckpointOptions { flush: false, ..Default::default() })
        .create(tmp.path().join("cp"))
        .unwrap();
    assert!(info.copied_files >= 1, "the WAL is copied: {info:?}");
    db.put("d", "later").unwrap();
    db.put_cf(&cf, "e", "later").unwrap();
    let c = Db::open_read_only(tmp.path().join("cp"), Options::default()).unwrap();
    assert_eq!(get(&c, "a").as_deref(), Some("1"));
    assert_eq!(get(&c, "b").as_deref(), Some("2"));
    assert_eq!(get(&c, "d"), None);
    let ccf = c.cf("other").unwrap();
    assert_eq!(c.get_cf(&ccf, "c").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(c.get_cf(&ccf, "e").unwrap(), None);
    assert_eq!(c.sequence(), info.sequence);
    drop(c);
    // Read-write too: replays the copied WAL prefix and flushes it.
    let c = Db::open(tmp.path().join("cp"), Options::default()).unwrap();
    assert_eq!(get(&c, "b").as_deref(), Some("2"));
    assert_eq!(get(&c, "d"), None);
}

#[test]
fn tables_are_hard_linked_or_copied_on_request() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), Options::default()).unwrap();
    for i in 0..100 {
        db.put(format!("k{i}"), "v").unwrap();
    }
    let info = Checkpoint::new(&db).create(tmp.path().join("linked")).unwrap();
    assert!(info.linked_files >= 1);
    assert_eq!(info.copied_files, 0);
    let ssts = |dir: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sst"))
            .collect()
    };
    let linked = ssts(&tmp.path().join("linked"));
    assert_eq!(linked.len(), info.linked_files);
    for p in &linked {
        assert!(std::fs::metadata(p).unwrap().nlink() >= 2, "{} is not hard-linked", p.display());
    }
    let info = Checkpoint::new(&db)
        .options(CheckpointOptions { copy_files: true, ..Default::default() })
        .create(tmp.path().join("copied"))
        .unwrap();
    assert_eq!(info.linked_files, 0);
    assert!(info.copied_files >= 1 && info.copied_bytes > 0);
    for p in ssts(&tmp.path().join("copied")) {
        assert_eq!(std::fs::metadata(&p).unwrap().nlink(), 1, "{} should be an independent copy", p.display());
    }
    let c = Db::open_read_only(tmp.path().join("copied"), Options::default()).unwrap();
    assert_eq!(dump(&c).len(), 100);
}

#[test]
fn read_write_checkpoint_is_independent_of_its_source() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), small_options()).unwrap();
    for i in 0..300 {
        db.put(format!("k{i:04}"), "base").unwrap();
    }
    Checkpoint::new(&db).create(tmp.path().join("cp")).unwrap();
    let cp = Db::open(tmp.path().join("cp"), small_options()).unwrap();
    for i in 0..300 {
        db.put(format!("k{i:04}"), "src").unwrap();
        cp.put(format!("k{i:04}"), "cp").unwrap();
    }
    db.put("only-src", "1").unwrap();
    cp.put("only-cp", "1").unwrap();
    for d in [&db, &cp] {
        d.flush().unwrap();
        d.compact_range(&d.default_cf(), None, None).unwrap();
    }
    let s = dump(&db);
    let c = dump(&cp);
    assert_eq!(s.get(&b"k0100"[..]).map(Vec::as_slice), Some(&b"src"[..]));
    assert_eq!(c.get(&b"k0100"[..]).map(Vec::as_slice), Some(&b"cp"[..]));
    assert!(s.contains_key(&b"only-src"[..]) && !s.contains_key(&b"only-cp"[..]));
    assert!(c.contains_key(&b"only-cp"[..]) && !c.contains_key(&b"only-src"[..]));
    // Reopen both: still independent.
    drop(db);
    drop(cp);
    let db = Db::open(tmp.path().join("src"), Options::default()).unwrap();
    let cp = Db::open(tmp.path().join("cp"), Options::default()).unwrap();
    assert_eq!(dump(&db), s);
    assert_eq!(dump(&cp), c);
}

#[test]
fn subset_of_column_families() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("src"), Options::default()).unwrap();
    let a = db.create_cf("a").unwrap();
    let b = db.create_cf("b").unwrap();
    db.put_cf(&a, "x", "1").unwrap();
    db.put_cf(&b, "y", "2").unwrap();
    db.put("z", "3").unwrap();
    let info = Checkpoint::new(&db)
        .options(CheckpointOptions { column_families: Some(vec!["a".into()]), ..Default::default() })
        .create(tmp.path().join("cp"))
        .unwrap();
    assert_eq!(info.column_families.len(), 2);
    let c = Db::open(tmp.path().join("cp"), Options::default()).unwrap();
    let mut names = c.cf_names();
    names.sort();
    assert_eq!(names, vec!["a".to_string(), "default".to_string()]);
    assert_eq!(c.get_cf(&c.cf("a").unwrap(), "x").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(get(&c, "z").as_deref(), Some("3"));
    assert!(matches!(
        Checkpoint::new(&db)
            .options(CheckpointOptions { column_families: Some(vec!["nope".into()]), ..Default::default() })
            .create(tmp.path().join("cp2")),
        Err(Error::ColumnFamilyNotFound(_))
    ));
}

#[test]
fn checkpoint_of_a_read_only_database() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Db::open(tmp.path().join("src"), Options::default()).unwrap();
        db.put("flushed", "1").unwrap();
        db.flush().unwrap();
        db.put_opt(&WriteOptions { sync: true, ..Default::default() }, "in-wal", "2").unwrap();
    }
    let ro = Db::open_read_only(tmp.path().join("src"), Options::default()).unwrap();
    assert!(matches!(ro.put("x", "y"), Err(Error::ReadOnly)));
    let info = Checkpoint::new(&ro).create(tmp.path().join("cp")).unwrap();
    let c = Db::open_read_only(tmp.path().join("cp"), Options::default()).unwrap();
    assert_eq!(get(&c, "flushed").as_deref(), Some("1"));
    assert_eq!(get(&c, "in-wal").as_deref(), Some("2"));
    assert_eq!(c.sequence(), info.sequence);
}

#[test]
fn bad_targets_are_refused_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = Db::open(&src, Options::default()).unwrap();
    db.put("a", "1").unwrap();
    std::fs::create_dir(tmp.path().join("exists")).unwrap();
    assert!(matches!(Checkpoint::new(&db).create(tmp.path().join("exists")), Err(Error::AlreadyExists(_))));
    assert!(matches!(Checkpoint::new(&db).create(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(Checkpoint::new(&db).create("/"), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        Checkpoint::new(&db).create(tmp.path().join("missing-parent").join("cp")),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(Checkpoint::new(&db).create(src.join("inside")), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        Checkpoint::new(&db).create(src.join("sub").join("..").join("inside2")),
        Err(Error::InvalidArgument(_))
    ));
    let mut names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, vec!["exists", "src"], "nothing left behind");
    assert!(!src.join("inside").exists());
    // The source still works.
    let mut b = WriteBatch::new();
    b.put("b", "2");
    db.write(b, &WriteOptions::default()).unwrap();
    assert_eq!(dump(&db).len(), 2);
    let _ = ReadOptions::default();
}
