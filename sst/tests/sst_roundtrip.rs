//! Random tables under every combination of options read back exactly: forward and backward
//! scans, point lookups of present and absent keys, `seek_entry`, properties and metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use proptest::prelude::*;
use std::sync::Arc;
use strata_sst::{BlockCache, Compression, EntryKind, TableOptions, TableReadOptions};

fn options() -> impl Strategy<Value = TableOptions> {
    (
        prop::sample::select(vec![1usize, 32, 200, 1024, 4096]),
        1usize..20,
        prop::sample::select(vec![Compression::None, Compression::Zstd { level: 1 }, Compression::Zstd { level: 9 }]),
        prop::sample::select(vec![0u32, 1, 10, 20]),
    )
        .prop_map(|(block_size, restart_interval, compression, bloom_bits_per_key)| TableOptions {
            block_size,
            restart_interval,
            compression,
            bloom_bits_per_key,
            ..TableOptions::default()
        })
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Small alphabet: long shared prefixes.
        prop::collection::vec(0u8..3, 0..12),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        // Compressible.
        (any::<u8>(), 0usize..600).prop_map(|(b, n)| vec![b; n]),
    ]
}

pub fn model() -> impl Strategy<Value = Model> {
    prop::collection::btree_map(key(), (any::<bool>(), value()), 1..300).prop_map(|m| {
        m.into_iter()
            .map(|(k, (put, v))| (k, if put { (EntryKind::Put, v) } else { (EntryKind::Delete, Vec::new()) }))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn tables_round_trip(m in model(), opts in options(), absent in prop::collection::vec(key(), 0..20), cached in any::<bool>()) {
        let (bytes, meta) = build(&m, opts.clone());
        prop_assert_eq!(meta.file_size, bytes.len() as u64);
        prop_assert_eq!(meta.num_entries, m.len() as u64);
        prop_assert_eq!(&meta.smallest_key, m.keys().next().unwrap());
        prop_assert_eq!(&meta.largest_key, m.keys().next_back().unwrap());
        let deletions = m.values().filter(|(k, _)| *k == EntryKind::Delete).count() as u64;
        prop_assert_eq!(meta.num_deletions, deletions);
        prop_assert_eq!(meta.file_checksum, crc32fast::hash(&bytes[..bytes.len() - strata_sst::format::FOOTER_LEN]));

        let cache = cached.then(|| Arc::new(BlockCache::new(1 << 20)));
        let t = open(bytes, TableReadOptions { cache: cache.clone(), cache_id: 9, ..TableReadOptions::default() }).unwrap();
        t.verify_checksums().unwrap();
        let p = t.properties();
        prop_assert_eq!(p.num_entries, m.len() as u64);
        prop_assert_eq!(p.num_deletions, deletions);
        prop_assert_eq!(p.compression, opts.compression);
        prop_assert_eq!(p.block_size, opts.block_size as u64);
        prop_assert_eq!(p.restart_interval, opts.restart_interval as u64);
        prop_assert_eq!(p.bloom_bits_per_key, opts.bloom_bits_per_key);
        prop_assert_eq!(p.raw_key_bytes, m.keys().map(|k| k.len() as u64).sum::<u64>());
        prop_assert_eq!(p.filter_bytes == 0, opts.bloom_bits_per_key == 0);

        let want = entries(&m);
        prop_assert_eq!(scan_forward(&t).unwrap(), want.clone());
        prop_assert_eq!(scan_backward(&t).unwrap(), want);
        for (k, (kind, v)) in &m {
            let got = t.get(k).unwrap();
            prop_assert_eq!(got.map(|(kd, val)| (kd, val.to_vec())), Some((*kind, v.clone())));
            prop_assert!(t.may_contain(k));
        }
        for k in &absent {
            let got = t.get(k).unwrap();
            prop_assert_eq!(got.map(|(kd, val)| (kd, val.to_vec())), m.get(k).cloned());
            let first_ge = m.range(k.clone()..).next().map(|(k, (kd, v))| (k.clone(), *kd, v.clone()));
            let got = t.seek_entry(k).unwrap().map(|(k, kd, v)| (k.to_vec(), kd, v.to_vec()));
            prop_assert_eq!(got, first_ge);
        }
        if let Some(c) = cache {
            prop_assert!(c.hits() + c.misses() > 0);
            prop_assert!(c.usage() > 0);
        }
    }
}

#[test]
fn real_files_read_the_same_through_pread_and_mmap() {
    let m = sample_model(2000, 50);
    for mmap in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn strata_base::FileSystem> = Arc::new(strata_base::RealFs::with_mmap(mmap));
        let path = dir.path().join("000007.sst");
        let opts = TableOptions { compression: Compression::Zstd { level: 3 }, ..TableOptions::default() };
        let mut b = strata_sst::TableBuilder::create(fs.clone(), &path, opts).unwrap();
        for (k, (kind, v)) in &m {
            b.add(k, *kind, v).unwrap();
        }
        let meta = b.finish().unwrap();
        assert_eq!(fs.file_size(&path).unwrap(), meta.file_size);
        let t = strata_sst::Table::open_path(fs.as_ref(), &path, TableReadOptions::default()).unwrap();
        t.verify_checksums().unwrap();
        assert_eq!(t.file_checksum(), meta.file_checksum);
        assert_eq!(scan_forward(&t).unwrap(), entries(&m));
        assert_eq!(scan_backward(&t).unwrap(), entries(&m));
        assert!(t.properties().data_bytes < t.properties().raw_data_bytes, "zstd saved nothing");
    }
}

/// `Table::index_entries` names every data block once, contiguous from offset 0, in key order,
/// each separator at least the block's last key; the count matches the properties.
#[test]
fn index_entries_cover_the_data_blocks_in_order() {
    let m = sample_model(3000, 40);
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn strata_base::FileSystem> = Arc::new(strata_base::RealFs::new());
    let path = dir.path().join("000009.sst");
    let opts = TableOptions { block_size: 512, ..TableOptions::default() };
    let mut b = strata_sst::TableBuilder::create(fs.clone(), &path, opts).unwrap();
    for (k, (kind, v)) in &m {
        b.add(k, *kind, v).unwrap();
    }
    b.finish().unwrap();
    let t = strata_sst::Table::open_path(fs.as_ref(), &path, TableReadOptions::default()).unwrap();
    let index = t.index_entries().unwrap();
    assert!(index.len() > 10, "{} blocks", index.len());
    assert_eq!(index.len() as u64, t.properties().num_data_blocks);
    let mut expected_offset = 0;
    for w in index.windows(2) {
        assert!(w[0].0 < w[1].0, "separators increase");
    }
    for (_, handle) in &index {
        assert_eq!(handle.offset, expected_offset);
        expected_offset = handle.end().unwrap();
    }
    assert_eq!(expected_offset, t.properties().data_bytes);
    // Each key lies in the first block whose separator is >= it: that block's range holds it.
    let first_key = m.keys().next().unwrap();
    assert!(index[0].0.as_slice() >= first_key.as_slice());
    assert!(index.last().unwrap().0.as_slice() >= m.keys().last().unwrap().as_slice());
}
