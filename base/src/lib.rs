//! Shared building blocks of Strata.
//!
//! Everything the format crates (`strata-sst`, `strata-wal`, `strata-manifest`) and the engine
//! have in common lives here, and nothing else: the file-system trait every byte of I/O goes
//! through ([`fs`]), checked little-endian and varint coding ([`coding`]), checksums
//! ([`checksum`]), key comparators ([`comparator`]), internal keys ([`ikey`]), the typed file
//! numbers and column-family ids ([`ids`]), the gate between table syncs and a checkpoint's
//! syncs ([`io_gate`]), the limits several crates check ([`limits`]) and the
//! whitebox kill points of crash tests ([`testing`]).
//!
//! Invariants: decoders in [`coding`] never panic and never read out of bounds; they return
//! `None` on short input and let the caller turn that into a `Corruption` error naming the file.
//!
//! Thread safety: every trait object here is `Send + Sync` unless it is a writer, which is `Send`.

pub mod checksum;
pub mod coding;
pub mod comparator;
pub mod fs;
#[doc(hidden)]
pub mod fuzz_input;
pub mod ids;
pub mod ikey;
pub mod io_gate;
pub mod limits;
pub mod testing;

pub use comparator::{BytewiseComparator, Comparator};
pub use fs::{FileLock, FileSyncer, FileSystem, MemFile, RandomAccessFile, RealFs, SimFs, WritableFile};
pub use ids::{CfId, FileNumber};
pub use io_gate::{IoGate, IoGateGuard};
