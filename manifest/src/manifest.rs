//! Manifest files and `CURRENT`: writing a fresh manifest, switching `CURRENT` to it, and
//! reading a manifest's edits back.
//!
//! A manifest is a record log (one encoded [`VersionEdit`] per record) whose first record is a
//! *snapshot edit* describing the whole state; later records are deltas. `CURRENT` holds
//! `MANIFEST-NNNNNN\n` and is replaced atomically.
//!
//! Invariants: `CURRENT` only ever names a manifest whose records were synced before the switch;
//! the directory is fsynced after the rename, which also makes the new manifest's directory
//! entry durable.
//!
//! Thread safety: free functions; callers serialise writers to one directory.

use crate::edit::VersionEdit;
use crate::error::{DecodeError, Error, Result};
use crate::filename::{FileKind, manifest_file_name, parse_file_name, temp_file_name};
use crate::format::{CURRENT_FILE_NAME, FILE_NUMBER_MAX};
use crate::log::{RecordReader, RecordWriter};
use crate::version::Version;
use std::path::Path;
use strata_base::{FileNumber, FileSystem};

/// An edit that recreates `version` from nothing, with the given counters. `max_cf_id` is set
/// to the largest id in `version`; a version set that has dropped larger ids overrides it.
pub fn snapshot_edit(
    version: &Version,
    comparator_name: &str,
    log_number: FileNumber,
    next_file_number: FileNumber,
    last_sequence: u64,
) -> VersionEdit {
    let mut edit = VersionEdit {
        comparator: Some(comparator_name.to_string()),
        log_number: Some(log_number),
        next_file_number: Some(next_file_number),
        last_sequence: Some(last_sequence),
        max_cf_id: version.cfs().map(|c| c.id).max(),
        ..VersionEdit::default()
    };
    for cf in version.cfs() {
        edit.add_cf(cf.id, cf.name.clone(), cf.comparator.clone());
        for (level, f) in cf.files() {
            edit.add_file(cf.id, level, (**f).clone());
        }
    }
    edit
}

/// Creates `dir/MANIFEST-<number>` holding `edits`, synced, and returns its writer. With
/// `via_temp` the manifest is written as `MANIFEST-<number>.strata-tmp` and renamed into place
/// once synced, so a crash never leaves a partial file under a manifest's name (a new
/// database uses this: a crash while creating it leaves only a temporary file, and the next
/// open creates the database again instead of refusing a damaged one). The rename becomes
/// durable with the directory fsync of [`set_current`].
pub(crate) fn create_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest_number: FileNumber,
    edits: &[VersionEdit],
    via_temp: bool,
) -> Result<RecordWriter> {
    let name = manifest_file_name(manifest_number);
    let path = dir.join(&name);
    let temp = dir.join(temp_file_name(&name));
    let first = if via_temp { &temp } else { &path };
    let file = fs.create(first).map_err(|e| Error::io(first, e))?;
    let mut writer = RecordWriter::new(file, path.clone());
    let mut buf = Vec::new();
    for edit in edits {
        buf.clear();
        edit.encode_into(&mut buf);
        writer.add_record(&buf)?;
    }
    writer.sync()?;
    if via_temp {
        fs.rename(&temp, &path).map_err(|e| Error::io(&temp, e))?;
    }
    Ok(writer)
}

/// Writes a new manifest `dir/MANIFEST-<number>` holding `edits`, synced. Its directory entry
/// becomes durable with the directory fsync of [`set_current`].
pub fn write_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest_number: FileNumber,
    edits: &[VersionEdit],
) -> Result<()> {
    create_manifest(fs, dir, manifest_number, edits, false).map(drop)
}

/// Points `dir/CURRENT` at `MANIFEST-<number>`: temp file, fsync, rename, directory fsync.
pub fn set_current(fs: &dyn FileSystem, dir: &Path, manifest_number: FileNumber) -> Result<()> {
    let path = dir.join(CURRENT_FILE_NAME);
    let contents = format!("{}\n", manifest_file_name(manifest_number));
    fs.write_atomic(&path, contents.as_bytes()).map_err(|e| Error::io(&path, e))
}

/// Writes `dir/CURRENT` naming `MANIFEST-<number>` in place (no temporary file, no rename),
/// synced. Only for a directory no reader can see yet, such as a checkpoint being built in a
/// temporary directory that is renamed into place afterwards: there a torn `CURRENT` can never
/// be observed. The caller fsyncs the directory. Refuses an existing `CURRENT` (`AlreadyExists`):
/// it may be a hard link that another directory shares, which writing would change there too.
pub fn write_current_unpublished(fs: &dyn FileSystem, dir: &Path, manifest_number: FileNumber) -> Result<()> {
    let path = dir.join(CURRENT_FILE_NAME);
    if fs.exists(&path) {
        return Err(Error::io(&path, std::io::Error::new(std::io::ErrorKind::AlreadyExists, "CURRENT already exists")));
    }
    let contents = format!("{}\n", manifest_file_name(manifest_number));
    let mut f = fs.create(&path).map_err(|e| Error::io(&path, e))?;
    f.append(contents.as_bytes()).map_err(|e| Error::io(&path, e))?;
    f.sync().map_err(|e| Error::io(&path, e))
}

/// The manifest number `dir/CURRENT` names. A missing `CURRENT` is `NotFound`; anything but
/// `MANIFEST-NNNNNN\n` with a number below `FILE_NUMBER_MAX` is `Corruption`.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<FileNumber> {
    let path = dir.join(CURRENT_FILE_NAME);
    if !fs.exists(&path) {
        return Err(Error::NotFound { file: path, reason: "no CURRENT file: not a database directory".into() });
    }
    let bytes = fs.read_all(&path).map_err(|e| Error::io(&path, e))?;
    let bad = |why: &str| Error::corruption(&path, 0, format!("CURRENT {why}: {:?}", String::from_utf8_lossy(&bytes)));
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("is not UTF-8"))?;
    let name = text.strip_suffix('\n').ok_or_else(|| bad("does not end in a newline"))?;
    match parse_file_name(name) {
        Some(FileKind::Manifest(n)) if n < FILE_NUMBER_MAX => Ok(n),
        Some(FileKind::Manifest(_)) => Err(bad("names a manifest number at or above FILE_NUMBER_MAX")),
        _ => Err(bad("does not name a manifest")),
    }
}

/// What reading a manifest's edits found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EditsRead {
    /// The manifest's length in bytes.
    pub(crate) size: u64,
    /// Offset of a torn last record that ended the log (a crash mid-append), if any.
    pub(crate) dropped_tail: Option<u64>,
}

/// Calls `f(edit, record_offset)` for every edit of `dir/MANIFEST-<number>`, in order. A torn
/// last record ends the log (and is reported); a missing manifest is `NotFound`; a record that
/// does not decode is `Corruption` naming the manifest and the record's offset.
pub(crate) fn read_edits(
    fs: &dyn FileSystem,
    dir: &Path,
    manifest_number: FileNumber,
    mut f: impl FnMut(VersionEdit, u64) -> Result<()>,
) -> Result<EditsRead> {
    let path = dir.join(manifest_file_name(manifest_number));
    if !fs.exists(&path) {
        return Err(Error::NotFound { file: path, reason: "CURRENT names this manifest but it does not exist".into() });
    }
    // Unmapped: a writer may be appending to this manifest while a read-only open reads it.
    let file = fs.open_unmapped(&path).map_err(|e| Error::io(&path, e))?;
    let size = file.len();
    let mut reader = RecordReader::new(file, &path);
    while let Some(rec) = reader.read_record()? {
        let edit = VersionEdit::decode_from(&rec.payload).map_err(|DecodeError { offset, reason, newer_format }| {
            let reason = format!("edit does not decode (byte {offset} of the record): {reason}");
            if newer_format {
                Error::UnsupportedVersion { file: path.clone(), offset: rec.offset, reason }
            } else {
                Error::corruption(&path, rec.offset, reason)
            }
        })?;
        f(edit, rec.offset)?;
    }
    Ok(EditsRead { size, dropped_tail: reader.dropped_tail() })
}
