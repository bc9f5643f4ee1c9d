//! Limits and fixed names that more than one crate checks, each defined once.
//!
//! The format crates and the engine import these rather than restating them; each crate ties its
//! own derived limits to these with `const` assertions (the table's key limit counts the internal
//! key's trailer, a write batch holding the largest op fits a WAL record, the manifest's string
//! bound holds the longest column-family name).
//!
//! Invariants: the const assertions below; the values never shrink once data has been written
//! with them (files written under a larger limit would stop opening).
//!
//! Thread safety: constants only.

use crate::ids::CfId;
use crate::ikey::TRAILER_LEN;

/// The longest user key a write accepts, in bytes.
pub const KEY_LEN_MAX: usize = 1 << 20;
/// The longest value a write accepts, in bytes.
pub const VALUE_LEN_MAX: usize = 64 << 20;
/// The longest internal key (the longest user key plus its trailer): the longest key the
/// engine stores in a memtable or a table.
pub const INTERNAL_KEY_LEN_MAX: usize = KEY_LEN_MAX + TRAILER_LEN;

/// Id of the column family every database has. DO NOT CHANGE: stored in WALs and manifests.
/// [`CfId::DEFAULT`] is this constant.
pub const DEFAULT_CF_ID: CfId = CfId::new(0);
/// Name of the column family every database has.
pub const DEFAULT_CF_NAME: &str = "default";
/// The longest column-family name, in bytes (names are 1 to this many bytes of UTF-8).
pub const CF_NAME_LEN_MAX: usize = 255;

// Lengths are stored as varint32 in blocks, batches and edits.
const _: () = assert!(INTERNAL_KEY_LEN_MAX <= u32::MAX as usize);
const _: () = assert!(VALUE_LEN_MAX <= u32::MAX as usize);
// The default id is the id a zeroed (`Default`) `CfId` holds.
const _: () = assert!(DEFAULT_CF_ID.get() == 0);
// The default name is itself a valid name.
const _: () = assert!(!DEFAULT_CF_NAME.is_empty());
const _: () = assert!(DEFAULT_CF_NAME.len() <= CF_NAME_LEN_MAX);
