//! The comparison's outputs: a Markdown table, a JSON document and an SVG bar chart of ops/s
//! per workload and engine, with ratios against RocksDB.
//!
//! Invariants: every output lists the cells in run order grouped by workload; a ratio is only
//! given when RocksDB ran that workload; strings are escaped for their format.
//!
//! Thread safety: pure functions over the cells.

use super::{Cell, EngineKind};
use serde::Serialize;
use std::fmt::Write as _;

/// Workload names in first-seen order.
fn workloads(cells: &[Cell]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in cells {
        if !out.contains(&c.workload) {
            out.push(c.workload.clone());
        }
    }
    out
}

/// The cell's ops/s over RocksDB's for the same workload.
pub fn ratio_vs_rocksdb(cells: &[Cell], c: &Cell) -> Option<f64> {
    let base = cells.iter().find(|r| r.engine == EngineKind::RocksDb && r.workload == c.workload)?;
    let b = base.ops_per_sec();
    (b > 0.0).then(|| c.ops_per_sec() / b)
}

/// Formats a count with thousands separators.
pub fn thousands(x: f64) -> String {
    if x < 10.0 {
        return format!("{:.2}", x.max(0.0));
    }
    let s = format!("{x:.0}");
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// Percentile `i` of the cell (0: p50, 1: p99, 2: p99.9) for the table.
fn latency(c: &Cell, i: usize) -> String {
    let Some(us) = c.lat_us.and_then(|l| l.get(i).copied()) else { return "-".into() };
    if us >= 10_000.0 { format!("{:.0} ms", us / 1000.0) } else { format!("{us:.1}") }
}

/// The Markdown table: one row per cell, grouped by workload.
pub fn markdown(cells: &[Cell]) -> String {
    let mut s = String::from(
        "| workload | engine | ops/s | vs RocksDB | MB/s | p50 µs | p99 µs | p99.9 µs | write amp | space amp | peak RSS MiB | peak anon MiB | notes |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for w in workloads(cells) {
        for c in cells.iter().filter(|c| c.workload == w) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.workload,
                c.engine,
                thousands(c.ops_per_sec()),
                ratio_vs_rocksdb(cells, c).map_or_else(|| "n/a".into(), |r| format!("{r:.2}x")),
                c.mb_per_sec(),
                latency(c, 0),
                latency(c, 1),
                latency(c, 2),
                opt(c.write_amp, 2),
                opt(c.space_amp, 2),
                c.peak_rss.map_or_else(|| "-".into(), |b| format!("{}", b >> 20)),
                c.peak_anon.map_or_else(|| "-".into(), |b| format!("{}", b >> 20)),
                c.note.replace('|', "/"),
            );
        }
    }
    s
}

/// The `meta` pairs as a JSON object, in order (a key may repeat, e.g. `failure`).
struct Meta<'a>(&'a [(String, String)]);

impl Serialize for Meta<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// One row of the JSON document's `results`.
#[derive(Serialize)]
struct JsonCell<'a> {
    engine: &'static str,
    workload: &'a str,
    ops: u64,
    seconds: f64,
    ops_per_sec: f64,
    mb_per_sec: f64,
    ratio_vs_rocksdb: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    write_amp: Option<f64>,
    space_amp: Option<f64>,
    peak_rss_bytes: Option<u64>,
    peak_anon_bytes: Option<u64>,
    note: &'a str,
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    meta: Meta<'a>,
    results: Vec<JsonCell<'a>>,
}

/// A finite number, or `None` (JSON `null`) for NaN and infinities.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// The JSON document: `meta` (string pairs: machine, command, sizes, settings) and `results`.
pub fn json(meta: &[(String, String)], cells: &[Cell]) -> serde_json::Result<String> {
    let results = cells
        .iter()
        .map(|c| {
            let lat = |i: usize| c.lat_us.and_then(|l| l.get(i).copied());
            JsonCell {
                engine: c.engine.name(),
                workload: &c.workload,
                ops: c.ops,
                seconds: c.secs,
                ops_per_sec: c.ops_per_sec(),
                mb_per_sec: c.mb_per_sec(),
                ratio_vs_rocksdb: finite(ratio_vs_rocksdb(cells, c)),
                p50_us: lat(0),
                p99_us: lat(1),
                p999_us: lat(2),
                write_amp: finite(c.write_amp),
                space_amp: finite(c.space_amp),
                peak_rss_bytes: c.peak_rss,
                peak_anon_bytes: c.peak_anon,
                note: &c.note,
            }
        })
        .collect();
    let doc = JsonDoc { meta: Meta(meta), results };
    let mut out = serde_json::to_string_pretty(&doc)?;
    out.push('\n');
    Ok(out)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn color(e: EngineKind) -> &'static str {
    match e {
        EngineKind::Strata => "#d62728",
        EngineKind::RocksDb => "#1f77b4",
        EngineKind::Fjall => "#2ca02c",
        EngineKind::Sled => "#9467bd",
        EngineKind::Redb => "#ff7f0e",
    }
}

/// A bar chart: one panel per workload, one bar per engine, bar length ops/s relative to the
/// fastest engine of that workload, labelled with ops/s and the ratio against RocksDB.
pub fn svg(title: &str, cells: &[Cell]) -> String {
    const W: usize = 960;
    const LEFT: usize = 150;
    const BAR_W: usize = 520;
    const ROW: usize = 18;
    let ws = workloads(cells);
    let rows: usize = ws.iter().map(|w| cells.iter().filter(|c| &c.workload == w).count() * ROW + 26).sum();
    let h = 60 + rows + 10;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">{}</text>\n\
         <text x=\"10\" y=\"42\" fill=\"#555\">ops/s per workload (longer is better; bars scaled to the fastest engine of each workload; ratio vs RocksDB in brackets)</text>\n",
        xml(title)
    );
    let mut y = 60;
    for w in &ws {
        let group: Vec<&Cell> = cells.iter().filter(|c| &c.workload == w).collect();
        let max = group.iter().map(|c| c.ops_per_sec()).fold(0.0f64, f64::max);
        let _ = writeln!(s, "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{}</text>", y + 14, xml(w));
        y += 20;
        for c in group {
            let len = if max > 0.0 { (c.ops_per_sec() / max * BAR_W as f64).max(1.0) } else { 1.0 };
            let ratio = ratio_vs_rocksdb(cells, c).map_or_else(String::new, |r| format!(" ({r:.2}x)"));
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
                 <rect x=\"{LEFT}\" y=\"{}\" width=\"{len:.1}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{}\">{} ops/s{}</text>",
                LEFT - 6,
                y + 12,
                c.engine,
                y + 2,
                ROW - 4,
                color(c.engine),
                LEFT as f64 + len + 6.0,
                y + 12,
                thousands(c.ops_per_sec()),
                xml(&ratio)
            );
            y += ROW;
        }
        y += 6;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(engine: EngineKind, workload: &str, ops: u64) -> Cell {
        Cell {
            engine,
            workload: workload.into(),
            ops,
            secs: 1.0,
            bytes: ops * 116,
            lat_us: Some([5.0, 5.0, 5.0]),
            write_amp: Some(1.5),
            space_amp: None,
            peak_rss: Some(64 << 20),
            peak_anon: Some(48 << 20),
            note: "a \"note\" | x".into(),
        }
    }

    #[test]
    fn ratios_and_outputs() {
        let cells = vec![
            cell(EngineKind::Strata, "fillseq", 300),
            cell(EngineKind::RocksDb, "fillseq", 200),
            cell(EngineKind::Strata, "readseq", 50),
        ];
        assert_eq!(ratio_vs_rocksdb(&cells, &cells[0]), Some(1.5));
        assert_eq!(ratio_vs_rocksdb(&cells, &cells[2]), None);
        let md = markdown(&cells);
        assert_eq!(md.lines().count(), 5);
        assert!(md.contains("| fillseq | strata | 300 | 1.50x |"));
        assert!(md.contains("| readseq | strata | 50 | n/a |"));
        assert!(thousands(1e6).starts_with("1,000,000"));
        let meta = [
            ("cmd".to_string(), "x \"y\"".to_string()),
            ("failure".into(), "a".into()),
            ("failure".into(), "b".into()),
        ];
        let js = json(&meta, &cells).unwrap();
        assert!(js.contains("\"failure\": \"a\"") && js.contains("\"failure\": \"b\""), "{js}");
        let v: serde_json::Value = serde_json::from_str(&js).unwrap();
        assert_eq!(v["meta"]["cmd"], "x \"y\"");
        assert_eq!(v["results"].as_array().unwrap().len(), 3);
        assert_eq!(v["results"][0]["ratio_vs_rocksdb"], 1.5);
        assert!(v["results"][2]["ratio_vs_rocksdb"].is_null());
        assert_eq!(v["results"][0]["note"], "a \"note\" | x");
        assert_eq!(v["results"][0]["peak_rss_bytes"], 64u64 << 20);
        assert_eq!(v["results"][0]["peak_anon_bytes"], 48u64 << 20);
        let svg = svg("t < u", &cells);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt; u") && svg.contains("300 ops/s (1.50x)"));
        assert_eq!(svg.matches("<rect x=").count(), 3);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0.00");
        assert_eq!(thousands(0.44), "0.44");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
