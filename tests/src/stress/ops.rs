//! The deterministic write stream of one stress thread and the model it builds.
//!
//! Write `n` (counting from 1) of thread `t` is [`op_at`]`(shape, t, n)`; the value it puts
//! into a key is [`value`]`(cf, t, idx, n)`, so a model only needs to remember, per key, the
//! number of the write that last put it.
//!
//! Invariants: `op_at` and `value` are pure functions of their arguments; the keys of an
//! `Ingest` are strictly increasing; the keys of thread `t` all start with `{t:02}/`.
//!
//! Thread safety: plain data.

use super::rng::{Rng, hash};
use std::collections::BTreeMap;

/// The stressed column families (the marker family [`META_CF`] is apart).
pub const CFS: [&str; 3] = ["default", "cf1", "cf2"];
/// The column family holding each thread's marker: the number of its last write.
pub const META_CF: &str = "meta";

/// What every participant must agree on to generate and check the same stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Seed of the operation stream.
    pub seed: u64,
    /// Number of writer threads (each owns its keys).
    pub threads: u32,
    /// Keys per thread per column family.
    pub keys: u32,
}

/// One write of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Put one key.
    Put { cf: usize, idx: u32 },
    /// Delete one key.
    Delete { cf: usize, idx: u32 },
    /// An atomic batch across column families: `(cf, idx, is_put)`, applied in order.
    Batch(Vec<(usize, u32, bool)>),
    /// Ingest one built table into `cf`: `(idx, is_put)` with `idx` strictly increasing.
    Ingest { cf: usize, entries: Vec<(u32, bool)> },
}

/// Percentage of writes that are ingests (kept low: each one builds and links two files).
pub const INGEST_PCT: u64 = 2;

/// The key of index `idx` of thread `t`.
pub fn key(t: u32, idx: u32) -> Vec<u8> {
    format!("{t:02}/{idx:05}").into_bytes()
}

/// The marker key of thread `t` in [`META_CF`].
pub fn marker_key(t: u32) -> Vec<u8> {
    format!("marker/{t:02}").into_bytes()
}

/// The value write `n` of thread `t` puts into key `idx` of column family `cf`: names all
/// four so a misplaced value is recognised, plus 0..255 bytes of padding.
pub fn value(cf: usize, t: u32, idx: u32, n: u64) -> Vec<u8> {
    let mut v = format!("v|{cf}|{t}|{idx}|{n}|").into_bytes();
    let pad = (hash(&[cf as u64, t as u64, idx as u64, n]) % 256) as usize;
    v.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, pad));
    v
}

/// Write `n` (from 1) of thread `t`.
pub fn op_at(shape: &Shape, t: u32, n: u64) -> Op {
    let mut r = Rng::new(hash(&[shape.seed, t as u64, n]));
    let cf = r.below(CFS.len() as u64) as usize;
    let idx = r.below(shape.keys as u64) as u32;
    match r.below(100) {
        x if x < INGEST_PCT => {
            let count = 1 + r.below(24) as u32;
            let start = r.below(shape.keys as u64) as u32;
            let step = 1 + r.below(3) as u32;
            let entries = (0..count)
                .map(|i| start + i * step)
                .take_while(|&i| i < shape.keys)
                .map(|i| (i, !r.percent(20)))
                .collect();
            Op::Ingest { cf, entries }
        }
        x if x < 50 => Op::Put { cf, idx },
        x if x < 65 => Op::Delete { cf, idx },
        _ => {
            let len = 2 + r.below(6);
            Op::Batch(
                (0..len)
                    .map(|_| {
                        let cf = r.below(CFS.len() as u64) as usize;
                        (cf, r.below(shape.keys as u64) as u32, !r.percent(25))
                    })
                    .collect(),
            )
        }
    }
}

/// The keys of one thread: per column family, key index -> number of the write that last put
/// it (absent: never written or deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub cfs: Vec<BTreeMap<u32, u64>>,
}

impl Model {
    /// An empty model.
    pub fn new() -> Model {
        Model { cfs: vec![BTreeMap::new(); CFS.len()] }
    }

    /// Applies write `n`.
    pub fn apply(&mut self, op: &Op, n: u64) {
        let mut set = |cf: usize, idx: u32, put: bool| {
            if put {
                self.cfs[cf].insert(idx, n);
            } else {
                self.cfs[cf].remove(&idx);
            }
        };
        match op {
            Op::Put { cf, idx } => set(*cf, *idx, true),
            Op::Delete { cf, idx } => set(*cf, *idx, false),
            Op::Batch(entries) => entries.iter().for_each(|&(cf, idx, put)| set(cf, idx, put)),
            Op::Ingest { cf, entries } => entries.iter().for_each(|&(idx, put)| set(*cf, idx, put)),
        }
    }

    /// The value key `idx` of `cf` must hold, for thread `t`.
    pub fn expected(&self, cf: usize, t: u32, idx: u32) -> Option<Vec<u8>> {
        self.cfs[cf].get(&idx).map(|&n| value(cf, t, idx, n))
    }

    /// The `(key, value)` pairs of `cf` with index in `lo..hi`, in key order.
    pub fn range(&self, cf: usize, t: u32, lo: u32, hi: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.cfs[cf].range(lo..hi.max(lo)).map(|(&idx, &n)| (key(t, idx), value(cf, t, idx, n))).collect()
    }
}

/// The model of thread `t` after writes `1..=upto`.
pub fn replay(shape: &Shape, t: u32, upto: u64) -> Model {
    let mut m = Model::new();
    for n in 1..=upto {
        m.apply(&op_at(shape, t, n), n);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_deterministic_and_ingests_are_sorted() {
        let shape = Shape { seed: 3, threads: 2, keys: 50 };
        let mut kinds = [0usize; 4];
        for n in 1..5000 {
            let op = op_at(&shape, 1, n);
            assert_eq!(op, op_at(&shape, 1, n));
            let kind = match &op {
                Op::Put { .. } => 0,
                Op::Delete { .. } => 1,
                Op::Batch(_) => 2,
                Op::Ingest { entries, .. } => {
                    assert!(!entries.is_empty());
                    assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
                    3
                }
            };
            kinds[kind] += 1;
        }
        assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
    }

    #[test]
    fn replay_matches_step_by_step_application() {
        let shape = Shape { seed: 9, threads: 1, keys: 20 };
        let mut m = Model::new();
        for n in 1..300 {
            m.apply(&op_at(&shape, 0, n), n);
        }
        assert_eq!(m, replay(&shape, 0, 299));
    }
}
