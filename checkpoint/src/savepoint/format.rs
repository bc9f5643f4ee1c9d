//! The savepoint file format: every constant, and the encoder and decoder of each part, next to
//! `docs/format/savepoint.md` (which documents the same bytes, with a worked example that
//! `tests/tests/savepoint_format_example.rs` encodes and compares byte for byte).
//!
//! A savepoint directory holds one file, [`FILE_NAME`]:
//! `preamble ++ header record ++ chunk record* ++ index record ++ footer`.
//! Nothing here depends on Strata's table format, block size, compression or levels: a chunk
//! is a sorted run of plain `(key, value)` pairs of one column family.
//!
//! Invariants: decoders never trust a length or count read from the file: every length is
//! bounded by a named limit and by the bytes actually present before anything is allocated,
//! and every failure is a [`FormatError`] carrying the offset (in the file) where it was found.
//! Encoders check the same limits, so that what they write their decoder accepts.
//!
//! Thread safety: plain functions over plain data.

use super::cursor::Dec;
use strata_base::checksum::{crc32, mask, unmask};
use strata_base::coding::{put_fixed32, put_fixed64, put_varint32, put_varint64};

/// The one file in a savepoint directory.
pub const FILE_NAME: &str = "SAVEPOINT";
/// First and last eight bytes of the file.
pub const MAGIC: [u8; 8] = *b"STRATASV";
/// The format version this build writes.
pub const FORMAT_VERSION: u16 = 1;
/// The newest `min_reader_version` this build can read. A file whose `min_reader_version` is
/// higher is refused with `Error::UnsupportedVersion`.
pub const READER_VERSION: u16 = 1;
/// Preamble: magic (8), version (2), min_reader_version (2), masked CRC32 of the first 12 (4).
pub const PREAMBLE_LEN: usize = 16;
/// Record header: payload length (fixed32) and type (1 byte).
pub const RECORD_HEADER_LEN: usize = 5;
/// Record trailer: masked CRC32 of the header and payload.
pub const RECORD_TRAILER_LEN: usize = 4;
/// Bytes a record adds around its payload.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + RECORD_TRAILER_LEN;
/// Footer: index offset (8), index record length (8), file CRC (4), footer CRC (4), magic (8).
pub const FOOTER_LEN: usize = 32;

/// Record types. DO NOT CHANGE THESE VALUES: they are embedded in savepoints users keep.
pub const RECORD_HEADER: u8 = 1;
pub const RECORD_CHUNK: u8 = 2;
pub const RECORD_INDEX: u8 = 3;

/// Longest key and value a chunk may hold (the engine's own limits).
pub const KEY_LEN_MAX: usize = strata::batch::KEY_LEN_MAX;
pub const VALUE_LEN_MAX: usize = strata::batch::VALUE_LEN_MAX;
/// Largest header payload (family names, options).
pub const HEADER_PAYLOAD_MAX: usize = 4 << 20;
/// Largest chunk target a writer accepts; a chunk holds at most this much plus one entry.
pub const CHUNK_TARGET_MAX: usize = 64 << 20;
/// Largest chunk payload: a full chunk plus one largest entry, plus the counts.
pub const CHUNK_PAYLOAD_MAX: usize = CHUNK_TARGET_MAX + KEY_LEN_MAX + VALUE_LEN_MAX + 32;
/// Largest index payload.
pub const INDEX_PAYLOAD_MAX: usize = 256 << 20;
/// Most column families one savepoint names.
pub const FAMILIES_MAX: usize = 1 << 16;
/// Longest family, comparator, option name or option value.
pub const NAME_LEN_MAX: usize = 4096;
/// Most `(name, value)` option pairs in a header.
pub const OPTIONS_MAX: usize = 1024;

const _: () = assert!(PREAMBLE_LEN == 8 + 2 + 2 + 4);
const _: () = assert!(FOOTER_LEN == 8 + 8 + 4 + 4 + 8);
const _: () = assert!(CHUNK_PAYLOAD_MAX <= u32::MAX as usize);
const _: () = assert!(INDEX_PAYLOAD_MAX <= u32::MAX as usize);
const _: () = assert!(HEADER_PAYLOAD_MAX <= INDEX_PAYLOAD_MAX);

/// What was wrong with bytes of a savepoint, and where (an offset in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    Corrupt {
        offset: u64,
        reason: String,
    },
    /// Written for a newer reader than this build.
    Unsupported {
        min_reader_version: u16,
    },
}

pub type FormatResult<T> = std::result::Result<T, FormatError>;

pub(super) fn corrupt<T>(offset: u64, reason: impl Into<String>) -> FormatResult<T> {
    Err(FormatError::Corrupt { offset, reason: reason.into() })
}

/// The first bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// The version the writer used (informational once `min_reader_version` is accepted).
    pub version: u16,
    /// The oldest reader version that reads the file correctly.
    pub min_reader_version: u16,
}

impl Preamble {
    pub const CURRENT: Preamble = Preamble { version: FORMAT_VERSION, min_reader_version: 1 };

    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10..12].copy_from_slice(&self.min_reader_version.to_le_bytes());
        let crc = mask(crc32(&b[..12]));
        b[12..16].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Checks magic, then the CRC, then the versions: a flipped version byte is corruption,
    /// a well-formed preamble from a newer writer is `Unsupported`.
    pub fn decode(b: &[u8]) -> FormatResult<Preamble> {
        if b.len() < PREAMBLE_LEN {
            return corrupt(0, format!("file of {} bytes is shorter than the preamble", b.len()));
        }
        if b[..8] != MAGIC {
            return corrupt(0, "bad magic: not a Strata savepoint");
        }
        let stored = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        if unmask(stored) != crc32(&b[..12]) {
            return corrupt(12, "preamble checksum mismatch");
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        let min_reader_version = u16::from_le_bytes([b[10], b[11]]);
        if min_reader_version == 0 || version < min_reader_version {
            return corrupt(
                8,
                format!("impossible versions: version {version}, min_reader_version {min_reader_version}"),
            );
        }
        if min_reader_version > READER_VERSION {
            return Err(FormatError::Unsupported { min_reader_version });
        }
        Ok(Preamble { version, min_reader_version })
    }
}

/// Appends `len ++ type ++ payload ++ crc` to `out`.
pub fn encode_record(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // INVARIANT: callers bound payloads by the limits above, all below u32::MAX.
    put_fixed32(out, payload.len() as u32);
    out.push(kind);
    out.extend_from_slice(payload);
    let crc = mask(crc32(&out[start..]));
    put_fixed32(out, crc);
}

/// The payload length and type in a record header at `offset`, checked against `max`.
pub fn decode_record_header(b: &[u8], offset: u64, kind: u8, max: usize) -> FormatResult<usize> {
    let Some(h) = b.get(..RECORD_HEADER_LEN) else {
        return corrupt(offset, "truncated record header");
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if h[4] != kind {
        return corrupt(offset + 4, format!("record type {} where {kind} was expected", h[4]));
    }
    if len > max {
        return corrupt(offset, format!("record payload of {len} bytes exceeds the limit {max}"));
    }
    Ok(len)
}

/// Checks the whole record `b` (exactly one record) found at `offset` and returns its payload.
pub fn decode_record(b: &[u8], offset: u64, kind: u8, max: usize) -> FormatResult<&[u8]> {
    let len = decode_record_header(b, offset, kind, max)?;
    if b.len() != len + RECORD_OVERHEAD {
        return corrupt(offset, format!("record of {} bytes does not hold a {len}-byte payload", b.len()));
    }
    let body = &b[..RECORD_HEADER_LEN + len];
    let t = &b[RECORD_HEADER_LEN + len..];
    let stored = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    if unmask(stored) != crc32(body) {
        return corrupt(offset, "record checksum mismatch");
    }
    Ok(&body[RECORD_HEADER_LEN..])
}

/// A column family as the header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyDesc {
    pub name: String,
    pub comparator: String,
}

/// The header record's payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Every entry is the state of its key at this sequence number of the source.
    pub sequence: u64,
    /// Seconds since the Unix epoch when the savepoint was made.
    pub created_unix_secs: u64,
    /// The source database's options, for information only (restore never applies them).
    pub options: Vec<(String, String)>,
    pub families: Vec<FamilyDesc>,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_fixed64(&mut out, self.sequence);
        put_fixed64(&mut out, self.created_unix_secs);
        put_varint32(&mut out, self.options.len() as u32);
        for (k, v) in &self.options {
            put_bytes(&mut out, k.as_bytes());
            put_bytes(&mut out, v.as_bytes());
        }
        put_varint32(&mut out, self.families.len() as u32);
        for f in &self.families {
            put_bytes(&mut out, f.name.as_bytes());
            put_bytes(&mut out, f.comparator.as_bytes());
        }
        out
    }

    /// Checks the limits [`Header::decode`] enforces, for the writer.
    pub fn check(&self) -> Result<(), String> {
        if self.families.len() > FAMILIES_MAX || self.options.len() > OPTIONS_MAX {
            return Err("too many column families or options for a savepoint header".into());
        }
        let names = self.options.iter().flat_map(|(k, v)| [k, v]);
        let fams = self.families.iter().flat_map(|f| [&f.name, &f.comparator]);
        if let Some(s) = names.chain(fams).find(|s| s.len() > NAME_LEN_MAX) {
            return Err(format!("name of {} bytes exceeds NAME_LEN_MAX ({NAME_LEN_MAX})", s.len()));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(f) = self.families.iter().find(|f| !seen.insert(&f.name)) {
            return Err(format!("column family {} named twice", f.name));
        }
        if self.encode().len() > HEADER_PAYLOAD_MAX {
            return Err("savepoint header exceeds HEADER_PAYLOAD_MAX".into());
        }
        Ok(())
    }

    /// Decodes a payload found at file offset `base`. Bytes after the known fields are
    /// ignored (a newer writer's additions; see the compatibility rule).
    pub fn decode(b: &[u8], base: u64) -> FormatResult<Header> {
        let mut d = Dec { b, pos: 0, base };
        let sequence = d.fixed64()?;
        let created_unix_secs = d.fixed64()?;
        let n = d.count(OPTIONS_MAX, "option")?;
        let mut options = Vec::with_capacity(n);
        for _ in 0..n {
            options.push((d.string()?, d.string()?));
        }
        let n = d.count(FAMILIES_MAX, "column family")?;
        let mut families: Vec<FamilyDesc> = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let at = d.offset();
            let f = FamilyDesc { name: d.string()?, comparator: d.string()? };
            if families.iter().any(|g| g.name == f.name) {
                return corrupt(at, format!("column family {} named twice", f.name));
            }
            families.push(f);
        }
        Ok(Header { sequence, created_unix_secs, options, families })
    }
}

/// Per-family totals in the index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FamilyStats {
    pub entries: u64,
    /// Sum of key and value lengths.
    pub data_bytes: u64,
    pub chunks: u32,
    /// Smallest and largest key (empty when the family has no entries).
    pub first_key: Vec<u8>,
    pub last_key: Vec<u8>,
}

/// Where one chunk is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkMeta {
    /// File offset of the chunk record.
    pub offset: u64,
    /// Length of the whole record (header, payload, trailer).
    pub len: u32,
    /// Index of the family in the header.
    pub family: u32,
    pub entries: u32,
    pub first_key: Vec<u8>,
    pub last_key: Vec<u8>,
}

/// The index record's payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Index {
    pub families: Vec<FamilyStats>,
    pub chunks: Vec<ChunkMeta>,
}

impl Index {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint32(&mut out, self.families.len() as u32);
        for f in &self.families {
            put_varint64(&mut out, f.entries);
            put_varint64(&mut out, f.data_bytes);
            put_varint32(&mut out, f.chunks);
            put_bytes(&mut out, &f.first_key);
            put_bytes(&mut out, &f.last_key);
        }
        put_varint32(&mut out, self.chunks.len() as u32);
        for c in &self.chunks {
            put_varint64(&mut out, c.offset);
            put_varint32(&mut out, c.len);
            put_varint32(&mut out, c.family);
            put_varint32(&mut out, c.entries);
            put_bytes(&mut out, &c.first_key);
            put_bytes(&mut out, &c.last_key);
        }
        out
    }

    /// Decodes a payload found at file offset `base`; trailing bytes are ignored.
    pub fn decode(b: &[u8], base: u64) -> FormatResult<Index> {
        let mut d = Dec { b, pos: 0, base };
        let n = d.count(FAMILIES_MAX, "column family")?;
        let mut families = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            families.push(FamilyStats {
                entries: d.varint64()?,
                data_bytes: d.varint64()?,
                chunks: d.varint32()?,
                first_key: d.bytes(KEY_LEN_MAX)?.to_vec(),
                last_key: d.bytes(KEY_LEN_MAX)?.to_vec(),
            });
        }
        // Each chunk takes at least 6 bytes here, which bounds the count by the payload.
        let n = d.count(b.len() / 6, "chunk")?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            chunks.push(ChunkMeta {
                offset: d.varint64()?,
                len: d.varint32()?,
                family: d.varint32()?,
                entries: d.varint32()?,
                first_key: d.bytes(KEY_LEN_MAX)?.to_vec(),
                last_key: d.bytes(KEY_LEN_MAX)?.to_vec(),
            });
        }
        Ok(Index { families, chunks })
    }
}

/// The last [`FOOTER_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub index_offset: u64,
    /// Length of the whole index record.
    pub index_len: u64,
    /// Masked CRC32 of every byte before the footer.
    pub file_crc: u32,
}

impl Footer {
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.index_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.file_crc.to_le_bytes());
        let crc = mask(crc32(&b[..20]));
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        b[24..32].copy_from_slice(&MAGIC);
        b
    }

    /// Decodes the footer of a file of `file_len` bytes (`b` is its last [`FOOTER_LEN`]).
    pub fn decode(b: &[u8], file_len: u64) -> FormatResult<Footer> {
        let at = file_len.saturating_sub(FOOTER_LEN as u64);
        if b.len() != FOOTER_LEN {
            return corrupt(at, "truncated footer");
        }
        if b[24..32] != MAGIC {
            return corrupt(at + 24, "bad footer magic (truncated or not a savepoint)");
        }
        let stored = u32::from_le_bytes([b[20], b[21], b[22], b[23]]);
        if unmask(stored) != crc32(&b[..20]) {
            return corrupt(at + 20, "footer checksum mismatch");
        }
        let mut d = Dec { b, pos: 0, base: at };
        let f = Footer { index_offset: d.fixed64()?, index_len: d.fixed64()?, file_crc: d.fixed32()? };
        if f.index_offset.checked_add(f.index_len) != Some(at) {
            return corrupt(at, "the index does not end where the footer starts");
        }
        Ok(f)
    }
}

/// Appends one `(key, value)` entry of a chunk payload.
pub fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    put_bytes(out, key);
    put_bytes(out, value);
}

/// Encoded size of one entry.
pub fn entry_len(key: &[u8], value: &[u8]) -> usize {
    strata_base::coding::varint_len(key.len() as u64)
        + key.len()
        + strata_base::coding::varint_len(value.len() as u64)
        + value.len()
}

/// A decoded chunk payload: the family, and each entry as `(key range, value range)` in the
/// payload.
pub type EntrySpans = Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>;

/// Decodes a chunk payload found at file offset `base` and checks it against `meta`: family,
/// count, keys strictly ascending, first and last key.
pub fn decode_chunk(b: &[u8], base: u64, meta: &ChunkMeta) -> FormatResult<EntrySpans> {
    let mut d = Dec { b, pos: 0, base };
    let family = d.varint32()?;
    let at = d.offset();
    let n = d.varint32()?;
    if family != meta.family || n != meta.entries {
        return corrupt(
            base,
            format!(
                "chunk holds family {family} with {n} entries, the index says {} with {}",
                meta.family, meta.entries
            ),
        );
    }
    // Each entry takes at least 2 bytes.
    if n as usize > b.len() / 2 {
        return corrupt(at, format!("chunk claims {n} entries in {} bytes", b.len()));
    }
    let mut out: EntrySpans = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = d.offset();
        let k = d.span(KEY_LEN_MAX)?;
        let v = d.span(VALUE_LEN_MAX)?;
        if let Some((pk, _)) = out.last()
            && b[pk.clone()] >= b[k.clone()]
        {
            return corrupt(at, format!("entry {i} is not after the one before it"));
        }
        out.push((k, v));
    }
    if d.pos != b.len() {
        return corrupt(d.offset(), "bytes after the last entry of a chunk");
    }
    let first = out.first().map(|(k, _)| &b[k.clone()]);
    let last = out.last().map(|(k, _)| &b[k.clone()]);
    if n == 0 || first != Some(&meta.first_key[..]) || last != Some(&meta.last_key[..]) {
        return corrupt(base, "chunk keys do not match the index's first and last key");
    }
    Ok(out)
}

/// Checks that the index describes a well-formed file: chunks contiguous from `data_start`
/// to `index_offset`, families in header order, keys ordered within and across chunks, totals
/// matching. Errors found here are reported at `index_offset`, the index record's offset.
pub fn validate_index(header: &Header, index: &Index, data_start: u64, index_offset: u64) -> FormatResult<()> {
    let bad = |r: String| corrupt(index_offset, r);
    if index.families.len() != header.families.len() {
        return bad(format!("index lists {} families, the header {}", index.families.len(), header.families.len()));
    }
    let mut at = data_start;
    let mut sums = vec![FamilyStats::default(); index.families.len()];
    let mut prev: Option<&ChunkMeta> = None;
    for (i, c) in index.chunks.iter().enumerate() {
        if c.offset != at || (c.len as usize) < RECORD_OVERHEAD || c.len as usize > CHUNK_PAYLOAD_MAX + RECORD_OVERHEAD
        {
            return bad(format!("chunk {i} at {} of {} bytes does not follow the one before it", c.offset, c.len));
        }
        at += u64::from(c.len);
        let Some(s) = sums.get_mut(c.family as usize) else {
            return bad(format!("chunk {i} names family {} of {}", c.family, index.families.len()));
        };
        if c.entries == 0 || c.first_key > c.last_key {
            return bad(format!("chunk {i} is empty or its key range is reversed"));
        }
        if let Some(p) = prev
            && (p.family > c.family || (p.family == c.family && p.last_key >= c.first_key))
        {
            return bad(format!("chunk {i} is out of order"));
        }
        if s.chunks == 0 {
            s.first_key.clone_from(&c.first_key);
        }
        s.last_key.clone_from(&c.last_key);
        s.chunks += 1;
        s.entries += u64::from(c.entries);
        prev = Some(c);
    }
    if at != index_offset {
        return bad(format!("chunks end at {at}, the index starts at {index_offset}"));
    }
    for (i, (f, s)) in index.families.iter().zip(&sums).enumerate() {
        if f.entries != s.entries || f.chunks != s.chunks || f.first_key != s.first_key || f.last_key != s.last_key {
            return bad(format!("totals of family {i} do not match its chunks"));
        }
        if f.data_bytes > u64::from(f.chunks) * CHUNK_PAYLOAD_MAX as u64 {
            return bad(format!("family {i} claims more bytes than its chunks can hold"));
        }
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint32(out, b.len() as u32);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn preamble_round_trips_and_refuses_newer_readers() {
        let b = Preamble::CURRENT.encode();
        assert_eq!(Preamble::decode(&b).unwrap(), Preamble::CURRENT);
        let newer = Preamble { version: 3, min_reader_version: 2 }.encode();
        assert_eq!(Preamble::decode(&newer), Err(FormatError::Unsupported { min_reader_version: 2 }));
        // A newer writer that stays readable by version 1 is accepted.
        let compatible = Preamble { version: 2, min_reader_version: 1 }.encode();
        assert_eq!(Preamble::decode(&compatible).unwrap().version, 2);
        let mut flipped = b;
        flipped[9] ^= 1;
        assert!(matches!(Preamble::decode(&flipped), Err(FormatError::Corrupt { offset: 12, .. })));
    }

    #[test]
    fn record_round_trips_and_catches_flips() {
        let mut out = Vec::new();
        encode_record(RECORD_CHUNK, b"hello", &mut out);
        assert_eq!(decode_record(&out, 0, RECORD_CHUNK, 100).unwrap(), b"hello");
        assert!(decode_record(&out, 0, RECORD_INDEX, 100).is_err());
        assert!(decode_record(&out, 0, RECORD_CHUNK, 4).is_err());
        for i in 0..out.len() {
            let mut b = out.clone();
            b[i] ^= 0x40;
            assert!(decode_record(&b, 0, RECORD_CHUNK, 100).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn header_ignores_trailing_fields_of_newer_writers() {
        let h = Header {
            sequence: 7,
            created_unix_secs: 9,
            options: vec![("a".into(), "b".into())],
            families: vec![FamilyDesc { name: "default".into(), comparator: "c".into() }],
        };
        let mut b = h.encode();
        b.extend_from_slice(b"future field");
        assert_eq!(Header::decode(&b, 0).unwrap(), h);
    }

    #[test]
    fn chunk_decoder_refuses_unsorted_and_miscounted() {
        let meta = |n, first: &[u8], last: &[u8]| ChunkMeta {
            entries: n,
            first_key: first.to_vec(),
            last_key: last.to_vec(),
            ..ChunkMeta::default()
        };
        let mut b = Vec::new();
        put_varint32(&mut b, 0);
        put_varint32(&mut b, 2);
        encode_entry(&mut b, b"a", b"1");
        encode_entry(&mut b, b"b", b"2");
        assert_eq!(decode_chunk(&b, 0, &meta(2, b"a", b"b")).unwrap().len(), 2);
        assert!(decode_chunk(&b, 0, &meta(3, b"a", b"b")).is_err());
        assert!(decode_chunk(&b, 0, &meta(2, b"a", b"c")).is_err());
        let mut u = Vec::new();
        put_varint32(&mut u, 0);
        put_varint32(&mut u, 2);
        encode_entry(&mut u, b"b", b"1");
        encode_entry(&mut u, b"a", b"2");
        assert!(decode_chunk(&u, 0, &meta(2, b"b", b"a")).is_err());
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let mut b = Vec::new();
        put_varint32(&mut b, 0);
        put_varint32(&mut b, u32::MAX);
        assert!(Index::decode(&b, 0).is_err());
    }
}
