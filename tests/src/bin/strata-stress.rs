//! `strata-stress`: N threads of random operations over several column families, checked
//! against an expected-state oracle; also the process the `strata-crashtest` driver kills.
//!
//! Each thread owns its keys and writes the deterministic stream of `strata_tests::stress::ops`
//! (puts, deletes, batches across families, ingestion of tables built on the fly), each write
//! also setting the thread's marker. The oracle is the model of every thread behind a mutex
//! the owner holds while its write is in flight, so a reader holding it knows the one value a
//! read may return; snapshot reads are checked against a copy of the model taken with the
//! snapshot while the owner keeps writing. Between writes threads read (gets, bounded scans
//! both ways, snapshot reads), flush, compact ranges, and thread 0 takes checkpoints, opens
//! them and verifies them. On start the tool verifies the database it finds (after a crash:
//! markers at least the acknowledged writes, contents equal to the replay) and every
//! checkpoint left by earlier runs.
//!
//! Invariants: "ack T N" is printed only after write N of thread T returned `Ok` and was synced
//! (a synced batch or an ingestion); every failure prints the seed and a command reproducing it
//! and exits with status 1.
//!
//! Thread safety: worker threads share the `Db`, the models (one mutex each) and stdout.

use clap::Parser;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use strata::{
    ColumnFamily, Db, IngestOptions, IngestSpec, Options, ReadOptions, SstFileWriter, WriteBatch, WriteOptions,
};
use strata_checkpoint::{Checkpoint, CheckpointOptions};
use strata_tests::stress::config::{Knobs, describe, random_options};
use strata_tests::stress::ops::{CFS, META_CF, Model, Op, Shape, key, marker_key, op_at, value};
use strata_tests::stress::rng::{Rng, hash};
use strata_tests::stress::verify::{cf_handles, check_range, show, verify_db};

/// Randomized stress test of a Strata database with an expected-state oracle.
#[derive(Parser, Debug, Clone)]
#[command(name = "strata-stress")]
struct Args {
    /// Database directory (created if missing; an existing one is verified and continued).
    #[arg(long)]
    db: PathBuf,
    /// Seed of the operation stream (must stay the same for one directory).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed of the options and knobs (may change between runs on one directory); default: seed.
    #[arg(long)]
    opts_seed: Option<u64>,
    /// Writer threads (must stay the same for one directory).
    #[arg(long, default_value_t = 4)]
    threads: u32,
    /// Keys per thread per column family (must stay the same for one directory).
    #[arg(long, default_value_t = 200)]
    keys: u32,
    /// Writes per thread in this run; 0 runs until killed.
    #[arg(long, default_value_t = 2000)]
    ops: u64,
    /// Thread 0 takes, opens and verifies a checkpoint every this many of its writes; 0: never.
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Lines "THREAD WRITE": the database must hold at least these writes (crash checks).
    #[arg(long)]
    acked_file: Option<PathBuf>,
    /// Print "ack THREAD WRITE" after each synced write.
    #[arg(long)]
    print_acks: bool,
    /// Verify the database and checkpoints, then exit without writing.
    #[arg(long)]
    verify_only: bool,
}

impl Args {
    fn opts_seed(&self) -> u64 {
        self.opts_seed.unwrap_or(self.seed)
    }

    /// The command line that reruns this configuration.
    fn command(&self, db: &str) -> String {
        format!(
            "cargo run -p strata-tests --bin strata-stress -- --db {db} --seed {} --opts-seed {} --threads {} \
             --keys {} --ops {} --checkpoint-every {}",
            self.seed,
            self.opts_seed(),
            self.threads,
            self.keys,
            self.ops,
            self.checkpoint_every
        )
    }
}

/// Everything the worker threads share.
struct Ctx {
    args: Args,
    shape: Shape,
    opts: Options,
    knobs: Knobs,
    db: Db,
    cfs: Vec<ColumnFamily>,
    meta: ColumnFamily,
    models: Vec<Mutex<Model>>,
    ckpt_root: PathBuf,
    ingest_dir: PathBuf,
    out: Mutex<()>,
    stats: [AtomicU64; 5],
}

const S_WRITES: usize = 0;
const S_READS: usize = 1;
const S_INGESTS: usize = 2;
const S_CHECKPOINTS: usize = 3;
const S_MAINT: usize = 4;

/// Prints the failure with everything needed to reproduce it and exits.
fn fail(args: &Args, opts: &Options, knobs: &Knobs, msg: &str) -> ! {
    let fresh = format!("{}-repro", args.db.display());
    eprintln!(
        "STRESS FAILURE: {msg}\n  seed {} opts-seed {} threads {} keys {}\n  options: {}\n  \
         reproduce (fresh directory): {}\n  re-check this directory: {}",
        args.seed,
        args.opts_seed(),
        args.threads,
        args.keys,
        describe(opts, knobs),
        args.command(&fresh),
        recheck_command(args)
    );
    std::process::exit(1);
}

fn recheck_command(args: &Args) -> String {
    let mut c = args.command(&args.db.display().to_string()) + " --verify-only";
    if let Some(f) = &args.acked_file {
        c += &format!(" --acked-file {}", f.display());
    }
    c
}

fn lock(m: &Mutex<Model>) -> MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn main() {
    let args = Args::parse();
    let (opts, knobs) = random_options(args.opts_seed());
    let shape = Shape { seed: args.seed, threads: args.threads, keys: args.keys };
    let fail_now = |msg: String| -> ! { fail(&args, &opts, &knobs, &msg) };
    if args.threads == 0 || args.threads > 99 || args.keys == 0 || args.keys > 99_999 {
        fail_now("threads must be 1..=99 and keys 1..=99999".into());
    }
    let db = Db::open(&args.db, opts.clone()).unwrap_or_else(|e| fail_now(format!("open: {e}")));
    for name in CFS.iter().skip(1).chain([&META_CF]) {
        if db.cf(name).is_none() {
            db.create_cf(name).unwrap_or_else(|e| fail_now(format!("create_cf {name}: {e}")));
        }
    }
    let acked = read_acked(&args).unwrap_or_else(|e| fail_now(e));
    let markers = verify_db(&db, &shape, &acked).unwrap_or_else(|e| fail_now(format!("after reopen: {e}")));
    let ckpt_root = sibling(&args.db, ".checkpoints");
    let ingest_dir = sibling(&args.db, ".ingest");
    let checked = verify_checkpoints(&ckpt_root, &shape).unwrap_or_else(|e| fail_now(e));
    println!("ready markers={markers:?} checkpoints_verified={checked} options: {}", describe(&opts, &knobs));
    let _ = std::io::stdout().flush();
    if args.verify_only {
        return;
    }
    let _ = std::fs::remove_dir_all(&ingest_dir);
    std::fs::create_dir_all(&ingest_dir).unwrap_or_else(|e| fail_now(format!("{}: {e}", ingest_dir.display())));
    std::fs::create_dir_all(&ckpt_root).unwrap_or_else(|e| fail_now(format!("{}: {e}", ckpt_root.display())));
    let cfs = cf_handles(&db).unwrap_or_else(|e| fail_now(e));
    let meta = db.cf(META_CF).unwrap_or_else(|| fail_now("meta missing".into()));
    let models = (0..shape.threads)
        .map(|t| Mutex::new(strata_tests::stress::ops::replay(&shape, t, markers[t as usize])))
        .collect();
    let ctx = Arc::new(Ctx {
        args: args.clone(),
        shape,
        opts: opts.clone(),
        knobs,
        db,
        cfs,
        meta,
        models,
        ckpt_root,
        ingest_dir,
        out: Mutex::new(()),
        stats: Default::default(),
    });
    let handles: Vec<_> = (0..shape.threads)
        .map(|t| {
            let ctx = ctx.clone();
            let start = markers[t as usize];
            std::thread::spawn(move || worker(&ctx, t, start))
        })
        .collect();
    for h in handles {
        if h.join().is_err() {
            fail_now("a worker thread panicked".into());
        }
    }
    let finals: Vec<u64> = markers.iter().map(|m| m + args.ops).collect();
    let got = verify_db(&ctx.db, &shape, &finals).unwrap_or_else(|e| fail_now(format!("final check: {e}")));
    if got != finals {
        fail_now(format!("final markers {got:?}, expected {finals:?}"));
    }
    let s: Vec<u64> = ctx.stats.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    println!(
        "ok writes={} reads={} ingests={} checkpoints={} maintenance={} markers={got:?}",
        s[S_WRITES], s[S_READS], s[S_INGESTS], s[S_CHECKPOINTS], s[S_MAINT]
    );
}

/// Reads the acknowledged-writes file: lines "THREAD WRITE"; missing file: nothing acknowledged.
fn read_acked(args: &Args) -> Result<Vec<u64>, String> {
    let mut acked = vec![0; args.threads as usize];
    let Some(path) = &args.acked_file else { return Ok(acked) };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(acked),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace().map(|w| w.parse::<u64>());
        match (it.next(), it.next()) {
            (Some(Ok(t)), Some(Ok(n))) if (t as usize) < acked.len() => acked[t as usize] = acked[t as usize].max(n),
            _ => return Err(format!("{}: bad line {line:?}", path.display())),
        }
    }
    Ok(acked)
}

/// Opens and verifies every checkpoint under `root`, removing leftovers of interrupted
/// creations and deletions first. Returns how many were verified.
fn verify_checkpoints(root: &Path, shape: &Shape) -> Result<usize, String> {
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(0) };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("trash-") || name.starts_with('.') {
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        let db = Db::open_read_only(e.path(), Options::default())
            .map_err(|err| format!("checkpoint {} does not open: {err}", e.path().display()))?;
        verify_db(&db, shape, &[]).map_err(|err| format!("checkpoint {}: {err}", e.path().display()))?;
        n += 1;
    }
    Ok(n)
}

fn worker(ctx: &Ctx, t: u32, start: u64) {
    let a = &ctx.args;
    let fail_now = |msg: String| -> ! { fail(a, &ctx.opts, &ctx.knobs, &format!("thread {t}: {msg}")) };
    let mut rng = Rng::new(hash(&[a.seed, a.opts_seed(), t as u64, start]));
    let end = if a.ops == 0 { u64::MAX } else { start + a.ops };
    let mut n = start;
    while n < end {
        n += 1;
        let op = op_at(&ctx.shape, t, n);
        let sync = rng.percent(ctx.knobs.sync_pct);
        {
            let mut model = lock(&ctx.models[t as usize]);
            write(ctx, t, n, &op, sync, &mut rng).unwrap_or_else(|e| fail_now(format!("write {n} ({op:?}): {e}")));
            model.apply(&op, n);
        }
        ctx.stats[S_WRITES].fetch_add(1, Ordering::Relaxed);
        if a.print_acks && (sync || matches!(op, Op::Ingest { .. })) {
            let _g = ctx.out.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ack {t} {n}").and_then(|_| out.flush());
        }
        if rng.percent(ctx.knobs.read_pct) {
            read_check(ctx, t, &mut rng).unwrap_or_else(|e| fail_now(e));
        }
        maintenance(ctx, t, n, &mut rng).unwrap_or_else(|e| fail_now(e));
    }
}

/// Performs write `n` of thread `t`, with the thread's marker in the same atomic unit.
fn write(ctx: &Ctx, t: u32, n: u64, op: &Op, sync: bool, rng: &mut Rng) -> strata::Result<()> {
    let mut b = WriteBatch::new();
    let entry = |b: &mut WriteBatch, cf: usize, idx: u32, put: bool| {
        if put {
            b.put_cf(&ctx.cfs[cf], key(t, idx), value(cf, t, idx, n));
        } else {
            b.delete_cf(&ctx.cfs[cf], key(t, idx));
        }
    };
    match op {
        Op::Put { cf, idx } => entry(&mut b, *cf, *idx, true),
        Op::Delete { cf, idx } => entry(&mut b, *cf, *idx, false),
        Op::Batch(entries) => entries.iter().for_each(|&(cf, idx, put)| entry(&mut b, cf, idx, put)),
        Op::Ingest { cf, entries } => return ingest(ctx, t, n, *cf, entries, rng),
    }
    b.put_cf(&ctx.meta, marker_key(t), n.to_string());
    ctx.db.write(b, &WriteOptions { sync, ..Default::default() })
}

fn ingest(ctx: &Ctx, t: u32, n: u64, cf: usize, entries: &[(u32, bool)], rng: &mut Rng) -> strata::Result<()> {
    let data = ctx.ingest_dir.join(format!("t{t}-{n}-data.sst"));
    let mark = ctx.ingest_dir.join(format!("t{t}-{n}-meta.sst"));
    let mut w = SstFileWriter::for_cf(&ctx.db, &ctx.cfs[cf], &data)?;
    for &(idx, put) in entries {
        if put {
            w.put(key(t, idx), value(cf, t, idx, n))?;
        } else {
            w.delete(key(t, idx))?;
        }
    }
    w.finish()?;
    let mut w = SstFileWriter::for_cf(&ctx.db, &ctx.meta, &mark)?;
    w.put(marker_key(t), n.to_string())?;
    w.finish()?;
    let opts = IngestOptions { move_files: rng.percent(50), ..Default::default() };
    let specs = [
        IngestSpec { cf: &ctx.cfs[cf], files: vec![data.clone()] },
        IngestSpec { cf: &ctx.meta, files: vec![mark.clone()] },
    ];
    ctx.db.ingest_external_files_multi(&specs, &opts)?;
    let _ = std::fs::remove_file(&data);
    let _ = std::fs::remove_file(&mark);
    ctx.stats[S_INGESTS].fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// One random read of thread `t2`'s keys, checked against its model.
fn read_check(ctx: &Ctx, t: u32, rng: &mut Rng) -> Result<(), String> {
    ctx.stats[S_READS].fetch_add(1, Ordering::Relaxed);
    let t2 = if rng.percent(50) { t } else { rng.below(ctx.shape.threads as u64) as u32 };
    let cfi = rng.below(CFS.len() as u64) as usize;
    let cf = &ctx.cfs[cfi];
    let keys = ctx.shape.keys;
    let lo = rng.below(keys as u64) as u32;
    let hi = (lo + 1 + rng.below(keys as u64 / 4 + 1) as u32).min(keys);
    match rng.below(4) {
        0 => {
            let model = lock(&ctx.models[t2 as usize]);
            let got = ctx.db.get_cf(cf, key(t2, lo)).map_err(|e| format!("get: {e}"))?;
            let want = model.expected(cfi, t2, lo);
            if got.as_deref() != want.as_deref() {
                return Err(format!(
                    "get cf {} key {}: got {}, expected {}",
                    CFS[cfi],
                    String::from_utf8_lossy(&key(t2, lo)),
                    show(got.as_deref()),
                    show(want.as_deref())
                ));
            }
            Ok(())
        }
        1 | 2 => {
            let model = lock(&ctx.models[t2 as usize]);
            check_range(&ctx.db, (cf, cfi), &ReadOptions::default(), t2, (lo, hi), &model, rng.percent(50))
        }
        _ => {
            let (snap, model) = {
                let model = lock(&ctx.models[t2 as usize]);
                (ctx.db.snapshot(), model.clone())
            };
            // The owner keeps writing; the snapshot must not see it.
            std::thread::yield_now();
            let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
            for _ in 0..4 {
                let idx = rng.below(keys as u64) as u32;
                let got = ctx.db.get_cf_opt(cf, &ro, key(t2, idx)).map_err(|e| format!("snapshot get: {e}"))?;
                let want = model.expected(cfi, t2, idx);
                if got.as_deref() != want.as_deref() {
                    return Err(format!(
                        "snapshot get cf {} key {}: got {}, expected {}",
                        CFS[cfi],
                        String::from_utf8_lossy(&key(t2, idx)),
                        show(got.as_deref()),
                        show(want.as_deref())
                    ));
                }
            }
            check_range(&ctx.db, (cf, cfi), &ro, t2, (lo, hi), &model, rng.percent(50))
                .map_err(|e| format!("snapshot {e}"))
        }
    }
}

/// Flushes, range compactions and (thread 0) checkpoints.
fn maintenance(ctx: &Ctx, t: u32, n: u64, rng: &mut Rng) -> Result<(), String> {
    let roll = rng.below(1000);
    if roll < 4 {
        ctx.stats[S_MAINT].fetch_add(1, Ordering::Relaxed);
        ctx.db.flush().map_err(|e| format!("flush: {e}"))?;
    } else if roll < 7 {
        ctx.stats[S_MAINT].fetch_add(1, Ordering::Relaxed);
        let cf = &ctx.cfs[rng.below(CFS.len() as u64) as usize];
        let (a, b) = (key(rng.below(ctx.shape.threads as u64) as u32, 0), key(ctx.shape.threads, 0));
        let (begin, end) = if rng.percent(50) { (Some(a.as_slice()), Some(b.as_slice())) } else { (None, None) };
        ctx.db.compact_range(cf, begin, end).map_err(|e| format!("compact_range: {e}"))?;
    }
    let every = ctx.args.checkpoint_every;
    if t == 0 && every > 0 && n.is_multiple_of(every) {
        checkpoint(ctx, n, rng)?;
    }
    Ok(())
}

/// Takes a checkpoint, opens it, verifies it, and keeps only the newest three.
fn checkpoint(ctx: &Ctx, n: u64, rng: &mut Rng) -> Result<(), String> {
    let dir = ctx.ckpt_root.join(format!("cp-{n:012}"));
    if dir.exists() {
        // Left by a run killed after creating it; it was verified at start.
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let copts = CheckpointOptions { flush: rng.percent(50), ..Default::default() };
    Checkpoint::new(&ctx.db).options(copts).create(&dir).map_err(|e| format!("checkpoint {}: {e}", dir.display()))?;
    let cp =
        Db::open_read_only(&dir, Options::default()).map_err(|e| format!("open checkpoint {}: {e}", dir.display()))?;
    verify_db(&cp, &ctx.shape, &[]).map_err(|e| format!("checkpoint {}: {e}", dir.display()))?;
    drop(cp);
    ctx.stats[S_CHECKPOINTS].fetch_add(1, Ordering::Relaxed);
    let mut all: Vec<_> = std::fs::read_dir(&ctx.ckpt_root)
        .map_err(|e| format!("{}: {e}", ctx.ckpt_root.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cp-"))
        .collect();
    all.sort();
    for old in all.iter().take(all.len().saturating_sub(3)) {
        // Renamed first so a kill mid-deletion never leaves a half-deleted "cp-" directory.
        let trash = ctx.ckpt_root.join(format!("trash-{old}"));
        std::fs::rename(ctx.ckpt_root.join(old), &trash).map_err(|e| format!("{old}: {e}"))?;
        std::fs::remove_dir_all(&trash).map_err(|e| format!("{}: {e}", trash.display()))?;
    }
    Ok(())
}
