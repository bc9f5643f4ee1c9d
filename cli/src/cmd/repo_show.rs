//! What the `strata repo` commands print, and the pure parsers of their arguments
//! (snapshot references, `KEY=VALUE` pairs, durations, UTC times).
//!
//! Invariants: every JSON field named here is documented in `docs/cli.md` (the test
//! `cli_json_fields.rs` compares them); parsers return the reason for a bad value, never panic.
//!
//! Thread safety: plain functions over plain data.

use crate::output;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strata_checkpoint::repo::{FileProblem, GcReport, Problem, RestoreInfo, SnapshotInfo, VerifyLevel, VerifyReport};

/// Milliseconds since the Unix epoch (0 for times before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `YYYY-MM-DD hh:mm:ssZ` (UTC) for Unix seconds (the civil-from-days algorithm of
/// H. Hinnant's date library).
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `KEY=VALUE`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// A duration: a number followed by `s`, `m`, `h`, `d` or `w` (`90m`, `7d`).
pub fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration such as 90s, 30m, 12h, 7d or 2w");
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = s[..unit_at].parse().map_err(|_| bad())?;
    let secs = match &s[unit_at..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

/// A snapshot as JSON (`repo list`, `show`, `snapshot`).
pub fn snapshot_json(s: &SnapshotInfo) -> Value {
    json!({
        "id": s.id.0,
        "name": s.name,
        "state": serde_json::to_value(s.state).unwrap_or(Value::Null),
        "db_id": s.db_id.map(|d| d.to_hex()),
        "sequence": s.sequence,
        "created_at_ms": unix_ms(s.created_at),
        "column_families": s.column_families,
        "tables": s.tables,
        "bytes_total": s.bytes_total,
        "bytes_added": s.bytes_added,
        "labels": s.labels,
        "failure": s.failure,
    })
}

fn state(s: &SnapshotInfo) -> String {
    serde_json::to_value(s.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// One snapshot as `name: value` lines.
pub fn snapshot_text(s: &SnapshotInfo) -> String {
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut pairs = vec![
        ("snapshot", s.id.to_string()),
        ("name", s.name.clone().unwrap_or_else(|| "-".into())),
        ("state", state(s)),
        ("created", utc(unix_ms(s.created_at) / 1000)),
        ("database id", s.db_id.map_or_else(|| "-".into(), |d| d.to_hex())),
        ("sequence", s.sequence.to_string()),
        ("column families", s.column_families.join(", ")),
        ("tables", s.tables.to_string()),
        ("bytes", format!("{} ({} added by this snapshot)", s.bytes_total, s.bytes_added)),
        ("labels", if labels.is_empty() { "-".into() } else { labels.join(", ") }),
    ];
    if let Some(f) = &s.failure {
        pairs.push(("failure", f.clone()));
    }
    output::fields(&pairs)
}

/// The table of `repo list`.
pub fn list_text(list: &[SnapshotInfo]) -> String {
    if list.is_empty() {
        return "no snapshots (take one with `strata repo snapshot REPO DB`)\n".into();
    }
    let rows = list
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.name.clone().unwrap_or_else(|| "-".into()),
                state(s),
                utc(unix_ms(s.created_at) / 1000),
                s.sequence.to_string(),
                s.tables.to_string(),
                s.bytes_total.to_string(),
                s.bytes_added.to_string(),
            ]
        })
        .collect();
    output::table(
        &["id", "name", "state", "created", "sequence", "tables", "bytes", "added"],
        &["id", "sequence", "tables", "bytes", "added"],
        rows,
    )
}

fn problem_text(p: &Problem) -> String {
    match p {
        Problem::Missing => "missing".into(),
        Problem::SizeMismatch { expected, actual } => format!("size {actual}, expected {expected}"),
        Problem::ChecksumMismatch { expected, actual } => {
            format!("checksum {actual:08x}, expected {expected:08x}")
        }
        Problem::Corrupt(why) => format!("corrupt: {why}"),
        Problem::Unreadable(why) => format!("unreadable: {why}"),
    }
}

fn problem_json(p: &FileProblem) -> Value {
    json!({ "file": p.file.display().to_string(), "key": p.key, "problem": problem_text(&p.problem) })
}

pub fn level_name(l: VerifyLevel) -> &'static str {
    match l {
        VerifyLevel::Sizes => "sizes",
        VerifyLevel::Checksums => "checksums",
    }
}

/// One snapshot's verification as JSON.
pub fn verify_json(r: &VerifyReport) -> Value {
    json!({
        "id": r.id.0,
        "ok": r.is_ok(),
        "files_checked": r.files_checked,
        "bytes_checked": r.bytes_checked,
        "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>(),
    })
}

/// One snapshot's verification as text: a line, then one line per bad file.
pub fn verify_text(r: &VerifyReport) -> String {
    let mut s = format!(
        "snapshot {}: {} ({} files, {} bytes checked)\n",
        r.id,
        if r.is_ok() { "ok" } else { "DAMAGED" },
        r.files_checked,
        r.bytes_checked
    );
    for p in &r.problems {
        s.push_str(&format!("  {}: {}\n", p.file.display(), problem_text(&p.problem)));
    }
    s
}

/// A restore's or an import's result as JSON fields (merged into the command's document).
pub fn restore_fields(r: &RestoreInfo) -> Vec<(&'static str, Value)> {
    vec![
        ("target", json!(r.dir.display().to_string())),
        ("db_id", json!(r.db_id.to_hex())),
        ("sequence", json!(r.sequence)),
        ("linked_files", json!(r.linked_files)),
        ("copied_files", json!(r.copied_files)),
        ("copied_bytes", json!(r.copied_bytes)),
    ]
}

pub fn restore_text(r: &RestoreInfo) -> String {
    output::fields(&[
        ("database", r.dir.display().to_string()),
        ("database id", r.db_id.to_hex()),
        ("sequence", r.sequence.to_string()),
        ("files linked", r.linked_files.to_string()),
        ("files copied", format!("{} ({} bytes)", r.copied_files, r.copied_bytes)),
    ])
}

pub fn gc_fields(g: &GcReport) -> Vec<(&'static str, Value)> {
    let ids = |v: &[strata_checkpoint::SnapshotId]| v.iter().map(|i| i.0).collect::<Vec<_>>();
    vec![
        ("expired", json!(ids(&g.expired))),
        ("forgotten", json!(ids(&g.forgotten))),
        ("objects_deleted", json!(g.objects_deleted)),
        ("objects_restored", json!(g.objects_restored)),
        ("temporaries_removed", json!(g.temporaries_removed)),
        (
            "damaged",
            json!(g.damaged.iter().map(|(id, files)| json!({ "id": id.0, "missing": files })).collect::<Vec<_>>()),
        ),
    ]
}

pub fn gc_text(g: &GcReport) -> String {
    let ids = |v: &[strata_checkpoint::SnapshotId]| {
        if v.is_empty() { "none".to_string() } else { v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ") }
    };
    let mut s = output::fields(&[
        ("unused files deleted", g.objects_deleted.to_string()),
        ("files put back", g.objects_restored.to_string()),
        ("temporary files removed", g.temporaries_removed.to_string()),
        ("expired snapshots", ids(&g.expired)),
        ("forgotten snapshots", ids(&g.forgotten)),
    ]);
    for (id, files) in &g.damaged {
        s.push_str(&format!("snapshot {id} is DAMAGED: missing {}\n", files.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_796_046_702), "2026-11-30 13:51:42Z");
    }

    #[test]
    fn durations_parse_with_a_unit_and_refuse_the_rest() {
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(duration("2w").unwrap(), Duration::from_secs(14 * 86_400));
        for bad in ["", "7", "d", "7y", "-1d", "1.5h", "99999999999999999999d"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_values_need_a_key_and_an_equals_sign() {
        assert_eq!(key_value("env=prod").unwrap(), ("env".into(), "prod".into()));
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(key_value("novalue").is_err());
        assert!(key_value("=x").is_err());
    }
}
