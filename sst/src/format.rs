//! Every magic number, tag, size, offset and limit of the table format, shared by the writer
//! and the reader. The byte-level description is `docs/format/sst.md`; a test encodes its
//! worked example and compares it byte for byte.
//!
//! DO NOT CHANGE THESE VALUES: they are embedded in files on disk. Retired tags stay listed.
//!
//! Invariants: [`Footer::decode_from`] and [`BlockHandle::decode_from`] accept any bytes and
//! return `None` (never panic) when they are malformed.
//!
//! Thread safety: constants and plain data.

use strata_base::coding::{get_fixed32, get_fixed64, get_varint64, put_fixed32, put_fixed64, put_varint64};

/// The last eight bytes of every table: `b"strata\xa5\x01"` read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"strata\xa5\x01");
/// The format version this crate writes. Version 2 changed only the filter block (a
/// cache-local Bloom filter instead of one spread over the whole table); version 3 the entry
/// header (the kind folded into the key-length varint) and the index values (the block size
/// alone, the offset implied).
pub const FORMAT_VERSION: u32 = 3;
/// The first format version whose entries carry their kind in the low bit of the `non_shared`
/// varint (no kind byte) and whose index values are a block size alone (each data block starts
/// where the previous one's trailer ends, the first at 0). See [`EntryLayout`].
pub const FORMAT_VERSION_COMPACT_ENTRIES: u32 = 3;
/// The oldest format version this crate reads: it reads every version from this one to
/// [`FORMAT_VERSION`] and refuses others with `UnsupportedVersion`.
pub const FORMAT_VERSION_MIN: u32 = 1;

/// Longest key `TableBuilder::add` accepts (bytes): the engine's keys are internal keys, so
/// this is the longest user key plus its 8-byte trailer.
pub const KEY_LEN_MAX: usize = strata_base::limits::INTERNAL_KEY_LEN_MAX;
/// Longest value `TableBuilder::add` accepts (bytes).
pub const VALUE_LEN_MAX: usize = strata_base::limits::VALUE_LEN_MAX;
/// Longest entry header: three varint32 lengths and the kind byte (versions 1 and 2; version 3
/// has no kind byte).
pub const ENTRY_HEADER_LEN_MAX: usize = 3 * 5 + 1;

/// How a block's entries store their kind, and what an index entry's value holds; decided by
/// the footer's format version alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryLayout {
    /// Versions 1 and 2: `shared, non_shared, value_len` varints, then a kind byte; an index
    /// value is a full handle `varint64 offset ++ varint64 size`.
    KindByte,
    /// Version 3: `shared, non_shared << 1 | kind, value_len` varints, no kind byte; an index
    /// value is `varint64 size` alone.
    KindBit,
}

impl EntryLayout {
    /// The layout of a table of format version `version` (a version the footer accepted).
    pub fn of_version(version: u32) -> Self {
        if version >= FORMAT_VERSION_COMPACT_ENTRIES { Self::KindBit } else { Self::KindByte }
    }
}
/// Largest block contents (uncompressed) a reader accepts and a writer produces. A data block
/// holds at least one entry, so it must fit the largest entry plus one restart point.
pub const BLOCK_LEN_MAX: usize = 1 << 27;
/// Largest user `block_size` option; larger values are rejected by the builder.
pub const BLOCK_SIZE_MAX: usize = 1 << 24;
/// Largest `restart_interval` option.
pub const RESTART_INTERVAL_MAX: usize = 1 << 16;
/// Largest `bloom_bits_per_key` option.
pub const BLOOM_BITS_PER_KEY_MAX: u32 = 64;

const _: () = assert!(KEY_LEN_MAX + VALUE_LEN_MAX + ENTRY_HEADER_LEN_MAX + 2 * RESTART_LEN < BLOCK_LEN_MAX);
const _: () = assert!(BLOCK_SIZE_MAX < BLOCK_LEN_MAX);
// Version 3 stores `non_shared << 1 | kind` in a varint32, and the kind in one bit.
const _: () = assert!(KEY_LEN_MAX < 1 << 31);
const _: () = assert!(strata_base::ikey::ValueKind::Delete as u8 == 0 && strata_base::ikey::ValueKind::Put as u8 == 1);
// Restart offsets are u32 and lengths are varint32.
const _: () = assert!(BLOCK_LEN_MAX <= u32::MAX as usize);

/// A restart point: fixed32 offset of an entry whose key is stored whole.
pub const RESTART_LEN: usize = 4;

/// The block trailer after every block's stored bytes: type (1 byte) + masked CRC32 (4 bytes).
pub const BLOCK_TRAILER_LEN: usize = 5;

/// How a block's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BlockType {
    /// The stored bytes are the block contents.
    Raw = 0,
    /// The stored bytes are `varint32 contents_len` followed by one zstd frame.
    Zstd = 1,
}

impl BlockType {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Raw),
            1 => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// A compressed block is kept only if it saves at least `1/COMPRESSION_MIN_SAVING` of the raw
/// size; otherwise the block is stored raw.
pub const COMPRESSION_MIN_SAVING: usize = 8;

/// True when a block of `raw_len` bytes that compressed to `stored_len` bytes (header included)
/// should be stored compressed.
#[inline]
pub fn compression_pays(raw_len: usize, stored_len: usize) -> bool {
    stored_len < raw_len && (raw_len - stored_len) * COMPRESSION_MIN_SAVING >= raw_len
}

/// Where a block is: offset of its first stored byte and number of stored bytes (trailer not
/// included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

/// Longest varint encoding of a handle (two varint64s).
pub const HANDLE_VARINT_LEN_MAX: usize = 20;

impl BlockHandle {
    /// The varint form stored as a value in the index block of versions 1 and 2.
    pub fn encode_into(&self, dst: &mut Vec<u8>) {
        put_varint64(dst, self.offset);
        put_varint64(dst, self.size);
    }

    /// The value of a version 3 index entry: the size alone (the offset is implied).
    pub fn encode_size_into(&self, dst: &mut Vec<u8>) {
        put_varint64(dst, self.size);
    }

    pub fn decode_from(src: &mut &[u8]) -> Option<Self> {
        let offset = get_varint64(src)?;
        let size = get_varint64(src)?;
        Some(Self { offset, size })
    }

    /// Offset one past the block's trailer, if it does not overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size)?.checked_add(BLOCK_TRAILER_LEN as u64)
    }
}

/// The fixed-size footer at the end of every table: three block handles (index, filter,
/// properties), the whole-file CRC, the format version, the footer's own CRC and the magic.
/// Its layout, byte by byte, is in `docs/format/sst.md` ("Footer"); the offsets are the
/// `FOOTER_*` constants below, tied together by const asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub index: BlockHandle,
    pub filter: BlockHandle,
    pub properties: BlockHandle,
    pub file_crc: u32,
    pub format_version: u32,
}

pub const FOOTER_LEN: usize = 68;
pub const FOOTER_INDEX_AT: usize = 0;
pub const FOOTER_FILTER_AT: usize = 16;
pub const FOOTER_PROPERTIES_AT: usize = 32;
pub const FOOTER_FILE_CRC_AT: usize = 48;
pub const FOOTER_VERSION_AT: usize = 52;
pub const FOOTER_CRC_AT: usize = 56;
pub const FOOTER_MAGIC_AT: usize = 60;

const _: () = assert!(FOOTER_FILTER_AT == FOOTER_INDEX_AT + 16);
const _: () = assert!(FOOTER_PROPERTIES_AT == FOOTER_FILTER_AT + 16);
const _: () = assert!(FOOTER_FILE_CRC_AT == FOOTER_PROPERTIES_AT + 16);
const _: () = assert!(FOOTER_VERSION_AT == FOOTER_FILE_CRC_AT + 4);
const _: () = assert!(FOOTER_CRC_AT == FOOTER_VERSION_AT + 4);
const _: () = assert!(FOOTER_MAGIC_AT == FOOTER_CRC_AT + 4);
const _: () = assert!(FOOTER_LEN == FOOTER_MAGIC_AT + 8);
const _: () = assert!(FOOTER_LEN == 68);

/// Why a footer was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterError {
    BadMagic,
    BadChecksum,
    BadVersion(u32),
}

impl Footer {
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut v = Vec::with_capacity(FOOTER_LEN);
        for h in [self.index, self.filter, self.properties] {
            put_fixed64(&mut v, h.offset);
            put_fixed64(&mut v, h.size);
        }
        put_fixed32(&mut v, self.file_crc);
        put_fixed32(&mut v, self.format_version);
        let crc = strata_base::checksum::mask(strata_base::checksum::crc32(&v));
        put_fixed32(&mut v, crc);
        put_fixed64(&mut v, MAGIC);
        let mut out = [0u8; FOOTER_LEN];
        out.copy_from_slice(&v);
        out
    }

    /// Decodes and checks magic, checksum and version, in that order.
    pub fn decode_from(bytes: &[u8; FOOTER_LEN]) -> Result<Self, FooterError> {
        let mut magic = &bytes[FOOTER_MAGIC_AT..];
        if get_fixed64(&mut magic) != Some(MAGIC) {
            return Err(FooterError::BadMagic);
        }
        let mut crc = &bytes[FOOTER_CRC_AT..FOOTER_MAGIC_AT];
        let stored = get_fixed32(&mut crc).map(strata_base::checksum::unmask);
        if stored != Some(strata_base::checksum::crc32(&bytes[..FOOTER_CRC_AT])) {
            return Err(FooterError::BadChecksum);
        }
        let mut src: &[u8] = &bytes[..FOOTER_CRC_AT];
        let mut handle = || -> Option<BlockHandle> {
            let offset = get_fixed64(&mut src)?;
            let size = get_fixed64(&mut src)?;
            Some(BlockHandle { offset, size })
        };
        // The slice is exactly FOOTER_CRC_AT bytes, so these reads cannot fail; treat a failure
        // as a bad checksum rather than panicking.
        let (Some(index), Some(filter), Some(properties)) = (handle(), handle(), handle()) else {
            return Err(FooterError::BadChecksum);
        };
        let (Some(file_crc), Some(format_version)) = (get_fixed32(&mut src), get_fixed32(&mut src)) else {
            return Err(FooterError::BadChecksum);
        };
        if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&format_version) {
            return Err(FooterError::BadVersion(format_version));
        }
        Ok(Self { index, filter, properties, file_crc, format_version })
    }
}

/// Tags of the properties block. DO NOT CHANGE OR REUSE: they are stored in tables.
pub mod prop_tag {
    pub const NUM_ENTRIES: u64 = 1;
    pub const NUM_DELETIONS: u64 = 2;
    pub const SMALLEST_KEY: u64 = 3;
    pub const LARGEST_KEY: u64 = 4;
    pub const RAW_KEY_BYTES: u64 = 5;
    pub const RAW_VALUE_BYTES: u64 = 6;
    pub const RAW_DATA_BYTES: u64 = 7;
    pub const DATA_BYTES: u64 = 8;
    pub const INDEX_BYTES: u64 = 9;
    pub const FILTER_BYTES: u64 = 10;
    pub const NUM_DATA_BLOCKS: u64 = 11;
    pub const COMPRESSION: u64 = 12;
    pub const FORMAT_VERSION: u64 = 13;
    pub const CREATION_TIME: u64 = 14;
    pub const COMPARATOR: u64 = 15;
    pub const BLOOM_BITS_PER_KEY: u64 = 16;
    pub const BLOCK_SIZE: u64 = 17;
    pub const RESTART_INTERVAL: u64 = 18;
    /// A user property: the value is a length-prefixed name followed by the property's bytes.
    pub const USER: u64 = 64;
    /// Tags below this that a reader does not know are an error; tags at or above it that it
    /// does not know are skipped (room for optional properties in later versions).
    pub const OPTIONAL_MIN: u64 = 32;
}

/// Properties block compression codes (the first byte of the `COMPRESSION` property).
pub const COMPRESSION_CODE_NONE: u8 = 0;
pub const COMPRESSION_CODE_ZSTD: u8 = 1;

/// Largest number of probes a bloom filter (of either version) may declare.
pub const BLOOM_PROBES_MAX: u8 = 30;

/// Bytes of one line of a version 2 filter: a cache line, which holds every probe of a key.
pub const FILTER_LINE_LEN: usize = 64;
/// Bits of one line of a version 2 filter.
pub const FILTER_LINE_BITS: usize = FILTER_LINE_LEN * 8;
/// Most lines a version 2 filter may have: its contents (lines and the probe byte) fit in
/// `BLOCK_LEN_MAX`. A writer clamps to it; a reader rejects more.
pub const FILTER_LINES_MAX: usize = (BLOCK_LEN_MAX - 1) / FILTER_LINE_LEN;
/// The odd multiplier that steps a version 2 filter's 32-bit probe state (`floor(2^32 / phi)`).
pub const LOCAL_BLOOM_MULTIPLIER: u32 = 0x9e37_79b9;
/// Probes a version 2 filter makes, for `bloom_bits_per_key` = 1, 2, ..., 64 (entry `b - 1`):
/// the fewest probes whose modelled false-positive rate is within 2% of the best for that
/// many bits per key. The model (`docs/format/sst.md`, "Filter block, version 2") counts the
/// keys sharing a 512-bit line as Poisson with mean `512 / b`. Only writers use it: the count
/// is stored in each filter.
pub const LOCAL_BLOOM_PROBES: [u8; BLOOM_BITS_PER_KEY_MAX as usize] = [
    1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 14, 15,
    15, 15, 15, 15, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19,
    20, 20,
];

const _: () = assert!(FILTER_LINES_MAX * FILTER_LINE_LEN < BLOCK_LEN_MAX);
// The line choice multiplies the hash's high 32 bits by the line count.
const _: () = assert!(FILTER_LINES_MAX as u64 <= 1 << 32);

#[cfg(test)]
mod tests {
    use super::*;

    fn footer() -> Footer {
        Footer {
            index: BlockHandle { offset: 10, size: 20 },
            filter: BlockHandle { offset: 30, size: 0 },
            properties: BlockHandle { offset: 1 << 40, size: 7 },
            file_crc: 0xdead_beef,
            format_version: FORMAT_VERSION,
        }
    }

    #[test]
    fn footer_round_trips() {
        let f = footer();
        let bytes = f.encode();
        assert_eq!(&bytes[FOOTER_MAGIC_AT..], b"strata\xa5\x01");
        assert_eq!(Footer::decode_from(&bytes), Ok(f));
    }

    #[test]
    fn footer_rejects_every_single_bit_flip() {
        let bytes = footer().encode();
        for i in 0..FOOTER_LEN {
            for bit in 0..8 {
                let mut b = bytes;
                b[i] ^= 1 << bit;
                assert!(Footer::decode_from(&b).is_err(), "flip of bit {bit} of byte {i} accepted");
            }
        }
    }

    #[test]
    fn footer_rejects_other_versions() {
        let mut f = footer();
        for v in [0, FORMAT_VERSION + 1, u32::MAX] {
            f.format_version = v;
            assert_eq!(Footer::decode_from(&f.encode()), Err(FooterError::BadVersion(v)));
        }
    }

    #[test]
    fn footer_accepts_every_readable_version() {
        let mut f = footer();
        for v in FORMAT_VERSION_MIN..=FORMAT_VERSION {
            f.format_version = v;
            assert_eq!(Footer::decode_from(&f.encode()), Ok(f));
        }
    }

    #[test]
    fn compression_rule_is_one_eighth() {
        assert!(compression_pays(800, 700));
        assert!(!compression_pays(800, 701));
        assert!(!compression_pays(0, 0));
        assert!(!compression_pays(10, 20));
    }

    #[test]
    fn handle_rejects_truncation() {
        let mut v = Vec::new();
        BlockHandle { offset: 300, size: 5000 }.encode_into(&mut v);
        for n in 0..v.len() {
            let mut s = &v[..n];
            assert_eq!(BlockHandle::decode_from(&mut s), None, "prefix of {n} bytes accepted");
        }
        assert_eq!(BlockHandle { offset: u64::MAX, size: 1 }.end(), None);
    }
}
