//! The side-by-side comparison behind the `compare` binary: one adapter per storage engine
//! behind the small [`Engine`] trait, the db_bench-style workloads run on each, and the report
//! (Markdown table, JSON, SVG bar chart).
//!
//! Strata's adapter is always built; the RocksDB, fjall, sled and redb adapters only with the
//! `peers` cargo feature (`pure-peers`: fjall, sled and redb without RocksDB's C++ build), so
//! the workspace's test and clippy commands never compile them.
//!
//! Invariants: every engine is opened with the same block-cache budget; an adapter only uses
//! its engine's public API, configured as that engine's documentation recommends, and states
//! its settings in [`EngineKind::settings`].
//!
//! Thread safety: adapters are `Send + Sync`; the multi-threaded workloads share one adapter
//! by reference.

mod engines;
pub mod memory;
#[cfg(feature = "pure-peers")]
mod peers;
pub mod report;
pub mod workloads;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

pub use workloads::{Cell, Config, Workload};

/// Errors from any engine, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Results of adapter calls.
pub type Res<T> = Result<T, BoxError>;

/// How an engine made a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointHow {
    /// The engine's own checkpoint (hard links where possible).
    Native,
    /// The engine has none: its directory was copied after a flush.
    CopiedDirectory,
}

/// Strata's table compression in a run (`--strata-compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrataCompression {
    /// `Options::default()` as shipped.
    #[default]
    Default,
    /// No compression at any level.
    None,
    /// zstd (level 3) at every level.
    Zstd,
    /// None above the bottom level, zstd (level 3) for bottommost compaction outputs.
    ZstdBottom,
}

impl StrataCompression {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "default" => Some(Self::Default),
            "none" => Some(Self::None),
            "zstd" => Some(Self::Zstd),
            "zstd-bottom" => Some(Self::ZstdBottom),
            _ => None,
        }
    }
}

/// What every engine is opened with.
#[derive(Debug, Clone, Copy)]
pub struct OpenCfg {
    /// The block (or page) cache, bytes.
    pub cache_bytes: usize,
    /// Strata's compression (the peers keep their recommended settings).
    pub strata_compression: StrataCompression,
}

/// What the workloads need from an engine.
pub trait Engine: Send + Sync {
    /// Writes one key; `sync` asks for durability before returning (fsync or equivalent).
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Res<()>;
    /// Writes the pairs atomically (one batch or transaction).
    fn write_batch(&self, items: &[(Vec<u8>, Vec<u8>)], sync: bool) -> Res<()>;
    /// The length of the value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Res<Option<usize>>;
    /// Visits up to `limit` entries in key order from the first key `>= start`; returns
    /// (entries visited, key + value bytes visited).
    fn scan(&self, start: &[u8], limit: usize) -> Res<(u64, u64)>;
    /// Makes everything written so far durable in the engine's files (memtables flushed,
    /// journals synced).
    fn flush(&self) -> Res<()>;
    /// Makes a consistent copy of the database in `dir` (which does not exist yet).
    fn checkpoint(&self, dir: &Path) -> Res<CheckpointHow>;
    /// Closes the database cleanly.
    fn close(self: Box<Self>) -> Res<()>;
    /// Writes `items` (keys strictly increasing) into a new external table at `path` with the
    /// engine's own SST writer; `Ok(false)` (and no file) if the engine has none.
    fn write_external(&self, path: &Path, items: &mut dyn Iterator<Item = (Vec<u8>, &[u8])>) -> Res<bool> {
        let _ = (path, items);
        Ok(false)
    }
    /// Ingests the tables written by `write_external`, moving (hard-linking) them in.
    fn ingest(&self, paths: &[PathBuf]) -> Res<()> {
        let _ = paths;
        Err("this engine cannot ingest external tables".into())
    }
    /// Compacts the whole key space of the default keyspace (a manual full compaction).
    fn compact_all(&self) -> Res<()> {
        Err("this engine has no manual compaction".into())
    }
}

/// The engines the comparison knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Strata,
    RocksDb,
    Fjall,
    Sled,
    Redb,
}

impl EngineKind {
    pub const ALL: [EngineKind; 5] =
        [EngineKind::Strata, EngineKind::RocksDb, EngineKind::Fjall, EngineKind::Sled, EngineKind::Redb];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Strata => "strata",
            EngineKind::RocksDb => "rocksdb",
            EngineKind::Fjall => "fjall",
            EngineKind::Sled => "sled",
            EngineKind::Redb => "redb",
        }
    }

    pub fn parse(s: &str) -> Option<EngineKind> {
        Self::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this build has the adapter (RocksDB needs the `peers` feature, fjall, sled and
    /// redb `pure-peers`, which `peers` includes).
    pub fn available(self) -> bool {
        match self {
            EngineKind::Strata => true,
            EngineKind::RocksDb => cfg!(feature = "peers"),
            EngineKind::Fjall | EngineKind::Sled | EngineKind::Redb => cfg!(feature = "pure-peers"),
        }
    }

    /// The settings the adapter opens the engine with, for the report.
    pub fn settings(self, cfg: &OpenCfg) -> String {
        let mib = cfg.cache_bytes >> 20;
        match self {
            EngineKind::Strata => engines::strata_settings(mib, cfg.strata_compression),
            #[cfg(feature = "pure-peers")]
            other => peers::settings(other, mib),
            #[cfg(not(feature = "pure-peers"))]
            _ => "not built (needs --features peers)".into(),
        }
    }

    /// The crate version of the engine, for the report.
    pub fn version(self) -> &'static str {
        match self {
            EngineKind::Strata => env!("CARGO_PKG_VERSION"),
            #[cfg(feature = "pure-peers")]
            other => peers::version(other),
            #[cfg(not(feature = "pure-peers"))]
            _ => "-",
        }
    }

    /// Opens (creating) the engine's database in `dir` as `cfg` says.
    pub fn open(self, dir: &Path, cfg: &OpenCfg) -> Res<Box<dyn Engine>> {
        match self {
            EngineKind::Strata => engines::open_strata(dir, cfg),
            #[cfg(feature = "pure-peers")]
            other => peers::open(other, dir, cfg),
            #[cfg(not(feature = "pure-peers"))]
            other => Err(format!("{} is not built: rebuild with --features peers", other.name()).into()),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Copies the directory tree `src` to `dst` (for engines without a checkpoint).
pub fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(dst)?;
    let mut bytes = 0;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        let ty = e.file_type()?;
        if ty.is_dir() {
            bytes += copy_dir(&e.path(), &to)?;
        } else if ty.is_file() {
            bytes += std::fs::copy(e.path(), &to)?;
        }
    }
    let f = std::fs::File::open(dst)?;
    f.sync_all()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_round_trip() {
        for k in EngineKind::ALL {
            assert_eq!(EngineKind::parse(k.name()), Some(k));
        }
        assert_eq!(EngineKind::parse("RocksDB"), Some(EngineKind::RocksDb));
        assert_eq!(EngineKind::parse("leveldb"), None);
        assert!(EngineKind::Strata.available());
    }

    #[test]
    fn strata_adapter_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = OpenCfg { cache_bytes: 1 << 20, strata_compression: StrataCompression::Default };
        let e = EngineKind::Strata.open(&dir.path().join("db"), &cfg).unwrap();
        e.put(b"b", b"22", false).unwrap();
        e.write_batch(&[(b"a".to_vec(), b"1".to_vec()), (b"c".to_vec(), b"333".to_vec())], true).unwrap();
        assert_eq!(e.get(b"c").unwrap(), Some(3));
        assert_eq!(e.get(b"z").unwrap(), None);
        assert_eq!(e.scan(b"b", 10).unwrap(), (2, 7));
        assert_eq!(e.scan(b"", 1).unwrap(), (1, 2));
        e.flush().unwrap();
        assert_eq!(e.checkpoint(&dir.path().join("cp")).unwrap(), CheckpointHow::Native);
        e.close().unwrap();
        let cp = EngineKind::Strata.open(&dir.path().join("cp"), &cfg).unwrap();
        assert_eq!(cp.scan(b"", usize::MAX).unwrap(), (3, 9));
        cp.close().unwrap();
    }

    #[test]
    fn copy_dir_copies_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a"), b"hello").unwrap();
        std::fs::write(src.join("sub/b"), b"xy").unwrap();
        assert_eq!(copy_dir(&src, &dir.path().join("dst")).unwrap(), 7);
        assert_eq!(std::fs::read(dir.path().join("dst/sub/b")).unwrap(), b"xy");
    }
}
