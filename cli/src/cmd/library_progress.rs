//! Progress callbacks handed to the library (repositories, savepoints) that draw the command's
//! bar and cancel on Ctrl-C.
//!
//! The library calls the callback after each file (repository) or chunk (savepoint); the
//! callback moves the bar and answers "stop" once Ctrl-C was pressed. The library then fails
//! with `Error::Cancelled` after removing what it half made (a temporary sibling, or a failed
//! snapshot that `gc` removes), and `output::engine_error` turns that into exit 130.
//!
//! A test hook, `STRATA_CLI_TEST_PAUSE_AT=N`, makes the callback stop at its N-th call, print
//! `strata: test hook: paused` on stderr and wait until Ctrl-C arrives: a test can interrupt a
//! command at a known point without racing it. Unset, it costs one lookup per command.
//!
//! Invariants: a callback never blocks unless the hook is set; once it has answered "stop" it
//! keeps answering "stop".
//!
//! Thread safety: the callbacks are `Send + Sync` (savepoint restores call them from worker
//! threads); the bar is an `indicatif` bar, itself thread-safe; the call counter is atomic.

use crate::output::interrupted;
use crate::progress::Task;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_checkpoint::SavepointProgress;
use strata_checkpoint::repo::{Progress as RepoProgress, ProgressEvent};

/// The environment variable of the test hook.
pub const PAUSE_ENV: &str = "STRATA_CLI_TEST_PAUSE_AT";

/// The most the hook waits for Ctrl-C before letting the command go on.
const PAUSE_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(120);

/// Counts calls and applies the test hook; `true` means go on.
#[derive(Debug)]
struct Gate {
    calls: AtomicU64,
    pause_at: Option<u64>,
}

impl Gate {
    fn new() -> Self {
        Self { calls: AtomicU64::new(0), pause_at: std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse().ok()) }
    }

    fn go_on(&self) -> bool {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.pause_at == Some(n) {
            eprintln!("strata: test hook: paused");
            let start = std::time::Instant::now();
            while !interrupted() && start.elapsed() < PAUSE_WAIT_MAX {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        !interrupted()
    }
}

/// A repository progress callback drawing `task` (bytes).
pub fn repo(task: &Task) -> RepoProgress {
    let task = task.clone();
    let gate = Gate::new();
    RepoProgress::new(move |e: &ProgressEvent| {
        let what = format!("{}/{} files, {}/{} bytes", e.files_done, e.files_total, e.bytes_done, e.bytes_total);
        task.report(e.bytes_done, e.bytes_total, &what);
        gate.go_on()
    })
}

/// A savepoint progress callback drawing `task`: chunks against the total when the library
/// knows it (restore), a running count otherwise (create).
pub fn savepoint(task: &Task) -> Arc<strata_checkpoint::savepoint::ProgressFn> {
    let task = task.clone();
    let gate = Gate::new();
    Arc::new(move |p: &SavepointProgress| {
        let what = format!("{} chunks, {} entries, {} bytes", p.chunks_done, p.entries, p.bytes);
        if p.chunks_total > 0 {
            task.report(p.chunks_done, p.chunks_total, &what);
        } else {
            task.step(&what);
        }
        if gate.go_on() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })
}
