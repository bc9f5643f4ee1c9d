//! `VersionEdit`: one change to the set of live tables, and its tagged, extensible encoding.
//!
//! An encoded edit is a sequence of tagged, length-prefixed fields (framing byte by byte in
//! `docs/format/manifest.md`). A field's payload holds its members in a fixed order and may be
//! followed by *sub-fields* framed the same way, which is how a field grows without a new tag. Unknown tags (fields or
//! sub-fields) are skipped when they carry [`TAG_SAFE_TO_IGNORE`] and refused otherwise.
//! See `docs/format/manifest.md`.
//!
//! Invariants: `decode_from(encode_into(e)) == e` for every edit whose strings fit
//! [`NAME_LEN_MAX`] and whose levels are below [`NUM_LEVELS`]. The decoder never panics and never
//! allocates more than the input's size.
//!
//! Thread safety: plain data.

use crate::error::DecodeError;
use crate::format::{
    NAME_LEN_MAX, NUM_LEVELS, SUB_NEW_FILE_EPOCH, SUB_NEW_FILE_GLOBAL_SEQ, TAG_CF_ADD, TAG_CF_DROP, TAG_COMPARATOR,
    TAG_DB_ID, TAG_DELETED_FILE, TAG_INVALID, TAG_LAST_SEQUENCE, TAG_LOG_NUMBER, TAG_MAX_CF_ID, TAG_NEW_FILE,
    TAG_NEXT_FILE_NUMBER, TAG_PARENT_DB_ID, TAG_SAFE_TO_IGNORE,
};
use crate::identity::{DB_ID_LEN, DbId};
use crate::version::FileMeta;
use strata_base::coding::{
    get_fixed32, get_length_prefixed, get_varint32, get_varint64, put_fixed32, put_length_prefixed, put_varint32,
    put_varint64,
};
use strata_base::{CfId, FileNumber};

/// A column family joins the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfAdd {
    pub id: CfId,
    pub name: String,
    /// Name of the comparator the family's tables are sorted by.
    pub comparator: String,
}

/// A table joins `level` of column family `cf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub cf: CfId,
    pub level: usize,
    pub meta: FileMeta,
}

/// Table `number` leaves `level` of column family `cf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedFile {
    pub cf: CfId,
    pub level: usize,
    pub number: FileNumber,
}

/// One change to the database's set of tables and counters. Applied as: column families
/// added, then files deleted, then files added, then column families dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    pub comparator: Option<String>,
    pub log_number: Option<FileNumber>,
    pub next_file_number: Option<FileNumber>,
    pub last_sequence: Option<u64>,
    pub max_cf_id: Option<CfId>,
    pub cf_adds: Vec<CfAdd>,
    pub cf_drops: Vec<CfId>,
    pub deleted_files: Vec<DeletedFile>,
    pub new_files: Vec<NewFile>,
    /// The database's identity (safe-to-ignore tag 65).
    pub db_id: Option<DbId>,
    /// The identity of the database this one was copied from (safe-to-ignore tag 66).
    pub parent_db_id: Option<DbId>,
}

impl VersionEdit {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_file(&mut self, cf: CfId, level: usize, meta: FileMeta) -> &mut Self {
        self.new_files.push(NewFile { cf, level, meta });
        self
    }

    pub fn delete_file(&mut self, cf: CfId, level: usize, number: FileNumber) -> &mut Self {
        self.deleted_files.push(DeletedFile { cf, level, number });
        self
    }

    pub fn add_cf(&mut self, id: CfId, name: impl Into<String>, comparator: impl Into<String>) -> &mut Self {
        self.cf_adds.push(CfAdd { id, name: name.into(), comparator: comparator.into() });
        self
    }

    pub fn drop_cf(&mut self, id: CfId) -> &mut Self {
        self.cf_drops.push(id);
        self
    }

    /// Appends the encoding of this edit to `dst`.
    pub fn encode_into(&self, dst: &mut Vec<u8>) {
        let mut p = Vec::new();
        if let Some(c) = &self.comparator {
            put_field(dst, TAG_COMPARATOR, c.as_bytes());
        }
        for (tag, v) in [
            (TAG_LOG_NUMBER, self.log_number.map(FileNumber::get)),
            (TAG_NEXT_FILE_NUMBER, self.next_file_number.map(FileNumber::get)),
            (TAG_LAST_SEQUENCE, self.last_sequence),
        ] {
            if let Some(v) = v {
                p.clear();
                put_varint64(&mut p, v);
                put_field(dst, tag, &p);
            }
        }
        if let Some(v) = self.max_cf_id {
            p.clear();
            put_varint32(&mut p, v.get());
            put_field(dst, TAG_MAX_CF_ID, &p);
        }
        for a in &self.cf_adds {
            p.clear();
            put_varint32(&mut p, a.id.get());
            put_length_prefixed(&mut p, a.name.as_bytes());
            put_length_prefixed(&mut p, a.comparator.as_bytes());
            put_field(dst, TAG_CF_ADD, &p);
        }
        for &id in &self.cf_drops {
            p.clear();
            put_varint32(&mut p, id.get());
            put_field(dst, TAG_CF_DROP, &p);
        }
        for d in &self.deleted_files {
            p.clear();
            put_varint32(&mut p, d.cf.get());
            put_level(&mut p, d.level);
            put_varint64(&mut p, d.number.get());
            put_field(dst, TAG_DELETED_FILE, &p);
        }
        for f in &self.new_files {
            p.clear();
            put_varint32(&mut p, f.cf.get());
            put_level(&mut p, f.level);
            let m = &f.meta;
            put_varint64(&mut p, m.number.get());
            put_varint64(&mut p, m.size);
            put_length_prefixed(&mut p, &m.smallest);
            put_length_prefixed(&mut p, &m.largest);
            put_varint64(&mut p, m.smallest_seq);
            put_varint64(&mut p, m.largest_seq);
            put_fixed32(&mut p, m.checksum);
            // Sub-fields only when set, so tables without them encode as before.
            let mut sub = Vec::new();
            for (tag, v) in [(SUB_NEW_FILE_EPOCH, m.epoch), (SUB_NEW_FILE_GLOBAL_SEQ, m.global_seq)] {
                if v != 0 {
                    sub.clear();
                    put_varint64(&mut sub, v);
                    put_field(&mut p, tag, &sub);
                }
            }
            put_field(dst, TAG_NEW_FILE, &p);
        }
        for (tag, id) in [(TAG_DB_ID, &self.db_id), (TAG_PARENT_DB_ID, &self.parent_db_id)] {
            if let Some(id) = id {
                put_field(dst, tag, id.as_bytes());
            }
        }
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Decodes an edit from untrusted bytes.
    pub fn decode_from(src: &[u8]) -> Result<Self, DecodeError> {
        let mut edit = Self::default();
        let mut rest = src;
        while !rest.is_empty() {
            let field_start = src.len() - rest.len();
            let (tag, payload) = get_field(&mut rest, field_start)?;
            let payload_start = src.len() - rest.len() - payload.len();
            edit.decode_field(tag, payload, field_start, payload_start)?;
        }
        Ok(edit)
    }

    fn decode_field(&mut self, tag: u32, payload: &[u8], field_start: usize, base: usize) -> Result<(), DecodeError> {
        let mut r = Reader { src: payload, rest: payload, base };
        match tag {
            TAG_COMPARATOR => {
                let name = r.string_all("comparator name")?;
                set_once(&mut self.comparator, name, "comparator", field_start)?;
                return Ok(());
            }
            TAG_LOG_NUMBER => {
                let v = r.file_number("log number")?;
                set_once(&mut self.log_number, v, "log number", field_start)?;
            }
            TAG_NEXT_FILE_NUMBER => {
                let v = r.file_number("next file number")?;
                set_once(&mut self.next_file_number, v, "next file number", field_start)?;
            }
            TAG_LAST_SEQUENCE => {
                let v = r.varint64("last sequence")?;
                set_once(&mut self.last_sequence, v, "last sequence", field_start)?;
            }
            TAG_MAX_CF_ID => {
                let v = r.cf_id("max column family id")?;
                set_once(&mut self.max_cf_id, v, "max column family id", field_start)?;
            }
            TAG_CF_ADD => {
                let id = r.cf_id("column family id")?;
                let name = r.string("column family name")?;
                let comparator = r.string("column family comparator")?;
                self.cf_adds.push(CfAdd { id, name, comparator });
            }
            TAG_CF_DROP => {
                let id = r.cf_id("column family id")?;
                self.cf_drops.push(id);
            }
            TAG_DELETED_FILE => {
                let cf = r.cf_id("column family id")?;
                let level = r.level()?;
                let number = r.file_number("file number")?;
                self.deleted_files.push(DeletedFile { cf, level, number });
            }
            TAG_NEW_FILE => {
                let cf = r.cf_id("column family id")?;
                let level = r.level()?;
                let mut meta = FileMeta {
                    number: r.file_number("file number")?,
                    size: r.varint64("file size")?,
                    smallest: r.bytes("smallest key")?.to_vec(),
                    largest: r.bytes("largest key")?.to_vec(),
                    smallest_seq: r.varint64("smallest sequence")?,
                    largest_seq: r.varint64("largest sequence")?,
                    checksum: r.fixed32("file checksum")?,
                    epoch: 0,
                    global_seq: 0,
                };
                r.new_file_subfields(&mut meta)?;
                self.new_files.push(NewFile { cf, level, meta });
                return Ok(());
            }
            TAG_DB_ID => {
                let id = r.db_id("database identity")?;
                set_once(&mut self.db_id, id, "database identity", field_start)?;
            }
            TAG_PARENT_DB_ID => {
                let id = r.db_id("parent database identity")?;
                set_once(&mut self.parent_db_id, id, "parent database identity", field_start)?;
            }
            TAG_INVALID => return Err(err(field_start, "field tag 0 is invalid")),
            _ if tag & TAG_SAFE_TO_IGNORE != 0 => return Ok(()),
            _ => return Err(newer(field_start, format!("unknown field tag {tag} that is not safe to ignore"))),
        }
        r.subfields()
    }
}

fn put_field(dst: &mut Vec<u8>, tag: u32, payload: &[u8]) {
    put_varint32(dst, tag);
    put_length_prefixed(dst, payload);
}

fn put_level(dst: &mut Vec<u8>, level: usize) {
    // Levels are below NUM_LEVELS (<= 64) in every valid edit; a larger value is encoded
    // saturated and refused by the decoder rather than silently wrapped.
    put_varint32(dst, u32::try_from(level).unwrap_or(u32::MAX));
}

fn err(offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError { offset, reason: reason.into(), newer_format: false }
}

/// A must-understand tag this build does not know: the edit comes from a newer writer.
fn newer(offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError { offset, reason: reason.into(), newer_format: true }
}

fn set_once<T>(slot: &mut Option<T>, v: T, what: &str, offset: usize) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(err(offset, format!("{what} appears twice")));
    }
    *slot = Some(v);
    Ok(())
}

/// Reads one `tag, len, payload` frame.
fn get_field<'a>(rest: &mut &'a [u8], at: usize) -> Result<(u32, &'a [u8]), DecodeError> {
    let tag = get_varint32(rest).ok_or_else(|| err(at, "truncated or malformed field tag"))?;
    let payload = get_length_prefixed(rest).ok_or_else(|| err(at, format!("field {tag}: bad or truncated length")))?;
    Ok((tag, payload))
}

/// A cursor over one field's payload that reports offsets relative to the whole edit.
struct Reader<'a> {
    src: &'a [u8],
    rest: &'a [u8],
    base: usize,
}

impl<'a> Reader<'a> {
    fn at(&self) -> usize {
        self.base + (self.src.len() - self.rest.len())
    }

    fn varint64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let at = self.at();
        get_varint64(&mut self.rest).ok_or_else(|| err(at, format!("{what}: truncated or malformed varint")))
    }

    fn varint32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let at = self.at();
        get_varint32(&mut self.rest).ok_or_else(|| err(at, format!("{what}: truncated or malformed varint32")))
    }

    fn file_number(&mut self, what: &str) -> Result<FileNumber, DecodeError> {
        self.varint64(what).map(FileNumber::new)
    }

    fn cf_id(&mut self, what: &str) -> Result<CfId, DecodeError> {
        self.varint32(what).map(CfId::new)
    }

    fn fixed32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let at = self.at();
        get_fixed32(&mut self.rest).ok_or_else(|| err(at, format!("{what}: truncated")))
    }

    fn db_id(&mut self, what: &str) -> Result<DbId, DecodeError> {
        let at = self.at();
        let (head, tail) =
            self.rest.split_at_checked(DB_ID_LEN).ok_or_else(|| err(at, format!("{what}: truncated")))?;
        self.rest = tail;
        let mut id = [0u8; DB_ID_LEN];
        id.copy_from_slice(head);
        Ok(DbId::from_bytes(id))
    }

    fn level(&mut self) -> Result<usize, DecodeError> {
        let at = self.at();
        let level = self.varint32("level")?;
        usize::try_from(level)
            .ok()
            .filter(|&l| l < NUM_LEVELS)
            .ok_or_else(|| err(at, format!("level {level} is not below {NUM_LEVELS}")))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let at = self.at();
        get_length_prefixed(&mut self.rest).ok_or_else(|| err(at, format!("{what}: bad or truncated length")))
    }

    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let at = self.at();
        let b = self.bytes(what)?;
        to_name(b, at, what)
    }

    /// The whole remaining payload as a string (the comparator field has no sub-fields).
    fn string_all(&mut self, what: &str) -> Result<String, DecodeError> {
        let at = self.at();
        let b = std::mem::take(&mut self.rest);
        to_name(b, at, what)
    }

    /// Reads the sub-fields of a new-file field: the epoch and the global sequence number (each
    /// at most once, a varint64 filling its payload), unknown ones by the usual rule.
    fn new_file_subfields(mut self, meta: &mut FileMeta) -> Result<(), DecodeError> {
        let (mut epoch, mut global_seq) = (None, None);
        while !self.rest.is_empty() {
            let at = self.at();
            let (tag, mut payload) = get_field(&mut self.rest, at)?;
            let (slot, what) = match tag {
                SUB_NEW_FILE_EPOCH => (&mut epoch, "table epoch"),
                SUB_NEW_FILE_GLOBAL_SEQ => (&mut global_seq, "table global sequence number"),
                _ if tag & TAG_SAFE_TO_IGNORE != 0 => continue,
                _ => return Err(err(at, format!("unknown sub-field tag {tag} that is not safe to ignore"))),
            };
            let v = get_varint64(&mut payload)
                .filter(|_| payload.is_empty())
                .ok_or_else(|| err(at, format!("{what}: not one varint64")))?;
            set_once(slot, v, what, at)?;
        }
        meta.epoch = epoch.unwrap_or(0);
        meta.global_seq = global_seq.unwrap_or(0);
        if meta.global_seq != 0 && (meta.smallest_seq != meta.global_seq || meta.largest_seq != meta.global_seq) {
            return Err(err(self.base, "table with a global sequence number has other sequence numbers"));
        }
        Ok(())
    }

    /// Skips trailing sub-fields, refusing any that are not safe to ignore.
    fn subfields(mut self) -> Result<(), DecodeError> {
        while !self.rest.is_empty() {
            let at = self.at();
            let (tag, _) = get_field(&mut self.rest, at)?;
            if tag & TAG_SAFE_TO_IGNORE == 0 {
                if tag == TAG_INVALID {
                    return Err(err(at, "sub-field tag 0 is invalid"));
                }
                return Err(newer(at, format!("unknown sub-field tag {tag} that is not safe to ignore")));
            }
        }
        Ok(())
    }
}

fn to_name(b: &[u8], at: usize, what: &str) -> Result<String, DecodeError> {
    if b.len() > NAME_LEN_MAX {
        return Err(err(at, format!("{what}: {} bytes exceeds NAME_LEN_MAX {NAME_LEN_MAX}", b.len())));
    }
    String::from_utf8(b.to_vec()).map_err(|_| err(at, format!("{what}: not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(number: u64) -> FileMeta {
        FileMeta {
            number: FileNumber::new(number),
            size: 4096,
            smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
            largest: b"z\x01\0\0\0\0\0\0\0".to_vec(),
            smallest_seq: 1,
            largest_seq: 9,
            checksum: 0xdead_beef,
            epoch: 0,
            global_seq: 0,
        }
    }

    fn full_edit() -> VersionEdit {
        let mut e = VersionEdit {
            comparator: Some("strata.InternalKeyComparator:strata.BytewiseComparator".into()),
            log_number: Some(FileNumber::new(4)),
            next_file_number: Some(FileNumber::new(1 << 40)),
            last_sequence: Some(12345),
            max_cf_id: Some(CfId::new(3)),
            db_id: Some(DbId::from_bytes([7; DB_ID_LEN])),
            parent_db_id: Some(DbId::from_bytes([9; DB_ID_LEN])),
            ..VersionEdit::default()
        };
        e.add_cf(CfId::new(3), "users", "cmp")
            .drop_cf(CfId::new(2))
            .delete_file(CfId::DEFAULT, 1, FileNumber::new(77))
            .add_file(CfId::new(3), 6, meta(78));
        e.add_file(CfId::new(3), 0, FileMeta { epoch: 5, global_seq: 9, smallest_seq: 9, ..meta(79) });
        e
    }

    #[test]
    fn round_trips_every_field() {
        let e = full_edit();
        assert_eq!(VersionEdit::decode_from(&e.encode()), Ok(e));
        assert_eq!(VersionEdit::decode_from(&[]), Ok(VersionEdit::default()));
    }

    #[test]
    fn unknown_safe_field_is_skipped() {
        let mut bytes = full_edit().encode();
        put_field(&mut bytes, TAG_SAFE_TO_IGNORE | 17, b"future stuff");
        assert_eq!(VersionEdit::decode_from(&bytes), Ok(full_edit()));
    }

    #[test]
    fn unknown_required_field_is_refused() {
        let mut bytes = full_edit().encode();
        let at = bytes.len();
        put_field(&mut bytes, 17, b"future stuff");
        let e = VersionEdit::decode_from(&bytes).unwrap_err();
        assert_eq!(e.offset, at);
        assert!(e.reason.contains("unknown field tag 17"), "{e}");
    }

    #[test]
    fn unknown_subfields_follow_the_same_rule() {
        let mut p = Vec::new();
        put_varint32(&mut p, 9);
        put_field(&mut p, TAG_SAFE_TO_IGNORE | 1, b"x");
        let mut bytes = Vec::new();
        put_field(&mut bytes, TAG_CF_DROP, &p);
        assert_eq!(VersionEdit::decode_from(&bytes).map(|e| e.cf_drops), Ok(vec![CfId::new(9)]));

        let mut p = Vec::new();
        put_varint32(&mut p, 9);
        put_field(&mut p, 1, b"x");
        let mut bytes = Vec::new();
        put_field(&mut bytes, TAG_CF_DROP, &p);
        let e = VersionEdit::decode_from(&bytes).unwrap_err();
        assert!(e.reason.contains("sub-field tag 1"), "{e}");
    }

    /// A new-file field with the given sub-field bytes appended.
    fn new_file_with(sub: &[u8]) -> Vec<u8> {
        let mut one = VersionEdit::new();
        one.add_file(CfId::DEFAULT, 0, meta(5));
        let mut bytes = one.encode();
        // Re-frame: the payload grows by the sub-field.
        let mut rest = bytes.as_slice();
        let (_, payload) = get_field(&mut rest, 0).unwrap();
        let mut p = payload.to_vec();
        p.extend_from_slice(sub);
        bytes.clear();
        put_field(&mut bytes, TAG_NEW_FILE, &p);
        bytes
    }

    #[test]
    fn new_file_subfields_round_trip_and_are_must_understand() {
        let mut e = VersionEdit::new();
        e.add_file(CfId::DEFAULT, 0, FileMeta { epoch: 300, ..meta(5) });
        assert_eq!(VersionEdit::decode_from(&e.encode()), Ok(e.clone()));
        // No sub-field is written for zero values: tables from before epochs encode as before.
        let mut plain = VersionEdit::new();
        plain.add_file(CfId::DEFAULT, 0, meta(5));
        assert_eq!(e.encode().len(), plain.encode().len() + 4);

        let mut sub = Vec::new();
        put_field(&mut sub, SUB_NEW_FILE_EPOCH, &[7]);
        let d = VersionEdit::decode_from(&new_file_with(&sub)).unwrap();
        assert_eq!(d.new_files[0].meta.epoch, 7);
        // Twice, not one varint, an unknown must-understand tag: refused.
        let mut twice = sub.clone();
        put_field(&mut twice, SUB_NEW_FILE_EPOCH, &[8]);
        assert!(VersionEdit::decode_from(&new_file_with(&twice)).unwrap_err().reason.contains("twice"));
        let mut long = Vec::new();
        put_field(&mut long, SUB_NEW_FILE_EPOCH, &[7, 0]);
        assert!(VersionEdit::decode_from(&new_file_with(&long)).unwrap_err().reason.contains("varint64"));
        let mut unknown = Vec::new();
        put_field(&mut unknown, 3, &[7]);
        assert!(VersionEdit::decode_from(&new_file_with(&unknown)).unwrap_err().reason.contains("sub-field tag 3"));
        let mut skip = Vec::new();
        put_field(&mut skip, TAG_SAFE_TO_IGNORE | 3, &[7]);
        assert!(VersionEdit::decode_from(&new_file_with(&skip)).is_ok());
        // A global sequence number must match the table's sequence range.
        let mut g = Vec::new();
        put_field(&mut g, SUB_NEW_FILE_GLOBAL_SEQ, &[4]);
        assert!(VersionEdit::decode_from(&new_file_with(&g)).unwrap_err().reason.contains("global sequence"));
    }

    #[test]
    fn tag_zero_is_refused() {
        let e = VersionEdit::decode_from(&[0, 0]).unwrap_err();
        assert!(e.reason.contains("tag 0"), "{e}");
    }

    #[test]
    fn truncated_edit_is_refused_inside_every_field() {
        // The encoding has no terminator (the record checksum guards the whole edit), so a
        // prefix that ends between fields is a shorter valid edit; one that ends inside a field
        // must be refused.
        let bytes = full_edit().encode();
        let mut boundaries = vec![0];
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            get_field(&mut rest, 0).unwrap();
            boundaries.push(bytes.len() - rest.len());
        }
        assert_eq!(boundaries.len(), 13, "one boundary per field plus the start");
        for n in 1..bytes.len() {
            let r = VersionEdit::decode_from(&bytes[..n]);
            assert_eq!(r.is_ok(), boundaries.contains(&n), "prefix of {n} bytes: {r:?}");
        }
    }

    #[test]
    fn level_out_of_range_is_refused() {
        let mut p = Vec::new();
        put_varint32(&mut p, 0);
        put_varint32(&mut p, NUM_LEVELS as u32);
        put_varint64(&mut p, 5);
        let mut bytes = Vec::new();
        put_field(&mut bytes, TAG_DELETED_FILE, &p);
        let e = VersionEdit::decode_from(&bytes).unwrap_err();
        assert!(e.reason.contains("level 7"), "{e}");
    }

    #[test]
    fn duplicate_singleton_is_refused() {
        let e = VersionEdit { log_number: Some(FileNumber::new(1)), ..VersionEdit::default() };
        let mut bytes = e.encode();
        bytes.extend_from_slice(&e.encode());
        assert!(VersionEdit::decode_from(&bytes).unwrap_err().reason.contains("twice"));
    }

    #[test]
    fn huge_length_does_not_allocate() {
        // Tag 9 with a length of 2^60: must fail on the length check, not allocate.
        let mut bytes = Vec::new();
        put_varint32(&mut bytes, TAG_NEW_FILE);
        put_varint64(&mut bytes, 1 << 60);
        assert!(VersionEdit::decode_from(&bytes).is_err());
    }

    #[test]
    fn identity_fields_are_checked() {
        let mut bytes = Vec::new();
        put_field(&mut bytes, TAG_DB_ID, &[1; DB_ID_LEN - 1]);
        assert!(VersionEdit::decode_from(&bytes).unwrap_err().reason.contains("truncated"));
        let e = VersionEdit { db_id: Some(DbId::generate()), ..VersionEdit::default() };
        let mut bytes = e.encode();
        assert_eq!(bytes.len(), 2 + DB_ID_LEN, "tag, length, 16 bytes");
        assert_eq!(bytes[0], 65);
        assert_eq!(VersionEdit::decode_from(&bytes).as_ref(), Ok(&e));
        bytes.extend_from_slice(&e.encode());
        assert!(VersionEdit::decode_from(&bytes).unwrap_err().reason.contains("twice"));
        // A safe-to-ignore sub-field after the id is skipped.
        let mut p = e.db_id.map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        put_field(&mut p, TAG_SAFE_TO_IGNORE | 3, b"x");
        let mut bytes = Vec::new();
        put_field(&mut bytes, TAG_PARENT_DB_ID, &p);
        assert_eq!(VersionEdit::decode_from(&bytes).map(|x| x.parent_db_id), Ok(e.db_id));
    }

    #[test]
    fn bad_utf8_name_is_refused() {
        let mut bytes = Vec::new();
        put_field(&mut bytes, TAG_COMPARATOR, b"\xff\xfe");
        assert!(VersionEdit::decode_from(&bytes).unwrap_err().reason.contains("UTF-8"));
    }
}
