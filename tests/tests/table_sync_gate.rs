//! Tables written by flushes and compactions are synced in pieces through the database's I/O
//! gate (`Options::table_sync_bytes`, `Db::io_gate`), which a checkpoint closes for its own
//! fsyncs. These tests check, on the simulated file system's trace of operations, that a piece
//! never starts while the gate is held (by hand or by a checkpoint), that a table is synced in
//! several pieces, and that every table is synced completely before the manifest edit that
//! installs it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use strata::{Db, FileSystem as _, Options, SimFs};
use strata_checkpoint::{Checkpoint, CheckpointOptions};
use strata_tests::fault_fs::{CreateHook, SelectiveFaultFs};

const PIECE: u64 = 64 << 10;
const VALUE: usize = 1000;

fn options(fs: Arc<dyn strata::FileSystem>) -> Options {
    Options {
        fs: Some(fs),
        write_buffer_size: 4 << 20,
        target_file_size: 1 << 20,
        table_sync_bytes: PIECE,
        disable_auto_compactions: true,
        ..Default::default()
    }
}

/// Writes `n` keys starting at `from` (about `n` KiB), not flushed.
fn fill(db: &Db, from: u32, n: u32) {
    for i in from..from + n {
        db.put(format!("key{i:08}").as_bytes(), value(i)).unwrap();
    }
}

fn value(i: u32) -> Vec<u8> {
    let mut v = vec![0u8; VALUE];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
    }
    v
}

/// Waits (yielding) until `cond` holds: a wait for a state, not a timing assertion.
fn until(cond: impl Fn() -> bool) {
    while !cond() {
        std::thread::yield_now();
    }
}

fn is_table(op: &str) -> bool {
    op.ends_with(".sst")
}

fn table_syncs(trace: &[String]) -> usize {
    trace.iter().filter(|op| op.starts_with("sync ") && is_table(op)).count()
}

/// Every table appended to in `trace` is synced after its last append and before the next
/// append to a MANIFEST (the edit that installs it); returns how many syncs each table had.
fn assert_synced_before_install(trace: &[String]) -> Vec<(String, usize)> {
    let mut tables: Vec<String> = Vec::new();
    for p in trace.iter().filter_map(|op| op.strip_prefix("append ")).filter(|p| is_table(p)) {
        if !tables.iter().any(|t| t == p) {
            tables.push(p.to_string());
        }
    }
    let mut out = Vec::new();
    for t in tables {
        let append = format!("append {t}");
        let sync = format!("sync {t}");
        let last_append = trace.iter().rposition(|op| *op == append).unwrap();
        let install = trace[last_append..]
            .iter()
            .position(|op| op.starts_with("append ") && op.contains("MANIFEST-"))
            .map(|i| last_append + i)
            .unwrap_or_else(|| panic!("{t} was never installed"));
        assert!(
            trace[last_append..install].contains(&sync),
            "{t}: no sync between its last append (op {last_append}) and the manifest append that installs it (op {install})"
        );
        out.push((t.clone(), trace.iter().filter(|op| **op == sync).count()));
    }
    out
}

/// Closes `db`, drops what `fs` never synced, reopens and checks the first `n` keys.
fn assert_all_keys_survive_power_loss(db: Db, fs: &SimFs, n: u32) {
    drop(db);
    fs.crash();
    let db = Db::open("/db", options(fs.arc())).unwrap();
    assert_all_keys(&db, n);
}

fn assert_all_keys(db: &Db, n: u32) {
    for i in 0..n {
        assert_eq!(db.get(format!("key{i:08}").as_bytes()).unwrap().as_deref(), Some(&value(i)[..]), "key {i}");
    }
}

/// The newest table created in `trace` (a flush's) was first synced after the checkpoint's
/// last fsync (the parent's, after the rename).
fn assert_newest_table_synced_after_the_checkpoint(trace: &[String]) {
    let renamed =
        trace.iter().position(|op| op.starts_with("rename ") && op.contains("strata-checkpoint.tmp")).unwrap();
    let parent_synced = renamed + trace[renamed..].iter().position(|op| op == "sync_dir /").unwrap();
    let created = trace.iter().rposition(|op| op.starts_with("create ") && is_table(op)).unwrap();
    let new_table = trace[created].strip_prefix("create ").unwrap().to_string();
    let first_sync = trace.iter().position(|op| *op == format!("sync {new_table}")).unwrap();
    assert!(
        first_sync > parent_synced,
        "{new_table} was synced (op {first_sync}) before the checkpoint's last fsync (op {parent_synced})"
    );
}

/// Writes 600 keys after the first 100, starts a flush of them on a new thread and waits until
/// it either stops at the I/O gate (`true`) or finishes (`false`).
fn flush_stops_at_the_gate(db: &Arc<Db>) -> (bool, JoinHandle<strata::Result<()>>) {
    fill(db, 100, 600);
    let gate = db.io_gate();
    let flusher = {
        let db = Arc::clone(db);
        std::thread::spawn(move || db.flush())
    };
    until(|| gate.waiting() == 1 || flusher.is_finished());
    (gate.waiting() == 1, flusher)
}

#[test]
fn a_held_gate_stops_a_flush_before_its_first_piece_sync() {
    let fs = SimFs::new();
    let db = Db::open("/db", options(fs.arc())).unwrap();
    fill(&db, 0, 600);
    let gate = db.io_gate();
    let guard = gate.hold();
    let before = fs.trace().len();
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel();
        let db = &db;
        let flusher = s.spawn(move || done_tx.send(db.flush()).unwrap());
        until(|| gate.waiting() == 1);
        // The flush has written its first piece and waits to sync it.
        let during = fs.trace()[before..].to_vec();
        assert!(during.iter().any(|op| op.starts_with("append ") && is_table(op)), "no table written: {during:?}");
        assert_eq!(table_syncs(&during), 0, "a piece was synced while the gate was held: {during:?}");
        assert!(!during.iter().any(|op| op.contains("MANIFEST-")), "the table was installed: {during:?}");
        assert!(done_rx.try_recv().is_err(), "the flush finished while the gate was held");
        drop(guard);
        flusher.join().unwrap();
        done_rx.recv().unwrap().unwrap();
    });
    let trace = fs.trace();
    let synced = assert_synced_before_install(&trace[before..]);
    assert_eq!(synced.len(), 1, "{synced:?}");
    // About 600 KiB in pieces of 64 KiB: one sync per piece plus the last.
    assert!(synced[0].1 >= 8, "the table was synced in {} pieces", synced[0].1);
    assert_eq!((gate.waiting(), gate.in_flight()), (0, 0));
    // Nothing unsynced was needed: after a power loss every key is there.
    assert_all_keys_survive_power_loss(db, &fs, 600);
}

#[test]
fn flush_and_compaction_outputs_are_synced_completely_before_they_are_installed() {
    let fs = SimFs::new();
    let db = Db::open("/db", options(fs.arc())).unwrap();
    for round in 0..3 {
        fill(&db, round * 1000, 1000);
        db.flush().unwrap();
    }
    db.compact_range(&db.default_cf(), None, None).unwrap();
    let synced = assert_synced_before_install(&fs.trace());
    // Three flushed tables of about 1 MiB, then about three compaction outputs of 1 MiB.
    assert!(synced.len() >= 5, "{synced:?}");
    for (t, n) in &synced {
        assert!(*n >= 8, "{t} was synced in {n} pieces");
    }
    assert_all_keys_survive_power_loss(db, &fs, 3000);
}

#[test]
fn with_table_sync_bytes_zero_a_table_is_synced_once() {
    let fs = SimFs::new();
    let db = Db::open("/db", Options { table_sync_bytes: 0, ..options(fs.arc()) }).unwrap();
    fill(&db, 0, 600);
    let gate = db.io_gate();
    let guard = gate.hold();
    // No gate: the flush does not wait for it.
    db.flush().unwrap();
    drop(guard);
    let synced = assert_synced_before_install(&fs.trace());
    assert_eq!(synced.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn a_checkpoint_holds_the_gate_for_its_syncs_and_a_flush_waits_for_it() {
    let sim = SimFs::new();
    let ffs = SelectiveFaultFs::new(sim.arc());
    let db = Arc::new(Db::open("/db", options(ffs.arc())).unwrap());
    fill(&db, 0, 100);
    db.flush().unwrap();
    fill(&db, 100, 600);
    let (flusher_tx, flusher_rx) = mpsc::channel();
    let hook_db = Arc::clone(&db);
    // Runs inside the checkpoint's sync phase (it creates its MANIFEST there, named after the
    // source's, whose `CURRENT` it links): a flush started there must stop at the gate before
    // its first piece sync.
    let manifest = strata_manifest::manifest_file_name(strata_manifest::read_current(&sim, Path::new("/db")).unwrap());
    ffs.set_create_hook(Some(CreateHook {
        suffix: format!(".tmp/{manifest}"),
        run: Box::new(move || {
            let gate = hook_db.io_gate();
            let db = Arc::clone(&hook_db);
            let flusher = std::thread::spawn(move || db.flush());
            until(|| gate.waiting() == 1);
            flusher_tx.send(flusher).unwrap();
        }),
    }));
    let cp_dir = Path::new("/cp");
    Checkpoint::new(&db).options(CheckpointOptions { flush: false, ..Default::default() }).create(cp_dir).unwrap();
    let flusher = flusher_rx.try_recv().expect("the hook ran inside the checkpoint");
    flusher.join().unwrap().unwrap();
    let trace = sim.trace();
    assert_newest_table_synced_after_the_checkpoint(&trace);
    assert_synced_before_install(&trace);
    drop(db);
    let cp = Db::open(cp_dir, options(sim.arc())).unwrap();
    for i in 0..100 {
        assert!(cp.get(format!("key{i:08}").as_bytes()).unwrap().is_some());
    }
}

/// Where [`flush_during_checkpoint`] starts its flush.
enum At {
    /// At the checkpoint's first link of a table.
    Link,
    /// At the checkpoint's creation of a copy whose name ends with this suffix.
    Create(&'static str),
}

/// Opens a database with 100 keys (flushed to a table when `flushed`), makes a checkpoint with
/// `opts` in `/cp`, and at `at` starts a flush of 600 more keys ([`flush_stops_at_the_gate`]).
/// Returns whether that flush stopped at the gate, the checkpoint's info, the file system and
/// the database (the flush joined, all 700 keys checked).
fn flush_during_checkpoint(
    flushed: bool,
    at: At,
    opts: CheckpointOptions,
) -> (bool, strata_checkpoint::CheckpointInfo, SimFs, Arc<Db>) {
    let sim = SimFs::new();
    let ffs = SelectiveFaultFs::new(sim.arc());
    let db = Arc::new(Db::open("/db", options(ffs.arc())).unwrap());
    fill(&db, 0, 100);
    if flushed {
        db.flush().unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let hook_db = Arc::clone(&db);
    let run: Box<dyn FnOnce() + Send> = Box::new(move || tx.send(flush_stops_at_the_gate(&hook_db)).unwrap());
    match at {
        At::Link => ffs.set_link_hook(Some(CreateHook { suffix: ".sst".into(), run })),
        At::Create(suffix) => ffs.set_create_hook(Some(CreateHook { suffix: suffix.into(), run })),
    }
    let info = Checkpoint::new(&db).options(opts).create(Path::new("/cp")).unwrap();
    let (stopped, flusher) = rx.try_recv().expect("the hook ran inside the checkpoint");
    flusher.join().unwrap().unwrap();
    assert_synced_before_install(&sim.trace());
    assert_all_keys(&db, 700);
    (stopped, info, sim, db)
}

#[test]
fn a_checkpoint_that_only_links_holds_the_gate_from_its_first_link() {
    // The flushing checkpoint has no WAL to copy; at its first link, before any of its syncs, a
    // flush must already stop at the gate.
    let (stopped, info, sim, _db) = flush_during_checkpoint(true, At::Link, CheckpointOptions::default());
    assert_eq!((info.copied_files, info.linked_files), (0, 1));
    assert!(stopped, "a flush started while the checkpoint linked its tables did not wait for the gate");
    assert_newest_table_synced_after_the_checkpoint(&sim.trace());
}

#[test]
fn a_checkpoint_that_copies_leaves_the_gate_open_while_it_copies() {
    // Copies are long, and a flush or compaction must not wait for them.
    let opts = CheckpointOptions { copy_files: true, ..Default::default() };
    let (stopped, info, _sim, _db) = flush_during_checkpoint(true, At::Create(".sst"), opts);
    assert_eq!((info.copied_files, info.linked_files), (1, 0));
    assert!(!stopped, "a flush started while the checkpoint copied a table waited for the gate");
}

#[test]
fn a_checkpoint_leaves_the_gate_open_while_it_copies_a_wal() {
    let opts = CheckpointOptions { flush: false, ..Default::default() };
    let (stopped, info, sim, db) = flush_during_checkpoint(false, At::Create(".log"), opts);
    assert_eq!((info.copied_files, info.linked_files), (1, 0));
    assert!(!stopped, "a flush started while the checkpoint copied a WAL waited for the gate");
    drop(db);
    // The checkpoint holds exactly the 100 keys written before it.
    let cp = Db::open("/cp", options(sim.arc())).unwrap();
    assert_all_keys(&cp, 100);
    assert!(cp.get(format!("key{:08}", 100).as_bytes()).unwrap().is_none());
}

/// Ingests one external table (keys after every `key...` key) into a database whose manifest
/// rolls over at every edit, with `hook` set as the link hook (`link: true`, suffix `.sst`) or
/// the create hook (`suffix`); the hooks record whether the I/O gate was held when they ran.
/// Returns what they recorded, in the order they ran.
fn gate_held_during_ingestion(link: bool, hooks: &[(bool, &'static str)]) -> Vec<(&'static str, bool)> {
    let sim = SimFs::new();
    let ffs = SelectiveFaultFs::new(sim.arc());
    let opts = Options { manifest_size_limit: 1, ..options(ffs.arc()) };
    let db = Db::open("/db", opts.clone()).unwrap();
    fill(&db, 0, 100);
    db.flush().unwrap();
    let mut w = strata::SstFileWriter::create("/ext.sst", &opts).unwrap();
    for i in 0..100 {
        w.put(format!("z{i:03}"), value(i)).unwrap();
    }
    w.finish().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    for &(is_link, suffix) in hooks {
        let (gate, seen) = (db.io_gate(), Arc::clone(&seen));
        let run: Box<dyn FnOnce() + Send> = Box::new(move || seen.lock().unwrap().push((suffix, gate.held())));
        let hook = Some(CreateHook { suffix: suffix.into(), run });
        if is_link { ffs.set_link_hook(hook) } else { ffs.set_create_hook(hook) }
    }
    let io = strata::IngestOptions { link_files: link, ..Default::default() };
    let r = db.ingest_external_files(&db.default_cf(), &["/ext.sst"], &io).unwrap();
    assert_eq!(r.files.len(), 1);
    assert_eq!(db.get("z042").unwrap().as_deref(), Some(&value(42)[..]));
    seen.lock().unwrap().clone()
}

#[test]
fn an_ingestion_by_link_holds_the_gate_for_its_links_and_its_manifest_write() {
    // The link and the directory fsync after it; the manifest edit (its rollover writes
    // `CURRENT` through a temporary file). The commit lock is not waited for with the gate held.
    let seen = gate_held_during_ingestion(true, &[(true, ".sst"), (false, "CURRENT.strata-tmp")]);
    assert_eq!(seen, vec![(".sst", true), ("CURRENT.strata-tmp", true)]);
}

#[test]
fn an_ingestion_that_moves_holds_the_gate_while_it_removes_its_sources() {
    let sim = SimFs::new();
    let ffs = SelectiveFaultFs::new(sim.arc());
    let opts = options(ffs.arc());
    let db = Db::open("/db", opts.clone()).unwrap();
    sim.create_dir_all("/ext".as_ref()).unwrap();
    let mut w = strata::SstFileWriter::create("/ext/t.sst", &opts).unwrap();
    w.put("z000", "v").unwrap();
    w.finish().unwrap();
    let (gate, seen) = (db.io_gate(), Arc::new(std::sync::Mutex::new(None)));
    let (hook_gate, hook_seen) = (Arc::clone(&gate), Arc::clone(&seen));
    let run = Box::new(move || *hook_seen.lock().unwrap() = Some(hook_gate.held()));
    ffs.set_remove_hook(Some(CreateHook { suffix: "/ext/t.sst".into(), run }));
    let io = strata::IngestOptions { move_files: true, ..Default::default() };
    let before = sim.trace().len();
    db.ingest_external_files(&db.default_cf(), &["/ext/t.sst"], &io).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(true), "the source was removed with the gate open");
    assert!(!sim.exists("/ext/t.sst".as_ref()) && !gate.held());
    let after = sim.trace()[before..].to_vec();
    let removed = after.iter().position(|op| op == "remove /ext/t.sst").expect("the source was removed");
    assert!(after[removed..].iter().any(|op| op == "sync_dir /ext"), "its directory was not synced: {after:?}");
}

#[test]
fn an_ingestion_by_copy_leaves_the_gate_open_while_it_copies() {
    let seen = gate_held_during_ingestion(false, &[(false, ".sst.strata-tmp")]);
    assert_eq!(seen, vec![(".sst.strata-tmp", false)]);
}

/// A database on a `SimFs` whose files hand out background syncers (as `RealFs`'s do), seen
/// through a `SelectiveFaultFs` that can hold or fail those syncs.
fn background_db() -> (SimFs, SelectiveFaultFs, Arc<Db>) {
    let sim = SimFs::new();
    sim.set_background_syncs(true);
    let ffs = SelectiveFaultFs::new(sim.arc());
    let db = Arc::new(Db::open("/db", Options { background_flush_syncs: true, ..options(ffs.arc()) }).unwrap());
    (sim, ffs, db)
}

/// The newest table created in `trace`.
fn newest_table(trace: &[String]) -> Option<String> {
    trace.iter().rev().find_map(|op| op.strip_prefix("create ").filter(|p| is_table(p)).map(str::to_string))
}

/// Flushes `db` on a new thread.
fn spawn_flush(db: &Arc<Db>) -> JoinHandle<strata::Result<()>> {
    let db = Arc::clone(db);
    std::thread::spawn(move || db.flush())
}

/// Waits until `cond` holds or 30 s have passed (a guard against a hang that turns it into a
/// failure; no assertion depends on the time), and returns whether it holds.
fn within_30s(cond: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    cond()
}

#[test]
fn a_flush_writes_its_next_piece_while_the_last_one_syncs_in_the_background() {
    let (sim, ffs, db) = background_db();
    fill(&db, 0, 600);
    ffs.hold_background_syncs(true);
    let before = sim.trace().len();
    let flusher = spawn_flush(&db);
    assert!(within_30s(|| ffs.background_syncs_waiting() == 1), "no piece was synced on a helper thread");
    assert_eq!(db.io_gate().in_flight(), 1, "the helper's sync is not a piece in flight through the gate");
    let table = newest_table(&sim.trace()[before..]).expect("the flush created its table");
    // The first piece's sync is held; the flush goes on writing the second piece, then waits
    // for that sync at the second piece's end (at most one runs).
    let size = || sim.file_size(Path::new(&table)).unwrap_or(0);
    assert!(
        within_30s(|| size() >= PIECE * 3 / 2),
        "the flush did not write on while its first piece synced ({} bytes written)",
        size()
    );
    let during = sim.trace()[before..].to_vec();
    assert_eq!(table_syncs(&during), 0, "a table sync ran while background syncs were held: {during:?}");
    assert!(!during.iter().any(|op| op.contains("MANIFEST-")), "the table was installed: {during:?}");
    assert!(size() < PIECE * 3, "more than one piece written past the one syncing: {} bytes", size());
    assert!(!flusher.is_finished(), "the flush finished before its piece sync did");
    ffs.hold_background_syncs(false);
    flusher.join().unwrap().unwrap();
    let trace = sim.trace();
    let synced = assert_synced_before_install(&trace[before..]);
    assert_eq!(synced.len(), 1, "{synced:?}");
    assert!(synced[0].1 >= 8, "the table was synced in {} pieces", synced[0].1);
    let gate = db.io_gate();
    assert_eq!((gate.waiting(), gate.in_flight(), ffs.background_syncs_waiting()), (0, 0, 0));
    let db = Arc::try_unwrap(db).ok().unwrap();
    drop(db);
    sim.crash();
    let db = Db::open("/db", options(sim.arc())).unwrap();
    assert_all_keys(&db, 600);
}

#[test]
fn a_held_gate_stops_a_background_flush_before_its_first_piece_sync() {
    let (sim, ffs, db) = background_db();
    fill(&db, 0, 600);
    let gate = db.io_gate();
    let guard = gate.hold();
    let before = sim.trace().len();
    let flusher = spawn_flush(&db);
    // The flush has written its first piece and waits for the gate before handing its sync on.
    until(|| gate.waiting() == 1);
    let during = sim.trace()[before..].to_vec();
    assert!(during.iter().any(|op| op.starts_with("append ") && is_table(op)), "no table written: {during:?}");
    assert_eq!(table_syncs(&during), 0, "a piece was synced while the gate was held: {during:?}");
    assert_eq!(ffs.background_syncs_waiting(), 0);
    drop(guard);
    flusher.join().unwrap().unwrap();
    assert_synced_before_install(&sim.trace()[before..]);
}

/// A failed background sync fails the flush, whether the next piece (600 keys, about ten
/// pieces) or `finish` (100 keys: one piece sync, whose result only `finish` sees) finds it.
#[test]
fn a_failed_background_piece_sync_fails_the_flush_and_loses_nothing() {
    for n in [600, 100] {
        let (sim, ffs, db) = background_db();
        fill(&db, 0, n);
        ffs.fail_background_syncs(true);
        let before = sim.trace().len();
        let err = db.flush().expect_err("a flush whose piece sync failed succeeded");
        assert!(err.to_string().contains("injected background sync fault"), "{n} keys: {err}");
        let trace = &sim.trace()[before..];
        assert!(table_syncs(trace) == 0, "{n} keys: the writer synced although a piece sync had failed: {trace:?}");
        assert!(
            !trace.iter().any(|op| op.starts_with("append ") && op.contains("MANIFEST-")),
            "{n} keys: a table was installed"
        );
        drop(db);
        ffs.fail_background_syncs(false);
        // Without a power loss every key is in the WAL.
        let db = Db::open("/db", options(ffs.arc())).unwrap();
        assert_all_keys(&db, n);
    }
}

/// With background syncs held, waits until `job` finishes or one of its piece syncs stops at
/// the hold; then releases the hold, joins `job` (which must succeed) and returns whether it had
/// finished and how many background syncs were held.
fn run_beside_held_background_syncs(ffs: &SelectiveFaultFs, job: JoinHandle<strata::Result<()>>) -> (bool, usize) {
    until(|| job.is_finished() || ffs.background_syncs_waiting() > 0);
    let seen = (job.is_finished(), ffs.background_syncs_waiting());
    ffs.hold_background_syncs(false);
    job.join().unwrap().unwrap();
    seen
}

/// A flush of 600 KiB on a database with `Options` from `options` and a `SimFs` whose files
/// hand out background syncers, with those syncs held: whether it finished without one and
/// how many it handed to a helper thread (at most one waits at a time).
fn flush_beside_held_background_syncs(options: impl FnOnce(Arc<dyn strata::FileSystem>) -> Options) -> (bool, usize) {
    let sim = SimFs::new();
    sim.set_background_syncs(true);
    let ffs = SelectiveFaultFs::new(sim.arc());
    let db = Arc::new(Db::open("/db", options(ffs.arc())).unwrap());
    fill(&db, 0, 600);
    ffs.hold_background_syncs(true);
    let before = sim.trace().len();
    let seen = run_beside_held_background_syncs(&ffs, spawn_flush(&db));
    let synced = assert_synced_before_install(&sim.trace()[before..]);
    assert!(synced[0].1 >= 8, "the table was synced in {} pieces", synced[0].1);
    seen
}

#[test]
fn by_default_a_flush_syncs_its_pieces_in_the_background() {
    assert!(Options::default().background_flush_syncs);
    let (finished, held) = flush_beside_held_background_syncs(options);
    assert!(!finished && held == 1, "the flush synced no piece on a helper thread by default");
}

#[test]
fn without_background_flush_syncs_a_flush_syncs_its_pieces_on_its_own_thread() {
    let (finished, held) =
        flush_beside_held_background_syncs(|fs| Options { background_flush_syncs: false, ..options(fs) });
    assert!(finished && held == 0, "a flush handed a piece sync to a helper thread ({held} held)");
}

#[test]
fn compaction_outputs_sync_their_pieces_on_the_compaction_thread() {
    let (sim, ffs, db) = background_db();
    for round in 0..3 {
        fill(&db, round * 1000, 1000);
        db.flush().unwrap();
    }
    ffs.hold_background_syncs(true);
    let before = sim.trace().len();
    let compaction = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || db.compact_range(&db.default_cf(), None, None))
    };
    let (finished, held) = run_beside_held_background_syncs(&ffs, compaction);
    assert!(finished && held == 0, "a compaction output handed a piece sync to a helper thread ({held} held)");
    let synced = assert_synced_before_install(&sim.trace()[before..]);
    assert!(synced.len() >= 2, "{synced:?}");
    for (t, n) in &synced {
        assert!(*n >= 8, "{t} was synced in {n} pieces");
    }
}
