//! `LocalStore`: a repository in a directory, on any `strata_base::FileSystem` (the real one,
//! `SimFs`, or a fault-injecting wrapper), so crash tests cover it.
//!
//! `put_if_absent` is: write `dir/.<name>.<unique>.tmp`, fsync it, `link()` it to `dir/<name>`
//! (which fails if the name is taken), remove the temporary name, fsync `dir`. A crash before
//! the link leaves only a temporary file; after it, the whole object (its bytes were synced
//! before the name existed).
//!
//! Invariants: an object's name only ever points at fully written, synced bytes; objects are
//! never opened for writing after they are linked into place.
//!
//! Thread safety: stateless apart from the file system; any number of threads and processes.

use super::{Put, Store, Transfer, check_key};
use bytes::Bytes;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata::{Error, Result};
use strata_base::{FileSystem, RandomAccessFile};

/// Suffix of temporary files.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// Bytes copied at a time.
const COPY_CHUNK_BYTES: u64 = 1 << 20;
/// How often a write starts over when its temporary file was removed under it (a concurrent
/// `gc` removing what it took for a crashed writer's leftovers).
const TMP_ATTEMPTS: u32 = 8;

/// A store in a local directory. See the module docs.
#[derive(Debug, Clone)]
pub struct LocalStore {
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
}

impl LocalStore {
    pub fn new(fs: Arc<dyn FileSystem>, root: &Path) -> Self {
        Self { fs, root: root.to_path_buf() }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// A fresh temporary sibling of `path`, unique across threads and processes:
    /// `.<name>.<pid>-<counter>-<random>-t<ms since the epoch>.tmp`. The time lets `gc` tell a
    /// crashed writer's leftovers from a live writer's file.
    fn tmp_for(path: &Path) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let unique = strata::DbId::generate().to_hex();
        let ms = crate::repo::now_ms();
        path.with_file_name(format!(".{name}.{}-{n}-{}-t{ms}{TMP_SUFFIX}", std::process::id(), &unique[..8]))
    }

    fn dir_of(path: &Path) -> &Path {
        strata_base::fs::parent_or_dot(path)
    }

    /// Creates `dir` (and its parents) if missing, making the new entry durable.
    fn ensure_dir(&self, dir: &Path) -> Result<()> {
        if self.fs.is_dir(dir) {
            return Ok(());
        }
        self.fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let parent = Self::dir_of(dir);
        self.fs.sync_dir(parent).map_err(|e| Error::io(parent, e))
    }

    /// Creates object `key` exclusively unless it exists: `write` makes its synced temporary
    /// file (retried if a concurrent `gc` removes it), a link publishes it, then the directory
    /// is fsynced when `sync_dir` (else its name is durable with the directory's next fsync).
    /// With a `guard`, the link is made only if object `guard` exists when looked at after the
    /// temporary file is written (so after `key` was found absent): `None` if it does not
    /// (nothing created). Without one, never `None`.
    fn put_exclusive(
        &self,
        key: &str,
        sync_dir: bool,
        guard: Option<&str>,
        write: impl Fn(&Path) -> Result<PathBuf>,
    ) -> Result<Option<Put>> {
        let path = self.path(key)?;
        if self.fs.exists(&path) {
            return Ok(Some(Put::Exists));
        }
        let guard = guard.map(|g| self.path(g)).transpose()?;
        self.retrying(&path, || {
            let tmp = write(&path)?;
            if let Some(g) = &guard
                && !self.fs.exists(g)
            {
                let _ = self.fs.remove_file(&tmp);
                return Ok(Some(None));
            }
            Ok(self.commit_tmp_then(&tmp, &path, sync_dir)?.map(Some))
        })
    }

    /// [`Store::put_if_absent_after_sync`], with `put_exclusive`'s `guard`.
    fn put_after_sync(&self, dir: &str, key: &str, data: &[u8], guard: Option<&str>) -> Result<Option<Put>> {
        if !self.fs.concurrent_syncs() {
            self.sync(dir)?;
            return self.put_exclusive(key, true, guard, |path| self.write_tmp(path, data));
        }
        // The temporary file is written and fsynced on a scoped thread while this one syncs
        // `dir`; the link publishes the object only after both.
        self.put_exclusive(key, true, guard, |path| {
            std::thread::scope(|s| {
                let written = s.spawn(|| self.write_tmp(path, data));
                let synced = self.sync(dir);
                let tmp =
                    written.join().map_err(|_| Error::Internal("a repository metadata writer panicked".into()))??;
                if let Err(e) = synced {
                    let _ = self.fs.remove_file(&tmp);
                    return Err(e);
                }
                Ok(tmp)
            })
        })
    }

    /// Links the synced temporary file `tmp` to `path` exclusively, removes `tmp`, fsyncs.
    /// `Ok(None)` if `tmp` vanished (removed by a concurrent `gc`): the caller starts over.
    fn commit_tmp(&self, tmp: &Path, path: &Path) -> Result<Option<Put>> {
        self.commit_tmp_then(tmp, path, true)
    }

    /// Links `tmp` (written and fsynced) to `path` exclusively, then fsyncs the directory
    /// when `sync_dir`.
    fn commit_tmp_then(&self, tmp: &Path, path: &Path, sync_dir: bool) -> Result<Option<Put>> {
        let linked = self.fs.link(tmp, path);
        let _ = self.fs.remove_file(tmp);
        match linked {
            Ok(()) => {
                if sync_dir {
                    let dir = Self::dir_of(path);
                    self.fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
                }
                Ok(Some(Put::Created))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Some(Put::Exists)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !self.fs.exists(tmp) => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Runs `attempt` (which writes a temporary file and commits it) until its temporary file
    /// was not removed under it.
    fn retrying<T>(&self, path: &Path, mut attempt: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        for _ in 0..TMP_ATTEMPTS {
            if let Some(v) = attempt()? {
                return Ok(v);
            }
        }
        Err(Error::TryAgain(format!("{}: temporary file removed under the write {TMP_ATTEMPTS} times", path.display())))
    }

    /// Writes and fsyncs a temporary sibling of `path`. Its directory is made (durably) only
    /// when creating the file finds it missing: no look at it per object.
    fn write_tmp(&self, path: &Path, data: &[u8]) -> Result<PathBuf> {
        let tmp = Self::tmp_for(path);
        let mut created = self.fs.create(&tmp);
        if matches!(&created, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            self.ensure_dir(Self::dir_of(path))?;
            created = self.fs.create(&tmp);
        }
        let written = (|| {
            let mut f = created?;
            f.append(data)?;
            f.sync()
        })();
        if let Err(e) = written {
            let _ = self.fs.remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        Ok(tmp)
    }

    /// Copies `src` (on `src_fs`) to `dst` (on this store's file system) and fsyncs it.
    fn copy_in(&self, src_fs: &dyn FileSystem, src: &Path, dst: &Path) -> Result<u64> {
        copy_between(src_fs, src, &*self.fs, dst)
    }
}

/// Copies `src` on `src_fs` to a new file `dst` on `dst_fs`, fsynced. Returns the bytes copied.
pub(crate) fn copy_between(src_fs: &dyn FileSystem, src: &Path, dst_fs: &dyn FileSystem, dst: &Path) -> Result<u64> {
    let from = src_fs.open_unmapped(src).map_err(|e| Error::io(src, e))?;
    let total = from.len();
    let mut to = dst_fs.create(dst).map_err(|e| Error::io(dst, e))?;
    let mut off = 0;
    while off < total {
        let n = (total - off).min(COPY_CHUNK_BYTES);
        // n <= COPY_CHUNK_BYTES, which fits in usize.
        let data = from.read_at(off, n as usize).map_err(|e| Error::io(src, e))?;
        to.append(&data).map_err(|e| Error::io(dst, e))?;
        off += n;
    }
    to.sync().map_err(|e| Error::io(dst, e))?;
    Ok(total)
}

/// The creation time in a temporary file's name; `None` if it has none (then it is old).
fn tmp_time_ms(name: &str) -> Option<u64> {
    name.strip_suffix(TMP_SUFFIX)?.rsplit_once("-t")?.1.parse().ok()
}

/// Whether a link error means "link impossible here, copy instead".
fn must_copy(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::CrossesDevices | io::ErrorKind::Unsupported)
}

impl Store for LocalStore {
    // Without a guard `put_exclusive` never answers `None`.
    fn put_if_absent(&self, key: &str, data: &[u8]) -> Result<Put> {
        Ok(self.put_exclusive(key, true, None, |path| self.write_tmp(path, data))?.unwrap_or(Put::Exists))
    }

    fn put_if_absent_name_later(&self, key: &str, data: &[u8]) -> Result<Put> {
        Ok(self.put_exclusive(key, false, None, |path| self.write_tmp(path, data))?.unwrap_or(Put::Exists))
    }

    fn put_if_absent_after_sync(&self, dir: &str, key: &str, data: &[u8]) -> Result<Put> {
        Ok(self.put_after_sync(dir, key, data, None)?.unwrap_or(Put::Exists))
    }

    fn put_if_absent_after_sync_while(&self, dir: &str, key: &str, data: &[u8], guard: &str) -> Result<Option<Put>> {
        self.put_after_sync(dir, key, data, Some(guard))
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        self.retrying(&path, || {
            let tmp = self.write_tmp(&path, data)?;
            match self.fs.rename(&tmp, &path) {
                Ok(()) => Ok(Some(())),
                Err(e) if e.kind() == io::ErrorKind::NotFound && !self.fs.exists(&tmp) => Ok(None),
                Err(e) => {
                    let _ = self.fs.remove_file(&tmp);
                    Err(Error::io(&path, e))
                }
            }
        })?;
        let dir = Self::dir_of(&path);
        self.fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
    }

    fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.path(key)?;
        match self.fs.read_all(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = self.path(key)?;
        match self.fs.file_size(&path) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn open(&self, key: &str) -> Result<Arc<dyn RandomAccessFile>> {
        let path = self.path(key)?;
        self.fs.open_unmapped(&path).map_err(|e| Error::io(&path, e))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir)?;
        match self.fs.list(&path) {
            Ok(names) => Ok(names.into_iter().filter(|n| !n.starts_with('.')).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.fs.remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// A directory that does not exist has nothing to sync (no look at it first).
    fn sync(&self, dir: &str) -> Result<()> {
        let path = self.path(dir)?;
        match self.fs.sync_dir(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(|e| Error::io(&path, e)),
        }
    }

    fn put_file(&self, key: &str, src_fs: &dyn FileSystem, src: &Path, copy: bool) -> Result<(Put, Transfer)> {
        if self.fs.exists(&self.path(key)?) {
            return Ok((Put::Exists, Transfer::None));
        }
        self.put_new_file(key, src_fs, src, copy)
    }

    /// No look of its own: the link (or the copy's exclusive link) finds a name already taken.
    fn put_new_file(&self, key: &str, src_fs: &dyn FileSystem, src: &Path, copy: bool) -> Result<(Put, Transfer)> {
        let path = self.path(key)?;
        let dir = Self::dir_of(&path);
        if !copy {
            // A table is synced before it enters a version, so its linked name needs only the
            // directory fsync, which the caller batches (`Store::sync`). The directory is made
            // only when the link finds it missing (no look at it per table).
            let mut linked = self.fs.link(src, &path);
            if matches!(&linked, Err(e) if e.kind() == io::ErrorKind::NotFound) && !self.fs.is_dir(dir) {
                self.ensure_dir(dir)?;
                linked = self.fs.link(src, &path);
            }
            match linked {
                Ok(()) => return Ok((Put::Created, Transfer::Linked)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok((Put::Exists, Transfer::None)),
                // NotFound: `src` may live on another file system object than the store's;
                // the copy reads it through `src_fs` (and reports it if it is really missing).
                // The caller may not have looked (a snapshot links first): look before copying.
                Err(e) if must_copy(&e) || e.kind() == io::ErrorKind::NotFound => {
                    if self.fs.exists(&path) {
                        return Ok((Put::Exists, Transfer::None));
                    }
                }
                Err(e) => return Err(Error::io(src, e)),
            }
        }
        self.ensure_dir(dir)?;
        self.retrying(&path, || {
            let tmp = Self::tmp_for(&path);
            let copied = match self.copy_in(src_fs, src, &tmp) {
                Ok(n) => n,
                Err(e) => {
                    let _ = self.fs.remove_file(&tmp);
                    return Err(e);
                }
            };
            let put = self.commit_tmp(&tmp, &path)?;
            Ok(put.map(|p| (p, if p == Put::Created { Transfer::Copied(copied) } else { Transfer::None })))
        })
    }

    fn get_file(&self, key: &str, dst_fs: &dyn FileSystem, dst: &Path, copy: bool) -> Result<Transfer> {
        let path = self.path(key)?;
        if !copy {
            match self.fs.link(&path, dst) {
                Ok(()) => return Ok(Transfer::Linked),
                Err(e) if must_copy(&e) => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        if std::ptr::addr_eq(dst_fs as *const dyn FileSystem, Arc::as_ptr(&self.fs)) {
            // One file system: let it copy (the kernel does, on the real one).
            return self.fs.copy(&path, dst).map(Transfer::Copied).map_err(|e| Error::io(&path, e));
        }
        copy_between(&*self.fs, &path, dst_fs, dst).map(Transfer::Copied)
    }

    fn copy_object(&self, from: &str, to: &str) -> Result<Put> {
        let (src, dst) = (self.path(from)?, self.path(to)?);
        self.ensure_dir(Self::dir_of(&dst))?;
        match self.fs.link(&src, &dst) {
            Ok(()) => {
                let dir = Self::dir_of(&dst);
                self.fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
                Ok(Put::Created)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Put::Exists),
            Err(e) if must_copy(&e) => self.retrying(&dst, || {
                let tmp = Self::tmp_for(&dst);
                copy_between(&*self.fs, &src, &*self.fs, &tmp)?;
                self.commit_tmp(&tmp, &dst)
            }),
            Err(e) => Err(Error::io(&src, e)),
        }
    }

    fn remove_temporaries(&self, dir: &str, older_than_ms: u64) -> Result<usize> {
        let path = self.path(dir)?;
        let names = match self.fs.list(&path) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut removed = 0;
        for n in names.iter().filter(|n| n.starts_with('.') && n.ends_with(TMP_SUFFIX)) {
            if tmp_time_ms(n).is_some_and(|t| t > older_than_ms) {
                continue;
            }
            let p = path.join(n);
            match self.fs.remove_file(&p) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        if removed > 0 {
            self.fs.sync_dir(&path).map_err(|e| Error::io(&path, e))?;
        }
        Ok(removed)
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use strata_base::SimFs;

    fn store() -> (SimFs, LocalStore) {
        let sim = SimFs::new();
        sim.create_dir_all(Path::new("/r")).unwrap();
        let s = LocalStore::new(sim.arc(), Path::new("/r"));
        (sim, s)
    }

    #[test]
    fn put_after_sync_is_exclusive_on_a_real_and_a_simulated_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let real = LocalStore::new(Arc::new(strata_base::RealFs::new()), dir.path());
        let (sim, simulated) = store();
        for s in [&real, &simulated] {
            assert_eq!(s.put_if_absent("tables/t", b"table").unwrap(), Put::Created);
            assert_eq!(s.put_if_absent_after_sync("tables", "log/c", b"one").unwrap(), Put::Created);
            assert_eq!(s.put_if_absent_after_sync("tables", "log/c", b"two").unwrap(), Put::Exists);
            // A directory that does not exist yet has nothing to sync.
            assert_eq!(s.put_if_absent_after_sync("wals", "log/d", b"three").unwrap(), Put::Created);
            assert_eq!(s.get("log/c").unwrap().as_deref(), Some(&b"one"[..]));
            assert_eq!(s.list("log").unwrap(), vec!["c".to_string(), "d".to_string()]);
        }
        sim.crash();
        assert_eq!(simulated.get("log/c").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(simulated.get("tables/t").unwrap().as_deref(), Some(&b"table"[..]));
    }

    #[test]
    fn put_if_absent_is_exclusive_and_durable() {
        let (sim, s) = store();
        assert_eq!(s.put_if_absent("log/a", b"one").unwrap(), Put::Created);
        assert_eq!(s.put_if_absent("log/a", b"two").unwrap(), Put::Exists);
        assert_eq!(s.get("log/a").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(s.list("log").unwrap(), vec!["a".to_string()]);
        sim.crash();
        assert_eq!(s.get("log/a").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(s.get("log/b").unwrap(), None);
        assert_eq!(s.size("log/b").unwrap(), None);
    }

    #[test]
    fn crash_at_every_step_leaves_nothing_or_the_whole_object() {
        for n in 0..20 {
            let (sim, s) = store();
            s.put_if_absent("log/x", b"before").unwrap();
            sim.fail_after(Some(sim.op_count() + n));
            let r = s.put_if_absent("log/y", b"payload");
            sim.fail_after(None);
            sim.crash();
            match s.get("log/y").unwrap() {
                Some(b) => assert_eq!(&b[..], b"payload", "step {n}"),
                None => assert!(r.is_err(), "step {n}: acknowledged but lost"),
            }
            s.remove_temporaries("log", u64::MAX).unwrap();
            let all = sim.list(Path::new("/r/log")).unwrap();
            assert!(all.iter().all(|n| !n.starts_with('.')), "step {n}: {all:?}");
            if r.is_ok() {
                break;
            }
        }
    }

    #[test]
    fn files_are_linked_in_and_out_and_objects_copied() {
        let (sim, s) = store();
        sim.write_atomic(Path::new("/src"), b"table bytes").unwrap();
        let (put, t) = s.put_file("tables/t1", &sim, Path::new("/src"), false).unwrap();
        assert_eq!((put, t), (Put::Created, Transfer::Linked));
        assert_eq!(s.put_file("tables/t1", &sim, Path::new("/src"), false).unwrap().0, Put::Exists);
        let (put, t) = s.put_file("tables/t2", &sim, Path::new("/src"), true).unwrap();
        assert_eq!((put, t), (Put::Created, Transfer::Copied(11)));
        assert_eq!(s.get_file("tables/t1", &sim, Path::new("/out1"), false).unwrap(), Transfer::Linked);
        assert_eq!(s.get_file("tables/t2", &sim, Path::new("/out2"), true).unwrap(), Transfer::Copied(11));
        assert_eq!(s.copy_object("tables/t1", "trash/t1").unwrap(), Put::Created);
        assert_eq!(s.copy_object("tables/t1", "trash/t1").unwrap(), Put::Exists);
        s.delete("tables/t1").unwrap();
        s.delete("tables/t1").unwrap();
        assert_eq!(s.list("tables").unwrap(), vec!["t2".to_string()]);
        assert_eq!(sim.read_all(Path::new("/r/trash/t1")).unwrap().as_ref(), b"table bytes");
        assert!(s.get("../src").is_err());
    }

    #[test]
    fn only_old_temporaries_are_removed() {
        let (sim, s) = store();
        s.put_if_absent("log/a", b"x").unwrap();
        let fresh = LocalStore::tmp_for(Path::new("/r/log/b"));
        sim.write_atomic(&fresh, b"in flight").unwrap();
        let t = tmp_time_ms(&fresh.file_name().unwrap().to_string_lossy()).unwrap();
        assert_eq!(s.remove_temporaries("log", t - 1).unwrap(), 0, "a live writer's file is kept");
        assert_eq!(s.remove_temporaries("log", t).unwrap(), 1);
        assert_eq!(sim.list(Path::new("/r/log")).unwrap(), vec!["a".to_string()]);
    }
}
