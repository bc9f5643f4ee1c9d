//! Metamorphic test: one generated history of operations (puts, deletes, batches across
//! column families, ingestion, gets, bounded scans both ways, snapshot reads, flushes, range
//! compactions, reopens) is run under several option sets that change how data is laid out
//! (memtable size, block size and restarts, compression, filters, mmap reads, table cache,
//! compaction triggers and parallelism, manifest rollover). Every read must return the same
//! answer under every option set, and the final contents must agree with each other and with a
//! `BTreeMap` model of the history.
//!
//! Invariants: the history depends only on its seed; the outputs are compared line by line
//! and the first difference names the operation index, the option set and the seed.
//!
//! Thread safety: single-threaded (concurrency is `strata-stress`'s job).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::path::Path;
use strata::{Compression, Db, IngestOptions, Options, ReadOptions, SstFileWriter, WriteBatch, WriteOptions};
use strata_tests::stress::rng::Rng;

const CFS: [&str; 3] = ["default", "a", "b"];

#[derive(Debug, Clone)]
enum Step {
    Put(usize, u32, u32),
    Delete(usize, u32),
    Batch(Vec<(usize, u32, Option<u32>)>),
    Ingest(usize, Vec<(u32, Option<u32>)>),
    Get(usize, u32),
    Scan {
        cf: usize,
        lo: u32,
        hi: u32,
        reverse: bool,
    },
    /// Take a snapshot, apply these puts, read these keys through the snapshot.
    SnapshotRead(usize, Vec<(u32, u32)>, Vec<u32>),
    Flush,
    Compact(usize, Option<(u32, u32)>),
    Reopen,
}

fn key(k: u32) -> Vec<u8> {
    format!("key{k:05}").into_bytes()
}

fn val(v: u32) -> Vec<u8> {
    let mut s = format!("val{v}-").into_bytes();
    s.extend(std::iter::repeat_n(b'0' + (v % 10) as u8, (v % 97) as usize));
    s
}

fn history(seed: u64, len: usize, keys: u32) -> Vec<Step> {
    let mut r = Rng::new(seed);
    let mut v = 0u32;
    let mut next = || {
        v += 1;
        v
    };
    (0..len)
        .map(|_| {
            let cf = r.below(3) as usize;
            let k = r.below(keys as u64) as u32;
            match r.below(100) {
                0..=29 => Step::Put(cf, k, next()),
                30..=39 => Step::Delete(cf, k),
                40..=49 => Step::Batch(
                    (0..1 + r.below(5))
                        .map(|_| (r.below(3) as usize, r.below(keys as u64) as u32, r.percent(70).then(&mut next)))
                        .collect(),
                ),
                50..=52 => {
                    let mut ks: Vec<u32> = (0..1 + r.below(20)).map(|_| r.below(keys as u64) as u32).collect();
                    ks.sort_unstable();
                    ks.dedup();
                    Step::Ingest(cf, ks.into_iter().map(|k| (k, r.percent(80).then(&mut next))).collect())
                }
                53..=69 => Step::Get(cf, k),
                70..=81 => Step::Scan { cf, lo: k, hi: k + r.below(keys as u64 / 3) as u32, reverse: r.percent(50) },
                82..=87 => Step::SnapshotRead(
                    cf,
                    (0..r.below(4)).map(|_| (r.below(keys as u64) as u32, next())).collect(),
                    (0..4).map(|_| r.below(keys as u64) as u32).collect(),
                ),
                88..=92 => Step::Flush,
                93..=95 => {
                    let lo = r.below(keys as u64) as u32;
                    Step::Compact(cf, r.percent(50).then(|| (lo, lo + 10)))
                }
                96..=97 => Step::Reopen,
                _ => Step::Get(cf, k),
            }
        })
        .collect()
}

fn option_sets() -> Vec<(&'static str, Options)> {
    vec![
        ("default", Options::default()),
        (
            "tiny-blocks-zstd-mmap-background-syncs",
            Options {
                write_buffer_size: 4 << 10,
                block_size: 256,
                block_restart_interval: 1,
                compression: Compression::Zstd { level: 1 },
                use_mmap_reads: true,
                target_file_size: 8 << 10,
                // Tables sync in 1 KiB pieces, a flush's on a helper thread.
                table_sync_bytes: 1 << 10,
                background_flush_syncs: true,
                ..Default::default()
            },
        ),
        (
            "no-filter-small-cache-parallel",
            Options {
                write_buffer_size: 16 << 10,
                bloom_bits_per_key: 0,
                block_cache_capacity: 0,
                max_open_files: 3,
                level0_compaction_trigger: 2,
                max_bytes_for_level_base: 32 << 10,
                target_file_size: 4 << 10,
                max_background_compactions: 2,
                ..Default::default()
            },
        ),
        (
            "no-auto-compaction-manifest-rollover",
            Options {
                write_buffer_size: 8 << 10,
                disable_auto_compactions: true,
                manifest_size_limit: 2 << 10,
                block_size: 1024,
                ..Default::default()
            },
        ),
    ]
}

fn open(path: &Path, opts: &Options) -> Db {
    let db = Db::open(path, opts.clone()).expect("open");
    for name in &CFS[1..] {
        if db.cf(name).is_none() {
            db.create_cf(name).expect("create_cf");
        }
    }
    db
}

fn show(v: Option<&[u8]>) -> String {
    v.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_else(|| "<none>".into())
}

/// Runs the history and returns one output line per read (and the final contents).
fn run(steps: &[Step], opts: &Options, dir: &Path) -> Vec<String> {
    let path = dir.join("db");
    let mut db = open(&path, opts);
    let mut out = Vec::new();
    let cf = |db: &Db, i: usize| db.cf(CFS[i]).expect("cf");
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Put(c, k, v) => db.put_cf(&cf(&db, *c), key(*k), val(*v)).expect("put"),
            Step::Delete(c, k) => db.delete_cf(&cf(&db, *c), key(*k)).expect("delete"),
            Step::Batch(entries) => {
                let mut b = WriteBatch::new();
                for (c, k, v) in entries {
                    match v {
                        Some(v) => b.put_cf(&cf(&db, *c), key(*k), val(*v)),
                        None => b.delete_cf(&cf(&db, *c), key(*k)),
                    }
                }
                db.write(b, &WriteOptions { sync: i % 50 == 0, ..Default::default() }).expect("write");
            }
            Step::Ingest(c, entries) => {
                let file = dir.join(format!("ingest-{i}.sst"));
                let mut w = SstFileWriter::for_cf(&db, &cf(&db, *c), &file).expect("writer");
                for (k, v) in entries {
                    match v {
                        Some(v) => w.put(key(*k), val(*v)).expect("sst put"),
                        None => w.delete(key(*k)).expect("sst delete"),
                    }
                }
                w.finish().expect("finish");
                db.ingest_external_files(&cf(&db, *c), &[&file], &IngestOptions::default()).expect("ingest");
            }
            Step::Get(c, k) => out
                .push(format!("{i} get {c} {k} = {}", show(db.get_cf(&cf(&db, *c), key(*k)).expect("get").as_deref()))),
            Step::Scan { cf: c, lo, hi, reverse } => {
                out.push(format!("{i} scan {}", scan(&db, *c, *lo, *hi, *reverse, None)))
            }
            Step::SnapshotRead(c, puts, reads) => {
                let snap = db.snapshot();
                for (k, v) in puts {
                    db.put_cf(&cf(&db, *c), key(*k), val(*v)).expect("put");
                }
                let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
                for k in reads {
                    let got = db.get_cf_opt(&cf(&db, *c), &ro, key(*k)).expect("snapshot get");
                    out.push(format!("{i} snapshot get {c} {k} = {}", show(got.as_deref())));
                }
                out.push(format!("{i} snapshot scan {}", scan(&db, *c, 0, u32::MAX, true, Some(&snap))));
            }
            Step::Flush => db.flush().expect("flush"),
            Step::Compact(c, range) => {
                let (lo, hi) = range.map(|(a, b)| (key(a), key(b))).unzip();
                db.compact_range(&cf(&db, *c), lo.as_deref(), hi.as_deref()).expect("compact_range");
            }
            Step::Reopen => {
                db.close().expect("close");
                db = open(&path, opts);
            }
        }
    }
    for c in 0..CFS.len() {
        out.push(format!("final {c} {}", scan(&db, c, 0, u32::MAX, false, None)));
    }
    out
}

fn scan(db: &Db, c: usize, lo: u32, hi: u32, reverse: bool, snap: Option<&strata::Snapshot>) -> String {
    let ro = ReadOptions {
        snapshot: snap,
        lower_bound: Some(key(lo)),
        upper_bound: (hi != u32::MAX).then(|| key(hi)),
        ..Default::default()
    };
    let mut it = db.iter_cf(&db.cf(CFS[c]).expect("cf"), &ro).expect("iter");
    let mut items = Vec::new();
    if reverse {
        it.seek_to_last()
    } else {
        it.seek_to_first()
    }
    while it.valid() {
        items.push(format!("{}={}", String::from_utf8_lossy(it.key()), show(Some(it.value()))));
        if reverse { it.prev() } else { it.next() }
    }
    it.status().expect("iterator status");
    if reverse {
        items.reverse();
    }
    items.join(",")
}

/// The final contents the history must leave, from a model.
fn model_final(steps: &[Step]) -> Vec<String> {
    let mut m: Vec<BTreeMap<u32, u32>> = vec![BTreeMap::new(); CFS.len()];
    let set = |m: &mut Vec<BTreeMap<u32, u32>>, c: usize, k: u32, v: Option<u32>| {
        match v {
            Some(v) => m[c].insert(k, v),
            None => m[c].remove(&k),
        };
    };
    for s in steps {
        match s {
            Step::Put(c, k, v) => set(&mut m, *c, *k, Some(*v)),
            Step::Delete(c, k) => set(&mut m, *c, *k, None),
            Step::Batch(e) => e.iter().for_each(|(c, k, v)| set(&mut m, *c, *k, *v)),
            Step::Ingest(c, e) => e.iter().for_each(|(k, v)| set(&mut m, *c, *k, *v)),
            Step::SnapshotRead(c, puts, _) => puts.iter().for_each(|(k, v)| set(&mut m, *c, *k, Some(*v))),
            _ => {}
        }
    }
    (0..CFS.len())
        .map(|c| {
            let items: Vec<String> = m[c]
                .iter()
                .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(&key(*k)), show(Some(&val(*v)))))
                .collect();
            format!("final {c} {}", items.join(","))
        })
        .collect()
}

fn check_seed(seed: u64, len: usize, keys: u32) {
    let steps = history(seed, len, keys);
    let mut reference: Option<(&str, Vec<String>)> = None;
    for (name, opts) in option_sets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run(&steps, &opts, dir.path());
        let finals: Vec<String> = out.iter().filter(|l| l.starts_with("final ")).cloned().collect();
        assert_eq!(finals, model_final(&steps), "seed {seed}: option set {name}: final contents differ from the model");
        match &reference {
            None => reference = Some((name, out)),
            Some((ref_name, ref_out)) => {
                for (a, b) in ref_out.iter().zip(&out) {
                    assert_eq!(a, b, "seed {seed}: option sets {ref_name} and {name} disagree");
                }
                assert_eq!(ref_out.len(), out.len(), "seed {seed}");
            }
        }
    }
}

#[test]
fn one_history_many_option_sets_agree() {
    for seed in 1..=2 {
        check_seed(seed, 400, 300);
    }
}

#[test]
fn small_key_space_many_overwrites_agree() {
    check_seed(100, 400, 20);
}
