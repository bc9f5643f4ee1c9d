//! A db_bench-style benchmark of Strata.
//!
//! `cargo run --release -p strata-benches --bin dbbench -- --benchmarks fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting --num 1000000 --value-size 100`
//!
//! Prints, per benchmark: ops/s, MB/s, p50/p99/p99.9 latency, write amplification (bytes the
//! process wrote to disk over user bytes) and space amplification (directory size over live
//! data), and writes a JSON result file (`--json`, default `dbbench.json`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use strata::{Db, Options, ReadOptions, WriteOptions};
use strata_benches::{Args, Histogram, KeyGen, dir_size, proc_write_bytes};

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
    let args = Args::parse(std::env::args().skip(1))?;
    let benchmarks =
        args.get_or("benchmarks", "fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,readwhilewriting");
    let num: u64 = args.get_or("num", "1000000").parse()?;
    let value_size: usize = args.get_or("value-size", "100").parse()?;
    let key_size: usize = args.get_or("key-size", "16").parse()?;
    let json_path = PathBuf::from(args.get_or("json", "dbbench.json"));
    let tmp = tempfile::tempdir()?;
    let dir = args.get("db").map(PathBuf::from).unwrap_or_else(|| tmp.path().join("dbbench"));
    let keys = KeyGen::new(key_size, num);
    let value = vec![b'v'; value_size];
    println!("strata dbbench: num={num} key_size={key_size} value_size={value_size} dir={}", dir.display());
    println!("options: {:?}", Options::default());
    let mut db = Some(Db::open(&dir, Options::default())?);
    let mut results = Vec::new();
    for name in benchmarks.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let d = db.as_ref().ok_or("database not open")?;
        let mut out = match name {
            "fillseq" | "fillrandom" | "overwrite" => {
                if name == "fillseq" || name == "fillrandom" {
                    // A fresh database for each fill.
                    drop(db.take());
                    let _ = std::fs::remove_dir_all(&dir);
                    db = Some(Db::open(&dir, Options::default())?);
                }
                let d = db.as_ref().ok_or("database not open")?;
                fill(d, name, &keys, &value, num, name != "fillseq")?
            }
            "readrandom" => {
                // Reopen so reads go through the files, not just memtables.
                d.flush()?;
                drop(db.take());
                db = Some(Db::open(&dir, Options::default())?);
                let d = db.as_ref().ok_or("database not open")?;
                read_random(d, &keys, num)?
            }
            "readseq" => read_seq(d)?,
            "seekrandom" => seek_random(d, &keys, num / 10)?,
            "readwhilewriting" => read_while_writing(d, &keys, &value, num)?,
            other => {
                eprintln!("unknown benchmark {other}, skipped");
                continue;
            }
        };
        print_outcome(&mut out);
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

fn print_outcome(o: &mut Outcome) {
    o.hist.sort();
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

fn write_json(
    path: &std::path::Path,
    results: &[Outcome],
    num: u64,
    key_size: usize,
    value_size: usize,
) -> std::io::Result<()> {
    let mut s = format!(
        "{{\"engine\":\"strata\",\"num\":{num},\"key_size\":{key_size},\"value_size\":{value_size},\"results\":["
    );
    for (i, o) in results.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"name\":\"{}\",\"ops\":{},\"seconds\":{:.6},\"ops_per_sec\":{:.1},\"mb_per_sec\":{:.3},\"p50_us\":{:.3},\"p99_us\":{:.3},\"p999_us\":{:.3},\"write_amp\":{},\"space_amp\":{}}}",
            o.name,
            o.ops,
            o.secs,
            o.ops as f64 / o.secs,
            o.bytes as f64 / o.secs / 1e6,
            o.hist.percentile_us(50.0),
            o.hist.percentile_us(99.0),
            o.hist.percentile_us(99.9),
            o.write_amp.map_or("null".into(), |w| format!("{w:.3}")),
            o.space_amp.map_or("null".into(), |w| format!("{w:.3}")),
        ));
    }
    s.push_str("]}\n");
    std::fs::write(path, s)
}
