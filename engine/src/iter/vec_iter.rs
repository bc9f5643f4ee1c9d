//! [`VecIter`]: an [`InternalIterator`] over a sorted `Vec`, a test double for merges and
//! `DbIter`, and a reference implementation of the cursor contract.
//!
//! Invariants: entries are sorted by [`compare_ikey`] and distinct; `pos == entries.len()`
//! means invalid.
//!
//! Thread safety: plain owned data.

use super::{InternalIterator, compare_ikey};
use crate::error::{Error, Result};
use bytes::Bytes;
use std::cmp::Ordering;

/// An internal iterator over owned, sorted `(internal key, value)` pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct VecIter {
    entries: Vec<(Vec<u8>, Bytes)>,
    pos: usize,
    /// Reported by `status()` once the cursor reaches this position (simulates a failed read).
    fail_at: Option<usize>,
    failed: bool,
}

impl VecIter {
    /// Sorts `entries` into internal-key order.
    pub(crate) fn new(mut entries: Vec<(Vec<u8>, Bytes)>) -> Self {
        entries.sort_by(|a, b| compare_ikey(&a.0, &b.0));
        let pos = entries.len();
        Self { entries, pos, fail_at: None, failed: false }
    }

    /// Makes the iterator fail (become invalid with an I/O error) when it lands on entry `i`.
    #[cfg(test)]
    pub(crate) fn fail_at(mut self, i: usize) -> Self {
        self.fail_at = Some(i);
        self
    }

    fn land(&mut self, pos: usize) {
        if self.failed {
            self.pos = self.entries.len();
            return;
        }
        if self.fail_at == Some(pos) {
            self.failed = true;
            self.pos = self.entries.len();
            return;
        }
        self.pos = pos;
    }

    fn current(&self) -> Option<&(Vec<u8>, Bytes)> {
        self.entries.get(self.pos)
    }
}

impl InternalIterator for VecIter {
    fn valid(&self) -> bool {
        self.pos < self.entries.len()
    }
    fn seek_to_first(&mut self) {
        self.land(0);
    }
    fn seek_to_last(&mut self) {
        let n = self.entries.len();
        self.land(n.checked_sub(1).unwrap_or(n));
    }
    fn seek(&mut self, ikey: &[u8]) {
        let i = self.entries.partition_point(|(k, _)| compare_ikey(k, ikey) == Ordering::Less);
        self.land(i);
    }
    fn seek_for_prev(&mut self, ikey: &[u8]) {
        let i = self.entries.partition_point(|(k, _)| compare_ikey(k, ikey) != Ordering::Greater);
        let n = self.entries.len();
        self.land(i.checked_sub(1).unwrap_or(n));
    }
    fn next(&mut self) {
        if self.valid() {
            self.land(self.pos + 1);
        }
    }
    fn prev(&mut self) {
        if self.valid() {
            let n = self.entries.len();
            self.land(self.pos.checked_sub(1).unwrap_or(n));
        }
    }
    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |(k, _)| k.as_slice())
    }
    fn value(&self) -> &[u8] {
        self.current().map_or(&[], |(_, v)| v.as_ref())
    }
    fn value_bytes(&self) -> Bytes {
        self.current().map_or_else(Bytes::new, |(_, v)| v.clone())
    }
    fn status(&self) -> Result<()> {
        if self.failed {
            return Err(Error::from(std::io::Error::other("VecIter: injected read failure")));
        }
        Ok(())
    }
}
