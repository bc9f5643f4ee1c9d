//! `strata-crashtest`: starts `strata-stress` on a directory, kills it with SIGKILL at a random
//! time, restarts it on the same directory, and so on; each restart verifies the recovered
//! database and every checkpoint left behind (the stress tool does the checking, given the
//! acknowledged writes this driver collected from its output).
//!
//! Checked on every restart: no acknowledged synced write (or ingestion) lost; each thread's
//! recovered writes are a prefix of its stream with no holes (the contents equal the replay of
//! writes `1..=marker`); every checkpoint taken before the kill opens and verifies.
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
use std::time::Duration;
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
    /// The strata-stress binary; default: next to this one.
    #[arg(long)]
    stress_bin: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let bin = args.stress_bin.clone().unwrap_or_else(|| {
        let me = std::env::current_exe().unwrap_or_else(|e| die(&args, 0, &format!("current_exe: {e}")));
        me.with_file_name(format!("strata-stress{}", std::env::consts::EXE_SUFFIX))
    });
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        eprintln!("{}: {e}", args.dir.display());
        std::process::exit(1);
    }
    let mut rng = Rng::new(args.seed ^ 0xC4A5_4E57);
    let mut acked = vec![0u64; args.threads as usize];
    let mut total_acks = 0u64;
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
        }
        let opts_seed = hash(&[args.seed, cycle, 77]);
        let mut cmd = stress_command(&args, &bin, &db, db_seed, opts_seed, &acked_file);
        let printable = format!("{cmd:?}");
        let mut child = cmd.spawn().unwrap_or_else(|e| die(&args, cycle, &format!("spawn {}: {e}", bin.display())));
        let (tx, rx) = mpsc::channel();
        let Some(stdout) = child.stdout.take() else { die(&args, cycle, "no piped stdout") };
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        wait_ready(&args, cycle, &mut child, &rx, &printable);
        let run_ms = args.min_ms + rng.below(args.max_ms.saturating_sub(args.min_ms) + 1);
        std::thread::sleep(Duration::from_millis(run_ms));
        if let Ok(Some(status)) = child.try_wait() {
            let err = read_stderr(&mut child);
            die(
                &args,
                cycle,
                &format!("stress exited by itself ({status}) before the kill:\n{err}\ncommand: {printable}"),
            );
        }
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let _ = reader.join();
        for line in rx.try_iter() {
            if let Some((t, n)) = parse_ack(&line)
                && (t as usize) < acked.len()
            {
                acked[t as usize] = acked[t as usize].max(n);
                total_acks += 1;
            }
        }
        write_acked(&acked_file, &acked).unwrap_or_else(|e| die(&args, cycle, &e));
        println!("cycle {cycle} db-{db_no} killed after {run_ms} ms; acked {acked:?}");
    }
    let last = (args.cycles.max(1) - 1) / args.cycles_per_db;
    verify_final(&args, &bin, db_seed_of(&args, last), last, args.cycles);
    println!("crashtest ok: {} kill cycles, {total_acks} acknowledged synced writes checked", args.cycles);
}

fn db_seed_of(args: &Args, db_no: u64) -> u64 {
    hash(&[args.seed, db_no])
}

fn stress_command(args: &Args, bin: &Path, db: &Path, seed: u64, opts_seed: u64, acked: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--db")
        .arg(db)
        .args(["--seed", &seed.to_string(), "--opts-seed", &opts_seed.to_string()])
        .args(["--threads", &args.threads.to_string(), "--keys", &args.keys.to_string()])
        .args(["--ops", "0", "--checkpoint-every", &args.checkpoint_every.to_string(), "--print-acks"])
        .arg("--acked-file")
        .arg(acked)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for the child's "ready" line (its verification of the recovered state passed).
fn wait_ready(args: &Args, cycle: u64, child: &mut Child, rx: &mpsc::Receiver<String>, cmd: &str) {
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.starts_with("ready") => return,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                let err = read_stderr(child);
                die(args, cycle, &format!("stress failed on restart:\n{err}\ncommand: {cmd}"));
            }
        }
    }
}

/// Runs the stress tool in verify-only mode on database `db_no` with the final acked counts.
fn verify_final(args: &Args, bin: &Path, seed: u64, db_no: u64, cycle: u64) {
    let db = args.dir.join(format!("db-{db_no}"));
    let acked = args.dir.join(format!("db-{db_no}.acked"));
    let mut cmd = stress_command(args, bin, &db, seed, seed, &acked);
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
    for suffix in ["", ".checkpoints", ".ingest"] {
        let _ = std::fs::remove_dir_all(dir.join(format!("db-{db_no}{suffix}")));
    }
}

fn parse_ack(line: &str) -> Option<(u32, u64)> {
    let mut w = line.strip_prefix("ack ")?.split_whitespace();
    Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
}

fn write_acked(path: &Path, acked: &[u64]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (t, n) in acked.iter().enumerate() {
        writeln!(f, "{t} {n}").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn die(args: &Args, cycle: u64, msg: &str) -> ! {
    eprintln!(
        "CRASHTEST FAILURE at cycle {cycle}: {msg}\n  reproduce: cargo run -p strata-tests --bin strata-crashtest -- \
         --dir {} --seed {} --cycles {} --cycles-per-db {} --threads {} --keys {} --min-ms {} --max-ms {} \
         --checkpoint-every {}\n  (the database directory is left in place for inspection)",
        args.dir.display(),
        args.seed,
        args.cycles,
        args.cycles_per_db,
        args.threads,
        args.keys,
        args.min_ms,
        args.max_ms,
        args.checkpoint_every
    );
    std::process::exit(1);
}
