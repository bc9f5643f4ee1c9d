//! Crash points: fail at every file-system operation of an edit, a rollover, an open and a
//! create, crash, recover; the state is the old one or the new one, never a mix.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, meta, opts, sim, touch_table};
use strata_base::{FileSystem, SimFs};
use strata_manifest::{CfId, FileNumber};
use strata_manifest::{Error, Version, VersionEdit, VersionSet};

/// What recovery must reproduce: the version and the counters an edit changes.
#[derive(Debug, Clone, PartialEq)]
struct State {
    version: Version,
    last_sequence: u64,
    log_number: FileNumber,
}

fn state(set: &VersionSet) -> State {
    State { version: (*set.current()).clone(), last_sequence: set.last_sequence(), log_number: set.log_number() }
}

/// A database with two column families and a few tables, under `limit`.
fn setup(fs: &SimFs, limit: u64) -> VersionSet {
    let mut set = VersionSet::create_new(fs.arc(), dir(), opts(limit)).unwrap();
    let id = set.next_cf_id();
    let mut e = VersionEdit::new();
    e.add_cf(id, "one", set.options().comparator.name());
    set.log_and_apply(e).unwrap();
    for (seq, cf) in [(5, CfId::DEFAULT), (6, id), (7, CfId::DEFAULT)] {
        let n = set.new_file_number();
        touch_table(fs, n);
        let mut e = VersionEdit::new();
        e.add_file(cf, 0, meta(n, seq));
        e.last_sequence = Some(seq);
        set.log_and_apply(e).unwrap();
    }
    set
}

/// A compaction-like edit: two L0 tables of CF 0 replaced by one L1 table, plus a CF drop and
/// new counters, so a partial application would be visible.
fn big_edit(set: &mut VersionSet, fs: &SimFs) -> VersionEdit {
    let cur = set.current();
    let l0: Vec<FileNumber> = cur.cf(CfId::DEFAULT).unwrap().levels[0].iter().map(|f| f.number).collect();
    let out = set.new_file_number();
    touch_table(fs, out);
    let mut e = VersionEdit::new();
    for n in l0 {
        e.delete_file(CfId::DEFAULT, 0, n);
    }
    e.add_file(CfId::DEFAULT, 1, meta(out, 7)).drop_cf(CfId::new(1));
    e.last_sequence = Some(9);
    e.log_number = Some(out);
    e
}

fn recover_ro(fs: &SimFs, limit: u64) -> VersionSet {
    VersionSet::recover(fs.arc(), dir(), opts(limit), true).unwrap()
}

/// Runs `scenario` with a failure at operation 0, 1, 2, ... of the step under test until the
/// step completes without reaching the fault. Returns how many operations the step took.
fn for_each_crash_point(limit: u64, step: impl Fn(&mut VersionSet, &SimFs, VersionEdit) -> Result<(), Error>) -> u64 {
    let mut saw_old = false;
    for n in 0.. {
        let fs = sim();
        let mut set = setup(&fs, limit);
        let edit = big_edit(&mut set, &fs);
        let old = state(&set);
        let new = State {
            version: old.version.apply(&edit, set.options().comparator.as_ref()).unwrap(),
            last_sequence: 9,
            log_number: edit.log_number.unwrap(),
        };
        let base = fs.op_count();
        fs.fail_after(Some(base + n));
        let result = step(&mut set, &fs, edit);
        let reached = fs.op_count() > base + n;
        drop(set);
        fs.crash();
        let rec = state(&recover_ro(&fs, limit));
        if result.is_ok() {
            assert_eq!(rec, new, "crash after a successful step at op {n} lost it");
        } else {
            assert!(rec == old || rec == new, "fault at op {n}: recovered a mix:\n{rec:#?}");
            saw_old |= rec == old;
        }
        // The recovered database is writable again.
        let mut rw = VersionSet::recover(fs.arc(), dir(), opts(limit), false).unwrap();
        assert_eq!(state(&rw), rec);
        rw.log_and_apply(VersionEdit { last_sequence: Some(100), ..VersionEdit::default() }).unwrap();
        if !reached {
            assert!(result.is_ok(), "step failed without reaching the fault: {result:?}");
            assert!(saw_old || n == 0, "no crash point produced the old state");
            return n;
        }
    }
    unreachable!()
}

#[test]
fn crash_during_an_edit_is_old_or_new() {
    let ops = for_each_crash_point(1 << 20, |set, _, e| set.log_and_apply(e).map(drop));
    // At least one append and one sync (the log writer may split a record into several appends).
    assert!(ops >= 2, "an edit took {ops} operations");
}

#[test]
fn crash_during_a_rollover_edit_is_old_or_new() {
    // A tiny limit: the edit under test rolls the manifest over.
    let ops = for_each_crash_point(64, |set, _, e| {
        let before = set.manifest_number();
        let r = set.log_and_apply(e).map(drop);
        if r.is_ok() {
            assert_ne!(set.manifest_number(), before, "the edit should have rolled over");
        }
        r
    });
    // create + append(s) + sync of the manifest, then CURRENT.tmp create + append + sync,
    // rename, directory sync.
    assert!(ops >= 8, "a rollover took {ops} operations");
}

#[test]
fn failed_write_poisons_the_set() {
    let fs = sim();
    let mut set = setup(&fs, 1 << 20);
    let edit = big_edit(&mut set, &fs);
    fs.fail_after(Some(fs.op_count()));
    assert!(matches!(set.log_and_apply(edit), Err(Error::Io { .. })));
    fs.fail_after(None);
    let r = set.log_and_apply(VersionEdit::new());
    assert!(matches!(r, Err(Error::Poisoned(_))), "{r:?}");
}

#[test]
fn crash_during_read_write_open_keeps_the_state() {
    let fs0 = sim();
    let expected = state(&setup(&fs0, 1 << 20));
    for n in 0.. {
        let fs = sim();
        drop(setup(&fs, 1 << 20));
        let base = fs.op_count();
        fs.fail_after(Some(base + n));
        let r = VersionSet::recover(fs.arc(), dir(), opts(1 << 20), false);
        let reached = fs.op_count() > base + n;
        drop(r);
        fs.crash();
        assert_eq!(state(&recover_ro(&fs, 1 << 20)), expected, "fault at op {n}");
        if !reached {
            break;
        }
    }
}

#[test]
fn crash_during_create_leaves_no_database_or_a_whole_one() {
    for n in 0.. {
        let fs = sim();
        fs.fail_after(Some(fs.op_count() + n));
        let r = VersionSet::create_new(fs.arc(), dir(), opts(1 << 20));
        let ok = r.is_ok();
        drop(r);
        fs.crash();
        match VersionSet::recover(fs.arc(), dir(), opts(1 << 20), true) {
            Ok(set) => assert_eq!(set.current().cfs().count(), 1, "fault at op {n}"),
            Err(Error::NotFound { file, .. }) => {
                assert!(!ok, "created, then lost at op {n}");
                assert!(file.ends_with("CURRENT"));
            }
            Err(e) => panic!("fault at op {n}: {e}"),
        }
        if ok {
            // Creating again over a crashed partial attempt works once CURRENT is absent.
            break;
        }
        if !fs.exists(&dir().join("CURRENT")) {
            VersionSet::create_new(fs.arc(), dir(), opts(1 << 20)).unwrap();
        }
    }
}
