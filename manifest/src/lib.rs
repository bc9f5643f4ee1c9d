//! Strata's manifest: version edits, versions, the `MANIFEST-NNNNNN` log, `CURRENT` and
//! rollover.
//!
//! - [`VersionEdit`] ([`edit`]): one change to the set of tables and counters, with a tagged,
//!   extensible encoding whose tags live in [`format`] and are documented in
//!   `docs/format/manifest.md`.
//! - [`Version`] ([`version`]): an immutable set of tables per level per column family.
//! - [`VersionSet`] ([`version_set`]): the current version, the counters, and the manifest every
//!   edit is logged to before it takes effect.
//! - [`write_manifest`], [`set_current`], [`snapshot_edit`] ([`manifest`]): the pieces a
//!   checkpoint uses to give a copy a fresh manifest.
//! - [`DbId`] ([`identity`]): the database identity every manifest records.
//! - [`filename`]: file names and the pure choice of obsolete files.
//!
//! Invariants: see each module. Nothing read from disk is trusted: every decoder returns
//! `Corruption` naming the file and offset rather than panicking.
//!
//! Thread safety: [`Version`]s are immutable and shared with `Arc`; a [`VersionSet`] is owned by
//! one thread at a time (the engine keeps it under its mutex).

pub mod edit;
pub mod error;
pub mod filename;
pub mod format;
#[doc(hidden)]
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod identity;
pub mod locate;
mod log;
pub mod manifest;
pub mod version;
pub mod version_set;

pub use edit::{CfAdd, DeletedFile, NewFile, VersionEdit};
pub use error::{DecodeError, Error, Result};
pub use filename::{
    FileKind, LiveState, log_file_name, manifest_file_name, obsolete_files, parse_file_name, table_file_name,
    temp_file_name,
};
pub use format::NUM_LEVELS;
pub use identity::DbId;
pub use locate::{ManifestRecovery, ManifestSource, live_manifest_number};
pub use manifest::{read_current, set_current, snapshot_edit, write_current_unpublished, write_manifest};
pub use version::{CfVersion, FileMeta, Version};
pub use version_set::{VersionSet, VersionSetOptions};
// The typed ids every signature here uses, so a user of this crate alone can name them.
pub use strata_base::{CfId, FileNumber};
