//! `Version`: an immutable set of tables per level per column family, and how an edit turns one
//! version into the next.
//!
//! A [`Version`] maps column-family ids to `Arc<CfVersion>`, and a [`CfVersion`] holds its levels
//! as vectors of `Arc<FileMeta>`. Applying an edit copies only the column families it touches
//! and shares every [`FileMeta`] and every untouched column family with the previous version, so
//! pinning the whole database is one `Arc<Version>` clone and an edit costs O(files touched CF).
//!
//! Invariants (checked by [`Version::check_invariants`], which the version set runs on every
//! edit in debug builds; the cheap ones are enforced by [`Version::apply`] always):
//! - every column family has [`NUM_LEVELS`] levels;
//! - L0 is ordered newest first: `epoch` descending, then `largest_seq`, then `number`
//!   descending (tables from before epochs have epoch 0 and keep the old order among themselves);
//! - within a level >= 1 tables are sorted by smallest key and do not overlap;
//! - `smallest <= largest` and `smallest_seq <= largest_seq` for every table;
//! - table numbers are unique across the version and below `next_file_number`.
//!
//! Thread safety: immutable once built; share it with `Arc`.

use crate::edit::VersionEdit;
use crate::format::{DEFAULT_CF_ID, NUM_LEVELS};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use strata_base::{CfId, Comparator, FileNumber};

/// The levels of one column family, as a list of tables per level.
type Levels = Vec<Vec<Arc<FileMeta>>>;
/// Levels being edited, with a bitmask of the levels that need sorting again.
type Touched = BTreeMap<CfId, (Levels, u64)>;

/// What the manifest knows about one table. Keys are internal keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FileMeta {
    pub number: FileNumber,
    pub size: u64,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    pub smallest_seq: u64,
    pub largest_seq: u64,
    /// Checksum of the whole file, as `strata_sst::TableMeta::file_checksum`.
    pub checksum: u32,
    /// When the table's data entered the column family: a flush or an ingestion takes the
    /// family's next epoch, a compaction output the largest epoch of its inputs. L0 is ordered
    /// by epoch, newest first. 0: a table from before epochs (see [`Version::with_recovered_epochs`]).
    pub epoch: u64,
    /// For an ingested table whose entries are stored at sequence 0: the sequence number they
    /// are read at (`smallest_seq == largest_seq == global_seq`). 0: read the file as it is.
    pub global_seq: u64,
}

/// The tables of one column family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfVersion {
    pub id: CfId,
    pub name: String,
    /// Name of the comparator the family's tables are sorted by.
    pub comparator: String,
    /// Exactly [`NUM_LEVELS`] levels.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
}

impl CfVersion {
    pub fn new(id: CfId, name: impl Into<String>, comparator: impl Into<String>) -> Self {
        Self { id, name: name.into(), comparator: comparator.into(), levels: vec![Vec::new(); NUM_LEVELS] }
    }

    pub fn num_files(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Sum of the sizes of the tables in `level` (0 for a level out of range).
    pub fn level_size_bytes(&self, level: usize) -> u64 {
        self.levels.get(level).map_or(0, |l| l.iter().map(|f| f.size).sum())
    }

    /// A copy whose tables all have epochs; see [`Version::with_recovered_epochs`].
    fn clone_levels_with_epochs(&self) -> CfVersion {
        let mut out = self.clone();
        for files in out.levels.iter_mut().skip(1) {
            for f in files.iter_mut().filter(|f| f.epoch == 0) {
                *f = Arc::new(FileMeta { epoch: 1, ..(**f).clone() });
            }
        }
        if let Some(l0) = out.levels.first_mut() {
            // L0 is newest first: number from the back.
            let n = l0.len() as u64;
            for (i, f) in l0.iter_mut().enumerate() {
                *f = Arc::new(FileMeta { epoch: n + 1 - i as u64, ..(**f).clone() });
            }
        }
        out
    }

    /// The epoch the next flushed or ingested table of this family takes: above every table's.
    pub fn next_epoch(&self) -> u64 {
        self.files().map(|(_, f)| f.epoch).max().unwrap_or(0) + 1
    }

    /// Every table with its level.
    pub fn files(&self) -> impl Iterator<Item = (usize, &Arc<FileMeta>)> {
        self.levels.iter().enumerate().flat_map(|(l, files)| files.iter().map(move |f| (l, f)))
    }
}

/// One consistent state of every column family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    cfs: BTreeMap<CfId, Arc<CfVersion>>,
}

impl Version {
    /// A version with no column families (the state before a manifest's first edit).
    pub fn empty() -> Self {
        Self::default()
    }

    pub fn cf(&self, id: CfId) -> Option<&Arc<CfVersion>> {
        self.cfs.get(&id)
    }

    /// Column families in id order.
    pub fn cfs(&self) -> impl Iterator<Item = &Arc<CfVersion>> {
        self.cfs.values()
    }

    /// Numbers of every table of every column family.
    pub fn table_numbers(&self) -> BTreeSet<FileNumber> {
        self.cfs.values().flat_map(|c| c.files().map(|(_, f)| f.number)).collect()
    }

    pub fn num_files(&self) -> usize {
        self.cfs.values().map(|c| c.num_files()).sum()
    }

    /// The version that results from applying `edit`, or why the edit does not fit this
    /// version (the caller makes it `InvalidArgument` or `Corruption`). The counters of the edit
    /// are not looked at; the version set owns them.
    pub fn apply(&self, edit: &VersionEdit, cmp: &dyn Comparator) -> Result<Version, String> {
        let mut cfs = self.cfs.clone();
        for a in &edit.cf_adds {
            if cfs.contains_key(&a.id) {
                return Err(format!("adds column family {} which already exists", a.id));
            }
            if a.name.is_empty() {
                return Err(format!("adds column family {} with an empty name", a.id));
            }
            if cfs.values().any(|c| c.name == a.name) {
                return Err(format!("adds column family {:?} whose name is taken", a.name));
            }
            cfs.insert(a.id, Arc::new(CfVersion::new(a.id, a.name.clone(), a.comparator.clone())));
        }

        // Copies of the levels of the families this edit touches, with a bitmask of the
        // levels that need sorting again.
        let mut touched: Touched = BTreeMap::new();
        for d in &edit.deleted_files {
            let (levels, _) = touch(&mut touched, &cfs, d.cf)?;
            let level = levels.get_mut(d.level).ok_or_else(|| format!("level {} out of range", d.level))?;
            let pos = level.iter().position(|f| f.number == d.number).ok_or_else(|| {
                format!("deletes table {} which is not in level {} of column family {}", d.number, d.level, d.cf)
            })?;
            level.remove(pos);
        }

        if !edit.new_files.is_empty() {
            // The added numbers, sorted, checked against each other and then, in one pass,
            // against every table left after the deletions: O(files * log(added)), no hashing.
            let mut added: Vec<FileNumber> = edit.new_files.iter().map(|n| n.meta.number).collect();
            added.sort_unstable();
            if let Some(w) = added.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("adds table {} twice", w[0]));
            }
            for (id, cf) in &cfs {
                let in_use = |n: FileNumber| added.binary_search(&n).is_ok();
                let clash = match touched.get(id) {
                    Some((levels, _)) => levels.iter().flatten().map(|f| f.number).find(|&n| in_use(n)),
                    None => cf.files().map(|(_, f)| f.number).find(|&n| in_use(n)),
                };
                if let Some(n) = clash {
                    return Err(format!("adds table {n} whose number is already in use"));
                }
            }
            // An L0 table without an epoch sorts below every table with one, which is right
            // only if it came first: refuse one added to a family that already had tables with
            // epochs. The check is against the family before this edit's additions, so it does
            // not depend on the order of the tables inside one edit: a full-state edit (a
            // manifest's first record) of a state this check accepted is accepted again.
            for n in edit.new_files.iter().filter(|n| n.level == 0 && n.meta.epoch == 0) {
                let (levels, _) = touch(&mut touched, &cfs, n.cf)?;
                if levels.iter().flatten().any(|f| f.epoch != 0) {
                    return Err(format!(
                        "adds L0 table {} without an epoch to column family {} whose tables have epochs",
                        n.meta.number, n.cf
                    ));
                }
            }
            for n in &edit.new_files {
                if cmp.compare(&n.meta.smallest, &n.meta.largest) == Ordering::Greater {
                    return Err(format!("adds table {} whose smallest key is above its largest", n.meta.number));
                }
                let (levels, dirty) = touch(&mut touched, &cfs, n.cf)?;
                let level = levels.get_mut(n.level).ok_or_else(|| format!("level {} out of range", n.level))?;
                level.push(Arc::new(n.meta.clone()));
                *dirty |= 1 << n.level;
            }
        }

        for (id, (mut levels, dirty)) in touched {
            for (l, files) in levels.iter_mut().enumerate() {
                if dirty & (1 << l) != 0 {
                    sort_level(l, files, cmp);
                    if l > 0 {
                        check_no_overlap(id, l, files, cmp)?;
                    }
                }
            }
            let old = cfs.get(&id).ok_or_else(|| format!("column family {id} vanished"))?;
            let cf = CfVersion { id, name: old.name.clone(), comparator: old.comparator.clone(), levels };
            cfs.insert(id, Arc::new(cf));
        }

        for &id in &edit.cf_drops {
            if id == DEFAULT_CF_ID {
                return Err("drops the default column family".to_string());
            }
            if cfs.remove(&id).is_none() {
                return Err(format!("drops column family {id} which does not exist"));
            }
        }
        Ok(Version { cfs })
    }

    /// This version with an epoch for every table of a column family that has tables without
    /// one (a database from before epochs): tables at L1 and below get epoch 1, L0 tables
    /// 2, 3, ... from oldest to newest in their recovered order, which the new order keeps.
    /// Families whose tables all have epochs are shared unchanged.
    pub fn with_recovered_epochs(&self) -> Version {
        let mut cfs = self.cfs.clone();
        for (id, cf) in &self.cfs {
            if cf.files().all(|(_, f)| f.epoch != 0) {
                continue;
            }
            cfs.insert(*id, Arc::new(cf.clone_levels_with_epochs()));
        }
        Version { cfs }
    }

    /// Checks every invariant listed in the module docs; `Err` says which one broke and where.
    pub fn check_invariants(&self, next_file_number: FileNumber, cmp: &dyn Comparator) -> Result<(), String> {
        let mut numbers = HashSet::new();
        for (&id, cf) in &self.cfs {
            if cf.id != id {
                return Err(format!("column family keyed {id} has id {}", cf.id));
            }
            if cf.levels.len() != NUM_LEVELS {
                return Err(format!("column family {id} has {} levels", cf.levels.len()));
            }
            for (l, files) in cf.levels.iter().enumerate() {
                for f in files {
                    if !numbers.insert(f.number) {
                        return Err(format!("table {} appears twice", f.number));
                    }
                    if f.number >= next_file_number {
                        return Err(format!("table {} is not below next_file_number {next_file_number}", f.number));
                    }
                    if cmp.compare(&f.smallest, &f.largest) == Ordering::Greater {
                        return Err(format!("table {}: smallest key above largest", f.number));
                    }
                    if f.smallest_seq > f.largest_seq {
                        return Err(format!(
                            "table {}: smallest_seq {} above largest_seq {}",
                            f.number, f.smallest_seq, f.largest_seq
                        ));
                    }
                }
                if l == 0 {
                    for w in files.windows(2) {
                        if l0_order(&w[0], &w[1]) != Ordering::Less {
                            return Err(format!(
                                "L0 of cf {id}: table {} is not newer than {}",
                                w[0].number, w[1].number
                            ));
                        }
                    }
                } else {
                    check_no_overlap(id, l, files, cmp)?;
                }
            }
        }
        Ok(())
    }
}

fn touch<'a>(
    touched: &'a mut Touched,
    cfs: &BTreeMap<CfId, Arc<CfVersion>>,
    id: CfId,
) -> Result<(&'a mut Levels, &'a mut u64), String> {
    use std::collections::btree_map::Entry;
    let entry = match touched.entry(id) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => {
            let cf = cfs.get(&id).ok_or_else(|| format!("column family {id} does not exist"))?;
            v.insert((cf.levels.clone(), 0))
        }
    };
    Ok((&mut entry.0, &mut entry.1))
}

/// L0 order: newest first by epoch, when the data entered the family (ingestion and import
/// break "newer table = larger sequence number", RocksDB's reason for epoch numbers); then
/// largest_seq and number descending, the order tables from before epochs (epoch 0) keep.
fn l0_order(a: &FileMeta, b: &FileMeta) -> Ordering {
    b.epoch.cmp(&a.epoch).then(b.largest_seq.cmp(&a.largest_seq)).then(b.number.cmp(&a.number))
}

fn sort_level(level: usize, files: &mut [Arc<FileMeta>], cmp: &dyn Comparator) {
    if level == 0 {
        files.sort_by(|a, b| l0_order(a, b));
    } else {
        files.sort_by(|a, b| cmp.compare(&a.smallest, &b.smallest).then(a.number.cmp(&b.number)));
    }
}

/// Sorted by smallest key and each table's largest key strictly below the next one's smallest.
fn check_no_overlap(cf: CfId, level: usize, files: &[Arc<FileMeta>], cmp: &dyn Comparator) -> Result<(), String> {
    for w in files.windows(2) {
        if cmp.compare(&w[0].largest, &w[1].smallest) != Ordering::Less {
            return Err(format!(
                "level {level} of column family {cf}: tables {} and {} overlap or are out of order",
                w[0].number, w[1].number
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_base::BytewiseComparator;

    fn f(number: u64, lo: &str, hi: &str, seq: u64) -> FileMeta {
        FileMeta {
            number: FileNumber::new(number),
            size: 100,
            smallest: lo.as_bytes().to_vec(),
            largest: hi.as_bytes().to_vec(),
            smallest_seq: seq,
            largest_seq: seq,
            checksum: 0,
            epoch: 0,
            global_seq: 0,
        }
    }

    fn base() -> Version {
        let mut e = VersionEdit::new();
        e.add_cf(CfId::DEFAULT, "default", "c");
        Version::empty().apply(&e, &BytewiseComparator).unwrap()
    }

    #[test]
    fn levels_sorted_and_l0_newest_first() {
        let c = BytewiseComparator;
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 1, f(5, "m", "p", 1)).add_file(CfId::DEFAULT, 1, f(6, "a", "c", 1));
        e.add_file(CfId::DEFAULT, 0, f(7, "a", "z", 3)).add_file(CfId::DEFAULT, 0, f(8, "a", "z", 9)).add_file(
            CfId::DEFAULT,
            0,
            f(9, "a", "z", 3),
        );
        let v = base().apply(&e, &c).unwrap();
        let cf = v.cf(CfId::DEFAULT).unwrap();
        let l1: Vec<u64> = cf.levels[1].iter().map(|f| f.number.get()).collect();
        let l0: Vec<u64> = cf.levels[0].iter().map(|f| f.number.get()).collect();
        assert_eq!(l1, vec![6, 5]);
        assert_eq!(l0, vec![8, 9, 7]);
        v.check_invariants(FileNumber::new(10), &c).unwrap();
        assert!(v.check_invariants(FileNumber::new(9), &c).unwrap_err().contains("next_file_number"));
    }

    #[test]
    fn l0_is_ordered_by_epoch_before_sequence() {
        let c = BytewiseComparator;
        let mut e = VersionEdit::new();
        // Table 5 entered last (epoch 3) but holds the oldest sequence numbers, as an import
        // or an ingestion without a global sequence number can produce.
        e.add_file(CfId::DEFAULT, 0, FileMeta { epoch: 3, ..f(5, "a", "z", 1) });
        e.add_file(CfId::DEFAULT, 0, FileMeta { epoch: 2, ..f(6, "a", "z", 9) });
        e.add_file(CfId::DEFAULT, 0, FileMeta { epoch: 1, ..f(7, "a", "z", 20) });
        let v = base().apply(&e, &c).unwrap();
        let l0: Vec<u64> = v.cf(CfId::DEFAULT).unwrap().levels[0].iter().map(|f| f.number.get()).collect();
        assert_eq!(l0, vec![5, 6, 7]);
        v.check_invariants(FileNumber::new(10), &c).unwrap();
        assert_eq!(v.cf(CfId::DEFAULT).unwrap().next_epoch(), 4);
    }

    #[test]
    fn recovered_epochs_keep_the_old_l0_order() {
        let c = BytewiseComparator;
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, f(7, "a", "z", 3)).add_file(CfId::DEFAULT, 0, f(8, "a", "z", 9)).add_file(
            CfId::DEFAULT,
            0,
            f(9, "a", "z", 5),
        );
        e.add_file(CfId::DEFAULT, 2, f(10, "a", "b", 1));
        let v = base().apply(&e, &c).unwrap();
        let before: Vec<u64> = v.cf(CfId::DEFAULT).unwrap().levels[0].iter().map(|f| f.number.get()).collect();
        let r = v.with_recovered_epochs();
        let cf = r.cf(CfId::DEFAULT).unwrap();
        let after: Vec<(u64, u64)> = cf.levels[0].iter().map(|f| (f.number.get(), f.epoch)).collect();
        assert_eq!(before, vec![8, 9, 7]);
        assert_eq!(after, vec![(8, 4), (9, 3), (7, 2)]);
        assert_eq!(cf.levels[2][0].epoch, 1);
        r.check_invariants(FileNumber::new(11), &c).unwrap();
        // Re-applying the recovered files as a snapshot keeps the order; a family that already
        // has epochs is shared unchanged.
        let again = r.with_recovered_epochs();
        assert!(Arc::ptr_eq(again.cf(CfId::DEFAULT).unwrap(), r.cf(CfId::DEFAULT).unwrap()));
        // An L0 table without an epoch is refused once the family's tables have epochs.
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, f(12, "a", "z", 2));
        assert!(r.apply(&e, &c).unwrap_err().contains("without an epoch"));
        // A new flush (next epoch) goes in front even with smaller sequence numbers.
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, FileMeta { epoch: cf.next_epoch(), ..f(11, "a", "z", 2) });
        let v2 = r.apply(&e, &c).unwrap();
        assert_eq!(v2.cf(CfId::DEFAULT).unwrap().levels[0][0].number, FileNumber::new(11));
    }

    #[test]
    fn epochless_l0_check_does_not_depend_on_order_within_an_edit() {
        // A table without an epoch that came first, then a flush with an epoch: accepted one
        // edit at a time; the same state as one full-state edit, in either order, is accepted
        // too (the manifest_edit fuzz twin found a rollover snapshot that recovery refused).
        let c = BytewiseComparator;
        let v = base();
        let mut e1 = VersionEdit::new();
        e1.add_file(CfId::DEFAULT, 0, f(5, "a", "z", 1));
        let mut e2 = VersionEdit::new();
        e2.add_file(CfId::DEFAULT, 0, FileMeta { epoch: 1, ..f(6, "a", "z", 2) });
        let stepwise = v.apply(&e1, &c).unwrap().apply(&e2, &c).unwrap();
        for order in [[5u64, 6], [6, 5]] {
            let mut whole = VersionEdit::new();
            for n in order {
                let meta = if n == 5 { f(5, "a", "z", 1) } else { FileMeta { epoch: 1, ..f(6, "a", "z", 2) } };
                whole.add_file(CfId::DEFAULT, 0, meta);
            }
            assert_eq!(v.apply(&whole, &c).unwrap(), stepwise, "order {order:?}");
        }
        // Still refused: an epoch-less table added after tables with epochs exist.
        let mut late = VersionEdit::new();
        late.add_file(CfId::DEFAULT, 0, f(7, "a", "z", 3));
        assert!(stepwise.apply(&late, &c).unwrap_err().contains("without an epoch"));
    }

    #[test]
    fn overlap_in_level_one_is_refused() {
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 1, f(5, "a", "m", 1)).add_file(CfId::DEFAULT, 1, f(6, "m", "z", 1));
        assert!(base().apply(&e, &BytewiseComparator).unwrap_err().contains("overlap"));
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, f(5, "a", "m", 1)).add_file(CfId::DEFAULT, 0, f(6, "m", "z", 1));
        assert!(base().apply(&e, &BytewiseComparator).is_ok(), "L0 may overlap");
    }

    #[test]
    fn delete_missing_and_duplicate_add_are_refused() {
        let c = BytewiseComparator;
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 2, f(5, "a", "b", 1));
        let v = base().apply(&e, &c).unwrap();
        let mut dup = VersionEdit::new();
        dup.add_file(CfId::DEFAULT, 3, f(5, "x", "y", 1));
        assert!(v.apply(&dup, &c).unwrap_err().contains("already in use"));
        let mut wrong_level = VersionEdit::new();
        wrong_level.delete_file(CfId::DEFAULT, 3, FileNumber::new(5));
        assert!(v.apply(&wrong_level, &c).unwrap_err().contains("not in level 3"));
        // Moving a table down a level in one edit is allowed (a trivial move).
        let mut mv = VersionEdit::new();
        mv.delete_file(CfId::DEFAULT, 2, FileNumber::new(5)).add_file(CfId::DEFAULT, 3, f(5, "a", "b", 1));
        let moved = v.apply(&mv, &c).unwrap();
        assert_eq!(moved.cf(CfId::DEFAULT).unwrap().levels[3].len(), 1);
        assert!(moved.cf(CfId::DEFAULT).unwrap().levels[2].is_empty());
    }

    #[test]
    fn column_families_share_structure() {
        let c = BytewiseComparator;
        let mut e = VersionEdit::new();
        e.add_cf(CfId::new(1), "one", "c").add_file(CfId::DEFAULT, 1, f(5, "a", "b", 1)).add_file(
            CfId::new(1),
            1,
            f(6, "a", "b", 1),
        );
        let v1 = base().apply(&e, &c).unwrap();
        let mut e = VersionEdit::new();
        e.add_file(CfId::new(1), 2, f(7, "c", "d", 2));
        let v2 = v1.apply(&e, &c).unwrap();
        assert!(Arc::ptr_eq(v1.cf(CfId::DEFAULT).unwrap(), v2.cf(CfId::DEFAULT).unwrap()), "untouched CF is shared");
        assert!(
            Arc::ptr_eq(&v1.cf(CfId::new(1)).unwrap().levels[1][0], &v2.cf(CfId::new(1)).unwrap().levels[1][0]),
            "file shared"
        );
        assert_eq!(v2.table_numbers().into_iter().map(FileNumber::get).collect::<Vec<_>>(), vec![5, 6, 7]);
        let mut drop = VersionEdit::new();
        drop.drop_cf(CfId::new(1));
        let v3 = v2.apply(&drop, &c).unwrap();
        assert!(v3.cf(CfId::new(1)).is_none());
        assert_eq!(v3.table_numbers().len(), 1);
        let mut bad = VersionEdit::new();
        bad.drop_cf(CfId::DEFAULT);
        assert!(v3.apply(&bad, &c).is_err());
        let mut bad = VersionEdit::new();
        bad.add_cf(CfId::new(4), "default", "c");
        assert!(v3.apply(&bad, &c).unwrap_err().contains("name is taken"));
        let mut bad = VersionEdit::new();
        bad.add_file(CfId::new(9), 1, f(8, "a", "b", 1));
        assert!(v3.apply(&bad, &c).unwrap_err().contains("does not exist"));
    }
}
