//! A db_bench-style benchmark of Strata.
//!
//! `cargo run --release -p strata-benches --bin dbbench -- --benchmarks fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting --num 1000000 --value-size 100`
//!
//! Prints, per benchmark: ops/s, MB/s, p50/p99/p99.9 latency, write amplification (bytes the
//! process wrote to disk over user bytes) and space amplification (directory size over live
//! data), and writes a JSON result file (`--json`, default `dbbench.json`).

use clap::{Parser, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use strata::{Db, Options, ReadOptions, WriteOptions};
use strata_benches::{Histogram, KeyGen, dir_size, proc_write_bytes};

/// The flags (a misspelled flag or benchmark name is an error).
#[derive(Debug, Parser)]
#[command(name = "dbbench", about = "A db_bench-style benchmark of Strata")]
struct Cli {
    /// Comma-separated benchmarks, run in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting"
    )]
    benchmarks: Vec<Bench>,
    /// Operations per benchmark (and the key space).
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Bytes per key (at least 8).
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// The JSON result file.
    #[arg(long, default_value = "dbbench.json")]
    json: PathBuf,
    /// The database directory (default: a fresh temporary directory).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Background compaction threads (`Options::max_background_compactions`).
    #[arg(long, default_value_t = Options::default().max_background_compactions)]
    compaction_threads: usize,
    /// Block cache size in MiB (`Options::block_cache_capacity`; 0 disables the cache).
    #[arg(long, default_value_t = Options::default().block_cache_capacity >> 20)]
    cache_mb: usize,
}

/// The benchmarks, named as in RocksDB's db_bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "lower")]
enum Bench {
    Fillseq,
    Fillrandom,
    Overwrite,
    Readrandom,
    Readseq,
    Seekrandom,
    Readwhilewriting,
}

struct Outcome {
    name: String,
    ops: u64,
    secs: f64,
    bytes: u64,
    hist: Histogram,
    write_amp: Option<f64>,
    space_amp: Option<f64>,
    note: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Cli::parse();
    let (num, value_size, key_size) = (args.num, args.value_size, args.key_size);
    let json_path = args.json;
    let tmp = tempfile::tempdir()?;
    let dir = args.db.unwrap_or_else(|| tmp.path().join("dbbench"));
    let keys = KeyGen::new(key_size, num);
    let value = vec![b'v'; value_size];
    println!("strata dbbench: num={num} key_size={key_size} value_size={value_size} dir={}", dir.display());
    let options = Options {
        max_background_compactions: args.compaction_threads,
        block_cache_capacity: args.cache_mb << 20,
        ..Options::default()
    };
    println!("options: {options:?}");
    let mut db = Some(Db::open(&dir, options.clone())?);
    let mut results = Vec::new();
    for bench in args.benchmarks {
        let d = db.as_ref().ok_or("database not open")?;
        let name = bench.name();
        let out = match bench {
            Bench::Fillseq | Bench::Fillrandom | Bench::Overwrite => {
                if bench != Bench::Overwrite {
                    // A fresh database for each fill.
                    drop(db.take());
                    let _ = std::fs::remove_dir_all(&dir);
                    db = Some(Db::open(&dir, options.clone())?);
                }
                let d = db.as_ref().ok_or("database not open")?;
                fill(d, name, &keys, &value, num, bench != Bench::Fillseq)?
            }
            Bench::Readrandom => {
                // Reopen so reads go through the files, not just memtables.
                d.flush()?;
                drop(db.take());
                db = Some(Db::open(&dir, options.clone())?);
                let d = db.as_ref().ok_or("database not open")?;
                read_random(d, &keys, num)?
            }
            Bench::Readseq => read_seq(d)?,
            Bench::Seekrandom => seek_random(d, &keys, num / 10)?,
            Bench::Readwhilewriting => read_while_writing(d, &keys, &value, num)?,
        };
        print_outcome(&out);
        results.push(out);
    }
    write_json(&json_path, &results, num, key_size, value_size)?;
    println!("wrote {}", json_path.display());
    if let Some(d) = &db {
        println!("{}", d.property("strata.stats").unwrap_or_default());
    }
    Ok(())
}

fn fill(
    db: &Db,
    name: &str,
    keys: &KeyGen,
    value: &[u8],
    num: u64,
    random: bool,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let w0 = proc_write_bytes();
    let mut hist = Histogram::default();
    let wo = WriteOptions::default();
    let start = Instant::now();
    for i in 0..num {
        let k = if random { keys.random_key(i) } else { keys.key(i) };
        let t = Instant::now();
        db.put_opt(&wo, &k, value)?;
        hist.record(t.elapsed());
    }
    // As in RocksDB's db_bench, throughput covers the write loop; the final flush is timed
    // separately (write amplification below is measured after it).
    let secs = start.elapsed().as_secs_f64();
    let flush_start = Instant::now();
    db.flush()?;
    let flush_secs = flush_start.elapsed().as_secs_f64();
    let user = num * (keys.key_size() + value.len()) as u64;
    let written = proc_write_bytes().zip(w0).map(|(a, b)| a.saturating_sub(b));
    Ok(Outcome {
        name: name.into(),
        ops: num,
        secs,
        bytes: user,
        hist,
        write_amp: written.map(|w| w as f64 / user as f64),
        space_amp: Some(dir_size(db.path()) as f64 / user as f64),
        note: format!(
            "final flush {:.0} ms; engine write-amp (tables/user) {}",
            flush_secs * 1000.0,
            db.property("strata.write-amplification").unwrap_or_default()
        ),
    })
}

fn read_random(db: &Db, keys: &KeyGen, num: u64) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut hist = Histogram::default();
    let mut found = 0u64;
    let mut bytes = 0u64;
    let start = Instant::now();
    for i in 0..num {
        let k = keys.random_key(i.wrapping_mul(7919));
        let t = Instant::now();
        if let Some(v) = db.get(&k)? {
            found += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        hist.record(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Outcome {
        name: "readrandom".into(),
        ops: num,
        secs,
        bytes,
        hist,
        write_amp: None,
        space_amp: None,
        note: format!("{found} of {num} found"),
    })
}

fn read_seq(db: &Db) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut it = db.iter(&ReadOptions::default())?;
    let start = Instant::now();
    it.seek_to_first();
    let (mut n, mut bytes) = (0u64, 0u64);
    while it.valid() {
        n += 1;
        bytes += (it.key().len() + it.value().len()) as u64;
        it.next();
    }
    it.status()?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Outcome {
        name: "readseq".into(),
        ops: n,
        secs,
        bytes,
        hist: Histogram::default(),
        write_amp: None,
        space_amp: None,
        note: String::new(),
    })
}

fn seek_random(db: &Db, keys: &KeyGen, num: u64) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut hist = Histogram::default();
    let mut it = db.iter(&ReadOptions::default())?;
    let mut bytes = 0u64;
    let start = Instant::now();
    for i in 0..num {
        let k = keys.random_key(i.wrapping_mul(104_729));
        let t = Instant::now();
        it.seek(&k);
        for _ in 0..10 {
            if !it.valid() {
                break;
            }
            bytes += (it.key().len() + it.value().len()) as u64;
            it.next();
        }
        hist.record(t.elapsed());
    }
    it.status()?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Outcome {
        name: "seekrandom".into(),
        ops: num,
        secs,
        bytes,
        hist,
        write_amp: None,
        space_amp: None,
        note: "seek + 10 next".into(),
    })
}

fn read_while_writing(db: &Db, keys: &KeyGen, value: &[u8], num: u64) -> Result<Outcome, Box<dyn std::error::Error>> {
    let stop = AtomicBool::new(false);
    let (reads, writes) = std::thread::scope(|s| {
        let writer = s.spawn(|| -> Result<u64, strata::Error> {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                db.put(keys.random_key(n.wrapping_mul(31) + 17), value)?;
                n += 1;
            }
            Ok(n)
        });
        let reads = read_random(db, keys, num).map_err(|e| e.to_string());
        stop.store(true, Ordering::Relaxed);
        let writes =
            writer.join().map_err(|_| "writer thread panicked".to_string()).and_then(|r| r.map_err(|e| e.to_string()));
        (reads, writes)
    });
    let mut out = reads?;
    let writes = writes?;
    out.name = "readwhilewriting".into();
    out.note = format!("{}; {writes} writes by 1 writer thread meanwhile", out.note);
    Ok(out)
}

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::Fillseq => "fillseq",
            Bench::Fillrandom => "fillrandom",
            Bench::Overwrite => "overwrite",
            Bench::Readrandom => "readrandom",
            Bench::Readseq => "readseq",
            Bench::Seekrandom => "seekrandom",
            Bench::Readwhilewriting => "readwhilewriting",
        }
    }
}

fn print_outcome(o: &Outcome) {
    let ops_s = o.ops as f64 / o.secs;
    let mb_s = o.bytes as f64 / o.secs / 1e6;
    println!(
        "{:<17} {:>12.0} ops/s {:>8.1} MB/s  p50 {:>7.2} us  p99 {:>7.2} us  p99.9 {:>8.2} us  w-amp {}  s-amp {}  {}",
        o.name,
        ops_s,
        mb_s,
        o.hist.percentile_us(50.0),
        o.hist.percentile_us(99.0),
        o.hist.percentile_us(99.9),
        o.write_amp.map_or("-".into(), |w| format!("{w:.2}")),
        o.space_amp.map_or("-".into(), |s| format!("{s:.2}")),
        o.note
    );
}

/// The JSON result file's document.
#[derive(Debug, Serialize)]
struct JsonDoc<'a> {
    engine: &'static str,
    num: u64,
    key_size: usize,
    value_size: usize,
    results: Vec<JsonResult<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonResult<'a> {
    name: &'a str,
    ops: u64,
    seconds: f64,
    ops_per_sec: f64,
    mb_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    write_amp: Option<f64>,
    space_amp: Option<f64>,
}

fn json_doc(results: &[Outcome], num: u64, key_size: usize, value_size: usize) -> JsonDoc<'_> {
    let finite = |x: Option<f64>| x.filter(|v| v.is_finite());
    JsonDoc {
        engine: "strata",
        num,
        key_size,
        value_size,
        results: results
            .iter()
            .map(|o| JsonResult {
                name: &o.name,
                ops: o.ops,
                seconds: o.secs,
                ops_per_sec: o.ops as f64 / o.secs,
                mb_per_sec: o.bytes as f64 / o.secs / 1e6,
                p50_us: o.hist.percentile_us(50.0),
                p99_us: o.hist.percentile_us(99.0),
                p999_us: o.hist.percentile_us(99.9),
                write_amp: finite(o.write_amp),
                space_amp: finite(o.space_amp),
            })
            .collect(),
    }
}

fn write_json(
    path: &std::path::Path,
    results: &[Outcome],
    num: u64,
    key_size: usize,
    value_size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut s = serde_json::to_string(&json_doc(results, num, key_size, value_size))?;
    s.push('\n');
    std::fs::write(path, s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_misspellings_fail() {
        let c = Cli::try_parse_from(["dbbench", "--benchmarks", "fillseq,readrandom", "--num=5"]).unwrap();
        assert_eq!(c.benchmarks, [Bench::Fillseq, Bench::Readrandom]);
        assert_eq!((c.num, c.value_size, c.key_size), (5, 100, 16));
        assert_eq!(c.cache_mb, Options::default().block_cache_capacity >> 20);
        let c = Cli::try_parse_from(["dbbench", "--cache-mb", "256"]).unwrap();
        assert_eq!(c.cache_mb, 256);
        assert_eq!(Cli::try_parse_from(["dbbench"]).unwrap().benchmarks.len(), 7);
        assert!(Cli::try_parse_from(["dbbench", "--value_size", "10"]).is_err());
        assert!(Cli::try_parse_from(["dbbench", "--benchmarks", "fillsequential"]).is_err());
        for b in Bench::value_variants() {
            assert_eq!(b.to_possible_value().map(|v| v.get_name().to_string()).as_deref(), Some(b.name()));
        }
    }

    #[test]
    fn json_document_round_trips() {
        let mut hist = Histogram::default();
        hist.record(std::time::Duration::from_micros(3));
        let o = Outcome {
            name: "fillseq".into(),
            ops: 10,
            secs: 2.0,
            bytes: 1_000_000,
            hist,
            write_amp: Some(f64::NAN),
            space_amp: Some(1.5),
            note: String::new(),
        };
        let doc = serde_json::to_value(json_doc(&[o], 10, 16, 100)).unwrap();
        assert_eq!(doc["engine"], "strata");
        assert_eq!(doc["results"][0]["ops_per_sec"], 5.0);
        assert_eq!(doc["results"][0]["mb_per_sec"], 0.5);
        assert!(doc["results"][0]["write_amp"].is_null());
        assert_eq!(doc["results"][0]["space_amp"], 1.5);
        assert!((doc["results"][0]["p50_us"].as_f64().unwrap() - 3.0).abs() < 0.01);
    }
}
