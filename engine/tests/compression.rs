//! `Options::bottommost_compression`: flushes (L0) use `compression`, outputs of compactions
//! into the bottommost level use `bottommost_compression`, and a database reopened with other
//! codecs reads every table (each block records its codec). Also `strata.stats` reports the
//! WAL bytes and the memory budget.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use strata::{Compression, Db, Options};

fn prop(db: &Db, name: &str) -> u64 {
    db.property(name).unwrap().parse().unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// A compressible value: one character repeated.
fn value(i: u32) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; 400]
}

/// Writes 3 x 500 keys in three flushes, then compacts everything to the bottom; returns the
/// table bytes after the flushes and after the compaction.
fn fill_and_compact(db: &Db) -> (u64, u64) {
    for t in 0..3u32 {
        for i in 0..500 {
            db.put(key(t * 500 + i), value(i)).unwrap();
        }
        db.flush().unwrap();
    }
    let flushed = prop(db, "strata.total-sst-bytes");
    db.compact_range(&db.default_cf(), None, None).unwrap();
    (flushed, prop(db, "strata.total-sst-bytes"))
}

fn opts(compression: Compression, bottommost: Option<Compression>) -> Options {
    Options { compression, bottommost_compression: bottommost, disable_auto_compactions: true, ..Options::default() }
}

#[test]
fn bottommost_compression_applies_to_bottom_level_outputs_only() {
    let zstd = Compression::Zstd { level: 3 };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let none = Db::open(dirs[0].path(), opts(Compression::None, None)).unwrap();
    let bottom = Db::open(dirs[1].path(), opts(Compression::None, Some(zstd))).unwrap();
    let all = Db::open(dirs[2].path(), opts(zstd, None)).unwrap();
    let (none_l0, none_bottom) = fill_and_compact(&none);
    let (bottom_l0, bottom_bottom) = fill_and_compact(&bottom);
    let (all_l0, all_bottom) = fill_and_compact(&all);
    // Flushes: uncompressed unless `compression` says otherwise.
    assert_eq!(bottom_l0, none_l0, "L0 tables must not use the bottommost codec");
    assert!(all_l0 * 4 < none_l0, "zstd everywhere compresses L0: {all_l0} vs {none_l0}");
    // The bottom level: compressed by either setting.
    assert!(bottom_bottom * 4 < none_bottom, "bottommost zstd: {bottom_bottom} vs {none_bottom}");
    assert!(all_bottom * 4 < none_bottom);
    for db in [&none, &bottom, &all] {
        assert_eq!(db.get(key(777)).unwrap().as_deref(), Some(&value(277)[..]));
    }
    drop((none, all));
    bottom.close().unwrap();
    // Reopened with other codecs: the existing tables still read (each block names its codec).
    let db = Db::open(dirs[1].path(), opts(Compression::None, None)).unwrap();
    for i in (0..1500).step_by(97) {
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(&value(i % 500)[..]), "key {i}");
    }
}

#[test]
fn stats_report_wal_bytes_and_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    for i in 0..1000 {
        db.put(key(i), value(i)).unwrap();
    }
    let stats = db.property("strata.stats").unwrap();
    let wal = stats.lines().find(|l| l.starts_with("wal: ")).unwrap();
    // 1000 records of about 420 bytes each: at least 0.4 MB appended.
    let mb: f64 = wal["wal: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(mb >= 0.4, "{wal}");
    let mem = stats.lines().find(|l| l.starts_with("memory: ")).unwrap();
    assert!(mem.contains("memtables") && mem.contains("block cache") && mem.contains("open tables"), "{mem}");
    // The memtable holds the 1000 entries: its share is not zero.
    assert!(!mem.contains("memtables 0.0 MB"), "{mem}");
}
