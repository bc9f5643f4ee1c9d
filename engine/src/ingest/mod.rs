//! SST files as a public format and ingestion of external tables.
//!
//! - [`writer`]: [`SstFileWriter`] builds a table outside any database (every entry at
//!   sequence number 0).
//! - [`reader`]: [`SstFileReader`] reads any table (external or written by a database).
//! - [`format`](mod@format): the user properties that mark a table as external.
//! - `file_iter`: reading an ingested table at its global sequence number.
//! - [`placement`]: the pure choice of level and sequence number for each ingested file.
//! - `prepare`: checking external files and staging them in the database directory.
//! - `job`: `Db::ingest_external_files(_multi)`: the commit (one manifest edit).
//! - `import`: `Db::import_column_family`: a new family from tables that keep their sequence
//!   numbers; `import_check`: the order checks on its tables (pure decisions, and the per-key
//!   read of pairs whose sequence ranges overlap).
//! - [`options`]: options and results.
//!
//! ```no_run
//! use strata::{Db, IngestOptions, Options, SstFileReader, SstFileWriter};
//! # fn main() -> strata::Result<()> {
//! let mut w = SstFileWriter::create("/tmp/bulk.sst", &Options::default())?;
//! w.put(b"a", b"1")?;
//! w.delete(b"b")?;
//! let info = w.finish()?;
//! SstFileReader::open(&info.path)?.verify_checksums()?;
//! let db = Db::open("/tmp/strata-ingest-doc", Options::default())?;
//! let r = db.ingest_external_files(&db.default_cf(), &[&info.path], &IngestOptions::default())?;
//! println!("level {} sequence {}", r.files[0].level, r.files[0].sequence);
//! # Ok(()) }
//! ```
//!
//! Invariants: an external table holds every entry at sequence 0; the sequence number it is
//! read at lives only in the manifest. Details in each module.
//!
//! Thread safety: see each module.

pub(crate) mod file_iter;
pub mod format;
mod import;
mod import_check;
mod job;
pub mod options;
pub mod placement;
mod prepare;
pub mod reader;
pub mod writer;

pub use options::{ImportFile, ImportOptions, IngestOptions, IngestResult, IngestSpec, IngestedFile};
pub use reader::{SstFileReader, SstRawIterator};
pub use writer::{ExternalFileInfo, SstFileWriter};
