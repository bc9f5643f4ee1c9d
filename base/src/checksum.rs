//! CRC32 (Castagnoli is not required; we use crc32fast's IEEE CRC32, which is hardware
//! accelerated on x86_64 and aarch64) with LevelDB's masking, so that a checksum stored inside
//! data that is itself checksummed does not produce degenerate values.

/// CRC32 of `data`.
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// CRC32 of the concatenation of `parts`, without concatenating them.
#[inline]
pub fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

const MASK_DELTA: u32 = 0xa282_ead8;

/// Masks a CRC before it is stored (rotate right by 15 bits and add a constant).
#[inline]
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Inverse of [`mask`].
#[inline]
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trips_and_changes_value() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask(mask(v)), v);
            assert_ne!(mask(v), v);
        }
    }

    #[test]
    fn parts_equal_whole() {
        assert_eq!(crc32_parts(&[b"hello ", b"world"]), crc32(b"hello world"));
        // Known CRC32 (IEEE) of "123456789".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
