//! `Repository::verify`: every file of a snapshot against its recorded size and, at
//! [`VerifyLevel::Checksums`], its checksum, without opening a database. Every bad file is
//! named in the report; the call fails only if the snapshot does not exist or is not complete.
//!
//! A table's checksum is its own whole-file checksum (the CRC32 of every byte before the
//! 68-byte footer, which also holds it): the CRC is recomputed over those bytes, and the footer
//! is decoded (magic, its own CRC, version) and must hold the same value, so every byte of the
//! file is checked. A WAL prefix's checksum is the CRC32 of all its bytes.
//!
//! Invariants: reads only; never modifies or deletes an object.
//!
//! Thread safety: may run beside any other repository operation.

use super::Repository;
use super::format::{FileKind, FileRecord};
use super::types::{FileProblem, Problem, Progress, SnapshotId, Tracker, VerifyLevel, VerifyReport};
use crate::store::Store;
use strata::Result;
use strata_base::RandomAccessFile;
use strata_sst::format::{FOOTER_LEN, Footer};

/// Bytes read at a time while checksumming.
const VERIFY_CHUNK_BYTES: u64 = 1 << 20;

/// What is wrong with stored file `f`, if anything.
pub(crate) fn check_file(store: &dyn Store, f: &FileRecord, level: VerifyLevel) -> Result<Option<Problem>> {
    let Some(size) = store.size(&f.key)? else { return Ok(Some(Problem::Missing)) };
    if size != f.size {
        return Ok(Some(Problem::SizeMismatch { expected: f.size, actual: size }));
    }
    if level == VerifyLevel::Sizes {
        return Ok(None);
    }
    let file = match store.open(&f.key) {
        Ok(file) => file,
        Err(e) => return Ok(Some(Problem::Unreadable(e.to_string()))),
    };
    Ok(check_contents(&*file, f))
}

/// What is wrong with the bytes of `file` (of the recorded size) as a copy of `f`'s checksum.
pub(crate) fn check_contents(file: &dyn RandomAccessFile, f: &FileRecord) -> Option<Problem> {
    if file.len() != f.size {
        return Some(Problem::SizeMismatch { expected: f.size, actual: file.len() });
    }
    let covered = match f.kind {
        FileKind::Table => match f.size.checked_sub(FOOTER_LEN as u64) {
            Some(n) => n,
            None => return Some(Problem::Corrupt("shorter than a table footer".into())),
        },
        FileKind::Wal => f.size,
    };
    let actual = match crc_of(file, covered) {
        Ok(crc) => crc,
        Err(e) => return Some(Problem::Unreadable(e.to_string())),
    };
    if actual != f.checksum {
        return Some(Problem::ChecksumMismatch { expected: f.checksum, actual });
    }
    if f.kind == FileKind::Table {
        return footer_problem(file, covered, actual);
    }
    None
}

/// CRC32 of the first `len` bytes of `file`.
fn crc_of(file: &dyn RandomAccessFile, len: u64) -> std::io::Result<u32> {
    let mut h = crc32fast::Hasher::new();
    let mut off = 0;
    while off < len {
        let n = (len - off).min(VERIFY_CHUNK_BYTES);
        // n <= VERIFY_CHUNK_BYTES, which fits in usize.
        h.update(&file.read_at(off, n as usize)?);
        off += n;
    }
    Ok(h.finalize())
}

/// What is wrong with the table footer at `at`, which must record checksum `crc`.
fn footer_problem(file: &dyn RandomAccessFile, at: u64, crc: u32) -> Option<Problem> {
    let bytes = match file.read_at(at, FOOTER_LEN) {
        Ok(b) => b,
        Err(e) => return Some(Problem::Unreadable(e.to_string())),
    };
    let mut footer = [0u8; FOOTER_LEN];
    footer.copy_from_slice(&bytes);
    match Footer::decode_from(&footer) {
        Err(e) => Some(Problem::Corrupt(format!("table footer at offset {at}: {e:?}"))),
        Ok(d) if d.file_crc != crc => Some(Problem::Corrupt(format!(
            "table footer at offset {at} records checksum {:08x}, the bytes have {crc:08x}",
            d.file_crc
        ))),
        Ok(_) => None,
    }
}

impl Repository {
    /// Checks every file of complete snapshot `id`. See the module docs.
    pub fn verify(&self, id: SnapshotId, level: VerifyLevel) -> Result<VerifyReport> {
        self.verify_with(id, level, None)
    }

    /// [`verify`](Self::verify) with a progress callback that can cancel.
    pub fn verify_with(&self, id: SnapshotId, level: VerifyLevel, progress: Option<&Progress>) -> Result<VerifyReport> {
        let entry = self.complete_entry(id)?;
        let Some(record) = entry.record else { return Err(super::not_found(id)) };
        let total = record.files.iter().map(|f| f.size).sum();
        let mut tracker = Tracker::new(progress, "verify", record.files.len(), total);
        let mut report = VerifyReport { id, level, files_checked: 0, bytes_checked: 0, problems: Vec::new() };
        for f in &record.files {
            if let Some(problem) = check_file(&*self.store, f, level)? {
                report.problems.push(FileProblem { key: f.key.clone(), file: self.object_path(&f.key), problem });
            }
            report.files_checked += 1;
            report.bytes_checked += f.size;
            tracker.file_done(f.size)?;
        }
        Ok(report)
    }
}
