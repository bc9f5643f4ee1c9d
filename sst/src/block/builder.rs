//! Builds the contents of one block. See the module docs of `block` for the layout.
//!
//! Invariants: keys are added in strictly increasing order (checked by the table builder, which
//! passes the previous key in); restart offsets fit in u32 because a block never exceeds
//! `BLOCK_LEN_MAX`.
//!
//! Thread safety: one owner.

use crate::format::{EntryLayout, RESTART_LEN};
use strata_base::coding::{put_fixed32, put_varint32};
use strata_base::ikey::ValueKind;

#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    /// Entries since the last restart point.
    counter: usize,
    restart_interval: usize,
    entries: usize,
    layout: EntryLayout,
}

impl BlockBuilder {
    pub fn new(restart_interval: usize, capacity: usize, layout: EntryLayout) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            restarts: Vec::with_capacity(capacity / 64 + 1),
            counter: 0,
            restart_interval: restart_interval.max(1),
            entries: 0,
            layout,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Size of the contents if [`finish`](Self::finish) were called now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + (self.restarts.len().max(1) + 1) * RESTART_LEN
    }

    /// Appends an entry. `prev_key` is the key of the previous entry of this block (ignored at a
    /// restart point). Lengths must be below `BLOCK_LEN_MAX` (checked by the table builder).
    pub fn add(&mut self, prev_key: &[u8], key: &[u8], kind: ValueKind, value: &[u8]) {
        let shared = if self.counter < self.restart_interval && self.entries > 0 {
            prev_key.iter().zip(key).take_while(|(a, b)| a == b).count()
        } else {
            // INVARIANT: the block stays below BLOCK_LEN_MAX <= u32::MAX (format.rs asserts).
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let non_shared = key.len() - shared;
        // INVARIANT: key and value lengths are below KEY_LEN_MAX and VALUE_LEN_MAX, which fit u32.
        put_varint32(&mut self.buf, shared as u32);
        match self.layout {
            EntryLayout::KindByte => {
                put_varint32(&mut self.buf, non_shared as u32);
                put_varint32(&mut self.buf, value.len() as u32);
                self.buf.push(kind as u8);
            }
            EntryLayout::KindBit => {
                // INVARIANT: non_shared <= KEY_LEN_MAX < 2^31, so the shift keeps every bit.
                put_varint32(&mut self.buf, ((non_shared as u32) << 1) | (kind as u32 & 1));
                put_varint32(&mut self.buf, value.len() as u32);
            }
        }
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.counter += 1;
        self.entries += 1;
    }

    /// Appends the restart array and returns the contents. Call [`reset`](Self::reset) before
    /// adding again.
    pub fn finish(&mut self) -> &[u8] {
        if self.restarts.is_empty() {
            self.restarts.push(0);
        }
        for &r in &self.restarts {
            put_fixed32(&mut self.buf, r);
        }
        put_fixed32(&mut self.buf, self.restarts.len() as u32);
        &self.buf
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.entries = 0;
    }
}
