//! Crash atomicity of a multi-column-family ingestion (RocksDB's
//! `IngestFilesIntoMultipleColumnFamilies_PrepareFail / _CommitFail / _PartialManifestWriteFail`),
//! on `SimFs` (only synced data survives a crash) with `StopFs` stopping the machine at the
//! n-th operation of each class the ingestion performs (creating, appending, syncing and
//! renaming its copies, linking, syncing the directory, appending to and syncing the manifest).
//!
//! After each stop: drop the database, lose everything not synced, reopen: every file is
//! visible in every family or none is, the sources are intact, and no table file is left that
//! the database does not use. Then the same with a successful ingestion followed by power loss
//! (everything must be there), for copy and link modes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::path::{Path, PathBuf};
use strata::{Db, IngestOptions, IngestSpec, Options, ReadOptions, SimFs, SstFileWriter};
use strata_base::FileSystem;
use strata_tests::dump_cf;
use strata_tests::fault_fs::{StopAt, StopFs, op_class};

const DB: &str = "/db";
const EXT: &str = "/ext";

struct Machine {
    sim: SimFs,
    stop: StopFs,
}

impl Machine {
    fn new() -> Self {
        let sim = SimFs::new();
        let stop = StopFs::new(sim.clone());
        Self { sim, stop }
    }

    fn options(&self) -> Options {
        Options { fs: Some(self.stop.arc()), disable_auto_compactions: true, ..Default::default() }
    }

    /// A database with families `a` and `b` holding old values (flushed, so no memtable overlaps
    /// and no background work runs during the ingestion), and one external file per family
    /// overlapping them. Returns the open database and the files.
    fn setup(&self) -> (Db, Vec<PathBuf>) {
        let db = Db::open(DB, self.options()).unwrap();
        let a = db.create_cf("a").unwrap();
        let b = db.create_cf("b").unwrap();
        for i in 0..20 {
            db.put_cf(&a, format!("k{i:02}"), "old").unwrap();
            db.put_cf(&b, format!("k{i:02}"), "old").unwrap();
        }
        db.flush().unwrap();
        self.sim.create_dir_all(Path::new(EXT)).unwrap();
        let mut files = Vec::new();
        for (cf, name) in [(&a, "a.sst"), (&b, "b.sst")] {
            let path = Path::new(EXT).join(name);
            let mut w = SstFileWriter::for_cf(&db, cf, &path).unwrap();
            for i in (0..40).step_by(3) {
                w.put(format!("k{i:02}"), "new").unwrap();
            }
            w.finish().unwrap();
            files.push(path);
        }
        (db, files)
    }
}

fn ingest(db: &Db, files: &[PathBuf], opts: &IngestOptions) -> strata::Result<strata::IngestResult> {
    let (a, b) = (db.cf("a").unwrap(), db.cf("b").unwrap());
    db.ingest_external_files_multi(
        &[IngestSpec { cf: &a, files: vec![files[0].clone()] }, IngestSpec { cf: &b, files: vec![files[1].clone()] }],
        opts,
    )
}

/// Whether family `name` shows the ingested values (`Some(true)`), the old ones
/// (`Some(false)`), or a mixture (`None`).
fn ingested(db: &Db, name: &str) -> Option<bool> {
    let cf = db.cf(name).unwrap();
    let data = dump_cf(db, &cf, &ReadOptions::default());
    let new = (0..40).step_by(3).all(|i| data.get(format!("k{i:02}").as_bytes()).map(Vec::as_slice) == Some(b"new"));
    let old = data.len() == 20 && data.values().all(|v| v == b"old");
    match (new, old) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// Table files in the directory that no live version uses.
fn stray_tables(db: &Db, sim: &SimFs) -> Vec<String> {
    let live = db.live_files(false).unwrap();
    let used: Vec<PathBuf> = live.tables.iter().map(|t| t.path.clone()).collect();
    let mut stray: Vec<String> = sim
        .list(Path::new(DB))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".sst") || n.ends_with(".strata-tmp"))
        .filter(|n| !used.contains(&Path::new(DB).join(n)))
        .collect();
    stray.sort();
    stray
}

/// The operation classes (with counts) the ingestion performs, from a dry run.
fn ingest_op_classes(opts: &IngestOptions) -> Vec<(String, u64)> {
    let m = Machine::new();
    let (db, files) = m.setup();
    let before = m.sim.trace().len();
    ingest(&db, &files, opts).unwrap();
    let mut counts: Vec<(String, u64)> = Vec::new();
    for line in &m.sim.trace()[before..] {
        let c = op_class(line);
        match counts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((c, 1)),
        }
    }
    counts
}

fn crash_everywhere(opts: &IngestOptions) {
    let classes = ingest_op_classes(opts);
    let names: Vec<&str> = classes.iter().map(|(c, _)| c.as_str()).collect();
    assert!(names.iter().any(|c| c.contains("manifest")), "{names:?}");
    let mut outcomes = (0, 0);
    for (class, count) in &classes {
        for nth in 0..*count {
            let ctx = format!("stop at {class} #{nth}");
            let m = Machine::new();
            let (db, files) = m.setup();
            let sources: Vec<Vec<u8>> = files.iter().map(|f| m.sim.read_all(f).unwrap().to_vec()).collect();
            m.stop.stop_at(Some(StopAt { class: class.clone(), nth }));
            let r = ingest(&db, &files, opts);
            assert!(m.stop.stopped(), "{ctx}: the stop point was not reached");
            drop(db);
            m.stop.stop_at(None);
            m.sim.crash();
            let db = Db::open(DB, m.options()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            let (a, b) = (ingested(&db, "a"), ingested(&db, "b"));
            assert!(a.is_some() && a == b, "{ctx}: families disagree or are mixed: a {a:?}, b {b:?}");
            if a == Some(true) {
                outcomes.1 += 1;
            } else {
                outcomes.0 += 1;
                assert!(r.is_err(), "{ctx}: an acknowledged ingestion was lost");
            }
            assert_eq!(stray_tables(&db, &m.sim), Vec::<String>::new(), "{ctx}");
            if !opts.move_files {
                for (f, bytes) in files.iter().zip(&sources) {
                    assert_eq!(&m.sim.read_all(f).unwrap().to_vec(), bytes, "{ctx}: source changed");
                }
            }
            // The reopened database works: the ingestion can be retried where it was lost.
            if a == Some(false) && files.iter().all(|f| m.sim.exists(f)) {
                ingest(&db, &files, opts).unwrap_or_else(|e| panic!("{ctx}: retry: {e}"));
                assert_eq!((ingested(&db, "a"), ingested(&db, "b")), (Some(true), Some(true)), "{ctx}");
            }
        }
    }
    assert!(outcomes.0 > 0, "some stop points must lose the ingestion: {outcomes:?}");
}

#[test]
fn crash_at_every_operation_of_a_copying_ingest_is_all_or_nothing() {
    crash_everywhere(&IngestOptions::default());
}

#[test]
fn crash_at_every_operation_of_a_linking_ingest_is_all_or_nothing() {
    crash_everywhere(&IngestOptions { link_files: true, ..Default::default() });
}

#[test]
fn crash_at_every_operation_of_a_moving_ingest_is_all_or_nothing() {
    crash_everywhere(&IngestOptions { move_files: true, ..Default::default() });
}

#[test]
fn acknowledged_ingest_survives_power_loss() {
    for opts in [IngestOptions::default(), IngestOptions { link_files: true, ..Default::default() }] {
        let m = Machine::new();
        let (db, files) = m.setup();
        let r = ingest(&db, &files, &opts).unwrap();
        let seq = db.sequence();
        assert_eq!(r.files.iter().map(|f| f.sequence).collect::<Vec<_>>(), vec![41, 42]);
        // Power loss without a clean close: unsynced data vanishes.
        m.sim.crash();
        drop(db);
        m.sim.crash();
        let db = Db::open(DB, m.options()).unwrap();
        assert_eq!((ingested(&db, "a"), ingested(&db, "b")), (Some(true), Some(true)));
        assert_eq!(db.sequence(), seq, "the raised last sequence number is durable with the files");
        db.put("after", "x").unwrap();
        assert_eq!(db.sequence(), seq + 1);
        assert_eq!(stray_tables(&db, &m.sim), Vec::<String>::new());
    }
}

/// A full disk while copying a file into the database (`SelectiveFaultFs` failing the copies):
/// the ingestion fails with an I/O error naming the source, nothing is left behind, the
/// database is not poisoned (the manifest was never touched), and a retry succeeds.
#[test]
fn full_disk_during_the_copy_fails_cleanly_and_can_be_retried() {
    use strata_tests::fault_fs::{FaultRule, SelectiveFaultFs};
    let m = Machine::new();
    let (db, files) = m.setup();
    drop(db);
    let faulty = SelectiveFaultFs::new(m.sim.arc());
    let opts = Options { fs: Some(faulty.arc()), disable_auto_compactions: true, ..Default::default() };
    let db = Db::open(DB, opts).unwrap();
    let before: Vec<String> = {
        let mut v = m.sim.list(Path::new(DB)).unwrap();
        v.sort();
        v
    };
    faulty.set_rule(Some(FaultRule { suffix: ".sst.strata-tmp".into(), kind: std::io::ErrorKind::StorageFull }));
    let e = ingest(&db, &files, &IngestOptions::default()).unwrap_err();
    assert!(matches!(e, strata::Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("a.sst"), "{e}");
    faulty.set_rule(None);
    let mut after = m.sim.list(Path::new(DB)).unwrap();
    after.sort();
    assert_eq!(after, before, "nothing left behind");
    assert_eq!((ingested(&db, "a"), ingested(&db, "b")), (Some(false), Some(false)));
    db.put("still", "writable").unwrap();
    ingest(&db, &files, &IngestOptions::default()).unwrap();
    assert_eq!((ingested(&db, "a"), ingested(&db, "b")), (Some(true), Some(true)));
}
