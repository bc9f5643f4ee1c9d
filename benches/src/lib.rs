//! Shared helpers for Strata's benchmarks: key generation, latency histograms and disk
//! accounting. (The binaries parse their flags with `clap`.)
//!
//! Invariants: a [`Histogram`] keeps latencies to 3 significant figures in bounded memory,
//! whatever the number of samples.
//!
//! Thread safety: plain values; each thread records into its own histogram and they are merged.

pub mod compare;
pub mod instructions;
pub mod phases;
pub mod values;

pub use values::{ValueGen, ValueKind};

use std::path::Path;
use std::time::Duration;

/// Fixed-size keys: a zero-padded decimal number, so numeric order is key order.
#[derive(Debug, Clone)]
pub struct KeyGen {
    key_size: usize,
    num: u64,
}

impl KeyGen {
    pub fn new(key_size: usize, num: u64) -> Self {
        Self { key_size: key_size.max(8), num: num.max(1) }
    }

    pub fn key_size(&self) -> usize {
        self.key_size
    }

    pub fn key(&self, i: u64) -> Vec<u8> {
        format!("{i:0width$}", width = self.key_size).into_bytes()
    }

    /// A pseudo-random key in `[0, num)` for step `i` (a fixed permutation-like mix).
    pub fn random_key(&self, i: u64) -> Vec<u8> {
        self.key(mix(i) % self.num)
    }
}

/// SplitMix64.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 16-byte key unique to `i`, in scattered order: `mix(i)` then `i`, big-endian.
pub fn scattered_key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mix(i).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Latency samples in nanoseconds, kept by an HDR histogram (3 significant figures, so memory
/// does not grow with the number of samples).
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: hdrhistogram::Histogram<u64>,
}

/// Significant figures the latency histograms keep (0.1 % relative error).
const HISTOGRAM_SIGFIG: u8 = 3;

impl Default for Histogram {
    #[expect(clippy::expect_used, reason = "3 significant figures is within hdrhistogram's valid 0..=5")]
    fn default() -> Self {
        Self { inner: hdrhistogram::Histogram::new(HISTOGRAM_SIGFIG).expect("valid precision") }
    }
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // The histogram grows its range as needed; only a value past every range saturates.
        if self.inner.record(ns).is_err() {
            self.inner.saturating_record(ns);
        }
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), String> {
        self.inner.add(&other.inner).map_err(|e| format!("merging latency histograms: {e}"))
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Number of samples recorded.
    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    /// The `p`th percentile in microseconds (0 when empty).
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.inner.is_empty() {
            return 0.0;
        }
        self.inner.value_at_quantile(p / 100.0) as f64 / 1000.0
    }
}

/// Bytes this process has caused to reach storage: `/proc/self/io` `write_bytes` (pages it
/// dirtied) minus `cancelled_write_bytes` (dirty pages it truncated or deleted before they were
/// written back, e.g. a WAL deleted after its memtable was flushed, never synced).
pub fn proc_write_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok())
    };
    Some(field("write_bytes: ")?.saturating_sub(field("cancelled_write_bytes: ").unwrap_or(0)))
}

/// Total size of the files under `dir`: per file the smaller of its length and its allocated
/// blocks, so preallocation counts for no engine (a sparse `set_len` tail has a length but no
/// blocks; `fallocate(KEEP_SIZE)` has blocks past the length).
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len().min(m.blocks() * 512),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = KeyGen::new(16, 100);
        assert_eq!(k.key(42).len(), 16);
        assert!(k.key(1) < k.key(2));
        assert!(k.random_key(5) < k.key(100));
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        for i in 1..=1000u64 {
            h.record(Duration::from_nanos(i * 1000));
        }
        assert!((h.percentile_us(50.0) - 500.0).abs() <= 1.0);
        assert!((h.percentile_us(99.0) - 990.0).abs() <= 1.0);
        let mut other = Histogram::default();
        other.record(Duration::from_secs(2));
        h.merge(&other).unwrap();
        assert_eq!(h.len(), 1001);
        assert!((h.percentile_us(100.0) - 2e6).abs() <= 2e6 * 1e-3);
        assert_eq!(Histogram::default().percentile_us(50.0), 0.0);
    }
}
