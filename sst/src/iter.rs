//! [`TableIter`]: a two-level cursor (index block, then one data block) over a whole table.
//!
//! Invariants: the iterator is valid only on an entry decoded from a block that passed its
//! checks (and its checksum, if `verify_checksums`); after an error it is invalid and
//! `status()` returns the error until the next `seek*` call. Moving never allocates except to
//! read a block that is not cached.
//!
//! Thread safety: a `TableIter` owns an `Arc<Table>` and is `Send + 'static`; it has one owner.

use crate::block::BlockIter;
use crate::error::{BlockCorrupt, Error, Result};
use crate::format::BlockHandle;
use crate::table::Table;
use bytes::Bytes;
use std::cmp::Ordering;
use std::sync::Arc;
use strata_base::ikey::ValueKind;

/// The moving parts of an iterator, for callers that hold the table some other way.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The index entry `data` is over (or would be): a position in the table's decoded index,
    /// meaningful while `index_valid`.
    index: usize,
    index_valid: bool,
    data: BlockIter,
    /// The block `data` is over, if any.
    data_handle: Option<BlockHandle>,
    /// Whether blocks read from the file are added to the block cache.
    fill_cache: bool,
    status: Option<Error>,
}

impl Cursor {
    pub fn new(_t: &Table) -> Self {
        Self {
            index: 0,
            index_valid: false,
            data: BlockIter::empty(),
            data_handle: None,
            status: None,
            fill_cache: true,
        }
    }

    #[inline]
    pub fn valid(&self) -> bool {
        self.status.is_none() && self.data.valid()
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        if self.valid() { self.data.key() } else { &[] }
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        if self.valid() { self.data.value() } else { &[] }
    }

    pub fn value_bytes(&self) -> Bytes {
        if self.valid() { self.data.value_bytes() } else { Bytes::new() }
    }

    #[inline]
    pub fn kind(&self) -> ValueKind {
        self.data.kind()
    }

    pub fn status(&self) -> Result<()> {
        self.status.as_ref().map_or(Ok(()), |e| Err(e.duplicate()))
    }

    fn fail(&mut self, e: Error) {
        self.data.invalidate();
        self.status = Some(e);
    }

    fn data_result(&mut self, t: &Table, r: Result<(), BlockCorrupt>) {
        if let Err(c) = r {
            let handle = self.data_handle.unwrap_or_default();
            self.data_handle = None;
            self.fail(t.block_error(handle, c));
        }
    }

    /// Puts the index at entry `i`, or makes it invalid if there is none.
    fn index_at(&mut self, t: &Table, i: Option<usize>) {
        match i.filter(|&i| i < t.index_len()) {
            Some(i) => {
                self.index = i;
                self.index_valid = true;
            }
            None => self.index_valid = false,
        }
    }

    /// Points `data` at the block the index is on. False (with `data` invalid) if the index is
    /// exhausted or the block cannot be read.
    fn load_block(&mut self, t: &Table) -> bool {
        if !self.index_valid {
            self.data.invalidate();
            return false;
        }
        let handle = t.index_handle(self.index);
        if self.data_handle == Some(handle) {
            return true;
        }
        self.data_handle = None;
        let block = if self.fill_cache { t.data_block(handle) } else { t.data_block_no_fill(handle) };
        let loaded = block.map(|b| self.data.set_block(b));
        match loaded {
            Ok(()) => {
                self.data_handle = Some(handle);
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    fn skip_forward(&mut self, t: &Table) {
        while self.status.is_none() && !self.data.valid() {
            self.index_at(t, self.index.checked_add(1));
            if !self.load_block(t) {
                return;
            }
            let r = self.data.seek_to_first();
            self.data_result(t, r);
        }
    }

    fn skip_backward(&mut self, t: &Table) {
        while self.status.is_none() && !self.data.valid() {
            self.index_at(t, self.index.checked_sub(1));
            if !self.load_block(t) {
                return;
            }
            let r = self.data.seek_to_last();
            self.data_result(t, r);
        }
    }

    pub fn seek_to_first(&mut self, t: &Table) {
        self.status = None;
        self.index_at(t, Some(0));
        if self.load_block(t) {
            let r = self.data.seek_to_first();
            self.data_result(t, r);
            self.skip_forward(t);
        }
    }

    pub fn seek_to_last(&mut self, t: &Table) {
        self.status = None;
        self.index_at(t, t.index_len().checked_sub(1));
        if self.load_block(t) {
            let r = self.data.seek_to_last();
            self.data_result(t, r);
            self.skip_backward(t);
        }
    }

    pub fn seek(&mut self, t: &Table, target: &[u8]) {
        self.status = None;
        self.index_at(t, Some(t.index_seek(target)));
        if self.load_block(t) {
            let r = self.data.seek(target, t.comparator());
            self.data_result(t, r);
            self.skip_forward(t);
        }
    }

    pub fn seek_for_prev(&mut self, t: &Table, target: &[u8]) {
        self.seek(t, target);
        if self.status.is_some() {
            return;
        }
        if !self.valid() {
            self.seek_to_last(t);
        } else if t.comparator().compare(self.data.key(), target) == Ordering::Greater {
            self.prev(t);
        }
    }

    #[inline]
    pub fn next(&mut self, t: &Table) {
        if !self.valid() {
            return;
        }
        let r = self.data.next();
        self.data_result(t, r);
        if !self.data.valid() {
            self.skip_forward(t);
        }
    }

    pub fn prev(&mut self, t: &Table) {
        if !self.valid() {
            return;
        }
        let r = self.data.prev();
        self.data_result(t, r);
        self.skip_backward(t);
    }
}

/// An iterator over a table's entries in comparator order, forward and backward.
///
/// Unpositioned when created: call one of the `seek*` methods first.
#[derive(Debug)]
pub struct TableIter {
    table: Arc<Table>,
    cur: Cursor,
}

impl TableIter {
    pub(crate) fn new(table: Arc<Table>) -> Self {
        let cur = Cursor::new(&table);
        Self { table, cur }
    }

    pub fn seek_to_first(&mut self) {
        self.cur.seek_to_first(&self.table);
    }

    pub fn seek_to_last(&mut self) {
        self.cur.seek_to_last(&self.table);
    }

    /// Positions at the first entry with key `>= target`.
    pub fn seek(&mut self, target: &[u8]) {
        self.cur.seek(&self.table, target);
    }

    /// Positions at the last entry with key `<= target`.
    pub fn seek_for_prev(&mut self, target: &[u8]) {
        self.cur.seek_for_prev(&self.table, target);
    }

    #[inline]
    pub fn next(&mut self) {
        self.cur.next(&self.table);
    }

    pub fn prev(&mut self) {
        self.cur.prev(&self.table);
    }

    #[inline]
    pub fn valid(&self) -> bool {
        self.cur.valid()
    }

    /// The current key (empty when not valid).
    #[inline]
    pub fn key(&self) -> &[u8] {
        self.cur.key()
    }

    /// The current value (empty when not valid).
    #[inline]
    pub fn value(&self) -> &[u8] {
        self.cur.value()
    }

    /// The current value as a zero-copy slice of its block.
    pub fn value_bytes(&self) -> Bytes {
        self.cur.value_bytes()
    }

    /// The current entry's kind (meaningless when not valid).
    #[inline]
    pub fn kind(&self) -> ValueKind {
        self.cur.kind()
    }

    /// The error that made the iterator invalid, if any.
    pub fn status(&self) -> Result<()> {
        self.cur.status()
    }

    /// Whether blocks this iterator reads from the file go into the block cache (default
    /// `true`). A scan that reads everything once (a compaction, a full export) sets `false`
    /// so it does not evict the blocks point reads keep hot; cached blocks are still used.
    pub fn set_fill_cache(&mut self, fill: bool) {
        self.cur.fill_cache = fill;
    }

    /// The table's path and the offset of the data block holding the current entry (0 when
    /// none is loaded): where to look when a key read from here turns out malformed.
    pub fn location(&self) -> (&std::path::Path, u64) {
        (self.table.path(), self.cur.data_handle.map_or(0, |h| h.offset))
    }
}
