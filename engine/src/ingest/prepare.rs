//! The first half of ingestion, without the database's locks: open and check every external
//! file, then bring it into the database directory under a freshly allocated table number
//! (hard link, or a copy built as `NNNNNN.sst.strata-tmp`, fsynced and renamed), and fsync the
//! directory.
//!
//! Invariants: a staged file's number is in `State::pending_outputs` until the caller installs
//! the edit naming it or calls [`DbInner::unstage`], which removes the file; sources are never
//! modified (a linked file is shared byte for byte and never written).
//!
//! Thread safety: called by one ingesting thread; allocation takes the state lock briefly.

use super::placement::KeyRange;
use super::reader::SstFileReader;
use crate::error::{Error, Result};
use crate::state::DbInner;
use std::io;
use std::path::{Path, PathBuf};
use strata_base::fs::{copy_file, tmp_sibling};
use strata_base::ikey;
use strata_base::{CfId, FileNumber};

/// One external file, checked and (once staged) present in the database directory.
#[derive(Debug)]
pub(crate) struct PreparedFile {
    pub(crate) source: PathBuf,
    pub(crate) cf: CfId,
    /// User keys.
    pub(crate) range: KeyRange,
    /// The stored smallest and largest internal keys (sequence 0).
    pub(crate) smallest: Vec<u8>,
    pub(crate) largest: Vec<u8>,
    pub(crate) size: u64,
    pub(crate) checksum: u32,
    /// The table number once staged.
    pub(crate) number: Option<FileNumber>,
}

/// Prefixes `e` with the file it concerns, unless its message names it already.
pub(crate) fn naming(path: &Path, e: Error) -> Error {
    match e {
        Error::InvalidArgument(m) if !m.contains(&path.display().to_string()) => {
            Error::InvalidArgument(format!("{}: {m}", path.display()))
        }
        Error::NotFound(m) if !m.contains(&path.display().to_string()) => {
            Error::NotFound(format!("{}: {m}", path.display()))
        }
        Error::Io { path: None, source } => Error::Io { path: Some(path.to_path_buf()), source },
        other => other,
    }
}

impl DbInner {
    /// Opens `path` and makes the checks of an external file meant for column family
    /// `cf` (`cf_name`): external, every sequence number 0, comparator, family recorded.
    pub(crate) fn prepare_external(&self, path: &Path, cf: CfId, cf_name: &str, verify: bool) -> Result<PreparedFile> {
        let reader = SstFileReader::open_with_fs(self.fs.clone(), path).map_err(|e| naming(path, e))?;
        reader.check_external()?;
        let bad = |m: String| Error::InvalidArgument(format!("{}: {m}", path.display()));
        if let Some(id) = reader.cf_id()?
            && id != cf
        {
            return Err(bad(format!("written for column family id {id}, ingested into {cf_name:?} (id {cf})")));
        }
        if let Some(name) = reader.cf_name()
            && name != cf_name
        {
            return Err(bad(format!("written for column family {name:?}, ingested into {cf_name:?}")));
        }
        let nonzero = || Error::corruption(path, 0, "external file has non-zero sequence numbers");
        if verify {
            reader.verify_checksums()?;
            reader.verify_num_entries()?;
            reader.scan(|seq| if seq == 0 { Ok(()) } else { Err(nonzero()) })?;
        } else {
            // First and last keys (RocksDB checks these too); the properties said 0 already.
            let mut it = reader.raw_iter();
            for first in [true, false] {
                if first {
                    it.seek_to_first()
                } else {
                    it.seek_to_last()
                }
                it.status()?;
                if it.valid() && it.sequence() != 0 {
                    return Err(nonzero());
                }
            }
        }
        let p = reader.properties();
        let range = KeyRange::new(ikey::user_key(&p.smallest_key), ikey::user_key(&p.largest_key));
        Ok(PreparedFile {
            source: path.to_path_buf(),
            cf,
            range,
            smallest: p.smallest_key.clone(),
            largest: p.largest_key.clone(),
            size: reader.file_size(),
            checksum: reader.file_checksum(),
            number: None,
        })
    }

    /// Brings each file into the database directory under a new number (link when `link`, a
    /// copy otherwise or when linking is impossible), then fsyncs the directory. The links and
    /// the fsync hold the I/O gate (no table writer starts a piece sync beside them); a copy
    /// leaves it open. On error the files staged so far stay recorded in `files` for
    /// [`DbInner::unstage`].
    pub(crate) fn stage(&self, files: &mut [PreparedFile], link: bool) -> Result<()> {
        let mut gate = link.then(|| self.io_gate.hold());
        for f in files.iter_mut() {
            let number = {
                let mut st = self.state.lock();
                let n = st.versions.new_file_number();
                st.pending_outputs.insert(n);
                n
            };
            f.number = Some(number);
            self.stage_one(&f.source, number, link, &mut gate)?;
        }
        let _gate = gate.unwrap_or_else(|| self.io_gate.hold());
        self.sync_dir()
    }

    /// `gate` is dropped (the gate opened) before a copy.
    fn stage_one(
        &self,
        source: &Path,
        number: FileNumber,
        link: bool,
        gate: &mut Option<strata_base::IoGateGuard<'_>>,
    ) -> Result<()> {
        let target = self.table_path(number);
        if link {
            match self.fs.link(source, &target) {
                Ok(()) => return Ok(()),
                Err(e) if matches!(e.kind(), io::ErrorKind::Unsupported | io::ErrorKind::CrossesDevices) => {}
                Err(e) => return Err(Error::io(source, e)),
            }
        }
        *gate = None;
        let tmp = tmp_sibling(&target);
        let copied = copy_file(self.fs.as_ref(), source, &tmp).and_then(|_| self.fs.rename(&tmp, &target));
        if let Err(e) = copied {
            let _ = self.fs.remove_file(&tmp);
            return Err(Error::io(source, e));
        }
        Ok(())
    }

    /// Removes the staged copies or links of `files` and releases their numbers.
    pub(crate) fn unstage(&self, files: &[PreparedFile]) {
        let numbers: Vec<FileNumber> = files.iter().filter_map(|f| f.number).collect();
        for &n in &numbers {
            let _ = self.fs.remove_file(&self.table_path(n));
            let _ = self.fs.remove_file(&tmp_sibling(&self.table_path(n)));
        }
        let mut st = self.state.lock();
        for n in numbers {
            st.pending_outputs.remove(&n);
        }
    }
}
