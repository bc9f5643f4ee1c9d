//! Savepoints and power loss, on the in-memory file system that keeps only synced bytes and
//! synced directory entries. Each mutating file-system operation of `Savepoint::create` and of
//! `Savepoint::restore` is made to fail in turn (that one and every later one: the machine
//! stops), then the power is cut. Afterwards the savepoint (or the restored database) is either
//! absent or whole and equal to the source's state, the savepoint a restore read is unharmed,
//! and a retry succeeds despite any temporary sibling left behind.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod savepoint_common;

use savepoint_common::*;
use std::path::Path;
use strata::{Db, FileSystem, Options, SimFs};
use strata_checkpoint::{RestoreMethod, Savepoint, SavepointOptions, SavepointRestoreOptions};

/// A quiet source (no background work pending) on a fresh `SimFs`, and its state.
fn setup() -> (SimFs, Db, State) {
    let sim = SimFs::new();
    let opts = Options { disable_auto_compactions: true, ..source_options(sim.arc()) };
    let db = Db::open("/db", opts).unwrap();
    fill(&db, 120, 1);
    db.flush().unwrap();
    db.wait_for_background_work().unwrap();
    let want = state(&db, None);
    (sim, db, want)
}

fn sp_opts() -> SavepointOptions<'static> {
    SavepointOptions { chunk_bytes: Some(512), ..Default::default() }
}

fn restore_opts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), write_buffer_size: 8 << 10, ..Default::default() }
}

#[test]
fn create_interrupted_at_every_operation_leaves_nothing_or_a_whole_savepoint() {
    let (sim, db, _) = setup();
    let before = sim.op_count();
    Savepoint::create(&db, "/sp", &sp_opts()).unwrap();
    let ops = sim.op_count() - before;
    assert!(ops >= 6, "create did {ops} operations");
    let mut whole = 0;
    for k in 0..ops {
        let (sim, db, want) = setup();
        sim.fail_after(Some(sim.op_count() + k));
        let r = Savepoint::create(&db, "/sp", &sp_opts());
        sim.fail_after(None);
        drop(db);
        sim.crash();
        let ctx = format!("failing operation {k} of {ops} ({r:?})");
        if sim.exists(Path::new("/sp")) {
            let info =
                Savepoint::verify_with(sim.arc(), "/sp").unwrap_or_else(|e| panic!("{ctx}: torn savepoint: {e}"));
            assert_eq!(
                info.families.iter().map(|f| f.entries).sum::<u64>(),
                want.values().map(|m| m.len() as u64).sum::<u64>()
            );
            whole += 1;
        } else {
            assert!(r.is_err(), "{ctx}: create returned Ok but the savepoint did not survive");
            // A retry succeeds despite whatever was left behind.
            let db = Db::open("/db", source_options(sim.arc())).unwrap();
            Savepoint::create(&db, "/sp", &sp_opts()).unwrap_or_else(|e| panic!("{ctx}: retry: {e}"));
        }
    }
    assert!(whole <= 1, "only a failure of the very last step can leave a savepoint: {whole}");
}

#[test]
fn restore_interrupted_at_every_operation_leaves_nothing_or_a_whole_database() {
    for method in [RestoreMethod::Tables, RestoreMethod::Writes] {
        restore_interrupted(method);
    }
}

fn restore_interrupted(method: RestoreMethod) {
    let (sim, db, _) = setup();
    Savepoint::create(&db, "/sp", &sp_opts()).unwrap();
    let before = sim.op_count();
    let ro = SavepointRestoreOptions { threads: 1, method, ..Default::default() };
    Savepoint::restore("/sp", "/t", &restore_opts(&sim), &ro).unwrap();
    let ops = sim.op_count() - before;
    assert!(ops >= 10, "restore did {ops} operations");
    for k in (0..ops + 3).step_by(if ops > 300 { 3 } else { 1 }) {
        let (sim, db, want) = setup();
        Savepoint::create(&db, "/sp", &sp_opts()).unwrap();
        drop(db);
        let ro = SavepointRestoreOptions { threads: 1 + (k % 2) as usize, method, ..Default::default() };
        sim.fail_after(Some(sim.op_count() + k));
        let r = Savepoint::restore("/sp", "/t", &restore_opts(&sim), &ro);
        sim.fail_after(None);
        sim.crash();
        let ctx = format!("{method:?}: failing operation {k} of {ops} ({r:?})");
        Savepoint::verify_with(sim.arc(), "/sp").unwrap_or_else(|e| panic!("{ctx}: the savepoint was harmed: {e}"));
        if sim.exists(Path::new("/t")) {
            assert!(state_at(sim.arc(), "/t") == want, "{ctx}: a restored database that is not whole");
        } else {
            assert!(r.is_err(), "{ctx}: restore returned Ok but the database did not survive");
            Savepoint::restore("/sp", "/t", &restore_opts(&sim), &ro).unwrap_or_else(|e| panic!("{ctx}: retry: {e}"));
            assert!(state_at(sim.arc(), "/t") == want, "{ctx}: retry");
        }
    }
}

/// The file-system steps of `create`, in order: everything goes into the temporary sibling,
/// the file is synced before the directory, the directory before the rename, the parent after
/// it; nothing is written in the source's directory.
#[test]
fn create_steps_are_in_commit_order() {
    let (sim, db, _) = setup();
    let start = sim.trace().len();
    Savepoint::create(&db, "/sp", &sp_opts()).unwrap();
    // The setup waited for background work: every operation from here on is create's.
    let trace: Vec<String> = sim.trace()[start..].to_vec();
    let tmp = "/.sp.strata-savepoint.tmp";
    let pos =
        |line: String| trace.iter().position(|l| *l == line).unwrap_or_else(|| panic!("{line} missing: {trace:#?}"));
    let steps = [
        pos(format!("mkdir {tmp}")),
        pos(format!("create {tmp}/SAVEPOINT")),
        pos(format!("sync {tmp}/SAVEPOINT")),
        pos(format!("sync_dir {tmp}")),
        pos(format!("rename {tmp}")),
        pos("sync_dir /".to_string()),
    ];
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "steps out of order: {steps:?} in {trace:#?}");
    assert!(trace.iter().all(|l| !l.contains("/db/")), "create wrote to the source: {trace:#?}");
    assert_eq!(steps[5], trace.len() - 1, "the parent sync is the last step");
}
