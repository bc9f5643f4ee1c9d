//! Crash test with a real process: a child writes numbered keys with `sync: true` and prints
//! each acknowledged number; the parent kills it with SIGKILL at a random moment, reopens the
//! database, and checks that every acknowledged key is present and that the database holds a
//! prefix of the writes (no holes). 20 cycles by default; `STRATA_CRASH_CYCLES` for more.
//! The child is its own binary (tests/src/bin/crash_child.rs), not a test, so no normal run
//! passes an empty child entry.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strata::{Db, Options};

/// The child process (tests/src/bin/crash_child.rs), built by cargo for this test.
const CHILD_EXE: &str = env!("CARGO_BIN_EXE_crash_child");

fn key(i: u64) -> Vec<u8> {
    format!("k{i:010}").into_bytes()
}

#[test]
fn crash_kill_process_keeps_every_acknowledged_write() {
    let cycles: u64 = std::env::var("STRATA_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let mut next_start = 0u64;
    let mut seed = 0x1234_5678_9abc_def0u64;
    for cycle in 0..cycles {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let run_ms = 30 + seed % 250;
        let mut child = Command::new(CHILD_EXE)
            .arg(&dir)
            .arg(next_start.to_string())
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
