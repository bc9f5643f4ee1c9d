//! [`MergingIterator`]: merges several [`InternalIterator`]s into one in internal-key order,
//! forward and backward.
//!
//! The current entry is found by a linear scan over the children (LevelDB's choice): with the
//! 2-10 children a read usually merges (memtables plus L0 tables plus one per level), a scan
//! of a few keys beats the bookkeeping of a heap.
//!
//! Invariants: in the forward direction every valid child is positioned at its first entry
//! `>= key()` (the current child exactly at `key()`); in the reverse direction every valid child
//! is at its last entry `<= key()`. Changing direction repositions every other child relative to
//! the current key to restore that (LevelDB's MergingIterator). When a child fails, the merge
//! becomes invalid and `status()` reports the child's error.
//!
//! Thread safety: `Send`, not shared.

use super::{InternalIterator, compare_ikey};
use crate::error::{Error, Result};
use bytes::Bytes;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// Merges children in internal-key order. Equal keys in several children (which the engine
/// never produces: sequence numbers are unique) are all visited going forward from a seek.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    direction: Direction,
    /// The current key, copied when changing direction (reused, so no allocation per step).
    key_buf: Vec<u8>,
    error: Option<Error>,
}

impl std::fmt::Debug for MergingIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergingIterator")
            .field("children", &self.children.len())
            .field("current", &self.current)
            .field("direction", &self.direction)
            .finish()
    }
}

impl MergingIterator {
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        Self { children, current: None, direction: Direction::Forward, key_buf: Vec::new(), error: None }
    }

    /// Records the first failing child's error; true if any child failed.
    fn check_children(&mut self) -> bool {
        if self.error.is_some() {
            return true;
        }
        for c in &self.children {
            if !c.valid()
                && let Err(e) = c.status()
            {
                self.error = Some(e);
                return true;
            }
        }
        false
    }

    fn find_smallest(&mut self) {
        self.current = None;
        if self.check_children() {
            return;
        }
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_ikey(c.key(), self.children[b].key()) != Ordering::Less => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn find_largest(&mut self) {
        self.current = None;
        if self.check_children() {
            return;
        }
        let mut best: Option<usize> = None;
        // Scan from the back so that on ties the reverse order mirrors the forward one.
        for (i, c) in self.children.iter().enumerate().rev() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_ikey(c.key(), self.children[b].key()) != Ordering::Greater => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn current_child(&self) -> Option<&dyn InternalIterator> {
        self.current.and_then(|i| self.children.get(i)).map(|c| &**c)
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) {
        self.children.iter_mut().for_each(|c| c.seek_to_first());
        self.direction = Direction::Forward;
        self.find_smallest();
    }

    fn seek_to_last(&mut self) {
        self.children.iter_mut().for_each(|c| c.seek_to_last());
        self.direction = Direction::Reverse;
        self.find_largest();
    }

    fn seek(&mut self, ikey: &[u8]) {
        self.children.iter_mut().for_each(|c| c.seek(ikey));
        self.direction = Direction::Forward;
        self.find_smallest();
    }

    fn seek_for_prev(&mut self, ikey: &[u8]) {
        self.children.iter_mut().for_each(|c| c.seek_for_prev(ikey));
        self.direction = Direction::Reverse;
        self.find_largest();
    }

    fn next(&mut self) {
        let Some(cur) = self.current else { return };
        if self.direction != Direction::Forward {
            // Every other child is at its last entry <= key(): move each to its first entry
            // > key().
            self.key_buf.clear();
            self.key_buf.extend_from_slice(self.children[cur].key());
            for (i, c) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                c.seek(&self.key_buf);
                if c.valid() && compare_ikey(c.key(), &self.key_buf) == Ordering::Equal {
                    c.next();
                }
            }
            self.direction = Direction::Forward;
        }
        self.children[cur].next();
        self.find_smallest();
    }

    fn prev(&mut self) {
        let Some(cur) = self.current else { return };
        if self.direction != Direction::Reverse {
            // Every other child is at its first entry >= key(): move each to its last entry
            // < key().
            self.key_buf.clear();
            self.key_buf.extend_from_slice(self.children[cur].key());
            for (i, c) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                c.seek_for_prev(&self.key_buf);
                if c.valid() && compare_ikey(c.key(), &self.key_buf) == Ordering::Equal {
                    c.prev();
                }
            }
            self.direction = Direction::Reverse;
        }
        self.children[cur].prev();
        self.find_largest();
    }

    fn key(&self) -> &[u8] {
        self.current_child().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current_child().map_or(&[], |c| c.value())
    }

    fn value_bytes(&self) -> Bytes {
        self.current_child().map_or_else(Bytes::new, |c| c.value_bytes())
    }

    fn status(&self) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.duplicate());
        }
        for c in &self.children {
            c.status()?;
        }
        Ok(())
    }
    fn location(&self) -> Option<(std::path::PathBuf, u64)> {
        self.current.and_then(|i| self.children.get(i)).and_then(|c| c.location())
    }
}
