//! Checkpoints taken while writers, flushes and compactions run.
//!
//! Each writer thread puts keys `w{t}-{i:08}` in order and records, for every acknowledged
//! write, the database sequence number just before it started and just after it returned:
//! its own sequence number lies in `(before, after]`. A checkpoint with sequence `S` must then
//! hold, per writer, exactly a prefix of that writer's writes such that every write present
//! had `before < S`, every write absent had `after > S`, every write acknowledged before
//! `create` was called is present, and the total number of keys is exactly `S` (every write is
//! one put and the database started empty).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use strata::{Db, Options, ReadOptions, WriteBatch, WriteOptions};
use strata_checkpoint::{Checkpoint, CheckpointInfo, CheckpointOptions};
use strata_tests::{dump, dump_cf, small_options};

const WRITERS: usize = 3;
const CHECKPOINTS: usize = 50;

/// `(sequence before the write, sequence after it returned)` for each write of one writer.
type Bounds = Arc<Mutex<Vec<(u64, u64)>>>;

/// What one checkpoint was found to hold.
#[derive(Debug)]
struct Seen {
    sequence: u64,
    /// Writes of each writer acknowledged before `create` was called.
    acked_before: Vec<u64>,
    /// Length of each writer's prefix in the checkpoint.
    prefix: Vec<u64>,
}

/// Splits `w{t}-{i:08}` into `(t, i)`.
fn parse_key(k: &[u8]) -> (usize, u64) {
    let s = std::str::from_utf8(k).expect("utf-8 key");
    let (t, i) = s.strip_prefix('w').and_then(|r| r.split_once('-')).expect("key shape");
    (t.parse().expect("writer"), i.parse().expect("index"))
}

/// Checks the files of a checkpoint directory against what its manifest and `info` say.
fn check_files(dir: &Path, c: &Db, info: &CheckpointInfo) {
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    let (mut ssts, mut logs, mut sst_bytes) = (0usize, 0usize, 0u64);
    for n in &names {
        if n.ends_with(".sst") {
            ssts += 1;
            sst_bytes += std::fs::metadata(dir.join(n)).unwrap().len();
        } else if n.ends_with(".log") {
            logs += 1;
        } else {
            assert!(n == "CURRENT" || n.starts_with("MANIFEST-"), "unexpected file {n} in {}", dir.display());
        }
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("MANIFEST-")).count(), 1, "{names:?}");
    // Only the default column family here: the per-level counts cover every table.
    let in_manifest: usize =
        (0..16).map(|l| c.property(&format!("strata.num-files-at-level{l}")).unwrap().parse::<usize>().unwrap()).sum();
    assert_eq!(ssts, in_manifest, "tables listed vs named by the manifest: {names:?}");
    assert_eq!(ssts, info.linked_files, "{info:?}");
    assert_eq!(logs, info.copied_files, "{info:?}");
    let manifest_bytes: u64 = c.property("strata.total-sst-bytes").unwrap().parse().unwrap();
    assert_eq!(sst_bytes, manifest_bytes, "table sizes on disk vs in the manifest");
}

/// Verifies one checkpoint's contents (per-writer prefix, exact count, acked writes present).
fn check_contents(db: &Db, info: &CheckpointInfo, acked_before: &[u64]) -> Vec<u64> {
    assert_eq!(db.sequence(), info.sequence);
    let all = dump(db);
    let mut per: Vec<Vec<u64>> = vec![Vec::new(); WRITERS];
    for (k, v) in &all {
        let (t, i) = parse_key(k);
        assert_eq!(v, format!("v{i}").as_bytes(), "value of {}", String::from_utf8_lossy(k));
        per[t].push(i);
    }
    let mut prefix = Vec::new();
    for (t, idx) in per.iter().enumerate() {
        // Keys sort by index within a writer (zero-padded), so a prefix is 0, 1, 2, ...
        for (pos, &i) in idx.iter().enumerate() {
            assert_eq!(i, pos as u64, "writer {t}: not a prefix at {pos} (seq {})", info.sequence);
        }
        let n = idx.len() as u64;
        assert!(n >= acked_before[t], "writer {t}: {n} writes in checkpoint, {} acked before create", acked_before[t]);
        prefix.push(n);
    }
    assert_eq!(all.len() as u64, info.sequence, "one key per sequence number");
    prefix
}

fn writer(db: Arc<Db>, t: usize, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>, bounds: Bounds) {
    let wo = WriteOptions { sync: t.is_multiple_of(2), ..Default::default() };
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let before = db.sequence();
        db.put_opt(&wo, format!("w{t}-{i:08}"), format!("v{i}")).unwrap();
        let after = db.sequence();
        bounds.lock().unwrap().push((before, after));
        i += 1;
        acked.store(i, Ordering::Release);
    }
}

/// Flushes and compacts the whole key range in a loop until `stop`.
fn maintenance(db: Arc<Db>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        db.flush().unwrap();
        if n.is_multiple_of(3) {
            db.compact_range(&db.default_cf(), None, None).unwrap();
        }
        n += 1;
        std::thread::yield_now();
    }
}

fn checkpoints_under_writers(flush: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(tmp.path().join("src"), small_options()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Vec<Arc<AtomicU64>> = (0..WRITERS).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let bounds: Vec<Bounds> = (0..WRITERS).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let mut threads = Vec::new();
    for t in 0..WRITERS {
        let (db, stop, a, b) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&acked[t]), Arc::clone(&bounds[t]));
        threads.push(std::thread::spawn(move || writer(db, t, stop, a, b)));
    }
    {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || maintenance(db, stop)));
    }
    let opts = CheckpointOptions { flush, ..Default::default() };
    let mut seen = Vec::new();
    let mut with_logs = 0;
    for n in 0..CHECKPOINTS {
        // Let the writers get ahead a little between checkpoints.
        while acked.iter().map(|a| a.load(Ordering::Acquire)).sum::<u64>() < 40 * (n as u64 + 1) {
            std::thread::yield_now();
        }
        let dir = tmp.path().join(format!("cp{n}"));
        let acked_before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
        let info = Checkpoint::new(&db).options(opts.clone()).create(&dir).unwrap();
        with_logs += usize::from(info.copied_files > 0);
        let c = Db::open_read_only(&dir, Options::default()).unwrap();
        check_files(&dir, &c, &info);
        let prefix = check_contents(&c, &info, &acked_before);
        drop(c);
        if n.is_multiple_of(5) {
            // Read-write: replays and flushes the copied WAL, then must hold the same.
            let c = Db::open(&dir, small_options()).unwrap();
            assert_eq!(check_contents(&c, &info, &acked_before), prefix);
            c.put("w0-zzzzzzzz-extra", "x").unwrap();
            c.flush().unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
        seen.push(Seen { sequence: info.sequence, acked_before, prefix });
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    // Exactness against each write's sequence bounds, and monotonicity between checkpoints.
    let bounds: Vec<Vec<(u64, u64)>> = bounds.iter().map(|b| b.lock().unwrap().clone()).collect();
    for pair in seen.windows(2) {
        assert!(pair[0].sequence <= pair[1].sequence);
        for t in 0..WRITERS {
            assert!(pair[0].prefix[t] <= pair[1].prefix[t], "writer {t} went backwards: {pair:?}");
        }
    }
    for s in &seen {
        for (t, b) in bounds.iter().enumerate() {
            let n = s.prefix[t] as usize;
            assert!(n <= b.len());
            assert!(s.acked_before[t] as usize <= n);
            if let Some(&(before, _)) = n.checked_sub(1).and_then(|i| b.get(i)) {
                assert!(before < s.sequence, "writer {t} write {} present but began after seq {}", n - 1, s.sequence);
            }
            if let Some(&(_, after)) = b.get(n) {
                assert!(after > s.sequence, "writer {t} write {n} absent but acknowledged by seq {}", s.sequence);
            }
        }
    }
    let total: usize = bounds.iter().map(Vec::len).sum();
    eprintln!(
        "flush={flush}: {CHECKPOINTS} checkpoints, {total} writes, {with_logs} checkpoints carried a WAL copy, \
         last seq {}",
        db.sequence()
    );
    // The source is unharmed: everything acknowledged is there, and it reopens.
    let expected: usize = bounds.iter().map(Vec::len).sum();
    assert_eq!(dump(&db).len(), expected);
    drop(db);
    let db = Db::open(tmp.path().join("src"), small_options()).unwrap();
    assert_eq!(dump(&db).len(), expected);
}

#[test]
fn checkpoints_hold_exact_prefixes_with_flush() {
    checkpoints_under_writers(true);
}

#[test]
fn checkpoints_hold_exact_prefixes_without_flush() {
    checkpoints_under_writers(false);
}

/// Batches write the same counter to three column families (plus one filler key each);
/// every checkpoint must show the three counters equal.
#[test]
fn column_families_agree_in_every_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(tmp.path().join("src"), small_options()).unwrap());
    let names = ["a", "b", "c"];
    for n in names {
        db.create_cf(n).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let w = {
        let (db, stop, acked) = (Arc::clone(&db), Arc::clone(&stop), Arc::clone(&acked));
        std::thread::spawn(move || {
            let cfs: Vec<_> = names.iter().map(|n| db.cf(n).unwrap()).collect();
            let filler = "f".repeat(200);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut b = WriteBatch::new();
                for cf in &cfs {
                    b.put_cf(cf, "counter", i.to_string());
                    b.put_cf(cf, format!("k{i:08}"), &filler);
                }
                db.write(b, &WriteOptions { sync: i.is_multiple_of(4), ..Default::default() }).unwrap();
                i += 1;
                acked.store(i, Ordering::Release);
            }
        })
    };
    let m = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || maintenance(db, stop))
    };
    for n in 0..CHECKPOINTS {
        while acked.load(Ordering::Acquire) < 20 * (n as u64 + 1) {
            std::thread::yield_now();
        }
        let dir = tmp.path().join(format!("cp{n}"));
        let acked_before = acked.load(Ordering::Acquire);
        let opts = CheckpointOptions { flush: n.is_multiple_of(2), ..Default::default() };
        let info = Checkpoint::new(&db).options(opts).create(&dir).unwrap();
        let c = if n.is_multiple_of(5) {
            Db::open(&dir, small_options()).unwrap()
        } else {
            Db::open_read_only(&dir, Options::default()).unwrap()
        };
        assert_eq!(c.sequence(), info.sequence);
        // Each batch is 6 puts; the database started empty.
        assert_eq!(info.sequence % 6, 0, "a batch was split: seq {}", info.sequence);
        let batches = info.sequence / 6;
        assert!(batches >= acked_before, "{batches} batches in checkpoint, {acked_before} acked before create");
        for name in names {
            let cf = c.cf(name).unwrap();
            let counter = c.get_cf(&cf, "counter").unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap());
            let expected = batches.checked_sub(1).map(|x| x.to_string());
            assert_eq!(counter, expected, "column family {name} in checkpoint {n} (seq {})", info.sequence);
            let rows = dump_cf(&c, &cf, &ReadOptions::default());
            assert_eq!(rows.len() as u64, batches + u64::from(batches > 0), "rows of {name}");
        }
        drop(c);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    w.join().unwrap();
    m.join().unwrap();
}

/// A long-lived snapshot and an open iterator keep old versions and old tables alive in the
/// source; a checkpoint taken meanwhile holds exactly the latest state, and stays correct
/// after the snapshot and iterator go and the source compacts their tables away.
#[test]
fn checkpoint_beside_long_lived_snapshot_and_iterator() {
    for flush in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(tmp.path().join("src"), small_options()).unwrap();
        let key = |i: u32| format!("k{i:05}");
        for i in 0..2000 {
            db.put(key(i), "old").unwrap();
        }
        db.flush().unwrap();
        let snap = db.snapshot();
        let mut it = db.iter(&ReadOptions::default()).unwrap();
        it.seek_to_first();
        let mut expected = BTreeMap::new();
        for i in 0..2000u32 {
            if i.is_multiple_of(7) {
                db.delete(key(i)).unwrap();
            } else {
                db.put(key(i), "new").unwrap();
                expected.insert(key(i).into_bytes(), b"new".to_vec());
            }
        }
        db.compact_range(&db.default_cf(), None, None).unwrap();
        for i in 2000..2100 {
            db.put(key(i), "unflushed").unwrap();
            expected.insert(key(i).into_bytes(), b"unflushed".to_vec());
        }
        let cp: PathBuf = tmp.path().join("cp");
        let info = Checkpoint::new(&db).options(CheckpointOptions { flush, ..Default::default() }).create(&cp).unwrap();
        assert_eq!(info.sequence, db.sequence());
        {
            let c = Db::open_read_only(&cp, Options::default()).unwrap();
            assert_eq!(dump(&c), expected, "flush={flush}");
        }
        // The iterator and snapshot still see the old state, whole.
        let mut n = 0;
        while it.valid() {
            assert_eq!(it.value(), b"old");
            n += 1;
            it.next();
        }
        it.status().unwrap();
        assert_eq!(n, 2000);
        let old = dump_cf(&db, &db.default_cf(), &ReadOptions { snapshot: Some(&snap), ..Default::default() });
        assert_eq!(old.len(), 2000);
        assert!(old.values().all(|v| v == b"old"));
        drop(it);
        drop(snap);
        // Now the source may delete every table the snapshot and iterator held.
        db.put("after", "1").unwrap();
        db.compact_range(&db.default_cf(), None, None).unwrap();
        drop(db);
        let c = Db::open(&cp, small_options()).unwrap();
        assert_eq!(dump(&c), expected, "flush={flush}, read-write");
        c.compact_range(&c.default_cf(), None, None).unwrap();
        assert_eq!(dump(&c), expected, "flush={flush}, after compacting the checkpoint");
    }
}
