//! Strata: a pure-Rust LSM-tree storage engine with cheap, consistent, openable checkpoints.
//!
//! ```no_run
//! use strata::{Db, Options, WriteBatch, WriteOptions};
//! # fn main() -> strata::Result<()> {
//! let db = Db::open("/tmp/strata-doc", Options::default())?;
//! db.put(b"k", b"v")?;
//! assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
//! let cf = db.create_cf("meta")?;
//! let mut batch = WriteBatch::new();
//! batch.put(b"a", b"1");
//! batch.put_cf(&cf, b"b", b"2");
//! db.write(batch, &WriteOptions { sync: true, ..Default::default() })?;
//! # Ok(()) }
//! ```
//!
//! Layout: `db.rs` (the public `Db`), `open/` (the recovery rules, WAL replay, the open's
//! report), `state.rs` (the engine's parts and their locks; the order in `lock_order.rs`),
//! `write.rs` (group commit), `flush.rs`, `compaction/` (picker, entry filter, running),
//! `memtable.rs`, `iter/` (every iterator: merging, levels, the user-facing cursor),
//! `files/` (live files, obsolete files), `output.rs` (a table being written), `ingest/`
//! (SST files as a public format and ingestion of external tables).

pub mod batch;
pub mod cf;
#[doc(hidden)] // Public only for the picker simulator (engine/tests/compaction_picker_sim.rs).
pub mod compaction;
mod db;
pub mod error;
mod files;
mod flush;
#[doc(hidden)]
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ingest;
#[doc(hidden)] // Public only for the memtable bench's merged scans (benches/benches/memtable.rs).
pub mod iter;
mod lock_order;
#[doc(hidden)] // Public only for the memtable bench (benches/benches/memtable.rs).
pub mod memtable;
mod open;
mod options;
mod output;
mod properties;
mod snapshot;
mod state;
mod stats;
mod table_cache;
pub mod wal_header;
mod write;

/// Whitebox kill points of crash tests (`kill_point`, `KILL_POINTS`): empty unless the
/// `kill-points` feature is on.
pub use strata_base::testing;

pub use batch::WriteBatch;
pub use bytes::Bytes;
pub use cf::ColumnFamily;
pub use db::Db;
pub use error::{Error, Result};
pub use files::{LiveFiles, LiveTable, LiveWal};
pub use ingest::{
    ExternalFileInfo, ImportFile, ImportOptions, IngestOptions, IngestResult, IngestSpec, IngestedFile, SstFileReader,
    SstFileWriter, SstRawIterator,
};
pub use iter::{DbIterator, RangeIter};
pub use open::{RecoveryReport, WalHistoryCut};
pub use options::{Compression, Options, ReadOptions, RecoveryMode, WriteOptions};
pub use snapshot::Snapshot;
pub use strata_base::{CfId, FileNumber, FileSystem, RealFs, SimFs, ikey::SeqNo};
pub use strata_manifest::DbId;
pub use strata_sst::{EntryKind, Properties as TableProperties};
