//! `strata db ...`: read and maintain a database directory.
//!
//! Read commands (`stats`, `get`, `scan`, `count`) open the database with
//! `Db::open_read_only`: no lock is taken and nothing is written, so they run beside a live
//! writer. They see the database as of the moment they opened it (snapshot at open): every
//! write acknowledged before the open, including writes still only in the WAL, and none after.
//! Write commands (`put`, `delete`, `compact`, `flush`) take the writer's lock and fail with a
//! clear message while another process holds it; `checkpoint` falls back to a read-only open
//! then. No command creates a database: a mistyped path is an error, not a new empty database.
//!
//! Invariants: a write is acknowledged (exit 0) only after it is in the WAL, fsynced unless
//! `--no-sync`, and the database was closed cleanly.
//!
//! Thread safety: runs on the main thread; the engine's threads are joined by `close`.

use crate::output::{self, BytesFormat, CliError, Report, check_interrupt, decode_bytes, encode_bytes, engine_error};
use crate::progress::Unit;
use crate::{Ctx, Formats};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use strata::{ColumnFamily, Db, Options, ReadOptions, WriteOptions};
use strata_checkpoint::{Checkpoint, CheckpointOptions};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Column families, levels, files, sizes and the last sequence number.
    #[command(after_help = "Examples:\n  strata db stats /tmp/my-db\n  strata --json db stats /tmp/my-db")]
    Stats {
        /// The database directory.
        dir: PathBuf,
    },
    /// Print the value of one key (exit 1 when the key is absent).
    #[command(after_help = "Examples:\n  strata db get /tmp/my-db user:1\n  \
        strata db get /tmp/my-db --cf meta user:1\n  \
        strata db get /tmp/my-db --key-format hex 75736572 --value-format base64")]
    Get {
        /// The database directory.
        dir: PathBuf,
        /// The key, in --key-format.
        key: String,
        #[command(flatten)]
        cf: CfArg,
        #[command(flatten)]
        formats: Formats,
    },
    /// Set a key to a value (takes the writer's lock).
    #[command(after_help = "Examples:\n  strata db put /tmp/my-db user:1 ada\n  \
        strata db put /tmp/my-db --cf meta --value-format hex user:1 00ff")]
    Put {
        /// The database directory.
        dir: PathBuf,
        key: String,
        value: String,
        #[command(flatten)]
        cf: CfArg,
        #[command(flatten)]
        formats: Formats,
        /// Do not fsync the WAL before exiting (faster; the write may be lost on power loss).
        #[arg(long)]
        no_sync: bool,
    },
    /// Delete a key (takes the writer's lock).
    #[command(after_help = "Examples:\n  strata db delete /tmp/my-db user:1")]
    Delete {
        /// The database directory.
        dir: PathBuf,
        key: String,
        #[command(flatten)]
        cf: CfArg,
        #[command(flatten)]
        formats: Formats,
        /// Do not fsync the WAL before exiting.
        #[arg(long)]
        no_sync: bool,
    },
    /// Print the keys and values of a range, in key order (tab-separated in text).
    #[command(after_help = "Examples:\n  strata db scan /tmp/my-db --limit 20\n  \
        strata db scan /tmp/my-db --prefix user:\n  \
        strata db scan /tmp/my-db --from 61 --to 6d --key-format hex\n  \
        strata --json db scan /tmp/my-db --cf meta")]
    Scan {
        /// The database directory.
        dir: PathBuf,
        #[command(flatten)]
        cf: CfArg,
        #[command(flatten)]
        range: RangeArgs,
        #[command(flatten)]
        formats: Formats,
    },
    /// Count the keys (and their bytes) of a range.
    #[command(after_help = "Examples:\n  strata db count /tmp/my-db\n  strata db count /tmp/my-db --prefix user:")]
    Count {
        /// The database directory.
        dir: PathBuf,
        #[command(flatten)]
        cf: CfArg,
        #[command(flatten)]
        range: RangeArgs,
        #[command(flatten)]
        formats: Formats,
    },
    /// Compact a key range (default all keys) of one or every column family down the levels.
    #[command(after_help = "Examples:\n  strata db compact /tmp/my-db\n  \
        strata db compact /tmp/my-db --cf meta --from a --to m")]
    Compact {
        /// The database directory.
        dir: PathBuf,
        /// Only this column family (default: every one).
        #[arg(long, value_name = "NAME")]
        cf: Option<String>,
        /// First key to compact (inclusive, in --key-format).
        #[arg(long, value_name = "KEY")]
        from: Option<String>,
        /// Last key to compact (inclusive, in --key-format).
        #[arg(long, value_name = "KEY")]
        to: Option<String>,
        #[command(flatten)]
        formats: Formats,
    },
    /// Write every column family's memtables to tables (after replaying the WAL).
    #[command(after_help = "Examples:\n  strata db flush /tmp/my-db")]
    Flush {
        /// The database directory.
        dir: PathBuf,
    },
    /// Make a checkpoint: a consistent copy in TARGET (which must not exist) that opens as a
    /// database of its own.
    #[command(after_help = "Tables are hard-linked when TARGET is on the same file system. If another \
        process has the database open for writing, the checkpoint is taken from a read-only open \
        (the state at the command's open, WAL copied).\n\nExamples:\n  \
        strata db checkpoint /tmp/my-db /tmp/my-db-cp\n  \
        strata db checkpoint /tmp/my-db /backup/my-db-cp --copy\n  \
        strata db checkpoint /tmp/my-db /tmp/my-db-cp --read-only")]
    Checkpoint {
        /// The database directory.
        dir: PathBuf,
        /// The new directory.
        target: PathBuf,
        /// Do not flush first: copy the WAL prefix that holds unflushed writes instead.
        #[arg(long)]
        no_flush: bool,
        /// Copy tables instead of hard-linking them.
        #[arg(long)]
        copy: bool,
        /// Never take the writer's lock: checkpoint the state at open from a read-only open
        /// (unflushed writes are carried by copying the WAL). The default tries a writable
        /// open first and falls back to this when another process holds the lock.
        #[arg(long)]
        read_only: bool,
    },
}

/// `--cf NAME`.
#[derive(Debug, Clone, Args)]
pub struct CfArg {
    /// The column family.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub cf: String,
}

/// A key range.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// First key (inclusive, in --key-format).
    #[arg(long, value_name = "KEY")]
    pub from: Option<String>,
    /// End key (exclusive, in --key-format).
    #[arg(long, value_name = "KEY")]
    pub to: Option<String>,
    /// Only keys starting with this prefix (in --key-format); combines with --from/--to.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Stop after this many keys.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

pub fn run(cmd: DbCommand, ctx: &Ctx) -> Result<Report, CliError> {
    match cmd {
        DbCommand::Stats { dir } => stats(&dir),
        DbCommand::Get { dir, key, cf, formats } => get(&dir, &key, &cf.cf, formats),
        DbCommand::Put { dir, key, value, cf, formats, no_sync } => {
            let value = parse(&value, formats.value_format, "value")?;
            write(&dir, &key, Some(&value), &cf.cf, formats, no_sync)
        }
        DbCommand::Delete { dir, key, cf, formats, no_sync } => write(&dir, &key, None, &cf.cf, formats, no_sync),
        DbCommand::Scan { dir, cf, range, formats } => {
            let listing = if ctx.json { Listing::Collect(Vec::new()) } else { Listing::Stream(stdout_writer()) };
            scan(&dir, &cf.cf, &range, formats, listing)
        }
        DbCommand::Count { dir, cf, range, formats } => scan(&dir, &cf.cf, &range, formats, Listing::CountOnly),
        DbCommand::Compact { dir, cf, from, to, formats } => compact(&dir, cf.as_deref(), from, to, formats, ctx),
        DbCommand::Flush { dir } => flush(&dir),
        DbCommand::Checkpoint { dir, target, no_flush, copy, read_only } => {
            checkpoint(&dir, &target, CheckpointArgs { no_flush, copy, read_only }, ctx)
        }
    }
}

fn parse(s: &str, fmt: BytesFormat, what: &str) -> Result<Vec<u8>, CliError> {
    decode_bytes(s, fmt).map_err(|e| CliError::Usage(format!("bad {what}: {e}")))
}

pub(crate) fn options() -> Options {
    Options { create_if_missing: false, block_cache_capacity: 8 << 20, ..Options::default() }
}

pub(crate) fn check_dir(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(CliError::Failed {
        message: format!("{}: no such directory; give the directory of a Strata database", dir.display()),
        file: Some(dir.display().to_string()),
        offset: None,
    })
}

/// Opens `dir` read-only: no lock, nothing written, the state as of now.
pub fn open_read(dir: &Path) -> Result<Db, CliError> {
    check_dir(dir)?;
    Db::open_read_only(dir, options()).map_err(|e| engine_error(dir, e))
}

pub(crate) fn open_write(dir: &Path) -> Result<Db, CliError> {
    check_dir(dir)?;
    Db::open(dir, options()).map_err(|e| engine_error(dir, e))
}

/// Opens `dir` to copy its state (checkpoint, repository snapshot, savepoint): writable when
/// possible (so it can flush first), read-only when `read_only` or when another process holds
/// the writer's lock (the state at open, unflushed writes read from the WAL). The flag says
/// which it got.
pub(crate) fn open_to_copy(dir: &Path, read_only: bool) -> Result<(Db, bool), CliError> {
    if read_only {
        return Ok((open_read(dir)?, true));
    }
    check_dir(dir)?;
    match Db::open(dir, options()) {
        Ok(db) => Ok((db, false)),
        Err(strata::Error::Locked(_)) => Ok((open_read(dir)?, true)),
        Err(e) => Err(engine_error(dir, e)),
    }
}

pub(crate) fn close(db: Db) -> Result<(), CliError> {
    let dir = db.path().to_path_buf();
    db.close().map_err(|e| engine_error(&dir, e))
}

pub(crate) fn column_family(db: &Db, name: &str) -> Result<ColumnFamily, CliError> {
    db.cf(name).ok_or_else(|| CliError::Failed {
        message: format!("{}: no column family {name:?}; it has: {}", db.path().display(), db.cf_names().join(", ")),
        file: Some(db.path().display().to_string()),
        offset: None,
    })
}

fn stats(dir: &Path) -> Result<Report, CliError> {
    let db = open_read(dir)?;
    let live = db.live_files(false).map_err(|e| engine_error(dir, e))?;
    let mut cfs = Vec::new();
    let mut rows = Vec::new();
    for (id, name) in &live.column_families {
        let mut levels = Vec::new();
        if let Some(v) = live.version().cf(*id) {
            for (level, files) in v.levels.iter().enumerate() {
                if files.is_empty() {
                    continue;
                }
                let bytes = v.level_size_bytes(level);
                levels.push(json!({ "level": level, "files": files.len(), "size_bytes": bytes }));
                rows.push(vec![name.clone(), format!("L{level}"), files.len().to_string(), bytes.to_string()]);
            }
        }
        let (files, bytes) =
            live.tables.iter().filter(|t| t.cf_id == *id).fold((0u64, 0u64), |(n, b), t| (n + 1, b + t.meta.size));
        if levels.is_empty() {
            rows.push(vec![name.clone(), "-".into(), "0".into(), "0".into()]);
        }
        cfs.push(json!({ "id": id.get(), "name": name, "files": files, "size_bytes": bytes, "levels": levels }));
    }
    let wals: Vec<Value> =
        live.wals.iter().map(|w| json!({ "number": w.number.get(), "size_bytes": w.size })).collect();
    let total: u64 = live.tables.iter().map(|t| t.meta.size).sum();
    let doc = json!({
        "dir": dir.display().to_string(),
        "sequence": live.sequence,
        "next_file_number": live.next_file_number.get(),
        "comparator": live.comparator,
        "tables": live.tables.len(),
        "table_bytes": total,
        "unflushed_wals": wals,
        "column_families": cfs,
    });
    let mut text = output::fields(&[
        ("database", dir.display().to_string()),
        ("last sequence", live.sequence.to_string()),
        ("tables", format!("{} ({total} bytes)", live.tables.len())),
        (
            "unflushed WALs",
            if live.wals.is_empty() {
                "none (everything is in tables)".to_string()
            } else {
                live.wals
                    .iter()
                    .map(|w| format!("{:06}.log ({} bytes)", w.number, w.size))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("comparator", live.comparator.clone()),
    ]);
    text.push('\n');
    text.push_str(&output::table(&["column family", "level", "files", "bytes"], &["files", "bytes"], rows));
    drop(live);
    close(db)?;
    Ok(Report::ok(doc, text))
}

fn get(dir: &Path, key: &str, cf: &str, f: Formats) -> Result<Report, CliError> {
    let k = parse(key, f.key_format, "key")?;
    let db = open_read(dir)?;
    let handle = column_family(&db, cf)?;
    let v = db.get_cf(&handle, &k).map_err(|e| engine_error(dir, e))?;
    let shown_key = encode_bytes(&k, f.key_format);
    let value = v.as_ref().map(|v| encode_bytes(v, f.value_format));
    let doc = json!({ "cf": cf, "key": shown_key, "found": v.is_some(), "value": value, "sequence": db.sequence() });
    close(db)?;
    Ok(match value {
        Some(shown) => Report::ok(doc, format!("{shown}\n")),
        None => Report {
            json: doc,
            text: String::new(),
            failed: Some(format!("{}: key {shown_key:?} not found in column family {cf:?}", dir.display())),
        },
    })
}

fn write(dir: &Path, key: &str, value: Option<&[u8]>, cf: &str, f: Formats, no_sync: bool) -> Result<Report, CliError> {
    let k = parse(key, f.key_format, "key")?;
    let db = open_write(dir)?;
    let handle = column_family(&db, cf)?;
    let mut batch = strata::WriteBatch::new();
    match value {
        Some(v) => batch.put_cf(&handle, &k, v),
        None => batch.delete_cf(&handle, &k),
    }
    db.write(batch, &WriteOptions { sync: !no_sync, ..Default::default() }).map_err(|e| engine_error(dir, e))?;
    let seq = db.sequence();
    close(db)?;
    let op = if value.is_some() { "put" } else { "delete" };
    let shown = encode_bytes(&k, f.key_format);
    let doc = json!({ "op": op, "cf": cf, "key": shown, "sequence": seq, "synced": !no_sync });
    Ok(Report::ok(doc, format!("{op} {shown:?} in {cf:?}: sequence {seq}\n")))
}

/// The iterator bounds of a range: `[from, to)` intersected with the keys starting `prefix`.
pub fn bounds(from: Option<Vec<u8>>, to: Option<Vec<u8>>, prefix: Option<&[u8]>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let Some(p) = prefix else { return (from, to) };
    let lower = match from {
        Some(f) if f.as_slice() > p => f,
        _ => p.to_vec(),
    };
    // The first key after every key starting with `p`: p with its last non-0xff byte
    // incremented; none when p is all 0xff (no upper bound then; the scan checks the prefix).
    let mut end = p.to_vec();
    while end.last() == Some(&0xff) {
        end.pop();
    }
    let prefix_end = end.last_mut().map(|b| {
        *b += 1;
    });
    let prefix_end = prefix_end.map(|()| end);
    let upper = match (to, prefix_end) {
        (Some(t), Some(e)) => Some(if t < e { t } else { e }),
        (t, e) => t.or(e),
    };
    (Some(lower), upper)
}

/// Where `scan` puts the entries: text streams to stdout as the scan goes (a scan of a whole
/// database needs no memory for its output); `--json` collects them into its one document;
/// `count` keeps none.
enum Listing {
    Stream(std::io::BufWriter<std::io::StdoutLock<'static>>),
    Collect(Vec<Value>),
    CountOnly,
}

fn stdout_writer() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::new(std::io::stdout().lock())
}

/// Writes one text line; `Ok(false)` when the reader went away (`| head`): stop quietly.
fn emit(out: &mut impl std::io::Write, k: &str, v: &str) -> Result<bool, CliError> {
    match writeln!(out, "{k}\t{v}") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Failed { message: format!("cannot write to stdout: {e}"), file: None, offset: None }),
    }
}

fn scan(dir: &Path, cf: &str, r: &RangeArgs, f: Formats, mut listing: Listing) -> Result<Report, CliError> {
    let key = |s: &Option<String>, what| s.as_deref().map(|s| parse(s, f.key_format, what)).transpose();
    let (from, to, prefix) = (key(&r.from, "--from")?, key(&r.to, "--to")?, key(&r.prefix, "--prefix")?);
    let (lower_bound, upper_bound) = bounds(from, to, prefix.as_deref());
    let db = open_read(dir)?;
    let handle = column_family(&db, cf)?;
    let opts = ReadOptions { lower_bound, upper_bound, ..Default::default() };
    let mut it = db.iter_cf(&handle, &opts).map_err(|e| engine_error(dir, e))?;
    it.seek_to_first();
    let (mut count, mut key_bytes, mut value_bytes) = (0u64, 0u64, 0u64);
    let mut truncated = false;
    while it.valid() {
        if prefix.as_deref().is_some_and(|p| !it.key().starts_with(p)) {
            break;
        }
        if r.limit.is_some_and(|l| count >= l) {
            truncated = true;
            break;
        }
        if count.is_multiple_of(4096) {
            check_interrupt()?;
        }
        count += 1;
        key_bytes += it.key().len() as u64;
        value_bytes += it.value().len() as u64;
        let shown = || (encode_bytes(it.key(), f.key_format), encode_bytes(it.value(), f.value_format));
        match &mut listing {
            Listing::Stream(out) => {
                let (k, v) = shown();
                if !emit(out, &k, &v)? {
                    break;
                }
            }
            Listing::Collect(entries) => {
                let (k, v) = shown();
                entries.push(json!({ "key": k, "value": v }));
            }
            Listing::CountOnly => {}
        }
        it.next();
    }
    it.status().map_err(|e| engine_error(dir, e))?;
    drop(it);
    let seq = db.sequence();
    close(db)?;
    Ok(match listing {
        Listing::Stream(mut out) => {
            let _ = std::io::Write::flush(&mut out);
            let doc = json!({ "cf": cf, "sequence": seq, "count": count, "truncated": truncated });
            Report::ok(doc, String::new())
        }
        Listing::Collect(entries) => Report::ok(
            json!({ "cf": cf, "sequence": seq, "count": count, "truncated": truncated, "entries": entries }),
            String::new(),
        ),
        Listing::CountOnly => Report::ok(
            json!({ "cf": cf, "sequence": seq, "count": count, "key_bytes": key_bytes,
                    "value_bytes": value_bytes, "truncated": truncated }),
            format!("{count}\n"),
        ),
    })
}

fn level_files(db: &Db) -> Result<Vec<(String, Vec<usize>)>, CliError> {
    let live = db.live_files(false).map_err(|e| engine_error(db.path(), e))?;
    Ok(live
        .column_families
        .iter()
        .map(|(id, name)| {
            let levels = live.version().cf(*id).map(|v| v.levels.iter().map(Vec::len).collect()).unwrap_or_default();
            (name.clone(), levels)
        })
        .collect())
}

fn compact(
    dir: &Path,
    cf: Option<&str>,
    from: Option<String>,
    to: Option<String>,
    f: Formats,
    ctx: &Ctx,
) -> Result<Report, CliError> {
    let from = from.map(|s| parse(&s, f.key_format, "--from")).transpose()?;
    let to = to.map(|s| parse(&s, f.key_format, "--to")).transpose()?;
    let db = open_write(dir)?;
    let cfs: Vec<ColumnFamily> = match cf {
        Some(name) => vec![column_family(&db, name)?],
        None => db.cf_names().iter().filter_map(|n| db.cf(n)).collect(),
    };
    let before = level_files(&db)?;
    let task = ctx.progress.task("compact", cfs.len() as u64, Unit::Items);
    for c in &cfs {
        if let Err(e) = check_interrupt() {
            task.abandon();
            return Err(e);
        }
        task.step(&format!("column family {}", c.name()));
        if let Err(e) = db.compact_range(c, from.as_deref(), to.as_deref()) {
            task.abandon();
            return Err(engine_error(dir, e));
        }
        task.inc(1);
    }
    task.finish("done");
    let after = level_files(&db)?;
    close(db)?;
    let names: Vec<&str> = cfs.iter().map(ColumnFamily::name).collect();
    let mut rows = Vec::new();
    let mut doc_cfs = Vec::new();
    for ((name, b), (_, a)) in before.iter().zip(&after) {
        if !names.contains(&name.as_str()) {
            continue;
        }
        doc_cfs.push(json!({ "name": name, "files_per_level_before": b, "files_per_level_after": a }));
        rows.push(vec![name.clone(), fmt_levels(b), fmt_levels(a)]);
    }
    let doc = json!({ "dir": dir.display().to_string(), "column_families": doc_cfs });
    let text = output::table(&["column family", "files per level before", "after"], &[], rows);
    Ok(Report::ok(doc, text))
}

fn fmt_levels(levels: &[usize]) -> String {
    let last = levels.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
    levels[..last].iter().map(usize::to_string).collect::<Vec<_>>().join(" ")
}

fn flush(dir: &Path) -> Result<Report, CliError> {
    let db = open_write(dir)?;
    db.flush().map_err(|e| engine_error(dir, e))?;
    let seq = db.sequence();
    let levels = level_files(&db)?;
    close(db)?;
    let l0: usize = levels.iter().map(|(_, l)| l.first().copied().unwrap_or(0)).sum();
    let doc = json!({ "dir": dir.display().to_string(), "sequence": seq, "level0_tables": l0 });
    Ok(Report::ok(doc, format!("flushed {}: sequence {seq}, {l0} tables in L0\n", dir.display())))
}

/// The options of `db checkpoint`.
#[derive(Debug, Clone, Copy)]
struct CheckpointArgs {
    no_flush: bool,
    copy: bool,
    read_only: bool,
}

fn checkpoint(dir: &Path, target: &Path, args: CheckpointArgs, ctx: &Ctx) -> Result<Report, CliError> {
    let CheckpointArgs { no_flush, copy, read_only } = args;
    if target.exists() {
        return Err(engine_error(target, strata::Error::AlreadyExists(target.to_path_buf())));
    }
    let (db, read_only) = open_to_copy(dir, read_only)?;
    let opts = CheckpointOptions { flush: !no_flush && !read_only, copy_files: copy, ..Default::default() };
    let task = ctx.progress.spinner("checkpoint");
    let info = match Checkpoint::new(&db).options(opts).create(target) {
        Ok(info) => info,
        Err(e) => {
            task.abandon();
            return Err(engine_error(target, e));
        }
    };
    task.finish("done");
    close(db)?;
    let doc = json!({
        "dir": dir.display().to_string(),
        "target": info.dir.display().to_string(),
        "sequence": info.sequence,
        "linked_files": info.linked_files,
        "copied_files": info.copied_files,
        "copied_bytes": info.copied_bytes,
        "column_families": info.column_families,
        "from_read_only_open": read_only,
        "duration_ms": info.duration.as_millis() as u64,
    });
    let text = output::fields(&[
        ("checkpoint", info.dir.display().to_string()),
        ("sequence", info.sequence.to_string()),
        ("tables linked", info.linked_files.to_string()),
        ("files copied", format!("{} ({} bytes)", info.copied_files, info.copied_bytes)),
        ("column families", info.column_families.join(", ")),
        (
            "source",
            if read_only { "read-only open (a writer holds the lock)".into() } else { "writable open".to_string() },
        ),
    ]);
    Ok(Report::ok(doc, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &[u8]) -> Option<Vec<u8>> {
        Some(s.to_vec())
    }

    #[test]
    fn prefix_bounds_intersect_the_range() {
        assert_eq!(bounds(None, None, Some(b"user:")), (b(b"user:"), b(b"user;")));
        assert_eq!(bounds(b(b"user:5"), None, Some(b"user:")), (b(b"user:5"), b(b"user;")));
        assert_eq!(bounds(b(b"a"), b(b"user:3"), Some(b"user:")), (b(b"user:"), b(b"user:3")));
        assert_eq!(bounds(None, b(b"z"), Some(b"user:")), (b(b"user:"), b(b"user;")));
        assert_eq!(bounds(None, None, Some(b"a\xff\xff")), (b(b"a\xff\xff"), b(b"b")));
        assert_eq!(bounds(None, None, Some(b"\xff")), (b(b"\xff"), None));
        assert_eq!(bounds(b(b"x"), b(b"y"), None), (b(b"x"), b(b"y")));
    }

    #[test]
    fn level_lists_drop_empty_trailing_levels() {
        assert_eq!(fmt_levels(&[2, 0, 1, 0, 0]), "2 0 1");
        assert_eq!(fmt_levels(&[0, 0]), "");
    }
}
