//! Drives the pure compaction picker with a synthetic workload and no I/O.
//!
//! The model: user keys are `u64` (encoded big-endian, so byte order is numeric order). Each
//! flush writes one L0 file covering a random key range at one sequence number. A file is a
//! list of *fragments* `(lo, hi, seq, bytes)`: the parts of flushes it holds, with bytes spread
//! evenly over the range. Compactions run concurrently (up to a limit) exactly as the engine
//! would: pick, mark files `being_compacted`, later install the outputs, which are cut at
//! `target_file_size` by modeled bytes.
//!
//! Checked after every step: L1+ sorted and non-overlapping; picks never hold a busy file;
//! `bottommost` still true when the pick is installed; L0 bounded. Checked every few steps
//! at sampled keys: the read path (L0 newest first, then L1, L2, ...) meets strictly
//! decreasing sequence numbers, and exactly the flushes that wrote the key (no data lost,
//! duplicated, or overtaken by older data). After the loop: compaction drains to every score
//! below 1; write amplification is printed and bounded.

#![expect(clippy::expect_used, reason = "a broken model state must fail the test loudly")]

use strata::compaction::{
    CompactionPick, LevelFile, PickerOptions, level_scores, pick_compaction, pick_compaction_round_robin,
    pick_range_compaction,
};
use strata_base::FileNumber;

const MIB: u64 = 1 << 20;
const KEY_SPACE: u64 = 1 << 40;
/// Flushes L0 may take while it waits for a running compaction (the model's compactions take
/// at most about 4 steps); L0 must stay under twice the trigger plus this.
const L0_WAIT_FLUSHES_MAX: usize = 4;
/// Modeled speed of one running compaction, in bytes per flush of 1 MiB.
const COMPACTION_BYTES_PER_STEP: u64 = 8 * MIB;

/// SplitMix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frag {
    lo: u64,
    hi: u64,
    seq: u64,
    bytes: u64,
}

#[derive(Debug, Clone)]
struct SimFile {
    number: FileNumber,
    frags: Vec<Frag>,
    busy: bool,
}

impl SimFile {
    fn lo(&self) -> u64 {
        self.frags.iter().map(|f| f.lo).min().unwrap_or(0)
    }
    fn hi(&self) -> u64 {
        self.frags.iter().map(|f| f.hi).max().unwrap_or(0)
    }
    fn size(&self) -> u64 {
        self.frags.iter().map(|f| f.bytes).sum()
    }
}

#[derive(Debug, Clone, Copy)]
struct Config {
    seed: u64,
    flushes: usize,
    max_in_flight: usize,
    round_robin: bool,
    level0_compaction_trigger: usize,
}

struct Sim {
    cfg: Config,
    opts: PickerOptions,
    rng: Rng,
    levels: Vec<Vec<SimFile>>,
    flushes: Vec<Frag>,
    next_number: FileNumber,
    /// Running compactions and the step at which each is installed.
    in_flight: Vec<(CompactionPick, usize)>,
    pointers: Vec<Option<Vec<u8>>>,
    bytes_flushed: u64,
    bytes_compacted: u64,
    compactions: u64,
    trivial_moves: u64,
    l0_max: usize,
    score_max: f64,
}

fn key(k: u64) -> Vec<u8> {
    k.to_be_bytes().to_vec()
}

fn unkey(k: &[u8]) -> u64 {
    u64::from_be_bytes(k.try_into().expect("sim keys are 8 bytes"))
}

impl Sim {
    fn new(cfg: Config) -> Self {
        let opts = PickerOptions {
            num_levels: 7,
            level0_compaction_trigger: cfg.level0_compaction_trigger,
            max_bytes_for_level_base: 4 * MIB,
            max_bytes_for_level_multiplier: 10,
            target_file_size: MIB,
        };
        Self {
            cfg,
            levels: vec![Vec::new(); opts.num_levels],
            pointers: vec![None; opts.num_levels],
            opts,
            rng: Rng(cfg.seed),
            flushes: Vec::new(),
            next_number: FileNumber::new(1),
            in_flight: Vec::new(),
            bytes_flushed: 0,
            bytes_compacted: 0,
            compactions: 0,
            trivial_moves: 0,
            l0_max: 0,
            score_max: 0.0,
        }
    }

    fn view(&self) -> Vec<Vec<LevelFile>> {
        let file = |f: &SimFile| LevelFile {
            number: f.number,
            size: f.size(),
            smallest: key(f.lo()),
            largest: key(f.hi()),
            being_compacted: f.busy,
        };
        self.levels.iter().map(|l| l.iter().map(file).collect()).collect()
    }

    /// One memtable flush: a random range, 1 MiB, newest L0 file first.
    fn flush(&mut self) {
        let width = KEY_SPACE / 200 + self.rng.below(KEY_SPACE / 8);
        let lo = self.rng.below(KEY_SPACE - width);
        let seq = self.flushes.len() as u64 + 1;
        let frag = Frag { lo, hi: lo + width, seq, bytes: MIB };
        self.flushes.push(frag);
        self.bytes_flushed += MIB;
        self.levels[0].insert(0, SimFile { number: self.next_number, frags: vec![frag], busy: false });
        self.next_number = self.next_number.next();
    }

    fn pick(&self) -> Option<CompactionPick> {
        let view = self.view();
        if self.cfg.round_robin {
            pick_compaction_round_robin(&view, &self.opts, &self.pointers)
        } else {
            pick_compaction(&view, &self.opts)
        }
    }

    /// With one compaction at a time, runs picks to completion until the picker is satisfied.
    /// Otherwise starts picks until there is none or the in-flight limit is reached.
    fn start_compactions(&mut self, step: usize) {
        if self.cfg.max_in_flight == 1 {
            while let Some(pick) = self.pick() {
                self.mark(&pick, step);
                self.in_flight.clear();
                self.install(&pick);
            }
            return;
        }
        while self.in_flight.len() < self.cfg.max_in_flight {
            let Some(pick) = self.pick() else { break };
            self.mark(&pick, step);
        }
    }

    fn mark(&mut self, pick: &CompactionPick, step: usize) {
        let mut input_bytes = 0;
        for (level, numbers) in [(pick.level, &pick.inputs), (pick.output_level, &pick.next_inputs)] {
            for n in numbers {
                let f = self.levels[level].iter_mut().find(|f| f.number == *n).expect("picked file exists");
                assert!(!f.busy, "pick {pick:?} holds busy file {n}");
                f.busy = true;
                input_bytes += f.size();
            }
        }
        if self.cfg.round_robin {
            self.pointers[pick.level] = Some(pick.largest.clone());
        }
        // A compaction reads COMPACTION_BYTES_PER_STEP per flush interval (plus a random
        // delay): L0 refills behind a running L0 compaction and several levels compact at once.
        let done = step + 1 + (input_bytes / COMPACTION_BYTES_PER_STEP) as usize + self.rng.below(2) as usize;
        self.in_flight.push((pick.clone(), done));
    }

    /// Installs the compactions due by `step`.
    fn finish_compactions(&mut self, step: usize) {
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].1 <= step {
                let (pick, _) = self.in_flight.remove(i);
                self.install(&pick);
            } else {
                i += 1;
            }
        }
    }

    fn take(&mut self, level: usize, numbers: &[FileNumber]) -> Vec<SimFile> {
        numbers
            .iter()
            .map(|n| {
                let at = self.levels[level].iter().position(|f| f.number == *n).expect("input still present");
                self.levels[level].remove(at)
            })
            .collect()
    }

    fn install(&mut self, pick: &CompactionPick) {
        let (lo, hi) = (unkey(&pick.smallest), unkey(&pick.largest));
        if pick.bottommost {
            for level in &self.levels[pick.output_level + 1..] {
                assert!(level.iter().all(|f| f.hi() < lo || f.lo() > hi), "bottommost pick {pick:?} has data below");
            }
        }
        let mut inputs = self.take(pick.level, &pick.inputs);
        inputs.extend(self.take(pick.output_level, &pick.next_inputs));
        let outputs = if pick.trivial_move {
            assert_eq!(inputs.len(), 1, "trivial move of {pick:?}");
            self.trivial_moves += 1;
            inputs.into_iter().map(|f| SimFile { busy: false, ..f }).collect()
        } else {
            self.compactions += 1;
            let frags: Vec<Frag> = inputs.into_iter().flat_map(|f| f.frags).collect();
            let outputs = self.split(frags);
            self.bytes_compacted += outputs.iter().map(SimFile::size).sum::<u64>();
            outputs
        };
        let level = &mut self.levels[pick.output_level];
        level.extend(outputs);
        level.sort_by_key(SimFile::lo);
    }

    /// Cuts merged fragments into files of about `target_file_size` modeled bytes.
    fn split(&mut self, mut frags: Vec<Frag>) -> Vec<SimFile> {
        // Bytes of keys < x.
        let below = |frags: &[Frag], x: u64| -> u64 {
            if x == 0 {
                return 0;
            }
            frags.iter().map(|f| clip(f, f.lo, x.saturating_sub(1)).map_or(0, |c| c.bytes)).sum()
        };
        let lo = frags.iter().map(|f| f.lo).min().expect("compaction has input");
        let hi = frags.iter().map(|f| f.hi).max().expect("compaction has input");
        let total = below(&frags, hi + 1);
        let target = self.opts.target_file_size;
        let mut cuts = vec![lo];
        for k in 1..total.div_ceil(target) {
            // The smallest x with below(x) >= k * target.
            let (mut a, mut b) = (lo, hi + 1);
            while a < b {
                let mid = a + (b - a) / 2;
                if below(&frags, mid) >= k * target { b = mid } else { a = mid + 1 }
            }
            if a > *cuts.last().expect("starts with lo") && a <= hi {
                cuts.push(a);
            }
        }
        cuts.push(hi + 1);
        frags.sort_by_key(|f| (f.seq, f.lo));
        let mut out = Vec::new();
        for w in cuts.windows(2) {
            let parts: Vec<Frag> = merge_adjacent(frags.iter().filter_map(|f| clip(f, w[0], w[1] - 1)));
            if !parts.is_empty() {
                out.push(SimFile { number: self.next_number, frags: parts, busy: false });
                self.next_number = self.next_number.next();
            }
        }
        out
    }

    fn check_shape(&mut self) {
        for (level, files) in self.levels.iter().enumerate().skip(1) {
            for w in files.windows(2) {
                assert!(
                    w[0].hi() < w[1].lo(),
                    "L{level} files {} and {} overlap or are unsorted",
                    w[0].number,
                    w[1].number
                );
            }
        }
        self.l0_max = self.l0_max.max(self.levels[0].len());
        // L0 holds at most: the files of a running L0 compaction (at most the trigger plus what
        // arrived while waiting for it), plus those flushed while it runs.
        let trigger = self.opts.level0_compaction_trigger;
        assert!(self.levels[0].len() < (trigger + L0_WAIT_FLUSHES_MAX) * 2, "L0 has {} files", self.levels[0].len());
    }

    /// At sampled keys, the read path meets strictly decreasing sequence numbers, and exactly
    /// those of the flushes that wrote the key.
    fn check_data(&mut self, samples: usize) {
        for _ in 0..samples {
            let k = self.rng.below(KEY_SPACE);
            let mut path = Vec::new();
            for files in &self.levels {
                for f in files {
                    let mut seqs: Vec<u64> = f.frags.iter().filter(|g| g.lo <= k && k <= g.hi).map(|g| g.seq).collect();
                    seqs.sort_unstable_by(|a, b| b.cmp(a));
                    path.extend(seqs);
                }
            }
            assert!(path.windows(2).all(|w| w[0] > w[1]), "key {k}: read path sequences {path:?}");
            let mut written: Vec<u64> = self.flushes.iter().filter(|g| g.lo <= k && k <= g.hi).map(|g| g.seq).collect();
            written.reverse();
            assert_eq!(path, written, "key {k}");
        }
    }

    fn record_scores(&mut self) {
        let scores = level_scores(&self.view(), &self.opts);
        let worst = scores[1..self.opts.num_levels - 1].iter().copied().fold(0.0, f64::max);
        self.score_max = self.score_max.max(worst);
    }

    fn write_amplification(&self) -> f64 {
        (self.bytes_flushed + self.bytes_compacted) as f64 / self.bytes_flushed as f64
    }

    fn deepest_level(&self) -> usize {
        self.levels.iter().rposition(|l| !l.is_empty()).unwrap_or(0)
    }

    /// Flushes and compacts, then drains; returns the write amplification.
    fn run(&mut self) -> f64 {
        for step in 0..self.cfg.flushes {
            self.flush();
            self.finish_compactions(step);
            self.start_compactions(step);
            self.check_shape();
            self.record_scores();
            if step % 20 == 0 {
                self.check_data(32);
            }
        }
        // Drain: finish everything, then compact until the picker is satisfied.
        let mut step = self.cfg.flushes;
        while !self.in_flight.is_empty() || self.pick().is_some() {
            self.finish_compactions(step);
            self.start_compactions(step);
            self.check_shape();
            step += 1;
            assert!(step < self.cfg.flushes * 10, "compaction does not converge");
        }
        self.check_data(256);
        let scores = level_scores(&self.view(), &self.opts);
        assert!(scores[..self.opts.num_levels - 1].iter().all(|&s| s < 1.0), "after draining: {scores:?}");
        let wa = self.write_amplification();
        println!(
            "{:?}: WA {wa:.2} ({} compactions, {} trivial moves), deepest L{}, L0 max {} files, \
             worst Ln score while running {:.2}, files per level {:?}",
            self.cfg,
            self.compactions,
            self.trivial_moves,
            self.deepest_level(),
            self.l0_max,
            self.score_max,
            self.levels.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        wa
    }
}

/// The part of `f` within `[lo, hi]`, bytes in proportion to width.
fn clip(f: &Frag, lo: u64, hi: u64) -> Option<Frag> {
    let (a, b) = (f.lo.max(lo), f.hi.min(hi));
    if a > b || hi < lo {
        return None;
    }
    let bytes = (f.bytes as u128 * (b - a + 1) as u128 / (f.hi - f.lo + 1) as u128) as u64;
    Some(Frag { lo: a, hi: b, seq: f.seq, bytes })
}

/// Joins touching pieces of one flush (sorted by seq, then lo), so fragments stay few.
fn merge_adjacent(frags: impl Iterator<Item = Frag>) -> Vec<Frag> {
    let mut out: Vec<Frag> = Vec::new();
    for f in frags {
        match out.last_mut() {
            Some(p) if p.seq == f.seq && p.hi.checked_add(1) == Some(f.lo) => {
                p.hi = f.hi;
                p.bytes += f.bytes;
            }
            _ => out.push(f),
        }
    }
    out
}

/// The write amplification bound of leveled compaction: each byte is written once by the
/// flush, then at most `multiplier + 1` times per level it passes (merged into a level about
/// `multiplier` times its own level's size), plus one for L0 -> L1.
fn wa_bound(sim: &Sim) -> f64 {
    2.0 + (sim.opts.max_bytes_for_level_multiplier + 1) as f64 * sim.deepest_level().saturating_sub(1) as f64
}

fn run_and_check(cfg: Config) -> Sim {
    let mut sim = Sim::new(cfg);
    let wa = sim.run();
    assert!(wa > 1.0, "compaction wrote something: {wa}");
    assert!(wa <= wa_bound(&sim), "WA {wa:.2} over bound {:.2}", wa_bound(&sim));
    // Running compactions add to a level before it is drained; a level never runs away.
    assert!(sim.score_max < 4.0, "a level reached {:.2}x its target", sim.score_max);
    if cfg.max_in_flight == 1 {
        assert!(sim.score_max < 1.0, "a level was left at {:.3}x its target", sim.score_max);
    }
    sim
}

#[test]
fn sequential_min_overlap_keeps_invariants() {
    run_and_check(Config { seed: 1, flushes: 600, max_in_flight: 1, round_robin: false, level0_compaction_trigger: 4 });
    run_and_check(Config { seed: 6, flushes: 300, max_in_flight: 1, round_robin: true, level0_compaction_trigger: 4 });
}

#[test]
fn concurrent_min_overlap_keeps_invariants() {
    for seed in [2, 3] {
        run_and_check(Config {
            seed,
            flushes: 400,
            max_in_flight: 4,
            round_robin: false,
            level0_compaction_trigger: 4,
        });
    }
}

#[test]
fn concurrent_round_robin_keeps_invariants() {
    run_and_check(Config { seed: 4, flushes: 500, max_in_flight: 4, round_robin: true, level0_compaction_trigger: 4 });
    // A low trigger makes L0 due again while an L0 compaction still runs.
    run_and_check(Config { seed: 7, flushes: 300, max_in_flight: 4, round_robin: true, level0_compaction_trigger: 2 });
}

#[test]
fn manual_range_compaction_moves_everything_to_the_last_level() {
    let mut sim = run_and_check(Config {
        seed: 5,
        flushes: 200,
        max_in_flight: 4,
        round_robin: false,
        level0_compaction_trigger: 4,
    });
    let last = sim.opts.num_levels - 1;
    for level in 0..last {
        let mut rounds = 0;
        while let Some(pick) = pick_range_compaction(&sim.view(), &sim.opts, level, None, None) {
            assert_eq!(pick.level, level);
            // `install` checks that a bottommost pick has nothing below; the last move always is.
            assert!(pick.bottommost || level + 1 < last, "{pick:?}");
            sim.mark(&pick, 0);
            sim.in_flight.clear();
            sim.install(&pick);
            sim.check_shape();
            rounds += 1;
            assert!(rounds < 1000, "manual compaction of L{level} does not end");
        }
        assert!(sim.levels[level].is_empty(), "L{level} emptied");
    }
    assert_eq!(sim.deepest_level(), last);
    sim.check_data(256);
}
