//! `Db::import_column_family(ies)`: new column families made of existing tables that keep
//! their own sequence numbers and levels (RocksDB's `CreateColumnFamilyWithImport`; several
//! families in one manifest edit, which RocksDB cannot do).
//!
//! Each table is opened and checked (comparator, levels, no overlap within a level >= 1, and
//! for every user key two tables hold, the one read first holds only newer versions: see
//! `import_check.rs`), staged like an ingested file (`prepare.rs`), and one manifest edit adds
//! the families, their tables and the database's last sequence number raised to at least the
//! largest imported one. L0 tables get epochs in the order of their largest sequence numbers
//! (oldest first; the read order the checks assumed); deeper tables epoch 1.
//!
//! Invariants: on any error the database is unchanged (no family, no table) and no staged file
//! is left; sources are untouched unless `move_files`, and then removed only after success
//! (`link_files` hard-links them too but never removes them).
//!
//! Thread safety: any thread; the commit holds `commit` (writes wait) and `state`.

use super::format::{PROP_LARGEST_SEQ, PROP_SMALLEST_SEQ};
use super::import_check::{Imported, check_levels_disjoint, check_overlaps_ordered, l0_epochs};
use super::job::with_seq;
use super::options::{ImportFile, ImportOptions};
use super::placement::KeyRange;
use super::prepare::{PreparedFile, naming};
use super::reader::SstFileReader;
use crate::cf::ColumnFamily;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::state::DbInner;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strata_base::CfId;
use strata_base::Comparator;
use strata_base::ikey::{self, SeqNo};
use strata_base::testing::kill_point;
use strata_manifest::{FileMeta, NUM_LEVELS, VersionEdit};

impl Db {
    /// Creates column family `name` from `files`, each at its given level with its own
    /// sequence numbers; see the module docs. The family must not exist.
    pub fn import_column_family(&self, name: &str, files: &[ImportFile], opts: &ImportOptions) -> Result<ColumnFamily> {
        let mut cfs = self.inner.import_column_families(&[(name, files)], opts)?;
        cfs.pop().ok_or_else(|| Error::InvalidArgument("import made no column family".into()))
    }

    /// Creates several column families at once, each from its own tables, in ONE manifest
    /// edit: after a crash either every family is present with all its tables or none is.
    /// Each family is checked as by [`import_column_family`](Self::import_column_family);
    /// two families with one name are `InvalidArgument`.
    pub fn import_column_families(
        &self,
        families: &[(&str, &[ImportFile])],
        opts: &ImportOptions,
    ) -> Result<Vec<ColumnFamily>> {
        self.inner.import_column_families(families, opts)
    }
}

/// A table property holding a decimal number, if present.
fn seq_property(r: &SstFileReader, name: &str) -> Result<Option<SeqNo>> {
    let Some(v) = r.properties().user.get(name) else { return Ok(None) };
    let s = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
    s.map(Some).ok_or_else(|| Error::corruption(r.path(), 0, format!("table property {name} is malformed")))
}

/// Argument checks that need no I/O: names valid and distinct, no empty file list.
fn check_import_args(families: &[(&str, &[ImportFile])]) -> Result<()> {
    if families.is_empty() {
        return Err(Error::InvalidArgument("import: no column family given".into()));
    }
    for (i, (name, files)) in families.iter().enumerate() {
        if name.is_empty() || name.len() > 255 {
            return Err(Error::InvalidArgument("column family names are 1 to 255 bytes".into()));
        }
        if files.is_empty() {
            return Err(Error::InvalidArgument(format!("import into {name:?}: the list of files is empty")));
        }
        if families[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::InvalidArgument(format!("column family {name:?} appears twice in one import")));
        }
    }
    Ok(())
}

impl DbInner {
    fn import_column_families(
        &self,
        families: &[(&str, &[ImportFile])],
        opts: &ImportOptions,
    ) -> Result<Vec<ColumnFamily>> {
        self.check_writable()?;
        if opts.move_files && opts.link_files {
            return Err(Error::InvalidArgument("`move_files` and `link_files` can not both be true".into()));
        }
        check_import_args(families)?;
        {
            let st = self.state.lock();
            if let Some((name, _)) = families.iter().find(|(n, _)| st.cf_names.values().any(|x| x == n)) {
                return Err(Error::InvalidArgument(format!("column family {name:?} already exists")));
            }
        }
        let (mut staged, mut imported, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
        for (_, files) in families {
            let first = staged.len();
            for f in *files {
                let (file, info) = self.check_import(f)?;
                staged.push(file);
                imported.push(info);
            }
            check_levels_disjoint(&staged[first..], &imported[first..])?;
            check_overlaps_ordered(&self.fs, &staged[first..], &imported[first..])?;
            bounds.push(first..staged.len());
        }
        if let Err(e) = self.stage(&mut staged, opts.move_files || opts.link_files) {
            self.unstage(&staged);
            return Err(e);
        }
        kill_point("import.staged");
        match self.commit_import(families, &bounds, &staged, &imported) {
            Ok(cfs) => {
                if opts.move_files {
                    for f in &staged {
                        let _ = self.fs.remove_file(&f.source);
                    }
                }
                Ok(cfs)
            }
            Err(e) => {
                if self.state.lock().versions.poisoned().is_none() {
                    self.unstage(&staged);
                }
                Err(e)
            }
        }
    }

    fn check_import(&self, f: &ImportFile) -> Result<(PreparedFile, Imported)> {
        let path = &f.path;
        if f.level >= NUM_LEVELS {
            return Err(Error::InvalidArgument(format!(
                "{}: level {} is not below {NUM_LEVELS}",
                path.display(),
                f.level
            )));
        }
        let reader = SstFileReader::open_with_fs(self.fs.clone(), path).map_err(|e| naming(path, e))?;
        let (smallest_seq, largest_seq) =
            match (seq_property(&reader, PROP_SMALLEST_SEQ)?, seq_property(&reader, PROP_LARGEST_SEQ)?) {
                (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                _ => {
                    let mut lo = SeqNo::MAX;
                    let (_, _, hi) = reader.scan(|s| {
                        lo = lo.min(s);
                        Ok(())
                    })?;
                    (lo, hi)
                }
            };
        // An ingested table is read at its global sequence number, not at its own zeros: without
        // it, its entries would count as older than every other table's.
        let (smallest_seq, largest_seq) = match f.global_seq {
            0 => (smallest_seq, largest_seq),
            g if largest_seq == 0 => (g, g),
            g => {
                return Err(Error::InvalidArgument(format!(
                    "{}: global sequence number {g} given, but the table holds sequence numbers up to \
                     {largest_seq} (only an external table has one)",
                    path.display()
                )));
            }
        };
        let p = reader.properties();
        let bound = |k: &[u8]| if f.global_seq == 0 { k.to_vec() } else { with_seq(k, f.global_seq) };
        let file = PreparedFile {
            source: path.clone(),
            cf: CfId::DEFAULT,
            range: KeyRange::new(ikey::user_key(&p.smallest_key), ikey::user_key(&p.largest_key)),
            smallest: bound(&p.smallest_key),
            largest: bound(&p.largest_key),
            size: reader.file_size(),
            checksum: reader.file_checksum(),
            number: None,
        };
        Ok((file, Imported { level: f.level, smallest_seq, largest_seq, global_seq: f.global_seq }))
    }

    fn commit_import(
        &self,
        families: &[(&str, &[ImportFile])],
        bounds: &[std::ops::Range<usize>],
        files: &[PreparedFile],
        imported: &[Imported],
    ) -> Result<Vec<ColumnFamily>> {
        let _commit = self.writes.commit.lock();
        let mut st = self.state.lock();
        if let Some((name, _)) = families.iter().find(|(n, _)| st.cf_names.values().any(|x| x == n)) {
            return Err(Error::InvalidArgument(format!("column family {name:?} already exists")));
        }
        let first_id = st.versions.next_cf_id();
        let mut edit = VersionEdit::default();
        let mut max_seq = 0;
        let mut made = Vec::with_capacity(families.len());
        for (k, ((name, _), range)) in families.iter().zip(bounds).enumerate() {
            let id = CfId::new(first_id.get() + k as u32);
            edit.add_cf(id, *name, Comparator::name(&*self.icmp));
            let (files, imported) = (&files[range.clone()], &imported[range.clone()]);
            // L0: epochs in the read order the checks assumed, oldest first, from 2; deeper 1.
            let epochs = l0_epochs(imported);
            for ((f, i), epoch) in files.iter().zip(imported).zip(epochs) {
                let number = f.number.ok_or_else(|| Error::InvalidArgument("file was not staged".into()))?;
                max_seq = max_seq.max(i.largest_seq);
                let meta = FileMeta {
                    number,
                    size: f.size,
                    smallest: f.smallest.clone(),
                    largest: f.largest.clone(),
                    smallest_seq: i.smallest_seq,
                    largest_seq: i.largest_seq,
                    checksum: f.checksum,
                    epoch,
                    global_seq: i.global_seq,
                };
                edit.add_file(id, i.level, meta);
            }
            made.push((id, name.to_string()));
        }
        let last = self.last_sequence().max(max_seq);
        edit.last_sequence = Some(last);
        st.versions.log_and_apply(edit)?;
        for n in files.iter().filter_map(|f| f.number) {
            st.pending_outputs.remove(&n);
        }
        for (id, name) in &made {
            st.cf_names.insert(*id, name.clone());
            st.active.mems.insert(*id, Arc::new(crate::memtable::MemTable::new()));
        }
        self.install_read_state(&st);
        if last > self.last_sequence() {
            self.last_seq.store(last, Ordering::Release);
        }
        Ok(made.into_iter().map(|(id, name)| ColumnFamily::new(id, &name)).collect())
    }
}
