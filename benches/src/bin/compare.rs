//! Strata side by side with the engines users would pick instead (RocksDB, fjall, sled, redb),
//! on the same db_bench-style workloads, in the same run.
//!
//! `scripts/compare.sh` installs what the peers need and runs
//! `cargo run --release -p strata-benches --features peers --bin compare -- [flags]`.
//! Without `--features peers` only Strata is measured.
//!
//! Flags: `--num` (1000000), `--value-size` (100), `--key-size` (16), `--value-kind`
//! (`random`: incompressible, or `compressible`: about half, as db_bench), `--cache-mb` (64,
//! every engine's block cache), `--strata-compression` (`default`, `none`, `zstd`,
//! `zstd-bottom`), `--sync-num` (3000 synced writes per fillsync workload),
//! `--checkpoint-bytes` (1 GiB; accepts K/M/G suffixes), `--batch` (1), `--engines` and
//! `--workloads` (comma-separated filters, default all), `--dir` (where databases are made;
//! default the system temp dir), `--json` (compare.json), `--svg` (compare.svg), `--markdown`
//! (also write the table to this file).
//!
//! Prints the engines' settings and a Markdown table on stdout; progress bars (on a terminal)
//! or one plain line per cell on stderr.
//!
//! Each engine runs in its own process (this binary again, with `--child-out`), so its bytes
//! written (`/proc/self/io`) and peak RSS (`VmHWM`) are its own and no engine inherits another's
//! heap or page-cache debt. `--in-process` runs them all in this process instead.

use clap::Parser;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use strata_benches::ValueKind;
use strata_benches::compare::report::{self, thousands};
use strata_benches::compare::workloads::run_engine;
use strata_benches::compare::{Cell, Config, EngineKind, StrataCompression, Workload};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The flags (a misspelled one is an error). Later flags override earlier ones, so
/// `scripts/compare.sh` can pass defaults that the user's own flags replace.
#[derive(Debug, Parser)]
#[command(
    name = "compare",
    about = "Strata side by side with RocksDB, fjall, sled and redb",
    args_override_self = true
)]
struct Cli {
    /// Keys written by each fill.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Bytes per key.
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// `random` (incompressible) or `compressible` (about half, as db_bench's values).
    #[arg(long, default_value = "random", value_parser = parse_value_kind)]
    value_kind: ValueKind,
    /// Strata's compression: `default` (Options::default()), `none`, `zstd` (every level) or
    /// `zstd-bottom` (none above the bottom level, zstd at the bottom).
    #[arg(long, default_value = "default", value_parser = parse_strata_compression)]
    strata_compression: StrataCompression,
    /// Run every engine in this process (default: one child process per engine).
    #[arg(long)]
    in_process: bool,
    /// Internal: run the one engine of `--engines` and write its cells here as JSON.
    #[arg(long, hide = true)]
    child_out: Option<PathBuf>,
    /// Every engine's block cache, in MiB.
    #[arg(long, default_value_t = 64)]
    cache_mb: usize,
    /// Synced writes per fillsync workload.
    #[arg(long, default_value_t = 3000)]
    sync_num: u64,
    /// Bytes filled before the checkpoint workload (K/M/G suffixes).
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    checkpoint_bytes: u64,
    /// Entries per write batch in the fills.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Comma-separated engines (default: every engine this build has).
    #[arg(long)]
    engines: Option<String>,
    /// Comma-separated workloads, or `all`.
    #[arg(long, default_value = "all")]
    workloads: String,
    /// Where the databases are made (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The JSON result file.
    #[arg(long, default_value = "compare.json")]
    json: PathBuf,
    /// The SVG bar chart.
    #[arg(long, default_value = "compare.svg")]
    svg: PathBuf,
    /// Also write the Markdown table to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

/// A byte count with an optional K, M or G suffix (powers of 1024).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n = num.trim().parse::<u64>().map_err(|e| format!("{s:?}: {e}"))?;
    n.checked_mul(mul).ok_or_else(|| format!("{s:?} overflows u64"))
}

fn parse_value_kind(s: &str) -> Result<ValueKind, String> {
    ValueKind::parse(s).ok_or_else(|| format!("{s:?}: expected random or compressible"))
}

fn parse_strata_compression(s: &str) -> Result<StrataCompression, String> {
    StrataCompression::parse(s).ok_or_else(|| format!("{s:?}: expected default, none, zstd or zstd-bottom"))
}

/// What a child process hands back: the cells it measured and its error, if any.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChildReport {
    cells: Vec<Cell>,
    error: Option<String>,
}

/// Runs `engine` in a child process (this binary with the same flags plus `--engines` and
/// `--child-out`), calling `on_cell` for each cell it reports.
fn run_child(engine: EngineKind, dir: &std::path::Path, on_cell: &mut dyn FnMut(&Cell)) -> Result<(), Error> {
    let out = dir.join(format!("{engine}-cells.json"));
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .arg("--engines")
        .arg(engine.name())
        .arg("--dir")
        .arg(dir)
        .arg("--child-out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{engine}: child exited with {status}: {e}"))?;
    let report: ChildReport = serde_json::from_str(&text)?;
    for c in &report.cells {
        on_cell(c);
    }
    match report.error {
        Some(e) => Err(e.into()),
        None if !status.success() => Err(format!("{engine}: child exited with {status}").into()),
        None => Ok(()),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|l| l.trim().to_string()))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {}", kernel.trim())
}

fn main() -> Result<(), Error> {
    let args = Cli::parse();
    let engines: Vec<EngineKind> = match &args.engines {
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| EngineKind::parse(s).ok_or_else(|| format!("unknown engine {s:?}")))
            .collect::<Result<_, _>>()?,
        None => EngineKind::ALL.into_iter().filter(|k| k.available()).collect(),
    };
    for e in &engines {
        if !e.available() {
            return Err(format!("{e} is not built: rerun with --features peers (see scripts/compare.sh)").into());
        }
    }
    let workloads = Workload::parse_list(&args.workloads)?;
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let tmp = tempfile::Builder::new().prefix("strata-compare-").tempdir_in(&base)?;
    let cfg = Config {
        num: args.num,
        key_size: args.key_size,
        value_size: args.value_size,
        value_kind: args.value_kind,
        strata_compression: args.strata_compression,
        cache_bytes: args.cache_mb.checked_mul(1 << 20).ok_or("--cache-mb too large")?,
        sync_num: args.sync_num,
        checkpoint_bytes: args.checkpoint_bytes,
        batch: args.batch,
        dir: tmp.path().to_path_buf(),
        progress: std::io::stderr().is_terminal(),
    };
    if let Some(out) = &args.child_out {
        // A child: one engine, cells to `out`, nothing on stdout.
        let mut cells = Vec::new();
        let mut error = None;
        for &e in &engines {
            if let Err(err) = run_engine(e, &cfg, &workloads, |c| cells.push(c.clone())) {
                error = Some(format!("{e}: {err}"));
            }
        }
        std::fs::write(out, serde_json::to_string(&ChildReport { cells, error })?)?;
        return Ok(());
    }
    let command = format!("compare {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
    let mut meta = vec![
        ("machine".to_string(), machine()),
        ("command".to_string(), command.trim().to_string()),
        (
            "sizes".to_string(),
            format!(
                "num={} key_size={} value_size={} value_kind={} cache={} MiB sync_num={} checkpoint_bytes={} batch={} \
                 processes={}",
                cfg.num,
                cfg.key_size,
                cfg.value_size,
                cfg.value_kind.name(),
                cfg.cache_bytes >> 20,
                cfg.sync_num,
                cfg.checkpoint_bytes,
                cfg.batch,
                if args.in_process { "one for all engines" } else { "one per engine" }
            ),
        ),
        ("dir".to_string(), cfg.dir.display().to_string()),
    ];
    println!("# Strata side-by-side comparison\n");
    for (k, v) in &meta {
        println!("- {k}: {v}");
    }
    println!("\nEngine settings (same {} MiB cache budget for each):\n", cfg.cache_bytes >> 20);
    for e in &engines {
        let s = e.settings(&cfg.open_cfg());
        println!("- **{e}** ({}): {s}", e.version());
        meta.push((format!("settings.{e}"), format!("{}: {s}", e.version())));
    }
    println!();
    let mut cells: Vec<Cell> = Vec::new();
    let mut failures = Vec::new();
    for &e in &engines {
        // Cells are kept as they come, so an engine that fails one workload still reports the
        // others.
        let mut got: Vec<Cell> = Vec::new();
        let mut on_cell = |c: &Cell| {
            eprintln!(
                "{:>8} {:<17} {:>12} ops/s {:>8.1} MB/s  {:.2} s  {}",
                c.engine.name(),
                c.workload,
                thousands(c.ops_per_sec()),
                c.mb_per_sec(),
                c.secs,
                c.note
            );
            got.push(c.clone());
        };
        let r = if args.in_process {
            run_engine(e, &cfg, &workloads, &mut on_cell).map(|_| ())
        } else {
            run_child(e, &cfg.dir, &mut on_cell)
        };
        cells.append(&mut got);
        match r {
            Ok(_) => {}
            Err(err) => {
                eprintln!("{e}: failed: {err}");
                failures.push(format!("{e}: {err}"));
                let _ = std::fs::remove_dir_all(cfg.dir.join(e.name()));
            }
        }
    }
    // Group by workload, engines in the order run.
    let mut ordered = Vec::with_capacity(cells.len());
    for w in &workloads {
        ordered.extend(cells.iter().filter(|c| c.workload == w.name()).cloned());
    }
    let table = report::markdown(&ordered);
    println!("{table}");
    for f in &failures {
        println!("FAILED {f}");
        meta.push(("failure".to_string(), f.clone()));
    }
    let json_path = &args.json;
    std::fs::write(json_path, report::json(&meta, &ordered)?)?;
    let svg_path = &args.svg;
    let title = format!("Strata vs peers: num={} value={} B, {}", cfg.num, cfg.value_size, machine());
    std::fs::write(svg_path, report::svg(&title, &ordered))?;
    if let Some(md) = &args.markdown {
        std::fs::write(md, &table)?;
    }
    eprintln!("wrote {} and {}", json_path.display(), svg_path.display());
    if failures.is_empty() { Ok(()) } else { Err(format!("{} engine(s) failed", failures.len()).into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_misspellings_fail() {
        let c = Cli::try_parse_from(["compare", "--num", "10", "--checkpoint-bytes=256M", "--num", "20"]).unwrap();
        assert_eq!((c.num, c.checkpoint_bytes, c.cache_mb), (20, 256 << 20, 64));
        assert_eq!(
            (c.value_kind, c.strata_compression, c.in_process),
            (ValueKind::Random, StrataCompression::Default, false)
        );
        let c = Cli::try_parse_from(["compare", "--value-kind", "compressible", "--strata-compression", "zstd-bottom"])
            .unwrap();
        assert_eq!((c.value_kind, c.strata_compression), (ValueKind::Compressible, StrataCompression::ZstdBottom));
        assert!(Cli::try_parse_from(["compare", "--value-kind", "zeros"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--strata-compression", "lz4"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--nmu", "10"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--num", "ten"]).is_err());
        assert!(Cli::try_parse_from(["compare", "--checkpoint-bytes", "99999999999G"]).is_err());
        assert_eq!(parse_bytes("4k"), Ok(4096));
        assert_eq!(parse_bytes("7"), Ok(7));
    }
}
