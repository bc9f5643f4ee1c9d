//! Memtable benchmarks: insert and point lookup with 16-byte keys and 100-byte values over
//! about a million entries, a full scan, and a merged scan over several memtables.
//!
//! Run: `cargo bench -p strata-benches --bench memtable -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use strata::iter::{InternalIterator, MergingIterator};
use strata::memtable::MemTable;
use strata_base::ikey::{SEQ_MAX, ValueKind};

const ENTRIES: usize = 1 << 20;
const VALUE_LEN: usize = 100;

use strata_benches::{mix, scattered_key as key};

fn filled(n: usize, stride: u64, offset: u64) -> MemTable {
    let m = MemTable::new();
    let value = [7u8; VALUE_LEN];
    for i in 0..n as u64 {
        let k = i * stride + offset;
        m.add(k + 1, ValueKind::Put, &key(k), &value);
    }
    m
}

fn bench_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ENTRIES as u64));
    g.bench_function("insert_1m_16b_key_100b_value", |b| {
        b.iter_batched(
            MemTable::new,
            |m| {
                let value = [7u8; VALUE_LEN];
                for i in 0..ENTRIES as u64 {
                    m.add(i + 1, ValueKind::Put, &key(i), &value);
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_lookup(c: &mut Criterion) {
    let m = filled(ENTRIES, 1, 0);
    let mut g = c.benchmark_group("memtable");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("get_hit_of_1m", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(m.get(&key(mix(i) % ENTRIES as u64), SEQ_MAX))
        })
    });
    g.bench_function("get_miss_of_1m", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(m.get(&key(ENTRIES as u64 + mix(i) % ENTRIES as u64), SEQ_MAX))
        })
    });
    g.finish();
}

fn bench_scan(c: &mut Criterion) {
    let m = Arc::new(filled(ENTRIES, 1, 0));
    let mut g = c.benchmark_group("memtable");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ENTRIES as u64));
    g.bench_function("scan_forward_1m", |b| {
        b.iter(|| {
            let mut it = m.iter();
            it.seek_to_first();
            let mut n = 0usize;
            while it.valid() {
                n += it.value().len();
                it.next();
            }
            black_box(n)
        })
    });
    // Eight memtables holding interleaved keys: the merge picks a different child every step.
    const CHILDREN: usize = 8;
    let parts: Vec<Arc<MemTable>> =
        (0..CHILDREN as u64).map(|c| Arc::new(filled(ENTRIES / CHILDREN, CHILDREN as u64, c))).collect();
    g.bench_function("merged_scan_8_children_1m", |b| {
        b.iter(|| {
            let children: Vec<Box<dyn InternalIterator>> =
                parts.iter().map(|p| Box::new(p.iter()) as Box<dyn InternalIterator>).collect();
            let mut it = MergingIterator::new(children);
            it.seek_to_first();
            let mut n = 0usize;
            while it.valid() {
                n += it.value().len();
                it.next();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_insert, bench_lookup, bench_scan);
criterion_main!(benches);
