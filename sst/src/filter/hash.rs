//! `hash64`: the hash every filter kind is built from.
//!
//! Its definition is in `docs/format/sst.md` ("Filter hash"). Stored filters of every version
//! depend on it, so it may never change.
//!
//! Invariants: a pure function of the bytes; defined for every length, including zero.
//!
//! Thread safety: a pure function.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // These values are part of the format: a change breaks every stored filter.
        assert_eq!(hash64(b""), 0xfbf3_bccd_d227_0207);
        // The worked example of docs/format/sst.md.
        assert_eq!(hash64(b"apple"), 0xe85a_cc5a_04f7_0ec3);
        assert_eq!(hash64(b"apricot"), 0x212e_5ef3_2be1_6d4c);
        assert_eq!(hash64(b"banana"), 0x4383_8ec6_8f82_8a15);
        assert_eq!(hash64(b"a"), hash64(b"a"));
        assert_ne!(hash64(b"a"), hash64(b"a\0"));
    }
}
