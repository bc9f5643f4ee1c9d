//! `Db::ingest_external_files(_multi)`: checks, staging (`prepare.rs`), then one commit that
//! places every file (`placement.rs`), assigns sequence numbers and logs one manifest edit for
//! every column family.
//!
//! The commit holds, in this order, `commit` (writes wait: no sequence number is handed out and
//! no memtable changes under the placement) and `state`. Running compactions go on: the
//! placement counts each one's output range (`State::compaction_targets`) as a table already
//! there, so no output installed later overlaps a placed file. A memtable overlapping a file
//! is flushed first while writes wait (`allow_blocking_flush`). Links, their directory fsync,
//! the manifest write and the removal of moved sources hold the I/O gate; a copy does not.
//! The edit carries the raised last sequence number, so it is durable with the files; readers
//! see the files and the new last sequence number together (one read-state install, then the
//! sequence store, both before `commit` is released, so no write can take a number at or below
//! an assigned one).
//!
//! Invariants: on any error before the manifest write the database is unchanged and every
//! staged file is removed; sources are only removed (`move_files`) after the edit is durable.
//! If the manifest write itself fails the database is poisoned, as for a failed compaction
//! install: the staged files stay (the edit may be durable) and the next open deletes them
//! if it was not.
//!
//! Thread safety: any thread; ingestions serialize on the locks above.

use super::options::{IngestOptions, IngestResult, IngestSpec, IngestedFile};
use super::placement::{KeyRange, Placement, PlacementInput, place};
use super::prepare::PreparedFile;
use crate::cf::ColumnFamily;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::memtable::MemTable;
use crate::state::{CommitState, DbInner, State};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strata_base::fs::parent_or_dot;
use strata_base::ikey::{self, SEQ_MAX, SeqNo, ValueKind};
use strata_base::testing::kill_point;
use strata_manifest::{FileMeta, NUM_LEVELS, VersionEdit};

impl Db {
    /// Ingests external tables (written by `SstFileWriter`) into `cf` atomically; see
    /// `docs/ingestion.md` for placement, sequence numbers and errors.
    pub fn ingest_external_files<P: AsRef<Path>>(
        &self,
        cf: &ColumnFamily,
        files: &[P],
        opts: &IngestOptions,
    ) -> Result<IngestResult> {
        let spec = IngestSpec { cf, files: files.iter().map(|p| p.as_ref().to_path_buf()).collect() };
        self.ingest_external_files_multi(&[spec], opts)
    }

    /// Ingests files into several column families in one manifest edit: after a crash either
    /// every file is in every family or none is.
    pub fn ingest_external_files_multi(&self, specs: &[IngestSpec<'_>], opts: &IngestOptions) -> Result<IngestResult> {
        self.inner.ingest(specs, opts)
    }
}

/// Argument checks that need no I/O.
fn check_args(specs: &[IngestSpec<'_>], opts: &IngestOptions) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    if opts.move_files && opts.link_files {
        return bad("`move_files` and `link_files` can not both be true".into());
    }
    if specs.is_empty() {
        return bad("no column family and no file to ingest (empty list)".into());
    }
    let mut seen = BTreeSet::new();
    for s in specs {
        if !seen.insert(s.cf.id()) {
            return bad(format!("column family {:?} appears twice in one ingestion", s.cf.name()));
        }
        if s.files.is_empty() {
            return bad(format!("the list of files for column family {:?} is empty", s.cf.name()));
        }
    }
    Ok(())
}

/// `ikey` with its sequence number replaced by `seq` (its kind kept).
pub(super) fn with_seq(ikey_bytes: &[u8], seq: SeqNo) -> Vec<u8> {
    let kind = ikey::parse(ikey_bytes).map_or(ValueKind::Put, |p| p.kind);
    ikey::encode(ikey::user_key(ikey_bytes), seq, kind)
}

/// Whether `mem` holds a key in `range`.
fn mem_overlaps(mem: &Arc<MemTable>, range: &KeyRange) -> bool {
    use crate::iter::InternalIterator;
    if mem.is_empty() {
        return false;
    }
    let mut it = mem.iter();
    it.seek(&ikey::lookup_key(&range.smallest, SEQ_MAX));
    it.valid() && ikey::user_key(it.key()) <= range.largest.as_slice()
}

impl DbInner {
    fn ingest(&self, specs: &[IngestSpec<'_>], opts: &IngestOptions) -> Result<IngestResult> {
        self.check_writable()?;
        check_args(specs, opts)?;
        let mut files = Vec::new();
        for spec in specs {
            let name = self.live_cf_name(spec.cf)?;
            let first = files.len();
            for p in &spec.files {
                files.push(self.prepare_external(p, spec.cf.id(), &name, opts.verify_checksums_before_ingest)?);
            }
            if !opts.allow_global_seqno {
                check_inputs_disjoint(&files[first..])?;
            }
        }
        if let Err(e) = self.stage(&mut files, opts.move_files || opts.link_files) {
            self.unstage(&files);
            return Err(e);
        }
        kill_point("ingest.staged");
        let result = self.commit_ingest(&files, opts);
        match result {
            Ok(r) => {
                kill_point("ingest.edit_logged");
                if opts.move_files {
                    // The fsyncs of the sources' directories hold the gate like the others.
                    let _gate = self.io_gate.hold();
                    self.remove_sources(&files);
                }
                Ok(r)
            }
            Err(e) => {
                // A failed manifest write poisons the version set: the edit may be durable, so
                // the files stay (the next open removes them if it was not).
                if self.state.lock().versions.poisoned().is_none() {
                    self.unstage(&files);
                }
                Err(e)
            }
        }
    }

    /// The name of the family `cf` names, if it still exists under that id.
    fn live_cf_name(&self, cf: &ColumnFamily) -> Result<String> {
        let st = self.state.lock();
        match st.cf_names.get(&cf.id()) {
            Some(n) if n == cf.name() => Ok(n.clone()),
            _ => Err(Error::InvalidArgument(format!(
                "column family {:?} (id {}) was dropped or does not exist",
                cf.name(),
                cf.id()
            ))),
        }
    }

    /// Best effort, after success: the files are in the database, the sources are not needed.
    fn remove_sources(&self, files: &[PreparedFile]) {
        let mut dirs = BTreeSet::new();
        for f in files {
            if self.fs.remove_file(&f.source).is_ok() {
                dirs.insert(parent_or_dot(&f.source).to_path_buf());
            }
        }
        for d in dirs {
            let _ = self.fs.sync_dir(&d);
        }
    }

    /// Flushes every memtable generation while the caller holds `commit` (writes wait).
    fn flush_holding_commit(&self, commit: &mut CommitState) -> Result<()> {
        let mut st = self.state.lock();
        if !st.active.is_empty() {
            self.switch_generation(commit, &mut st)?;
        }
        while !st.imm.is_empty() {
            self.check_writable()?;
            if st.shutting_down {
                return Err(Error::Closed);
            }
            self.bg.cv.wait(st.raw());
        }
        Ok(())
    }

    /// Per file: whether a memtable (active or immutable) of its family holds keys in its range.
    fn memtable_overlaps(st: &State, files: &[PreparedFile]) -> Vec<bool> {
        files
            .iter()
            .map(|f| {
                let active = st.active.mems.get(&f.cf);
                let imm = st.imm.iter().filter_map(|g| g.mems.get(&f.cf));
                active.into_iter().chain(imm).any(|m| mem_overlaps(m, &f.range))
            })
            .collect()
    }

    fn commit_ingest(&self, files: &[PreparedFile], opts: &IngestOptions) -> Result<IngestResult> {
        // Writes wait. Compactions go on: the placement treats where each running one writes
        // (`State::compaction_targets`) as tables already there, so no output it installs later
        // can sit above an ingested file it overlaps, or share its level and range.
        let mut commit = self.writes.commit.lock();
        self.check_writable()?;
        let overlaps = Self::memtable_overlaps(&self.state.lock(), files);
        if let Some(i) = overlaps.iter().position(|&o| o) {
            if !opts.allow_blocking_flush {
                return Err(Error::InvalidArgument(format!(
                    "{}: external file requires flush (a memtable holds keys in its range) \
                     and allow_blocking_flush is false",
                    files[i].source.display()
                )));
            }
            self.flush_holding_commit(&mut commit)?;
        }
        let mut st = self.state.lock();
        for f in files {
            if !st.cf_names.contains_key(&f.cf) {
                return Err(Error::InvalidArgument(format!(
                    "{}: its column family (id {}) was dropped during the ingestion",
                    f.source.display(),
                    f.cf
                )));
            }
        }
        if let Some(i) = Self::memtable_overlaps(&st, files).iter().position(|&o| o) {
            return Err(Error::TryAgain(format!("{}: a memtable changed after the flush", files[i].source.display())));
        }
        let (edit, result, last) = self.ingest_edit(&st, files, opts)?;
        {
            // The manifest's fsync holds the I/O gate too. Never blocks: `hold` only counts, and
            // no writer waiting at the gate holds `commit` or `state` (`io_gate.rs`).
            let _gate = self.io_gate.hold();
            st.versions.log_and_apply(edit)?;
        }
        for f in &result.files {
            st.pending_outputs.remove(&f.number);
        }
        self.install_read_state(&st);
        if last > self.last_sequence() {
            self.last_seq.store(last, Ordering::Release);
        }
        drop(st);
        drop(commit);
        Ok(result)
    }

    /// Places every file and builds the edit; returns it, the result and the last sequence
    /// number after the ingestion.
    fn ingest_edit(
        &self,
        st: &State,
        files: &[PreparedFile],
        opts: &IngestOptions,
    ) -> Result<(VersionEdit, IngestResult, SeqNo)> {
        let version = st.versions.current();
        let snapshot_forces_seq = opts.snapshot_consistency && self.snapshots.len() > 0;
        let mut next_seq = self.last_sequence().max(st.versions.last_sequence()) + 1;
        let mut edit = VersionEdit::default();
        let mut result = IngestResult::default();
        // Files arrive grouped by family, in spec order.
        for group in files.chunk_by(|a, b| a.cf == b.cf) {
            let cf = group[0].cf;
            let vcf = version.cf(cf).ok_or_else(|| Error::ColumnFamilyNotFound(format!("id {cf}")))?;
            let mut levels: Vec<Vec<KeyRange>> = vcf
                .levels
                .iter()
                .map(|l| {
                    l.iter().map(|f| KeyRange::new(ikey::user_key(&f.smallest), ikey::user_key(&f.largest))).collect()
                })
                .collect();
            for t in st.compaction_targets.values().filter(|t| t.cf == cf) {
                if let Some(l) = levels.get_mut(t.level) {
                    l.push(KeyRange::new(t.smallest.clone(), t.largest.clone()));
                }
            }
            let ranges: Vec<KeyRange> = group.iter().map(|f| f.range.clone()).collect();
            let input = PlacementInput { files: &ranges, levels: &levels, memtable_overlap: &[], snapshot_forces_seq };
            for (epoch, (f, p)) in (vcf.next_epoch()..).zip(group.iter().zip(place(&input))) {
                check_placement(f, &p, opts, snapshot_forces_seq)?;
                let seq = if p.needs_seq { next_seq } else { 0 };
                next_seq += u64::from(p.needs_seq);
                let number = f.number.ok_or_else(|| Error::InvalidArgument("file was not staged".into()))?;
                let meta = FileMeta {
                    number,
                    size: f.size,
                    smallest: with_seq(&f.smallest, seq),
                    largest: with_seq(&f.largest, seq),
                    smallest_seq: seq,
                    largest_seq: seq,
                    checksum: f.checksum,
                    epoch,
                    global_seq: seq,
                };
                edit.add_file(cf, p.level, meta);
                let sequence = seq;
                result.files.push(IngestedFile { path: f.source.clone(), cf_id: cf, number, level: p.level, sequence });
            }
        }
        let last = next_seq - 1;
        edit.last_sequence = Some(last);
        Ok((edit, result, last))
    }
}

/// The options' limits on a placement: `allow_global_seqno`, `fail_if_not_bottommost_level`.
fn check_placement(f: &PreparedFile, p: &Placement, opts: &IngestOptions, snapshot_forces_seq: bool) -> Result<()> {
    if p.needs_seq && !opts.allow_global_seqno {
        return Err(Error::InvalidArgument(format!(
            "{}: global seqno is required (the file overlaps data in the column family{}), \
             but allow_global_seqno is false",
            f.source.display(),
            if snapshot_forces_seq { " or a snapshot is open" } else { "" }
        )));
    }
    if opts.fail_if_not_bottommost_level && p.level != NUM_LEVELS - 1 {
        return Err(Error::TryAgain(format!(
            "{}: the file would go to L{}, not the bottom level L{} (data or a running compaction's \
             output below that level overlaps its range), and fail_if_not_bottommost_level is set",
            f.source.display(),
            p.level,
            NUM_LEVELS - 1
        )));
    }
    Ok(())
}

/// With `allow_global_seqno: false`, input files of one family must not overlap each other
/// (RocksDB fails this fast, before touching the database).
fn check_inputs_disjoint(files: &[PreparedFile]) -> Result<()> {
    for (i, a) in files.iter().enumerate() {
        if let Some(b) = files[..i].iter().find(|b| b.range.overlaps(&a.range)) {
            return Err(Error::InvalidArgument(format!(
                "{} overlaps {}: overlapping input files need global sequence numbers, \
                 but allow_global_seqno is false",
                a.source.display(),
                b.source.display()
            )));
        }
    }
    Ok(())
}
