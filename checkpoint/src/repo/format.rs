//! Every constant, name and on-disk record of a snapshot repository's metadata, and the one
//! framing all metadata files share (`docs/format/repository.md`):
//!
//! ```text
//! STRATA-REPO <kind> <version> <body length> <crc32 of body, 8 hex digits>\n
//! <body: one JSON document>
//! ```
//!
//! Version 2 (this build's) writes compact JSON and leaves out each file record's `key` and
//! `name`, which readers derive from the record's other fields; version 1 wrote pretty JSON
//! with both, and readers still accept it, comparing both with what they derive.
//!
//! Invariants: a file is accepted only if its header parses exactly, its kind is the one
//! expected, its version is known, its body has the stated length (at most
//! [`METADATA_LEN_MAX`]) and checksum, and the body decodes and validates (keys confined to
//! their directories, sizes bounded). Everything else is `Corruption` naming the file.
//!
//! Thread safety: pure functions and plain data.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use strata::{DbId, Error, Result};
use strata_manifest::{CfId, FileNumber, NUM_LEVELS, log_file_name, table_file_name};

/// First word of every metadata file.
pub const MAGIC: &str = "STRATA-REPO";
/// The metadata format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest metadata format version this build reads.
pub const FORMAT_VERSION_MIN: u32 = 1;
/// Largest metadata body accepted, in bytes.
pub const METADATA_LEN_MAX: usize = 256 << 20;
/// Longest header line accepted, in bytes (magic, kind, three numbers, spaces).
pub const HEADER_LEN_MAX: usize = 80;
/// Longest snapshot name, label key or label value, in bytes.
pub const NAME_LEN_MAX: usize = 1024;
/// Most labels per snapshot.
pub const LABELS_MAX: usize = 64;
/// Most files per snapshot.
pub const FILES_MAX: usize = 1 << 20;

const _: () = assert!(METADATA_LEN_MAX < u32::MAX as usize);
const _: () = assert!(0 < FORMAT_VERSION_MIN && FORMAT_VERSION_MIN <= FORMAT_VERSION);
const _: () = assert!(HEADER_LEN_MAX > MAGIC.len() + 16 + 10 + 10 + 8 + 5);

/// Kinds of metadata file (the second word of the header).
pub const KIND_REPOSITORY: &str = "repository";
pub const KIND_COMMIT: &str = "commit";
pub const KIND_LOG_CHECKPOINT: &str = "log-checkpoint";
pub const KIND_LAST_CHECKPOINT: &str = "last-checkpoint";
pub const KIND_BUNDLE: &str = "bundle";

/// Keys of the repository layout.
pub const REPOSITORY_KEY: &str = "REPOSITORY";
pub const LOG_DIR: &str = "log";
pub const TABLES_DIR: &str = "tables";
pub const WALS_DIR: &str = "wals";
pub const TRASH_DIR: &str = "trash";
pub const LAST_CHECKPOINT_NAME: &str = "_last_checkpoint";
pub const COMMIT_SUFFIX: &str = ".commit";
pub const LOG_CHECKPOINT_SUFFIX: &str = ".checkpoint";
/// Digits of a log version in a file name.
pub const VERSION_WIDTH: usize = 20;

/// `log/<version:020>.commit`.
pub fn commit_key(version: u64) -> String {
    format!("{LOG_DIR}/{version:0VERSION_WIDTH$}{COMMIT_SUFFIX}")
}

/// `log/<version:020>.checkpoint`.
pub fn log_checkpoint_key(version: u64) -> String {
    format!("{LOG_DIR}/{version:0VERSION_WIDTH$}{LOG_CHECKPOINT_SUFFIX}")
}

pub fn last_checkpoint_key() -> String {
    format!("{LOG_DIR}/{LAST_CHECKPOINT_NAME}")
}

/// What a name in `log/` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogName {
    Commit(u64),
    Checkpoint(u64),
}

/// Parses a name in `log/`; `None` for anything else (the hint, foreign files).
pub fn parse_log_name(name: &str) -> Option<LogName> {
    let parse = |digits: &str| {
        (digits.len() == VERSION_WIDTH && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    };
    if let Some(d) = name.strip_suffix(COMMIT_SUFFIX) {
        return parse(d).map(LogName::Commit);
    }
    name.strip_suffix(LOG_CHECKPOINT_SUFFIX).and_then(parse).map(LogName::Checkpoint)
}

/// `tables/<db id>-<number:06>-<size>-<checksum:08x>.sst`: two different tables never share a
/// key (a database never reuses a file number; another database has another identity).
pub fn table_key(db_id: &DbId, number: FileNumber, size: u64, checksum: u32) -> String {
    let mut out = String::with_capacity(TABLE_KEY_LEN_TYPICAL);
    write_table_key(&mut out, &db_id.to_hex(), number, size, checksum);
    out
}

/// A table key's usual length (a 10-digit size); only a capacity hint.
const TABLE_KEY_LEN_TYPICAL: usize = TABLES_DIR.len() + 1 + 32 + 1 + 6 + 1 + 10 + 1 + 8 + 4;

/// Replaces `out` with [`table_key`] for the identity whose hex is `db_hex` (computed once
/// for a whole snapshot, the buffer reused: this runs for every table of every record checked).
pub fn write_table_key(out: &mut String, db_hex: &str, number: FileNumber, size: u64, checksum: u32) {
    use std::fmt::Write as _;
    out.clear();
    // Writing into a String cannot fail.
    let _ = write!(out, "{TABLES_DIR}/{db_hex}-{number:06}-{size}-{checksum:08x}.sst");
}

/// `wals/<db id>-s<snapshot id>-<number:06>.log`: a WAL prefix belongs to one snapshot.
pub fn wal_key(db_id: &DbId, snapshot_id: u64, number: FileNumber) -> String {
    format!("{WALS_DIR}/{db_id}-s{snapshot_id}-{number:06}.log")
}

/// Frames `body` as a metadata file of `kind`: compact JSON (a commit or a log checkpoint
/// lists every table of a snapshot; indentation was a third of its bytes).
pub fn frame<T: Serialize>(kind: &str, body: &T) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(body).map_err(|e| Error::InvalidArgument(format!("encoding {kind}: {e}")))?;
    if json.len() > METADATA_LEN_MAX {
        return Err(Error::InvalidArgument(format!(
            "{kind} metadata of {} bytes exceeds {METADATA_LEN_MAX}",
            json.len()
        )));
    }
    let crc = strata_base::checksum::crc32(&json);
    let mut out = format!("{MAGIC} {kind} {FORMAT_VERSION} {} {crc:08x}\n", json.len()).into_bytes();
    out.extend_from_slice(&json);
    Ok(out)
}

/// Checks the framing of `bytes` (a file named `file`) and decodes its body.
pub fn unframe<T: DeserializeOwned>(kind: &str, bytes: &[u8], file: &Path) -> Result<T> {
    let bad = |offset: usize, reason: String| Error::corruption(file, offset as u64, reason);
    let nl = bytes.iter().take(HEADER_LEN_MAX).position(|&b| b == b'\n').ok_or_else(|| {
        bad(0, format!("no header line within {HEADER_LEN_MAX} bytes (not a repository metadata file, or truncated)"))
    })?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad(0, "header is not UTF-8".into()))?;
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, got_kind, version, len, crc] = fields[..] else {
        return Err(bad(0, format!("header {header:?} does not have five fields")));
    };
    if magic != MAGIC {
        return Err(bad(0, format!("magic {magic:?} is not {MAGIC:?}")));
    }
    if got_kind != kind {
        return Err(bad(0, format!("file is a {got_kind:?}, expected a {kind:?}")));
    }
    let version: u32 = version.parse().map_err(|_| bad(0, format!("bad version {version:?}")))?;
    if version < FORMAT_VERSION_MIN {
        return Err(bad(0, format!("version {version} is invalid")));
    }
    if version > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            file: file.to_path_buf(),
            offset: 0,
            reason: format!("format version {version}; this build reads up to {FORMAT_VERSION}"),
        });
    }
    let len: usize = len.parse().map_err(|_| bad(0, format!("bad length {len:?}")))?;
    if len > METADATA_LEN_MAX {
        return Err(bad(0, format!("length {len} exceeds {METADATA_LEN_MAX}")));
    }
    let crc = (crc.len() == 8)
        .then(|| u32::from_str_radix(crc, 16).ok())
        .flatten()
        .ok_or_else(|| bad(0, format!("bad checksum field {crc:?}")))?;
    let body = &bytes[nl + 1..];
    if body.len() != len {
        return Err(bad(nl + 1, format!("body is {} bytes, header says {len} (truncated or extended)", body.len())));
    }
    let actual = strata_base::checksum::crc32(body);
    if actual != crc {
        return Err(bad(nl + 1, format!("body checksum {actual:08x} does not match the header's {crc:08x}")));
    }
    serde_json::from_slice(body).map_err(|e| bad(nl + 1, format!("body does not decode as a {kind}: {e}")))
}

/// Largest metadata file accepted, in bytes: a header and a body of the largest size.
pub const METADATA_FILE_LEN_MAX: u64 = (HEADER_LEN_MAX + METADATA_LEN_MAX) as u64;

/// Reads metadata object `key` (a file named `file`), refusing one larger than
/// [`METADATA_FILE_LEN_MAX`] before reading it; `None` if it does not exist.
pub fn get_metadata(store: &dyn crate::store::Store, key: &str, file: &Path) -> Result<Option<bytes::Bytes>> {
    match store.size(key)? {
        None => return Ok(None),
        Some(n) if n > METADATA_FILE_LEN_MAX => {
            return Err(Error::corruption(
                file,
                0,
                format!("{n} bytes exceed METADATA_FILE_LEN_MAX {METADATA_FILE_LEN_MAX}"),
            ));
        }
        Some(_) => {}
    }
    store.get(key)
}

/// Lowercase hex of `bytes` (a table lookup per digit: this runs for every table's two keys).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Bytes of lowercase or uppercase hex; `None` if malformed.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !is_hex(s) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    s.as_bytes().chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// Whether `s` is well-formed hex (what [`from_hex`] accepts), without decoding it.
pub fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a stored file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A table, shared between snapshots; `checksum` is the table's own whole-file checksum
    /// (CRC32 of every byte before its footer, also stored in the footer).
    Table,
    /// A WAL prefix private to one snapshot; `checksum` is the CRC32 of all its bytes.
    Wal,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub kind: FileKind,
    /// The object's key in the repository. Not written since format version 2: readers derive
    /// it from the other fields (see [`SnapshotRecord::derive_keys_and_names`]); a version-1
    /// record carries it and `validate` compares it with the derived one.
    #[serde(default, skip_serializing)]
    pub key: String,
    /// The file's name in a restored database (`000012.sst`, `000013.log`); written and read
    /// as `key` is.
    #[serde(default, skip_serializing)]
    pub name: String,
    #[serde(with = "plain::cf_id")]
    pub cf: CfId,
    pub level: u32,
    #[serde(with = "plain::file_number")]
    pub number: FileNumber,
    pub size: u64,
    pub checksum: u32,
    /// Smallest and largest internal key, hex (empty for a WAL).
    pub smallest: String,
    pub largest: String,
    pub smallest_seq: u64,
    pub largest_seq: u64,
    /// The table's epoch (L0 order) and global sequence number (an ingested table's), as in
    /// its manifest entry; absent (0) in records written before they existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub global_seq: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// File numbers and column-family ids in records are plain JSON numbers (their raw values), as
/// they were before they had types: `#[serde(with = "plain::file_number")]`.
mod plain {
    pub mod file_number {
        use serde::{Deserialize, Deserializer, Serializer};
        use strata_manifest::FileNumber;

        pub fn serialize<S: Serializer>(n: &FileNumber, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u64(n.get())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FileNumber, D::Error> {
            u64::deserialize(d).map(FileNumber::new)
        }
    }

    pub mod cf_id {
        use serde::{Deserialize, Deserializer, Serializer};
        use strata_manifest::CfId;

        pub fn serialize<S: Serializer>(id: &CfId, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u32(id.get())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CfId, D::Error> {
            u32::deserialize(d).map(CfId::new)
        }
    }
}

/// A column family of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfRecord {
    #[serde(with = "plain::cf_id")]
    pub id: CfId,
    pub name: String,
    /// The user-key comparator's name.
    pub comparator: String,
}

/// Everything a complete snapshot holds: enough to write a fresh manifest of exactly the pinned
/// state, and to check every file. Decoding derives each file's key and name where the JSON
/// has none (format version 2); `validate` then checks every file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct SnapshotRecord {
    pub id: u64,
    pub name: Option<String>,
    pub db_id: String,
    pub parent_db_id: Option<String>,
    pub sequence: u64,
    pub created_at_ms: u64,
    pub labels: BTreeMap<String, String>,
    /// The manifest's (internal key) comparator name.
    pub comparator: String,
    #[serde(with = "plain::file_number")]
    pub log_number: FileNumber,
    #[serde(with = "plain::file_number")]
    pub next_file_number: FileNumber,
    #[serde(with = "plain::cf_id")]
    pub max_cf_id: CfId,
    pub column_families: Vec<CfRecord>,
    pub files: Vec<FileRecord>,
    pub bytes_total: u64,
    pub bytes_added: u64,
}

impl FileRecord {
    /// A WAL prefix stored under `key`: its file name comes from its number; no key or sequence
    /// range (a WAL has neither in the metadata).
    pub(crate) fn wal(key: String, number: FileNumber, size: u64, checksum: u32) -> FileRecord {
        FileRecord {
            kind: FileKind::Wal,
            key,
            name: log_file_name(number),
            cf: CfId::DEFAULT,
            level: 0,
            number,
            size,
            checksum,
            smallest: String::new(),
            largest: String::new(),
            smallest_seq: 0,
            largest_seq: 0,
            epoch: 0,
            global_seq: 0,
        }
    }

    /// This table of a bundle at `bundle`, for `Db::import_column_families`: its level, and the
    /// global sequence number it is read at when it was ingested (without it, its entries would
    /// count as older than every other table's).
    pub(crate) fn import_file(&self, bundle: &Path) -> strata::ImportFile {
        strata::ImportFile { path: bundle.join(&self.name), level: self.level as usize, global_seq: self.global_seq }
    }
}

// `remote = "Self"` makes the derived code inherent functions; these impls wrap them, so every
// record decoded through `Deserialize` (commit, log checkpoint, bundle) has its keys and names.
// NB: the inherent `SnapshotRecord::deserialize` leaves them empty; a record decoded with it
// fails `validate` (its keys do not match), so the mistake is loud, never a wrong path.
impl Serialize for SnapshotRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        SnapshotRecord::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for SnapshotRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut record = SnapshotRecord::deserialize(d)?;
        record.derive_keys_and_names();
        Ok(record)
    }
}

impl SnapshotRecord {
    /// Fills every file's key and name the JSON left out (format version 2) from its other
    /// fields, as the writer made them. A record with a bad identity gets none (`validate`
    /// refuses it); keys and names present (version 1) are left for `validate` to compare.
    pub fn derive_keys_and_names(&mut self) {
        let Some(db_id) = self.db_id() else { return };
        let db_hex = db_id.to_hex();
        for f in &mut self.files {
            if f.key.is_empty() {
                match f.kind {
                    FileKind::Table => write_table_key(&mut f.key, &db_hex, f.number, f.size, f.checksum),
                    FileKind::Wal => f.key = wal_key(&db_id, self.id, f.number),
                }
            }
            if f.name.is_empty() {
                f.name = match f.kind {
                    FileKind::Table => table_file_name(f.number),
                    FileKind::Wal => log_file_name(f.number),
                };
            }
        }
    }

    /// The database identity, parsed.
    pub fn db_id(&self) -> Option<DbId> {
        DbId::from_hex(&self.db_id)
    }

    /// Checks a record read from disk (or built for a commit): why it is unusable, if it is.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let db_id =
            self.db_id().ok_or_else(|| format!("snapshot {}: bad database identity {:?}", self.id, self.db_id))?;
        if let Some(p) = &self.parent_db_id {
            DbId::from_hex(p).ok_or_else(|| format!("snapshot {}: bad parent identity {p:?}", self.id))?;
        }
        check_name_and_labels(self.name.as_deref(), &self.labels)?;
        if self.files.len() > FILES_MAX {
            return Err(format!("snapshot {}: {} files exceed {FILES_MAX}", self.id, self.files.len()));
        }
        if self.column_families.iter().all(|c| c.id != CfId::DEFAULT) {
            return Err(format!("snapshot {}: no default column family (id 0)", self.id));
        }
        for c in &self.column_families {
            if c.name.len() > NAME_LEN_MAX || c.comparator.len() > NAME_LEN_MAX || c.id > self.max_cf_id {
                return Err(format!("snapshot {}: column family {} is malformed", self.id, c.id));
            }
        }
        let db_hex = db_id.to_hex();
        let mut numbers = std::collections::HashSet::with_capacity(self.files.len());
        // Reused for every table: the key each record must carry.
        let mut key = String::new();
        for f in &self.files {
            let bad = |why: &str| format!("snapshot {}: file {:?}: {why}", self.id, f.key);
            let name_ok = match f.kind {
                FileKind::Table => {
                    write_table_key(&mut key, &db_hex, f.number, f.size, f.checksum);
                    is_file_name(&f.name, f.number, ".sst")
                }
                FileKind::Wal => {
                    key = wal_key(&db_id, self.id, f.number);
                    is_file_name(&f.name, f.number, ".log")
                }
            };
            if f.key != key || !name_ok {
                let name = match f.kind {
                    FileKind::Table => table_file_name(f.number),
                    FileKind::Wal => log_file_name(f.number),
                };
                return Err(bad(&format!("key or name does not match its fields (expected {key:?}, {name:?})")));
            }
            if f.number >= self.next_file_number || !numbers.insert(f.number) {
                return Err(bad("file number not below next_file_number, or used twice"));
            }
            if f.kind == FileKind::Table {
                if f.level as usize >= NUM_LEVELS || !self.column_families.iter().any(|c| c.id == f.cf) {
                    return Err(bad("level or column family out of range"));
                }
                if !is_hex(&f.smallest) || !is_hex(&f.largest) || f.smallest_seq > f.largest_seq {
                    return Err(bad("bad key or sequence range"));
                }
            }
        }
        Ok(())
    }
}

/// Whether `name` is `number`'s file name with `suffix` (`table_file_name`, `log_file_name`:
/// at least six digits, zero-padded), checked without building it.
fn is_file_name(name: &str, number: FileNumber, suffix: &str) -> bool {
    let Some(digits) = name.strip_suffix(suffix) else { return false };
    let n = number.get();
    let width = n.checked_ilog10().map_or(1, |l| l as usize + 1).max(6);
    digits.len() == width && digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u64>().ok() == Some(n)
}

/// Checks a snapshot name and labels against the limits.
pub fn check_name_and_labels(name: Option<&str>, labels: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    if name.is_some_and(|n| n.len() > NAME_LEN_MAX) {
        return Err(format!("snapshot name longer than {NAME_LEN_MAX} bytes"));
    }
    if labels.len() > LABELS_MAX {
        return Err(format!("{} labels exceed {LABELS_MAX}", labels.len()));
    }
    if labels.iter().any(|(k, v)| k.len() > NAME_LEN_MAX || v.len() > NAME_LEN_MAX) {
        return Err(format!("a label key or value is longer than {NAME_LEN_MAX} bytes"));
    }
    Ok(())
}

/// The body of `REPOSITORY`, the marker that says a directory is a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryMarker {
    pub format_version: u32,
    pub created_at_ms: u64,
}

/// The body of `log/_last_checkpoint`: a hint naming the newest log checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCheckpoint {
    /// The log version the checkpoint holds the state after.
    pub version: u64,
    /// Snapshot entries in it.
    pub size: u64,
    /// Bytes of the checkpoint file.
    pub size_in_bytes: u64,
    /// CRC32 of the whole checkpoint file.
    pub checksum: u32,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use strata_base::checksum::crc32;

    fn p() -> &'static Path {
        Path::new("/r/log/x")
    }

    #[test]
    fn framing_round_trips_and_checks_every_header_field() {
        let body = LastCheckpoint { version: 10, size: 2, size_in_bytes: 300, checksum: 7 };
        let bytes = frame(KIND_LAST_CHECKPOINT, &body).unwrap();
        assert_eq!(unframe::<LastCheckpoint>(KIND_LAST_CHECKPOINT, &bytes, p()).unwrap(), body);
        assert!(matches!(unframe::<LastCheckpoint>(KIND_COMMIT, &bytes, p()), Err(Error::Corruption { .. })));
        // Every flipped byte is caught (header or body).
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let r = unframe::<LastCheckpoint>(KIND_LAST_CHECKPOINT, &b, p());
            assert!(r.is_err(), "flip at {i} not caught");
        }
        // Every truncation is caught.
        for n in 0..bytes.len() {
            assert!(unframe::<LastCheckpoint>(KIND_LAST_CHECKPOINT, &bytes[..n], p()).is_err(), "prefix {n}");
        }
        let newer = String::from_utf8(bytes.clone()).unwrap().replacen(
            &format!(" {FORMAT_VERSION} "),
            &format!(" {} ", FORMAT_VERSION + 1),
            1,
        );
        assert!(matches!(
            unframe::<LastCheckpoint>(KIND_LAST_CHECKPOINT, newer.as_bytes(), p()),
            Err(Error::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn log_names_parse_strictly() {
        assert_eq!(parse_log_name(&commit_key(7)[4..]), Some(LogName::Commit(7)));
        assert_eq!(parse_log_name(&log_checkpoint_key(70)[4..]), Some(LogName::Checkpoint(70)));
        for bad in ["7.commit", "_last_checkpoint", "0000000000000000000a.commit", "00000000000000000007.json"] {
            assert_eq!(parse_log_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn typed_ids_are_plain_json_numbers() {
        // The JSON shape from before file numbers and column-family ids had types.
        let f = FileRecord {
            kind: FileKind::Table,
            key: "k".into(),
            name: "000012.sst".into(),
            cf: CfId::new(3),
            level: 1,
            number: FileNumber::new(12),
            size: 5,
            checksum: 6,
            smallest: String::new(),
            largest: String::new(),
            smallest_seq: 1,
            largest_seq: 2,
            epoch: 0,
            global_seq: 0,
        };
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!((&json["cf"], &json["number"]), (&serde_json::json!(3), &serde_json::json!(12)));
        assert!(json.get("key").is_none() && json.get("name").is_none(), "derived, not written: {json}");
        let back: FileRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, FileRecord { key: String::new(), name: String::new(), ..f });
        let c: CfRecord = serde_json::from_str(r#"{"id": 4, "name": "x", "comparator": "c"}"#).unwrap();
        assert_eq!(c.id, CfId::new(4));
        assert!(serde_json::from_str::<CfRecord>(r#"{"id": -1, "name": "x", "comparator": "c"}"#).is_err());
    }

    /// A valid record of one table and one WAL prefix, keys and names filled.
    fn two_file_record() -> SnapshotRecord {
        let db_id = DbId::generate();
        let table = FileRecord {
            kind: FileKind::Table,
            key: table_key(&db_id, FileNumber::new(12), 5, 6),
            name: table_file_name(FileNumber::new(12)),
            cf: CfId::DEFAULT,
            level: 6,
            number: FileNumber::new(12),
            size: 5,
            checksum: 6,
            smallest: "00ff".into(),
            largest: "ff00".into(),
            smallest_seq: 1,
            largest_seq: 2,
            epoch: 0,
            global_seq: 0,
        };
        let wal = FileRecord::wal(wal_key(&db_id, 7, FileNumber::new(13)), FileNumber::new(13), 9, 10);
        SnapshotRecord {
            id: 7,
            name: None,
            db_id: db_id.to_hex(),
            parent_db_id: None,
            sequence: 3,
            created_at_ms: 4,
            labels: BTreeMap::new(),
            comparator: "c".into(),
            log_number: FileNumber::new(13),
            next_file_number: FileNumber::new(14),
            max_cf_id: CfId::DEFAULT,
            column_families: vec![CfRecord { id: CfId::DEFAULT, name: "default".into(), comparator: "b".into() }],
            files: vec![table, wal],
            bytes_total: 14,
            bytes_added: 14,
        }
    }

    #[test]
    fn version_2_records_leave_out_keys_and_names_and_readers_derive_them() {
        let r = two_file_record();
        r.validate().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("\"key\"") && !json.contains("\"name\":\"0000"), "{json}");
        let back: SnapshotRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r, "keys and names derived as the writer made them");
        back.validate().unwrap();
        // A record whose identity is bad gets no keys, and validation refuses it.
        let bad = json.replacen(&r.db_id, "zz", 1);
        let bad: SnapshotRecord = serde_json::from_str(&bad).unwrap();
        assert!(bad.files.iter().all(|f| f.key.is_empty()));
        assert!(bad.validate().is_err());
    }

    #[test]
    fn version_1_records_carry_keys_and_names_that_must_match() {
        let r = two_file_record();
        let v1 = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut json = serde_json::to_value(&r).unwrap();
            for (f, file) in json["files"].as_array_mut().unwrap().iter_mut().zip(&r.files) {
                f["key"] = serde_json::json!(file.key);
                f["name"] = serde_json::json!(file.name);
            }
            edit(&mut json);
            serde_json::from_value::<SnapshotRecord>(json).unwrap()
        };
        let same = v1(&|_| {});
        assert_eq!(same, r);
        same.validate().unwrap();
        for (i, field, value) in [
            (0, "key", "../../etc/passwd"),
            (0, "key", "tables/other.sst"),
            (0, "name", "../x.sst"),
            (0, "name", "000013.sst"),
            (1, "key", "wals/x.log"),
            (1, "name", "000012.sst"),
        ] {
            let bad = v1(&|j| j["files"][i][field] = serde_json::json!(value));
            let err = bad.validate().unwrap_err();
            assert!(err.contains("does not match"), "{field} {value:?}: {err}");
        }
    }

    #[test]
    fn version_1_framing_is_read_and_version_0_is_corrupt() {
        let hint = LastCheckpoint { version: 10, size: 2, size_in_bytes: 1234, checksum: 7 };
        let v1_body = serde_json::to_vec_pretty(&hint).unwrap();
        let mut v1 =
            format!("{MAGIC} {KIND_LAST_CHECKPOINT} 1 {} {:08x}\n", v1_body.len(), crc32(&v1_body)).into_bytes();
        v1.extend_from_slice(&v1_body);
        assert_eq!(unframe::<LastCheckpoint>(KIND_LAST_CHECKPOINT, &v1, p()).unwrap(), hint);
        let v0 = String::from_utf8(v1).unwrap().replacen(" 1 ", " 0 ", 1);
        assert!(matches!(
            unframe::<LastCheckpoint>(KIND_LAST_CHECKPOINT, v0.as_bytes(), p()),
            Err(Error::Corruption { .. })
        ));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(from_hex(&to_hex(b"\x00\xffab")).unwrap(), b"\x00\xffab");
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("+f"), None, "from_str_radix would take a sign");
        assert_eq!(from_hex("aB0f").unwrap(), [0xab, 0x0f]);
        assert!(is_hex("") && is_hex("00ff") && !is_hex("0g") && !is_hex("0"));
    }

    #[test]
    fn file_names_are_checked_as_the_manifest_names_them() {
        for n in [0, 7, 123_456, 1_234_567, u64::MAX] {
            let number = FileNumber::new(n);
            assert!(is_file_name(&table_file_name(number), number, ".sst"), "{n}");
            assert!(is_file_name(&log_file_name(number), number, ".log"), "{n}");
            assert!(!is_file_name(&table_file_name(number), number, ".log"), "{n}");
        }
        let twelve = FileNumber::new(12);
        for bad in ["12.sst", "0000012.sst", "000013.sst", "+00012.sst", "000012.sst.sst"] {
            assert!(!is_file_name(bad, twelve, ".sst"), "{bad}");
        }
        let mut key = String::from("old");
        write_table_key(&mut key, "ab", twelve, 5, 6);
        assert_eq!(key, "tables/ab-000012-5-00000006.sst");
    }
}
