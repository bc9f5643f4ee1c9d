//! Options and results of ingestion and import, with RocksDB's names and defaults.
//!
//! Invariants: the defaults are RocksDB's (`IngestExternalFileOptions`); the test below checks
//! them.
//!
//! Thread safety: plain data.

use crate::cf::ColumnFamily;
use std::path::PathBuf;
use strata_base::ikey::SeqNo;
use strata_base::{CfId, FileNumber};

/// How `Db::ingest_external_files` brings files in. Defaults are RocksDB's
/// (`IngestExternalFileOptions`, include/rocksdb/options.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOptions {
    /// Hard-link each file into the database and remove the source after success (a copy,
    /// fsynced, where linking is impossible). Default `false`: copy.
    pub move_files: bool,
    /// Hard-link each file and leave the source in place (copy where linking is impossible).
    /// Setting both `move_files` and `link_files` is `InvalidArgument`. Default `false`.
    pub link_files: bool,
    /// If any snapshot is open, give every file a sequence number so the snapshot keeps
    /// reading what it read before, even where the file overlaps nothing. Default `true`.
    pub snapshot_consistency: bool,
    /// Allow files that overlap existing data (or each other) to take a sequence number; when
    /// `false` such an ingestion is `InvalidArgument`. Default `true`.
    pub allow_global_seqno: bool,
    /// When a memtable holds keys in a file's range, flush it first (writes wait); when
    /// `false` that is `InvalidArgument` and nothing changes. Default `true`.
    pub allow_blocking_flush: bool,
    /// Read every block of every file (and every key's sequence number) before ingesting.
    /// Default `false`: footer, index and properties are checked on open, and the first and
    /// last keys' sequence numbers.
    pub verify_checksums_before_ingest: bool,
    /// Fail with `TryAgain` unless every file can go to the bottom level. A running compaction
    /// whose output range overlaps a file counts as data there, so such a call may succeed
    /// once it has finished. Default `false`.
    pub fail_if_not_bottommost_level: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            move_files: false,
            link_files: false,
            snapshot_consistency: true,
            allow_global_seqno: true,
            allow_blocking_flush: true,
            verify_checksums_before_ingest: false,
            fail_if_not_bottommost_level: false,
        }
    }
}

/// The files to ingest into one column family (`Db::ingest_external_files_multi`).
#[derive(Debug, Clone)]
pub struct IngestSpec<'a> {
    pub cf: &'a ColumnFamily,
    pub files: Vec<PathBuf>,
}

/// Where one ingested file went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedFile {
    /// The source path as given.
    pub path: PathBuf,
    pub cf_id: CfId,
    /// The table number it has in the database (`NNNNNN.sst`).
    pub number: FileNumber,
    pub level: usize,
    /// The sequence number its entries are read at; 0 when none was needed.
    pub sequence: SeqNo,
}

/// What an ingestion did, file by file in input order (across column families in spec order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestResult {
    pub files: Vec<IngestedFile>,
}

/// One table for `Db::import_column_family`: a table a database wrote (with its own sequence
/// numbers) or an external one, and the level it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    pub path: PathBuf,
    pub level: usize,
    /// The sequence number the table's entries were read at in its database (its
    /// `FileMeta::global_seq`: an ingested external table); 0 when it has none and its own
    /// numbers count. A table with one must hold only sequence number 0 (an external table).
    pub global_seq: SeqNo,
}

/// How `Db::import_column_family` brings files in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOptions {
    /// Hard-link (copy where impossible) and remove the sources after success. Default `false`:
    /// copy, sources untouched.
    pub move_files: bool,
    /// Hard-link each table and leave the source in place (copy where linking is impossible):
    /// the database owns its link, which it may later unlink; the source's name and bytes are
    /// never touched (tables are immutable). Setting both `move_files` and `link_files` is
    /// `InvalidArgument`. Default `false`.
    pub link_files: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_rocksdbs() {
        let o = IngestOptions::default();
        assert!(!o.move_files && !o.link_files);
        assert!(o.snapshot_consistency && o.allow_global_seqno && o.allow_blocking_flush);
        assert!(!o.verify_checksums_before_ingest && !o.fail_if_not_bottommost_level);
        assert!(!ImportOptions::default().move_files && !ImportOptions::default().link_files);
    }
}
