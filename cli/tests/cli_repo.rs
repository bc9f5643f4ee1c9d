//! `strata repo ...` run as a subprocess against real databases and repositories: the full
//! walkthrough (init, snapshot, list, verify, restore, `db get` on the restored database),
//! names and ids, export/import with a renamed family, damage found by verify (exit 1, file
//! named), delete/retain/gc, and Ctrl-C through the library's progress callback leaving no
//! target behind. The same against an `s3://` repository: `cli_repo_s3.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use std::path::Path;

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn walkthrough_init_snapshot_list_verify_restore_get() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let repo = work.path().join("repo");
    let restored = work.path().join("restored");

    let r = ok(&["repo", "init", p(&repo)]);
    assert!(r.stdout.contains("created an empty snapshot repository"), "{}", r.stdout);
    assert!(repo.join("REPOSITORY").is_file());

    let snap =
        ok(&["--json", "repo", "snapshot", p(&repo), p(db.path()), "--name", "nightly", "--label", "env=test"]).json();
    assert_eq!(snap["id"], 1);
    assert_eq!(snap["name"], "nightly");
    assert_eq!(snap["state"], "complete");
    assert_eq!(snap["labels"]["env"], "test");
    assert_eq!(snap["from_read_only_open"], false);
    assert!(snap["tables"].as_u64().unwrap() >= 2, "{snap}");
    assert!(snap["bytes_total"].as_u64().unwrap() > 0);

    let list = ok(&["repo", "list", p(&repo)]);
    let row = list.stdout.lines().find(|l| l.contains("nightly")).unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(row.contains("complete"), "{row}");
    assert!(list.stdout.lines().next().unwrap().contains("id"), "{}", list.stdout);
    let doc = ok(&["--json", "repo", "list", p(&repo)]).json();
    assert_eq!(doc["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(doc["snapshots"][0]["sequence"], snap["sequence"]);

    let v = ok(&["repo", "verify", p(&repo)]);
    assert!(v.stdout.contains("snapshot 1: ok"), "{}", v.stdout);

    let r = ok(&["repo", "restore", p(&repo), "1", p(&restored)]);
    assert!(r.stdout.contains(p(&restored)), "{}", r.stdout);
    // Every write, including the one only in the WAL when the snapshot was taken.
    assert_eq!(ok(&["db", "get", p(&restored), "user:007"]).stdout, "value-7\n");
    assert_eq!(ok(&["db", "get", p(&restored), "late:1"]).stdout, "unflushed\n");
    assert_eq!(ok(&["db", "get", p(&restored), "--cf", "meta", "m:1"]).stdout, "{\"admin\":true}\n");
    assert_eq!(ok(&["db", "count", p(&restored)]).stdout, format!("{}\n", USERS + 1));
    // The restored database is a new one; restoring over it is refused.
    let again = strata(&["repo", "restore", p(&repo), "nightly", p(&restored)]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn show_by_name_export_import_renamed_and_wrong_references() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let repo = work.path().join("repo");
    ok(&["repo", "init", p(&repo)]);
    ok(&["repo", "snapshot", p(&repo), p(db.path()), "--name", "first"]);

    let show = ok(&["repo", "show", p(&repo), "first"]);
    assert!(show.stdout.contains("snapshot:") && show.stdout.contains("default, meta"), "{}", show.stdout);
    assert_eq!(ok(&["--json", "repo", "show", p(&repo), "1"]).json()["name"], "first");
    for bad in ["7", "nope"] {
        let r = strata(&["repo", "show", p(&repo), bad]);
        assert_eq!(r.code, 1, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("strata repo list"), "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    let missing = strata(&["repo", "list", p(&work.path().join("none"))]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("strata repo init"), "{}", missing.stderr);

    let bundle = work.path().join("bundle");
    let e = ok(&["--json", "repo", "export", p(&repo), "first", p(&bundle)]).json();
    assert_eq!(e["snapshot"], 1);
    assert!(bundle.join("snapshot.json").is_file());
    let copy = work.path().join("copy");
    let i = ok(&["--json", "repo", "import", p(&bundle), p(&copy), "--rename-cf", "meta=settings"]).json();
    assert_eq!(i["target"], p(&copy));
    assert_eq!(ok(&["db", "get", p(&copy), "--cf", "settings", "m:1"]).stdout, "{\"admin\":true}\n");
    assert_eq!(strata(&["db", "get", p(&copy), "--cf", "meta", "m:1"]).code, 1);
    let r = strata(&["repo", "import", p(&bundle), p(&work.path().join("x")), "--rename-cf", "nonsense"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn verify_names_a_damaged_table_and_restore_refuses_it() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let repo = work.path().join("repo");
    ok(&["repo", "init", p(&repo)]);
    // Copies, so flipping a byte in the repository does not touch the database.
    ok(&["repo", "snapshot", p(&repo), p(db.path()), "--copy"]);
    let table = repo.join("tables").join(names(&repo.join("tables")).into_iter().next().unwrap());
    let mut bytes = std::fs::read(&table).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&table, bytes).unwrap();

    let r = strata(&["repo", "verify", p(&repo)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("DAMAGED") && r.stdout.contains(p(&table)), "{}", r.stdout);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    let doc = strata(&["--json", "repo", "verify", p(&repo), "1"]).json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["snapshots"][0]["problems"][0]["file"], p(&table));
    // Sizes alone do not see a flipped byte.
    ok(&["repo", "verify", p(&repo), "--sizes-only"]);

    let target = work.path().join("restored");
    let r = strata(&["repo", "restore", p(&repo), "1", p(&target), "--verify-checksums"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!target.exists());
    assert_eq!(names(work.path()), vec!["repo".to_string()], "no temporary sibling left");
}

#[test]
fn delete_retain_and_gc() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let repo = work.path().join("repo");
    ok(&["repo", "init", p(&repo)]);
    for i in 0..4 {
        ok(&["db", "put", p(db.path()), &format!("round:{i}"), "x"]);
        ok(&["repo", "snapshot", p(&repo), p(db.path())]);
    }
    let d = ok(&["--json", "repo", "delete", p(&repo), "1"]).json();
    assert_eq!(d["deleted"], 1);
    let kept = ok(&["--json", "repo", "retain", p(&repo), "--keep-last", "2"]).json();
    assert_eq!(kept["deleted"], serde_json::json!([2]));
    let ids: Vec<u64> = ok(&["--json", "repo", "list", p(&repo)]).json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![3, 4]);
    let g = ok(&["--json", "repo", "gc", p(&repo)]).json();
    assert_eq!(g["damaged"], serde_json::json!([]));
    assert!(ok(&["repo", "gc", p(&repo)]).stdout.contains("unused files deleted"));
    // The kept snapshots still restore.
    let target = work.path().join("r3");
    ok(&["repo", "restore", p(&repo), "3", p(&target)]);
    assert_eq!(ok(&["db", "get", p(&target), "round:2"]).stdout, "x\n");
    assert_eq!(strata(&["db", "get", p(&target), "round:3"]).code, 1);
    let r = strata(&["repo", "retain", p(&repo), "--keep-within", "soon"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// Ctrl-C at the first file of `repo restore` and of `repo snapshot`: exit 130, no target, no
/// temporary sibling; the cancelled snapshot is recorded as failed and `gc` forgets it.
#[test]
fn ctrl_c_cancels_restore_and_snapshot_through_the_progress_callback() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let repo = work.path().join("repo");
    ok(&["repo", "init", p(&repo)]);
    ok(&["repo", "snapshot", p(&repo), p(db.path())]);

    let target = work.path().join("restored");
    let (code, stderr) = interrupted_at_first_step(&["repo", "restore", p(&repo), "1", p(&target)]);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!target.exists());
    assert_eq!(names(work.path()), vec!["repo".to_string()], "no temporary sibling left");

    let (code, stderr) = interrupted_at_first_step(&["repo", "snapshot", p(&repo), p(db.path()), "--copy"]);
    assert_eq!(code, 130, "{stderr}");
    let list = ok(&["--json", "repo", "list", p(&repo)]).json();
    assert_eq!(list["snapshots"][1]["state"], "failed", "{list}");
    let g = ok(&["--json", "repo", "gc", p(&repo)]).json();
    assert_eq!(g["forgotten"], serde_json::json!([2]));
    // The database still opens for writing: the cancelled command released its lock.
    ok(&["db", "put", p(db.path()), "after", "1"]);
}

/// Beside a live writer: `repo snapshot` and `savepoint create` fall back to a read-only open
/// and still hold every write acknowledged before they opened, including WAL-only ones.
#[test]
fn snapshots_beside_a_writer_hold_its_acknowledged_writes() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let writer = open_writer(db.path());
    writer.put_opt(&strata::WriteOptions { sync: true, ..Default::default() }, b"live:1", b"from-the-writer").unwrap();
    let repo = work.path().join("repo");
    ok(&["repo", "init", p(&repo)]);
    let s = ok(&["--json", "repo", "snapshot", p(&repo), p(db.path())]).json();
    assert_eq!(s["from_read_only_open"], true);
    let sp = work.path().join("sp");
    let c = ok(&["--json", "savepoint", "create", p(db.path()), p(&sp)]).json();
    assert_eq!(c["from_read_only_open"], true);
    drop(writer);
    let restored = work.path().join("restored");
    ok(&["repo", "restore", p(&repo), "1", p(&restored)]);
    assert_eq!(ok(&["db", "get", p(&restored), "live:1"]).stdout, "from-the-writer\n");
    assert_eq!(ok(&["db", "get", p(&restored), "late:1"]).stdout, "unflushed\n");
    let from_sp = work.path().join("from-sp");
    ok(&["savepoint", "restore", p(&sp), p(&from_sp)]);
    assert_eq!(ok(&["db", "get", p(&from_sp), "live:1"]).stdout, "from-the-writer\n");
}
