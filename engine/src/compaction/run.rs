//! Running compactions: the I/O half. What to compact is decided by the pure picker in
//! `compaction::picker`; which entries survive by `compaction::filter`.
//!
//! A compaction merges its input tables, drops what no reader can see any more, writes outputs
//! split at `target_file_size` (only between different user keys, so that tables of one level
//! never share a user key), fsyncs them and the directory, then logs one edit that deletes the
//! inputs and adds the outputs. A trivial move rewrites nothing: the edit moves the file.
//!
//! Thread safety: up to `Options::max_background_compactions` background compactions run at
//! once, each holding `bg.compaction` shared; a pick reserves its input files in
//! `State::compacting` in the same critical section that chose them, so no two compactions
//! share a file, and the picker never chooses files overlapping a reserved one's key range in
//! the output level. The pick also records its output level and key hull in
//! `State::compaction_targets`, which ingestion places files around instead of waiting for
//! the compaction. `compact_range` holds `bg.compaction` exclusively (no background
//! compaction runs beside it). Flushes and ingestions run beside all of them.

use crate::compaction::{
    CompactionPick, EntryFilter, Keep, LevelFile, PickerOptions, pick_compaction, pick_range_compaction,
};
use crate::error::{Error, Result};
use crate::iter::{InternalIterator, MergingIterator};
use crate::output::TableOutput;
use crate::state::{CompactionTarget, DbInner};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strata_base::ikey;
use strata_base::testing::kill_point;
use strata_base::{CfId, FileNumber};
use strata_manifest::{FileMeta, Version, VersionEdit};

impl DbInner {
    pub(crate) fn picker_options(&self) -> PickerOptions {
        PickerOptions {
            num_levels: strata_manifest::NUM_LEVELS,
            level0_compaction_trigger: self.opts.level0_compaction_trigger,
            max_bytes_for_level_base: self.opts.max_bytes_for_level_base,
            max_bytes_for_level_multiplier: self.opts.max_bytes_for_level_multiplier,
            target_file_size: self.opts.target_file_size,
        }
    }

    fn level_files(
        version: &Version,
        cf_id: CfId,
        compacting: &std::collections::BTreeSet<FileNumber>,
    ) -> Vec<Vec<LevelFile>> {
        let Some(cf) = version.cf(cf_id) else { return Vec::new() };
        cf.levels
            .iter()
            .map(|files| {
                files
                    .iter()
                    .map(|f| LevelFile {
                        number: f.number,
                        size: f.size,
                        smallest: ikey::user_key(&f.smallest).to_vec(),
                        largest: ikey::user_key(&f.largest).to_vec(),
                        being_compacted: compacting.contains(&f.number),
                    })
                    .collect()
            })
            .collect()
    }

    /// Picks and runs one background compaction. Returns `false` when nothing needs doing.
    pub(crate) fn maybe_compact(&self) -> Result<bool> {
        let _running = self.bg.compaction.read();
        self.compact_once()
    }

    /// Picks and runs one compaction; the caller holds `bg.compaction` (shared or exclusive).
    pub(crate) fn compact_once(&self) -> Result<bool> {
        let (cf_id, pick, version) = {
            let mut st = self.state.lock();
            if st.manual_compaction || st.shutting_down {
                return Ok(false);
            }
            let version = st.versions.current();
            let mut best: Option<(CfId, CompactionPick)> = None;
            for cf in version.cfs() {
                let levels = Self::level_files(&version, cf.id, &st.compacting);
                if let Some(p) = pick_compaction(&levels, &self.picker_options())
                    && best.as_ref().is_none_or(|(_, b)| p.score > b.score)
                {
                    best = Some((cf.id, p));
                }
            }
            let Some((cf_id, pick)) = best else { return Ok(false) };
            if meets_running_target(&st, cf_id, &pick) {
                // Never, by the reasoning on `meets_running_target`. A debug build (every test)
                // fails loudly: a background error poisons the database, so the test's next
                // write fails. A release build waits for the running compaction instead.
                if cfg!(debug_assertions) {
                    return Err(Error::Internal(format!("{pick:?} writes beside a running compaction")));
                }
                return Ok(false);
            }
            reserve(&mut st, cf_id, &pick);
            (cf_id, pick, version)
        };
        self.run_compaction(cf_id, &pick, &version)?;
        // The inputs stay live while any `Arc<Version>` naming them exists, ours included.
        drop(version);
        self.delete_obsolete_files();
        Ok(true)
    }

    /// Compacts every level of `cf_id` overlapping `[begin, end]` (user keys) down the tree.
    pub(crate) fn compact_range_impl(&self, cf_id: CfId, begin: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        let _running = self.bg.compaction.write();
        let levels = strata_manifest::NUM_LEVELS;
        for level in 0..levels - 1 {
            loop {
                let (pick, version) = {
                    let mut st = self.state.lock();
                    let version = st.versions.current();
                    let files = Self::level_files(&version, cf_id, &st.compacting);
                    match pick_range_compaction(&files, &self.picker_options(), level, begin, end) {
                        Some(p) => {
                            reserve(&mut st, cf_id, &p);
                            (p, version)
                        }
                        None => break,
                    }
                };
                self.run_compaction(cf_id, &pick, &version)?;
                drop(version);
                self.delete_obsolete_files();
            }
        }
        Ok(())
    }

    fn find_file(version: &Version, cf_id: CfId, level: usize, number: FileNumber) -> Option<Arc<FileMeta>> {
        version.cf(cf_id)?.levels.get(level)?.iter().find(|f| f.number == number).cloned()
    }

    /// Runs `pick` (its inputs reserved by [`reserve`]) and releases the reservation whatever
    /// the outcome.
    fn run_compaction(&self, cf_id: CfId, pick: &CompactionPick, version: &Version) -> Result<()> {
        let result = self.run_reserved(cf_id, pick, version);
        // Idempotent: a successful install already released the reservation in its own
        // critical section (see `release`).
        release(&mut self.state.lock(), pick);
        result
    }

    fn run_reserved(&self, cf_id: CfId, pick: &CompactionPick, version: &Version) -> Result<()> {
        let inputs: Vec<(usize, Arc<FileMeta>)> = pick
            .inputs
            .iter()
            .map(|&n| (pick.level, n))
            .chain(pick.next_inputs.iter().map(|&n| (pick.output_level, n)))
            .filter_map(|(lvl, n)| Self::find_file(version, cf_id, lvl, n).map(|f| (lvl, f)))
            .collect();
        if inputs.is_empty() {
            return Ok(());
        }
        if pick.trivial_move && inputs.len() == 1 {
            let (lvl, f) = &inputs[0];
            let mut edit = VersionEdit::default();
            edit.delete_file(cf_id, *lvl, f.number);
            edit.add_file(cf_id, pick.output_level, (**f).clone());
            let mut st = self.state.lock();
            if st.versions.current().cf(cf_id).is_none() {
                // The family was dropped while this waited: nothing to move.
                return Ok(());
            }
            st.versions.log_and_apply(edit)?;
            release(&mut st, pick);
            self.install_read_state(&st);
            self.stats.level(pick.output_level).trivial_moves.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let outputs = self.compact_files(cf_id, pick, &inputs)?;
        kill_point("compaction.outputs_written");
        let mut st = self.state.lock();
        if st.versions.current().cf(cf_id).is_none() {
            // The family was dropped while this ran (`Db::drop_cf`): the outputs belong to
            // nothing. An edit naming the family would fail and poison the database.
            for meta in &outputs {
                st.pending_outputs.remove(&meta.number);
                let _ = self.fs.remove_file(&self.table_path(meta.number));
            }
            return Ok(());
        }
        let mut edit = VersionEdit::default();
        for (lvl, f) in &inputs {
            edit.delete_file(cf_id, *lvl, f.number);
        }
        // Outputs hold data that entered no later than the newest input.
        let epoch = inputs.iter().map(|(_, f)| f.epoch).max().unwrap_or(0);
        for meta in &outputs {
            edit.add_file(cf_id, pick.output_level, FileMeta { epoch, ..meta.clone() });
        }
        // NB: if logging fails the outputs stay in `pending_outputs`: the edit may be in the
        // manifest file without having been synced, and a restart without power loss replays
        // it, so a concurrent `delete_obsolete_files` must not delete them. The database is
        // poisoned now; the next open's scan deletes them if the edit did not survive.
        st.versions.log_and_apply(edit)?;
        release(&mut st, pick);
        for meta in &outputs {
            st.pending_outputs.remove(&meta.number);
        }
        self.install_read_state(&st);
        drop(st);
        let read: u64 = inputs.iter().map(|(_, f)| f.size).sum();
        let written: u64 = outputs.iter().map(|f| f.size).sum();
        let ls = self.stats.level(pick.output_level);
        ls.bytes_read.fetch_add(read, Ordering::Relaxed);
        ls.bytes_written.fetch_add(written, Ordering::Relaxed);
        ls.compactions.fetch_add(1, Ordering::Relaxed);
        kill_point("compaction.installed");
        // Obsolete inputs are deleted by the caller once it drops its `Arc<Version>`.
        Ok(())
    }

    /// Merges the inputs and writes the outputs; returns their metadata (files synced, the
    /// directory synced, numbers still in `pending_outputs`).
    fn compact_files(
        &self,
        cf_id: CfId,
        pick: &CompactionPick,
        inputs: &[(usize, Arc<FileMeta>)],
    ) -> Result<Vec<FileMeta>> {
        let mut by_level: BTreeMap<usize, Vec<Arc<FileMeta>>> = BTreeMap::new();
        for (level, f) in inputs {
            by_level.entry(*level).or_default().push(Arc::clone(f));
        }
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for (level, mut files) in by_level {
            if level > 0 {
                files.sort_by(|a, b| strata_base::Comparator::compare(&*self.icmp, &a.smallest, &b.smallest));
            }
            // A compaction reads each block once: keep the cache for point reads.
            self.push_level_iters(level, files, false, &mut children)?;
        }
        let mut iter = MergingIterator::new(children);
        iter.seek_to_first();
        let mut filter = EntryFilter::new(self.snapshots.sequences(), pick.bottommost);
        let mut outputs = Vec::new();
        let mut current: Option<TableOutput> = None;
        let mut last_user_key: Vec<u8> = Vec::new();
        let result: Result<()> = (|| {
            while iter.valid() {
                let key = iter.key();
                let at = || iter.location().unwrap_or_else(|| (self.path.clone(), 0));
                let parsed = ikey::parse(key).ok_or_else(|| {
                    let (file, offset) = at();
                    Error::corruption(file, offset, "malformed internal key in compaction input")
                })?;
                match filter.keep(key) {
                    Keep::Yes => {}
                    Keep::No => {
                        iter.next();
                        continue;
                    }
                    Keep::Corrupt => {
                        let (file, offset) = at();
                        return Err(Error::corruption(file, offset, "compaction input out of order or malformed"));
                    }
                }
                let new_user_key = parsed.user_key != last_user_key.as_slice();
                if new_user_key
                    && current.as_ref().is_some_and(|o| o.estimated_size() >= self.opts.target_file_size)
                    && let Some(out) = current.take()
                {
                    outputs.push(out.finish(cf_id)?);
                }
                let out = match current.as_mut() {
                    Some(out) => out,
                    None => current.insert(self.new_table_output(pick.bottommost, false)?),
                };
                out.add(key, parsed.seq, parsed.kind, iter.value())?;
                if new_user_key {
                    last_user_key.clear();
                    last_user_key.extend_from_slice(parsed.user_key);
                }
                iter.next();
            }
            iter.status()?;
            if let Some(out) = current.take() {
                outputs.push(out.finish(cf_id)?);
            }
            Ok(())
        })();
        if let Err(e) = result {
            // Leave nothing behind: outputs are not in any version yet.
            let mut st = self.state.lock();
            for m in &outputs {
                st.pending_outputs.remove(&m.number);
                let _ = self.fs.remove_file(&self.table_path(m.number));
            }
            if let Some(out) = current.take() {
                st.pending_outputs.remove(&out.number);
                drop(out); // removes the unfinished file
            }
            return Err(e);
        }
        if !outputs.is_empty() {
            self.sync_dir()?;
        }
        Ok(outputs)
    }

    /// Body of the background compaction thread.
    pub(crate) fn compaction_loop(self: &Arc<Self>) {
        loop {
            {
                let mut st = self.state.lock();
                if st.shutting_down {
                    return;
                }
                if self.bg.poisoned.load(Ordering::Acquire) || self.opts.disable_auto_compactions {
                    self.bg.cv.wait(st.raw());
                    continue;
                }
            }
            match self.maybe_compact() {
                Ok(true) => {
                    self.bg.cv.notify_all();
                }
                Ok(false) => {
                    // Tables that only a since-dropped iterator, snapshot read or `LiveFiles`
                    // kept alive become deletable without any new flush or compaction: collect
                    // them while idle.
                    self.delete_obsolete_files();
                    let mut st = self.state.lock();
                    if !st.shutting_down {
                        self.bg.cv.wait_for(st.raw(), std::time::Duration::from_millis(200));
                    }
                }
                Err(e) => {
                    self.set_bg_error(e);
                }
            }
        }
    }
}

/// Marks `pick`'s input files as being compacted and records where it writes, under the same
/// `state` lock that chose them.
fn reserve(st: &mut crate::state::State, cf: CfId, pick: &CompactionPick) {
    for &n in pick.inputs.iter().chain(&pick.next_inputs) {
        st.compacting.insert(n);
    }
    if let Some(key) = target_key(pick) {
        let target = CompactionTarget {
            cf,
            level: pick.output_level,
            smallest: pick.smallest.clone(),
            largest: pick.largest.clone(),
        };
        st.compaction_targets.insert(key, target);
    }
}

/// Ends `pick`'s reservation: its inputs and its target. Called in the critical section that
/// installs its edit, so no pick ever sees its outputs (free to take) beside its target (still
/// recorded), and again, harmlessly, after any outcome.
fn release(st: &mut crate::state::State, pick: &CompactionPick) {
    for n in pick.inputs.iter().chain(&pick.next_inputs) {
        st.compacting.remove(n);
    }
    if let Some(key) = target_key(pick) {
        st.compaction_targets.remove(&key);
    }
}

/// Whether `pick` would write where a running compaction of `cf` writes (same output level,
/// overlapping key hulls). Never, by the picker's rules and the ingestion's placement: a
/// running compaction's hull is covered by its inputs at the input level (L0: every L0 file;
/// Ln: a clean cut, tables that touch, with no gap between them) and the output-level tables
/// it takes. A table ingested inside that hull goes above the output level: to L0 (and no L0
/// pick starts while one runs), or to Ln outside the clean cut, where it overlaps one of the
/// busy output-level tables that any pick of it would take. Manual picks, which may leave
/// gaps, run alone. Checked at every background pick (`compact_once`).
fn meets_running_target(st: &crate::state::State, cf: CfId, pick: &CompactionPick) -> bool {
    st.compaction_targets.values().any(|t| {
        t.cf == cf
            && t.level == pick.output_level
            && t.smallest.as_slice() <= pick.largest.as_slice()
            && pick.smallest.as_slice() <= t.largest.as_slice()
    })
}

/// The key of `pick` in `State::compaction_targets`: its smallest input file number.
fn target_key(pick: &CompactionPick) -> Option<FileNumber> {
    pick.inputs.iter().chain(&pick.next_inputs).min().copied()
}
