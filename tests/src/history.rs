//! A deterministic write history for crash and fault tests, and the checks run after recovery.
//!
//! Batch `i` of a history is a pure function of `(seed, i)`: a few puts and deletes spread over
//! the default column family and a second one (`side`), plus a put of the *marker* key
//! `~seq = i` in the default column family. After a crash the marker tells which batch was the
//! last one kept, say `n - 1`; the database must then equal the model after batches `0..n`
//! exactly (every column family, every key): no holes, no partial batches, no stray data.
//!
//! Invariants: `History::ops` never changes for a given seed (tests print seeds to replay).
//!
//! Thread safety: plain values; nothing shared.

use std::collections::BTreeMap;
use strata::{ColumnFamily, Db, ReadOptions, WriteBatch};

/// The marker key written by every batch.
pub const MARKER_KEY: &[u8] = b"~seq";
/// The second column family a history writes to.
pub const SIDE_CF: &str = "side";

/// A small, fast, seedable generator (splitmix64); good enough to pick test inputs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// In the `side` column family (else the default one).
    pub side: bool,
    pub key: Vec<u8>,
    /// `None` is a delete.
    pub value: Option<Vec<u8>>,
}

/// The expected contents of both column families.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub default: BTreeMap<Vec<u8>, Vec<u8>>,
    pub side: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    pub fn apply(&mut self, ops: &[Op]) {
        for op in ops {
            let map = if op.side { &mut self.side } else { &mut self.default };
            match &op.value {
                Some(v) => map.insert(op.key.clone(), v.clone()),
                None => map.remove(&op.key),
            };
        }
    }
}

/// A deterministic history of batches; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct History {
    pub seed: u64,
    /// Distinct user keys per column family (small, so keys are overwritten and deleted).
    pub key_space: u64,
    /// Largest value length.
    pub value_len_max: u64,
}

impl History {
    pub fn new(seed: u64) -> Self {
        Self { seed, key_space: 400, value_len_max: 160 }
    }

    /// The operations of batch `i`, the marker put last.
    pub fn ops(&self, i: u64) -> Vec<Op> {
        let mut rng = Rng::new(self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ i);
        let n = 1 + rng.below(3);
        let mut ops = Vec::new();
        for j in 0..n {
            let key = format!("k{:05}", rng.below(self.key_space)).into_bytes();
            let roll = rng.below(10);
            let side = (1..=3).contains(&roll);
            let value = if roll == 0 {
                None
            } else {
                let len = 8 + rng.below(self.value_len_max) as usize;
                let mut v = format!("{i}:{j}:").into_bytes();
                let fill = b'a' + (rng.below(26) as u8);
                v.resize(len.max(v.len()), fill);
                Some(v)
            };
            ops.push(Op { side, key, value });
        }
        ops.push(Op { side: false, key: MARKER_KEY.to_vec(), value: Some(i.to_string().into_bytes()) });
        ops
    }

    /// Batch `i` as a `WriteBatch`.
    pub fn batch(&self, i: u64, side: &ColumnFamily) -> WriteBatch {
        let mut b = WriteBatch::new();
        for op in self.ops(i) {
            match (op.side, op.value) {
                (false, Some(v)) => b.put(&op.key, v),
                (false, None) => b.delete(&op.key),
                (true, Some(v)) => b.put_cf(side, &op.key, v),
                (true, None) => b.delete_cf(side, &op.key),
            }
        }
        b
    }

    /// The contents after batches `0..n`.
    pub fn model(&self, n: u64) -> Model {
        let mut m = Model::default();
        for i in 0..n {
            m.apply(&self.ops(i));
        }
        m
    }
}

/// The number of batches the database holds according to its marker (`last + 1`, 0 if none).
pub fn marker_count(db: &Db) -> u64 {
    match db.get(MARKER_KEY).expect("read marker") {
        None => 0,
        Some(v) => {
            let s = std::str::from_utf8(&v).expect("marker is UTF-8");
            s.parse::<u64>().expect("marker is a number") + 1
        }
    }
}

/// What a test knows about the writes made before a crash.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acked {
    /// Batches `0..durable` were acknowledged as durable (a synced write or a flush returned
    /// `Ok` after them).
    pub durable: u64,
    /// Batches `0..attempted` were submitted (the last ones may have failed).
    pub attempted: u64,
}

/// Checks that `db` holds exactly the model after some prefix `0..n` of `history` with
/// `acked.durable <= n <= acked.attempted`, in both column families, forwards and backwards.
/// Returns `n`. `ctx` is printed with every failure (seed, iteration).
pub fn check_prefix(db: &Db, history: &History, acked: Acked, ctx: &str) -> u64 {
    let n = marker_count(db);
    assert!(n >= acked.durable, "{ctx}: lost acknowledged writes: holds {n} batches, {} were durable", acked.durable);
    assert!(n <= acked.attempted, "{ctx}: holds {n} batches, only {} were written", acked.attempted);
    let model = history.model(n);
    let side = db.cf(SIDE_CF).unwrap_or_else(|| panic!("{ctx}: column family {SIDE_CF} is missing"));
    let ro = ReadOptions::default();
    let default = crate::dump_cf(db, &db.default_cf(), &ro);
    assert_maps_eq(&default, &model.default, &format!("{ctx}: default cf after {n} batches"));
    let side_got = crate::dump_cf(db, &side, &ro);
    assert_maps_eq(&side_got, &model.side, &format!("{ctx}: side cf after {n} batches"));
    let back = crate::dump_cf_backward(db, &side, &ro);
    assert_maps_eq(&back, &model.side, &format!("{ctx}: side cf backwards after {n} batches"));
    for (k, v) in model.default.iter().take(20) {
        let got = db.get(k).expect("get");
        assert_eq!(got.as_deref(), Some(&v[..]), "{ctx}: get {:?}", String::from_utf8_lossy(k));
    }
    n
}

/// Asserts two maps are equal, printing only the first difference (full dumps are huge).
pub fn assert_maps_eq(got: &BTreeMap<Vec<u8>, Vec<u8>>, want: &BTreeMap<Vec<u8>, Vec<u8>>, ctx: &str) {
    if got == want {
        return;
    }
    let show = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    for (k, v) in want {
        match got.get(k) {
            None => panic!("{ctx}: key {} missing ({} keys held, {} expected)", show(k), got.len(), want.len()),
            Some(g) if g != v => panic!("{ctx}: key {} = {:?}, expected {:?}", show(k), show(g), show(v)),
            _ => {}
        }
    }
    let extra = got.keys().find(|k| !want.contains_key(*k)).map(|k| show(k));
    panic!("{ctx}: unexpected key {extra:?} ({} keys held, {} expected)", got.len(), want.len());
}
