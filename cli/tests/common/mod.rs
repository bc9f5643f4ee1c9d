//! Helpers of the `strata` binary's tests: run it as a subprocess, make real databases.
#![allow(dead_code, reason = "each test file uses a subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use strata::{Db, Options, WriteBatch, WriteOptions};

/// What one run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs `strata ARGS` with stdout and stderr on pipes.
pub fn strata(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .stdin(Stdio::null())
        .env_remove("TERM")
        .output()
        .expect("run strata");
    finish(out)
}

/// Runs `strata ARGS` with `env` set (and no other `AWS_*` variable of the caller's).
pub fn strata_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let out =
        cmd.args(args).envs(env.iter().copied()).stdin(Stdio::null()).env_remove("TERM").output().expect("run strata");
    finish(out)
}

/// Runs and expects exit 0.
pub fn ok(args: &[&str]) -> Run {
    let r = strata(args);
    assert_eq!(r.code, 0, "strata {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Keys in the sample database: `user:000` .. `user:199` in `default` (flushed to a table),
/// `m:1` = `{"admin":true}` in column family `meta`, and `late:1` = `unflushed` only in the WAL.
pub const USERS: usize = 200;

pub fn user_key(i: usize) -> String {
    format!("user:{i:03}")
}

pub fn make_db(dir: &Path) {
    let db = Db::open(dir, Options::default()).unwrap();
    let meta = db.create_cf("meta").unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..USERS {
        batch.put(user_key(i), format!("value-{i}"));
    }
    batch.put_cf(&meta, b"m:1", b"{\"admin\":true}");
    db.write(batch, &WriteOptions { sync: true, ..Default::default() }).unwrap();
    db.flush().unwrap();
    db.put_opt(&WriteOptions { sync: true, ..Default::default() }, b"late:1", b"unflushed").unwrap();
    db.close().unwrap();
}

/// The table files of a database directory, sorted.
pub fn tables(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    v.sort();
    v
}

/// The WAL files of a database directory, sorted.
pub fn wals(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Writes `n` JSON lines `{"key": "k000123", "value": "v123"}`, in reverse order so that the
/// writer has to sort them.
pub fn write_jsonl(path: &Path, n: usize) {
    let mut s = String::new();
    for i in (0..n).rev() {
        s.push_str(&format!("{{\"key\":\"k{i:06}\",\"value\":\"v{i}\"}}\n"));
    }
    std::fs::write(path, s).unwrap();
}

/// Runs `strata ARGS` with the progress test hook pausing at the library's first progress call,
/// sends SIGINT once it paused, and returns the exit code and stderr. Deterministic: the
/// command waits in its callback until the Ctrl-C handler has set its flag.
pub fn interrupted_at_first_step(args: &[&str]) -> (i32, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("STRATA_CLI_TEST_PAUSE_AT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strata");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        seen.push_str(&line);
        assert!(n > 0, "{args:?} ended before pausing:\n{seen}");
        if line.contains("test hook: paused") {
            break;
        }
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    stderr.read_to_string(&mut seen).unwrap();
    (status.code().expect("exited, not killed"), seen)
}

/// Opens `dir` for writing in this process. Another test's child process can hold an inherited
/// copy of the LOCK descriptor between its fork and its exec (flock follows the descriptor), so
/// a reopen right after `close` may briefly see the lock held: retry until that window passed.
pub fn open_writer(dir: &Path) -> Db {
    let mut attempts = 0;
    loop {
        match Db::open(dir, Options::default()) {
            Err(strata::Error::Locked(_)) if attempts < 200 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            r => break r.unwrap(),
        }
    }
}
