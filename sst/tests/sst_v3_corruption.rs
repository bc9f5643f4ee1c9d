//! Format version 3 specifics: the index's implied offsets and the kind bit. A changed byte in
//! a data block or the index is `Corruption` naming the file and an offset inside the damaged
//! block; and when the block's checksums are recomputed so that only the decoders can object,
//! an index whose sizes no longer tile the data region, or a data entry that breaks the block's
//! rules, is still `Corruption` at that block's offset, never a panic or a read of the wrong
//! bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use bytes::Bytes;
use common::*;
use strata_base::checksum;
use strata_sst::format::{BlockHandle, FOOTER_LEN, FORMAT_VERSION, Footer};
use strata_sst::{Error, TableOptions, TableReadOptions};

fn table() -> Vec<u8> {
    let opts = TableOptions { block_size: 256, ..TableOptions::default() };
    build(&sample_model(200, 10), opts).0.to_vec()
}

fn footer(t: &[u8]) -> Footer {
    Footer::decode_from(t[t.len() - FOOTER_LEN..].try_into().unwrap()).unwrap()
}

/// `t` with the stored bytes of the raw block at `h` edited in place by `edit` (same length),
/// the block's CRC, the file CRC and the footer recomputed.
fn resealed(t: &[u8], h: BlockHandle, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut out = t.to_vec();
    let (at, end) = (h.offset as usize, (h.offset + h.size) as usize);
    assert_eq!(out[end], 0, "a raw block");
    edit(&mut out[at..end]);
    let crc = checksum::mask(checksum::crc32(&out[at..=end]));
    out[end + 1..end + 5].copy_from_slice(&crc.to_le_bytes());
    let body = out.len() - FOOTER_LEN;
    let f = Footer { file_crc: crc32fast::hash(&out[..body]), ..footer(t) };
    out[body..].copy_from_slice(&f.encode());
    out
}

/// The table's first error, from opening it or from reading everything in it.
fn first_error(t: Vec<u8>) -> Error {
    let table = match open(Bytes::from(t), TableReadOptions::default()) {
        Ok(table) => table,
        Err(e) => return e,
    };
    scan_forward(&table).expect_err("a damaged table reads with an error")
}

fn assert_corruption_at(e: Error, offset_want: u64, reason_has: &str) {
    match e {
        Error::Corruption { file, offset, reason } => {
            assert!(file.ends_with("000001.sst"), "names {file:?}");
            assert_eq!(offset, offset_want, "offset ({reason})");
            assert!(reason.contains(reason_has), "reason {reason:?}");
        }
        other => panic!("expected Corruption, got {other:?}"),
    }
}

/// The index's entries as (entry offset, value offset, value length) in its contents: every
/// entry is a restart point with a one-byte header (the separators here are short).
fn index_values(index: &[u8]) -> Vec<(usize, usize, usize)> {
    let n = u32::from_le_bytes(index[index.len() - 4..].try_into().unwrap()) as usize;
    let restarts_at = index.len() - 4 - 4 * n;
    let mut out = Vec::new();
    let mut at = 0;
    while at < restarts_at {
        let (shared, key_kind, value_len) = (index[at], index[at + 1], index[at + 2] as usize);
        assert!(shared == 0 && key_kind < 0x80 && value_len < 0x80);
        let value_at = at + 3 + (key_kind >> 1) as usize;
        out.push((at, value_at, value_len));
        at = value_at + value_len;
    }
    out
}

#[test]
fn the_table_is_version_3_and_reseals_cleanly() {
    let t = table();
    assert_eq!(footer(&t).format_version, FORMAT_VERSION);
    assert_eq!(FORMAT_VERSION, 3);
    let same = resealed(&t, footer(&t).index, |_| {});
    assert_eq!(same, t);
    let table = open(Bytes::from(t), TableReadOptions::default()).unwrap();
    assert!(table.properties().num_data_blocks > 10);
}

#[test]
fn every_changed_byte_of_the_index_or_a_data_block_is_corruption_in_that_block() {
    let t = table();
    let f = footer(&t);
    let table = open(Bytes::from(t.clone()), TableReadOptions::default()).unwrap();
    let first_data = table.index_entries().unwrap()[0].1;
    for h in [f.index, first_data] {
        for i in h.offset..h.end().unwrap() {
            let mut b = t.clone();
            b[i as usize] ^= 0x40;
            match first_error(b) {
                Error::Corruption { file, offset, .. } => {
                    assert!(file.ends_with("000001.sst"));
                    assert!((h.offset..h.end().unwrap()).contains(&offset), "byte {i}: offset {offset}, block {h:?}");
                }
                other => panic!("byte {i}: expected Corruption, got {other:?}"),
            }
        }
    }
}

#[test]
fn index_sizes_that_do_not_tile_the_data_region_are_corruption() {
    let t = table();
    let index = footer(&t).index;
    let contents = &t[index.offset as usize..(index.offset + index.size) as usize];
    let values = index_values(contents);
    // A size one byte larger moves every later block: the last one ends past the data region.
    // (The low seven bits of a size are in its first varint byte.)
    let (_, v0, _) = values[0];
    let grown = resealed(&t, index, |c| {
        assert!(c[v0] & 0x7f < 0x7f, "room to grow");
        c[v0] += 1;
    });
    assert_corruption_at(first_error(grown), index.offset, "outside the data blocks");
    // The last size one byte smaller: the blocks stop short of the filter block.
    let &(_, vl, _) = values.last().unwrap();
    let shrunk = resealed(&t, index, |c| {
        assert!(c[vl] & 0x7f > 0, "room to shrink");
        c[vl] -= 1;
    });
    assert_corruption_at(first_error(shrunk), index.offset, "does not reach the end of the data blocks");
    // A value length that disagrees with where the next entry starts.
    let (e1, _, len1) = values[1];
    let two = resealed(&t, index, |c| c[e1 + 2] = len1 as u8 + 1);
    assert_corruption_at(first_error(two), index.offset, "not all restart points");
}

#[test]
fn a_data_entry_that_breaks_the_block_rules_is_corruption_at_its_block() {
    let t = table();
    let table = open(Bytes::from(t.clone()), TableReadOptions::default()).unwrap();
    let h = table.index_entries().unwrap()[0].1;
    // The first entry is a restart point: it cannot share a prefix.
    let shared = resealed(&t, h, |c| c[0] = 1);
    assert_corruption_at(first_error(shared), h.offset, "bad shared key prefix");
}
