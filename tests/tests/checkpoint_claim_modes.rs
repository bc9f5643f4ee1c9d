//! Opening a native checkpoint as a live database, with Flink's claim modes. No-claim: two
//! databases start from one checkpoint, write, flush and compact, and the checkpoint's entries
//! and bytes never change (tables are hard links, everything else copies). Claim: the
//! checkpoint directory becomes the database.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::path::Path;
use strata::{Db, Error, FileSystem, Options, RealFs};
use strata_checkpoint::{Checkpoint, ClaimMode, open_checkpoint};
use strata_tests::dump;

/// Name -> bytes of every file in `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let fs = RealFs::new();
    fs.list(dir).unwrap().into_iter().map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap())).collect()
}

fn options() -> Options {
    Options { disable_auto_compactions: true, ..strata_tests::small_options() }
}

/// A checkpoint at `root/cp` of a database with tables and unflushed writes (copied WAL).
fn checkpoint(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let db = Db::open(root.join("src"), strata_tests::small_options()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{i:05}"), format!("v{i}")).unwrap();
    }
    db.flush().unwrap();
    db.put(b"unflushed", b"yes").unwrap();
    let opts = strata_checkpoint::CheckpointOptions { flush: false, ..Default::default() };
    Checkpoint::new(&db).options(opts).create(root.join("cp")).unwrap();
    dump(&db)
}

#[test]
fn no_claim_never_changes_the_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let want = checkpoint(root.path());
    let cp = root.path().join("cp");
    let before = files(&cp);
    assert!(before.keys().any(|n| n.ends_with(".sst")) && before.keys().any(|n| n.ends_with(".log")));
    let fs = RealFs::new();
    let links_before: BTreeMap<String, u64> =
        before.keys().map(|n| (n.clone(), fs.link_count(&cp.join(n)).unwrap())).collect();
    let a = open_checkpoint(&cp, root.path().join("a"), ClaimMode::NoClaim, options()).unwrap();
    let b = open_checkpoint(&cp, root.path().join("b"), ClaimMode::default(), options()).unwrap();
    // Tables are shared by hard links (two more names each), nothing else is.
    for (name, n) in &links_before {
        let links = fs.link_count(&cp.join(name)).unwrap();
        assert_eq!(links, if name.ends_with(".sst") { n + 2 } else { *n }, "{name}");
    }
    for (n, db) in [("a", &a), ("b", &b)] {
        assert_eq!(dump(db), want, "{n} starts from the checkpoint's state");
        for i in 0..3000u32 {
            db.put(format!("k{i:05}"), format!("{n}{i}")).unwrap();
        }
        db.delete(b"unflushed").unwrap();
        db.flush().unwrap();
        db.compact_range(&db.default_cf(), None, None).unwrap();
    }
    drop((a, b));
    assert_eq!(files(&cp), before, "the checkpoint's entries and bytes are unchanged");
    let again = Db::open_read_only(&cp, Options::default()).unwrap();
    assert_eq!(dump(&again), want);
    let reopened = Db::open(root.path().join("a"), options()).unwrap();
    assert_eq!(reopened.get(b"k00001").unwrap().as_deref(), Some(&b"a1"[..]));
    assert_eq!(reopened.get(b"unflushed").unwrap(), None);
    // The target must be new.
    let e = open_checkpoint(&cp, root.path().join("a"), ClaimMode::NoClaim, options()).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists(_)), "{e}");
}

#[test]
fn claim_adopts_the_checkpoint_directory() {
    let root = tempfile::tempdir().unwrap();
    let want = checkpoint(root.path());
    let cp = root.path().join("cp");
    let db = open_checkpoint(&cp, root.path().join("live"), ClaimMode::Claim, options()).unwrap();
    assert!(!cp.exists(), "claimed: the checkpoint is now the database");
    assert_eq!(dump(&db), want);
    db.put(b"after", b"claim").unwrap();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    drop(db);
    let db = Db::open(root.path().join("live"), options()).unwrap();
    assert_eq!(db.get(b"after").unwrap().as_deref(), Some(&b"claim"[..]));
    drop(db);
    // Claiming in place opens the directory where it is.
    let db = open_checkpoint(root.path().join("live"), root.path().join("live"), ClaimMode::Claim, options()).unwrap();
    assert_eq!(db.get(b"k00007").unwrap().as_deref(), Some(&b"v7"[..]));
    drop(db);
    let e = open_checkpoint(root.path().join("gone"), root.path().join("x"), ClaimMode::Claim, options()).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
}
