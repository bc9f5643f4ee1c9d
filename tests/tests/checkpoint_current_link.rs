//! A checkpoint of a read-write database hard-links the source's `CURRENT` instead of writing
//! and syncing one of its own (one fsync fewer: docs/checkpoint.md, step 6), and names its fresh
//! MANIFEST after the manifest that `CURRENT` names. These tests check when it links and when it
//! writes, that neither side ever sees the other's `CURRENT` change, and that checkpoints taken
//! while the source rolls its manifest over on every edit always open.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata::{Db, FileSystem as _, Options, RealFs};
use strata_checkpoint::{Checkpoint, CheckpointOptions};
use strata_manifest::{manifest_file_name, read_current};
use strata_tests::{dump, small_options};

fn links(p: &Path) -> u64 {
    RealFs::new().link_count(p).unwrap()
}

fn current_of(dir: &Path) -> String {
    manifest_file_name(read_current(&RealFs::new(), dir).unwrap())
}

fn manifests(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    v.sort();
    v
}

/// No background compactions: nothing rolls the source's manifest over unless the test does.
fn filled(dir: &Path, opts: Options) -> Db {
    let opts = Options { disable_auto_compactions: true, ..opts };
    let db = Db::open(dir, opts).unwrap();
    for i in 0..300u32 {
        db.put(format!("k{i:04}"), format!("v{i}")).unwrap();
    }
    db.flush().unwrap();
    db
}

#[test]
fn a_read_write_source_shares_its_current_and_neither_side_sees_the_other_change_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, cp) = (tmp.path().join("src"), tmp.path().join("cp"));
    // Every manifest edit rolls the source over to a new manifest and a new `CURRENT`.
    let db = filled(&src, Options { manifest_size_limit: 1, ..small_options() });
    Checkpoint::new(&db).create(&cp).unwrap();
    let named = current_of(&src);
    assert_eq!(links(&cp.join("CURRENT")), 2, "the checkpoint's CURRENT is the source's, linked");
    assert_eq!(current_of(&cp), named);
    assert_eq!(manifests(&cp), vec![named.clone()], "the checkpoint's one manifest takes that name");
    let expected = dump(&db);

    // The source replaces its CURRENT (a rename over it): the checkpoint keeps the old inode.
    db.put("later", "x").unwrap();
    db.flush().unwrap();
    assert_ne!(current_of(&src), named, "the source rolled over");
    assert_eq!(links(&cp.join("CURRENT")), 1);
    assert_eq!(current_of(&cp), named, "the checkpoint's CURRENT did not change");
    {
        let c = Db::open_read_only(&cp, small_options()).unwrap();
        assert_eq!(dump(&c), expected);
    }

    // A second checkpoint links the new CURRENT; then the checkpoint opened read-write rolls
    // over on its own, and the source's CURRENT stays as it was.
    let cp2 = tmp.path().join("cp2");
    Checkpoint::new(&db).create(&cp2).unwrap();
    let source_now = current_of(&src);
    assert_eq!(links(&src.join("CURRENT")), 2);
    {
        let c = Db::open(&cp2, small_options()).unwrap();
        c.put("in the checkpoint", "y").unwrap();
        c.flush().unwrap();
    }
    assert_eq!(links(&src.join("CURRENT")), 1, "the checkpoint replaced its CURRENT, not wrote into it");
    assert_eq!(current_of(&src), source_now);
    assert!(db.get("in the checkpoint").unwrap().is_none());
    let c = Db::open(&cp2, small_options()).unwrap();
    assert_eq!(c.get("later").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(c.get("in the checkpoint").unwrap().as_deref(), Some(&b"y"[..]));
    drop(c);
    drop(db);
    let db = Db::open(&src, small_options()).unwrap();
    assert!(db.get("in the checkpoint").unwrap().is_none());
    assert_eq!(db.get("later").unwrap().as_deref(), Some(&b"x"[..]));
}

#[test]
fn a_read_only_source_or_copy_files_writes_a_current_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = filled(&src, small_options());
    let copied = tmp.path().join("copied");
    Checkpoint::new(&db).options(CheckpointOptions { copy_files: true, ..Default::default() }).create(&copied).unwrap();
    assert_eq!(links(&copied.join("CURRENT")), 1);
    assert_ne!(current_of(&copied), current_of(&src), "a fresh manifest number");
    drop(db);
    let ro = Db::open_read_only(&src, small_options()).unwrap();
    let from_ro = tmp.path().join("from_ro");
    Checkpoint::new(&ro).create(&from_ro).unwrap();
    assert_eq!(links(&from_ro.join("CURRENT")), 1);
    assert_eq!(links(&src.join("CURRENT")), 1);
    for dir in [&copied, &from_ro] {
        let c = Db::open(dir, small_options()).unwrap();
        assert_eq!(dump(&c), dump(&ro), "{}", dir.display());
        assert_eq!(manifests(dir).len(), 1, "{}: only the new manifest is left", dir.display());
    }
}

#[test]
fn a_source_current_that_does_not_parse_or_names_an_impossible_number_is_not_linked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = filled(&src, small_options());
    let expected = dump(&db);
    let good = std::fs::read(src.join("CURRENT")).unwrap();
    // Not what Strata writes, but what a hand edit can leave (replaced, so a new inode): no
    // newline; a number at FILE_NUMBER_MAX (1 << 62), which no checkpoint could open with.
    let bad: [&[u8]; 2] = [&good[..good.len() - 1], b"MANIFEST-4611686018427387904\n"];
    for (i, contents) in bad.into_iter().enumerate() {
        std::fs::write(src.join("CURRENT.edit"), contents).unwrap();
        std::fs::rename(src.join("CURRENT.edit"), src.join("CURRENT")).unwrap();
        let cp = tmp.path().join(format!("cp{i}"));
        Checkpoint::new(&db).options(CheckpointOptions { flush: false, ..Default::default() }).create(&cp).unwrap();
        assert_eq!(links(&cp.join("CURRENT")), 1, "case {i}: a CURRENT of its own");
        assert_eq!(links(&src.join("CURRENT")), 1, "case {i}: the failed link was removed");
        let c = Db::open(&cp, small_options()).unwrap();
        assert_eq!(dump(&c), expected, "case {i}");
    }
}

/// Checkpoints beside a writer whose every flush rolls the source's manifest and `CURRENT` over:
/// whichever `CURRENT` a checkpoint links, it opens with every write acknowledged before it.
#[test]
fn checkpoints_while_the_source_rolls_over_on_every_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let db = Arc::new(Db::open(&src, Options { manifest_size_limit: 1, ..small_options() }).unwrap());
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, acked, stop) = (Arc::clone(&db), Arc::clone(&acked), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                db.put(format!("w{i:08}"), format!("{i}")).unwrap();
                acked.store(i + 1, Ordering::SeqCst);
                if i % 50 == 49 {
                    db.flush().unwrap();
                }
                i += 1;
            }
        })
    };
    for n in 0..30 {
        let before = acked.load(Ordering::SeqCst);
        let cp = tmp.path().join(format!("cp{n}"));
        let info = Checkpoint::new(&db)
            .options(CheckpointOptions { flush: n % 2 == 0, ..Default::default() })
            .create(&cp)
            .unwrap();
        assert_eq!(manifests(&cp), vec![current_of(&cp)], "{}: one manifest, the one CURRENT names", cp.display());
        let c = Db::open_read_only(&cp, small_options()).unwrap();
        assert_eq!(c.sequence(), info.sequence);
        for i in 0..before {
            assert!(c.get(format!("w{i:08}")).unwrap().is_some(), "{}: acknowledged write {i} missing", cp.display());
        }
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    for n in 0..30 {
        let c = Db::open(tmp.path().join(format!("cp{n}")), small_options()).unwrap();
        c.put("after", "open").unwrap();
    }
}
