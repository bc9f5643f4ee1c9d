//! The storage a snapshot repository lives on, behind one small trait, so that a new backend
//! (an object store) is one new file here and nothing else changes.
//!
//! Objects are named by *keys*: relative, `/`-separated paths such as `log/000…01.commit` or
//! `tables/<id>-000012-4096-1a2b3c4d.sst`. Every key is checked by [`check_key`] before use: no
//! empty, `.` or `..` components, no leading `/`, only `[A-Za-z0-9_.-]`, and no component
//! starting with `.` (those names are the backend's temporary files).
//!
//! Invariants:
//! - [`Store::put_if_absent`] is atomic and exclusive: after it returns `Created` the object is
//!   whole and durable, and of two callers racing for one key exactly one gets `Created`; a crash
//!   at any point leaves either no object or the whole one (plus, at most, a temporary file that
//!   [`Store::remove_temporaries`] deletes);
//! - objects are never modified after creation; only [`Store::put`] replaces one, atomically,
//!   and it is used only for hints that readers check and may ignore.
//!
//! Thread safety: a store is shared between threads (`Send + Sync`); it serialises nothing, the
//! commit log above it does.

mod local;
#[cfg(feature = "s3")]
mod object;

pub use local::LocalStore;
#[cfg(feature = "s3")]
pub use object::{ObjectStore, RequestHook, StoreOptions, TransferHook, parse_s3_url};

use bytes::Bytes;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use strata::{Error, Result};
use strata_base::{FileSystem, RandomAccessFile};

/// What [`Store::put_if_absent`] (and its file variants) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The object did not exist and now does.
    Created,
    /// An object with that key already existed; nothing was written.
    Exists,
}

/// How a file was transferred into or out of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Nothing moved (the object already existed).
    None,
    /// Hard-linked: no bytes copied.
    Linked,
    /// Copied (and fsynced): this many bytes.
    Copied(u64),
}

impl Transfer {
    pub fn bytes_copied(self) -> u64 {
        match self {
            Transfer::Copied(n) => n,
            _ => 0,
        }
    }
}

/// The storage operations a repository needs. See the module docs.
pub trait Store: Send + Sync + Debug {
    /// Creates object `key` holding `data` if no object has that key; atomic and exclusive.
    fn put_if_absent(&self, key: &str, data: &[u8]) -> Result<Put>;
    /// Creates or atomically replaces object `key` (hints only).
    fn put(&self, key: &str, data: &[u8]) -> Result<()>;
    /// The whole object, or `None` if there is none.
    fn get(&self, key: &str) -> Result<Option<Bytes>>;
    /// The object's size, or `None` if there is none.
    fn size(&self, key: &str) -> Result<Option<u64>>;
    /// Opens the object for reading at offsets; `NotFound` if there is none.
    fn open(&self, key: &str) -> Result<Arc<dyn RandomAccessFile>>;
    /// Names (not keys) of the objects directly under `dir` (a key prefix without the trailing
    /// `/`), sorted, temporary files excluded; empty if there are none.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// Removes object `key`; an absent object is not an error. Durable after [`Store::sync`].
    fn delete(&self, key: &str) -> Result<()>;
    /// Makes the deletions under `dir` durable (a directory fsync locally).
    fn sync(&self, dir: &str) -> Result<()>;
    /// [`Store::put_if_absent`] whose new name may become durable later: its contents are
    /// durable before the name appears, and the name is durable after the next
    /// [`Store::sync`] of its directory or the next `put_if_absent` into it (a local store
    /// leaves out its own directory fsync; the default, for stores whose writes are durable
    /// when they return, is `put_if_absent`).
    fn put_if_absent_name_later(&self, key: &str, data: &[u8]) -> Result<Put> {
        self.put_if_absent(key, data)
    }
    /// [`Store::put_if_absent`] of an object that must not become visible before the entries
    /// under `dir` are durable (a complete commit after its snapshot's table links). The
    /// default syncs `dir` first; a local store whose file system allows concurrent syncs
    /// overlaps that directory fsync with its temporary file's fsync, both before the link
    /// that publishes the object.
    fn put_if_absent_after_sync(&self, dir: &str, key: &str, data: &[u8]) -> Result<Put> {
        self.sync(dir)?;
        self.put_if_absent(key, data)
    }
    /// [`Store::put_if_absent_after_sync`] that creates `key` only if object `guard` exists
    /// when looked at after `key` was found absent and before `key` is created: `Ok(None)`
    /// (nothing created) if `guard` is missing. The metadata log commits on top of a version it
    /// wrote itself without listing `log/` (`guard` is that version's commit; see
    /// `MetaLog::commit_on`). The default looks at `key`, then at `guard`, then puts.
    fn put_if_absent_after_sync_while(&self, dir: &str, key: &str, data: &[u8], guard: &str) -> Result<Option<Put>> {
        if self.size(key)?.is_some() {
            return Ok(Some(Put::Exists));
        }
        if self.size(guard)?.is_none() {
            return Ok(None);
        }
        self.put_if_absent_after_sync(dir, key, data).map(Some)
    }
    /// Makes the local file `src` (on `src_fs`) object `key` if absent: hard link where possible
    /// (and `copy` is false), else an fsynced copy committed like [`Store::put_if_absent`]. The
    /// source must already be durable (a table); the new name is durable after
    /// [`Store::sync`] of its directory, so many files cost one directory fsync.
    fn put_file(&self, key: &str, src_fs: &dyn FileSystem, src: &Path, copy: bool) -> Result<(Put, Transfer)>;
    /// Makes object `key` the local file `dst` (on `dst_fs`, which must not exist): hard link
    /// where possible (and `copy` is false), else an fsynced copy. Never modifies the object.
    fn get_file(&self, key: &str, dst_fs: &dyn FileSystem, dst: &Path, copy: bool) -> Result<Transfer>;
    /// [`Store::get_file`] as a copy, for a caller that knows the object's size and checks its
    /// bytes: every byte passes through `on_data`, in order, as it is written, so a checksum
    /// needs no second read of the file. An object of another size than `size` is `Corruption`
    /// naming it. `files_at_once`: how many files the caller moves at once (an object store
    /// splits one file into ranged requests only to keep its `parallelism` busy). The default
    /// copies with [`Store::get_file`], then reads the copy back.
    fn get_file_checked(
        &self,
        key: &str,
        size: u64,
        dst_fs: &dyn FileSystem,
        dst: &Path,
        files_at_once: usize,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<Transfer> {
        let _ = files_at_once;
        let transfer = self.get_file(key, dst_fs, dst, true)?;
        let file = dst_fs.open_unmapped(dst).map_err(|e| Error::io(dst, e))?;
        if file.len() != size {
            let named = Path::new(&self.location()).join(key);
            return Err(Error::corruption(named, 0, format!("object is {} bytes, expected {size}", file.len())));
        }
        let mut off = 0;
        while off < size {
            let n = (size - off).min(READ_BACK_CHUNK_BYTES);
            // n <= READ_BACK_CHUNK_BYTES, which fits in usize.
            on_data(&file.read_at(off, n as usize).map_err(|e| Error::io(dst, e))?);
            off += n;
        }
        Ok(transfer)
    }
    /// Reads object `key` once, start to end, for a caller that knows its size and checks its
    /// bytes (verify): every byte passes through `on_data`, in order. Returns `None` if there is
    /// no such object, else the object's size; an object of another size than `size` is not
    /// read (no byte is passed). On an object store one GET, streamed, with no HEAD before it
    /// (the size comes with the response) and no ranges. The default looks at the size, then
    /// reads the object opened with [`Store::open`] in chunks.
    fn read_checked(&self, key: &str, size: u64, on_data: &mut dyn FnMut(&[u8])) -> Result<Option<u64>> {
        let Some(actual) = self.size(key)? else { return Ok(None) };
        if actual != size {
            return Ok(Some(actual));
        }
        let file = self.open(key)?;
        let named = || Path::new(&self.location()).join(key);
        let mut off = 0;
        while off < size {
            let n = (size - off).min(READ_BACK_CHUNK_BYTES);
            // n <= READ_BACK_CHUNK_BYTES, which fits in usize.
            on_data(&file.read_at(off, n as usize).map_err(|e| Error::io(named(), e))?);
            off += n;
        }
        Ok(Some(actual))
    }
    /// Sizes of the objects directly under `dir`, by name, as [`Store::list`] names them (an
    /// object that vanishes meanwhile is left out). On an object store one listing (a request
    /// per 1,000 objects) instead of a HEAD per object; the default asks each size.
    fn list_sizes(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        let mut sizes = Vec::new();
        for name in self.list(dir)? {
            if let Some(n) = self.size(&format!("{dir}/{name}"))? {
                sizes.push((name, n));
            }
        }
        Ok(sizes)
    }
    /// [`Store::put_file`] for a key the caller has just found absent (by a listing or a look):
    /// the store skips its own look (an object store's before a multipart upload, whose
    /// completion is not conditional: a racing writer's copy of a content-named table is
    /// identical; locally the exclusive link finds a taken name). Locally, with `copy` false,
    /// the key may also be one the caller has not looked at: the link's own result says whether
    /// it was there, and a link that cannot be made looks before it copies. Default: `put_file`.
    fn put_new_file(&self, key: &str, src_fs: &dyn FileSystem, src: &Path, copy: bool) -> Result<(Put, Transfer)> {
        self.put_file(key, src_fs, src, copy)
    }
    /// Makes object `to` a copy of object `from` if `to` is absent (a hard link locally).
    fn copy_object(&self, from: &str, to: &str) -> Result<Put>;
    /// Removes temporary files under `dir` created at or before `older_than_ms` (ms since the epoch):
    /// leftovers of crashed or cancelled writers. Returns how many. A live writer whose
    /// temporary file is removed anyway notices (its link finds no source) and writes it again.
    fn remove_temporaries(&self, dir: &str, older_than_ms: u64) -> Result<usize>;
    /// Where the store is, for messages (a directory or a URL).
    fn location(&self) -> String;
    /// Whether the objects are remote (an object store): no hard links, no lock files, every
    /// read is a transfer. The repository then verifies restored files after download.
    fn is_remote(&self) -> bool {
        false
    }
    /// How many files the repository should transfer at once through this store (snapshot
    /// uploads, restore and export downloads): 1 locally (links and local copies gain little),
    /// `StoreOptions::parallelism` on an object store, whose requests share that bound.
    fn file_parallelism(&self) -> usize {
        1
    }
}

/// Bytes read at a time when the default [`Store::get_file_checked`] reads its copy back, and
/// by the default [`Store::read_checked`].
const READ_BACK_CHUNK_BYTES: u64 = 1 << 20;

/// Longest key accepted, in bytes.
pub const KEY_LEN_MAX: usize = 512;

/// Checks that `key` is a well-formed relative key (see the module docs).
pub fn check_key(key: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidArgument(format!("bad repository key {key:?}: {why}")));
    if key.is_empty() || key.len() > KEY_LEN_MAX {
        return bad("empty or too long");
    }
    for c in key.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return bad("empty, `.` or `..` component");
        }
        if c.starts_with('.') {
            return bad("a component starts with `.` (reserved for temporary files)");
        }
        if !c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return bad("only ASCII letters, digits, `_`, `.` and `-` are allowed");
        }
    }
    Ok(())
}

/// Opens the store at `location`: a local directory on `fs`. (URLs for object stores are the
/// object-store issue's.)
pub fn open_local(fs: Arc<dyn FileSystem>, root: &Path) -> Arc<dyn Store> {
    Arc::new(LocalStore::new(fs, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_confined() {
        for good in ["log/00000000000000000001.commit", "tables/ab-000001-10-0000abcd.sst", "_x", "REPOSITORY"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/abs", "a//b", "a/../b", "..", "./a", "a/.tmp", "a\\b", "a b", "é", &"a".repeat(600)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
