//! Compatibility: tables written by format version 3 (the entry kind folded into the key-length
//! varint, index values that hold a block's size alone), committed under `tests/fixtures/v3/`,
//! must be read by every later build with their exact contents.
//!
//! - `table/000001.sst`: 400 keys of 5 to 104 bytes under the bytewise comparator (so some
//!   entries store 64 or more key bytes, whose `non_shared << 1 | kind` takes two varint
//!   bytes), values of 0 to 299 bytes (some lengths take two varint bytes), about one in seven
//!   a tombstone, 512-byte blocks with restart interval 4, no compression, 10 bloom bits per
//!   key, a user property and a fixed creation time.
//! - `table/000002.sst`: what the engine writes: internal keys (`InternalKeyComparator` over
//!   bytewise) with up to three versions of each of 300 user keys, Puts and Deletes,
//!   zstd-compressed blocks (the index block too), 1024-byte blocks.
//!
//! Only the table format changed in version 3 (WAL, manifest and database layout are as in
//! `tests/fixtures/v1/`). The fixtures were made by `generate_v3_fixtures` below with the code
//! of the commit that added them: `cargo test -p strata-tests --test compat_v3 -- --ignored
//! generate_v3_fixtures` writes them to `$STRATA_FIXTURES_OUT` (default
//! `target/fixtures-v3`); it never overwrites the committed ones. NEVER regenerate the
//! committed fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::ikey::{self, InternalKeyComparator};
use strata_base::{BytewiseComparator, Comparator, RealFs};
use strata_sst::{Compression, EntryKind, Table, TableBuilder, TableOptions, TableReadOptions};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v3")
}

const TABLE_CREATION_TIME: u64 = 1_764_561_600;

type Entries = Vec<(Vec<u8>, EntryKind, Vec<u8>)>;

fn bytewise_entries() -> Entries {
    (0..400u32)
        .map(|i| {
            // Keys of 5 to 104 bytes, strictly increasing.
            let key = format!("k{i:04}{}", "-".repeat((i * 37 % 100) as usize)).into_bytes();
            if i % 7 == 3 {
                (key, EntryKind::Delete, Vec::new())
            } else {
                let v = format!("value {i} ").repeat(40);
                (key, EntryKind::Put, v.into_bytes()[..(i * 31 % 300) as usize].to_vec())
            }
        })
        .collect()
}

fn bytewise_options() -> TableOptions {
    TableOptions {
        block_size: 512,
        restart_interval: 4,
        compression: Compression::None,
        bloom_bits_per_key: 10,
        ..TableOptions::default()
    }
}

fn internal_comparator() -> Arc<dyn Comparator> {
    Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)))
}

fn internal_entries() -> Entries {
    let mut out = Vec::new();
    for u in 0..300u64 {
        let user = format!("user{:08}", u * 7919 % 100_000);
        let versions = 1 + u % 3;
        for v in 0..versions {
            // Newest first: sequence numbers descend within a user key.
            let seq = 1000 + u * 3 + (versions - v);
            let kind = if (u + v) % 5 == 4 { EntryKind::Delete } else { EntryKind::Put };
            let value =
                if kind == EntryKind::Delete { Vec::new() } else { format!("{user}@{seq}").repeat(4).into_bytes() };
            out.push((ikey::encode(user.as_bytes(), seq, kind), kind, value));
        }
    }
    out.sort_by(|a, b| internal_comparator().compare(&a.0, &b.0));
    out
}

fn internal_options() -> TableOptions {
    TableOptions {
        block_size: 1024,
        compression: Compression::Zstd { level: 3 },
        bloom_bits_per_key: 10,
        comparator: internal_comparator(),
        ..TableOptions::default()
    }
}

fn write_table(path: &Path, opts: TableOptions, entries: &Entries, property: &[u8]) {
    let mut b = TableBuilder::create(RealFs::arc(), path, opts).unwrap();
    b.set_creation_time(TABLE_CREATION_TIME);
    b.set_user_property("fixture", property);
    for (k, kind, v) in entries {
        b.add(k, *kind, v).unwrap();
    }
    b.finish().unwrap();
}

fn open(name: &str, comparator: Arc<dyn Comparator>) -> Arc<Table> {
    let path = fixtures().join("table").join(name);
    let ropts = TableReadOptions { comparator, ..TableReadOptions::default() };
    let t = Table::open_path(&*RealFs::arc(), &path, ropts).unwrap();
    t.verify_checksums().unwrap();
    t
}

/// Everything a reader can ask: a scan each way, `get` and `seek_entry` of every key, and the
/// index's implied handles, contiguous from 0.
fn check(t: &Arc<Table>, want: &Entries) {
    assert_eq!(t.properties().format_version, 3);
    assert_eq!(t.properties().num_entries, want.len() as u64);
    assert_eq!(t.properties().creation_time, TABLE_CREATION_TIME);
    assert_eq!(&strata_tests::table_contents(t), want);
    let mut it = t.iter();
    it.seek_to_last();
    for (k, _, _) in want.iter().rev() {
        assert_eq!(it.key(), &k[..]);
        it.prev();
    }
    assert!(!it.valid());
    it.status().unwrap();
    for (k, kind, v) in want {
        assert!(t.may_contain(t_filter_key(t, k)), "filter false negative");
        let (gk, gv) = t.get(k).unwrap().expect("every key is found");
        assert_eq!((gk, &gv[..]), (*kind, &v[..]));
        let (sk, skind, sv) = t.seek_entry(k).unwrap().unwrap();
        assert_eq!((&sk[..], skind, &sv[..]), (&k[..], *kind, &v[..]));
    }
    let index = t.index_entries().unwrap();
    assert_eq!(index.len() as u64, t.properties().num_data_blocks);
    let mut offset = 0;
    for (_, h) in &index {
        assert_eq!(h.offset, offset);
        offset = h.end().unwrap();
    }
    assert_eq!(offset, t.properties().data_bytes);
}

fn t_filter_key<'a>(t: &Arc<Table>, k: &'a [u8]) -> &'a [u8] {
    if t.properties().comparator == BytewiseComparator::NAME { k } else { ikey::user_key(k) }
}

#[test]
fn v3_bytewise_table_reads_with_its_exact_contents() {
    let t = open("000001.sst", Arc::new(BytewiseComparator));
    let want = bytewise_entries();
    check(&t, &want);
    let p = t.properties();
    assert_eq!(p.user.get("fixture").map(Vec::as_slice), Some(&b"v3"[..]));
    // Some keys store 64 or more bytes after their shared prefix (two-byte header varint).
    assert!(want.iter().any(|(k, _, _)| k.len() >= 64 + 5));
    // The sizes are part of the format: a reader that laid entries out otherwise would differ.
    assert_eq!((p.data_bytes, p.index_bytes, p.num_data_blocks), BYTEWISE_SIZES);
    assert_eq!(t.get(b"absent").unwrap(), None);
}

#[test]
fn v3_internal_key_zstd_table_reads_with_its_exact_contents() {
    let t = open("000002.sst", internal_comparator());
    let want = internal_entries();
    check(&t, &want);
    let p = t.properties();
    assert_eq!(p.user.get("fixture").map(Vec::as_slice), Some(&b"v3-internal"[..]));
    assert!(matches!(p.compression, Compression::Zstd { level: 3 }));
    assert_eq!((p.data_bytes, p.index_bytes, p.num_data_blocks), INTERNAL_SIZES);
    // A lookup key (the newest possible version) finds the newest version of its user key.
    let (k0, kind0, _) = &want[0];
    let lookup = ikey::lookup_key(ikey::user_key(k0), ikey::SEQ_MAX);
    let (sk, skind, _) = t.seek_entry(&lookup).unwrap().unwrap();
    assert_eq!((&sk[..], skind), (&k0[..], *kind0));
}

/// `(data_bytes, index_bytes, num_data_blocks)` of the committed fixtures, read once from them.
const BYTEWISE_SIZES: (u64, u64, u64) = (75218, 8314, 121);
const INTERNAL_SIZES: (u64, u64, u64) = (10259, 480, 39);

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
    }
    panic!("varint too long")
}

/// Decodes the raw index block and the first data block of the uncompressed fixture from the
/// bytes, following docs/format/sst.md alone (no strata_sst decoding), and compares them with
/// what the reader reports.
#[test]
fn v3_bytes_follow_the_document() {
    let path = fixtures().join("table/000001.sst");
    let b = std::fs::read(&path).unwrap();
    let footer = &b[b.len() - 68..];
    let fixed64 = |at: usize| u64::from_le_bytes(footer[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(u32::from_le_bytes(footer[52..56].try_into().unwrap()), 3, "format version");
    let (index_at, index_size, filter_at) = (fixed64(0), fixed64(8), fixed64(16));
    assert_eq!(b[index_at + index_size], 0, "index stored raw");
    let index = &b[index_at..index_at + index_size];
    let n = u32::from_le_bytes(index[index.len() - 4..].try_into().unwrap()) as usize;
    let restarts_at = index.len() - 4 - 4 * n;
    let mut at = 0;
    let mut offset = 0;
    let mut handles = Vec::new();
    while at < restarts_at {
        assert_eq!(varint(index, &mut at), 0, "index entries share nothing");
        let key_kind = varint(index, &mut at);
        assert_eq!(key_kind & 1, 1, "index entries are Puts");
        let value_len = varint(index, &mut at) as usize;
        let key = index[at..at + (key_kind >> 1) as usize].to_vec();
        at += (key_kind >> 1) as usize;
        let mut v = at;
        let size = varint(index, &mut v);
        assert_eq!(v, at + value_len, "the value is one varint64 size");
        at = v;
        handles.push((key, offset, size));
        offset += size + 5;
    }
    assert_eq!(offset as usize, filter_at, "the data blocks end where the filter starts");
    let t = open("000001.sst", Arc::new(BytewiseComparator));
    let got: Vec<_> = t.index_entries().unwrap().into_iter().map(|(k, h)| (k, h.offset, h.size)).collect();
    assert_eq!(got, handles);
    // The first entry of the first data block: shared 0, `non_shared << 1 | kind`, value length.
    let (k0, kind0, v0) = &bytewise_entries()[0];
    let mut at = 0;
    assert_eq!(varint(&b, &mut at), 0);
    assert_eq!(varint(&b, &mut at), ((k0.len() as u64) << 1) | *kind0 as u64);
    assert_eq!(varint(&b, &mut at), v0.len() as u64);
    assert_eq!(&b[at..at + k0.len()], &k0[..]);
    assert_eq!(&b[at + k0.len()..at + k0.len() + v0.len()], &v0[..]);
}

#[test]
#[ignore = "writes new fixtures; run by hand only for a new format version (see the module doc)"]
fn generate_v3_fixtures() {
    let out = strata_tests::new_fixtures_dir("fixtures-v3");
    std::fs::create_dir_all(out.join("table")).unwrap();
    write_table(&out.join("table/000001.sst"), bytewise_options(), &bytewise_entries(), b"v3");
    write_table(&out.join("table/000002.sst"), internal_options(), &internal_entries(), b"v3-internal");
    println!("fixtures written to {}", out.display());
}
