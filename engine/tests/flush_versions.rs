//! Which versions a flush writes: the newest version of each user key in each snapshot stripe,
//! tombstones included (flush.rs, the compaction's `EntryFilter` with `bottommost = false`).
//! Each test reads the flushed L0 table with `SstFileReader::raw_iter` and checks its
//! properties, then reads through the database (snapshots included) after the flush.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use strata::{Db, EntryKind, Options, ReadOptions, SeqNo, SstFileReader};

fn opts() -> Options {
    Options { disable_auto_compactions: true, ..Options::default() }
}

/// The one L0 table of the default family: its entries `(user key, seq, kind)` in file order,
/// and the reader (for its properties).
fn only_table(db: &Db) -> (Vec<(String, SeqNo, EntryKind)>, SstFileReader) {
    let live = db.live_files(false).unwrap();
    assert_eq!(live.tables.len(), 1, "expected one table, got {:?}", live.tables);
    assert_eq!(live.tables[0].level, 0);
    let r = SstFileReader::open(&live.tables[0].path).unwrap();
    let mut it = r.raw_iter();
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((String::from_utf8(it.key().to_vec()).unwrap(), it.sequence(), it.kind()));
        it.next();
    }
    it.status().unwrap();
    (out, r)
}

fn entries(v: &[(&str, SeqNo, EntryKind)]) -> Vec<(String, SeqNo, EntryKind)> {
    v.iter().map(|&(k, s, kind)| (k.to_string(), s, kind)).collect()
}

fn user_property(r: &SstFileReader, name: &str) -> String {
    String::from_utf8(r.properties().user[name].clone()).unwrap()
}

const PUT: EntryKind = EntryKind::Put;
const DEL: EntryKind = EntryKind::Delete;

#[test]
fn without_snapshots_a_flush_writes_only_the_newest_version_of_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put("a", "a1").unwrap(); // 1
    db.put("a", "a2").unwrap(); // 2
    db.put("b", "b1").unwrap(); // 3
    db.delete("b").unwrap(); // 4
    db.put("a", "a3").unwrap(); // 5
    db.put("c", "c1").unwrap(); // 6
    db.delete("d").unwrap(); // 7: a tombstone with nothing older stays (not the bottommost level)
    db.put("e", "e1").unwrap(); // 8
    db.put("e", "e2").unwrap(); // 9
    assert_eq!(db.sequence(), 9);
    db.flush().unwrap();

    let (got, r) = only_table(&db);
    assert_eq!(got, entries(&[("a", 5, PUT), ("b", 4, DEL), ("c", 6, PUT), ("d", 7, DEL), ("e", 9, PUT)]));
    let p = r.properties();
    assert_eq!((p.num_entries, p.num_deletions), (5, 2));
    assert_eq!(user_property(&r, "strata.smallest_seq"), "4");
    assert_eq!(user_property(&r, "strata.largest_seq"), "9");
    r.verify_num_entries().unwrap();
    let live = db.live_files(false).unwrap();
    let meta = &live.tables[0].meta;
    assert_eq!((meta.smallest_seq, meta.largest_seq), (4, 9));
    assert_eq!(strata_base::ikey::user_key(&meta.smallest), b"a");
    assert_eq!(strata_base::ikey::user_key(&meta.largest), b"e");

    assert_eq!(db.get("a").unwrap().unwrap(), "a3");
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(db.get("e").unwrap().unwrap(), "e2");
    let stats = db.property("strata.stats").unwrap();
    assert!(stats.contains("(5 entries, 4 shadowed versions left out)"), "{stats}");
}

#[test]
fn a_flush_keeps_the_newest_version_below_each_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put("a", "a1").unwrap(); // 1
    db.put("a", "a2").unwrap(); // 2
    let s1 = db.snapshot();
    db.put("a", "a3").unwrap(); // 3
    db.put("a", "a4").unwrap(); // 4
    db.put("b", "b1").unwrap(); // 5
    let s2 = db.snapshot();
    db.delete("b").unwrap(); // 6
    db.put("c", "c1").unwrap(); // 7
    db.put("c", "c2").unwrap(); // 8
    assert_eq!((s1.sequence(), s2.sequence()), (2, 5));
    db.flush().unwrap();

    // Stripes: [1, 2] (s1), [3, 5] (s2), [6, ..] (now). a1 and a3 are shadowed in their
    // stripes, c1 in the newest one; every other version is some reader's newest.
    let (got, r) = only_table(&db);
    assert_eq!(got, entries(&[("a", 4, PUT), ("a", 2, PUT), ("b", 6, DEL), ("b", 5, PUT), ("c", 8, PUT)]));
    assert_eq!((r.properties().num_entries, r.properties().num_deletions), (5, 1));
    assert_eq!(user_property(&r, "strata.smallest_seq"), "2");
    assert_eq!(user_property(&r, "strata.largest_seq"), "8");

    let at = |s: &strata::Snapshot, k: &str| {
        db.get_opt(&ReadOptions { snapshot: Some(s), ..ReadOptions::default() }, k).unwrap().map(|v| v.to_vec())
    };
    assert_eq!(at(&s1, "a").unwrap(), b"a2");
    assert_eq!(at(&s1, "b"), None);
    assert_eq!(at(&s2, "a").unwrap(), b"a4");
    assert_eq!(at(&s2, "b").unwrap(), b"b1");
    assert_eq!(at(&s2, "c"), None);
    assert_eq!(db.get("a").unwrap().unwrap(), "a4");
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(db.get("c").unwrap().unwrap(), "c2");
    // A snapshot iterator over the flushed table sees its stripe.
    let mut it = db.iter(&ReadOptions { snapshot: Some(&s1), ..ReadOptions::default() }).unwrap();
    it.seek_to_first();
    assert!(it.valid());
    assert_eq!((it.key(), it.value()), (&b"a"[..], &b"a2"[..]));
    it.next();
    assert!(!it.valid());
    it.status().unwrap();
}

#[test]
fn a_snapshot_released_before_the_flush_pins_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put("a", "a1").unwrap();
    let s = db.snapshot();
    db.put("a", "a2").unwrap();
    drop(s);
    db.flush().unwrap();
    assert_eq!(only_table(&db).0, entries(&[("a", 2, PUT)]));
}

#[test]
fn the_recovery_flush_at_open_writes_only_the_newest_versions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        for i in 0..10 {
            db.put("k", format!("v{i}")).unwrap();
        }
        db.delete("x").unwrap();
        db.put("x", "x1").unwrap();
        db.close().unwrap(); // the writes stay in the WAL
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    let (got, r) = only_table(&db);
    assert_eq!(got, entries(&[("k", 10, PUT), ("x", 12, PUT)]));
    assert_eq!(user_property(&r, "strata.smallest_seq"), "10");
    assert_eq!(db.get("k").unwrap().unwrap(), "v9");
    assert_eq!(db.get("x").unwrap().unwrap(), "x1");
}
