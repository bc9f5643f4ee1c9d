//! A bounds-checked cursor over a savepoint payload for the decoders in `format.rs`: every
//! read checks the bytes are there, every length and count is checked against a limit, and
//! every error carries the offset in the file where it was found.
//!
//! Invariants: never reads past its slice; never allocates from an unchecked length.
//!
//! Thread safety: a plain value over a borrowed slice.

use super::format::{FormatResult, NAME_LEN_MAX, corrupt};

/// A bounds-checked cursor whose errors carry the file offset.
pub(super) struct Dec<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
    pub(super) base: u64,
}

impl Dec<'_> {
    pub(super) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(super) fn take(&mut self, n: usize, what: &str) -> FormatResult<&[u8]> {
        match self.pos.checked_add(n).and_then(|end| self.b.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => corrupt(self.offset(), format!("truncated {what}")),
        }
    }

    pub(super) fn fixed32(&mut self) -> FormatResult<u32> {
        let s = self.take(4, "fixed32")?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub(super) fn fixed64(&mut self) -> FormatResult<u64> {
        let s = self.take(8, "fixed64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub(super) fn varint64(&mut self) -> FormatResult<u64> {
        let at = self.offset();
        let mut src = &self.b[self.pos..];
        let before = src.len();
        match strata_base::coding::get_varint64(&mut src) {
            Some(v) => {
                self.pos += before - src.len();
                Ok(v)
            }
            None => corrupt(at, "bad varint64"),
        }
    }

    pub(super) fn varint32(&mut self) -> FormatResult<u32> {
        let at = self.offset();
        u32::try_from(self.varint64()?).or_else(|_| corrupt(at, "varint32 out of range"))
    }

    pub(super) fn count(&mut self, max: usize, what: &str) -> FormatResult<usize> {
        let at = self.offset();
        let n = self.varint32()? as usize;
        if n > max {
            return corrupt(at, format!("{n} {what} entries exceed the limit {max}"));
        }
        Ok(n)
    }

    pub(super) fn span(&mut self, max: usize) -> FormatResult<std::ops::Range<usize>> {
        let at = self.offset();
        let n = self.varint32()? as usize;
        if n > max {
            return corrupt(at, format!("length {n} exceeds the limit {max}"));
        }
        let start = self.pos;
        self.take(n, "bytes")?;
        Ok(start..start + n)
    }

    pub(super) fn bytes(&mut self, max: usize) -> FormatResult<&[u8]> {
        let r = self.span(max)?;
        Ok(&self.b[r])
    }

    pub(super) fn string(&mut self) -> FormatResult<String> {
        let at = self.offset();
        let b = self.bytes(NAME_LEN_MAX)?;
        String::from_utf8(b.to_vec()).or_else(|_| corrupt(at, "name is not UTF-8"))
    }
}
