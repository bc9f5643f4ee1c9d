//! SST files as a public format and ingestion of external tables.
//!
//! - [`writer`]: [`SstFileWriter`] builds a table outside any database (every entry at
//!   sequence number 0).
//! - [`reader`]: [`SstFileReader`] reads any table (external or written by a database).
//! - [`format`]: the user properties that mark a table as external.
//! - `file_iter`: reading an ingested table at its global sequence number.
//! - [`placement`]: the pure choice of level and sequence number for each ingested file.
//!
//! Invariants and thread safety: see each module.

pub(crate) mod file_iter;
pub mod format;
pub mod placement;
pub mod reader;
pub mod writer;

pub use reader::{SstFileReader, SstRawIterator};
pub use writer::{ExternalFileInfo, SstFileWriter};
