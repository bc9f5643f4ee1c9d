//! Instruction-count benchmarks of the hot paths, under valgrind's callgrind through gungraun
//! (the successor of iai-callgrind): a count of executed instructions does not depend on the
//! machine's load, so CI can hold it to a tight threshold where wall-clock time cannot.
//!
//! Each benchmark runs once, single-threaded on its own thread (the engine's background
//! threads are idle: every fixture is flushed and settled before the measured call), and only
//! the benchmark function is counted; setup and the drop of the returned fixture are not.
//! Inputs are fixed (no random seeds), so a count changes only when the code or the compiler
//! does. `scripts/instructions.sh` runs them and compares against
//! `benches/baselines/instructions.json` (see docs/performance.md, "Instruction counts
//! (callgrind)").
//!
//! Run: `cargo bench -p strata-benches --bench instructions` (needs valgrind and
//! `gungraun-runner` of the same version as the `gungraun` library; `scripts/instructions.sh`
//! installs the runner when missing).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup: a failure aborts the benchmark")]

use gungraun::{library_benchmark, library_benchmark_group, main};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use strata::memtable::MemTable;
use strata::{Db, Options, ReadOptions, WriteBatch, WriteOptions};
use strata_base::ikey::ValueKind;
use strata_base::{FileSystem, MemFile, RealFs};
use strata_benches::scattered_key as key;
use strata_checkpoint::Checkpoint;
use strata_sst::{EntryKind, Table, TableBuilder, TableOptions, TableReadOptions};
use strata_wal::LogWriter;
use tempfile::TempDir;

const VALUE_LEN: usize = 100;
/// Entries of the database fixtures: one table of about 1.1 MiB (~290 data blocks).
const DB_ENTRIES: u64 = 10_000;
/// Operations per benchmark, so that each count is well above the harness's own noise.
const OPS: u64 = 100;

fn value(i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
    }
    v
}

/// An open database holding `DB_ENTRIES` keys in one table, nothing in the memtable, no
/// compaction pending.
struct DbFixture {
    db: Db,
    dir: TempDir,
}

fn db_fixture() -> DbFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    // Sequential syncs: one thread, so callgrind's count is deterministic (checkpoint_create).
    let opts = Options { fs: Some(Arc::new(RealFs::new().sequential_syncs(true))), ..Options::default() };
    let db = Db::open(dir.path().join("db"), opts).expect("open");
    let wo = WriteOptions { disable_wal: true, ..WriteOptions::default() };
    let mut batch = WriteBatch::new();
    for i in 0..DB_ENTRIES {
        batch.put(key(i), value(i));
    }
    db.write(batch, &wo).expect("write");
    db.flush().expect("flush");
    db.wait_for_compactions().expect("settle");
    DbFixture { db, dir }
}

/// [`db_fixture`] with every block the benchmarks read already in the block cache.
fn warm_db_fixture() -> DbFixture {
    let f = db_fixture();
    let mut it = f.db.iter(&ReadOptions::default()).expect("iter");
    it.seek_to_first();
    while it.valid() {
        it.next();
    }
    it.status().expect("scan");
    drop(it);
    f
}

// `OPS` point lookups of present keys, every block already cached.
#[library_benchmark]
#[bench::cached_100(setup = warm_db_fixture)]
fn get_cached(f: DbFixture) -> DbFixture {
    for i in 0..OPS {
        black_box(f.db.get(key(i * 97 % DB_ENTRIES)).expect("get"));
    }
    f
}

// `OPS` iterator seeks, each followed by 10 `next`, every block already cached.
#[library_benchmark]
#[bench::cached_100(setup = warm_db_fixture)]
fn seek_next10(f: DbFixture) -> DbFixture {
    let mut it = f.db.iter(&ReadOptions::default()).expect("iter");
    for i in 0..OPS {
        it.seek(key(i * 97 % DB_ENTRIES));
        for _ in 0..10 {
            if !it.valid() {
                break;
            }
            black_box((it.key(), it.value()));
            it.next();
        }
    }
    it.status().expect("seek");
    drop(it);
    f
}

/// A memtable already holding `DB_ENTRIES` entries.
fn filled_memtable() -> MemTable {
    let m = MemTable::new();
    for i in 0..DB_ENTRIES {
        m.add(i + 1, ValueKind::Put, &key(i), &value(i));
    }
    m
}

// `OPS` inserts of new keys (16-byte keys, 100-byte values) into a memtable of 10,000 entries.
#[library_benchmark]
#[bench::into_10k(setup = filled_memtable)]
fn memtable_put(m: MemTable) -> MemTable {
    for i in DB_ENTRIES..DB_ENTRIES + OPS {
        m.add(i + 1, ValueKind::Put, &key(i), &value(i));
    }
    m
}

/// A table of 2,000 entries (about 60 data blocks of 4 KiB, uncompressed) in memory, opened
/// without a block cache and with data-block checksums on: every block read is decoded anew.
fn memory_table() -> Arc<Table> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("000001.sst");
    let fs: Arc<dyn FileSystem> = Arc::new(RealFs::new());
    let mut b = TableBuilder::create(fs, &path, TableOptions::default()).expect("create");
    let mut keys: Vec<[u8; 16]> = (0..2_000).map(key).collect();
    keys.sort_unstable();
    for (i, k) in keys.iter().enumerate() {
        b.add(k, EntryKind::Put, &value(i as u64)).expect("add");
    }
    b.finish().expect("finish");
    let bytes = std::fs::read(&path).expect("read table");
    let ropts = TableReadOptions { verify_checksums: true, ..TableReadOptions::default() };
    Table::open(Arc::new(MemFile::new(bytes.into())), Path::new("000001.sst"), ropts).expect("open")
}

// Reads, checksums and decodes every entry of the first 20 data blocks (~700 entries).
#[library_benchmark]
#[bench::uncached_20_blocks(setup = memory_table)]
fn block_decode(t: Arc<Table>) -> Arc<Table> {
    let mut it = t.iter();
    it.seek_to_first();
    for _ in 0..700 {
        black_box((it.key(), it.value()));
        it.next();
    }
    it.status().expect("decode");
    drop(it);
    t
}

/// A fresh log file in a temporary directory.
fn wal_writer() -> (LogWriter, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("000001.log");
    let file = RealFs::new().create(&path).expect("create log");
    (LogWriter::with_path(file, &path), dir)
}

// `OPS` records of 100 bytes appended and flushed to the file (one write), no fsync.
#[library_benchmark]
#[bench::records_100b(setup = wal_writer)]
fn wal_append(fixture: (LogWriter, TempDir)) -> (LogWriter, TempDir) {
    let (mut w, dir) = fixture;
    let payload = [0x5a_u8; 100];
    for _ in 0..OPS {
        black_box(w.add_record(&payload).expect("append"));
    }
    w.flush().expect("flush");
    (w, dir)
}

// A checkpoint (hard links, fresh manifest, fsyncs) of a database of one table. Its
// user-space instruction count depends only on the number of files; the time the file
// system takes is not counted. The fixture's file system syncs sequentially
// (`RealFs::sequential_syncs`): on a real disk the checkpoint writes its MANIFEST on a scoped
// thread, whose instructions callgrind collects per thread and not reliably in the total (two
// runs of the same build counted 51,053 and 33,029); the work is the same minus the spawn.
#[library_benchmark]
#[bench::one_table(setup = db_fixture)]
fn checkpoint_create(f: DbFixture) -> DbFixture {
    let target = f.dir.path().join("checkpoint");
    black_box(Checkpoint::new(&f.db).create(&target).expect("checkpoint"));
    f
}

library_benchmark_group!(
    name = hot_paths,
    benchmarks = [get_cached, seek_next10, memtable_put, block_decode, wal_append, checkpoint_create]
);

main!(library_benchmark_groups = hot_paths);
