//! Transfers of many files at once: [`for_each_bounded`] runs one job per file on up to
//! `parallelism` threads and hands each result to the calling thread, which keeps the
//! progress count (so the callback sees files and bytes only grow, and always from the thread
//! that called the repository).
//!
//! Invariants: at most `parallelism` jobs run at once; `done` runs on the calling thread, one
//! result at a time, in completion order; after the first error (a job's, or `done`'s, e.g. a
//! progress callback cancelling) no new job starts, the running ones finish, and that first
//! error is returned: the caller then removes what was half made, exactly as after a
//! sequential failure. With `parallelism` 1 the jobs run in order on the calling thread.
//!
//! Thread safety: jobs run on scoped threads, so they may borrow the caller's data (`Sync`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use strata::Result;

/// Runs `job(i)` for every `i` in `0..n`, at most `parallelism` at once, and `done(i, output)`
/// on the calling thread for each success. See the module docs.
pub(crate) fn for_each_bounded<T: Send>(
    n: usize,
    parallelism: usize,
    job: impl Fn(usize) -> Result<T> + Sync,
    mut done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let workers = parallelism.min(n);
    if workers <= 1 {
        for i in 0..n {
            done(i, job(i)?)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<T>)>();
    std::thread::scope(|scope| {
        // However the calling thread leaves (an error, or a panic out of `done`), no new job starts.
        let _stop_on_exit = StopOnDrop(&stop);
        for _ in 0..workers {
            let tx = tx.clone();
            let (job, next, stop) = (&job, &next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let out = job(i);
                    if out.is_err() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if tx.send((i, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        // Ends once every worker has finished (each holds a sender).
        for (i, out) in rx {
            let step = out.and_then(|t| if first_err.is_none() { done(i, t) } else { Ok(()) });
            if let Err(e) = step {
                stop.store(true, Ordering::SeqCst);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    })
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use parking_lot::{Condvar, Mutex};
    use std::time::Duration;
    use strata::Error;

    /// Every job waits (bounded) until `want` jobs are running at once; returns whether they were.
    struct Rendezvous {
        running: Mutex<(usize, usize)>,
        cv: Condvar,
    }

    impl Rendezvous {
        fn meet(&self, want: usize) -> bool {
            let mut g = self.running.lock();
            g.0 += 1;
            g.1 = g.1.max(g.0);
            self.cv.notify_all();
            let met = !self.cv.wait_while_for(&mut g, |g| g.1 < want, Duration::from_secs(20)).timed_out();
            g.0 -= 1;
            met
        }
    }

    #[test]
    fn several_jobs_run_at_once_and_results_come_back_to_the_caller() {
        let r = Rendezvous { running: Mutex::new((0, 0)), cv: Condvar::new() };
        let caller = std::thread::current().id();
        let mut seen = Vec::new();
        for_each_bounded(
            12,
            4,
            |i| Ok((i, r.meet(4))),
            |i, (j, met)| {
                assert_eq!(std::thread::current().id(), caller);
                assert_eq!(i, j);
                assert!(met, "job {i} never saw 4 jobs running at once");
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
        assert_eq!(r.running.lock().1, 4, "never more than the bound");
    }

    #[test]
    fn the_first_error_is_returned() {
        let started = AtomicUsize::new(0);
        let err = for_each_bounded(
            1000,
            3,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                if i == 5 { Err(Error::InvalidArgument(format!("job {i} failed"))) } else { Ok(i) }
            },
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("job 5 failed"), "{err}");
        assert!(started.load(Ordering::SeqCst) >= 6);
    }

    #[test]
    fn a_cancelling_done_is_called_once_and_sequential_mode_keeps_order() {
        let mut calls = 0;
        let err = for_each_bounded(1000, 2, Ok, |_, _| {
            calls += 1;
            Err(Error::Cancelled("stop".into()))
        })
        .unwrap_err();
        assert!(matches!(err, Error::Cancelled(_)));
        assert_eq!(calls, 1, "no result is reported after a cancel");
        let mut order = Vec::new();
        for_each_bounded(5, 1, Ok, |i, _| {
            order.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }
}
