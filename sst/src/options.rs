//! Options of the writer ([`TableOptions`]) and of the reader ([`TableReadOptions`]).
//!
//! Invariants: [`TableOptions::validate`] is called by the builder before it creates a file.
//!
//! Thread safety: plain data plus shared `Arc`s.

use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::format::{BLOCK_SIZE_MAX, BLOOM_BITS_PER_KEY_MAX, RESTART_INTERVAL_MAX};
use std::sync::Arc;
use strata_base::{BytewiseComparator, Comparator};

/// How the blocks of a table are compressed. Chosen per table; a block that does not shrink by
/// at least 1/8 is stored raw anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    /// zstd at `level` (zstd's range, e.g. 1..=22; 0 means zstd's default, 3).
    Zstd { level: i32 },
}

/// How a table is written.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Target size of a data block's contents before compression (bytes). A block is closed as
    /// soon as it reaches this size, so blocks are slightly larger.
    pub block_size: usize,
    /// Every `restart_interval`-th entry of a data block stores its key whole.
    pub restart_interval: usize,
    pub compression: Compression,
    /// Bloom filter bits per key; 0 writes no filter.
    pub bloom_bits_per_key: u32,
    /// The key order. Its name is stored in the table and checked on open.
    pub comparator: Arc<dyn Comparator>,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::None,
            bloom_bits_per_key: 10,
            comparator: Arc::new(BytewiseComparator),
        }
    }
}

impl TableOptions {
    /// Rejects options the format cannot store.
    pub fn validate(&self) -> Result<()> {
        if self.block_size == 0 || self.block_size > BLOCK_SIZE_MAX {
            return Err(Error::InvalidArgument(format!(
                "block_size {} is outside 1..={BLOCK_SIZE_MAX}",
                self.block_size
            )));
        }
        if self.restart_interval == 0 || self.restart_interval > RESTART_INTERVAL_MAX {
            return Err(Error::InvalidArgument(format!(
                "restart_interval {} is outside 1..={RESTART_INTERVAL_MAX}",
                self.restart_interval
            )));
        }
        if self.bloom_bits_per_key > BLOOM_BITS_PER_KEY_MAX {
            return Err(Error::InvalidArgument(format!(
                "bloom_bits_per_key {} is above {BLOOM_BITS_PER_KEY_MAX}",
                self.bloom_bits_per_key
            )));
        }
        if let Compression::Zstd { level } = self.compression {
            let range = zstd::compression_level_range();
            if level != 0 && !range.contains(&level) {
                return Err(Error::InvalidArgument(format!("zstd level {level} is outside {range:?}")));
            }
        }
        Ok(())
    }
}

/// How a table is read.
#[derive(Debug, Clone)]
pub struct TableReadOptions {
    /// Must have the name stored in the table.
    pub comparator: Arc<dyn Comparator>,
    /// A block cache shared between tables, or none.
    pub cache: Option<Arc<BlockCache>>,
    /// This table's id in the cache (the engine uses the file number); ids must be unique
    /// among the tables sharing a cache.
    pub cache_id: u64,
    /// Check the CRC of every data block read. Footer, index, filter and properties are
    /// always checked on open.
    pub verify_checksums: bool,
}

impl Default for TableReadOptions {
    fn default() -> Self {
        Self { comparator: Arc::new(BytewiseComparator), cache: None, cache_id: 0, verify_checksums: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_issue() {
        let o = TableOptions::default();
        assert_eq!((o.block_size, o.restart_interval, o.bloom_bits_per_key), (4096, 16, 10));
        assert_eq!(o.compression, Compression::None);
        assert_eq!(o.comparator.name(), BytewiseComparator::NAME);
        o.validate().unwrap();
        assert!(TableReadOptions::default().verify_checksums);
    }

    #[test]
    fn validate_rejects_out_of_range() {
        for o in [
            TableOptions { block_size: 0, ..Default::default() },
            TableOptions { restart_interval: 0, ..Default::default() },
            TableOptions { bloom_bits_per_key: 1000, ..Default::default() },
            TableOptions { compression: Compression::Zstd { level: 1000 }, ..Default::default() },
        ] {
            assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))), "{o:?}");
        }
    }
}
