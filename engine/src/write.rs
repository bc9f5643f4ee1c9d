//! The write path: group commit, the WAL, memtable inserts and memtable switches.
//!
//! Writers queue in `DbInner::queue`. A writer that finds no leader busy and nobody waiting
//! commits its batch at once (a group of one, with no allocation). Otherwise it queues; when
//! no leader is busy, the writer at the front becomes the *leader*: it takes the batches of the
//! writers behind it (up to a byte budget), assigns their sequence numbers,
//! appends them to the WAL as one record each and, if any of them asked for `sync`, syncs the
//! closed WALs not synced yet and then the active one, inserts them into the
//! memtables, and only then publishes the group's last sequence number. Readers therefore never
//! see part of a group. NB: the records go through the log file's write buffer (256 KiB for
//! `RealFs`), so a group smaller than that reaches the OS in one `write`, and a larger one (the
//! group budget is 1 MiB, and one batch may be bigger) in one `write` per buffer-full.
//!
//! Invariants: only the holder of `commit` allocates sequence numbers or touches the WAL; a
//! memtable switch also needs `commit`, so a generation's WAL and memtables always agree. When
//! a synced write returns, every WAL byte before its record, in every live WAL, is synced (no
//! hole can open in front of a synced record).
//!
//! Thread safety: any number of threads may call `write`.

use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::options::WriteOptions;
use crate::state::{CommitState, DbInner, Generation, PendingWrite, State};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strata_wal::LogWriter;

/// One batch of a commit group.
pub(crate) struct GroupMember {
    batch: WriteBatch,
    sync: bool,
    disable_wal: bool,
}

/// A group grows to at most this many bytes of batches (more if the leader's own batch is larger).
const GROUP_BYTES_MAX: usize = 1 << 20;

impl DbInner {
    pub(crate) fn write(&self, batch: WriteBatch, wo: &WriteOptions) -> Result<()> {
        self.check_writable()?;
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        if batch.touches_other_cfs() {
            let rs = self.read_state.read();
            for op in batch.iter() {
                if op.cf != crate::cf::DEFAULT_CF_ID && !rs.cfs.contains_key(&op.cf) {
                    return Err(Error::ColumnFamilyNotFound(format!("id {}", op.cf)));
                }
            }
        }
        let mut q = self.writes.queue.lock();
        if !q.leader_busy && q.waiting.is_empty() {
            // Nobody is writing or waiting: lead a group of one without queueing (no
            // allocation, no hand-off). Writers that arrive meanwhile queue behind us.
            q.leader_busy = true;
            drop(q);
            let mut one = [GroupMember { batch, sync: wo.sync, disable_wal: wo.disable_wal }];
            let result = self.commit_group(&mut one);
            let mut q = self.writes.queue.lock();
            q.leader_busy = false;
            if !q.waiting.is_empty() {
                self.writes.queue_cv.notify_all();
            }
            return result;
        }
        let me = Arc::new(PendingWrite {
            batch: Mutex::new(Some(batch)),
            sync: wo.sync,
            disable_wal: wo.disable_wal,
            result: Mutex::new(None),
        });
        q.waiting.push_back(Arc::clone(&me));
        loop {
            if let Some(r) = me.result.lock().take() {
                return r;
            }
            if !q.leader_busy && q.waiting.front().is_some_and(|f| Arc::ptr_eq(f, &me)) {
                break;
            }
            self.writes.queue_cv.wait(q.raw());
        }
        // We lead: take a group from the front of the queue (ourselves first).
        q.leader_busy = true;
        let mut group: Vec<Arc<PendingWrite>> = Vec::new();
        let mut members = Vec::new();
        let mut bytes = 0usize;
        while let Some(w) = q.waiting.front() {
            let size = w.batch.lock().as_ref().map_or(0, |b| b.approximate_size());
            if !group.is_empty() && bytes + size > GROUP_BYTES_MAX.max(bytes) {
                break;
            }
            bytes += size;
            if let Some(w) = q.waiting.pop_front() {
                if let Some(b) = w.batch.lock().take() {
                    members.push(GroupMember { batch: b, sync: w.sync, disable_wal: w.disable_wal });
                }
                group.push(w);
            }
        }
        drop(q);
        let result = self.commit_group(&mut members);
        let mut q = self.writes.queue.lock();
        q.leader_busy = false;
        for w in &group {
            if !Arc::ptr_eq(w, &me) {
                *w.result.lock() = Some(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                });
            }
        }
        self.writes.queue_cv.notify_all();
        drop(q);
        result
    }

    fn commit_group(&self, group: &mut [GroupMember]) -> Result<()> {
        let mut commit = self.writes.commit.lock();
        let rs = self.make_room(&mut commit)?;
        forget_retired_wals(&mut commit, &rs.log_numbers);
        let mut seq = self.last_sequence() + 1;
        let mut sync = false;
        let mut user_bytes = 0u64;
        for w in group.iter_mut() {
            let b = &mut w.batch;
            b.set_sequence(seq);
            seq += b.count() as u64;
            user_bytes += b.approximate_size() as u64;
            if !w.disable_wal {
                let log = commit.log.as_mut().ok_or(Error::ReadOnly)?;
                let before = log.len();
                if let Err(e) = log.add_record(b.data()) {
                    return Err(self.set_bg_error(e.into()));
                }
                self.stats.wal_bytes_written.fetch_add(log.len().saturating_sub(before), Ordering::Relaxed);
                sync |= w.sync;
            }
        }
        if sync {
            self.sync_closed_wals(&mut commit)?;
        }
        if let Some(log) = commit.log.as_mut() {
            if sync {
                self.stats.wal_syncs.fetch_add(1, Ordering::Relaxed);
            }
            let r = if sync { log.sync() } else { log.flush() };
            if let Err(e) = r {
                return Err(self.set_bg_error(e.into()));
            }
        }
        for w in group.iter() {
            let b = &w.batch;
            let base = b.sequence();
            for (i, op) in b.iter().enumerate() {
                // A column family dropped while this batch waited: its writes go nowhere.
                if let Some(mem) = rs.cfs.get(&op.cf).and_then(|c| c.mems.first()) {
                    mem.add(base + i as u64, op.kind, op.key, op.value);
                }
            }
        }
        self.last_seq.store(seq - 1, Ordering::Release);
        self.stats.user_bytes_written.fetch_add(user_bytes, Ordering::Relaxed);
        self.stats.writes.fetch_add(group.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Makes sure the active memtables have room, switching generations and stalling while
    /// flushes or L0 compactions fall behind.
    fn make_room(&self, commit: &mut CommitState) -> Result<Arc<crate::state::ReadState>> {
        // Fast path, without the state lock: room in every active memtable and L0 below the
        // slowdown trigger. Only the leader (holding `commit`) switches memtables, so the
        // answer cannot go stale before this group is applied.
        {
            let rs = self.read_state();
            let full = rs
                .cfs
                .values()
                .any(|c| c.mems.first().is_some_and(|m| m.approximate_size() >= self.opts.write_buffer_size));
            let l0 = rs.version.cfs().map(|c| c.levels.first().map_or(0, Vec::len)).max().unwrap_or(0);
            if !full && l0 < self.opts.level0_slowdown_writes_trigger {
                self.check_writable()?;
                return Ok(rs);
            }
        }
        let mut slowed = false;
        let mut st = self.state.lock();
        loop {
            self.check_writable()?;
            let full = st.active.mems.values().any(|m| m.approximate_size() >= self.opts.write_buffer_size);
            let l0 = max_l0_files(&st);
            if !slowed && l0 >= self.opts.level0_slowdown_writes_trigger && l0 < self.opts.level0_stop_writes_trigger {
                slowed = true;
                drop(st);
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                self.stats.add_stall(t.elapsed(), false);
                st = self.state.lock();
                continue;
            }
            if full && st.imm.len() >= self.opts.max_write_buffers || l0 >= self.opts.level0_stop_writes_trigger {
                let t = Instant::now();
                self.bg.cv.notify_all();
                self.bg.cv.wait_for(st.raw(), Duration::from_millis(100));
                self.stats.add_stall(t.elapsed(), true);
                continue;
            }
            if full {
                self.switch_generation(commit, &mut st)?;
            }
            drop(st);
            return Ok(self.read_state());
        }
    }

    /// Syncs every closed WAL still in `commit.unsynced`, oldest first, and forgets them: a
    /// synced write (or a clean close) calls this before syncing the active WAL, so that
    /// whatever a crash keeps of the history is a prefix without holes.
    pub(crate) fn sync_closed_wals(&self, commit: &mut CommitState) -> Result<()> {
        for (_, log) in commit.unsynced.iter_mut() {
            self.stats.wal_syncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = log.sync() {
                return Err(self.set_bg_error(e.into()));
            }
        }
        commit.unsynced.clear();
        Ok(())
    }

    /// Makes the active generation immutable and starts a new one with a new WAL.
    ///
    /// The old WAL is flushed to the OS and trimmed to its records (undoing its preallocation),
    /// but NOT synced: no write asked for that, and a WAL deleted after its memtable's flush
    /// then never reaches the disk (its dirty pages are cancelled). It joins
    /// `commit.unsynced`, and the next synced write syncs it first. The new WAL begins with a
    /// header record naming the old one and its length, which is how recovery tells a
    /// predecessor that lost its unsynced tail in a crash (the history ends there) from a
    /// damaged one (docs/format/wal.md, "WAL header record").
    ///
    /// The trim comes before the new WAL exists, so whoever sees the new WAL in a listing (a
    /// read-only open beside this writer) finds the old one already ending on its last record.
    pub(crate) fn switch_generation(&self, commit: &mut CommitState, st: &mut State) -> Result<()> {
        if let Some(old) = commit.log.as_mut()
            && let Err(e) = old.trim()
        {
            return Err(self.set_bg_error_locked(st, e.into()));
        }
        let predecessor = commit.log.as_ref().map(|l| (commit.log_number, l.len()));
        let number = st.versions.new_file_number();
        let path = self.log_path(number);
        let file = self.fs.create(&path).map_err(|e| self.set_bg_error_locked(st, Error::io(&path, e)))?;
        let mut log = LogWriter::with_path(file, &path);
        if let Err(e) = start_wal(&mut log, predecessor, &self.opts) {
            return Err(self.set_bg_error_locked(st, e));
        }
        if let Err(e) = self.sync_dir() {
            return Err(self.set_bg_error_locked(st, e));
        }
        if let Some(old) = commit.log.replace(log) {
            commit.unsynced.push((commit.log_number, old));
        }
        commit.log_number = number;
        let next = Generation::new(number, st.cf_names.keys().copied());
        let old = std::mem::replace(&mut st.active, next);
        st.imm.push_back(Arc::new(old));
        self.install_read_state(st);
        self.bg.cv.notify_all();
        Ok(())
    }
}

/// Drops the closed WALs whose generation a flush retired (no longer in `live`, the read
/// state's WAL numbers): their writes are in tables, so they need no sync, and closing them
/// lets the kernel cancel their dirty pages when the file is deleted.
pub(crate) fn forget_retired_wals(commit: &mut CommitState, live: &[strata_base::FileNumber]) {
    if !commit.unsynced.is_empty() {
        commit.unsynced.retain(|(n, _)| live.contains(n));
    }
}

/// Prepares a new WAL: preallocates it and appends its header record naming `predecessor`
/// (number and length of records), or no predecessor.
pub(crate) fn start_wal(
    log: &mut LogWriter,
    predecessor: Option<(strata_base::FileNumber, u64)>,
    opts: &crate::options::Options,
) -> Result<()> {
    log.preallocate(wal_preallocate_bytes(opts))?;
    let (predecessor, predecessor_len) = predecessor.unwrap_or((strata_base::FileNumber::new(0), 0));
    log.add_record(&crate::wal_header::WalHeader { predecessor, predecessor_len }.encode())?;
    Ok(())
}

/// Bytes reserved for each new WAL: about one memtable's worth, so that a synced append does
/// not also commit a new file size. Bounded so small write buffers stay small on disk.
pub(crate) fn wal_preallocate_bytes(opts: &crate::options::Options) -> u64 {
    (opts.write_buffer_size as u64).clamp(64 << 10, 256 << 20)
}

fn max_l0_files(st: &State) -> usize {
    let v = st.versions.current();
    v.cfs().map(|cf| cf.levels.first().map_or(0, |l| l.len())).max().unwrap_or(0)
}
