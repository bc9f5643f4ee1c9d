//! The gate of the instruction-count benchmarks: compares gungraun's JSON output with the
//! committed baseline (see `strata_benches::instructions`). `scripts/instructions.sh` runs the
//! benchmarks and then this.
//!
//! `cargo run --profile bench -p strata-benches --example instructions_check -- --results FILE --baseline benches/baselines/instructions.json --rustc "$(rustc --version)" [--update]`
//!
//! Exit status: 0 when the gate passes or re-baselines (another rustc, `--update`, no baseline
//! yet), 1 when a benchmark regressed, 2 on bad input.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use strata_benches::instructions::{Baseline, Verdict, judge, parse_counts, read_baseline, table, write_baseline};

#[derive(Debug, Parser)]
#[command(name = "instructions_check", about = "Compares instruction counts with the committed baseline")]
struct Cli {
    /// gungraun's output of `--output-format=json`.
    #[arg(long)]
    results: PathBuf,
    /// The committed baseline.
    #[arg(long)]
    baseline: PathBuf,
    /// `rustc --version` of the build that produced the results.
    #[arg(long)]
    rustc: String,
    /// Write the results as the new baseline, whatever they are.
    #[arg(long)]
    update: bool,
    /// The regression threshold of a new baseline, in percent.
    #[arg(long, default_value_t = 10)]
    threshold_percent: u64,
}

const HOW_TO_UPDATE: &str = "To accept these counts as the new baseline on purpose: \
     scripts/instructions.sh --update (then commit benches/baselines/instructions.json)";

fn run(cli: &Cli) -> Result<bool, String> {
    let text = std::fs::read_to_string(&cli.results).map_err(|e| format!("{}: {e}", cli.results.display()))?;
    let now = parse_counts(&text)?;
    let old = read_baseline(&cli.baseline)?;
    let threshold_percent = old.as_ref().map_or(cli.threshold_percent, |b| b.threshold_percent);
    let fresh = Baseline { rustc: cli.rustc.trim().to_string(), threshold_percent, benches: now.clone() };
    let write = |why: &str| -> Result<(), String> {
        write_baseline(&cli.baseline, &fresh)?;
        println!("instructions: {why}: wrote {} (commit it to keep it)", cli.baseline.display());
        Ok(())
    };
    let Some(old) = old.filter(|_| !cli.update) else {
        for (n, c) in &now {
            println!("{n:<40} {c:>12}");
        }
        write(if cli.update { "--update" } else { "no baseline yet" })?;
        return Ok(true);
    };
    let ok = match judge(&old, &now, &cli.rustc) {
        Verdict::Pass { notes } => {
            for l in table(&old.benches, &now) {
                println!("{l}");
            }
            for n in notes {
                println!("note: {n}");
            }
            println!(
                "instructions: no benchmark regressed by more than {}% (rustc: {})",
                old.threshold_percent, old.rustc
            );
            true
        }
        Verdict::Regressed { lines } => {
            for l in lines {
                println!("{l}");
            }
            println!("instructions: FAILED: a regression beyond {}% under the baseline's rustc", old.threshold_percent);
            false
        }
        Verdict::Rebaseline { lines } => {
            for l in lines {
                println!("{l}");
            }
            println!(
                "warning: the baseline was made with {:?}, this run with {:?}: counts are not comparable",
                old.rustc,
                cli.rustc.trim()
            );
            write("re-baselined under the new rustc")?;
            true
        }
    };
    Ok(ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(&cli);
    println!("{HOW_TO_UPDATE}");
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("instructions_check: {e}");
            ExitCode::from(2)
        }
    }
}
