//! [`SstFileWriter`]: builds a table outside any database, for bulk loading.
//!
//! The table is an ordinary Strata table (docs/format/sst.md) under the database's internal-key
//! comparator, every entry at sequence number 0, with the user properties of
//! [`format`](mod@super::format) saying it is external and, with [`SstFileWriter::for_cf`], which
//! column family it was written for. It is written to `<path>.strata-tmp` and renamed to `<path>` by
//! [`SstFileWriter::finish`] (file and directory fsynced), so `<path>` is either absent, a
//! complete table, or what was there before.
//!
//! Invariants: user keys are strictly increasing (checked before anything is written: equal
//! keys are refused too); a writer that failed, or was dropped before `finish`, leaves no
//! file behind (the partial `<path>.strata-tmp` is removed).
//!
//! Thread safety: one owner (`Send`), like RocksDB's writer.

use super::format::{
    EXTERNAL_VERSION, PROP_CF_ID, PROP_CF_NAME, PROP_EXTERNAL_VERSION, PROP_LARGEST_SEQ, PROP_SMALLEST_SEQ,
};
use crate::cf::ColumnFamily;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::options::Options;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::CfId;
use strata_base::fs::{parent_or_dot, tmp_sibling};
use strata_base::ikey::{self, InternalKeyComparator, ValueKind};
use strata_base::{BytewiseComparator, FileSystem, RealFs};
use strata_sst::{TableBuilder, TableOptions};

/// What [`SstFileWriter::finish`] reports about the file it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFileInfo {
    pub path: PathBuf,
    /// Smallest and largest user key.
    pub smallest_key: Vec<u8>,
    pub largest_key: Vec<u8>,
    /// Entries (puts and deletes).
    pub num_entries: u64,
    /// Delete entries among them.
    pub num_deletions: u64,
    pub file_size: u64,
    /// CRC32 of every byte before the table's footer, as recorded in the footer (what
    /// `SstFileReader::verify_checksums` checks).
    pub file_checksum: u32,
    /// Sequence number of every entry: always 0.
    pub sequence: u64,
}

/// Writes one external table; see the module docs.
pub struct SstFileWriter {
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    tmp: PathBuf,
    /// `None` after a failure: every later call fails.
    builder: Option<TableBuilder>,
    last_key: Option<Vec<u8>>,
    smallest_key: Vec<u8>,
    key_buf: Vec<u8>,
    num_deletions: u64,
}

impl std::fmt::Debug for SstFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstFileWriter").field("path", &self.path).field("failed", &self.builder.is_none()).finish()
    }
}

/// The table options a database with `opts` writes its tables with.
pub(crate) fn table_options_of(opts: &Options) -> TableOptions {
    TableOptions {
        block_size: opts.block_size,
        restart_interval: opts.block_restart_interval,
        compression: opts.bottommost_compression.unwrap_or(opts.compression),
        bloom_bits_per_key: opts.bloom_bits_per_key,
        comparator: Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator))),
    }
}

impl SstFileWriter {
    /// Starts a table at `path` with the table options of `opts` (block size, compression,
    /// bloom bits) and its file system (`opts.fs`, or the operating system's).
    pub fn create(path: impl AsRef<Path>, opts: &Options) -> Result<SstFileWriter> {
        let fs = opts.fs.clone().unwrap_or_else(|| Arc::new(RealFs::with_mmap(opts.use_mmap_reads)));
        Self::start(fs, path.as_ref(), opts, None)
    }

    /// Starts a table at `path` for column family `cf` of `db`: the database's table options and
    /// file system, and the family's name and id recorded in the table.
    pub fn for_cf(db: &Db, cf: &ColumnFamily, path: impl AsRef<Path>) -> Result<SstFileWriter> {
        let name = db.cf(cf.name()).filter(|c| c.id() == cf.id());
        if name.is_none() {
            return Err(Error::ColumnFamilyNotFound(cf.name().to_string()));
        }
        let inner = &db.inner;
        Self::start(Arc::clone(&inner.fs), path.as_ref(), &inner.opts, Some((cf.id(), cf.name())))
    }

    fn start(fs: Arc<dyn FileSystem>, path: &Path, opts: &Options, cf: Option<(CfId, &str)>) -> Result<Self> {
        if path.file_name().is_none() {
            return Err(Error::InvalidArgument(format!("{} does not name a file", path.display())));
        }
        let tmp = tmp_sibling(path);
        let mut builder = TableBuilder::create(Arc::clone(&fs), &tmp, table_options_of(opts))?;
        builder.set_user_property(PROP_EXTERNAL_VERSION, EXTERNAL_VERSION.as_bytes());
        builder.set_user_property(PROP_SMALLEST_SEQ, b"0");
        builder.set_user_property(PROP_LARGEST_SEQ, b"0");
        if let Some((id, name)) = cf {
            builder.set_user_property(PROP_CF_ID, id.to_string().as_bytes());
            builder.set_user_property(PROP_CF_NAME, name.as_bytes());
        }
        Ok(Self {
            fs,
            path: path.to_path_buf(),
            tmp,
            builder: Some(builder),
            last_key: None,
            smallest_key: Vec::new(),
            key_buf: Vec::new(),
            num_deletions: 0,
        })
    }

    /// Adds `key = value`. Keys must be strictly increasing.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.add(key.as_ref(), ValueKind::Put, value.as_ref())
    }

    /// Adds a tombstone for `key`: ingested, it deletes older versions of `key` in the database.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.add(key.as_ref(), ValueKind::Delete, &[])
    }

    fn add(&mut self, key: &[u8], kind: ValueKind, value: &[u8]) -> Result<()> {
        let Some(builder) = self.builder.as_mut() else {
            return Err(Error::InvalidArgument(format!(
                "the writer of {} failed earlier; start a new one",
                self.path.display()
            )));
        };
        if let Some(last) = &self.last_key
            && key <= last.as_slice()
        {
            let what = if key == last.as_slice() { "equal to" } else { "below" };
            return Err(Error::InvalidArgument(format!(
                "{}: keys must be added in strictly increasing order: {} is {what} the previous key {}",
                self.path.display(),
                show(key),
                show(last)
            )));
        }
        self.key_buf.clear();
        ikey::encode_into(&mut self.key_buf, key, 0, kind);
        if let Err(e) = builder.add(&self.key_buf, kind, value) {
            // Too-large keys and values are refused before anything is written; keep going
            // after those, give up (and remove the partial file) after anything else.
            if !matches!(e, strata_sst::Error::InvalidArgument(_)) {
                self.builder = None;
            }
            return Err(e.into());
        }
        if self.last_key.is_none() {
            self.smallest_key = key.to_vec();
        }
        self.last_key = Some(key.to_vec());
        self.num_deletions += u64::from(kind == ValueKind::Delete);
        Ok(())
    }

    /// Entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.builder.as_ref().map_or(0, TableBuilder::num_entries)
    }

    /// Writes the rest of the table, fsyncs it, renames it to its path and fsyncs the
    /// directory. An empty table is `InvalidArgument` (and no file is left).
    pub fn finish(mut self) -> Result<ExternalFileInfo> {
        let Some(builder) = self.builder.take() else {
            return Err(Error::InvalidArgument(format!(
                "the writer of {} failed earlier; nothing to finish",
                self.path.display()
            )));
        };
        let Some(largest_key) = self.last_key.take() else {
            drop(builder);
            return Err(Error::InvalidArgument(format!("cannot create {} with no entries", self.path.display())));
        };
        // On failure the builder removes the temporary file.
        let meta = builder.finish()?;
        let renamed = self.fs.rename(&self.tmp, &self.path).and_then(|()| self.fs.sync_dir(parent_or_dot(&self.path)));
        if let Err(e) = renamed {
            let _ = self.fs.remove_file(&self.tmp);
            return Err(Error::io(&self.path, e));
        }
        Ok(ExternalFileInfo {
            path: self.path.clone(),
            smallest_key: std::mem::take(&mut self.smallest_key),
            largest_key,
            num_entries: meta.num_entries,
            num_deletions: self.num_deletions,
            file_size: meta.file_size,
            file_checksum: meta.file_checksum,
            sequence: 0,
        })
    }
}

/// A key for an error message: printable ASCII as is, anything else in hex.
pub(crate) fn show(key: &[u8]) -> String {
    if key.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(key))
    } else {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}")
    }
}
