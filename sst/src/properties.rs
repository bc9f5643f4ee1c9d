//! The properties block: what a table holds, how it was written, and user properties.
//!
//! Contents: tagged records, tags in increasing order (`format::prop_tag`), the `USER` tag once
//! per user property. The encoding of each record and value is in `docs/format/sst.md`
//! ("Properties block").
//!
//! Invariants: decoding checks every length against the input, requires every tag below
//! `OPTIONAL_MIN` exactly once, rejects unknown tags below it and skips unknown tags at or above
//! it.
//!
//! Thread safety: plain data.

use crate::error::{BlockCorrupt, block_corrupt};
use crate::format::{COMPRESSION_CODE_NONE, COMPRESSION_CODE_ZSTD, prop_tag};
use crate::options::Compression;
use std::collections::BTreeMap;
use strata_base::coding::{get_length_prefixed, get_u8, get_varint64, put_length_prefixed, put_varint64};

/// Everything the properties block records about a table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    pub num_entries: u64,
    /// Entries of kind `Delete` (tombstones).
    pub num_deletions: u64,
    pub smallest_key: Vec<u8>,
    pub largest_key: Vec<u8>,
    /// Sum of the lengths of all keys.
    pub raw_key_bytes: u64,
    /// Sum of the lengths of all values.
    pub raw_value_bytes: u64,
    /// Bytes of data block contents before compression.
    pub raw_data_bytes: u64,
    /// Bytes the data blocks take in the file, trailers included.
    pub data_bytes: u64,
    /// Bytes the index block takes in the file, trailer included.
    pub index_bytes: u64,
    /// Bytes the filter block takes in the file, trailer included (0: no filter).
    pub filter_bytes: u64,
    pub num_data_blocks: u64,
    pub compression: Compression,
    pub format_version: u32,
    /// Seconds since the Unix epoch when the builder finished.
    pub creation_time: u64,
    /// Name of the comparator the table is sorted by.
    pub comparator: String,
    pub bloom_bits_per_key: u32,
    pub block_size: u64,
    pub restart_interval: u64,
    /// Properties set with `TableBuilder::set_user_property`.
    pub user: BTreeMap<String, Vec<u8>>,
}

fn put_record(dst: &mut Vec<u8>, tag: u64, value: &[u8]) {
    put_varint64(dst, tag);
    put_length_prefixed(dst, value);
}

fn put_number(dst: &mut Vec<u8>, tag: u64, v: u64) {
    let mut tmp = Vec::with_capacity(10);
    put_varint64(&mut tmp, v);
    put_record(dst, tag, &tmp);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl Properties {
    pub(crate) fn encode_into(&self, dst: &mut Vec<u8>) {
        use prop_tag::*;
        put_number(dst, NUM_ENTRIES, self.num_entries);
        put_number(dst, NUM_DELETIONS, self.num_deletions);
        put_record(dst, SMALLEST_KEY, &self.smallest_key);
        put_record(dst, LARGEST_KEY, &self.largest_key);
        put_number(dst, RAW_KEY_BYTES, self.raw_key_bytes);
        put_number(dst, RAW_VALUE_BYTES, self.raw_value_bytes);
        put_number(dst, RAW_DATA_BYTES, self.raw_data_bytes);
        put_number(dst, DATA_BYTES, self.data_bytes);
        put_number(dst, INDEX_BYTES, self.index_bytes);
        put_number(dst, FILTER_BYTES, self.filter_bytes);
        put_number(dst, NUM_DATA_BLOCKS, self.num_data_blocks);
        let mut c = Vec::new();
        match self.compression {
            Compression::None => c.push(COMPRESSION_CODE_NONE),
            Compression::Zstd { level } => {
                c.push(COMPRESSION_CODE_ZSTD);
                put_varint64(&mut c, zigzag(i64::from(level)));
            }
        }
        put_record(dst, COMPRESSION, &c);
        put_number(dst, FORMAT_VERSION, u64::from(self.format_version));
        put_number(dst, CREATION_TIME, self.creation_time);
        put_record(dst, COMPARATOR, self.comparator.as_bytes());
        put_number(dst, BLOOM_BITS_PER_KEY, u64::from(self.bloom_bits_per_key));
        put_number(dst, BLOCK_SIZE, self.block_size);
        put_number(dst, RESTART_INTERVAL, self.restart_interval);
        for (name, value) in &self.user {
            let mut v = Vec::with_capacity(name.len() + value.len() + 5);
            put_length_prefixed(&mut v, name.as_bytes());
            v.extend_from_slice(value);
            put_record(dst, USER, &v);
        }
    }

    pub(crate) fn decode_from(src: &[u8]) -> Result<Self, BlockCorrupt> {
        use prop_tag::*;
        let mut p = Properties::default();
        let mut input = src;
        let mut last_tag = 0u64;
        let mut seen = 0u64; // Bit t set: required tag t seen.
        let mut last_user: Option<String> = None;
        while !input.is_empty() {
            let at = src.len() - input.len();
            let bad = |reason| block_corrupt(at, reason);
            let tag = get_varint64(&mut input).ok_or_else(|| bad("bad property tag"))?;
            let value = get_length_prefixed(&mut input).ok_or_else(|| bad("bad property length"))?;
            let repeat_ok = tag == USER && last_tag == USER;
            if tag < last_tag || (tag == last_tag && !repeat_ok) {
                return Err(bad("property tags out of order"));
            }
            last_tag = tag;
            let number = || -> Result<u64, BlockCorrupt> {
                let mut v = value;
                match get_varint64(&mut v) {
                    Some(n) if v.is_empty() => Ok(n),
                    _ => Err(bad("bad numeric property")),
                }
            };
            let small = |n: u64| u32::try_from(n).map_err(|_| bad("property out of range"));
            let text = || String::from_utf8(value.to_vec()).map_err(|_| bad("property is not UTF-8"));
            match tag {
                NUM_ENTRIES => p.num_entries = number()?,
                NUM_DELETIONS => p.num_deletions = number()?,
                SMALLEST_KEY => p.smallest_key = value.to_vec(),
                LARGEST_KEY => p.largest_key = value.to_vec(),
                RAW_KEY_BYTES => p.raw_key_bytes = number()?,
                RAW_VALUE_BYTES => p.raw_value_bytes = number()?,
                RAW_DATA_BYTES => p.raw_data_bytes = number()?,
                DATA_BYTES => p.data_bytes = number()?,
                INDEX_BYTES => p.index_bytes = number()?,
                FILTER_BYTES => p.filter_bytes = number()?,
                NUM_DATA_BLOCKS => p.num_data_blocks = number()?,
                COMPRESSION => p.compression = decode_compression(value).ok_or_else(|| bad("bad compression"))?,
                FORMAT_VERSION => p.format_version = small(number()?)?,
                CREATION_TIME => p.creation_time = number()?,
                COMPARATOR => p.comparator = text()?,
                BLOOM_BITS_PER_KEY => p.bloom_bits_per_key = small(number()?)?,
                BLOCK_SIZE => p.block_size = number()?,
                RESTART_INTERVAL => p.restart_interval = number()?,
                USER => {
                    let mut v = value;
                    let name = get_length_prefixed(&mut v).ok_or_else(|| bad("bad user property name"))?;
                    let name = String::from_utf8(name.to_vec()).map_err(|_| bad("user property name is not UTF-8"))?;
                    if last_user.as_ref().is_some_and(|prev| *prev >= name) {
                        return Err(bad("user properties out of order"));
                    }
                    p.user.insert(name.clone(), v.to_vec());
                    last_user = Some(name);
                }
                t if t < OPTIONAL_MIN => return Err(bad("unknown required property")),
                _ => {}
            }
            if tag < OPTIONAL_MIN {
                seen |= 1 << tag;
            }
        }
        let required = ((1u64 << (RESTART_INTERVAL + 1)) - 1) & !1;
        if seen != required {
            return Err(block_corrupt(src.len(), "a required property is missing"));
        }
        Ok(p)
    }
}

fn decode_compression(value: &[u8]) -> Option<Compression> {
    let mut v = value;
    let c = match get_u8(&mut v)? {
        COMPRESSION_CODE_NONE => Compression::None,
        COMPRESSION_CODE_ZSTD => {
            let level = i32::try_from(unzigzag(get_varint64(&mut v)?)).ok()?;
            Compression::Zstd { level }
        }
        _ => return None,
    };
    v.is_empty().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Properties {
        let mut p = Properties {
            num_entries: 3,
            num_deletions: 1,
            smallest_key: b"a".to_vec(),
            largest_key: b"zz".to_vec(),
            raw_key_bytes: 5,
            raw_value_bytes: 300,
            raw_data_bytes: 400,
            data_bytes: 200,
            index_bytes: 20,
            filter_bytes: 0,
            num_data_blocks: 1,
            compression: Compression::Zstd { level: -5 },
            format_version: 1,
            creation_time: 1_700_000_000,
            comparator: "strata.BytewiseComparator".into(),
            bloom_bits_per_key: 10,
            block_size: 4096,
            restart_interval: 16,
            user: BTreeMap::new(),
        };
        p.user.insert("cf".into(), vec![7]);
        p.user.insert("seq.max".into(), vec![1, 2, 3]);
        p
    }

    #[test]
    fn round_trips() {
        let p = sample();
        let mut buf = Vec::new();
        p.encode_into(&mut buf);
        assert_eq!(Properties::decode_from(&buf), Ok(p));
    }

    #[test]
    fn every_truncation_fails_and_no_flip_panics() {
        // Without user properties every strict prefix lacks something required. (With them, a
        // prefix ending between user records is well formed; the block checksum catches it.)
        let mut buf = Vec::new();
        Properties { user: BTreeMap::new(), ..sample() }.encode_into(&mut buf);
        for n in 0..buf.len() {
            assert!(Properties::decode_from(&buf[..n]).is_err(), "prefix {n} accepted");
        }
        let mut buf = Vec::new();
        sample().encode_into(&mut buf);
        for i in 0..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0x41;
            let _ = Properties::decode_from(&b);
        }
    }

    #[test]
    fn optional_tags_are_skipped_and_unknown_required_rejected() {
        let mut buf = Vec::new();
        sample().encode_into(&mut buf);
        let mut with_optional = buf.clone();
        put_record(&mut with_optional, 99, b"future");
        assert_eq!(Properties::decode_from(&with_optional), Ok(sample()));
        let mut unknown = Vec::new();
        Properties { user: BTreeMap::new(), ..sample() }.encode_into(&mut unknown);
        put_record(&mut unknown, 19, b"x");
        assert_eq!(Properties::decode_from(&unknown).map_err(|e| e.reason), Err("unknown required property"));
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, -1, 1, i64::from(i32::MIN), i64::from(i32::MAX)] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
