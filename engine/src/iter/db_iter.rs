//! [`DbIter`]: the user-facing view of a merged [`InternalIterator`] at one sequence number.
//!
//! It shows, for each user key, the newest version with sequence `<= read_seq`, and hides the key
//! when that version is a tombstone. Bounds are user keys: `lower` inclusive, `upper` exclusive.
//! The algorithm is LevelDB's DBIter.
//!
//! Invariants:
//! - Forward direction: when valid, `inner` is at the entry shown (its user key is `key()`).
//! - Reverse direction: when valid, `inner` is just before every entry of `key()` (at the last
//!   entry of a smaller user key, or invalid), and `saved_key`/`saved_value` hold the entry shown.
//! - When valid, `lower <= key() < upper`.
//!
//! Thread safety: `Send`, not shared.

use super::{InternalIterator, split_ikey};
use crate::error::{Error, Result};
use bytes::Bytes;
use std::path::PathBuf;
use strata_base::ikey::{self, SEQ_MAX, SeqNo, ValueKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// Iterates user keys and values visible at a sequence number, within optional bounds.
pub struct DbIter {
    inner: Box<dyn InternalIterator>,
    read_seq: SeqNo,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    direction: Direction,
    valid: bool,
    /// Forward: the user key to skip past. Reverse: the user key shown. Also seek scratch.
    saved_key: Vec<u8>,
    /// Reverse: the value shown.
    saved_value: Bytes,
    /// A malformed internal key met while moving.
    /// A malformed key met while moving: where it was read (a table and block offset, or the
    /// memtable) and what was wrong.
    corruption: Option<(PathBuf, u64, String)>,
}

impl std::fmt::Debug for DbIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIter")
            .field("read_seq", &self.read_seq)
            .field("valid", &self.valid)
            .field("direction", &self.direction)
            .finish()
    }
}

/// What one internal key says, or `None` if it is malformed.
fn parse(ikey: &[u8]) -> Option<(&[u8], SeqNo, ValueKind)> {
    let p = ikey::parse(ikey)?;
    Some((p.user_key, p.seq, p.kind))
}

impl DbIter {
    pub fn new(
        inner: Box<dyn InternalIterator>,
        read_seq: SeqNo,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> Self {
        Self {
            inner,
            read_seq: read_seq.min(SEQ_MAX),
            lower,
            upper,
            direction: Direction::Forward,
            valid: false,
            saved_key: Vec::new(),
            saved_value: Bytes::new(),
            corruption: None,
        }
    }

    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current user key.
    pub fn key(&self) -> &[u8] {
        match self.direction {
            Direction::Forward => split_ikey(self.inner.key()).0,
            Direction::Reverse => &self.saved_key,
        }
    }

    pub fn value(&self) -> &[u8] {
        match self.direction {
            Direction::Forward => self.inner.value(),
            Direction::Reverse => &self.saved_value,
        }
    }

    pub fn value_bytes(&self) -> Bytes {
        match self.direction {
            Direction::Forward => self.inner.value_bytes(),
            Direction::Reverse => self.saved_value.clone(),
        }
    }

    /// An I/O or corruption error met while moving; the iterator is then invalid.
    pub fn status(&self) -> Result<()> {
        if let Some((file, offset, reason)) = &self.corruption {
            return Err(Error::corruption(file.clone(), *offset, reason.clone()));
        }
        self.inner.status()
    }

    fn above_upper(&self, user_key: &[u8]) -> bool {
        self.upper.as_deref().is_some_and(|u| user_key >= u)
    }

    fn below_lower(&self, user_key: &[u8]) -> bool {
        self.lower.as_deref().is_some_and(|l| user_key < l)
    }

    fn set_seek_key(&mut self, user_key: &[u8], seq: SeqNo, kind: ValueKind) {
        self.saved_key.clear();
        ikey::encode_into(&mut self.saved_key, user_key, seq, kind);
    }

    fn invalidate(&mut self) {
        self.valid = false;
        self.saved_key.clear();
        self.saved_value = Bytes::new();
    }

    fn note_corruption(&mut self) {
        if self.corruption.is_none() {
            let len = self.inner.key().len();
            let (file, offset) = self.inner.location().unwrap_or_else(|| (PathBuf::from("(memtable)"), 0));
            self.corruption = Some((file, offset, format!("malformed internal key of {len} bytes")));
        }
    }

    pub fn seek_to_first(&mut self) {
        match self.lower.take() {
            Some(lower) => {
                self.seek(&lower);
                self.lower = Some(lower);
            }
            None => {
                self.direction = Direction::Forward;
                self.saved_value = Bytes::new();
                self.inner.seek_to_first();
                self.find_next_user_entry(false);
            }
        }
    }

    pub fn seek_to_last(&mut self) {
        self.direction = Direction::Reverse;
        self.saved_value = Bytes::new();
        match self.upper.take() {
            Some(upper) => {
                // The first (newest) entry of `upper`; anything at `upper` is skipped below.
                self.set_seek_key(&upper, SEQ_MAX, ValueKind::MAX);
                self.inner.seek_for_prev(&self.saved_key);
                self.upper = Some(upper);
            }
            None => self.inner.seek_to_last(),
        }
        self.find_prev_user_entry();
    }

    /// Positions at the first visible key `>= target` (and `>= lower`).
    pub fn seek(&mut self, target: &[u8]) {
        self.direction = Direction::Forward;
        self.saved_value = Bytes::new();
        let lower = self.lower.take();
        let target = match lower.as_deref() {
            Some(l) if target < l => l,
            _ => target,
        };
        self.set_seek_key(target, self.read_seq, ValueKind::MAX);
        self.lower = lower;
        self.inner.seek(&self.saved_key);
        self.find_next_user_entry(false);
    }

    /// Positions at the last visible key `<= target` (and `< upper`).
    pub fn seek_for_prev(&mut self, target: &[u8]) {
        if self.above_upper(target) {
            self.seek_to_last();
            return;
        }
        self.direction = Direction::Reverse;
        self.saved_value = Bytes::new();
        // The last (oldest) possible entry of `target`.
        self.set_seek_key(target, 0, ValueKind::Delete);
        self.inner.seek_for_prev(&self.saved_key);
        self.find_prev_user_entry();
    }

    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Reverse {
            // `inner` is just before the entries of `saved_key`: step into them, then skip them.
            self.direction = Direction::Forward;
            if self.inner.valid() {
                self.inner.next();
            } else {
                self.inner.seek_to_first();
            }
        } else {
            let user = split_ikey(self.inner.key()).0;
            self.saved_key.clear();
            self.saved_key.extend_from_slice(user);
            self.inner.next();
        }
        self.find_next_user_entry(true);
    }

    pub fn prev(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Forward {
            // Move `inner` before every entry of the current user key.
            let user = split_ikey(self.inner.key()).0;
            self.saved_key.clear();
            self.saved_key.extend_from_slice(user);
            loop {
                self.inner.prev();
                if !self.inner.valid() || split_ikey(self.inner.key()).0 < self.saved_key.as_slice() {
                    break;
                }
            }
            self.direction = Direction::Reverse;
        }
        self.find_prev_user_entry();
    }

    /// Moves forward to the first visible entry; with `skipping`, entries whose user key is
    /// `<= saved_key` are hidden.
    fn find_next_user_entry(&mut self, mut skipping: bool) {
        while self.inner.valid() {
            let Some((user, seq, kind)) = parse(self.inner.key()) else {
                self.note_corruption();
                break;
            };
            if self.above_upper(user) {
                break;
            }
            if seq <= self.read_seq {
                match kind {
                    ValueKind::Delete => {
                        self.saved_key.clear();
                        self.saved_key.extend_from_slice(user);
                        skipping = true;
                    }
                    ValueKind::Put => {
                        if !(skipping && user <= self.saved_key.as_slice()) {
                            self.valid = true;
                            return;
                        }
                    }
                }
            }
            self.inner.next();
        }
        self.invalidate();
    }

    /// Moves backward to the newest visible version of the previous user key that has one.
    fn find_prev_user_entry(&mut self) {
        let mut last_kind = ValueKind::Delete;
        while self.inner.valid() {
            let Some((user, seq, kind)) = parse(self.inner.key()) else {
                self.note_corruption();
                last_kind = ValueKind::Delete;
                break;
            };
            if self.below_lower(user) {
                break;
            }
            if seq <= self.read_seq && !self.above_upper(user) {
                if last_kind != ValueKind::Delete && user < self.saved_key.as_slice() {
                    // A value of a smaller user key: the key in `saved_key` is complete.
                    break;
                }
                last_kind = kind;
                match kind {
                    ValueKind::Delete => {
                        self.saved_key.clear();
                        self.saved_value = Bytes::new();
                    }
                    ValueKind::Put => {
                        self.saved_key.clear();
                        self.saved_key.extend_from_slice(user);
                        self.saved_value = self.inner.value_bytes();
                    }
                }
            }
            self.inner.prev();
        }
        // A child that failed mid-key may have hidden a newer version: show nothing.
        let failed = self.corruption.is_some() || (!self.inner.valid() && self.inner.status().is_err());
        if last_kind == ValueKind::Delete || failed {
            self.invalidate();
            self.direction = Direction::Forward;
        } else {
            self.valid = true;
        }
    }
}
