//! Names of the files in a database directory, and which of them are obsolete.
//!
//! Invariants: `parse_file_name(x_file_name(n)) == Some(X(n))` for every `n`; names that are
//! not Strata's parse to `None` and are never chosen for deletion.
//!
//! Thread safety: pure functions.

use crate::format::{
    CURRENT_FILE_NAME, FILE_NUMBER_WIDTH, LOCK_FILE_NAME, LOG_SUFFIX, MANIFEST_PREFIX, OPTIONS_FILE_NAME, TABLE_SUFFIX,
    TEMP_SUFFIX,
};
use std::collections::BTreeSet;
use strata_base::FileNumber;

/// What a file in a database directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `NNNNNN.sst`
    Table(FileNumber),
    /// `NNNNNN.log`
    Log(FileNumber),
    /// `MANIFEST-NNNNNN`
    Manifest(FileNumber),
    /// `CURRENT`
    Current,
    /// `LOCK`
    Lock,
    /// `OPTIONS`
    Options,
    /// `<one of Strata's names>.strata-tmp`: a file being written, renamed into place when
    /// whole; never live after a restart.
    Temp,
}

/// `000123.sst`
pub fn table_file_name(number: FileNumber) -> String {
    format!("{number:0FILE_NUMBER_WIDTH$}{TABLE_SUFFIX}")
}

/// `000123.log`
pub fn log_file_name(number: FileNumber) -> String {
    format!("{number:0FILE_NUMBER_WIDTH$}{LOG_SUFFIX}")
}

/// `MANIFEST-000123`
pub fn manifest_file_name(number: FileNumber) -> String {
    format!("{MANIFEST_PREFIX}{number:0FILE_NUMBER_WIDTH$}")
}

/// `<final_name>.strata-tmp`: where a file that will be renamed to `final_name` is written.
pub fn temp_file_name(final_name: &str) -> String {
    format!("{final_name}{TEMP_SUFFIX}")
}

/// Parses a decimal file number: ASCII digits only (no sign, no spaces), fits in a `u64`.
fn parse_number(s: &str) -> Option<FileNumber> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().map(FileNumber::new)
}

/// What `name` (a bare file name, not a path) is, or `None` if it is not one of Strata's.
pub fn parse_file_name(name: &str) -> Option<FileKind> {
    match name {
        CURRENT_FILE_NAME => return Some(FileKind::Current),
        LOCK_FILE_NAME => return Some(FileKind::Lock),
        OPTIONS_FILE_NAME => return Some(FileKind::Options),
        _ => {}
    }
    if let Some(stem) = name.strip_suffix(TEMP_SUFFIX) {
        // Only a temporary name Strata makes: its stem is one of Strata's final names.
        return match parse_file_name(stem) {
            Some(FileKind::Current | FileKind::Manifest(_) | FileKind::Table(_)) => Some(FileKind::Temp),
            _ => None,
        };
    }
    if let Some(n) = name.strip_prefix(MANIFEST_PREFIX) {
        return parse_number(n).map(FileKind::Manifest);
    }
    if let Some(n) = name.strip_suffix(TABLE_SUFFIX) {
        return parse_number(n).map(FileKind::Table);
    }
    if let Some(n) = name.strip_suffix(LOG_SUFFIX) {
        return parse_number(n).map(FileKind::Log);
    }
    None
}

/// The live state obsolete files are judged against.
#[derive(Debug, Clone, Copy)]
pub struct LiveState<'a> {
    /// Tables referenced by the current version or any version still held.
    pub live_tables: &'a BTreeSet<FileNumber>,
    /// Logs below this number are no longer needed.
    pub log_number: FileNumber,
    /// The manifest `CURRENT` names.
    pub manifest_number: FileNumber,
    /// Numbers of files being written right now (flush and compaction outputs, new logs).
    pub pending_outputs: &'a BTreeSet<FileNumber>,
    /// Files numbered at or above this may be being created right now (their number was
    /// allocated after this state was taken): never deleted. `FileNumber::MAX` disables the guard.
    pub next_file_number: FileNumber,
    /// Logs numbered at or above this are pinned by a reader (a checkpoint copying them):
    /// never deleted. `FileNumber::MAX` when nothing is pinned.
    pub logs_pinned_from: FileNumber,
    /// Delete temporary leftovers ([`FileKind::Temp`]). Only safe when nothing can be writing
    /// one (at open).
    pub delete_temp: bool,
}

/// The names among `names` (the entries of a database directory) that can be deleted: old
/// manifests, logs below the log number and not pinned, tables nobody references, and (with
/// `delete_temp`) temporary leftovers (`*.strata-tmp` with a Strata stem). A file whose number is in `pending_outputs` or at or
/// above `next_file_number` is never chosen, nor is any name Strata does not know.
pub fn obsolete_files(names: &[String], live: &LiveState<'_>) -> Vec<String> {
    let protected = |n: FileNumber| live.pending_outputs.contains(&n) || n >= live.next_file_number;
    names
        .iter()
        .filter(|name| match parse_file_name(name) {
            Some(FileKind::Manifest(n)) => n != live.manifest_number && !protected(n),
            Some(FileKind::Log(n)) => n < live.log_number && n < live.logs_pinned_from && !protected(n),
            Some(FileKind::Table(n)) => !live.live_tables.contains(&n) && !protected(n),
            Some(FileKind::Temp) => live.delete_temp,
            Some(FileKind::Current | FileKind::Lock | FileKind::Options) | None => false,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [0, 1, 123, 999_999, 1_000_000, u64::MAX].map(FileNumber::new) {
            assert_eq!(parse_file_name(&table_file_name(n)), Some(FileKind::Table(n)));
            assert_eq!(parse_file_name(&log_file_name(n)), Some(FileKind::Log(n)));
            assert_eq!(parse_file_name(&manifest_file_name(n)), Some(FileKind::Manifest(n)));
        }
        assert_eq!(table_file_name(FileNumber::new(123)), "000123.sst");
        assert_eq!(log_file_name(FileNumber::new(123)), "000123.log");
        assert_eq!(manifest_file_name(FileNumber::new(5)), "MANIFEST-000005");
        assert_eq!(table_file_name(FileNumber::new(1_234_567)), "1234567.sst");
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for name in [
            "",
            ".sst",
            "+12.sst",
            "12 .log",
            "MANIFEST-",
            "MANIFEST-x1",
            "1.2.sst",
            "abc",
            ".tmp",
            "18446744073709551616.sst",
            // A user's temporary files are never Strata's.
            "notes.tmp",
            "CURRENT.tmp",
            "000123.tmp",
            ".strata-tmp",
            "notes.strata-tmp",
            "000123.log.strata-tmp",
            "CURRENT.strata-tmp.strata-tmp",
        ] {
            assert_eq!(parse_file_name(name), None, "{name:?}");
        }
        assert_eq!(parse_file_name("CURRENT"), Some(FileKind::Current));
        assert_eq!(parse_file_name(&temp_file_name("CURRENT")), Some(FileKind::Temp));
        assert_eq!(parse_file_name("MANIFEST-000004.strata-tmp"), Some(FileKind::Temp));
        assert_eq!(parse_file_name("000012.sst.strata-tmp"), Some(FileKind::Temp));
        assert_eq!(parse_file_name("LOCK"), Some(FileKind::Lock));
    }

    #[test]
    fn obsolete_selection() {
        let names: Vec<String> = [
            "CURRENT",
            "LOCK",
            "MANIFEST-000003",
            "MANIFEST-000009",
            "MANIFEST-000012",
            "000004.log",
            "000010.log",
            "000005.sst",
            "000006.sst",
            "000011.sst",
            "000013.sst",
            "CURRENT.strata-tmp",
            "notes.tmp",
            "notes.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let n = FileNumber::new;
        let live_tables = BTreeSet::from([n(6)]);
        let pending_outputs = BTreeSet::from([n(13)]);
        let live = LiveState {
            live_tables: &live_tables,
            log_number: n(10),
            manifest_number: n(9),
            pending_outputs: &pending_outputs,
            next_file_number: FileNumber::MAX,
            logs_pinned_from: FileNumber::MAX,
            delete_temp: true,
        };
        let got = obsolete_files(&names, &live);
        assert_eq!(
            got,
            vec!["MANIFEST-000003", "MANIFEST-000012", "000004.log", "000005.sst", "000011.sst", "CURRENT.strata-tmp"]
        );
        // Files at or above the next file number may be being created; pinned logs stay;
        // temp files stay unless asked for.
        let guarded = LiveState { next_file_number: n(11), logs_pinned_from: n(4), delete_temp: false, ..live };
        assert_eq!(obsolete_files(&names, &guarded), vec!["MANIFEST-000003", "000005.sst"]);
    }
}
