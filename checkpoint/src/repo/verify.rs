//! `Repository::verify`: every file of a snapshot against its recorded size and, at
//! [`VerifyLevel::Checksums`], its checksum, without opening a database. Every bad file is
//! named in the report; the call fails only if the snapshot does not exist or is not complete
//! (or the store cannot be read: an I/O error, which names the object).
//!
//! A table's checksum is its own whole-file checksum (the CRC32 of every byte before the
//! 68-byte footer, which also holds it): the CRC is recomputed over those bytes, and the footer
//! is decoded (magic, its own CRC, version) and must hold the same value, so every byte of the
//! file is checked. A WAL prefix's checksum is the CRC32 of all its bytes.
//!
//! How the bytes are read depends on the store. Locally each file's size is looked at, then
//! the (mapped) file is read. On an object store every read is a request, so at `Checksums`
//! each file is one streamed GET checked as it streams ([`StreamCheck`], as a restore does):
//! the response says the object's size (no HEAD) and its body is read once (no ranged GETs),
//! up to [`Store::file_parallelism`] files at once; at `Sizes` one listing of a directory gives
//! the sizes of all its files when that costs fewer requests than a HEAD per file
//! ([`dirs_to_list`], the rule of a snapshot's look at `tables/`), and no body is read.
//!
//! Invariants: reads only; never modifies or deletes an object; the report's problems are in
//! the snapshot's file order, whatever order the files were checked in.
//!
//! Thread safety: may run beside any other repository operation.

use super::format::{FileKind, FileRecord};
use super::parallel::for_each_bounded;
use super::snapshot::check_by_listing;
use super::types::{FileProblem, Problem, Progress, SnapshotId, Tracker, VerifyLevel, VerifyReport};
use super::{Repository, complete_entry_in};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use strata::Result;
use strata_base::RandomAccessFile;
use strata_sst::format::{FOOTER_LEN, Footer};

/// Bytes read at a time while checksumming.
const VERIFY_CHUNK_BYTES: u64 = 1 << 20;

/// What is wrong with stored file `f`, if anything.
pub(crate) fn check_file(store: &dyn Store, f: &FileRecord, level: VerifyLevel) -> Result<Option<Problem>> {
    let size = store.size(&f.key)?;
    if let Some(problem) = size_problem(f, size) {
        return Ok(Some(problem));
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

/// [`check_file`] at [`VerifyLevel::Checksums`] by one read of the object, start to end, checked
/// as it streams ([`Store::read_checked`]: on an object store one GET and no HEAD). The same
/// answer as `check_file` for the same object.
pub(crate) fn check_streamed(store: &dyn Store, f: &FileRecord) -> Result<Option<Problem>> {
    let mut check = StreamCheck::new(f, VerifyLevel::Checksums);
    match store.read_checked(&f.key, f.size, &mut |d| check.update(d))? {
        None => Ok(Some(Problem::Missing)),
        Some(actual) if actual != f.size => Ok(Some(Problem::SizeMismatch { expected: f.size, actual })),
        Some(_) => Ok(check.finish()),
    }
}

/// The directory part of `key` (`tables` of `tables/x.sst`).
fn dir_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The directories of `files` whose objects' sizes one listing each gets for fewer requests
/// than a HEAD per file, when the store is `remote`; `stored`: the keys the repository's
/// snapshots reference, an estimate of what each directory holds. Pure, tested alone.
pub(crate) fn dirs_to_list(remote: bool, files: &[FileRecord], stored: &BTreeSet<String>) -> Vec<String> {
    let mut planned: BTreeMap<&str, usize> = BTreeMap::new();
    for f in files {
        *planned.entry(dir_of(&f.key)).or_default() += 1;
    }
    planned
        .into_iter()
        .filter(|(dir, n)| {
            !dir.is_empty() && check_by_listing(remote, *n, stored.iter().filter(|k| dir_of(k) == *dir).count())
        })
        .map(|(dir, _)| dir.to_string())
        .collect()
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
        let state = self.state()?;
        let entry = complete_entry_in(&state, id)?;
        let Some(record) = entry.record else { return Err(super::not_found(id)) };
        let files = &record.files;
        let total = files.iter().map(|f| f.size).sum();
        let mut tracker = Tracker::new(progress, "verify", files.len(), total);
        let remote = self.store.is_remote();
        let listed = match level {
            VerifyLevel::Sizes => self.listed_sizes(&dirs_to_list(remote, files, &state.referenced_tables()))?,
            VerifyLevel::Checksums => HashMap::new(),
        };
        let check = |f: &FileRecord| -> Result<Option<Problem>> {
            if let Some(sizes) = listed.get(dir_of(&f.key)) {
                return Ok(size_problem(f, sizes.get(&f.key).copied()));
            }
            if remote && level == VerifyLevel::Checksums {
                return check_streamed(&*self.store, f);
            }
            check_file(&*self.store, f, level)
        };
        let mut report = VerifyReport { id, level, files_checked: 0, bytes_checked: 0, problems: Vec::new() };
        let mut found: Vec<Option<Problem>> = files.iter().map(|_| None).collect();
        for_each_bounded(
            files.len(),
            self.store.file_parallelism(),
            |i| check(&files[i]),
            |i, problem| {
                found[i] = problem;
                report.files_checked += 1;
                report.bytes_checked += files[i].size;
                tracker.file_done(files[i].size)
            },
        )?;
        for (f, problem) in files.iter().zip(found) {
            if let Some(problem) = problem {
                report.problems.push(FileProblem { key: f.key.clone(), file: self.object_path(&f.key), problem });
            }
        }
        Ok(report)
    }

    /// The sizes of the objects of each directory in `dirs`, by key, from one listing each.
    fn listed_sizes(&self, dirs: &[String]) -> Result<HashMap<String, HashMap<String, u64>>> {
        let mut listed = HashMap::new();
        for dir in dirs {
            let sizes = self.store.list_sizes(dir)?.into_iter().map(|(name, n)| (format!("{dir}/{name}"), n)).collect();
            listed.insert(dir.clone(), sizes);
        }
        Ok(listed)
    }
}

/// What is wrong with file `f` whose object has size `actual` (`None`: there is none), at
/// [`VerifyLevel::Sizes`].
fn size_problem(f: &FileRecord, actual: Option<u64>) -> Option<Problem> {
    match actual {
        None => Some(Problem::Missing),
        Some(actual) if actual != f.size => Some(Problem::SizeMismatch { expected: f.size, actual }),
        Some(_) => None,
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
    fn a_streamed_read_of_a_stored_object_says_what_checking_the_file_says() {
        let sim = strata_base::SimFs::new();
        strata_base::FileSystem::create_dir_all(&sim, std::path::Path::new("/r")).unwrap();
        let store = crate::store::LocalStore::new(sim.arc(), std::path::Path::new("/r"));
        let (good, crc) = table(3000);
        let f = record(FileKind::Table, &good, crc);
        let level = VerifyLevel::Checksums;
        assert_eq!(check_streamed(&store, &f).unwrap(), Some(Problem::Missing));
        let mut flipped = good.clone();
        flipped[1500] ^= 0x08;
        let longer = [good.as_slice(), &[0]].concat();
        for bytes in [&good, &flipped, &good[..2000].to_vec(), &longer] {
            store.put(&f.key, bytes).unwrap();
            assert_eq!(check_streamed(&store, &f).unwrap(), check_file(&store, &f, level).unwrap());
        }
        store.put(&f.key, &flipped).unwrap();
        assert!(matches!(check_streamed(&store, &f).unwrap(), Some(Problem::ChecksumMismatch { .. })));
        store.put(&f.key, &good[..2000]).unwrap();
        let short = Some(Problem::SizeMismatch { expected: good.len() as u64, actual: 2000 });
        assert_eq!(check_streamed(&store, &f).unwrap(), short);
    }

    #[test]
    fn a_directory_is_listed_only_on_an_object_store_and_only_when_cheaper() {
        let (bytes, crc) = table(100);
        let at = |key: &str| FileRecord { key: key.into(), ..record(FileKind::Table, &bytes, crc) };
        let files = [at("tables/a"), at("tables/b"), at("wals/c")];
        let none = BTreeSet::new();
        assert!(dirs_to_list(false, &files, &none).is_empty(), "locally a look is a stat");
        assert_eq!(dirs_to_list(true, &files, &none), ["tables", "wals"]);
        // 2,000 stored tables: two listing pages for two HEADs, so HEADs; one WAL page for one.
        let stored: BTreeSet<String> = (0..2000).map(|i| format!("tables/{i}")).chain(["wals/c".into()]).collect();
        assert_eq!(dirs_to_list(true, &files, &stored), ["wals"]);
        let stored: BTreeSet<String> = (0..1999).map(|i| format!("tables/{i}")).collect();
        assert_eq!(dirs_to_list(true, &files, &stored), ["tables", "wals"]);
        assert!(dirs_to_list(true, &[], &stored).is_empty(), "nothing to look at");
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
