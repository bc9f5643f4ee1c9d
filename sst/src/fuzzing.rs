//! The body of the `sst_open` fuzz target, shared with its proptest twin
//! (`sst/tests/sst_fuzz_twin.rs`) so both run the same code.
//!
//! [`build_and_mutate`] reads the input as a recipe (options, comparator, sorted entries,
//! deletes, sequence numbers, user properties), builds a valid table from it, checks that it
//! reads back exactly as written, then overwrites bytes of chosen blocks (data, index, filter,
//! properties) or of the footer's handles and recomputes the block, whole-file and footer
//! checksums, so that the mutated bytes reach the block, index, filter and properties decoders
//! instead of being stopped by a checksum. [`open_and_iterate`] reads any bytes as a table.
//!
//! Invariants: never panics on a mutated table, whatever the input; a panic raised here means
//! a bug: a valid recipe that fails to build, or a table that does not read back as written.
//! Every loop and every size is bounded.
//!
//! Thread safety: no shared state.

use crate::codec::block_crc;
use crate::format::{BLOCK_TRAILER_LEN, BlockHandle, FOOTER_CRC_AT, FOOTER_FILE_CRC_AT, FOOTER_LEN, Footer};
use crate::{Compression, EntryKind, Table, TableBuilder, TableOptions, TableReadOptions};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use strata_base::checksum::{crc32, mask};
use strata_base::fuzz_input::FuzzInput;
use strata_base::ikey::{InternalKeyComparator, encode as ikey};
use strata_base::{BytewiseComparator, Comparator, FileSystem, MemFile, SimFs};

/// Steps of iteration allowed per direction, so that a huge input cannot make a run slow.
const STEPS_MAX: usize = 100_000;
/// Entries a recipe may ask for.
const ENTRIES_MAX: usize = 400;
/// Mutations applied to one table.
const MUTATIONS_MAX: usize = 8;

/// Opens `data` as a table (with data-block checksums on and off) and iterates it fully in both
/// directions, looks up and seeks every key it saw, and verifies checksums. Returns the number
/// of entries seen by the forward scan of the checksummed open, or `None` if it did not open.
pub fn open_and_iterate(data: &[u8]) -> Option<usize> {
    let bytes = Bytes::copy_from_slice(data);
    let mut seen = None;
    for verify in [true, false] {
        for internal in [false, true] {
            let ropts =
                TableReadOptions { verify_checksums: verify, comparator: comparator(internal), ..Default::default() };
            let Ok(t) = Table::open(Arc::new(MemFile::new(bytes.clone())), Path::new("fuzz.sst"), ropts) else {
                continue;
            };
            let n = read_everything(&t);
            if verify {
                seen = Some(n);
            }
        }
    }
    seen
}

fn comparator(internal: bool) -> Arc<dyn Comparator> {
    if internal {
        Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)))
    } else {
        Arc::new(BytewiseComparator)
    }
}

/// Every read a user can make, errors ignored; returns the entries of the forward scan.
fn read_everything(t: &Arc<Table>) -> usize {
    let mut it = t.iter();
    let mut keys = Vec::new();
    it.seek_to_first();
    while it.valid() && keys.len() < STEPS_MAX {
        keys.push(it.key().to_vec());
        let _ = (it.kind(), it.value().len(), it.value_bytes());
        it.next();
    }
    let _ = it.status();
    it.seek_to_last();
    let mut back = 0;
    while it.valid() && back < STEPS_MAX {
        back += 1;
        it.prev();
    }
    for k in keys.iter().take(64) {
        let _ = t.get(k);
        let _ = t.seek_entry(k);
        it.seek(k);
        it.seek_for_prev(k);
        let _ = t.may_contain(k);
    }
    let _ = t.index_entries();
    let _ = t.verify_checksums();
    let _ = t.properties();
    keys.len()
}

/// What a fuzz input asks to build.
#[derive(Debug)]
pub struct Recipe {
    pub opts: TableOptions,
    pub internal_keys: bool,
    /// Sorted under the comparator, no duplicates, at least one entry.
    pub entries: Vec<(Vec<u8>, EntryKind, Vec<u8>)>,
    pub user_props: BTreeMap<String, Vec<u8>>,
    pub creation_time: u64,
}

impl Recipe {
    pub fn read(input: &mut FuzzInput<'_>) -> Recipe {
        let block_size = if input.bool() { 1 + input.below(256) } else { 1 + input.below(8192) };
        let restart_interval = 1 + input.below(32);
        let compression = if input.u8().is_multiple_of(4) {
            Compression::Zstd { level: 1 + input.below(3) as i32 }
        } else {
            Compression::None
        };
        let bloom_bits_per_key = input.below(24) as u32;
        let internal_keys = input.bool();
        let cmp = comparator(internal_keys);
        let opts =
            TableOptions { block_size, restart_interval, compression, bloom_bits_per_key, comparator: cmp.clone() };
        let n = input.below(ENTRIES_MAX);
        let mut entries = Vec::with_capacity(n + 1);
        for _ in 0..n {
            let kind = if input.u8().is_multiple_of(4) { EntryKind::Delete } else { EntryKind::Put };
            let user = input.bytes(24).to_vec();
            let key = if internal_keys { ikey(&user, input.u64() & ((1 << 56) - 1), kind) } else { user };
            let value = if kind == EntryKind::Put { input.bytes(64).to_vec() } else { Vec::new() };
            entries.push((key, kind, value));
        }
        if entries.is_empty() {
            let key = if internal_keys { ikey(b"k", 1, EntryKind::Put) } else { b"k".to_vec() };
            entries.push((key, EntryKind::Put, b"v".to_vec()));
        }
        entries.sort_by(|a, b| cmp.compare(&a.0, &b.0));
        entries.dedup_by(|a, b| cmp.compare(&a.0, &b.0).is_eq());
        let mut user_props = BTreeMap::new();
        for _ in 0..input.below(3) {
            let name = String::from_utf8_lossy(input.bytes(8)).into_owned();
            user_props.insert(name, input.bytes(16).to_vec());
        }
        Recipe { opts, internal_keys, entries, user_props, creation_time: input.u64() >> 1 }
    }

    /// The table's bytes. Panics if a valid recipe does not build: that is a bug.
    pub fn build(&self) -> Bytes {
        let fs = SimFs::new();
        let path = Path::new("/fuzz.sst");
        let mut b = match TableBuilder::create(fs.arc(), path, self.opts.clone()) {
            Ok(b) => b,
            Err(e) => panic!("valid options {:?} rejected: {e}", self.opts),
        };
        for (k, kind, v) in &self.entries {
            if let Err(e) = b.add(k, *kind, v) {
                panic!("valid entry rejected: {e}");
            }
        }
        for (name, v) in &self.user_props {
            b.set_user_property(name, v);
        }
        b.set_creation_time(self.creation_time);
        if let Err(e) = b.finish() {
            panic!("valid table did not finish: {e}");
        }
        match fs.read_all(path) {
            Ok(bytes) => bytes,
            Err(e) => panic!("cannot read the table back: {e}"),
        }
    }

    /// Opens the unmutated table and checks that every read returns exactly what was written.
    /// Returns the table. Panics on any difference.
    pub fn check_round_trip(&self, bytes: &Bytes) -> Arc<Table> {
        let ropts = TableReadOptions { comparator: self.opts.comparator.clone(), ..Default::default() };
        let t = match Table::open(Arc::new(MemFile::new(bytes.clone())), Path::new("fuzz.sst"), ropts) {
            Ok(t) => t,
            Err(e) => panic!("valid table does not open: {e}"),
        };
        let mut it = t.iter();
        let mut forward = Vec::with_capacity(self.entries.len());
        it.seek_to_first();
        while it.valid() && forward.len() <= self.entries.len() {
            forward.push((it.key().to_vec(), it.kind(), it.value().to_vec()));
            it.next();
        }
        assert!(it.status().is_ok(), "forward scan failed: {:?}", it.status());
        assert_eq!(forward, self.entries, "forward scan differs from what was written");
        let mut backward = Vec::with_capacity(self.entries.len());
        it.seek_to_last();
        while it.valid() && backward.len() <= self.entries.len() {
            backward.push((it.key().to_vec(), it.kind(), it.value().to_vec()));
            it.prev();
        }
        backward.reverse();
        assert_eq!(backward, self.entries, "backward scan differs from what was written");
        for (k, kind, v) in &self.entries {
            let got = t.get(k).map(|o| o.map(|(kd, val)| (kd, val.to_vec())));
            assert_eq!(got.ok(), Some(Some((*kind, v.clone()))), "get of a written key");
            let sought = t.seek_entry(k).ok().flatten().map(|(sk, kd, _)| (sk.to_vec(), kd));
            assert_eq!(sought, Some((k.clone(), *kind)), "seek_entry of a written key");
            it.seek(k);
            assert!(it.valid() && it.key() == k.as_slice(), "seek to a written key");
            it.seek_for_prev(k);
            assert!(it.valid() && it.key() == k.as_slice(), "seek_for_prev to a written key");
            assert!(t.may_contain(self.opts.comparator.filter_key(k)), "filter false negative");
        }
        if !self.internal_keys {
            // A key just above each written one was never written.
            for (k, _, _) in &self.entries {
                let mut absent = k.clone();
                absent.push(0);
                if self.entries.binary_search_by(|e| e.0.as_slice().cmp(&absent)).is_err() {
                    assert!(matches!(t.get(&absent), Ok(None)), "get of a key never written");
                }
            }
        }
        assert!(t.verify_checksums().is_ok(), "valid table fails verification: {:?}", t.verify_checksums());
        let p = t.properties();
        let deletions = self.entries.iter().filter(|e| e.1 == EntryKind::Delete).count() as u64;
        assert_eq!((p.num_entries, p.num_deletions), (self.entries.len() as u64, deletions), "entry counts");
        assert_eq!(p.user, self.user_props, "user properties");
        assert_eq!(p.comparator, self.opts.comparator.name(), "comparator name");
        assert_eq!(p.creation_time, self.creation_time, "creation time");
        t
    }
}

/// Builds the table the input describes, checks the round trip, then mutates it with the rest
/// of the input (checksums recomputed unless the input says otherwise) and reads everything.
pub fn build_and_mutate(data: &[u8]) {
    if data.first() == Some(&0xff) {
        // Raw mode: the bytes themselves are the file.
        let _ = open_and_iterate(&data[1..]);
        return;
    }
    let mut input = FuzzInput::new(data);
    let recipe = Recipe::read(&mut input);
    let bytes = recipe.build();
    let table = recipe.check_round_trip(&bytes);
    if input.is_empty() {
        return;
    }
    let mut blocks: Vec<BlockHandle> = match table.index_entries() {
        Ok(v) => v.into_iter().map(|(_, h)| h).collect(),
        Err(e) => panic!("index of a valid table unreadable: {e}"),
    };
    let Some(footer) = footer_of(&bytes) else { panic!("valid table has a bad footer") };
    blocks.extend([footer.index, footer.properties]);
    if footer.filter.size != 0 {
        blocks.push(footer.filter);
    }
    let mutated = mutate(&bytes, &blocks, &mut input);
    let n = open_and_iterate(&mutated);
    if mutated == bytes.as_ref() {
        assert_eq!(n, Some(recipe.entries.len()), "an unmutated table reads differently");
    }
}

fn footer_of(bytes: &[u8]) -> Option<Footer> {
    let at = bytes.len().checked_sub(FOOTER_LEN)?;
    let arr: &[u8; FOOTER_LEN] = bytes[at..].try_into().ok()?;
    Footer::decode_from(arr).ok()
}

/// Overwrites bytes of the given blocks (stored bytes and type byte) and of the footer, then
/// recomputes the checksums of what it touched, unless the input asks to leave one stale.
fn mutate(bytes: &[u8], blocks: &[BlockHandle], input: &mut FuzzInput<'_>) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let footer_at = b.len() - FOOTER_LEN;
    let mut dirty = Vec::new();
    for _ in 0..1 + input.below(MUTATIONS_MAX) {
        let which = input.below(blocks.len() + 1);
        let (start, len) = match blocks.get(which) {
            // Stored bytes plus the type byte.
            Some(h) => (h.offset as usize, h.size as usize + 1),
            // The footer's handles, file CRC and version.
            None => (footer_at, FOOTER_CRC_AT),
        };
        let at = start + input.below(len);
        let value = input.u8();
        match input.u8() % 5 {
            0 => b[at] = value,
            1 => b[at] ^= 1 << (value % 8),
            2 => b[at] = b[at].wrapping_add(1),
            3 => b[at] = b[at].wrapping_sub(1),
            _ => {
                // A run of 0xff or 0x80: huge varints and lengths.
                let fill = if value & 1 == 0 { 0xff } else { 0x80 };
                let end = (at + 1 + usize::from(value % 8)).min(start + len);
                b[at..end].fill(fill);
            }
        }
        if let Some(h) = blocks.get(which) {
            dirty.push(*h);
        }
    }
    let fix = !input.u8().is_multiple_of(16);
    if fix {
        for h in dirty {
            let (off, size) = (h.offset as usize, h.size as usize);
            let crc = block_crc(&b[off..off + size], b[off + size]);
            b[off + size + 1..off + size + BLOCK_TRAILER_LEN].copy_from_slice(&crc.to_le_bytes());
        }
        let file_crc = crc32(&b[..footer_at]);
        b[footer_at + FOOTER_FILE_CRC_AT..footer_at + FOOTER_FILE_CRC_AT + 4].copy_from_slice(&file_crc.to_le_bytes());
        let crc = mask(crc32(&b[footer_at..footer_at + FOOTER_CRC_AT]));
        b[footer_at + FOOTER_CRC_AT..footer_at + FOOTER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(n: usize, compression: Compression) -> Recipe {
        let opts = TableOptions { block_size: 64, restart_interval: 2, compression, ..Default::default() };
        let entries = (0..n).map(|i| (format!("k{i:03}").into_bytes(), EntryKind::Put, vec![b'v'; i % 7])).collect();
        Recipe { opts, internal_keys: false, entries, user_props: BTreeMap::new(), creation_time: 7 }
    }

    fn data_blocks(t: &Table) -> Vec<BlockHandle> {
        t.index_entries().unwrap().into_iter().map(|(_, h)| h).collect()
    }

    #[test]
    fn an_unchanged_byte_leaves_the_table_intact() {
        let r = recipe(20, Compression::None);
        let bytes = r.build();
        let blocks = data_blocks(&r.check_round_trip(&bytes));
        // One mutation: block 0, offset 0, "set" to the byte already there; checksums fixed.
        let m = mutate(&bytes, &blocks, &mut FuzzInput::new(&[0, 0, 0, 0, 0, 0, bytes[0], 0, 1]));
        assert_eq!(m, bytes.as_ref());
        assert_eq!(open_and_iterate(&m), Some(20));
    }

    #[test]
    fn a_changed_byte_with_recomputed_checksums_reaches_the_decoders() {
        let r = recipe(20, Compression::None);
        let bytes = r.build();
        let blocks = data_blocks(&r.check_round_trip(&bytes));
        // Block 0, offset 1 (the first entry's unshared-length varint) incremented, fixed: the
        // table opens and verifies (every checksum matches), so the block decoder sees the bytes.
        let m = mutate(&bytes, &blocks, &mut FuzzInput::new(&[0, 0, 0, 0, 1, 0, 0, 2, 1]));
        assert_ne!(m, bytes.as_ref());
        let t = Table::open(Arc::new(MemFile::new(Bytes::from(m.clone()))), Path::new("m.sst"), Default::default());
        let t = t.unwrap();
        assert!(t.verify_checksums().is_ok());
        // Left stale (last byte 0), the same change is caught by the block checksum.
        let stale = mutate(&bytes, &blocks, &mut FuzzInput::new(&[0, 0, 0, 0, 1, 0, 0, 2, 0]));
        let t = Table::open(Arc::new(MemFile::new(Bytes::from(stale))), Path::new("m.sst"), Default::default());
        assert!(t.unwrap().verify_checksums().is_err());
        let _ = open_and_iterate(&m);
    }

    #[test]
    fn recipes_round_trip_with_every_option() {
        for compression in [Compression::None, Compression::Zstd { level: 1 }] {
            let r = recipe(200, compression);
            r.check_round_trip(&r.build());
        }
        build_and_mutate(&[]);
        build_and_mutate(&[0xff, 1, 2, 3]);
        build_and_mutate(&[7; 300]);
    }
}
