//! WAL append throughput on `RealFs` in a temporary directory: records of ~100 B and ~4 KiB,
//! without sync (appends into the file's buffer, one flush per 1 MiB) and with a sync after
//! every record (fdatasync per write). Throughput is reported in payload bytes per second.
//! Group commit benchmarks come with the engine.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use strata_base::{FileSystem, RealFs};
use strata_wal::LogWriter;

const SIZES: [usize; 2] = [100, 4096];

/// A fresh log; the caller removes it (untimed) after the sample, so one sample's gigabytes
/// of dirty pages do not slow the next sample's fsyncs.
fn new_writer(dir: &std::path::Path, n: &mut u64) -> (LogWriter, std::path::PathBuf) {
    *n += 1;
    let path = dir.join(format!("{:06}.log", *n));
    (LogWriter::with_path(RealFs::new().create(&path).expect("create log"), &path), path)
}

fn remove(w: LogWriter, path: &std::path::Path) {
    drop(w);
    std::fs::remove_file(path).expect("remove log");
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = 0;
    let mut group = c.benchmark_group("wal_append");
    for size in SIZES {
        let payload = vec![0x5a_u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("no_sync", size), &payload, |b, p| {
            b.iter_custom(|iters| {
                let (mut w, path) = new_writer(dir.path(), &mut files);
                let start = Instant::now();
                let mut since_flush = 0;
                for _ in 0..iters {
                    w.add_record(p).expect("append");
                    since_flush += p.len();
                    if since_flush >= 1 << 20 {
                        w.flush().expect("flush");
                        since_flush = 0;
                    }
                }
                w.flush().expect("flush");
                let elapsed = start.elapsed();
                remove(w, &path);
                elapsed
            });
        });
        group.bench_with_input(BenchmarkId::new("sync_each", size), &payload, |b, p| {
            b.iter_custom(|iters| {
                let (mut w, path) = new_writer(dir.path(), &mut files);
                let start = Instant::now();
                for _ in 0..iters {
                    w.add_record(p).expect("append");
                    w.sync().expect("sync");
                }
                let elapsed = start.elapsed();
                remove(w, &path);
                elapsed
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(10);
    targets = append
}
criterion_main!(benches);
