//! Group commit: throughput of `sync: true` writes with 1, 2, 4 and 8 writer threads.
//!
//! Each iteration has every thread write `WRITES_PER_THREAD` single-key batches with `sync:
//! true`; criterion reports time per write (throughput in elements). With group commit one
//! fsync covers every writer queued behind the leader, so writes/s should grow with threads.
//!
//! `cargo bench -p strata-benches --bench group_commit`

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata::{Db, Options, WriteBatch, WriteOptions};

const WRITES_PER_THREAD: u64 = 50;

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(tmp.path().join("db"), Options::default()).expect("open"));
    let value = vec![7u8; 100];
    let mut group = c.benchmark_group("group_commit_sync");
    group.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    for threads in [1u64, 2, 4, 8] {
        group.throughput(Throughput::Elements(threads * WRITES_PER_THREAD));
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for iter in 0..iters {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let db = &db;
                            let value = &value;
                            s.spawn(move || {
                                for i in 0..WRITES_PER_THREAD {
                                    let mut batch = WriteBatch::new();
                                    batch.put(format!("t{t}-{iter}-{i:08}"), value);
                                    db.write(batch, &WriteOptions { sync: true, ..Default::default() }).expect("write");
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
