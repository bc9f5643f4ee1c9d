//! Table benchmarks: building a 64 MiB table (16-byte keys, 100-byte values) without
//! compression and with zstd, next to writing the same bytes to a file; point lookups of
//! present and absent keys; a full scan.
//!
//! Run: `cargo bench -p strata-benches --bench sst`. Throughputs are in bytes of keys and
//! values (user data), so the build and raw-write numbers compare directly.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strata_base::{FileSystem, RealFs};
use strata_sst::{BlockCache, Compression, EntryKind, Table, TableBuilder, TableOptions, TableReadOptions};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const TABLE_BYTES: usize = 64 << 20;
const ENTRIES: usize = TABLE_BYTES / (KEY_LEN + VALUE_LEN);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn key(i: usize) -> [u8; KEY_LEN] {
    // Even numbers are present; odd ones are absent.
    let mut k = [0u8; KEY_LEN];
    k[..4].copy_from_slice(b"key:");
    k[4..].copy_from_slice(format!("{:012}", i * 2).as_bytes());
    k
}

/// Values of mixed random and repeated words: zstd saves about half.
fn values() -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words: Vec<u64> = (0..64).map(|_| rng.next()).collect();
    let mut out = Vec::with_capacity(ENTRIES * VALUE_LEN + 8);
    while out.len() < ENTRIES * VALUE_LEN {
        let r = rng.next();
        let w = if r.is_multiple_of(2) { r } else { words[(r >> 8) as usize % words.len()] };
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Keys and values of the table, generated before timing starts.
struct Input {
    keys: Vec<[u8; KEY_LEN]>,
    values: Vec<u8>,
}

fn input() -> Input {
    Input { keys: (0..ENTRIES).map(key).collect(), values: values() }
}

fn build(fs: &Arc<dyn FileSystem>, path: &Path, input: &Input, compression: Compression) -> u64 {
    let opts = TableOptions { compression, ..TableOptions::default() };
    let mut b = TableBuilder::create(fs.clone(), path, opts).expect("create");
    for (k, v) in input.keys.iter().zip(input.values.chunks_exact(VALUE_LEN)) {
        b.add(k, EntryKind::Put, v).expect("add");
    }
    b.finish().expect("finish").file_size
}

fn bench_build(c: &mut Criterion, dir: &Path, vals: &Input) {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs::new());
    let mut g = c.benchmark_group("sst_build_64MiB");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Bytes((ENTRIES * (KEY_LEN + VALUE_LEN)) as u64));
    let path = dir.join("build.sst");
    build(&fs, &path, vals, Compression::None);
    let table_bytes = fs.read_all(&path).expect("read");
    g.bench_function("raw_file_write_same_bytes", |b| {
        b.iter(|| {
            let p = dir.join("raw.bin");
            let mut f = fs.create(&p).expect("create");
            for chunk in table_bytes.chunks(4096) {
                f.append(chunk).expect("append");
            }
            f.sync().expect("sync");
            drop(f);
            fs.remove_file(&p).expect("remove");
        })
    });
    for (name, compression) in [("none", Compression::None), ("zstd3", Compression::Zstd { level: 3 })] {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(build(&fs, &path, vals, compression));
                fs.remove_file(&path).expect("remove");
            })
        });
    }
    g.finish();
}

fn bench_read(c: &mut Criterion, dir: &Path, vals: &Input) {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs::new());
    let path = dir.join("read.sst");
    build(&fs, &path, vals, Compression::None);
    let cache = Arc::new(BlockCache::new(256 << 20));
    let ropts = TableReadOptions { cache: Some(cache.clone()), cache_id: 1, ..TableReadOptions::default() };
    let cached = Table::open_path(fs.as_ref(), &path, ropts).expect("open");
    let mut it = cached.iter();
    it.seek_to_first();
    while it.valid() {
        it.next();
    }
    let uncached = Table::open_path(fs.as_ref(), &path, TableReadOptions::default()).expect("open");

    let mut g = c.benchmark_group("sst_get");
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let mut rng = Rng(12345);
    g.bench_function("present_cached", |b| {
        b.iter_batched(
            || key(rng.next() as usize % ENTRIES),
            |k| black_box(cached.get(&k).expect("get")),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("absent_cached", |b| {
        b.iter_batched(
            || {
                let mut k = key(rng.next() as usize % ENTRIES);
                k[KEY_LEN - 1] += 1;
                k
            },
            |k| black_box(cached.get(&k).expect("get")),
            BatchSize::SmallInput,
        )
    });
    // The engine's point lookup (`Db::get` probes each table with `seek_entry`).
    g.bench_function("seek_entry_present_cached", |b| {
        b.iter_batched(
            || key(rng.next() as usize % ENTRIES),
            |k| black_box(cached.seek_entry(&k).expect("seek_entry")),
            BatchSize::SmallInput,
        )
    });
    let hot: Vec<[u8; KEY_LEN]> = (0..1024).map(|_| key(rng.next() as usize % ENTRIES)).collect();
    let mut i = 0;
    g.bench_function("present_cached_hot_1k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % hot.len();
            black_box(cached.get(&hot[i]).expect("get"))
        })
    });
    g.bench_function("present_uncached_pread", |b| {
        b.iter_batched(
            || key(rng.next() as usize % ENTRIES),
            |k| black_box(uncached.get(&k).expect("get")),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("sst_scan_64MiB");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes((ENTRIES * (KEY_LEN + VALUE_LEN)) as u64));
    for (name, t) in [("cached", &cached), ("uncached_pread", &uncached)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut it = t.iter();
                it.seek_to_first();
                let mut n = 0usize;
                while it.valid() {
                    n += it.key().len() + it.value().len();
                    it.next();
                }
                black_box(n)
            })
        });
    }
    g.finish();
    println!("block cache: {} hits, {} misses, {} bytes", cache.hits(), cache.misses(), cache.usage());
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vals = input();
    bench_build(c, dir.path(), &vals);
    bench_read(c, dir.path(), &vals);
}

criterion_group!(sst, benches);
criterion_main!(sst);
