//! Where ingested files go and whether they need a sequence number: a pure function of key
//! ranges, like `compaction/picker.rs`, tested alone.
//!
//! Rules (RocksDB's `AssignLevelAndSeqnoForIngestedFile`, db/external_sst_file_ingestion_job.cc):
//! - **Batches.** Input files are cut into batches in input order: a file starts a new batch
//!   when its range overlaps a file of the running batch. Files of one batch are disjoint.
//! - **Level.** Scan the levels top-down for the first one holding a table whose range overlaps
//!   the file (tables of the database, and files of earlier batches of this call where they were
//!   placed). The file goes to the level just above it, where by construction it overlaps
//!   nothing; if that first overlapping level is L0, to L0 (ordered there by epoch, newest
//!   first); if no level overlaps, to the bottom level. A file of batch `b > 0` goes no deeper
//!   than just above the uppermost level of batch `b - 1` (to L0 if that was L0), so later
//!   files always sit above the earlier ones they may shadow.
//! - **Sequence number.** A file needs the next sequence number if it overlaps a table, a
//!   memtable, or another input file (then every input needs one), or if a snapshot is open
//!   and snapshot consistency is asked for; otherwise it keeps sequence 0, which is older than
//!   everything in the database and so correct only where nothing it could shadow exists.
//!   Files needing one take consecutive numbers in input order, so a later file wins.
//!
//! Ranges are compared as user keys, inclusive at both ends. Overlap of ranges is taken for
//! overlap of data (RocksDB looks for a key in the range; a range test is conservative: it may
//! give a sequence number or a higher level where none was needed, never the other way).
//!
//! Invariants: `place` never panics; every placement's level is below `num_levels`; a file
//! that overlaps anything has `needs_seq`.
//!
//! Thread safety: pure functions over borrowed data.

/// An inclusive range of user keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
}

impl KeyRange {
    pub fn new(smallest: impl Into<Vec<u8>>, largest: impl Into<Vec<u8>>) -> Self {
        Self { smallest: smallest.into(), largest: largest.into() }
    }

    pub fn overlaps(&self, other: &KeyRange) -> bool {
        self.smallest <= other.largest && other.smallest <= self.largest
    }
}

/// What placement looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlacementInput<'a> {
    /// The files to ingest, in input order.
    pub files: &'a [KeyRange],
    /// The ranges of the column family's tables, per level (`levels.len()` levels), and of the
    /// outputs of its running compactions at their output level (the hull of their inputs).
    pub levels: &'a [Vec<KeyRange>],
    /// Per file: whether a memtable holds keys in its range (empty: none does).
    pub memtable_overlap: &'a [bool],
    /// A snapshot is open and `snapshot_consistency` is set.
    pub snapshot_forces_seq: bool,
}

/// Where one file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub level: usize,
    /// It takes the next sequence number (else it keeps 0).
    pub needs_seq: bool,
    /// Its batch (0-based; see the module docs).
    pub batch: usize,
    /// It overlaps another input file (all files then need sequence numbers).
    pub overlaps_input: bool,
}

/// Batch index of each file, in input order.
pub fn batches(files: &[KeyRange]) -> Vec<usize> {
    let mut out = Vec::with_capacity(files.len());
    let mut batch = 0;
    let mut start = 0;
    for (i, f) in files.iter().enumerate() {
        if files[start..i].iter().any(|g| g.overlaps(f)) {
            batch += 1;
            start = i;
        }
        out.push(batch);
    }
    out
}

/// The placement of every file, in input order; see the module docs. An empty `levels` is
/// treated as one level.
pub fn place(input: &PlacementInput<'_>) -> Vec<Placement> {
    let num_levels = input.levels.len().max(1);
    let bottom = num_levels - 1;
    let batch_of = batches(input.files);
    let inputs_overlap = batch_of.last().is_some_and(|&b| b > 0);
    // The database's ranges plus the files placed so far, per level.
    let mut levels: Vec<Vec<KeyRange>> = input.levels.to_vec();
    levels.resize(num_levels, Vec::new());
    let mut out: Vec<Placement> = Vec::with_capacity(input.files.len());
    // Deepest level the current batch may use, and the uppermost level it used so far.
    let mut limit = bottom;
    let mut batch_top = bottom;
    let mut current_batch = 0;
    for (i, f) in input.files.iter().enumerate() {
        let batch = batch_of[i];
        if batch != current_batch {
            limit = batch_top.saturating_sub(1);
            current_batch = batch;
            batch_top = limit;
        }
        let first_overlap = levels.iter().position(|l| l.iter().any(|r| r.overlaps(f)));
        let level = match first_overlap {
            None => bottom,
            Some(l) => l.saturating_sub(1),
        }
        .min(limit);
        batch_top = batch_top.min(level);
        let overlaps_memtable = input.memtable_overlap.get(i).copied().unwrap_or(false);
        let needs_seq = first_overlap.is_some() || overlaps_memtable || inputs_overlap || input.snapshot_forces_seq;
        levels[level].push(f.clone());
        out.push(Placement { level, needs_seq, batch, overlaps_input: inputs_overlap });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: &str, b: &str) -> KeyRange {
        KeyRange::new(a.as_bytes(), b.as_bytes())
    }

    fn empty(n: usize) -> Vec<Vec<KeyRange>> {
        vec![Vec::new(); n]
    }

    fn run(files: &[KeyRange], levels: &[Vec<KeyRange>], snapshot: bool) -> Vec<(usize, bool)> {
        let input = PlacementInput { files, levels, memtable_overlap: &[], snapshot_forces_seq: snapshot };
        place(&input).into_iter().map(|p| (p.level, p.needs_seq)).collect()
    }

    #[test]
    fn empty_family_takes_the_bottom_level_without_a_sequence_number() {
        assert_eq!(run(&[r("a", "c")], &empty(7), false), vec![(6, false)]);
        assert_eq!(run(&[r("a", "c"), r("d", "f")], &empty(7), false), vec![(6, false), (6, false)]);
    }

    #[test]
    fn an_open_snapshot_forces_a_sequence_number_only() {
        assert_eq!(run(&[r("a", "c")], &empty(7), true), vec![(6, true)]);
    }

    #[test]
    fn goes_just_above_the_first_overlapping_level() {
        let mut levels = empty(7);
        levels[3].push(r("b", "d"));
        levels[5].push(r("a", "z"));
        assert_eq!(run(&[r("c", "c")], &levels, false), vec![(2, true)]);
        // Overlapping only L5: L4.
        assert_eq!(run(&[r("x", "y")], &levels, false), vec![(4, true)]);
        // Touching at one key is overlap.
        assert_eq!(run(&[r("d", "e")], &levels, false), vec![(2, true)]);
    }

    #[test]
    fn overlap_at_l0_or_l1_means_l0() {
        let mut levels = empty(7);
        levels[0].push(r("a", "c"));
        assert_eq!(run(&[r("b", "b")], &levels, false), vec![(0, true)]);
        let mut levels = empty(7);
        levels[1].push(r("a", "c"));
        assert_eq!(run(&[r("b", "b")], &levels, false), vec![(0, true)]);
    }

    #[test]
    fn disjoint_from_every_table_goes_to_the_bottom_with_sequence_zero() {
        let mut levels = empty(7);
        levels[0].push(r("a", "c"));
        levels[6].push(r("m", "p"));
        assert_eq!(run(&[r("d", "l")], &levels, false), vec![(6, false)]);
    }

    #[test]
    fn memtable_overlap_needs_a_sequence_number() {
        let files = [r("a", "b"), r("c", "d")];
        let levels = empty(7);
        let input = PlacementInput {
            files: &files,
            levels: &levels,
            memtable_overlap: &[false, true],
            snapshot_forces_seq: false,
        };
        let p: Vec<bool> = place(&input).iter().map(|p| p.needs_seq).collect();
        assert_eq!(p, vec![false, true]);
    }

    #[test]
    fn batches_follow_input_order() {
        let files = [r("a", "i"), r("i", "k"), r("x", "y"), r("j", "l"), r("w", "z")];
        assert_eq!(batches(&files), vec![0, 1, 1, 2, 2]);
        assert_eq!(batches(&[]), Vec::<usize>::new());
        assert_eq!(batches(&[r("a", "b"), r("c", "d"), r("a", "a")]), vec![0, 0, 1]);
    }

    /// RocksDB's ExternalSSTFileBasicTest.OverlappingFiles: five files, two overlaps; every file
    /// takes a sequence number and the levels come out L6 = 1, L5 = 2, L4 = 2.
    #[test]
    fn five_overlapping_files_like_rocksdb() {
        let files = [r("a", "i"), r("i", "k"), r("x", "y"), r("j", "l"), r("w", "z")];
        let got = run(&files, &empty(7), false);
        assert_eq!(got, vec![(6, true), (5, true), (5, true), (4, true), (4, true)]);
    }

    #[test]
    fn a_batch_after_one_at_l0_stays_at_l0() {
        let mut levels = empty(7);
        levels[0].push(r("a", "z"));
        let files = [r("b", "c"), r("c", "d"), r("q", "q")];
        assert_eq!(run(&files, &levels, false), vec![(0, true), (0, true), (0, true)]);
    }

    #[test]
    fn never_panics_on_degenerate_input() {
        assert_eq!(run(&[r("a", "b")], &[], false), vec![(0, false)]);
        assert_eq!(run(&[], &empty(7), true), vec![]);
        // An inverted range overlaps nothing but is placed.
        assert_eq!(run(&[r("z", "a")], &empty(3), false).len(), 1);
    }
}
