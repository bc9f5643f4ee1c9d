//! The WAL header record: the first record of every WAL written since WAL format version 2. It
//! names the WAL's predecessor (the WAL that took writes just before it) and the predecessor's
//! final length, so recovery can tell a predecessor that lost its unsynced tail in a crash (a
//! tear: the history ends there) from one whose recorded bytes are present but damaged
//! (corruption). Byte layout: `docs/format/wal.md`, section "WAL header record"; this file owns
//! its constants.
//!
//! The record travels in the log framing like a write batch, and is told apart from one by its
//! first eight bytes: [`MARKER`] is above `SEQ_MAX`, so no batch (whose first eight bytes are its
//! base sequence number) can start with it, and a reader that predates version 2 rejects the
//! record as a corrupt batch instead of misreading it.
//!
//! Invariants: [`WalHeader::decode_from`] checks every byte (length, marker, zero count,
//! version); a header with `predecessor == 0` names no predecessor and has `predecessor_len == 0`.
//!
//! Thread safety: plain data.

use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use std::path::Path;
use strata_base::FileNumber;
use strata_base::coding;
use strata_base::ikey::SEQ_MAX;

/// First eight bytes of a header record (fixed64): where a batch keeps its base sequence.
pub const MARKER: u64 = u64::MAX;
/// WAL format version a header record declares. Version 1 is a WAL without a header record.
pub const WAL_FORMAT_VERSION: u8 = 2;
/// Encoded length of a header record.
pub const HEADER_RECORD_LEN: usize = 30;
/// Offsets of the fields.
const COUNT_OFFSET: usize = 8;
const VERSION_OFFSET: usize = 12;
const FLAGS_OFFSET: usize = 13;
const PREDECESSOR_OFFSET: usize = 14;
const PREDECESSOR_LEN_OFFSET: usize = 22;

const _: () = assert!(MARKER > SEQ_MAX);
const _: () = assert!(COUNT_OFFSET == 8 && VERSION_OFFSET == COUNT_OFFSET + 4);
const _: () = assert!(FLAGS_OFFSET == VERSION_OFFSET + 1 && PREDECESSOR_OFFSET == FLAGS_OFFSET + 1);
const _: () = assert!(PREDECESSOR_LEN_OFFSET == PREDECESSOR_OFFSET + 8);
const _: () = assert!(HEADER_RECORD_LEN == PREDECESSOR_LEN_OFFSET + 8);
// The count field sits where a batch's count does.
const _: () = assert!(crate::batch::HEADER_LEN == COUNT_OFFSET + 4);

/// One WAL record, decoded as every reader of WALs must (recovery, the repository's WAL-prefix
/// import, `strata wal`): the header record, allowed only as a file's first record, or a write
/// batch.
#[derive(Debug)]
pub enum WalRecord {
    /// The file's header record (WAL format version 2).
    Header(WalHeader),
    /// A write batch.
    Batch(WriteBatch),
}

impl WalRecord {
    /// Decodes `record`, found at `offset` of WAL `path`; `first` says whether it is the file's
    /// first record, the only place a header record may stand (anywhere else it is damage).
    pub fn decode(record: &[u8], path: &Path, offset: u64, first: bool) -> Result<WalRecord> {
        if first && WalHeader::is_header(record) {
            return WalHeader::decode_from(record, path, offset).map(WalRecord::Header);
        }
        Self::batch_after_first(record, path, offset).map(WalRecord::Batch)
    }

    /// Decodes `record` as a write batch; a header record (here: not a file's first record) is
    /// `Corruption`.
    pub fn batch_after_first(record: &[u8], path: &Path, offset: u64) -> Result<WriteBatch> {
        if WalHeader::is_header(record) {
            return Err(Error::corruption(path, offset, "a WAL header record after the first record"));
        }
        WriteBatch::from_record(record.to_vec(), path, offset)
    }
}

/// What a WAL's header record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalHeader {
    /// The WAL that took writes before this one; `FileNumber(0)` for none.
    pub predecessor: FileNumber,
    /// Bytes of records the predecessor held when this WAL was started (its writer's length,
    /// the end of its last record).
    pub predecessor_len: u64,
}

impl WalHeader {
    /// Whether `record` (one WAL record) claims to be a header record; such a record is then
    /// decoded with [`decode_from`](Self::decode_from), never as a batch.
    pub fn is_header(record: &[u8]) -> bool {
        record.get(..8).is_some_and(|b| b == MARKER.to_le_bytes())
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_RECORD_LEN);
        coding::put_fixed64(&mut out, MARKER);
        coding::put_fixed32(&mut out, 0);
        out.push(WAL_FORMAT_VERSION);
        out.push(0); // flags: none defined
        coding::put_fixed64(&mut out, self.predecessor.get());
        coding::put_fixed64(&mut out, self.predecessor_len);
        debug_assert_eq!(out.len(), HEADER_RECORD_LEN);
        out
    }

    /// Decodes a header record found at `offset` of WAL `path`.
    pub fn decode_from(record: &[u8], path: &Path, offset: u64) -> Result<WalHeader> {
        let fail = |reason: String| Error::corruption(path, offset, format!("WAL header record: {reason}"));
        if record.len() != HEADER_RECORD_LEN {
            return Err(fail(format!("{} bytes, expected {HEADER_RECORD_LEN}", record.len())));
        }
        let mut cur = record;
        let (Some(marker), Some(count), Some(version), Some(flags)) = (
            coding::get_fixed64(&mut cur),
            coding::get_fixed32(&mut cur),
            coding::get_u8(&mut cur),
            coding::get_u8(&mut cur),
        ) else {
            return Err(fail("truncated".into()));
        };
        let (Some(predecessor), Some(predecessor_len)) = (coding::get_fixed64(&mut cur), coding::get_fixed64(&mut cur))
        else {
            return Err(fail("truncated".into()));
        };
        if marker != MARKER || count != 0 {
            return Err(fail(format!("marker {marker:#x} and count {count} are not a header's")));
        }
        if version != WAL_FORMAT_VERSION {
            return Err(fail(format!("unsupported WAL format version {version} (this build reads 1 and 2)")));
        }
        if flags != 0 {
            return Err(fail(format!("unknown flags {flags:#04x}")));
        }
        if predecessor == 0 && predecessor_len != 0 {
            return Err(fail(format!("no predecessor but a predecessor length of {predecessor_len}")));
        }
        Ok(WalHeader { predecessor: FileNumber::new(predecessor), predecessor_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "000012.log";

    /// The worked example of docs/format/wal.md, byte for byte.
    #[test]
    fn encodes_the_documented_example() {
        let h = WalHeader { predecessor: FileNumber::new(9), predecessor_len: 70_000 };
        let want: Vec<u8> = [
            &[0xff; 8][..],
            &[0, 0, 0, 0],
            &[0x02, 0x00],
            &[0x09, 0, 0, 0, 0, 0, 0, 0],
            &[0x70, 0x11, 0x01, 0, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(h.encode(), want);
        assert_eq!(WalHeader::decode_from(&want, Path::new(P), 0).unwrap(), h);
        assert!(WalHeader::is_header(&want));
    }

    #[test]
    fn a_batch_is_never_a_header() {
        let mut b = crate::batch::WriteBatch::new();
        b.put("k", "v");
        b.set_sequence(SEQ_MAX);
        assert!(!WalHeader::is_header(b.data()));
        assert!(!WalHeader::is_header(&[0xff; 7]));
    }

    #[test]
    fn a_header_record_is_decoded_only_as_a_files_first_record() {
        let header = WalHeader { predecessor: FileNumber::new(4), predecessor_len: 120 };
        let bytes = header.encode();
        let path = Path::new(P);
        assert!(matches!(WalRecord::decode(&bytes, path, 0, true), Ok(WalRecord::Header(h)) if h == header));
        for result in [
            WalRecord::decode(&bytes, path, 40, false).map(|_| ()),
            WalRecord::batch_after_first(&bytes, path, 40).map(|_| ()),
        ] {
            match result {
                Err(Error::Corruption { offset: 40, reason, .. }) => assert!(reason.contains("after the first record")),
                other => panic!("{other:?}"),
            }
        }
        let mut b = crate::batch::WriteBatch::new();
        b.put("k", "v");
        b.set_sequence(7);
        for first in [true, false] {
            match WalRecord::decode(b.data(), path, 0, first) {
                Ok(WalRecord::Batch(got)) => assert_eq!((got.sequence(), got.count()), (7, 1)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(WalRecord::batch_after_first(b.data(), path, 0).unwrap().sequence(), 7);
        // A damaged first record that claims to be a header is a damaged header, not a batch.
        assert!(matches!(WalRecord::decode(&bytes[..20], path, 0, true), Err(Error::Corruption { .. })));
    }

    #[test]
    fn every_damaged_field_is_corruption() {
        let good = WalHeader { predecessor: FileNumber::new(3), predecessor_len: 9 }.encode();
        let mut cases: Vec<(Vec<u8>, &str)> =
            vec![(good[..HEADER_RECORD_LEN - 1].to_vec(), "bytes"), ([good.clone(), vec![0]].concat(), "bytes")];
        let mut bad_count = good.clone();
        bad_count[COUNT_OFFSET] = 1;
        cases.push((bad_count, "count"));
        let mut bad_version = good.clone();
        bad_version[VERSION_OFFSET] = 3;
        cases.push((bad_version, "version 3"));
        let mut bad_flags = good.clone();
        bad_flags[FLAGS_OFFSET] = 1;
        cases.push((bad_flags, "flags"));
        let orphan_len = WalHeader { predecessor: FileNumber::new(0), predecessor_len: 0 }.encode();
        let mut orphan_len = orphan_len;
        orphan_len[PREDECESSOR_LEN_OFFSET] = 5;
        cases.push((orphan_len, "no predecessor"));
        for (bytes, want) in cases {
            match WalHeader::decode_from(&bytes, Path::new(P), 7) {
                Err(Error::Corruption { offset, reason, .. }) => {
                    assert_eq!(offset, 7);
                    assert!(reason.contains(want), "{reason} lacks {want}");
                }
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
    }
}
