//! The database identity (manifest tags 65 and 66): assigned at creation, kept across reopen and
//! rollover, assigned at the first read-write open of a manifest that lacks one (never by a
//! read-only open), refused in a caller's edit.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

mod common;

use common::{dir, opts, sim};
use std::sync::Arc;
use strata_base::FileSystem;
use strata_manifest::FileNumber;
use strata_manifest::{DbId, VersionEdit, VersionSet, snapshot_edit, write_manifest};

#[test]
fn identity_is_created_once_and_survives_reopen_and_rollover() {
    let fs = sim();
    let fsa: Arc<dyn FileSystem> = fs.arc();
    let set = VersionSet::create_new(fsa.clone(), dir(), opts(1 << 20)).unwrap();
    let id = set.db_id().unwrap();
    assert_eq!(set.parent_db_id(), None);
    drop(set);
    // A tiny size limit forces a rollover on every edit.
    let mut set = VersionSet::recover(fsa.clone(), dir(), opts(1), false).unwrap();
    assert_eq!(set.db_id(), Some(id));
    for s in 1..4 {
        set.log_and_apply(VersionEdit { last_sequence: Some(s), ..VersionEdit::default() }).unwrap();
    }
    drop(set);
    fs.crash();
    let ro = VersionSet::recover(fsa, dir(), opts(1), true).unwrap();
    assert_eq!(ro.db_id(), Some(id));
    assert_eq!(ro.last_sequence(), 3);
}

#[test]
fn legacy_manifest_gets_an_identity_at_first_read_write_open_only() {
    let fs = sim();
    let fsa: Arc<dyn FileSystem> = fs.arc();
    let set = VersionSet::create_new(fsa.clone(), dir(), opts(1 << 20)).unwrap();
    // A manifest written before identities existed: the same snapshot edit without tag 65.
    let edit =
        snapshot_edit(&set.current(), set.options().comparator.name(), FileNumber::new(0), FileNumber::new(100), 0);
    assert_eq!(edit.db_id, None);
    drop(set);
    write_manifest(&fs, dir(), FileNumber::new(50), &[edit]).unwrap();
    strata_manifest::set_current(&fs, dir(), FileNumber::new(50)).unwrap();

    let ro = VersionSet::recover(fsa.clone(), dir(), opts(1 << 20), true).unwrap();
    assert_eq!(ro.db_id(), None, "a read-only open writes nothing, so it assigns nothing");
    drop(ro);
    let rw = VersionSet::recover(fsa.clone(), dir(), opts(1 << 20), false).unwrap();
    let id = rw.db_id().expect("assigned at the first read-write open");
    drop(rw);
    let again = VersionSet::recover(fsa, dir(), opts(1 << 20), false).unwrap();
    assert_eq!(again.db_id(), Some(id), "assigned once, then kept");
}

#[test]
fn parent_identity_is_read_back_and_callers_cannot_set_identities() {
    let fs = sim();
    let fsa: Arc<dyn FileSystem> = fs.arc();
    let set = VersionSet::create_new(fsa.clone(), dir(), opts(1 << 20)).unwrap();
    let (me, parent) = (DbId::generate(), DbId::generate());
    let mut edit =
        snapshot_edit(&set.current(), set.options().comparator.name(), FileNumber::new(0), FileNumber::new(100), 0);
    edit.db_id = Some(me);
    edit.parent_db_id = Some(parent);
    drop(set);
    write_manifest(&fs, dir(), FileNumber::new(50), &[edit]).unwrap();
    strata_manifest::set_current(&fs, dir(), FileNumber::new(50)).unwrap();
    let mut rw = VersionSet::recover(fsa, dir(), opts(1 << 20), false).unwrap();
    assert_eq!((rw.db_id(), rw.parent_db_id()), (Some(me), Some(parent)));
    let bad = VersionEdit { db_id: Some(DbId::generate()), ..VersionEdit::default() };
    assert!(matches!(rw.log_and_apply(bad), Err(strata_manifest::Error::InvalidArgument(_))));
    assert_eq!(rw.db_id(), Some(me));
}
