//! Blocks: sorted entries with shared-prefix key compression and restart points.
//!
//! The layout of a block's entries and restart array is in `docs/format/sst.md` ("Data block
//! contents"). Every `restart_interval`-th entry is a restart point: it stores its key whole and its offset
//! is listed in the restart array, so a seek can binary-search the restart points and then scan
//! at most one interval.
//!
//! Invariants: a [`BlockIter`] accepts any bytes. [`BlockIter::new`] checks the restart array
//! (at least one point, the first at 0, strictly increasing, all inside the entry region, and a
//! non-empty entry region); every entry is decoded with checked reads; a malformed entry makes
//! the iterator invalid and returns a [`BlockCorrupt`].
//!
//! Thread safety: a `BlockIter` has one owner; the block's bytes (`Bytes`) are shared.

mod builder;
mod iter;
mod point;

pub(crate) use builder::BlockBuilder;
pub(crate) use iter::{Block, BlockIter};
pub(crate) use point::IndexEntries;
