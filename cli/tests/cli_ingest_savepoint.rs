//! `strata ingest` and `strata savepoint ...` run as subprocesses against real databases,
//! tables and savepoints: ingestion by copy, move and link with the keys readable after, the
//! refused cases (exit 1 or 2); savepoint create/inspect/verify/restore (renamed family, key
//! range, both methods), a flipped byte found by verify with the file and offset named, and
//! Ctrl-C during a restore leaving no target.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;

/// A table of `k000000..k{n-1}` = `v{i}` written by `strata sst write`.
fn external_table(dir: &std::path::Path, name: &str, n: usize) -> std::path::PathBuf {
    let input = dir.join(format!("{name}.jsonl"));
    write_jsonl(&input, n);
    let sst = dir.join(format!("{name}.sst"));
    ok(&["sst", "write", p(&sst), "--from", p(&input)]);
    sst
}

#[test]
fn ingest_copies_moves_or_links_and_the_keys_are_read_after() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let d = p(db.path());

    let a = external_table(work.path(), "a", 100);
    let doc = ok(&["--json", "ingest", d, p(&a), "--cf", "meta"]).json();
    assert_eq!(doc["cf"], "meta");
    assert_eq!(doc["mode"], "copy");
    assert_eq!(doc["files"].as_array().unwrap().len(), 1);
    assert_eq!(doc["files"][0]["path"], p(&a));
    assert!(a.exists(), "a copy keeps the source");
    assert_eq!(ok(&["db", "get", d, "--cf", "meta", "k000042"]).stdout, "v42\n");
    assert_eq!(ok(&["db", "count", d, "--cf", "meta"]).stdout, "101\n");

    // Overlapping the first one: takes a sequence number and wins.
    let b = work.path().join("b.sst");
    std::fs::write(work.path().join("b.jsonl"), "{\"key\":\"k000042\",\"value\":\"new\"}\n").unwrap();
    ok(&["sst", "write", p(&b), "--from", p(&work.path().join("b.jsonl"))]);
    let r = ok(&["ingest", d, p(&b), "--cf", "meta", "--move"]);
    assert!(r.stdout.contains("ingested 1 file(s)") && r.stdout.contains("(move)"), "{}", r.stdout);
    assert!(!b.exists(), "--move removes the source");
    assert_eq!(ok(&["db", "get", d, "--cf", "meta", "k000042"]).stdout, "new\n");

    let c = external_table(work.path(), "c", 10);
    std::fs::rename(&c, work.path().join("c2.sst")).unwrap();
    let c = work.path().join("c2.sst");
    // Refused: it overlaps and may not take a sequence number. Nothing changes.
    let r = strata(&["ingest", d, p(&c), "--cf", "meta", "--no-global-seqno"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert_eq!(ok(&["db", "get", d, "--cf", "meta", "k000005"]).stdout, "v5\n");
    let doc = ok(&["--json", "ingest", d, p(&c), "--link", "--verify-checksums"]).json();
    assert_eq!(doc["mode"], "link");
    assert!(c.exists());
    assert_eq!(ok(&["db", "get", d, "k000009"]).stdout, "v9\n");

    // Refused cases.
    let r = strata(&["ingest", d, p(&c), "--move", "--link"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = strata(&["ingest", d]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = strata(&["ingest", d, p(&c), "--cf", "nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no column family \"nope\""), "{}", r.stderr);
    let r = strata(&["ingest", d, p(&work.path().join("missing.sst"))]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("missing.sst"), "{}", r.stderr);
    // A database's own table is not an external file.
    let own = tables(db.path()).into_iter().next().unwrap();
    let copy = work.path().join("own.sst");
    std::fs::copy(own, &copy).unwrap();
    let r = strata(&["ingest", d, p(&copy)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("own.sst"), "{}", r.stderr);
}

#[test]
fn savepoint_create_inspect_verify_restore() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let sp = work.path().join("sp");

    let c = ok(&["--json", "savepoint", "create", p(db.path()), p(&sp), "--chunk-bytes", "1024"]).json();
    assert_eq!(c["from_read_only_open"], false);
    assert!(c["chunks"].as_u64().unwrap() > 2, "{c}");
    let families: Vec<&str> = c["families"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(families, ["default", "meta"]);
    assert_eq!(c["families"][0]["entries"], USERS + 1);

    let i = ok(&["--json", "savepoint", "inspect", p(&sp), "--key-format", "hex"]).json();
    assert_eq!(i["sequence"], c["sequence"]);
    assert_eq!(i["families"][1]["first_key"], "6d3a31"); // "m:1"
    assert!(i["source_options"].is_object());
    let t = ok(&["savepoint", "inspect", p(&sp)]);
    assert!(t.stdout.contains("meta") && t.stdout.contains("sequence"), "{}", t.stdout);
    let v = ok(&["savepoint", "verify", p(&sp)]);
    assert!(v.stdout.contains("ok, every checksum matches"), "{}", v.stdout);

    let full = work.path().join("full");
    let r = ok(&["--json", "savepoint", "restore", p(&sp), p(&full)]).json();
    assert_eq!(r["entries"], USERS + 2);
    assert_eq!(ok(&["db", "get", p(&full), "late:1"]).stdout, "unflushed\n");
    assert_eq!(ok(&["db", "get", p(&full), "--cf", "meta", "m:1"]).stdout, "{\"admin\":true}\n");

    // One family renamed, one key range, the write path.
    let part = work.path().join("part");
    ok(&[
        "savepoint",
        "restore",
        p(&sp),
        p(&part),
        "--cf",
        "default=users",
        "--from",
        "user:050",
        "--to",
        "user:060",
        "--method",
        "writes",
    ]);
    assert_eq!(ok(&["db", "count", p(&part), "--cf", "users"]).stdout, "10\n");
    assert_eq!(strata(&["db", "get", p(&part), "--cf", "meta", "m:1"]).code, 1);

    // Refused: the target exists; a savepoint is never written over.
    let r = strata(&["savepoint", "create", p(db.path()), p(&sp)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = strata(&["savepoint", "restore", p(&sp), p(&full)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    let r = strata(&["savepoint", "create", "s3://b/db", p(&work.path().join("x"))]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("s3:// URLs are not supported"), "{}", r.stderr);
}

#[test]
fn a_flipped_byte_is_named_by_verify_and_restore_leaves_nothing() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let sp = work.path().join("sp");
    ok(&["savepoint", "create", p(db.path()), p(&sp)]);
    let file = sp.join("SAVEPOINT");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let r = strata(&["savepoint", "verify", p(&sp)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("SAVEPOINT") && r.stderr.contains("offset"), "{}", r.stderr);
    let doc = strata(&["--json", "savepoint", "verify", p(&sp)]).json();
    assert_eq!(doc["error"]["file"], p(&file));
    assert!(doc["error"]["offset"].is_u64());
    let target = work.path().join("restored");
    let r = strata(&["savepoint", "restore", p(&sp), p(&target)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!target.exists());
}

#[test]
fn ctrl_c_cancels_a_savepoint_restore_and_create() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let sp = work.path().join("sp");
    let (code, stderr) = interrupted_at_first_step(&["savepoint", "create", p(db.path()), p(&sp)]);
    assert_eq!(code, 130, "{stderr}");
    assert!(!sp.exists());
    ok(&["savepoint", "create", p(db.path()), p(&sp), "--chunk-bytes", "1024"]);
    let target = work.path().join("restored");
    let (code, stderr) = interrupted_at_first_step(&["savepoint", "restore", p(&sp), p(&target), "--threads", "1"]);
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!target.exists());
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("sp")], "no temporary sibling left");
}
