//! A column family dropped while a compaction of it runs: the compaction must abandon its
//! outputs, not log an edit naming the dropped family.
//!
//! Regression (found by `strata-stress`, whose repository round imports a bundle as a new
//! family and drops it again, 2026-11-30): the compaction's edit failed with "column family N
//! does not exist", which poisoned the database ("database is in an error state after a
//! background failure") for every later write.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::sync::Arc;
use strata::{Db, FileSystem as _, Options, SimFs};
use strata_tests::fault_fs::{CreateHook, SelectiveFaultFs};
use strata_tests::small_options;

#[test]
fn a_family_dropped_during_its_compaction_leaves_the_database_writable() {
    let sim = SimFs::new();
    let ffs = SelectiveFaultFs::new(sim.arc());
    let opts = Options { fs: Some(ffs.arc()), disable_auto_compactions: true, ..small_options() };
    let db = Arc::new(Db::open("/db", opts.clone()).unwrap());
    let cf = db.create_cf("doomed").unwrap();
    for round in 0..3 {
        for i in 0..200 {
            db.put_cf(&cf, format!("k{i:04}"), format!("v{round}-{i}")).unwrap();
        }
        db.flush().unwrap();
    }
    // The compaction's first output table is created on this thread, inside `compact_range`:
    // the family is dropped right then (by another thread, as a user would: the compaction
    // holds its own lock), after the inputs were read and before the edit.
    let other = Arc::clone(&db);
    let drop_now = move || std::thread::spawn(move || other.drop_cf("doomed").unwrap()).join().unwrap();
    ffs.set_create_hook(Some(CreateHook { suffix: ".sst".into(), run: Box::new(drop_now) }));
    let _ = db.compact_range(&cf, None, None);
    assert!(db.cf("doomed").is_none());
    // Not poisoned: writes and flushes go on, and the database reopens.
    db.put("after", "the drop").unwrap();
    db.flush().unwrap();
    let db = Arc::into_inner(db).expect("the hook ran and released its handle");
    db.close().unwrap();
    let db = Db::open("/db", opts).unwrap();
    assert_eq!(db.get("after").unwrap().as_deref(), Some(&b"the drop"[..]));
    assert!(db.cf("doomed").is_none());
    // The abandoned outputs were removed: every table in the directory is live.
    let live: Vec<_> = db.live_files(false).unwrap().tables.iter().map(|t| t.path.clone()).collect();
    let on_disk: Vec<_> = sim
        .list("/db".as_ref())
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .map(|n| std::path::Path::new("/db").join(n))
        .collect();
    assert!(on_disk.iter().all(|p| live.contains(p)), "stray tables: {on_disk:?} live {live:?}");
}
