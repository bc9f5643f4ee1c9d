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
    // Ingestion, repositories and savepoints.
    let repo = work.path().join("repo");
    let restored = work.path().join("restored");
    let bundle = work.path().join("bundle");
    let imported = work.path().join("imported");
    let sp = work.path().join("sp");
    let sp_restored = work.path().join("sp-restored");
    let ext = work.path().join("ext.sst");
    let snapshot_fields = "id, name, state, db_id, sequence, created_at_ms, column_families, tables, bytes_total, \
        bytes_added, labels, failure";
    let with_repo = format!("repo, {snapshot_fields}");
    let taken = format!("repo, db, from_read_only_open, {snapshot_fields}");
    let savepoint_fields = "dir, sequence, created_unix_secs, format_version, chunks, file_bytes, families";
    let sp_created = format!("db, from_read_only_open, duration_ms, {savepoint_fields}");
    let sp_verified = format!("ok, {savepoint_fields}");
    let sp_inspected = format!("source_options, {savepoint_fields}");
    let later: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["sst", "write", p(&ext), "--from", p(&input)],
            "file, input, entries, deletions, size_bytes, \
            file_checksum, input_was_sorted, sequence, smallest_key, largest_key",
        ),
        (vec!["ingest", d, p(&ext), "--cf", "meta"], "dir, cf, mode, files, sequence_before, sequence_after"),
        (vec!["repo", "init", p(&repo)], "repo, created"),
        (vec!["repo", "snapshot", p(&repo), d, "--name", "n"], &taken),
        (vec!["repo", "list", p(&repo)], "repo, snapshots"),
        (vec!["repo", "show", p(&repo), "n"], &with_repo),
        (vec!["repo", "verify", p(&repo)], "repo, level, ok, snapshots"),
        (
            vec!["repo", "restore", p(&repo), "1", p(&restored)],
            "repo, snapshot, target, db_id, sequence, linked_files, copied_files, copied_bytes",
        ),
        (vec!["repo", "export", p(&repo), "1", p(&bundle)], "repo, snapshot, dir, files, bytes"),
        (
            vec!["repo", "import", p(&bundle), p(&imported)],
            "bundle, target, db_id, sequence, linked_files, copied_files, copied_bytes",
        ),
        (vec!["savepoint", "create", d, p(&sp)], &sp_created),
        (vec!["savepoint", "verify", p(&sp)], &sp_verified),
        (vec!["savepoint", "inspect", p(&sp)], &sp_inspected),
        (
            vec!["savepoint", "restore", p(&sp), p(&sp_restored)],
            "dir, target, sequence, entries, bytes, chunks_read, families, duration_ms",
        ),
        (vec!["repo", "retain", p(&repo), "--keep-last", "1"], "repo, deleted"),
        (vec!["repo", "delete", p(&repo), "1"], "repo, deleted"),
        (
            vec!["repo", "gc", p(&repo)],
            "repo, expired, forgotten, objects_deleted, objects_restored, temporaries_removed, damaged",
        ),
    ];
    for (args, fields) in cases.into_iter().chain(later) {
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
    // A version-2 WAL opens with its header record (docs/format/wal.md), then the batches.
    assert_eq!(keys(&doc["records"][0]), set("offset, end_offset, len, header"));
    assert_eq!(keys(&doc["records"][0]["header"]), set("predecessor, predecessor_len"));
    assert_eq!(keys(&doc["records"][1]), set("offset, end_offset, len, sequence, count, ops"));
    assert_eq!(keys(&doc["records"][1]["ops"][0]), set("sequence, cf, kind, key, value"));
    let doc = ok(&["--json", "sst", "verify", p(&sst)]).json();
    assert_eq!(keys(&doc["files"][0]), set("file, ok, entries, error"));
    let doc = ok(&["--json", "db", "stats", d]).json();
    assert_eq!(keys(&doc["column_families"][0]), set("id, name, files, size_bytes, levels"));
    let doc = ok(&["--json", "repo", "verify", p(&repo)]).json();
    assert_eq!(doc["snapshots"], serde_json::json!([]), "snapshot 1 was deleted above");
    let doc = ok(&["--json", "savepoint", "inspect", p(&sp)]).json();
    assert_eq!(keys(&doc["families"][0]), set("name, comparator, entries, data_bytes, chunks, first_key, last_key"));
    let doc = ok(&["--json", "savepoint", "restore", p(&sp), p(&work.path().join("sp2"))]).json();
    assert_eq!(keys(&doc["families"][0]), set("name, entries"));
    let doc = ok(&["--json", "ingest", d, p(&ext), "--cf", "meta"]).json();
    assert_eq!(keys(&doc["files"][0]), set("path, table, level, sequence"));
    let snap_dir = tempfile::tempdir().unwrap();
    let repo2 = snap_dir.path().join("r");
    ok(&["repo", "init", p(&repo2)]);
    ok(&["repo", "snapshot", p(&repo2), d]);
    let doc = ok(&["--json", "repo", "verify", p(&repo2)]).json();
    assert_eq!(keys(&doc["snapshots"][0]), set("id, ok, files_checked, bytes_checked, problems"));
    // Failure: one error document.
    let r = strata(&["--json", "db", "get", p(&work.path().join("nope")), "k"]);
    assert_eq!(r.code, 1);
    let doc = r.json();
    assert_eq!(keys(&doc), set("ok, error"));
    assert_eq!(keys(&doc["error"]), set("kind, message, file, offset, exit_code"));
}
