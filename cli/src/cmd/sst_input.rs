//! Input of `strata sst write`: JSON lines or CSV rows parsed into entries, then sorted, with
//! duplicates refused.
//!
//! JSON lines: one object a line, `{"key": K, "value": V}` or `{"key": K, "delete": true}`
//! (a tombstone); blank lines are skipped. CSV: rows of exactly two fields, `key,value`, with
//! the usual quoting; `--csv-header` skips the first row. Keys and values are strings in the
//! `--key-format` / `--value-format` (text, hex, base64).
//!
//! Invariants: [`sort_unique`] returns entries in strictly increasing key order or names both
//! lines of the first duplicate key; nothing is silently dropped or merged.
//!
//! Thread safety: pure functions over owned data.

use crate::Formats;
use crate::output::{BytesFormat, decode_bytes, encode_bytes};
use std::io::BufRead;
use strata_base::ikey::ValueKind;

/// One entry to write, with the input line (1-based) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputEntry {
    pub key: Vec<u8>,
    pub kind: ValueKind,
    pub value: Vec<u8>,
    pub line: u64,
}

/// The input file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Jsonl,
    Csv,
}

impl InputFormat {
    /// From the file name: `.jsonl`/`.ndjson`/`.json` or `.csv`.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
            Some(Self::Jsonl)
        } else if lower.ends_with(".csv") {
            Some(Self::Csv)
        } else {
            None
        }
    }
}

fn field(s: &str, fmt: BytesFormat, what: &str, line: u64) -> Result<Vec<u8>, String> {
    decode_bytes(s, fmt).map_err(|e| format!("line {line}: bad {what}: {e}"))
}

/// Parses JSON lines; `progress` gets the bytes of each line read.
pub fn parse_jsonl(input: impl BufRead, f: Formats, mut progress: impl FnMut(u64)) -> Result<Vec<InputEntry>, String> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| format!("line {n}: {e}"))?;
        progress(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("line {n}: not JSON: {e}"))?;
        let obj =
            v.as_object().ok_or_else(|| format!("line {n}: expected an object {{\"key\": .., \"value\": ..}}"))?;
        if let Some(unknown) = obj.keys().find(|k| !["key", "value", "delete"].contains(&k.as_str())) {
            return Err(format!("line {n}: unknown field {unknown:?} (expected key, value, delete)"));
        }
        let key =
            obj.get("key").and_then(|k| k.as_str()).ok_or_else(|| format!("line {n}: \"key\" must be a string"))?;
        let delete = match obj.get("delete") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => return Err(format!("line {n}: \"delete\" must be true or false")),
        };
        let (kind, value) = match (delete, obj.get("value")) {
            (true, None) => (ValueKind::Delete, Vec::new()),
            (true, Some(_)) => return Err(format!("line {n}: a delete has no \"value\"")),
            (false, Some(serde_json::Value::String(v))) => (ValueKind::Put, field(v, f.value_format, "value", n)?),
            (false, _) => return Err(format!("line {n}: \"value\" must be a string (or give \"delete\": true)")),
        };
        out.push(InputEntry { key: field(key, f.key_format, "key", n)?, kind, value, line: n });
    }
    Ok(out)
}

/// Parses CSV rows `key,value`; `progress` gets the bytes consumed.
pub fn parse_csv(
    input: impl std::io::Read,
    f: Formats,
    header: bool,
    mut progress: impl FnMut(u64),
) -> Result<Vec<InputEntry>, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(header).flexible(true).from_reader(input);
    let mut out = Vec::new();
    let mut consumed = 0u64;
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("CSV: {e}")),
        }
        let n = record.position().map_or(0, |p| p.line());
        let end = rdr.position().byte();
        progress(end.saturating_sub(consumed));
        consumed = end;
        if record.len() != 2 {
            return Err(format!("line {n}: {} fields, expected 2 (key,value)", record.len()));
        }
        let key = field(&record[0], f.key_format, "key", n)?;
        let value = field(&record[1], f.value_format, "value", n)?;
        out.push(InputEntry { key, kind: ValueKind::Put, value, line: n });
    }
    Ok(out)
}

/// Sorts by key (stable) and refuses duplicates, naming the key and both lines. Returns
/// whether the input was already sorted.
pub fn sort_unique(entries: &mut [InputEntry], key_format: BytesFormat) -> Result<bool, String> {
    let sorted = entries.windows(2).all(|w| w[0].key <= w[1].key);
    if !sorted {
        entries.sort_by(|a, b| a.key.cmp(&b.key));
    }
    if let Some(w) = entries.windows(2).find(|w| w[0].key == w[1].key) {
        let (a, b) = (w[0].line.min(w[1].line), w[0].line.max(w[1].line));
        return Err(format!(
            "duplicate key {:?} at lines {a} and {b}: a table holds each key once; remove one of them",
            encode_bytes(&w[0].key, key_format)
        ));
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    const TEXT: Formats = Formats { key_format: BytesFormat::Text, value_format: BytesFormat::Text };

    #[test]
    fn jsonl_puts_deletes_and_blank_lines() {
        let input = "{\"key\":\"b\",\"value\":\"2\"}\n\n{\"key\":\"a\",\"delete\":true}\n";
        let mut bytes = 0;
        let e = parse_jsonl(input.as_bytes(), TEXT, |n| bytes += n).unwrap();
        assert_eq!(bytes, input.len() as u64);
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].key.as_slice(), e[0].kind, e[0].value.as_slice(), e[0].line),
            (&b"b"[..], ValueKind::Put, &b"2"[..], 1)
        );
        assert_eq!((e[1].key.as_slice(), e[1].kind, e[1].line), (&b"a"[..], ValueKind::Delete, 3));
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        for (input, want) in [
            ("{\"key\":\"a\",\"value\":\"1\"}\nnot json\n", "line 2: not JSON"),
            ("{\"key\":1,\"value\":\"1\"}\n", "line 1: \"key\" must be a string"),
            ("{\"key\":\"a\"}\n", "line 1: \"value\" must be a string"),
            ("{\"key\":\"a\",\"value\":\"1\",\"delete\":true}\n", "line 1: a delete has no"),
            ("{\"key\":\"a\",\"val\":\"1\"}\n", "line 1: unknown field \"val\""),
            ("[1]\n", "line 1: expected an object"),
        ] {
            let err = parse_jsonl(input.as_bytes(), TEXT, |_| {}).unwrap_err();
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let hex = Formats { key_format: BytesFormat::Hex, value_format: BytesFormat::Text };
        let err = parse_jsonl("{\"key\":\"zz\",\"value\":\"1\"}".as_bytes(), hex, |_| {}).unwrap_err();
        assert!(err.contains("line 1: bad key"), "{err}");
    }

    #[test]
    fn csv_rows_with_quotes_and_header() {
        let input = "key,value\n\"a,1\",x\nb,\"y\"\"z\"\n";
        let e = parse_csv(input.as_bytes(), TEXT, true, |_| {}).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].key.as_slice(), e[0].value.as_slice(), e[0].line), (&b"a,1"[..], &b"x"[..], 2));
        assert_eq!(e[1].value, b"y\"z");
        let no_header = parse_csv(input.as_bytes(), TEXT, false, |_| {}).unwrap();
        assert_eq!(no_header.len(), 3);
        let err = parse_csv("a,1\nb\n".as_bytes(), TEXT, false, |_| {}).unwrap_err();
        assert!(err.contains("line 2: 1 fields"), "{err}");
    }

    #[test]
    fn sorting_is_stable_and_duplicates_name_both_lines() {
        let mk = |k: &str, line| InputEntry { key: k.into(), kind: ValueKind::Put, value: vec![], line };
        let mut e = vec![mk("c", 1), mk("a", 2), mk("b", 3)];
        assert!(!sort_unique(&mut e, BytesFormat::Text).unwrap());
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3, 1]);
        assert!(sort_unique(&mut e, BytesFormat::Text).unwrap());
        let mut dup = vec![mk("b", 1), mk("a", 2), mk("b", 7)];
        let err = sort_unique(&mut dup, BytesFormat::Text).unwrap_err();
        assert!(err.contains("duplicate key \"b\" at lines 1 and 7"), "{err}");
    }

    #[test]
    fn formats_follow_the_file_name() {
        assert_eq!(InputFormat::from_name("data.JSONL"), Some(InputFormat::Jsonl));
        assert_eq!(InputFormat::from_name("x/data.csv"), Some(InputFormat::Csv));
        assert_eq!(InputFormat::from_name("data.txt"), None);
    }
}
