//! [`SstFileReader`]: reads one table outside any database, whether an `SstFileWriter` or a
//! database wrote it.
//!
//! [`SstFileReader::iter`] is a [`DbIterator`] over user keys (the newest version of each key,
//! deletes hidden); [`SstFileReader::raw_iter`] shows every entry with its sequence number and
//! kind. Footer, index, filter and properties are checked on open; data blocks when read.
//!
//! Invariants: nothing read from the file is trusted: a damaged table is `Corruption` naming
//! the file and offset, one sorted by another comparator is `InvalidArgument`.
//!
//! Thread safety: `SstFileReader` is `Send + Sync`; its iterators each have one owner.

use super::format::{EXTERNAL_VERSION, PROP_CF_ID, PROP_CF_NAME, PROP_EXTERNAL_VERSION, PROP_LARGEST_SEQ};
use crate::error::{Error, Result};
use crate::iter::DbIterator;
use crate::iter::{DbIter, InternalIterator};
use crate::options::Options;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::CfId;
use strata_base::ikey::{self, InternalKeyComparator, SEQ_MAX, SeqNo, ValueKind};
use strata_base::{BytewiseComparator, FileSystem, RealFs};
use strata_sst::{Properties, Table, TableIter, TableReadOptions};

/// An open table; see the module docs.
#[derive(Debug)]
pub struct SstFileReader {
    table: Arc<Table>,
}

impl SstFileReader {
    /// Opens the table at `path` on the operating system's file system.
    pub fn open(path: impl AsRef<Path>) -> Result<SstFileReader> {
        Self::open_with_fs(RealFs::arc(), path)
    }

    /// Opens the table at `path` on `opts.fs` (or the operating system's file system).
    pub fn open_opt(path: impl AsRef<Path>, opts: &Options) -> Result<SstFileReader> {
        let fs = opts.fs.clone().unwrap_or_else(|| Arc::new(RealFs::with_mmap(opts.use_mmap_reads)));
        Self::open_with_fs(fs, path)
    }

    pub(crate) fn open_with_fs(fs: Arc<dyn FileSystem>, path: impl AsRef<Path>) -> Result<SstFileReader> {
        let path = path.as_ref();
        let opts = TableReadOptions {
            comparator: Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator))),
            cache: None,
            cache_id: 0,
            verify_checksums: true,
        };
        let table = Table::open_path(fs.as_ref(), path, opts)?;
        Ok(SstFileReader { table })
    }

    pub fn path(&self) -> &Path {
        self.table.path()
    }

    /// Everything the table's properties block records (entry counts, key range, comparator,
    /// block size, compression, user properties).
    pub fn properties(&self) -> &Properties {
        self.table.properties()
    }

    /// Whether an `SstFileWriter` wrote the table (every entry at sequence number 0).
    pub fn is_external(&self) -> bool {
        self.user_property(PROP_EXTERNAL_VERSION).is_some()
    }

    /// The column family id recorded by `SstFileWriter::for_cf` or by the database.
    pub fn cf_id(&self) -> Result<Option<CfId>> {
        self.number_property(PROP_CF_ID)?
            .map(|v| u32::try_from(v).map(CfId::new).map_err(|_| self.bad_property(PROP_CF_ID)))
            .transpose()
    }

    /// The column family name recorded by `SstFileWriter::for_cf`.
    pub fn cf_name(&self) -> Option<String> {
        self.user_property(PROP_CF_NAME).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The file's whole-file checksum as its footer records it.
    pub fn file_checksum(&self) -> u32 {
        self.table.file_checksum()
    }

    pub fn file_size(&self) -> u64 {
        self.table.file_size()
    }

    fn user_property(&self, name: &str) -> Option<&[u8]> {
        self.table.properties().user.get(name).map(Vec::as_slice)
    }

    fn bad_property(&self, name: &str) -> Error {
        Error::corruption(self.path(), 0, format!("table property {name} is malformed"))
    }

    fn number_property(&self, name: &str) -> Result<Option<u64>> {
        let Some(v) = self.user_property(name) else { return Ok(None) };
        let s = std::str::from_utf8(v).map_err(|_| self.bad_property(name))?;
        s.parse().map(Some).map_err(|_| self.bad_property(name))
    }

    /// The external-file checks ingestion makes on the properties: a version this code knows
    /// and a recorded largest sequence number of 0.
    pub(crate) fn check_external(&self) -> Result<()> {
        match self.user_property(PROP_EXTERNAL_VERSION) {
            Some(v) if v == EXTERNAL_VERSION.as_bytes() => {}
            Some(v) => {
                return Err(Error::InvalidArgument(format!(
                    "{}: external file version {:?} is not supported (this build reads {EXTERNAL_VERSION})",
                    self.path().display(),
                    String::from_utf8_lossy(v)
                )));
            }
            None => {
                return Err(Error::InvalidArgument(format!(
                    "{} was not written by SstFileWriter (no {PROP_EXTERNAL_VERSION} property): \
                     external file has non-zero sequence numbers",
                    self.path().display()
                )));
            }
        }
        if self.number_property(PROP_LARGEST_SEQ)?.is_some_and(|s| s != 0) {
            return Err(Error::corruption(self.path(), 0, "external file has non-zero sequence numbers"));
        }
        Ok(())
    }

    /// A cursor over user keys: for each key its newest version, deletes hidden; the same
    /// methods as a database iterator.
    pub fn iter(&self) -> DbIterator {
        DbIterator::unpinned(DbIter::new(Box::new(self.table.iter()), SEQ_MAX, None, None))
    }

    /// A cursor over every entry, deletes included, with its sequence number and kind.
    pub fn raw_iter(&self) -> SstRawIterator {
        SstRawIterator { inner: self.table.iter(), path: self.path().to_path_buf() }
    }

    /// The newest value of `key`; `None` if the table has none or its newest version is a delete.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = key.as_ref();
        if !self.table.may_contain(key) {
            return Ok(None);
        }
        let found = self.table.seek_point(&ikey::lookup_key(key, SEQ_MAX), |e| {
            (ikey::user_key(e.key()) == key).then(|| match e.kind() {
                ValueKind::Put => Some(e.value_bytes()),
                ValueKind::Delete => None,
            })
        })?;
        Ok(found.flatten().flatten())
    }

    /// Checks the whole-file checksum and every block's checksum and layout.
    pub fn verify_checksums(&self) -> Result<()> {
        Ok(self.table.verify_checksums()?)
    }

    /// Reads every entry and compares the count (and the count of deletes) with the properties:
    /// `Corruption` on a mismatch or a malformed key.
    pub fn verify_num_entries(&self) -> Result<()> {
        let (entries, deletes, _) = self.scan(|_| Ok(()))?;
        let p = self.properties();
        if entries != p.num_entries || deletes != p.num_deletions {
            return Err(Error::corruption(
                self.path(),
                0,
                format!(
                    "table holds {entries} entries ({deletes} deletes), its properties say {} ({})",
                    p.num_entries, p.num_deletions
                ),
            ));
        }
        Ok(())
    }

    /// Walks every entry, calling `f` with each sequence number; returns the entry count, the
    /// delete count and the largest sequence number seen.
    pub(crate) fn scan(&self, mut f: impl FnMut(SeqNo) -> Result<()>) -> Result<(u64, u64, SeqNo)> {
        let mut it = self.table.iter();
        it.seek_to_first();
        let (mut entries, mut deletes, mut largest) = (0u64, 0u64, 0);
        while it.valid() {
            let p = ikey::parse(it.key())
                .ok_or_else(|| Error::corruption(self.path(), 0, "malformed internal key in table"))?;
            f(p.seq)?;
            entries += 1;
            deletes += u64::from(p.kind == ValueKind::Delete);
            largest = largest.max(p.seq);
            it.next();
        }
        InternalIterator::status(&it)?;
        Ok((entries, deletes, largest))
    }
}

/// A cursor over every entry of a table in internal-key order: user key ascending, then
/// sequence number descending. `seek` takes a user key.
pub struct SstRawIterator {
    inner: TableIter,
    path: PathBuf,
}

impl std::fmt::Debug for SstRawIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstRawIterator").field("path", &self.path).field("valid", &self.inner.valid()).finish()
    }
}

impl SstRawIterator {
    pub fn valid(&self) -> bool {
        self.inner.valid()
    }
    pub fn seek_to_first(&mut self) {
        self.inner.seek_to_first()
    }
    pub fn seek_to_last(&mut self) {
        self.inner.seek_to_last()
    }
    /// Moves to the first entry whose user key is `>= key`.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.inner.seek(&ikey::lookup_key(key.as_ref(), SEQ_MAX))
    }
    /// Moves to the last entry whose user key is `<= key`.
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) {
        self.inner.seek_for_prev(&ikey::encode(key.as_ref(), 0, ValueKind::Delete))
    }
    pub fn next(&mut self) {
        self.inner.next()
    }
    pub fn prev(&mut self) {
        self.inner.prev()
    }
    /// The current user key.
    pub fn key(&self) -> &[u8] {
        ikey::user_key(self.inner.key())
    }
    /// The current internal key (user key and the 8-byte trailer).
    pub fn internal_key(&self) -> &[u8] {
        self.inner.key()
    }
    /// The current entry's sequence number (0 in external files).
    pub fn sequence(&self) -> SeqNo {
        ikey::parse(self.inner.key()).map_or(0, |p| p.seq)
    }
    /// Whether the current entry is a value or a delete.
    pub fn kind(&self) -> ValueKind {
        self.inner.kind()
    }
    pub fn value(&self) -> &[u8] {
        self.inner.value()
    }
    pub fn status(&self) -> Result<()> {
        InternalIterator::status(&self.inner)?;
        if self.inner.valid() && ikey::parse(self.inner.key()).is_none() {
            return Err(Error::corruption(&self.path, 0, "malformed internal key in table"));
        }
        Ok(())
    }
}
