//! The builder's contract: order and size checks, no file left behind unless finished,
//! failures are sticky, user properties and metadata; the reader's comparator check, filter
//! keys under the engine's internal-key comparator, and the shared block cache.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use bytes::Bytes;
use common::*;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;
use strata_base::fs::Fault;
use strata_base::ikey::{self, InternalKeyComparator};
use strata_base::{BytewiseComparator, Comparator, FileSystem, SimFs};
use strata_sst::{BlockCache, EntryKind, Error, KEY_LEN_MAX, Table, TableBuilder, TableOptions, TableReadOptions};

const PATH: &str = "/db/000001.sst";

fn fs() -> SimFs {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    fs
}

#[test]
fn keys_out_of_order_are_rejected_with_both_keys() {
    let fs = fs();
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    b.add(b"banana", EntryKind::Put, b"1").unwrap();
    for bad in [&b"apple"[..], b"banana"] {
        let err = b.add(bad, EntryKind::Put, b"2").unwrap_err();
        let Error::InvalidArgument(msg) = &err else { panic!("{err:?}") };
        assert!(msg.contains("banana") && msg.contains(std::str::from_utf8(bad).unwrap()), "{msg}");
    }
    // The builder is still usable after a rejected key.
    b.add(b"cherry", EntryKind::Delete, b"").unwrap();
    let meta = b.finish().unwrap();
    assert_eq!((meta.num_entries, meta.num_deletions), (2, 1));
    assert_eq!((meta.smallest_key.as_slice(), meta.largest_key.as_slice()), (&b"banana"[..], &b"cherry"[..]));
}

#[test]
fn oversized_key_is_rejected() {
    let fs = fs();
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    let key = vec![b'k'; KEY_LEN_MAX + 1];
    assert!(matches!(b.add(&key, EntryKind::Put, b""), Err(Error::InvalidArgument(_))));
    b.add(&key[..KEY_LEN_MAX], EntryKind::Put, b"v").unwrap();
    b.finish().unwrap();
    let t = Table::open_path(&fs, Path::new(PATH), TableReadOptions::default()).unwrap();
    assert_eq!(t.get(&key[..KEY_LEN_MAX]).unwrap().map(|(_, v)| v), Some(Bytes::from_static(b"v")));
}

#[test]
fn empty_table_is_an_error_and_leaves_no_file() {
    let fs = fs();
    let b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    assert!(fs.exists(Path::new(PATH)));
    assert!(matches!(b.finish(), Err(Error::InvalidArgument(_))));
    assert!(!fs.exists(Path::new(PATH)));
}

#[test]
fn unfinished_builder_leaves_no_file_and_partial_bytes_are_not_a_table() {
    let fs = fs();
    let mut b =
        TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions { block_size: 64, ..Default::default() }).unwrap();
    for (k, (kind, v)) in &sample_model(100, 20) {
        b.add(k, *kind, v).unwrap();
    }
    let partial = fs.read_all(Path::new(PATH)).unwrap();
    assert!(partial.len() > 1000, "data blocks are written as they fill");
    assert!(open(partial, TableReadOptions::default()).unwrap_err().is_corruption());
    drop(b);
    assert!(!fs.exists(Path::new(PATH)));

    let b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    b.abandon();
    assert!(!fs.exists(Path::new(PATH)));
}

#[test]
fn io_failure_is_sticky_and_removes_the_file() {
    let fs = fs();
    let mut b =
        TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions { block_size: 64, ..Default::default() }).unwrap();
    fs.set_fault(Some(Fault::NoSpace));
    let model = sample_model(50, 30);
    let err = model.iter().map(|(k, (kind, v))| b.add(k, *kind, v)).find_map(Result::err).unwrap();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    fs.set_fault(None);
    assert!(matches!(b.add(b"zzzz", EntryKind::Put, b""), Err(Error::Io { .. })), "a failed builder must stay failed");
    assert!(b.finish().is_err());
    assert!(!fs.exists(Path::new(PATH)));
}

#[test]
fn failed_fsync_fails_finish() {
    let fs = fs();
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    b.add(b"a", EntryKind::Put, b"1").unwrap();
    fs.set_fault(Some(Fault::SyncFails));
    assert!(matches!(b.finish(), Err(Error::Io { .. })));
    fs.set_fault(None);
    assert!(!fs.exists(Path::new(PATH)));
}

#[test]
fn finished_table_survives_a_crash() {
    let fs = fs();
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    b.add(b"a", EntryKind::Put, b"1").unwrap();
    b.finish().unwrap();
    fs.sync_dir(Path::new("/db")).unwrap();
    fs.crash();
    let t = Table::open_path(&fs, Path::new(PATH), TableReadOptions::default()).unwrap();
    t.verify_checksums().unwrap();
}

#[test]
fn user_properties_and_metadata_round_trip() {
    let fs = fs();
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), TableOptions::default()).unwrap();
    b.set_user_property("strata.seq.max", &42u64.to_le_bytes());
    b.set_user_property("strata.cf", b"\x03");
    b.set_creation_time(1_700_000_000);
    let model = sample_model(500, 30);
    let mut last_estimate = 0;
    for (k, (kind, v)) in &model {
        b.add(k, *kind, v).unwrap();
        assert!(b.estimated_size() >= last_estimate);
        last_estimate = b.estimated_size();
    }
    assert_eq!(b.num_entries(), 500);
    let meta = b.finish().unwrap();
    let ratio = meta.file_size as f64 / last_estimate as f64;
    assert!((0.8..1.25).contains(&ratio), "estimate {last_estimate} vs size {}", meta.file_size);
    let t = Table::open_path(&fs, Path::new(PATH), TableReadOptions::default()).unwrap();
    let p = t.properties();
    assert_eq!(p.user.get("strata.seq.max").map(Vec::as_slice), Some(&42u64.to_le_bytes()[..]));
    assert_eq!(p.user.get("strata.cf").map(Vec::as_slice), Some(&b"\x03"[..]));
    assert_eq!(p.creation_time, 1_700_000_000);
    assert_eq!(p.comparator, BytewiseComparator::NAME);
    assert_eq!(p.format_version, strata_sst::format::FORMAT_VERSION);
    assert_eq!((&p.smallest_key, &p.largest_key), (&meta.smallest_key, &meta.largest_key));
    // Data, filter, index, properties and footer make up the whole file; the properties block
    // (with its trailer) is what is left.
    let props_len = meta.file_size - (p.data_bytes + p.index_bytes + p.filter_bytes + 68);
    assert!((100..400).contains(&props_len), "properties block of {props_len} bytes");
    assert!(p.raw_data_bytes <= p.data_bytes, "no compression: stored includes trailers");
    assert_eq!(p.num_data_blocks as usize, (p.data_bytes - p.raw_data_bytes) as usize / 5);
    assert_eq!((t.file_size(), t.path()), (meta.file_size, Path::new(PATH)));
}

#[derive(Debug)]
struct Reverse;

impl Comparator for Reverse {
    fn name(&self) -> &str {
        "test.Reverse"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        b.cmp(a)
    }
}

#[test]
fn comparator_is_pluggable_and_checked_on_open() {
    let fs = fs();
    let opts = TableOptions { comparator: Arc::new(Reverse), block_size: 64, ..Default::default() };
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), opts).unwrap();
    assert!(b.add(b"b", EntryKind::Put, b"").is_ok());
    assert!(matches!(b.add(b"c", EntryKind::Put, b""), Err(Error::InvalidArgument(_))));
    let keys: Vec<Vec<u8>> = (0..100u32).rev().map(|i| format!("{i:03}").into_bytes()).collect();
    for k in keys.iter().filter(|k| k.as_slice() < b"b".as_slice()) {
        b.add(k, EntryKind::Put, k).unwrap();
    }
    b.finish().unwrap();
    let err = Table::open_path(&fs, Path::new(PATH), TableReadOptions::default()).unwrap_err();
    let Error::InvalidArgument(msg) = &err else { panic!("{err:?}") };
    assert!(msg.contains("test.Reverse") && msg.contains(BytewiseComparator::NAME), "{msg}");
    let ropts = TableReadOptions { comparator: Arc::new(Reverse), ..Default::default() };
    let t = Table::open_path(&fs, Path::new(PATH), ropts).unwrap();
    let mut it = t.iter();
    it.seek(b"050");
    assert_eq!(it.key(), b"050");
    it.next();
    assert_eq!(it.key(), b"049");
    it.seek_for_prev(b"0505");
    assert_eq!(it.key(), b"051");
    assert_eq!(t.get(b"007").unwrap().map(|(_, v)| v), Some(Bytes::from_static(b"007")));
}

#[test]
fn filter_hashes_user_keys_under_the_internal_key_comparator() {
    let fs = fs();
    let icmp: Arc<dyn Comparator> = Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)));
    let opts = TableOptions { comparator: icmp.clone(), ..Default::default() };
    let mut b = TableBuilder::create(fs.arc(), Path::new(PATH), opts).unwrap();
    for i in 0..1000u32 {
        let user = format!("user{i:05}");
        // Two versions of every key, newest first.
        b.add(&ikey::encode(user.as_bytes(), 20, EntryKind::Put), EntryKind::Put, b"new").unwrap();
        b.add(&ikey::encode(user.as_bytes(), 10, EntryKind::Delete), EntryKind::Delete, b"").unwrap();
    }
    b.finish().unwrap();
    let ropts = TableReadOptions { comparator: icmp, ..Default::default() };
    let t = Table::open_path(&fs, Path::new(PATH), ropts).unwrap();
    assert!(t.may_contain(b"user00500"));
    let absent = (0..1000).filter(|i| t.may_contain(format!("nouser{i}").as_bytes())).count();
    assert!(absent < 40, "{absent} false positives in 1000");
    // Exact lookups of internal keys, and the engine's "newest version <= seq" seek.
    let (kind, _) = t.get(&ikey::encode(b"user00500", 10, EntryKind::Delete)).unwrap().unwrap();
    assert_eq!(kind, EntryKind::Delete);
    let (k, kind, v) = t.seek_entry(&ikey::lookup_key(b"user00500", 15)).unwrap().unwrap();
    assert_eq!(ikey::parse(&k).map(|p| (p.user_key, p.seq)), Some((&b"user00500"[..], 10)));
    assert_eq!((kind, v.as_ref()), (EntryKind::Delete, &b""[..]));
    assert!(t.get(&ikey::encode(b"user00500", 11, EntryKind::Put)).unwrap().is_none());
}

#[test]
fn cache_is_shared_between_tables() {
    let cache = Arc::new(BlockCache::new(1 << 20));
    let m = sample_model(300, 40);
    let (bytes, _) = build(&m, TableOptions::default());
    let tables: Vec<_> = (1..=2u64)
        .map(|id| {
            let ropts = TableReadOptions { cache: Some(cache.clone()), cache_id: id, ..Default::default() };
            open(bytes.clone(), ropts).unwrap()
        })
        .collect();
    let key = m.keys().nth(150).unwrap();
    for t in &tables {
        assert!(t.get(key).unwrap().is_some());
    }
    assert_eq!((cache.hits(), cache.misses()), (0, 2), "distinct ids do not share entries");
    for t in &tables {
        assert!(t.get(key).unwrap().is_some());
    }
    assert_eq!(cache.hits(), 2);
    scan_forward(&tables[0]).unwrap();
    assert!(cache.usage() >= tables[0].properties().raw_data_bytes as usize);
}

#[test]
fn open_tables_charge_their_index_and_filter_to_the_cache() {
    let cache = Arc::new(BlockCache::new(1 << 20));
    let m = sample_model(2000, 40);
    let (bytes, _) = build(&m, TableOptions::default());
    let ropts = TableReadOptions { cache: Some(cache.clone()), cache_id: 1, ..Default::default() };
    let t = open(bytes.clone(), ropts.clone()).unwrap();
    let pinned = t.pinned_bytes();
    // The index (one entry per data block) and the filter (about 10 bits per key).
    assert!(pinned > 2000 * 10 / 8, "{pinned}");
    assert_eq!(cache.reserved(), pinned);
    let t2 = open(bytes, TableReadOptions { cache_id: 2, ..ropts }).unwrap();
    assert_eq!(cache.reserved(), pinned + t2.pinned_bytes());
    // Filling the cache leaves room for the reservations.
    scan_forward(&t).unwrap();
    scan_forward(&t2).unwrap();
    assert!(cache.usage() + cache.reserved() <= cache.capacity());
    drop(t);
    assert_eq!(cache.reserved(), t2.pinned_bytes());
    drop(t2);
    assert_eq!(cache.reserved(), 0);
}
