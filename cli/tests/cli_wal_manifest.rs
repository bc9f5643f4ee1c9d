//! `strata wal dump` and `strata manifest dump` against real databases: batches and sequence
//! numbers as written, what each recovery mode drops after real damage (a torn tail, a
//! flipped byte in the middle), the manifest's edits and live tables.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use serde_json::Value;
use strata::{Db, Options, WriteBatch, WriteOptions};

const BATCHES: usize = 10;
const PER_BATCH: usize = 50;

/// A database whose last WAL holds `BATCHES` batches of `PER_BATCH` puts (nothing flushed).
fn wal_db(dir: &std::path::Path) -> std::path::PathBuf {
    let db = Db::open(dir, Options::default()).unwrap();
    for b in 0..BATCHES {
        let mut batch = WriteBatch::new();
        for i in 0..PER_BATCH {
            batch.put(format!("b{b:02}-k{i:03}"), vec![b as u8; 100]);
        }
        db.write(batch, &WriteOptions { sync: true, ..Default::default() }).unwrap();
    }
    db.delete(b"b00-k000").unwrap();
    db.close().unwrap();
    wals(dir).pop().unwrap()
}

fn mode<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["modes"].as_array().unwrap().iter().find(|m| m["mode"] == name).unwrap()
}

#[test]
fn wal_dump_lists_batches_sequences_and_ops() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_db(dir.path());
    let j = ok(&["--json", "wal", "dump", p(&wal), "--ops"]).json();
    let records = j["records"].as_array().unwrap();
    // records[0] is the version-2 header record (docs/format/wal.md), then the batches.
    assert_eq!(records.len(), BATCHES + 2);
    assert_eq!(j["records_total"], BATCHES + 2);
    assert!(records[0]["header"]["predecessor"].is_u64(), "{}", records[0]);
    let first_seq = records[1]["sequence"].as_u64().unwrap();
    for (i, r) in records.iter().skip(1).take(BATCHES).enumerate() {
        assert_eq!(r["count"], PER_BATCH);
        assert_eq!(r["sequence"].as_u64().unwrap(), first_seq + (i * PER_BATCH) as u64, "sequences follow on");
        assert_eq!(r["ops"].as_array().unwrap().len(), PER_BATCH);
    }
    let last = &records[BATCHES + 1];
    assert_eq!(last["ops"][0]["kind"], "delete");
    assert_eq!(last["ops"][0]["key"], "b00-k000");
    assert_eq!(records[2]["ops"][3]["key"], "b01-k003");
    assert_eq!(records[2]["ops"][3]["sequence"].as_u64().unwrap(), first_seq + PER_BATCH as u64 + 3);
    for m in j["modes"].as_array().unwrap() {
        assert_eq!(m["records"], BATCHES + 2, "{m}");
        assert_eq!(m["records_dropped"], 0);
        assert_eq!(m["opens"], true);
    }
    let text = ok(&["wal", "dump", p(&wal), "--limit", "2"]).stdout;
    assert!(text.contains("recovery modes:") && text.contains("reads everything"), "{text}");
    assert_eq!(ok(&["--json", "wal", "dump", p(&wal), "--limit", "2"]).json()["truncated"], true);
}

#[test]
fn wal_dump_tells_what_each_mode_drops_after_a_torn_tail_and_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let wal = wal_db(dir.path());
    let j = ok(&["--json", "wal", "dump", p(&wal)]).json();
    // Record 0 is the header record: batch `i` is record `i + 1`.
    let rec = |i: usize, f: &str| j["records"][i + 1][f].as_u64().unwrap();

    // Torn tail: cut the file inside the last record.
    let torn = dir.path().join("torn.log");
    let bytes = std::fs::read(&wal).unwrap();
    std::fs::write(&torn, &bytes[..(rec(BATCHES, "offset") + 5) as usize]).unwrap();
    let t = ok(&["--json", "wal", "dump", p(&torn)]).json();
    assert_eq!(t["records_total"], BATCHES + 1);
    let tolerate = mode(&t, "tolerate-corrupted-tail");
    assert_eq!((tolerate["opens"].as_bool(), tolerate["records"].as_u64()), (Some(true), Some(BATCHES as u64 + 1)));
    assert_eq!(tolerate["dropped_tail"]["offset"].as_u64(), Some(rec(BATCHES, "offset")));
    assert_eq!(mode(&t, "absolute-consistency")["opens"], false);
    assert_eq!(mode(&t, "point-in-time")["records"], BATCHES + 1);

    // A flipped byte inside record 3: damage in the middle.
    let mid = dir.path().join("mid.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = (rec(3, "offset") + 40) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(&mid, &bytes).unwrap();
    let m = ok(&["--json", "wal", "dump", p(&mid)]).json();
    // The listing (skip-corrupted) loses the damaged record, and the rest of its block when
    // the damage hides where the next fragment starts.
    let survivors = m["records_total"].as_u64().unwrap();
    assert!((BATCHES as u64 - 1..=BATCHES as u64 + 1).contains(&survivors), "{survivors}");
    let tolerate = mode(&m, "tolerate-corrupted-tail");
    assert_eq!(tolerate["opens"], false, "{tolerate}");
    assert_eq!(tolerate["error"]["offset"].as_u64(), Some(rec(3, "offset")));
    assert!(tolerate["error"]["reason"].as_str().unwrap().contains("not a torn tail"), "{tolerate}");
    let pit = mode(&m, "point-in-time");
    assert_eq!((pit["records"].as_u64(), pit["records_dropped"].as_u64()), (Some(4), Some(survivors - 4)));
    assert_eq!(pit["last_sequence"].as_u64(), Some(rec(0, "sequence") + 3 * PER_BATCH as u64 - 1));
    let skip = mode(&m, "skip-corrupted");
    assert_eq!((skip["records"].as_u64(), skip["opens"].as_bool()), (Some(survivors), Some(true)));
    assert_eq!(skip["skipped"][0]["offset"].as_u64(), Some(rec(3, "offset")));
    let text = ok(&["wal", "dump", p(&mid)]).stdout;
    assert!(text.contains(&format!("open fails: offset {}", rec(3, "offset"))), "{text}");
}

#[test]
fn manifest_dump_shows_edits_versions_and_live_tables() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let d = p(dir.path());
    let j = ok(&["--json", "manifest", "dump", d]).json();
    assert_eq!(j["chosen"], "named by CURRENT");
    let edits = j["edits"].as_array().unwrap();
    assert!(!edits.is_empty());
    assert!(
        edits[0]["comparator"].as_str().unwrap().starts_with("strata.InternalKeyComparator"),
        "first edit is a snapshot"
    );
    let live = j["live_files"].as_array().unwrap();
    let on_disk: Vec<u64> =
        tables(dir.path()).iter().map(|t| t.file_stem().unwrap().to_str().unwrap().parse().unwrap()).collect();
    let mut listed: Vec<u64> = live.iter().map(|f| f["number"].as_u64().unwrap()).collect();
    listed.sort_unstable();
    assert_eq!(listed, on_disk);
    let users = live.iter().find(|f| f["cf_name"] == "default").unwrap();
    assert_eq!(users["smallest"], format!("user:000 @{}", users["smallest_seq"]));
    assert_eq!(users["on_disk"], "ok");
    assert!(live.iter().any(|f| f["cf_name"] == "meta"));
    assert_eq!(edits.last().unwrap()["files_after"].as_u64().unwrap(), live.len() as u64);
    assert_eq!(j["missing_or_wrong_size"], 0);
    assert!(j["last_sequence"].as_u64().unwrap() >= USERS as u64);

    // A live table gone: reported, exit 1, named.
    let gone = &tables(dir.path())[0];
    std::fs::remove_file(gone).unwrap();
    let r = strata(&["manifest", "dump", d]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("MISSING") && r.stderr.contains("missing"), "{}\n{}", r.stdout, r.stderr);

    // Without CURRENT the newest manifest is taken, and the output says why.
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let j = strata(&["--json", "manifest", "dump", d]).json();
    assert!(j["chosen"].as_str().unwrap().starts_with("newest by listing"), "{}", j["chosen"]);
    // A manifest file given directly.
    let manifest = j["manifest"].as_str().unwrap().to_string();
    assert_eq!(strata(&["--json", "manifest", "dump", &manifest]).json()["chosen"], "given");
    let r = strata(&["manifest", "dump", p(&dir.path().join("nope"))]);
    assert_eq!(r.code, 1);
}

#[test]
fn wal_dump_and_every_mode_refuse_a_header_record_after_the_first_record() {
    use strata_base::FileSystem;
    let dir = tempfile::tempdir().unwrap();
    let source = wal_db(&dir.path().join("db"));
    // The real WAL's records (its header record, then batches), written again with the header
    // record repeated where the third record belongs.
    let fs = strata_base::RealFs::new();
    let mut r = strata_wal::LogReader::open(&fs, &source, strata::RecoveryMode::AbsoluteConsistency).unwrap();
    let mut payloads = Vec::new();
    while let Some(rec) = r.read_record().unwrap() {
        payloads.push(rec.payload.to_vec());
    }
    let wal = dir.path().join("000007.log");
    let mut w = strata_wal::LogWriter::new(fs.create(&wal).unwrap());
    let offsets: Vec<u64> =
        [&payloads[0], &payloads[1], &payloads[0], &payloads[2]].iter().map(|rec| w.add_record(rec).unwrap()).collect();
    w.sync().unwrap();
    let j = ok(&["--json", "wal", "dump", p(&wal)]).json();
    // Record 0: the header, where it belongs; record 2: a header record where a batch must be.
    assert!(j["records"][0]["header"].is_object(), "{}", j["records"][0]);
    assert!(j["records"][1]["sequence"].is_u64(), "{}", j["records"][1]);
    let third = &j["records"][2];
    assert!(third["error"].as_str().unwrap().contains("after the first record"), "{third}");
    for m in j["modes"].as_array().unwrap() {
        if m["mode"] == "skip-corrupted" {
            continue;
        }
        assert_eq!(m["opens"], false, "{m}");
        assert_eq!(m["error"]["offset"].as_u64(), Some(offsets[1]), "{m}");
    }
}
