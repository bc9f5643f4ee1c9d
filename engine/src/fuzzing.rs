//! The body of the `write_batch` fuzz target, shared with its proptest twin
//! (`tests/tests/fuzz_twins.rs`) so both run the same code.
//!
//! [`batch_decode`] reads the input as a recipe for a write batch (base sequence number, puts
//! and deletes in the default and other column families), checks that its encoding decodes
//! with [`WriteBatch::from_record`] to the same batch and ops, then mutates the encoding (bytes,
//! lengths, count, sequence, truncation, extension) and decodes it again. A batch carries no
//! checksum of its own (the WAL record around it does), so the decoder sees every mutation.
//! Whatever decodes must iterate exactly `count` ops and re-encode to the same bytes.
//!
//! Invariants: a panic raised here is a bug in the batch encoding or decoding.
//!
//! Thread safety: no shared state.

use crate::batch::{BatchOp, HEADER_LEN, WriteBatch};
use std::path::Path;
use strata_base::CfId;
use strata_base::fuzz_input::FuzzInput;
use strata_base::ikey::{SEQ_MAX, ValueKind};

/// Ops a recipe may ask for.
const OPS_MAX: usize = 64;
/// Mutations applied to one encoding.
const MUTATIONS_MAX: usize = 6;

fn decode(bytes: &[u8]) -> crate::Result<WriteBatch> {
    WriteBatch::from_record(bytes, Path::new("fuzz.log"), 0)
}

/// A batch that decoded: it yields exactly `count` ops, and appending those ops to a new batch
/// with the same sequence gives an encoding that decodes to the same ops and is no longer. (Not
/// the same bytes: the decoder accepts over-long varints and a column-family tag naming
/// family 0, which mean the same ops; the writer never produces them.)
fn check_decoded(b: &WriteBatch, bytes: &[u8]) {
    let ops: Vec<BatchOp<'_>> = b.iter().collect();
    assert_eq!(ops.len(), b.count() as usize, "decoded batch iterates a different number of ops");
    let mut again = WriteBatch::new();
    for op in &ops {
        again.append(op.kind, op.cf, op.key, op.value);
    }
    again.set_sequence(b.sequence());
    assert!(again.validate().is_ok(), "re-encoding a decoded batch broke a limit");
    assert!(again.data().len() <= bytes.len(), "a decoded batch re-encodes longer");
    let redecoded = match decode(again.data()) {
        Ok(r) => r,
        Err(e) => panic!("a re-encoded batch does not decode: {e}"),
    };
    assert_eq!(redecoded, again, "a re-encoded batch decodes differently");
    assert!(redecoded.iter().eq(ops.iter().copied()), "a re-encoded batch holds other ops");
    assert_eq!(redecoded.sequence(), b.sequence());
}

/// The fuzz target's body. A first byte of 0xff decodes the remaining bytes as they are.
pub fn batch_decode(data: &[u8]) {
    if let Some((&0xff, rest)) = data.split_first() {
        if let Ok(b) = decode(rest) {
            check_decoded(&b, rest);
        }
        return;
    }
    let mut input = FuzzInput::new(data);
    let mut batch = WriteBatch::new();
    let mut want = Vec::new();
    for _ in 0..input.below(OPS_MAX) {
        let kind = if input.u8().is_multiple_of(3) { ValueKind::Delete } else { ValueKind::Put };
        let cf = CfId::new(if input.bool() { 0 } else { u32::from(input.u16()) << (input.u8() % 17) });
        let key = input.bytes(16).to_vec();
        let value = if kind == ValueKind::Put { input.bytes(32).to_vec() } else { Vec::new() };
        batch.append(kind, cf, &key, &value);
        want.push((kind, cf, key, value));
    }
    let seq = input.u64() % (SEQ_MAX - OPS_MAX as u64);
    batch.set_sequence(seq);
    assert!(batch.validate().is_ok(), "a small batch broke a limit");
    let bytes = batch.data().to_vec();
    let decoded = match decode(&bytes) {
        Ok(b) => b,
        Err(e) => panic!("a batch as encoded does not decode: {e}"),
    };
    assert_eq!(decoded, batch, "decoded batch differs");
    assert_eq!(decoded.sequence(), seq);
    let got: Vec<_> = decoded.iter().map(|o| (o.kind, o.cf, o.key.to_vec(), o.value.to_vec())).collect();
    assert_eq!(got, want, "decoded ops differ from the recipe");
    if input.is_empty() {
        return;
    }
    let mut m = bytes.clone();
    for _ in 0..1 + input.below(MUTATIONS_MAX) {
        let v = input.u8();
        let at = input.below(m.len() + 1);
        match input.u8() % 7 {
            0 if at < m.len() => m[at] = v,
            1 if at < m.len() => m[at] ^= 1 << (v % 8),
            2 => m.insert(at, v),
            3 => m.truncate(at),
            4 => {
                // The count field: off by a little.
                let c = u32::from_le_bytes([m[8], m[9], m[10], m[11]]).wrapping_add(u32::from(v % 5)).wrapping_sub(2);
                m[8..HEADER_LEN].copy_from_slice(&c.to_le_bytes());
            }
            5 => m[..8].copy_from_slice(&(SEQ_MAX - u64::from(v)).to_le_bytes()),
            _ => m.extend(std::iter::repeat_n(v, 1 + usize::from(v % 8))),
        }
        if m.len() < HEADER_LEN {
            m.resize(HEADER_LEN, 0);
        }
    }
    if let Ok(b) = decode(&m) {
        check_decoded(&b, &m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_and_raw_bytes() {
        batch_decode(&[]);
        batch_decode(&[0xff]);
        batch_decode(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, b'a', 1, b'b']);
        for seed in 0u8..50 {
            let data: Vec<u8> = (0..400u32).map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed)).collect();
            batch_decode(&data);
        }
    }
}
