//! `Repository::verify` on an S3 repository (a real `moto_server`, see
//! `strata_tests::s3_server`): at `Checksums` one streamed GET per file and no HEAD, no ranged
//! GET; at `Sizes` one listing per directory and no GET of a file's body; the requests are
//! counted both through the store's request hook and in the server's own request log. And the
//! report names each damaged file as the local repository's does (the same scenario on both).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata::{Db, Options};
use strata_checkpoint::StoreOptions;
use strata_checkpoint::repo::{Problem, Repository, RepositoryOptions, SnapshotId, SnapshotOptions, VerifyLevel};
use strata_checkpoint::store::{LocalStore, ObjectStore, Store, TransferHook};
use strata_tests::s3_server::{S3Server, StoreCalls, count_calls};
use strata_tests::small_options;

fn new_db(dir: &Path, n: u32) -> Db {
    let db = Db::open(dir, Options { disable_auto_compactions: true, ..small_options() }).unwrap();
    for i in 0..n {
        db.put(format!("k{i:05}"), format!("a-{i}-{}", "v".repeat(60))).unwrap();
    }
    db
}

/// A snapshot of tables and WAL prefixes (the last writes are not flushed).
fn snapshot(repo: &Repository, db: &Db) -> SnapshotId {
    let s = repo.create_snapshot(db, &SnapshotOptions { copy_files: true, ..Default::default() }).unwrap();
    assert!(s.tables >= 3, "{s:?}");
    for i in 0..50 {
        db.put(format!("w{i:03}"), "unflushed").unwrap();
    }
    repo.create_snapshot(db, &SnapshotOptions { flush: false, copy_files: true, ..Default::default() }).unwrap().id
}

/// The requests the server logged (werkzeug's lines: `"GET /bucket/key?query HTTP/1.1" 200 -`)
/// from line `from` on, as (method, path, status).
fn logged(log: &Path, from: usize) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once('"')?;
            let (request, status) = rest.split_once("\" ")?;
            let mut words = request.split(' ');
            let (method, path) = (words.next()?, words.next()?);
            Some((method.to_string(), path.to_string(), status.split(' ').next()?.to_string()))
        })
        .skip(from)
        .collect()
}

#[test]
fn s3_verify_gets_each_file_once_without_a_head_and_lists_for_sizes() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("requests.log");
    let Some(server) = S3Server::start_logged("s3_verify_requests", Some(&log)) else { return };
    server.create_bucket("req");
    let ops = StoreCalls::default();
    let opts = StoreOptions { request_hook: Some(ops.hook()), ..server.options() };
    let repo = Repository::create_url("s3://req/r", opts, RepositoryOptions::default()).unwrap();
    let db = new_db(&t.path().join("db"), 3000);
    let id = snapshot(&repo, &db);
    let count = count_calls;
    let body_gets = |reqs: &[(String, String, String)]| {
        reqs.iter()
            .filter(|(m, p, _)| m == "GET" && (p.starts_with("/req/r/tables/") || p.starts_with("/req/r/wals/")))
            .count()
    };

    ops.take();
    let from = logged(&log, 0).len();
    let report = repo.verify(id, VerifyLevel::Checksums).unwrap();
    let calls = ops.take();
    let reqs = logged(&log, from);
    let from = logged(&log, 0).len();
    let sizes_report = repo.verify(id, VerifyLevel::Sizes).unwrap();
    let sizes_calls = ops.take();
    let sizes_reqs = logged(&log, from);
    eprintln!("verify (checksums) of {} files: {}", report.files_checked, summary(&reqs));
    eprintln!("verify (sizes) of {} files: {}", sizes_report.files_checked, summary(&sizes_reqs));

    assert!(report.is_ok(), "{:?}", report.problems);
    let files = report.files_checked;
    assert!(count(&calls, "get wals/") >= 1, "the snapshot has WAL prefixes: {calls:?}");
    assert_eq!(count(&calls, "get tables/") + count(&calls, "get wals/"), files, "{calls:?}");
    assert_eq!((count(&calls, "head "), count(&calls, "open ")), (0, 0), "{calls:?}");
    assert_eq!(reqs.iter().filter(|(m, _, _)| m == "HEAD").count(), 0, "no HEAD reached the server: {reqs:?}");
    assert_eq!(body_gets(&reqs), files, "one GET per file reached the server: {reqs:?}");
    assert!(reqs.iter().all(|(_, _, status)| status == "200"), "no ranged GET (206): {reqs:?}");

    assert!(sizes_report.is_ok(), "{:?}", sizes_report.problems);
    let calls = sizes_calls;
    assert_eq!((count(&calls, "list tables"), count(&calls, "list wals")), (1, 1), "{calls:?}");
    assert_eq!((count(&calls, "head "), count(&calls, "get ")), (0, 0), "{calls:?}");
    assert_eq!(body_gets(&sizes_reqs), 0, "no GET of a file's body: {sizes_reqs:?}");
    assert_eq!(sizes_reqs.iter().filter(|(m, _, _)| m == "HEAD").count(), 0, "{sizes_reqs:?}");
}

/// Requests counted by method, directory and status: `GET tables 206: 12, ...`.
fn summary(reqs: &[(String, String, String)]) -> String {
    let mut by = std::collections::BTreeMap::<String, usize>::new();
    for (method, path, status) in reqs {
        let dir = if path.contains("prefix=") {
            "(list)"
        } else if path.contains("/tables/") {
            "tables"
        } else if path.contains("/wals/") {
            "wals"
        } else {
            "other"
        };
        *by.entry(format!("{method} {dir} {status}")).or_default() += 1;
    }
    let parts: Vec<String> = by.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    format!("{} requests ({})", reqs.len(), parts.join(", "))
}

/// Damages stored files (a flipped byte in a table and in a WAL prefix, a truncated table, a
/// table gone) and checks what each level of verify reports, in the snapshot's file order.
fn damaged_files_are_named(repo: &Repository, raw: &dyn Store, named: impl Fn(&str) -> PathBuf, db: &Db) {
    let id = snapshot(repo, db);
    assert!(repo.verify(id, VerifyLevel::Checksums).unwrap().is_ok());
    let tables: Vec<String> = raw.list("tables").unwrap().iter().map(|n| format!("tables/{n}")).collect();
    let wals: Vec<String> = raw.list("wals").unwrap().iter().map(|n| format!("wals/{n}")).collect();
    assert!(tables.len() >= 3 && !wals.is_empty(), "{tables:?} {wals:?}");
    let flip = |key: &str| {
        let mut bytes = raw.get(key).unwrap().unwrap().to_vec();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
        raw.put(key, &bytes).unwrap();
    };
    flip(&tables[0]);
    flip(&wals[0]);
    let truncated = raw.get(&tables[1]).unwrap().unwrap();
    raw.put(&tables[1], &truncated[..truncated.len() - 10]).unwrap();
    raw.delete(&tables[2]).unwrap();
    let full = truncated.len() as u64;

    let report = repo.verify(id, VerifyLevel::Checksums).unwrap();
    let mut got: Vec<(String, PathBuf, Problem)> =
        report.problems.iter().map(|p| (p.key.clone(), p.file.clone(), p.problem.clone())).collect();
    let order: Vec<String> = got.iter().map(|g| g.0.clone()).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 4, "{got:?}");
    for (key, file, problem) in &got {
        assert_eq!(file, &named(key), "the report names the object");
        match problem {
            Problem::ChecksumMismatch { .. } => assert!(key == &tables[0] || key == &wals[0], "{key}: {problem:?}"),
            Problem::SizeMismatch { expected, actual } => {
                assert_eq!((key, *expected, *actual), (&tables[1], full, full - 10));
            }
            Problem::Missing => assert_eq!(key, &tables[2]),
            other => panic!("{key}: {other:?}"),
        }
    }
    let sizes = repo.verify(id, VerifyLevel::Sizes).unwrap();
    let keys: Vec<&str> = sizes.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(sizes.problems.len(), 2, "a flipped byte keeps the size: {:?}", sizes.problems);
    assert!(keys.contains(&tables[1].as_str()) && keys.contains(&tables[2].as_str()), "{keys:?}");
    // Both reports list problems in the snapshot's file order, however the files were checked.
    let in_both: Vec<&str> = order.iter().map(String::as_str).filter(|k| keys.contains(k)).collect();
    assert_eq!(in_both, keys, "{order:?}");
}

#[test]
fn local_verify_names_flipped_truncated_and_missing_files() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("repo");
    let repo = Repository::create(&dir).unwrap();
    let raw = LocalStore::new(Arc::new(strata::RealFs::new()), &dir);
    let db = new_db(&t.path().join("db"), 3000);
    damaged_files_are_named(&repo, &raw, |k| dir.join(k), &db);
}

/// With parallelism 1 and 4 (files checked one at a time, then several at once).
#[test]
fn s3_verify_names_flipped_truncated_and_missing_objects() {
    for parallelism in [1, 4] {
        let t = tempfile::tempdir().unwrap();
        let Some(server) = S3Server::start("s3_verify_names_damaged_objects") else { return };
        server.create_bucket("dmg");
        let opts = StoreOptions { parallelism, ..server.options() };
        let repo = Repository::create_url("s3://dmg/r", opts, RepositoryOptions::default()).unwrap();
        let raw = ObjectStore::new("s3://dmg/r", server.options()).unwrap();
        let db = new_db(&t.path().join("db"), 3000);
        damaged_files_are_named(&repo, &raw, |k| PathBuf::from("s3://dmg/r").join(k), &db);
    }
}

/// Files are checked several at once, within the store's parallelism: each read waits in the
/// transfer hook (bounded) until 3 are in flight together.
#[test]
fn s3_verify_checks_several_files_at_once() {
    let t = tempfile::tempdir().unwrap();
    let Some(server) = S3Server::start("s3_verify_in_parallel") else { return };
    server.create_bucket("par");
    let state = Arc::new((parking_lot::Mutex::new((0usize, 0usize)), parking_lot::Condvar::new()));
    let s = Arc::clone(&state);
    let hook = TransferHook(Arc::new(move |_key: &str| {
        let (lock, cv) = &*s;
        let mut g = lock.lock();
        g.0 += 1;
        g.1 = g.1.max(g.0);
        cv.notify_all();
        let _ = cv.wait_while_for(&mut g, |g| g.1 < 3, std::time::Duration::from_secs(10));
        g.0 -= 1;
        Ok(())
    }));
    let repo = Repository::create_url("s3://par/r", server.options(), RepositoryOptions::default()).unwrap();
    let db = new_db(&t.path().join("db"), 3000);
    let id = snapshot(&repo, &db);
    let opts = StoreOptions { parallelism: 4, transfer_hook: Some(hook), ..server.options() };
    let checking = Repository::open_url("s3://par/r", opts, RepositoryOptions::default()).unwrap();
    let report = checking.verify(id, VerifyLevel::Checksums).unwrap();
    assert!(report.is_ok() && report.files_checked >= 4, "{report:?}");
    let peak = state.0.lock().1;
    assert!((3..=4).contains(&peak), "files checked at once: {peak}");
}
