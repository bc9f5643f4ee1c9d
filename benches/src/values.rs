//! Value generators for the benchmarks: incompressible random bytes, or db_bench's
//! "compressible" values (each 100-byte piece is a random printable string of half that length
//! repeated, so a general-purpose codec halves it, as db_bench's `--compression_ratio 0.5`).
//!
//! Invariants: values are deterministic functions of (kind, size, index); every value has
//! exactly `size` bytes; consecutive indices give different values (a window sliding over a
//! 1 MiB pool, as db_bench's `RandomGenerator`).
//!
//! Thread safety: a [`ValueGen`] is immutable after construction and `Sync`.

use crate::mix;

/// What the values look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueKind {
    /// Uniformly random bytes: no codec can shrink them.
    #[default]
    Random,
    /// About half compressible (db_bench's default `--compression_ratio 0.5`).
    Compressible,
}

impl ValueKind {
    pub fn parse(s: &str) -> Option<ValueKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "random" => Some(ValueKind::Random),
            "compressible" => Some(ValueKind::Compressible),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Random => "random",
            ValueKind::Compressible => "compressible",
        }
    }
}

/// Bytes in the pool the values are cut from (db_bench uses 1 MiB).
const POOL: usize = 1 << 20;
/// Length of one compressible piece (db_bench: 100).
const PIECE: usize = 100;

/// Cuts values of one size from a fixed pool.
#[derive(Debug, Clone)]
pub struct ValueGen {
    pool: Vec<u8>,
    size: usize,
}

impl ValueGen {
    pub fn new(kind: ValueKind, size: usize) -> Self {
        let len = POOL.max(size * 2);
        let mut pool = Vec::with_capacity(len + PIECE);
        let mut seed = 0x5eed_u64;
        let mut next = || {
            seed = seed.wrapping_add(1);
            mix(seed)
        };
        match kind {
            ValueKind::Random => {
                while pool.len() < len {
                    pool.extend_from_slice(&next().to_le_bytes());
                }
            }
            ValueKind::Compressible => {
                while pool.len() < len {
                    // Half the piece is random printable characters, repeated to fill it.
                    let raw: Vec<u8> = (0..PIECE / 2).map(|_| b' ' + (next() % 95) as u8).collect();
                    for i in 0..PIECE {
                        pool.push(raw[i % raw.len()]);
                    }
                }
            }
        }
        pool.truncate(len);
        Self { pool, size }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The value for index `i`.
    pub fn value(&self, i: u64) -> &[u8] {
        let span = (self.pool.len() - self.size) as u64;
        let at = if span == 0 { 0 } else { (mix(i ^ 0xa5a5) % span) as usize };
        &self.pool[at..at + self.size]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd_ratio(kind: ValueKind) -> f64 {
        let g = ValueGen::new(kind, 100);
        let raw: Vec<u8> = (0..4000u64).flat_map(|i| g.value(i).to_vec()).collect();
        let packed = zstd::bulk::compress(&raw, 3).unwrap();
        packed.len() as f64 / raw.len() as f64
    }

    #[test]
    fn sizes_and_determinism() {
        for kind in [ValueKind::Random, ValueKind::Compressible] {
            let g = ValueGen::new(kind, 100);
            assert_eq!(g.value(7).len(), 100);
            assert_eq!(g.value(7), ValueGen::new(kind, 100).value(7));
            assert_ne!(g.value(7), g.value(8));
            assert_eq!(ValueGen::new(kind, 3 << 20).value(1).len(), 3 << 20);
        }
        assert_eq!(ValueKind::parse("Compressible"), Some(ValueKind::Compressible));
        assert_eq!(ValueKind::parse("zeros"), None);
    }

    #[test]
    fn compressibility_matches_the_kind() {
        let r = zstd_ratio(ValueKind::Random);
        let c = zstd_ratio(ValueKind::Compressible);
        // 4000 windows of a 1 MiB pool overlap a little, so zstd finds some repeats even in random bytes.
        assert!(r > 0.85, "random values compressed to {r}");
        assert!((0.35..0.7).contains(&c), "compressible values compressed to {c}");
    }
}
