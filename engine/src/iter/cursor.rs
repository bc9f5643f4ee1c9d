//! User-facing iterators: [`DbIterator`] (a cursor) and [`RangeIter`] (a std `Iterator`).
//!
//! An iterator sees one consistent state: its snapshot's sequence number, or the last one at
//! creation, and the memtables and version of that moment, which it keeps alive (and whose
//! files are therefore not deleted) until it is dropped.

use crate::Snapshot;
use crate::error::{Error, Result};
use crate::iter::{DbIter, InternalIterator, MergingIterator};
use crate::options::ReadOptions;
use crate::state::{DbInner, ReadState};
use bytes::Bytes;
use std::sync::Arc;
use strata_base::CfId;

/// A cursor over one column family: `seek`, `seek_for_prev`, `seek_to_first`, `seek_to_last`,
/// `next`, `prev`, then `key`/`value` while `valid`. Check `status` when it stops.
pub struct DbIterator {
    iter: DbIter,
    /// The read state a database iterator reads; `None` for a table reader's iterator (its
    /// table iterators hold their tables).
    _pin: Option<Arc<ReadState>>,
}

impl std::fmt::Debug for DbIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIterator").field("valid", &self.iter.valid()).finish()
    }
}

impl DbIterator {
    pub(crate) fn unpinned(iter: DbIter) -> Self {
        Self { iter, _pin: None }
    }

    pub fn valid(&self) -> bool {
        self.iter.valid()
    }
    pub fn seek_to_first(&mut self) {
        self.iter.seek_to_first()
    }
    pub fn seek_to_last(&mut self) {
        self.iter.seek_to_last()
    }
    /// Moves to the first key `>= key`.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.iter.seek(key.as_ref())
    }
    /// Moves to the last key `<= key`.
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) {
        self.iter.seek_for_prev(key.as_ref())
    }
    pub fn next(&mut self) {
        self.iter.next()
    }
    pub fn prev(&mut self) {
        self.iter.prev()
    }
    /// The current user key. Empty when not valid.
    pub fn key(&self) -> &[u8] {
        self.iter.key()
    }
    pub fn value(&self) -> &[u8] {
        self.iter.value()
    }
    pub fn value_bytes(&self) -> Bytes {
        self.iter.value_bytes()
    }
    /// An I/O or corruption error met while moving, if any.
    pub fn status(&self) -> Result<()> {
        self.iter.status()
    }
}

impl DbInner {
    pub(crate) fn iter(&self, cf_id: CfId, opts: &ReadOptions<'_>) -> Result<DbIterator> {
        let (seq, rs) = self.read_point(opts.snapshot.map(Snapshot::sequence));
        let cf = rs.cfs.get(&cf_id).ok_or_else(|| Error::ColumnFamilyNotFound(format!("id {cf_id}")))?;
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for mem in &cf.mems {
            children.push(Box::new(mem.iter()));
        }
        if let Some(vcf) = rs.version.cf(cf_id) {
            for (level, files) in vcf.levels.iter().enumerate() {
                self.push_level_iters(level, files.clone(), opts.fill_cache, &mut children)?;
            }
        }
        let merged = MergingIterator::new(children);
        let iter = DbIter::new(Box::new(merged), seq, opts.lower_bound.clone(), opts.upper_bound.clone());
        Ok(DbIterator { iter, _pin: Some(rs) })
    }
}

/// A std iterator over a key range, yielding `Result<(key, value)>`. An error ends it.
#[derive(Debug)]
pub struct RangeIter {
    it: Option<DbIterator>,
    pending_error: Option<Error>,
    started: bool,
}

impl RangeIter {
    /// `it` carries the range as its bounds.
    pub(crate) fn new(it: Result<DbIterator>) -> Self {
        match it {
            Ok(it) => Self { it: Some(it), pending_error: None, started: false },
            Err(e) => Self { it: None, pending_error: Some(e), started: false },
        }
    }
}

impl Iterator for RangeIter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending_error.take() {
            self.it = None;
            return Some(Err(e));
        }
        let it = self.it.as_mut()?;
        if self.started {
            it.next();
        } else {
            self.started = true;
            it.seek_to_first();
        }
        if !it.valid() {
            let r = it.status();
            self.it = None;
            return r.err().map(Err);
        }
        Some(Ok((Bytes::copy_from_slice(it.key()), it.value_bytes())))
    }
}
