//! Reads fragments (the physical units of the log) one block at a time, and scans ahead for
//! valid fragments when the reader must tell a torn tail from corruption in the middle.
//!
//! Invariants: every byte offset and length taken from the file is checked against the block
//! it was read from before it is used; nothing is allocated from an on-disk length (payloads are
//! slices of the block). A block is read with one `read_at` of at most [`BLOCK_SIZE`] bytes.
//!
//! Thread safety: a `Cursor` has one owner; it shares the file through an `Arc`.

use crate::error::{Error, Result};
use crate::format::{BLOCK_SIZE, FragmentType, HEADER_LEN, RawHeader, TYPE_OFFSET, fragment_checksum};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::RandomAccessFile;

/// What the cursor found at its position.
#[derive(Debug)]
pub(crate) enum Frag {
    /// A fragment whose header and checksum are valid.
    Fragment { kind: FragmentType, offset: u64, end: u64, payload: Bytes },
    /// The end of the file, at a clean place (a block boundary, after a fragment, or inside a
    /// zero-filled trailer).
    Eof,
    /// Bytes that are not a valid fragment, `[offset, end)`. The cursor resumes at `end`.
    /// `harmless` marks a nonzero block trailer: it can hold no data, so nothing is lost.
    Bad { offset: u64, end: u64, reason: String, harmless: bool },
}

/// A position in a log file, with the block it is in.
#[derive(Debug)]
pub(crate) struct Cursor {
    file: Arc<dyn RandomAccessFile>,
    path: PathBuf,
    file_len: u64,
    /// The current block (shorter than `BLOCK_SIZE` only if it is the last one).
    block: Bytes,
    block_start: u64,
    /// Position in `block`; `pos == block.len()` when the block is used up.
    pos: usize,
    loaded: bool,
}

impl Cursor {
    pub(crate) fn new(file: Arc<dyn RandomAccessFile>, path: &Path) -> Self {
        let file_len = file.len();
        Cursor { file, path: path.to_path_buf(), file_len, block: Bytes::new(), block_start: 0, pos: 0, loaded: false }
    }

    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn read_block(&self, start: u64) -> Result<Bytes> {
        let len = (self.file_len - start).min(BLOCK_SIZE as u64);
        // len <= BLOCK_SIZE, which fits in usize.
        self.file.read_at(start, len as usize).map_err(|source| Error::Io { path: self.path.clone(), source })
    }

    /// Loads the next block when the current one is used up; false at the end of the file.
    fn ensure_block(&mut self) -> Result<bool> {
        if self.loaded && self.pos < self.block.len() {
            return Ok(true);
        }
        if self.loaded && self.block.len() < BLOCK_SIZE {
            return Ok(false);
        }
        let next = if self.loaded { self.block_start + BLOCK_SIZE as u64 } else { 0 };
        if next >= self.file_len {
            return Ok(false);
        }
        self.block = self.read_block(next)?;
        self.block_start = next;
        self.pos = 0;
        self.loaded = true;
        Ok(!self.block.is_empty())
    }

    /// The next fragment, a region of bad bytes, or the end of the file.
    pub(crate) fn next_fragment(&mut self) -> Result<Frag> {
        loop {
            if !self.ensure_block()? {
                return Ok(Frag::Eof);
            }
            let offset = self.block_start + self.pos as u64;
            let leftover = BLOCK_SIZE - self.pos;
            let here = self.block.get(self.pos..).unwrap_or_default();
            let block_end = self.block_start + self.block.len() as u64;
            if leftover < HEADER_LEN {
                let nonzero = here.iter().any(|&b| b != 0);
                self.pos = self.block.len();
                if nonzero {
                    let reason = format!("nonzero bytes in a {leftover}-byte block trailer");
                    return Ok(Frag::Bad { offset, end: block_end, reason, harmless: true });
                }
                continue;
            }
            let Some(header) = here.first_chunk::<HEADER_LEN>() else {
                let reason = format!("the file ends inside a fragment header ({} of {HEADER_LEN} bytes)", here.len());
                self.pos = self.block.len();
                return Ok(Frag::Bad { offset, end: block_end, reason, harmless: false });
            };
            match check_fragment(header, here, leftover) {
                Ok((kind, len)) => {
                    let start = self.pos + HEADER_LEN;
                    let payload = self.block.slice(start..start + len);
                    self.pos = start + len;
                    let end = offset + (HEADER_LEN + len) as u64;
                    return Ok(Frag::Fragment { kind, offset, end, payload });
                }
                Err(reason) => {
                    // The length cannot be trusted: resynchronise at the next block.
                    self.pos = self.block.len();
                    return Ok(Frag::Bad { offset, end: block_end, reason, harmless: false });
                }
            }
        }
    }

    /// The offset of the first valid fragment (header in bounds, known type, length within its
    /// block and the file, checksum matching) starting at or after `from`, at any byte position.
    pub(crate) fn scan_for_fragment(&self, from: u64) -> Result<Option<u64>> {
        let bs = BLOCK_SIZE as u64;
        let mut block_start = from - from % bs;
        // The remainder is < BLOCK_SIZE.
        let mut first_pos = (from % bs) as usize;
        while block_start < self.file_len {
            let block = if self.loaded && block_start == self.block_start {
                self.block.clone()
            } else {
                self.read_block(block_start)?
            };
            for pos in first_pos..block.len() {
                let leftover = BLOCK_SIZE - pos;
                if leftover < HEADER_LEN {
                    break;
                }
                // Fast rejection: most positions do not even hold a known type byte.
                if block.get(pos + TYPE_OFFSET).is_none_or(|&t| FragmentType::from_byte(t).is_none()) {
                    continue;
                }
                let here = block.get(pos..).unwrap_or_default();
                if let Some(header) = here.first_chunk::<HEADER_LEN>()
                    && check_fragment(header, here, leftover).is_ok()
                {
                    return Ok(Some(block_start + pos as u64));
                }
            }
            block_start += bs;
            first_pos = 0;
        }
        Ok(None)
    }
}

/// Validates the fragment whose header starts `here` (`here` runs to the end of the bytes read
/// of the block; `leftover` is what the block has left by its size). Returns the type and the
/// payload length, or why it is not a fragment.
fn check_fragment(
    header: &[u8; HEADER_LEN],
    here: &[u8],
    leftover: usize,
) -> std::result::Result<(FragmentType, usize), String> {
    let raw = RawHeader::decode(header);
    if raw.is_zero() {
        return Err("all-zero fragment header (a zero-filled, unwritten or preallocated region)".to_owned());
    }
    let Some(kind) = FragmentType::from_byte(raw.kind) else {
        return Err(format!("unknown fragment type {}", raw.kind));
    };
    let len = usize::from(raw.len);
    if HEADER_LEN + len > leftover {
        return Err(format!(
            "fragment length {len} runs past the end of its block ({} payload bytes fit)",
            leftover - HEADER_LEN
        ));
    }
    let Some(payload) = here.get(HEADER_LEN..HEADER_LEN + len) else {
        return Err(format!(
            "the file ends inside a fragment ({len}-byte payload, {} bytes present)",
            here.len() - HEADER_LEN
        ));
    };
    let actual = fragment_checksum(raw.kind, payload);
    if actual != raw.checksum {
        return Err(format!("checksum mismatch (stored {:#010x}, computed {actual:#010x})", raw.checksum));
    }
    Ok((kind, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode_header;

    fn frag(kind: FragmentType, payload: &[u8]) -> Vec<u8> {
        let mut v = encode_header(kind, payload).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn check_fragment_accepts_what_the_encoder_writes() {
        let bytes = frag(FragmentType::Full, b"payload");
        let header = bytes.first_chunk::<HEADER_LEN>().unwrap();
        assert_eq!(check_fragment(header, &bytes, BLOCK_SIZE), Ok((FragmentType::Full, 7)));
    }

    #[test]
    fn check_fragment_rejects_each_kind_of_damage() {
        let good = frag(FragmentType::Full, b"payload");
        let h = |b: &[u8]| *b.first_chunk::<HEADER_LEN>().unwrap();
        assert!(check_fragment(&[0; HEADER_LEN], &[0; 64], BLOCK_SIZE).unwrap_err().contains("all-zero"));
        let mut bad_type = good.clone();
        bad_type[6] = 9;
        assert!(check_fragment(&h(&bad_type), &bad_type, BLOCK_SIZE).unwrap_err().contains("unknown fragment type 9"));
        assert!(check_fragment(&h(&good), &good, HEADER_LEN + 6).unwrap_err().contains("past the end of its block"));
        assert!(check_fragment(&h(&good), &good[..10], BLOCK_SIZE).unwrap_err().contains("file ends inside"));
        let mut flipped = good.clone();
        flipped[9] ^= 1;
        assert!(check_fragment(&h(&flipped), &flipped, BLOCK_SIZE).unwrap_err().contains("checksum mismatch"));
    }
}
