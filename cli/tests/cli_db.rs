//! `strata db ...` against real databases made by the test: every command's output and exit
//! code, read-only reads beside a live writer, the JSON documents' fields.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use strata::{Db, Options};

#[test]
fn get_finds_flushed_unflushed_and_cf_values_and_exits_1_when_absent() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    assert_eq!(ok(&["db", "get", d, "user:007"]).stdout, "value-7\n");
    assert_eq!(ok(&["db", "get", d, "late:1"]).stdout, "unflushed\n", "a read-only open replays the WAL");
    assert_eq!(ok(&["db", "get", d, "--cf", "meta", "m:1"]).stdout, "{\"admin\":true}\n");
    // Hex key in, base64 value out.
    let hex_key: String = b"user:007".iter().map(|b| format!("{b:02x}")).collect();
    let r = ok(&["db", "get", d, "--key-format", "hex", &hex_key, "--value-format", "base64"]);
    assert_eq!(r.stdout, "dmFsdWUtNw==\n");

    let r = strata(&["db", "get", d, "user:999"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not found") && r.stderr.contains(d), "{}", r.stderr);
    let r = strata(&["--json", "db", "get", d, "user:999"]);
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["found"], false);
    assert!(j["value"].is_null());

    let j = ok(&["--json", "db", "get", d, "user:001"]).json();
    assert_eq!(
        (j["cf"].as_str(), j["key"].as_str(), j["found"].as_bool()),
        (Some("default"), Some("user:001"), Some(true))
    );
    assert_eq!(j["value"], "value-1");
    assert!(j["sequence"].as_u64().unwrap() >= USERS as u64);

    let r = strata(&["db", "get", d, "--cf", "nope", "k"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no column family \"nope\"") && r.stderr.contains("default, meta"), "{}", r.stderr);
}

#[test]
fn get_works_read_only_while_a_writer_holds_the_lock_and_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    // Another test's child process can hold an inherited copy of the LOCK descriptor between
    // its fork and its exec (flock follows the descriptor), so a reopen right after `close`
    // may briefly see the lock held: retry until the fork window has passed.
    let mut attempts = 0;
    let writer = loop {
        match Db::open(dir.path(), Options::default()) {
            Err(strata::Error::Locked(_)) if attempts < 200 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            r => break r.unwrap(),
        }
    };
    writer.put(b"live:1", b"from-the-writer").unwrap();
    assert!(matches!(Db::open(dir.path(), Options::default()), Err(strata::Error::Locked(_))), "the lock is held");

    assert_eq!(ok(&["db", "get", d, "user:005"]).stdout, "value-5\n");
    assert_eq!(ok(&["db", "get", d, "live:1"]).stdout, "from-the-writer\n", "sees writes acknowledged before its open");
    assert_eq!(ok(&["db", "count", d]).stdout, format!("{}\n", USERS + 2));
    ok(&["db", "stats", d]);

    let r = strata(&["db", "put", d, "k", "v"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("open for writing by another process"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);

    // A checkpoint falls back to a read-only open and still holds every acknowledged write.
    let cp = dir.path().parent().unwrap().join(format!("{}-cp", dir.path().file_name().unwrap().to_str().unwrap()));
    let j = ok(&["--json", "db", "checkpoint", d, p(&cp)]).json();
    assert_eq!(j["from_read_only_open"], true);
    drop(writer);
    assert_eq!(ok(&["db", "get", p(&cp), "live:1"]).stdout, "from-the-writer\n");
    std::fs::remove_dir_all(&cp).unwrap();
    // The writer is gone: the lock is free again and nothing the reads did kept it.
    Db::open(dir.path(), Options::default()).unwrap().close().unwrap();
}

#[test]
fn put_and_delete_are_durable_and_visible_to_the_next_command() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    let j = ok(&["--json", "db", "put", d, "new:1", "hello"]).json();
    assert_eq!((j["op"].as_str(), j["synced"].as_bool()), (Some("put"), Some(true)));
    ok(&["db", "put", d, "--cf", "meta", "--value-format", "hex", "m:2", "00ff"]);
    assert_eq!(ok(&["db", "get", d, "new:1"]).stdout, "hello\n");
    assert_eq!(ok(&["db", "get", d, "--cf", "meta", "--value-format", "hex", "m:2"]).stdout, "00ff\n");
    ok(&["db", "delete", d, "user:000"]);
    assert_eq!(strata(&["db", "get", d, "user:000"]).code, 1);
    let db = Db::open_read_only(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"new:1").unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(db.get(b"user:000").unwrap(), None);
}

#[test]
fn scan_and_count_honour_ranges_prefixes_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    let r = ok(&["db", "scan", d, "--from", "user:010", "--to", "user:013"]);
    assert_eq!(r.stdout, "user:010\tvalue-10\nuser:011\tvalue-11\nuser:012\tvalue-12\n");
    let r = ok(&["db", "scan", d, "--prefix", "user:19", "--limit", "3"]);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        vec!["user:190\tvalue-190", "user:191\tvalue-191", "user:192\tvalue-192"]
    );
    assert_eq!(ok(&["db", "count", d, "--prefix", "user:"]).stdout, format!("{USERS}\n"));
    assert_eq!(ok(&["db", "count", d, "--prefix", "user:1", "--from", "user:150"]).stdout, "50\n");
    assert_eq!(ok(&["db", "count", d, "--cf", "meta"]).stdout, "1\n");

    let j = ok(&["--json", "db", "scan", d, "--prefix", "757365723a", "--limit", "2", "--key-format", "hex"]).json();
    assert_eq!(j["count"], 2);
    assert_eq!(j["truncated"], true);
    assert_eq!(j["entries"][0]["key"], "757365723a303030");
    assert_eq!(j["entries"][0]["value"], "value-0");
    let j = ok(&["--json", "db", "count", d]).json();
    assert_eq!(j["count"], USERS + 1);
    assert!(j["key_bytes"].as_u64().unwrap() > 0 && j["value_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn stats_flush_compact_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    let j = ok(&["--json", "db", "stats", d]).json();
    let cfs = j["column_families"].as_array().unwrap();
    assert_eq!(cfs.iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["default", "meta"]);
    assert!(j["tables"].as_u64().unwrap() >= 1);
    assert_eq!(j["unflushed_wals"].as_array().unwrap().len(), 1, "late:1 is only in the WAL");
    let text = ok(&["db", "stats", d]).stdout;
    assert!(text.contains("last sequence") && text.contains("meta"), "{text}");

    let j = ok(&["--json", "db", "flush", d]).json();
    assert!(j["level0_tables"].as_u64().unwrap() >= 2, "{j}");
    assert!(ok(&["--json", "db", "stats", d]).json()["unflushed_wals"].as_array().unwrap().is_empty());

    let j = ok(&["--json", "db", "compact", d]).json();
    let default = &j["column_families"][0];
    assert_eq!(default["name"], "default");
    assert_eq!(default["files_per_level_after"][0], 0, "L0 emptied: {j}");
    assert_eq!(ok(&["db", "count", d]).stdout, format!("{}\n", USERS + 1), "compaction lost nothing");

    let out = tempfile::tempdir().unwrap();
    let cp = out.path().join("cp");
    let j = ok(&["--json", "db", "checkpoint", d, p(&cp)]).json();
    assert_eq!(j["from_read_only_open"], false);
    assert!(j["sequence"].as_u64().unwrap() >= USERS as u64);
    assert_eq!(ok(&["db", "get", p(&cp), "late:1"]).stdout, "unflushed\n");
    // --read-only never takes the lock: the checkpoint carries the unflushed WAL instead.
    ok(&["db", "put", d, "after:1", "x", "--no-sync"]);
    let ro = out.path().join("ro");
    let j = ok(&["--json", "db", "checkpoint", d, p(&ro), "--read-only"]).json();
    assert_eq!(j["from_read_only_open"], true);
    assert_eq!(ok(&["db", "get", p(&ro), "after:1"]).stdout, "x\n");
    let r = strata(&["db", "checkpoint", d, p(&cp)]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}

#[test]
fn no_command_creates_a_database_at_a_mistyped_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-db");
    for args in [vec!["db", "get", p(&missing), "k"], vec!["db", "put", p(&missing), "k", "v"]] {
        let r = strata(&args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains("no such directory") && r.stderr.contains(p(&missing)), "{}", r.stderr);
    }
    assert!(!missing.exists());
    // An existing directory that is not a database: refused, left empty.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = strata(&["db", "put", p(&empty), "k", "v"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let r = strata(&["--json", "db", "get", p(&empty), "k"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["kind"], "failed");
}

/// `db scan` streams its text: a reader that stops early (`| head -1`) ends the scan quietly
/// with exit 0, and the output never has to fit in memory.
#[test]
fn scan_streams_and_stops_quietly_when_the_reader_goes_away() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut batch = strata::WriteBatch::new();
    for i in 0..20_000 {
        batch.put(format!("key{i:06}"), vec![b'v'; 100]);
    }
    db.write(batch, &strata::WriteOptions::default()).unwrap();
    db.close().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["db", "scan", p(dir.path())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("key000000\tvvv"), "{first}");
    // The read end is closed now (dropped with the BufReader); 2 MB of output cannot fit in
    // the pipe, so the scan meets the closed pipe.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
