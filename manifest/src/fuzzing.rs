//! The body of the `manifest_edit` fuzz target, shared with its proptest twin
//! (`manifest/tests/manifest_fuzz_twin.rs`) so both run the same code.
//!
//! [`replay_edits`] reads the input as a recipe for a sequence of edits that mostly fit the
//! current version (add and drop column families, add, delete and move tables, bump counters)
//! and a few that do not. Each edit must decode from its encoding to itself, and
//! [`VersionSet::log_and_apply`] must accept exactly the edits [`Version::apply`] accepts and
//! install the same version. The manifest is then recovered, and must give back the same
//! version. Last, the manifest's records (whose WAL checksums a rewrite recomputes) are mutated
//! from the rest of the input and recovered again: no panic, and a recovered version satisfies
//! [`Version::check_invariants`]. [`decode_any`] is the old target: arbitrary bytes as an edit.
//!
//! Invariants: a panic raised here is a bug in the manifest crate, never in the input.
//! Every loop and size is bounded.
//!
//! Thread safety: no shared state.

use crate::format::NUM_LEVELS;
use crate::{Error, FileMeta, Version, VersionEdit, VersionSet, VersionSetOptions, manifest_file_name, set_current};
use std::path::Path;
use strata_base::fuzz_input::FuzzInput;
use strata_base::ikey::{ValueKind, encode as ikey};
use strata_base::{CfId, FileNumber, FileSystem, SimFs};
use strata_wal::{LogReader, LogWriter, RecoveryMode};

/// Edits a recipe may ask for.
const EDITS_MAX: usize = 24;
/// Changes in one edit.
const CHANGES_MAX: usize = 4;
/// Mutations of the manifest's records.
const MUTATIONS_MAX: usize = 6;

/// Arbitrary bytes as an edit: no panic, and whatever decodes re-encodes to itself.
pub fn decode_any(data: &[u8]) {
    if let Ok(edit) = VersionEdit::decode_from(data) {
        let again = VersionEdit::decode_from(&edit.encode());
        assert_eq!(again.as_ref(), Ok(&edit), "re-encoded edit does not decode to itself");
    }
}

/// Every table of `v` as (cf, level, number).
fn tables(v: &Version) -> Vec<(CfId, usize, FileNumber)> {
    v.cfs().flat_map(|cf| cf.files().map(move |(l, f)| (cf.id, l, f.number))).collect()
}

/// One edit from the recipe; tables it adds are allocated from `vs` and created (empty) in `fs`.
fn next_edit(input: &mut FuzzInput<'_>, model: &Version, vs: &mut VersionSet, fs: &SimFs, dir: &Path) -> VersionEdit {
    let mut e = VersionEdit::new();
    let cfs: Vec<CfId> = model.cfs().map(|c| c.id).collect();
    let existing = tables(model);
    let cmp_name = vs_comparator_name();
    for _ in 0..1 + input.below(CHANGES_MAX) {
        match input.u8() % 10 {
            0 => {
                let id =
                    CfId::new(vs.next_cf_id().get().saturating_add(input.below(2) as u32 + e.cf_adds.len() as u32));
                let name = String::from_utf8_lossy(input.bytes(10)).into_owned();
                e.add_cf(id, name, cmp_name.clone());
            }
            1 => {
                let id = cfs.get(input.below(cfs.len() + 1)).copied().unwrap_or(CfId::new(u32::from(input.u8())));
                e.drop_cf(id);
            }
            2 | 3 => {
                let (cf, level, number) = existing.get(input.below(existing.len() + 1)).copied().unwrap_or((
                    CfId::new(0),
                    1,
                    FileNumber::new(7),
                ));
                e.delete_file(cf, level, number);
                if input.bool() {
                    // A move (trivial compaction): the same table one level down.
                    if let Some(f) = model.cf(cf).and_then(|c| c.levels.get(level)?.iter().find(|f| f.number == number))
                    {
                        e.add_file(cf, (level + 1) % NUM_LEVELS, FileMeta::clone(f));
                    }
                }
            }
            4..=7 => {
                let cf = cfs.get(input.below(cfs.len() + 1)).copied().unwrap_or(CfId::new(1000));
                let level = input.below(NUM_LEVELS);
                let number = vs.new_file_number();
                let _ = fs.write_atomic(&dir.join(crate::table_file_name(number)), b"");
                let (mut a, mut b) = (input.bytes(6).to_vec(), input.bytes(6).to_vec());
                if a > b {
                    std::mem::swap(&mut a, &mut b);
                }
                let seq = vs.last_sequence() + 1;
                let span = input.below(100) as u64;
                let ingested = input.u8().is_multiple_of(8);
                let meta = FileMeta {
                    number,
                    size: u64::from(input.u16()),
                    smallest: ikey(&a, seq + span, ValueKind::Put),
                    largest: ikey(&b, seq, ValueKind::Put),
                    smallest_seq: seq,
                    largest_seq: if ingested { seq } else { seq + span },
                    checksum: input.u16().into(),
                    epoch: if input.u8().is_multiple_of(16) { 0 } else { 1 + input.below(1000) as u64 },
                    global_seq: if ingested { seq } else { 0 },
                };
                e.add_file(cf, level, meta);
                e.last_sequence = Some(seq + span);
            }
            8 => e.last_sequence = Some(vs.last_sequence() + input.below(1000) as u64),
            _ => e.log_number = Some(FileNumber::new(vs.log_number().get() + input.below(3) as u64)),
        }
    }
    e
}

fn vs_comparator_name() -> String {
    VersionSetOptions::default().comparator.name().to_string()
}

/// The whole recipe: edits applied to a model and a version set, recovery compared, then the
/// manifest's records mutated and recovered again.
pub fn replay_edits(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode == 0xff {
        decode_any(rest);
        return;
    }
    let mut input = FuzzInput::new(rest);
    let fs = SimFs::new();
    let dir = Path::new("/db");
    let limit = if mode & 1 == 1 { 256 } else { VersionSetOptions::default().manifest_size_limit };
    let opts = VersionSetOptions { manifest_size_limit: limit, ..VersionSetOptions::default() };
    let cmp = opts.comparator.clone();
    let mut vs = match VersionSet::create_new(fs.arc(), dir, opts.clone()) {
        Ok(vs) => vs,
        Err(e) => panic!("create_new failed: {e}"),
    };
    let mut model = Version::clone(&vs.current());
    for _ in 0..input.below(EDITS_MAX) {
        let edit = next_edit(&mut input, &model, &mut vs, &fs, dir);
        let bytes = edit.encode();
        assert_eq!(VersionEdit::decode_from(&bytes).as_ref(), Ok(&edit), "edit does not round-trip");
        match (model.apply(&edit, cmp.as_ref()), vs.log_and_apply(edit.clone())) {
            (Ok(want), Ok(got)) => {
                assert_eq!(*got, want, "log_and_apply installed another version than apply");
                model = want;
            }
            (Err(_), Err(Error::InvalidArgument(_))) => {}
            (want, got) => panic!("apply gave {want:?}, log_and_apply {got:?} for {edit:?}"),
        }
    }
    let manifest = dir.join(manifest_file_name(vs.manifest_number()));
    drop(vs);
    match VersionSet::recover_read(fs.arc(), dir, opts.clone()) {
        Ok(r) => assert_eq!(*r.current(), model.with_recovered_epochs(), "recovered version differs"),
        Err(e) => panic!("a manifest as written does not recover: {e}"),
    }
    if !input.is_empty() {
        recover_mutated(&fs, &manifest, &mut input, opts);
    }
}

/// Rewrites the manifest at `manifest` with its records mutated (checksums recomputed by the
/// log writer), then decodes each record and recovers the version set.
fn recover_mutated(fs: &SimFs, manifest: &Path, input: &mut FuzzInput<'_>, opts: VersionSetOptions) {
    let Ok(file) = fs.open(manifest) else { panic!("manifest vanished") };
    let mut reader = LogReader::new(file, manifest, RecoveryMode::AbsoluteConsistency);
    let mut records: Vec<Vec<u8>> = Vec::new();
    while let Ok(Some(r)) = reader.read_record() {
        records.push(r.payload.to_vec());
    }
    assert!(!records.is_empty(), "a manifest as written has no records");
    for _ in 0..1 + input.below(MUTATIONS_MAX) {
        let i = input.below(records.len());
        let v = input.u8();
        let op = input.u8() % 7;
        let r = &mut records[i];
        let at = input.below(r.len() + 1);
        match op {
            0 if at < r.len() => r[at] = v,
            1 if at < r.len() => r[at] ^= 1 << (v % 8),
            2 => r.insert(at, v),
            3 => r.truncate(at),
            4 => {
                let copy = r.clone();
                records.push(copy);
            }
            5 if records.len() > 1 => drop(records.remove(i)),
            _ => {
                let j = input.below(records.len());
                records.swap(i, j);
            }
        }
    }
    let dir = Path::new("/mutated");
    let names = match fs.list(manifest.parent().unwrap_or(Path::new("/"))) {
        Ok(n) => n,
        Err(e) => panic!("cannot list: {e}"),
    };
    let _ = fs.create_dir_all(dir);
    for n in names.iter().filter(|n| n.ends_with(".sst")) {
        let _ = fs.write_atomic(&dir.join(n), b"");
    }
    let number = FileNumber::new(5);
    let path = dir.join(manifest_file_name(number));
    let Ok(out) = fs.create(&path) else { panic!("cannot create the mutated manifest") };
    let mut w = LogWriter::with_path(out, &path);
    for r in &records {
        decode_any(r);
        if let Err(e) = w.add_record(r) {
            panic!("cannot write the mutated manifest: {e}");
        }
    }
    if let Err(e) = w.sync() {
        panic!("cannot sync the mutated manifest: {e}");
    }
    drop(w);
    if let Err(e) = set_current(fs, dir, number) {
        panic!("cannot set CURRENT: {e}");
    }
    let cmp = opts.comparator.clone();
    if let Ok(r) = VersionSet::recover_read(fs.arc(), dir, opts) {
        let checked = r.current().check_invariants(r.next_file_number(), cmp.as_ref());
        assert!(checked.is_ok(), "recovered an inconsistent version: {checked:?}");
    }
}
