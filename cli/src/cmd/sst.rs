//! `strata sst ...`: dump, verify and write table files.
//!
//! A table made by the engine is sorted by the internal-key comparator (user key, then
//! sequence number descending) and its keys carry an 8-byte trailer; `dump` shows those as
//! user key, sequence number and kind. A table under the plain bytewise comparator (written by
//! other tools over `strata-sst` alone) is shown with its keys as they are. `write` builds an
//! engine-format table with every entry at sequence number 0 (ingestion will assign sequence
//! numbers when it lands).
//!
//! Invariants: `write` builds the table in `FILE.strata-tmp`, fsyncs it, renames it into
//! place and fsyncs the directory; on any error or Ctrl-C the temporary file is removed and
//! `FILE` is untouched. `verify` opens, checksums and reads every entry of every file and
//! names the first damage in each (file and offset).
//!
//! Thread safety: runs on the main thread.

use super::sst_input::{self, InputEntry, InputFormat};
use crate::output::{self, BytesFormat, CliError, Report, check_interrupt, encode_bytes};
use crate::progress::Unit;
use crate::{Ctx, Formats};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::comparator::BytewiseComparator;
use strata_base::fs::{parent_or_dot, tmp_sibling};
use strata_base::ikey::{self, InternalKeyComparator, ValueKind};
use strata_base::{Comparator, FileSystem, RealFs};
use strata_sst::{Compression, Table, TableBuilder, TableOptions, TableReadOptions};

#[derive(Debug, Subcommand)]
pub enum SstCommand {
    /// Show a table's properties and index, and optionally its entries.
    #[command(after_help = "Examples:\n  strata sst dump /tmp/my-db/000012.sst\n  \
        strata sst dump /tmp/my-db/000012.sst --entries --limit 20\n  \
        strata --json sst dump data.sst --entries --key-format hex")]
    Dump {
        /// The table file.
        file: PathBuf,
        /// Also list the entries (key, sequence number, kind, value).
        #[arg(long)]
        entries: bool,
        /// List at most this many entries.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Leave out the index (one line per data block).
        #[arg(long)]
        no_index: bool,
        #[command(flatten)]
        formats: Formats,
    },
    /// Check tables: footer, every block checksum, the whole-file checksum and every entry.
    /// Exits 1 if any file is damaged, naming the file and the offset.
    #[command(after_help = "Examples:\n  strata sst verify /tmp/my-db/*.sst\n  \
        strata --json sst verify a.sst b.sst")]
    Verify {
        /// The table files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write a new table from JSON lines or CSV, sorting on the way (duplicate keys are an
    /// error naming both lines).
    #[command(
        after_help = "Input: JSON lines {\"key\": \"k\", \"value\": \"v\"} or {\"key\": \"k\", \"delete\": true}; \
        or CSV rows key,value. Keys and values are read in --key-format/--value-format. Every entry \
        gets sequence number 0, and the table carries the properties of `SstFileWriter`'s external \
        files, so `strata ingest` takes it.\n\nExamples:\n  \
        strata sst write data.sst --from data.jsonl\n  \
        strata sst write data.sst --from data.csv --csv-header --compression zstd\n  \
        strata sst write data.sst --from dump.jsonl --key-format hex --value-format base64"
    )]
    Write {
        /// The table to create (must not exist).
        file: PathBuf,
        /// The input file (.jsonl or .csv).
        #[arg(long, value_name = "INPUT")]
        from: PathBuf,
        /// The input format (default: from the input's extension).
        #[arg(long, value_enum, value_name = "FORMAT")]
        input_format: Option<InputFormat>,
        /// The CSV input's first row is a header: skip it.
        #[arg(long)]
        csv_header: bool,
        /// Target data block size in bytes.
        #[arg(long, default_value_t = 4096, value_name = "BYTES")]
        block_size: usize,
        /// Block compression.
        #[arg(long, value_enum, default_value_t = CompressionArg::None)]
        compression: CompressionArg,
        /// Bloom filter bits per key (0: no filter).
        #[arg(long, default_value_t = 10, value_name = "BITS")]
        bloom_bits: u32,
        #[command(flatten)]
        formats: Formats,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    None,
    Zstd,
}

pub fn run(cmd: SstCommand, ctx: &Ctx) -> Result<Report, CliError> {
    match cmd {
        SstCommand::Dump { file, entries, limit, no_index, formats } => dump(&file, entries, limit, !no_index, formats),
        SstCommand::Verify { files } => verify(&files, ctx),
        SstCommand::Write { file, from, input_format, csv_header, block_size, compression, bloom_bits, formats } => {
            let input_format = match input_format.or_else(|| InputFormat::from_name(&from.to_string_lossy())) {
                Some(f) => f,
                None => {
                    return Err(CliError::Usage(format!(
                        "cannot tell the format of {}: name it .jsonl or .csv, or give --input-format",
                        from.display()
                    )));
                }
            };
            let compression = match compression {
                CompressionArg::None => Compression::None,
                CompressionArg::Zstd => Compression::Zstd { level: 3 },
            };
            let opts = TableOptions {
                block_size,
                compression,
                bloom_bits_per_key: bloom_bits,
                comparator: Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator))),
                ..TableOptions::default()
            };
            opts.validate().map_err(|e| CliError::Usage(e.to_string()))?;
            write(&file, &from, input_format, csv_header, opts, formats, ctx)
        }
    }
}

/// An `strata-sst` error on `file`, as one line.
pub fn sst_error(file: &Path, e: strata_sst::Error) -> CliError {
    match e {
        strata_sst::Error::Corruption { file: f, offset, reason } => CliError::Failed {
            message: format!("{}: damaged at offset {offset}: {reason}; the table cannot be used", f.display()),
            file: Some(f.display().to_string()),
            offset: Some(offset),
        },
        other => output::engine_error(file, strata::Error::from(other)),
    }
}

/// Whether a table's keys are internal keys (the engine's) or plain keys.
fn is_internal(t: &Table) -> bool {
    t.properties().comparator.starts_with("strata.InternalKeyComparator:")
}

/// Opens a table under the comparator it records: the engine's internal-key comparator or the
/// plain bytewise one.
pub fn open_table(file: &Path) -> Result<Arc<Table>, CliError> {
    let fs = RealFs::new();
    let internal: Arc<dyn Comparator> = Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)));
    let open = |comparator| {
        Table::open_path(&fs, file, TableReadOptions { comparator, verify_checksums: true, ..Default::default() })
    };
    match open(internal) {
        Err(strata_sst::Error::InvalidArgument(_)) => open(Arc::new(BytewiseComparator)),
        other => other,
    }
    .map_err(|e| sst_error(file, e))
}

/// One entry as shown: user key, sequence number (internal keys only), kind, value.
fn entry_json(key: &[u8], kind: ValueKind, value: &[u8], internal: bool, f: Formats) -> Value {
    let (user_key, seq) = match ikey::parse(key).filter(|_| internal) {
        Some(p) => (p.user_key, Some(p.seq)),
        None => (key, None),
    };
    let kind = if kind == ValueKind::Put { "put" } else { "delete" };
    json!({ "key": encode_bytes(user_key, f.key_format), "sequence": seq, "kind": kind,
            "value": encode_bytes(value, f.value_format) })
}

fn shown_key(key: &[u8], internal: bool, fmt: BytesFormat) -> String {
    match ikey::parse(key).filter(|_| internal) {
        Some(p) => format!("{} @{}", encode_bytes(p.user_key, fmt), p.seq),
        None => encode_bytes(key, fmt),
    }
}

fn dump(file: &Path, entries: bool, limit: Option<u64>, with_index: bool, f: Formats) -> Result<Report, CliError> {
    let t = open_table(file)?;
    let internal = is_internal(&t);
    let p = t.properties();
    let compression = match p.compression {
        Compression::None => "none".to_string(),
        Compression::Zstd { level } => format!("zstd (level {level})"),
    };
    let user: serde_json::Map<String, Value> =
        p.user.iter().map(|(k, v)| (k.clone(), Value::String(encode_bytes(v, BytesFormat::Text)))).collect();
    let props = json!({
        "num_entries": p.num_entries, "num_deletions": p.num_deletions,
        "smallest_key": shown_key(&p.smallest_key, internal, f.key_format),
        "largest_key": shown_key(&p.largest_key, internal, f.key_format),
        "raw_key_bytes": p.raw_key_bytes, "raw_value_bytes": p.raw_value_bytes,
        "raw_data_bytes": p.raw_data_bytes, "data_bytes": p.data_bytes, "index_bytes": p.index_bytes,
        "filter_bytes": p.filter_bytes, "num_data_blocks": p.num_data_blocks, "compression": compression,
        "format_version": p.format_version, "creation_time": p.creation_time, "comparator": p.comparator,
        "bloom_bits_per_key": p.bloom_bits_per_key, "block_size": p.block_size,
        "restart_interval": p.restart_interval, "user": user,
    });
    let mut pairs = vec![
        ("table", file.display().to_string()),
        ("file size", format!("{} bytes (checksum {:08x})", t.file_size(), t.file_checksum())),
        ("entries", format!("{} ({} deletions)", p.num_entries, p.num_deletions)),
        (
            "keys",
            format!(
                "{} .. {}",
                shown_key(&p.smallest_key, internal, f.key_format),
                shown_key(&p.largest_key, internal, f.key_format)
            ),
        ),
        ("data", format!("{} blocks, {} bytes ({} raw)", p.num_data_blocks, p.data_bytes, p.raw_data_bytes)),
        (
            "index / filter",
            format!("{} / {} bytes ({} bits per key)", p.index_bytes, p.filter_bytes, p.bloom_bits_per_key),
        ),
        ("compression", compression),
        ("comparator", p.comparator.clone()),
        ("format version", p.format_version.to_string()),
        ("created", format!("{} (seconds since the epoch)", p.creation_time)),
    ];
    pairs.extend(user.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default().to_string())));
    let mut text = output::fields(&pairs);
    let mut doc = json!({ "file": file.display().to_string(), "size_bytes": t.file_size(),
                          "file_checksum": t.file_checksum(), "internal_keys": internal, "properties": props });
    if with_index {
        let index = t.index_entries().map_err(|e| sst_error(file, e))?;
        let rows: Vec<Vec<String>> = index
            .iter()
            .enumerate()
            .map(|(i, (k, h))| {
                vec![i.to_string(), h.offset.to_string(), h.size.to_string(), shown_key(k, internal, f.key_format)]
            })
            .collect();
        text.push_str("\nindex:\n");
        text.push_str(&output::table(&["block", "offset", "size", "separator"], &["block", "offset", "size"], rows));
        doc["index"] = index
            .iter()
            .map(|(k, h)| json!({ "separator": shown_key(k, internal, f.key_format), "offset": h.offset, "size": h.size }))
            .collect();
    }
    if entries {
        let (list, listed_text) = list_entries(&t, internal, limit, f).map_err(|e| sst_error(file, e))?;
        text.push_str("\nentries:\n");
        text.push_str(&listed_text);
        doc["entries"] = Value::Array(list);
    }
    Ok(Report::ok(doc, text))
}

fn list_entries(
    t: &Arc<Table>,
    internal: bool,
    limit: Option<u64>,
    f: Formats,
) -> strata_sst::Result<(Vec<Value>, String)> {
    let mut it = t.iter();
    it.seek_to_first();
    let (mut out, mut rows) = (Vec::new(), Vec::new());
    while it.valid() && limit.is_none_or(|l| (out.len() as u64) < l) {
        let e = entry_json(it.key(), it.kind(), it.value(), internal, f);
        rows.push(vec![
            e["key"].as_str().unwrap_or_default().to_string(),
            e["sequence"].as_u64().map_or("-".into(), |s| s.to_string()),
            e["kind"].as_str().unwrap_or_default().to_string(),
            e["value"].as_str().unwrap_or_default().to_string(),
        ]);
        out.push(e);
        it.next();
    }
    it.status()?;
    Ok((out, output::table(&["key", "seq", "kind", "value"], &["seq"], rows)))
}

/// Opens, checksums and reads every entry of one table; the entries counted.
fn verify_one(file: &Path) -> Result<u64, CliError> {
    let t = open_table(file)?;
    // Entries first: reading each block checks its checksum and names that block's offset;
    // the whole-file checksum afterwards can only name the footer.
    let icmp = InternalKeyComparator::new(Arc::new(BytewiseComparator));
    let cmp: &dyn Comparator = if is_internal(&t) { &icmp } else { &BytewiseComparator };
    let mut it = t.iter();
    it.seek_to_first();
    let (mut n, mut last): (u64, Option<Vec<u8>>) = (0, None);
    while it.valid() {
        if last.as_deref().is_some_and(|l| cmp.compare(l, it.key()) != std::cmp::Ordering::Less) {
            return Err(sst_error(
                file,
                strata_sst::Error::Corruption {
                    file: file.to_path_buf(),
                    offset: 0,
                    reason: format!("entry {n} is out of order"),
                },
            ));
        }
        last = Some(it.key().to_vec());
        n += 1;
        it.next();
    }
    it.status().map_err(|e| sst_error(file, e))?;
    if n != t.properties().num_entries {
        let reason = format!("the properties say {} entries, the blocks hold {n}", t.properties().num_entries);
        return Err(sst_error(file, strata_sst::Error::Corruption { file: file.to_path_buf(), offset: 0, reason }));
    }
    t.verify_checksums().map_err(|e| sst_error(file, e))?;
    Ok(n)
}

fn verify(files: &[PathBuf], ctx: &Ctx) -> Result<Report, CliError> {
    let sizes: Vec<u64> = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).collect();
    let task = ctx.progress.task("verify", sizes.iter().sum(), Unit::Bytes);
    let (mut results, mut rows, mut damaged) = (Vec::new(), Vec::new(), 0usize);
    for (file, size) in files.iter().zip(&sizes) {
        if let Err(e) = check_interrupt() {
            task.abandon();
            return Err(e);
        }
        let shown = file.display().to_string();
        match verify_one(file) {
            Ok(n) => {
                task.step(&format!("{shown}: ok"));
                rows.push(vec![shown.clone(), "ok".into(), n.to_string(), String::new()]);
                results.push(json!({ "file": shown, "ok": true, "entries": n, "error": null }));
            }
            Err(e) => {
                damaged += 1;
                let (offset, message) = match &e {
                    CliError::Failed { offset, message, .. } => (*offset, message.clone()),
                    other => (None, other.message()),
                };
                task.step(&format!("{shown}: DAMAGED"));
                rows.push(vec![shown.clone(), "DAMAGED".into(), String::new(), message.clone()]);
                results.push(json!({ "file": shown, "ok": false, "entries": null,
                                     "error": { "offset": offset, "message": message } }));
            }
        }
        task.inc(*size);
    }
    task.finish(&format!("{} files, {damaged} damaged", files.len()));
    let doc = json!({ "files": results, "checked": files.len(), "damaged": damaged });
    let text = output::table(&["file", "result", "entries", "damage"], &["entries"], rows);
    let failed = (damaged > 0).then(|| format!("{damaged} of {} tables damaged (see the damage column)", files.len()));
    Ok(Report { json: doc, text, failed })
}

fn write(
    file: &Path,
    from: &Path,
    format: InputFormat,
    csv_header: bool,
    opts: TableOptions,
    f: Formats,
    ctx: &Ctx,
) -> Result<Report, CliError> {
    if file.exists() {
        return Err(CliError::Failed {
            message: format!("{}: already exists; choose a new path or remove it first", file.display()),
            file: Some(file.display().to_string()),
            offset: None,
        });
    }
    let input = std::fs::File::open(from).map_err(|e| output::engine_error(from, strata::Error::io(from, e)))?;
    let size = input.metadata().map_or(0, |m| m.len());
    let reading = ctx.progress.task("read input", size, Unit::Bytes);
    let parsed = match format {
        InputFormat::Jsonl => sst_input::parse_jsonl(std::io::BufReader::new(input), f, |n| reading.inc(n)),
        InputFormat::Csv => sst_input::parse_csv(std::io::BufReader::new(input), f, csv_header, |n| reading.inc(n)),
    };
    let mut entries = match parsed {
        Ok(e) => e,
        Err(why) => {
            reading.abandon();
            return Err(input_error(from, &why));
        }
    };
    reading.finish(&format!("{} entries", entries.len()));
    if entries.is_empty() {
        return Err(input_error(from, "no entries: a table holds at least one"));
    }
    let was_sorted = sst_input::sort_unique(&mut entries, f.key_format).map_err(|why| input_error(from, &why))?;
    let meta = build(file, &entries, opts, ctx)?;
    let doc = json!({
        "file": file.display().to_string(), "input": from.display().to_string(),
        "entries": meta.num_entries, "deletions": meta.num_deletions, "size_bytes": meta.file_size,
        "file_checksum": meta.file_checksum, "input_was_sorted": was_sorted, "sequence": 0,
        "smallest_key": encode_bytes(&entries[0].key, f.key_format),
        "largest_key": encode_bytes(&entries[entries.len() - 1].key, f.key_format),
    });
    let text = output::fields(&[
        ("table", file.display().to_string()),
        ("entries", format!("{} ({} deletions), sequence number 0", meta.num_entries, meta.num_deletions)),
        ("size", format!("{} bytes (checksum {:08x})", meta.file_size, meta.file_checksum)),
        ("input", format!("{} ({})", from.display(), if was_sorted { "sorted" } else { "sorted on the way" })),
    ]);
    Ok(Report::ok(doc, text))
}

fn input_error(from: &Path, why: &str) -> CliError {
    CliError::Failed {
        message: format!("{}: {why}; fix the input and run again (nothing was written)", from.display()),
        file: Some(from.display().to_string()),
        offset: None,
    }
}

/// Builds the table in a temporary sibling and renames it into place.
fn build(
    file: &Path,
    entries: &[InputEntry],
    opts: TableOptions,
    ctx: &Ctx,
) -> Result<strata_sst::TableMeta, CliError> {
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs::new());
    let tmp = tmp_sibling(file);
    let task = ctx.progress.task("write table", entries.len() as u64, Unit::Items);
    let fail = |task: crate::progress::Task, e: CliError| {
        task.abandon();
        let _ = std::fs::remove_file(&tmp);
        e
    };
    let mut b = match TableBuilder::create(Arc::clone(&fs), &tmp, opts) {
        Ok(b) => b,
        Err(e) => return Err(fail(task, sst_error(&tmp, e))),
    };
    // The properties `SstFileWriter` writes: the table is an external file that
    // `strata ingest` accepts (every entry is at sequence number 0).
    {
        use strata::ingest::format::{EXTERNAL_VERSION, PROP_EXTERNAL_VERSION, PROP_LARGEST_SEQ, PROP_SMALLEST_SEQ};
        b.set_user_property(PROP_EXTERNAL_VERSION, EXTERNAL_VERSION.as_bytes());
        b.set_user_property(PROP_SMALLEST_SEQ, b"0");
        b.set_user_property(PROP_LARGEST_SEQ, b"0");
    }
    let mut key = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i.is_multiple_of(1024)
            && let Err(stop) = check_interrupt()
        {
            drop(b); // an unfinished builder removes its file
            return Err(fail(task, stop));
        }
        key.clear();
        ikey::encode_into(&mut key, &e.key, 0, e.kind);
        if let Err(err) = b.add(&key, e.kind, &e.value) {
            return Err(fail(task, sst_error(file, err)));
        }
        task.inc(1);
    }
    let meta = match b.finish() {
        Ok(m) => m,
        Err(e) => return Err(fail(task, sst_error(&tmp, e))),
    };
    let io = |e: std::io::Error| output::engine_error(file, strata::Error::io(file, e));
    let placed = fs.rename(&tmp, file).and_then(|()| fs.sync_dir(parent_or_dot(file)));
    if let Err(e) = placed {
        return Err(fail(task, io(e)));
    }
    task.finish("done");
    Ok(meta)
}
