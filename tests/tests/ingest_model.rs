//! Model test of ingestion (RocksDB's `OverlappingRanges` / `IngestFileWithGlobalSeqnoRandomized`
//! taken further): random puts, deletes, ingestions of one to three external files (puts and
//! deletes, overlapping each other and the database or not, copied, linked or moved, with
//! random options), snapshots, flushes, compactions (background ones too: small options) and
//! reopens, against a `BTreeMap`, with a cloned model per open snapshot. Every read is compared
//! with the model: point reads after each step, full dumps both ways every few steps, and every
//! snapshot's view.
//!
//! `STRATA_INGEST_MODEL_SEEDS` (default 12), `STRATA_INGEST_MODEL_FIRST` (default 0) and `STRATA_INGEST_MODEL_STEPS` (default 160) widen
//! a run.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata::{Db, Error, IngestOptions, ReadOptions, Snapshot, SstFileWriter};
use strata_tests::history::Rng;
use strata_tests::{dump_cf, dump_cf_backward, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;
/// A file's entries: key and value (`None`: a delete).
type Entries = Vec<(Vec<u8>, Option<Vec<u8>>)>;

const NUM_KEYS: u64 = 80;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn key(i: u64) -> Vec<u8> {
    format!("k{i:03}").into_bytes()
}

/// A file of random keys (puts and deletes), and what it does to the model.
fn write_file(dir: &Path, name: &str, rng: &mut Rng, step: u64) -> (PathBuf, Entries) {
    let lo = rng.below(NUM_KEYS);
    let wide = rng.chance(1, 2);
    let span = 1 + rng.below(if wide { NUM_KEYS } else { 8 });
    let mut entries = Vec::new();
    for i in lo..(lo + span).min(NUM_KEYS) {
        if rng.chance(2, 3) {
            let v = if rng.chance(1, 5) { None } else { Some(format!("ingest{step}-{i}").into_bytes()) };
            entries.push((key(i), v));
        }
    }
    if entries.is_empty() {
        entries.push((key(lo), Some(format!("ingest{step}-{lo}").into_bytes())));
    }
    let path = dir.join(name);
    let mut w = SstFileWriter::create(&path, &small_options()).unwrap();
    for (k, v) in &entries {
        match v {
            Some(v) => w.put(k, v).unwrap(),
            None => w.delete(k).unwrap(),
        }
    }
    w.finish().unwrap();
    (path, entries)
}

fn apply(model: &mut Map, entries: &[(Vec<u8>, Option<Vec<u8>>)]) {
    for (k, v) in entries {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

fn check_full(db: &Db, model: &Map, snaps: &[(Snapshot, Map)], ctx: &str) {
    let cf = db.default_cf();
    assert_eq!(&dump_cf(db, &cf, &ReadOptions::default()), model, "{ctx}: forward dump");
    assert_eq!(&dump_cf_backward(db, &cf, &ReadOptions::default()), model, "{ctx}: backward dump");
    for (i, (s, m)) in snaps.iter().enumerate() {
        let o = ReadOptions { snapshot: Some(s), ..Default::default() };
        assert_eq!(&dump_cf(db, &cf, &o), m, "{ctx}: snapshot {i}");
    }
}

fn ingest_options(rng: &mut Rng) -> IngestOptions {
    let mode = rng.below(3);
    IngestOptions {
        move_files: mode == 1,
        link_files: mode == 2,
        snapshot_consistency: !rng.chance(1, 4),
        allow_global_seqno: !rng.chance(1, 5),
        allow_blocking_flush: !rng.chance(1, 5),
        verify_checksums_before_ingest: rng.chance(1, 3),
        fail_if_not_bottommost_level: rng.chance(1, 10),
    }
}

fn run(seed: u64, steps: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut rng = Rng::new(seed);
    let mut db = Db::open(&db_path, small_options()).unwrap();
    let mut model = Map::new();
    let mut snaps: Vec<(Snapshot, Map)> = Vec::new();
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        let op = rng.below(100);
        if std::env::var("STRATA_TRACE").is_ok() {
            eprintln!("{ctx}: op {op}");
        }
        match op {
            0..30 => {
                let k = key(rng.below(NUM_KEYS));
                let v = format!("put{step}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            30..40 => {
                let k = key(rng.below(NUM_KEYS));
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            40..65 => {
                let n = 1 + rng.below(3);
                let written: Vec<_> =
                    (0..n).map(|i| write_file(&files, &format!("{step}-{i}.sst"), &mut rng, step)).collect();
                let o = ingest_options(&mut rng);
                let paths: Vec<&PathBuf> = written.iter().map(|(p, _)| p).collect();
                let seq_before = db.sequence();
                let res = db.ingest_external_files(&db.default_cf(), &paths, &o);
                if std::env::var("STRATA_TRACE").is_ok() {
                    eprintln!(
                        "{ctx}: ingest {:?} {o:?} -> {res:?}",
                        written
                            .iter()
                            .map(|(_, e)| e
                                .iter()
                                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.is_some()))
                                .collect::<Vec<_>>())
                            .collect::<Vec<_>>()
                    );
                }
                match res {
                    Ok(r) => {
                        for ((_, entries), f) in written.iter().zip(&r.files) {
                            apply(&mut model, entries);
                            // A file that kept sequence 0 (no snapshot consistency) overlaps no
                            // data, so open snapshots see it as if it had always been there.
                            if f.sequence == 0 {
                                assert!(snaps.is_empty() || !o.snapshot_consistency, "{ctx}");
                                for (_, m) in snaps.iter_mut() {
                                    apply(m, entries);
                                }
                            }
                        }
                        let used = r.files.iter().filter(|f| f.sequence != 0).count() as u64;
                        assert_eq!(db.sequence(), seq_before + used, "{ctx}: one number per file that needed one");
                        if o.move_files {
                            assert!(paths.iter().all(|p| !p.exists()), "{ctx}: moved sources remain");
                        }
                    }
                    Err(Error::InvalidArgument(_) | Error::TryAgain(_)) => {
                        assert!(
                            !o.allow_global_seqno || !o.allow_blocking_flush || o.fail_if_not_bottommost_level,
                            "{ctx}: ingestion failed with default-like options"
                        );
                        assert!(paths.iter().all(|p| p.exists()), "{ctx}: sources removed on failure");
                        assert_eq!(db.sequence(), seq_before, "{ctx}");
                    }
                    Err(e) => panic!("{ctx}: {e}"),
                }
            }
            65..72 => {
                if snaps.len() < 4 {
                    snaps.push((db.snapshot(), model.clone()));
                }
            }
            72..78 => {
                if !snaps.is_empty() {
                    let i = rng.below(snaps.len() as u64) as usize;
                    snaps.remove(i);
                }
            }
            78..85 => db.flush().unwrap(),
            85..92 => {
                let (a, b) = (key(rng.below(NUM_KEYS)), key(rng.below(NUM_KEYS)));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                db.compact_range(&db.default_cf(), Some(&lo), Some(&hi)).unwrap();
            }
            92..96 => {
                snaps.clear();
                drop(db);
                db = Db::open(&db_path, small_options()).unwrap();
            }
            _ => check_full(&db, &model, &snaps, &ctx),
        }
        for _ in 0..4 {
            let k = key(rng.below(NUM_KEYS));
            assert_eq!(db.get(&k).unwrap().map(|v| v.to_vec()), model.get(&k).cloned(), "{ctx}: get {k:?}");
        }
    }
    check_full(&db, &model, &snaps, &format!("seed {seed} end"));
    snaps.clear();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    check_full(&db, &model, &[], &format!("seed {seed} after full compaction"));
    drop(db);
    let db = Db::open(&db_path, small_options()).unwrap();
    check_full(&db, &model, &[], &format!("seed {seed} after reopen"));
}

#[test]
fn random_ingests_puts_deletes_snapshots_compactions_and_reopens_match_a_model() {
    let seeds = env_u64("STRATA_INGEST_MODEL_SEEDS", 12);
    let steps = env_u64("STRATA_INGEST_MODEL_STEPS", 160);
    let first = env_u64("STRATA_INGEST_MODEL_FIRST", 0);
    for seed in first..first + seeds {
        run(0x1e57_0000 + seed, steps);
    }
}
