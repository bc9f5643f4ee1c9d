//! The table-building restore path: the new database's bottom-level tables are built directly
//! from a savepoint's chunks (in parallel, under the target's table options) and described by
//! a fresh manifest, without the WAL, the memtable, flushes or compactions.
//!
//! A restore targets a new, empty database, so nothing needs ingesting: the directory is made
//! the way a checkpoint's is (tables, one snapshot edit in a new manifest, `CURRENT`), then
//! opened once by the engine to check it before the caller's rename makes it visible.
//!
//! Invariants: every entry is a `Put` at sequence 0 (visible to every snapshot; the manifest's
//! last sequence is the savepoint's); tables of one family hold disjoint, ascending key ranges
//! (chunks are disjoint and sorted, and a table never spans two work units out of order), so
//! they form a valid bottom level; every table is fsynced by its builder before the manifest
//! names it.
//!
//! Thread safety: workers take units (runs of consecutive chunks of one family) from a shared
//! counter and allocate file numbers from an atomic counter.

use super::reader::SavepointReader;
use super::{KeyRange, SavepointProgress, SavepointRestoreOptions, report};
use parking_lot::Mutex;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use strata::{Error, FileSystem, Options, Result};
use strata_base::BytewiseComparator;
use strata_base::ikey::{self, InternalKeyComparator, ValueKind};
use strata_manifest::{CfId, FileNumber};
use strata_manifest::{FileMeta, NUM_LEVELS, VersionEdit, table_file_name, write_current_unpublished, write_manifest};
use strata_sst::{TableBuilder, TableOptions};

/// A run of consecutive selected chunks of one family, built by one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub family: u32,
    /// Indices into the reader's chunk list.
    pub chunks: Vec<usize>,
}

/// Pure: groups `selected` chunk indices (ascending) into units of at most about
/// `unit_bytes` (by chunk record length), never mixing families.
pub(crate) fn plan_units(selected: &[(usize, u32, u64)], unit_bytes: u64) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut size = 0;
    for &(i, family, len) in selected {
        match out.last_mut() {
            Some(u) if u.family == family && size + len <= unit_bytes.max(1) => {
                u.chunks.push(i);
                size += len;
            }
            _ => {
                out.push(Unit { family, chunks: vec![i] });
                size = len;
            }
        }
    }
    out
}

/// What the workers produced: per family, its tables.
struct Built {
    tables: Vec<Vec<FileMeta>>,
    /// The first file number no table took.
    next_number: FileNumber,
    entries: Vec<u64>,
    bytes: u64,
}

/// Builds the tables of `selected` chunks into `tmp` and writes a manifest naming them;
/// returns `(entries per family, bytes)`. `cf_ids[f]` is the target id of savepoint family `f`.
#[allow(clippy::too_many_arguments, reason = "one call site; the arguments are the restore's plan")]
pub(crate) fn build_tables(
    reader: &SavepointReader,
    tmp: &Path,
    opts: &Options,
    ropts: &SavepointRestoreOptions,
    plan: &[Option<String>],
    cf_ids: &[Option<CfId>],
    selected: &[usize],
    threads: usize,
) -> Result<(Vec<u64>, u64)> {
    let fs = super::fs_of(opts);
    fs.create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
    let chunks = &reader.index().chunks;
    let sel: Vec<(usize, u32, u64)> =
        selected.iter().map(|&i| (i, chunks[i].family, u64::from(chunks[i].len))).collect();
    let units = plan_units(&sel, opts.target_file_size);
    let built = run_units(reader, &fs, tmp, opts, ropts, cf_ids, &units, threads, selected.len())?;
    // Tables took numbers from 1 up; the manifest takes the next one.
    let manifest_number = built.next_number;
    let icmp = InternalKeyComparator::new(Arc::new(BytewiseComparator));
    let mut edit = VersionEdit {
        comparator: Some(strata_base::Comparator::name(&icmp).to_string()),
        log_number: Some(FileNumber::new(0)),
        next_file_number: Some(manifest_number.next()),
        last_sequence: Some(reader.header().sequence),
        max_cf_id: cf_ids.iter().flatten().copied().max().or(Some(CfId::DEFAULT)),
        ..VersionEdit::default()
    };
    edit.add_cf(strata::cf::DEFAULT_CF_ID, strata::cf::DEFAULT_CF_NAME, BytewiseComparator::NAME);
    for (f, (name, id)) in plan.iter().zip(cf_ids).enumerate() {
        let (Some(name), Some(id)) = (name, id) else { continue };
        if *id != strata::cf::DEFAULT_CF_ID {
            edit.add_cf(*id, name.clone(), BytewiseComparator::NAME);
        }
        let mut tables = built.tables[f].clone();
        tables.sort_by(|a, b| ikey::user_key(&a.smallest).cmp(ikey::user_key(&b.smallest)));
        for t in tables {
            edit.add_file(*id, NUM_LEVELS - 1, t);
        }
    }
    write_manifest(&*fs, tmp, manifest_number, &[edit])?;
    write_current_unpublished(&*fs, tmp, manifest_number)?;
    Ok((built.entries, built.bytes))
}

#[allow(clippy::too_many_arguments, reason = "the shared state of one parallel run")]
fn run_units(
    reader: &SavepointReader,
    fs: &Arc<dyn FileSystem>,
    tmp: &Path,
    opts: &Options,
    ropts: &SavepointRestoreOptions,
    cf_ids: &[Option<CfId>],
    units: &[Unit],
    threads: usize,
    chunks_total: usize,
) -> Result<Built> {
    let families = reader.header().families.len();
    let tables: Mutex<Vec<Vec<FileMeta>>> = Mutex::new(vec![Vec::new(); families]);
    let entries: Vec<AtomicU64> = (0..families).map(|_| AtomicU64::new(0)).collect();
    let (next_unit, next_number) = (AtomicUsize::new(0), AtomicU64::new(1));
    let (done, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let ctx = UnitCtx { reader, fs, tmp, opts, cf_ids, range: ropts.key_range.as_ref(), next_number: &next_number };
    let work = || {
        while !stop.load(Ordering::Relaxed) {
            let Some(unit) = units.get(next_unit.fetch_add(1, Ordering::Relaxed)) else { break };
            let step = ctx.build_unit(unit, |n, b| {
                entries[unit.family as usize].fetch_add(n, Ordering::Relaxed);
                let p = SavepointProgress {
                    chunks_done: done.fetch_add(1, Ordering::Relaxed) + 1,
                    chunks_total: chunks_total as u64,
                    entries: entries.iter().map(|a| a.load(Ordering::Relaxed)).sum(),
                    bytes: bytes.fetch_add(b, Ordering::Relaxed) + b,
                };
                report(ropts.progress.as_ref(), &p, "restore")
            });
            match step {
                Ok(metas) => tables.lock()[unit.family as usize].extend(metas),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.lock().get_or_insert(e);
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.clamp(1, units.len().max(1)) {
            s.spawn(work);
        }
        work();
    });
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    Ok(Built {
        tables: tables.into_inner(),
        next_number: FileNumber::new(next_number.load(Ordering::Relaxed)),
        entries: entries.iter().map(|a| a.load(Ordering::Relaxed)).collect(),
        bytes: bytes.into_inner(),
    })
}

struct UnitCtx<'a> {
    reader: &'a SavepointReader,
    fs: &'a Arc<dyn FileSystem>,
    tmp: &'a Path,
    opts: &'a Options,
    cf_ids: &'a [Option<CfId>],
    range: Option<&'a KeyRange>,
    next_number: &'a AtomicU64,
}

impl UnitCtx<'_> {
    fn table_options(&self) -> TableOptions {
        TableOptions {
            block_size: self.opts.block_size,
            restart_interval: self.opts.block_restart_interval,
            compression: self.opts.compression,
            bloom_bits_per_key: self.opts.bloom_bits_per_key,
            comparator: Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator))),
        }
    }

    fn new_table(&self) -> Result<(FileNumber, TableBuilder)> {
        // Numbers are allocated from a shared atomic counter of raw values.
        let number = FileNumber::new(self.next_number.fetch_add(1, Ordering::Relaxed));
        let path = self.tmp.join(table_file_name(number));
        Ok((number, TableBuilder::create(Arc::clone(self.fs), &path, self.table_options())?))
    }

    /// Reads, checks and writes every chunk of `unit` into tables of about
    /// `target_file_size`; `after_chunk(entries, bytes)` runs after each chunk.
    fn build_unit(&self, unit: &Unit, mut after_chunk: impl FnMut(u64, u64) -> Result<()>) -> Result<Vec<FileMeta>> {
        let cf_id = self.cf_ids.get(unit.family as usize).copied().flatten().unwrap_or_default();
        let mut metas = Vec::new();
        let mut current: Option<(FileNumber, TableBuilder)> = None;
        let mut key = Vec::new();
        for &i in &unit.chunks {
            let chunk = self.reader.read_chunk(i)?;
            let (mut n, mut b) = (0u64, 0u64);
            for (k, v) in chunk.entries.iter().filter(|(k, _)| self.range.is_none_or(|r| r.contains(k))) {
                let (_, builder) = match &mut current {
                    Some(t) => t,
                    None => current.insert(self.new_table()?),
                };
                key.clear();
                ikey::encode_into(&mut key, k, 0, ValueKind::Put);
                builder.add(&key, ValueKind::Put, v)?;
                n += 1;
                b += (k.len() + v.len()) as u64;
                if builder.estimated_size() >= self.opts.target_file_size
                    && let Some(t) = current.take()
                {
                    metas.push(finish(t, cf_id)?);
                }
            }
            after_chunk(n, b)?;
        }
        if let Some(t) = current.take() {
            metas.push(finish(t, cf_id)?);
        }
        Ok(metas)
    }
}

/// Finishes (and fsyncs) a table and describes it as the engine's flushes do.
fn finish((number, mut b): (FileNumber, TableBuilder), cf_id: CfId) -> Result<FileMeta> {
    b.set_user_property("strata.cf_id", cf_id.to_string().as_bytes());
    b.set_user_property("strata.smallest_seq", b"0");
    b.set_user_property("strata.largest_seq", b"0");
    let meta = b.finish()?;
    Ok(FileMeta {
        number,
        size: meta.file_size,
        smallest: meta.smallest_key,
        largest: meta.largest_key,
        smallest_seq: 0,
        largest_seq: 0,
        checksum: meta.file_checksum,
        // Bottom-level tables of one load: one epoch (L0 order does not apply to them).
        epoch: 1,
        global_seq: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_keep_families_apart_and_respect_the_size() {
        let sel = [(0, 0, 40), (1, 0, 40), (2, 0, 40), (3, 1, 10), (5, 1, 10)];
        let u = plan_units(&sel, 80);
        let got: Vec<(u32, Vec<usize>)> = u.into_iter().map(|u| (u.family, u.chunks)).collect();
        assert_eq!(got, vec![(0, vec![0, 1]), (0, vec![2]), (1, vec![3, 5])]);
        assert!(plan_units(&[], 10).is_empty());
        // A chunk larger than a unit still gets one.
        assert_eq!(plan_units(&[(0, 0, 500)], 10).len(), 1);
    }
}
