//! Compatibility: a snapshot repository and a bundle written by repository metadata format
//! version 1 (pretty JSON, every file record with its `key` and `name`), committed under
//! `tests/fixtures/repo-v1/`, must be read by every later build with their exact contents, and
//! a later build must keep writing into such a repository.
//!
//! - `repo/`: three complete snapshots (`first`, `second` carrying a WAL prefix, `third`) of
//!   one database with two column families (`default`, `side`), written with a log
//!   checkpoint every 4 commits: the log holds commits 1-6, the log checkpoint of version 4
//!   and the `_last_checkpoint` hint naming it, so a reader starts from a version-1 log
//!   checkpoint and replays version-1 commits.
//! - `bundle/`: the export of `second`.
//!
//! The fixtures were made by `generate_repo_v1_fixtures` below with the code of the commit
//! before format version 2: `cargo test -p strata-tests --test repo_compat_v1 -- --ignored
//! generate_repo_v1_fixtures` writes them to `$STRATA_FIXTURES_OUT` (default
//! `target/fixtures-repo-v1`). NEVER regenerate the committed fixtures: they are what old
//! builds wrote. The repository is copied to a temporary directory before it is opened, so the
//! fixture itself is never written to.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata::{Db, Options, ReadOptions};
use strata_checkpoint::repo::{
    ImportOptions, LogOptions, Repository, RepositoryOptions, RestoreOptions, SnapshotId, SnapshotOptions,
    SnapshotState, VerifyLevel, import_into_new_database,
};
use strata_tests::dump_cf;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

const SIDE: &str = "side";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo-v1")
}

fn log_opts() -> RepositoryOptions {
    RepositoryOptions { log: LogOptions { checkpoint_interval: 4, ..Default::default() }, ..Default::default() }
}

fn map(pairs: &[(String, String)]) -> Map {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

/// What each snapshot holds: (default, side), after step `step` (1, 2 or 3) of [`write_step`].
fn expected(step: u32) -> (Map, Map) {
    let mut default = Vec::new();
    let mut side = Vec::new();
    for i in 0..40u32 {
        let v = if step >= 2 && i % 4 == 0 { format!("second-{i}") } else { format!("first-{i}") };
        if !(step >= 3 && i % 5 == 0) {
            default.push((format!("key{i:03}"), v));
        }
        if i % 2 == 0 {
            side.push((format!("s{i:03}"), format!("side-{i}")));
        }
    }
    if step >= 3 {
        default.push(("zzz".into(), "third".into()));
    }
    (map(&default), map(&side))
}

/// Step 1: the first writes, flushed; step 2: overwrites left in the WAL; step 3: deletes and
/// one more key, flushed.
fn write_step(db: &Db, step: u32) {
    let side = db.cf(SIDE).unwrap();
    for i in 0..40u32 {
        match step {
            1 => {
                db.put(format!("key{i:03}"), format!("first-{i}")).unwrap();
                if i % 2 == 0 {
                    db.put_cf(&side, format!("s{i:03}"), format!("side-{i}")).unwrap();
                }
            }
            2 if i % 4 == 0 => db.put(format!("key{i:03}"), format!("second-{i}")).unwrap(),
            3 if i % 5 == 0 => db.delete(format!("key{i:03}")).unwrap(),
            _ => {}
        }
    }
    if step == 3 {
        db.put("zzz", "third").unwrap();
    }
}

fn contents(db: &Db) -> (Map, Map) {
    let ro = ReadOptions::default();
    (dump_cf(db, &db.default_cf(), &ro), dump_cf(db, &db.cf(SIDE).unwrap(), &ro))
}

fn named(name: &str, flush: bool) -> SnapshotOptions {
    SnapshotOptions { name: Some(name.into()), flush, ..Default::default() }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The header version of metadata file `path`.
fn header_version(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap().split(' ').nth(2).unwrap().to_string()
}

fn restored_contents(repo: &Repository, id: SnapshotId, dir: &Path) -> (Map, Map) {
    repo.restore(id, dir, &RestoreOptions::default()).unwrap();
    let db = Db::open(dir, Options::default()).unwrap();
    contents(&db)
}

#[test]
fn v1_repository_reads_with_its_exact_contents_and_takes_new_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let repo_dir = t.path().join("repo");
    copy_dir(&fixtures().join("repo"), &repo_dir);
    // The fixture really is version 1: the log checkpoint the reader starts from, the commits it
    // replays after it, and a record with keys and names in pretty JSON.
    let log = repo_dir.join("log");
    for f in ["00000000000000000004.checkpoint", "00000000000000000005.commit", "00000000000000000006.commit"] {
        assert_eq!(header_version(&log.join(f)), "1", "{f}");
    }
    let complete = std::fs::read_to_string(log.join("00000000000000000006.commit")).unwrap();
    assert!(complete.contains("\"key\": \"tables/") && complete.contains("\"name\": \""), "a version-1 record");

    let repo = Repository::open_with(&repo_dir, log_opts()).unwrap();
    let list = repo.list().unwrap();
    let names: Vec<_> = list.iter().map(|s| (s.name.clone().unwrap(), s.state)).collect();
    let complete = SnapshotState::Complete;
    assert_eq!(names, [("first".into(), complete), ("second".into(), complete), ("third".into(), complete)]);
    for (step, s) in (1..).zip(&list) {
        let report = repo.verify(s.id, VerifyLevel::Checksums).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let dir = t.path().join(format!("restored-{step}"));
        assert_eq!(restored_contents(&repo, s.id, &dir), expected(step), "snapshot {step}");
    }

    // A new snapshot of the restored third one, written by this build into the old repository.
    let db = Db::open(t.path().join("restored-3"), Options::default()).unwrap();
    db.put("new", "fourth").unwrap();
    let fourth = repo.create_snapshot(&db, &named("fourth", true)).unwrap();
    let mut want = expected(3);
    want.0.insert(b"new".to_vec(), b"fourth".to_vec());
    drop(db);
    repo.write_log_checkpoint().unwrap();
    drop(repo);
    let repo = Repository::open_with(&repo_dir, log_opts()).unwrap();
    assert_eq!(repo.list().unwrap().len(), 4);
    assert_eq!(restored_contents(&repo, fourth.id, &t.path().join("restored-4")), want);
    for (step, s) in (1..).zip(&repo.list().unwrap()[..3]) {
        assert!(repo.verify(s.id, VerifyLevel::Checksums).unwrap().problems.is_empty());
        let dir = t.path().join(format!("again-{step}"));
        assert_eq!(restored_contents(&repo, s.id, &dir), expected(step), "snapshot {step} after new commits");
    }
    let gc = repo.gc().unwrap();
    assert_eq!(repo.list().unwrap().len(), 4, "gc keeps every snapshot: {gc:?}");
}

#[test]
fn v1_bundle_imports_with_its_exact_contents() {
    let t = tempfile::tempdir().unwrap();
    let bundle = t.path().join("bundle");
    copy_dir(&fixtures().join("bundle"), &bundle);
    assert_eq!(header_version(&bundle.join("snapshot.json")), "1");
    let dir = t.path().join("imported");
    import_into_new_database(strata_base::RealFs::arc(), &bundle, &dir, &ImportOptions::default()).unwrap();
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(contents(&db), expected(2));
}

#[test]
#[ignore = "writes the fixtures; run by hand only with the code of the format version they record"]
fn generate_repo_v1_fixtures() {
    let out = strata_tests::new_fixtures_dir("fixtures-repo-v1");
    std::fs::create_dir_all(&out).unwrap();
    let t = tempfile::tempdir().unwrap();
    let db = Db::open(t.path().join("db"), Options::default()).unwrap();
    db.create_cf(SIDE).unwrap();
    let repo = Repository::create_with(out.join("repo"), log_opts()).unwrap();
    write_step(&db, 1);
    repo.create_snapshot(&db, &named("first", true)).unwrap();
    write_step(&db, 2);
    let second = repo.create_snapshot(&db, &named("second", false)).unwrap();
    write_step(&db, 3);
    repo.create_snapshot(&db, &named("third", true)).unwrap();
    repo.export(second.id, out.join("bundle")).unwrap();
    assert_eq!(contents(&db), expected(3));
}
