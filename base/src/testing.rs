//! Whitebox kill points: named places in the engine where a crash test may have the process
//! killed with SIGKILL, to prove that a crash at exactly that step (a table written but not yet
//! in the manifest, a manifest written but not yet named by `CURRENT`, ..) recovers.
//!
//! [`kill_point`] is an empty inline function unless the `kill-points` feature is on, so a
//! release build pays nothing. With the feature on, the environment chooses the point:
//! `STRATA_KILL_POINT=<name>` and `STRATA_KILL_AFTER=<n>` (default 1) kill the process at the
//! `n`-th time any thread reaches `<name>`. The process prints `KILL_POINT <name> <n>` on
//! stderr, then has `kill -9` sent to itself and blocks the calling thread until it dies (the
//! other threads keep running for those few milliseconds, as they would at a random kill).
//!
//! Invariants: a point never changes what the code does when it is not the chosen one; the
//! names are listed in [`KILL_POINTS`] (the crash-test driver draws from that list).
//!
//! Thread safety: the hit counter is atomic; any thread may reach any point.

/// Every kill point placed in the engine and the checkpoint crate, in the order of the
/// life-cycle step they interrupt.
pub const KILL_POINTS: &[&str] = &[
    // Flush: tables written and the directory synced, before the manifest edit.
    "flush.tables_written",
    // Flush: edit logged and installed, before obsolete WAL files are deleted.
    "flush.edit_logged",
    // Compaction: outputs written and synced, before the edit installing them.
    "compaction.outputs_written",
    // Compaction: edit installed, before the inputs are deleted.
    "compaction.installed",
    // Manifest rollover: new manifest written, before CURRENT names it.
    "manifest.rollover_written",
    // Manifest rollover: CURRENT switched, before the old manifest is deleted.
    "manifest.rollover_current_set",
    // Checkpoint: half of the tables linked into the temporary directory.
    "checkpoint.links_midway",
    // Checkpoint: every file in place, before the checkpoint's manifest and CURRENT.
    "checkpoint.before_manifest",
    // Ingestion: files linked or copied into the database, before the manifest edit.
    "ingest.staged",
    // Ingestion: edit logged, before the sources of a move are unlinked.
    "ingest.edit_logged",
    // Repository snapshot: begin committed, half of the tables stored.
    "repo.snapshot_midway",
    // Repository snapshot: every file stored, before the complete commit.
    "repo.snapshot_before_complete",
    // Savepoint: part of the chunks written to the temporary file.
    "savepoint.chunks_midway",
    // Savepoint: file and directory synced, before the rename into place.
    "savepoint.before_rename",
    // Repository restore: part of the files linked or copied into the temporary sibling.
    "repo.restore_midway",
    // Repository restore: manifest, CURRENT and directory synced, before the rename into place.
    "repo.restore_before_rename",
    // Export of a bundle: part of the files in the temporary sibling.
    "repo.export_midway",
    // Export of a bundle: files, metadata and directory synced, before the rename into place.
    "repo.export_before_rename",
    // Import of a bundle into a new directory: part of the files in the temporary sibling.
    "repo.import_midway",
    // Import of a bundle into a new directory: all synced, before the rename into place.
    "repo.import_before_rename",
    // Import into an open database (new families): tables linked into the database, before
    // the manifest edit that adds the families.
    "import.staged",
    // Repository delete (also retain): `deleting` committed, before the sweep.
    "repo.delete_committed",
    // Repository sweep (delete, retain, gc): half of the candidate tables moved to trash/.
    "repo.sweep_midway",
    // Repository sweep: tables put back or deleted, before `forget` is committed.
    "repo.sweep_before_forget",
    // Savepoint restore: about half of the chunks applied to the temporary sibling.
    "savepoint.restore_midway",
    // Savepoint restore: built and synced, before the rename into place.
    "savepoint.restore_before_rename",
];

/// Kills the process here if the environment chose this point (only with the `kill-points`
/// feature; otherwise does nothing and compiles to nothing).
#[cfg(not(feature = "kill-points"))]
#[inline(always)]
pub fn kill_point(_name: &'static str) {}

/// Kills the process here if the environment chose this point (only with the `kill-points`
/// feature; otherwise does nothing and compiles to nothing).
#[cfg(feature = "kill-points")]
pub fn kill_point(name: &'static str) {
    armed::hit(name)
}

/// [`kill_point`] `name` when `done` of `total` steps are done and that is half of them
/// (rounded up): called once per step, it fires once per pass, midway (after the only step
/// when there is one).
#[inline(always)]
pub fn kill_point_midway(done: usize, total: usize, name: &'static str) {
    if done == total.div_ceil(2) && done > 0 {
        kill_point(name);
    }
}

#[cfg(feature = "kill-points")]
mod armed {
    use std::io::Write as _;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The chosen point and hit count, read once from the environment.
    fn chosen() -> Option<&'static (String, u64)> {
        static CHOSEN: OnceLock<Option<(String, u64)>> = OnceLock::new();
        CHOSEN
            .get_or_init(|| {
                let name = std::env::var("STRATA_KILL_POINT").ok().filter(|n| !n.is_empty())?;
                let after = std::env::var("STRATA_KILL_AFTER").ok().and_then(|n| n.parse().ok()).unwrap_or(1u64);
                Some((name, after.max(1)))
            })
            .as_ref()
    }

    static HITS: AtomicU64 = AtomicU64::new(0);

    pub(super) fn hit(name: &'static str) {
        let Some((chosen, after)) = chosen() else { return };
        if chosen != name {
            return;
        }
        let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
        if n != *after {
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "KILL_POINT {name} {n}");
        let pid = std::process::id().to_string();
        // NB: SIGKILL, not `abort()`: nothing of the process runs after this, as in a real kill.
        // A `kill` child keeps this safe Rust (no `unsafe` for `libc::kill`).
        let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "test code: a failure is the test failing")]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut names: Vec<&str> = KILL_POINTS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KILL_POINTS.len());
        assert!(KILL_POINTS.iter().all(|n| n.contains('.') && !n.contains(' ')));
    }

    /// Run by `a_chosen_point_kills_the_process_with_sigkill_at_its_nth_hit` in a child
    /// process with the environment set; on its own (no environment) it returns.
    #[test]
    #[ignore = "the child half of a kill-point test"]
    fn kill_point_child() {
        for _ in 0..5 {
            kill_point("flush.edit_logged");
            kill_point("flush.tables_written");
        }
        // Reached only if the point did not fire.
        eprintln!("KILL_POINT_CHILD_SURVIVED");
    }

    #[cfg(feature = "kill-points")]
    #[test]
    fn a_chosen_point_kills_the_process_with_sigkill_at_its_nth_hit() {
        use std::os::unix::process::ExitStatusExt as _;
        let me = std::env::current_exe().expect("current_exe");
        let run = |point: &str, after: &str| {
            std::process::Command::new(&me)
                .args(["--ignored", "--exact", "testing::tests::kill_point_child", "--nocapture", "--test-threads=1"])
                .env("STRATA_KILL_POINT", point)
                .env("STRATA_KILL_AFTER", after)
                .output()
                .expect("spawn the test binary")
        };
        let out = run("flush.tables_written", "3");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(9), "{err}");
        assert!(err.contains("KILL_POINT flush.tables_written 3"), "{err}");
        assert!(!err.contains("SURVIVED"), "{err}");
        // A point reached fewer times than asked never fires.
        let out = run("flush.tables_written", "6");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("KILL_POINT_CHILD_SURVIVED"), "{err}");
    }

    #[test]
    fn an_unchosen_point_does_nothing() {
        // No STRATA_KILL_POINT in the test environment (or another name): the call returns.
        kill_point("flush.tables_written");
    }
}
