//! A cursor that reads a fuzz input as a recipe: small integers, booleans and byte strings,
//! used by the structure-aware fuzz harnesses (`strata_sst::fuzzing`, `strata_wal::testing`,
//! `strata_manifest::fuzzing`, `strata::fuzzing`, `strata_checkpoint::savepoint::fuzzing`) and
//! their proptest twins. Reading past the end yields zeros, so every input is a valid recipe
//! and libFuzzer's byte mutations map to small changes of the recipe.
//!
//! Invariants: never panics; every value is bounded by the caller's limit.
//!
//! Thread safety: plain data borrowed from the input.

/// Reads a fuzz input front to back.
#[derive(Debug, Clone)]
pub struct FuzzInput<'a> {
    data: &'a [u8],
}

impl<'a> FuzzInput<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// True once every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }

    /// The next byte, or 0 past the end.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number in `0..n` (0 when `n` is 0), from two bytes.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::from(self.u16()) % n
    }

    /// A byte string of at most `max` bytes (its length is read first).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max + 1).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_then_zeros() {
        let mut i = FuzzInput::new(&[1, 2, 3, 4, 5]);
        assert_eq!(i.u8(), 1);
        assert_eq!(i.u16(), 0x0302);
        assert_eq!(i.below(10), 4); // bytes 4, 5: 0x0504 = 1284, and 1284 % 10 = 4
        assert!(i.is_empty());
        assert_eq!((i.u8(), i.u64(), i.bool(), i.below(7)), (0, 0, false, 0));
        assert_eq!(i.bytes(9), b"");
    }

    #[test]
    fn bytes_are_bounded() {
        let data = [200u8, 0, 9, 9, 9];
        let mut i = FuzzInput::new(&data);
        assert_eq!(i.bytes(2), &[9, 9][..]);
        assert_eq!(i.remaining(), &[9][..]);
        assert_eq!(FuzzInput::new(&[0, 0]).below(0), 0);
    }
}
