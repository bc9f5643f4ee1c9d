//! What an open found and did, and which leftover files in the directory are provably Strata's.
//!
//! Strata deletes only files it can prove are its own. At open, every file with a Strata name
//! that the recovered state does not need (a table no version names, a WAL below the log
//! number, a manifest other than the live one) is checked by content before it may be deleted:
//! a table must end in a valid footer, a WAL must be empty, zero-filled or begin with a whole
//! record, a manifest must begin with a whole record that decodes as an edit. A file that fails
//! is kept, never deleted by this or any later scan of the process, and listed in the
//! [`RecoveryReport`] (`strata.recovery`). Temporary files are deleted only under the names
//! Strata makes (`<Strata name>.strata-tmp`).
//!
//! Invariants: the proof reads at most one WAL block or one footer per file; nothing here
//! writes.
//!
//! Thread safety: pure functions over the file system; the report is immutable once built.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use strata_base::FileNumber;
use strata_base::FileSystem;
use strata_manifest::{FileKind, ManifestSource, VersionEdit, VersionSet};
use strata_wal::{LogReader, RecoveryMode};

/// Where WAL replay stopped because a WAL lost its unsynced tail (a tear proved by the next
/// WAL's header record).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalHistoryCut {
    /// The WAL that lost its tail.
    pub wal: String,
    /// Where its valid records end: the history ends here.
    pub valid_end: u64,
    /// The length its successor's header recorded.
    pub recorded_len: u64,
    /// Later WALs whose records were discarded (they cannot have held a synced write).
    pub discarded: Vec<String>,
}

/// What an open found on disk and what it did about it; `Db::recovery_report` and the
/// `strata.recovery` property show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The open created a new, empty database.
    pub created: bool,
    /// The manifest the state was recovered from (empty for a new database).
    pub manifest: String,
    /// `Some(why)` when `CURRENT` could not be used and the manifest was found by listing the
    /// directory; a read-write open then rewrote `CURRENT` atomically, a read-only one wrote
    /// nothing.
    pub current_recovered: Option<String>,
    /// Older manifests present beside the one chosen by listing (kept by this open).
    pub other_manifests: Vec<String>,
    /// Offset of a torn last manifest edit that was dropped (a crash mid-append).
    pub manifest_tail_dropped_at: Option<u64>,
    /// WAL files replayed.
    pub wals_replayed: usize,
    /// A WAL whose torn tail was dropped, with the offset.
    pub wal_tail_dropped: Option<(String, u64)>,
    /// An earlier WAL lost records it held when the next WAL started (a crash kept less of
    /// it than that WAL's header records): the history ends there, and the later WALs were
    /// not replayed (`PointInTime` and `TolerateCorruptedTail`; see docs/format/wal.md).
    pub wal_history_cut: Option<WalHistoryCut>,
    /// Files with Strata's names that the open could not prove are Strata's and so kept.
    pub unrecognised_files: Vec<String>,
    /// `CURRENT` had to be recovered, so this process deletes none of the files present at the
    /// open (the next open cleans up).
    pub deletion_skipped: bool,
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            return writeln!(f, "created a new database");
        }
        writeln!(f, "manifest: {}", self.manifest)?;
        match &self.current_recovered {
            Some(why) => writeln!(f, "CURRENT: recovered by listing ({why})")?,
            None => writeln!(f, "CURRENT: intact")?,
        }
        if !self.other_manifests.is_empty() {
            writeln!(f, "older manifests kept: {}", self.other_manifests.join(", "))?;
        }
        if let Some(at) = self.manifest_tail_dropped_at {
            writeln!(f, "manifest: torn last edit at offset {at} dropped")?;
        }
        writeln!(f, "wal files replayed: {}", self.wals_replayed)?;
        if let Some((name, at)) = &self.wal_tail_dropped {
            writeln!(f, "wal {name}: torn tail at offset {at} dropped")?;
        }
        if let Some(cut) = &self.wal_history_cut {
            writeln!(
                f,
                "wal {}: lost its unsynced tail (valid records end at {}, {} recorded); later wals discarded: {}",
                cut.wal,
                cut.valid_end,
                cut.recorded_len,
                if cut.discarded.is_empty() { "none".to_string() } else { cut.discarded.join(", ") }
            )?;
        }
        if !self.unrecognised_files.is_empty() {
            writeln!(f, "kept, not provably Strata's: {}", self.unrecognised_files.join(", "))?;
        }
        if self.deletion_skipped {
            writeln!(f, "files present at the open are kept until the next open")?;
        }
        Ok(())
    }
}

impl RecoveryReport {
    /// The manifest part of the report, from what `versions` recovered.
    pub(crate) fn from_versions(versions: &VersionSet) -> Self {
        let mut report = RecoveryReport::default();
        match versions.recovery() {
            None => report.created = true,
            Some(r) => {
                report.manifest = strata_manifest::manifest_file_name(r.manifest_number);
                report.manifest_tail_dropped_at = r.dropped_tail;
                if let ManifestSource::Listed { reason, others } = &r.source {
                    report.current_recovered = Some(reason.clone());
                    report.other_manifests = others.iter().map(|&n| strata_manifest::manifest_file_name(n)).collect();
                }
            }
        }
        report
    }
}

/// The Strata-named files among `names` that the recovered state does not need and that fail
/// their ownership proof: these must never be deleted.
pub(crate) fn unprovable_files(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
    versions: &VersionSet,
) -> Vec<String> {
    let live: BTreeSet<FileNumber> = versions.current().table_numbers();
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(name);
        let proven = match strata_manifest::parse_file_name(name) {
            Some(FileKind::Table(n)) if !live.contains(&n) => is_table(fs, &path),
            Some(FileKind::Log(n)) if n < versions.log_number() => is_log(fs, &path, false),
            Some(FileKind::Manifest(n)) if n != versions.manifest_number() => is_log(fs, &path, true),
            _ => true,
        };
        if !proven {
            out.push(name.clone());
        }
    }
    out.sort_unstable();
    out
}

/// Whether `path` ends in a valid table footer (magic, version and footer checksum).
fn is_table(fs: &dyn FileSystem, path: &Path) -> bool {
    use strata_sst::format::{FOOTER_LEN, Footer};
    let Ok(file) = fs.open_unmapped(path) else { return false };
    let len = file.len();
    if len < FOOTER_LEN as u64 {
        return false;
    }
    let Ok(bytes) = file.read_at(len - FOOTER_LEN as u64, FOOTER_LEN) else { return false };
    let Ok(footer) = <&[u8; FOOTER_LEN]>::try_from(bytes.as_ref()) else { return false };
    Footer::decode_from(footer).is_ok()
}

/// Whether `path` is a record log Strata wrote: empty, zero-filled in its first block, or
/// beginning with a whole record (for a manifest: one that decodes as an edit).
fn is_log(fs: &dyn FileSystem, path: &Path, manifest: bool) -> bool {
    let Ok(file) = fs.open_unmapped(path) else { return false };
    let head_len = file.len().min(strata_wal::BLOCK_SIZE as u64);
    // head_len <= BLOCK_SIZE, which fits in usize.
    let Ok(head) = file.read_at(0, head_len as usize) else { return false };
    if head.iter().all(|&b| b == 0) {
        return true;
    }
    let mut reader = LogReader::new(file, path, RecoveryMode::TolerateCorruptedTail);
    match reader.read_record() {
        Ok(Some(rec)) => !manifest || VersionEdit::decode_from(&rec.payload).is_ok(),
        _ => false,
    }
}
