//! `strata savepoint ...`: savepoints, the canonical, option-independent form of a database's
//! state (`strata_checkpoint::Savepoint`, `docs/savepoints.md`).
//!
//! `create` saves a database (writable open when possible, read-only beside a writer: the
//! state at open); `verify` reads every byte and checks every checksum; `inspect` reads only
//! the header and index (fast, no data checked); `restore` builds a new database, optionally
//! with families renamed or left out, or one key range.
//!
//! Invariants: `create` and `restore` build in a temporary sibling and rename; Ctrl-C reaches
//! the library through the progress callback, which then removes the sibling: after exit 130
//! neither the savepoint nor the target exists. A damaged savepoint is exit 1 with the file and
//! offset named.
//!
//! Thread safety: runs on the main thread; a restore's worker threads call the progress
//! callback, which is `Send + Sync`.

use super::db::{close, open_to_copy};
use super::library_progress;
use super::repo_show::key_value;
use crate::output::{self, BytesFormat, CliError, Report, decode_bytes, encode_bytes, engine_error, local_path};
use crate::progress::Unit;
use crate::{Ctx, Formats};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use strata::RealFs;
use strata_checkpoint::savepoint::SavepointReader;
use strata_checkpoint::{KeyRange, RestoreMethod, Savepoint, SavepointInfo, SavepointOptions, SavepointRestoreOptions};

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Build bottom-level tables straight from the chunks (fast).
    Tables,
    /// Replay the entries through the engine's write path, then flush (a cross-check).
    Writes,
}

#[derive(Debug, Subcommand)]
pub enum SavepointCommand {
    /// Save a database's state (all or some column families, one sequence number) into a new
    /// directory.
    #[command(after_help = "Writers may keep going: the savepoint is the state at one sequence \
        number. Beside a writer holding the lock (or with --read-only) it is the state at the \
        command's read-only open.\n\nExamples:\n  strata savepoint create /data/app /backups/app-sp1\n  \
        strata savepoint create /data/app /backups/users-sp --cf users")]
    Create {
        /// The database directory.
        db: PathBuf,
        /// The new savepoint directory (must not exist; its parent must).
        dir: PathBuf,
        /// Only this column family (repeatable); default all.
        #[arg(long = "cf", value_name = "NAME")]
        cfs: Vec<String>,
        /// Target bytes of entries per chunk (the unit of checksums and parallel restore).
        #[arg(long, value_name = "BYTES")]
        chunk_bytes: Option<usize>,
        /// Never take the writer's lock.
        #[arg(long)]
        read_only: bool,
    },
    /// Read the whole savepoint and check every checksum, order and count (exit 1 on damage,
    /// with the file and offset).
    #[command(after_help = "Examples:\n  strata savepoint verify /backups/app-sp1")]
    Verify {
        /// The savepoint directory.
        dir: PathBuf,
    },
    /// Show what a savepoint holds from its header and index, without reading the data (use
    /// `verify` to check it).
    #[command(after_help = "Examples:\n  strata savepoint inspect /backups/app-sp1\n  \
        strata --json savepoint inspect /backups/app-sp1 --key-format hex")]
    Inspect {
        /// The savepoint directory.
        dir: PathBuf,
        /// How the families' first and last keys are shown.
        #[arg(long, value_enum, default_value_t = BytesFormat::Text, value_name = "FORMAT")]
        key_format: BytesFormat,
    },
    /// Restore a savepoint into a new database directory (every chunk is checked first).
    #[command(after_help = "Examples:\n  strata savepoint restore /backups/app-sp1 /data/app-new\n  \
        strata savepoint restore /backups/app-sp1 /data/shard0 --to m\n  \
        strata savepoint restore /backups/app-sp1 /data/users --cf users=users_v2 --cf meta")]
    Restore {
        /// The savepoint directory.
        dir: PathBuf,
        /// The new database directory (must not exist).
        target: PathBuf,
        /// Restore this family, optionally renamed: NAME or FROM=TO (repeatable); default all,
        /// under their own names. Families not listed are left out.
        #[arg(long = "cf", value_name = "NAME|FROM=TO")]
        cfs: Vec<String>,
        /// First key to restore (inclusive, in --key-format).
        #[arg(long, value_name = "KEY")]
        from: Option<String>,
        /// End key (exclusive, in --key-format).
        #[arg(long, value_name = "KEY")]
        to: Option<String>,
        /// Threads reading and applying chunks (0: up to 4, by cores).
        #[arg(long, value_name = "N", default_value_t = 0)]
        threads: usize,
        /// How entries reach the new database.
        #[arg(long, value_enum, default_value_t = Method::Tables)]
        method: Method,
        #[command(flatten)]
        formats: Formats,
    },
}

pub fn run(cmd: SavepointCommand, ctx: &Ctx) -> Result<Report, CliError> {
    match cmd {
        SavepointCommand::Create { db, dir, cfs, chunk_bytes, read_only } => {
            create(&db, &dir, cfs, chunk_bytes, read_only, ctx)
        }
        SavepointCommand::Verify { dir } => verify(&dir, ctx),
        SavepointCommand::Inspect { dir, key_format } => inspect(&dir, key_format),
        SavepointCommand::Restore { dir, target, cfs, from, to, threads, method, formats } => {
            let families = if cfs.is_empty() { None } else { Some(cfs.iter().map(|c| rename(c)).collect()) };
            let key = |s: Option<String>, what: &str| {
                s.map(|s| decode_bytes(&s, formats.key_format).map_err(|e| CliError::Usage(format!("bad {what}: {e}"))))
                    .transpose()
            };
            let (start, end) = (key(from, "--from")?, key(to, "--to")?);
            let key_range = (start.is_some() || end.is_some()).then_some(KeyRange { start, end });
            let method = match method {
                Method::Tables => RestoreMethod::Tables,
                Method::Writes => RestoreMethod::Writes,
            };
            let opts =
                SavepointRestoreOptions { column_families: families, key_range, threads, method, progress: None };
            restore(&dir, &target, opts, ctx)
        }
    }
}

/// `NAME` or `FROM=TO`.
fn rename(spec: &str) -> (String, String) {
    key_value(spec).unwrap_or_else(|_| (spec.to_string(), spec.to_string()))
}

/// What a savepoint holds, as JSON (`create`, `verify`, `inspect`).
fn info_json(i: &SavepointInfo, key_format: BytesFormat) -> Value {
    let families: Vec<Value> = i
        .families
        .iter()
        .map(|f| {
            let (first, last) = f
                .key_range
                .as_ref()
                .map(|(a, b)| (Some(encode_bytes(a, key_format)), Some(encode_bytes(b, key_format))))
                .unwrap_or_default();
            json!({ "name": f.name, "comparator": f.comparator, "entries": f.entries,
                    "data_bytes": f.data_bytes, "chunks": f.chunks, "first_key": first, "last_key": last })
        })
        .collect();
    json!({
        "dir": i.dir.display().to_string(),
        "sequence": i.sequence,
        "created_unix_secs": i.created_unix_secs,
        "format_version": i.format_version,
        "chunks": i.chunks,
        "file_bytes": i.file_bytes,
        "families": families,
    })
}

fn info_text(i: &SavepointInfo) -> String {
    let mut s = output::fields(&[
        ("savepoint", i.dir.display().to_string()),
        ("sequence", i.sequence.to_string()),
        ("created", super::repo_show::utc(i.created_unix_secs)),
        ("format version", i.format_version.to_string()),
        ("chunks", i.chunks.to_string()),
        ("file bytes", i.file_bytes.to_string()),
    ]);
    s.push('\n');
    let rows = i
        .families
        .iter()
        .map(|f| vec![f.name.clone(), f.entries.to_string(), f.data_bytes.to_string(), f.chunks.to_string()])
        .collect();
    s.push_str(&output::table(&["column family", "entries", "bytes", "chunks"], &["entries", "bytes", "chunks"], rows));
    s
}

fn create(
    db: &Path,
    dir: &Path,
    cfs: Vec<String>,
    chunk_bytes: Option<usize>,
    read_only: bool,
    ctx: &Ctx,
) -> Result<Report, CliError> {
    local_path(db, "database")?;
    local_path(dir, "savepoint")?;
    if chunk_bytes == Some(0) {
        return Err(CliError::Usage("--chunk-bytes must be above 0".into()));
    }
    let (handle, read_only) = open_to_copy(db, read_only)?;
    let task = ctx.progress.spinner("savepoint");
    let opts = SavepointOptions {
        column_families: (!cfs.is_empty()).then_some(cfs),
        chunk_bytes,
        progress: Some(library_progress::savepoint(&task)),
        ..Default::default()
    };
    let info = match Savepoint::create(&handle, dir, &opts) {
        Ok(i) => i,
        Err(e) => {
            task.abandon();
            let _ = close(handle);
            return Err(engine_error(dir, e));
        }
    };
    task.finish("done");
    close(handle)?;
    let mut doc = info_json(&info, BytesFormat::Text);
    if let Value::Object(m) = &mut doc {
        m.insert("db".into(), json!(db.display().to_string()));
        m.insert("from_read_only_open".into(), json!(read_only));
        m.insert("duration_ms".into(), json!(info.duration.as_millis() as u64));
    }
    Ok(Report::ok(doc, info_text(&info)))
}

fn verify(dir: &Path, ctx: &Ctx) -> Result<Report, CliError> {
    local_path(dir, "savepoint")?;
    let task = ctx.progress.spinner("verify savepoint");
    let info = Savepoint::verify(dir).map_err(|e| {
        task.clone().abandon();
        engine_error(dir, e)
    })?;
    task.finish("ok");
    let mut doc = info_json(&info, BytesFormat::Text);
    if let Value::Object(m) = &mut doc {
        m.insert("ok".into(), json!(true));
    }
    let mut text = format!("{}: ok, every checksum matches\n", dir.display());
    text.push_str(&info_text(&info));
    Ok(Report::ok(doc, text))
}

fn inspect(dir: &Path, key_format: BytesFormat) -> Result<Report, CliError> {
    local_path(dir, "savepoint")?;
    let reader = SavepointReader::open(RealFs::arc(), dir).map_err(|e| engine_error(dir, e))?;
    let info = reader.info();
    let mut doc = info_json(&info, key_format);
    let options: serde_json::Map<String, Value> =
        info.source_options.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    if let Value::Object(m) = &mut doc {
        m.insert("source_options".into(), Value::Object(options));
    }
    let mut text = info_text(&info);
    if !info.source_options.is_empty() {
        text.push_str("\nsource options (for information):\n");
        let pairs: Vec<(&str, String)> = info.source_options.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        text.push_str(&output::fields(&pairs));
    }
    Ok(Report::ok(doc, text))
}

fn restore(dir: &Path, target: &Path, mut opts: SavepointRestoreOptions, ctx: &Ctx) -> Result<Report, CliError> {
    local_path(dir, "savepoint")?;
    local_path(target, "target")?;
    let task = ctx.progress.task("restore savepoint", 0, Unit::Items);
    opts.progress = Some(library_progress::savepoint(&task));
    let db_opts = strata::Options { create_if_missing: true, ..super::db::options() };
    let info = Savepoint::restore(dir, target, &db_opts, &opts).map_err(|e| {
        task.clone().abandon();
        engine_error(dir, e)
    })?;
    task.finish("done");
    let families: Vec<Value> =
        info.families.iter().map(|(name, entries)| json!({ "name": name, "entries": entries })).collect();
    let doc = json!({
        "dir": dir.display().to_string(),
        "target": info.target.display().to_string(),
        "sequence": info.sequence,
        "entries": info.entries,
        "bytes": info.bytes,
        "chunks_read": info.chunks_read,
        "families": families,
        "duration_ms": info.duration.as_millis() as u64,
    });
    let mut text = output::fields(&[
        ("database", info.target.display().to_string()),
        ("sequence", info.sequence.to_string()),
        ("entries", format!("{} ({} bytes)", info.entries, info.bytes)),
        ("chunks read", info.chunks_read.to_string()),
    ]);
    text.push('\n');
    let rows = info.families.iter().map(|(n, e)| vec![n.clone(), e.to_string()]).collect();
    text.push_str(&output::table(&["column family", "entries"], &["entries"], rows));
    Ok(Report::ok(doc, text))
}
