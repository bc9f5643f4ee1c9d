//! The workloads (db_bench names) and the runner that measures one engine on each in turn.
//!
//! Per engine, in order: `fillseq` and `fillrandom` start from an empty database; `overwrite`
//! rewrites random keys of the `fillrandom` database; `readrandom` flushes, closes and reopens
//! it so reads go through the files; `readseq`, `seekrandom` (seek + 10 next, a fresh iterator
//! per seek) and `readwhilewriting` (1 reader, 1 writer) read it. `fillsync-<T>` starts empty
//! and writes `sync_num` keys with an fsync per write from T threads (group commit).
//! `checkpoint` fills `checkpoint_bytes` of 4 KiB values (distinct keys in scattered order) in
//! batches of 64, then times one
//! checkpoint (the engine's own, or a copy of its directory) and opens it to check it.
//! `ingest` builds external tables of `num` sorted keys with the engine's SST writer (files of
//! 64 MiB), ingests them into an empty database by moving (hard-linking) them, and times both
//! against writing the same bytes with `std::fs` and one fsync per file.
//!
//! Invariants: a read workload whose database has not been filled fills it first, unmeasured;
//! write amplification is bytes that reach the disk (/proc/self/io `write_bytes` minus
//! `cancelled_write_bytes`) over user bytes during the timed part, except `readrandom`, whose
//! figure covers everything since its database's fill began (fill, overwrite, flush, close,
//! reopen, reads) over the user bytes written since then; space amplification is the directory
//! size over the live (distinct) key + value bytes. Values come from [`ValueGen`] (`--value-kind`).
//!
//! Thread safety: the multi-threaded workloads share one `&dyn Engine`.

use super::memory::{AnonSampler, peak_rss, reset_peak_rss};
use super::{CheckpointHow, Engine, EngineKind, Res};
use crate::{Histogram, KeyGen, ValueGen, ValueKind, dir_size, proc_write_bytes};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One workload of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    FillSeq,
    FillRandom,
    Overwrite,
    ReadRandom,
    ReadSeq,
    SeekRandom,
    ReadWhileWriting,
    /// Synced random writes from this many threads.
    FillSync(usize),
    Checkpoint,
    /// External tables built with the engine's SST writer, then ingested.
    Ingest,
    /// One small external table ingested while a manual full compaction runs and a writer puts.
    IngestBeside,
}

impl Workload {
    pub const ALL: [Workload; 13] = [
        Workload::FillSeq,
        Workload::FillRandom,
        Workload::Overwrite,
        Workload::ReadRandom,
        Workload::ReadSeq,
        Workload::SeekRandom,
        Workload::ReadWhileWriting,
        Workload::FillSync(1),
        Workload::FillSync(4),
        Workload::FillSync(16),
        Workload::Checkpoint,
        Workload::Ingest,
        Workload::IngestBeside,
    ];

    pub fn name(self) -> String {
        match self {
            Workload::FillSeq => "fillseq".into(),
            Workload::FillRandom => "fillrandom".into(),
            Workload::Overwrite => "overwrite".into(),
            Workload::ReadRandom => "readrandom".into(),
            Workload::ReadSeq => "readseq".into(),
            Workload::SeekRandom => "seekrandom".into(),
            Workload::ReadWhileWriting => "readwhilewriting".into(),
            Workload::FillSync(t) => format!("fillsync-{t}"),
            Workload::Checkpoint => "checkpoint".into(),
            Workload::Ingest => "ingest".into(),
            Workload::IngestBeside => "ingest-beside".into(),
        }
    }

    /// Parses a comma-separated list; `fillsync` alone means all three thread counts.
    pub fn parse_list(s: &str) -> Result<Vec<Workload>, String> {
        let mut out = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if w == "all" {
                out.extend(Self::ALL);
            } else if w == "fillsync" {
                out.extend([Workload::FillSync(1), Workload::FillSync(4), Workload::FillSync(16)]);
            } else if let Some(t) = w.strip_prefix("fillsync-") {
                let t: usize = t.parse().map_err(|_| format!("bad thread count in {w:?}"))?;
                out.push(Workload::FillSync(t.max(1)));
            } else {
                let found = Self::ALL.into_iter().find(|k| k.name() == w);
                out.push(found.ok_or_else(|| format!("unknown workload {w:?}"))?);
            }
        }
        Ok(out)
    }
}

/// Sizes and paths shared by every engine's run.
#[derive(Debug, Clone)]
pub struct Config {
    pub num: u64,
    pub key_size: usize,
    pub value_size: usize,
    /// What the values look like (random or half compressible).
    pub value_kind: ValueKind,
    /// Strata's table compression (`--strata-compression`).
    pub strata_compression: super::StrataCompression,
    pub cache_bytes: usize,
    /// Writes in each `fillsync-<T>` workload (all threads together).
    pub sync_num: u64,
    /// Live bytes the `checkpoint` workload fills before checkpointing.
    pub checkpoint_bytes: u64,
    /// Entries per write batch in the fills (1 = one put per write, as db_bench).
    pub batch: usize,
    /// Directory the databases are created under (one subdirectory per engine).
    pub dir: PathBuf,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
}

impl Config {
    /// What every engine is opened with.
    pub fn open_cfg(&self) -> super::OpenCfg {
        super::OpenCfg { cache_bytes: self.cache_bytes, strata_compression: self.strata_compression }
    }
}

/// The measurements of one (engine, workload) pair (serialized between the engine's process
/// and the parent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub engine: EngineKind,
    pub workload: String,
    pub ops: u64,
    pub secs: f64,
    /// Key + value bytes written or read.
    pub bytes: u64,
    /// Latency percentiles p50, p99, p99.9 in microseconds (`None`: not sampled).
    pub lat_us: Option<[f64; 3]>,
    pub write_amp: Option<f64>,
    pub space_amp: Option<f64>,
    /// Peak `VmHWM`: every resident page, memory-mapped table pages included.
    pub peak_rss: Option<u64>,
    /// Peak anonymous resident memory (sampled; see `memory.rs`).
    pub peak_anon: Option<u64>,
    pub note: String,
}

impl Cell {
    pub fn ops_per_sec(&self) -> f64 {
        if self.secs > 0.0 { self.ops as f64 / self.secs } else { 0.0 }
    }

    pub fn mb_per_sec(&self) -> f64 {
        if self.secs > 0.0 { self.bytes as f64 / self.secs / 1e6 } else { 0.0 }
    }
}

const TICK: u64 = 1024;
const CHECKPOINT_VALUE: usize = 4096;
const CHECKPOINT_BATCH: u64 = 64;

/// Runs `workloads` on one engine in turn, calling `on_cell` after each.
pub fn run_engine(
    kind: EngineKind,
    cfg: &Config,
    workloads: &[Workload],
    mut on_cell: impl FnMut(&Cell),
) -> Res<Vec<Cell>> {
    let mut r = Runner {
        kind,
        cfg,
        dir: cfg.dir.join(kind.name()),
        keys: KeyGen::new(cfg.key_size, cfg.num),
        values: ValueGen::new(cfg.value_kind, cfg.value_size),
        db: None,
        live: Vec::new(),
        since_fill: None,
    };
    let mut cells = Vec::new();
    for &w in workloads {
        reset_peak_rss();
        let anon = AnonSampler::start();
        let mut cell = r.run(w)?;
        cell.peak_rss = peak_rss();
        cell.peak_anon = anon.finish();
        on_cell(&cell);
        cells.push(cell);
    }
    if let Some(db) = r.db.take() {
        db.close()?;
    }
    let _ = std::fs::remove_dir_all(&r.dir);
    Ok(cells)
}

struct Runner<'a> {
    kind: EngineKind,
    cfg: &'a Config,
    dir: PathBuf,
    keys: KeyGen,
    values: ValueGen,
    db: Option<Box<dyn Engine>>,
    /// Which key indices hold a value (empty: the database is not filled).
    live: Vec<bool>,
    /// Disk bytes of the process and user bytes written when the current database's fill
    /// began, and user bytes written into it since (for `readrandom`'s whole-life figure).
    since_fill: Option<(Option<u64>, u64)>,
}

impl Runner<'_> {
    fn bar(&self, w: Workload, len: u64) -> ProgressBar {
        if !self.cfg.progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        let style =
            ProgressStyle::with_template("{prefix:>26} [{bar:30}] {human_pos}/{human_len} {per_sec:>14} eta {eta}")
                .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            pb.set_style(style);
        }
        pb.set_prefix(format!("{} {}", self.kind.name(), w.name()));
        pb
    }

    fn fresh(&mut self) -> Res<&dyn Engine> {
        if let Some(db) = self.db.take() {
            db.close()?;
        }
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)?;
        }
        self.live.clear();
        self.since_fill = None;
        self.db = Some(self.kind.open(&self.dir, &self.cfg.open_cfg())?);
        self.engine()
    }

    fn engine(&self) -> Res<&dyn Engine> {
        self.db.as_deref().ok_or_else(|| "database not open".into())
    }

    fn live_bytes(&self) -> u64 {
        let n = self.live.iter().filter(|&&b| b).count() as u64;
        n * (self.keys.key_size() + self.values.size()) as u64
    }

    fn cell(&self, w: Workload, ops: u64, secs: f64, bytes: u64, hist: Histogram) -> Cell {
        let engine = self.kind;
        let lat_us =
            (!hist.is_empty()).then(|| [hist.percentile_us(50.0), hist.percentile_us(99.0), hist.percentile_us(99.9)]);
        Cell {
            engine,
            workload: w.name(),
            ops,
            secs,
            bytes,
            lat_us,
            write_amp: None,
            space_amp: None,
            peak_rss: None,
            peak_anon: None,
            note: String::new(),
        }
    }

    fn run(&mut self, w: Workload) -> Res<Cell> {
        let needs_data = matches!(
            w,
            Workload::Overwrite
                | Workload::ReadRandom
                | Workload::ReadSeq
                | Workload::SeekRandom
                | Workload::ReadWhileWriting
        );
        let mut prepared = String::new();
        if needs_data && self.live.is_empty() {
            self.fill(Workload::FillRandom, true)?;
            prepared = "; database prepared by an unmeasured fillrandom".into();
        }
        let mut cell = match w {
            Workload::FillSeq => self.fill(w, false)?,
            Workload::FillRandom => self.fill(w, true)?,
            Workload::Overwrite => self.write_random(w)?,
            Workload::ReadRandom => {
                if let Some(db) = self.db.take() {
                    db.flush()?;
                    db.close()?;
                }
                self.db = Some(self.kind.open(&self.dir, &self.cfg.open_cfg())?);
                let mut c = self.read_random(w, None)?;
                if let Some((Some(w0), user)) = self.since_fill {
                    let written = proc_write_bytes().map(|b| b.saturating_sub(w0));
                    c.write_amp = written.map(|x| x as f64 / user.max(1) as f64);
                }
                c.note = format!(
                    "after flush + close + reopen; w-amp = disk bytes since the fill began / user bytes written; {}",
                    c.note
                );
                c
            }
            Workload::ReadSeq => self.read_seq(w)?,
            Workload::SeekRandom => self.seek_random(w)?,
            Workload::ReadWhileWriting => self.read_while_writing(w)?,
            Workload::FillSync(t) => self.fill_sync(w, t)?,
            Workload::Checkpoint => self.checkpoint(w)?,
            Workload::Ingest => self.ingest(w)?,
            Workload::IngestBeside => self.ingest_beside(w)?,
        };
        cell.note.push_str(&prepared);
        Ok(cell)
    }

    /// A fresh database filled with `num` keys (sequential or random), flush included.
    fn fill(&mut self, w: Workload, random: bool) -> Res<Cell> {
        self.fresh()?;
        self.live = vec![false; self.cfg.num as usize];
        self.since_fill = Some((proc_write_bytes(), 0));
        self.write_keys(w, random)
    }

    fn write_random(&mut self, w: Workload) -> Res<Cell> {
        self.write_keys(w, true)
    }

    fn write_keys(&mut self, w: Workload, random: bool) -> Res<Cell> {
        let (num, batch) = (self.cfg.num, self.cfg.batch.max(1) as u64);
        // Overwrite uses another stretch of the random sequence than fillrandom.
        let salt = if w == Workload::Overwrite { num } else { 0 };
        let index = |i: u64| if random { crate::mix(i + salt) % num } else { i };
        let pb = self.bar(w, num);
        let db = self.engine()?;
        let mut hist = Histogram::default();
        let w0 = proc_write_bytes();
        let start = Instant::now();
        let mut items = Vec::with_capacity(batch as usize);
        let mut i = 0;
        while i < num {
            let n = batch.min(num - i);
            // Keys (and batches) are built before the clock starts, as the read workloads do.
            if n == 1 {
                let k = self.keys.key(index(i));
                let v = self.values.value(index(i) + salt);
                let t = Instant::now();
                db.put(&k, v, false)?;
                hist.record(t.elapsed());
            } else {
                items.clear();
                items
                    .extend((i..i + n).map(|j| (self.keys.key(index(j)), self.values.value(index(j) + salt).to_vec())));
                let t = Instant::now();
                db.write_batch(&items, false)?;
                hist.record(t.elapsed());
            }
            i += n;
            if i % TICK < n {
                pb.set_position(i);
            }
        }
        db.flush()?;
        let secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        for j in 0..num {
            if let Some(slot) = self.live.get_mut(index(j) as usize) {
                *slot = true;
            }
        }
        let user = num * (self.keys.key_size() + self.values.size()) as u64;
        if let Some((_, u)) = self.since_fill.as_mut() {
            *u += user;
        }
        let mut c = self.cell(w, num, secs, user, hist);
        let written = proc_write_bytes().zip(w0).map(|(a, b)| a.saturating_sub(b));
        c.write_amp = written.map(|x| x as f64 / user as f64);
        c.space_amp = Some(dir_size(&self.dir) as f64 / self.live_bytes().max(1) as f64);
        c.note = format!("batch {batch}; flush included");
        Ok(c)
    }

    fn read_random(&self, w: Workload, pb: Option<ProgressBar>) -> Res<Cell> {
        let num = self.cfg.num;
        let pb = pb.unwrap_or_else(|| self.bar(w, num));
        let db = self.engine()?;
        let mut hist = Histogram::default();
        let (mut found, mut bytes) = (0u64, 0u64);
        let start = Instant::now();
        for i in 0..num {
            let k = self.keys.random_key(i.wrapping_mul(7919).wrapping_add(3 * num));
            let t = Instant::now();
            if let Some(len) = db.get(&k)? {
                found += 1;
                bytes += (k.len() + len) as u64;
            }
            hist.record(t.elapsed());
            if i % TICK == 0 {
                pb.set_position(i);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let mut c = self.cell(w, num, secs, bytes, hist);
        c.note = format!("{found} of {num} found");
        Ok(c)
    }

    fn read_seq(&self, w: Workload) -> Res<Cell> {
        let db = self.engine()?;
        let start = Instant::now();
        let (n, bytes) = db.scan(b"", usize::MAX)?;
        let secs = start.elapsed().as_secs_f64();
        let expected = self.live.iter().filter(|&&b| b).count() as u64;
        if n < expected {
            return Err(format!("{}: readseq saw {n} entries, expected at least {expected}", self.kind).into());
        }
        let mut c = self.cell(w, n, secs, bytes, Histogram::default());
        c.note = "one iterator over every key".into();
        Ok(c)
    }

    fn seek_random(&self, w: Workload) -> Res<Cell> {
        let num = (self.cfg.num / 10).max(1);
        let pb = self.bar(w, num);
        let db = self.engine()?;
        let mut hist = Histogram::default();
        let mut bytes = 0u64;
        let start = Instant::now();
        for i in 0..num {
            let k = self.keys.random_key(i.wrapping_mul(104_729));
            let t = Instant::now();
            bytes += db.scan(&k, 10)?.1;
            hist.record(t.elapsed());
            if i % TICK == 0 {
                pb.set_position(i);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let mut c = self.cell(w, num, secs, bytes, hist);
        c.note = "seek + 10 next, fresh iterator per seek".into();
        Ok(c)
    }

    fn read_while_writing(&self, w: Workload) -> Res<Cell> {
        let db = self.engine()?;
        let stop = AtomicBool::new(false);
        let (reads, writes) = std::thread::scope(|s| {
            let writer = s.spawn(|| -> Res<u64> {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    db.put(&self.keys.random_key(n.wrapping_mul(31) + 17), self.values.value(n), false)?;
                    n += 1;
                }
                Ok(n)
            });
            let reads = self.read_random(w, None);
            stop.store(true, Ordering::Relaxed);
            let writes = writer.join().map_err(|_| "writer thread panicked".into()).and_then(|r| r);
            (reads, writes)
        });
        let mut c = reads?;
        let writes = writes?;
        c.note = format!("{}; {writes} writes by 1 writer meanwhile", c.note);
        Ok(c)
    }

    fn fill_sync(&mut self, w: Workload, threads: usize) -> Res<Cell> {
        let total = self.cfg.sync_num.max(threads as u64);
        let pb = self.bar(w, total);
        self.fresh()?;
        let db = self.engine()?;
        let w0 = proc_write_bytes();
        let start = Instant::now();
        let hists: Vec<Res<Histogram>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|t| {
                    let pb = pb.clone();
                    let (keys, values) = (&self.keys, &self.values);
                    s.spawn(move || -> Res<Histogram> {
                        let mut hist = Histogram::default();
                        let mut i = t;
                        while i < total {
                            let k = keys.random_key(i.wrapping_add(7 * total));
                            let t0 = Instant::now();
                            db.put(&k, values.value(i), true)?;
                            hist.record(t0.elapsed());
                            pb.inc(1);
                            i += threads as u64;
                        }
                        Ok(hist)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().map_err(|_| "writer thread panicked".into()).and_then(|r| r)).collect()
        });
        let secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let mut hist = Histogram::default();
        for h in hists {
            hist.merge(&h?)?;
        }
        let user = total * (self.keys.key_size() + self.values.size()) as u64;
        let mut c = self.cell(w, total, secs, user, hist);
        let written = proc_write_bytes().zip(w0).map(|(a, b)| a.saturating_sub(b));
        c.write_amp = written.map(|x| x as f64 / user as f64);
        c.note = format!("{threads} writer threads, fsync per write");
        // The next read workload needs a filled database, not this one.
        self.live.clear();
        Ok(c)
    }

    fn checkpoint(&mut self, w: Workload) -> Res<Cell> {
        const CHECKPOINT_REPEATS: usize = 11;
        let n = (self.cfg.checkpoint_bytes / (self.keys.key_size() + CHECKPOINT_VALUE) as u64).max(1);
        let keys = KeyGen::new(self.cfg.key_size, n);
        let values = ValueGen::new(self.cfg.value_kind, CHECKPOINT_VALUE);
        let pb = self.bar(w, n);
        pb.set_message("filling");
        self.fresh()?;
        let db = self.engine()?;
        let fill_start = Instant::now();
        write_in_batches(db, n, CHECKPOINT_BATCH, &pb, |j| (keys.key(scatter(j, n)), values.value(j).to_vec()))?;
        db.flush()?;
        let fill_secs = fill_start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let live = n * (keys.key_size() + CHECKPOINT_VALUE) as u64;
        let target = self.cfg.dir.join(format!("{}-checkpoint", self.kind.name()));
        if target.exists() {
            std::fs::remove_dir_all(&target)?;
        }
        let w0 = proc_write_bytes();
        let start = Instant::now();
        let how = db.checkpoint(&target)?;
        let first_secs = start.elapsed().as_secs_f64();
        let written = proc_write_bytes().zip(w0).map(|(a, b)| a.saturating_sub(b));
        let mut hist = Histogram::default();
        hist.record(std::time::Duration::from_secs_f64(first_secs));
        let space = dir_size(&self.dir) as f64 / live.max(1) as f64;
        self.verify_checkpoint(&target, &keys, n)?;
        std::fs::remove_dir_all(&target)?;
        // One sample is noise (background compaction, page-cache writeback): native checkpoints
        // are repeated and the median reported. Directory copies take seconds; one is enough.
        let mut samples = vec![first_secs];
        if how == CheckpointHow::Native {
            for _ in 1..CHECKPOINT_REPEATS {
                let start = Instant::now();
                db.checkpoint(&target)?;
                let s = start.elapsed().as_secs_f64();
                hist.record(std::time::Duration::from_secs_f64(s));
                samples.push(s);
                std::fs::remove_dir_all(&target)?;
            }
        }
        samples.sort_by(f64::total_cmp);
        let secs = samples[samples.len() / 2];
        let mut c = self.cell(w, 1, secs, live, hist);
        c.write_amp = written.map(|x| x as f64 / live.max(1) as f64);
        c.space_amp = Some(space);
        c.note = format!(
            "{} of {:.2} GiB live ({n} x {} B values, filled in {fill_secs:.1} s); median of {} (first {:.2} ms); w-amp = bytes written by the first checkpoint / live bytes",
            match how {
                CheckpointHow::Native => "native checkpoint",
                CheckpointHow::CopiedDirectory => "directory copy",
            },
            live as f64 / f64::from(1u32 << 30),
            CHECKPOINT_VALUE,
            samples.len(),
            first_secs * 1e3
        );
        self.live.clear();
        Ok(c)
    }

    /// Builds external tables of `num` sorted keys (64 MiB each), ingests them into a fresh
    /// database by moving them, and times both; `std::fs` writes of the same bytes (one fsync
    /// per file) give the raw bandwidth of this run.
    fn ingest(&mut self, w: Workload) -> Res<Cell> {
        const FILE_BYTES: u64 = 64 << 20;
        let num = self.cfg.num;
        let entry = (self.keys.key_size() + self.values.size()) as u64;
        let per_file = (FILE_BYTES / entry.max(1)).max(1);
        let files = num.div_ceil(per_file).max(1);
        let ext = self.cfg.dir.join(format!("{}-external", self.kind.name()));
        if ext.exists() {
            std::fs::remove_dir_all(&ext)?;
        }
        std::fs::create_dir_all(&ext)?;
        let raw_secs = raw_write_secs(&ext, &self.keys, &self.values, num, per_file)?;
        self.fresh()?;
        let db = self.engine()?;
        let w0 = proc_write_bytes();
        let start = Instant::now();
        let mut paths = Vec::new();
        for f in 0..files {
            let path = ext.join(format!("{f:06}.sst"));
            let (lo, hi) = (f * per_file, ((f + 1) * per_file).min(num));
            let mut items = (lo..hi).map(|i| (self.keys.key(i), self.values.value(i)));
            if !db.write_external(&path, &mut items)? {
                std::fs::remove_dir_all(&ext)?;
                return Err(format!("{} has no SST writer: ingest is not measured", self.kind).into());
            }
            paths.push(path);
        }
        let write_secs = start.elapsed().as_secs_f64();
        let t = Instant::now();
        db.ingest(&paths)?;
        let ingest_secs = t.elapsed().as_secs_f64();
        let written = proc_write_bytes().zip(w0).map(|(a, b)| a.saturating_sub(b));
        let last = self.keys.key(num - 1);
        if db.get(&last)? != Some(self.values.size()) {
            return Err(format!("{}: the ingested data lacks the last key", self.kind).into());
        }
        let user = num * entry;
        let mut hist = Histogram::default();
        hist.record(std::time::Duration::from_secs_f64(ingest_secs));
        let mut c = self.cell(w, num, write_secs + ingest_secs, user, hist);
        c.write_amp = written.map(|x| x as f64 / user.max(1) as f64);
        c.space_amp = Some(dir_size(&self.dir) as f64 / user.max(1) as f64);
        c.note = format!(
            "{files} file(s): write {write_secs:.2} s ({:.0} MB/s, {:.2}x raw std::fs write + fsync {:.0} MB/s), ingest (move) {:.1} ms",
            user as f64 / write_secs / 1e6,
            raw_secs / write_secs,
            user as f64 / raw_secs / 1e6,
            ingest_secs * 1e3
        );
        let _ = std::fs::remove_dir_all(&ext);
        self.live.clear();
        Ok(c)
    }

    /// `num` random keys written and flushed; then a manual full compaction starts in one
    /// thread, a writer puts without pause in another, and 100 ms into the compaction one
    /// table of 1,000 keys beyond every written key is ingested (moved in). Measured: the
    /// ingestion (the cell's time), the writer's slowest put while it ran, and the compaction.
    fn ingest_beside(&mut self, w: Workload) -> Res<Cell> {
        const EXTERNAL_KEYS: u64 = 1000;
        let num = self.cfg.num;
        let ext = self.cfg.dir.join(format!("{}-external", self.kind.name()));
        if ext.exists() {
            std::fs::remove_dir_all(&ext)?;
        }
        std::fs::create_dir_all(&ext)?;
        self.fresh()?;
        let db = self.engine()?;
        // The external table first: an engine without an SST writer is refused before the fill.
        let path = ext.join("beside.sst");
        let mut external = (num..num + EXTERNAL_KEYS).map(|i| (self.keys.key(i), self.values.value(i)));
        if !db.write_external(&path, &mut external)? {
            std::fs::remove_dir_all(&ext)?;
            return Err(format!("{} has no SST writer: ingest-beside is not measured", self.kind).into());
        }
        let pb = self.bar(w, num);
        pb.set_message("filling");
        write_in_batches(db, num, 1000, &pb, |j| (self.keys.random_key(j), self.values.value(j).to_vec()))?;
        db.flush()?;
        pb.finish_and_clear();
        let done = std::sync::atomic::AtomicBool::new(false);
        let (ingest_secs, slowest_put, compaction_secs) = std::thread::scope(|s| -> Res<(f64, f64, f64)> {
            let compactor = s.spawn(|| {
                let t = Instant::now();
                db.compact_all().map(|()| t.elapsed().as_secs_f64()).map_err(|e| e.to_string())
            });
            std::thread::sleep(std::time::Duration::from_millis(100));
            let writer = s.spawn(|| {
                let mut slowest = 0f64;
                let mut i = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    db.put(&self.keys.key(i % num), self.values.value(i), false).map_err(|e| e.to_string())?;
                    slowest = slowest.max(t.elapsed().as_secs_f64());
                    i += 1;
                }
                Ok::<f64, String>(slowest)
            });
            let t = Instant::now();
            let ingested = db.ingest(std::slice::from_ref(&path));
            let ingest_secs = t.elapsed().as_secs_f64();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let slowest = writer.join().map_err(|_| "writer panicked")??;
            let compaction = compactor.join().map_err(|_| "compactor panicked")??;
            ingested?;
            Ok((ingest_secs, slowest, compaction))
        })?;
        if db.get(&self.keys.key(num + EXTERNAL_KEYS - 1))? != Some(self.values.size()) {
            return Err(format!("{}: the ingested table's last key is missing", self.kind).into());
        }
        let mut hist = Histogram::default();
        hist.record(std::time::Duration::from_secs_f64(ingest_secs));
        let entry = (self.keys.key_size() + self.values.size()) as u64;
        let mut c = self.cell(w, 1, ingest_secs, EXTERNAL_KEYS * entry, hist);
        c.note = format!(
            "ingest (move) of {EXTERNAL_KEYS} keys {:.1} ms, 100 ms into a manual full compaction of {num} keys that took {:.2} s; slowest put meanwhile {:.1} ms",
            ingest_secs * 1e3,
            compaction_secs,
            slowest_put * 1e3
        );
        let _ = std::fs::remove_dir_all(&ext);
        self.live.clear();
        Ok(c)
    }

    /// Opens the checkpoint in `target` and checks that it holds the last key written.
    fn verify_checkpoint(&self, target: &Path, keys: &KeyGen, n: u64) -> Res<()> {
        let cp = self.kind.open(target, &super::OpenCfg { cache_bytes: 1 << 20, ..self.cfg.open_cfg() })?;
        let last = keys.key(scatter(n - 1, n));
        let got = cp.get(&last)?;
        cp.close()?;
        if got != Some(CHECKPOINT_VALUE) {
            return Err(format!("{}: the checkpoint lacks the last key written", self.kind).into());
        }
        Ok(())
    }
}

/// Writes entries `item(0..n)` in unsynced batches of `batch`, advancing `pb`.
fn write_in_batches(
    db: &dyn Engine,
    n: u64,
    batch: u64,
    pb: &ProgressBar,
    item: impl Fn(u64) -> (Vec<u8>, Vec<u8>),
) -> Res<()> {
    let mut items = Vec::with_capacity(batch as usize);
    let mut i = 0;
    while i < n {
        let m = batch.max(1).min(n - i);
        items.clear();
        items.extend((i..i + m).map(&item));
        db.write_batch(&items, false)?;
        i += m;
        pb.set_position(i);
    }
    Ok(())
}

/// Seconds to write the key and value bytes of `num` entries to files of `per_file` entries
/// with 1 MiB appends and one fsync per file (the raw bandwidth the SST writers are held to).
fn raw_write_secs(dir: &Path, keys: &KeyGen, values: &ValueGen, num: u64, per_file: u64) -> Res<f64> {
    use std::io::Write as _;
    let start = Instant::now();
    let mut buf = Vec::with_capacity(1 << 20);
    for f in 0..num.div_ceil(per_file.max(1)) {
        let path = dir.join(format!("raw-{f}"));
        let mut file = std::fs::File::create(&path)?;
        for i in f * per_file..((f + 1) * per_file).min(num) {
            buf.extend_from_slice(&keys.key(i));
            buf.extend_from_slice(values.value(i));
            if buf.len() >= 1 << 20 {
                file.write_all(&buf)?;
                buf.clear();
            }
        }
        file.write_all(&buf)?;
        buf.clear();
        file.sync_all()?;
        drop(file);
        std::fs::remove_file(&path)?;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// A permutation of `[0, n)`: step `j` of a walk by a prime larger than any `n` used here, so
/// every key is written once, in random-looking order.
fn scatter(j: u64, n: u64) -> u64 {
    const P: u128 = 2_305_843_009_213_693_951; // 2^61 - 1, prime
    ((u128::from(j) * P) % u128::from(n.max(1))) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of distinct values of `f(0..n)` within `[0, n)`.
    fn distinct(n: u64, f: impl Fn(u64) -> u64) -> u64 {
        let mut seen = vec![false; n as usize];
        for j in 0..n {
            if let Some(s) = seen.get_mut(f(j) as usize) {
                *s = true;
            }
        }
        seen.iter().filter(|&&b| b).count() as u64
    }

    #[test]
    fn workload_lists_parse() {
        let all = Workload::parse_list("all").unwrap();
        assert_eq!(all.len(), 13);
        assert_eq!(Workload::parse_list("fillseq, fillsync").unwrap().len(), 4);
        assert_eq!(Workload::parse_list("fillsync-8").unwrap(), vec![Workload::FillSync(8)]);
        assert!(Workload::parse_list("fillbogus").is_err());
        for w in all {
            assert_eq!(Workload::parse_list(&w.name()).unwrap(), vec![w]);
        }
    }

    #[test]
    fn distinct_counts_collisions() {
        assert_eq!(distinct(10, |j| j % 3), 3);
        assert_eq!(distinct(10, |j| j), 10);
        for n in [1u64, 7, 1000, 65_280] {
            assert_eq!(distinct(n, |j| scatter(j, n)), n);
        }
    }

    #[test]
    fn every_workload_runs_on_strata() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            num: 2000,
            key_size: 16,
            value_size: 100,
            value_kind: ValueKind::Compressible,
            strata_compression: super::super::StrataCompression::ZstdBottom,
            cache_bytes: 1 << 20,
            sync_num: 32,
            checkpoint_bytes: 256 << 10,
            batch: 1,
            dir: dir.path().to_path_buf(),
            progress: false,
        };
        let cells = run_engine(EngineKind::Strata, &cfg, &Workload::ALL, |_| {}).unwrap();
        assert_eq!(cells.len(), Workload::ALL.len());
        let by = |n: &str| cells.iter().find(|c| c.workload == n).unwrap();
        assert_eq!(by("fillseq").ops, 2000);
        assert!(by("fillseq").space_amp.unwrap() > 0.5);
        // fillseq then fillrandom + overwrite: readrandom finds most keys but not all (random with repeats).
        let rr = by("readrandom");
        assert!(rr.note.contains("found") && rr.bytes > 0);
        // readseq sees exactly the distinct keys of fillrandom + overwrite.
        assert!(by("readseq").ops > 1000 && by("readseq").ops <= 2000);
        assert_eq!(by("seekrandom").ops, 200);
        assert_eq!(by("fillsync-16").ops, 32);
        assert_eq!(by("checkpoint").ops, 1);
        assert!(by("checkpoint").note.contains("native"));
        assert!(by("ingest").note.contains("ingest (move)") && by("ingest").ops == 2000);
        assert!(by("ingest-beside").note.contains("into a manual full compaction"));
        assert!(by("readrandom").note.contains("since the fill began"));
        assert!(cells.iter().all(|c| c.secs > 0.0));
    }
}
