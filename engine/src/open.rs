//! Opening a database: lock, recover the manifest, replay WAL files newer than its log number,
//! flush what was replayed (read-write) and start the background threads.
//!
//! Recovery honours `Options::wal_recovery_mode`: by default a torn tail of the last WAL (a crash
//! mid-append) is dropped and everything before it is kept; corruption before the tail is an
//! error naming the file and offset.

use crate::Db;
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::memtable::MemTable;
use crate::options::{Options, RecoveryMode};
use crate::snapshot::SnapshotList;
use crate::state::{CommitState, DbInner, Generation, State};
use crate::stats::Stats;
use crate::table_cache::TableCache;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use strata_base::ikey::InternalKeyComparator;
use strata_base::{BytewiseComparator, FileSystem, MemFile, RandomAccessFile, RealFs};
use strata_manifest::{FileKind, VersionEdit, VersionSet, VersionSetOptions};
use strata_sst::{BlockCache, TableReadOptions};
use strata_wal::{LogReader, LogWriter};

pub(crate) fn open(path: &Path, opts: Options, read_only: bool) -> Result<Db> {
    opts.validate()?;
    if path.as_os_str().is_empty() {
        return Err(Error::InvalidArgument("database path is empty".into()));
    }
    if read_only { open_read_only(path, opts) } else { open_once(path, opts, false) }
}

/// How many times a read-only open starts over when a writer changed the database under it.
const READ_ONLY_OPEN_ATTEMPTS: u32 = 64;

/// Which manifest `CURRENT` names and how long that manifest is: the writer appends an edit
/// (or switches to a new manifest) before it deletes any file, so while this stays the same no
/// file of the recovered state can have been deleted.
fn manifest_identity(fs: &dyn FileSystem, path: &Path) -> Option<(u64, u64)> {
    let number = strata_manifest::read_current(fs, path).ok()?;
    let size = fs.file_size(&path.join(strata_manifest::manifest_file_name(number))).ok()?;
    Some((number, size))
}

/// A read-only open beside a live writer reads the manifest, lists the directory, replays WAL
/// files and opens every table while the writer may flush, compact and delete files. An open
/// descriptor keeps a deleted table readable, so the result is whole if the manifest did not
/// change from before the open began until every file was open; otherwise start over. A file
/// missing from a database nobody is changing is reported at once.
fn open_read_only(path: &Path, opts: Options) -> Result<Db> {
    // Resolve the file system once, so every attempt uses the same one.
    let fs = file_system(&opts);
    let opts = Options { fs: Some(Arc::clone(&fs)), ..opts };
    let mut last = String::new();
    for attempt in 0..READ_ONLY_OPEN_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20))));
        }
        let before = manifest_identity(&*fs, path);
        let result = open_once(path, opts.clone(), true);
        let after = manifest_identity(&*fs, path);
        // Manifest numbers only grow, so an unchanged identity means the attempt read this very
        // manifest, and no edit (hence no deletion) happened while it ran.
        let stable = before.is_some() && before == after;
        match result {
            Ok(db) if stable => return Ok(db),
            Ok(_) => last = "the manifest changed while the files were opened".to_string(),
            // Nothing changed (or there is no database at all): the error is the database's own.
            Err(e) if stable || (before.is_none() && after.is_none()) => return Err(e),
            Err(e) => last = e.to_string(),
        }
    }
    Err(Error::TryAgain(format!(
        "{}: a writer changed the database during each of {READ_ONLY_OPEN_ATTEMPTS} read-only open attempts; last: {last}",
        path.display()
    )))
}

/// The file system `opts` names, or the real one.
fn file_system(opts: &Options) -> Arc<dyn FileSystem> {
    match &opts.fs {
        Some(fs) => Arc::clone(fs),
        None => Arc::new(RealFs::with_mmap(opts.use_mmap_reads)),
    }
}

/// One attempt at opening; `opts` and `path` are already checked.
fn open_once(path: &Path, opts: Options, read_only: bool) -> Result<Db> {
    let fs = file_system(&opts);
    let current = path.join("CURRENT");
    let exists = fs.exists(&current);
    if !exists && (read_only || !opts.create_if_missing) {
        return Err(Error::NotFound(format!("no database at {} (CURRENT is missing)", path.display())));
    }
    if exists && opts.error_if_exists {
        return Err(Error::AlreadyExists(path.to_path_buf()));
    }
    if !read_only {
        fs.create_dir_all(path).map_err(|e| Error::io(path, e))?;
    }
    let lock = if read_only {
        None
    } else {
        let lock_path = path.join("LOCK");
        match fs.lock(&lock_path) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(Error::Locked(path.to_path_buf())),
            Err(e) => return Err(Error::io(lock_path, e)),
        }
    };
    let icmp = Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)));
    let vopts = VersionSetOptions { comparator: icmp.clone(), manifest_size_limit: opts.manifest_size_limit };
    let mut versions = if exists {
        VersionSet::recover(Arc::clone(&fs), path, vopts, read_only)?
    } else {
        VersionSet::create_new(Arc::clone(&fs), path, vopts)?
    };
    let cf_names: BTreeMap<u32, String> = versions.current().cfs().map(|c| (c.id, c.name.clone())).collect();

    let names = fs.list(path).map_err(|e| Error::io(path, e))?;
    // File numbers handed out after the last durable edit (WAL files of later generations,
    // tables of a flush whose edit was lost) are above the manifest's next file number. Never
    // hand them out again: `create` truncates, and such a WAL may hold the only copy of
    // acknowledged writes.
    let max_used = names
        .iter()
        .filter_map(|n| match strata_manifest::parse_file_name(n) {
            Some(FileKind::Log(n) | FileKind::Table(n) | FileKind::Manifest(n)) => Some(n),
            _ => None,
        })
        .max();
    if let Some(max_used) = max_used {
        while versions.next_file_number() <= max_used {
            versions.new_file_number();
        }
    }

    // Replay WAL files at or above the manifest's log number, oldest first.
    let mut logs: Vec<u64> = names
        .iter()
        .filter_map(|n| match strata_manifest::parse_file_name(n) {
            Some(FileKind::Log(n)) if n >= versions.log_number() => Some(n),
            _ => None,
        })
        .collect();
    logs.sort_unstable();
    let mut mems: BTreeMap<u32, Arc<MemTable>> = cf_names.keys().map(|&id| (id, Arc::new(MemTable::new()))).collect();
    let mut last_seq = versions.last_sequence();
    let mut recovered_logs = Vec::new();
    // The WAL whose tail was dropped, if any: the history ends there. A later WAL's records
    // would be replayed after a hole, so `PointInTime` stops at it, and with
    // `TolerateCorruptedTail` it is an error when a later WAL holds records (a WAL is synced
    // before the next one takes writes, so a truly torn tail is only ever in the last one).
    let mut dropped: Option<(u64, u64, String)> = None;
    for &n in &logs {
        if dropped.is_some() && opts.wal_recovery_mode == RecoveryMode::PointInTime {
            break;
        }
        let log_path = path.join(strata_manifest::log_file_name(n));
        let file = open_log(&*fs, &log_path, read_only)?;
        if let Some((bad, offset, reason)) = &dropped {
            match opts.wal_recovery_mode {
                RecoveryMode::TolerateCorruptedTail if log_has_records(&file, &log_path, &opts)? => {
                    return Err(Error::corruption(
                        path.join(strata_manifest::log_file_name(*bad)),
                        *offset,
                        format!(
                            "{reason}; not a torn tail: a later WAL ({}) holds records",
                            strata_manifest::log_file_name(n)
                        ),
                    ));
                }
                _ => {}
            }
        }
        let replayed = replay_log(file, &log_path, &opts, &mems)?;
        last_seq = last_seq.max(replayed.last_seq);
        recovered_logs.push((n, replayed.valid_end));
        if let Some((offset, reason)) = replayed.dropped_tail {
            dropped = Some((n, offset, reason));
        }
    }
    let replayed = mems.values().any(|m| !m.is_empty());

    let table_cache = Arc::new(TableCache::new(
        path.to_path_buf(),
        Arc::clone(&fs),
        TableReadOptions {
            comparator: icmp.clone(),
            cache: (opts.block_cache_capacity > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_capacity))),
            cache_id: 0,
            verify_checksums: true,
        },
    ));

    let (commit, active) = if read_only {
        let mut g = Generation::new(logs.last().copied().unwrap_or(0), std::iter::empty());
        g.mems = std::mem::take(&mut mems);
        (CommitState { log: None, log_number: g.log_number }, g)
    } else {
        let number = versions.new_file_number();
        let log_path = path.join(strata_manifest::log_file_name(number));
        let file = fs.create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let mut log = LogWriter::with_path(file, &log_path);
        log.preallocate(crate::write::wal_preallocate_bytes(&opts))?;
        fs.sync_dir(path).map_err(|e| Error::io(path, e))?;
        (CommitState { log: Some(log), log_number: number }, Generation::new(number, cf_names.keys().copied()))
    };

    let inner = Arc::new(DbInner {
        path: path.to_path_buf(),
        fs,
        opts,
        read_only,
        icmp,
        table_cache,
        state: Mutex::new(State {
            versions,
            cf_names,
            active,
            imm: VecDeque::new(),
            pending_outputs: BTreeSet::new(),
            compacting: BTreeSet::new(),
            shutting_down: false,
            manual_compaction: false,
        }),
        bg_cv: Condvar::new(),
        read_state: RwLock::new(Arc::new(crate::state::ReadState {
            version: Arc::new(strata_manifest::Version::empty()),
            cfs: BTreeMap::new(),
            log_numbers: Vec::new(),
        })),
        last_seq: AtomicU64::new(last_seq),
        commit: Mutex::new(commit),
        queue: Mutex::new(crate::state::WriteQueue::default()),
        queue_cv: Condvar::new(),
        snapshots: Arc::new(SnapshotList::default()),
        bg_error: Mutex::new(None),
        poisoned: AtomicBool::new(false),
        stats: Stats::default(),
        compaction_lock: Mutex::new(()),
        wal_pins: Mutex::new(BTreeMap::new()),
        threads: Mutex::new(Vec::new()),
        recovered_logs: if read_only { recovered_logs } else { Vec::new() },
        _lock: lock,
    });

    if !read_only {
        // Flush what the WAL replay recovered, then point the manifest past the old logs.
        let mut edit = VersionEdit::default();
        if replayed {
            for (&cf_id, mem) in &mems {
                if let Some(meta) = inner.flush_memtable(cf_id, mem)? {
                    // The newest table of its family (L0 is ordered by epoch).
                    let epoch = inner.state.lock().versions.current().cf(cf_id).map_or(1, |c| c.next_epoch());
                    edit.add_file(cf_id, 0, strata_manifest::FileMeta { epoch, ..meta });
                }
            }
            inner.sync_dir()?;
        }
        let mut st = inner.state.lock();
        edit.log_number = Some(st.active.log_number);
        edit.last_sequence = Some(last_seq);
        st.versions.log_and_apply(edit)?;
        st.pending_outputs.clear();
        inner.install_read_state(&st);
    } else {
        let st = inner.state.lock();
        inner.install_read_state(&st);
        // A writer elsewhere may compact and delete these tables while we read them. Opening
        // every table now keeps it readable after the name is unlinked (an open descriptor or
        // map outlives the directory entry), so the read-only view stays whole. A table missing
        // already is reported now, not in the middle of a later read.
        let version = st.versions.current();
        drop(st);
        for cf in version.cfs() {
            for (_, f) in cf.files() {
                inner.table_cache.get(f.number)?;
            }
        }
    }
    if !read_only {
        inner.delete_obsolete_files_impl(true);
        let mut threads = inner.threads.lock();
        let f = Arc::clone(&inner);
        threads.push(spawn("strata-flush", move || f.flush_loop())?);
        let c = Arc::clone(&inner);
        threads.push(spawn("strata-compact", move || c.compaction_loop())?);
    }
    Ok(Db { inner })
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f).map_err(Error::from)
}

/// Opens WAL `path` for replay. Read-only, a writer elsewhere may still append to it or trim
/// its preallocated tail, so replay reads a copy of what it holds now (a record cut off by
/// the copy is a torn tail, dropped like one).
fn open_log(fs: &dyn FileSystem, path: &Path, read_only: bool) -> Result<Arc<dyn RandomAccessFile>> {
    if read_only {
        let bytes = copy_log(fs, path).map_err(|e| Error::io(path, e))?;
        Ok(Arc::new(MemFile::new(bytes)))
    } else {
        fs.open_unmapped(path).map_err(|e| Error::io(path, e))
    }
}

/// What WAL `path` holds now, without the trailing whole blocks of zeros: the live WAL is
/// preallocated to about a memtable's size (64 MiB by default), and copying its unwritten tail
/// cost that much memory per read-only open. Zero blocks followed by data are kept, so the
/// reader still sees (and reports) zeros in the middle of a log. A writer trimming the
/// preallocated tail while we read shortens the file: the read is retried at its new length.
fn copy_log(fs: &dyn FileSystem, path: &Path) -> io::Result<bytes::Bytes> {
    let block = strata_wal::BLOCK_SIZE as u64;
    let file = fs.open_unmapped(path)?;
    let mut len = file.len();
    let (mut out, mut zeros, mut off) = (Vec::new(), 0usize, 0u64);
    while off < len {
        let n = (len - off).min(block);
        // n <= BLOCK_SIZE, which fits in usize.
        let chunk = match file.read_at(off, n as usize) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                let now = fs.file_size(path)?;
                if now >= off + n {
                    return Err(e); // not a truncation
                }
                len = now; // strictly shorter: the loop makes progress
                continue;
            }
            Err(e) => return Err(e),
        };
        if chunk.iter().all(|&b| b == 0) {
            zeros += chunk.len();
        } else {
            out.resize(out.len() + zeros, 0);
            zeros = 0;
            out.extend_from_slice(&chunk);
        }
        off += n;
    }
    Ok(out.into())
}

/// Whether the WAL `file` (named `path`) holds at least one readable record.
fn log_has_records(file: &Arc<dyn RandomAccessFile>, path: &Path, opts: &Options) -> Result<bool> {
    let mut reader = LogReader::new(Arc::clone(file), path, opts.wal_recovery_mode);
    Ok(reader.read_record()?.is_some())
}

/// What replaying one WAL found.
struct Replayed {
    /// The largest sequence number seen (0 if none).
    last_seq: u64,
    /// The offset where valid records end.
    valid_end: u64,
    /// Offset and reason of a tail the recovery mode dropped.
    dropped_tail: Option<(u64, String)>,
}

/// Replays one WAL into `mems`.
fn replay_log(
    file: Arc<dyn RandomAccessFile>,
    path: &Path,
    opts: &Options,
    mems: &BTreeMap<u32, Arc<MemTable>>,
) -> Result<Replayed> {
    let mut reader = LogReader::new(file, path, opts.wal_recovery_mode);
    let mut last = 0;
    while let Some(rec) = reader.read_record()? {
        let batch = WriteBatch::from_record(rec.payload.to_vec(), path, rec.offset)?;
        let base = batch.sequence();
        for (i, op) in batch.iter().enumerate() {
            if let Some(mem) = mems.get(&op.cf) {
                mem.add(base + i as u64, op.kind, op.key, op.value);
            }
        }
        if batch.count() > 0 {
            last = last.max(base + batch.count() as u64 - 1);
        }
    }
    let report = reader.report();
    Ok(Replayed { last_seq: last, valid_end: report.valid_end_offset, dropped_tail: report.dropped_tail.clone() })
}
