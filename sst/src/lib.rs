//! Strata's table (SST) format: an immutable file of sorted entries.
//!
//! A table is written once, front to back, by a [`TableBuilder`] and read by a [`Table`]:
//! point lookups ([`Table::get`], filter first), a cursor ([`TableIter`]) that moves both ways,
//! and [`Table::verify_checksums`]. Data blocks can be shared between tables through a
//! [`BlockCache`]. The byte-level format is `docs/format/sst.md`; every constant of it lives in
//! [`format`].
//!
//! Invariants: every byte read from a file is untrusted. A truncated, extended or bit-flipped
//! table yields [`Error::Corruption`] naming the file, the offset and the reason, never a
//! panic, an out-of-bounds read or an allocation sized by an unchecked length. Every byte of a
//! table is covered by a checksum or compared against a constant, so there is no slack space.
//!
//! Thread safety: [`Table`] and [`BlockCache`] are `Send + Sync` and shared with `Arc`;
//! [`TableBuilder`] and [`TableIter`] have one owner and are `Send`.

mod block;
mod builder;
mod cache;
mod codec;
mod error;
mod filter;
pub mod format;
#[doc(hidden)]
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod iter;
mod options;
mod properties;
mod table;

pub use builder::{TableBuilder, TableMeta};
pub use cache::{BlockCache, CacheReservation};
pub use error::{Error, Result};
pub use filter::hash64 as filter_hash;
pub use format::{KEY_LEN_MAX, VALUE_LEN_MAX};
pub use iter::TableIter;
pub use options::{Compression, TableOptions, TableReadOptions};
pub use properties::Properties;
pub use table::{PointEntry, Table};

/// The kind of an entry, shared with the engine: `Put` (1) or `Delete` (0, a tombstone).
pub use strata_base::ikey::ValueKind as EntryKind;
