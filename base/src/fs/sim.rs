//! An in-memory file system that models durability and injects faults, for crash tests.
//!
//! The model is a tree of directory and file inodes. Each file remembers how many of its bytes
//! were synced; each directory keeps two entry maps, the current one and the durable one, and
//! [`FileSystem::sync_dir`] copies the first over the second. [`SimFs::crash`] rolls every
//! directory back to its durable entries and every file back to its synced length, as a power
//! loss would on a file system that promises no more than POSIX does.
//!
//! Faults: [`SimFs::fail_after`] makes the N-th and every later mutating operation fail (the
//! "process stops here" point of a crash test); [`SimFs::set_fault`] makes fsyncs fail or
//! appends run out of space until cleared.
//!
//! Thread safety: one mutex guards the whole tree; this is a test tool, not a fast one.

use super::{FileLock, FileSyncer, FileSystem, MemFile, RandomAccessFile, WritableFile};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A fault that stays injected until cleared with `set_fault(None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `sync` and `sync_dir` fail with an I/O error (data is not made durable).
    SyncFails,
    /// `append` fails with `StorageFull`.
    NoSpace,
    /// Every mutating operation fails with an I/O error.
    AllWritesFail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir(u64),
}

#[derive(Debug, Default)]
struct FileData {
    data: Vec<u8>,
    synced: usize,
}

#[derive(Debug, Default, Clone)]
struct DirData {
    current: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct State {
    files: HashMap<u64, FileData>,
    dirs: HashMap<u64, DirData>,
    next_id: u64,
    locks: HashSet<PathBuf>,
    ops: u64,
    fail_at: Option<u64>,
    fault: Option<Fault>,
    trace: Vec<String>,
    /// Files hand out background syncers ([`SimFs::set_background_syncs`]).
    background_syncs: bool,
}

const ROOT: u64 = 0;

/// The in-memory, fault-injecting file system. Cloning shares the same tree.
#[derive(Debug, Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl Default for SimFs {
    fn default() -> Self {
        Self::new()
    }
}

fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file or directory", path.display()))
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

impl State {
    /// Counts a mutating operation and fails it if a fault says so.
    fn op(&mut self, what: &str, path: &Path) -> io::Result<()> {
        let n = self.ops;
        self.ops += 1;
        self.trace.push(format!("{what} {}", path.display()));
        if self.fail_at.is_some_and(|at| n >= at) {
            return Err(injected(&format!("operation {n} ({what}) after fail_after")));
        }
        if self.fault == Some(Fault::AllWritesFail) {
            return Err(injected(what));
        }
        Ok(())
    }

    fn lookup(&self, path: &Path) -> Option<Node> {
        let mut node = Node::Dir(ROOT);
        for c in components(path) {
            let Node::Dir(d) = node else { return None };
            node = *self.dirs.get(&d)?.current.get(&c)?;
        }
        Some(node)
    }

    /// The directory that holds `path`, and the entry name.
    fn parent_of(&self, path: &Path) -> io::Result<(u64, String)> {
        let mut comps = components(path);
        let name = comps.pop().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file path", path.display()))
        })?;
        let parent: PathBuf = comps.iter().collect();
        match self.lookup(&parent) {
            Some(Node::Dir(d)) => Ok((d, name)),
            _ => Err(not_found(&parent)),
        }
    }

    fn file_id(&self, path: &Path) -> io::Result<u64> {
        match self.lookup(path) {
            Some(Node::File(id)) => Ok(id),
            Some(Node::Dir(_)) => Err(io::Error::new(io::ErrorKind::IsADirectory, path.display().to_string())),
            None => Err(not_found(path)),
        }
    }

    fn dir_mut(&mut self, id: u64) -> io::Result<&mut DirData> {
        self.dirs.get_mut(&id).ok_or_else(|| io::Error::other("dangling directory inode"))
    }

    fn alloc(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl SimFs {
    pub fn new() -> Self {
        let mut dirs = HashMap::new();
        dirs.insert(ROOT, DirData::default());
        Self {
            state: Arc::new(Mutex::new(State {
                files: HashMap::new(),
                dirs,
                next_id: ROOT,
                locks: HashSet::new(),
                ops: 0,
                fail_at: None,
                fault: None,
                trace: Vec::new(),
                background_syncs: false,
            })),
        }
    }

    /// Simulates a power loss: unsynced bytes and directory entries vanish, locks are released
    /// (the process died), and injected faults are cleared.
    pub fn crash(&self) {
        let mut s = self.state.lock();
        for dir in s.dirs.values_mut() {
            dir.current = dir.durable.clone();
        }
        for f in s.files.values_mut() {
            f.data.truncate(f.synced);
        }
        s.locks.clear();
        s.fail_at = None;
        s.fault = None;
    }

    /// Makes mutating operation number `n` (counting from the current [`Self::op_count`]
    /// baseline of 0 at creation) and every later one fail. `None` clears it.
    pub fn fail_after(&self, n: Option<u64>) {
        self.state.lock().fail_at = n;
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state.lock().fault = fault;
    }

    /// With `true`, files created from now on hand out [`WritableFile::background_syncer`]s, as
    /// `RealFs`'s do, so table pieces are synced on a helper thread. Off by default: a sync on
    /// another thread makes the order of operations (and so [`Self::fail_after`]'s numbering
    /// and [`Self::trace`]) depend on scheduling.
    pub fn set_background_syncs(&self, on: bool) {
        self.state.lock().background_syncs = on;
    }

    /// Mutating operations performed so far.
    pub fn op_count(&self) -> u64 {
        self.state.lock().ops
    }

    /// The mutating operations performed so far, one line each (`"create /db/000004.sst"`).
    pub fn trace(&self) -> Vec<String> {
        self.state.lock().trace.clone()
    }

    /// A shared handle, as the engine wants it.
    pub fn arc(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }
}

#[derive(Debug)]
struct SimWritable {
    state: Arc<Mutex<State>>,
    id: u64,
    path: PathBuf,
    len: u64,
    /// Hands out background syncers (see [`SimFs::set_background_syncs`]).
    background: bool,
}

/// Marks the bytes of one file synced, like [`SimWritable::sync`], from any thread.
fn sync_file(state: &Mutex<State>, id: u64, path: &Path) -> io::Result<()> {
    let mut s = state.lock();
    s.op("sync", path)?;
    if s.fault == Some(Fault::SyncFails) {
        return Err(injected("fsync failed"));
    }
    let f = s.files.get_mut(&id).ok_or_else(|| not_found(path))?;
    f.synced = f.data.len();
    Ok(())
}

#[derive(Debug)]
struct SimSyncer {
    state: Arc<Mutex<State>>,
    id: u64,
    path: PathBuf,
}

impl FileSyncer for SimSyncer {
    fn sync(&mut self) -> io::Result<()> {
        sync_file(&self.state, self.id, &self.path)
    }
}

impl WritableFile for SimWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        s.op("append", &self.path)?;
        if s.fault == Some(Fault::NoSpace) {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "injected fault: no space left on device"));
        }
        let f = s.files.get_mut(&self.id).ok_or_else(|| not_found(&self.path))?;
        f.data.extend_from_slice(data);
        self.len += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        sync_file(&self.state, self.id, &self.path)
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn background_syncer(&self) -> Option<Box<dyn FileSyncer>> {
        self.background.then(|| {
            Box::new(SimSyncer { state: Arc::clone(&self.state), id: self.id, path: self.path.clone() })
                as Box<dyn FileSyncer>
        })
    }
}

#[derive(Debug)]
struct SimLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl FileLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.path);
    }
}

impl FileSystem for SimFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut s = self.state.lock();
        s.op("create", path)?;
        let (dir, name) = s.parent_of(path)?;
        // Over an existing file, `create` truncates that file (`O_TRUNC`), as a real file system
        // does: every hard link to it sees the change. (The truncation counts as unsynced data:
        // a crash before the next sync leaves the file empty.)
        let id = match s.lookup(path) {
            Some(Node::File(id)) => id,
            Some(Node::Dir(_)) => return Err(io::Error::new(io::ErrorKind::IsADirectory, path.display().to_string())),
            None => s.alloc(),
        };
        s.files.insert(id, FileData::default());
        s.dir_mut(dir)?.current.insert(name, Node::File(id));
        let background = s.background_syncs;
        Ok(Box::new(SimWritable { state: self.state.clone(), id, path: path.to_path_buf(), len: 0, background }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let s = self.state.lock();
        let id = s.file_id(path)?;
        let data = s.files.get(&id).map(|f| Bytes::copy_from_slice(&f.data)).unwrap_or_default();
        Ok(Arc::new(MemFile::new(data)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.op("rename", from)?;
        let node = s.lookup(from).ok_or_else(|| not_found(from))?;
        let (from_dir, from_name) = s.parent_of(from)?;
        let (to_dir, to_name) = s.parent_of(to)?;
        if let (Node::Dir(_), Some(Node::Dir(existing))) = (node, s.lookup(to)) {
            let empty = s.dirs.get(&existing).is_some_and(|d| d.current.is_empty());
            if !empty {
                return Err(io::Error::new(io::ErrorKind::DirectoryNotEmpty, to.display().to_string()));
            }
        }
        s.dir_mut(from_dir)?.current.remove(&from_name);
        s.dir_mut(to_dir)?.current.insert(to_name, node);
        Ok(())
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.op("link", to)?;
        let id = s.file_id(from)?;
        if s.lookup(to).is_some() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, to.display().to_string()));
        }
        let (to_dir, to_name) = s.parent_of(to)?;
        s.dir_mut(to_dir)?.current.insert(to_name, Node::File(id));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.op("remove", path)?;
        s.file_id(path)?;
        let (dir, name) = s.parent_of(path)?;
        s.dir_mut(dir)?.current.remove(&name);
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.op("remove_dir_all", path)?;
        match s.lookup(path) {
            Some(Node::Dir(_)) => {}
            _ => return Err(not_found(path)),
        }
        let (dir, name) = s.parent_of(path)?;
        s.dir_mut(dir)?.current.remove(&name);
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let mut cur = ROOT;
        for c in components(path) {
            let existing = s.dirs.get(&cur).and_then(|d| d.current.get(&c).copied());
            cur = match existing {
                Some(Node::Dir(d)) => d,
                Some(Node::File(_)) => {
                    return Err(io::Error::new(io::ErrorKind::NotADirectory, path.display().to_string()));
                }
                None => {
                    s.op("mkdir", path)?;
                    let id = s.alloc();
                    s.dirs.insert(id, DirData::default());
                    s.dir_mut(cur)?.current.insert(c, Node::Dir(id));
                    if cur == ROOT {
                        // The root is always durable: it models the mount point.
                        s.dir_mut(ROOT)?.durable = s.dirs.get(&ROOT).map(|d| d.current.clone()).unwrap_or_default();
                    }
                    id
                }
            };
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state.lock();
        match s.lookup(dir) {
            Some(Node::Dir(d)) => Ok(s.dirs.get(&d).map(|d| d.current.keys().cloned().collect()).unwrap_or_default()),
            _ => Err(not_found(dir)),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        self.state.lock().lookup(path).is_some()
    }

    fn is_dir(&self, path: &Path) -> bool {
        matches!(self.state.lock().lookup(path), Some(Node::Dir(_)))
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let s = self.state.lock();
        let id = s.file_id(path)?;
        Ok(s.files.get(&id).map_or(0, |f| f.data.len() as u64))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut s = self.state.lock();
        if s.lookup(path).is_none() {
            s.op("create", path)?;
            let (dir, name) = s.parent_of(path)?;
            let id = s.alloc();
            s.files.insert(id, FileData::default());
            s.dir_mut(dir)?.current.insert(name, Node::File(id));
        }
        if !s.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("{} is locked", path.display())));
        }
        Ok(Box::new(SimLock { state: self.state.clone(), path: path.to_path_buf() }))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.op("sync_dir", dir)?;
        if s.fault == Some(Fault::SyncFails) {
            return Err(injected("directory fsync failed"));
        }
        match s.lookup(dir) {
            Some(Node::Dir(d)) => {
                let dd = s.dir_mut(d)?;
                dd.durable = dd.current.clone();
                Ok(())
            }
            _ => Err(not_found(dir)),
        }
    }

    fn link_count(&self, path: &Path) -> io::Result<u64> {
        let s = self.state.lock();
        let id = s.file_id(path)?;
        let n = s.dirs.values().flat_map(|d| d.current.values()).filter(|&&n| n == Node::File(id)).count();
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn crash_keeps_only_synced_bytes_and_entries() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/db")).unwrap();
        let mut a = fs.create(&p("/db/a")).unwrap();
        a.append(b"durable").unwrap();
        a.sync().unwrap();
        a.append(b" lost").unwrap();
        fs.sync_dir(&p("/db")).unwrap();
        let mut b = fs.create(&p("/db/b")).unwrap();
        b.append(b"synced but entry not durable").unwrap();
        b.sync().unwrap();
        fs.crash();
        assert_eq!(&fs.read_all(&p("/db/a")).unwrap()[..], b"durable");
        assert!(!fs.exists(&p("/db/b")));
    }

    #[test]
    fn create_over_a_hard_link_truncates_the_shared_file() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/a")).unwrap();
        fs.write_atomic(&p("/a/f"), b"shared").unwrap();
        fs.link(&p("/a/f"), &p("/a/g")).unwrap();
        let mut f = fs.create(&p("/a/g")).unwrap();
        f.append(b"new").unwrap();
        drop(f);
        assert_eq!(&fs.read_all(&p("/a/f")).unwrap()[..], b"new", "both names are one file");
        // Replacing by rename leaves the other name alone.
        fs.write_atomic(&p("/a/g"), b"replaced").unwrap();
        assert_eq!(&fs.read_all(&p("/a/f")).unwrap()[..], b"new");
    }

    #[test]
    fn rename_needs_dir_sync() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        fs.write_atomic(&p("/d/CURRENT"), b"one").unwrap();
        let mut t = fs.create(&p("/d/CURRENT.tmp")).unwrap();
        t.append(b"two").unwrap();
        t.sync().unwrap();
        fs.rename(&p("/d/CURRENT.tmp"), &p("/d/CURRENT")).unwrap();
        assert_eq!(&fs.read_all(&p("/d/CURRENT")).unwrap()[..], b"two");
        fs.crash();
        assert_eq!(&fs.read_all(&p("/d/CURRENT")).unwrap()[..], b"one");
    }

    #[test]
    fn directory_rename_moves_children() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/x/tmp")).unwrap();
        fs.write_atomic(&p("/x/tmp/f"), b"data").unwrap();
        fs.sync_dir(&p("/x")).unwrap();
        fs.rename(&p("/x/tmp"), &p("/x/final")).unwrap();
        fs.sync_dir(&p("/x")).unwrap();
        fs.crash();
        assert_eq!(&fs.read_all(&p("/x/final/f")).unwrap()[..], b"data");
        assert!(!fs.exists(&p("/x/tmp")));
    }

    #[test]
    fn faults() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        let mut f = fs.create(&p("/d/f")).unwrap();
        fs.set_fault(Some(Fault::SyncFails));
        assert!(f.sync().is_err());
        fs.set_fault(Some(Fault::NoSpace));
        assert_eq!(f.append(b"x").unwrap_err().kind(), io::ErrorKind::StorageFull);
        fs.set_fault(None);
        let n = fs.op_count();
        fs.fail_after(Some(n + 1));
        f.append(b"ok").unwrap();
        assert!(f.append(b"no").is_err());
        assert!(fs.remove_file(&p("/d/f")).is_err());
    }

    #[test]
    fn links_and_locks() {
        let fs = SimFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        fs.write_atomic(&p("/d/a"), b"1").unwrap();
        fs.link(&p("/d/a"), &p("/d/b")).unwrap();
        assert_eq!(fs.link_count(&p("/d/a")).unwrap(), 2);
        fs.remove_file(&p("/d/a")).unwrap();
        assert_eq!(&fs.read_all(&p("/d/b")).unwrap()[..], b"1");
        let l = fs.lock(&p("/d/LOCK")).unwrap();
        assert_eq!(fs.lock(&p("/d/LOCK")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(l);
        fs.lock(&p("/d/LOCK")).unwrap();
    }
}
