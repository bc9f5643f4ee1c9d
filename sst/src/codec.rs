//! Turning block contents into stored bytes plus trailer, and back.
//!
//! A stored block is its bytes (raw contents, or a length-prefixed zstd frame) followed by a
//! trailer of type byte and checksum; `docs/format/sst.md` ("Blocks on disk") has the bytes.
//! Compression is kept only when it saves at least 1/8.
//!
//! Invariants: [`unpack`] accepts any bytes; it checks the checksum (when asked) before looking
//! at anything else, bounds the decompressed size by `BLOCK_LEN_MAX` before allocating, and
//! requires the frame to decompress to exactly the declared length.
//!
//! Thread safety: a [`Packer`] has one owner; [`unpack`] keeps one zstd decompression context
//! per thread.

use crate::error::{BlockCorrupt, block_corrupt};
use crate::format::{BLOCK_LEN_MAX, BLOCK_TRAILER_LEN, BlockType, compression_pays};
use crate::options::Compression;
use bytes::Bytes;
use std::cell::RefCell;
use std::io;
use strata_base::checksum::{crc32_parts, mask, unmask};
use strata_base::coding::{get_fixed32, get_varint32, put_varint32};

/// The masked CRC stored in a block trailer, over the stored bytes and the type byte.
#[inline]
pub fn block_crc(stored: &[u8], ty: u8) -> u32 {
    mask(crc32_parts(&[stored, &[ty]]))
}

/// The trailer of a block stored as `head` followed by `body`: the type byte, then the masked
/// CRC over both and the type byte, little-endian.
pub fn block_trailer(head: &[u8], body: &[u8], ty: u8) -> [u8; BLOCK_TRAILER_LEN] {
    let mut t = [0u8; BLOCK_TRAILER_LEN];
    t[0] = ty;
    t[1..].copy_from_slice(&mask(crc32_parts(&[head, body, &[ty]])).to_le_bytes());
    t
}

/// Compresses blocks for one table.
pub struct Packer {
    zstd: Option<zstd::bulk::Compressor<'static>>,
    header: Vec<u8>,
    frame: Vec<u8>,
}

impl std::fmt::Debug for Packer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packer").field("zstd", &self.zstd.is_some()).finish()
    }
}

impl Packer {
    pub fn new(compression: Compression) -> io::Result<Self> {
        let zstd = match compression {
            Compression::None => None,
            Compression::Zstd { level } => Some(zstd::bulk::Compressor::new(level)?),
        };
        Ok(Self { zstd, header: Vec::with_capacity(5), frame: Vec::new() })
    }

    /// The type and stored bytes (`header ++ body`) for block contents `raw`.
    pub fn pack<'a>(
        &'a mut self,
        raw: &'a [u8],
        allow_compression: bool,
    ) -> io::Result<(BlockType, &'a [u8], &'a [u8])> {
        self.header.clear();
        if let (Some(z), true) = (self.zstd.as_mut(), allow_compression) {
            self.frame.clear();
            self.frame.reserve(zstd::zstd_safe::compress_bound(raw.len()));
            z.compress_to_buffer(raw, &mut self.frame)?;
            // raw.len() <= BLOCK_LEN_MAX <= u32::MAX (format.rs asserts).
            put_varint32(&mut self.header, raw.len() as u32);
            if compression_pays(raw.len(), self.header.len() + self.frame.len()) {
                return Ok((BlockType::Zstd, &self.header, &self.frame));
            }
            self.header.clear();
        }
        Ok((BlockType::Raw, &[], raw))
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_decompress(frame: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        let d = slot.as_mut()?;
        let n = d.decompress_to_buffer(frame, &mut out).ok()?;
        (n == len && out.len() == len).then_some(())
    })?;
    Some(out)
}

/// Checks and decodes one stored block (`buf` = stored bytes ++ trailer). Errors carry the
/// offset inside `buf`.
pub fn unpack(buf: Bytes, verify: bool) -> Result<Bytes, BlockCorrupt> {
    let Some(size) = buf.len().checked_sub(BLOCK_TRAILER_LEN) else {
        return Err(block_corrupt(0, "block shorter than its trailer"));
    };
    let Some((stored, mut trailer)) = buf.split_at_checked(size) else {
        return Err(block_corrupt(0, "block shorter than its trailer"));
    };
    let Some((&ty, rest)) = trailer.split_first() else {
        return Err(block_corrupt(size, "missing block type"));
    };
    trailer = rest;
    if verify {
        let stored_crc = get_fixed32(&mut trailer).map(unmask);
        if stored_crc.map(mask) != Some(block_crc(stored, ty)) {
            return Err(block_corrupt(size, "block checksum mismatch"));
        }
    }
    match BlockType::from_u8(ty) {
        Some(BlockType::Raw) => Ok(buf.slice(..size)),
        Some(BlockType::Zstd) => {
            let mut src = stored;
            let len = get_varint32(&mut src).ok_or_else(|| block_corrupt(0, "bad decompressed length"))? as usize;
            if len > BLOCK_LEN_MAX {
                return Err(block_corrupt(0, "decompressed length too large"));
            }
            let out = zstd_decompress(src, len).ok_or_else(|| block_corrupt(0, "zstd frame does not decode"))?;
            Ok(Bytes::from(out))
        }
        None => Err(block_corrupt(size, "unknown block type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(p: &mut Packer, raw: &[u8]) -> Bytes {
        let (ty, head, body) = p.pack(raw, true).unwrap();
        let mut v = [head, body].concat();
        v.extend_from_slice(&block_trailer(head, body, ty as u8));
        Bytes::from(v)
    }

    #[test]
    fn compressible_blocks_use_zstd_and_round_trip() {
        let mut p = Packer::new(Compression::Zstd { level: 3 }).unwrap();
        let raw = b"abcdefgh".repeat(100);
        let s = stored(&mut p, &raw);
        assert_eq!(s[s.len() - BLOCK_TRAILER_LEN], BlockType::Zstd as u8);
        assert_eq!(unpack(s, true).unwrap(), Bytes::from(raw));
    }

    #[test]
    fn incompressible_blocks_stay_raw() {
        let mut p = Packer::new(Compression::Zstd { level: 3 }).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let raw: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let s = stored(&mut p, &raw);
        assert_eq!(s[s.len() - BLOCK_TRAILER_LEN], BlockType::Raw as u8);
        assert_eq!(unpack(s, true).unwrap(), Bytes::from(raw));
    }

    #[test]
    fn checksum_and_type_are_checked() {
        let mut p = Packer::new(Compression::None).unwrap();
        let s = stored(&mut p, b"hello");
        for i in 0..s.len() {
            let mut b = s.to_vec();
            b[i] ^= 0x20;
            assert!(unpack(Bytes::from(b), true).is_err(), "flip at {i} accepted");
        }
        assert!(unpack(Bytes::from_static(b"abcd"), false).is_err());
    }

    #[test]
    fn lying_zstd_length_is_rejected_without_checksum() {
        let mut p = Packer::new(Compression::Zstd { level: 1 }).unwrap();
        let raw = b"z".repeat(500);
        let s = stored(&mut p, &raw).to_vec();
        // Claim 501 bytes instead of 500 (varint 0xf4 0x03 -> 0xf5 0x03).
        let mut b = s.clone();
        b[0] += 1;
        assert!(unpack(Bytes::from(b), false).is_err());
        // Claim more than BLOCK_LEN_MAX.
        let mut huge = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        huge.extend_from_slice(&s[2..]);
        assert!(unpack(Bytes::from(huge), false).is_err());
    }
}
