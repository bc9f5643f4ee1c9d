//! `strata manifest dump`: the edits of a database's manifest, the version each one makes,
//! and the live tables at the end (with whether each is on disk at its recorded size).
//!
//! The manifest is the one `CURRENT` names; when `CURRENT` is unusable, the newest
//! `MANIFEST-NNNNNN` (what the engine's recovery would consider), and the output says so.
//! Edits are read as recovery reads them: `TolerateCorruptedTail` (a torn last edit is
//! reported, not fatal), each decoded by `VersionEdit::decode_from` and applied with
//! `Version::apply`.
//!
//! Invariants: nothing is written; the database is not opened (no lock, no recovery).
//!
//! Thread safety: runs on the main thread.

use crate::Ctx;
use crate::output::{self, BytesFormat, CliError, Report, encode_bytes};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::comparator::BytewiseComparator;
use strata_base::ikey::{self, InternalKeyComparator};
use strata_base::{FileSystem, RealFs};
use strata_manifest::{
    CfId, FileKind, FileMeta, FileNumber, Version, VersionEdit, manifest_file_name, parse_file_name, read_current,
};
use strata_wal::{LogReader, RecoveryMode};

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// List the manifest's edits, the versions they make and the live tables.
    #[command(after_help = "Examples:\n  strata manifest dump /tmp/my-db\n  \
        strata manifest dump /tmp/my-db/MANIFEST-000005 --key-format hex\n  \
        strata --json manifest dump /tmp/my-db")]
    Dump {
        /// The database directory, or a MANIFEST-NNNNNN file.
        db: PathBuf,
        /// How the tables' smallest and largest keys are shown.
        #[arg(long, value_enum, default_value_t = BytesFormat::Text, value_name = "FORMAT")]
        key_format: BytesFormat,
    },
}

pub fn run(cmd: ManifestCommand, _ctx: &Ctx) -> Result<Report, CliError> {
    match cmd {
        ManifestCommand::Dump { db, key_format } => dump(&db, key_format),
    }
}

fn failed(file: &Path, offset: Option<u64>, message: String) -> CliError {
    CliError::Failed { message, file: Some(file.display().to_string()), offset }
}

/// The manifest to read in `db` and how it was chosen.
fn locate(db: &Path) -> Result<(PathBuf, String), CliError> {
    if db.is_file() {
        return Ok((db.to_path_buf(), "given".into()));
    }
    if !db.is_dir() {
        return Err(failed(
            db,
            None,
            format!("{}: no such file or directory; give a database directory", db.display()),
        ));
    }
    let fs = RealFs::new();
    let why = match read_current(&fs, db) {
        Ok(n) if db.join(manifest_file_name(n)).is_file() => {
            return Ok((db.join(manifest_file_name(n)), "named by CURRENT".into()));
        }
        Ok(n) => format!("CURRENT names {}, which does not exist", manifest_file_name(n)),
        Err(e) => e.to_string(),
    };
    let names = fs.list(db).map_err(|e| output::engine_error(db, strata::Error::io(db, e)))?;
    let newest = names.iter().filter_map(|n| match parse_file_name(n) {
        Some(FileKind::Manifest(m)) => Some(m),
        _ => None,
    });
    match newest.max() {
        Some(n) => Ok((db.join(manifest_file_name(n)), format!("newest by listing ({why})"))),
        None => Err(failed(db, None, format!("{}: no manifest ({why}); this is not a Strata database", db.display()))),
    }
}

fn key(k: &[u8], fmt: BytesFormat) -> String {
    match ikey::parse(k) {
        Some(p) => format!("{} @{}", encode_bytes(p.user_key, fmt), p.seq),
        None => encode_bytes(k, fmt),
    }
}

// JSON carries file numbers and column-family ids as their plain numbers (`.get()`).
fn file_json(cf: CfId, level: usize, m: &FileMeta, fmt: BytesFormat) -> Value {
    json!({ "cf": cf.get(), "level": level, "number": m.number.get(), "size_bytes": m.size,
            "smallest": key(&m.smallest, fmt), "largest": key(&m.largest, fmt),
            "smallest_seq": m.smallest_seq, "largest_seq": m.largest_seq, "checksum": m.checksum })
}

fn edit_json(e: &VersionEdit, offset: u64, files_after: usize, fmt: BytesFormat) -> Value {
    let adds: Vec<Value> =
        e.cf_adds.iter().map(|a| json!({ "id": a.id.get(), "name": a.name, "comparator": a.comparator })).collect();
    let deleted: Vec<Value> = e
        .deleted_files
        .iter()
        .map(|d| json!({ "cf": d.cf.get(), "level": d.level, "number": d.number.get() }))
        .collect();
    let new: Vec<Value> = e.new_files.iter().map(|n| file_json(n.cf, n.level, &n.meta, fmt)).collect();
    let drops: Vec<u32> = e.cf_drops.iter().map(|d| d.get()).collect();
    json!({ "offset": offset, "comparator": e.comparator, "log_number": e.log_number.map(FileNumber::get),
            "next_file_number": e.next_file_number.map(FileNumber::get), "last_sequence": e.last_sequence,
            "max_cf_id": e.max_cf_id.map(CfId::get), "cf_adds": adds, "cf_drops": drops,
            "deleted_files": deleted, "new_files": new,
            "files_after": files_after })
}

fn edit_summary(e: &VersionEdit) -> String {
    let mut parts = Vec::new();
    if e.comparator.is_some() {
        parts.push("snapshot".to_string());
    }
    for a in &e.cf_adds {
        parts.push(format!("add cf {} ({})", a.name, a.id));
    }
    for d in &e.cf_drops {
        parts.push(format!("drop cf {d}"));
    }
    if !e.new_files.is_empty() {
        let nums: Vec<String> = e.new_files.iter().map(|n| format!("{}@L{}", n.meta.number, n.level)).collect();
        parts.push(format!("+{}", nums.join(",")));
    }
    if !e.deleted_files.is_empty() {
        let nums: Vec<String> = e.deleted_files.iter().map(|d| format!("{}@L{}", d.number, d.level)).collect();
        parts.push(format!("-{}", nums.join(",")));
    }
    for (name, v) in [
        ("log", e.log_number.map(FileNumber::get)),
        ("next file", e.next_file_number.map(FileNumber::get)),
        ("last seq", e.last_sequence),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name} {v}"));
        }
    }
    parts.join("; ")
}

fn dump(db: &Path, fmt: BytesFormat) -> Result<Report, CliError> {
    let (path, chosen) = locate(db)?;
    let dir = strata_base::fs::parent_or_dot(&path).to_path_buf();
    let fs = RealFs::new();
    let cmp = InternalKeyComparator::new(Arc::new(BytewiseComparator));
    let mut reader = LogReader::open(&fs, &path, RecoveryMode::TolerateCorruptedTail)
        .map_err(|e| output::engine_error(&path, strata::Error::from(e)))?;
    let mut version = Version::empty();
    let (mut edits, mut rows) = (Vec::new(), Vec::new());
    let (mut last_seq, mut log, mut next) = (None, None, None);
    while let Some(rec) = reader.read_record().map_err(|e| output::engine_error(&path, strata::Error::from(e)))? {
        let edit = VersionEdit::decode_from(&rec.payload).map_err(|e| {
            let reason = format!(
                "{}: edit at offset {} does not decode: {e}; the manifest is damaged",
                path.display(),
                rec.offset
            );
            failed(&path, Some(rec.offset), reason)
        })?;
        version = version.apply(&edit, &cmp).map_err(|why| {
            let reason = format!(
                "{}: edit at offset {} cannot be applied: {why}; the manifest is damaged",
                path.display(),
                rec.offset
            );
            failed(&path, Some(rec.offset), reason)
        })?;
        last_seq = edit.last_sequence.or(last_seq);
        log = edit.log_number.map(FileNumber::get).or(log);
        next = edit.next_file_number.map(FileNumber::get).or(next);
        rows.push(vec![
            edits.len().to_string(),
            rec.offset.to_string(),
            edit_summary(&edit),
            version.num_files().to_string(),
        ]);
        edits.push(edit_json(&edit, rec.offset, version.num_files(), fmt));
    }
    let torn = reader.report().dropped_tail.clone();
    let (live, live_rows, missing) = live_files(&version, &dir, fmt);
    let doc = json!({
        "manifest": path.display().to_string(), "chosen": chosen, "edits": edits,
        "last_sequence": last_seq, "log_number": log, "next_file_number": next,
        "torn_tail": torn.as_ref().map(|(o, r)| json!({ "offset": o, "reason": r })),
        "live_files": live, "missing_or_wrong_size": missing,
    });
    let opt = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
    let mut text = output::fields(&[
        ("manifest", format!("{} ({chosen})", path.display())),
        ("edits", edits.len().to_string()),
        ("last sequence", opt(last_seq)),
        ("log number", opt(log)),
        ("next file number", opt(next)),
        ("torn tail", torn.map_or("none".into(), |(o, r)| format!("at offset {o}: {r}"))),
    ]);
    text.push_str("\nedits:\n");
    text.push_str(&output::table(&["#", "offset", "change", "files after"], &["#", "offset", "files after"], rows));
    text.push_str("\nlive tables:\n");
    text.push_str(&output::table(
        &["cf", "level", "table", "bytes", "smallest", "largest", "seqs", "on disk"],
        &["level", "table", "bytes"],
        live_rows,
    ));
    let failed =
        (missing > 0).then(|| format!("{}: {missing} live tables are missing or have the wrong size", dir.display()));
    Ok(Report { json: doc, text, failed })
}

/// The live tables of `version`, each checked against the directory; and how many are missing
/// or of the wrong size.
fn live_files(version: &Version, dir: &Path, fmt: BytesFormat) -> (Vec<Value>, Vec<Vec<String>>, usize) {
    let (mut out, mut rows, mut missing) = (Vec::new(), Vec::new(), 0);
    for cf in version.cfs() {
        for (level, m) in cf.files() {
            let on_disk =
                std::fs::metadata(dir.join(strata_manifest::table_file_name(m.number))).ok().map(|md| md.len());
            let state = match on_disk {
                Some(n) if n == m.size => "ok".to_string(),
                Some(n) => format!("WRONG SIZE ({n} bytes)"),
                None => "MISSING".to_string(),
            };
            if state != "ok" {
                missing += 1;
            }
            let mut j = file_json(cf.id, level, m, fmt);
            j["cf_name"] = json!(cf.name);
            j["on_disk"] = json!(state);
            out.push(j);
            rows.push(vec![
                cf.name.clone(),
                level.to_string(),
                m.number.to_string(),
                m.size.to_string(),
                key(&m.smallest, fmt),
                key(&m.largest, fmt),
                format!("{}..={}", m.smallest_seq, m.largest_seq),
                state,
            ]);
        }
    }
    (out, rows, missing)
}
