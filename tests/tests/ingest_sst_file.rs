//! `SstFileWriter` and `SstFileReader`: round trips, every writer error, reading tables a
//! database wrote, corruption and comparator checks (RocksDB's sst_file_reader_test and the
//! writer cases of external_sst_file_basic_test).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::io;
use std::path::Path;
use std::sync::Arc;
use strata::{EntryKind, Error, Options, SstFileReader, SstFileWriter};
use strata_base::{Comparator, FileSystem, RealFs};
use strata_tests::fault_fs::{FaultRule, SelectiveFaultFs};

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn write_then_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.sst");
    let opts = Options { block_size: 256, ..Default::default() };
    let mut w = SstFileWriter::create(&path, &opts).unwrap();
    for i in 0..500 {
        if i % 7 == 3 {
            w.delete(key(i)).unwrap();
        } else {
            w.put(key(i), format!("v{i}")).unwrap();
        }
    }
    assert_eq!(w.num_entries(), 500);
    let info = w.finish().unwrap();
    assert_eq!(info.path, path);
    assert_eq!((info.smallest_key.clone(), info.largest_key.clone()), (key(0), key(499)));
    assert_eq!((info.num_entries, info.num_deletions, info.sequence), (500, 71, 0));
    assert_eq!(info.file_size, std::fs::metadata(&path).unwrap().len());
    assert_eq!(names(dir.path()), vec!["a.sst"], "no temporary file left");

    let r = SstFileReader::open(&path).unwrap();
    r.verify_checksums().unwrap();
    r.verify_num_entries().unwrap();
    assert!(r.is_external());
    assert_eq!(r.file_checksum(), info.file_checksum);
    assert_eq!(r.cf_id().unwrap(), None);
    assert_eq!(r.properties().num_entries, 500);
    assert_eq!(r.properties().num_deletions, 71);

    // The user-key iterator hides deletes, both ways.
    let visible: Vec<u32> = (0..500).filter(|i| i % 7 != 3).collect();
    let mut it = r.iter();
    it.seek_to_first();
    let mut seen = Vec::new();
    while it.valid() {
        seen.push(it.key().to_vec());
        assert_eq!(
            it.value(),
            format!("v{}", std::str::from_utf8(&it.key()[3..]).unwrap().parse::<u32>().unwrap()).as_bytes()
        );
        it.next();
    }
    it.status().unwrap();
    assert_eq!(seen, visible.iter().map(|&i| key(i)).collect::<Vec<_>>());
    it.seek_to_last();
    let mut back = Vec::new();
    while it.valid() {
        back.push(it.key().to_vec());
        it.prev();
    }
    back.reverse();
    assert_eq!(back, seen);
    it.seek(key(3));
    assert_eq!(it.key(), key(4), "seek skips the deleted key");
    it.seek_for_prev(key(10));
    assert_eq!(it.key(), key(9), "10 is deleted");

    // get
    assert_eq!(r.get(key(5)).unwrap().as_deref(), Some(&b"v5"[..]));
    assert_eq!(r.get(key(3)).unwrap(), None, "deleted");
    assert_eq!(r.get(b"nope").unwrap(), None);

    // The raw iterator shows the deletes and sequence number 0.
    let mut raw = r.raw_iter();
    raw.seek(key(3));
    assert!(raw.valid());
    assert_eq!((raw.key(), raw.kind(), raw.sequence()), (&key(3)[..], EntryKind::Delete, 0));
    raw.next();
    assert_eq!((raw.key(), raw.kind()), (&key(4)[..], EntryKind::Put));
    raw.seek_for_prev(key(3));
    assert_eq!(raw.key(), key(3));
    let mut n = 0;
    raw.seek_to_first();
    while raw.valid() {
        assert_eq!(raw.sequence(), 0);
        n += 1;
        raw.next();
    }
    raw.status().unwrap();
    assert_eq!(n, 500);
}

#[test]
fn keys_must_strictly_increase() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = SstFileWriter::create(dir.path().join("a.sst"), &Options::default()).unwrap();
    w.put(b"b", b"1").unwrap();
    let e = w.put(b"a", b"2").unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("\"a\"") && e.to_string().contains("\"b\""), "{e}");
    let e = w.put(b"b", b"2").unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("equal"), "{e}");
    let e = w.delete(b"b").unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "delete of an equal key too: {e}");
    // The writer is still usable after refusing a key.
    w.put(b"c", b"3").unwrap();
    let info = w.finish().unwrap();
    assert_eq!(info.num_entries, 2);
}

#[test]
fn empty_finish_is_invalid_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = SstFileWriter::create(dir.path().join("a.sst"), &Options::default()).unwrap();
    let e = w.finish().unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("no entries"), "{e}");
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn dropped_writer_removes_its_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        SstFileWriter::create(dir.path().join("a.sst"), &Options { block_size: 64, ..Default::default() }).unwrap();
    for i in 0..1000 {
        w.put(key(i), [7u8; 100]).unwrap();
    }
    assert!(!names(dir.path()).is_empty(), "blocks were written");
    drop(w);
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn failed_writer_removes_its_partial_file_and_refuses_more() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = SelectiveFaultFs::new(RealFs::arc());
    let opts = Options { block_size: 64, fs: Some(faulty.arc()), ..Default::default() };
    let mut w = SstFileWriter::create(dir.path().join("a.sst"), &opts).unwrap();
    w.put(key(0), [1u8; 100]).unwrap();
    faulty.set_rule(Some(FaultRule { suffix: ".sst.strata-tmp".into(), kind: io::ErrorKind::StorageFull }));
    let mut failed = None;
    for i in 1..100 {
        if let Err(e) = w.put(key(i), [1u8; 100]) {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("a block write failed");
    assert!(matches!(e, Error::Io { .. }), "{e}");
    faulty.set_rule(None);
    assert!(names(dir.path()).is_empty(), "partial file removed: {:?}", names(dir.path()));
    assert!(w.put(key(200), b"x").is_err());
    assert!(w.finish().is_err());
    assert!(names(dir.path()).is_empty());

    // A failing fsync in finish leaves nothing either.
    let mut w = SstFileWriter::create(dir.path().join("b.sst"), &opts).unwrap();
    w.put(key(0), b"x").unwrap();
    faulty.set_rule(Some(FaultRule { suffix: ".sst.strata-tmp".into(), kind: io::ErrorKind::StorageFull }));
    assert!(w.finish().is_err());
    faulty.set_rule(None);
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn for_cf_records_the_family_and_uses_the_database_options() {
    let dir = tempfile::tempdir().unwrap();
    let db = strata::Db::open(dir.path().join("db"), Options { block_size: 128, ..Default::default() }).unwrap();
    let cf = db.create_cf("users").unwrap();
    let path = dir.path().join("u.sst");
    let mut w = SstFileWriter::for_cf(&db, &cf, &path).unwrap();
    w.put(b"k", b"v").unwrap();
    w.finish().unwrap();
    let r = SstFileReader::open(&path).unwrap();
    assert_eq!(r.cf_id().unwrap(), Some(cf.id()));
    assert_eq!(r.cf_name().as_deref(), Some("users"));
    assert_eq!(r.properties().block_size, 128);
    db.drop_cf("users").unwrap();
    assert!(matches!(SstFileWriter::for_cf(&db, &cf, dir.path().join("x.sst")), Err(Error::ColumnFamilyNotFound(_))));
}

#[test]
fn reads_tables_a_database_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let db = strata::Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"a", b"1").unwrap();
    // A flush writes only the versions some reader can see: the snapshot keeps a@1 in the
    // table, so the raw iterator has two versions of one key to show.
    let snapshot = db.snapshot();
    db.put(b"a", b"2").unwrap();
    db.delete(b"b").unwrap();
    db.flush().unwrap();
    drop(snapshot);
    let table = names(dir.path()).into_iter().find(|n| n.ends_with(".sst")).unwrap();
    let r = SstFileReader::open(dir.path().join(table)).unwrap();
    assert!(!r.is_external());
    assert_eq!(r.cf_id().unwrap(), Some(strata_base::CfId::DEFAULT));
    r.verify_num_entries().unwrap();
    assert_eq!(r.get(b"a").unwrap().as_deref(), Some(&b"2"[..]), "newest version");
    assert_eq!(r.get(b"b").unwrap(), None);
    let mut raw = r.raw_iter();
    raw.seek_to_first();
    let mut entries = Vec::new();
    while raw.valid() {
        entries.push((raw.key().to_vec(), raw.sequence(), raw.kind()));
        raw.next();
    }
    assert_eq!(
        entries,
        vec![
            (b"a".to_vec(), 2, EntryKind::Put),
            (b"a".to_vec(), 1, EntryKind::Put),
            (b"b".to_vec(), 3, EntryKind::Delete)
        ]
    );
    let mut it = r.iter();
    it.seek_to_first();
    assert_eq!((it.key(), it.value()), (&b"a"[..], &b"2"[..]));
    it.next();
    assert!(!it.valid(), "b is deleted");
}

#[test]
fn flipped_byte_is_corruption_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.sst");
    let mut w = SstFileWriter::create(&path, &Options { block_size: 256, ..Default::default() }).unwrap();
    for i in 0..200 {
        w.put(key(i), format!("value-{i}")).unwrap();
    }
    w.finish().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let r = SstFileReader::open(&path).unwrap();
    let e = r.verify_checksums().unwrap_err();
    match &e {
        Error::Corruption { file, .. } => assert_eq!(file, &path),
        other => panic!("{other}"),
    }
    // Reading the damaged block reports it too.
    let mut it = r.iter();
    it.seek_to_first();
    while it.valid() {
        it.next();
    }
    assert!(matches!(it.status(), Err(Error::Corruption { .. })));
    assert!(r.verify_num_entries().is_err());
}

/// A comparator with the same order as the database's but another name.
#[derive(Debug)]
struct OtherName(strata_base::ikey::InternalKeyComparator);

impl Comparator for OtherName {
    fn name(&self) -> &str {
        "other.ReverseishComparator"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        self.0.compare(a, b)
    }
    fn separator(&self, a: &[u8], b: &[u8]) -> Vec<u8> {
        self.0.separator(a, b)
    }
    fn successor(&self, a: &[u8]) -> Vec<u8> {
        self.0.successor(a)
    }
    fn filter_key<'a>(&self, key: &'a [u8]) -> &'a [u8] {
        self.0.filter_key(key)
    }
}

/// Writes a one-entry table sorted by a comparator named differently.
pub fn write_foreign_comparator_table(fs: Arc<dyn FileSystem>, path: &Path) {
    let icmp = strata_base::ikey::InternalKeyComparator::new(Arc::new(strata_base::BytewiseComparator));
    let opts = strata_sst::TableOptions { comparator: Arc::new(OtherName(icmp)), ..Default::default() };
    let mut b = strata_sst::TableBuilder::create(fs, path, opts).unwrap();
    b.add(&strata_base::ikey::encode(b"k", 0, EntryKind::Put), EntryKind::Put, b"v").unwrap();
    b.finish().unwrap();
}

#[test]
fn comparator_mismatch_is_invalid_argument_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.sst");
    write_foreign_comparator_table(RealFs::arc(), &path);
    let e = SstFileReader::open(&path).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("foreign.sst") && e.to_string().contains("other.Reverseish"), "{e}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = SstFileReader::open(dir.path().join("none.sst")).unwrap_err();
    assert!(e.to_string().contains("none.sst"), "{e}");
}
