//! Checkpoints and snapshot repositories.
//!
//! - [`Checkpoint`] (`create.rs`): a consistent, point-in-time copy of a running database in a
//!   new directory that opens as a database of its own (read-only or read-write).
//! - [`repo`]: snapshot repositories: named, durable snapshots of one or more databases that
//!   share unchanged tables, with a Delta-style metadata log (`docs/repository.md`).
//! - [`store`]: the storage trait repositories live on, its local backend and (feature `s3`)
//!   its object-store backend.
//!
//! ```no_run
//! # fn main() -> strata::Result<()> {
//! let db = strata::Db::open("/tmp/src-db", strata::Options::default())?;
//! let info = strata_checkpoint::Checkpoint::new(&db).create("/tmp/src-db-checkpoint")?;
//! let copy = strata::Db::open_read_only("/tmp/src-db-checkpoint", strata::Options::default())?;
//! assert!(copy.sequence() == info.sequence);
//! # Ok(()) }
//! ```
//!
//! The steps of a checkpoint, and why each is there, are in `docs/checkpoint.md`. In short: pin
//! the state (`Db::live_files`), build in a temporary sibling directory, hard-link the tables
//! (copy when linking is impossible or asked for), copy the WAL prefix when not flushing, write
//! a fresh manifest describing exactly the pinned state (with a new database identity recording
//! the source's), hard-link the source's `CURRENT` (a read-write source) or write a fresh one,
//! fsync, rename into place, fsync the parent.
//!
//! Invariants: a crash at any instant leaves either no `dir` at all or a whole checkpoint; the
//! source is never modified (tables are only linked or read, the live WAL only read).
//!
//! Savepoints (`savepoint/`): a canonical, self-contained format of the key/value state,
//! restorable under other options, with families renamed or left out and one key range only;
//! and claim modes for opening a checkpoint as a live database. See `docs/savepoints.md`.
//!
//! Thread safety: `create` may run while other threads read and write the source database.

mod create;
mod paths;
pub mod repo;
pub mod savepoint;
pub mod store;

pub use create::{Checkpoint, CheckpointInfo, CheckpointOptions};
pub use repo::{ImportInfo, ImportMode, ImportOptions, Repository, SnapshotId, SnapshotInfo, SnapshotOptions, import};
pub use savepoint::{
    ClaimMode, FamilyInfo, KeyRange, RestoreMethod, Savepoint, SavepointInfo, SavepointOptions, SavepointProgress,
    SavepointRestoreInfo, SavepointRestoreOptions, open_checkpoint,
};
#[cfg(feature = "s3")]
pub use store::StoreOptions;
