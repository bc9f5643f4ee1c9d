//! Point reads from tables for keys on both sides of the inline lookup-key limit (the engine
//! builds a lookup key of up to 64 bytes on the stack and allocates a longer one), with older
//! versions visible to a snapshot, deletes, and absent neighbours of every key.

use std::sync::Arc;
use strata::{Db, Options, ReadOptions};
use strata_base::SimFs;

fn key(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

#[test]
fn short_and_long_keys_read_back_from_tables_at_every_version() {
    let opts = Options { fs: Some(Arc::new(SimFs::new())), ..Options::default() };
    let db = Db::open("/db", opts).expect("open");
    let lens = [1usize, 7, 8, 9, 16, 55, 56, 57, 64, 100, 300];
    for &len in &lens {
        db.put(key(len, len as u8), b"old").expect("put");
    }
    db.flush().expect("flush");
    let snap = db.snapshot();
    for (i, &len) in lens.iter().enumerate() {
        if i % 3 == 0 {
            db.delete(key(len, len as u8)).expect("delete");
        } else {
            db.put(key(len, len as u8), format!("new{len}")).expect("put");
        }
    }
    db.flush().expect("flush");
    let at_snap = ReadOptions { snapshot: Some(&snap), ..ReadOptions::default() };
    for (i, &len) in lens.iter().enumerate() {
        let k = key(len, len as u8);
        let now = db.get(&k).expect("get");
        let expected = (i % 3 != 0).then(|| format!("new{len}").into_bytes());
        assert_eq!(now.as_deref(), expected.as_deref(), "key of {len} bytes");
        assert_eq!(db.get_opt(&at_snap, &k).expect("get").as_deref(), Some(&b"old"[..]), "snapshot, {len} bytes");
        let mut after = k.clone();
        after.push(0);
        assert_eq!(db.get(&after).expect("get"), None, "absent neighbour of the {len}-byte key");
        assert_eq!(db.get(&k[..len - 1]).expect("get"), None, "absent prefix of the {len}-byte key");
    }
}
