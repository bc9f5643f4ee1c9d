//! Every constant of the log format, shared by the writer and the reader.
//!
//! The byte-level description is `docs/format/wal.md`; this file is its executable half. A log
//! is a sequence of [`BLOCK_SIZE`] blocks. Each block holds fragments, each a [`HEADER_LEN`]-byte
//! header (checksum, length, type: see the document's header table) followed by its payload.
//!
//! Invariants: a fragment (header and payload) never crosses a block boundary; fewer than
//! [`HEADER_LEN`] bytes left in a block are a zero-filled trailer; type 0 is never written, so an
//! all-zero header never decodes as a fragment.
//!
//! Thread safety: constants and pure functions only.

use strata_base::checksum;

/// Size of one block. Readers resynchronise at block boundaries.
pub const BLOCK_SIZE: usize = 32 * 1024;
/// Size of a fragment header: checksum (4), length (2), type (1).
pub const HEADER_LEN: usize = 7;
/// Offset of the masked checksum in a header.
pub const CHECKSUM_OFFSET: usize = 0;
/// Offset of the little-endian payload length in a header.
pub const LENGTH_OFFSET: usize = 4;
/// Offset of the fragment type in a header.
pub const TYPE_OFFSET: usize = 6;
/// The largest payload one fragment can carry (a fragment that fills a whole block).
pub const FRAGMENT_PAYLOAD_MAX: usize = BLOCK_SIZE - HEADER_LEN;
/// The largest record payload the writer accepts and the reader reassembles (1 GiB).
pub const RECORD_LEN_MAX: usize = 1 << 30;

const _: () = assert!(HEADER_LEN == 7);
const _: () = assert!(CHECKSUM_OFFSET + 4 == LENGTH_OFFSET);
const _: () = assert!(LENGTH_OFFSET + 2 == TYPE_OFFSET);
const _: () = assert!(TYPE_OFFSET + 1 == HEADER_LEN);
// The length field is a u16: a fragment payload must fit in it.
const _: () = assert!(FRAGMENT_PAYLOAD_MAX <= u16::MAX as usize);
const _: () = assert!(BLOCK_SIZE.is_power_of_two());
const _: () = assert!(RECORD_LEN_MAX >= FRAGMENT_PAYLOAD_MAX);

/// The type of a fragment. DO NOT CHANGE THESE VALUES: they are written in every log.
///
/// Type 0 is reserved and never written: a zero-filled region (a preallocated or never-written
/// extent exposed after a crash) must not decode as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FragmentType {
    /// A whole record in one fragment.
    Full = 1,
    /// The first fragment of a record split across blocks.
    First = 2,
    /// A fragment that is neither the first nor the last of a split record.
    Middle = 3,
    /// The last fragment of a split record.
    Last = 4,
}

/// The reserved type of an all-zero header; never written.
pub const ZERO_TYPE: u8 = 0;

impl FragmentType {
    /// Decodes a type byte; `None` for 0 (reserved) and for unknown values.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Full),
            2 => Some(Self::First),
            3 => Some(Self::Middle),
            4 => Some(Self::Last),
            _ => None,
        }
    }

    /// The on-disk byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }
}

/// The value stored in the checksum field: masked CRC32 of the type byte then the payload.
pub fn fragment_checksum(kind: u8, payload: &[u8]) -> u32 {
    checksum::mask(checksum::crc32_parts(&[&[kind], payload]))
}

/// Encodes a header for `payload` of type `kind`. The caller guarantees
/// `payload.len() <= FRAGMENT_PAYLOAD_MAX` (the writer splits records so that it holds).
pub fn encode_header(kind: FragmentType, payload: &[u8]) -> [u8; HEADER_LEN] {
    debug_assert!(payload.len() <= FRAGMENT_PAYLOAD_MAX, "fragment payload {} too long", payload.len());
    // The writer never passes more than FRAGMENT_PAYLOAD_MAX, which fits in a u16 (asserted
    // above); saturate rather than truncate so a bug would surface as a checksum error.
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let crc = fragment_checksum(kind.as_byte(), payload);
    let mut h = [0u8; HEADER_LEN];
    h[CHECKSUM_OFFSET..LENGTH_OFFSET].copy_from_slice(&crc.to_le_bytes());
    h[LENGTH_OFFSET..TYPE_OFFSET].copy_from_slice(&len.to_le_bytes());
    h[TYPE_OFFSET] = kind.as_byte();
    h
}

/// The three fields of a header, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    /// The stored (masked) checksum.
    pub checksum: u32,
    /// The payload length.
    pub len: u16,
    /// The type byte.
    pub kind: u8,
}

impl RawHeader {
    /// Splits a header into its fields.
    pub fn decode(h: &[u8; HEADER_LEN]) -> Self {
        let [c0, c1, c2, c3, l0, l1, kind] = *h;
        Self { checksum: u32::from_le_bytes([c0, c1, c2, c3]), len: u16::from_le_bytes([l0, l1]), kind }
    }

    /// True when all seven bytes are zero.
    pub fn is_zero(&self) -> bool {
        self.checksum == 0 && self.len == 0 && self.kind == ZERO_TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = encode_header(FragmentType::Middle, b"hello");
        let raw = RawHeader::decode(&h);
        assert_eq!(raw.len, 5);
        assert_eq!(raw.kind, 3);
        assert_eq!(raw.checksum, fragment_checksum(3, b"hello"));
    }

    #[test]
    fn no_empty_fragment_has_an_all_zero_header() {
        for kind in [FragmentType::Full, FragmentType::First, FragmentType::Middle, FragmentType::Last] {
            let raw = RawHeader::decode(&encode_header(kind, b""));
            assert!(!raw.is_zero(), "{kind:?}");
            assert_ne!(raw.checksum, 0, "{kind:?}");
        }
        assert_eq!(FragmentType::from_byte(ZERO_TYPE), None);
    }

    #[test]
    fn type_bytes_round_trip_and_others_are_rejected() {
        for b in 0..=u8::MAX {
            match FragmentType::from_byte(b) {
                Some(t) => assert_eq!(t.as_byte(), b),
                None => assert!(b == 0 || b > 4, "{b}"),
            }
        }
    }
}
