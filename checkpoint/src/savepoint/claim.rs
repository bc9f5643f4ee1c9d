//! Opening a native checkpoint directory as a live database, with Flink's claim modes.
//!
//! - [`ClaimMode::NoClaim`] (the default): the checkpoint stays as it is. A new directory is
//!   built in a temporary sibling of `target`: tables are hard-linked (copied across file
//!   systems), every other file (manifest, `CURRENT`, WAL, `OPTIONS`) is copied, because the
//!   database appends to or rewrites those. The live database then only ever unlinks its own
//!   directory entries, and tables are never written in place, so the checkpoint's entries
//!   and bytes never change; several databases may start from one checkpoint.
//! - [`ClaimMode::Claim`]: the checkpoint directory is renamed to `target` and the database
//!   owns its files from then on (the checkpoint no longer exists under its old name).
//!
//! Invariants: with `NoClaim` nothing is created, written, renamed or removed inside the
//! checkpoint directory; `target` appears whole (rename of a synced temporary sibling).
//!
//! Thread safety: the checkpoint must not be open for writing while this runs.

use crate::paths::normalize;
use std::path::{Path, PathBuf};
use strata::{Db, Error, Options, Result};
use strata_base::fs::copy_file;
use strata_manifest::{FileKind, parse_file_name};

/// Who owns a checkpoint after a database is opened from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClaimMode {
    /// The checkpoint is left untouched; the new database links or copies from it.
    #[default]
    NoClaim,
    /// The database adopts the checkpoint directory itself (by rename).
    Claim,
}

/// Opens the native checkpoint in `checkpoint` as a writable database at `target` (which must
/// not exist; with `Claim` it may equal `checkpoint`, to open it in place).
pub fn open_checkpoint(
    checkpoint: impl AsRef<Path>,
    target: impl AsRef<Path>,
    mode: ClaimMode,
    opts: Options,
) -> Result<Db> {
    let fs = super::fs_of(&opts);
    let (src, target) = (normalize(checkpoint.as_ref()), normalize(target.as_ref()));
    if !fs.is_dir(&src) {
        return Err(Error::NotFound(format!("checkpoint directory {}", src.display())));
    }
    if mode == ClaimMode::Claim && src == target {
        return Db::open(&target, Options { create_if_missing: false, error_if_exists: false, ..opts });
    }
    if fs.exists(&target) {
        return Err(Error::AlreadyExists(target));
    }
    let parent = target.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else {
        return Err(Error::InvalidArgument(format!("target {} has no usable name", target.display())));
    };
    if target.starts_with(&src) || src.starts_with(&target) {
        return Err(Error::InvalidArgument("target and checkpoint directories must not contain each other".into()));
    }
    match mode {
        ClaimMode::Claim => {
            fs.rename(&src, &target).map_err(|e| Error::io(&target, e))?;
            fs.sync_dir(&parent).map_err(|e| Error::io(&parent, e))?;
            if let Some(old_parent) = src.parent() {
                fs.sync_dir(old_parent).map_err(|e| Error::io(old_parent, e))?;
            }
        }
        ClaimMode::NoClaim => {
            let tmp = parent.join(format!(".{name}.strata-claim.tmp"));
            if fs.exists(&tmp) {
                fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
            }
            let built = populate(&*fs, &src, &tmp).and_then(|()| {
                fs.sync_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
                fs.rename(&tmp, &target).map_err(|e| Error::io(&target, e))
            });
            if let Err(e) = built {
                let _ = fs.remove_dir_all(&tmp);
                return Err(e);
            }
            fs.sync_dir(&parent).map_err(|e| Error::io(&parent, e))?;
        }
    }
    Db::open(&target, Options { create_if_missing: false, error_if_exists: false, ..opts })
}

/// What to do with one entry of a checkpoint directory under `NoClaim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carry {
    /// Immutable: a hard link is safe (copy when linking is impossible).
    Link,
    /// The database may append to or replace it: copy.
    Copy,
    /// Not part of the state (lock, temporary files).
    Skip,
}

/// Pure: how `NoClaim` carries a file named `name`. A name Strata does not know is copied
/// (copying never changes the checkpoint, linking a file someone may rewrite could).
pub(crate) fn carry(name: &str) -> Carry {
    match parse_file_name(name) {
        Some(FileKind::Table(_)) => Carry::Link,
        Some(FileKind::Lock | FileKind::Temp) => Carry::Skip,
        _ => Carry::Copy,
    }
}

fn populate(fs: &dyn strata::FileSystem, src: &Path, tmp: &Path) -> Result<()> {
    fs.create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
    for name in fs.list(src).map_err(|e| Error::io(src, e))? {
        let from = src.join(&name);
        let to = tmp.join(&name);
        if fs.is_dir(&from) {
            return Err(Error::InvalidArgument(format!(
                "{} is a directory; a Strata checkpoint holds none, refusing to open it",
                from.display()
            )));
        }
        match carry(&name) {
            Carry::Skip => {}
            Carry::Link => match fs.link(&from, &to) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::CrossesDevices | std::io::ErrorKind::Unsupported) => {
                    copy_file(fs, &from, &to).map_err(|e| Error::io(&from, e))?;
                }
                Err(e) => return Err(Error::io(&to, e)),
            },
            Carry::Copy => {
                copy_file(fs, &from, &to).map_err(|e| Error::io(&from, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_linked_everything_mutable_copied() {
        assert_eq!(carry("000012.sst"), Carry::Link);
        assert_eq!(carry("000013.log"), Carry::Copy);
        assert_eq!(carry("MANIFEST-000014"), Carry::Copy);
        assert_eq!(carry("CURRENT"), Carry::Copy);
        assert_eq!(carry("LOCK"), Carry::Skip);
        assert_eq!(carry("notes.txt"), Carry::Copy);
    }
}
