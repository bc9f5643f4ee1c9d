//! Little-endian fixed-width and LEB128 varint coding.
//!
//! Encoders append to a `Vec<u8>`. Decoders take a cursor (`&mut &[u8]`), advance it past what
//! they read and return `None` when the input is short or malformed; they never panic. The
//! caller turns `None` into a corruption error that names the file and offset.

/// Longest encoding of a `u64` varint.
pub const VARINT64_LEN_MAX: usize = 10;
/// Longest encoding of a `u32` varint.
pub const VARINT32_LEN_MAX: usize = 5;

#[inline]
pub fn put_fixed32(dst: &mut Vec<u8>, v: u32) {
    dst.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_fixed64(dst: &mut Vec<u8>, v: u64) {
    dst.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_varint64(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

#[inline]
pub fn put_varint32(dst: &mut Vec<u8>, v: u32) {
    put_varint64(dst, u64::from(v));
}

/// Number of bytes [`put_varint64`] writes for `v`.
#[inline]
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends a varint length followed by the bytes.
#[inline]
pub fn put_length_prefixed(dst: &mut Vec<u8>, data: &[u8]) {
    put_varint64(dst, data.len() as u64);
    dst.extend_from_slice(data);
}

#[inline]
pub fn get_fixed32(src: &mut &[u8]) -> Option<u32> {
    let (head, rest) = src.split_first_chunk::<4>()?;
    *src = rest;
    Some(u32::from_le_bytes(*head))
}

#[inline]
pub fn get_fixed64(src: &mut &[u8]) -> Option<u64> {
    let (head, rest) = src.split_first_chunk::<8>()?;
    *src = rest;
    Some(u64::from_le_bytes(*head))
}

#[inline]
pub fn get_u8(src: &mut &[u8]) -> Option<u8> {
    let (&b, rest) = src.split_first()?;
    *src = rest;
    Some(b)
}

/// Decodes a `u64` varint. Rejects encodings longer than ten bytes and ten-byte encodings
/// whose value overflows 64 bits.
#[inline]
pub fn get_varint64(src: &mut &[u8]) -> Option<u64> {
    let mut result: u64 = 0;
    for (i, &byte) in src.iter().enumerate().take(VARINT64_LEN_MAX) {
        let low = u64::from(byte & 0x7f);
        if i == VARINT64_LEN_MAX - 1 && byte > 1 {
            return None;
        }
        result |= low << (7 * i);
        if byte & 0x80 == 0 {
            *src = &src[i + 1..];
            return Some(result);
        }
    }
    None
}

/// Decodes a `u32` varint; values above `u32::MAX` are malformed.
#[inline]
pub fn get_varint32(src: &mut &[u8]) -> Option<u32> {
    let mut probe = *src;
    let v = get_varint64(&mut probe)?;
    let v = u32::try_from(v).ok()?;
    *src = probe;
    Some(v)
}

/// Decodes a varint length and returns that many bytes. The length is checked against the
/// input before anything is sliced, so a corrupt length can never cause a large allocation.
#[inline]
pub fn get_length_prefixed<'a>(src: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut probe: &'a [u8] = src;
    let len = usize::try_from(get_varint64(&mut probe)?).ok()?;
    if len > probe.len() {
        return None;
    }
    let (data, rest) = probe.split_at(len);
    *src = rest;
    Some(data)
}

/// Takes exactly `n` bytes.
#[inline]
pub fn get_bytes<'a>(src: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if n > src.len() {
        return None;
    }
    let (data, rest) = src.split_at(n);
    *src = rest;
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_edges() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint64(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v));
            let mut s = buf.as_slice();
            assert_eq!(get_varint64(&mut s), Some(v));
            assert!(s.is_empty());
        }
    }

    #[test]
    fn varint_rejects_overlong_and_overflow() {
        // Eleven continuation bytes: too long.
        let mut s: &[u8] = &[0x80; 11];
        assert_eq!(get_varint64(&mut s), None);
        // Ten bytes whose last byte sets bits above 64.
        let mut buf = vec![0xff; 9];
        buf.push(0x02);
        let mut s = buf.as_slice();
        assert_eq!(get_varint64(&mut s), None);
        // u32 overflow.
        let mut buf = Vec::new();
        put_varint64(&mut buf, u64::from(u32::MAX) + 1);
        let mut s = buf.as_slice();
        assert_eq!(get_varint32(&mut s), None);
        assert_eq!(s.len(), buf.len(), "a failed decode does not advance");
    }

    #[test]
    fn length_prefixed_checks_length() {
        let mut buf = Vec::new();
        put_varint64(&mut buf, 1 << 40);
        buf.extend_from_slice(b"abc");
        let mut s = buf.as_slice();
        assert_eq!(get_length_prefixed(&mut s), None);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut s = data.as_slice();
            let _ = get_varint64(&mut s);
            let mut s = data.as_slice();
            let _ = get_length_prefixed(&mut s);
            let mut s = data.as_slice();
            let _ = get_fixed64(&mut s);
        }

        #[test]
        fn round_trip(a in any::<u64>(), b in any::<u32>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = Vec::new();
            put_varint64(&mut buf, a);
            put_fixed32(&mut buf, b);
            put_length_prefixed(&mut buf, &bytes);
            let mut s = buf.as_slice();
            prop_assert_eq!(get_varint64(&mut s), Some(a));
            prop_assert_eq!(get_fixed32(&mut s), Some(b));
            prop_assert_eq!(get_length_prefixed(&mut s), Some(bytes.as_slice()));
            prop_assert!(s.is_empty());
        }
    }
}
