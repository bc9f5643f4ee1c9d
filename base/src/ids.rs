//! Typed identifiers: [`FileNumber`] (the number in a table, log or manifest file's name) and
//! [`CfId`] (a column family's id), so a file number is never passed where a column-family id,
//! a sequence number or a size is expected.
//!
//! Both are plain wrappers over their stored value. The raw value is reached with `get()` (and a
//! wrapper made with `new()`) only at the boundaries where it is unavoidable: encoding (a varint
//! of the raw value, so no format changes), decoding, and the arithmetic that allocates the next
//! number. `Display` prints the raw value exactly as before (and honours width and fill, so
//! `format!("{n:06}")` still gives `000123`): error messages and file names are unchanged.
//!
//! Invariants: `FileNumber::new(n).get() == n` and `CfId::new(i).get() == i`; ordering, equality
//! and hashing are those of the raw value; [`CfId::DEFAULT`] is
//! [`crate::limits::DEFAULT_CF_ID`], defined once there.
//!
//! Thread safety: `Copy` values.

use std::fmt;

/// The number in a table, log or manifest file's name (`000123.sst`, `000123.log`,
/// `MANIFEST-000123`). Allocated from one counter per database, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileNumber(u64);

impl FileNumber {
    /// The largest representable number: a "no limit" guard value (e.g. "nothing pinned").
    pub const MAX: FileNumber = FileNumber(u64::MAX);

    /// Wraps a raw file number (as decoded from a file or parsed from a name).
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The raw value (what is encoded on disk and printed in file names).
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The number after this one (saturating: callers bound file numbers far below `u64::MAX`).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for FileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<FileNumber> for u64 {
    fn from(n: FileNumber) -> u64 {
        n.0
    }
}

/// A column family's id, stored in WAL records and manifests. The default column family's is
/// [`CfId::DEFAULT`]; others are allocated above the database's largest id, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CfId(u32);

impl CfId {
    /// The id of the column family every database has.
    pub const DEFAULT: CfId = crate::limits::DEFAULT_CF_ID;

    /// Wraps a raw id (as decoded from a WAL record or a manifest).
    pub const fn new(id: u32) -> Self {
        Self(id)
    }

    /// The raw value (what is encoded on disk).
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The id after this one (saturating; an id at `u32::MAX` is refused where it is added).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for CfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<CfId> for u32 {
    fn from(id: CfId) -> u32 {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_raw_value() {
        assert_eq!(FileNumber::new(123).to_string(), "123");
        assert_eq!(format!("{:06}", FileNumber::new(123)), "000123");
        assert_eq!(format!("{:06}", FileNumber::new(1_234_567)), "1234567");
        assert_eq!(CfId::new(7).to_string(), "7");
        assert_eq!(CfId::DEFAULT.get(), 0);
    }

    #[test]
    fn order_and_next_follow_the_raw_value() {
        assert!(FileNumber::new(2) < FileNumber::new(10));
        assert_eq!(FileNumber::new(9).next(), FileNumber::new(10));
        assert_eq!(FileNumber::MAX.next(), FileNumber::MAX);
        assert!(CfId::new(1) > CfId::DEFAULT);
    }
}

/// A fast hasher for maps keyed by identifiers the program allocates (file numbers, block
/// offsets, cache ids): one rotate, xor and multiply per `u64`, where the default SipHash resists
/// attacker-chosen keys these are not. Used on the read path (the block cache and the table
/// cache are looked up once per table a point read probes).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(26) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Builds [`IdHasher`]s, for `HashMap<K, V, IdBuildHasher>`.
pub type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;
