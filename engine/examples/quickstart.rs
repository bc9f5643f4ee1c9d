//! Strata's main job, end to end: open a database, write 100,000 keys in batches across two
//! column families, read some back, iterate a range, checkpoint it, write more, open the
//! checkpoint read-only and show it holds exactly the state at checkpoint time, print stats.
//!
//! Run: `cargo run --release --example quickstart [-- <dir>]` (default: a temporary directory).

use std::time::Instant;
use strata::{Db, Options, ReadOptions, WriteBatch, WriteOptions};
use strata_checkpoint::Checkpoint;

const KEYS: u64 = 100_000;
const BATCH: u64 = 1_000;

fn key(i: u64) -> String {
    format!("user:{i:08}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let root = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    let db_dir = root.join("db");
    let cp_dir = root.join("checkpoint");
    let started = Instant::now();

    let db = Db::open(&db_dir, Options::default())?;
    let meta = match db.cf("meta") {
        Some(cf) => cf,
        None => db.create_cf("meta")?,
    };
    println!("opened {} with column families {:?}", db_dir.display(), db.cf_names());

    let t = Instant::now();
    for start in (0..KEYS).step_by(BATCH as usize) {
        let mut batch = WriteBatch::new();
        for i in start..start + BATCH {
            batch.put(key(i), format!("value-{i}"));
            batch.put_cf(&meta, key(i), format!("{{\"len\":{}}}", format!("value-{i}").len()));
        }
        db.write(batch, &WriteOptions::default())?;
    }
    db.put_opt(&WriteOptions { sync: true, ..Default::default() }, b"last-batch", KEYS.to_string())?;
    println!("wrote {} keys in 2 column families in {:.0?}", KEYS * 2, t.elapsed());

    for i in [0, 4_242, KEYS - 1] {
        let v = db.get(key(i))?.ok_or("key missing")?;
        let m = db.get_cf(&meta, key(i))?.ok_or("meta key missing")?;
        println!("get {} = {} / {}", key(i), String::from_utf8_lossy(&v), String::from_utf8_lossy(&m));
    }
    let in_range: Vec<_> = db.range(key(500).as_bytes()..key(505).as_bytes()).collect::<Result<_, _>>()?;
    println!("range [{}, {}) holds {} keys, first {:?}", key(500), key(505), in_range.len(), in_range[0].0);

    // Checkpoint, then keep writing to the source.
    let info = Checkpoint::new(&db).create(&cp_dir)?;
    println!(
        "checkpoint at sequence {} in {:.1?}: {} tables linked, {} copied ({} bytes)",
        info.sequence, info.duration, info.linked_files, info.copied_files, info.copied_bytes
    );
    db.put(key(0), b"changed after the checkpoint")?;
    db.put(b"new-key", b"after")?;
    db.delete(key(1))?;

    let cp = Db::open_read_only(&cp_dir, Options::default())?;
    let cp_meta = cp.cf("meta").ok_or("checkpoint lacks the meta column family")?;
    assert_eq!(cp.sequence(), info.sequence);
    assert_eq!(cp.get(key(0))?.as_deref(), Some(&b"value-0"[..]));
    assert!(cp.get(b"new-key")?.is_none());
    assert!(cp.get(key(1))?.is_some());
    assert!(cp.get_cf(&cp_meta, key(KEYS - 1))?.is_some());
    let mut it = cp.iter(&ReadOptions::default())?;
    it.seek_to_first();
    let mut n = 0u64;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status()?;
    assert_eq!(n, KEYS + 1, "the checkpoint holds exactly the keys written before it");
    println!("checkpoint opened read-only: {n} keys in default, source has moved on to sequence {}", db.sequence());
    println!("source now reads {:?} for {}", db.get(key(0))?.map(|v| String::from_utf8_lossy(&v).into_owned()), key(0));

    db.flush()?;
    println!("{}", db.property("strata.stats").unwrap_or_default());
    println!("done in {:.1?}", started.elapsed());
    Ok(())
}
