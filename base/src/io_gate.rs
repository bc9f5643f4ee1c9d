//! [`IoGate`]: keeps bulk table syncs from starting while a short, latency-sensitive sync phase
//! (a checkpoint's four fsyncs, an ingestion's links and manifest write) runs.
//!
//! A device cache flush (what every fsync ends with) waits for every write in flight, so a
//! checkpoint's fsyncs beside a compaction's 64 MiB table `fdatasync` wait for the whole table.
//! Table writers therefore sync their output in bounded pieces through the gate
//! ([`IoGate::piece`]): before each piece's sync they wait while a holder has the gate, and the
//! sync itself counts as one piece in flight (with `Options::background_flush_syncs` a flush's
//! runs on a helper thread while the flush writes the next piece, at most one per table:
//! `TableBuilder::sync_in_pieces`). A holder ([`IoGate::hold`]) closes the gate for its
//! sync phase only, without waiting for the pieces already in flight: its syncs then share the
//! disk with at most one piece per table writer. (Waiting for that piece as well measured worse:
//! docs/performance.md, "Checkpoints".)
//!
//! Invariants: the gate never skips or reorders a sync; it only delays the start of one. A
//! writer waits only at piece boundaries, never while holding a lock a holder may wait for (a
//! compaction holds `bg.compaction` shared, which no holder takes), and a holder holds it only
//! around its own syncs and never waits for a writer meanwhile, so the gate cannot take part in
//! a deadlock. Holders are not queued: a steady stream of overlapping holders (ingestions by
//! link in a loop from several threads) could keep table syncs waiting.
//!
//! Thread safety: shared by `Arc` between every table writer and every holder of one database.

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Default)]
struct GateState {
    /// Holders now (a count: checkpoints may overlap).
    holders: usize,
    /// Piece syncs running now.
    in_flight: usize,
    /// Writers (or their piece-sync helper threads) waiting for the gate to open (for tests and
    /// diagnostics).
    waiting: usize,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct IoGate {
    state: Mutex<GateState>,
    cv: Condvar,
}

/// Holds an [`IoGate`] closed until dropped.
#[derive(Debug)]
#[must_use = "the gate opens again as soon as the guard is dropped"]
pub struct IoGateGuard<'a> {
    gate: &'a IoGate,
}

impl IoGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits while a holder has the gate, then runs `sync` (one piece of a table's sync) as a
    /// piece in flight.
    pub fn piece<T>(&self, sync: impl FnOnce() -> T) -> T {
        {
            let mut st = self.state.lock();
            Self::wait_for_open(&self.cv, &mut st);
            st.in_flight += 1;
        }
        let out = sync();
        self.state.lock().in_flight -= 1;
        out
    }

    /// Waits while a holder has the gate (a writer, before it writes its next piece).
    pub fn wait_open(&self) {
        let mut st = self.state.lock();
        Self::wait_for_open(&self.cv, &mut st);
    }

    fn wait_for_open(cv: &Condvar, st: &mut parking_lot::MutexGuard<'_, GateState>) {
        if st.holders == 0 {
            return;
        }
        st.waiting += 1;
        while st.holders > 0 {
            cv.wait(st);
        }
        st.waiting -= 1;
    }

    /// Closes the gate until the guard is dropped: no new piece starts (pieces in flight
    /// finish meanwhile).
    pub fn hold(&self) -> IoGateGuard<'_> {
        self.state.lock().holders += 1;
        IoGateGuard { gate: self }
    }

    /// Whether a holder has the gate now (for tests and diagnostics).
    pub fn held(&self) -> bool {
        self.state.lock().holders > 0
    }

    /// Writers now waiting for the gate to open.
    pub fn waiting(&self) -> usize {
        self.state.lock().waiting
    }

    /// Piece syncs running now.
    pub fn in_flight(&self) -> usize {
        self.state.lock().in_flight
    }
}

impl Drop for IoGateGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.gate.state.lock();
        st.holders -= 1;
        if st.holders == 0 {
            self.gate.cv.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;

    /// Spins (yielding) until `cond` holds: a wait for a state, not a timing assertion.
    fn until(cond: impl Fn() -> bool) {
        while !cond() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_piece_waits_while_the_gate_is_held_and_runs_when_it_opens() {
        let gate = Arc::new(IoGate::new());
        let guard = gate.hold();
        let (tx, rx) = mpsc::channel();
        let g = Arc::clone(&gate);
        let writer = std::thread::spawn(move || g.piece(|| tx.send("synced").unwrap()));
        until(|| gate.waiting() == 1);
        assert!(rx.try_recv().is_err(), "the piece ran while the gate was held");
        drop(guard);
        assert_eq!(rx.recv().unwrap(), "synced");
        writer.join().unwrap();
        assert_eq!((gate.waiting(), gate.in_flight()), (0, 0));
    }

    #[test]
    fn a_holder_does_not_wait_for_the_piece_in_flight() {
        let gate = Arc::new(IoGate::new());
        let (started_tx, started_rx) = mpsc::channel();
        let (finish_tx, finish_rx) = mpsc::channel::<()>();
        let g = Arc::clone(&gate);
        let writer = std::thread::spawn(move || {
            g.piece(|| {
                started_tx.send(()).unwrap();
                finish_rx.recv().unwrap();
            });
            // The writer's next piece waits for the holder.
            g.piece(|| ());
        });
        started_rx.recv().unwrap();
        let guard = gate.hold();
        assert_eq!(gate.in_flight(), 1, "the holder got the gate beside the piece in flight");
        finish_tx.send(()).unwrap();
        until(|| gate.waiting() == 1);
        assert_eq!(gate.in_flight(), 0);
        drop(guard);
        writer.join().unwrap();
    }

    #[test]
    fn the_gate_reopens_after_the_last_holder() {
        let gate = IoGate::new();
        let a = gate.hold();
        let b = gate.hold();
        drop(a);
        assert_eq!(gate.state.lock().holders, 1);
        drop(b);
        gate.wait_open();
        assert_eq!(gate.piece(|| 7), 7);
    }
}
