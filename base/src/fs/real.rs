//! The operating system's file system.

use super::{FileLock, FileSyncer, FileSystem, MemFile, RandomAccessFile, WritableFile, check_range};
use bytes::Bytes;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Writes are buffered in memory up to this many bytes before they reach the OS.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// The real file system. Reads use `pread` by default, or `mmap` when [`RealFs::with_mmap`] is
/// set.
#[derive(Debug, Clone, Default)]
pub struct RealFs {
    mmap_reads: bool,
    sequential_syncs: bool,
}

impl RealFs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads files through memory maps instead of `pread`.
    pub fn with_mmap(mmap_reads: bool) -> Self {
        Self { mmap_reads, ..Self::default() }
    }

    /// With `true`, [`FileSystem::concurrent_syncs`] says no and files hand out no
    /// [`WritableFile::background_syncer`]: callers sync one file after another on their own
    /// thread (for a disk that serves syncs strictly in order, or for a deterministic
    /// instruction count). Default `false`.
    #[must_use]
    pub fn sequential_syncs(mut self, sequential: bool) -> Self {
        self.sequential_syncs = sequential;
        self
    }

    /// A shared handle, as the engine wants it.
    pub fn arc() -> Arc<dyn FileSystem> {
        Arc::new(Self::new())
    }
}

#[derive(Debug)]
struct RealWritable {
    file: File,
    buf: Vec<u8>,
    len: u64,
    /// The file's size on disk is larger than `len` (see `preallocate`).
    preallocated: bool,
    /// `trim` changed the size since the last sync, so the next sync is a full `fsync`.
    size_changed: bool,
    /// Hands out a [`FileSyncer`] (not under [`RealFs::sequential_syncs`]).
    background_syncs: bool,
}

impl WritableFile for RealWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        if data.len() >= WRITE_BUFFER_BYTES {
            self.file.write_all(data)?;
        } else {
            self.buf.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        if self.size_changed {
            // A `trim` shrank the file: commit the new size with the data.
            self.file.sync_all()?;
            self.size_changed = false;
            return Ok(());
        }
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.flush()?;
        if len > self.len {
            // The write position stays at `self.len`: appends overwrite the zeros in order.
            self.file.set_len(len)?;
            self.file.sync_all()?;
            self.preallocated = true;
        }
        Ok(())
    }

    /// NB: no sync. On ext4, shrinking a file with `ftruncate` writes back nothing below the
    /// new size (it only discards the blocks past it), so the log's pages stay dirty in the page
    /// cache and are cancelled, never written, if the log is deleted before writeback.
    fn trim(&mut self) -> io::Result<()> {
        self.flush()?;
        if self.preallocated {
            self.file.set_len(self.len)?;
            self.preallocated = false;
            self.size_changed = true;
        }
        Ok(())
    }

    /// A duplicate of the descriptor (`dup`): `fdatasync` on it syncs the same open file.
    fn background_syncer(&self) -> Option<Box<dyn FileSyncer>> {
        if !self.background_syncs || self.preallocated || self.size_changed {
            return None;
        }
        let file = self.file.try_clone().ok()?;
        Some(Box::new(RealSyncer { file }))
    }
}

#[derive(Debug)]
struct RealSyncer {
    file: File,
}

impl FileSyncer for RealSyncer {
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Reads with `pread`; the safe reader, used by fuzzing and Miri.
#[derive(Debug)]
struct PreadFile {
    file: File,
    len: u64,
}

impl RandomAccessFile for PreadFile {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        check_range(offset, len, self.len)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// Maps `file`; `open` wraps the map in a [`MemFile`], whose slices are zero-copy views of it.
#[allow(unsafe_code)]
fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: only `open` maps, and its contract is that the file does not change while the
    // handle lives: Strata calls it for tables, which are written once, front to back, fsynced,
    // and never modified or truncated afterwards, by us or (per the engine's contract) by anyone
    // else while the database is open. Files that may still change (WALs, manifests) are read
    // through `open_unmapped` or `read_all`, which never map. Deletion unlinks the name but
    // keeps the pages of a mapped file valid. So the mapped bytes cannot change or disappear
    // while the map lives, which is what makes handing them out as `&[u8]` sound.
    unsafe { memmap2::Mmap::map(file) }
}

#[derive(Debug)]
struct RealLock {
    _file: File,
}

impl FileLock for RealLock {}

impl FileSystem for RealFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        Ok(Box::new(RealWritable {
            file,
            buf: Vec::with_capacity(64 * 1024),
            len: 0,
            preallocated: false,
            size_changed: false,
            background_syncs: !self.sequential_syncs,
        }))
    }

    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        if !self.mmap_reads {
            return self.open_unmapped(path);
        }
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Arc::new(MemFile::new(Bytes::new())));
        }
        Ok(Arc::new(MemFile::new(Bytes::from_owner(map_file(&file)?))))
    }

    fn open_unmapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Arc::new(PreadFile { file, len }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Bytes> {
        // read(2) to the end: a concurrent append or truncation shortens or lengthens what is
        // returned, never faults.
        fs::read(path).map(Bytes::from)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(RealLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process or handle", path.display()),
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<u64> {
        let n = fs::copy(from, to)?;
        fs::File::open(to)?.sync_data()?;
        Ok(n)
    }

    fn link_count(&self, path: &Path) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(fs::metadata(path)?.nlink())
    }
    fn concurrent_syncs(&self) -> bool {
        !self.sequential_syncs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_both_readers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        for mmap in [false, true] {
            let fs = RealFs::with_mmap(mmap);
            let mut w = fs.create(&p).unwrap();
            w.append(b"hello ").unwrap();
            w.append(&vec![7u8; WRITE_BUFFER_BYTES + 3]).unwrap();
            w.append(b"world").unwrap();
            w.sync().unwrap();
            assert_eq!(w.len(), 6 + WRITE_BUFFER_BYTES as u64 + 3 + 5);
            let r = fs.open(&p).unwrap();
            assert_eq!(&r.read_at(0, 6).unwrap()[..], b"hello ");
            assert_eq!(&r.read_at(r.len() - 5, 5).unwrap()[..], b"world");
            let err = r.read_at(r.len() - 4, 5).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            assert!(r.read_at(u64::MAX, 2).is_err());
        }
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("LOCK");
        let fs = RealFs::new();
        let l = fs.lock(&p).unwrap();
        assert_eq!(fs.lock(&p).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(l);
        fs.lock(&p).unwrap();
    }

    #[test]
    fn copy_makes_an_equal_independent_file() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs::new();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs.write_atomic(&a, b"some bytes").unwrap();
        assert_eq!(fs.copy(&a, &b).unwrap(), 10);
        assert_eq!(fs.read_all(&b).unwrap().as_ref(), b"some bytes");
        assert_eq!(fs.link_count(&a).unwrap(), 1, "a copy, not a link");
        let sim = crate::SimFs::new();
        sim.write_atomic(Path::new("/x"), b"sim bytes").unwrap();
        assert_eq!(sim.copy(Path::new("/x"), Path::new("/y")).unwrap(), 9);
        sim.sync_dir(Path::new("/")).unwrap(); // the caller makes the name durable
        sim.crash();
        assert_eq!(sim.read_all(Path::new("/y")).unwrap().as_ref(), b"sim bytes", "the bytes are synced");
    }

    #[test]
    fn syncs_run_concurrently_unless_told_otherwise() {
        assert!(RealFs::new().concurrent_syncs());
        assert!(RealFs::with_mmap(true).concurrent_syncs());
        assert!(!RealFs::new().sequential_syncs(true).concurrent_syncs());
    }

    #[test]
    fn a_background_syncer_syncs_what_was_flushed_and_only_for_plain_appends() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs::new();
        let mut f = fs.create(&dir.path().join("t")).unwrap();
        let mut syncer = f.background_syncer().expect("a real file hands out a syncer");
        f.append(b"piece one").unwrap();
        f.flush().unwrap();
        std::thread::scope(|s| s.spawn(|| syncer.sync()).join().unwrap()).unwrap();
        f.append(b", two").unwrap();
        f.sync().unwrap();
        assert_eq!(fs.read_all(&dir.path().join("t")).unwrap().as_ref(), b"piece one, two");
        let quiet = RealFs::new().sequential_syncs(true);
        assert!(quiet.create(&dir.path().join("u")).unwrap().background_syncer().is_none());
        let mut wal = fs.create(&dir.path().join("w")).unwrap();
        wal.preallocate(4096).unwrap();
        assert!(wal.background_syncer().is_none(), "a preallocated file's size must be committed by its owner");
    }

    #[test]
    fn link_counts() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs::new();
        let a = dir.path().join("a");
        fs.write_atomic(&a, b"x").unwrap();
        fs.link(&a, &dir.path().join("b")).unwrap();
        assert_eq!(fs.link_count(&a).unwrap(), 2);
        assert_eq!(fs.list(dir.path()).unwrap(), vec!["a".to_string(), "b".to_string()]);
    }
}
