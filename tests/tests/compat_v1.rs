//! Compatibility: files written by format version 1 of every on-disk format, committed under
//! `tests/fixtures/v1/`, must be read by every later build with their exact contents.
//!
//! - `db/`: a database with two column families (`default`, `side`): one batch flushed to
//!   tables, a second batch (overwrites and deletes) left in the WAL only.
//! - `table/000001.sst`: a table with several small data blocks, zstd-compressed, a bloom
//!   filter, a user property and a fixed creation time.
//! - `wal/000001.log`: a log of three write batches, the last one 40000 bytes (First, Middle and
//!   Last fragments across blocks).
//! - `manifest/`: `CURRENT` and a manifest of a snapshot and three edits (a column family
//!   added, tables added and deleted).
//!
//! The fixtures were made by `generate_v1_fixtures` below with the code of the commit that
//! added them: `cargo test -p strata-tests --test compat_v1 -- --ignored generate_v1_fixtures`
//! writes them to `$STRATA_FIXTURES_OUT` (default `target/fixtures-v1`); it never overwrites
//! the committed ones. NEVER regenerate the committed fixtures: they are what old builds wrote.
//! A new format version gets its own `tests/fixtures/v2/` and its own test beside this one.
//!
//! The database is copied to a temporary directory before it is opened, so the fixture itself
//! is never written to.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata::{Db, Options, ReadOptions, WriteBatch};
use strata_base::ikey::{self, ValueKind};
use strata_base::{BytewiseComparator, FileSystem, RealFs};
use strata_manifest::{CfId, FileMeta, FileNumber, VersionEdit, VersionSet, VersionSetOptions};
use strata_sst::{Compression, EntryKind, Table, TableBuilder, TableOptions, TableReadOptions};
use strata_tests::dump_cf;
use strata_wal::{LogReader, LogWriter, RecoveryMode};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn fs() -> Arc<dyn FileSystem> {
    RealFs::arc()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v1")
}

fn map(pairs: &[(&str, &str)]) -> Map {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

// ---- the database ----

const SIDE: &str = "side";

/// The first batch (flushed to tables) and the second (left in the WAL), per column family.
fn db_batches(side: &strata::ColumnFamily) -> [WriteBatch; 2] {
    let mut first = WriteBatch::new();
    first.put("apple", "red");
    first.put("banana", "yellow");
    first.put("cherry", "dark red");
    first.put_cf(side, "k1", "v1");
    first.put_cf(side, "k2", "v2");
    let mut second = WriteBatch::new();
    second.put("banana", "green");
    second.delete("cherry");
    second.put("date", "brown");
    second.delete_cf(side, "k1");
    second.put_cf(side, "k3", "v3");
    [first, second]
}

fn db_expected_default() -> Map {
    map(&[("apple", "red"), ("banana", "green"), ("date", "brown")])
}

fn db_expected_side() -> Map {
    map(&[("k2", "v2"), ("k3", "v3")])
}

fn write_db(dir: &Path) {
    let db = Db::open(dir, Options::default()).unwrap();
    let side = db.create_cf(SIDE).unwrap();
    let [first, second] = db_batches(&side);
    db.write(first, &strata::WriteOptions { sync: true, ..Default::default() }).unwrap();
    db.flush().unwrap();
    db.write(second, &strata::WriteOptions { sync: true, ..Default::default() }).unwrap();
    db.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        assert!(e.file_type().unwrap().is_file(), "fixture {} holds only files", from.display());
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn check_db_contents(db: &Db, what: &str) {
    assert_eq!(db.cf_names(), vec!["default".to_string(), SIDE.to_string()], "{what}");
    let ro = ReadOptions::default();
    assert_eq!(dump_cf(db, &db.default_cf(), &ro), db_expected_default(), "{what}: default");
    let side = db.cf(SIDE).expect("side column family");
    assert_eq!(dump_cf(db, &side, &ro), db_expected_side(), "{what}: side");
    assert_eq!(db.get("cherry").unwrap(), None, "{what}: deleted in the WAL over a table");
    assert_eq!(db.get_cf(&side, "k1").unwrap(), None, "{what}: deleted in the WAL over a table");
}

#[test]
fn v1_database_opens_with_its_exact_contents() {
    let fixture = fixtures().join("db");
    let names: Vec<String> =
        std::fs::read_dir(&fixture).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    // What the fixture is meant to hold: tables, and a WAL that still has data.
    assert!(names.iter().any(|n| n.ends_with(".sst")), "tables in {names:?}");
    assert!(names.iter().any(|n| n == "CURRENT"), "CURRENT in {names:?}");
    let wal_bytes: u64 =
        names.iter().filter(|n| n.ends_with(".log")).map(|n| std::fs::metadata(fixture.join(n)).unwrap().len()).sum();
    assert!(wal_bytes > 0, "an unflushed WAL in {names:?}");

    let tmp = tempfile::tempdir().unwrap();
    let ro_copy = tmp.path().join("ro");
    copy_dir(&fixture, &ro_copy);
    let db = Db::open_read_only(&ro_copy, Options::default()).unwrap();
    check_db_contents(&db, "read-only");
    drop(db);

    let rw = tmp.path().join("rw");
    copy_dir(&fixture, &rw);
    let db = Db::open(&rw, Options::default()).unwrap();
    check_db_contents(&db, "read-write");
    // The old files keep working under new writes, flushes and compactions.
    db.put("elder", "berry").unwrap();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    db.close().unwrap();
    let db = Db::open(&rw, Options::default()).unwrap();
    let mut want = db_expected_default();
    want.insert(b"elder".to_vec(), b"berry".to_vec());
    assert_eq!(dump_cf(&db, &db.default_cf(), &ReadOptions::default()), want);
    // The side family still reads its version 1 table beside the new tables.
    let side = db.cf(SIDE).expect("side column family");
    assert_eq!(dump_cf(&db, &side, &ReadOptions::default()), db_expected_side());
    assert_eq!(db.get_cf(&side, "k2").unwrap().as_deref(), Some(&b"v2"[..]));
    db.close().unwrap();
}

/// A table of a format version this build does not read is reported as such through the
/// engine (`Error::is_unsupported_version`), not as corruption.
#[test]
fn v1_database_with_a_table_of_another_version_is_unsupported_not_corrupt() {
    use strata_sst::format::{FOOTER_CRC_AT, FOOTER_LEN, FOOTER_VERSION_AT, FORMAT_VERSION};
    // The first version no build reads yet (version 2 is read since the cache-local filter).
    let unknown = FORMAT_VERSION + 1;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    copy_dir(&fixtures().join("db"), &dir);
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "sst") {
            let mut t = std::fs::read(&path).unwrap();
            let f = t.len() - FOOTER_LEN;
            t[f + FOOTER_VERSION_AT..f + FOOTER_VERSION_AT + 4].copy_from_slice(&unknown.to_le_bytes());
            let crc = strata_base::checksum::mask(strata_base::checksum::crc32(&t[f..f + FOOTER_CRC_AT]));
            t[f + FOOTER_CRC_AT..f + FOOTER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(&path, t).unwrap();
        }
    }
    let err = match Db::open(&dir, Options::default()) {
        Err(e) => e,
        Ok(db) => db.get("apple").expect_err("a table of an unknown version must not be read"),
    };
    assert!(err.is_unsupported_version(), "{err}");
    assert!(!err.is_corruption(), "{err}");
    assert!(err.to_string().contains(".sst"), "names the table: {err}");
}

// ---- the table ----

fn table_entries() -> Vec<(Vec<u8>, EntryKind, Vec<u8>)> {
    (0..40u32)
        .map(|i| {
            let key = format!("key{i:03}").into_bytes();
            if i % 7 == 3 {
                (key, EntryKind::Delete, Vec::new())
            } else {
                (key, EntryKind::Put, format!("value {i} {}", "x".repeat(i as usize)).into_bytes())
            }
        })
        .collect()
}

fn table_options() -> TableOptions {
    TableOptions { block_size: 256, compression: Compression::Zstd { level: 3 }, ..TableOptions::default() }
}

const TABLE_CREATION_TIME: u64 = 1_750_000_000;

fn write_table(path: &Path) {
    let mut b = TableBuilder::create(RealFs::arc(), path, table_options()).unwrap();
    b.set_creation_time(TABLE_CREATION_TIME);
    b.set_user_property("fixture", b"v1");
    for (k, kind, v) in table_entries() {
        b.add(&k, kind, &v).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn v1_table_reads_with_its_exact_contents() {
    let path = fixtures().join("table/000001.sst");
    let t = Table::open_path(&*fs(), &path, TableReadOptions::default()).unwrap();
    t.verify_checksums().unwrap();
    let p = t.properties();
    let want = table_entries();
    assert_eq!(p.format_version, 1);
    assert_eq!(p.num_entries, want.len() as u64);
    assert_eq!(p.num_deletions, want.iter().filter(|e| e.1 == EntryKind::Delete).count() as u64);
    assert_eq!(p.creation_time, TABLE_CREATION_TIME);
    assert_eq!(p.compression, Compression::Zstd { level: 3 });
    assert!(p.num_data_blocks > 1, "several data blocks");
    assert_eq!(p.user.get("fixture").map(Vec::as_slice), Some(&b"v1"[..]));
    assert_eq!(strata_tests::table_contents(&t), want);
    for (k, kind, v) in &want {
        let (gk, gv) = t.get(k).unwrap().expect("every key is found");
        assert_eq!((gk, &gv[..]), (*kind, &v[..]));
    }
    assert_eq!(t.get(b"key999").unwrap(), None);
    // The version 1 filter still answers exactly as it did: no false negatives, and the false
    // positives among 20000 absent keys counted by an independent reader written from the
    // version 1 filter rules of docs/format/sst.md.
    for (k, _, _) in &want {
        assert!(t.may_contain(k), "filter false negative");
    }
    let fp = (0..20_000u32).filter(|i| t.may_contain(format!("absent{i}").as_bytes())).count();
    assert_eq!(fp, 189, "false positives among 20000 absent keys");
}

// ---- the WAL ----

/// The write batches of the WAL fixture, encoded by hand from `docs/format/write_batch.md`
/// (base sequence, count, then tagged records), so the test does not trust the encoder.
fn wal_payloads() -> Vec<Vec<u8>> {
    fn varint(dst: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            dst.push((v as u8) | 0x80);
            v >>= 7;
        }
        dst.push(v as u8);
    }
    /// One op: tag, explicit column family id (tags 2 and 3), key, value (tags 1 and 3).
    type Op<'a> = (u8, Option<u32>, &'a [u8], &'a [u8]);
    fn batch(seq: u64, ops: &[Op<'_>]) -> Vec<u8> {
        let mut b = seq.to_le_bytes().to_vec();
        b.extend_from_slice(&(ops.len() as u32).to_le_bytes());
        for &(tag, cf, k, v) in ops {
            b.push(tag);
            if let Some(cf) = cf {
                varint(&mut b, u64::from(cf));
            }
            varint(&mut b, k.len() as u64);
            b.extend_from_slice(k);
            if tag & 1 == 1 {
                varint(&mut b, v.len() as u64);
                b.extend_from_slice(v);
            }
        }
        b
    }
    let big = vec![b'z'; 40_000 - 12 - 1 - 1 - 3 - 3];
    vec![
        batch(1, &[(1, None, b"a", b"1"), (3, Some(1), b"b", b"2")]),
        batch(3, &[(0, None, b"a", b""), (2, Some(300), b"cc", b"")]),
        batch(5, &[(1, None, b"big", &big)]),
    ]
}

fn write_wal(path: &Path) {
    let mut w = LogWriter::with_path(fs().create(path).unwrap(), path);
    for p in wal_payloads() {
        w.add_record(&p).unwrap();
    }
    w.sync().unwrap();
}

#[test]
fn v1_wal_reads_with_its_exact_records() {
    let path = fixtures().join("wal/000001.log");
    let want = wal_payloads();
    assert_eq!(want[2].len(), 40_000, "the last record spans two blocks");
    let file = fs().open(&path).unwrap();
    let mut r = LogReader::new(file, &path, RecoveryMode::AbsoluteConsistency);
    let mut got = Vec::new();
    while let Some(rec) = r.read_record().unwrap() {
        got.push((rec.offset, rec.payload.to_vec()));
    }
    let payloads: Vec<Vec<u8>> = got.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(payloads, want);
    let offsets: Vec<u64> = got.iter().map(|(o, _)| *o).collect();
    // 7-byte headers, records back to back in block 0 until the big one.
    let o1 = 7 + want[0].len() as u64;
    assert_eq!(offsets, vec![0, o1, o1 + 7 + want[1].len() as u64]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), offsets[2] + 40_000 + 2 * 7);
}

// ---- the manifest ----

fn meta(file_number: FileNumber, lo: &str, hi: &str, seq: u64) -> FileMeta {
    let number = file_number.get();
    FileMeta {
        number: file_number,
        size: 1000 + number,
        smallest: ikey::encode(lo.as_bytes(), seq, ValueKind::Put),
        largest: ikey::encode(hi.as_bytes(), seq, ValueKind::Delete),
        smallest_seq: seq,
        largest_seq: seq,
        checksum: 0x1234_5678 ^ number as u32,
        // Version 1 manifests predate epochs and global sequence numbers (0: absent).
        epoch: 0,
        global_seq: 0,
    }
}

fn manifest_opts() -> VersionSetOptions {
    VersionSetOptions {
        comparator: Arc::new(ikey::InternalKeyComparator::new(Arc::new(BytewiseComparator))),
        manifest_size_limit: 1 << 20,
    }
}

/// The edits applied after creation: a column family, three tables, then one moved down.
fn manifest_edits(set: &mut VersionSet, dir: &Path, touch: bool) -> Vec<VersionEdit> {
    let cmp = set.options().comparator.name().to_string();
    let mut edits = Vec::new();
    let mut e = VersionEdit::new();
    e.add_cf(CfId::new(1), SIDE, cmp);
    edits.push(e);
    let numbers: Vec<FileNumber> = (0..3).map(|_| set.new_file_number()).collect();
    if touch {
        for n in &numbers {
            fs().write_atomic(&dir.join(strata_manifest::table_file_name(*n)), b"placeholder").unwrap();
        }
    }
    let mut e = VersionEdit::new();
    e.add_file(CfId::DEFAULT, 0, meta(numbers[0], "a", "m", 5));
    e.add_file(CfId::new(1), 0, meta(numbers[1], "k", "z", 6));
    edits.push(e);
    let mut e = VersionEdit::new();
    e.delete_file(CfId::DEFAULT, 0, numbers[0]);
    e.add_file(CfId::DEFAULT, 1, meta(numbers[2], "a", "m", 5));
    edits.push(e);
    edits
}

fn write_manifest(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut set = VersionSet::create_new(RealFs::arc(), dir, manifest_opts()).unwrap();
    for e in manifest_edits(&mut set, dir, true) {
        set.log_and_apply(e).unwrap();
    }
    // The placeholder tables are not part of the fixture; the test makes its own.
    for name in fs().list(dir).unwrap() {
        if name.ends_with(".sst") {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
    }
}

#[test]
fn v1_manifest_recovers_its_exact_version() {
    let fixture = fixtures().join("manifest");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_dir(&fixture, &dir);
    // The same edits applied to a fresh set give the state the fixture must recover to.
    let model_dir = tmp.path().join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    let mut model = VersionSet::create_new(RealFs::arc(), &model_dir, manifest_opts()).unwrap();
    for e in manifest_edits(&mut model, &model_dir, true) {
        model.log_and_apply(e).unwrap();
    }
    for n in model.live_table_numbers() {
        fs().write_atomic(&dir.join(strata_manifest::table_file_name(n)), b"placeholder").unwrap();
    }
    let set = VersionSet::recover(RealFs::arc(), &dir, manifest_opts(), true).unwrap();
    // Version 1 tables have no epochs; recovery gives them epochs from their order
    // (docs/format/manifest.md, "Epoch"): 1 below L0, 2, 3, ... for L0 from oldest to newest.
    assert_eq!(*set.current(), model.current().with_recovered_epochs());
    for cf in set.current().cfs() {
        for (level, f) in cf.files() {
            assert_eq!(f.epoch, if level == 0 { 2 } else { 1 }, "table {} at L{level}", f.number);
        }
    }
    assert_eq!(set.next_file_number(), model.next_file_number());
    assert_eq!(set.last_sequence(), model.last_sequence());
    assert_eq!(set.log_number(), model.log_number());
    assert_eq!(set.next_cf_id(), CfId::new(2));
    let cfs: Vec<(u32, String)> = set.current().cfs().map(|c| (c.id.get(), c.name.clone())).collect();
    assert_eq!(cfs, vec![(0, "default".to_string()), (1, SIDE.to_string())]);
    assert_eq!(set.live_table_numbers().len(), 2);
    // Pinned values, independent of what today's code would do with the same edits.
    assert_eq!((set.next_file_number().get(), set.last_sequence(), set.log_number().get()), (5, 0, 0));
    let files: Vec<(u32, usize, u64, u64)> = set
        .current()
        .cfs()
        .flat_map(|c| c.files().map(|(l, f)| (c.id.get(), l, f.number.get(), f.size)).collect::<Vec<_>>())
        .collect();
    assert_eq!(files, vec![(0, 1, 4, 1004), (1, 0, 3, 1003)]);
    let t4 = set.current().cf(CfId::DEFAULT).unwrap().files().map(|(_, f)| Arc::clone(f)).next().unwrap();
    assert_eq!(*t4, FileMeta { epoch: 1, ..meta(FileNumber::new(4), "a", "m", 5) });
    // Read-write recovery works too (it rolls over to a new manifest in the copy).
    drop(set);
    let set = VersionSet::recover(RealFs::arc(), &dir, manifest_opts(), false).unwrap();
    assert_eq!(*set.current(), model.current().with_recovered_epochs());
}

// ---- the generator ----

#[test]
#[ignore = "writes new fixtures; run by hand only for a new format version (see the module doc)"]
fn generate_v1_fixtures() {
    let out = strata_tests::new_fixtures_dir("fixtures-v1");
    write_db(&out.join("db"));
    // The lock file is not part of a database's contents.
    let _ = std::fs::remove_file(out.join("db/LOCK"));
    std::fs::create_dir_all(out.join("table")).unwrap();
    write_table(&out.join("table/000001.sst"));
    std::fs::create_dir_all(out.join("wal")).unwrap();
    write_wal(&out.join("wal/000001.log"));
    write_manifest(&out.join("manifest"));
    println!("fixtures written to {}", out.display());
}
