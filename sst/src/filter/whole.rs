//! The version 1 filter: one Bloom filter over the whole table, probes spread over all its bits.
//!
//! Tables of format version 1 carry it; this build reads it and no longer writes it (the
//! version 2 filter, `local.rs`, touches one cache line per lookup instead of up to one per
//! probe). The bytes (bit array, then the probe count) and which bits a key sets are in
//! `docs/format/sst.md` ("Filter block, version 1"); neither may ever change.
//!
//! Invariants: [`WholeBloom::decode`] rejects filters with no bits or a probe count outside
//! `1..=BLOOM_PROBES_MAX`; `may_contain_hash` never reads out of bounds.
//!
//! Thread safety: a `WholeBloom` is immutable and shared.

use crate::format::BLOOM_PROBES_MAX;
use bytes::Bytes;

#[inline]
fn bit_index(h: u64, nbits: u64) -> u64 {
    ((u128::from(h) * u128::from(nbits)) >> 64) as u64
}

/// A decoded version 1 filter.
#[derive(Debug, Clone)]
pub struct WholeBloom {
    data: Bytes,
    nbits: u64,
    probes: u8,
}

impl WholeBloom {
    /// Bytes of the encoded filter (what holding it keeps in memory).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Checks the layout; `Err` carries the reason.
    pub fn decode(data: Bytes) -> Result<Self, String> {
        let Some((&probes, bits)) = data.split_last() else {
            return Err("empty filter".into());
        };
        if bits.is_empty() {
            return Err("filter has no bits".into());
        }
        if probes == 0 || probes > BLOOM_PROBES_MAX {
            return Err(format!("bad filter probe count {probes} (1..={BLOOM_PROBES_MAX})"));
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
}

/// The version 1 writer, kept for tests only: this build writes version 2 filters.
#[cfg(test)]
pub fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    let nbits = (hashes.len() as u64).saturating_mul(u64::from(bits_per_key)).max(64);
    let nbytes = nbits.div_ceil(8) as usize;
    let nbits = nbytes as u64 * 8;
    // About `ln 2` probes per bit per key, as LevelDB does.
    let probes = (u64::from(bits_per_key) * 69 / 100).clamp(1, u64::from(BLOOM_PROBES_MAX)) as u8;
    let mut out = vec![0u8; nbytes + 1];
    for &h0 in hashes {
        let delta = h0.rotate_right(17) | 1;
        let mut h = h0;
        for _ in 0..probes {
            let b = bit_index(h, nbits);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::hash64;

    fn filter_of(n: u32, bits_per_key: u32) -> WholeBloom {
        let hashes: Vec<u64> = (0..n).map(|i| hash64(format!("present{i}").as_bytes())).collect();
        WholeBloom::decode(Bytes::from(build(&hashes, bits_per_key))).unwrap()
    }

    fn may_contain(f: &WholeBloom, key: &[u8]) -> bool {
        f.may_contain_hash(hash64(key))
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let n = 20_000;
        let f = filter_of(n, 10);
        for i in 0..n {
            assert!(may_contain(&f, format!("present{i}").as_bytes()));
        }
        let trials = 100_000;
        let fp = (0..trials).filter(|i| may_contain(&f, format!("absent{i}").as_bytes())).count();
        let rate = fp as f64 / f64::from(trials);
        // Theory for 10 bits/key and 6 probes: 0.84%.
        assert!(rate < 0.0125, "false positive rate {rate}");
        assert!(rate > 0.004, "false positive rate {rate} suspiciously low");
    }

    /// The version 1 bytes of three keys, as the version 1 writer produced them (the worked
    /// example of the version 1 document: `apple`, `apricot`, `banana` at 10 bits per key).
    #[test]
    fn version_1_bytes_are_unchanged() {
        let hashes: Vec<u64> = [&b"apple"[..], b"apricot", b"banana"].iter().map(|k| hash64(k)).collect();
        assert_eq!(build(&hashes, 10), [0x12, 0x01, 0x23, 0x88, 0x8c, 0x10, 0x28, 0x64, 0x06]);
    }

    #[test]
    fn decode_rejects_bad_layouts() {
        assert!(WholeBloom::decode(Bytes::new()).is_err());
        assert!(WholeBloom::decode(Bytes::from_static(&[6])).is_err());
        assert!(WholeBloom::decode(Bytes::from_static(&[0xff, 0])).is_err());
        assert!(WholeBloom::decode(Bytes::from_static(&[0xff, 31])).is_err());
        // An all-ones filter says "maybe" to everything.
        let f = WholeBloom::decode(Bytes::from_static(&[0xff, 0xff, 3])).unwrap();
        assert!(may_contain(&f, b"anything"));
    }
}
