//! Every tag, bit, name and limit of the manifest format, shared by the encoder and the decoder.
//!
//! The byte-level description is `docs/format/manifest.md`; a test there encodes the worked
//! example and compares it byte for byte with this module's constants.
//!
//! Invariants: tag numbers are never reused. A retired tag stays listed here with a comment.
//!
//! Thread safety: constants only.

/// Number of levels in every column family: L0 (overlapping) and L1..L6 (sorted runs).
pub const NUM_LEVELS: usize = 7;

/// A field tag with this bit set may be skipped by a reader that does not know it; a reader
/// that meets an unknown tag without this bit must refuse the edit.
pub const TAG_SAFE_TO_IGNORE: u32 = 1 << 6;

// DO NOT CHANGE THESE TAG VALUES: they are embedded in the on-disk manifests.
// None of them has TAG_SAFE_TO_IGNORE set: every reader must understand all of them.
/// Name of the comparator that orders internal keys (string).
pub const TAG_COMPARATOR: u32 = 1;
/// Oldest write-ahead log still needed (varint64).
pub const TAG_LOG_NUMBER: u32 = 2;
/// Next unused file number (varint64).
pub const TAG_NEXT_FILE_NUMBER: u32 = 3;
/// Last sequence number made durable in tables (varint64).
pub const TAG_LAST_SEQUENCE: u32 = 4;
/// Largest column-family id ever assigned (varint32); ids of dropped families are not reused.
pub const TAG_MAX_CF_ID: u32 = 5;
/// A column family is added: id varint32, name string, comparator string, sub-fields.
pub const TAG_CF_ADD: u32 = 6;
/// A column family is dropped: id varint32, sub-fields.
pub const TAG_CF_DROP: u32 = 7;
/// A table leaves a level: cf varint32, level varint32, number varint64, sub-fields.
pub const TAG_DELETED_FILE: u32 = 8;
/// A table joins a level: cf, level, number, size, smallest, largest, smallest_seq,
/// largest_seq, checksum fixed32, sub-fields.
pub const TAG_NEW_FILE: u32 = 9;
// Retired tags: none yet.

// Sub-fields of NEW_FILE (tags local to that field). DO NOT CHANGE THESE VALUES. Both are
// must-understand: a reader that does not know them would misorder L0 or misread the table's
// sequence numbers, so it must refuse the edit.
/// The table's epoch (varint64): L0 is ordered by epoch, newest first. Absent means 0, a
/// table written before epochs existed (ordered by its largest sequence number).
pub const SUB_NEW_FILE_EPOCH: u32 = 1;
/// The global sequence number of an ingested table (varint64): every entry of the file, stored
/// at sequence 0, is read at this sequence number. Absent means 0: read the file as it is.
pub const SUB_NEW_FILE_GLOBAL_SEQ: u32 = 2;
// Safe-to-ignore tags (TAG_SAFE_TO_IGNORE set): a reader that does not know them loses nothing
// it needs to read the database correctly.
/// The database's identity: 16 bytes, sub-fields. In the snapshot edit of every manifest.
pub const TAG_DB_ID: u32 = TAG_SAFE_TO_IGNORE | 1;
/// The identity of the database this one was copied from (checkpoint, restore, import into a
/// new directory): 16 bytes, sub-fields.
pub const TAG_PARENT_DB_ID: u32 = TAG_SAFE_TO_IGNORE | 2;

/// Tag 0 is never valid, so a run of zero bytes is not a sequence of empty fields.
pub const TAG_INVALID: u32 = 0;

/// Longest string field (a comparator name, or a column-family name) a manifest may hold, in
/// bytes. Column-family names are further limited to [`CF_NAME_LEN_MAX`].
pub const NAME_LEN_MAX: usize = 1024;

use strata_base::FileNumber;
pub use strata_base::limits::{CF_NAME_LEN_MAX, DEFAULT_CF_ID, DEFAULT_CF_NAME};

const _: () = assert!(CF_NAME_LEN_MAX <= NAME_LEN_MAX);

/// The name of the file that names the live manifest.
pub const CURRENT_FILE_NAME: &str = "CURRENT";
/// Prefix of manifest file names (`MANIFEST-000005`).
pub const MANIFEST_PREFIX: &str = "MANIFEST-";
/// Suffix of table file names (`000123.sst`).
pub const TABLE_SUFFIX: &str = ".sst";
/// Suffix of write-ahead log file names (`000123.log`).
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of files being written and not yet renamed into place. A temporary file's name is
/// the final name it will be renamed to (one of Strata's: `CURRENT`, `MANIFEST-NNNNNN`,
/// `NNNNNN.sst`) followed by this suffix, so no other program makes such a name by accident and
/// the open that deletes leftovers never touches a user's `notes.tmp`.
pub const TEMP_SUFFIX: &str = strata_base::fs::TMP_SUFFIX;
/// The lock file.
pub const LOCK_FILE_NAME: &str = "LOCK";
/// The options file (written by the engine, later).
pub const OPTIONS_FILE_NAME: &str = "OPTIONS";
/// File numbers are printed with at least this many digits.
pub const FILE_NUMBER_WIDTH: usize = 6;

/// File numbers (and so `next_file_number`) stay below this; a manifest claiming more is
/// corrupt. Leaves room for `+ 1` everywhere without overflow.
pub const FILE_NUMBER_MAX: FileNumber = FileNumber::new(1 << 62);

/// Default size at which a manifest is rolled over into a fresh one.
pub const MANIFEST_SIZE_LIMIT_DEFAULT: u64 = 64 << 20;

const _: () = assert!(NUM_LEVELS >= 2 && NUM_LEVELS <= 64);
const _: () = assert!(TAG_SAFE_TO_IGNORE.is_power_of_two());
const _: () = assert!(TAG_COMPARATOR & TAG_SAFE_TO_IGNORE == 0);
const _: () = assert!(TAG_NEW_FILE < TAG_SAFE_TO_IGNORE, "known tags must all be must-understand");
const _: () = assert!(TAG_INVALID != TAG_COMPARATOR);
const _: () =
    assert!(SUB_NEW_FILE_EPOCH & TAG_SAFE_TO_IGNORE == 0 && SUB_NEW_FILE_GLOBAL_SEQ & TAG_SAFE_TO_IGNORE == 0);
const _: () = assert!(TAG_DB_ID == 65 && TAG_PARENT_DB_ID == 66);
const _: () = assert!(FILE_NUMBER_WIDTH == 6);
const _: () = assert!(FILE_NUMBER_MAX.get() < u64::MAX / 2);
const _: () = assert!(MANIFEST_SIZE_LIMIT_DEFAULT == 64 * 1024 * 1024);
