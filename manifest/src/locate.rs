//! Finding the live manifest: through `CURRENT`, or, when `CURRENT` is missing, empty, torn or
//! names a manifest that does not exist, by listing the directory (Delta Lake's fallback from a
//! damaged `_last_checkpoint` to listing the log).
//!
//! The rules (docs/design.md, "Recovery rules", has them as a table):
//! - `CURRENT` names an existing manifest: that one, as always.
//! - Otherwise the newest `MANIFEST-NNNNNN` is the only candidate. A manifest is created whole
//!   (its first record is a snapshot of the full state, synced) before `CURRENT` is switched to
//!   it, and nothing is appended to an older manifest or deleted because of the newer one
//!   before the switch; so the newest manifest is the state `CURRENT` named or one edit past it
//!   that failed before its caller was told. The caller ([`crate::VersionSet::recover`]) then
//!   requires that it replays completely (no torn tail either) and that every table it names
//!   exists with its recorded size; if not, the choice cannot be proven and the open refuses,
//!   touching nothing.
//! - No manifest at all: with tables or WALs present the directory is refused (listing what is
//!   there); with nothing of Strata's it is not a database.
//!
//! Thread safety: pure functions over a listing and the file system.

use crate::error::{Error, Result};
use crate::filename::{FileKind, manifest_file_name, parse_file_name};
use crate::format::CURRENT_FILE_NAME;
use crate::manifest::read_current;
use std::path::Path;
use strata_base::{FileNumber, FileSystem};

/// How the manifest a recovery used was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// `CURRENT` named it.
    Current,
    /// `CURRENT` could not be used (`reason`), so the directory was listed and the newest
    /// manifest taken; `others` are the older manifests that were present (kept).
    Listed { reason: String, others: Vec<FileNumber> },
}

/// What recovering the manifest found and did, for the open's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecovery {
    /// The manifest replayed.
    pub manifest_number: FileNumber,
    pub source: ManifestSource,
    /// Offset of a torn last edit that was dropped (a crash mid-append), if any.
    pub dropped_tail: Option<u64>,
}

/// The manifest to replay in `dir`, whose entries are `names`.
pub(crate) fn locate_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
) -> Result<(FileNumber, ManifestSource)> {
    let has = |name: &str| names.iter().any(|n| n == name);
    let reason = match read_current(fs, dir) {
        Ok(n) if has(&manifest_file_name(n)) => return Ok((n, ManifestSource::Current)),
        Ok(n) => format!("CURRENT names {}, which does not exist", manifest_file_name(n)),
        Err(Error::NotFound { .. }) => "CURRENT is missing".to_string(),
        Err(e @ Error::Corruption { .. }) => format!("CURRENT is damaged ({e})"),
        Err(e) => return Err(e),
    };
    let mut manifests: Vec<FileNumber> = names
        .iter()
        .filter_map(|n| match parse_file_name(n) {
            Some(FileKind::Manifest(m)) => Some(m),
            _ => None,
        })
        .collect();
    manifests.sort_unstable();
    let Some(newest) = manifests.pop() else {
        let mut data: Vec<&str> = names
            .iter()
            .filter(|n| matches!(parse_file_name(n), Some(FileKind::Table(_) | FileKind::Log(_))))
            .map(String::as_str)
            .collect();
        data.sort_unstable();
        if data.is_empty() && !has(CURRENT_FILE_NAME) {
            return Err(Error::NotFound {
                file: dir.join(CURRENT_FILE_NAME),
                reason: "no CURRENT file and no manifest: not a database directory".into(),
            });
        }
        let what = if data.is_empty() { "nothing else of a database".to_string() } else { data.join(", ") };
        return Err(Error::corruption(
            dir.join(CURRENT_FILE_NAME),
            0,
            format!(
                "{reason} and the directory holds no manifest (it holds {what}); Strata will not \
                 guess a database from its tables and logs and has changed nothing: restore it \
                 from a checkpoint or backup, or move these files out"
            ),
        ));
    };
    Ok((newest, ManifestSource::Listed { reason, others: manifests }))
}

/// The number of the manifest recovery would replay in `dir` (the one `CURRENT` names, or the
/// newest by listing), without replaying it: what a read-only open watches for changes.
pub fn live_manifest_number(fs: &dyn FileSystem, dir: &Path) -> Result<FileNumber> {
    let names = fs.list(dir).map_err(|e| Error::io(dir, e))?;
    locate_manifest(fs, dir, &names).map(|(n, _)| n)
}

/// The manual fix printed with every refusal of a listed manifest.
pub(crate) fn manual_fix(dir: &Path, newest: FileNumber) -> String {
    format!(
        "nothing was changed; if you know which manifest is the live one, write its name and a \
         newline into a new file and rename it over {} (for example `printf '{}\\n' > CURRENT.new \
         && mv CURRENT.new CURRENT`: never write into `CURRENT` itself, a checkpoint may share it \
         as a hard link) and open again",
        dir.join(CURRENT_FILE_NAME).display(),
        manifest_file_name(newest)
    )
}
