//! Write batches: an atomic group of puts and deletes across column families.
//!
//! A [`WriteBatch`] is kept in its encoded form, which is exactly one WAL record. The layout,
//! byte by byte, with its tags, limits and a worked example (which a test below reads and
//! encodes), is in `docs/format/write_batch.md`; this file owns its constants.
//!
//! Invariants: `data` always holds a well-formed encoding whose record count equals the header's
//! count, every key is at most [`KEY_LEN_MAX`] bytes, every value at most [`VALUE_LEN_MAX`] and the
//! whole encoding at most [`BATCH_BYTES_MAX`]. An op that would break a limit is not appended; it
//! sets the batch's error instead, which [`WriteBatch::validate`] reports as `InvalidArgument`.
//! [`WriteBatch::from_record`] checks every byte, so a decoded batch has the same invariants.
//!
//! Thread safety: a `WriteBatch` is plain owned data (`Send + Sync`); it is built by one thread.

use crate::cf::{ColumnFamily, DEFAULT_CF_ID};
use crate::error::{Error, Result};
use std::path::Path;
use strata_base::CfId;
use strata_base::coding::{self, VARINT32_LEN_MAX};
use strata_base::ikey::{SEQ_MAX, SeqNo, ValueKind};

/// Bytes of the header: base sequence number (fixed64) then count (fixed32).
pub const HEADER_LEN: usize = 12;
/// Offset of the base sequence number in the header.
const SEQ_OFFSET: usize = 0;
/// Offset of the count in the header.
const COUNT_OFFSET: usize = 8;

/// Tag of a delete in column family 0 (no cf id follows). DO NOT CHANGE THESE TAG VALUES: they are
/// stored in the WAL.
pub const TAG_DELETE: u8 = 0;
/// Tag of a put in column family 0 (no cf id follows).
pub const TAG_PUT: u8 = 1;
/// Tag of a delete followed by a varint32 column family id.
pub const TAG_DELETE_CF: u8 = 2;
/// Tag of a put followed by a varint32 column family id.
pub const TAG_PUT_CF: u8 = 3;
/// Bit of a tag that says a cf id follows.
const TAG_CF_BIT: u8 = 0b10;
/// Bit of a tag that holds the [`ValueKind`].
const TAG_KIND_BIT: u8 = 0b01;

pub use strata_base::limits::{KEY_LEN_MAX, VALUE_LEN_MAX};
/// The largest encoded batch (one WAL record).
pub const BATCH_BYTES_MAX: usize = 512 << 20;
/// The largest encoding of one record.
pub const RECORD_LEN_MAX: usize = 1 + 3 * VARINT32_LEN_MAX + KEY_LEN_MAX + VALUE_LEN_MAX;

const _: () = assert!(HEADER_LEN == COUNT_OFFSET + 4);
const _: () = assert!(COUNT_OFFSET == SEQ_OFFSET + 8);
const _: () = assert!(TAG_DELETE == ValueKind::Delete as u8);
const _: () = assert!(TAG_PUT == ValueKind::Put as u8);
const _: () = assert!(TAG_DELETE_CF == TAG_CF_BIT | ValueKind::Delete as u8);
const _: () = assert!(TAG_PUT_CF == TAG_CF_BIT | ValueKind::Put as u8);
// Lengths are encoded as varint32.
const _: () = assert!(KEY_LEN_MAX <= u32::MAX as usize);
const _: () = assert!(VALUE_LEN_MAX <= u32::MAX as usize);
// Any single op that passes the key and value limits fits in a batch.
const _: () = assert!(HEADER_LEN + RECORD_LEN_MAX <= BATCH_BYTES_MAX);
// The count cannot overflow: every record is at least 2 bytes (tag, empty key length).
const _: () = assert!(BATCH_BYTES_MAX / 2 <= u32::MAX as usize);
// The largest batch is one WAL record.
const _: () = assert!(BATCH_BYTES_MAX <= strata_wal::RECORD_LEN_MAX);
// Whatever a batch accepts, a table accepts: the longest user key plus its internal-key trailer,
// and the longest value (flush and compaction must never refuse acknowledged data).
const _: () = assert!(KEY_LEN_MAX + strata_base::ikey::TRAILER_LEN <= strata_sst::KEY_LEN_MAX);
const _: () = assert!(VALUE_LEN_MAX <= strata_sst::VALUE_LEN_MAX);

/// One op of a validated batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOp<'a> {
    pub kind: ValueKind,
    pub cf: CfId,
    pub key: &'a [u8],
    /// Empty for deletes.
    pub value: &'a [u8],
}

/// An atomic group of puts and deletes, possibly across column families.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBatch {
    data: Vec<u8>,
    count: u32,
    /// The first limit an op broke; the op was not appended.
    error: Option<String>,
    /// Some op names a column family other than the default (which always exists), so the
    /// writer must check that the column families exist. Lets the common case skip a decode.
    other_cfs: bool,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBatch {
    pub fn new() -> Self {
        Self { data: vec![0; HEADER_LEN], count: 0, error: None, other_cfs: false }
    }

    /// An empty batch with room for about `bytes` of keys and values, so that filling it does
    /// not reallocate.
    pub fn with_capacity(bytes: usize) -> Self {
        // Per record: kind, cf id and two lengths, at most 1 + 5 + 5 + 5 bytes of varints.
        let mut data = Vec::with_capacity(HEADER_LEN + bytes.saturating_add(16));
        data.resize(HEADER_LEN, 0);
        Self { data, count: 0, error: None, other_cfs: false }
    }

    /// Sets `key` to `value` in the default column family.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.append(ValueKind::Put, DEFAULT_CF_ID, key.as_ref(), value.as_ref());
    }

    /// Deletes `key` from the default column family.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.append(ValueKind::Delete, DEFAULT_CF_ID, key.as_ref(), &[]);
    }

    pub fn put_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.append(ValueKind::Put, cf.id(), key.as_ref(), value.as_ref());
    }

    pub fn delete_cf(&mut self, cf: &ColumnFamily, key: impl AsRef<[u8]>) {
        self.append(ValueKind::Delete, cf.id(), key.as_ref(), &[]);
    }

    /// Whether some op may name a column family other than the default.
    pub(crate) fn touches_other_cfs(&self) -> bool {
        self.other_cfs
    }

    /// Removes every op and the error; keeps the allocation.
    pub fn clear(&mut self) {
        self.data.clear();
        self.data.resize(HEADER_LEN, 0);
        self.count = 0;
        self.error = None;
        self.other_cfs = false;
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the encoded batch (what it adds to the WAL, before framing).
    pub fn approximate_size(&self) -> usize {
        self.data.len()
    }

    /// `InvalidArgument` if an op broke a limit ([`KEY_LEN_MAX`], [`VALUE_LEN_MAX`],
    /// [`BATCH_BYTES_MAX`]); that op was dropped, so such a batch must not be written.
    pub fn validate(&self) -> Result<()> {
        match &self.error {
            Some(reason) => Err(Error::InvalidArgument(reason.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn append(&mut self, kind: ValueKind, cf: CfId, key: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.other_cfs |= cf != DEFAULT_CF_ID;
        if key.len() > KEY_LEN_MAX {
            self.error = Some(format!("key of {} bytes exceeds KEY_LEN_MAX ({KEY_LEN_MAX})", key.len()));
            return;
        }
        if value.len() > VALUE_LEN_MAX {
            self.error = Some(format!("value of {} bytes exceeds VALUE_LEN_MAX ({VALUE_LEN_MAX})", value.len()));
            return;
        }
        let has_value = kind == ValueKind::Put;
        let mut record_len = 1 + coding::varint_len(key.len() as u64) + key.len();
        if cf != DEFAULT_CF_ID {
            record_len += coding::varint_len(u64::from(cf.get()));
        }
        if has_value {
            record_len += coding::varint_len(value.len() as u64) + value.len();
        }
        if self.data.len() + record_len > BATCH_BYTES_MAX {
            self.error = Some(format!(
                "batch of {} bytes would exceed BATCH_BYTES_MAX ({BATCH_BYTES_MAX})",
                self.data.len() + record_len
            ));
            return;
        }
        let start = self.data.len();
        if cf == DEFAULT_CF_ID {
            self.data.push(kind as u8);
        } else {
            self.data.push(TAG_CF_BIT | kind as u8);
            coding::put_varint32(&mut self.data, cf.get());
        }
        coding::put_length_prefixed(&mut self.data, key);
        if has_value {
            coding::put_length_prefixed(&mut self.data, value);
        }
        debug_assert_eq!(self.data.len() - start, record_len, "record length");
        self.count += 1;
        self.write_count();
    }

    fn write_count(&mut self) {
        if let Some(c) = self.data.get_mut(COUNT_OFFSET..HEADER_LEN) {
            c.copy_from_slice(&self.count.to_le_bytes());
        }
    }

    /// The base sequence number: op `i` gets `sequence() + i`.
    pub fn sequence(&self) -> SeqNo {
        let mut head = self.data.as_slice();
        coding::get_fixed64(&mut head).unwrap_or(0)
    }

    pub(crate) fn set_sequence(&mut self, seq: SeqNo) {
        if let Some(s) = self.data.get_mut(SEQ_OFFSET..COUNT_OFFSET) {
            s.copy_from_slice(&seq.to_le_bytes());
        }
    }

    /// Number of ops, as stored in the header.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The encoded batch: exactly one WAL record.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }

    /// The ops in order. Every batch is valid by construction, so decoding cannot fail here.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter { rest: self.data.get(HEADER_LEN..).unwrap_or(&[]), remaining: self.count }
    }

    /// Decodes and fully validates a WAL record. `path` and `offset` (the record's offset in the
    /// log) name the place in `Corruption` errors. Public so that tools (the `strata wal dump`
    /// command) decode WAL records exactly as recovery does.
    pub fn from_record(bytes: impl Into<Vec<u8>>, path: &Path, offset: u64) -> Result<WriteBatch> {
        let data = bytes.into();
        let fail = |at: usize, reason: &str| {
            Error::corruption(path, offset, format!("write batch: {reason} at byte {at} of the record"))
        };
        if data.len() > BATCH_BYTES_MAX {
            return Err(fail(0, &format!("{} bytes exceed BATCH_BYTES_MAX", data.len())));
        }
        let mut cur = data.as_slice();
        let (Some(seq), Some(count)) = (coding::get_fixed64(&mut cur), coding::get_fixed32(&mut cur)) else {
            return Err(fail(0, &format!("{} bytes are shorter than the header", data.len())));
        };
        if count > 0 && seq.checked_add(u64::from(count) - 1).is_none_or(|last| last > SEQ_MAX) {
            return Err(fail(SEQ_OFFSET, &format!("sequence {seq} + count {count} exceeds SEQ_MAX")));
        }
        let (mut seen, mut other_cfs) = (0u32, false);
        while !cur.is_empty() {
            let at = data.len() - cur.len();
            if seen == count {
                return Err(fail(at, &format!("more records than the count {count}")));
            }
            let op = decode_record(&mut cur).map_err(|reason| fail(at, reason))?;
            other_cfs |= op.cf != DEFAULT_CF_ID;
            seen += 1;
        }
        if seen != count {
            return Err(fail(data.len(), &format!("{seen} records but the count says {count}")));
        }
        Ok(WriteBatch { data, count, error: None, other_cfs })
    }
}

/// Decodes one record, advancing `cur`; the reason on malformed input.
fn decode_record<'a>(cur: &mut &'a [u8]) -> std::result::Result<BatchOp<'a>, &'static str> {
    let tag = coding::get_u8(cur).ok_or("missing tag")?;
    if tag > TAG_PUT_CF {
        return Err("unknown tag");
    }
    let kind = if tag & TAG_KIND_BIT == 0 { ValueKind::Delete } else { ValueKind::Put };
    let cf = if tag & TAG_CF_BIT == 0 {
        DEFAULT_CF_ID
    } else {
        CfId::new(coding::get_varint32(cur).ok_or("bad column family id")?)
    };
    let key = coding::get_length_prefixed(cur).ok_or("bad key length")?;
    if key.len() > KEY_LEN_MAX {
        return Err("key longer than KEY_LEN_MAX");
    }
    let value = match kind {
        ValueKind::Put => coding::get_length_prefixed(cur).ok_or("bad value length")?,
        ValueKind::Delete => &[],
    };
    if value.len() > VALUE_LEN_MAX {
        return Err("value longer than VALUE_LEN_MAX");
    }
    Ok(BatchOp { kind, cf, key, value })
}

/// Iterator over the ops of a [`WriteBatch`].
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    rest: &'a [u8],
    remaining: u32,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = BatchOp<'a>;

    fn next(&mut self) -> Option<BatchOp<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let op = decode_record(&mut self.rest);
        debug_assert!(op.is_ok(), "a WriteBatch holds only valid records: {op:?}");
        self.remaining -= 1;
        op.ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn decode(bytes: &[u8]) -> Result<WriteBatch> {
        WriteBatch::from_record(bytes, Path::new("000007.log"), 4096)
    }

    /// The worked example of `docs/format/write_batch.md`: the hex bytes that start each line of
    /// its `text` block (a line's description starts at its first token that is not two hex
    /// digits), and the length stated as "N bytes" above it.
    fn doc_example() -> (Vec<u8>, usize) {
        const DOC: &str = include_str!("../../docs/format/write_batch.md");
        let section = &DOC[DOC.find("## Worked example").expect("worked example section")..];
        let block = &section[section.find("```text").expect("example block") + "```text".len()..];
        let block = &block[..block.find("```").expect("end of example block")];
        let is_hex_byte = |t: &&str| t.len() == 2 && t.bytes().all(|c| c.is_ascii_hexdigit());
        let bytes = block
            .lines()
            .flat_map(|l| l.split_whitespace().take_while(is_hex_byte))
            .map(|t| u8::from_str_radix(t, 16).expect("hex byte"))
            .collect();
        let stated = section[..section.find(" bytes").expect("stated length")]
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number before \" bytes\"");
        (bytes, stated)
    }

    #[test]
    fn worked_example_matches_doc() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        b.delete_cf(&ColumnFamily::new(CfId::new(5), "five"), b"bc");
        b.put_cf(&ColumnFamily::new(CfId::new(300), "big"), b"k", b"v");
        b.set_sequence(100);
        let (expected, doc_len) = doc_example();
        let expected = &expected[..];
        assert_eq!(b.data(), expected, "the encoder and docs/format/write_batch.md disagree");
        assert_eq!(expected.len(), doc_len, "the example's bytes and its stated length disagree");
        assert_eq!(b.approximate_size(), 29);
        assert_eq!((b.sequence(), b.count(), b.len()), (100, 3, 3));
        let decoded = decode(expected).unwrap();
        let ops: Vec<_> = decoded.iter().collect();
        assert_eq!(
            ops,
            vec![
                BatchOp { kind: ValueKind::Put, cf: CfId::new(0), key: b"a", value: b"1" },
                BatchOp { kind: ValueKind::Delete, cf: CfId::new(5), key: b"bc", value: b"" },
                BatchOp { kind: ValueKind::Put, cf: CfId::new(300), key: b"k", value: b"v" },
            ]
        );
    }

    #[test]
    fn empty_batch_round_trips() {
        let b = WriteBatch::new();
        assert!(b.is_empty());
        assert_eq!(b.data().len(), HEADER_LEN);
        let d = decode(b.data()).unwrap();
        assert_eq!(d, b);
        assert_eq!(d.iter().count(), 0);
    }

    #[test]
    fn clear_resets_ops_and_error() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        b.put(vec![0u8; KEY_LEN_MAX + 1], b"v");
        assert!(b.validate().is_err());
        b.clear();
        assert!(b.is_empty());
        assert!(b.validate().is_ok());
        assert_eq!(b, WriteBatch::new());
    }

    #[test]
    fn oversize_key_and_value_are_invalid_argument() {
        let mut b = WriteBatch::new();
        b.put(vec![1u8; KEY_LEN_MAX], b"ok");
        assert!(b.validate().is_ok());
        b.put(vec![1u8; KEY_LEN_MAX + 1], b"v");
        assert!(matches!(b.validate(), Err(Error::InvalidArgument(m)) if m.contains("KEY_LEN_MAX")));
        assert_eq!(b.len(), 1, "the oversize op is not appended");
        let mut b = WriteBatch::new();
        b.delete(b"k");
        b.put(b"k", vec![0u8; VALUE_LEN_MAX + 1]);
        assert!(matches!(b.validate(), Err(Error::InvalidArgument(m)) if m.contains("VALUE_LEN_MAX")));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn trailing_garbage_and_count_mismatch_are_corruption() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        let mut bytes = b.data().to_vec();
        bytes.push(TAG_DELETE);
        bytes.extend_from_slice(&[1, b'z']);
        let e = decode(&bytes).unwrap_err();
        match e {
            Error::Corruption { file, offset, reason } => {
                assert_eq!(file, PathBuf::from("000007.log"));
                assert_eq!(offset, 4096);
                assert!(reason.contains("more records"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut short = b.data().to_vec();
        short[COUNT_OFFSET] = 2;
        assert!(matches!(decode(&short), Err(Error::Corruption { .. })));
        assert!(matches!(decode(&short[..HEADER_LEN - 1]), Err(Error::Corruption { .. })));
    }

    #[test]
    fn unknown_tag_and_seq_overflow_are_corruption() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        b.put(b"b", b"2");
        let mut bad = b.data().to_vec();
        bad[HEADER_LEN] = 4;
        assert!(matches!(decode(&bad), Err(Error::Corruption { reason, .. }) if reason.contains("tag")));
        b.set_sequence(SEQ_MAX);
        assert!(decode(b.data()).is_err(), "second op would get SEQ_MAX + 1");
        b.set_sequence(SEQ_MAX - 1);
        assert!(decode(b.data()).is_ok());
    }

    #[derive(Debug, Clone)]
    struct Op {
        put: bool,
        cf: u32,
        key: Vec<u8>,
        value: Vec<u8>,
    }

    fn op() -> impl Strategy<Value = Op> {
        (
            any::<bool>(),
            prop_oneof![Just(0u32), 0u32..200, any::<u32>()],
            prop::collection::vec(any::<u8>(), 0..20),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(put, cf, key, value)| Op { put, cf, key, value })
    }

    fn build(seq: u64, ops: &[Op]) -> WriteBatch {
        let mut b = WriteBatch::new();
        for o in ops {
            let cf = ColumnFamily::new(CfId::new(o.cf), "cf");
            match (o.put, o.cf) {
                (true, 0) => b.put(&o.key, &o.value),
                (false, 0) => b.delete(&o.key),
                (true, _) => b.put_cf(&cf, &o.key, &o.value),
                (false, _) => b.delete_cf(&cf, &o.key),
            }
        }
        b.set_sequence(seq);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn round_trip(seq in 0..SEQ_MAX - 100, ops in prop::collection::vec(op(), 0..20)) {
            let b = build(seq, &ops);
            prop_assert!(b.validate().is_ok());
            let d = decode(b.data()).unwrap();
            prop_assert_eq!(d.sequence(), seq);
            prop_assert_eq!(d.len(), ops.len());
            let got: Vec<_> = d.iter().collect();
            prop_assert_eq!(got.len(), ops.len());
            for (g, o) in got.iter().zip(&ops) {
                prop_assert_eq!(g.kind, if o.put { ValueKind::Put } else { ValueKind::Delete });
                prop_assert_eq!(g.cf, CfId::new(o.cf));
                prop_assert_eq!(g.key, o.key.as_slice());
                prop_assert_eq!(g.value, if o.put { o.value.as_slice() } else { &[][..] });
            }
            prop_assert_eq!(d.data(), b.data());
        }

        /// Any single-byte change, and any truncation, either fails cleanly or decodes to a
        /// batch whose own encoding is the corrupted bytes (never a panic, never a batch that
        /// disagrees with its bytes).
        #[test]
        fn corrupted_bytes_never_panic(
            ops in prop::collection::vec(op(), 1..6),
            pos in any::<prop::sample::Index>(),
            xor in 1u8..=255,
            cut in any::<prop::sample::Index>(),
        ) {
            let b = build(7, &ops);
            let mut bytes = b.data().to_vec();
            let i = pos.index(bytes.len());
            bytes[i] ^= xor;
            if let Ok(d) = decode(&bytes) {
                prop_assert_eq!(d.data(), bytes.as_slice());
                prop_assert_eq!(d.iter().count(), d.len());
            }
            let truncated = &b.data()[..cut.index(b.data().len())];
            prop_assert!(decode(truncated).is_err());
        }
    }

    #[test]
    fn every_byte_corruption_of_a_batch() {
        let b = build(
            42,
            &[
                Op { put: true, cf: 0, key: b"key".to_vec(), value: b"value".to_vec() },
                Op { put: false, cf: 9, key: b"gone".to_vec(), value: vec![] },
                Op { put: true, cf: 70000, key: vec![0xff; 130], value: vec![3; 200] },
            ],
        );
        let mut failures = 0;
        for i in 0..b.data().len() {
            for x in [0x01, 0x80, 0xff] {
                let mut bytes = b.data().to_vec();
                bytes[i] ^= x;
                match decode(&bytes) {
                    Ok(d) => assert_eq!(d.iter().count(), d.len()),
                    Err(Error::Corruption { .. }) => failures += 1,
                    Err(other) => panic!("unexpected error kind {other:?}"),
                }
            }
        }
        assert!(failures > 0);
    }
}
