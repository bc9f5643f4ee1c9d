//! `SavepointReader`: opens a savepoint file (preamble, footer, index, header, all checked),
//! reads and checks single chunks (for restores, in parallel, or of one key range), and
//! verifies the whole file in one sequential pass.
//!
//! Invariants: every byte comes from the file through a bounds check against the file's
//! length before anything is allocated; every failure is `Corruption` naming the file and an
//! offset in it, or `UnsupportedVersion`; no path is ever read from the file.
//!
//! Thread safety: a reader is `Send + Sync`; `read_chunk` may run on many threads at once.

use super::format::{
    self, CHUNK_PAYLOAD_MAX, FOOTER_LEN, FormatError, Header, INDEX_PAYLOAD_MAX, Index, PREAMBLE_LEN, Preamble,
    RECORD_CHUNK, RECORD_HEADER, RECORD_HEADER_LEN, RECORD_INDEX, RECORD_OVERHEAD,
};
use super::{FamilyInfo, SavepointInfo};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strata::{Error, FileSystem, Result};
use strata_base::RandomAccessFile;

/// An open savepoint.
#[derive(Debug)]
pub struct SavepointReader {
    dir: PathBuf,
    path: PathBuf,
    file: Arc<dyn RandomAccessFile>,
    len: u64,
    preamble: Preamble,
    header: Header,
    index: Index,
    footer: format::Footer,
    /// Where the first chunk starts (the end of the header record).
    data_start: u64,
}

/// One decoded, checked chunk: its entries as slices of one buffer.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub family: u32,
    pub entries: Vec<(Bytes, Bytes)>,
}

impl SavepointReader {
    /// Opens `dir/SAVEPOINT` and checks everything but the chunks.
    pub fn open(fs: Arc<dyn FileSystem>, dir: &Path) -> Result<Self> {
        let path = dir.join(format::FILE_NAME);
        if !fs.is_dir(dir) {
            return Err(Error::NotFound(format!("savepoint directory {}", dir.display())));
        }
        let file = fs.open_unmapped(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(format!("{} (not a savepoint directory)", path.display())),
            _ => Error::io(&path, e),
        })?;
        let len = file.len();
        let mut r = SavepointReader {
            dir: dir.to_path_buf(),
            path,
            file,
            len,
            preamble: Preamble::CURRENT,
            header: Header::default(),
            index: Index::default(),
            footer: format::Footer { index_offset: 0, index_len: 0, file_crc: 0 },
            data_start: 0,
        };
        let pre = r.read(0, PREAMBLE_LEN.min(len as usize))?;
        r.preamble = Preamble::decode(&pre).map_err(|e| r.err(e))?;
        if len < (PREAMBLE_LEN + RECORD_OVERHEAD + FOOTER_LEN) as u64 {
            return Err(r.corrupt(len, format!("file of {len} bytes is too short to be a savepoint")));
        }
        let foot = r.read(len - FOOTER_LEN as u64, FOOTER_LEN)?;
        r.footer = format::Footer::decode(&foot, len).map_err(|e| r.err(e))?;
        let rec = r.read_record(PREAMBLE_LEN as u64, RECORD_HEADER, format::HEADER_PAYLOAD_MAX)?;
        let at = PREAMBLE_LEN as u64 + RECORD_HEADER_LEN as u64;
        r.header = Header::decode(&rec[RECORD_HEADER_LEN..rec.len() - 4], at).map_err(|e| r.err(e))?;
        r.data_start = PREAMBLE_LEN as u64 + rec.len() as u64;
        let (off, ilen) = (r.footer.index_offset, r.footer.index_len);
        if off < r.data_start || ilen > (INDEX_PAYLOAD_MAX + RECORD_OVERHEAD) as u64 {
            return Err(r.corrupt(len - FOOTER_LEN as u64, "footer points the index outside the file"));
        }
        let rec = r.read(off, ilen as usize)?;
        let payload = format::decode_record(&rec, off, RECORD_INDEX, INDEX_PAYLOAD_MAX).map_err(|e| r.err(e))?;
        r.index = Index::decode(payload, off + RECORD_HEADER_LEN as u64).map_err(|e| r.err(e))?;
        format::validate_index(&r.header, &r.index, r.data_start, off).map_err(|e| r.err(e))?;
        Ok(r)
    }

    fn err(&self, e: FormatError) -> Error {
        match e {
            FormatError::Corrupt { offset, reason } => Error::Corruption { file: self.path.clone(), offset, reason },
            FormatError::Unsupported { min_reader_version } => Error::UnsupportedVersion {
                file: self.path.clone(),
                offset: 0,
                reason: format!(
                    "needs a savepoint reader of version {min_reader_version}, this build reads up to {}",
                    format::READER_VERSION
                ),
            },
        }
    }

    fn corrupt(&self, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corruption { file: self.path.clone(), offset, reason: reason.into() }
    }

    /// `len` bytes at `offset`, or `Corruption` if they are not all in the file.
    fn read(&self, offset: u64, len: usize) -> Result<Bytes> {
        if offset.checked_add(len as u64).is_none_or(|end| end > self.len) {
            return Err(
                self.corrupt(offset, format!("{len} bytes at {offset} run past the end of the file (truncated)"))
            );
        }
        self.file.read_at(offset, len).map_err(|e| Error::io(&self.path, e))
    }

    /// A whole record at `offset` whose length is read from its header; returns its bytes.
    fn read_record(&self, offset: u64, kind: u8, max: usize) -> Result<Bytes> {
        let h = self.read(offset, RECORD_HEADER_LEN)?;
        let n = format::decode_record_header(&h, offset, kind, max).map_err(|e| self.err(e))?;
        let rec = self.read(offset, n + RECORD_OVERHEAD)?;
        format::decode_record(&rec, offset, kind, max).map_err(|e| self.err(e))?;
        Ok(rec)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads chunk `i`, checks its checksum, order and count against the index.
    pub fn read_chunk(&self, i: usize) -> Result<Chunk> {
        self.read_chunk_raw(i).map(|(_, c)| c)
    }

    /// [`read_chunk`](Self::read_chunk), also returning the record's bytes.
    fn read_chunk_raw(&self, i: usize) -> Result<(Bytes, Chunk)> {
        let Some(meta) = self.index.chunks.get(i) else {
            return Err(Error::InvalidArgument(format!("chunk {i} of {}", self.index.chunks.len())));
        };
        let rec = self.read(meta.offset, meta.len as usize)?;
        let payload =
            format::decode_record(&rec, meta.offset, RECORD_CHUNK, CHUNK_PAYLOAD_MAX).map_err(|e| self.err(e))?;
        let base = meta.offset + RECORD_HEADER_LEN as u64;
        let spans = format::decode_chunk(payload, base, meta).map_err(|e| self.err(e))?;
        let buf = rec.slice(RECORD_HEADER_LEN..RECORD_HEADER_LEN + payload.len());
        let entries = spans.into_iter().map(|(k, v)| (buf.slice(k), buf.slice(v))).collect();
        Ok((rec, Chunk { family: meta.family, entries }))
    }

    /// What the header and index say (chunks not read).
    pub fn info(&self) -> SavepointInfo {
        let families = self
            .header
            .families
            .iter()
            .zip(&self.index.families)
            .map(|(d, s)| FamilyInfo {
                name: d.name.clone(),
                comparator: d.comparator.clone(),
                entries: s.entries,
                data_bytes: s.data_bytes,
                chunks: s.chunks,
                key_range: (s.entries > 0).then(|| (s.first_key.clone(), s.last_key.clone())),
            })
            .collect();
        SavepointInfo {
            dir: self.dir.clone(),
            sequence: self.header.sequence,
            created_unix_secs: self.header.created_unix_secs,
            format_version: self.preamble.version,
            source_options: self.header.options.clone(),
            families,
            chunks: self.index.chunks.len() as u64,
            file_bytes: self.len,
            duration: Default::default(),
        }
    }

    /// Reads every byte once, front to back: every record's checksum, every chunk's order and
    /// count, each family's totals, and the CRC of the whole file.
    pub fn verify(&self) -> Result<SavepointInfo> {
        let start = Instant::now();
        let mut h = crc32fast::Hasher::new();
        h.update(&self.read(0, self.data_start as usize)?);
        let mut data_bytes = vec![0u64; self.index.families.len()];
        for i in 0..self.index.chunks.len() {
            let (rec, chunk) = self.read_chunk_raw(i)?;
            h.update(&rec);
            let sum: usize = chunk.entries.iter().map(|(k, v)| k.len() + v.len()).sum();
            data_bytes[chunk.family as usize] += sum as u64;
        }
        h.update(&self.read(self.footer.index_offset, self.footer.index_len as usize)?);
        if strata_base::checksum::mask(h.finalize()) != self.footer.file_crc {
            return Err(self.corrupt(self.len - FOOTER_LEN as u64 + 16, "whole-file checksum mismatch"));
        }
        for (i, (s, d)) in self.index.families.iter().zip(&data_bytes).enumerate() {
            if s.data_bytes != *d {
                let at = self.footer.index_offset;
                return Err(
                    self.corrupt(at, format!("family {i}: index says {} data bytes, chunks hold {d}", s.data_bytes))
                );
            }
        }
        let mut info = self.info();
        info.duration = start.elapsed();
        Ok(info)
    }
}
