//! `strata sst dump|verify|write` against tables made by the test and by a database: the
//! written table reads back through `strata-sst`, a flipped byte is found with its file and
//! offset, duplicates and bad input are refused with the line named.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use std::sync::Arc;
use strata_base::comparator::BytewiseComparator;
use strata_base::ikey::{self, InternalKeyComparator};
use strata_sst::{Table, TableReadOptions};

fn open(path: &std::path::Path) -> Arc<Table> {
    let cmp = Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)));
    Table::open_path(&strata_base::RealFs::new(), path, TableReadOptions { comparator: cmp, ..Default::default() })
        .unwrap()
}

#[test]
fn write_sorts_the_input_and_the_table_reads_back_at_sequence_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 500);
    let out = dir.path().join("out.sst");
    let j = ok(&["--json", "sst", "write", p(&out), "--from", p(&input)]).json();
    assert_eq!(j["entries"], 500);
    assert_eq!(j["input_was_sorted"], false);
    assert_eq!(j["smallest_key"], "k000000");
    assert_eq!(j["largest_key"], "k000499");
    assert!(!dir.path().join("out.sst.strata-tmp").exists());

    let t = open(&out);
    t.verify_checksums().unwrap();
    let mut it = t.iter();
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        let parsed = ikey::parse(it.key()).unwrap();
        assert_eq!(parsed.user_key, format!("k{n:06}").as_bytes());
        assert_eq!(parsed.seq, 0);
        assert_eq!(it.value(), format!("v{n}").as_bytes());
        n += 1;
        it.next();
    }
    assert_eq!(n, 500);
    // The target exists now: a second write refuses and leaves it alone.
    let before = std::fs::read(&out).unwrap();
    let r = strata(&["sst", "write", p(&out), "--from", p(&input)]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn write_from_csv_with_deletes_from_jsonl_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "key,value\nb,2\na,\"1,one\"\n").unwrap();
    let out = dir.path().join("csv.sst");
    ok(&["sst", "write", p(&out), "--from", p(&csv), "--csv-header", "--compression", "zstd"]);
    let j = ok(&["--json", "sst", "dump", p(&out), "--entries"]).json();
    let e = j["entries"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0]["key"].as_str(), e[0]["value"].as_str(), e[0]["sequence"].as_u64()),
        (Some("a"), Some("1,one"), Some(0))
    );
    assert_eq!(j["properties"]["compression"], "zstd (level 3)");

    let jsonl = dir.path().join("d.jsonl");
    std::fs::write(&jsonl, "{\"key\":\"00ff\",\"value\":\"AAE=\"}\n{\"key\":\"0001\",\"delete\":true}\n").unwrap();
    let out = dir.path().join("hex.sst");
    ok(&["sst", "write", p(&out), "--from", p(&jsonl), "--key-format", "hex", "--value-format", "base64"]);
    let j = ok(&["--json", "sst", "dump", p(&out), "--entries", "--key-format", "hex", "--value-format", "hex"]).json();
    let e = j["entries"].as_array().unwrap();
    assert_eq!((e[0]["key"].as_str(), e[0]["kind"].as_str()), (Some("0001"), Some("delete")));
    assert_eq!((e[1]["key"].as_str(), e[1]["value"].as_str()), (Some("00ff"), Some("0001")));
    assert_eq!(j["properties"]["num_deletions"], 1);
}

#[test]
fn write_refuses_duplicates_and_bad_input_naming_the_lines_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.sst");
    let dup = dir.path().join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"key\":\"b\",\"value\":\"1\"}\n{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"b\",\"value\":\"2\"}\n",
    )
    .unwrap();
    let r = strata(&["sst", "write", p(&out), "--from", p(&dup)]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("duplicate key \"b\" at lines 1 and 3"), "{}", r.stderr);
    assert!(r.stderr.contains(p(&dup)), "{}", r.stderr);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"key\":\"a\",\"value\":\"1\"}\n{oops\n").unwrap();
    let r = strata(&["--json", "sst", "write", p(&out), "--from", p(&bad)]);
    assert_eq!(r.code, 1);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("line 2: not JSON"), "{msg}");
    let unknown = dir.path().join("data.txt");
    std::fs::write(&unknown, "a,1\n").unwrap();
    let r = strata(&["sst", "write", p(&out), "--from", p(&unknown)]);
    assert_eq!(r.code, 2, "cannot tell the format: usage");
    ok(&["sst", "write", p(&out), "--from", p(&unknown), "--input-format", "csv"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4, "no temporary file left behind");
}

#[test]
fn dump_shows_properties_index_and_entries_of_a_database_table() {
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let t = &tables(dir.path())[0];
    let text = ok(&["sst", "dump", p(t)]).stdout;
    assert!(
        text.contains("entries:") && text.contains("index:") && text.contains("strata.InternalKeyComparator"),
        "{text}"
    );
    let j = ok(&["--json", "sst", "dump", p(t), "--entries", "--limit", "5"]).json();
    assert_eq!(j["internal_keys"], true);
    assert_eq!(j["properties"]["num_entries"], USERS);
    assert_eq!(j["entries"].as_array().unwrap().len(), 5);
    assert_eq!(j["entries"][0]["key"], "user:000");
    assert_eq!(j["entries"][0]["value"], "value-0");
    assert!(j["entries"][0]["sequence"].as_u64().unwrap() >= 1);
    let index = j["index"].as_array().unwrap();
    assert_eq!(index.len() as u64, j["properties"]["num_data_blocks"].as_u64().unwrap());
    assert_eq!(index[0]["offset"], 0);
    assert!(ok(&["--json", "sst", "dump", p(t), "--no-index"]).json().get("index").is_none());
}

#[test]
fn verify_passes_good_tables_and_names_file_and_offset_of_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 2000);
    let good = dir.path().join("good.sst");
    let bad = dir.path().join("bad.sst");
    ok(&["sst", "write", p(&good), "--from", p(&input)]);
    std::fs::copy(&good, &bad).unwrap();
    let index = ok(&["--json", "sst", "dump", p(&bad)]).json()["index"].clone();
    let block = &index[2];
    let (start, size) = (block["offset"].as_u64().unwrap(), block["size"].as_u64().unwrap());
    let mut bytes = std::fs::read(&bad).unwrap();
    let at = (start + size / 2) as usize;
    bytes[at] ^= 0x40;
    std::fs::write(&bad, &bytes).unwrap();

    let j = ok(&["--json", "sst", "verify", p(&good)]).json();
    assert_eq!((j["checked"].as_u64(), j["damaged"].as_u64()), (Some(1), Some(0)));
    assert_eq!(j["files"][0]["entries"], 2000);

    let r = strata(&["sst", "verify", p(&good), p(&bad)]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("DAMAGED") && r.stdout.contains(p(&bad)), "{}", r.stdout);
    assert!(r.stderr.contains("1 of 2 tables damaged"), "{}", r.stderr);
    let r = strata(&["--json", "sst", "verify", p(&good), p(&bad)]);
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["damaged"], 1);
    assert_eq!(j["files"][0]["ok"], true);
    let damage = &j["files"][1];
    assert_eq!((damage["file"].as_str(), damage["ok"].as_bool()), (Some(p(&bad)), Some(false)));
    let offset = damage["error"]["offset"].as_u64().unwrap();
    assert!((start..=start + size + 5).contains(&offset), "offset {offset} outside the damaged block {start}+{size}");
    let message = damage["error"]["message"].as_str().unwrap();
    assert!(message.contains(p(&bad)) && message.contains(&format!("offset {offset}")), "{message}");

    // Not a table at all, and a missing file: damaged / failed, named.
    let junk = dir.path().join("junk.sst");
    std::fs::write(&junk, b"not a table").unwrap();
    let j = strata(&["--json", "sst", "verify", p(&junk), p(&dir.path().join("missing.sst"))]).json();
    assert_eq!(j["damaged"], 2);
    assert!(j["files"][1]["error"]["message"].as_str().unwrap().contains("missing.sst"));
}
