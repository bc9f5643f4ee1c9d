//! The order checks of `Db::import_column_families`: tables imported into one family must be
//! readable in one order, the order the import installs them in.
//!
//! Read order ([`reads_before`]): a table at a lower level is read first; among L0 tables the
//! one with the larger largest sequence number (then the later in the input), which is also
//! the order [`l0_epochs`] gives epochs in (the engine reads L0 by epoch, newest first). The
//! rule: for every user key held by two tables, every version in the table read first has a
//! sequence number strictly above every version in the other. Otherwise a read could return
//! an older version, or two versions could share a sequence number.
//!
//! Checking it costs reads, so a pair is tested in three steps: tables whose user-key ranges do
//! not overlap share no key; where they overlap, a table read first whose smallest sequence
//! number is above the other's largest satisfies the rule for every key (the cheap range
//! test, [`needs_key_check`]); only the pairs failing that are read, and only over the
//! intersection of their key ranges ([`first_misordered`]). Such pairs are legal in a real
//! database: an ingested table read at global sequence number g and a table flushed later
//! whose range spans g (the memtable held no key of the ingested range at the ingestion, so
//! every key of the flushed table in that range is above g).
//!
//! Invariants: the decisions are pure functions over plain data; [`first_misordered`] reads
//! nothing outside the range it is given; an ingested table is read at its global sequence
//! number wherever its stored one is 0.
//!
//! Thread safety: pure functions, and readers owned by the caller.

use super::placement::KeyRange;
use super::prepare::{PreparedFile, naming};
use super::reader::{SstFileReader, SstRawIterator};
use crate::error::{Error, Result};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::FileSystem;
use strata_base::ikey::{self, SeqNo};

/// One table to import, checked: where it goes and its sequence range (its global sequence
/// number when it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Imported {
    pub(crate) level: usize,
    pub(crate) smallest_seq: SeqNo,
    pub(crate) largest_seq: SeqNo,
    pub(crate) global_seq: SeqNo,
}

/// How old an L0 table is among the family's L0 tables (larger is newer): its largest sequence
/// number, then its position in the input. The one key both [`reads_before`] and
/// [`l0_epochs`] use, so the check and the installed order cannot disagree.
fn l0_age(t: &Imported, index: usize) -> (SeqNo, usize) {
    (t.largest_seq, index)
}

/// Whether table `a` (at input position `ai`) is read before table `b` (at `bi`): the lower
/// level first, and in one level the newer by [`l0_age`].
pub(crate) fn reads_before(a: &Imported, ai: usize, b: &Imported, bi: usize) -> bool {
    match a.level.cmp(&b.level) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => l0_age(a, ai) > l0_age(b, bi),
    }
}

/// The epoch of each table, in input order: L0 tables from 2 upwards, oldest first by
/// [`l0_age`]; deeper tables 1.
pub(crate) fn l0_epochs(tables: &[Imported]) -> Vec<u64> {
    let mut l0: Vec<usize> = (0..tables.len()).filter(|&i| tables[i].level == 0).collect();
    l0.sort_by_key(|&i| l0_age(&tables[i], i));
    let mut epochs = vec![1; tables.len()];
    for (rank, i) in l0.into_iter().enumerate() {
        epochs[i] = 2 + rank as u64;
    }
    epochs
}

/// Whether a pair of key-overlapping tables, `newer` read before `older`, fails the cheap range
/// test and must be checked key by key.
pub(crate) fn needs_key_check(newer: &Imported, older: &Imported) -> bool {
    newer.smallest_seq <= older.largest_seq
}

/// A user key two tables both hold with their versions out of read order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misordered {
    pub(crate) key: Vec<u8>,
    /// The smallest sequence number of the key in the table read first.
    pub(crate) newer_seq: SeqNo,
    /// The largest sequence number of the key in the other table.
    pub(crate) older_seq: SeqNo,
}

/// A cursor over a table's entries in internal-key order (user key ascending, sequence number
/// descending), each with the sequence number it is read at.
pub(crate) trait Versions {
    /// Moves to the first entry whose user key is `>= key`.
    fn seek(&mut self, key: &[u8]);
    fn next(&mut self);
    /// The current entry's user key and sequence number; `None` past the end.
    fn current(&self) -> Result<Option<(&[u8], SeqNo)>>;
}

/// Steps taken with `next` before a lagging cursor seeks instead (RocksDB's
/// `max_sequential_skip_in_iterations`): a neighbour is usually a few entries away, and a
/// seek reads the index again.
const SKIP_BY_NEXT_MAX: usize = 8;

/// Moves `c` to its first entry whose user key is `>= key`, from an entry below it.
fn advance_to(c: &mut impl Versions, key: &[u8]) -> Result<()> {
    for _ in 0..SKIP_BY_NEXT_MAX {
        match c.current()? {
            Some((k, _)) if k < key => c.next(),
            _ => return Ok(()),
        }
    }
    c.seek(key);
    Ok(())
}

/// The smallest and largest sequence numbers of the versions of `key` at `c`, leaving `c`
/// past them.
fn versions_of(c: &mut impl Versions, key: &[u8]) -> Result<(SeqNo, SeqNo)> {
    let (mut lo, mut hi) = (SeqNo::MAX, 0);
    while let Some((k, s)) = c.current()? {
        if k != key {
            break;
        }
        (lo, hi) = (lo.min(s), hi.max(s));
        c.next();
    }
    Ok((lo, hi))
}

/// The first user key in `range` held by both tables whose versions in `newer` are not all
/// above its versions in `older`; `None` when every shared key is in order.
pub(crate) fn first_misordered(
    newer: &mut impl Versions,
    older: &mut impl Versions,
    range: &KeyRange,
) -> Result<Option<Misordered>> {
    newer.seek(&range.smallest);
    older.seek(&range.smallest);
    loop {
        let (Some((nk, _)), Some((ok, _))) = (newer.current()?, older.current()?) else { return Ok(None) };
        if nk > range.largest.as_slice() || ok > range.largest.as_slice() {
            return Ok(None);
        }
        match nk.cmp(ok) {
            Ordering::Less => {
                let target = ok.to_vec();
                advance_to(newer, &target)?;
            }
            Ordering::Greater => {
                let target = nk.to_vec();
                advance_to(older, &target)?;
            }
            Ordering::Equal => {
                let key = nk.to_vec();
                let (newer_seq, _) = versions_of(newer, &key)?;
                let (_, older_seq) = versions_of(older, &key)?;
                if newer_seq <= older_seq {
                    return Ok(Some(Misordered { key, newer_seq, older_seq }));
                }
            }
        }
    }
}

/// A table's entries at the sequence numbers they are read at: an ingested table's stored 0
/// stands for its global sequence number.
struct TableVersions {
    it: SstRawIterator,
    global_seq: SeqNo,
    path: PathBuf,
}

impl Versions for TableVersions {
    fn seek(&mut self, key: &[u8]) {
        self.it.seek(key)
    }
    fn next(&mut self) {
        self.it.next()
    }
    fn current(&self) -> Result<Option<(&[u8], SeqNo)>> {
        if !self.it.valid() {
            self.it.status()?;
            return Ok(None);
        }
        self.it.status()?;
        let p = ikey::parse(self.it.internal_key())
            .ok_or_else(|| Error::corruption(&self.path, 0, "malformed internal key in table"))?;
        let seq = if p.seq == 0 && self.global_seq != 0 { self.global_seq } else { p.seq };
        Ok(Some((p.user_key, seq)))
    }
}

/// `key` for a message: escaped, and in hex.
fn show_key(key: &[u8]) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{}\" (hex {hex})", key.escape_ascii())
}

/// Tables of one level >= 1 must not overlap (by user key).
pub(crate) fn check_levels_disjoint(files: &[PreparedFile], imported: &[Imported]) -> Result<()> {
    for (i, (a, ai)) in files.iter().zip(imported).enumerate().filter(|(_, (_, ai))| ai.level > 0) {
        let clash = files[..i].iter().zip(imported).find(|(b, bi)| bi.level == ai.level && b.range.overlaps(&a.range));
        if let Some((b, _)) = clash {
            return Err(Error::InvalidArgument(format!(
                "{} and {} overlap in level {}",
                b.source.display(),
                a.source.display(),
                ai.level
            )));
        }
    }
    Ok(())
}

/// Every pair of key-overlapping tables of one family must follow the rule of the module docs;
/// `InvalidArgument` naming both files and the first shared key out of order otherwise.
pub(crate) fn check_overlaps_ordered(
    fs: &Arc<dyn FileSystem>,
    files: &[PreparedFile],
    imported: &[Imported],
) -> Result<()> {
    for (i, (a, ai)) in files.iter().zip(imported).enumerate() {
        for (j, (b, bi)) in files[..i].iter().zip(imported).enumerate() {
            if !a.range.overlaps(&b.range) {
                continue;
            }
            let ((newer, nt), (older, ot)) =
                if reads_before(ai, i, bi, j) { ((a, ai), (b, bi)) } else { ((b, bi), (a, ai)) };
            if !needs_key_check(nt, ot) {
                continue;
            }
            let range = KeyRange::new(
                a.range.smallest.as_slice().max(b.range.smallest.as_slice()),
                a.range.largest.as_slice().min(b.range.largest.as_slice()),
            );
            let mut n = open_versions(fs, &newer.source, nt.global_seq)?;
            let mut o = open_versions(fs, &older.source, ot.global_seq)?;
            if let Some(m) = first_misordered(&mut n, &mut o, &range)? {
                return Err(misordered_error(newer, nt, older, ot, &m));
            }
        }
    }
    Ok(())
}

fn open_versions(fs: &Arc<dyn FileSystem>, path: &Path, global_seq: SeqNo) -> Result<TableVersions> {
    let reader = SstFileReader::open_with_fs(fs.clone(), path).map_err(|e| naming(path, e))?;
    Ok(TableVersions { it: reader.raw_iter(), global_seq, path: path.to_path_buf() })
}

fn misordered_error(newer: &PreparedFile, nt: &Imported, older: &PreparedFile, ot: &Imported, m: &Misordered) -> Error {
    let why = if nt.level == ot.level { "the larger largest sequence number in L0" } else { "a lower level" };
    let overlap = if nt.smallest_seq <= ot.largest_seq && ot.smallest_seq <= nt.largest_seq {
        "overlap in keys and in sequence numbers"
    } else {
        "overlap in keys"
    };
    Error::InvalidArgument(format!(
        "{} (L{}, sequence numbers {}..={}) and {} (L{}, {}..={}) {overlap}, and both hold key {}: the first is \
         read first ({why}) but holds sequence number {} for that key, not above the second's {}",
        newer.source.display(),
        nt.level,
        nt.smallest_seq,
        nt.largest_seq,
        older.source.display(),
        ot.level,
        ot.smallest_seq,
        ot.largest_seq,
        show_key(&m.key),
        m.newer_seq,
        m.older_seq
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn t(level: usize, smallest_seq: SeqNo, largest_seq: SeqNo) -> Imported {
        Imported { level, smallest_seq, largest_seq, global_seq: 0 }
    }

    /// A table in memory: (user key, sequence number) in internal-key order; every key the
    /// cursor shows is recorded.
    struct Mem {
        entries: Vec<(Vec<u8>, SeqNo)>,
        pos: usize,
        shown: RefCell<Vec<Vec<u8>>>,
    }

    fn mem(entries: &[(&str, SeqNo)]) -> Mem {
        let mut entries: Vec<(Vec<u8>, SeqNo)> = entries.iter().map(|(k, s)| (k.as_bytes().to_vec(), *s)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        Mem { entries, pos: 0, shown: RefCell::new(Vec::new()) }
    }

    impl Versions for Mem {
        fn seek(&mut self, key: &[u8]) {
            self.pos = self.entries.partition_point(|(k, _)| k.as_slice() < key);
        }
        fn next(&mut self) {
            self.pos += 1;
        }
        fn current(&self) -> Result<Option<(&[u8], SeqNo)>> {
            let e = self.entries.get(self.pos).map(|(k, s)| (k.as_slice(), *s));
            if let Some((k, _)) = e {
                self.shown.borrow_mut().push(k.to_vec());
            }
            Ok(e)
        }
    }

    fn check(newer: &[(&str, SeqNo)], older: &[(&str, SeqNo)], range: (&str, &str)) -> Option<Misordered> {
        let (mut n, mut o) = (mem(newer), mem(older));
        first_misordered(&mut n, &mut o, &KeyRange::new(range.0, range.1)).unwrap()
    }

    #[test]
    fn lower_level_is_read_first_and_l0_by_largest_sequence_then_input_order() {
        assert!(reads_before(&t(0, 1, 2), 0, &t(3, 50, 60), 1));
        assert!(!reads_before(&t(3, 50, 60), 1, &t(0, 1, 2), 0));
        assert!(reads_before(&t(0, 3, 8), 0, &t(0, 5, 5), 1));
        assert!(!reads_before(&t(0, 5, 5), 1, &t(0, 3, 8), 0));
        // A tie in largest sequence numbers: the later input is newer.
        assert!(reads_before(&t(0, 1, 7), 2, &t(0, 7, 7), 1));
    }

    #[test]
    fn epochs_follow_the_read_order_the_check_uses() {
        let tables = [t(0, 3, 8), t(2, 1, 1), t(0, 5, 5), t(0, 1, 9), t(0, 9, 9), t(0, 0, 0), t(6, 0, 0)];
        let epochs = l0_epochs(&tables);
        assert_eq!(epochs, vec![4, 1, 3, 5, 6, 2, 1]);
        for (i, a) in tables.iter().enumerate().filter(|(_, a)| a.level == 0) {
            for (j, b) in tables.iter().enumerate().filter(|(j, b)| b.level == 0 && *j != i) {
                assert_eq!(reads_before(a, i, b, j), epochs[i] > epochs[j], "{a:?}@{i} vs {b:?}@{j}");
            }
        }
    }

    #[test]
    fn only_pairs_failing_the_range_test_are_read() {
        assert!(!needs_key_check(&t(0, 9, 12), &t(0, 1, 8)));
        // An ingested table at g = 5 and a later flush spanning it.
        assert!(needs_key_check(&t(0, 3, 8), &t(0, 5, 5)));
        // Disjoint, but the one read first is the older: only the keys can tell.
        assert!(needs_key_check(&t(5, 1, 50), &t(6, 51, 60)));
        assert!(needs_key_check(&t(0, 0, 0), &t(0, 0, 0)));
    }

    #[test]
    fn a_flush_spanning_an_ingested_sequence_number_is_in_order() {
        // Ingested at g = 5 over m1..m5; the flush holds b@3 (in the memtable at ingestion,
        // outside the range) and keys of the range written after it.
        let ingested = [("m1", 5), ("m3", 5), ("m5", 5)];
        let flushed = [("b", 3), ("m2", 6), ("m3", 7), ("m3", 6), ("y", 8)];
        assert_eq!(check(&flushed, &ingested, ("m1", "m5")), None);
    }

    #[test]
    fn interleaved_versions_of_one_key_are_found() {
        let newer = [("a", 9), ("k", 3), ("k", 1)];
        let older = [("j", 4), ("k", 2)];
        assert_eq!(
            check(&newer, &older, ("j", "k")),
            Some(Misordered { key: b"k".to_vec(), newer_seq: 1, older_seq: 2 })
        );
        // Equal sequence numbers are out of order too (two versions cannot share one).
        let found = check(&[("k", 0)], &[("k", 0)], ("k", "k")).unwrap();
        assert_eq!((found.newer_seq, found.older_seq), (0, 0));
        // The first bad key in key order, after good ones.
        let newer = [("a", 10), ("b", 10), ("c", 1)];
        let older = [("a", 5), ("b", 5), ("c", 5)];
        assert_eq!(check(&newer, &older, ("a", "c")).unwrap().key, b"c".to_vec());
    }

    #[test]
    fn keys_outside_the_range_are_neither_compared_nor_read_past() {
        let newer = [("a", 1), ("m", 9), ("z", 1)];
        let older = [("a", 5), ("m", 2), ("n", 1), ("z", 5)];
        let (mut n, mut o) = (mem(&newer), mem(&older));
        assert_eq!(first_misordered(&mut n, &mut o, &KeyRange::new("b", "m")).unwrap(), None);
        for shown in [n.shown.take(), o.shown.take()] {
            assert!(
                shown.iter().all(|k| k.as_slice() > b"a".as_slice() && k.as_slice() <= b"z".as_slice()),
                "{shown:?}"
            );
        }
        // Without the bounds both "a" and "z" would be out of order.
        assert!(check(&newer, &older, ("a", "z")).is_some());
    }

    #[test]
    fn long_gaps_between_shared_keys_are_skipped_by_seeking() {
        let names: Vec<String> = (0..100).map(|i| format!("k{i:03}")).collect();
        let older: Vec<(&str, SeqNo)> = names.iter().map(|k| (k.as_str(), 5)).collect();
        let newer = [("k000", 9), ("k050", 9), ("k099", 2)];
        let (mut n, mut o) = (mem(&newer), mem(&older));
        let found = first_misordered(&mut n, &mut o, &KeyRange::new("k000", "k099")).unwrap();
        assert_eq!(found.map(|m| m.key), Some(b"k099".to_vec()));
        // Two seeks over the gaps instead of a walk over all 100 entries.
        assert!(o.shown.take().len() < 60);
    }

    #[test]
    fn keys_show_escaped_and_in_hex() {
        assert_eq!(show_key(b"k\x00\"1"), "\"k\\x00\\\"1\" (hex 6b002231)");
    }
}
