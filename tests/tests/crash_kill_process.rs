//! Crash test with a real process: a child writes numbered keys with `sync: true` and prints
//! each acknowledged number; the parent kills it with SIGKILL at a random moment, reopens the
//! database, and checks that every acknowledged key is present and that the database holds a
//! prefix of the writes (no holes). 20 cycles by default; `STRATA_CRASH_CYCLES` for more.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strata::{Db, Options, WriteBatch, WriteOptions};

const CHILD_ENV: &str = "STRATA_CRASH_CHILD_DIR";

fn key(i: u64) -> Vec<u8> {
    format!("k{i:010}").into_bytes()
}

/// The child: runs only when re-executed by the parent with `CHILD_ENV` set.
#[test]
fn crash_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let start: u64 = std::env::var("STRATA_CRASH_START").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let opts = Options {
        write_buffer_size: 64 * 1024,
        target_file_size: 64 * 1024,
        level0_compaction_trigger: 2,
        max_bytes_for_level_base: 256 * 1024,
        ..Default::default()
    };
    let db = Db::open(&dir, opts).expect("child open");
    let cf = match db.cf("side") {
        Some(cf) => cf,
        None => db.create_cf("side").expect("create cf"),
    };
    let value = vec![b'x'; 200];
    let mut stdout = std::io::stdout().lock();
    let mut i = start;
    loop {
        let mut b = WriteBatch::new();
        b.put(key(i), &value);
        b.put_cf(&cf, key(i), i.to_string());
        let sync = !i.is_multiple_of(3);
        db.write(b, &WriteOptions { sync, ..Default::default() }).expect("child write");
        if sync {
            // Only synced writes are acknowledged as durable.
            use std::io::Write;
            writeln!(stdout, "{i}").expect("stdout");
            stdout.flush().expect("flush stdout");
        }
        i += 1;
    }
}

#[test]
fn crash_kill_process_keeps_every_acknowledged_write() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let cycles: u64 = std::env::var("STRATA_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let exe = std::env::current_exe().unwrap();
    let mut next_start = 0u64;
    let mut seed = 0x1234_5678_9abc_def0u64;
    for cycle in 0..cycles {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let run_ms = 30 + seed % 250;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .env("STRATA_CRASH_START", next_start.to_string())
            .stdout(Stdio::piped())
            // The child's stderr goes to a file, shown if it never acknowledges (a panic there
            // would otherwise surface only as "never acknowledged").
            .stderr(std::fs::File::create(tmp.path().join("child.stderr")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(n) = line.trim().parse::<u64>() {
                    let _ = tx.send(n);
                }
            }
        });
        // Wait for the first acknowledgement (the child is up), then a random while more.
        let first = rx.recv_timeout(Duration::from_secs(60));
        assert!(
            first.is_ok(),
            "cycle {cycle}: child never acknowledged a write; its stderr:\n{}",
            std::fs::read_to_string(tmp.path().join("child.stderr")).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_millis(run_ms);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        reader.join().unwrap();
        let acked: Vec<u64> = std::iter::once(first.unwrap()).chain(rx.try_iter()).collect();
        let max_acked = *acked.iter().max().unwrap();

        let db = Db::open(&dir, Options::default()).unwrap();
        let side = db.cf("side").expect("side cf survives");
        // Every acknowledged write is present...
        for &n in &acked {
            assert!(db.get(key(n)).unwrap().is_some(), "cycle {cycle}: acknowledged key {n} lost");
            assert_eq!(db.get_cf(&side, key(n)).unwrap().as_deref(), Some(n.to_string().as_bytes()));
        }
        // ...and the database holds a prefix of the writes: no holes, and both column families
        // agree (each batch is atomic).
        let mut it = db.iter(&Default::default()).unwrap();
        it.seek_to_first();
        let mut expect = 0u64;
        while it.valid() {
            assert_eq!(it.key(), key(expect).as_slice(), "cycle {cycle}: hole before key {expect}");
            expect += 1;
            it.next();
        }
        it.status().unwrap();
        assert!(expect > max_acked, "cycle {cycle}: recovered {expect} keys but {max_acked} was acknowledged");
        for n in 0..expect {
            assert!(db.get_cf(&side, key(n)).unwrap().is_some(), "cycle {cycle}: batch {n} half applied");
        }
        assert!(
            db.get_cf(&side, key(expect)).unwrap().is_none(),
            "cycle {cycle}: side cf has a write the default lacks"
        );
        next_start = expect;
        db.close().unwrap();
    }
}
