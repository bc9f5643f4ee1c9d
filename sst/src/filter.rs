//! The table's bloom filter: one filter over the filter keys of every entry.
//!
//! The bytes (bit array, then the probe count), which bits a key sets and `hash64` are defined
//! in `docs/format/sst.md` ("Filter block"); this file implements exactly that, and neither may
//! ever change without a new format version.
//!
//! Invariants: [`Bloom::decode`] rejects filters with no bits or a probe count outside
//! `1..=BLOOM_PROBES_MAX`; `may_contain` never reads out of bounds.
//!
//! Thread safety: a `Bloom` is immutable and shared.

use crate::format::BLOOM_PROBES_MAX;
use bytes::Bytes;

const P1: u64 = 0x9e37_79b9_7f4a_7c15;
const P2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const SEED: u64 = 0x5354_5241_5441_0001;

#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn step(h: u64, chunk: u64) -> u64 {
    (h ^ chunk.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

/// The filter hash. Stored filters depend on it: never change it.
pub fn hash64(data: &[u8]) -> u64 {
    let mut h = SEED ^ (data.len() as u64).wrapping_mul(P1);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = step(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(w));
    }
    fmix64(h)
}

/// Probes for `bits_per_key` (about `ln 2` times it, as LevelDB does).
pub fn probes_for(bits_per_key: u32) -> u8 {
    // bits_per_key <= BLOOM_BITS_PER_KEY_MAX, so the product fits.
    let k = (u64::from(bits_per_key) * 69 / 100).clamp(1, u64::from(BLOOM_PROBES_MAX));
    k as u8
}

#[inline]
fn bit_index(h: u64, nbits: u64) -> u64 {
    ((u128::from(h) * u128::from(nbits)) >> 64) as u64
}

/// Builds a filter over the given key hashes.
pub fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    let nbits = (hashes.len() as u64).saturating_mul(u64::from(bits_per_key)).max(64);
    let nbytes = nbits.div_ceil(8) as usize;
    let nbits = nbytes as u64 * 8;
    let probes = probes_for(bits_per_key);
    let mut out = vec![0u8; nbytes + 1];
    for &h0 in hashes {
        let delta = h0.rotate_right(17) | 1;
        let mut h = h0;
        for _ in 0..probes {
            let b = bit_index(h, nbits);
            // b < nbits = 8 * nbytes.
            if let Some(byte) = out.get_mut((b / 8) as usize) {
                *byte |= 1 << (b % 8);
            }
            h = h.wrapping_add(delta);
        }
    }
    if let Some(last) = out.last_mut() {
        *last = probes;
    }
    out
}

/// A decoded filter.
#[derive(Debug, Clone)]
pub struct Bloom {
    data: Bytes,
    nbits: u64,
    probes: u8,
}

impl Bloom {
    /// Bytes of the encoded filter (what holding it keeps in memory).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Checks the layout; `Err` carries the reason.
    pub fn decode(data: Bytes) -> Result<Self, &'static str> {
        let Some((&probes, bits)) = data.split_last() else {
            return Err("empty filter");
        };
        if bits.is_empty() {
            return Err("filter has no bits");
        }
        if probes == 0 || probes > BLOOM_PROBES_MAX {
            return Err("bad filter probe count");
        }
        let nbits = bits.len() as u64 * 8;
        Ok(Self { data, nbits, probes })
    }

    /// False only if no key with this hash was added.
    #[inline]
    pub fn may_contain_hash(&self, h0: u64) -> bool {
        let delta = h0.rotate_right(17) | 1;
        let mut h = h0;
        for _ in 0..self.probes {
            let b = bit_index(h, self.nbits);
            match self.data.get((b / 8) as usize) {
                Some(byte) if byte & (1 << (b % 8)) != 0 => {}
                _ => return false,
            }
            h = h.wrapping_add(delta);
        }
        true
    }

    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(hash64(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_of(n: u32, bits_per_key: u32) -> Bloom {
        let hashes: Vec<u64> = (0..n).map(|i| hash64(format!("present{i}").as_bytes())).collect();
        Bloom::decode(Bytes::from(build(&hashes, bits_per_key))).unwrap()
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let n = 20_000;
        let f = filter_of(n, 10);
        for i in 0..n {
            assert!(f.may_contain(format!("present{i}").as_bytes()));
        }
        let trials = 100_000;
        let fp = (0..trials).filter(|i| f.may_contain(format!("absent{i}").as_bytes())).count();
        let rate = fp as f64 / f64::from(trials);
        // Theory for 10 bits/key and 6 probes: 0.84%.
        assert!(rate < 0.0125, "false positive rate {rate}");
        assert!(rate > 0.004, "false positive rate {rate} suspiciously low");
    }

    #[test]
    fn hash_is_stable() {
        // These values are part of the format: a change breaks every stored filter.
        assert_eq!(hash64(b""), 0xfbf3_bccd_d227_0207);
        assert_eq!(hash64(b"a"), hash64(b"a"));
        assert_ne!(hash64(b"a"), hash64(b"a\0"));
    }

    #[test]
    fn decode_rejects_bad_layouts() {
        assert!(Bloom::decode(Bytes::new()).is_err());
        assert!(Bloom::decode(Bytes::from_static(&[6])).is_err());
        assert!(Bloom::decode(Bytes::from_static(&[0xff, 0])).is_err());
        assert!(Bloom::decode(Bytes::from_static(&[0xff, 31])).is_err());
        // An all-ones filter says "maybe" to everything.
        let f = Bloom::decode(Bytes::from_static(&[0xff, 0xff, 3])).unwrap();
        assert!(f.may_contain(b"anything"));
    }
}
