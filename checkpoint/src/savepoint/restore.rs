//! `Savepoint::restore`: a new database, built in a temporary sibling from a savepoint's
//! chunks, under any options, with families renamed or left out and optionally one key range.
//!
//! Two methods (`RestoreMethod`). `Tables` (the default, `tables.rs`) builds the new
//! database's bottom-level tables straight from the chunks on N threads and writes a fresh
//! manifest naming them: the target is new and empty, so nothing needs ingesting. `Writes`
//! sends each chunk through a [`RestoreSink`] that writes `WriteBatch`es without the WAL and
//! flushes at the end: the engine's own write path, kept as a cross-check.
//!
//! Invariants: `target` appears only when the whole restore is flushed and synced (temporary
//! sibling, fsync, rename, fsync of the parent); on any error or cancellation the temporary
//! sibling is removed (at most it is left behind if removal fails); a chunk's entries are
//! applied only after its checksum and order were checked.
//!
//! Thread safety: workers share the reader (positional reads) and the `Db` (thread-safe).

use super::format::ChunkMeta;
use super::reader::Chunk;
use super::tables::build_tables;
use super::{
    KeyRange, RestoreMethod, SavepointProgress, SavepointReader, SavepointRestoreInfo, SavepointRestoreOptions, fs_of,
};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use strata::{ColumnFamily, Db, Error, Options, Result, WriteBatch, WriteOptions};
use strata_base::BytewiseComparator;
use strata_manifest::CfId;

/// Where restored entries go.
pub(crate) trait RestoreSink: Sync {
    /// Adds one chunk's entries (sorted, disjoint from every other chunk's) to `cf`.
    fn add_chunk(&self, cf: &ColumnFamily, entries: &[(bytes::Bytes, bytes::Bytes)]) -> Result<()>;
    /// Makes everything added durable.
    fn finish(&self) -> Result<()>;
}

/// Writes through `WriteBatch`es without the WAL, then flushes.
struct BatchSink<'a> {
    db: &'a Db,
}

impl RestoreSink for BatchSink<'_> {
    fn add_chunk(&self, cf: &ColumnFamily, entries: &[(bytes::Bytes, bytes::Bytes)]) -> Result<()> {
        let size: usize = entries.iter().map(|(k, v)| k.len() + v.len() + 12).sum();
        let mut batch = WriteBatch::with_capacity(size + 16);
        for (k, v) in entries {
            batch.put_cf(cf, k, v);
        }
        self.db.write(batch, &WriteOptions { sync: false, disable_wal: true })
    }

    fn finish(&self) -> Result<()> {
        self.db.flush()
    }
}

/// Which chunks a restore reads: those of a chosen family whose key range meets `range`.
/// Pure, so it is tested alone.
pub(crate) fn select_chunks(chunks: &[ChunkMeta], chosen: &[Option<usize>], range: Option<&KeyRange>) -> Vec<usize> {
    chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| chosen.get(c.family as usize).is_some_and(Option::is_some))
        .filter(|(_, c)| range.is_none_or(|r| r.overlaps(&c.first_key, &c.last_key)))
        .map(|(i, _)| i)
        .collect()
}

/// Maps each savepoint family to a target name (`None` = left out) after checking the caller's
/// list: every source exists, no target is named twice, no name is empty.
pub(crate) fn plan_families(sources: &[String], wanted: Option<&[(String, String)]>) -> Result<Vec<Option<String>>> {
    let Some(wanted) = wanted else { return Ok(sources.iter().cloned().map(Some).collect()) };
    let mut out = vec![None; sources.len()];
    for (from, to) in wanted {
        let i = sources.iter().position(|s| s == from).ok_or_else(|| Error::ColumnFamilyNotFound(from.clone()))?;
        if to.is_empty() || out.iter().flatten().any(|t| t == to) || out[i].is_some() {
            return Err(Error::InvalidArgument(format!("restore of family {from} as {to:?}: empty or duplicate name")));
        }
        out[i] = Some(to.clone());
    }
    Ok(out)
}

pub(super) fn restore(
    dir: &Path,
    target: &Path,
    opts: &Options,
    ropts: &SavepointRestoreOptions,
) -> Result<SavepointRestoreInfo> {
    let start = Instant::now();
    let fs = fs_of(opts);
    let reader = SavepointReader::open(fs.clone(), dir)?;
    let sources: Vec<String> = reader.header().families.iter().map(|f| f.name.clone()).collect();
    let plan = plan_families(&sources, ropts.column_families.as_deref())?;
    for (f, p) in reader.header().families.iter().zip(&plan) {
        if p.is_some() && f.comparator != BytewiseComparator::NAME {
            return Err(Error::InvalidArgument(format!(
                "family {} uses comparator {}, not supported",
                f.name, f.comparator
            )));
        }
    }
    let (parent, name) = check_new_target(&*fs, target, "restore target")?;
    let tmp = parent.join(format!(".{name}.strata-restore.tmp"));
    if fs.exists(&tmp) {
        fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let built = build(&reader, &tmp, opts, ropts, &plan);
    let finished = built.and_then(|info| {
        strata_base::testing::kill_point("savepoint.restore_before_rename");
        fs.rename(&tmp, &parent.join(&name)).map_err(|e| Error::io(target, e))?;
        Ok(info)
    });
    let mut info = match finished {
        Ok(info) => info,
        Err(e) => {
            let _ = fs.remove_dir_all(&tmp);
            return Err(e);
        }
    };
    fs.sync_dir(&parent).map_err(|e| Error::io(&parent, e))?;
    info.target = target.to_path_buf();
    info.duration = start.elapsed();
    Ok(info)
}

/// `target` (a `what`, for messages) must not exist and its parent must; returns
/// `(parent, name)`.
pub(super) fn check_new_target(fs: &dyn strata::FileSystem, target: &Path, what: &str) -> Result<(PathBuf, String)> {
    let norm = crate::paths::normalize(target);
    let Some(name) = norm.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
        return Err(Error::InvalidArgument(format!("{what} {} has no usable name", target.display())));
    };
    let parent = norm.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    if fs.exists(&norm) {
        return Err(Error::AlreadyExists(target.to_path_buf()));
    }
    if !fs.is_dir(&parent) {
        return Err(Error::InvalidArgument(format!("the parent of {what} {} does not exist", target.display())));
    }
    Ok((parent, name))
}

/// Opens a new database in `tmp`, applies the chunks, flushes, closes, syncs `tmp`.
fn build(
    reader: &SavepointReader,
    tmp: &Path,
    opts: &Options,
    ropts: &SavepointRestoreOptions,
    plan: &[Option<String>],
) -> Result<SavepointRestoreInfo> {
    let chosen: Vec<Option<usize>> = plan.iter().enumerate().map(|(i, p)| p.as_ref().map(|_| i)).collect();
    let chunks = select_chunks(&reader.index().chunks, &chosen, ropts.key_range.as_ref());
    let threads = thread_count(ropts.threads, chunks.len());
    let counts = match ropts.method {
        RestoreMethod::Tables => {
            let ids = table_cf_ids(plan);
            let (per_family, bytes) = build_tables(reader, tmp, opts, ropts, plan, &ids, &chunks, threads)?;
            // The engine opens the result once before anyone can see it: a check of the
            // directory just built, and the engine's own first-open work.
            Db::open(tmp, Options { create_if_missing: false, error_if_exists: false, ..opts.clone() })?.close()?;
            Counts { per_family, bytes }
        }
        RestoreMethod::Writes => {
            let db = Db::open(tmp, Options { create_if_missing: true, error_if_exists: true, ..opts.clone() })?;
            let mut cfs: Vec<Option<ColumnFamily>> = Vec::with_capacity(plan.len());
            for p in plan {
                cfs.push(match p.as_deref() {
                    None => None,
                    Some("default") => Some(db.default_cf()),
                    Some(n) => Some(db.create_cf(n)?),
                });
            }
            let sink = BatchSink { db: &db };
            let counts = apply_chunks(reader, &chunks, &cfs, &sink, ropts, threads)?;
            sink.finish()?;
            db.close()?;
            counts
        }
    };
    let fs = fs_of(opts);
    fs.sync_dir(tmp).map_err(|e| Error::io(tmp, e))?;
    let families: Vec<(String, u64)> =
        plan.iter().zip(&counts.per_family).filter_map(|(p, n)| p.clone().map(|p| (p, *n))).collect();
    Ok(SavepointRestoreInfo {
        target: PathBuf::new(),
        sequence: reader.header().sequence,
        entries: families.iter().map(|(_, n)| n).sum(),
        families,
        bytes: counts.bytes,
        chunks_read: chunks.len() as u64,
        duration: Default::default(),
    })
}

/// Pure: the column family id each restored family gets in a new database: `default` keeps
/// id 0, the others take 1, 2, ... in savepoint order.
pub(crate) fn table_cf_ids(plan: &[Option<String>]) -> Vec<Option<CfId>> {
    let mut next = 1;
    plan.iter()
        .map(|p| {
            p.as_deref().map(|n| {
                if n == strata::cf::DEFAULT_CF_NAME {
                    strata::cf::DEFAULT_CF_ID
                } else {
                    next += 1;
                    CfId::new(next - 1)
                }
            })
        })
        .collect()
}

/// Threads to use: `asked`, or up to 4 by cores when 0; never more than there is work.
fn thread_count(asked: usize, work: usize) -> usize {
    match asked {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(4),
        n => n,
    }
    .clamp(1, work.max(1))
}

struct Counts {
    per_family: Vec<u64>,
    bytes: u64,
}

/// Reads, checks and applies `chunks` on `ropts.threads` threads; the first error (or a
/// cancellation) stops every thread.
fn apply_chunks(
    reader: &SavepointReader,
    chunks: &[usize],
    cfs: &[Option<ColumnFamily>],
    sink: &dyn RestoreSink,
    ropts: &SavepointRestoreOptions,
    threads: usize,
) -> Result<Counts> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let per_family: Vec<AtomicU64> = cfs.iter().map(|_| AtomicU64::new(0)).collect();
    let (done, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let work = || {
        while !stop.load(Ordering::Relaxed) {
            let Some(&i) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
            let step = (|| {
                let chunk = reader.read_chunk(i)?;
                let (n, b) = apply_one(&chunk, cfs, sink, ropts.key_range.as_ref())?;
                per_family[chunk.family as usize].fetch_add(n, Ordering::Relaxed);
                let p = SavepointProgress {
                    chunks_done: done.fetch_add(1, Ordering::Relaxed) + 1,
                    chunks_total: chunks.len() as u64,
                    entries: per_family.iter().map(|a| a.load(Ordering::Relaxed)).sum(),
                    bytes: bytes.fetch_add(b, Ordering::Relaxed) + b,
                };
                super::report(ropts.progress.as_ref(), &p, "restore")
            })();
            if let Err(e) = step {
                stop.store(true, Ordering::Relaxed);
                failure.lock().get_or_insert(e);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    Ok(Counts { per_family: per_family.iter().map(|a| a.load(Ordering::Relaxed)).collect(), bytes: bytes.into_inner() })
}

/// Applies the entries of one chunk that fall in `range`; returns `(entries, bytes)`.
fn apply_one(
    chunk: &Chunk,
    cfs: &[Option<ColumnFamily>],
    sink: &dyn RestoreSink,
    range: Option<&KeyRange>,
) -> Result<(u64, u64)> {
    let Some(Some(cf)) = cfs.get(chunk.family as usize) else {
        return Err(Error::InvalidArgument(format!("chunk of family {} was not selected", chunk.family)));
    };
    let entries: &[(bytes::Bytes, bytes::Bytes)] = match range {
        None => &chunk.entries,
        Some(r) => {
            // Sorted: the entries in range are one contiguous run.
            let lo = chunk.entries.partition_point(|(k, _)| r.start.as_deref().is_some_and(|s| k.as_ref() < s));
            let hi = chunk.entries.partition_point(|(k, _)| r.end.as_deref().is_none_or(|e| k.as_ref() < e));
            &chunk.entries[lo..hi.max(lo)]
        }
    };
    if !entries.is_empty() {
        sink.add_chunk(cf, entries)?;
    }
    let bytes: usize = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
    Ok((entries.len() as u64, bytes as u64))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn meta(family: u32, first: &[u8], last: &[u8]) -> ChunkMeta {
        ChunkMeta { family, entries: 1, first_key: first.to_vec(), last_key: last.to_vec(), ..Default::default() }
    }

    #[test]
    fn select_chunks_by_family_and_range() {
        let chunks = [meta(0, b"a", b"c"), meta(0, b"d", b"f"), meta(1, b"a", b"z")];
        assert_eq!(select_chunks(&chunks, &[Some(0), Some(1)], None), vec![0, 1, 2]);
        assert_eq!(select_chunks(&chunks, &[None, Some(1)], None), vec![2]);
        let r = KeyRange { start: Some(b"c".to_vec()), end: Some(b"d".to_vec()) };
        assert_eq!(select_chunks(&chunks, &[Some(0), None], Some(&r)), vec![0]);
        let r = KeyRange { start: Some(b"d".to_vec()), end: None };
        assert_eq!(select_chunks(&chunks, &[Some(0), None], Some(&r)), vec![1]);
        let r = KeyRange { start: None, end: Some(b"d".to_vec()) };
        assert_eq!(select_chunks(&chunks, &[Some(0), None], Some(&r)), vec![0]);
    }

    #[test]
    fn table_ids_keep_default_at_zero() {
        let plan = vec![Some("a".to_string()), None, Some("default".to_string()), Some("b".to_string())];
        assert_eq!(table_cf_ids(&plan), [Some(1), None, Some(0), Some(2)].map(|i| i.map(CfId::new)).to_vec());
    }

    #[test]
    fn plan_families_checks_names() {
        let src = vec!["default".to_string(), "meta".to_string()];
        assert_eq!(plan_families(&src, None).unwrap(), vec![Some("default".into()), Some("meta".into())]);
        let m = [("meta".to_string(), "default".to_string())];
        assert_eq!(plan_families(&src, Some(&m)).unwrap(), vec![None, Some("default".into())]);
        let dup = [("meta".to_string(), "x".to_string()), ("default".to_string(), "x".to_string())];
        assert!(matches!(plan_families(&src, Some(&dup)), Err(Error::InvalidArgument(_))));
        let missing = [("nope".to_string(), "x".to_string())];
        assert!(matches!(plan_families(&src, Some(&missing)), Err(Error::ColumnFamilyNotFound(_))));
    }
}
