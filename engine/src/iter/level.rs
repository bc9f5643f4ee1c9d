//! Iterators over tables: one table (`strata_sst::TableIter`) and one sorted, non-overlapping
//! level of tables opened lazily ([`LevelIter`], the concatenating iterator).
//!
//! Invariants: a `LevelIter`'s files are sorted by smallest key and do not overlap, so at most
//! one table is open at a time and moving past its end opens the neighbour.
//!
//! Thread safety: each iterator has one owner; tables are shared through the table cache.

use crate::error::Result;
use crate::ingest::file_iter::FileIter;
use crate::iter::InternalIterator;
use crate::state::DbInner;
use crate::table_cache::TableCache;
use bytes::Bytes;
use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;
use strata_base::Comparator;
use strata_base::ikey::InternalKeyComparator;
use strata_manifest::FileMeta;
use strata_sst::TableIter;

/// A table's iterator is an [`InternalIterator`] as it is.
impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        TableIter::valid(self)
    }
    fn seek_to_first(&mut self) {
        TableIter::seek_to_first(self)
    }
    fn seek_to_last(&mut self) {
        TableIter::seek_to_last(self)
    }
    fn seek(&mut self, ikey: &[u8]) {
        TableIter::seek(self, ikey)
    }
    fn seek_for_prev(&mut self, ikey: &[u8]) {
        TableIter::seek_for_prev(self, ikey)
    }
    fn next(&mut self) {
        TableIter::next(self)
    }
    fn prev(&mut self) {
        TableIter::prev(self)
    }
    fn key(&self) -> &[u8] {
        TableIter::key(self)
    }
    fn value(&self) -> &[u8] {
        TableIter::value(self)
    }
    fn value_bytes(&self) -> Bytes {
        TableIter::value_bytes(self)
    }
    fn status(&self) -> Result<()> {
        Ok(TableIter::status(self)?)
    }
    fn location(&self) -> Option<(PathBuf, u64)> {
        let (path, offset) = TableIter::location(self);
        Some((path.to_path_buf(), offset))
    }
}

impl DbInner {
    /// Appends iterators over `files` of `level` to `children`: one per table at L0 (its
    /// tables overlap), one concatenating [`LevelIter`] deeper down (sorted and disjoint).
    /// `fill_cache`: whether blocks read go into the block cache (compactions pass `false`).
    pub(crate) fn push_level_iters(
        &self,
        level: usize,
        files: Vec<Arc<FileMeta>>,
        fill_cache: bool,
        children: &mut Vec<Box<dyn InternalIterator>>,
    ) -> Result<()> {
        if level == 0 {
            for f in &files {
                let mut it = self.table_cache.get(f.number)?.iter();
                it.set_fill_cache(fill_cache);
                children.push(Box::new(FileIter::new(it, f.global_seq)));
            }
        } else if !files.is_empty() {
            let mut it = LevelIter::new(files, Arc::clone(&self.table_cache), Arc::clone(&self.icmp));
            it.fill_cache = fill_cache;
            children.push(Box::new(it));
        }
        Ok(())
    }
}

/// Concatenates the tables of one level.
pub(crate) struct LevelIter {
    files: Vec<Arc<FileMeta>>,
    cache: Arc<TableCache>,
    icmp: Arc<InternalKeyComparator>,
    index: usize,
    current: Option<FileIter>,
    error: Option<crate::Error>,
    fill_cache: bool,
}

impl std::fmt::Debug for LevelIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelIter").field("files", &self.files.len()).field("index", &self.index).finish()
    }
}

impl LevelIter {
    pub(crate) fn new(files: Vec<Arc<FileMeta>>, cache: Arc<TableCache>, icmp: Arc<InternalKeyComparator>) -> Self {
        Self { files, cache, icmp, index: 0, current: None, error: None, fill_cache: true }
    }

    /// Opens file `index` (or clears the current table when out of range). Re-seeking within
    /// the open table keeps its iterator (and the data block it holds) instead of reopening it;
    /// an iterator that failed was already dropped by `current_failed`.
    fn open(&mut self, index: usize) -> bool {
        if index == self.index && self.current.is_some() {
            return true;
        }
        self.index = index;
        self.current = None;
        let Some(f) = self.files.get(index) else { return false };
        match self.cache.get(f.number) {
            Ok(t) => {
                let mut it = t.iter();
                it.set_fill_cache(self.fill_cache);
                self.current = Some(FileIter::new(it, f.global_seq));
                true
            }
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(e);
                }
                false
            }
        }
    }

    fn cur_valid(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.valid())
    }

    /// If the current table's iterator stopped on an error, keeps the error (it would be lost
    /// with the iterator when the neighbour is opened) and ends the iteration. True if so.
    fn current_failed(&mut self) -> bool {
        let Some(Err(e)) = self.current.as_ref().map(|c| c.status()) else { return false };
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.current = None;
        true
    }

    fn skip_forward(&mut self) {
        while !self.cur_valid() {
            if self.current_failed() {
                return;
            }
            let next = self.index + 1;
            if next >= self.files.len() || self.error.is_some() {
                self.current = None;
                return;
            }
            if self.open(next)
                && let Some(c) = self.current.as_mut()
            {
                c.seek_to_first();
            }
        }
    }

    fn skip_backward(&mut self) {
        while !self.cur_valid() {
            if self.current_failed() {
                return;
            }
            if self.index == 0 || self.error.is_some() {
                self.current = None;
                return;
            }
            if self.open(self.index - 1)
                && let Some(c) = self.current.as_mut()
            {
                c.seek_to_last();
            }
        }
    }
}

impl InternalIterator for LevelIter {
    fn valid(&self) -> bool {
        self.cur_valid()
    }

    fn seek_to_first(&mut self) {
        if self.open(0)
            && let Some(c) = self.current.as_mut()
        {
            c.seek_to_first();
        }
        self.skip_forward();
    }

    fn seek_to_last(&mut self) {
        if self.files.is_empty() {
            self.current = None;
            return;
        }
        if self.open(self.files.len() - 1)
            && let Some(c) = self.current.as_mut()
        {
            c.seek_to_last();
        }
        self.skip_backward();
    }

    fn seek(&mut self, target: &[u8]) {
        // First file whose largest key >= target.
        let i = self.files.partition_point(|f| self.icmp.compare(&f.largest, target) == Ordering::Less);
        if i >= self.files.len() {
            self.current = None;
            self.index = self.files.len();
            return;
        }
        if self.open(i)
            && let Some(c) = self.current.as_mut()
        {
            c.seek(target);
        }
        self.skip_forward();
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        // Last file whose smallest key <= target.
        let i = self.files.partition_point(|f| self.icmp.compare(&f.smallest, target) != Ordering::Greater);
        if i == 0 {
            self.current = None;
            self.index = 0;
            return;
        }
        if self.open(i - 1)
            && let Some(c) = self.current.as_mut()
        {
            c.seek_for_prev(target);
        }
        self.skip_backward();
    }

    fn next(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.next();
        }
        self.skip_forward();
    }

    fn prev(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.prev();
        }
        self.skip_backward();
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.value())
    }

    fn value_bytes(&self) -> Bytes {
        self.current.as_ref().map_or_else(Bytes::new, |c| c.value_bytes())
    }

    fn status(&self) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.duplicate());
        }
        match &self.current {
            Some(c) => c.status(),
            None => Ok(()),
        }
    }
    fn location(&self) -> Option<(PathBuf, u64)> {
        self.current.as_ref().and_then(InternalIterator::location)
    }
}
