//! `SelectiveFaultFs`: a file system that wraps another one (usually a `SimFs`) and fails only
//! the operations on files whose name ends with a given suffix, so a test can make the disk
//! "full" for tables while the WAL keeps working (a fault that hits a background flush or
//! compaction and nothing else).
//!
//! Invariants: with no rule set, every call is passed through unchanged. A rule is checked at
//! each call, so a file created before the rule was set fails from then on too.
//!
//! Thread safety: the rule sits behind a mutex shared by every clone and every open file.

use bytes::Bytes;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use strata_base::FileSystem;
use strata_base::fs::{FileLock, FileSyncer, RandomAccessFile, WritableFile};

/// Which files fail and how.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Files whose name ends with this (e.g. `".sst"`) are affected.
    pub suffix: String,
    /// `create`, `append` and `sync` of such files, and hard links made under such a name, fail
    /// with this kind.
    pub kind: io::ErrorKind,
}

type SharedRule = Arc<Mutex<Option<FaultRule>>>;

/// A one-shot callback run at the next `create` of a file whose name ends with `suffix`,
/// before the file is created, on the thread creating it (to make another operation happen
/// exactly inside a background job, e.g. a `drop_cf` while a compaction writes its output).
/// As a link hook ([`SelectiveFaultFs::set_link_hook`]) it runs at the next `link` whose new
/// name ends with `suffix`, before the link is made; as a remove hook
/// ([`SelectiveFaultFs::set_remove_hook`]), at the next `remove_file` of such a file, before it
/// is removed.
pub struct CreateHook {
    pub suffix: String,
    pub run: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for CreateHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateHook").field("suffix", &self.suffix).finish_non_exhaustive()
    }
}

type SharedHook = Arc<Mutex<Option<CreateHook>>>;

/// The create gate: the suffix of the files whose creation waits while it is `Some`.
type SharedGate = Arc<(Mutex<Option<String>>, Condvar)>;

/// What background syncers (`WritableFile::background_syncer`) do besides the rule.
#[derive(Debug, Default)]
struct SyncerControl {
    /// Syncs wait while this is set ([`SelectiveFaultFs::hold_background_syncs`]).
    held: bool,
    /// Syncs waiting now.
    waiting: usize,
    /// Syncs fail ([`SelectiveFaultFs::fail_background_syncs`]).
    fail: bool,
}

type SharedSyncers = Arc<(Mutex<SyncerControl>, Condvar)>;

/// A file system that fails writes to some files; see the module docs.
#[derive(Debug, Clone)]
pub struct SelectiveFaultFs {
    inner: Arc<dyn FileSystem>,
    rule: SharedRule,
    link_rule: SharedRule,
    hook: SharedHook,
    link_hook: SharedHook,
    remove_hook: SharedHook,
    gate: SharedGate,
    syncers: SharedSyncers,
}

fn check(rule: &SharedRule, path: &Path, what: &str) -> io::Result<()> {
    let guard = rule.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.as_ref() {
        Some(r) if path.to_string_lossy().ends_with(&r.suffix) => {
            Err(io::Error::new(r.kind, format!("injected selective fault: {what} {}", path.display())))
        }
        _ => Ok(()),
    }
}

impl SelectiveFaultFs {
    pub fn new(inner: Arc<dyn FileSystem>) -> Self {
        Self {
            inner,
            rule: Arc::new(Mutex::new(None)),
            link_rule: Arc::new(Mutex::new(None)),
            hook: Arc::new(Mutex::new(None)),
            link_hook: Arc::new(Mutex::new(None)),
            remove_hook: Arc::new(Mutex::new(None)),
            gate: Arc::new((Mutex::new(None), Condvar::new())),
            syncers: Arc::new((Mutex::new(SyncerControl::default()), Condvar::new())),
        }
    }

    /// While `held`, every background sync (a table piece synced on a helper thread) waits
    /// before it runs; releasing wakes them.
    pub fn hold_background_syncs(&self, held: bool) {
        self.syncers.0.lock().unwrap_or_else(PoisonError::into_inner).held = held;
        self.syncers.1.notify_all();
    }

    /// Background syncs waiting at the hold now.
    pub fn background_syncs_waiting(&self) -> usize {
        self.syncers.0.lock().unwrap_or_else(PoisonError::into_inner).waiting
    }

    /// While `fail`, every background sync fails with an I/O error (syncs through the file
    /// itself are not affected: only a sync on a helper thread fails).
    pub fn fail_background_syncs(&self, fail: bool) {
        self.syncers.0.lock().unwrap_or_else(PoisonError::into_inner).fail = fail;
    }

    /// Closes the create gate: from now on every `create` of a file whose name ends with
    /// `suffix` waits, on the creating thread, until [`open_create_gate`](Self::open_create_gate)
    /// (to hold a background job, e.g. keep every flush from writing its table).
    pub fn close_create_gate(&self, suffix: &str) {
        *self.gate.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(suffix.to_string());
    }

    /// Opens the create gate and wakes every `create` waiting at it.
    pub fn open_create_gate(&self) {
        *self.gate.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.gate.1.notify_all();
    }

    /// Sets (or with `None` clears) the one-shot create hook.
    pub fn set_create_hook(&self, hook: Option<CreateHook>) {
        *self.hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// Sets (or with `None` clears) the one-shot link hook.
    pub fn set_link_hook(&self, hook: Option<CreateHook>) {
        *self.link_hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// Sets (or with `None` clears) the one-shot remove hook.
    pub fn set_remove_hook(&self, hook: Option<CreateHook>) {
        *self.remove_hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// Sets (or with `None` clears) the rule.
    pub fn set_rule(&self, rule: Option<FaultRule>) {
        *self.rule.lock().unwrap_or_else(PoisonError::into_inner) = rule;
    }

    /// Sets (or with `None` clears) a rule for hard links only: a link made under a name ending
    /// with its suffix fails with its kind; creates, appends and syncs of that name do not.
    pub fn set_link_rule(&self, rule: Option<FaultRule>) {
        *self.link_rule.lock().unwrap_or_else(PoisonError::into_inner) = rule;
    }

    /// A shared handle, as `Options::fs` wants it.
    pub fn arc(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }
}

#[derive(Debug)]
struct Writable {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    rule: SharedRule,
    syncers: SharedSyncers,
}

impl WritableFile for Writable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        check(&self.rule, &self.path, "append")?;
        self.inner.append(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn sync(&mut self) -> io::Result<()> {
        check(&self.rule, &self.path, "sync")?;
        self.inner.sync()
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }

    /// A trim (flush and shrink, no sync) fails like any other write to the file.
    fn trim(&mut self) -> io::Result<()> {
        check(&self.rule, &self.path, "trim")?;
        self.inner.trim()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    /// The inner file's syncer, failing like `sync` when the rule matches.
    fn background_syncer(&self) -> Option<Box<dyn FileSyncer>> {
        let inner = self.inner.background_syncer()?;
        Some(Box::new(Syncer {
            inner,
            path: self.path.clone(),
            rule: Arc::clone(&self.rule),
            control: Arc::clone(&self.syncers),
        }))
    }
}

#[derive(Debug)]
struct Syncer {
    inner: Box<dyn FileSyncer>,
    path: PathBuf,
    rule: SharedRule,
    control: SharedSyncers,
}

impl FileSyncer for Syncer {
    fn sync(&mut self) -> io::Result<()> {
        {
            let (lock, cv) = &*self.control;
            let mut c = lock.lock().unwrap_or_else(PoisonError::into_inner);
            c.waiting += 1;
            while c.held {
                c = cv.wait(c).unwrap_or_else(PoisonError::into_inner);
            }
            c.waiting -= 1;
            if c.fail {
                return Err(io::Error::other(format!("injected background sync fault: {}", self.path.display())));
            }
        }
        check(&self.rule, &self.path, "sync")?;
        self.inner.sync()
    }
}

/// Takes and runs `hook` when `path` ends with its suffix.
fn run_hook(hook: &SharedHook, path: &Path) {
    let due = {
        let mut h = hook.lock().unwrap_or_else(PoisonError::into_inner);
        let due = h.as_ref().is_some_and(|h| path.to_string_lossy().ends_with(&h.suffix));
        if due { h.take() } else { None }
    };
    if let Some(h) = due {
        (h.run)();
    }
}

impl FileSystem for SelectiveFaultFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        {
            let held = |g: &Option<String>| g.as_ref().is_some_and(|s| path.to_string_lossy().ends_with(s.as_str()));
            let mut g = self.gate.0.lock().unwrap_or_else(PoisonError::into_inner);
            while held(&g) {
                g = self.gate.1.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
        }
        run_hook(&self.hook, path);
        check(&self.rule, path, "create")?;
        let inner = self.inner.create(path)?;
        Ok(Box::new(Writable {
            inner,
            path: path.to_path_buf(),
            rule: Arc::clone(&self.rule),
            syncers: Arc::clone(&self.syncers),
        }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.inner.open(path)
    }

    fn open_unmapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.inner.open_unmapped(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        run_hook(&self.link_hook, to);
        check(&self.rule, to, "link")?;
        check(&self.link_rule, to, "link")?;
        self.inner.link(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        run_hook(&self.remove_hook, path);
        self.inner.remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }

    fn link_count(&self, path: &Path) -> io::Result<u64> {
        self.inner.link_count(path)
    }

    fn concurrent_syncs(&self) -> bool {
        self.inner.concurrent_syncs()
    }

    fn read_all(&self, path: &Path) -> io::Result<Bytes> {
        self.inner.read_all(path)
    }
}

/// Replaces the whole file at `path` with `data`, durably (rewrite, fsync, directory fsync):
/// how tests damage a file on a file system that only appends.
pub fn overwrite_file(fs: &dyn FileSystem, path: &Path, data: &[u8]) -> io::Result<()> {
    fs.remove_file(path)?;
    let mut f = fs.create(path)?;
    f.append(data)?;
    f.sync()?;
    drop(f);
    fs.sync_dir(strata_base::fs::parent_or_dot(path))
}

/// The class of a mutating operation, as `"<op> <file kind>"`: `"append wal"`,
/// `"sync table"`, `"rename CURRENT"`, `"sync_dir dir"`, ... `line` is a line of
/// `SimFs::trace()` (`"<op> <path>"`).
pub fn op_class(line: &str) -> String {
    let (op, path) = line.split_once(' ').unwrap_or((line, ""));
    let file = path.rsplit('/').next().unwrap_or(path);
    let kind = if file.ends_with(".log") {
        "wal"
    } else if file.ends_with(".sst") {
        "table"
    } else if file.starts_with("MANIFEST") {
        "manifest"
    } else if file.starts_with("CURRENT") {
        "CURRENT"
    } else if file == "LOCK" {
        "LOCK"
    } else {
        "dir"
    };
    format!("{op} {kind}")
}

/// Where a [`StopFs`] stops the machine: at the `nth` (from 0) operation of class `class`
/// (see [`op_class`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopAt {
    pub class: String,
    pub nth: u64,
}

#[derive(Debug, Default)]
struct StopState {
    at: Option<StopAt>,
    seen: u64,
    stopped: bool,
}

/// Wraps a `SimFs` and, when the chosen operation comes, calls `SimFs::fail_after` on it so
/// that this operation and every later one fail: a crash point chosen by what the operation
/// is rather than by its number, which background threads make vary from run to run.
#[derive(Debug, Clone)]
pub struct StopFs {
    sim: strata_base::SimFs,
    state: Arc<Mutex<StopState>>,
}

impl StopFs {
    pub fn new(sim: strata_base::SimFs) -> Self {
        Self { sim, state: Arc::new(Mutex::new(StopState::default())) }
    }

    /// Arms (or with `None` disarms) the stop point; occurrences are counted from now.
    pub fn stop_at(&self, at: Option<StopAt>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *s = StopState { at, seen: 0, stopped: false };
    }

    /// Whether the stop point was reached.
    pub fn stopped(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).stopped
    }

    pub fn arc(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }

    /// Called before every mutating operation.
    fn before(&self, op: &str, path: &Path) {
        before(&self.state, &self.sim, op, path);
    }
}

fn before(state: &Mutex<StopState>, sim: &strata_base::SimFs, op: &str, path: &Path) {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(at) = s.at.clone() else { return };
    if s.stopped || op_class(&format!("{op} {}", path.display())) != at.class {
        return;
    }
    if s.seen == at.nth {
        s.stopped = true;
        sim.fail_after(Some(sim.op_count()));
    }
    s.seen += 1;
}

#[derive(Debug)]
struct StopWritable {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    state: Arc<Mutex<StopState>>,
    sim: strata_base::SimFs,
}

impl WritableFile for StopWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        before(&self.state, &self.sim, "append", &self.path);
        self.inner.append(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn sync(&mut self) -> io::Result<()> {
        before(&self.state, &self.sim, "sync", &self.path);
        self.inner.sync()
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }

    /// A trim (flush and shrink, no sync) is a point where the machine can stop.
    fn trim(&mut self) -> io::Result<()> {
        before(&self.state, &self.sim, "trim", &self.path);
        self.inner.trim()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl FileSystem for StopFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.before("create", path);
        let inner = self.sim.create(path)?;
        Ok(Box::new(StopWritable {
            inner,
            path: path.to_path_buf(),
            state: Arc::clone(&self.state),
            sim: self.sim.clone(),
        }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.sim.open(path)
    }

    fn open_unmapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.sim.open_unmapped(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.before("rename", from);
        self.sim.rename(from, to)
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.before("link", to);
        self.sim.link(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.before("remove", path);
        self.sim.remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.before("remove_dir_all", path);
        self.sim.remove_dir_all(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.sim.create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.sim.list(dir)
    }

    fn exists(&self, path: &Path) -> bool {
        self.sim.exists(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.sim.is_dir(path)
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.sim.file_size(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.sim.lock(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.before("sync_dir", dir);
        self.sim.sync_dir(dir)
    }

    fn link_count(&self, path: &Path) -> io::Result<u64> {
        self.sim.link_count(path)
    }

    fn read_all(&self, path: &Path) -> io::Result<Bytes> {
        self.sim.read_all(path)
    }
}
