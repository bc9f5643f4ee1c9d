//! The entry points the `savepoint_read` fuzz target and its proptest twin
//! (`tests/tests/savepoint_fuzz_twin.rs`) share.
//!
//! [`read_all`] reads arbitrary bytes as a savepoint file. [`build_and_mutate`] reads the input
//! as a recipe (families, options, chunk size, sorted entries per family), writes a valid
//! savepoint, checks that it reads back exactly as written, then mutates its records (payload
//! bytes, lengths, types, order) and re-lays the file with every record checksum, the
//! whole-file checksum and the footer recomputed, so that the header, index and chunk decoders
//! see the mutated bytes instead of a checksum mismatch.
//!
//! Invariants: never panics on a mutated file; a panic raised by [`build_and_mutate`] is a bug
//! (a valid recipe that fails to write or read back). Every size is bounded.
//!
//! Thread safety: uses its own in-memory file system.

use super::format::{
    FILE_NAME, FOOTER_LEN, FamilyDesc, Footer, Header, PREAMBLE_LEN, RECORD_HEADER_LEN, RECORD_OVERHEAD, encode_record,
};
use super::{SavepointReader, SavepointWriter};
use std::path::Path;
use strata_base::checksum::{crc32, mask};
use strata_base::fuzz_input::FuzzInput;
use strata_base::{FileSystem, SimFs};

/// Entries as (family, key, value).
type Entries = Vec<(u32, Vec<u8>, Vec<u8>)>;

/// Entries a recipe may ask for.
const ENTRIES_MAX: usize = 300;
/// Mutations applied to one file.
const MUTATIONS_MAX: usize = 6;

/// Opens `data` as a savepoint, verifies it and reads every chunk; the number of entries if it
/// is a valid savepoint, `None` otherwise.
pub fn read_all(data: &[u8]) -> Option<u64> {
    read_entries(data).map(|e| e.len() as u64)
}

/// Every entry of the savepoint `data` as (family, key, value), or `None` if it is not valid.
fn read_entries(data: &[u8]) -> Option<Entries> {
    let fs = SimFs::new();
    let dir = Path::new("/sp");
    fs.create_dir_all(dir).ok()?;
    let mut f = fs.create(&dir.join(FILE_NAME)).ok()?;
    f.append(data).ok()?;
    f.sync().ok()?;
    drop(f);
    let r = SavepointReader::open(fs.arc(), dir).ok()?;
    let info = r.verify().ok()?;
    let mut out = Vec::new();
    for i in 0..info.chunks as usize {
        let c = r.read_chunk(i).ok()?;
        out.extend(c.entries.iter().map(|(k, v)| (c.family, k.to_vec(), v.to_vec())));
    }
    Some(out)
}

/// What a recipe asks to write.
#[derive(Debug)]
struct Recipe {
    header: Header,
    chunk_bytes: usize,
    /// (family, key, value), sorted by family then key, no duplicate keys in a family.
    entries: Entries,
}

impl Recipe {
    fn read(input: &mut FuzzInput<'_>) -> Recipe {
        let families = 1 + input.below(4);
        let options = (0..input.below(3))
            .map(|_| {
                let k = String::from_utf8_lossy(input.bytes(8)).into_owned();
                (k, String::from_utf8_lossy(input.bytes(8)).into_owned())
            })
            .collect();
        let header = Header {
            sequence: input.u64() >> 1,
            created_unix_secs: input.u64() >> 1,
            options,
            families: (0..families)
                .map(|f| FamilyDesc { name: format!("f{f}"), comparator: "strata.BytewiseComparator".into() })
                .collect(),
        };
        let chunk_bytes = 1 + input.below(512);
        let mut entries: Entries = (0..input.below(ENTRIES_MAX))
            .map(|_| {
                let f = input.below(families) as u32;
                (f, input.bytes(12).to_vec(), input.bytes(40).to_vec())
            })
            .collect();
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        entries.dedup_by(|a, b| (a.0, &a.1) == (b.0, &b.1));
        Recipe { header, chunk_bytes, entries }
    }

    /// The savepoint's bytes; panics if a valid recipe does not write.
    fn write(&self) -> Vec<u8> {
        let fs = SimFs::new();
        let path = Path::new("/sp/SAVEPOINT");
        let made = fs.create_dir_all(Path::new("/sp")).and_then(|()| fs.create(path));
        let Ok(file) = made else { panic!("cannot create the savepoint file") };
        let mut w = match SavepointWriter::new(file, path.to_path_buf(), &self.header, self.chunk_bytes) {
            Ok(w) => w,
            Err(e) => panic!("valid header rejected: {e}"),
        };
        for (f, k, v) in &self.entries {
            if let Err(e) = w.add(*f as usize, k, v) {
                panic!("valid entry rejected: {e}");
            }
        }
        if let Err(e) = w.finish() {
            panic!("valid savepoint did not finish: {e}");
        }
        match fs.read_all(path) {
            Ok(b) => b.to_vec(),
            Err(e) => panic!("cannot read the savepoint back: {e}"),
        }
    }
}

/// The records of a well-formed file: (type, payload), in file order.
fn records(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = PREAMBLE_LEN;
    let end = b.len() - FOOTER_LEN;
    while at + RECORD_OVERHEAD <= end {
        let len = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
        let body = at + RECORD_HEADER_LEN;
        out.push((b[at + 4], b[body..body + len].to_vec()));
        at = body + len + RECORD_OVERHEAD - RECORD_HEADER_LEN;
    }
    out
}

/// The file with `recs` as its records: preamble kept, checksums and footer recomputed; the
/// footer points at the last record as the index.
fn relay(preamble: &[u8], recs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = preamble.to_vec();
    let mut last = out.len();
    for (kind, payload) in recs {
        last = out.len();
        encode_record(*kind, payload, &mut out);
    }
    let footer =
        Footer { index_offset: last as u64, index_len: (out.len() - last) as u64, file_crc: mask(crc32(&out)) };
    out.extend_from_slice(&footer.encode());
    out
}

/// Builds the savepoint the input describes, checks it reads back as written, then mutates its
/// records with the rest of the input and reads the result (no panic; `None` or entries).
pub fn build_and_mutate(data: &[u8]) {
    if data.first() == Some(&0xff) {
        let _ = read_all(&data[1..]);
        return;
    }
    let mut input = FuzzInput::new(data);
    let recipe = Recipe::read(&mut input);
    let bytes = recipe.write();
    assert_eq!(read_entries(&bytes).as_ref(), Some(&recipe.entries), "a savepoint does not read back as written");
    let mut recs = records(&bytes);
    assert_eq!(relay(&bytes[..PREAMBLE_LEN], &recs), bytes, "re-laying a savepoint changes it");
    if input.is_empty() {
        return;
    }
    let mut preamble = bytes[..PREAMBLE_LEN].to_vec();
    for _ in 0..1 + input.below(MUTATIONS_MAX) {
        let i = input.below(recs.len());
        let v = input.u8();
        let op = input.u8() % 8;
        let (kind, payload) = &mut recs[i];
        let at = input.below(payload.len() + 1);
        match op {
            0 | 1 if at < payload.len() => payload[at] = if op == 0 { v } else { payload[at] ^ (1 << (v % 8)) },
            2 => payload.insert(at, v),
            3 => payload.truncate(at),
            4 => *kind = v % 5,
            5 => {
                let copy = recs[i].clone();
                recs.push(copy);
            }
            6 if recs.len() > 1 => drop(recs.remove(i)),
            _ => {
                let p = input.below(PREAMBLE_LEN);
                preamble[p] = v;
            }
        }
    }
    let mutated = relay(&preamble, &recs);
    let got = read_entries(&mutated);
    if mutated == bytes {
        assert_eq!(got.as_ref(), Some(&recipe.entries), "an unmutated savepoint reads differently");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_round_trip_and_mutations_do_not_panic() {
        build_and_mutate(&[]);
        build_and_mutate(&[0xff, 1, 2]);
        for seed in 0u8..40 {
            let data: Vec<u8> = (0..600u32).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
            build_and_mutate(&data);
        }
    }
}
