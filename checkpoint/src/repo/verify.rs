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
    match file.read_at(at, FOOTER_LEN) {
        Ok(bytes) => footer_bytes_problem(&bytes, at, crc),
        Err(e) => Some(Problem::Unreadable(e.to_string())),
    }
}

/// What is wrong with `bytes`, the table footer at `at`, which must record checksum `crc`.
fn footer_bytes_problem(bytes: &[u8], at: u64, crc: u32) -> Option<Problem> {
    let Ok(footer) = <&[u8; FOOTER_LEN]>::try_from(bytes) else {
        return Some(Problem::Corrupt(format!("table footer at offset {at}: {} bytes", bytes.len())));
    };
    match Footer::decode_from(footer) {
        Err(e) => Some(Problem::Corrupt(format!("table footer at offset {at}: {e:?}"))),
        Ok(d) if d.file_crc != crc => Some(Problem::Corrupt(format!(
            "table footer at offset {at} records checksum {:08x}, the bytes have {crc:08x}",
            d.file_crc
        ))),
        Ok(_) => None,
    }
}

/// The checks of [`check_contents`] over bytes as they stream past (a download being written),
/// so that a file is never read a second time to check it: feed every byte in order with
/// [`update`](Self::update), then [`finish`](Self::finish). At [`VerifyLevel::Sizes`] only the
/// bytes are counted.
pub(crate) struct StreamCheck<'a> {
    f: &'a FileRecord,
    level: VerifyLevel,
    /// Bytes the checksum covers: all of a WAL prefix, a table's up to its footer.
    covered: u64,
    seen: u64,
    crc: crc32fast::Hasher,
    footer: Vec<u8>,
}

impl<'a> StreamCheck<'a> {
    pub(crate) fn new(f: &'a FileRecord, level: VerifyLevel) -> Self {
        let covered = match f.kind {
            FileKind::Table => f.size.saturating_sub(FOOTER_LEN as u64),
            FileKind::Wal => f.size,
        };
        Self { f, level, covered, seen: 0, crc: crc32fast::Hasher::new(), footer: Vec::new() }
    }

    /// The next bytes of the file, in order.
    pub(crate) fn update(&mut self, data: &[u8]) {
        let (start, end) = (self.seen, self.seen.saturating_add(data.len() as u64));
        self.seen = end;
        if self.level == VerifyLevel::Sizes {
            return;
        }
        // Offsets within `data` (a slice, so they fit in usize) of the covered bytes and of the
        // footer's, each clamped to `data`.
        let at = |offset: u64| usize::try_from(offset.clamp(start, end) - start).unwrap_or(data.len());
        self.crc.update(&data[..at(self.covered)]);
        if self.f.kind == FileKind::Table {
            let footer_end = self.covered.saturating_add(FOOTER_LEN as u64);
            self.footer.extend_from_slice(&data[at(self.covered)..at(footer_end)]);
        }
    }

    /// What is wrong with the bytes seen, if anything (the same answer as [`check_contents`]).
    pub(crate) fn finish(self) -> Option<Problem> {
        if self.seen != self.f.size {
            return Some(Problem::SizeMismatch { expected: self.f.size, actual: self.seen });
        }
        if self.level == VerifyLevel::Sizes {
            return None;
        }
        if self.f.kind == FileKind::Table && self.f.size < FOOTER_LEN as u64 {
            return Some(Problem::Corrupt("shorter than a table footer".into()));
        }
        let actual = self.crc.finalize();
        if actual != self.f.checksum {
            return Some(Problem::ChecksumMismatch { expected: self.f.checksum, actual });
        }
        if self.f.kind == FileKind::Table {
            return footer_bytes_problem(&self.footer, self.covered, actual);
        }
        None
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use strata_base::MemFile;
    use strata_sst::format::{BlockHandle, FORMAT_VERSION};

    fn record(kind: FileKind, bytes: &[u8], checksum: u32) -> FileRecord {
        FileRecord {
            kind,
            key: "tables/t".into(),
            name: "000001.sst".into(),
            cf: strata_manifest::CfId::DEFAULT,
            level: 0,
            number: strata_manifest::FileNumber::new(1),
            size: bytes.len() as u64,
            checksum,
            smallest: String::new(),
            largest: String::new(),
            smallest_seq: 0,
            largest_seq: 0,
            epoch: 0,
            global_seq: 0,
        }
    }

    /// A table-shaped file: `body_len` bytes, then a valid footer recording their CRC.
    fn table(body_len: usize) -> (Vec<u8>, u32) {
        let mut bytes: Vec<u8> = (0..body_len).map(|i| (i * 7 + i / 251) as u8).collect();
        let crc = strata_base::checksum::crc32(&bytes);
        let footer = Footer {
            index: BlockHandle { offset: 1, size: 2 },
            filter: BlockHandle::default(),
            properties: BlockHandle { offset: 3, size: 4 },
            file_crc: crc,
            format_version: FORMAT_VERSION,
        };
        bytes.extend_from_slice(&footer.encode());
        (bytes, crc)
    }

    /// The streamed check of `bytes`, fed in chunks of `chunk` bytes.
    fn streamed(f: &FileRecord, bytes: &[u8], level: VerifyLevel, chunk: usize) -> Option<Problem> {
        let mut check = StreamCheck::new(f, level);
        for c in bytes.chunks(chunk) {
            check.update(c);
        }
        check.finish()
    }

    /// For every chunking, the streamed check says what `check_contents` says of the same bytes.
    fn assert_same(f: &FileRecord, bytes: &[u8]) {
        let whole = check_contents(&MemFile::new(bytes::Bytes::copy_from_slice(bytes)), f);
        for chunk in [1, 3, 67, 68, 69, 1000, bytes.len().max(1)] {
            assert_eq!(streamed(f, bytes, VerifyLevel::Checksums, chunk), whole, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_streamed_check_agrees_with_reading_the_file() {
        let (good, crc) = table(5000);
        let f = record(FileKind::Table, &good, crc);
        assert_eq!(streamed(&f, &good, VerifyLevel::Checksums, 100), None);
        assert_same(&f, &good);
        // A flipped byte in the body, in the footer's recorded CRC, in its magic.
        for at in [0, 2500, 4999, 5000 + 48, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            assert!(streamed(&f, &bad, VerifyLevel::Checksums, 64).is_some(), "flip at {at}");
            assert_same(&f, &bad);
        }
        // Too short, too long, shorter than a footer.
        assert_same(&f, &good[..good.len() - 1]);
        assert_same(&f, &[good.as_slice(), &[0]].concat());
        let tiny = record(FileKind::Table, &good[..10], crc);
        assert_same(&tiny, &good[..10]);
        // A WAL prefix: every byte is covered, there is no footer.
        let wal = record(FileKind::Wal, &good[..300], strata_base::checksum::crc32(&good[..300]));
        assert_same(&wal, &good[..300]);
        let mut bad = good[..300].to_vec();
        bad[299] ^= 1;
        assert_same(&wal, &bad);
    }

    #[test]
    fn at_the_sizes_level_only_the_length_counts() {
        let (good, crc) = table(500);
        let f = record(FileKind::Table, &good, crc);
        let mut bad = good.clone();
        bad[10] ^= 1;
        assert_eq!(streamed(&f, &bad, VerifyLevel::Sizes, 7), None);
        assert_eq!(
            streamed(&f, &good[..100], VerifyLevel::Sizes, 7),
            Some(Problem::SizeMismatch { expected: good.len() as u64, actual: 100 })
        );
    }
}
