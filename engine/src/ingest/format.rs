//! Names and values of the table user properties that describe an external table (one written
//! by [`SstFileWriter`](super::SstFileWriter)), shared by the writer, the reader and ingestion.
//!
//! An external table is an ordinary Strata table (docs/format/sst.md) whose every entry is at
//! sequence number 0; these properties say so and name the column family it was written for.
//! Tables written by a database carry `strata.cf_id`, `strata.smallest_seq` and
//! `strata.largest_seq` (see `output.rs`) and no `strata.external_sst_file.version`.
//!
//! Invariants: property names are never reused with another meaning.
//!
//! Thread safety: constants only.

/// Present (value `"1"`) in every table written by `SstFileWriter`.
pub const PROP_EXTERNAL_VERSION: &str = "strata.external_sst_file.version";
/// The only external-file version this code writes and reads.
pub const EXTERNAL_VERSION: &str = "1";
/// Column family id (decimal), written by `SstFileWriter::for_cf` and by the database.
pub const PROP_CF_ID: &str = "strata.cf_id";
/// Column family name (UTF-8), written by `SstFileWriter::for_cf`.
pub const PROP_CF_NAME: &str = "strata.cf_name";
/// Smallest and largest sequence number of the entries (decimal).
pub const PROP_SMALLEST_SEQ: &str = "strata.smallest_seq";
pub const PROP_LARGEST_SEQ: &str = "strata.largest_seq";
