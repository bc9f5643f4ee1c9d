//! Crash tests for WALs that are not synced at the memtable switch (issue 17).
//!
//! A closed WAL is flushed to the OS and trimmed, not synced; a synced write syncs every older
//! live WAL first; each WAL's header record names its predecessor and the predecessor's length
//! (docs/format/wal.md, "WAL header record"). These tests keep every WAL live by holding the
//! flush thread at a gate (`SelectiveFaultFs`'s create gate, closed for tables), so the writes of
//! several generations sit in unsynced WALs, then crash `SimFs` (it keeps only synced bytes) and
//! sometimes put back bytes the kernel could have written on its own (a later WAL's unsynced
//! pages), and check what recovery returns.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata::{ColumnFamily, Db, Error, Options, RecoveryMode, SimFs, WriteOptions};
use strata_base::FileSystem;
use strata_tests::fault_fs::{SelectiveFaultFs, overwrite_file};
use strata_tests::history::{Acked, History, SIDE_CF, check_prefix};
use strata_wal::{LogReader, LogWriter};

const DB: &str = "/db";

/// A database whose flushes wait at the gate: every generation keeps its WAL.
struct Held {
    sim: SimFs,
    /// Its create gate holds every table (so every flush) until the crash.
    gate: SelectiveFaultFs,
    db: Option<Db>,
    side: ColumnFamily,
}

fn options(fs: Arc<dyn FileSystem>, mode: RecoveryMode) -> Options {
    Options {
        fs: Some(fs),
        write_buffer_size: 8 * 1024,
        max_write_buffers: 64,
        wal_recovery_mode: mode,
        ..strata_tests::small_options()
    }
}

fn open(fs: Arc<dyn FileSystem>, mode: RecoveryMode) -> (Db, ColumnFamily) {
    let db = Db::open(DB, options(fs, mode)).expect("open");
    let side = match db.cf(SIDE_CF) {
        Some(cf) => cf,
        None => db.create_cf(SIDE_CF).expect("create_cf"),
    };
    (db, side)
}

impl Held {
    fn new() -> Self {
        let sim = SimFs::new();
        let gate = SelectiveFaultFs::new(sim.arc());
        gate.close_create_gate(".sst");
        let (db, side) = open(gate.arc(), RecoveryMode::TolerateCorruptedTail);
        Self { sim, gate, db: Some(db), side }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("open")
    }

    /// Writes batches from `next` on (synced when `sync(i)`) until `wals` WAL files hold
    /// records; returns the next batch number.
    fn write_until_wals(&self, h: &History, mut next: u64, wals: usize, sync: impl Fn(u64) -> bool) -> u64 {
        while wal_files(&self.sim).len() < wals {
            let wo = WriteOptions { sync: sync(next), ..Default::default() };
            self.db().write(h.batch(next, &self.side), &wo).unwrap_or_else(|e| panic!("write {next}: {e}"));
            next += 1;
            assert!(next < 5_000, "no memtable switch");
        }
        next
    }

    /// Power loss now: every later operation fails, the database is dropped, and only synced
    /// bytes survive. Returns each WAL's bytes as they were in the page cache just before.
    fn crash(mut self) -> (SimFs, Vec<(PathBuf, Bytes)>) {
        let before: Vec<(PathBuf, Bytes)> =
            wal_files(&self.sim).into_iter().map(|p| (p.clone(), self.sim.read_all(&p).expect("read"))).collect();
        self.sim.fail_after(Some(self.sim.op_count()));
        self.gate.open_create_gate();
        drop(self.db.take());
        self.sim.crash();
        (self.sim.clone(), before)
    }
}

impl Drop for Held {
    /// A test that fails while flushes wait at the gate must not hang in the database's
    /// shutdown (which joins the flush thread): open it first.
    fn drop(&mut self) {
        self.gate.open_create_gate();
    }
}

/// The WAL files of the database, oldest first.
fn wal_files(sim: &SimFs) -> Vec<PathBuf> {
    let mut names: Vec<String> = sim.list(Path::new(DB)).unwrap().into_iter().filter(|n| n.ends_with(".log")).collect();
    names.sort();
    names.into_iter().map(|n| Path::new(DB).join(n)).collect()
}

/// A synced write after several unsynced generations makes all of them durable: nothing is lost.
#[test]
fn a_synced_write_syncs_every_older_wal_first() {
    let h = History::new(31);
    let held = Held::new();
    let n = held.write_until_wals(&h, 0, 4, |_| false);
    held.db().write(h.batch(n, &held.side), &WriteOptions { sync: true, ..Default::default() }).expect("synced write");
    let (sim, _) = held.crash();
    let (db, _) = open(sim.arc(), RecoveryMode::TolerateCorruptedTail);
    let got = check_prefix(&db, &h, Acked { durable: n + 1, attempted: n + 1 }, "after the synced write");
    assert_eq!(got, n + 1);
    assert!(db.recovery_report().wal_history_cut.is_none(), "{}", db.recovery_report());
}

/// Without a synced write nothing of the closed WALs was synced: a crash loses them all, and
/// recovery finds an empty history (not an error).
#[test]
fn unsynced_generations_may_all_be_lost() {
    let h = History::new(32);
    let held = Held::new();
    let n = held.write_until_wals(&h, 0, 3, |_| false);
    let (sim, _) = held.crash();
    let (db, _) = open(sim.arc(), RecoveryMode::TolerateCorruptedTail);
    check_prefix(&db, &h, Acked { durable: 0, attempted: n }, "all unsynced");
}

/// The kernel wrote back a later WAL's pages but not the end of an earlier one: recovery keeps
/// the earlier WAL's records up to the tear and discards the later WALs (no hole), reports the
/// cut, and the database goes on from there. (Before WAL format version 2 this was reported as
/// corruption: a WAL was synced before the next one took writes.)
#[test]
fn a_lost_older_tail_behind_a_kept_later_wal_recovers_a_prefix() {
    let h = History::new(33);
    let held = Held::new();
    // Batches 0..durable are synced (every older WAL with them), the rest are not.
    let durable = held.write_until_wals(&h, 0, 2, |_| true);
    let n = held.write_until_wals(&h, durable, 5, |_| false);
    let (sim, before) = held.crash();
    // The kernel wrote every WAL back but the third, which lost its second half.
    for (p, b) in &before {
        overwrite_file(&sim, p, b).expect("keep");
    }
    let (torn, torn_bytes) = &before[2];
    overwrite_file(&sim, torn, &torn_bytes[..torn_bytes.len() / 2]).expect("tear");
    let (db, side) = open(sim.arc(), RecoveryMode::TolerateCorruptedTail);
    let got = check_prefix(&db, &h, Acked { durable, attempted: n }, "torn third WAL");
    let report = db.recovery_report().clone();
    let cut = report.wal_history_cut.as_ref().unwrap_or_else(|| panic!("no cut reported:\n{report}"));
    assert_eq!(Path::new(DB).join(&cut.wal), *torn, "{report}");
    assert!(cut.valid_end < cut.recorded_len, "{report}");
    let discarded: Vec<PathBuf> = cut.discarded.iter().map(|n| Path::new(DB).join(n)).collect();
    let later: Vec<PathBuf> = before[3..].iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(discarded, later, "{report}");
    assert!(got < n, "kept {got} of {n}: the later WALs were replayed");
    // The discarded WALs are gone for good: new writes, a crash-free reopen, the same history.
    db.write(h.batch(got, &side), &WriteOptions { sync: true, ..Default::default() }).expect("write after the cut");
    db.close().expect("close");
    let (db, _) = open(sim.arc(), RecoveryMode::TolerateCorruptedTail);
    assert_eq!(check_prefix(&db, &h, Acked { durable: got + 1, attempted: got + 1 }, "reopened"), got + 1);
    assert!(db.recovery_report().wal_history_cut.is_none(), "{}", db.recovery_report());
}

/// `PointInTime` stops at the same tear; `AbsoluteConsistency` refuses it; `SkipCorrupted`
/// salvages the later WALs too.
#[test]
fn recovery_modes_on_a_torn_older_wal() {
    let h = History::new(34);
    let held = Held::new();
    let n = held.write_until_wals(&h, 0, 3, |_| false);
    let (sim, before) = held.crash();
    let (first, first_bytes) = &before[0];
    overwrite_file(&sim, first, &first_bytes[..first_bytes.len() - 3]).expect("tear");
    for (p, b) in &before[1..] {
        overwrite_file(&sim, p, b).expect("keep");
    }
    match Db::open(DB, options(sim.arc(), RecoveryMode::AbsoluteConsistency)) {
        Err(Error::Corruption { file, .. }) => assert_eq!(&file, first),
        other => panic!("AbsoluteConsistency: {:?}", other.map(|_| ())),
    }
    let (db, _) = open(sim.arc(), RecoveryMode::PointInTime);
    let got = check_prefix(&db, &h, Acked { durable: 0, attempted: n }, "point in time");
    assert!(got > 0 && got < n, "kept {got} of {n}");
    assert!(db.recovery_report().wal_history_cut.is_some(), "{}", db.recovery_report());
    drop(db);
}

/// Bit rot inside a predecessor of the recorded length is corruption, even in its last record
/// (which the tail rule alone would take for a torn append): the header proves those bytes were
/// written. `PointInTime` keeps the prefix before the damage.
#[test]
fn bit_rot_inside_a_recorded_predecessor_is_corruption() {
    let h = History::new(35);
    let held = Held::new();
    let n = held.write_until_wals(&h, 0, 3, |_| true);
    let (sim, before) = held.crash();
    let (first, bytes) = &before[0];
    let mut rotten = bytes.to_vec();
    let at = rotten.len() - 5;
    rotten[at] ^= 0x20;
    overwrite_file(&sim, first, &rotten).expect("rot");
    match Db::open(DB, options(sim.arc(), RecoveryMode::TolerateCorruptedTail)) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(&file, first, "{reason}");
            assert!(reason.contains("damaged"), "{reason}");
        }
        other => panic!("open returned {:?}", other.map(|_| ())),
    }
    let (db, _) = open(sim.arc(), RecoveryMode::PointInTime);
    let got = check_prefix(&db, &h, Acked { durable: 0, attempted: n }, "point in time, rotten last record");
    assert!(got > 0 && got < n, "kept {got} of {n}");
}

/// Rewrites WAL `path` without its header record: a WAL as format version 1 wrote it.
fn strip_header(sim: &SimFs, path: &Path) {
    let mut reader = LogReader::open(sim, path, strata_wal::RecoveryMode::AbsoluteConsistency).expect("reader");
    let mut records = Vec::new();
    while let Some(rec) = reader.read_record().expect("read") {
        records.push(rec.payload);
    }
    assert!(strata::wal_header::WalHeader::is_header(&records[0]), "{} has no header record", path.display());
    sim.remove_file(path).expect("remove");
    let mut w = LogWriter::new(sim.create(path).expect("create"));
    for r in &records[1..] {
        w.add_record(r).expect("append");
    }
    w.sync().expect("sync");
}

/// WALs without a header record (format version 1) recover as before, including the old rule
/// that a torn WAL followed by one holding records is corruption.
#[test]
fn old_format_wals_recover_as_before() {
    let h = History::new(36);
    let held = Held::new();
    let n = held.write_until_wals(&h, 0, 3, |_| true);
    let (sim, before) = held.crash();
    for (p, _) in &before {
        strip_header(&sim, p);
    }
    let (db, _) = open(sim.arc(), RecoveryMode::TolerateCorruptedTail);
    assert_eq!(check_prefix(&db, &h, Acked { durable: n, attempted: n }, "old format"), n);
    drop(db);

    let held = Held::new();
    let n = held.write_until_wals(&h, 0, 3, |_| true);
    let (sim, before) = held.crash();
    for (p, _) in &before {
        strip_header(&sim, p);
    }
    let first = &before[0].0;
    let data = sim.read_all(first).expect("read");
    overwrite_file(&sim, first, &data[..data.len() - 3]).expect("truncate");
    match Db::open(DB, options(sim.arc(), RecoveryMode::TolerateCorruptedTail)) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(&file, first, "{reason}");
            assert!(reason.contains("later WAL"), "{reason}");
        }
        other => panic!("open returned {:?}", other.map(|_| ())),
    }
    let (db, _) = open(sim.arc(), RecoveryMode::PointInTime);
    let got = check_prefix(&db, &h, Acked { durable: 0, attempted: n }, "old format, point in time");
    assert!(got > 0 && got < n, "kept {got} of {n}");
}

/// A crash at every file-system operation of a run with memtable switches and a synced write
/// every fifth batch: the recovered database always holds a prefix with every synced write.
#[test]
fn synced_writes_after_switches_survive_a_crash_at_any_operation() {
    let h = History::new(37);
    // The dry run writes until three WALs hold records (how many batches that takes depends on
    // the memtable's charge per entry) and to at least 60 batches, then counts the file-system
    // operations of the run.
    let (batches, total_ops) = {
        let held = Held::new();
        let base = held.sim.op_count();
        let sync = |i: u64| i % 5 == 4;
        let switched = held.write_until_wals(&h, 0, 3, sync);
        // At least 60 batches, so that writes go on after the third switch.
        let batches = switched.max(60);
        for i in switched..batches {
            let wo = WriteOptions { sync: sync(i), ..Default::default() };
            held.db().write(h.batch(i, &held.side), &wo).expect("dry run");
        }
        let ops = held.sim.op_count() - base;
        drop(held.crash());
        (batches, ops)
    };
    for k in 0..=total_ops {
        let held = Held::new();
        held.sim.fail_after(Some(held.sim.op_count() + k));
        let (mut durable, mut attempted) = (0, 0);
        for i in 0..batches {
            attempted = i + 1;
            let sync = i % 5 == 4;
            if held.db().write(h.batch(i, &held.side), &WriteOptions { sync, ..Default::default() }).is_err() {
                break;
            }
            if sync {
                durable = i + 1;
            }
        }
        let (sim, _) = held.crash();
        let (db, _) = open(sim.arc(), RecoveryMode::TolerateCorruptedTail);
        check_prefix(&db, &h, Acked { durable, attempted }, &format!("crash at operation {k} of {total_ops}"));
    }
}
