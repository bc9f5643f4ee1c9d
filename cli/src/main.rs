//! `strata`: the command-line tool for Strata databases, tables, WALs, manifests, ingestion,
//! snapshot repositories and savepoints.
//!
//! This file is the `clap` tree and the dispatch; each command family lives in `cmd/`, what
//! is printed in `output.rs`, progress in `progress.rs`. The reference is `docs/cli.md`.
//!
//! Invariants: every command prints exactly one thing on stdout (its text, or one JSON
//! document with `--json`) and exits 0 on success, 1 when the operation failed, 2 on bad
//! usage (130 after Ctrl-C). Read commands open databases read-only: they never take the
//! writer's lock, so they work beside a running writer.
//!
//! Thread safety: one command runs on the main thread; the Ctrl-C handler only sets a flag.

mod cmd;
mod output;
mod progress;

use clap::{Args, CommandFactory, Parser, Subcommand};
use output::{BytesFormat, CliError, EXIT_FAILURE, EXIT_OK, Report};
use progress::{Progress, ProgressMode};
use std::io::Write;

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Inspect and maintain Strata databases, tables (SST), write-ahead logs and manifests",
    long_about = "Inspect and maintain Strata databases, tables (SST), write-ahead logs and manifests.\n\n\
        Read commands open a database read-only and never take the writer's lock: they work while \
        another process writes, and see the database as it was when the command opened it.",
    after_help = "Examples:\n  \
        strata db stats /tmp/my-db\n  \
        strata db get /tmp/my-db user:1\n  \
        strata db scan /tmp/my-db --prefix user: --limit 10\n  \
        strata sst verify /tmp/my-db/*.sst\n  \
        strata --json wal dump /tmp/my-db/000003.log\n  \
        strata repo snapshot /backups/my-db /tmp/my-db --name nightly\n\n\
        Exit codes: 0 success, 1 the operation failed, 2 bad usage, 130 interrupted (Ctrl-C)."
)]
struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Progress of long work on stderr: a bar on a terminal (auto), one line per step (plain),
    /// or nothing (none).
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto, value_name = "MODE")]
    progress: ProgressMode,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read and maintain a database directory (get, scan, put, compact, checkpoint, ...).
    #[command(
        subcommand,
        long_about = "Read and maintain a database directory.\n\n\
            Read commands (stats, get, scan, count) open the database read-only: they take no lock \
            and write nothing, so they run beside a live writer. Each sees the database as it was \
            when the command opened it (snapshot at open): every write acknowledged before that \
            moment, including writes still only in the write-ahead log, and none after. Write \
            commands (put, delete, compact, flush) take the writer's lock and fail while another \
            process holds it. No command creates a database.",
        after_help = "Examples:\n  strata db stats /tmp/my-db\n  strata db get /tmp/my-db user:1\n  \
            strata db scan /tmp/my-db --prefix user: --limit 10"
    )]
    Db(cmd::db::DbCommand),
    /// Dump, verify and write table (SST) files.
    #[command(
        subcommand,
        after_help = "Examples:\n  strata sst dump /tmp/my-db/000004.sst\n  strata sst verify /tmp/my-db/*.sst\n  strata sst write data.sst --from data.jsonl"
    )]
    Sst(cmd::sst::SstCommand),
    /// Inspect write-ahead log files.
    #[command(subcommand, after_help = "Examples:\n  strata wal dump /tmp/my-db/000006.log")]
    Wal(cmd::wal::WalCommand),
    /// Inspect a database's manifest.
    #[command(subcommand, after_help = "Examples:\n  strata manifest dump /tmp/my-db")]
    Manifest(cmd::manifest::ManifestCommand),
    /// Bring tables written by `strata sst write` (or `SstFileWriter`) into a column family,
    /// atomically.
    #[command(
        long_about = "Bring tables written by `strata sst write` (or `SstFileWriter`) into a column \
            family, atomically: one manifest edit, so after a crash every file is in or none is. \
            Takes the writer's lock. The files are copied by default; --move hard-links them and \
            removes the sources, --link hard-links and keeps them.",
        after_help = "Examples:\n  strata sst write /tmp/users.sst --from users.jsonl\n  \
            strata ingest /tmp/my-db /tmp/users.sst --cf users\n  \
            strata ingest /tmp/my-db a.sst b.sst --move --verify-checksums"
    )]
    Ingest(cmd::ingest::IngestArgs),
    /// Snapshot repositories: durable, incremental snapshots of databases (local directories or
    /// s3:// URLs).
    #[command(
        long_about = "Snapshot repositories: named, durable, point-in-time snapshots of one or more \
            databases in a local directory or on S3-compatible object storage \
            (s3://bucket/prefix), sharing unchanged tables between snapshots. Snapshots are \
            named by id or by name.\n\n\
            For s3:// repositories, credentials, region and endpoint come from the standard AWS \
            environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION or \
            AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP); the flags below override them.",
        after_help = "Examples:\n  strata repo init /backups/app\n  \
            strata repo snapshot /backups/app /data/app --name nightly\n  \
            strata repo list /backups/app\n  strata repo verify /backups/app\n  \
            strata repo restore /backups/app nightly /data/app-restored\n  \
            strata repo snapshot s3://my-bucket/app /data/app --transfers 16\n  \
            strata repo list s3://test/app --endpoint http://127.0.0.1:9000 --allow-http"
    )]
    Repo(cmd::repo::RepoArgs),
    /// Savepoints: a database's state in a canonical form that restores under any options.
    #[command(
        subcommand,
        after_help = "Examples:\n  strata savepoint create /data/app /backups/app-sp1\n  \
            strata savepoint verify /backups/app-sp1\n  strata savepoint inspect /backups/app-sp1\n  \
            strata savepoint restore /backups/app-sp1 /data/app-new"
    )]
    Savepoint(cmd::savepoint::SavepointCommand),
}

/// How keys and values are shown and given on the command line.
#[derive(Debug, Clone, Copy, Args)]
pub struct Formats {
    /// How keys are shown and parsed: text (non-printable bytes as \xNN), hex or base64.
    #[arg(long, value_enum, default_value_t = BytesFormat::Text, value_name = "FORMAT")]
    pub key_format: BytesFormat,
    /// How values are shown and parsed: text, hex or base64.
    #[arg(long, value_enum, default_value_t = BytesFormat::Text, value_name = "FORMAT")]
    pub value_format: BytesFormat,
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub progress: Progress,
    /// `--json`: commands that stream text (`db scan`) collect into the document instead.
    pub json: bool,
}

fn run(cli: Cli) -> Result<Report, CliError> {
    let ctx = Ctx { progress: Progress::new(cli.progress), json: cli.json };
    match cli.command {
        Command::Db(c) => cmd::db::run(c, &ctx),
        Command::Sst(c) => cmd::sst::run(c, &ctx),
        Command::Wal(c) => cmd::wal::run(c, &ctx),
        Command::Manifest(c) => cmd::manifest::run(c, &ctx),
        Command::Ingest(a) => cmd::ingest::run(a, &ctx),
        Command::Repo(c) => cmd::repo::run(c, &ctx),
        Command::Savepoint(c) => cmd::savepoint::run(c, &ctx),
    }
}

/// Bad usage: clap's message, then a usage line when clap gave none, exit 2. `--help` and
/// `--version` go to stdout with exit 0, as clap does.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let rendered = e.render().to_string();
    eprint!("{rendered}");
    if !rendered.contains("Usage:") {
        eprintln!("\n{}", Cli::command().render_usage());
    }
    std::process::exit(output::EXIT_USAGE);
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    output::install_interrupt_handler();
    let json = cli.json;
    let code = match run(cli) {
        Ok(report) => {
            let printed = if json {
                let doc = serde_json::to_string_pretty(&report.json).unwrap_or_else(|_| "null".into());
                writeln!(std::io::stdout().lock(), "{doc}")
            } else {
                write!(std::io::stdout().lock(), "{}", report.text)
            };
            match printed {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
                Err(e) => {
                    eprintln!("strata: cannot write to stdout: {e}");
                    EXIT_FAILURE
                }
                Ok(()) if report.failed.is_some() => {
                    eprintln!("strata: {}", report.failed.unwrap_or_default());
                    EXIT_FAILURE
                }
                Ok(()) => EXIT_OK,
            }
        }
        Err(e) => {
            if json {
                let doc = serde_json::to_string_pretty(&e.to_json()).unwrap_or_else(|_| "null".into());
                let _ = writeln!(std::io::stdout().lock(), "{doc}");
            }
            eprintln!("strata: {}", e.message());
            e.exit_code()
        }
    };
    std::process::exit(code);
}
