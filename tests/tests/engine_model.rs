//! Model-based tests of the engine: random operation sequences run against a real `Db` (RealFs,
//! tempdir, small options so flushes and compactions happen) and against a `BTreeMap` model per
//! column family, with a cloned model per live snapshot and per open iterator. Every read (get,
//! multi_get, cursor moves, `range`, `prefix`, full dumps both ways) is compared with the model.
//!
//! Also two deterministic tests: compactions really move files below L0 and drop dead entries,
//! and a 20k-key overwrite/delete regression across flush, compaction and reopen.
//!
//! `PROPTEST_CASES` overrides the number of random cases (default 64).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use strata::{ColumnFamily, Db, DbIterator, ReadOptions, Snapshot, WriteBatch, WriteOptions};
use strata_tests::{dump_cf, dump_cf_backward, level_file_counts, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Column families of every case: index 0 is `default`.
const CF_NAMES: [&str; 3] = ["default", "a", "b"];
const MAX_SNAPSHOTS: usize = 4;
const MAX_HELD_ITERS: usize = 3;
/// Alphabet of the key space: keys are the empty key and every string of 1 to 3 of these bytes
/// (85 keys), so overwrites, deletes and prefixes collide, and 0x00/0xff edges are covered.
const ALPHABET: [u8; 4] = [0x00, b'a', b'b', 0xff];
const NUM_KEYS: usize = 1 + 4 + 16 + 64;

fn key_of(mut i: usize) -> Vec<u8> {
    let mut len = 0;
    let mut span = 1;
    while i >= span {
        i -= span;
        len += 1;
        span *= ALPHABET.len();
    }
    (0..len).map(|d| ALPHABET[(i / ALPHABET.len().pow(d)) % ALPHABET.len()]).collect()
}

#[derive(Debug, Clone)]
enum Move {
    Next,
    Prev,
    Seek(Vec<u8>),
    SeekForPrev(Vec<u8>),
    First,
    Last,
}

#[derive(Debug, Clone)]
struct IterSpec {
    cf: usize,
    /// Index (modulo the live count) of the snapshot to read at; `None` reads the latest state.
    snap: Option<usize>,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    moves: Vec<Move>,
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        cf: usize,
        key: Vec<u8>,
        len: usize,
    },
    Delete {
        cf: usize,
        key: Vec<u8>,
    },
    /// `None` value length: a delete.
    Batch(Vec<(usize, Vec<u8>, Option<usize>)>),
    Get {
        cf: usize,
        key: Vec<u8>,
        snap: Option<usize>,
    },
    MultiGet {
        cf: usize,
        keys: Vec<Vec<u8>>,
        snap: Option<usize>,
    },
    /// Creates an iterator, moves it; with `write_between`, writes that key of the same column
    /// family after the first move (the iterator must not see it).
    Iterate {
        spec: IterSpec,
        write_between: Option<(Vec<u8>, bool)>,
    },
    /// Creates an iterator kept open across later operations (flushes, compactions, writes).
    HoldIter(IterSpec),
    MoveHeld {
        idx: usize,
        moves: Vec<Move>,
    },
    DropHeld(usize),
    Range {
        cf: usize,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
    },
    Prefix(Vec<u8>),
    Dump {
        cf: usize,
        snap: Option<usize>,
    },
    TakeSnapshot,
    ReleaseSnapshot(usize),
    Flush,
    CompactRange {
        cf: usize,
        begin: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
    },
    Reopen,
}

fn key_s() -> impl Strategy<Value = Vec<u8>> {
    (0..NUM_KEYS).prop_map(key_of)
}

fn len_s() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 3 => 1..16usize, 3 => 900..1100usize]
}

fn cf_s() -> impl Strategy<Value = usize> {
    0..CF_NAMES.len()
}

fn snap_s() -> impl Strategy<Value = Option<usize>> {
    prop::option::weighted(0.4, 0..MAX_SNAPSHOTS)
}

fn move_s() -> impl Strategy<Value = Move> {
    prop_oneof![
        6 => Just(Move::Next),
        4 => Just(Move::Prev),
        1 => key_s().prop_map(Move::Seek),
        1 => key_s().prop_map(Move::SeekForPrev),
        1 => Just(Move::First),
        1 => Just(Move::Last),
    ]
}

fn start_s() -> impl Strategy<Value = Move> {
    prop_oneof![key_s().prop_map(Move::Seek), key_s().prop_map(Move::SeekForPrev), Just(Move::First), Just(Move::Last),]
}

fn spec_s() -> impl Strategy<Value = IterSpec> {
    (
        cf_s(),
        snap_s(),
        prop::option::weighted(0.3, key_s()),
        prop::option::weighted(0.3, key_s()),
        start_s(),
        prop::collection::vec(move_s(), 0..20),
    )
        .prop_map(|(cf, snap, lower, upper, start, rest)| {
            let mut moves = vec![start];
            moves.extend(rest);
            IterSpec { cf, snap, lower, upper, moves }
        })
}

fn bound_s() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![Just(Bound::Unbounded), key_s().prop_map(Bound::Included), key_s().prop_map(Bound::Excluded),]
}

fn op_s() -> impl Strategy<Value = Op> {
    let batch_op = (cf_s(), key_s(), prop::option::weighted(0.7, len_s()));
    prop_oneof![
        30 => (cf_s(), key_s(), len_s()).prop_map(|(cf, key, len)| Op::Put { cf, key, len }),
        10 => (cf_s(), key_s()).prop_map(|(cf, key)| Op::Delete { cf, key }),
        8 => prop::collection::vec(batch_op, 1..12).prop_map(Op::Batch),
        10 => (cf_s(), key_s(), snap_s()).prop_map(|(cf, key, snap)| Op::Get { cf, key, snap }),
        4 => (cf_s(), prop::collection::vec(key_s(), 0..10), snap_s())
            .prop_map(|(cf, keys, snap)| Op::MultiGet { cf, keys, snap }),
        10 => (spec_s(), prop::option::weighted(0.3, (key_s(), any::<bool>())))
            .prop_map(|(spec, write_between)| Op::Iterate { spec, write_between }),
        2 => spec_s().prop_map(Op::HoldIter),
        4 => (0..MAX_HELD_ITERS, prop::collection::vec(move_s(), 1..10))
            .prop_map(|(idx, moves)| Op::MoveHeld { idx, moves }),
        1 => (0..MAX_HELD_ITERS).prop_map(Op::DropHeld),
        4 => (cf_s(), bound_s(), bound_s()).prop_map(|(cf, lo, hi)| Op::Range { cf, lo, hi }),
        3 => prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..3).prop_map(Op::Prefix),
        2 => (cf_s(), snap_s()).prop_map(|(cf, snap)| Op::Dump { cf, snap }),
        3 => Just(Op::TakeSnapshot),
        2 => (0..MAX_SNAPSHOTS).prop_map(Op::ReleaseSnapshot),
        2 => Just(Op::Flush),
        2 => (cf_s(), prop::option::of(key_s()), prop::option::of(key_s()))
            .prop_map(|(cf, begin, end)| Op::CompactRange { cf, begin, end }),
        1 => Just(Op::Reopen),
    ]
}

// ---- the model's view of a cursor ----

fn in_bounds(k: &[u8], lower: Option<&[u8]>, upper: Option<&[u8]>) -> bool {
    lower.is_none_or(|l| k >= l) && upper.is_none_or(|u| k < u)
}

/// Where a cursor over `map` (bounds `lower` inclusive, `upper` exclusive) is after `mv`,
/// starting from `pos` (`None`: not valid).
fn model_move(map: &Map, lower: Option<&[u8]>, upper: Option<&[u8]>, pos: Option<&[u8]>, mv: &Move) -> Option<Vec<u8>> {
    let ok = |k: &Vec<u8>| in_bounds(k, lower, upper);
    let first_from = |t: &[u8]| {
        let t = match lower {
            Some(l) if t < l => l,
            _ => t,
        };
        map.range::<[u8], _>((Bound::Included(t), Bound::Unbounded)).next().map(|(k, _)| k.clone()).filter(ok)
    };
    let last_to = |t: Bound<&[u8]>| {
        let end = match (t, upper) {
            (Bound::Unbounded, None) => Bound::Unbounded,
            (Bound::Unbounded, Some(u)) => Bound::Excluded(u),
            (Bound::Included(t), Some(u)) if t >= u => Bound::Excluded(u),
            (t, _) => t,
        };
        map.range::<[u8], _>((Bound::Unbounded, end)).next_back().map(|(k, _)| k.clone()).filter(ok)
    };
    match mv {
        Move::Seek(t) => first_from(t),
        Move::SeekForPrev(t) => last_to(Bound::Included(t)),
        Move::First => first_from(&[]),
        Move::Last => last_to(Bound::Unbounded),
        Move::Next => {
            let p = pos?;
            map.range::<[u8], _>((Bound::Excluded(p), Bound::Unbounded)).next().map(|(k, _)| k.clone()).filter(ok)
        }
        Move::Prev => last_to(Bound::Excluded(pos?)),
    }
}

fn engine_move(it: &mut DbIterator, mv: &Move) {
    match mv {
        Move::Next => it.next(),
        Move::Prev => it.prev(),
        Move::Seek(t) => it.seek(t),
        Move::SeekForPrev(t) => it.seek_for_prev(t),
        Move::First => it.seek_to_first(),
        Move::Last => it.seek_to_last(),
    }
}

/// An iterator with the model state it must show and the model cursor position.
struct Held {
    it: DbIterator,
    map: Map,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    pos: Option<Vec<u8>>,
}

impl Held {
    fn step(&mut self, mv: &Move, ctx: &str) -> Result<(), TestCaseError> {
        engine_move(&mut self.it, mv);
        self.pos = model_move(&self.map, self.lower.as_deref(), self.upper.as_deref(), self.pos.as_deref(), mv);
        prop_assert!(self.it.status().is_ok(), "{ctx}: iterator error {:?}", self.it.status());
        let got = self.it.valid().then(|| self.it.key().to_vec());
        prop_assert_eq!(&got, &self.pos, "{}: key after {:?} (bounds {:?}..{:?})", ctx, mv, self.lower, self.upper);
        if let Some(k) = &self.pos {
            prop_assert_eq!(Some(self.it.value()), self.map.get(k).map(Vec::as_slice), "{}: value of {:?}", ctx, k);
            let vb = self.it.value_bytes();
            prop_assert_eq!(vb.as_ref(), self.it.value());
        }
        Ok(())
    }
}

struct Runner {
    dir: PathBuf,
    db: Option<Db>,
    cfs: Vec<ColumnFamily>,
    /// The latest committed state, per column family.
    model: Vec<Map>,
    snaps: Vec<(Snapshot, Vec<Map>)>,
    held: Vec<Held>,
    /// Makes every written value distinct, so a stale version is never mistaken for the latest.
    counter: u64,
}

fn open_cfs(db: &Db) -> Vec<ColumnFamily> {
    CF_NAMES.iter().map(|n| db.cf(n).unwrap_or_else(|| panic!("column family {n} is missing"))).collect()
}

impl Runner {
    fn new(dir: &Path) -> Self {
        let db = Db::open(dir, small_options()).expect("open");
        for n in &CF_NAMES[1..] {
            db.create_cf(n).expect("create_cf");
        }
        let cfs = open_cfs(&db);
        Self {
            dir: dir.to_path_buf(),
            db: Some(db),
            cfs,
            model: vec![Map::new(); CF_NAMES.len()],
            snaps: Vec::new(),
            held: Vec::new(),
            counter: 0,
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("db is open")
    }

    fn value(&mut self, len: usize) -> Vec<u8> {
        self.counter += 1;
        let mut v = format!("{}.", self.counter).into_bytes();
        v.resize(len, b'a' + (self.counter % 26) as u8);
        v
    }

    fn snap_idx(&self, s: Option<usize>) -> Option<usize> {
        s.filter(|_| !self.snaps.is_empty()).map(|i| i % self.snaps.len())
    }

    fn read_opts(&self, snap: Option<usize>, lower: Option<Vec<u8>>, upper: Option<Vec<u8>>) -> ReadOptions<'_> {
        ReadOptions {
            snapshot: snap.map(|i| &self.snaps[i].0),
            lower_bound: lower,
            upper_bound: upper,
            ..Default::default()
        }
    }

    fn expected(&self, cf: usize, snap: Option<usize>) -> &Map {
        match snap {
            Some(i) => &self.snaps[i].1[cf],
            None => &self.model[cf],
        }
    }

    fn write_one(&mut self, cf: usize, key: &[u8], len: Option<usize>) {
        let mut b = WriteBatch::new();
        match len {
            Some(len) => {
                let v = self.value(len);
                b.put_cf(&self.cfs[cf], key, &v);
                self.model[cf].insert(key.to_vec(), v);
            }
            None => {
                b.delete_cf(&self.cfs[cf], key);
                self.model[cf].remove(key);
            }
        }
        self.db().write(b, &WriteOptions::default()).expect("write");
    }

    fn check_all(&self, ctx: &str) -> Result<(), TestCaseError> {
        for cf in 0..CF_NAMES.len() {
            self.check_dump(cf, None, ctx)?;
        }
        Ok(())
    }

    fn check_dump(&self, cf: usize, snap: Option<usize>, ctx: &str) -> Result<(), TestCaseError> {
        let ro = self.read_opts(snap, None, None);
        let want = self.expected(cf, snap);
        prop_assert_eq!(&dump_cf(self.db(), &self.cfs[cf], &ro), want, "{}: forward dump of cf {}", ctx, cf);
        prop_assert_eq!(&dump_cf_backward(self.db(), &self.cfs[cf], &ro), want, "{}: backward dump of cf {}", ctx, cf);
        Ok(())
    }

    fn make_iter(&self, spec: &IterSpec) -> Held {
        let snap = self.snap_idx(spec.snap);
        let ro = self.read_opts(snap, spec.lower.clone(), spec.upper.clone());
        let it = self.db().iter_cf(&self.cfs[spec.cf], &ro).expect("iter_cf");
        Held {
            it,
            map: self.expected(spec.cf, snap).clone(),
            lower: spec.lower.clone(),
            upper: spec.upper.clone(),
            pos: None,
        }
    }

    fn reopen(&mut self) -> Result<(), TestCaseError> {
        self.held.clear();
        self.snaps.clear();
        let db = self.db.take().expect("db is open");
        let before = db.sequence();
        db.close().expect("close");
        let db = Db::open(&self.dir, small_options()).expect("reopen");
        prop_assert_eq!(db.sequence(), before, "sequence survives reopen");
        self.cfs = open_cfs(&db);
        self.db = Some(db);
        self.check_all("after reopen")
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Put { cf, key, len } => {
                let v = self.value(*len);
                self.db().put_cf(&self.cfs[*cf], key, &v).expect("put_cf");
                self.model[*cf].insert(key.clone(), v);
            }
            Op::Delete { cf, key } => {
                self.db().delete_cf(&self.cfs[*cf], key).expect("delete_cf");
                self.model[*cf].remove(key);
            }
            Op::Batch(ops) => {
                let seq = self.db().sequence();
                let mut b = WriteBatch::new();
                for (cf, key, len) in ops {
                    match len {
                        Some(len) => {
                            let v = self.value(*len);
                            b.put_cf(&self.cfs[*cf], key, &v);
                            self.model[*cf].insert(key.clone(), v);
                        }
                        None => {
                            b.delete_cf(&self.cfs[*cf], key);
                            self.model[*cf].remove(key);
                        }
                    }
                }
                self.db().write(b, &WriteOptions::default()).expect("write");
                prop_assert_eq!(self.db().sequence(), seq + ops.len() as u64, "one sequence number per batch op");
            }
            Op::Get { cf, key, snap } => {
                let snap = self.snap_idx(*snap);
                let ro = self.read_opts(snap, None, None);
                let got = self.db().get_cf_opt(&self.cfs[*cf], &ro, key).expect("get");
                prop_assert_eq!(
                    got.as_deref(),
                    self.expected(*cf, snap).get(key).map(Vec::as_slice),
                    "get cf {} key {:?} snap {:?}",
                    cf,
                    key,
                    snap
                );
                if *cf == 0 {
                    let got = self.db().get_opt(&ro, key).expect("get_opt");
                    prop_assert_eq!(got.as_deref(), self.expected(0, snap).get(key).map(Vec::as_slice));
                }
            }
            Op::MultiGet { cf, keys, snap } => {
                let snap = self.snap_idx(*snap);
                let ro = self.read_opts(snap, None, None);
                let got = self.db().multi_get(&self.cfs[*cf], &ro, keys);
                prop_assert_eq!(got.len(), keys.len());
                for (k, r) in keys.iter().zip(got) {
                    let r = r.expect("multi_get entry");
                    prop_assert_eq!(
                        r.as_deref(),
                        self.expected(*cf, snap).get(k).map(Vec::as_slice),
                        "multi_get {:?}",
                        k
                    );
                }
            }
            Op::Iterate { spec, write_between } => {
                let mut h = self.make_iter(spec);
                for (i, mv) in spec.moves.iter().enumerate() {
                    h.step(mv, "iterate")?;
                    if i == 0
                        && let Some((k, put)) = write_between
                    {
                        self.write_one(spec.cf, k, put.then_some(7));
                    }
                }
            }
            Op::HoldIter(spec) => {
                if self.held.len() < MAX_HELD_ITERS {
                    let mut h = self.make_iter(spec);
                    for mv in &spec.moves {
                        h.step(mv, "new held iterator")?;
                    }
                    self.held.push(h);
                }
            }
            Op::MoveHeld { idx, moves } => {
                if !self.held.is_empty() {
                    let n = self.held.len();
                    let h = &mut self.held[idx % n];
                    for mv in moves {
                        h.step(mv, "held iterator")?;
                    }
                }
            }
            Op::DropHeld(idx) => {
                if !self.held.is_empty() {
                    let n = self.held.len();
                    self.held.remove(idx % n);
                }
            }
            Op::Range { cf, lo, hi } => {
                let got: Vec<(Vec<u8>, Vec<u8>)> = self
                    .db()
                    .range_cf(&self.cfs[*cf], (lo.clone(), hi.clone()))
                    .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
                    .collect::<Result<_, _>>()
                    .expect("range");
                let want: Vec<(Vec<u8>, Vec<u8>)> = self.model[*cf]
                    .iter()
                    .filter(|(k, _)| {
                        let above = match lo {
                            Bound::Included(l) => *k >= l,
                            Bound::Excluded(l) => *k > l,
                            Bound::Unbounded => true,
                        };
                        let below = match hi {
                            Bound::Included(h) => *k <= h,
                            Bound::Excluded(h) => *k < h,
                            Bound::Unbounded => true,
                        };
                        above && below
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want, "range cf {} {:?}..{:?}", cf, lo, hi);
            }
            Op::Prefix(p) => {
                let got: Vec<(Vec<u8>, Vec<u8>)> = self
                    .db()
                    .prefix(p)
                    .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
                    .collect::<Result<_, _>>()
                    .expect("prefix");
                let want: Vec<(Vec<u8>, Vec<u8>)> = self.model[0]
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want, "prefix {:?}", p);
            }
            Op::Dump { cf, snap } => {
                let snap = self.snap_idx(*snap);
                self.check_dump(*cf, snap, "dump")?;
            }
            Op::TakeSnapshot => {
                if self.snaps.len() < MAX_SNAPSHOTS {
                    let s = self.db().snapshot();
                    prop_assert_eq!(s.sequence(), self.db().sequence());
                    self.snaps.push((s, self.model.clone()));
                }
            }
            Op::ReleaseSnapshot(i) => {
                if !self.snaps.is_empty() {
                    let n = self.snaps.len();
                    self.snaps.remove(i % n);
                }
            }
            Op::Flush => {
                self.db().flush().expect("flush");
                // Everything is in tables now; each snapshot must still read its own state.
                for i in 0..self.snaps.len() {
                    self.check_dump(i % CF_NAMES.len(), Some(i), "snapshot after flush")?;
                }
            }
            Op::CompactRange { cf, begin, end } => {
                self.db().compact_range(&self.cfs[*cf], begin.as_deref(), end.as_deref()).expect("compact_range");
                for i in 0..self.snaps.len() {
                    self.check_dump(*cf, Some(i), "snapshot after compact_range")?;
                }
                self.check_dump(*cf, None, "after compact_range")?;
            }
            Op::Reopen => self.reopen()?,
        }
        Ok(())
    }
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut r = Runner::new(tmp.path());
    for op in ops {
        r.apply(op)?;
    }
    r.check_all("end of case")?;
    for i in 0..r.snaps.len() {
        for cf in 0..CF_NAMES.len() {
            r.check_dump(cf, Some(i), "snapshot at end of case")?;
        }
    }
    r.reopen()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_btreemap_model(ops in prop::collection::vec(op_s(), 50..300)) {
        run_case(&ops)?;
    }
}

#[test]
fn key_space_is_distinct_and_sorted_by_construction() {
    let mut keys: Vec<Vec<u8>> = (0..NUM_KEYS).map(key_of).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), NUM_KEYS);
    assert_eq!(key_of(0), Vec::<u8>::new());
    assert_eq!(key_of(NUM_KEYS - 1), vec![0xff; 3]);
}

/// The model cursor itself, on a hand-checked example (so a wrong model cannot hide a bug).
#[test]
fn model_cursor_on_a_known_map() {
    let map: Map = [b"b", b"d", b"f"].iter().map(|k| (k.to_vec(), b"v".to_vec())).collect();
    let mv = |lo: Option<&[u8]>, hi: Option<&[u8]>, pos: Option<&[u8]>, m: Move| model_move(&map, lo, hi, pos, &m);
    assert_eq!(mv(None, None, None, Move::Seek(b"c".to_vec())), Some(b"d".to_vec()));
    assert_eq!(mv(None, None, None, Move::SeekForPrev(b"c".to_vec())), Some(b"b".to_vec()));
    assert_eq!(mv(None, None, None, Move::SeekForPrev(b"a".to_vec())), None);
    assert_eq!(mv(Some(b"c"), Some(b"f"), None, Move::First), Some(b"d".to_vec()));
    assert_eq!(mv(Some(b"c"), Some(b"f"), None, Move::Last), Some(b"d".to_vec()));
    assert_eq!(mv(Some(b"c"), Some(b"f"), Some(b"d"), Move::Next), None);
    assert_eq!(mv(Some(b"c"), Some(b"f"), Some(b"d"), Move::Prev), None);
    assert_eq!(mv(Some(b"c"), Some(b"f"), None, Move::SeekForPrev(b"z".to_vec())), Some(b"d".to_vec()));
    assert_eq!(mv(Some(b"c"), None, None, Move::Seek(b"a".to_vec())), Some(b"d".to_vec()));
    assert_eq!(mv(None, None, Some(b"d"), Move::Next), Some(b"f".to_vec()));
    assert_eq!(mv(None, None, Some(b"d"), Move::Prev), Some(b"b".to_vec()));
    assert_eq!(mv(None, None, None, Move::Next), None);
    assert_eq!(mv(Some(b"e"), Some(b"c"), None, Move::First), None);
}

// ---- deterministic tests ----

/// From `strata.stats`: the default column family's files per level, and the total number of
/// compactions and trivial moves. Columns are found by their header names, and a counter
/// section shared by all column families is counted once.
fn stats_summary(db: &Db) -> (Vec<usize>, u64) {
    let stats = db.property("strata.stats").expect("strata.stats");
    let (mut files, mut work) = (Vec::new(), 0u64);
    let mut section_is_default = false;
    let mut section_is_cf = false;
    let mut header: Vec<&str> = Vec::new();
    for line in stats.lines() {
        if line.starts_with("**") {
            section_is_cf = line.starts_with("** column family");
            section_is_default = line.starts_with("** column family default ");
            header.clear();
        } else if line.starts_with("level") {
            header = line.split_whitespace().collect();
        } else if line.starts_with('L') && !header.is_empty() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let col = |name: &str| header.iter().position(|h| *h == name).and_then(|i| cols.get(i));
            if section_is_default && let Some(f) = col("files") {
                files.push(f.parse().expect("files"));
            }
            if section_is_default || !section_is_cf {
                for name in ["compactions", "moves", "trivial-moves"] {
                    work += col(name).map_or(0, |c| c.parse::<u64>().expect("counter"));
                }
            }
        }
    }
    (files, work)
}

#[test]
fn compactions_move_files_below_l0_and_drop_dead_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let key = |i: u32| format!("key{:06}", (i * 7919) % 3000);
    for round in 0..3u32 {
        for i in 0..3000 {
            db.put(key(i), format!("{round}-{i}-{}", "x".repeat(100))).unwrap();
        }
    }
    for i in (0..3000).step_by(3) {
        db.delete(key(i)).unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    let counts = level_file_counts(&db);
    assert!(counts[0] < 2, "L0 below the trigger after wait_for_compactions: {counts:?}");
    assert!(counts[1..].iter().sum::<usize>() > 0, "files beyond L0: {counts:?}");
    let (files, work) = stats_summary(&db);
    assert_eq!(files, counts, "stats and properties agree");
    assert!(work > 0, "stats count compactions or trivial moves:\n{}", db.property("strata.stats").unwrap_or_default());
    let live: Map = (0..3000)
        .filter(|i| i % 3 != 0)
        .map(|i| (key(i).into_bytes(), format!("2-{i}-{}", "x".repeat(100)).into_bytes()))
        .collect();
    assert_eq!(dump_cf(&db, &db.default_cf(), &ReadOptions::default()), live);

    // A full manual compaction without snapshots keeps exactly one entry per live key.
    db.compact_range(&db.default_cf(), None, None).unwrap();
    let counts = level_file_counts(&db);
    assert_eq!(counts[0], 0, "{counts:?}");
    let entries: usize = db.property("strata.estimate-num-keys").unwrap().parse().unwrap();
    assert_eq!(entries, live.len(), "old versions and tombstones are gone after a full compaction");
    assert_eq!(dump_cf(&db, &db.default_cf(), &ReadOptions::default()), live);
    // Compaction inputs were deleted: no snapshot or iterator pins them.
    let ssts = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sst"))
        .count();
    assert_eq!(ssts, counts.iter().sum::<usize>(), "table files on disk vs. in the version: {counts:?}");
    drop(db);
    let db = Db::open(tmp.path(), small_options()).unwrap();
    assert_eq!(level_file_counts(&db), counts, "the shape survives reopen");
    assert_eq!(dump_cf_backward(&db, &db.default_cf(), &ReadOptions::default()), live);
}

#[test]
fn twenty_thousand_keys_overwritten_three_times_with_deletes() {
    const N: u32 = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), small_options()).unwrap();
    let key = |i: u32| format!("k{i:08}");
    let val = |round: u32, i: u32| format!("r{round}-{i}-{}", "p".repeat((i % 40) as usize));
    let seq0 = db.sequence();
    // Round 0: single puts; rounds 1 and 2: batches of 100 (in reversed key order for round 2).
    for i in 0..N {
        db.put(key(i), val(0, i)).unwrap();
    }
    for round in 1..3 {
        let order: Vec<u32> = if round == 2 { (0..N).rev().collect() } else { (0..N).collect() };
        for chunk in order.chunks(100) {
            let mut b = WriteBatch::new();
            for &i in chunk {
                b.put(key(i), val(round, i));
            }
            db.write(b, &WriteOptions::default()).unwrap();
        }
    }
    let mut deleted = 0u64;
    for i in (0..N).step_by(7) {
        db.delete(key(i)).unwrap();
        deleted += 1;
    }
    assert_eq!(db.sequence() - seq0, 3 * u64::from(N) + deleted, "one sequence number per op");
    let check = |db: &Db, ctx: &str| {
        for i in 0..N {
            let want = (i % 7 != 0).then(|| val(2, i));
            let got = db.get(key(i)).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap());
            assert_eq!(got, want, "{ctx}: key {i}");
        }
        let all = dump_cf(db, &db.default_cf(), &ReadOptions::default());
        assert_eq!(all.len() as u64, u64::from(N) - deleted, "{ctx}");
        assert!(all.keys().all(|k| db.get(k).unwrap().is_some()));
        let back = dump_cf_backward(db, &db.default_cf(), &ReadOptions::default());
        assert_eq!(all, back, "{ctx}: backward");
    };
    check(&db, "before flush");
    db.flush().unwrap();
    db.compact_range(&db.default_cf(), None, None).unwrap();
    check(&db, "after compaction");
    assert!(level_file_counts(&db)[1..].iter().sum::<usize>() > 0);
    let seq = db.sequence();
    drop(db);
    let db = Db::open(tmp.path(), small_options()).unwrap();
    assert_eq!(db.sequence(), seq);
    check(&db, "after reopen");
}
