//! Usage errors (exit 2 with a usage line), `--help` with examples on every command, and
//! progress: a bar drawn to 100% under a pseudo-terminal (`script` from util-linux), plain
//! lines with `--progress=plain`, and no escape code at all on a pipe.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use common::*;
use std::process::Command;

#[test]
fn bad_arguments_exit_2_with_a_usage_line() {
    for args in [
        vec!["db"],
        vec!["db", "get"],
        vec!["db", "frobnicate", "/tmp"],
        vec!["sst", "verify"],
        vec!["db", "scan", "/tmp", "--limit", "many"],
        vec!["db", "get", "/tmp", "k", "--key-format", "octal"],
        vec!["--progress", "sometimes", "db", "stats", "/tmp"],
        vec!["sst", "write", "x.sst"],
        vec!["ingest", "/tmp"],
        vec!["ingest", "/tmp", "a.sst", "--move", "--link"],
        vec!["repo"],
        vec!["repo", "restore", "/tmp/r", "1"],
        vec!["repo", "snapshot", "/tmp/r", "/tmp/d", "--label", "novalue"],
        vec!["repo", "retain", "/tmp/r", "--keep-within", "forever"],
        vec!["savepoint"],
        vec!["savepoint", "restore", "/tmp/sp", "/tmp/t", "--method", "magic"],
    ] {
        let r = strata(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("Usage: strata"), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
    // A value that parses as an argument but not in its format: also usage, one line.
    let dir = tempfile::tempdir().unwrap();
    make_db(dir.path());
    let r = strata(&["db", "get", p(dir.path()), "--key-format", "hex", "xyz"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("not hex"), "{}", r.stderr);
    let r = strata(&["--json", "db", "get", p(dir.path()), "--key-format", "hex", "xyz"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"]["kind"], "usage");
}

#[test]
fn every_command_has_help_with_examples() {
    let commands: &[&[&str]] = &[
        &[],
        &["db"],
        &["sst"],
        &["wal"],
        &["manifest"],
        &["db", "stats"],
        &["db", "get"],
        &["db", "put"],
        &["db", "delete"],
        &["db", "scan"],
        &["db", "count"],
        &["db", "compact"],
        &["db", "flush"],
        &["db", "checkpoint"],
        &["sst", "dump"],
        &["sst", "verify"],
        &["sst", "write"],
        &["wal", "dump"],
        &["manifest", "dump"],
        &["ingest"],
        &["repo"],
        &["repo", "init"],
        &["repo", "snapshot"],
        &["repo", "list"],
        &["repo", "show"],
        &["repo", "verify"],
        &["repo", "restore"],
        &["repo", "export"],
        &["repo", "import"],
        &["repo", "delete"],
        &["repo", "retain"],
        &["repo", "gc"],
        &["savepoint"],
        &["savepoint", "create"],
        &["savepoint", "verify"],
        &["savepoint", "inspect"],
        &["savepoint", "restore"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let r = ok(&args);
        assert!(r.stdout.contains("Examples:"), "{c:?} --help has no examples:\n{}", r.stdout);
        assert!(r.stdout.contains("Usage: strata"), "{c:?}");
    }
}

/// Runs `strata ARGS` under a pseudo-terminal with `script`, returning what the terminal got.
fn under_pty(args: &[&str]) -> String {
    let mut cmd = env!("CARGO_BIN_EXE_strata").to_string();
    for a in args {
        cmd.push_str(&format!(" '{a}'"));
    }
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux) runs the command under a pseudo-terminal; install util-linux");
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_gets_a_bar_that_ends_at_100_percent_and_a_pipe_gets_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    write_jsonl(&input, 50_000);

    let out = dir.path().join("tty.sst");
    let screen = under_pty(&["sst", "write", p(&out), "--from", p(&input)]);
    assert!(screen.contains('\x1b'), "no escape codes: not drawn as a bar:\n{screen:?}");
    assert!(screen.contains("write table"), "{screen:?}");
    assert!(screen.contains("100%"), "the bar never reached 100%:\n{screen:?}");
    assert!(screen.contains("50,000/50,000") || screen.contains("50000/50000"), "{screen:?}");
    assert!(screen.contains("[=============================="), "a full bar is drawn:\n{screen:?}");
    let verify = under_pty(&["sst", "verify", p(&out)]);
    assert!(verify.contains("100%") && verify.contains('\x1b'), "{verify:?}");

    // On a pipe: nothing on stderr, and no escape code anywhere.
    let piped = dir.path().join("pipe.sst");
    let r = ok(&["sst", "write", p(&piped), "--from", p(&input)]);
    assert!(r.stderr.is_empty(), "{:?}", r.stderr);
    assert!(!r.stdout.contains('\x1b'), "{:?}", r.stdout);
    let r = ok(&["sst", "verify", p(&piped), p(&out)]);
    assert!(r.stderr.is_empty() && !r.stdout.contains('\x1b'));

    // Plain: one line per step, no escape code, even under a terminal.
    let plain = dir.path().join("plain.sst");
    let screen = under_pty(&["--progress", "plain", "sst", "write", p(&plain), "--from", p(&input)]);
    assert!(!screen.contains('\x1b'), "{screen:?}");
    assert!(
        screen.contains("write table: started (50000 items)") && screen.contains("write table: done"),
        "{screen:?}"
    );
    let r = ok(&["--progress", "plain", "sst", "verify", p(&plain), p(&piped)]);
    assert!(!r.stderr.contains('\x1b'));
    assert_eq!(r.stderr.lines().filter(|l| l.ends_with(": ok")).count(), 2, "{}", r.stderr);
    // --progress none under a terminal: nothing drawn.
    let quiet = dir.path().join("quiet.sst");
    let screen = under_pty(&["--progress", "none", "sst", "write", p(&quiet), "--from", p(&input)]);
    assert!(!screen.contains('\x1b') && !screen.contains('%'), "{screen:?}");
}

/// The library's progress callback drives the bar: `repo verify` and `repo restore` under a
/// terminal end at 100%; on a pipe nothing is drawn; plain mode prints lines without escapes.
#[test]
fn repository_commands_draw_a_bar_through_the_library_callback() {
    let db = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    make_db(db.path());
    let repo = work.path().join("repo");
    ok(&["repo", "init", p(&repo)]);
    ok(&["repo", "snapshot", p(&repo), p(db.path())]);
    let screen = under_pty(&["repo", "verify", p(&repo)]);
    assert!(screen.contains('\x1b') && screen.contains("verify snapshot 1"), "{screen:?}");
    assert!(screen.contains("100%"), "{screen:?}");
    let screen = under_pty(&["repo", "restore", p(&repo), "1", p(&work.path().join("r1"))]);
    assert!(screen.contains("restore") && screen.contains("100%"), "{screen:?}");
    let r = ok(&["repo", "restore", p(&repo), "1", p(&work.path().join("r2"))]);
    assert!(r.stderr.is_empty() && !r.stdout.contains('\x1b'), "{r:?}");
    let r = ok(&["--progress", "plain", "repo", "restore", p(&repo), "1", p(&work.path().join("r3"))]);
    assert!(!r.stderr.contains('\x1b'), "{:?}", r.stderr);
    assert!(r.stderr.contains("restore: started") && r.stderr.contains("restore: done"), "{}", r.stderr);
    assert!(r.stderr.lines().any(|l| l.starts_with("restore: ") && l.contains(" files, ")), "{}", r.stderr);
}

/// Ctrl-C during `sst write`: exit 130, no table and no temporary file left. Deterministic: the
/// input is a FIFO, so the command is blocked reading it while the test interrupts it and
/// waits for the handler's acknowledgement; only then is the input completed.
#[test]
fn ctrl_c_stops_sst_write_and_leaves_nothing_behind() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.jsonl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = dir.path().join("out.sst");
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["sst", "write", p(&out), "--from", p(&fifo)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Opening a FIFO for writing returns once the reader opened it, which the command does
    // after installing its Ctrl-C handler.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"{\"key\":\"a\",\"value\":\"1\"}\n").unwrap();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("stopping at the next safe point"), "{line}");
    for i in 0..5000 {
        w.write_all(format!("{{\"key\":\"k{i}\",\"value\":\"v\"}}\n").as_bytes()).unwrap();
    }
    drop(w);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("in.jsonl")], "nothing but the input is left");
}
