//! `Db::live_files`: one pinned, consistent state of every column family.
//!
//! This is the primitive checkpoints (and later backups, export and replication) consume. It
//! holds the version (so no table in it is deleted), pins the WAL files that carry writes not
//! yet in a table (so they are not deleted either), and records the sequence number and the
//! WAL length at which the state was captured.
//!
//! Invariants: every write with sequence `<= sequence` is either in one of `tables` or in the
//! first `size` bytes of one of `wals`; no write with a greater sequence is in either.

use crate::error::Result;
use crate::state::DbInner;
use crate::{Db, Error};
use std::path::PathBuf;
use std::sync::Arc;
use strata_base::ikey::SeqNo;
use strata_base::{CfId, FileNumber};
use strata_manifest::{FileMeta, Version};

/// A table of a [`LiveFiles`] state.
#[derive(Debug, Clone)]
pub struct LiveTable {
    pub cf_id: CfId,
    pub level: usize,
    pub meta: Arc<FileMeta>,
    pub path: PathBuf,
}

/// A WAL file of a [`LiveFiles`] state, to be read only up to `size` bytes.
#[derive(Debug, Clone)]
pub struct LiveWal {
    pub number: FileNumber,
    pub path: PathBuf,
    /// Bytes of the file that belong to the pinned state (whole records).
    pub size: u64,
}

/// A pinned, consistent state of every column family. Nothing in it is deleted until it is
/// dropped.
#[derive(Debug)]
pub struct LiveFiles {
    /// The last sequence number contained, across all column families.
    pub sequence: SeqNo,
    /// The database directory.
    pub dir: PathBuf,
    pub tables: Vec<LiveTable>,
    /// WAL files holding writes not yet flushed, oldest first (empty after a flush).
    pub wals: Vec<LiveWal>,
    /// Column families, `(id, name)`.
    pub column_families: Vec<(CfId, String)>,
    /// The manifest's next file number when pinned; every file in the state is below it.
    pub next_file_number: FileNumber,
    /// The comparator name recorded in the manifest.
    pub comparator: String,
    /// The database's identity (`None` only for an old database opened read-only).
    pub db_id: Option<strata_manifest::DbId>,
    version: Arc<Version>,
    _wal_pin: Option<WalPin>,
}

impl LiveFiles {
    /// The pinned version (every column family's levels).
    pub fn version(&self) -> &Arc<Version> {
        &self.version
    }

    /// The smallest WAL number a database built from this state must replay.
    pub fn log_number(&self) -> FileNumber {
        self.wals.first().map_or(self.next_file_number, |w| w.number)
    }
}

#[derive(Debug)]
struct WalPin {
    inner: Arc<DbInner>,
    numbers: Vec<FileNumber>,
}

impl Drop for WalPin {
    fn drop(&mut self) {
        let mut pins = self.inner.files.wal_pins.lock();
        for n in &self.numbers {
            if let Some(c) = pins.get_mut(n) {
                *c -= 1;
                if *c == 0 {
                    pins.remove(n);
                }
            }
        }
    }
}

impl Db {
    /// Pins one consistent state of every column family. With `flush`, memtables are flushed
    /// first and the state is tables only; without, the WAL files that hold the unflushed
    /// writes are pinned and their valid length recorded.
    pub fn live_files(&self, flush: bool) -> Result<LiveFiles> {
        let inner = &self.inner;
        if flush && !inner.read_only {
            inner.flush_all()?;
        }
        // Holding `commit` stops writers between groups: the WAL ends on a record boundary and
        // the sequence number matches it exactly.
        let mut commit = inner.writes.commit.lock();
        if let Some(log) = commit.log.as_mut() {
            log.flush().map_err(Error::from)?;
        }
        let sequence = inner.last_sequence();
        // Read the state and pin its WALs under `state`: a flush installs the edit that obsoletes
        // a WAL under `state` and deletes WALs only after reading the pins, so either `rs` no
        // longer names that WAL or our pin protects it. (Pinning after releasing `state` let a
        // concurrent flush delete a WAL `rs` still needed: `create` failed with NotFound.)
        let st = inner.state.lock();
        let rs = inner.read_state();
        let next_file_number = st.versions.next_file_number();
        let db_id = st.versions.db_id();
        let has_unflushed = rs.cfs.values().any(|c| c.mems.iter().any(|m| !m.is_empty()));
        let numbers: Vec<FileNumber> = match (has_unflushed, inner.read_only) {
            (false, _) => Vec::new(),
            (true, true) => inner.files.recovered_logs.iter().map(|&(n, _)| n).collect(),
            (true, false) => rs.log_numbers.clone(),
        };
        let wal_pin = if numbers.is_empty() {
            None
        } else {
            let mut pins = inner.files.wal_pins.lock();
            for n in &numbers {
                *pins.entry(*n).or_insert(0) += 1;
            }
            Some(WalPin { inner: Arc::clone(inner), numbers: numbers.clone() })
        };
        drop(st);
        let mut wals = Vec::new();
        if inner.read_only {
            for &(n, size) in inner.files.recovered_logs.iter().filter(|(n, _)| numbers.contains(n)) {
                wals.push(LiveWal { number: n, path: inner.log_path(n), size });
            }
        } else {
            for &n in &numbers {
                let path = inner.log_path(n);
                let size = if n == commit.log_number {
                    commit.log.as_ref().map_or(0, |l| l.len())
                } else {
                    inner.fs.file_size(&path).map_err(|e| Error::io(&path, e))?
                };
                wals.push(LiveWal { number: n, path, size });
            }
        }
        drop(commit);
        let version = Arc::clone(&rs.version);
        let mut tables = Vec::new();
        let mut column_families = Vec::new();
        for (&id, c) in &rs.cfs {
            column_families.push((id, c.name.clone()));
            if let Some(vcf) = version.cf(id) {
                for (level, files) in vcf.levels.iter().enumerate() {
                    for f in files {
                        tables.push(LiveTable {
                            cf_id: id,
                            level,
                            meta: Arc::clone(f),
                            path: inner.table_path(f.number),
                        });
                    }
                }
            }
        }
        Ok(LiveFiles {
            sequence,
            dir: inner.path.clone(),
            tables,
            wals,
            column_families,
            next_file_number,
            comparator: strata_base::Comparator::name(&*inner.icmp).to_string(),
            db_id,
            version,
            _wal_pin: wal_pin,
        })
    }
}
