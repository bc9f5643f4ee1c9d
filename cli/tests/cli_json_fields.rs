//! Every command's `--json` document parses and has exactly the top-level fields
//! `docs/cli.md` documents (so the reference and the tool cannot drift apart silently).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use std::collections::BTreeSet;

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(fields: &str) -> BTreeSet<String> {
    fields.split(',').map(|f| f.trim().to_string()).collect()
}

#[test]
fn every_json_document_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    let input = work.path().join("data.jsonl");
    write_jsonl(&input, 10);
    let sst = work.path().join("t.sst");
    let cp = work.path().join("cp");
    // The WAL of a second database: the first one's is deleted by `db flush` below.
    let other = tempfile::tempdir().unwrap();
    make_db(other.path());
    let wal = wals(other.path()).pop().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["db", "stats", d],
            "dir, sequence, next_file_number, comparator, tables, table_bytes, unflushed_wals, column_families",
        ),
        (vec!["db", "get", d, "user:001"], "cf, key, found, value, sequence"),
        (vec!["db", "put", d, "k", "v"], "op, cf, key, sequence, synced"),
        (vec!["db", "delete", d, "k"], "op, cf, key, sequence, synced"),
        (vec!["db", "scan", d, "--limit", "1"], "cf, sequence, count, truncated, entries"),
        (vec!["db", "count", d], "cf, sequence, count, key_bytes, value_bytes, truncated"),
        (vec!["db", "flush", d], "dir, sequence, level0_tables"),
        (vec!["db", "compact", d], "dir, column_families"),
        (
            vec!["db", "checkpoint", d, p(&cp)],
            "dir, target, sequence, linked_files, copied_files, copied_bytes, column_families, \
             from_read_only_open, duration_ms",
        ),
        (
            vec!["sst", "write", p(&sst), "--from", p(&input)],
            "file, input, entries, deletions, size_bytes, file_checksum, input_was_sorted, sequence, \
             smallest_key, largest_key",
        ),
        (
            vec!["sst", "dump", p(&sst), "--entries"],
            "file, size_bytes, file_checksum, internal_keys, properties, index, entries",
        ),
        (vec!["sst", "verify", p(&sst)], "checked, damaged, files"),
        (vec!["wal", "dump", p(&wal)], "file, size_bytes, records_total, truncated, records, modes"),
        (
            vec!["manifest", "dump", d],
            "manifest, chosen, edits, last_sequence, log_number, next_file_number, torn_tail, live_files, \
             missing_or_wrong_size",
        ),
    ];
    for (args, fields) in cases {
        let mut full = vec!["--json"];
        full.extend(&args);
        let doc = ok(&full).json();
        assert_eq!(keys(&doc), set(fields), "strata {args:?}");
    }
    // Nested records documented in docs/cli.md.
    let doc = ok(&["--json", "wal", "dump", p(&wal), "--ops"]).json();
    assert_eq!(
        keys(&doc["modes"][0]),
        set("mode, records, records_dropped, last_sequence, valid_end_offset, opens, error, dropped_tail, skipped")
    );
    assert_eq!(keys(&doc["records"][0]), set("offset, end_offset, len, sequence, count, ops"));
    assert_eq!(keys(&doc["records"][0]["ops"][0]), set("sequence, cf, kind, key, value"));
    let doc = ok(&["--json", "sst", "verify", p(&sst)]).json();
    assert_eq!(keys(&doc["files"][0]), set("file, ok, entries, error"));
    let doc = ok(&["--json", "db", "stats", d]).json();
    assert_eq!(keys(&doc["column_families"][0]), set("id, name, files, size_bytes, levels"));
    // Failure: one error document.
    let r = strata(&["--json", "db", "get", p(&work.path().join("nope")), "k"]);
    assert_eq!(r.code, 1);
    let doc = r.json();
    assert_eq!(keys(&doc), set("ok, error"));
    assert_eq!(keys(&doc["error"]), set("kind, message, file, offset, exit_code"));
}
