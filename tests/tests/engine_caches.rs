//! The table cache's bound (`Options::max_open_files`) and the block cache's `fill_cache`:
//! compactions and iterators that ask never fill the block cache.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use strata::{Db, Options, ReadOptions};

fn prop(db: &Db, name: &str) -> u64 {
    db.property(name).unwrap().parse().unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// Ten flushed tables, no compaction.
fn ten_tables(dir: &std::path::Path, opts: Options) -> Db {
    let db = Db::open(dir, Options { disable_auto_compactions: true, ..opts }).unwrap();
    for t in 0..10u32 {
        for i in 0..200 {
            db.put(key(t * 1000 + i), format!("v{t}-{i}")).unwrap();
        }
        db.flush().unwrap();
    }
    db
}

#[test]
fn open_tables_stay_within_max_open_files() {
    let tmp = tempfile::tempdir().unwrap();
    let db = ten_tables(tmp.path(), Options { max_open_files: 3, ..Options::default() });
    assert_eq!(db.property("strata.num-files-at-level0").as_deref(), Some("10"));
    for round in 0..2 {
        for t in 0..10u32 {
            for i in (0..200).step_by(37) {
                let got = db.get(key(t * 1000 + i)).unwrap();
                assert_eq!(got.as_deref(), Some(format!("v{t}-{i}").as_bytes()), "round {round}");
            }
            assert!(prop(&db, "strata.open-tables") <= 3, "{:?}", db.property("strata.open-tables"));
        }
    }
    // A scan touches every table at once; the tables it holds stay open until it ends.
    assert_eq!(db.range::<&[u8], _>(..).count(), 2000);
    assert!(prop(&db, "strata.open-tables") <= 3);
    // Unbounded keeps them all.
    drop(db);
    let db = Db::open(tmp.path(), Options { max_open_files: 0, disable_auto_compactions: true, ..Options::default() })
        .unwrap();
    for t in 0..10u32 {
        db.get(key(t * 1000)).unwrap();
    }
    assert_eq!(prop(&db, "strata.open-tables"), 10);
}

#[test]
fn compactions_and_cold_scans_do_not_fill_the_block_cache() {
    let tmp = tempfile::tempdir().unwrap();
    drop(ten_tables(tmp.path(), Options::default()));
    // Reopen: an empty block cache.
    let db = Db::open(tmp.path(), Options { disable_auto_compactions: true, ..Options::default() }).unwrap();
    assert_eq!(prop(&db, "strata.block-cache-usage"), 0);
    db.compact_range(&db.default_cf(), None, None).unwrap();
    assert_eq!(db.property("strata.num-files-at-level0").as_deref(), Some("0"));
    assert_eq!(prop(&db, "strata.block-cache-usage"), 0, "the compaction filled the block cache");
    let cold = ReadOptions { fill_cache: false, ..ReadOptions::default() };
    let mut it = db.iter(&cold).unwrap();
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status().unwrap();
    assert_eq!(n, 2000);
    assert_eq!(prop(&db, "strata.block-cache-usage"), 0, "a fill_cache: false scan filled the cache");
    // The default does fill it.
    assert_eq!(db.range::<&[u8], _>(..).count(), 2000);
    assert!(prop(&db, "strata.block-cache-usage") > 0);
}

#[test]
fn index_and_filter_blocks_are_charged_to_the_block_cache() {
    let tmp = tempfile::tempdir().unwrap();
    drop(ten_tables(tmp.path(), Options::default()));
    // A cache a few blocks large: the ten tables' index and filter blocks take part of it.
    let capacity: usize = 256 << 10;
    let opts = Options { disable_auto_compactions: true, block_cache_capacity: capacity, ..Options::default() };
    let db = Db::open(tmp.path(), opts).unwrap();
    for t in 0..10u32 {
        for i in (0..200).step_by(7) {
            assert_eq!(db.get(key(t * 1000 + i)).unwrap().as_deref(), Some(format!("v{t}-{i}").as_bytes()));
        }
    }
    let (blocks, pinned) = (prop(&db, "strata.block-cache-usage"), prop(&db, "strata.block-cache-pinned-usage"));
    assert_eq!(prop(&db, "strata.open-tables"), 10);
    // Each open table charges at least its filter (200 keys at 10 bits) and one index entry.
    assert!(pinned >= 10 * (200 * 10 / 8 + 16), "{pinned}");
    assert!(blocks > 0);
    assert!(blocks + pinned <= capacity as u64, "{blocks} + {pinned} > {capacity}");
    let stats = db.property("strata.stats").unwrap();
    let memory = stats.lines().find(|l| l.starts_with("memory:")).unwrap();
    assert!(memory.contains("index and filter blocks of 10 open tables"), "{memory}");
    // Deleted tables release their charge: the compaction's one output holds the same keys (so
    // about the same filter), the ten inputs are gone.
    db.compact_range(&db.default_cf(), None, None).unwrap();
    db.get(key(0)).unwrap();
    assert_eq!(prop(&db, "strata.open-tables"), 1);
    let after = prop(&db, "strata.block-cache-pinned-usage");
    assert!(after > 0 && after < pinned + pinned / 2, "{after} of {pinned}");
}
