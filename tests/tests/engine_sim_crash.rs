//! Simulated power loss with `SimFs`: a writer applies a deterministic history of batches (over
//! two column families, some synced, some not, with the odd explicit flush) to a database with
//! tiny write buffers, tables and manifest limit, so memtable switches, flushes, compactions and
//! manifest rollovers happen all the time. At a chosen mutating file-system operation the
//! "machine stops": that operation and every later one fail (`SimFs::fail_after`). The test then
//! checks the stopped database (writes refused with `Poisoned`, reads still show every write
//! that returned `Ok`), drops it, throws away everything not synced (`SimFs::crash`), sometimes
//! crashes again in the middle of recovery, reopens, and checks that the database holds exactly
//! a prefix of the history that includes every write acknowledged as durable. The reopened
//! database must take writes, crash again and recover again, then flush and compact.
//!
//! Crash points: half are an operation number (`fail_after(op_count() + k)`, uniform over a
//! phase, so mostly WAL and table appends); half are "the n-th operation of class C" (a
//! `StopFs` wrapper), with C drawn uniformly from the classes a dry run of the same seed
//! performed, so manifest appends and syncs, `CURRENT` renames, WAL creation, directory syncs
//! and file deletions are hit as often as appends.
//!
//! Each seed also picks an option variant (1-3 immutable memtables, L0 trigger 2 or 3, tiny or
//! normal manifest limit). Seeds: `STRATA_SIM_SEED` (default fixed) and `STRATA_SIM_CRASH_ITERS`
//! (default 200) replay or extend a run; every failure message names the seed and prints the
//! last operations.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::cell::RefCell;
use std::collections::BTreeMap;
use strata::{ColumnFamily, Db, Error, Options, SimFs, WriteOptions};
use strata_tests::fault_fs::{StopAt, StopFs, op_class};
use strata_tests::history::{Acked, History, Rng, SIDE_CF, check_prefix};

const DB: &str = "/db";

/// Batches written in phase 1 (about 4000 file-system operations).
const PHASE1_BATCHES: u64 = 1500;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A simulated machine: the in-memory disk and the stop-point wrapper the database uses.
struct Machine {
    sim: SimFs,
    stop: StopFs,
    /// Picks one of a few option variants.
    variant: u64,
}

impl Machine {
    fn new(variant: u64) -> Self {
        let sim = SimFs::new();
        let stop = StopFs::new(sim.clone());
        Self { sim, stop, variant }
    }

    /// Small everything: a flush every ~50 batches, compactions at 2 or 3 L0 tables, a
    /// manifest rollover every few edits (every fourth variant: rarely), 1 to 3 immutable
    /// memtables.
    fn options(&self) -> Options {
        Options {
            fs: Some(self.stop.arc()),
            write_buffer_size: 8 * 1024,
            max_write_buffers: 1 + (self.variant % 3) as usize,
            target_file_size: 8 * 1024,
            max_bytes_for_level_base: 32 * 1024,
            level0_compaction_trigger: 2 + (self.variant / 3 % 2) as usize,
            block_size: 512,
            block_cache_capacity: 256 * 1024,
            manifest_size_limit: if self.variant % 4 == 3 { 64 * 1024 } else { 1024 },
            ..Default::default()
        }
    }

    fn open(&self, ctx: &str) -> (Db, ColumnFamily) {
        let db = Db::open(DB, self.options()).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
        let side = match db.cf(SIDE_CF) {
            Some(cf) => cf,
            None => db.create_cf(SIDE_CF).unwrap_or_else(|e| panic!("{ctx}: create_cf failed: {e}")),
        };
        (db, side)
    }

    /// Stops the machine now: every later operation fails.
    fn stop_now(&self) {
        self.sim.fail_after(Some(self.sim.op_count()));
    }

    /// Power loss: unsynced data is gone, stop points are cleared.
    fn power_loss(&self) {
        note(format!("power loss at op {}", self.sim.op_count()));
        self.stop.stop_at(None);
        self.sim.crash();
    }
}

/// What one writing phase did.
#[derive(Debug, Default)]
struct Phase {
    acked: Acked,
    /// Batches `0..ok` returned `Ok` (visible to reads of the same `Db`).
    ok: u64,
    /// The error that stopped the phase, if one did.
    error: Option<Error>,
}

/// Writes batches `start..start + count` until one fails; sometimes flushes. Every batch before
/// `start` is known to be in the database and durable.
fn write_until_stopped(
    db: &Db,
    side: &ColumnFamily,
    history: &History,
    start: u64,
    count: u64,
    rng: &mut Rng,
) -> Phase {
    let mut p = Phase { acked: Acked { durable: start, attempted: start }, ok: start, error: None };
    for i in start..start + count {
        p.acked.attempted = i + 1;
        let sync = rng.chance(2, 3);
        if let Err(e) = db.write(history.batch(i, side), &WriteOptions { sync, ..Default::default() }) {
            p.error = Some(e);
            return p;
        }
        p.ok = i + 1;
        if sync {
            p.acked.durable = i + 1;
        }
        if rng.chance(1, 80) {
            match db.flush() {
                Ok(()) => p.acked.durable = i + 1,
                Err(e) => {
                    p.error = Some(e);
                    return p;
                }
            }
        }
    }
    p
}

/// The machine has stopped: every later write and flush must be refused as `Poisoned` (the
/// first failure poisoned the database), and reads must still show every `Ok` write.
fn check_stopped(db: &Db, side: &ColumnFamily, history: &History, phase: &Phase, ctx: &str) {
    let Some(first) = &phase.error else { return };
    assert!(
        matches!(first, Error::Io { .. } | Error::Poisoned(_)),
        "{ctx}: an injected I/O failure surfaced as {first:?}"
    );
    let next = history.batch(phase.acked.attempted, side);
    match db.write(next, &WriteOptions { sync: true, ..Default::default() }) {
        Err(Error::Poisoned(_)) => {}
        other => panic!("{ctx}: write after a failure returned {other:?}, expected Poisoned"),
    }
    match db.flush() {
        Err(Error::Poisoned(_)) => {}
        other => panic!("{ctx}: flush after a failure returned {other:?}, expected Poisoned"),
    }
    let visible = Acked { durable: phase.ok, attempted: phase.ok };
    check_prefix(db, history, visible, &format!("{ctx}: reads of the stopped database"));
}

/// Drops `db` (its shutdown sees failing I/O and must not panic), loses unsynced data, and
/// one time in three crashes once more in the middle of recovery.
fn crash(db: Db, m: &Machine, rng: &mut Rng, ctx: &str) {
    m.stop_now();
    drop(db);
    m.power_loss();
    if rng.chance(1, 3) {
        let at = m.sim.op_count() + rng.below(60);
        note(format!("reopen stops at op {at}"));
        m.sim.fail_after(Some(at));
        match Db::open(DB, m.options()) {
            Ok(db) => drop(db),
            Err(e) => assert!(
                matches!(e, Error::Io { .. } | Error::Poisoned(_)),
                "{ctx}: open interrupted by an I/O failure returned {e:?}"
            ),
        }
        m.power_loss();
    }
}

thread_local! {
    /// Where phase-1 crash points landed, by operation class (printed at the end).
    static LANDED: RefCell<BTreeMap<String, u64>> = const { RefCell::new(BTreeMap::new()) };
    /// What the current iteration did, printed if it fails.
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn note(s: String) {
    EVENTS.with(|e| e.borrow_mut().push(s));
}

/// Runs `f`; if it panics, prints the iteration's events and last file-system operations.
fn with_trace<T>(sim: &SimFs, f: impl FnOnce() -> T) -> T {
    EVENTS.with(|e| e.borrow_mut().clear());
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(t) => t,
        Err(p) => {
            EVENTS.with(|e| e.borrow().iter().for_each(|l| eprintln!("event: {l}")));
            let trace = sim.trace();
            let tail = trace.len().saturating_sub(env_u64("STRATA_SIM_TRACE_LINES", 60) as usize);
            for (i, line) in trace.iter().enumerate().skip(tail) {
                eprintln!("op {i}: {line}");
            }
            std::panic::resume_unwind(p)
        }
    }
}

/// Phase 1 of a seed without any fault: the classes of the operations it performs after open.
fn dry_run_classes(seed: u64) -> Vec<String> {
    let m = Machine::new(seed);
    let history = History::new(seed);
    let (db, side) = m.open("dry run");
    let start = m.sim.op_count() as usize;
    let p = write_until_stopped(&db, &side, &history, 0, PHASE1_BATCHES, &mut Rng::new(seed ^ 1));
    assert!(p.error.is_none(), "seed {seed}: dry run failed: {:?}", p.error);
    let trace = m.sim.trace();
    drop(db);
    trace.get(start..).unwrap_or_default().iter().map(|l| op_class(l)).collect()
}

/// Where phase 1 stops: an operation number, or the n-th operation of a class.
#[derive(Debug)]
enum CrashPoint {
    Offset(u64),
    Class(StopAt),
}

fn pick_crash_point(seed: u64) -> CrashPoint {
    let classes = dry_run_classes(seed);
    let mut rng = Rng::new(seed ^ 2);
    let len = classes.len() as u64;
    if rng.chance(1, 2) {
        // A little past the end too, where only background work is left.
        return CrashPoint::Offset(rng.below(len + len / 10 + 1));
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &classes {
        *counts.entry(c.as_str()).or_insert(0) += 1;
    }
    let Some((class, count)) = counts.iter().nth(rng.below(counts.len() as u64) as usize) else {
        return CrashPoint::Offset(0);
    };
    CrashPoint::Class(StopAt { class: class.to_string(), nth: rng.below(*count) })
}

/// One crash point: returns the number of file-system operations phase 1 used.
fn one_iteration(seed: u64) -> u64 {
    let point = pick_crash_point(seed);
    let m = Machine::new(seed);
    with_trace(&m.sim.clone(), || run_iteration(&m, seed, point))
}

fn run_iteration(m: &Machine, seed: u64, point: CrashPoint) -> u64 {
    let ctx = format!("seed {seed}, crash point {point:?}");
    let history = History::new(seed);
    let mut rng = Rng::new(seed ^ 1);
    let (db, side) = m.open(&ctx);
    let ops_start = m.sim.op_count();

    // First crash, at the picked operation.
    let at = match &point {
        CrashPoint::Offset(k) => {
            m.sim.fail_after(Some(ops_start + k));
            Some(ops_start + k)
        }
        CrashPoint::Class(s) => {
            m.stop.stop_at(Some(s.clone()));
            None
        }
    };
    let p1 = write_until_stopped(&db, &side, &history, 0, PHASE1_BATCHES, &mut rng);
    check_stopped(&db, &side, &history, &p1, &format!("{ctx}, phase 1"));
    let landed = match (at, &point) {
        (Some(at), _) => m.sim.trace().get(at as usize).map(|l| op_class(l)),
        (None, CrashPoint::Class(s)) => m.stop.stopped().then(|| s.class.clone()),
        (None, CrashPoint::Offset(_)) => None,
    };
    let landed = landed.unwrap_or_else(|| "nothing (the run ended first)".to_string());
    LANDED.with(|l| *l.borrow_mut().entry(landed).or_insert(0) += 1);
    let used = m.sim.op_count() - ops_start;
    crash(db, m, &mut rng, &ctx);
    let (db, side) = m.open(&ctx);
    let n1 = check_prefix(&db, &history, p1.acked, &format!("{ctx}: after crash 1 ({:?})", p1.error));

    // The recovered database takes writes; crash it again.
    let at = m.sim.op_count() + rng.below(2000);
    note(format!("phase 2 stops at op {at}"));
    m.sim.fail_after(Some(at));
    let p2 = write_until_stopped(&db, &side, &history, n1, 600, &mut rng);
    check_stopped(&db, &side, &history, &p2, &format!("{ctx}, phase 2"));
    crash(db, m, &mut rng, &ctx);
    let (db, side) = m.open(&ctx);
    let n2 = check_prefix(&db, &history, p2.acked, &format!("{ctx}: after crash 2 ({:?})", p2.error));

    // And works normally: writes, flush, full compaction of both column families.
    let p3 = write_until_stopped(&db, &side, &history, n2, 100, &mut rng);
    assert!(p3.error.is_none(), "{ctx}: write after recovery failed: {:?}", p3.error);
    db.flush().unwrap_or_else(|e| panic!("{ctx}: flush after recovery: {e}"));
    db.compact_range(&db.default_cf(), None, None).unwrap_or_else(|e| panic!("{ctx}: compact default: {e}"));
    db.compact_range(&side, None, None).unwrap_or_else(|e| panic!("{ctx}: compact side: {e}"));
    let all = Acked { durable: n2 + 100, attempted: n2 + 100 };
    check_prefix(&db, &history, all, &format!("{ctx}: after flush and compaction"));
    drop(db);
    m.power_loss();
    let (db, _) = m.open(&ctx);
    check_prefix(&db, &history, all, &format!("{ctx}: after a crash following a flush"));
    used
}

#[test]
fn sim_crash_at_random_operations_keeps_a_durable_prefix() {
    let base = env_u64("STRATA_SIM_SEED", 0x5eed_0001);
    let iters = env_u64("STRATA_SIM_CRASH_ITERS", 200);
    let mut total = 0;
    for it in 0..iters {
        total += one_iteration(base.wrapping_add(it));
    }
    let landed = LANDED.with(|l| l.borrow().clone());
    eprintln!("phase-1 crash points by operation class: {landed:?}");
    assert!(total > iters, "crash points must land after some operations ({total} in {iters} runs)");
    // The crash points must reach the rarer operations (manifest, CURRENT, directory, WAL
    // creation, deletions), not only appends: about half of them aim there.
    let common = ["append wal", "append table", "sync wal", "nothing (the run ended first)"];
    let rare: u64 = landed.iter().filter(|(c, _)| !common.contains(&c.as_str())).map(|(_, n)| n).sum();
    assert!(rare >= iters / 5, "only {rare} of {iters} crash points hit a rare operation: {landed:?}");
}

/// A flush that returned `Ok` made every earlier write durable, synced or not: stopping the
/// machine right after it and losing everything unsynced keeps them all.
#[test]
fn sim_crash_right_after_flush_keeps_everything() {
    for seed in 0..12u64 {
        let ctx = format!("seed {seed}");
        let history = History::new(seed);
        let mut rng = Rng::new(seed);
        let m = Machine::new(seed);
        let (db, side) = m.open(&ctx);
        let n = 50 + rng.below(400);
        for i in 0..n {
            db.write(history.batch(i, &side), &WriteOptions::default()).expect("unsynced write");
        }
        db.flush().expect("flush");
        m.stop_now();
        check_prefix(&db, &history, Acked { durable: n, attempted: n }, &format!("{ctx}: before crash"));
        drop(db);
        m.power_loss();
        let (db, _) = m.open(&ctx);
        check_prefix(&db, &history, Acked { durable: n, attempted: n }, &format!("{ctx}: after crash"));
    }
}

/// No fault at all: the database is dropped normally after a random number of batches and
/// the machine loses power afterwards. Unsynced writes may vanish; synced ones may not, and
/// what is left is a prefix.
#[test]
fn sim_plain_crash_drops_only_unsynced_writes() {
    for seed in 100..130u64 {
        let ctx = format!("seed {seed}");
        let history = History::new(seed);
        let mut rng = Rng::new(seed);
        let m = Machine::new(seed);
        let (db, side) = m.open(&ctx);
        let count = rng.below(800);
        let p = write_until_stopped(&db, &side, &history, 0, count, &mut rng);
        assert!(p.error.is_none(), "{ctx}: write failed without a fault: {:?}", p.error);
        drop(db);
        m.power_loss();
        let (db, side) = m.open(&ctx);
        let n = check_prefix(&db, &history, p.acked, &format!("{ctx}: after crash"));
        // A second power loss with no writes in between loses nothing more.
        drop((db, side));
        m.power_loss();
        let (db, _) = m.open(&ctx);
        let again = check_prefix(&db, &history, Acked { durable: n, attempted: n }, &format!("{ctx}: second crash"));
        assert_eq!(again, n, "{ctx}: recovery is not idempotent");
    }
}
