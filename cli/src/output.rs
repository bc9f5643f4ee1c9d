//! What a command prints, and how it fails.
//!
//! Every command returns a [`Report`]: one JSON document (printed with `--json`) and the same
//! facts as text for a person (aligned tables from `comfy-table`). Keys and values are shown and
//! parsed as text (non-printable bytes escaped as `\xNN`), hex or base64 ([`BytesFormat`]).
//! Failures are a [`CliError`]: one line on stderr naming the file and what to do, exit code 1
//! for a failed operation, 2 for bad usage, 130 after Ctrl-C.
//!
//! Invariants: `encode_bytes(decode_bytes(s, f)?, f) == s` for every accepted `s` in hex and
//! base64, and `decode_bytes(encode_bytes(b, f), f) == b` for every `b` in every format (text
//! escapes `\` itself), so a key printed by one command can be pasted into another.
//!
//! Thread safety: plain data; the interrupt flag is an atomic shared with the Ctrl-C handler.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use comfy_table::{Cell, CellAlignment, Table, presets};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code of a successful command.
pub const EXIT_OK: i32 = 0;
/// Exit code when the operation failed (damage found, file missing, database locked, ...).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad usage (clap uses the same for argument errors).
pub const EXIT_USAGE: i32 = 2;
/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How keys and values are shown and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BytesFormat {
    /// UTF-8 text; other bytes (and `\`) escaped as `\xNN` (`\\` for a backslash).
    #[default]
    Text,
    /// Lowercase hexadecimal, two digits a byte.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Shows `bytes` in `fmt`.
pub fn encode_bytes(bytes: &[u8], fmt: BytesFormat) -> String {
    match fmt {
        BytesFormat::Hex => bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
        BytesFormat::Base64 => BASE64.encode(bytes),
        BytesFormat::Text => escape_text(bytes),
    }
}

fn escape_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Parses `s` in `fmt`; the reason when it is not valid in that format.
pub fn decode_bytes(s: &str, fmt: BytesFormat) -> Result<Vec<u8>, String> {
    match fmt {
        BytesFormat::Hex => {
            let digits = s.as_bytes();
            if !digits.len().is_multiple_of(2) {
                return Err(format!("{s:?} is not hex: odd number of digits"));
            }
            digits
                .chunks(2)
                .map(|p| {
                    let hi = (p[0] as char).to_digit(16);
                    let lo = (p[1] as char).to_digit(16);
                    match (hi, lo) {
                        (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                        _ => Err(format!("{s:?} is not hex: bad digit in {:?}", String::from_utf8_lossy(p))),
                    }
                })
                .collect()
        }
        BytesFormat::Base64 => BASE64.decode(s).map_err(|e| format!("{s:?} is not base64: {e}")),
        BytesFormat::Text => unescape_text(s),
    }
}

fn unescape_text(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let esc = &rest[i..];
        if let Some(after) = esc.strip_prefix("\\\\") {
            out.push(b'\\');
            rest = after;
        } else if let Some(hex) = esc.strip_prefix("\\x").and_then(|h| h.get(..2))
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            rest = &esc[4..];
        } else {
            return Err(format!("{s:?}: a backslash must start \\\\ or \\xNN (two hex digits)"));
        }
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

/// What a command produced: the JSON document and the text for a person.
#[derive(Debug)]
pub struct Report {
    pub json: Value,
    pub text: String,
    /// The command ran to the end but the answer is a failure (`sst verify` found damage,
    /// `db get` found no key): the report is printed, then this line on stderr, exit code 1.
    pub failed: Option<String>,
}

impl Report {
    pub fn ok(json: Value, text: String) -> Self {
        Self { json, text, failed: None }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage: a value that does not parse, options that contradict each other.
    Usage(String),
    /// The operation failed; the message names the file and what to do.
    Failed { message: String, file: Option<String>, offset: Option<u64> },
    /// Ctrl-C: the command stopped and removed what it had half made.
    Interrupted,
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Failed { .. } => EXIT_FAILURE,
            CliError::Interrupted => EXIT_INTERRUPTED,
        }
    }

    pub fn message(&self) -> String {
        match self {
            CliError::Usage(m) => format!("{m} (see --help)"),
            CliError::Failed { message, .. } => message.clone(),
            CliError::Interrupted => "interrupted: stopped, and nothing half-made was left behind".into(),
        }
    }

    pub fn to_json(&self) -> Value {
        let (kind, file, offset) = match self {
            CliError::Usage(_) => ("usage", None, None),
            CliError::Failed { file, offset, .. } => ("failed", file.clone(), *offset),
            CliError::Interrupted => ("interrupted", None, None),
        };
        serde_json::json!({
            "ok": false,
            "error": { "kind": kind, "message": self.message(), "file": file, "offset": offset,
                       "exit_code": self.exit_code() }
        })
    }
}

/// One line a person can act on, for an engine error met while working on `subject`.
pub fn engine_error(subject: &Path, e: strata::Error) -> CliError {
    use strata::Error as E;
    let shown = subject.display();
    match e {
        E::Corruption { file, offset, reason } => CliError::Failed {
            message: format!(
                "{}: corrupted at offset {offset}: {reason}; the file is damaged: restore the database \
                 from a checkpoint or backup (`strata sst verify` and `strata wal dump` show the extent)",
                file.display()
            ),
            file: Some(file.display().to_string()),
            offset: Some(offset),
        },
        E::Locked(p) => CliError::Failed {
            message: format!(
                "{}: the database is open for writing by another process; read commands (get, scan, \
                 count, stats) work beside it, writes need the writer stopped",
                p.display()
            ),
            file: Some(p.display().to_string()),
            offset: None,
        },
        E::Io { path, source } => {
            let file = path.as_deref().unwrap_or(subject).display().to_string();
            let hint = match source.kind() {
                std::io::ErrorKind::NotFound => "check the path",
                std::io::ErrorKind::PermissionDenied => "check the permissions",
                _ => "check the disk and the path",
            };
            CliError::Failed { message: format!("{file}: {source}; {hint}"), file: Some(file), offset: None }
        }
        E::NotFound(what) => CliError::Failed {
            message: format!("{shown}: {what}; check the path names a Strata database"),
            file: Some(shown.to_string()),
            offset: None,
        },
        E::ColumnFamilyNotFound(cf) => CliError::Failed {
            message: format!("{shown}: no column family {cf:?}; `strata db stats {shown}` lists the column families"),
            file: Some(shown.to_string()),
            offset: None,
        },
        E::AlreadyExists(p) => CliError::Failed {
            message: format!("{}: already exists; choose a new path", p.display()),
            file: Some(p.display().to_string()),
            offset: None,
        },
        E::TryAgain(why) => CliError::Failed {
            message: format!("{shown}: {why}; the writer kept changing the database, try again"),
            file: Some(shown.to_string()),
            offset: None,
        },
        // A library call stopped by its progress callback: after Ctrl-C that is the
        // interruption (the library removed what it had half made).
        E::Cancelled(_) if INTERRUPTED.load(Ordering::SeqCst) => CliError::Interrupted,
        E::InvalidArgument(why) => {
            CliError::Failed { message: format!("{shown}: {why}"), file: Some(shown.to_string()), offset: None }
        }
        other => CliError::Failed { message: format!("{shown}: {other}"), file: Some(shown.to_string()), offset: None },
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler: the first Ctrl-C asks the running command to stop at its next
/// check (it then removes what it half made); a second one exits at once.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
        // Runs on ctrlc's thread, after the flag is set: a test waits for this line.
        eprintln!("strata: stopping at the next safe point (Ctrl-C again to quit at once)");
    });
}

/// Whether Ctrl-C was pressed: progress callbacks return "stop" once it was.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Refuses an object-store URL (`s3://...`): this build works on local paths only.
pub fn local_path(arg: &Path, what: &str) -> Result<(), CliError> {
    let s = arg.to_string_lossy();
    match s.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Err(CliError::Failed {
                message: format!(
                    "{s}: {scheme}:// URLs are not supported by this build yet; give the {what} as a local path"
                ),
                file: Some(s.into_owned()),
                offset: None,
            })
        }
        _ => Ok(()),
    }
}

/// `Err(Interrupted)` once Ctrl-C was pressed. Long loops call it between steps.
pub fn check_interrupt() -> Result<(), CliError> {
    if INTERRUPTED.load(Ordering::SeqCst) { Err(CliError::Interrupted) } else { Ok(()) }
}

/// An aligned text table with a header row; columns whose header is in `right` are
/// right-aligned (numbers).
pub fn table(headers: &[&str], right: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(headers.iter().map(Cell::new).collect::<Vec<_>>());
    for row in rows {
        t.add_row(row);
    }
    for (i, h) in headers.iter().enumerate() {
        if right.contains(h)
            && let Some(col) = t.column_mut(i)
        {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut s = t.trim_fmt();
    s.push('\n');
    s
}

/// `name: value` lines, names padded to one width.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = String::new();
    for (k, v) in pairs {
        let _ = writeln!(s, "{:width$}  {v}", format!("{k}:"), width = width + 1);
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn every_format_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).chain([b'\\', b'x', b'\\']).collect();
        for fmt in [BytesFormat::Text, BytesFormat::Hex, BytesFormat::Base64] {
            let shown = encode_bytes(&all, fmt);
            assert_eq!(decode_bytes(&shown, fmt).unwrap(), all, "{fmt:?}: {shown}");
        }
    }

    #[test]
    fn text_shows_printable_utf8_as_is_and_escapes_the_rest() {
        assert_eq!(encode_bytes("user:1 é".as_bytes(), BytesFormat::Text), "user:1 é");
        assert_eq!(encode_bytes(b"a\x00\xff\\\n", BytesFormat::Text), "a\\x00\\xff\\\\\\x0a");
        assert_eq!(decode_bytes("a\\x00b", BytesFormat::Text).unwrap(), b"a\x00b");
    }

    #[test]
    fn malformed_input_is_refused_with_the_reason() {
        assert!(decode_bytes("abc", BytesFormat::Hex).unwrap_err().contains("odd"));
        assert!(decode_bytes("zz", BytesFormat::Hex).unwrap_err().contains("bad digit"));
        assert!(decode_bytes("@@@", BytesFormat::Base64).is_err());
        assert!(decode_bytes("a\\q", BytesFormat::Text).unwrap_err().contains("backslash"));
        assert!(decode_bytes("a\\x4", BytesFormat::Text).is_err());
        assert_eq!(decode_bytes("00ff", BytesFormat::Hex).unwrap(), vec![0, 255]);
    }

    #[test]
    fn tables_align_columns() {
        let t =
            table(&["key", "size"], &["size"], vec![vec!["a".into(), "1".into()], vec!["bbb".into(), "100".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{t}");
        assert!(lines[1].ends_with("  1"), "{t}");
    }
}
