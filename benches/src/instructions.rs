//! The gate of the instruction-count benchmarks (`benches/benches/instructions.rs`): reads the
//! counts gungraun printed (`--output-format=json`, one summary per line), compares them with
//! the committed baseline (`benches/baselines/instructions.json`) and decides.
//!
//! The decision ([`judge`]) is a pure function over plain data: under the rustc the baseline
//! was made with, any benchmark more than `threshold_percent` above its baseline fails the
//! gate; under another rustc the counts are not comparable (code generation changes), so the
//! gate warns, prints the differences and writes a new baseline instead of failing.
//!
//! Invariants: the baseline file is only written whole (a temporary sibling renamed into
//! place); a benchmark missing from the output or from the baseline is reported, never
//! silently passed as a regression check.
//!
//! Thread safety: plain functions and values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The committed baseline: instruction counts per benchmark and what made them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// `rustc --version` of the build that produced the counts.
    pub rustc: String,
    /// A regression above this many percent fails the gate (same rustc only).
    pub threshold_percent: u64,
    /// Instructions executed (callgrind's `Ir`) per benchmark, `function/id`.
    pub benches: BTreeMap<String, u64>,
}

/// What the gate concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same rustc, no benchmark above the threshold. `notes` lists improvements beyond the
    /// threshold and benchmarks new or missing (worth a deliberate re-baseline).
    Pass { notes: Vec<String> },
    /// Same rustc, at least one benchmark above the threshold.
    Regressed { lines: Vec<String> },
    /// Another rustc: counts are not comparable; the caller writes a new baseline.
    Rebaseline { lines: Vec<String> },
}

/// The change of `now` against `base` in percent.
fn percent(base: u64, now: u64) -> f64 {
    if base == 0 {
        return if now == 0 { 0.0 } else { f64::INFINITY };
    }
    (now as f64 - base as f64) * 100.0 / base as f64
}

/// One line per benchmark: name, baseline, now, change.
pub fn table(base: &BTreeMap<String, u64>, now: &BTreeMap<String, u64>) -> Vec<String> {
    let mut names: Vec<&String> = base.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| match (base.get(n), now.get(n)) {
            (Some(&b), Some(&c)) => format!("{n:<40} {b:>12} -> {c:>12} ({:+.2}%)", percent(b, c)),
            (Some(&b), None) => format!("{n:<40} {b:>12} -> (missing from this run)"),
            (None, Some(&c)) => format!("{n:<40} (not in the baseline) -> {c:>12}"),
            (None, None) => String::new(),
        })
        .collect()
}

/// Compares `now` (counts of this run, made with `rustc`) with `base`. See the module docs.
pub fn judge(base: &Baseline, now: &BTreeMap<String, u64>, rustc: &str) -> Verdict {
    let lines = table(&base.benches, now);
    if base.rustc.trim() != rustc.trim() {
        return Verdict::Rebaseline { lines };
    }
    let limit = base.threshold_percent as f64;
    let mut regressed = Vec::new();
    let mut notes = Vec::new();
    for (name, &c) in now {
        match base.benches.get(name) {
            Some(&b) if percent(b, c) > limit => regressed.push(name.clone()),
            Some(&b) if percent(b, c) < -limit => notes.push(format!("{name} improved by more than {limit}%")),
            Some(_) => {}
            None => notes.push(format!("{name} is not in the baseline")),
        }
    }
    for name in base.benches.keys().filter(|n| !now.contains_key(*n)) {
        notes.push(format!("{name} is in the baseline but did not run"));
    }
    if regressed.is_empty() {
        Verdict::Pass { notes }
    } else {
        let mut out = lines;
        out.push(format!("regressed by more than {limit}%: {}", regressed.join(", ")));
        Verdict::Regressed { lines: out }
    }
}

/// The instruction counts in gungraun's JSON output (one benchmark summary per line; other
/// lines are skipped): `function/id` -> total `Ir` of the callgrind run.
pub fn parse_counts(output: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    for line in output.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("bad summary line: {e}"))?;
        let Some(function) = v.get("function_name").and_then(|f| f.as_str()) else { continue };
        let name = match v.get("id").and_then(|i| i.as_str()) {
            Some(id) => format!("{function}/{id}"),
            None => function.to_string(),
        };
        let ir = find_ir(&v).ok_or_else(|| format!("no instruction count (Ir) in the summary of {name}"))?;
        out.insert(name, ir);
    }
    if out.is_empty() {
        return Err("no benchmark summary in the output (was it run with --output-format=json?)".into());
    }
    Ok(out)
}

/// The first `"Ir"` metric in a summary, depth first: the total of the callgrind profile
/// (`profiles[0].summaries.total.summary.Ir.metrics`), whose first number is this run's.
fn find_ir(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(ir) = m.get("Ir") {
                return first_number(ir);
            }
            m.values().find_map(find_ir)
        }
        serde_json::Value::Array(a) => a.iter().find_map(find_ir),
        _ => None,
    }
}

/// The first integer inside `v` (the new value comes before the old one in gungraun's
/// `{"metrics": {"Both": [new, old]}}` / `{"Left": new}` shapes).
fn first_number(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::Object(m) => {
            // A difference record (`diffs`) also holds numbers: prefer the metrics.
            if let Some(x) = m.get("metrics") {
                return first_number(x);
            }
            m.values().find_map(first_number)
        }
        serde_json::Value::Array(a) => a.iter().find_map(first_number),
        _ => None,
    }
}

/// Reads the baseline at `path`; `None` if there is none yet.
pub fn read_baseline(path: &Path) -> Result<Option<Baseline>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `b` to `path` whole: a temporary sibling, then a rename.
pub fn write_baseline(path: &Path, b: &Baseline) -> Result<(), String> {
    let text = serde_json::to_string_pretty(b).map_err(|e| e.to_string())? + "\n";
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn counts(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
        v.iter().map(|(n, c)| ((*n).to_string(), *c)).collect()
    }

    fn base() -> Baseline {
        Baseline { rustc: "rustc 1.95.0".into(), threshold_percent: 10, benches: counts(&[("a/x", 1000), ("b", 500)]) }
    }

    #[test]
    fn passes_within_the_threshold_and_fails_above_it() {
        assert!(matches!(judge(&base(), &counts(&[("a/x", 1100), ("b", 400)]), "rustc 1.95.0"), Verdict::Pass { .. }));
        match judge(&base(), &counts(&[("a/x", 1101), ("b", 500)]), "rustc 1.95.0") {
            Verdict::Regressed { lines } => assert!(lines.last().unwrap().contains("a/x"), "{lines:?}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn another_rustc_rebaselines_instead_of_failing() {
        let v = judge(&base(), &counts(&[("a/x", 5000), ("b", 500)]), "rustc 1.96.0");
        assert!(matches!(v, Verdict::Rebaseline { .. }), "{v:?}");
    }

    #[test]
    fn new_missing_and_improved_benchmarks_are_noted() {
        match judge(&base(), &counts(&[("a/x", 800), ("c", 1)]), "rustc 1.95.0") {
            Verdict::Pass { notes } => {
                assert_eq!(notes.len(), 3, "{notes:?}");
                assert!(notes.iter().any(|n| n.contains("a/x improved")));
                assert!(notes.iter().any(|n| n.contains("c is not in the baseline")));
                assert!(notes.iter().any(|n| n.contains("b is in the baseline but did not run")));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn parses_gungraun_summaries() {
        let line = r#"{"function_name":"get","id":"c","profiles":[{"summaries":{"total":{"summary":{"Callgrind":{"Ir":{"metrics":{"Both":[{"Int":1234},{"Int":1000}]},"diffs":{"diff_pct":23.4}}}}}}}]}"#;
        let other = r#"{"function_name":"put","profiles":[{"summaries":{"total":{"summary":{"Callgrind":{"Ir":{"metrics":{"Left":{"Int":77}}}}}}}}]}"#;
        let text = format!("noise\n{line}\n{other}\n");
        assert_eq!(parse_counts(&text).unwrap(), counts(&[("get/c", 1234), ("put", 77)]));
        assert!(parse_counts("nothing here").is_err());
        assert!(parse_counts(r#"{"function_name":"x"}"#).is_err());
    }
}
