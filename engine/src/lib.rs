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
//! Layout: `db.rs` (the public `Db`), `open.rs` (recovery), `write.rs` (group commit),
//! `flush.rs`, `compact.rs` with `compaction/` (picker and entry filter), `memtable.rs`,
//! `iter/` (merging and user-level iterators), `level_iter.rs`, `live_files.rs`.

pub mod batch;
pub mod cf;
mod compact;
pub mod compaction;
mod db;
pub mod error;
mod files;
mod flush;
pub mod iter;
mod iterator;
mod level_iter;
mod live_files;
pub mod memtable;
mod open;
mod options;
mod output;
mod properties;
mod snapshot;
mod state;
mod stats;
mod table_cache;
mod write;

pub use batch::WriteBatch;
pub use bytes::Bytes;
pub use cf::ColumnFamily;
pub use db::Db;
pub use error::{Error, Result};
pub use iterator::{DbIterator, RangeIter};
pub use live_files::{LiveFiles, LiveTable, LiveWal};
pub use options::{Compression, Options, ReadOptions, RecoveryMode, WriteOptions};
pub use snapshot::Snapshot;
pub use strata_base::{FileSystem, RealFs, SimFs, ikey::SeqNo};
pub use strata_manifest::DbId;
