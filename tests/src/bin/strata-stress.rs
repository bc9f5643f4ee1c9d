//! `strata-stress`: N threads of random operations over several column families, checked
//! against an expected-state oracle; also the process the `strata-crashtest` driver kills.
//!
//! Each thread owns its keys and writes the deterministic stream of `strata_tests::stress::ops`
//! (puts, deletes, batches across families, ingestion of tables built on the fly), each write
//! also setting the thread's marker. The oracle is the model of every thread behind a mutex
//! the owner holds while its write is in flight, so a reader holding it knows the one value a
//! read may return; snapshot reads are checked against a copy of the model taken with the
//! snapshot while the owner keeps writing. Between writes threads read (gets, bounded scans
//! both ways, snapshot reads), flush, compact ranges; thread 0 takes checkpoints, thread 1
//! repository snapshots (verified, restored, exported, the bundle imported into a new directory
//! and into this database as a new family; then delete or retain, and gc), thread 2 savepoints
//! (verified, restored), each opened and checked against the oracle with the bounds of the
//! writes in flight (`strata_tests::stress::{artifacts, repo}`). On start the tool verifies the
//! database it finds (after a crash: markers at least the acknowledged writes, contents equal to
//! the replay), any imported family left in it, and every artifact left by earlier runs (the
//! repository's listing against the `--repo-file` the driver keeps, after a gc).
//!
//! Invariants: "ack T N" is printed only after write N of thread T returned `Ok` and was synced
//! (a synced batch or an ingestion); "repo complete ID" only after snapshot ID was created,
//! "repo deleting IDS" before and "repo deleted IDS" after a delete or retain; every failure prints the seed and a command reproducing it
//! and exits with status 1.
//!
//! Thread safety: worker threads share the `Db`, the models (one mutex each) and stdout.

use clap::Parser;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use strata::{
    ColumnFamily, Db, IngestOptions, IngestSpec, Options, ReadOptions, SstFileWriter, WriteBatch, WriteOptions,
};
use strata_checkpoint::Repository;
use strata_tests::stress::artifacts::{
    Dirs, checkpoint_round, open_or_create_repo, savepoint_round, sibling, verify_left_behind,
};
use strata_tests::stress::config::{Knobs, describe, random_options};
use strata_tests::stress::ops::{CFS, META_CF, Model, Op, Shape, key, marker_key, op_at, value};
use strata_tests::stress::racy::legal_state;
use strata_tests::stress::repo::{Held, RepoExpect, check_imported_families, repo_round};
use strata_tests::stress::rng::{Rng, hash};
use strata_tests::stress::verify::{cf_handles, check_range, scan, show, verify_db};

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
    /// Thread 1 (0 if alone) takes a repository snapshot, verifies, restores and checks it
    /// every this many of its writes; 0: never.
    #[arg(long, default_value_t = 700)]
    repo_every: u64,
    /// Thread 2 (0 if alone) makes a savepoint, verifies, restores and checks it every this
    /// many of its writes; 0: never.
    #[arg(long, default_value_t = 900)]
    savepoint_every: u64,
    /// Lines "THREAD WRITE": the database must hold at least these writes (crash checks).
    #[arg(long)]
    acked_file: Option<PathBuf>,
    /// Lines "repo complete|deleting|deleted ID..": what earlier runs reported about the
    /// repository (the driver collects them); the start-up check holds the listing to them.
    #[arg(long)]
    repo_file: Option<PathBuf>,
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
             --keys {} --ops {} --checkpoint-every {} --repo-every {} --savepoint-every {}",
            self.seed,
            self.opts_seed(),
            self.threads,
            self.keys,
            self.ops,
            self.checkpoint_every,
            self.repo_every,
            self.savepoint_every
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
    /// Per thread: its last finished write and the model after it, updated after each write
    /// returns (never held across a write): what a racing reader starts from.
    finished_models: Vec<Mutex<(u64, Model)>>,
    dirs: Dirs,
    repo: Option<Repository>,
    ingest_dir: PathBuf,
    /// Per thread: the number of its last write started, and of its last write finished.
    started: Vec<AtomicU64>,
    finished: Vec<AtomicU64>,
    out: Mutex<()>,
    stats: [AtomicU64; 9],
}

const S_WRITES: usize = 0;
const S_READS: usize = 1;
const S_INGESTS: usize = 2;
const S_CHECKPOINTS: usize = 3;
const S_MAINT: usize = 4;
const S_REPO: usize = 5;
const S_SAVEPOINTS: usize = 6;
const S_IMPORTS: usize = 7;
const S_DELETES: usize = 8;

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
    if let Some(f) = &args.repo_file {
        c += &format!(" --repo-file {}", f.display());
    }
    c
}

fn lock(m: &Mutex<Model>) -> MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    let imported = check_imported_families(&db, &shape, !args.verify_only)
        .unwrap_or_else(|e| fail_now(format!("after reopen: {e}")));
    let dirs = Dirs::of(&args.db);
    let ingest_dir = sibling(&args.db, ".ingest");
    let expect = read_repo_file(&args).unwrap_or_else(|e| fail_now(e));
    let v = verify_left_behind(&dirs, &shape, expect.as_ref(), !args.verify_only)
        .unwrap_or_else(|e| fail_now(format!("after reopen: {e}")));
    if let Some(id) = v.repo.adopted {
        // Created by the killed run, which died before reporting it.
        println!("repo complete {id}");
    }
    println!(
        "ready markers={markers:?} checkpoints_verified={} repo_snapshots_verified={} repo_creating={} \
         repo_gc_finished={}/{} bundles_verified={} imported_families_verified={imported} savepoints_verified={} \
         restores_verified={} temporaries_left={} options: {}",
        v.checkpoints,
        v.repo.snapshots,
        v.repo.creating,
        v.repo.gc_forgotten,
        v.repo.gc_objects,
        v.repo.bundles,
        v.savepoints,
        v.restores,
        v.temporaries,
        describe(&opts, &knobs)
    );
    let _ = std::io::stdout().flush();
    if args.verify_only {
        return;
    }
    let _ = std::fs::remove_dir_all(&ingest_dir);
    std::fs::create_dir_all(&ingest_dir).unwrap_or_else(|e| fail_now(format!("{}: {e}", ingest_dir.display())));
    let repo = (args.repo_every > 0).then(|| open_or_create_repo(&dirs.repo).unwrap_or_else(|e| fail_now(e)));
    let cfs = cf_handles(&db).unwrap_or_else(|e| fail_now(e));
    let meta = db.cf(META_CF).unwrap_or_else(|| fail_now("meta missing".into()));
    let models = (0..shape.threads)
        .map(|t| Mutex::new(strata_tests::stress::ops::replay(&shape, t, markers[t as usize])))
        .collect::<Vec<_>>();
    let finished_models = models.iter().zip(&markers).map(|(m, &r)| Mutex::new((r, lock(m).clone()))).collect();
    let ctx = Arc::new(Ctx {
        args: args.clone(),
        shape,
        opts: opts.clone(),
        knobs,
        db,
        cfs,
        meta,
        models,
        finished_models,
        dirs,
        repo,
        ingest_dir,
        started: markers.iter().map(|&m| AtomicU64::new(m)).collect(),
        finished: markers.iter().map(|&m| AtomicU64::new(m)).collect(),
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
        "ok writes={} reads={} ingests={} checkpoints={} repo_snapshots={} imports_into_db={} repo_deleted={} \
         savepoints={} maintenance={} markers={got:?}",
        s[S_WRITES],
        s[S_READS],
        s[S_INGESTS],
        s[S_CHECKPOINTS],
        s[S_REPO],
        s[S_IMPORTS],
        s[S_DELETES],
        s[S_SAVEPOINTS],
        s[S_MAINT]
    );
}

/// Reads the repository file (`None` when not given; a missing file: nothing reported).
fn read_repo_file(args: &Args) -> Result<Option<RepoExpect>, String> {
    let Some(path) = &args.repo_file else { return Ok(None) };
    match std::fs::read_to_string(path) {
        Ok(t) => RepoExpect::parse(&t).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(RepoExpect::default())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
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
            ctx.started[t as usize].store(n, Ordering::SeqCst);
            write(ctx, t, n, &op, sync, &mut rng).unwrap_or_else(|e| fail_now(format!("write {n} ({op:?}): {e}")));
            model.apply(&op, n);
            let mut fm = ctx.finished_models[t as usize].lock().unwrap_or_else(|p| p.into_inner());
            fm.1.apply(&op, n);
            fm.0 = n;
            ctx.finished[t as usize].store(n, Ordering::SeqCst);
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
    match rng.below(5) {
        4 => racing_read(ctx, (t2, cfi), (lo, hi), rng),
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

/// A get or a scan of thread `t2`'s keys that does not wait for `t2`'s write in flight: the
/// result must be the state after some write between the last one finished before the read
/// and the last one started after it (`strata_tests::stress::racy`).
fn racing_read(ctx: &Ctx, (t2, cfi): (u32, usize), (lo, hi): (u32, u32), rng: &mut Rng) -> Result<(), String> {
    let (r0, base) = ctx.finished_models[t2 as usize].lock().unwrap_or_else(|p| p.into_inner()).clone();
    let cf = &ctx.cfs[cfi];
    let get = rng.percent(50);
    let backward = rng.percent(50);
    let got = if get {
        let v = ctx.db.get_cf(cf, key(t2, lo)).map_err(|e| format!("racing get: {e}"))?;
        v.map(|v| vec![(key(t2, lo), v.to_vec())]).unwrap_or_default()
    } else {
        scan(&ctx.db, cf, &ReadOptions::default(), t2, (lo, hi), backward)?
    };
    let n1 = ctx.started[t2 as usize].load(Ordering::SeqCst);
    let (lo2, hi2) = if get { (lo, lo + 1) } else { (lo, hi) };
    if legal_state(&ctx.shape, t2, &base, (r0, n1), |m| m.range(cfi, t2, lo2, hi2) == got).is_some() {
        return Ok(());
    }
    Err(format!(
        "racing {} of cf {} thread {t2} keys {lo2}..{hi2}: {} entries ({}) match no state after writes {r0}..={n1}",
        if get {
            "get"
        } else if backward {
            "backward scan"
        } else {
            "forward scan"
        },
        CFS[cfi],
        got.len(),
        got.first().map(|(k, v)| format!("{} = {}", String::from_utf8_lossy(k), show(Some(v)))).unwrap_or_default()
    ))
}

/// Flushes, range compactions, checkpoints (thread 0), repository snapshots (thread 1) and
/// savepoints (thread 2).
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
    let due = |every: u64, owner: u32| every > 0 && t == owner % ctx.shape.threads && n.is_multiple_of(every);
    let load = |v: &[AtomicU64]| v.iter().map(|a| a.load(Ordering::SeqCst)).collect::<Vec<u64>>();
    let hi = || load(&ctx.started);
    if due(ctx.args.checkpoint_every, 0) {
        let lo = load(&ctx.finished);
        checkpoint_round(&ctx.db, &ctx.dirs, &ctx.shape, n, (&lo, &hi), rng)?;
        ctx.stats[S_CHECKPOINTS].fetch_add(1, Ordering::Relaxed);
    }
    if let (true, Some(repo)) = (due(ctx.args.repo_every, 1), &ctx.repo) {
        let lo = load(&ctx.finished);
        let emit = |line: String| {
            let _g = ctx.out.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        };
        // Every writer holds its model's lock while its write is in flight: holding them all
        // (in thread order; writers take only their own) stops every writer between writes.
        let hold = || -> Box<dyn Held + '_> { Box::new(ctx.models.iter().map(lock).collect::<Vec<_>>()) };
        let done = repo_round(&ctx.db, repo, &ctx.dirs, &ctx.shape, (&lo, &hi), rng, &emit, &hold)?;
        ctx.stats[S_REPO].fetch_add(1, Ordering::Relaxed);
        ctx.stats[S_IMPORTS].fetch_add(done.imports_into_db as u64, Ordering::Relaxed);
        ctx.stats[S_DELETES].fetch_add(done.deleted as u64, Ordering::Relaxed);
    }
    if due(ctx.args.savepoint_every, 2) {
        let lo = load(&ctx.finished);
        savepoint_round(&ctx.db, &ctx.dirs, &ctx.shape, n, (&lo, &hi), &ctx.opts)?;
        ctx.stats[S_SAVEPOINTS].fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
