//! Database identity: a random 128-bit id recorded in the manifest, so that tables of two
//! databases with diverging histories (a database and its checkpoint, restore or import) are
//! never mistaken for one another, e.g. in a snapshot repository that names tables by database
//! identity and file number.
//!
//! Invariants: an id is 16 bytes and printed as 32 lowercase hex digits; the all-zero id is never
//! generated and is refused when parsed from text (it would mark a database whose id was lost).
//!
//! Thread safety: plain data; [`DbId::generate`] may be called from any thread.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of a database identity.
pub const DB_ID_LEN: usize = 16;

/// A database identity. See the module docs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbId([u8; DB_ID_LEN]);

impl DbId {
    /// A new random identity. Uses the standard library's randomly keyed SipHash (seeded from
    /// the operating system) over the time, the process id and a counter: no two calls in this
    /// or another process return the same id in practice.
    pub fn generate() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut out = [0u8; DB_ID_LEN];
        for (half, chunk) in out.chunks_exact_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_u64(count);
            h.write_usize(half);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        if out == [0; DB_ID_LEN] {
            out[0] = 1;
        }
        Self(out)
    }

    pub const fn from_bytes(bytes: [u8; DB_ID_LEN]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; DB_ID_LEN] {
        &self.0
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(2 * DB_ID_LEN);
        for &b in &self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        out
    }

    /// Parses 32 hex digits; `None` for anything else, including the all-zero id.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 2 * DB_ID_LEN || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; DB_ID_LEN];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        (out != [0; DB_ID_LEN]).then_some(Self(out))
    }
}

impl fmt::Display for DbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_differ_and_round_trip_through_hex() {
        let a = DbId::generate();
        let b = DbId::generate();
        assert_ne!(a, b);
        assert_eq!(DbId::from_hex(&a.to_hex()), Some(a));
        assert_eq!(a.to_hex().len(), 32);
    }

    #[test]
    fn bad_hex_is_refused() {
        assert_eq!(DbId::from_hex(""), None);
        assert_eq!(DbId::from_hex(&"0".repeat(32)), None);
        assert_eq!(DbId::from_hex(&"g".repeat(32)), None);
        assert_eq!(DbId::from_hex(&"a".repeat(31)), None);
        assert_eq!(DbId::from_hex("ééééééééééééééé"), None);
        assert!(DbId::from_hex(&"ab".repeat(16)).is_some());
    }
}
