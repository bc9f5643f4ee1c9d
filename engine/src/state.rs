//! The engine's shared state, in parts that each own their state and their locks, and the
//! read state published to readers.
//!
//! - [`WritePath`] (`writes`): group commit's queue and the active WAL.
//! - [`State`] (`state`), with `read_state` and `last_seq`: versions and memtable generations
//!   under one lock (a flush removes a generation and adds its table to the version in one
//!   step, so the two cannot be split without holding both), and the read state published
//!   from them.
//! - [`FileLifecycle`] (`files`): WAL pins, files the open kept, what a read-only open replayed,
//!   and the lock that makes deletion passes take turns; obsolete files are chosen from the
//!   versions and these (`files/obsolete.rs`).
//! - [`Background`] (`bg`): the flush and compaction threads, their condition variable, the
//!   compaction lock and the background error.
//!
//! Locks, always taken in this order (the table with what each protects is in
//! `lock_order.rs`; debug builds check it on every acquisition): `writes.queue` ->
//! `writes.commit` -> `bg.compaction` -> `files.deleting` -> `state` -> `files.wal_pins` ->
//! `bg.error` -> `read_state` -> `bg.threads`. Nothing performs I/O under `read_state`.
//!
//! Invariants:
//! - Every column family's memtables switch together: a *generation* is one WAL file plus one
//!   memtable per column family. Generations are flushed oldest first, each in one edit, so the
//!   manifest's log number is always the oldest generation not yet flushed.
//! - `ReadState` changes only by replacing the whole `Arc`, after the manifest edit (if any) is
//!   durable; a reader that cloned it sees one consistent state of every column family.
//!
//! Thread safety: `DbInner` is shared by user threads and the background threads.

use crate::error::{Error, Result};
use crate::lock_order::{OrderedMutex, OrderedRwLock, Rank};
use crate::memtable::MemTable;
use crate::options::Options;
use crate::snapshot::SnapshotList;
use crate::stats::Stats;
use crate::table_cache::TableCache;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use strata_base::ikey::{InternalKeyComparator, SeqNo};
use strata_base::{CfId, FileNumber};
use strata_base::{FileLock, FileSystem, IoGate};
use strata_manifest::{Version, VersionSet};
use strata_wal::LogWriter;

/// One WAL file and the memtables (one per column family) whose writes it holds.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) log_number: FileNumber,
    pub(crate) mems: BTreeMap<CfId, Arc<MemTable>>,
}

impl Generation {
    pub(crate) fn new(log_number: FileNumber, cf_ids: impl IntoIterator<Item = CfId>) -> Self {
        Self { log_number, mems: cf_ids.into_iter().map(|id| (id, Arc::new(MemTable::new()))).collect() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.mems.values().all(|m| m.is_empty())
    }
}

/// What a reader needs, pinned by one `Arc` clone.
#[derive(Debug)]
pub(crate) struct ReadState {
    pub(crate) version: Arc<Version>,
    pub(crate) cfs: BTreeMap<CfId, CfRead>,
    /// WAL numbers of the generations not yet flushed, oldest first.
    pub(crate) log_numbers: Vec<FileNumber>,
}

#[derive(Debug)]
pub(crate) struct CfRead {
    pub(crate) name: String,
    /// Active memtable first, then immutable ones, newest to oldest.
    pub(crate) mems: Vec<Arc<MemTable>>,
}

/// The output of a running compaction: its family, output level and the hull of its inputs'
/// user keys (every output table falls inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompactionTarget {
    pub(crate) cf: CfId,
    pub(crate) level: usize,
    pub(crate) smallest: Vec<u8>,
    pub(crate) largest: Vec<u8>,
}

/// Mutable engine state behind `DbInner::state`.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) versions: VersionSet,
    pub(crate) cf_names: BTreeMap<CfId, String>,
    pub(crate) active: Generation,
    pub(crate) imm: VecDeque<Arc<Generation>>,
    /// File numbers being written by a flush or compaction; never deleted as obsolete.
    pub(crate) pending_outputs: BTreeSet<FileNumber>,
    /// Files that are inputs of a running compaction.
    pub(crate) compacting: BTreeSet<FileNumber>,
    /// Where each running compaction writes, keyed by its smallest input file number (inputs
    /// are reserved by one compaction only, so the key is unique). An ingestion places files
    /// as if these ranges were tables already, so it never waits for a compaction.
    pub(crate) compaction_targets: BTreeMap<FileNumber, CompactionTarget>,
    pub(crate) shutting_down: bool,
    /// Set while a manual `compact_range` runs, so background compactions pause.
    pub(crate) manual_compaction: bool,
    /// Every generation with a log number below this one is flushed and the flush thread is
    /// done with it, the deletion pass after its edit included (at open: the active log
    /// number). Grows; set under `state` and signalled on `bg.cv`, for
    /// `Db::wait_for_background_work`.
    pub(crate) flushed_below: FileNumber,
}

/// The active WAL, owned by the leader of the current write group, and the closed WALs that
/// were never synced.
#[derive(Debug)]
pub(crate) struct CommitState {
    pub(crate) log: Option<LogWriter>,
    pub(crate) log_number: FileNumber,
    /// Closed WALs, oldest first, that still back a memtable and have not been synced since
    /// they were closed. A synced write syncs them all first (`DbInner::sync_closed_wals`), so a
    /// synced record never sits behind an unsynced hole; a flush that retires one makes it
    /// drop out (`DbInner::forget_retired_wals`), closing its descriptor so that its dirty
    /// pages are cancelled when the file is deleted instead of being written back.
    /// INVARIANT: numbers ascending, all below `log_number`.
    pub(crate) unsynced: Vec<(FileNumber, LogWriter)>,
}

impl CommitState {
    pub(crate) fn new(log: Option<LogWriter>, log_number: FileNumber) -> Self {
        Self { log, log_number, unsynced: Vec::new() }
    }
}

/// Writers waiting for a leader, and whether a leader is committing a group right now.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    pub(crate) waiting: VecDeque<Arc<PendingWrite>>,
    pub(crate) leader_busy: bool,
}

#[derive(Debug)]
pub(crate) struct PendingWrite {
    pub(crate) batch: Mutex<Option<crate::batch::WriteBatch>>,
    pub(crate) sync: bool,
    pub(crate) disable_wal: bool,
    pub(crate) result: Mutex<Option<Result<()>>>,
}

pub(crate) struct DbInner {
    pub(crate) path: PathBuf,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) opts: Options,
    pub(crate) read_only: bool,
    pub(crate) icmp: Arc<InternalKeyComparator>,
    pub(crate) table_cache: Arc<TableCache>,
    /// Group commit and the active WAL.
    pub(crate) writes: WritePath,
    /// Versions and memtable generations.
    pub(crate) state: OrderedMutex<State>,
    pub(crate) read_state: OrderedRwLock<Arc<ReadState>>,
    /// The last sequence number visible to readers.
    pub(crate) last_seq: AtomicU64,
    pub(crate) files: FileLifecycle,
    pub(crate) bg: Background,
    pub(crate) snapshots: Arc<SnapshotList>,
    pub(crate) stats: Stats,
    /// Table writers sync their pieces through it; a checkpoint closes it for its syncs
    /// (`Options::table_sync_bytes`).
    pub(crate) io_gate: Arc<IoGate>,
    /// What the open found and did.
    pub(crate) recovery: crate::open::RecoveryReport,
    pub(crate) _lock: Option<Box<dyn FileLock>>,
}

/// The write path: writers queue, one leader at a time appends the group to the WAL.
#[derive(Debug)]
pub(crate) struct WritePath {
    pub(crate) queue: OrderedMutex<WriteQueue>,
    pub(crate) queue_cv: Condvar,
    pub(crate) commit: OrderedMutex<CommitState>,
}

impl WritePath {
    pub(crate) fn new(commit: CommitState) -> Self {
        Self {
            queue: OrderedMutex::new(Rank::WriteQueue, WriteQueue::default()),
            queue_cv: Condvar::new(),
            commit: OrderedMutex::new(Rank::Commit, commit),
        }
    }
}

/// What decides which files of the directory may be deleted, besides the versions.
#[derive(Debug)]
pub(crate) struct FileLifecycle {
    /// Held for a whole pass of `delete_obsolete_files` (listing, choosing, removing), so
    /// passes never overlap: a pass that listed a file cannot remove it after another pass
    /// (say, the one `flush` runs before it returns) already did, and a caller that ran its own
    /// pass knows no earlier pass is still busy (`Db::wait_for_background_work`).
    pub(crate) deleting: OrderedMutex<()>,
    /// WAL files pinned by `LiveFiles`, by number, with a count.
    pub(crate) wal_pins: OrderedMutex<BTreeMap<FileNumber, usize>>,
    /// Never deleted by this process: files with Strata's names that the open could not prove
    /// are Strata's, and, after `CURRENT` was recovered by listing, every file present then.
    pub(crate) kept: BTreeSet<String>,
    /// Read-only databases: the WAL files replayed at open and their valid lengths, which is
    /// what `live_files` pins (a writer elsewhere may still be appending to them).
    pub(crate) recovered_logs: Vec<(FileNumber, u64)>,
}

/// Background jobs: the flush and compaction threads and what stops them.
#[derive(Debug)]
pub(crate) struct Background {
    /// Signalled whenever background work finishes or is needed; waited on under `state`.
    pub(crate) cv: Condvar,
    /// Shared by each running background compaction, exclusive for `compact_range`.
    pub(crate) compaction: OrderedRwLock<()>,
    /// The first background error; set once, then every write fails until reopen.
    pub(crate) error: OrderedMutex<Option<Error>>,
    pub(crate) poisoned: AtomicBool,
    pub(crate) threads: OrderedMutex<Vec<JoinHandle<()>>>,
}

impl Background {
    pub(crate) fn new() -> Self {
        Self {
            cv: Condvar::new(),
            compaction: OrderedRwLock::new(Rank::Compaction, ()),
            error: OrderedMutex::new(Rank::BgError, None),
            poisoned: AtomicBool::new(false),
            threads: OrderedMutex::new(Rank::Threads, Vec::new()),
        }
    }
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbInner").field("path", &self.path).field("read_only", &self.read_only).finish_non_exhaustive()
    }
}

impl DbInner {
    pub(crate) fn last_sequence(&self) -> SeqNo {
        self.last_seq.load(Ordering::Acquire)
    }

    pub(crate) fn read_state(&self) -> Arc<ReadState> {
        Arc::clone(&self.read_state.read())
    }

    /// The sequence number a read sees (`snapshot`, or the last published one) and the read
    /// state to read it in. The last sequence is loaded while the read state is held, so that
    /// (a) every write at or below it is in a memtable or table the state names (a memtable
    /// switch installs a new state, which waits for the lock), and (b) no version visible at it
    /// was compacted away: a compaction installed in this state dropped a version only for a
    /// newer one published before the install, hence at or below the loaded sequence. Loading
    /// the sequence first and the state after left a window for (b).
    pub(crate) fn read_point(&self, snapshot: Option<SeqNo>) -> (SeqNo, Arc<ReadState>) {
        let state = self.read_state.read();
        let seq = snapshot.unwrap_or_else(|| self.last_sequence());
        (seq, Arc::clone(&state))
    }

    /// Publishes a new read state built from `st`.
    pub(crate) fn install_read_state(&self, st: &State) {
        let mut cfs = BTreeMap::new();
        for (&id, name) in &st.cf_names {
            let mut mems = Vec::new();
            if let Some(m) = st.active.mems.get(&id) {
                mems.push(Arc::clone(m));
            }
            for g in st.imm.iter().rev() {
                if let Some(m) = g.mems.get(&id) {
                    mems.push(Arc::clone(m));
                }
            }
            cfs.insert(id, CfRead { name: name.clone(), mems });
        }
        let mut log_numbers: Vec<FileNumber> = st.imm.iter().map(|g| g.log_number).collect();
        log_numbers.push(st.active.log_number);
        let rs = ReadState { version: st.versions.current(), cfs, log_numbers };
        *self.read_state.write() = Arc::new(rs);
    }

    /// Fails if writes are not allowed: read-only, or poisoned by a background error.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if self.bg.poisoned.load(Ordering::Acquire) {
            let msg = self.bg.error.lock().as_ref().map(|e| e.to_string()).unwrap_or_default();
            return Err(Error::Poisoned(msg));
        }
        Ok(())
    }

    /// Records a background (or WAL) error: from now on every write fails until reopen.
    /// Reads keep working. Returns a copy of the error for the caller.
    ///
    /// The caller must not hold `state`: waiters on `bg_cv` test `poisoned` under `state`, so
    /// the notification is sent after taking `state` once, or a waiter that tested just before
    /// the store would sleep through it (a `flush` hung forever this way after a failed fsync).
    /// Callers holding `state` use [`DbInner::set_bg_error_locked`].
    pub(crate) fn set_bg_error(&self, e: Error) -> Error {
        let copy = self.record_bg_error(e);
        drop(self.state.lock());
        self.bg.cv.notify_all();
        copy
    }

    /// [`DbInner::set_bg_error`] for a caller holding `state` (no waiter can be between its
    /// test and its wait while the caller holds it); `_held` is that guard's state, so the
    /// compiler checks the precondition.
    pub(crate) fn set_bg_error_locked(&self, _held: &State, e: Error) -> Error {
        let copy = self.record_bg_error(e);
        self.bg.cv.notify_all();
        copy
    }

    fn record_bg_error(&self, e: Error) -> Error {
        let copy = e.duplicate();
        let mut slot = self.bg.error.lock();
        if slot.is_none() {
            *slot = Some(e);
        }
        self.bg.poisoned.store(true, Ordering::Release);
        copy
    }

    pub(crate) fn table_path(&self, number: FileNumber) -> PathBuf {
        self.path.join(strata_manifest::table_file_name(number))
    }

    pub(crate) fn log_path(&self, number: FileNumber) -> PathBuf {
        self.path.join(strata_manifest::log_file_name(number))
    }

    pub(crate) fn sync_dir(&self) -> Result<()> {
        self.fs.sync_dir(&self.path).map_err(|e| Error::io(&self.path, e))
    }
}
