//! Choosing the next leveled compaction of one column family.
//!
//! Pure functions of the *shape* of the levels (numbers, sizes, user-key ranges, which files a
//! running compaction holds), like mini-lsm's leveled controller: no I/O, locks or state. The
//! engine passes its current version as `&[Vec<LevelFile>]`, marks the picked files
//! `being_compacted`, runs the compaction and installs it; `tests/compaction_picker_sim.rs`
//! drives the same functions with a synthetic workload.
//!
//! Rules (LevelDB/RocksDB leveled compaction):
//! - Score: L0 = files not being compacted / `level0_compaction_trigger`; Ln = bytes of files not
//!   being compacted / [`level_target_bytes`]. The highest score `>= 1` is compacted first (ties:
//!   the lower level). The last level (`num_levels - 1`) is never an input of an automatic pick.
//!   One liveness rule on top: while L0 is due, outscores L1, and waits only for busy L1 files,
//!   no new L1 compaction starts (found by the simulator: otherwise each finishing L1 -> L2 is
//!   replaced by the next before L0 can take L1, and L0 grows without bound).
//! - L0 -> L1 takes *every* L0 file, so overlapping L0 files move together and older data never
//!   overtakes newer data; it is not picked while any L0 file is being compacted (only one
//!   L0 compaction runs at a time).
//! - Ln -> Ln+1 (n >= 1) starts from one file, then expands to a *clean cut*: every file at Ln
//!   whose user-key range touches the inputs' range joins, until nothing changes (two files may
//!   share a boundary user key with different sequence numbers, and both versions must move
//!   together). The seed file is chosen by [`pick_compaction`] as the one with the smallest
//!   ratio of overlapping bytes at Ln+1 to its own size (RocksDB's `kMinOverlappingRatio`,
//!   which keeps write amplification low), or round-robin by a per-level key cursor with
//!   [`pick_compaction_round_robin`] (LevelDB's `compact_pointer`, kept by the caller).
//! - Files at Ln+1 overlapping the *hull* of the inputs (smallest to largest user key) join as
//!   `next_inputs`. A candidate touching a file `being_compacted` is skipped.
//! - Trivial move: one input and no `next_inputs`; the file is re-linked one level down.
//! - `bottommost`: no file in any level below `output_level` overlaps the hull of inputs and
//!   next inputs, so the compaction may drop tombstones (see `filter.rs`).
//!
//! User keys are compared bytewise (the engine's only user comparator today). Levels >= 1 are
//! assumed sorted and non-overlapping (design invariant 6) and searched by binary search.
//!
//! Invariants: no function panics on any input (empty levels, empty files list, `num_levels`
//! 0 or 1, a zero trigger or multiplier, files whose smallest key exceeds their largest). Picks
//! never contain a file marked `being_compacted`. Assuming every running compaction was picked
//! here and its files are marked, two picks with the same output level never produce
//! overlapping outputs: L0 picks are exclusive, and Ln picks are contiguous runs of a sorted
//! level whose hulls can only meet through a marked file.
//!
//! Thread safety: pure functions over borrowed data; call from any thread.

/// Why a compaction was picked: L0 has too many files.
use strata_base::FileNumber;
pub const REASON_LEVEL0_FILES: &str = "level0 file count";
/// Why a compaction was picked: a level exceeds its target size.
pub const REASON_LEVEL_SIZE: &str = "level size";
/// Why a compaction was picked: a `compact_range` call.
pub const REASON_MANUAL: &str = "manual range";
/// A manual pick at L1+ stops adding files once their bytes reach this many target file sizes;
/// the caller repeats the call with the same bounds until it returns `None`.
pub const MANUAL_INPUT_TARGET_FILES_MAX: u64 = 25;

/// More levels than any sane configuration; a larger `num_levels` is treated as this many.
pub const NUM_LEVELS_MAX: usize = 64;

/// One table as the picker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelFile {
    pub number: FileNumber,
    pub size: u64,
    /// Smallest user key in the table.
    pub smallest: Vec<u8>,
    /// Largest user key in the table.
    pub largest: Vec<u8>,
    /// Held by a running compaction.
    pub being_compacted: bool,
}

/// The shape parameters of leveled compaction; mirrors the engine's `Options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickerOptions {
    pub num_levels: usize,
    pub level0_compaction_trigger: usize,
    pub max_bytes_for_level_base: u64,
    pub max_bytes_for_level_multiplier: u64,
    pub target_file_size: u64,
}

impl Default for PickerOptions {
    fn default() -> Self {
        Self {
            num_levels: 7,
            level0_compaction_trigger: 4,
            max_bytes_for_level_base: 256 << 20,
            max_bytes_for_level_multiplier: 10,
            target_file_size: 64 << 20,
        }
    }
}

/// A compaction to run: `inputs` at `level` merged with `next_inputs` at `output_level`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionPick {
    pub level: usize,
    pub output_level: usize,
    /// File numbers at `level`, in level order (L0: newest first).
    pub inputs: Vec<FileNumber>,
    /// File numbers at `output_level` overlapping the inputs, in level order.
    pub next_inputs: Vec<FileNumber>,
    /// One input and nothing to merge with: move the file without rewriting it.
    pub trivial_move: bool,
    /// No data for these keys below `output_level`: tombstones may be dropped.
    pub bottommost: bool,
    /// The score of `level` when picked.
    pub score: f64,
    pub reason: &'static str,
    /// Smallest user key of inputs and next inputs.
    pub smallest: Vec<u8>,
    /// Largest user key of inputs and next inputs.
    pub largest: Vec<u8>,
}

/// Target bytes of `level`: `base * multiplier^(level - 1)` for `level >= 1`, saturating. L0 is
/// scored by file count; for it this returns `base`. A zero base or multiplier counts as 1.
pub fn level_target_bytes(level: usize, opts: &PickerOptions) -> u64 {
    let mult = opts.max_bytes_for_level_multiplier.max(1);
    let mut target = opts.max_bytes_for_level_base.max(1);
    // NB: 64 doublings saturate any u64, so the loop is bounded whatever `level` is.
    for _ in 1..level.min(65) {
        target = target.saturating_mul(mult);
    }
    target
}

/// One score per level `0..opts.num_levels` (at most [`NUM_LEVELS_MAX`]; missing levels 0). L0: files not being
/// compacted / trigger; Ln: bytes not being compacted / [`level_target_bytes`].
pub fn level_scores(levels: &[Vec<LevelFile>], opts: &PickerOptions) -> Vec<f64> {
    (0..opts.num_levels.min(NUM_LEVELS_MAX))
        .map(|level| {
            let files = levels.get(level).map(Vec::as_slice).unwrap_or_default();
            let idle = files.iter().filter(|f| !f.being_compacted);
            if level == 0 {
                idle.count() as f64 / opts.level0_compaction_trigger.max(1) as f64
            } else {
                let bytes: u64 = idle.map(|f| f.size).fold(0, u64::saturating_add);
                bytes as f64 / level_target_bytes(level, opts) as f64
            }
        })
        .collect()
}

/// Indices of the files in `level_files` whose user-key range intersects `[smallest, largest]`
/// (inclusive). An empty range (`smallest > largest`) overlaps nothing.
pub fn overlapping_files(level_files: &[LevelFile], smallest: &[u8], largest: &[u8]) -> Vec<usize> {
    if smallest > largest {
        return Vec::new();
    }
    level_files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.largest.as_slice() >= smallest && f.smallest.as_slice() <= largest)
        .map(|(i, _)| i)
        .collect()
}

/// The highest-scoring compaction, seeding Ln picks by minimum overlap ratio. `None` when no
/// level scores `>= 1` or every candidate touches a file being compacted.
pub fn pick_compaction(levels: &[Vec<LevelFile>], opts: &PickerOptions) -> Option<CompactionPick> {
    pick_by_score(levels, opts, None)
}

/// Like [`pick_compaction`], but an Ln pick starts at the first file whose largest key is past
/// `compact_pointer[n]` (wrapping to the level's first file). The caller stores the pick's
/// `largest` as the level's new pointer once the compaction is installed.
pub fn pick_compaction_round_robin(
    levels: &[Vec<LevelFile>],
    opts: &PickerOptions,
    compact_pointer: &[Option<Vec<u8>>],
) -> Option<CompactionPick> {
    pick_by_score(levels, opts, Some(compact_pointer))
}

/// A compaction for `compact_range`: files at `level` overlapping `[begin, end]` (user keys;
/// `None` is unbounded), expanded to a clean cut, plus the overlapping files at `level + 1`.
/// At L1+ the inputs stop after [`MANUAL_INPUT_TARGET_FILES_MAX`] target file sizes: repeat the
/// call with the same bounds until it returns `None`. `None` also when nothing overlaps, when
/// `level + 1` is not a level, or when a needed file is being compacted (retry later).
pub fn pick_range_compaction(
    levels: &[Vec<LevelFile>],
    opts: &PickerOptions,
    level: usize,
    begin: Option<&[u8]>,
    end: Option<&[u8]>,
) -> Option<CompactionPick> {
    let files = levels.get(level)?;
    if level == 0 && files.iter().any(|f| f.being_compacted) {
        return None;
    }
    let seeds: Vec<usize> = (0..files.len()).filter(|&i| in_bounds(&files[i], begin, end)).collect();
    let mut inputs = expand_clean_cut(level, files, seeds);
    if level >= 1 {
        let limit = opts.target_file_size.max(1).saturating_mul(MANUAL_INPUT_TARGET_FILES_MAX);
        let sizes =
            inputs.iter().scan(0u64, |total, &i| Some(std::mem::replace(total, total.saturating_add(files[i].size))));
        let keep = sizes.take_while(|&before| before < limit).count();
        inputs.truncate(keep.max(1));
        inputs = expand_clean_cut(level, files, inputs);
    }
    if inputs.iter().any(|&i| files[i].being_compacted) {
        return None;
    }
    let score = level_scores(levels, opts).get(level).copied().unwrap_or(0.0);
    finish_pick(levels, opts, level, &inputs, score, REASON_MANUAL)
}

/// Tries levels by descending score; `pointers` selects round-robin seeding.
fn pick_by_score(
    levels: &[Vec<LevelFile>],
    opts: &PickerOptions,
    pointers: Option<&[Option<Vec<u8>>]>,
) -> Option<CompactionPick> {
    let scores = level_scores(levels, opts);
    let last = opts.num_levels.min(NUM_LEVELS_MAX).checked_sub(1)?;
    let mut order: Vec<usize> = (0..last).filter(|&l| scores.get(l).is_some_and(|&s| s >= 1.0)).collect();
    // Stable: ties keep the lower level first.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let l0_pick = if order.contains(&0) { pick_level0(levels, opts, scores[0]) } else { None };
    // NB: an L0 that outscores L1 but is blocked only by busy L1 files starts no new L1
    // compaction, so the running ones drain and L0 goes next; otherwise a stream of L1 -> L2
    // picks keeps L0 waiting indefinitely. While L1 outscores L0, L1 picks run in parallel.
    let l0_waits_for_l1 = order.contains(&0)
        && l0_pick.is_none()
        && scores.get(1).is_none_or(|&l1| scores[0] >= l1)
        && !levels.first().is_some_and(|l0| l0.iter().any(|f| f.being_compacted));
    let mut l0_pick = l0_pick;
    order.into_iter().find_map(|level| {
        if level == 0 {
            return l0_pick.take();
        }
        if level == 1 && l0_waits_for_l1 {
            return None;
        }
        let files = levels.get(level)?;
        let pointer = pointers.map(|p| p.get(level).and_then(Option::as_deref));
        seed_order(levels, level, pointer).into_iter().find_map(|seed| {
            let inputs = expand_clean_cut(level, files, vec![seed]);
            if inputs.iter().any(|&i| files[i].being_compacted) {
                return None;
            }
            finish_pick(levels, opts, level, &inputs, scores[level], REASON_LEVEL_SIZE)
        })
    })
}

/// Every L0 file into L1; `None` while any L0 file is being compacted.
fn pick_level0(levels: &[Vec<LevelFile>], opts: &PickerOptions, score: f64) -> Option<CompactionPick> {
    let files = levels.first()?;
    if files.iter().any(|f| f.being_compacted) {
        return None;
    }
    let all = (0..files.len()).collect::<Vec<_>>();
    finish_pick(levels, opts, 0, &all, score, REASON_LEVEL0_FILES)
}

/// Candidate seed files at `level` (never being compacted), best first. `pointer`: `None` for
/// minimum overlap ratio, `Some(cursor)` for round-robin after `cursor`.
fn seed_order(levels: &[Vec<LevelFile>], level: usize, pointer: Option<Option<&[u8]>>) -> Vec<usize> {
    let files = levels.get(level).map(Vec::as_slice).unwrap_or_default();
    let mut idle: Vec<usize> = (0..files.len()).filter(|&i| !files[i].being_compacted).collect();
    match pointer {
        Some(cursor) => {
            let after = |i: &usize| cursor.is_none_or(|c| files[*i].largest.as_slice() > c);
            let (mut first, rest): (Vec<usize>, Vec<usize>) = idle.into_iter().partition(after);
            first.extend(rest);
            first
        }
        None => {
            let next = levels.get(level + 1).map(Vec::as_slice).unwrap_or_default();
            let ratio = |i: usize| {
                let f = &files[i];
                let overlap: u64 = overlapping_in_level(level + 1, next, &f.smallest, &f.largest)
                    .into_iter()
                    .map(|j| next[j].size)
                    .fold(0, u64::saturating_add);
                overlap as f64 / f.size.max(1) as f64
            };
            let ratios: Vec<f64> = (0..files.len()).map(ratio).collect();
            idle.sort_by(|&a, &b| ratios[a].total_cmp(&ratios[b]).then(a.cmp(&b)));
            idle
        }
    }
}

/// Grows `inputs` (indices into `files`) until every file touching their hull is included.
/// Returns sorted indices; at L0 this is the transitive closure of overlap.
fn expand_clean_cut(level: usize, files: &[LevelFile], mut inputs: Vec<usize>) -> Vec<usize> {
    inputs.sort_unstable();
    inputs.dedup();
    // INVARIANT: each round only adds files, so at most `files.len()` rounds change anything.
    for _ in 0..=files.len() {
        let Some((lo, hi)) = hull(inputs.iter().filter_map(|&i| files.get(i))) else {
            return inputs;
        };
        let grown = overlapping_in_level(level, files, lo, hi);
        if grown.len() <= inputs.len() {
            break;
        }
        inputs = grown;
    }
    inputs
}

/// Builds the pick for `inputs` at `level` into `level + 1`; `None` if that is not a level or an
/// overlapping file there is being compacted.
fn finish_pick(
    levels: &[Vec<LevelFile>],
    opts: &PickerOptions,
    level: usize,
    inputs: &[usize],
    score: f64,
    reason: &'static str,
) -> Option<CompactionPick> {
    let output_level = level + 1;
    if output_level >= opts.num_levels {
        return None;
    }
    let files = levels.get(level)?;
    let input_files: Vec<&LevelFile> = inputs.iter().filter_map(|&i| files.get(i)).collect();
    let (lo, hi) = hull(input_files.iter().copied())?;
    let next = levels.get(output_level).map(Vec::as_slice).unwrap_or_default();
    let next_files: Vec<&LevelFile> =
        overlapping_in_level(output_level, next, lo, hi).into_iter().filter_map(|j| next.get(j)).collect();
    if next_files.iter().any(|f| f.being_compacted) {
        return None;
    }
    let (smallest, largest) = hull(input_files.iter().chain(&next_files).copied())?;
    let bottommost = levels
        .iter()
        .enumerate()
        .skip(output_level + 1)
        .all(|(deeper, files)| overlapping_in_level(deeper, files, smallest, largest).is_empty());
    Some(CompactionPick {
        level,
        output_level,
        inputs: input_files.iter().map(|f| f.number).collect(),
        next_inputs: next_files.iter().map(|f| f.number).collect(),
        trivial_move: input_files.len() == 1 && next_files.is_empty(),
        bottommost,
        score,
        reason,
        smallest: smallest.to_vec(),
        largest: largest.to_vec(),
    })
}

/// [`overlapping_files`] by binary search for a level >= 1, which is sorted and non-overlapping
/// (design invariant 6); a linear scan for L0. On a level breaking the invariant the answer may
/// be incomplete, but nothing panics.
fn overlapping_in_level(level: usize, files: &[LevelFile], smallest: &[u8], largest: &[u8]) -> Vec<usize> {
    if level == 0 || smallest > largest {
        return overlapping_files(files, smallest, largest);
    }
    let start = files.partition_point(|f| f.largest.as_slice() < smallest);
    let count = files.get(start..).unwrap_or_default().iter().take_while(|f| f.smallest.as_slice() <= largest).count();
    (start..start + count).collect()
}

/// Smallest and largest user key over `files`; `None` if there are none.
fn hull<'a>(files: impl Iterator<Item = &'a LevelFile>) -> Option<(&'a [u8], &'a [u8])> {
    files.fold(None, |acc, f| {
        let (lo, hi) = acc.unwrap_or((f.smallest.as_slice(), f.largest.as_slice()));
        Some((lo.min(f.smallest.as_slice()), hi.max(f.largest.as_slice())))
    })
}

/// Whether `f` intersects `[begin, end]`, either bound open when `None`.
fn in_bounds(f: &LevelFile, begin: Option<&[u8]>, end: Option<&[u8]>) -> bool {
    begin.is_none_or(|b| f.largest.as_slice() >= b) && end.is_none_or(|e| f.smallest.as_slice() <= e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn file(number: u64, size: u64, smallest: &str, largest: &str) -> LevelFile {
        LevelFile {
            number: FileNumber::new(number),
            size,
            smallest: smallest.as_bytes().to_vec(),
            largest: largest.as_bytes().to_vec(),
            being_compacted: false,
        }
    }

    /// File numbers from raw values, for comparing with picks.
    fn nums(raw: &[u64]) -> Vec<FileNumber> {
        raw.iter().copied().map(FileNumber::new).collect()
    }

    fn busy(mut f: LevelFile) -> LevelFile {
        f.being_compacted = true;
        f
    }

    fn opts() -> PickerOptions {
        PickerOptions {
            num_levels: 4,
            level0_compaction_trigger: 2,
            max_bytes_for_level_base: 10 * MIB,
            max_bytes_for_level_multiplier: 10,
            target_file_size: 2 * MIB,
        }
    }

    #[test]
    fn target_bytes_grow_by_multiplier_and_saturate() {
        let o = opts();
        assert_eq!(level_target_bytes(1, &o), 10 * MIB);
        assert_eq!(level_target_bytes(3, &o), 1000 * MIB);
        assert_eq!(level_target_bytes(usize::MAX, &o), u64::MAX);
        let zero = PickerOptions { max_bytes_for_level_base: 0, max_bytes_for_level_multiplier: 0, ..o };
        assert_eq!(level_target_bytes(5, &zero), 1);
    }

    #[test]
    fn scores_ignore_files_being_compacted() {
        let levels = vec![
            vec![file(9, 1, "a", "b"), busy(file(8, 1, "a", "b")), file(7, 1, "c", "d")],
            vec![file(1, 5 * MIB, "a", "b"), busy(file(2, 5 * MIB, "c", "d"))],
        ];
        assert_eq!(level_scores(&levels, &opts()), vec![1.0, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn empty_and_degenerate_shapes_pick_nothing() {
        let o = opts();
        assert_eq!(pick_compaction(&[], &o), None);
        assert_eq!(pick_compaction(&[vec![], vec![]], &o), None);
        assert_eq!(pick_range_compaction(&[], &o, 0, None, None), None);
        assert_eq!(pick_range_compaction(&[vec![]], &o, 0, None, None), None);
        let l0 = vec![vec![file(1, 1, "a", "b"), file(2, 1, "a", "b")]];
        for num_levels in [0, 1] {
            let o = PickerOptions { num_levels, ..opts() };
            assert_eq!(pick_compaction(&l0, &o), None);
            assert_eq!(pick_range_compaction(&l0, &o, 0, None, None), None);
        }
        let huge = PickerOptions { num_levels: usize::MAX, ..opts() };
        assert_eq!(level_scores(&l0, &huge).len(), NUM_LEVELS_MAX);
        let zero_trigger = PickerOptions { level0_compaction_trigger: 0, ..opts() };
        assert_eq!(level_scores(&l0, &zero_trigger)[0], 2.0);
        // An inverted file range overlaps nothing and does not panic.
        assert!(overlapping_files(&[file(1, 1, "z", "a")], b"b", b"c").is_empty());
        assert!(overlapping_files(&[file(1, 1, "a", "z")], b"c", b"b").is_empty());
    }

    #[test]
    fn level0_takes_every_file_and_every_l1_file_in_the_hull() {
        // L0 covers [a,c] and [m,p]; L1 file [e,f] lies in the gap and must join, or the
        // output spanning the gap would overlap it.
        let levels = vec![
            vec![file(10, MIB, "m", "p"), file(9, MIB, "a", "c")],
            vec![file(1, MIB, "b", "b"), file(2, MIB, "e", "f"), file(3, MIB, "q", "z")],
        ];
        let pick = pick_compaction(&levels, &opts()).expect("L0 is at its trigger");
        assert_eq!((pick.level, pick.output_level, pick.reason), (0, 1, REASON_LEVEL0_FILES));
        assert_eq!(pick.inputs, nums(&[10, 9]));
        assert_eq!(pick.next_inputs, nums(&[1, 2]));
        assert_eq!((pick.smallest.as_slice(), pick.largest.as_slice()), (&b"a"[..], &b"p"[..]));
        assert!(!pick.trivial_move);
        assert!(pick.bottommost);
    }

    #[test]
    fn level0_waits_while_an_l0_file_is_being_compacted() {
        let mut levels = vec![
            vec![file(10, MIB, "a", "b"), file(9, MIB, "c", "d"), busy(file(8, MIB, "e", "f"))],
            vec![file(1, 11 * MIB, "a", "z")],
        ];
        // L0 scores 1.0 but is held; L1 (1.1) is picked instead.
        let pick = pick_compaction(&levels, &opts()).expect("L1 is over target");
        assert_eq!((pick.level, pick.inputs.clone()), (1, nums(&[1])));
        levels[1][0].being_compacted = true;
        assert_eq!(pick_compaction(&levels, &opts()), None);
    }

    #[test]
    fn level0_blocked_by_busy_l1_holds_back_new_l1_picks() {
        let o = PickerOptions { num_levels: 5, ..opts() };
        let mut levels = vec![
            vec![file(30, MIB, "a", "m"), file(31, MIB, "n", "z"), file(32, MIB, "a", "z")],
            vec![busy(file(1, MIB, "c", "d")), file(2, 5 * MIB, "e", "f"), file(3, 5 * MIB, "g", "h")],
            vec![file(10, 101 * MIB, "a", "z")],
            vec![],
        ];
        // L0 (1.5) outscores L1 (1.0) but waits for file 1: L1 may not start, L2 (1.01) may.
        let pick = pick_compaction(&levels, &o).expect("L2 is over target");
        assert_eq!(pick.level, 2);
        levels[2][0].size = MIB;
        assert_eq!(pick_compaction(&levels, &o), None);
        // Once L1 outscores L0, L1 compactions run alongside the waiting L0.
        levels[1][1].size = 20 * MIB;
        assert_eq!(pick_compaction(&levels, &o).map(|p| p.level), Some(1));
        // With file 1 free, L0 goes.
        levels[1][0].being_compacted = false;
        levels[1][1].size = 5 * MIB;
        assert_eq!(pick_compaction(&levels, &o).map(|p| (p.level, p.inputs)), Some((0, nums(&[30, 31, 32]))));
    }

    #[test]
    fn a_lone_file_with_nothing_below_is_a_trivial_move() {
        let o = PickerOptions { level0_compaction_trigger: 1, ..opts() };
        let levels = vec![vec![file(5, MIB, "c", "d")], vec![file(1, MIB, "a", "b")]];
        let pick = pick_compaction(&levels, &o).expect("trigger 1");
        assert!(pick.trivial_move);
        assert!(pick.next_inputs.is_empty());
        let levels = vec![vec![file(5, MIB, "c", "d")], vec![file(1, MIB, "a", "c")]];
        assert!(!pick_compaction(&levels, &o).expect("trigger 1").trivial_move);
        // At Ln: one file, nothing overlapping below.
        let levels =
            vec![vec![], vec![file(1, 11 * MIB, "k", "m")], vec![file(2, MIB, "a", "b"), file(3, MIB, "n", "z")]];
        let pick = pick_compaction(&levels, &opts()).expect("L1 over target");
        assert!(pick.trivial_move);
        assert_eq!((pick.inputs, pick.next_inputs), (nums(&[1]), vec![]));
    }

    #[test]
    fn boundary_user_key_pulls_in_the_neighbouring_file() {
        // Files 1 and 2 share user key "c" (different versions); 3 shares "e" with 2.
        let levels = vec![
            vec![],
            vec![
                file(1, 4 * MIB, "a", "c"),
                file(2, 4 * MIB, "c", "e"),
                file(3, 4 * MIB, "e", "g"),
                file(4, 4 * MIB, "h", "j"),
            ],
            vec![file(9, MIB, "i", "i")],
        ];
        let pick = pick_range_compaction(&levels, &opts(), 1, Some(b"d"), Some(b"d")).expect("file 2 is in range");
        assert_eq!(pick.inputs, nums(&[1, 2, 3]));
        assert!(pick.next_inputs.is_empty());
        assert!(!pick.trivial_move);
        // The automatic pick seeds at the file with no overlap below (1, 2 or 3) and expands too.
        let pick = pick_compaction(&levels, &opts()).expect("L1 over target");
        assert_eq!(pick.inputs, nums(&[1, 2, 3]));
    }

    #[test]
    fn candidates_touching_busy_files_are_skipped() {
        let levels = vec![
            vec![],
            vec![file(1, 6 * MIB, "a", "b"), file(2, 6 * MIB, "c", "d"), busy(file(3, MIB, "e", "f"))],
            vec![busy(file(7, MIB, "a", "a")), file(8, 50 * MIB, "c", "d")],
        ];
        // File 1 has the smaller overlap but file 7 below it is busy; file 3 is busy itself.
        let pick = pick_compaction(&levels, &opts()).expect("file 2 is free");
        assert_eq!((pick.inputs, pick.next_inputs), (nums(&[2]), nums(&[8])));
        let mut levels = levels;
        levels[2][1].being_compacted = true;
        assert_eq!(pick_compaction(&levels, &opts()), None);
        assert_eq!(pick_range_compaction(&levels, &opts(), 1, Some(b"a"), Some(b"b")), None);
    }

    #[test]
    fn seed_is_the_file_with_least_overlap_below() {
        let levels = vec![
            vec![],
            vec![file(1, 6 * MIB, "a", "b"), file(2, 6 * MIB, "c", "d"), file(3, 6 * MIB, "e", "f")],
            vec![file(7, 9 * MIB, "a", "b"), file(8, MIB, "c", "d"), file(9, 3 * MIB, "e", "f")],
        ];
        let pick = pick_compaction(&levels, &opts()).expect("L1 over target");
        assert_eq!((pick.inputs, pick.next_inputs), (nums(&[2]), nums(&[8])));
    }

    #[test]
    fn round_robin_starts_after_the_pointer_and_wraps() {
        let levels = vec![vec![], vec![file(1, 6 * MIB, "a", "b"), file(2, 6 * MIB, "c", "d")]];
        let pick = |ptr: Option<&str>| {
            let pointers = vec![None, ptr.map(|p| p.as_bytes().to_vec())];
            pick_compaction_round_robin(&levels, &opts(), &pointers).expect("L1 over target").inputs
        };
        assert_eq!(pick(None), nums(&[1]));
        assert_eq!(pick(Some("b")), nums(&[2]));
        assert_eq!(pick(Some("d")), nums(&[1]));
        // A pointer slice shorter than the levels means no pointer.
        assert_eq!(pick_compaction_round_robin(&levels, &opts(), &[]).map(|p| p.inputs), Some(nums(&[1])));
    }

    #[test]
    fn bottommost_only_when_no_deeper_file_overlaps() {
        let mut levels =
            vec![vec![], vec![file(1, 11 * MIB, "c", "f")], vec![file(2, MIB, "a", "d")], vec![file(3, MIB, "g", "z")]];
        let pick = pick_compaction(&levels, &opts()).expect("L1 over target");
        assert_eq!(pick.next_inputs, nums(&[2]));
        assert!(pick.bottommost, "L3 file starts at g, past the hull [a, f]");
        levels[3][0].smallest = b"f".to_vec();
        assert!(!pick_compaction(&levels, &opts()).expect("L1 over target").bottommost);
        // A deeper file counts even in a level past num_levels (bad caller state stays safe).
        levels[3][0].smallest = b"g".to_vec();
        levels.push(vec![file(4, 1, "a", "a")]);
        assert!(!pick_compaction(&levels, &opts()).expect("L1 over target").bottommost);
    }

    #[test]
    fn range_pick_selects_by_bounds() {
        let levels = vec![
            vec![file(12, MIB, "x", "y"), file(11, MIB, "d", "f"), file(10, MIB, "a", "e")],
            vec![file(1, MIB, "a", "b"), file(2, MIB, "g", "h")],
            vec![file(3, MIB, "a", "z")],
        ];
        let o = opts();
        // L0: [d, d] hits file 11; older file 10 overlaps it and must come along; 12 stays.
        let pick = pick_range_compaction(&levels, &o, 0, Some(b"d"), Some(b"d")).expect("in range");
        assert_eq!((pick.inputs, pick.next_inputs, pick.reason), (nums(&[11, 10]), nums(&[1]), REASON_MANUAL));
        assert!(!pick.bottommost);
        let pick = pick_range_compaction(&levels, &o, 0, Some(b"w"), None).expect("in range");
        assert_eq!((pick.inputs, pick.trivial_move), (nums(&[12]), true));
        assert_eq!(pick_range_compaction(&levels, &o, 1, Some(b"c"), Some(b"f")), None);
        let pick = pick_range_compaction(&levels, &o, 1, None, Some(b"g")).expect("in range");
        assert_eq!((pick.inputs, pick.next_inputs), (nums(&[1, 2]), nums(&[3])));
        assert!(pick.bottommost);
        // The last level has nowhere to go; a level past the slice has no files.
        assert_eq!(pick_range_compaction(&levels, &o, 3, None, None), None);
        assert_eq!(pick_range_compaction(&levels, &o, 9, None, None), None);
    }

    #[test]
    fn manual_pick_at_level_n_is_chunked() {
        let o = PickerOptions { target_file_size: MIB, ..opts() };
        let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
        let l1: Vec<LevelFile> = keys.iter().enumerate().map(|(i, k)| file(i as u64, MIB, k, k)).collect();
        let levels = vec![vec![], l1];
        let pick = pick_range_compaction(&levels, &o, 1, None, None).expect("files in range");
        assert_eq!(pick.inputs.len() as u64, MANUAL_INPUT_TARGET_FILES_MAX);
        assert_eq!(pick.inputs, nums(&(0..MANUAL_INPUT_TARGET_FILES_MAX).collect::<Vec<u64>>()));
    }
}
