//! `strata-crashtest`: starts `strata-stress` on a directory, kills it with SIGKILL at a random
//! time, restarts it on the same directory, and so on; each restart verifies the recovered
//! database and every checkpoint left behind (the stress tool does the checking, given the
//! acknowledged writes this driver collected from its output).
//!
//! Checked on every restart: no acknowledged synced write (or ingestion) lost; each thread's
//! recovered writes are a prefix of its stream with no holes (the contents equal the replay of
//! writes `1..=marker`); every checkpoint taken before the kill opens and verifies; the
//! repository lists exactly the snapshots the child reported created and not deleted ("repo"
//! lines, kept in `DIR/db-N.repolog`), and after a gc each of them verifies and restores.
//!
//! Whitebox mode (`--whitebox`): each cycle names one kill point of the engine
//! (`strata::testing::KILL_POINTS`, in turn) and a hit count drawn from the seed, and the child
//! kills itself with SIGKILL when it reaches that point for that time (inside a flush, a
//! compaction, a manifest rollover, a checkpoint, an ingestion, a repository snapshot, restore,
//! export, import, delete or gc sweep, a savepoint or its restore). A cycle whose point was not reached within `--max-ms` is killed from outside and
//! counted apart as "not reached". The restart checks are the same.
//!
//! Invariants: the acknowledged counts only grow, are written to `DIR/db-N.acked` before each
//! restart, and come only from "ack" lines the child printed after its write returned.
//!
//! Thread safety: one thread plus one reader thread per child for its stdout.

use clap::Parser;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use strata_tests::stress::rng::{Rng, hash};

/// Kill-and-restart driver for strata-stress.
#[derive(Parser, Debug)]
#[command(name = "strata-crashtest")]
struct Args {
    /// Work directory (databases, checkpoints and logs go under it).
    #[arg(long)]
    dir: PathBuf,
    /// Seed: of the operation streams (one per database) and of the kill times and options.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Kill cycles in all.
    #[arg(long, default_value_t = 20)]
    cycles: u64,
    /// Cycles on one database before starting a fresh one (keeps the replay short).
    #[arg(long, default_value_t = 25)]
    cycles_per_db: u64,
    /// Writer threads of the stress tool.
    #[arg(long, default_value_t = 4)]
    threads: u32,
    /// Keys per thread per column family.
    #[arg(long, default_value_t = 200)]
    keys: u32,
    /// Shortest time the child runs after it reported ready, in milliseconds.
    #[arg(long, default_value_t = 100)]
    min_ms: u64,
    /// Longest time the child runs after it reported ready, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    max_ms: u64,
    /// Checkpoint interval passed to the stress tool.
    #[arg(long, default_value_t = 300)]
    checkpoint_every: u64,
    /// Repository snapshot interval passed to the stress tool.
    #[arg(long, default_value_t = 400)]
    repo_every: u64,
    /// Savepoint interval passed to the stress tool.
    #[arg(long, default_value_t = 500)]
    savepoint_every: u64,
    /// Kill at chosen points inside the engine instead of at random times.
    #[arg(long)]
    whitebox: bool,
    /// Whitebox: only these kill points, comma-separated, in turn (default: every point).
    #[arg(long)]
    point: Option<String>,
    /// The strata-stress binary; default: next to this one.
    #[arg(long)]
    stress_bin: Option<PathBuf>,
}

/// How one cycle's child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Killed by this driver after `run_ms` (plain mode, or a whitebox point not reached).
    KilledByDriver { run_ms: u64 },
    /// Killed itself at its kill point (whitebox); `before_ready`: during its start-up.
    KilledAtPoint { before_ready: bool },
}

/// The kill point of a whitebox cycle and the hit at which it fires.
#[derive(Debug, Clone)]
struct Target {
    point: String,
    after: u64,
}

/// Whitebox: the point of `cycle` (every point in turn from a seed-chosen start) and a hit
/// count drawn from `rng` (points reached often get a larger range).
fn whitebox_target(args: &Args, cycle: u64, rng: &mut Rng) -> Target {
    let points: Vec<&str> = match &args.point {
        Some(list) => list.split(',').collect(),
        None => strata::testing::KILL_POINTS.to_vec(),
    };
    let point = points[((cycle + args.seed) % points.len() as u64) as usize].to_string();
    let max_hits = match point.split('.').next() {
        Some("flush" | "compaction" | "ingest") => 4,
        Some("manifest") => 3,
        Some("savepoint") if point.ends_with("midway") => 4,
        _ => 2,
    };
    Target { after: 1 + rng.below(max_hits), point }
}

fn main() {
    let args = Args::parse();
    let bin = args.stress_bin.clone().unwrap_or_else(|| {
        let me = std::env::current_exe().unwrap_or_else(|e| die(&args, 0, &format!("current_exe: {e}")));
        me.with_file_name(format!("strata-stress{}", std::env::consts::EXE_SUFFIX))
    });
    if let Some(list) = &args.point
        && let Some(p) = list.split(',').find(|p| !strata::testing::KILL_POINTS.contains(p))
    {
        die(&args, 0, &format!("unknown kill point {p:?}; known: {:?}", strata::testing::KILL_POINTS));
    }
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        eprintln!("{}: {e}", args.dir.display());
        std::process::exit(1);
    }
    let mut rng = Rng::new(args.seed ^ 0xC4A5_4E57);
    let mut acked = vec![0u64; args.threads as usize];
    let mut total_acks = 0u64;
    let (mut at_point, mut before_ready, mut not_reached) = (0u64, 0u64, 0u64);
    let mut per_point: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for cycle in 0..args.cycles {
        let db_no = cycle / args.cycles_per_db;
        let db_seed = hash(&[args.seed, db_no]);
        let db = args.dir.join(format!("db-{db_no}"));
        let acked_file = args.dir.join(format!("db-{db_no}.acked"));
        if cycle % args.cycles_per_db == 0 {
            if db_no > 0 {
                verify_final(&args, &bin, db_seed_of(&args, db_no - 1), db_no - 1, cycle);
                remove_db(&args.dir, db_no - 1);
            }
            acked.iter_mut().for_each(|a| *a = 0);
            let _ = std::fs::remove_file(&acked_file);
            let _ = std::fs::remove_file(repo_file_of(&acked_file));
        }
        let opts_seed = hash(&[args.seed, cycle, 77]);
        let target = args.whitebox.then(|| whitebox_target(&args, cycle, &mut rng));
        let mut cmd = stress_command(&args, &bin, &db, db_seed, opts_seed, &acked_file, target.as_ref());
        let run_ms = args.min_ms + rng.below(args.max_ms.saturating_sub(args.min_ms) + 1);
        let (ending, ready, lines) = run_child(&args, cycle, &mut cmd, target.as_ref(), run_ms);
        let mut repo_lines = String::new();
        for line in lines {
            if let Some((t, n)) = parse_ack(&line)
                && (t as usize) < acked.len()
            {
                acked[t as usize] = acked[t as usize].max(n);
                total_acks += 1;
            } else if line.starts_with("repo ") {
                repo_lines += &line;
                repo_lines.push('\n');
            }
        }
        write_acked(&acked_file, &acked).unwrap_or_else(|e| die(&args, cycle, &e));
        append(&repo_file_of(&acked_file), &repo_lines).unwrap_or_else(|e| die(&args, cycle, &e));
        let how = match (&target, ending) {
            (None, Ending::KilledByDriver { run_ms }) => format!("killed after {run_ms} ms"),
            (Some(t), Ending::KilledByDriver { run_ms }) => {
                not_reached += 1;
                per_point.entry(t.point.clone()).or_default().1 += 1;
                format!("point {} hit {} not reached in {run_ms} ms; killed", t.point, t.after)
            }
            (Some(t), Ending::KilledAtPoint { before_ready: b }) => {
                at_point += 1;
                before_ready += u64::from(b);
                per_point.entry(t.point.clone()).or_default().0 += 1;
                format!("killed at {} hit {}{}", t.point, t.after, if b { " (during start-up)" } else { "" })
            }
            (None, Ending::KilledAtPoint { .. }) => die(&args, cycle, "a kill point fired without being chosen"),
        };
        // What the restart verified before the workload began (the "ready" line up to the options).
        let checked = ready.as_deref().and_then(|l| l.split(" options:").next()).and_then(|l| l.split("] ").nth(1));
        println!("cycle {cycle} db-{db_no} {how}; acked {acked:?}; start-up verified {}", checked.unwrap_or("-"));
    }
    let last = (args.cycles.max(1) - 1) / args.cycles_per_db;
    verify_final(&args, &bin, db_seed_of(&args, last), last, args.cycles);
    if args.whitebox {
        for (p, (hit, missed)) in &per_point {
            println!("point {p}: killed {hit}, not reached {missed}");
        }
        println!(
            "whitebox: {at_point} cycles killed at their point ({before_ready} during start-up), {not_reached} \
             cycles whose point was not reached (killed from outside)"
        );
    }
    println!("crashtest ok: {} kill cycles, {total_acks} acknowledged synced writes checked", args.cycles);
}

fn db_seed_of(args: &Args, db_no: u64) -> u64 {
    hash(&[args.seed, db_no])
}

/// Whitebox: artifact intervals short enough that the chosen point is reached in one cycle.
fn intervals(args: &Args, target: Option<&Target>) -> [u64; 3] {
    let base = [args.checkpoint_every, args.repo_every, args.savepoint_every];
    let Some(t) = target else { return base };
    match t.point.split('.').next() {
        Some("checkpoint") => [40, base[1], base[2]],
        Some("repo" | "import") => [base[0], 40, base[2]],
        Some("savepoint") => [base[0], base[1], 40],
        _ => base,
    }
}

fn stress_command(
    args: &Args,
    bin: &Path,
    db: &Path,
    seed: u64,
    opts_seed: u64,
    acked: &Path,
    target: Option<&Target>,
) -> Command {
    let [cp, repo, sp] = intervals(args, target);
    let mut cmd = Command::new(bin);
    cmd.arg("--db")
        .arg(db)
        .args(["--seed", &seed.to_string(), "--opts-seed", &opts_seed.to_string()])
        .args(["--threads", &args.threads.to_string(), "--keys", &args.keys.to_string()])
        .args(["--ops", "0", "--checkpoint-every", &cp.to_string(), "--print-acks"])
        .args(["--repo-every", &repo.to_string(), "--savepoint-every", &sp.to_string()])
        .arg("--acked-file")
        .arg(acked)
        .arg("--repo-file")
        .arg(repo_file_of(acked))
        .env_remove("STRATA_KILL_POINT")
        .env_remove("STRATA_KILL_AFTER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = target {
        cmd.env("STRATA_KILL_POINT", &t.point).env("STRATA_KILL_AFTER", t.after.to_string());
    }
    cmd
}

/// Runs one child until it is killed (by itself at its kill point, or by us after `run_ms`
/// from its "ready" line); returns how it ended and every line it printed.
fn run_child(
    args: &Args,
    cycle: u64,
    cmd: &mut Command,
    target: Option<&Target>,
    run_ms: u64,
) -> (Ending, Option<String>, Vec<String>) {
    let printable = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| die(args, cycle, &format!("spawn {printable}: {e}")));
    let (tx, rx) = mpsc::channel();
    let Some(stdout) = child.stdout.take() else { die(args, cycle, "no piped stdout") };
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let ready_line = wait_ready(&mut child, &rx, &mut lines);
    let ready = ready_line.is_some();
    let deadline = Instant::now() + Duration::from_millis(run_ms);
    let exited = match ready {
        false => child.try_wait().ok().flatten(),
        // Whitebox children may kill themselves: poll; plain children just sleep.
        true if target.is_some() => loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        },
        true => {
            std::thread::sleep(Duration::from_millis(run_ms));
            child.try_wait().ok().flatten()
        }
    };
    let ending = match exited {
        None => {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
            Ending::KilledByDriver { run_ms }
        }
        Some(status) => {
            let err = read_stderr(&mut child);
            let fired = target.is_some_and(|t| err.contains(&format!("KILL_POINT {} {}", t.point, t.after)));
            if !fired || !killed_by_sigkill(status) {
                let when = if ready { "before the kill" } else { "on restart" };
                die(args, cycle, &format!("stress exited by itself ({status}) {when}:\n{err}\ncommand: {printable}"));
            }
            Ending::KilledAtPoint { before_ready: !ready }
        }
    };
    let _ = reader.join();
    lines.extend(rx.try_iter());
    (ending, ready_line, lines)
}

/// Whether `status` is a death by SIGKILL.
fn killed_by_sigkill(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal() == Some(9)
}

/// Waits for the child's "ready" line (its verification of the recovered state passed);
/// `None` if it exited first. Lines read meanwhile go to `lines`.
fn wait_ready(child: &mut Child, rx: &mpsc::Receiver<String>, lines: &mut Vec<String>) -> Option<String> {
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.starts_with("ready") => return Some(line),
            Ok(line) => lines.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs the stress tool in verify-only mode on database `db_no` with the final acked counts.
fn verify_final(args: &Args, bin: &Path, seed: u64, db_no: u64, cycle: u64) {
    let db = args.dir.join(format!("db-{db_no}"));
    let acked = args.dir.join(format!("db-{db_no}.acked"));
    let mut cmd = stress_command(args, bin, &db, seed, seed, &acked, None);
    cmd.arg("--verify-only");
    let out = cmd.output().unwrap_or_else(|e| die(args, cycle, &format!("spawn: {e}")));
    if !out.status.success() {
        die(
            args,
            cycle,
            &format!("final verification of db-{db_no} failed:\n{}", String::from_utf8_lossy(&out.stderr)),
        );
    }
}

fn read_stderr(child: &mut Child) -> String {
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut err);
    }
    err
}

fn remove_db(dir: &Path, db_no: u64) {
    for suffix in ["", ".checkpoints", ".ingest", ".repo", ".savepoints", ".restores", ".exports"] {
        let _ = std::fs::remove_dir_all(dir.join(format!("db-{db_no}{suffix}")));
    }
}

fn parse_ack(line: &str) -> Option<(u32, u64)> {
    let mut w = line.strip_prefix("ack ")?.split_whitespace();
    Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
}

/// The file of repository lines ("repo complete ID", ..) beside acknowledged-writes file `acked`.
fn repo_file_of(acked: &Path) -> PathBuf {
    acked.with_extension("repolog")
}

/// Appends `text` to `path` (created if missing).
fn append(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_acked(path: &Path, acked: &[u64]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (t, n) in acked.iter().enumerate() {
        writeln!(f, "{t} {n}").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn die(args: &Args, cycle: u64, msg: &str) -> ! {
    let mut extra = String::new();
    if args.whitebox {
        extra += " --whitebox";
    }
    if let Some(p) = &args.point {
        extra += &format!(" --point {p}");
    }
    eprintln!(
        "CRASHTEST FAILURE at cycle {cycle}: {msg}\n  reproduce: cargo run -p strata-tests --bin strata-crashtest -- \
         --dir {} --seed {} --cycles {} --cycles-per-db {} --threads {} --keys {} --min-ms {} --max-ms {} \
         --checkpoint-every {} --repo-every {} --savepoint-every {}{extra}\n  (the database directory is left in \
         place for inspection)",
        args.dir.display(),
        args.seed,
        args.cycles,
        args.cycles_per_db,
        args.threads,
        args.keys,
        args.min_ms,
        args.max_ms,
        args.checkpoint_every,
        args.repo_every,
        args.savepoint_every
    );
    std::process::exit(1);
}
