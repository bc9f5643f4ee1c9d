//! Every iterator of the engine: internal ones over memtables, tables and levels, the merged
//! user-key iterator [`DbIter`], and the public cursor [`DbIterator`] and [`RangeIter`].
//!
//! An [`InternalIterator`] walks internal keys (`user_key ++ trailer`, see
//! `strata_base::ikey`) in internal-key order with the bytewise user comparator: user key
//! ascending, then sequence number descending. [`MergingIterator`] merges several of them;
//! [`DbIter`] hides invisible versions, tombstones and shadowed versions and applies bounds.
//!
//! Invariants: `key()` and `value()` are only called while `valid()`; a positioning call
//! (`seek*`) is needed before the first `next`/`prev`; an iterator that meets an error becomes
//! invalid and reports the error from `status()`.
//!
//! Thread safety: iterators are `Send` (moved between threads) but not shared.

use crate::error::Result;
use bytes::Bytes;
use std::cmp::Ordering;
use strata_base::ikey::TRAILER_LEN;

mod cursor;
mod db_iter;
mod level;
mod merge;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vec_iter;

pub use cursor::{DbIterator, RangeIter};
pub use db_iter::DbIter;

pub use merge::MergingIterator;
#[cfg(test)]
pub(crate) use vec_iter::VecIter;

/// A cursor over internal keys in internal-key order.
pub trait InternalIterator: Send {
    fn valid(&self) -> bool;
    fn seek_to_first(&mut self);
    fn seek_to_last(&mut self);
    /// Positions at the first entry `>= ikey`.
    fn seek(&mut self, ikey: &[u8]);
    /// Positions at the last entry `<= ikey`.
    fn seek_for_prev(&mut self, ikey: &[u8]);
    fn next(&mut self);
    fn prev(&mut self);
    /// The current internal key.
    fn key(&self) -> &[u8];
    fn value(&self) -> &[u8];
    /// The current value as `Bytes`; iterators that hold values as `Bytes` return a cheap clone.
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }
    /// The first error met, if any.
    fn status(&self) -> Result<()>;
    /// The file and offset (a table and its data block) the current entry was read from, for
    /// errors about it; `None` for memtables.
    fn location(&self) -> Option<(std::path::PathBuf, u64)> {
        None
    }
}

impl InternalIterator for Box<dyn InternalIterator> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) {
        (**self).seek_to_last()
    }
    fn seek(&mut self, ikey: &[u8]) {
        (**self).seek(ikey)
    }
    fn seek_for_prev(&mut self, ikey: &[u8]) {
        (**self).seek_for_prev(ikey)
    }
    fn next(&mut self) {
        (**self).next()
    }
    fn prev(&mut self) {
        (**self).prev()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn value_bytes(&self) -> Bytes {
        (**self).value_bytes()
    }
    fn status(&self) -> Result<()> {
        (**self).status()
    }
    fn location(&self) -> Option<(std::path::PathBuf, u64)> {
        (**self).location()
    }
}

/// Splits an internal key into user key and trailer; a key shorter than a trailer is all user
/// key with trailer 0 (the same convention as `strata_base::ikey`).
#[inline]
pub(crate) fn split_ikey(ikey: &[u8]) -> (&[u8], u64) {
    match ikey.split_last_chunk::<TRAILER_LEN>() {
        Some((user, trailer)) => (user, u64::from_le_bytes(*trailer)),
        None => (ikey, 0),
    }
}

/// Internal-key order with the bytewise user comparator: user key ascending, trailer descending.
#[inline]
pub(crate) fn compare_ikey(a: &[u8], b: &[u8]) -> Ordering {
    let (ua, ta) = split_ikey(a);
    let (ub, tb) = split_ikey(b);
    ua.cmp(ub).then_with(|| tb.cmp(&ta))
}
