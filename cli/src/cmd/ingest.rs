//! `strata ingest DB FILE... --cf NAME`: bring tables written by `SstFileWriter` (or
//! `strata sst write`) into a column family, atomically (`Db::ingest_external_files`).
//!
//! The flags map one to one onto `strata::IngestOptions` (RocksDB's names and defaults,
//! `docs/ingestion.md`): the default copies each file; `--move` hard-links and removes the
//! source after success; `--link` hard-links and keeps it.
//!
//! Invariants: the call is one manifest edit: on exit 0 every file is in the database, on any
//! failure (including Ctrl-C before the call) none is, no file is left in the database
//! directory and the sources are untouched. Ctrl-C during the call lets it finish (it is short
//! and all or nothing) and reports its outcome.
//!
//! Thread safety: runs on the main thread; the engine's threads are joined by `close`.

use super::db::{close, column_family, open_write};
use crate::Ctx;
use crate::output::{self, CliError, Report, check_interrupt, engine_error, local_path};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use strata::IngestOptions;

/// `strata ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The database directory (takes the writer's lock).
    pub dir: PathBuf,
    /// Table files written by `SstFileWriter` or `strata sst write` (entries at sequence 0).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The column family to ingest into.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub cf: String,
    /// Hard-link each file into the database and remove the source after success (copy where
    /// linking is impossible).
    #[arg(long = "move", conflicts_with = "link_files")]
    pub move_files: bool,
    /// Hard-link each file and keep the source (copy where linking is impossible).
    #[arg(long = "link")]
    pub link_files: bool,
    /// Do not give files a sequence number just because a snapshot is open.
    #[arg(long)]
    pub no_snapshot_consistency: bool,
    /// Refuse files that overlap existing data or each other (they would need a sequence
    /// number) instead of ingesting them.
    #[arg(long)]
    pub no_global_seqno: bool,
    /// Refuse files that overlap a memtable instead of flushing it first.
    #[arg(long)]
    pub no_blocking_flush: bool,
    /// Read every block of every file (and every key's sequence number) before ingesting.
    #[arg(long)]
    pub verify_checksums: bool,
    /// Fail unless every file can go to the bottom level.
    #[arg(long)]
    pub fail_if_not_bottommost: bool,
}

/// The library's options for these flags.
pub fn ingest_options(a: &IngestArgs) -> IngestOptions {
    IngestOptions {
        move_files: a.move_files,
        link_files: a.link_files,
        snapshot_consistency: !a.no_snapshot_consistency,
        allow_global_seqno: !a.no_global_seqno,
        allow_blocking_flush: !a.no_blocking_flush,
        verify_checksums_before_ingest: a.verify_checksums,
        fail_if_not_bottommost_level: a.fail_if_not_bottommost,
    }
}

/// How the files were brought in, for the report.
fn mode(o: &IngestOptions) -> &'static str {
    if o.move_files {
        "move"
    } else if o.link_files {
        "link"
    } else {
        "copy"
    }
}

pub fn run(a: IngestArgs, ctx: &Ctx) -> Result<Report, CliError> {
    local_path(&a.dir, "database")?;
    let opts = ingest_options(&a);
    let db = open_write(&a.dir)?;
    let cf = column_family(&db, &a.cf)?;
    let before = db.sequence();
    let task = ctx.progress.spinner("ingest");
    let done = check_interrupt().and_then(|()| {
        // The library names the file in its message; the subject is the database.
        db.ingest_external_files(&cf, &a.files, &opts).map_err(|e| engine_error(&a.dir, e))
    });
    let result = match done {
        Ok(r) => {
            task.finish("done");
            r
        }
        Err(e) => {
            task.abandon();
            return Err(e);
        }
    };
    let after = db.sequence();
    close(db)?;
    let files: Vec<_> = result
        .files
        .iter()
        .map(|f| {
            json!({ "path": f.path.display().to_string(), "table": format!("{:06}.sst", f.number),
                    "level": f.level, "sequence": f.sequence })
        })
        .collect();
    let doc = json!({
        "dir": a.dir.display().to_string(),
        "cf": a.cf,
        "mode": mode(&opts),
        "files": files,
        "sequence_before": before,
        "sequence_after": after,
    });
    let rows = result
        .files
        .iter()
        .map(|f| {
            vec![
                f.path.display().to_string(),
                format!("{:06}.sst", f.number),
                format!("L{}", f.level),
                f.sequence.to_string(),
            ]
        })
        .collect();
    let mut text = format!(
        "ingested {} file(s) into {:?} of {} ({}), sequence {before} -> {after}\n",
        result.files.len(),
        a.cf,
        a.dir.display(),
        mode(&opts)
    );
    text.push_str(&output::table(&["file", "table", "level", "sequence"], &["sequence"], rows));
    Ok(Report::ok(doc, text))
}
