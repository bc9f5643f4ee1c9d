//! Opening a database: take the directory (lock it, apply the recovery rules of
//! docs/design.md: recover or create the manifest, prove leftovers are ours), replay the WAL
//! files newer than the manifest's log number ([`wal`]), build the shared state, then
//! (read-write) flush what was replayed and start the background threads. [`recovery`] holds
//! the report of what the open found and the ownership proofs.
//!
//! Thread safety: runs on the opening thread; a read-only open beside a live writer starts
//! over when the writer changed the manifest under it.

mod predecessor;
pub(crate) mod recovery;
mod wal;

pub use recovery::{RecoveryReport, WalHistoryCut};

use crate::Db;
use crate::error::{Error, Result};
use crate::lock_order::{OrderedMutex, OrderedRwLock, Rank};
use crate::memtable::MemTable;
use crate::options::Options;
use crate::snapshot::SnapshotList;
use crate::state::{Background, CommitState, DbInner, FileLifecycle, Generation, State, WritePath};
use crate::stats::Stats;
use crate::table_cache::TableCache;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use strata_base::ikey::InternalKeyComparator;
use strata_base::{BytewiseComparator, FileLock, FileSystem, RealFs};
use strata_base::{CfId, FileNumber};
use strata_manifest::{FileKind, VersionEdit, VersionSet, VersionSetOptions};
use strata_sst::{BlockCache, TableReadOptions};
use strata_wal::LogWriter;

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
/// When `CURRENT` cannot be used, the newest manifest stands in for it, as in recovery.
fn manifest_identity(fs: &dyn FileSystem, path: &Path) -> Option<(FileNumber, u64)> {
    let number = strata_manifest::live_manifest_number(fs, path).ok()?;
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

/// Whether `names` (a directory's entries) hold anything of a database: `CURRENT`, or a
/// manifest, table or WAL file. Such a directory is recovered or refused, never initialised.
fn holds_database(names: &[String]) -> bool {
    names.iter().any(|n| {
        matches!(
            strata_manifest::parse_file_name(n),
            Some(FileKind::Current | FileKind::Manifest(_) | FileKind::Table(_) | FileKind::Log(_))
        )
    })
}

/// The entries of `path`, or none when it does not exist.
fn list_dir(fs: &dyn FileSystem, path: &Path) -> Result<Vec<String>> {
    match fs.list(path) {
        Ok(names) => Ok(names),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// One attempt at opening; `opts` and `path` are already checked. Four phases: take the
/// directory (lock, list, recover or create the manifest), replay the WALs, build the shared
/// state, then (read-write) flush what was replayed and start the background threads.
fn open_once(path: &Path, opts: Options, read_only: bool) -> Result<Db> {
    let fs = file_system(&opts);
    let mut dir = take_directory(&fs, path, &opts, read_only)?;
    let mut report = RecoveryReport::from_versions(&dir.versions);
    report.unrecognised_files = std::mem::take(&mut dir.unrecognised);
    // Recovering `CURRENT` proves one manifest; deleting anything on top of that guess is left
    // to a later change, when the database has run on it.
    report.deletion_skipped = report.current_recovered.is_some();
    let cf_ids: Vec<CfId> = dir.versions.current().cfs().map(|c| c.id).collect();
    let wals = wal::replay_wals(&*fs, path, &opts, read_only, &dir.names, &dir.versions, &cf_ids, &mut report)?;
    let (inner, replayed) = build_inner(fs, path, opts, read_only, dir, wals, report)?;
    if read_only {
        pin_tables(&inner)?;
    } else {
        finish_recovery(&inner, &replayed)?;
        start_threads(&inner)?;
    }
    Ok(Db { inner })
}

/// The directory taken for this open: its lock (read-write), its entries, the recovered or
/// created version set, and the files the open could not prove are Strata's.
struct Directory {
    lock: Option<Box<dyn FileLock>>,
    icmp: Arc<InternalKeyComparator>,
    names: Vec<String>,
    versions: VersionSet,
    unrecognised: Vec<String>,
}

/// Applies the recovery rules (docs/design.md): a directory holding a database is recovered
/// or refused, an empty one created if asked; nothing is written before the directory has
/// been checked.
fn take_directory(fs: &Arc<dyn FileSystem>, path: &Path, opts: &Options, read_only: bool) -> Result<Directory> {
    // A writer lists again after taking the lock, so nobody changes the directory under it.
    let early = list_dir(&**fs, path)?;
    let exists = holds_database(&early);
    if !exists && (read_only || !opts.create_if_missing) {
        return Err(Error::NotFound(format!(
            "no database at {} (no CURRENT, manifest, table or WAL file)",
            path.display()
        )));
    }
    if exists && opts.error_if_exists {
        return Err(Error::AlreadyExists(path.to_path_buf()));
    }
    let lock = if read_only {
        None
    } else {
        fs.create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let lock_path = path.join("LOCK");
        match fs.lock(&lock_path) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(Error::Locked(path.to_path_buf())),
            Err(e) => return Err(Error::io(lock_path, e)),
        }
    };
    let names = if read_only { early } else { list_dir(&**fs, path)? };
    let icmp = Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)));
    let vopts = VersionSetOptions { comparator: icmp.clone(), manifest_size_limit: opts.manifest_size_limit };
    if !holds_database(&names) {
        let versions = VersionSet::create_new(Arc::clone(fs), path, vopts)?;
        return Ok(Directory { lock, icmp, names, versions, unrecognised: Vec::new() });
    }
    let mut versions = VersionSet::recover_read(Arc::clone(fs), path, vopts)?;
    let mut unrecognised = Vec::new();
    if !read_only {
        unrecognised = recovery::unprovable_files(&**fs, path, &names, &versions);
        versions.start_writing()?;
    }
    Ok(Directory { lock, icmp, names, versions, unrecognised })
}

/// One memtable per column family id.
type Memtables = BTreeMap<CfId, Arc<MemTable>>;

/// The shared state of the database being opened; read-write, also its new WAL. Read-only,
/// the replayed memtables become the active generation; read-write, they are returned to be
/// flushed.
fn build_inner(
    fs: Arc<dyn FileSystem>,
    path: &Path,
    opts: Options,
    read_only: bool,
    dir: Directory,
    mut wals: wal::Recovered,
    report: RecoveryReport,
) -> Result<(Arc<DbInner>, Memtables)> {
    let Directory { lock, icmp, names, mut versions, .. } = dir;
    let cf_names: BTreeMap<CfId, String> = versions.current().cfs().map(|c| (c.id, c.name.clone())).collect();
    let table_cache = Arc::new(TableCache::new(
        path.to_path_buf(),
        Arc::clone(&fs),
        TableReadOptions {
            comparator: icmp.clone(),
            cache: (opts.block_cache_capacity > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_capacity))),
            cache_id: 0,
            verify_checksums: true,
        },
        // A read-only open pins every table it opened (see `pin_tables`).
        if read_only { 0 } else { opts.max_open_files },
    ));
    let (commit, active) = if read_only {
        let mut g = Generation::new(wals.logs.last().map_or(FileNumber::new(0), |l| l.0), std::iter::empty());
        g.mems = std::mem::take(&mut wals.mems);
        (CommitState::new(None, g.log_number), g)
    } else {
        let number = versions.new_file_number();
        let log_path = path.join(strata_manifest::log_file_name(number));
        let file = fs.create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let mut log = LogWriter::with_path(file, &log_path);
        // The predecessor is the last WAL replayed, up to where its valid records end: if this
        // open crashes before `finish_recovery` retires it, the next open replays it to the
        // same point and finds the history consistent.
        crate::write::start_wal(&mut log, wals.logs.last().copied(), &opts)?;
        fs.sync_dir(path).map_err(|e| Error::io(path, e))?;
        (CommitState::new(Some(log), number), Generation::new(number, cf_names.keys().copied()))
    };
    // After recovering CURRENT, every file present at the open is kept until the next open,
    // so a wrong guess can still be undone by hand; otherwise only unproven files.
    let kept = if report.deletion_skipped {
        names.iter().cloned().collect()
    } else {
        report.unrecognised_files.iter().cloned().collect()
    };
    let replayed = std::mem::take(&mut wals.mems);
    // Older generations are the replayed WALs, which the open itself flushes.
    let flushed_below = active.log_number;
    let inner = Arc::new(DbInner {
        path: path.to_path_buf(),
        fs,
        opts,
        read_only,
        icmp,
        table_cache,
        writes: WritePath::new(commit),
        state: OrderedMutex::new(
            Rank::State,
            State {
                versions,
                cf_names,
                active,
                imm: VecDeque::new(),
                pending_outputs: BTreeSet::new(),
                compacting: BTreeSet::new(),
                compaction_targets: BTreeMap::new(),
                shutting_down: false,
                manual_compaction: false,
                flushed_below,
            },
        ),
        read_state: OrderedRwLock::new(
            Rank::ReadState,
            Arc::new(crate::state::ReadState {
                version: Arc::new(strata_manifest::Version::empty()),
                cfs: BTreeMap::new(),
                log_numbers: Vec::new(),
            }),
        ),
        last_seq: AtomicU64::new(wals.last_seq),
        files: FileLifecycle {
            deleting: OrderedMutex::new(Rank::Deleting, ()),
            wal_pins: OrderedMutex::new(Rank::WalPins, BTreeMap::new()),
            kept,
            recovered_logs: if read_only { wals.logs } else { Vec::new() },
        },
        bg: Background::new(),
        snapshots: Arc::new(SnapshotList::default()),
        stats: Stats::default(),
        io_gate: Arc::new(strata_base::IoGate::new()),
        recovery: report,
        _lock: lock,
    });
    Ok((inner, replayed))
}

/// Read-only: publishes the state and opens every table now. A writer elsewhere may compact
/// and delete these tables while we read them; an open descriptor or map outlives the
/// directory entry, so the read-only view stays whole, and a table missing already is reported
/// now, not in the middle of a later read.
fn pin_tables(inner: &DbInner) -> Result<()> {
    let st = inner.state.lock();
    inner.install_read_state(&st);
    let version = st.versions.current();
    drop(st);
    for cf in version.cfs() {
        for (_, f) in cf.files() {
            inner.table_cache.get(f.number)?;
        }
    }
    Ok(())
}

/// Read-write: flushes what the WAL replay recovered, then points the manifest past the old
/// logs and publishes the state.
fn finish_recovery(inner: &DbInner, recovered: &Memtables) -> Result<()> {
    let mut edit = VersionEdit::default();
    if recovered.values().any(|m| !m.is_empty()) {
        for (&cf_id, mem) in recovered {
            // No reader or snapshot exists yet: only the newest version of each key is needed.
            if let Some(meta) = inner.flush_memtable(cf_id, mem, &[])? {
                // The newest table of its family (L0 is ordered by epoch).
                let epoch = inner.state.lock().versions.current().cf(cf_id).map_or(1, |c| c.next_epoch());
                edit.add_file(cf_id, 0, strata_manifest::FileMeta { epoch, ..meta });
            }
        }
        inner.sync_dir()?;
    }
    let mut st = inner.state.lock();
    edit.log_number = Some(st.active.log_number);
    edit.last_sequence = Some(inner.last_sequence());
    st.versions.log_and_apply(edit)?;
    st.pending_outputs.clear();
    inner.install_read_state(&st);
    Ok(())
}

/// Read-write: deletes leftovers (unless `CURRENT` was recovered) and starts the flush thread
/// and `Options::max_background_compactions` compaction threads.
fn start_threads(inner: &Arc<DbInner>) -> Result<()> {
    if !inner.recovery.deletion_skipped {
        inner.delete_obsolete_files_impl(true);
    }
    let mut threads = inner.bg.threads.lock();
    let f = Arc::clone(inner);
    threads.push(spawn("strata-flush", move || f.flush_loop())?);
    for i in 0..inner.opts.max_background_compactions {
        let c = Arc::clone(inner);
        threads.push(spawn(&format!("strata-compact-{i}"), move || c.compaction_loop())?);
    }
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f).map_err(Error::from)
}
