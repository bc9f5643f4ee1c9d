//! The table's filter: answers "certainly absent" or "maybe present" for a filter key before
//! the index is searched.
//!
//! Two kinds exist, chosen by the table's format version (`docs/format/sst.md`, "Filter
//! block"): version 1 tables carry one Bloom filter whose probes spread over the whole bit
//! array ([`whole`], read only), version 2 tables a cache-local Bloom filter whose probes for a
//! key all fall in one 64-byte line ([`local`], written by this build). Both hash keys with
//! [`hash64`].
//!
//! Invariants: decoding accepts any bytes and returns `Err` (never panics) when they are
//! malformed; a decoded filter never answers "absent" for a key that was added.
//!
//! Thread safety: decoded filters are immutable and shared.

mod hash;
mod kind;
pub(crate) mod local;
pub(crate) mod whole;

pub use hash::hash64;
pub(crate) use kind::{Filter, FilterKind};
