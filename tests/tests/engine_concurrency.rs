//! Concurrency: writers, readers, snapshots and iterators while flushes and compactions run.
//!
//! Checked (no timing assumptions; threads only wait for each other's progress counters):
//! (a) one snapshot (or one iterator) shows both column families of every batch in full or not
//!     at all, and a batch's "last" marker agrees with the keys it wrote;
//! (b) a snapshot read twice, before and after flushes and compactions, gives identical results;
//! (c) every acknowledged write is visible to reads started after it returned;
//! (d) `Db::sequence` never goes backwards and advances by exactly one per written op.
//! Also group commit with `sync`, the directory lock, and read-only opens beside a writer.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata::{ColumnFamily, Db, Error, ReadOptions, Snapshot, WriteBatch, WriteOptions};
use strata_tests::{dump_cf, dump_cf_backward, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

const WRITERS: u64 = 3;
const ITERS: u64 = 1200;
/// Keys per writer in the two batch-written column families (so keys are overwritten often).
const KEYS_PER_WRITER: u64 = 40;
/// Every this many iterations a writer also does a single put in the default column family.
const SINGLE_EVERY: u64 = 3;

fn batch_key(w: u64, i: u64) -> Vec<u8> {
    format!("w{w}-k{:03}", i % KEYS_PER_WRITER).into_bytes()
}

fn last_key(w: u64) -> Vec<u8> {
    format!("w{w}-last").into_bytes()
}

fn single_key(w: u64, i: u64) -> Vec<u8> {
    format!("single-w{w}-{i:06}").into_bytes()
}

fn batch_value(w: u64, i: u64) -> Vec<u8> {
    let mut v = format!("{w}:{i}:").into_bytes();
    v.resize(150 + (i % 7) as usize * 20, b'0' + (i % 10) as u8);
    v
}

/// The iteration number a batch value encodes.
fn iter_of(v: &[u8]) -> u64 {
    let s = std::str::from_utf8(v).expect("utf8 value");
    s.split(':').nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad value {s:?}"))
}

struct Shared {
    left: ColumnFamily,
    right: ColumnFamily,
    /// Per writer: 1 + the last iteration whose batch was acknowledged (0: none yet).
    acked_batch: Vec<AtomicU64>,
    /// Per writer: 1 + the last iteration whose single put was acknowledged (0: none yet).
    acked_single: Vec<AtomicU64>,
    /// Completed flush + compact_range rounds.
    maintenance_rounds: AtomicU64,
    /// Rounds that completed before the writers finished.
    rounds_during_writes: AtomicU64,
    stop: AtomicBool,
}

fn writer(db: &Db, sh: &Shared, w: u64) {
    for i in 0..ITERS {
        let v = batch_value(w, i);
        let mut b = WriteBatch::new();
        b.put_cf(&sh.left, batch_key(w, i), &v);
        b.put_cf(&sh.right, batch_key(w, i), &v);
        b.put_cf(&sh.left, last_key(w), i.to_string());
        db.write(b, &WriteOptions::default()).expect("batch write");
        sh.acked_batch[w as usize].store(i + 1, Ordering::Release);
        // (c) for the writer itself.
        assert_eq!(db.get_cf(&sh.right, batch_key(w, i)).expect("get").as_deref(), Some(&v[..]));
        if i % SINGLE_EVERY == 0 {
            db.put(single_key(w, i), i.to_string()).expect("put");
            sh.acked_single[w as usize].store(i + 1, Ordering::Release);
        }
    }
}

/// (a) for one consistent pair of dumps of the two column families.
fn check_pair(left: &Map, right: &Map, ctx: &str) {
    let left_keys: Map =
        left.iter().filter(|(k, _)| !k.ends_with(b"-last")).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(&left_keys, right, "{ctx}: the two column families disagree");
    for w in 0..WRITERS {
        let last =
            left.get(&last_key(w)).map(|v| std::str::from_utf8(v).expect("utf8").parse::<u64>().expect("number"));
        match last {
            None => assert!(right.keys().all(|k| !k.starts_with(format!("w{w}-").as_bytes())), "{ctx}"),
            Some(last) => {
                // The newest batch of writer `w` is fully there; no key is newer than it.
                assert_eq!(
                    right.get(&batch_key(w, last)),
                    Some(&batch_value(w, last)),
                    "{ctx}: writer {w} batch {last}"
                );
                for (k, v) in right.iter().filter(|(k, _)| k.starts_with(format!("w{w}-").as_bytes())) {
                    let i = iter_of(v);
                    assert!(i <= last, "{ctx}: {k:?} holds batch {i}, newer than the last marker {last}");
                    assert_eq!(v, &batch_value(w, i), "{ctx}");
                }
            }
        }
    }
}

fn snapshot_view(db: &Db, sh: &Shared, snap: &Snapshot) -> (Map, Map) {
    let ro = ReadOptions { snapshot: Some(snap), ..Default::default() };
    (dump_cf(db, &sh.left, &ro), dump_cf(db, &sh.right, &ro))
}

fn reader(db: &Db, sh: &Shared, id: u64) -> u64 {
    let mut rounds = 0;
    let mut last_seq = 0;
    while !sh.stop.load(Ordering::Acquire) || rounds < 3 {
        rounds += 1;
        // (d) monotonic sequence numbers.
        let seq = db.sequence();
        assert!(seq >= last_seq, "sequence went backwards: {last_seq} -> {seq}");
        last_seq = seq;

        // (c) acknowledged writes of every writer are visible to a read started now.
        for w in 0..WRITERS {
            let a = sh.acked_batch[w as usize].load(Ordering::Acquire);
            if a > 0 {
                let got = db.get_cf(&sh.left, batch_key(w, a - 1)).expect("get").expect("acknowledged batch key");
                let i = iter_of(&got);
                assert!(i >= a - 1 && i % KEYS_PER_WRITER == (a - 1) % KEYS_PER_WRITER, "stale read {i} < {}", a - 1);
            }
            let s = sh.acked_single[w as usize].load(Ordering::Acquire);
            if s > 0 {
                assert_eq!(db.get(single_key(w, s - 1)).expect("get"), Some((s - 1).to_string().into()), "single put");
            }
        }

        // (a) with an explicit snapshot across both column families, forward and backward.
        let snap = db.snapshot();
        assert!(snap.sequence() >= seq);
        let (left, right) = snapshot_view(db, sh, &snap);
        check_pair(&left, &right, "snapshot");
        let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
        assert_eq!(dump_cf_backward(db, &sh.right, &ro), right, "backward at a snapshot");

        // (a) within one implicit-snapshot iterator: the last markers agree with the keys.
        let it_left = dump_cf(db, &sh.left, &ReadOptions::default());
        for w in 0..WRITERS {
            if let Some(v) = it_left.get(&last_key(w)) {
                let last: u64 = std::str::from_utf8(v).expect("utf8").parse().expect("number");
                assert_eq!(it_left.get(&batch_key(w, last)), Some(&batch_value(w, last)), "iterator view");
            }
        }

        // (b) the same snapshot after at least one more flush + compaction round.
        let start_round = sh.maintenance_rounds.load(Ordering::Acquire);
        while sh.maintenance_rounds.load(Ordering::Acquire) == start_round && !sh.stop.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let (left2, right2) = snapshot_view(db, sh, &snap);
        assert_eq!(left2, left, "reader {id}: snapshot changed after flush/compaction (left)");
        assert_eq!(right2, right, "reader {id}: snapshot changed after flush/compaction (right)");
        for (k, v) in right.iter().step_by(7) {
            assert_eq!(db.get_cf_opt(&sh.right, &ro, k).expect("get").as_deref(), Some(&v[..]), "get at snapshot");
        }
        let probe: Vec<Vec<u8>> = (0..KEYS_PER_WRITER).map(|i| batch_key(id % WRITERS, i)).collect();
        for (k, r) in probe.iter().zip(db.multi_get(&sh.left, &ro, &probe)) {
            assert_eq!(
                r.expect("multi_get").as_ref().map(|b| b.to_vec()),
                left.get(k).cloned(),
                "multi_get at snapshot"
            );
        }
    }
    rounds
}

fn maintenance(db: &Db, sh: &Shared) {
    let cfs = [db.default_cf(), sh.left.clone(), sh.right.clone()];
    let mut n = 0usize;
    let mut seen = db.sequence();
    while !sh.stop.load(Ordering::Acquire) {
        // Each round has new writes to flush (waits for the writers' progress, not for time).
        while db.sequence() == seen && !sh.stop.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        seen = db.sequence();
        db.flush().expect("flush");
        let cf = &cfs[n % cfs.len()];
        let (b, e): (Option<&[u8]>, Option<&[u8]>) = match (n / cfs.len()) % 3 {
            0 => (None, None),
            1 => (Some(b"w0"), Some(b"w1-k020")),
            _ => (Some(b"w1"), None),
        };
        db.compact_range(cf, b, e).expect("compact_range");
        n += 1;
        if !sh.stop.load(Ordering::Acquire) {
            sh.rounds_during_writes.fetch_add(1, Ordering::AcqRel);
        }
        sh.maintenance_rounds.fetch_add(1, Ordering::AcqRel);
    }
}

/// `small_options` with memtables of about 90 entries: 16 KiB held that many while the
/// memtable was charged 176 bytes per entry; at 139 it holds 117 and the writers can finish
/// before the three maintenance rounds the test asks to run during the writes.
fn paced_options() -> strata::Options {
    strata::Options { write_buffer_size: 12 * 1024, ..small_options() }
}

#[test]
fn readers_see_consistent_snapshots_while_flushing_and_compacting() {
    readers_see_consistent_snapshots_with(paced_options());
}

/// The same with three background compactions at once (more threads than the CI machine has
/// cores, so they interleave), beside the maintenance thread's `compact_range`.
#[test]
fn readers_see_consistent_snapshots_with_parallel_compactions() {
    readers_see_consistent_snapshots_with(strata::Options { max_background_compactions: 3, ..paced_options() });
}

fn readers_see_consistent_snapshots_with(opts: strata::Options) {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts.clone()).unwrap();
    let sh = Shared {
        left: db.create_cf("left").unwrap(),
        right: db.create_cf("right").unwrap(),
        acked_batch: (0..WRITERS).map(|_| AtomicU64::new(0)).collect(),
        acked_single: (0..WRITERS).map(|_| AtomicU64::new(0)).collect(),
        maintenance_rounds: AtomicU64::new(0),
        rounds_during_writes: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    let seq0 = db.sequence();
    let reader_rounds = std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|id| {
                s.spawn({
                    let (db, sh) = (&db, &sh);
                    move || reader(db, sh, id)
                })
            })
            .collect();
        let maint = s.spawn(|| maintenance(&db, &sh));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn({
                    let (db, sh) = (&db, &sh);
                    move || writer(db, sh, w)
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer panicked");
        }
        sh.stop.store(true, Ordering::Release);
        maint.join().expect("maintenance panicked");
        readers.into_iter().map(|r| r.join().expect("reader panicked")).collect::<Vec<_>>()
    });
    assert!(reader_rounds.iter().all(|&r| r >= 3), "{reader_rounds:?}");
    // Flushes return while writers keep writing (they once waited for writes to pause), so
    // several rounds run during the writes.
    let rounds = sh.rounds_during_writes.load(Ordering::Acquire);
    assert!(rounds >= 3, "maintenance rounds completed during the writes: {rounds}");

    // (d) dense: 3 ops per batch plus one per single put.
    let singles = ITERS.div_ceil(SINGLE_EVERY);
    assert_eq!(db.sequence() - seq0, WRITERS * (3 * ITERS + singles));

    // The final state, also after reopen.
    let check = |db: &Db, left: &ColumnFamily, right: &ColumnFamily| {
        let l = dump_cf(db, left, &ReadOptions::default());
        let r = dump_cf(db, right, &ReadOptions::default());
        check_pair(&l, &r, "final");
        for w in 0..WRITERS {
            assert_eq!(l.get(&last_key(w)), Some(&(ITERS - 1).to_string().into_bytes()));
            for i in ITERS - KEYS_PER_WRITER..ITERS {
                assert_eq!(r.get(&batch_key(w, i)), Some(&batch_value(w, i)));
            }
            for i in (0..ITERS).step_by(SINGLE_EVERY as usize) {
                assert_eq!(db.get(single_key(w, i)).unwrap(), Some(i.to_string().into()));
            }
        }
        assert_eq!(r.len() as u64, WRITERS * KEYS_PER_WRITER);
        assert_eq!(dump_cf(db, &db.default_cf(), &ReadOptions::default()).len() as u64, WRITERS * singles);
    };
    check(&db, &sh.left, &sh.right);
    let seq = db.sequence();
    drop(db);
    let db = Db::open(tmp.path(), opts).unwrap();
    assert_eq!(db.sequence(), seq);
    check(&db, &db.cf("left").unwrap(), &db.cf("right").unwrap());
}

/// (d) exactly one sequence number per single-op write, from many threads, with a concurrent
/// observer that never sees the sequence go backwards.
#[test]
fn sequence_numbers_are_dense_and_monotonic() {
    const THREADS: u64 = 4;
    const PER: u64 = 500;
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let seq0 = db.sequence();
    let done = AtomicBool::new(false);
    // Everyone starts together, so the observer cannot be scheduled only after the writers
    // finished (seen as a flaky `observed >= 1` on a loaded 2-core machine).
    let start = Barrier::new(THREADS as usize + 1);
    let observed = std::thread::scope(|s| {
        let observer = s.spawn(|| {
            let mut last = 0;
            let mut changes = 0u64;
            start.wait();
            loop {
                // Read `done` first: the reading taken after it is set still sees every write.
                let finished = done.load(Ordering::Acquire);
                let now = db.sequence();
                assert!(now >= last, "sequence went backwards: {last} -> {now}");
                changes += u64::from(now != last);
                last = now;
                // Anything at or below the observed sequence is readable at a snapshot of it.
                let snap = db.snapshot();
                assert!(snap.sequence() >= now);
                if finished {
                    break;
                }
            }
            changes
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (db, start) = (&db, &start);
                s.spawn(move || {
                    start.wait();
                    for i in 0..PER {
                        if i % 5 == 4 {
                            db.delete(format!("t{t}-{:04}", i - 1)).unwrap();
                        } else {
                            db.put(format!("t{t}-{i:04}"), format!("{t}-{i}")).unwrap();
                        }
                        // Everyone writes this key: one version per write, all distinct.
                        if i % 50 == 0 {
                            db.put("shared", format!("{t}-{i}")).unwrap();
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        observer.join().unwrap()
    });
    assert!(observed >= 1);
    let shared_writes = THREADS * PER.div_ceil(50);
    assert_eq!(db.sequence() - seq0, THREADS * PER + shared_writes);
    let all = dump_cf(&db, &db.default_cf(), &ReadOptions::default());
    // Per thread: 4 of every 5 iterations put a key, the 5th deletes the previous one.
    assert_eq!(all.len() as u64, 1 + THREADS * (PER - 2 * (PER / 5)));
    for t in 0..THREADS {
        for i in 0..PER {
            let want = (i % 5 < 3).then(|| format!("{t}-{i}").into_bytes());
            assert_eq!(all.get(format!("t{t}-{i:04}").as_bytes()), want.as_ref(), "t{t}-{i:04}");
        }
    }
}

#[test]
fn group_commit_with_sync_from_eight_threads() {
    const THREADS: u64 = 8;
    const PER: u64 = 200;
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), strata::Options::default()).unwrap();
    let seq0 = db.sequence();
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (db, barrier) = (&db, &barrier);
            s.spawn(move || {
                barrier.wait();
                let sync = WriteOptions { sync: true, ..Default::default() };
                for i in 0..PER {
                    db.put_opt(&sync, format!("t{t}-{i:04}"), format!("v{t}-{i}")).unwrap();
                    assert!(db.get(format!("t{t}-{i:04}")).unwrap().is_some(), "own sync write visible");
                }
            });
        }
    });
    assert_eq!(db.sequence() - seq0, THREADS * PER, "one sequence number per write");
    let check = |db: &Db| {
        let all = dump_cf(db, &db.default_cf(), &ReadOptions::default());
        assert_eq!(all.len() as u64, THREADS * PER);
        for t in 0..THREADS {
            for i in 0..PER {
                assert_eq!(all.get(format!("t{t}-{i:04}").as_bytes()), Some(&format!("v{t}-{i}").into_bytes()));
            }
        }
    };
    check(&db);
    let seq = db.sequence();
    drop(db);
    let db = Db::open(tmp.path(), strata::Options::default()).unwrap();
    assert_eq!(db.sequence(), seq);
    check(&db);
}

#[test]
fn second_writer_in_the_same_process_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    db.put("k", "v").unwrap();
    match Db::open(tmp.path(), small_options()) {
        Err(Error::Locked(p)) => assert_eq!(p, tmp.path()),
        other => panic!("expected Error::Locked, got {other:?}"),
    }
    // The failed open changed nothing.
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    db.put("k2", "v2").unwrap();
    drop(db);
    let db = Db::open(tmp.path(), small_options()).unwrap();
    assert_eq!(db.get("k2").unwrap().as_deref(), Some(&b"v2"[..]));
    // Closing with `close` releases the lock too.
    db.close().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn read_only_open_beside_a_writer_sees_the_state_of_its_open() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let cf = db.create_cf("side").unwrap();
    for i in 0..300 {
        db.put(format!("k{i:03}"), format!("old{i}")).unwrap();
    }
    db.flush().unwrap();
    db.put("in-wal", "1").unwrap(); // unflushed: the read-only open must replay the WAL
    db.put_cf(&cf, "side-key", "s").unwrap();
    let seq = db.sequence();

    let ro = Db::open_read_only(tmp.path(), small_options()).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.sequence(), seq);
    let rcf = ro.cf("side").unwrap();
    let before = dump_cf(&ro, &ro.default_cf(), &ReadOptions::default());
    assert_eq!(before.len(), 301);
    assert_eq!(ro.get("in-wal").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(ro.get_cf(&rcf, "side-key").unwrap().as_deref(), Some(&b"s"[..]));

    // The writer goes on; the read-only view does not move.
    db.put("later", "x").unwrap();
    db.delete("k000").unwrap();
    assert_eq!(ro.get("later").unwrap(), None);
    assert_eq!(ro.get("k000").unwrap().as_deref(), Some(&b"old0"[..]));
    assert_eq!(ro.sequence(), seq);
    assert_eq!(dump_cf(&ro, &ro.default_cf(), &ReadOptions::default()), before);

    // Every write and maintenance method refuses.
    let ro_err = |r: strata::Result<()>, what: &str| {
        assert!(matches!(r, Err(Error::ReadOnly)), "{what}: expected ReadOnly, got {r:?}");
    };
    ro_err(ro.put("x", "y"), "put");
    ro_err(ro.delete("x"), "delete");
    ro_err(ro.put_cf(&rcf, "x", "y"), "put_cf");
    ro_err(ro.delete_cf(&rcf, "x"), "delete_cf");
    ro_err(ro.put_opt(&WriteOptions { sync: true, ..Default::default() }, "x", "y"), "put_opt");
    let mut b = WriteBatch::new();
    b.put("x", "y");
    ro_err(ro.write(b, &WriteOptions::default()), "write");
    ro_err(ro.create_cf("new").map(|_| ()), "create_cf");
    ro_err(ro.drop_cf("side"), "drop_cf");
    ro_err(ro.flush(), "flush");
    ro_err(ro.compact_range(&rcf, None, None), "compact_range");
    ro_err(ro.wait_for_compactions(), "wait_for_compactions");
    assert_eq!(ro.get("x").unwrap(), None);
    assert_eq!(ro.cf_names().len(), 2);
    drop(ro);

    // A new read-only open sees the writer's newer state.
    let ro = Db::open_read_only(tmp.path(), small_options()).unwrap();
    assert_eq!(ro.get("later").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(ro.get("k000").unwrap(), None);
    assert_eq!(ro.sequence(), db.sequence());
}

/// The writer flushes and compacts (deleting the tables the read-only instance opened with)
/// while the read-only instance keeps reading its own state.
#[test]
fn read_only_view_survives_the_writers_compactions() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    for i in 0..2000 {
        db.put(format!("k{i:04}"), format!("old{i}-{}", "z".repeat(50))).unwrap();
    }
    db.flush().unwrap();
    let ro = Db::open_read_only(tmp.path(), small_options()).unwrap();
    let before = dump_cf(&ro, &ro.default_cf(), &ReadOptions::default());
    assert_eq!(before.len(), 2000);
    for i in 0..2000 {
        db.put(format!("k{i:04}"), "new").unwrap();
    }
    db.flush().unwrap();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    assert_eq!(dump_cf(&ro, &ro.default_cf(), &ReadOptions::default()), before);
    assert_eq!(ro.get("k1234").unwrap().map(|v| v.to_vec()), before.get(&b"k1234"[..]).cloned());
}

/// Read-only opens race a writer that keeps rewriting, flushing, compacting and deleting
/// files. Each round rewrites every key in one batch, so a whole state has all keys, all from
/// one round; every open must succeed and see such a state (a missing table, a missing WAL or a
/// view mixing rounds is a failure).
#[test]
fn read_only_opens_race_a_busy_writer() {
    // With mmap reads too: a mapped WAL whose preallocated tail the writer trims would fault.
    for mmap in [false, true] {
        read_only_opens_race_a_busy_writer_with(strata::Options { use_mmap_reads: mmap, ..small_options() });
    }
}

fn read_only_opens_race_a_busy_writer_with(opts: strata::Options) {
    const KEYS: usize = 200;
    let tmp = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(Db::open(tmp.path(), opts.clone()).unwrap());
    let round = |db: &Db, r: u64| {
        let mut b = WriteBatch::new();
        for i in 0..KEYS {
            b.put(format!("k{i:03}"), format!("r{r:06}-{}", "v".repeat(40)));
        }
        db.write(b, &WriteOptions::default()).unwrap();
    };
    round(&db, 0);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let rounds = std::sync::Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, rounds) =
            (std::sync::Arc::clone(&db), std::sync::Arc::clone(&stop), std::sync::Arc::clone(&rounds));
        std::thread::spawn(move || {
            let mut r = 1;
            while !stop.load(Ordering::Relaxed) {
                round(&db, r);
                if r % 2 == 0 {
                    db.flush().unwrap();
                }
                if r % 7 == 0 {
                    db.compact_range(&db.default_cf(), None, None).unwrap();
                }
                rounds.store(r, Ordering::Relaxed);
                r += 1;
            }
        })
    };
    // At least 100 opens, and on until the writer has flushed 50 times and compacted 14.
    let mut opens = 0;
    while opens < 100 || rounds.load(Ordering::Relaxed) < 100 {
        opens += 1;
        let ro = Db::open_read_only(tmp.path(), opts.clone()).unwrap();
        let view = dump_cf(&ro, &ro.default_cf(), &ReadOptions::default());
        assert_eq!(view.len(), KEYS, "a read-only view is missing keys");
        let first = view.values().next().unwrap()[..7].to_vec();
        assert!(view.values().all(|v| v[..7] == first[..]), "a read-only view mixes rounds");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

/// Tables kept alive only by an iterator are deleted soon after the iterator is dropped, with
/// no further flush or compaction (the idle background thread collects them).
#[test]
fn tables_pinned_by_a_dropped_iterator_are_collected() {
    let tmp = tempfile::tempdir().unwrap();
    let db = strata::Db::open(tmp.path(), strata::Options::default()).unwrap();
    for round in 0..2 {
        for i in 0..200 {
            db.put(format!("k{i:04}"), format!("v{round}")).unwrap();
        }
        db.flush().unwrap();
    }
    let count_ssts = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sst"))
            .count()
    };
    let mut it = db.iter(&strata::ReadOptions::default()).unwrap();
    it.seek_to_first();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    // The iterator still reads the old table, so it is still on disk.
    assert_eq!(count_ssts(), 3, "the two pinned inputs and the compaction output");
    assert!(it.valid());
    drop(it);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count_ssts() > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(count_ssts(), 1, "the table only the dropped iterator used was deleted");
}

/// A write naming a dropped column family fails with `ColumnFamilyNotFound` and writes nothing,
/// not even its default-column-family ops (the batch is atomic).
#[test]
fn writes_to_a_dropped_column_family_are_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let db = strata::Db::open(tmp.path(), strata::Options::default()).unwrap();
    let cf = db.create_cf("gone").unwrap();
    db.put_cf(&cf, "a", "1").unwrap();
    db.drop_cf("gone").unwrap();
    let mut b = strata::WriteBatch::new();
    b.put("default-key", "x");
    b.put_cf(&cf, "b", "2");
    let err = db.write(b, &strata::WriteOptions::default()).unwrap_err();
    assert!(matches!(err, strata::Error::ColumnFamilyNotFound(_)), "{err}");
    assert!(db.get("default-key").unwrap().is_none(), "no part of the batch was applied");
    assert!(matches!(db.put_cf(&cf, "c", "3"), Err(strata::Error::ColumnFamilyNotFound(_))));
    // A batch on the default column family alone still works.
    db.put("default-key", "y").unwrap();
    assert_eq!(db.get("default-key").unwrap().as_deref(), Some(&b"y"[..]));
}
