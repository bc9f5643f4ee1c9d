//! The oracle of reads that race a write to the same keys: the set of legal results.
//!
//! A reader that does not wait for the owner of the keys knows two numbers: `r0`, the owner's
//! last write finished before the read began (its model is taken then), and `n1`, the owner's
//! last write started when the read returned. Every write `k <= r0` is visible, no write
//! `k > n1` can be, and a read sees one state (a get reads one sequence number, an iterator
//! pins one), so the result must equal the model after some write `k` in `r0..=n1`; the writes
//! in between are the deterministic stream ([`op_at`]), so each candidate state is computable.
//!
//! Invariants: `legal_state` never accepts a result that no state in `r0..=n1` produces.
//!
//! Thread safety: pure functions over plain data.

use super::ops::{Model, Shape, op_at};

/// The first `k` in `r0..=n1` such that `matches` accepts the model after write `k` of thread
/// `t` (`base` is the model after `r0`); `None` if no state in the window matches.
pub fn legal_state(
    shape: &Shape,
    t: u32,
    base: &Model,
    (r0, n1): (u64, u64),
    matches: impl Fn(&Model) -> bool,
) -> Option<u64> {
    let mut state = base.clone();
    if matches(&state) {
        return Some(r0);
    }
    for k in r0 + 1..=n1 {
        state.apply(&op_at(shape, t, k), k);
        if matches(&state) {
            return Some(k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::ops::{CFS, replay};

    #[test]
    fn a_racing_read_may_see_any_state_in_the_window_and_nothing_else() {
        let shape = Shape { seed: 11, threads: 1, keys: 8 };
        let base = replay(&shape, 0, 20);
        let (r0, n1) = (20, 24);
        for k in r0..=n1 {
            let seen = replay(&shape, 0, k);
            assert!(legal_state(&shape, 0, &base, (r0, n1), |m| *m == seen).is_some(), "state {k}");
        }
        // A state from before the window (a lost write) or after it (a write not yet begun) is
        // refused unless it happens to equal one in the window.
        let in_window: Vec<Model> = (r0..=n1).map(|k| replay(&shape, 0, k)).collect();
        for k in (0..r0).chain(n1 + 1..n1 + 30) {
            let seen = replay(&shape, 0, k);
            let found = legal_state(&shape, 0, &base, (r0, n1), |m| *m == seen);
            assert_eq!(found.is_some(), in_window.contains(&seen), "state {k}");
        }
        // Per key: the value a get may return.
        let found = legal_state(&shape, 0, &base, (r0, n1), |m| m.expected(0, 0, 3) == base.expected(0, 0, 3));
        assert_eq!(found, Some(r0));
        assert_eq!(CFS.len(), base.cfs.len());
    }
}
