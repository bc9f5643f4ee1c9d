//! The largest key and value a write accepts survive every stage: memtable, WAL replay, flush
//! to a table, compaction and reopen. One byte more is `InvalidArgument`. Regression: a user key
//! of exactly `KEY_LEN_MAX` bytes used to pass the write check and then fail the flush, because
//! the table's key limit did not count the internal key's 8-byte trailer.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use strata::{Db, Error, Options, WriteBatch};
use strata_base::limits::{CF_NAME_LEN_MAX, KEY_LEN_MAX, VALUE_LEN_MAX};

#[test]
fn largest_key_and_value_survive_flush_compaction_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let key = vec![b'k'; KEY_LEN_MAX];
    let value = vec![b'v'; VALUE_LEN_MAX];
    let small_key = b"a".to_vec();
    {
        let db = Db::open(&dir, Options::default()).unwrap();
        db.put(&key, &value).unwrap();
        db.put(&small_key, &value[..10]).unwrap();
        db.close().unwrap();
    }
    // Replayed from the WAL, then flushed and compacted.
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.get(&key).unwrap().as_deref(), Some(&value[..]));
    db.flush().unwrap();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    assert_eq!(db.get(&key).unwrap().as_deref(), Some(&value[..]));
    db.close().unwrap();
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.get(&key).unwrap().as_deref(), Some(&value[..]));
    assert_eq!(db.get(&small_key).unwrap().as_deref(), Some(&value[..10]));
    db.close().unwrap();
}

#[test]
fn one_byte_over_a_limit_is_invalid_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path().join("db"), Options::default()).unwrap();
    let long_key = vec![b'k'; KEY_LEN_MAX + 1];
    assert!(matches!(db.put(&long_key, b"v"), Err(Error::InvalidArgument(_))));
    let mut b = WriteBatch::new();
    b.put(b"k", vec![0u8; VALUE_LEN_MAX + 1]);
    assert!(matches!(db.write(b, &Default::default()), Err(Error::InvalidArgument(_))));
    let name = "n".repeat(CF_NAME_LEN_MAX);
    db.create_cf(&name).unwrap();
    let too_long = "n".repeat(CF_NAME_LEN_MAX + 1);
    assert!(matches!(db.create_cf(&too_long), Err(Error::InvalidArgument(_))));
    db.close().unwrap();
}
