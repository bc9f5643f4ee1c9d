//! Import of a bundle as new column families when the snapshot holds an ingested table: such a
//! table's entries carry sequence number 0 in the file and are read at the global sequence
//! number its database's manifest gave it. The import must keep that number.
//!
//! Regression (found by the `strata-stress` repository round, export + import into the open
//! database, 2026-11-30): the import dropped the global sequence number, so an ingested L0
//! table counted as older than the table below it. With the older table at L0 too, reads of a
//! key in both returned the OLD value (silent data loss); with the older table at L1, the
//! import refused the bundle ("holds newer versions than .. but would sit below it").
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use strata::{Db, FileSystem as _, ImportFile, IngestOptions, Options, ReadOptions, SimFs, SstFileWriter};
use strata_checkpoint::repo::{RepositoryOptions, SnapshotOptions};
use strata_checkpoint::{ImportMode, ImportOptions, Repository, import};
use strata_tests::{dump_cf, small_options};

fn dopts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), disable_auto_compactions: true, ..small_options() }
}

/// `users` holds a, b, c (flushed, then moved to L1 when `to_l1`), then an ingested table
/// rewrites b over them (placed at L0 with a global sequence number); the snapshot is exported
/// to `/bundle`, imported into `/dst` as `copy`, and compared with the source.
fn round_trip(to_l1: bool) {
    let sim = SimFs::new();
    let src = Db::open("/src", dopts(&sim)).unwrap();
    let users = src.create_cf("users").unwrap();
    for k in ["a", "b", "c"] {
        src.put_cf(&users, k, format!("old-{k}")).unwrap();
    }
    src.flush().unwrap();
    if to_l1 {
        src.compact_range(&users, None, None).unwrap();
    }
    sim.create_dir_all("/files".as_ref()).unwrap();
    let mut w = SstFileWriter::for_cf(&src, &users, "/files/b.sst").unwrap();
    w.put("b", "new-b").unwrap();
    w.finish().unwrap();
    let done = src.ingest_external_files(&users, &["/files/b.sst"], &IngestOptions::default()).unwrap();
    // It overlaps the older table, so it goes above it with a global sequence number.
    assert!(done.files[0].sequence > 0, "{done:?}");
    let want = dump_cf(&src, &users, &ReadOptions::default());
    assert_eq!(want.get(&b"b"[..]).map(Vec::as_slice), Some(&b"new-b"[..]));
    let repo =
        Repository::create_with("/repo", RepositoryOptions { fs: Some(sim.arc()), ..Default::default() }).unwrap();
    let s = repo.create_snapshot(&src, &SnapshotOptions { flush: true, ..Default::default() }).unwrap();
    repo.export(s.id, "/bundle").unwrap();
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    let opts = ImportOptions {
        column_families: vec![("users".into(), "copy".into())],
        mode: ImportMode::NewColumnFamilies,
        ..Default::default()
    };
    import(&dst, "/bundle", &opts).unwrap();
    let copy = dst.cf("copy").unwrap();
    assert_eq!(dump_cf(&dst, &copy, &ReadOptions::default()), want);
    // Compaction merges the two tables by sequence number: the ingested value must still win.
    dst.compact_range(&copy, None, None).unwrap();
    assert_eq!(dump_cf(&dst, &copy, &ReadOptions::default()), want);
    drop(dst);
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    assert_eq!(dump_cf(&dst, &dst.cf("copy").unwrap(), &ReadOptions::default()), want, "after reopen");
}

#[test]
fn an_ingested_table_above_an_older_l0_table_keeps_its_sequence_number() {
    round_trip(false);
}

#[test]
fn an_ingested_table_above_an_older_l1_table_is_imported() {
    round_trip(true);
}

#[test]
fn a_global_sequence_number_on_a_table_with_its_own_numbers_is_refused() {
    let sim = SimFs::new();
    let src = Db::open("/src", dopts(&sim)).unwrap();
    src.put("k", "v").unwrap();
    src.flush().unwrap();
    let table = src.live_files(false).unwrap().tables[0].path.clone();
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    let file = ImportFile { path: table, level: 0, global_seq: 7 };
    let e = dst.import_column_family("x", &[file], &strata::ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("only an external table"), "{e}");
    assert!(dst.cf("x").is_none());
}
