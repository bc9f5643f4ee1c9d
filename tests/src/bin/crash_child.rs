//! The child process of `tests/tests/crash_kill_process.rs`: opens the database in the
//! directory given as its first argument and writes numbered batches forever, printing the
//! number of each synced (acknowledged) one on stdout, until the parent kills it with SIGKILL.
//!
//! `crash_child DIR START`: batch `i` (from `START`) puts `k{i:010}` = 200 × `x` in the default
//! column family and `k{i:010}` = `i` in `side`; every batch whose number is not a multiple of 3
//! is written with `sync: true` and then printed.
//!
//! Invariants: a number is printed only after its synced write returned `Ok`.
//!
//! Thread safety: one thread.

use std::io::Write as _;
use strata::{Db, Options, WriteBatch, WriteOptions};

/// The key of batch `i` (also used by the parent).
fn key(i: u64) -> Vec<u8> {
    format!("k{i:010}").into_bytes()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(start), None) = (args.next(), args.next(), args.next()) else {
        return Err("usage: crash_child DIR START (run by the crash_kill_process test)".into());
    };
    let start: u64 = start.parse()?;
    let opts = Options {
        write_buffer_size: 64 * 1024,
        target_file_size: 64 * 1024,
        level0_compaction_trigger: 2,
        max_bytes_for_level_base: 256 * 1024,
        ..Default::default()
    };
    let db = Db::open(&dir, opts)?;
    let cf = match db.cf("side") {
        Some(cf) => cf,
        None => db.create_cf("side")?,
    };
    let value = vec![b'x'; 200];
    let mut stdout = std::io::stdout().lock();
    let mut i = start;
    loop {
        let mut b = WriteBatch::new();
        b.put(key(i), &value);
        b.put_cf(&cf, key(i), i.to_string());
        let sync = !i.is_multiple_of(3);
        db.write(b, &WriteOptions { sync, ..Default::default() })?;
        if sync {
            // Only synced writes are acknowledged as durable.
            writeln!(stdout, "{i}")?;
            stdout.flush()?;
        }
        i += 1;
    }
}
