//! The one file-system trait all of Strata's I/O goes through.
//!
//! [`RealFs`] is the operating system's file system. [`SimFs`] is an in-memory file system for
//! tests that remembers which bytes and which directory entries were made durable (by
//! [`WritableFile::sync`] and [`FileSystem::sync_dir`]); [`SimFs::crash`] throws away everything
//! else, and faults (failed fsync, full disk, an I/O error at the N-th operation) can be injected.
//!
//! Invariants: files are written once, front to back, through [`WritableFile`], and read through
//! [`RandomAccessFile`]. Nothing is modified in place or truncated, so a file that is hard-linked
//! into a checkpoint never changes under it.
//!
//! Thread safety: a `FileSystem` and its `RandomAccessFile`s are shared between threads; a
//! `WritableFile` has one owner at a time.

mod real;
mod sim;

pub use real::RealFs;
pub use sim::{Fault, SimFs};

use bytes::Bytes;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file opened for appending; created empty.
pub trait WritableFile: Send + Debug {
    /// Appends `data`. It may sit in a buffer until [`flush`](Self::flush) or [`sync`](Self::sync).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Hands buffered bytes to the operating system (they survive a process crash, not a
    /// power loss).
    fn flush(&mut self) -> io::Result<()>;
    /// Flushes and makes the data durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Bytes appended so far, buffered or not.
    fn len(&self) -> u64;
    /// Reserves room so that appends up to `len` bytes do not change the file's size, and
    /// makes that size durable: a later `sync` then need not commit a new size (on ext4 an
    /// append + fdatasync costs about 0.7x). Bytes past `len()` read as zeros until written.
    /// The default does nothing.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
    /// Flushes and shrinks the file back to exactly the bytes appended (undoing
    /// [`preallocate`](Self::preallocate)). Nothing is made durable: the data and the new size
    /// reach the disk with a later [`sync`](Self::sync) or the kernel's writeback, or never if
    /// the file is deleted first. The default is [`flush`](Self::flush).
    fn trim(&mut self) -> io::Result<()> {
        self.flush()
    }
    /// A second handle to this file that makes its flushed bytes durable from another thread
    /// while the owner goes on appending (a table written in pieces syncs each piece on a helper
    /// thread). The owner [`flush`](Self::flush)es before handing a sync to it. `None` (the
    /// default) when the file system has no such handle, or for a file whose size the next sync
    /// must commit (after [`preallocate`](Self::preallocate) or [`trim`](Self::trim)): the
    /// caller then syncs on its own thread through [`sync`](Self::sync).
    fn background_syncer(&self) -> Option<Box<dyn FileSyncer>> {
        None
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes durable, from any thread, the bytes flushed through the [`WritableFile`] it came from
/// ([`WritableFile::background_syncer`]).
pub trait FileSyncer: Send + Debug {
    /// Makes every byte flushed to the file before this call durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// An immutable file read at arbitrary offsets.
pub trait RandomAccessFile: Send + Sync + Debug {
    /// Reads exactly `len` bytes at `offset`. A read past the end is an
    /// `io::ErrorKind::UnexpectedEof` error, never a short read.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes>;
    /// The size of the file when it was opened.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file's bytes held in memory (or mapped), read at offsets like a file: what
/// [`FileSystem::read_all`] returned, for a reader that wants a stable copy of a file that may
/// still change; a memory map; a `SimFs` file.
#[derive(Debug, Clone)]
pub struct MemFile(Bytes);

impl MemFile {
    pub fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl RandomAccessFile for MemFile {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        check_range(offset, len, self.0.len() as u64)?;
        // check_range proved offset + len <= self.0.len(), a usize, so the casts are exact.
        let start = offset as usize;
        Ok(self.0.slice(start..start + len))
    }

    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

/// `Ok` if `len` bytes at `offset` lie inside a file of `file_len` bytes, else the
/// `UnexpectedEof` error [`RandomAccessFile::read_at`] promises.
pub(crate) fn check_range(offset: u64, len: usize, file_len: u64) -> io::Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {len} bytes at offset {offset} is past the end of a {file_len}-byte file"),
        )),
    }
}

/// An exclusive lock on a file, released when dropped.
pub trait FileLock: Send + Sync + Debug {}

/// Everything Strata asks of a file system.
pub trait FileSystem: Send + Sync + Debug {
    /// Creates (or truncates) `path` for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens `path` for reading. The file must not change while the handle lives (a table):
    /// the implementation may memory-map it.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Opens `path` for reading without memory-mapping it: for a file another handle may still
    /// append to or truncate (a WAL or manifest of a live database). A concurrent truncation
    /// can make a read fail with `io::ErrorKind::UnexpectedEof`, never fault.
    fn open_unmapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.open(path)
    }
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Creates a hard link `to` pointing at `from` (the same file, not a copy: a checkpoint
    /// shares a live database's immutable tables and `CURRENT` this way). Fails with
    /// `io::ErrorKind::CrossesDevices` when they are on different file systems.
    fn link(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of `dir`, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Takes an exclusive lock on `path` (created if missing). Fails with
    /// `io::ErrorKind::WouldBlock` if another holder, in this process or another, has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Number of hard links to the file; 1 where the file system cannot tell.
    fn link_count(&self, path: &Path) -> io::Result<u64>;
    /// Whether a caller may run independent file syncs on threads of their own (a repository
    /// writes and syncs a metadata file while it syncs the directory). `RealFs`: yes, a busy
    /// disk serves two fdatasyncs in little more than the time of one (docs/performance.md,
    /// "Checkpoints"; a checkpoint measured it and syncs in order, because there the thread's
    /// start cost more).
    /// The default is no, so that simulated and fault-injecting file systems see one
    /// deterministic order of operations.
    fn concurrent_syncs(&self) -> bool {
        false
    }

    /// Reads a whole file as it is now; never maps it, so it is safe on a file another handle
    /// is appending to or truncating.
    fn read_all(&self, path: &Path) -> io::Result<Bytes> {
        let f = self.open_unmapped(path)?;
        let len = usize::try_from(f.len()).map_err(|_| io::Error::other("file too large"))?;
        f.read_at(0, len)
    }

    /// Copies `from` to a new file `to` (truncated if it exists) and fsyncs the copy (not its
    /// directory entry: the caller syncs the directory); returns the bytes copied. The default reads and appends in chunks through this trait (so fault
    /// injection sees every step); `RealFs` lets the kernel copy (`copy_file_range`).
    fn copy(&self, from: &Path, to: &Path) -> io::Result<u64> {
        const CHUNK: u64 = 1 << 20;
        let src = self.open_unmapped(from)?;
        let total = src.len();
        let mut dst = self.create(to)?;
        let mut off = 0;
        while off < total {
            let n = (total - off).min(CHUNK);
            // n <= CHUNK, which fits in usize.
            dst.append(&src.read_at(off, n as usize)?)?;
            off += n;
        }
        dst.sync()?;
        Ok(total)
    }

    /// Writes a whole new file at `path` durably: write to the sibling [`tmp_sibling`]
    /// (`path.strata-tmp`), fsync, rename over `path`, fsync the directory. An override must
    /// also replace `path` with a new file and never write into the existing one: a checkpoint
    /// may share the old `CURRENT` as a hard link (docs/checkpoint.md, step 6).
    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let tmp = tmp_sibling(path);
        let mut f = self.create(&tmp)?;
        f.append(data)?;
        f.sync()?;
        drop(f);
        self.rename(&tmp, path)?;
        self.sync_dir(parent_or_dot(path))
    }
}

/// `dir/name` -> `dir/name.strata-tmp`: a suffix only Strata uses, so that deleting leftovers
/// never touches a user's `*.tmp` file (the manifest crate's `TEMP_SUFFIX` is the same string).
pub fn tmp_sibling(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// The suffix of [`tmp_sibling`] names.
pub const TMP_SUFFIX: &str = ".strata-tmp";

/// The parent directory of `path`, or `.` for a bare name.
pub fn parent_or_dot(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Copies `from` to `to` through `fs` in chunks and fsyncs the copy. Returns the bytes copied.
pub fn copy_file(fs: &dyn FileSystem, from: &Path, to: &Path) -> io::Result<u64> {
    copy_file_prefix(fs, from, to, u64::MAX)
}

/// Copies at most `limit` bytes of `from` to `to` and fsyncs the copy.
pub fn copy_file_prefix(fs: &dyn FileSystem, from: &Path, to: &Path, limit: u64) -> io::Result<u64> {
    const CHUNK: u64 = 1 << 20;
    // Unmapped: `from` may be the live WAL, still being appended to.
    let src = fs.open_unmapped(from)?;
    let total = src.len().min(limit);
    let mut dst = fs.create(to)?;
    let mut off = 0;
    while off < total {
        let n = (total - off).min(CHUNK);
        // n <= CHUNK, which fits in usize.
        let data = src.read_at(off, n as usize)?;
        dst.append(&data)?;
        off += n;
    }
    dst.sync()?;
    Ok(total)
}
