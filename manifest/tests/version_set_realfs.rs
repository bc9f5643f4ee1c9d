//! The version set on the operating system's file system: a round trip, and (ignored by
//! default) a timing of `log_and_apply` and of `Version::apply` on a large version.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{meta, opts};
use std::sync::Arc;
use std::time::Instant;
use strata_base::{FileSystem, RealFs};
use strata_manifest::{CfId, FileNumber};
use strata_manifest::{VersionEdit, VersionSet, table_file_name};

#[test]
fn round_trip_on_real_fs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let fs: Arc<dyn FileSystem> = RealFs::arc();
    let mut set = VersionSet::create_new(fs.clone(), &dir, opts(2048)).unwrap();
    for seq in 1..=30 {
        let n = set.new_file_number();
        fs.write_atomic(&dir.join(table_file_name(n)), b"t").unwrap();
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, meta(n, seq));
        e.last_sequence = Some(seq);
        set.log_and_apply(e).unwrap();
    }
    assert!(set.manifest_number() > FileNumber::new(1), "the 2 KiB limit forced a rollover");
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    assert_eq!(current, format!("MANIFEST-{:06}\n", set.manifest_number()));
    let rec = VersionSet::recover(fs, &dir, opts(2048), false).unwrap();
    assert_eq!(*rec.current(), *set.current());
    assert_eq!(rec.last_sequence(), 30);
}

/// `cargo test -p strata-manifest --release --test version_set_realfs -- --ignored --nocapture`
#[test]
#[ignore = "timing, run by hand"]
fn timing() {
    let fs = common::sim();
    let mut set = VersionSet::create_new(fs.arc(), common::dir(), opts(64 << 20)).unwrap();
    // 10,000 tables spread over L1..L6, added 100 per edit.
    let mut in_log_and_apply = std::time::Duration::ZERO;
    for batch in 0..100u64 {
        let mut e = VersionEdit::new();
        for i in 0..100 {
            let n = set.new_file_number();
            common::touch_table(&fs, n);
            e.add_file(CfId::DEFAULT, 1 + ((batch * 100 + i) % 6) as usize, meta(n, 1));
        }
        let t = Instant::now();
        set.log_and_apply(e).unwrap();
        in_log_and_apply += t.elapsed();
    }
    println!("log_and_apply, 100 edits of 100 tables each on SimFs: {:?} per edit", in_log_and_apply / 100);
    let version = set.current();
    let cmp = set.options().comparator.clone();
    let n = set.new_file_number();
    let mut e = VersionEdit::new();
    e.add_file(CfId::DEFAULT, 0, meta(n, 2));
    let t = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(version.apply(&e, cmp.as_ref()).unwrap());
    }
    println!("Version::apply of one L0 table onto 10,000 tables: {:?} per edit", t.elapsed() / 100);
    let t = Instant::now();
    let rec = VersionSet::recover(fs.arc(), common::dir(), opts(64 << 20), true).unwrap();
    println!("recover of 10,000 tables: {:?} ({} bytes of manifest)", t.elapsed(), rec.manifest_size());
}
