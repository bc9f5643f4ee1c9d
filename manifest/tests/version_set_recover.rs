//! Recovery: round trips, rollover, bad input (missing files, corruption, torn tails).
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, meta, opts, sim, touch_table};
use std::sync::Arc;
use strata_base::FileSystem;
use strata_manifest::{CfId, FileNumber};
use strata_manifest::{
    Error, FileMeta, ManifestSource, VersionEdit, VersionSet, manifest_file_name, read_current, set_current,
    snapshot_edit, table_file_name, write_manifest,
};

/// Gives every table of `set` its recorded size, as real tables have (a manifest found by
/// listing must prove itself by the sizes of its tables).
fn size_tables(set: &VersionSet, fs: &dyn FileSystem) {
    for cf in set.current().cfs() {
        for (_, f) in cf.files() {
            let len = usize::try_from(f.size).unwrap();
            fs.write_atomic(&dir().join(table_file_name(f.number)), &vec![7u8; len]).unwrap();
        }
    }
}

fn flush(set: &mut VersionSet, fs: &dyn FileSystem, cf: CfId, seq: u64) -> FileNumber {
    let n = set.new_file_number();
    touch_table(fs, n);
    let mut e = VersionEdit::new();
    e.add_file(cf, 0, meta(n, seq));
    e.last_sequence = Some(seq);
    set.log_and_apply(e).unwrap();
    n
}

#[test]
fn create_apply_recover_round_trip() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    assert_eq!(set.manifest_number(), FileNumber::new(1));
    assert_eq!(&fs.read_all(&dir().join("CURRENT")).unwrap()[..], b"MANIFEST-000001\n");
    assert_eq!(set.current().cf(CfId::DEFAULT).map(|c| c.name.as_str()), Some("default"));
    let id = set.next_cf_id();
    let mut e = VersionEdit::new();
    e.add_cf(id, "users", set.options().comparator.name());
    set.log_and_apply(e).unwrap();
    let a = flush(&mut set, &fs, CfId::DEFAULT, 10);
    let b = flush(&mut set, &fs, id, 20);
    let mut e = VersionEdit::new();
    e.delete_file(CfId::DEFAULT, 0, a).add_file(CfId::DEFAULT, 1, meta(a, 10));
    e.log_number = Some(FileNumber::new(7));
    set.log_and_apply(e).unwrap();

    fs.crash();
    let rec = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(*rec.current(), *set.current());
    assert_eq!(rec.last_sequence(), 20);
    assert_eq!(rec.log_number(), FileNumber::new(7));
    assert_eq!(rec.next_file_number(), set.next_file_number());
    assert_eq!(rec.next_cf_id(), id.next());
    assert_eq!(rec.live_table_numbers().into_iter().collect::<Vec<_>>(), vec![a, b]);
}

#[test]
fn read_only_recover_writes_nothing_and_refuses_edits() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    flush(&mut set, &fs, CfId::DEFAULT, 1);
    let ops = fs.op_count();
    let mut ro = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(fs.op_count(), ops);
    assert!(matches!(ro.log_and_apply(VersionEdit::new()), Err(Error::InvalidArgument(_))));
    assert!(ro.is_read_only());
}

#[test]
fn read_write_recover_rolls_over_to_a_fresh_manifest() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    for s in 1..=5 {
        flush(&mut set, &fs, CfId::DEFAULT, s);
    }
    let old = set.manifest_number();
    drop(set);
    let mut rw = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false).unwrap();
    assert!(rw.manifest_number() > old);
    assert_eq!(read_current(&fs, dir()).unwrap(), rw.manifest_number());
    // The new manifest is self-contained: the old one can go.
    fs.remove_file(&dir().join(manifest_file_name(old))).unwrap();
    flush(&mut rw, &fs, CfId::DEFAULT, 6);
    let again = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(*again.current(), *rw.current());
    assert_eq!(again.current().num_files(), 6);
}

#[test]
fn size_limit_triggers_rollover_and_recovery_reads_only_the_tail() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(400)).unwrap();
    let mut manifests = vec![set.manifest_number()];
    for s in 1..=40 {
        let size_before = set.manifest_size();
        flush(&mut set, &fs, CfId::DEFAULT, s);
        if *manifests.last().unwrap() != set.manifest_number() {
            assert!(size_before >= 400, "rolled over at {size_before} bytes");
            manifests.push(set.manifest_number());
        } else {
            assert!(size_before < 400, "appended to a manifest of {size_before} bytes");
        }
    }
    assert!(manifests.len() > 3, "rolled over {} times", manifests.len() - 1);
    for &m in &manifests[..manifests.len() - 1] {
        fs.remove_file(&dir().join(manifest_file_name(m))).unwrap();
    }
    let rec = VersionSet::recover(fs.arc(), dir(), opts(400), true).unwrap();
    assert_eq!(*rec.current(), *set.current());
    assert_eq!(rec.last_sequence(), 40);
}

#[test]
fn missing_current_is_not_found() {
    let fs = sim();
    let err = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap_err();
    assert!(matches!(&err, Error::NotFound { file, .. } if file.ends_with("CURRENT")), "{err}");
}

#[test]
fn current_naming_a_missing_manifest_with_none_left_is_refused() {
    let fs = sim();
    let set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    fs.remove_file(&dir().join(manifest_file_name(set.manifest_number()))).unwrap();
    let err = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false).unwrap_err();
    assert!(matches!(&err, Error::Corruption { file, .. } if file.ends_with("CURRENT")), "{err}");
    assert!(err.to_string().contains("MANIFEST-000001, which does not exist"), "{err}");
    // Refused without writing: CURRENT still names the missing manifest, nothing was added.
    assert_eq!(fs.read_all(&dir().join("CURRENT")).unwrap().as_ref(), b"MANIFEST-000001\n");
    assert_eq!(fs.list(dir()).unwrap(), vec!["CURRENT".to_string()]);
}

#[test]
fn current_naming_a_missing_manifest_falls_back_to_the_newest() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    flush(&mut set, &fs, CfId::DEFAULT, 3);
    size_tables(&set, &fs);
    let live = set.manifest_number();
    drop(set);
    fs.write_atomic(&dir().join("CURRENT"), b"MANIFEST-000077\n").unwrap();
    let rec = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(rec.last_sequence(), 3);
    let r = rec.recovery().unwrap();
    assert_eq!(r.manifest_number, live);
    assert!(matches!(&r.source, ManifestSource::Listed { reason, .. } if reason.contains("MANIFEST-000077")), "{r:?}");
}

#[test]
fn manifest_naming_a_missing_table_is_not_found() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let n = flush(&mut set, &fs, CfId::DEFAULT, 3);
    fs.remove_file(&dir().join(table_file_name(n))).unwrap();
    let err = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap_err();
    assert!(matches!(&err, Error::NotFound { file, .. } if file.ends_with(table_file_name(n))), "{err}");
    assert!(err.to_string().contains(&table_file_name(n)), "{err}");
}

#[test]
fn malformed_current_falls_back_to_listing() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    flush(&mut set, &fs, CfId::DEFAULT, 5);
    size_tables(&set, &fs);
    let expected = (*set.current()).clone();
    drop(set);
    for bad in [&b""[..], b"MANIFEST-000001", b"MANIFEST-x\n", b"000001.sst\n", b"\xff\n"] {
        fs.write_atomic(&dir().join("CURRENT"), bad).unwrap();
        // Read-only: recovered in memory, nothing written.
        let rec = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
        assert_eq!(*rec.current(), expected, "{bad:?}");
        let source = &rec.recovery().unwrap().source;
        assert!(matches!(source, ManifestSource::Listed { reason, .. } if reason.contains("CURRENT")), "{source:?}");
        assert_eq!(fs.read_all(&dir().join("CURRENT")).unwrap().as_ref(), bad, "read-only wrote CURRENT");
    }
    // Read-write: CURRENT is rewritten to name the fresh manifest, and the next open uses it.
    let rw = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false).unwrap();
    let number = rw.manifest_number();
    drop(rw);
    let again = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(again.recovery().unwrap().source, ManifestSource::Current);
    assert_eq!(again.manifest_number(), number);
    assert_eq!(*again.current(), expected);
}

fn rewrite(fs: &dyn FileSystem, path: &std::path::Path, data: &[u8]) {
    let mut f = fs.create(path).unwrap();
    f.append(data).unwrap();
    f.sync().unwrap();
}

#[test]
fn torn_last_edit_is_dropped() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    flush(&mut set, &fs, CfId::DEFAULT, 1);
    let before = set.current();
    let size_before = set.manifest_size();
    flush(&mut set, &fs, CfId::DEFAULT, 2);
    let path = dir().join(manifest_file_name(set.manifest_number()));
    let bytes = fs.read_all(&path).unwrap();
    for cut in size_before as usize + 1..bytes.len() {
        rewrite(&fs, &path, &bytes[..cut]);
        let rec = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
        assert_eq!(*rec.current(), *before, "cut at {cut}");
        assert_eq!(rec.last_sequence(), 1);
    }
}

#[test]
fn corruption_before_the_tail_names_file_and_offset() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let first_end = set.manifest_size();
    flush(&mut set, &fs, CfId::DEFAULT, 1);
    flush(&mut set, &fs, CfId::DEFAULT, 2);
    let path = dir().join(manifest_file_name(set.manifest_number()));
    let mut bytes = fs.read_all(&path).unwrap().to_vec();
    // Flip a byte inside the second record (the first delta edit).
    let at = first_end as usize + 10;
    bytes[at] ^= 0x40;
    rewrite(&fs, &path, &bytes);
    let err = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap_err();
    match &err {
        Error::Corruption { file, offset, .. } => {
            assert!(file.ends_with("MANIFEST-000001"), "{err}");
            assert_eq!(*offset, first_end, "{err}");
        }
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn comparator_mismatch_is_refused() {
    let fs = sim();
    VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let mut other = opts(1 << 20);
    other.comparator = Arc::new(strata_base::BytewiseComparator);
    let err = VersionSet::recover(fs.arc(), dir(), other, true).unwrap_err();
    assert!(err.to_string().contains("comparator"), "{err}");
}

#[test]
fn create_new_refuses_an_existing_database() {
    let fs = sim();
    VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    assert!(matches!(VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)), Err(Error::AlreadyExists { .. })));
}

#[test]
fn bad_edits_are_invalid_argument_and_write_nothing() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let n = flush(&mut set, &fs, CfId::DEFAULT, 1);
    let size = set.manifest_size();
    let unallocated = FileNumber::new(set.next_file_number().get() + 5);
    let mut cases = Vec::new();
    let mut e = VersionEdit::new();
    e.delete_file(CfId::DEFAULT, 1, n);
    cases.push(e);
    let mut e = VersionEdit::new();
    e.add_file(CfId::DEFAULT, 2, meta(n, 1));
    cases.push(e);
    let mut e = VersionEdit::new();
    e.add_file(CfId::DEFAULT, 2, meta(unallocated, 1));
    cases.push(e);
    let mut e = VersionEdit::new();
    e.add_cf(CfId::DEFAULT, "again", "c");
    cases.push(e);
    let mut e = VersionEdit::new();
    e.drop_cf(CfId::new(9));
    cases.push(e);
    cases.push(VersionEdit { last_sequence: Some(0), ..VersionEdit::default() });
    // Two tables with the same key range in L1.
    let (m1, m2) = (set.new_file_number(), set.new_file_number());
    let mut e = VersionEdit::new();
    e.add_file(CfId::DEFAULT, 1, meta(m1, 1)).add_file(CfId::DEFAULT, 1, FileMeta { number: m2, ..meta(m1, 1) });
    cases.push(e);
    let reasons = [
        "not in level 1",
        "already in use",
        "not allocated",
        "already used",
        "does not exist",
        "below the current",
        "overlap",
    ];
    for (i, (e, why)) in cases.into_iter().zip(reasons).enumerate() {
        let r = set.log_and_apply(e);
        assert!(matches!(&r, Err(Error::InvalidArgument(m)) if m.contains(why)), "case {i}: {r:?}");
        assert_eq!(set.manifest_size(), size, "case {i} wrote to the manifest");
    }
    assert!(set.poisoned().is_none());
}

#[test]
fn held_versions_keep_their_tables_live() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let a = flush(&mut set, &fs, CfId::DEFAULT, 1);
    let pinned = set.current();
    let b = set.new_file_number();
    touch_table(&fs, b);
    let mut e = VersionEdit::new();
    e.delete_file(CfId::DEFAULT, 0, a).add_file(CfId::DEFAULT, 1, meta(b, 1));
    set.log_and_apply(e).unwrap();
    assert_eq!(set.current().table_numbers().into_iter().collect::<Vec<_>>(), vec![b]);
    assert_eq!(set.live_table_numbers().into_iter().collect::<Vec<_>>(), vec![a, b]);
    let names = fs.list(dir()).unwrap();
    let none = std::collections::BTreeSet::new();
    assert!(
        !set.obsolete_files(&names, &none, FileNumber::MAX, false).contains(&table_file_name(a)),
        "a pinned table is obsolete"
    );
    drop(pinned);
    assert_eq!(set.live_table_numbers().into_iter().collect::<Vec<_>>(), vec![b]);
    assert!(set.obsolete_files(&names, &none, FileNumber::MAX, false).contains(&table_file_name(a)));
    assert!(
        !set.obsolete_files(&names, &std::collections::BTreeSet::from([a]), FileNumber::MAX, false)
            .contains(&table_file_name(a))
    );
    // Many installs with nothing held: the weak list stays small.
    for s in 2..200 {
        set.log_and_apply(VersionEdit { last_sequence: Some(s), ..VersionEdit::default() }).unwrap();
    }
    assert_eq!(set.live_version_count(), 1);
}

/// Writes a manifest by hand: a snapshot of `set` followed by `delta`, and points CURRENT at it.
/// Returns the manifest number and the offset of the second record.
fn hand_written(fs: &dyn FileSystem, set: &VersionSet, delta: VersionEdit) -> (FileNumber, u64) {
    let snap = snapshot_edit(
        &set.current(),
        set.options().comparator.name(),
        FileNumber::new(0),
        FileNumber::new(set.next_file_number().get() + 1),
        3,
    );
    let number = set.next_file_number();
    write_manifest(fs, dir(), number, &[snap.clone(), delta]).unwrap();
    set_current(fs, dir(), number).unwrap();
    // The second record starts where a log holding only the snapshot ends.
    let mut w = strata_wal::LogWriter::new(fs.create(&dir().join("probe")).unwrap());
    let second = w.add_record(&snap.encode()).unwrap();
    (number, second)
}

#[test]
fn replayed_edit_that_does_not_fit_is_corruption_at_its_offset() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let n = flush(&mut set, &fs, CfId::DEFAULT, 1);
    let mut deletes_missing = VersionEdit::new();
    deletes_missing.delete_file(CfId::DEFAULT, 4, n);
    let mut duplicate = VersionEdit::new();
    duplicate.add_file(CfId::DEFAULT, 3, meta(n, 1));
    for (delta, why) in [(deletes_missing, "not in level 4"), (duplicate, "already in use")] {
        let (number, second) = hand_written(&fs, &set, delta);
        let err = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap_err();
        match &err {
            Error::Corruption { file, offset, reason } => {
                assert!(file.ends_with(manifest_file_name(number)), "{err}");
                assert_eq!(*offset, second, "{err}");
                assert!(reason.contains(why), "{err}");
            }
            other => panic!("expected corruption, got {other}"),
        }
    }
}

#[test]
fn fresh_manifest_for_a_pinned_version_opens_elsewhere() {
    // The checkpoint flow: snapshot_edit + write_manifest + set_current in a new directory.
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let mut e = VersionEdit::new();
    e.add_cf(set.next_cf_id(), "users", set.options().comparator.name());
    set.log_and_apply(e).unwrap();
    let tables = [flush(&mut set, &fs, CfId::DEFAULT, 4), flush(&mut set, &fs, CfId::new(1), 5)];
    let pinned = set.current();
    flush(&mut set, &fs, CfId::DEFAULT, 6);

    let other = std::path::Path::new("/copy");
    fs.create_dir_all(other).unwrap();
    for n in tables {
        fs.link(&dir().join(table_file_name(n)), &other.join(table_file_name(n))).unwrap();
    }
    let number = set.next_file_number();
    let snap = snapshot_edit(&pinned, set.options().comparator.name(), FileNumber::new(0), number.next(), 5);
    write_manifest(&fs, other, number, &[snap]).unwrap();
    set_current(&fs, other, number).unwrap();
    fs.crash();
    let copy = VersionSet::recover(fs.arc(), other, opts(1 << 20), false).unwrap();
    assert_eq!(*copy.current(), *pinned);
    assert_eq!(copy.last_sequence(), 5);
    assert_eq!(copy.next_cf_id(), CfId::new(2));
}

#[test]
fn absurd_counters_on_disk_are_corruption_not_overflow() {
    let fs = sim();
    let set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let snap = snapshot_edit(&set.current(), set.options().comparator.name(), FileNumber::new(0), FileNumber::MAX, 0);
    write_manifest(&fs, dir(), FileNumber::new(9), &[snap]).unwrap();
    set_current(&fs, dir(), FileNumber::new(9)).unwrap();
    let err = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false).unwrap_err();
    assert!(matches!(&err, Error::Corruption { reason, .. } if reason.contains("FILE_NUMBER_MAX")), "{err}");
    // A column family id at u32::MAX leaves no next id; adding one is refused, not a panic.
    let mut snap =
        snapshot_edit(&set.current(), set.options().comparator.name(), FileNumber::new(0), FileNumber::new(20), 0);
    snap.max_cf_id = Some(CfId::new(u32::MAX));
    write_manifest(&fs, dir(), FileNumber::new(10), &[snap]).unwrap();
    set_current(&fs, dir(), FileNumber::new(10)).unwrap();
    let mut rw = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false).unwrap();
    let mut e = VersionEdit::new();
    e.add_cf(rw.next_cf_id(), "x", "c");
    assert!(matches!(rw.log_and_apply(e), Err(Error::InvalidArgument(_))));
}

/// A manifest from before epochs (no EPOCH sub-field): recovery gives its tables epochs from
/// the recovered L0 order (newest L0 table the largest epoch, deeper tables 1), the rollover
/// writes them, and the next recovery reads the same version back.
#[test]
fn tables_without_epochs_get_them_from_their_recovered_order() {
    let fs = sim();
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
    let mut numbers = Vec::new();
    for seq in [5, 9, 7] {
        let n = set.new_file_number();
        touch_table(&fs, n);
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, FileMeta { epoch: 0, ..meta(n, seq) });
        set.log_and_apply(e).unwrap();
        numbers.push(n);
    }
    let deep = set.new_file_number();
    touch_table(&fs, deep);
    let mut e = VersionEdit::new();
    e.add_file(CfId::DEFAULT, 3, FileMeta { epoch: 0, ..meta(deep, 1) });
    set.log_and_apply(e).unwrap();
    drop(set);
    let rec = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false).unwrap();
    let cf = rec.current().cf(CfId::DEFAULT).unwrap().clone();
    let l0: Vec<(u64, u64)> = cf.levels[0].iter().map(|f| (f.largest_seq, f.epoch)).collect();
    assert_eq!(l0, vec![(9, 4), (7, 3), (5, 2)], "old order (largest sequence first) kept");
    assert_eq!(cf.levels[3][0].epoch, 1);
    assert_eq!(cf.next_epoch(), 5);
    drop(rec);
    let again = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(**again.current().cf(CfId::DEFAULT).unwrap(), *cf, "the rollover wrote the epochs");
}

#[test]
fn a_current_naming_a_number_at_file_number_max_is_corruption() {
    let fs = sim();
    fs.create_dir_all(dir()).unwrap();
    fs.write_atomic(&dir().join("CURRENT"), b"MANIFEST-4611686018427387904\n").unwrap();
    let err = read_current(&fs, dir()).unwrap_err();
    assert!(matches!(&err, Error::Corruption { reason, .. } if reason.contains("FILE_NUMBER_MAX")), "{err}");
    fs.write_atomic(&dir().join("CURRENT"), b"MANIFEST-4611686018427387903\n").unwrap();
    assert_eq!(read_current(&fs, dir()).unwrap(), FileNumber::new((1 << 62) - 1));
}
