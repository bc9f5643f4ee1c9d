//! Injected I/O errors and damaged files, on `SimFs`.
//!
//! - A failed fsync, a full disk (in the WAL or in a background flush) or any failure inside a
//!   compaction puts the database in its error state: the failing call returns the error, every
//!   later write, flush and compaction returns `Error::Poisoned` (also after the fault clears:
//!   a retried fsync can report success over lost data), reads keep returning everything
//!   acknowledged, and a reopen, with or without a power loss, recovers everything acknowledged
//!   as durable.
//! - Damage found at open or on read is reported, naming the file: a byte flipped in the middle
//!   of a WAL (`Corruption` by default, the prefix with `RecoveryMode::PointInTime`), a byte
//!   flipped anywhere in a table (`Corruption` naming the table on the reads that touch it, never
//!   a panic or a wrong answer), a missing table, a missing manifest. A torn last WAL record is
//!   not damage: it is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::io;
use std::path::{Path, PathBuf};
use strata::{ColumnFamily, Db, Error, Options, RecoveryMode, SimFs, WriteOptions};
use strata_base::FileSystem;
use strata_base::fs::Fault;
use strata_tests::fault_fs::{FaultRule, SelectiveFaultFs, StopAt, StopFs, overwrite_file};
use strata_tests::history::{Acked, History, SIDE_CF, check_prefix};

const DB: &str = "/db";

fn opts(fs: std::sync::Arc<dyn FileSystem>) -> Options {
    Options { fs: Some(fs), ..strata_tests::small_options() }
}

/// Options whose memtable holds every write of the fault tests that target the WAL, so no
/// background flush or compaction is doing I/O when the fault is injected: the first operation
/// to hit it is the write's own WAL append or fsync. (With `opts`, a background flush could
/// hit the fault first and the write would return `Poisoned` instead: a flaky CI failure.)
fn wal_only_opts(fs: std::sync::Arc<dyn FileSystem>) -> Options {
    Options { write_buffer_size: 8 << 20, ..opts(fs) }
}

fn open_with(o: Options) -> (Db, ColumnFamily) {
    let db = Db::open(DB, o).expect("open");
    let side = match db.cf(SIDE_CF) {
        Some(cf) => cf,
        None => db.create_cf(SIDE_CF).expect("create_cf"),
    };
    (db, side)
}

fn sync_opts(sync: bool) -> WriteOptions {
    WriteOptions { sync, ..Default::default() }
}

/// Writes batches `range` of `history`, synced when `sync(i)`; panics on an error.
fn write_range(db: &Db, side: &ColumnFamily, h: &History, range: std::ops::Range<u64>, sync: impl Fn(u64) -> bool) {
    for i in range {
        db.write(h.batch(i, side), &sync_opts(sync(i))).unwrap_or_else(|e| panic!("write {i}: {e}"));
    }
}

/// Every write-side call of a database in the error state returns `Poisoned`.
fn assert_poisoned(db: &Db, side: &ColumnFamily, h: &History, next: u64, ctx: &str) {
    let is_poisoned = |what: &str, r: strata::Result<()>| match r {
        Err(Error::Poisoned(_)) => {}
        other => panic!("{ctx}: {what} returned {other:?}, expected Poisoned"),
    };
    is_poisoned("synced write", db.write(h.batch(next, side), &sync_opts(true)));
    is_poisoned("unsynced write", db.write(h.batch(next, side), &sync_opts(false)));
    is_poisoned("put", db.put(b"other", b"x"));
    is_poisoned("flush", db.flush());
    is_poisoned("compact_range", db.compact_range(side, None, None));
    is_poisoned("create_cf", db.create_cf("another").map(drop));
}

fn files_with_suffix(fs: &dyn FileSystem, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs
        .list(Path::new(DB))
        .expect("list")
        .into_iter()
        .filter(|n| n.ends_with(suffix))
        .map(|n| Path::new(DB).join(n))
        .collect();
    v.sort();
    v
}

/// Flips one bit of the byte at `offset` of `path`, durably.
fn flip_byte(fs: &dyn FileSystem, path: &Path, offset: usize) {
    let mut data = fs.read_all(path).expect("read").to_vec();
    data[offset] ^= 0x10;
    overwrite_file(fs, path, &data).expect("rewrite");
}

#[test]
fn failed_fsync_poisons_writes_and_reopen_recovers() {
    for power_loss in [false, true] {
        let ctx = format!("power loss {power_loss}");
        let sim = SimFs::new();
        let h = History::new(1);
        let (db, side) = open_with(wal_only_opts(sim.arc()));
        write_range(&db, &side, &h, 0..100, |i| i % 2 == 0);
        write_range(&db, &side, &h, 100..120, |_| false);
        sim.set_fault(Some(Fault::SyncFails));
        match db.write(h.batch(120, &side), &sync_opts(true)) {
            Err(Error::Io { path: Some(p), .. }) => assert!(p.to_string_lossy().ends_with(".log"), "{ctx}: {p:?}"),
            other => panic!("{ctx}: synced write with a failing fsync returned {other:?}"),
        }
        assert_poisoned(&db, &side, &h, 121, &ctx);
        // The fault going away does not make the database writable again.
        sim.set_fault(None);
        assert_poisoned(&db, &side, &h, 121, &format!("{ctx}, fault cleared"));
        // An operator sees it without reading logs.
        let stats = db.property("strata.stats").expect("stats");
        assert!(stats.contains("background error: I/O error"), "{ctx}: {stats}");
        // Reads: exactly the 120 acknowledged batches (the failed one was never applied).
        check_prefix(&db, &h, Acked { durable: 120, attempted: 120 }, &format!("{ctx}: reads while poisoned"));
        drop(db);
        if power_loss {
            sim.crash();
        }
        let (db, side) = open_with(wal_only_opts(sim.arc()));
        let stats = db.property("strata.stats").expect("stats");
        assert!(stats.contains("background error: none"), "{ctx}: {stats}");
        assert!(stats.contains("recovery at open: wal files replayed"), "{ctx}: {stats}");
        // Without a power loss the unsynced writes reached the OS and must be back too.
        let durable = if power_loss { 99 } else { 120 };
        let n = check_prefix(&db, &h, Acked { durable, attempted: 121 }, &format!("{ctx}: after reopen"));
        write_range(&db, &side, &h, n..n + 50, |_| true);
        db.flush().expect("flush after reopen");
        check_prefix(&db, &h, Acked { durable: n + 50, attempted: n + 50 }, &format!("{ctx}: writable again"));
    }
}

#[test]
fn disk_full_in_the_wal_fails_the_write_and_poisons() {
    let sim = SimFs::new();
    let h = History::new(2);
    let (db, side) = open_with(wal_only_opts(sim.arc()));
    write_range(&db, &side, &h, 0..80, |_| true);
    sim.set_fault(Some(Fault::NoSpace));
    match db.write(h.batch(80, &side), &sync_opts(true)) {
        Err(Error::Io { source, .. }) => assert_eq!(source.kind(), io::ErrorKind::StorageFull),
        other => panic!("write on a full disk returned {other:?}"),
    }
    assert_poisoned(&db, &side, &h, 81, "disk full");
    check_prefix(&db, &h, Acked { durable: 80, attempted: 80 }, "reads on a full disk");
    drop(db);
    sim.set_fault(None);
    sim.crash();
    let (db, _) = open_with(wal_only_opts(sim.arc()));
    check_prefix(&db, &h, Acked { durable: 80, attempted: 81 }, "after reopen");
}

/// The disk fills up for tables only, so the WAL keeps taking writes until the background
/// flush fails; from then on writes are refused instead of piling up in memory or being lost.
#[test]
fn disk_full_in_a_background_flush_poisons_writes() {
    for power_loss in [false, true] {
        let ctx = format!("power loss {power_loss}");
        let sim = SimFs::new();
        let faulty = SelectiveFaultFs::new(sim.arc());
        let h = History::new(3);
        let (db, side) = open_with(opts(faulty.arc()));
        write_range(&db, &side, &h, 0..40, |_| true);
        db.flush().expect("first flush");
        // No compaction may be writing a table when the fault starts: the first to fail must
        // be a flush that the writes below make due.
        db.wait_for_compactions().expect("compactions before the fault");
        faulty.set_rule(Some(FaultRule { suffix: ".sst".into(), kind: io::ErrorKind::StorageFull }));
        // 16 KiB write buffers and ~150-byte batches: a flush is due within a few hundred
        // batches; 20000 without an error means the failure was swallowed.
        let (mut ok, mut durable) = (40, 40);
        let err = loop {
            assert!(ok < 20_000, "{ctx}: writes never failed although every flush fails");
            let sync = ok % 3 == 0;
            match db.write(h.batch(ok, &side), &sync_opts(sync)) {
                Ok(()) => {
                    ok += 1;
                    if sync {
                        durable = ok;
                    }
                }
                Err(e) => break e,
            }
        };
        match &err {
            Error::Poisoned(msg) => assert!(msg.contains(".sst"), "{ctx}: {msg}"),
            other => panic!("{ctx}: write after a failed flush returned {other:?}, expected Poisoned"),
        }
        assert!(ok > 40, "{ctx}: writes failed before any flush was needed");
        assert_poisoned(&db, &side, &h, ok, &ctx);
        check_prefix(&db, &h, Acked { durable: ok, attempted: ok }, &format!("{ctx}: reads while poisoned"));
        drop(db);
        faulty.set_rule(None);
        if power_loss {
            sim.crash();
        }
        let (db, side) = open_with(opts(faulty.arc()));
        let durable = if power_loss { durable } else { ok };
        let n = check_prefix(&db, &h, Acked { durable, attempted: ok + 1 }, &format!("{ctx}: after reopen"));
        write_range(&db, &side, &h, n..n + 20, |_| false);
        db.flush().expect("flush after reopen");
        db.compact_range(&side, None, None).expect("compact after reopen");
        check_prefix(&db, &h, Acked { durable: n + 20, attempted: n + 20 }, &format!("{ctx}: writable again"));
    }
}

/// A database with four L0 tables per column family and automatic compactions off; returns
/// the number of batches written (all flushed, so all durable).
fn four_tables(sim: &SimFs, h: &History) -> (Db, ColumnFamily, u64) {
    let o = Options { disable_auto_compactions: true, ..opts(sim.arc()) };
    let (db, side) = open_with(o);
    for part in 0..4 {
        write_range(&db, &side, h, part * 60..(part + 1) * 60, |_| false);
        db.flush().expect("flush");
    }
    (db, side, 240)
}

/// The machine stops at every few operations of a manual compaction: the compaction fails
/// (unless only the deletion of obsolete inputs failed, which is best effort), the database
/// is poisoned, reads still see everything, and a reopen has every flushed write.
#[test]
fn failure_during_compaction_poisons_and_loses_nothing() {
    let h = History::new(4);
    let compaction_ops = {
        let sim = SimFs::new();
        let (db, side, _) = four_tables(&sim, &h);
        let before = sim.op_count();
        db.compact_range(&db.default_cf(), None, None).expect("compact");
        db.compact_range(&side, None, None).expect("compact");
        sim.op_count() - before
    };
    assert!(compaction_ops > 10, "a compaction of 8 tables took only {compaction_ops} operations");
    let step = (compaction_ops / 40).max(1);
    let mut failed = 0;
    for k in (0..compaction_ops + 2).step_by(step as usize) {
        let ctx = format!("stop at compaction operation {k} of {compaction_ops}");
        let sim = SimFs::new();
        let (db, side, n) = four_tables(&sim, &h);
        sim.fail_after(Some(sim.op_count() + k));
        let r = db.compact_range(&db.default_cf(), None, None).and_then(|()| db.compact_range(&side, None, None));
        if let Err(e) = &r {
            failed += 1;
            assert!(matches!(e, Error::Io { .. } | Error::Poisoned(_)), "{ctx}: compaction failed with {e:?}");
            assert_poisoned(&db, &side, &h, n, &ctx);
        }
        check_prefix(&db, &h, Acked { durable: n, attempted: n }, &format!("{ctx}: reads after the failure"));
        drop(db);
        if k % 2 == 0 {
            sim.crash();
        } else {
            sim.fail_after(None);
        }
        let (db, side) = open_with(Options { disable_auto_compactions: true, ..opts(sim.arc()) });
        check_prefix(&db, &h, Acked { durable: n, attempted: n }, &format!("{ctx}: after reopen"));
        db.compact_range(&db.default_cf(), None, None).expect("compact after reopen");
        db.compact_range(&side, None, None).expect("compact after reopen");
        check_prefix(&db, &h, Acked { durable: n, attempted: n }, &format!("{ctx}: compacted after reopen"));
    }
    assert!(failed > 5, "only {failed} stop points made the compaction fail");
}

/// A WAL of `count` synced batches, closed cleanly; returns the WAL holding them.
fn one_wal(sim: &SimFs, h: &History, count: u64) -> PathBuf {
    let o = Options { fs: Some(sim.arc()), ..Options::default() };
    let (db, side) = open_with(o);
    write_range(&db, &side, h, 0..count, |_| true);
    drop(db);
    let wals: Vec<PathBuf> =
        files_with_suffix(sim, ".log").into_iter().filter(|p| sim.file_size(p).unwrap_or(0) > 0).collect();
    assert_eq!(wals.len(), 1, "expected one non-empty WAL: {wals:?}");
    wals[0].clone()
}

fn mode(m: RecoveryMode, sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), wal_recovery_mode: m, ..Options::default() }
}

#[test]
fn wal_corrupted_in_the_middle_is_an_error_or_a_prefix() {
    let sim = SimFs::new();
    let h = History::new(5);
    let wal = one_wal(&sim, &h, 300);
    let size = sim.file_size(&wal).expect("size") as usize;
    let flip = size / 2;
    flip_byte(&sim, &wal, flip);
    for attempt in 0..2 {
        match Db::open(DB, mode(RecoveryMode::TolerateCorruptedTail, &sim)) {
            Err(Error::Corruption { file, offset, reason }) => {
                assert_eq!(file, wal, "attempt {attempt}: corruption reported in the wrong file ({reason})");
                // The offset of the damaged record: at or before the flipped byte, and no
                // further back than one record (batches here are a few hundred bytes).
                let flip = flip as u64;
                assert!(
                    offset <= flip && flip - offset < 32 * 1024, // one WAL block
                    "offset {offset} is not the record holding byte {flip} ({reason})"
                );
            }
            other => panic!("attempt {attempt}: open of a WAL damaged in the middle returned {other:?}"),
        }
    }
    let (db, _) = open_with(mode(RecoveryMode::PointInTime, &sim));
    let n = check_prefix(&db, &h, Acked { durable: 0, attempted: 300 }, "point in time");
    assert!(n > 0 && n < 300, "point-in-time recovery kept {n} of 300 batches");
    drop(db);
    // The prefix is now the database: a default-mode open finds it and nothing else.
    let (db, _) = open_with(mode(RecoveryMode::TolerateCorruptedTail, &sim));
    check_prefix(&db, &h, Acked { durable: n, attempted: n }, "default mode after point in time");
}

#[test]
fn wal_torn_last_record_is_dropped() {
    let sim = SimFs::new();
    let h = History::new(6);
    let o = Options { fs: Some(sim.arc()), ..Options::default() };
    let (db, side) = open_with(o);
    write_range(&db, &side, &h, 0..50, |_| true);
    write_range(&db, &side, &h, 50..60, |_| false);
    drop(db);
    let wals: Vec<PathBuf> =
        files_with_suffix(&sim, ".log").into_iter().filter(|p| sim.file_size(p).unwrap_or(0) > 0).collect();
    assert_eq!(wals.len(), 1, "{wals:?}");
    let data = sim.read_all(&wals[0]).expect("read");
    overwrite_file(&sim, &wals[0], &data[..data.len() - 3]).expect("truncate");
    match Db::open(DB, mode(RecoveryMode::AbsoluteConsistency, &sim)) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, wals[0]),
        other => panic!("absolute consistency accepted a torn record: {other:?}"),
    }
    let (db, _) = open_with(mode(RecoveryMode::TolerateCorruptedTail, &sim));
    let n = check_prefix(&db, &h, Acked { durable: 0, attempted: 60 }, "torn tail");
    assert_eq!(n, 59, "every record but the torn last one must be recovered");
}

/// What reading every key and iterating found in a database with a damaged table.
#[derive(Debug, Default)]
struct Damage {
    errors: usize,
}

/// Reads every key of the model and iterates the column family: each answer must be right or
/// a `Corruption` naming `table`.
fn read_around_damage(db: &Db, h: &History, n: u64, table: &Path, ctx: &str) -> Damage {
    let model = h.model(n);
    let mut d = Damage::default();
    let mut check_err = |e: Error, what: &str| match e {
        Error::Corruption { file, .. } if file == table => d.errors += 1,
        other => panic!("{ctx}: {what} returned {other:?}, expected Corruption in {}", table.display()),
    };
    for i in 0..h.key_space {
        let key = format!("k{i:05}").into_bytes();
        match db.get(&key) {
            Ok(v) => {
                assert_eq!(v.as_deref(), model.default.get(&key).map(|v| &v[..]), "{ctx}: wrong answer for k{i:05}")
            }
            Err(e) => check_err(e, "get"),
        }
    }
    let mut it = match db.iter(&Default::default()) {
        Ok(it) => it,
        Err(e) => {
            check_err(e, "creating an iterator");
            return d;
        }
    };
    it.seek_to_first();
    let mut seen = std::collections::BTreeMap::new();
    while it.valid() {
        seen.insert(it.key().to_vec(), it.value().to_vec());
        it.next();
    }
    match it.status() {
        Ok(()) => assert!(seen == model.default, "{ctx}: iteration over a damaged table returned wrong data"),
        Err(e) => check_err(e, "iteration"),
    }
    d
}

/// Flips one byte at many places of a table, one place at a time: reads never panic and never
/// return a wrong answer; the damage is reported as `Corruption` naming the table. Once for an
/// L0 table (read directly) and once for a bottom-level one (read through the level iterator).
#[test]
fn table_with_a_flipped_byte_reports_corruption() {
    for compacted in [false, true] {
        let sim = SimFs::new();
        let h = History::new(7);
        let n = 400;
        let o = || Options { disable_auto_compactions: true, ..opts(sim.arc()) };
        let (db, side) = open_with(o());
        write_range(&db, &side, &h, 0..n, |_| false);
        if compacted {
            db.compact_range(&db.default_cf(), None, None).expect("compact");
        } else {
            db.flush().expect("flush");
        }
        drop(db);
        let tables = files_with_suffix(&sim, ".sst");
        // The default column family's biggest table (the side family holds fewer keys).
        let table = tables.iter().max_by_key(|p| sim.file_size(p).unwrap_or(0)).expect("a table").clone();
        let original = sim.read_all(&table).expect("read").to_vec();
        let points = 40;
        let mut undetected = Vec::new();
        for p in 0..points {
            let offset = p * (original.len() - 1) / (points - 1);
            flip_byte(&sim, &table, offset);
            let ctx = format!("compacted {compacted}: byte {offset} of {} flipped", original.len());
            let (db, _) = open_with(o());
            let d = read_around_damage(&db, &h, n, &table, &ctx);
            if d.errors == 0 {
                undetected.push(offset);
            }
            drop(db);
            overwrite_file(&sim, &table, &original).expect("restore");
        }
        assert!(undetected.is_empty(), "flips at offsets {undetected:?} of {} went unnoticed", original.len());
        let (db, _) = open_with(o());
        check_prefix(&db, &h, Acked { durable: n, attempted: n }, "restored table");
    }
}

/// A compaction that reads a damaged block fails with `Corruption` naming the table; it must
/// not write outputs without the damaged entries and delete the input.
#[test]
fn compaction_over_a_damaged_table_fails_instead_of_dropping_data() {
    let sim = SimFs::new();
    let h = History::new(12);
    let o = || Options { disable_auto_compactions: true, ..opts(sim.arc()) };
    let (db, side) = open_with(o());
    write_range(&db, &side, &h, 0..300, |_| false);
    db.compact_range(&db.default_cf(), None, None).expect("compact");
    let bottom = files_with_suffix(&sim, ".sst");
    write_range(&db, &side, &h, 300..400, |_| false);
    db.flush().expect("flush");
    drop(db);
    // The biggest table of the first compaction: a bottom-level table of the default family.
    let table = bottom.iter().max_by_key(|p| sim.file_size(p).unwrap_or(0)).expect("a table").clone();
    let original = sim.read_all(&table).expect("read").to_vec();
    flip_byte(&sim, &table, original.len() / 3);
    let (db, side) = open_with(o());
    match db.compact_range(&db.default_cf(), None, None) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, table),
        other => panic!("compaction over a damaged table returned {other:?}"),
    }
    assert_poisoned(&db, &side, &h, 400, "after a failed compaction");
    drop(db);
    assert!(sim.exists(&table), "the damaged input was deleted");
    overwrite_file(&sim, &table, &original).expect("restore");
    let (db, _) = open_with(o());
    check_prefix(&db, &h, Acked { durable: 400, attempted: 400 }, "after restoring the table");
    db.compact_range(&db.default_cf(), None, None).expect("compact after restore");
    check_prefix(&db, &h, Acked { durable: 400, attempted: 400 }, "compacted after restore");
}

#[test]
fn missing_table_fails_open_naming_it() {
    let sim = SimFs::new();
    let h = History::new(8);
    let (db, side) = open_with(Options { disable_auto_compactions: true, ..opts(sim.arc()) });
    write_range(&db, &side, &h, 0..100, |_| false);
    db.flush().expect("flush");
    drop(db);
    let tables = files_with_suffix(&sim, ".sst");
    let victim = tables.first().expect("a table").clone();
    sim.remove_file(&victim).expect("remove");
    let name = victim.file_name().expect("name").to_string_lossy().into_owned();
    for read_only in [false, true] {
        let r = if read_only { Db::open_read_only(DB, opts(sim.arc())) } else { Db::open(DB, opts(sim.arc())) };
        match r {
            Err(e @ Error::NotFound(_)) => assert!(e.to_string().contains(&name), "{e} does not name {name}"),
            other => panic!("open (read-only {read_only}) without table {name} returned {other:?}"),
        }
    }
}

#[test]
fn missing_manifest_fails_open_naming_it() {
    let sim = SimFs::new();
    let h = History::new(9);
    let (db, side) = open_with(opts(sim.arc()));
    write_range(&db, &side, &h, 0..10, |_| true);
    drop(db);
    let current = sim.read_all(Path::new("/db/CURRENT")).expect("CURRENT");
    let name = std::str::from_utf8(&current).expect("utf8").trim_end().to_string();
    assert!(name.starts_with("MANIFEST-"), "CURRENT holds {name:?}");
    sim.remove_file(&Path::new(DB).join(&name)).expect("remove manifest");
    // No other manifest is left to recover from (docs/design.md, "Recovery rules"): refused,
    // naming the missing manifest, and nothing is changed.
    let before = sim.list(Path::new(DB)).expect("list");
    for create_if_missing in [true, false] {
        match Db::open(DB, Options { create_if_missing, ..opts(sim.arc()) }) {
            Err(e @ Error::Corruption { .. }) => assert!(e.to_string().contains(&name), "{e} does not name {name}"),
            other => panic!("open without {name} returned {other:?}"),
        }
    }
    assert_eq!(sim.list(Path::new(DB)).expect("list"), before);
}

/// Regression (found by `engine_sim_crash`): a WAL numbered at or above the manifest's next
/// file number (created after the last durable edit) was truncated by recovery, which handed
/// the same number to its own new WAL before the replayed data was flushed; a crash in the
/// rest of that recovery lost the WAL's acknowledged writes.
#[test]
fn wal_numbered_past_the_manifest_counter_survives_a_crash_in_recovery() {
    let sim = SimFs::new();
    let h = History::new(10);
    let wal = one_wal(&sim, &h, 50);
    let number: u64 = wal.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).expect("WAL number");
    // The next open's manifest takes number + 1 and its new WAL number + 2: put the WAL there,
    // as if it had been created after the last edit.
    let data = sim.read_all(&wal).expect("read");
    let moved = Path::new(DB).join(format!("{:06}.log", number + 2));
    sim.remove_file(&wal).expect("remove");
    let mut f = sim.create(&moved).expect("create");
    f.append(&data).expect("append");
    f.sync().expect("sync");
    sim.sync_dir(Path::new(DB)).expect("sync dir");
    // Recovery stops when it starts writing the replayed data to a table.
    let stop = StopFs::new(sim.clone());
    stop.stop_at(Some(StopAt { class: "create table".into(), nth: 0 }));
    match Db::open(DB, opts(stop.arc())) {
        Err(Error::Io { .. }) => {}
        other => panic!("open stopped at its first table returned {other:?}"),
    }
    assert!(stop.stopped(), "recovery wrote no table");
    sim.crash();
    let (db, _) = open_with(opts(sim.arc()));
    check_prefix(&db, &h, Acked { durable: 50, attempted: 50 }, "WAL past the counter");
}

/// Two or more WALs holding synced batches `0..ok` (every flush fails, so no WAL is retired);
/// returns the non-empty WALs, oldest first, and `ok`.
fn two_wals(sim: &SimFs, h: &History) -> (Vec<PathBuf>, u64) {
    let faulty = SelectiveFaultFs::new(sim.arc());
    let (db, side) = open_with(opts(faulty.arc()));
    faulty.set_rule(Some(FaultRule { suffix: ".sst".into(), kind: io::ErrorKind::Other }));
    let mut ok = 0;
    while db.write(h.batch(ok, &side), &sync_opts(true)).is_ok() {
        ok += 1;
        assert!(ok < 20_000, "writes never failed although every flush fails");
    }
    drop(db);
    let wals: Vec<PathBuf> =
        files_with_suffix(sim, ".log").into_iter().filter(|p| sim.file_size(p).unwrap_or(0) > 0).collect();
    assert!(wals.len() >= 2, "expected two WALs with data: {wals:?}");
    (wals, ok)
}

/// With `PointInTime`, damage in one WAL ends recovery there: a later WAL's records must not be
/// replayed on top of the prefix (that would leave a hole in the history).
#[test]
fn point_in_time_recovery_stops_at_the_first_damaged_wal() {
    let sim = SimFs::new();
    let h = History::new(11);
    let (wals, ok) = two_wals(&sim, &h);
    let first = &wals[0];
    let size = sim.file_size(first).expect("size") as usize;
    flip_byte(&sim, first, size / 2);
    match Db::open(DB, mode(RecoveryMode::TolerateCorruptedTail, &sim)) {
        Err(Error::Corruption { file, .. }) => assert_eq!(&file, first),
        other => panic!("open returned {other:?}"),
    }
    let o = Options { wal_recovery_mode: RecoveryMode::PointInTime, ..opts(sim.arc()) };
    let (db, _) = open_with(o);
    let n = check_prefix(&db, &h, Acked { durable: 0, attempted: ok }, "point in time over two WALs");
    assert!(n > 0, "nothing recovered");
}

/// Damage at the end of an earlier WAL (its last record), with the bytes its successor's
/// header recorded all present, is corruption by default: the tail rule alone would take it for
/// a torn append, but the header proves those bytes were written. `PointInTime` keeps the prefix
/// up to the damage. (Until WAL format version 2 this test cut the last 3 bytes instead: with
/// unsynced closed WALs a shorter file is a crash's tear, see the next test.)
#[test]
fn torn_tail_before_a_later_wal_is_corruption() {
    let sim = SimFs::new();
    let h = History::new(13);
    let (wals, ok) = two_wals(&sim, &h);
    let first = &wals[0];
    let size = sim.file_size(first).expect("size") as usize;
    flip_byte(&sim, first, size - 3);
    match Db::open(DB, mode(RecoveryMode::TolerateCorruptedTail, &sim)) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(&file, first, "{reason}");
            assert!(reason.contains("damaged"), "{reason}");
        }
        other => panic!("open returned {other:?}"),
    }
    let o = Options { wal_recovery_mode: RecoveryMode::PointInTime, ..opts(sim.arc()) };
    let (db, _) = open_with(o);
    let n = check_prefix(&db, &h, Acked { durable: 0, attempted: ok }, "point in time, torn first WAL");
    assert!(n > 0 && n < ok, "kept {n} of {ok}");
}

/// An earlier WAL shorter than its successor's header recorded lost an unsynced tail in a
/// crash (here simulated by cutting its last 3 bytes): no later record can have been synced, so
/// by default recovery ends the history there, discards the later WALs and reports the cut
/// instead of failing.
#[test]
fn a_shortened_wal_before_a_later_wal_ends_the_history() {
    let sim = SimFs::new();
    let h = History::new(13);
    let (wals, ok) = two_wals(&sim, &h);
    let first = &wals[0];
    let data = sim.read_all(first).expect("read");
    overwrite_file(&sim, first, &data[..data.len() - 3]).expect("truncate");
    let (db, _) = open_with(mode(RecoveryMode::TolerateCorruptedTail, &sim));
    let n = check_prefix(&db, &h, Acked { durable: 0, attempted: ok }, "torn first WAL");
    assert!(n > 0 && n < ok, "kept {n} of {ok}");
    let report = db.recovery_report();
    let cut = report.wal_history_cut.as_ref().unwrap_or_else(|| panic!("no cut reported:\n{report}"));
    assert_eq!(Path::new(DB).join(&cut.wal), *first, "{report}");
    for later in &wals[1..] {
        assert!(
            cut.discarded.iter().any(|d| Path::new(DB).join(d) == *later),
            "{} not discarded: {report}",
            later.display()
        );
    }
}
