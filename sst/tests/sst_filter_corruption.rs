//! A version 2 filter block whose checksums are right but whose layout is not (contents not
//! `64 n + 1` bytes, a probe count of 0 or above the maximum) is `Corruption` naming the file
//! and the filter block's offset, never a panic and never a table that opens. The filter block
//! is spliced into a real table with every later offset and checksum recomputed, so only the
//! filter decoder can object.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is the test failing")]

mod common;

use bytes::Bytes;
use common::*;
use strata_base::checksum;
use strata_sst::format::{BLOOM_PROBES_MAX, BlockHandle, FOOTER_LEN, Footer};
use strata_sst::{Error, TableOptions, TableReadOptions};

fn table() -> Vec<u8> {
    build(&sample_model(200, 10), TableOptions::default()).0.to_vec()
}

fn footer(t: &[u8]) -> Footer {
    Footer::decode_from(t[t.len() - FOOTER_LEN..].try_into().unwrap()).unwrap()
}

/// The raw filter contents of a table.
fn filter_contents(t: &[u8]) -> Vec<u8> {
    let h = footer(t).filter;
    t[h.offset as usize..(h.offset + h.size) as usize].to_vec()
}

/// One stored raw block: contents, type 0, masked CRC of both.
fn raw_block(contents: &[u8]) -> Vec<u8> {
    let mut b = contents.to_vec();
    b.push(0);
    let crc = checksum::mask(checksum::crc32(&b));
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// `t` with its filter contents replaced by `filter`: the index and properties blocks move,
/// their handles in the footer follow, and the file and footer checksums are recomputed.
fn with_filter(t: &[u8], filter: &[u8]) -> Vec<u8> {
    let f = footer(t);
    // Layout: data blocks, filter, index, properties, footer.
    assert!(f.filter.offset < f.index.offset && f.index.offset < f.properties.offset);
    let stored = |h: BlockHandle| &t[h.offset as usize..h.end().unwrap() as usize];
    let mut out = t[..f.filter.offset as usize].to_vec();
    out.extend(raw_block(filter));
    let moved = |out: &Vec<u8>, h: BlockHandle| BlockHandle { offset: out.len() as u64, size: h.size };
    let index = moved(&out, f.index);
    out.extend_from_slice(stored(f.index));
    let properties = moved(&out, f.properties);
    out.extend_from_slice(stored(f.properties));
    let filter = BlockHandle { offset: f.filter.offset, size: filter.len() as u64 };
    let file_crc = crc32fast::hash(&out);
    out.extend_from_slice(&Footer { index, filter, properties, file_crc, format_version: f.format_version }.encode());
    out
}

fn assert_filter_corruption(t: Vec<u8>, filter_at: u64, what: &str, reason_has: &str) {
    match open(Bytes::from(t), TableReadOptions::default()) {
        Err(Error::Corruption { file, offset, reason }) => {
            assert!(file.ends_with("000001.sst"), "{what}: names {file:?}");
            assert_eq!(offset, filter_at, "{what}: offset");
            assert!(reason.contains(reason_has), "{what}: reason {reason:?}");
        }
        other => panic!("{what}: expected Corruption, got {other:?}"),
    }
}

#[test]
fn the_splice_itself_keeps_a_table_valid() {
    let t = table();
    let same = with_filter(&t, &filter_contents(&t));
    assert_eq!(same, t, "re-splicing the same filter gives the same bytes");
    // A different, well-formed filter (all ones: "maybe" for every key) also opens and reads.
    let mut ones = vec![0xff; filter_contents(&t).len()];
    *ones.last_mut().unwrap() = 6;
    let t2 = open(Bytes::from(with_filter(&t, &ones)), TableReadOptions::default()).unwrap();
    t2.verify_checksums().unwrap();
    assert!(t2.may_contain(b"no such key"));
}

#[test]
fn filter_lengths_that_are_not_whole_lines_are_corruption() {
    let t = table();
    let at = footer(&t).filter.offset;
    let good = filter_contents(&t);
    let probes = *good.last().unwrap();
    assert_eq!(good.len() % 64, 1, "a version 2 filter is 64 n + 1 bytes");
    for len in [1, 2, 63, 64, 66, 64 + 63, good.len() - 1, good.len() + 1] {
        let mut f = good.clone();
        f.resize(len, 0);
        *f.last_mut().unwrap() = probes;
        assert_filter_corruption(with_filter(&t, &f), at, &format!("{len} bytes"), "64-byte lines");
    }
    // Whole lines and a probe byte, of any count, are a valid shape.
    for lines in [1, 2, 7] {
        let mut f = vec![0xff; lines * 64];
        f.push(probes);
        open(Bytes::from(with_filter(&t, &f)), TableReadOptions::default()).unwrap();
    }
}

#[test]
fn bad_probe_counts_are_corruption() {
    let t = table();
    let at = footer(&t).filter.offset;
    for probes in [0, BLOOM_PROBES_MAX + 1, 0xff] {
        let mut f = filter_contents(&t);
        *f.last_mut().unwrap() = probes;
        assert_filter_corruption(with_filter(&t, &f), at, &format!("{probes} probes"), "probe count");
    }
}
