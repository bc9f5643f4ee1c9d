//! Shared helpers for Strata's benchmarks: argument parsing, key generation, latency
//! histograms and disk accounting.

pub mod compare;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// `--name value` and `--name=value` arguments.
#[derive(Debug, Default)]
pub struct Args {
    map: HashMap<String, String>,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut it = args.into_iter().peekable();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else { return Err(format!("unexpected argument {a:?}")) };
            if let Some((k, v)) = name.split_once('=') {
                map.insert(k.to_string(), v.to_string());
            } else if it.peek().is_some_and(|n| !n.starts_with("--")) {
                let v = it.next().unwrap_or_default();
                map.insert(name.to_string(), v);
            } else {
                map.insert(name.to_string(), "true".into());
            }
        }
        Ok(Self { map })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }
}

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

/// Latency samples in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    samples: Vec<u64>,
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        self.samples.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        self.samples.extend_from_slice(&other.samples);
    }

    /// Sorts the samples once, so that the percentiles read afterwards need no copy.
    pub fn sort(&mut self) {
        self.samples.sort_unstable();
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `p`th percentile in microseconds (0 when empty).
    pub fn percentile_us(&self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let copy;
        let s = if self.samples.is_sorted() {
            &self.samples
        } else {
            let mut c = self.samples.clone();
            c.sort_unstable();
            copy = c;
            &copy
        };
        let idx = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
        s[idx.min(s.len() - 1)] as f64 / 1000.0
    }
}

/// Bytes this process has caused to be written to storage (`/proc/self/io` `write_bytes`).
pub fn proc_write_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    s.lines().find_map(|l| l.strip_prefix("write_bytes: ")).and_then(|v| v.trim().parse().ok())
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_keys() {
        let a = Args::parse(["--num", "10", "--x=y", "--flag"].map(String::from)).unwrap();
        assert_eq!(a.get("num"), Some("10"));
        assert_eq!(a.get("x"), Some("y"));
        assert_eq!(a.get("flag"), Some("true"));
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
    }
}
