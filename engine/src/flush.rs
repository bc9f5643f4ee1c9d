//! Flush: immutable memtable generations become L0 tables.
//!
//! A generation is flushed as a whole: one table per non-empty column family memtable, then one
//! manifest edit that adds them all and advances the log number past the generation's WAL.
//! Tables are written, fsynced and the directory fsynced before the edit is logged.
//!
//! A flush writes only the versions some reader can still see, with the compaction's
//! [`EntryFilter`] (not bottommost, so tombstones stay): an older version of a user key is left
//! out when a newer version in the same memtable lies in the same snapshot stripe. RocksDB's
//! flush does the same. In a random fill of 1M keys about 16% of a memtable's entries are
//! versions shadowed this way.
//!
//! Invariants: the snapshot list is read once per generation, after the generation became
//! immutable and before any of its entries is filtered. Every reader that can reach the table
//! reads at a point the list covers or at a sequence `>=` every entry of the generation:
//! - a snapshot registered before the read is in the list (`SnapshotList::acquire` loads the
//!   sequence and registers it under the list's lock);
//! - a snapshot registered after it loads a sequence `>=` every entry of the generation, since
//!   the generation's writes were all published before the switch that made it immutable
//!   (publication and switches both happen under `commit`), and the switch came first;
//! - a read without a snapshot (`read_point`) loads its sequence while holding the read state:
//!   one that holds a state naming the new table loads it after the install, so it is `>=`
//!   every entry; one holding an older state reads the memtable itself, unfiltered, as do
//!   iterators (they pin their read state, memtables included);
//! - `Db::live_files` pins a version and a sequence `>=` every table in it; a checkpoint or a
//!   repository snapshot built from it reads at that sequence, and the WAL copies it pins hold
//!   every version anyway;
//! - recovery flushes at open run before any reader or snapshot exists (the list is empty).
//!
//! The engine has only puts and deletes (no merge operands, range or single deletes), so
//! shadowing is the whole rule. The newest version of each user key is always kept, so the
//! table's largest sequence and both boundary user keys are those of the memtable; its entry
//! count and smallest sequence are those of what was written (`TableOutput` tracks them).
//!
//! Thread safety: one background flush thread; `Db::flush` only switches generations and waits.
//! `Db::wait_for_background_work` waits for the generations immutable at its call, then for
//! the compactions, then runs a deletion pass of its own.

use crate::compaction::{EntryFilter, Keep};
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::memtable::MemTable;
use crate::state::{DbInner, Generation};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strata_base::ikey::{self, SeqNo};
use strata_base::testing::kill_point;
use strata_base::{CfId, FileNumber};
use strata_manifest::{FileMeta, VersionEdit};
use strata_sst::TableOptions;

impl DbInner {
    /// Table options for a new table; `bottommost`: it goes to the bottommost level (no data
    /// below it), which may use `Options::bottommost_compression`.
    pub(crate) fn table_options(&self, bottommost: bool) -> TableOptions {
        let compression = match self.opts.bottommost_compression {
            Some(c) if bottommost => c,
            _ => self.opts.compression,
        };
        TableOptions {
            block_size: self.opts.block_size,
            restart_interval: self.opts.block_restart_interval,
            compression,
            bloom_bits_per_key: self.opts.bloom_bits_per_key,
            comparator: self.icmp.clone(),
        }
    }

    /// Writes one memtable as an L0 table with a freshly allocated number, leaving out the
    /// versions no reader at `snapshots` (every live read point below the memtable's newest
    /// entry; see the module doc for when to read it) or after the memtable can see. `None`
    /// (and no file) if it is empty.
    pub(crate) fn flush_memtable(
        &self,
        cf_id: CfId,
        mem: &Arc<MemTable>,
        snapshots: &[SeqNo],
    ) -> Result<Option<FileMeta>> {
        let mut out = self.new_table_output(false, self.opts.background_flush_syncs)?;
        let number = out.number;
        // Every user key of the memtable is written (its newest version is always kept), so
        // this is the table's number of filter keys.
        if let Some(keys) = mem.distinct_user_keys() {
            out.expect_filter_keys(keys);
        }
        let mut it = mem.iter();
        it.seek_to_first();
        let mut filter = EntryFilter::new(snapshots.to_vec(), false);
        let filled = (|| {
            while it.valid() {
                let key = it.key();
                let parsed = ikey::parse(key).ok_or_else(|| {
                    Error::corruption(self.table_path(number), 0, "malformed internal key while writing a table")
                })?;
                match filter.keep(key) {
                    Keep::Yes => out.add(key, parsed.seq, parsed.kind, it.value())?,
                    Keep::No => {}
                    // Parsed above, so the version is not older than the previous one of its
                    // key: two entries share a sequence number (unique per write).
                    Keep::Corrupt => {
                        return Err(Error::corruption(
                            self.table_path(number),
                            0,
                            format!("two versions of one key at sequence {} while writing a table", parsed.seq),
                        ));
                    }
                }
                it.next();
            }
            it.status()
        })();
        let r = match filled {
            Ok(()) if out.is_empty() => {
                out.abandon();
                Ok(None)
            }
            Ok(()) => out.finish(cf_id).map(Some),
            Err(e) => Err(e),
        };
        if !matches!(r, Ok(Some(_))) {
            self.state.lock().pending_outputs.remove(&number);
        }
        if let Ok(Some(m)) = &r {
            let fs = filter.stats();
            self.stats.flush_entries_written.fetch_add(fs.kept, Ordering::Relaxed);
            self.stats.flush_entries_dropped.fetch_add(fs.dropped_shadowed, Ordering::Relaxed);
            self.stats.flush_bytes_written.fetch_add(m.size, Ordering::Relaxed);
            self.stats.level(0).bytes_written.fetch_add(m.size, Ordering::Relaxed);
        }
        r
    }

    /// Flushes the oldest immutable generation. Returns the log number its edit advanced to
    /// (every generation below it is flushed), `None` if there was none.
    pub(crate) fn flush_oldest_generation(&self) -> Result<Option<FileNumber>> {
        let generation: Arc<Generation> = {
            let st = self.state.lock();
            match st.imm.front() {
                Some(g) => Arc::clone(g),
                None => return Ok(None),
            }
        };
        // INVARIANT: read after `generation` became immutable (it is in `imm`), before any of
        // its entries is filtered (module doc).
        let snapshots = self.snapshots.sequences();
        let mut outputs = Vec::new();
        for (&cf_id, mem) in &generation.mems {
            if mem.is_empty() {
                continue;
            }
            if let Some(meta) = self.flush_memtable(cf_id, mem, &snapshots)? {
                outputs.push((cf_id, meta));
            }
        }
        if !outputs.is_empty() {
            self.sync_dir()?;
            kill_point("flush.tables_written");
        }
        let mut st = self.state.lock();
        let next_log = st.imm.get(1).map_or(st.active.log_number, |g| g.log_number);
        let mut edit = VersionEdit {
            log_number: Some(next_log),
            last_sequence: Some(self.last_sequence()),
            ..VersionEdit::default()
        };
        let version = st.versions.current();
        for (cf_id, meta) in &outputs {
            if let (true, Some(cf)) = (st.cf_names.contains_key(cf_id), version.cf(*cf_id)) {
                // Epochs are taken here, under the state lock, in the order tables are installed.
                edit.add_file(*cf_id, 0, FileMeta { epoch: cf.next_epoch(), ..meta.clone() });
            }
        }
        st.versions.log_and_apply(edit)?;
        st.imm.pop_front();
        for (_, meta) in &outputs {
            st.pending_outputs.remove(&meta.number);
        }
        self.install_read_state(&st);
        drop(st);
        // The tables are installed and no read state names the memtables any more: free them
        // now (unless a reader still holds them), not after the file deletions below.
        drop(generation);
        self.bg.cv.notify_all();
        kill_point("flush.edit_logged");
        self.delete_obsolete_files();
        // Close the retired WAL's descriptor now (it is deleted already), so the kernel cancels
        // its dirty pages instead of writing them back. If a write group holds `commit`, its
        // next group does it (`forget_retired_wals` runs in every group).
        if let Some(mut commit) = self.writes.commit.try_lock() {
            let live = self.read_state().log_numbers.clone();
            crate::write::forget_retired_wals(&mut commit, &live);
        }
        Ok(Some(next_log))
    }

    /// Body of the background flush thread.
    pub(crate) fn flush_loop(self: &Arc<Self>) {
        loop {
            {
                let mut st = self.state.lock();
                while !st.shutting_down && (st.imm.is_empty() || self.bg.poisoned.load(Ordering::Acquire)) {
                    self.bg.cv.wait(st.raw());
                }
                if st.shutting_down {
                    return;
                }
            }
            match self.flush_oldest_generation() {
                Ok(Some(below)) => {
                    // Only now, with everything the flush held dropped (the version it started
                    // from pins tables a later deletion pass must be free to delete).
                    let mut st = self.state.lock();
                    st.flushed_below = st.flushed_below.max(below);
                    drop(st);
                    self.bg.cv.notify_all();
                }
                Ok(None) => {}
                Err(e) => {
                    self.set_bg_error(e);
                }
            }
        }
    }

    /// Switches to a new generation if the active one holds data, and waits until every
    /// generation that existed at the call is flushed. Generations created later (by writes
    /// racing with the flush) are not waited for: under sustained writes `imm` may never be
    /// empty, and waiting for that starved `flush` (and `compact_range`) until writes paused.
    pub(crate) fn flush_all(&self) -> Result<()> {
        self.check_writable()?;
        let newest = {
            let mut commit = self.writes.commit.lock();
            let mut st = self.state.lock();
            if !st.active.is_empty() {
                self.switch_generation(&mut commit, &mut st)?;
            }
            st.imm.back().map(|g| g.log_number)
        };
        let Some(newest) = newest else { return Ok(()) };
        let mut st = self.state.lock();
        // Generations are flushed oldest first and log numbers grow, so the ones that existed
        // at the call are exactly those at the front with a log number `<= newest`.
        while st.imm.front().is_some_and(|g| g.log_number <= newest) {
            self.check_writable()?;
            if st.shutting_down {
                return Err(Error::Closed);
            }
            self.bg.cv.wait(st.raw());
        }
        drop(st);
        // The flush thread deletes the retired WALs right after it installs the edit, maybe not
        // yet: do it here too (deleting is idempotent, and passes take turns, so when ours
        // returns no pass that saw these WALs is still running), and close their descriptors,
        // so that when `flush` returns their unsynced pages are cancelled, not left for
        // writeback.
        self.delete_obsolete_files();
        let live = self.read_state().log_numbers.clone();
        crate::write::forget_retired_wals(&mut self.writes.commit.lock(), &live);
        Ok(())
    }

    /// `Db::wait_for_background_work`: flushes, then compactions, then one deletion pass of our
    /// own (see there).
    pub(crate) fn wait_for_background_work(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.check_writable()?;
        let mut st = self.state.lock();
        // Every generation made immutable before the call has a log number below the active
        // one. Wait not just until they leave `imm` (as `flush` does) but until the flush
        // thread is done with them, its deletion pass included, so that pass cannot come later.
        let active = st.active.log_number;
        while st.flushed_below < active {
            self.check_writable()?;
            if st.shutting_down {
                return Err(Error::Closed);
            }
            self.bg.cv.wait(st.raw());
        }
        drop(st);
        {
            // Exclusive: every running background compaction holds this shared until it has
            // deleted the files it made obsolete, so this waits for them, and none starts while
            // the compactions the picker still wants run here.
            let _exclusive = self.bg.compaction.write();
            if !self.opts.disable_auto_compactions {
                loop {
                    self.check_writable()?;
                    if !self.compact_once().map_err(|e| self.set_bg_error(e))? {
                        break;
                    }
                }
            }
        }
        // Passes take turns: this one starts after any pass still running (the flush thread's
        // for the generations waited for above, say) and deletes whatever is obsolete now.
        self.delete_obsolete_files();
        self.check_writable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Options};
    use strata_base::ikey::ValueKind;

    /// The flush gives the table builder the memtable's number of user keys, so the filter is
    /// built as entries are written; it must be the filter of the keys written (a wrong count
    /// would change its size; 4609 keys need 91 lines, 4608 need 90): with older versions kept
    /// for a snapshot, and tombstones.
    #[test]
    fn a_flushed_tables_filter_is_sized_for_its_user_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        const KEYS: u64 = 4609;
        let mem = Arc::new(MemTable::new());
        let mut seq = 0;
        for round in 0..3u64 {
            for i in (0..KEYS).filter(|i| round == 0 || i % (round + 2) == 0) {
                seq += 1;
                let key = format!("key{:06}", i * 7919 % KEYS);
                let kind = if i % 11 == 0 { ValueKind::Delete } else { ValueKind::Put };
                mem.add(seq, kind, key.as_bytes(), b"value");
            }
        }
        assert_eq!(mem.distinct_user_keys(), Some(KEYS as usize));
        // A snapshot in the middle keeps some older versions.
        let meta = db.inner.flush_memtable(CfId::DEFAULT, &mem, &[seq / 2]).unwrap().unwrap();
        let table = db.inner.table_cache.get(meta.number).unwrap();
        let p = table.properties();
        assert!(p.num_entries > KEYS && p.num_entries < seq, "{} entries", p.num_entries);
        assert_eq!(p.filter_bytes, 91 * 64 + 1 + 5);
        for i in 0..KEYS {
            assert!(table.may_contain(format!("key{i:06}").as_bytes()), "key {i}");
        }
    }

    #[test]
    fn two_versions_at_one_sequence_are_corruption_and_leave_no_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mem = Arc::new(MemTable::new());
        mem.add(4, ValueKind::Put, b"a", b"new");
        mem.add(5, ValueKind::Put, b"b", b"1");
        mem.add(5, ValueKind::Delete, b"b", b"");
        let err = db.inner.flush_memtable(CfId::DEFAULT, &mem, &[]).unwrap_err();
        match &err {
            Error::Corruption { file, reason, .. } => {
                assert!(file.extension().is_some_and(|e| e == "sst"), "{err}");
                assert!(reason.contains("sequence 5"), "{err}");
            }
            other => panic!("expected Corruption, got {other:?}"),
        }
        assert!(db.inner.state.lock().pending_outputs.is_empty());
        let tables = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sst"))
            .count();
        assert_eq!(tables, 0, "the unfinished table is removed");
    }
}
