//! Database identity through the engine: stable across reopen, read-only opens see it, a
//! checkpoint gets a new identity that records its parent's.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]

use strata::{Db, Options, SimFs};
use strata_checkpoint::Checkpoint;

fn opts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), ..Options::default() }
}

#[test]
fn identity_is_stable_and_checkpoints_get_their_own() {
    let sim = SimFs::new();
    let db = Db::open("/db", opts(&sim)).unwrap();
    let id = db.identity().unwrap();
    assert_eq!(db.parent_identity(), None);
    db.put("k", "v").unwrap();
    Checkpoint::new(&db).create("/cp").unwrap();
    drop(db);
    let db = Db::open("/db", opts(&sim)).unwrap();
    assert_eq!(db.identity(), Some(id), "reopen keeps the identity");
    drop(db);
    let ro = Db::open_read_only("/db", opts(&sim)).unwrap();
    assert_eq!(ro.identity(), Some(id));
    let cp = Db::open_read_only("/cp", opts(&sim)).unwrap();
    let cp_id = cp.identity().unwrap();
    assert_ne!(cp_id, id, "a checkpoint's history diverges: new identity");
    assert_eq!(cp.parent_identity(), Some(id));
    drop(cp);
    let cp = Db::open("/cp", opts(&sim)).unwrap();
    assert_eq!((cp.identity(), cp.parent_identity()), (Some(cp_id), Some(id)), "kept through a read-write open");
    assert_eq!(cp.live_files(false).unwrap().db_id, Some(cp_id));
}
