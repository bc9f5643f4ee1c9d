//! A bundle's WAL prefixes (a repository snapshot taken with `flush: false`), read strictly,
//! and turned into level-0 tables when the bundle is imported as NEW column families.
//!
//! Which prefixes count is what recovery decides ([`replayed_wals`]): every WAL at or above the
//! snapshot's log number, oldest first; each record is decoded by the engine's own decoder
//! (`WriteBatch::from_record`). Unlike recovery, nothing is tolerated: the WAL reader runs in
//! `AbsoluteConsistency` (a torn or damaged record is `Corruption` naming the file and the
//! record's offset, never a silently dropped tail), sequence numbers must rise strictly from
//! record to record and from file to file, and none may exceed the snapshot's sequence
//! ([`batch_last_seq`]). The bundle records each file's size and checksum; those are checked
//! first, as for tables; when they do not match, a strict read locates the damage.
//!
//! The three import modes agree on WAL prefixes (`docs/repository.md`, "Import"): each runs
//! these checks before writing anything; into a new directory and as an upsert the prefixes are
//! then replayed by the engine's recovery; as new families ([`with_wal_tables`]) each family's
//! entries (every version and every tombstone, with its sequence number) become one L0 table
//! built with the database's table options, in the import's staging directory
//! (`.<db name>.strata-import.tmp` beside the database, shared with the upsert), which the
//! engine imports together with the bundle's tables. Its sequence numbers are above those of
//! the family's flushed tables, so the engine's import (L0 epochs by largest sequence) places
//! it newest.
//!
//! Invariants: the staging directory is removed whatever happens (a crash may leave it; the
//! next import into that database removes it); the bundle is only read; at most
//! [`WAL_IMPORT_BYTES_MAX`] bytes of WAL prefixes are decoded into memory.
//!
//! Thread safety: like the import that calls it; two imports into one database at once share
//! the staging directory's name and one of them fails.

use super::bundle::check_bundle_file;
use super::format::{FileKind, FileRecord, SnapshotRecord};
use super::types::Tracker;
use crate::store::{LocalStore, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata::batch::BatchOp;
use strata::ingest::format::{PROP_LARGEST_SEQ, PROP_SMALLEST_SEQ};
use strata::wal_header::WalRecord;
use strata::{CfId, Db, Error, Result};
use strata_base::FileSystem;
use strata_base::comparator::{BytewiseComparator, Comparator};
use strata_base::ikey::{self, InternalKeyComparator, SeqNo};
use strata_sst::{TableBuilder, TableOptions};
use strata_wal::{LogReader, RecoveryMode};

/// The most WAL-prefix bytes one import into new families decodes (its entries are sorted in
/// memory). A memtable-sized prefix is far below; a larger bundle is imported into a new
/// directory, or snapshotted with `flush: true`.
pub(crate) const WAL_IMPORT_BYTES_MAX: u64 = 1 << 30;

/// One entry for a table: internal key, value.
type Entry = (Vec<u8>, Vec<u8>);

/// A table built from the WAL prefixes for one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalTable {
    pub path: PathBuf,
    pub entries: u64,
    pub size: u64,
}

/// The WAL prefixes a database built from `record` replays, oldest first: those at or above its
/// log number (recovery's rule; older ones hold only flushed writes). Pure.
pub(crate) fn replayed_wals(record: &SnapshotRecord) -> Vec<&FileRecord> {
    let mut wals: Vec<&FileRecord> =
        record.files.iter().filter(|f| f.kind == FileKind::Wal && f.number >= record.log_number).collect();
    wals.sort_by_key(|f| f.number);
    wals
}

/// The last sequence number a batch of `count` ops from `base` uses (`None` for an empty
/// batch), after `prev`, the last one of the records before it; why it is out of order or
/// beyond the snapshot's `snapshot_seq` otherwise. Pure.
pub(crate) fn batch_last_seq(
    prev: Option<SeqNo>,
    base: SeqNo,
    count: u32,
    snapshot_seq: SeqNo,
) -> std::result::Result<Option<SeqNo>, String> {
    if count == 0 {
        return Ok(None);
    }
    let Some(last) = base.checked_add(u64::from(count) - 1) else {
        return Err(format!("sequence {base} + count {count} overflows"));
    };
    if let Some(p) = prev
        && base <= p
    {
        return Err(format!("sequence {base} does not follow the previous record's {p}"));
    }
    if last > snapshot_seq {
        return Err(format!("sequence {last} is above the snapshot's sequence {snapshot_seq}"));
    }
    Ok(Some(last))
}

/// Reads WAL `path` strictly (see the module docs), calling `each(sequence, op)` for every op
/// in order; `last` carries the last sequence number from file to file.
fn decode_wal(
    fs: &dyn FileSystem,
    path: &Path,
    snapshot_seq: SeqNo,
    last: &mut Option<SeqNo>,
    each: &mut dyn FnMut(SeqNo, &BatchOp<'_>),
) -> Result<()> {
    let file = fs.open_unmapped(path).map_err(|e| Error::io(path, e))?;
    let mut reader = LogReader::new(file, path, RecoveryMode::AbsoluteConsistency);
    let mut first = true;
    while let Some(rec) = reader.read_record()? {
        // A version-2 WAL opens with a header record naming its predecessor
        // (docs/format/wal.md); it holds no operations. Anywhere else it is damage.
        let batch = match WalRecord::decode(&rec.payload, path, rec.offset, first)? {
            WalRecord::Header(_) => {
                first = false;
                continue;
            }
            WalRecord::Batch(b) => b,
        };
        first = false;
        let base = batch.sequence();
        match batch_last_seq(*last, base, batch.count(), snapshot_seq) {
            Ok(Some(l)) => *last = Some(l),
            Ok(None) => {}
            Err(why) => return Err(Error::corruption(path, rec.offset, format!("WAL prefix: {why}"))),
        }
        for (i, op) in batch.iter().enumerate() {
            each(base + i as u64, &op);
        }
    }
    Ok(())
}

/// Checks WAL prefix `f` against its recorded size and checksum. On a mismatch, a strict read
/// names the offset of the first damaged record when there is one.
fn check_wal_file(store: &dyn Store, fs: &dyn FileSystem, bundle: &Path, f: &FileRecord, seq: SeqNo) -> Result<()> {
    let Err(e) = check_bundle_file(store, bundle, f) else { return Ok(()) };
    let path = bundle.join(&f.name);
    let size = fs.file_size(&path).unwrap_or(u64::MAX);
    if size <= WAL_IMPORT_BYTES_MAX
        && let Err(Error::Corruption { file, offset, reason }) = decode_wal(fs, &path, seq, &mut None, &mut |_, _| {})
    {
        let reason = format!("{reason} (and the file's checksum does not match the bundle's metadata)");
        return Err(Error::Corruption { file, offset, reason });
    }
    Err(e)
}

/// Checks every WAL prefix of the bundle `record` at `bundle` as the module docs say: size and
/// checksum, then a strict read of every record. Used by the imports that hand the prefixes
/// to recovery (into a new directory, upsert), before anything is written.
pub(crate) fn check_wal_prefixes(fs: &Arc<dyn FileSystem>, bundle: &Path, record: &SnapshotRecord) -> Result<()> {
    let store = LocalStore::new(Arc::clone(fs), bundle);
    let mut last = None;
    for f in replayed_wals(record) {
        check_wal_file(&store, &**fs, bundle, f, record.sequence)?;
        decode_wal(&**fs, &bundle.join(&f.name), record.sequence, &mut last, &mut |_, _| {})?;
    }
    Ok(())
}

/// The entries of the bundle families `cfs` held by the WAL prefixes, one list per family in
/// the order of `cfs`, each in WAL order (every file checked first; progress per file).
fn collect_entries(
    fs: &Arc<dyn FileSystem>,
    bundle: &Path,
    record: &SnapshotRecord,
    cfs: &[CfId],
    tracker: &mut Tracker<'_>,
) -> Result<Vec<Vec<Entry>>> {
    let wals = replayed_wals(record);
    let total: u64 = wals.iter().map(|f| f.size).sum();
    if total > WAL_IMPORT_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "the bundle's WAL prefixes hold {total} bytes, more than WAL_IMPORT_BYTES_MAX \
             ({WAL_IMPORT_BYTES_MAX}) for an import as new column families: import it into a new \
             directory, or snapshot with flush"
        )));
    }
    let store = LocalStore::new(Arc::clone(fs), bundle);
    let mut out: Vec<Vec<Entry>> = vec![Vec::new(); cfs.len()];
    let mut last = None;
    for f in wals {
        check_wal_file(&store, &**fs, bundle, f, record.sequence)?;
        decode_wal(&**fs, &bundle.join(&f.name), record.sequence, &mut last, &mut |seq, op| {
            if let Some(i) = cfs.iter().position(|c| *c == op.cf)
                && let Some(list) = out.get_mut(i)
            {
                list.push((ikey::encode(op.key, seq, op.kind), op.value.to_vec()));
            }
        })?;
        tracker.file_done(f.size)?;
    }
    Ok(out)
}

/// The options of a new L0 table of `db` (as its flushes write them), for a bundle whose
/// manifest comparator is `comparator`: `InvalidArgument` if this build cannot write it.
fn table_options(db: &Db, comparator: &str) -> Result<TableOptions> {
    let icmp = InternalKeyComparator::new(Arc::new(BytewiseComparator));
    if icmp.name() != comparator {
        return Err(Error::InvalidArgument(format!(
            "WAL prefixes of a bundle using comparator {comparator:?} cannot become tables (only {:?})",
            icmp.name()
        )));
    }
    let o = db.options();
    Ok(TableOptions {
        block_size: o.block_size,
        restart_interval: o.block_restart_interval,
        compression: o.compression,
        bloom_bits_per_key: o.bloom_bits_per_key,
        comparator: Arc::new(icmp),
    })
}

/// Writes `entries` (distinct internal keys, any order) as one table at `path`, with its
/// sequence range in the properties the engine's import reads; `None` and no file if empty.
fn write_table(
    fs: &Arc<dyn FileSystem>,
    path: &Path,
    opts: TableOptions,
    mut entries: Vec<Entry>,
) -> Result<Option<WalTable>> {
    if entries.is_empty() {
        return Ok(None);
    }
    let cmp = Arc::clone(&opts.comparator);
    entries.sort_by(|a, b| cmp.compare(&a.0, &b.0));
    let (mut lo, mut hi) = (SeqNo::MAX, 0);
    let mut builder = TableBuilder::create(Arc::clone(fs), path, opts)?;
    for (key, value) in &entries {
        let parsed = ikey::parse(key)
            .ok_or_else(|| Error::InvalidArgument(format!("{}: malformed internal key", path.display())))?;
        lo = lo.min(parsed.seq);
        hi = hi.max(parsed.seq);
        builder.add(key, parsed.kind, value)?;
    }
    builder.set_user_property(PROP_SMALLEST_SEQ, lo.to_string().as_bytes());
    builder.set_user_property(PROP_LARGEST_SEQ, hi.to_string().as_bytes());
    let meta = builder.finish()?;
    Ok(Some(WalTable { path: path.to_path_buf(), entries: entries.len() as u64, size: meta.file_size }))
}

/// Builds one L0 table per bundle family of `cfs` from the bundle's WAL prefixes (`None` for a
/// family they do not touch) in the staging directory `tmp` (whose parent is `parent`), hands
/// them to `then`, and removes the staging directory whatever happens. See the module docs.
#[allow(clippy::too_many_arguments, reason = "the import's parts, handed on explicitly")]
pub(crate) fn with_wal_tables<T>(
    db: &Db,
    fs: &Arc<dyn FileSystem>,
    bundle: &Path,
    record: &SnapshotRecord,
    cfs: &[CfId],
    (parent, tmp): (&Path, &Path),
    tracker: &mut Tracker<'_>,
    then: impl FnOnce(&[Option<WalTable>]) -> Result<T>,
) -> Result<T> {
    if fs.exists(tmp) {
        fs.remove_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
    }
    let result = (|| {
        let opts = table_options(db, &record.comparator)?;
        fs.create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
        let lists = collect_entries(fs, bundle, record, cfs, tracker)?;
        let mut tables = Vec::with_capacity(lists.len());
        for (k, entries) in lists.into_iter().enumerate() {
            tables.push(write_table(fs, &tmp.join(format!("wal-{k:04}.sst")), opts.clone(), entries)?);
        }
        then(&tables)
    })();
    // The import is durable (or failed) by now; a directory that cannot be removed is left for
    // the next import, outside the database directory.
    let _ = fs.remove_dir_all(tmp).and_then(|()| fs.sync_dir(parent));
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use std::collections::BTreeMap;
    use strata::{SimFs, SstFileReader};
    use strata_base::ikey::ValueKind;
    use strata_manifest::FileNumber;
    use strata_wal::LogWriter;

    /// One op of a hand-encoded batch (`docs/format/write_batch.md`): cf, key, `Some(value)`
    /// for a put, `None` for a delete.
    type Op<'a> = (u32, &'a [u8], Option<&'a [u8]>);

    fn batch(seq: u64, ops: &[Op<'_>]) -> Vec<u8> {
        let mut b = seq.to_le_bytes().to_vec();
        b.extend_from_slice(&(ops.len() as u32).to_le_bytes());
        for (cf, key, value) in ops {
            let tag = u8::from(value.is_some()) | if *cf == 0 { 0 } else { 2 };
            b.push(tag);
            if *cf != 0 {
                b.push(*cf as u8);
            }
            b.push(key.len() as u8);
            b.extend_from_slice(key);
            if let Some(v) = value {
                b.push(v.len() as u8);
                b.extend_from_slice(v);
            }
        }
        b
    }

    /// Writes a WAL of `records`; the offset where each starts.
    fn write_wal(fs: &SimFs, path: &Path, records: &[Vec<u8>]) -> Vec<u64> {
        let mut w = LogWriter::with_path(fs.create(path).unwrap(), path);
        let mut starts = vec![0];
        starts.extend(records.iter().map(|r| w.add_record(r).unwrap()));
        starts.pop();
        w.sync().unwrap();
        starts
    }

    fn wal_record(number: u64) -> FileRecord {
        FileRecord::wal(String::new(), FileNumber::new(number), 0, 0)
    }

    fn decode_all(fs: &SimFs, path: &Path, seq: SeqNo) -> Result<Vec<(SeqNo, u32, Vec<u8>)>> {
        let mut out = Vec::new();
        decode_wal(fs, path, seq, &mut None, &mut |s, op| out.push((s, op.cf.get(), op.key.to_vec())))?;
        Ok(out)
    }

    #[test]
    fn replays_the_wals_recovery_replays_oldest_first() {
        let mut files = vec![wal_record(9), wal_record(4), wal_record(7)];
        files.push(FileRecord { kind: FileKind::Table, ..wal_record(8) });
        let record = SnapshotRecord {
            id: 1,
            name: None,
            db_id: String::new(),
            parent_db_id: None,
            sequence: 9,
            created_at_ms: 0,
            labels: BTreeMap::new(),
            comparator: String::new(),
            log_number: FileNumber::new(7),
            next_file_number: FileNumber::new(10),
            max_cf_id: CfId::new(0),
            column_families: Vec::new(),
            files,
            bytes_total: 0,
            bytes_added: 0,
        };
        let numbers: Vec<u64> = replayed_wals(&record).iter().map(|f| f.number.get()).collect();
        assert_eq!(numbers, [7, 9]);
    }

    #[test]
    fn sequences_rise_and_stay_within_the_snapshot() {
        assert_eq!(batch_last_seq(None, 5, 3, 10), Ok(Some(7)));
        assert_eq!(batch_last_seq(Some(7), 8, 3, 10), Ok(Some(10)));
        assert_eq!(batch_last_seq(Some(7), 3, 0, 10), Ok(None), "an empty batch uses no sequence");
        assert!(batch_last_seq(Some(7), 7, 1, 10).is_err(), "repeats a sequence");
        assert!(batch_last_seq(Some(7), 2, 1, 10).is_err(), "goes backwards");
        assert!(batch_last_seq(Some(7), 9, 3, 10).is_err(), "ends above the snapshot");
        assert!(batch_last_seq(None, u64::MAX, 2, u64::MAX).is_err(), "overflows");
    }

    #[test]
    fn decodes_every_op_with_its_sequence() {
        let fs = SimFs::new();
        let p = Path::new("/w/000005.log");
        fs.create_dir_all(Path::new("/w")).unwrap();
        write_wal(&fs, p, &[batch(3, &[(0, b"a", Some(b"1")), (2, b"b", None)]), batch(5, &[(2, b"c", Some(b"3"))])]);
        let got = decode_all(&fs, p, 5).unwrap();
        assert_eq!(got, [(3, 0, b"a".to_vec()), (4, 2, b"b".to_vec()), (5, 2, b"c".to_vec())]);
        // The same records checked against a lower snapshot sequence: Corruption at the record.
        let r = decode_all(&fs, p, 4);
        assert!(matches!(&r, Err(Error::Corruption { offset, .. }) if *offset > 0), "{r:?}");
    }

    #[test]
    fn a_version_2_header_record_is_skipped_first_and_damage_elsewhere() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/w")).unwrap();
        let header = strata::wal_header::WalHeader { predecessor: FileNumber::new(4), predecessor_len: 123 }.encode();
        let p = Path::new("/w/000005.log");
        write_wal(&fs, p, &[header.clone(), batch(3, &[(0, b"a", Some(b"1"))]), batch(4, &[(0, b"b", None)])]);
        let got = decode_all(&fs, p, 4).unwrap();
        assert_eq!(got, [(3, 0, b"a".to_vec()), (4, 0, b"b".to_vec())]);
        // A header record after the first record is damage, named at its offset.
        let q = Path::new("/w/000006.log");
        let starts = write_wal(&fs, q, &[header.clone(), batch(3, &[(0, b"a", Some(b"1"))]), header]);
        let r = decode_all(&fs, q, 4);
        assert!(matches!(&r, Err(Error::Corruption { offset, .. }) if *offset == starts[2]), "{r:?}");
    }

    #[test]
    fn a_torn_record_is_corruption_with_its_offset() {
        let fs = SimFs::new();
        let p = Path::new("/w/000005.log");
        fs.create_dir_all(Path::new("/w")).unwrap();
        let offsets = write_wal(&fs, p, &[batch(1, &[(0, b"a", Some(b"1"))]), batch(2, &[(0, b"b", Some(b"22"))])]);
        let bytes = fs.read_all(p).unwrap().to_vec();
        let torn = Path::new("/w/000006.log");
        let mut w = fs.create(torn).unwrap();
        w.append(&bytes[..bytes.len() - 2]).unwrap();
        w.sync().unwrap();
        let r = decode_all(&fs, torn, 10);
        assert!(
            matches!(&r, Err(Error::Corruption { file, offset, .. }) if file == torn && *offset == offsets[1]),
            "{r:?}"
        );
    }

    #[test]
    fn a_flipped_byte_is_corruption_with_its_offset() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/w")).unwrap();
        let p = Path::new("/w/000005.log");
        let offsets = write_wal(&fs, p, &[batch(1, &[(0, b"a", Some(b"1"))]), batch(2, &[(0, b"b", Some(b"22"))])]);
        let mut bytes = fs.read_all(p).unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let bad = Path::new("/w/000007.log");
        let mut w = fs.create(bad).unwrap();
        w.append(&bytes).unwrap();
        w.sync().unwrap();
        let r = decode_all(&fs, bad, 10);
        assert!(matches!(&r, Err(Error::Corruption { offset, .. }) if *offset == offsets[1]), "{r:?}");
    }

    /// A bundle at `/b` holding the WAL files `wals` (number, records), every one recorded
    /// with its true size and checksum, log number 5, snapshot sequence `seq`.
    fn bundle_of(fs: &SimFs, wals: &[(u64, Vec<Vec<u8>>)], seq: SeqNo) -> SnapshotRecord {
        fs.create_dir_all(Path::new("/b")).unwrap();
        let mut files = Vec::new();
        for (number, records) in wals {
            let name = format!("{number:06}.log");
            write_wal(fs, &Path::new("/b").join(&name), records);
            let bytes = fs.read_all(&Path::new("/b").join(&name)).unwrap();
            let checksum = strata_base::checksum::crc32(&bytes);
            files.push(FileRecord { size: bytes.len() as u64, checksum, ..wal_record(*number) });
        }
        SnapshotRecord {
            id: 1,
            name: None,
            db_id: String::new(),
            parent_db_id: None,
            sequence: seq,
            created_at_ms: 0,
            labels: BTreeMap::new(),
            comparator: String::new(),
            log_number: FileNumber::new(5),
            next_file_number: FileNumber::new(10),
            max_cf_id: CfId::new(0),
            column_families: Vec::new(),
            files,
            bytes_total: 0,
            bytes_added: 0,
        }
    }

    #[test]
    fn sequences_must_rise_across_wal_files() {
        let fs = SimFs::new();
        let arc: Arc<dyn FileSystem> = fs.arc();
        let good = bundle_of(&fs, &[(5, vec![batch(1, &[(0, b"a", Some(b"1"))])]), (6, vec![batch(2, &[])])], 9);
        check_wal_prefixes(&arc, Path::new("/b"), &good).unwrap();
        // The second file repeats the first one's sequence: Corruption naming it at its record.
        let fs = SimFs::new();
        let arc: Arc<dyn FileSystem> = fs.arc();
        let one = vec![batch(1, &[(0, b"a", Some(b"1")), (0, b"b", None)])];
        let bad = bundle_of(&fs, &[(6, vec![batch(2, &[(0, b"c", Some(b"1"))])]), (5, one)], 9);
        let r = check_wal_prefixes(&arc, Path::new("/b"), &bad);
        assert!(
            matches!(&r, Err(Error::Corruption { file, offset: 0, .. }) if file == Path::new("/b/000006.log")),
            "{r:?}"
        );
        // A WAL below the log number is not read (recovery would not replay it either).
        let fs = SimFs::new();
        let arc: Arc<dyn FileSystem> = fs.arc();
        let old = bundle_of(&fs, &[(4, vec![batch(7, &[(0, b"x", Some(b"1"))])]), (5, vec![batch(1, &[])])], 1);
        check_wal_prefixes(&arc, Path::new("/b"), &old).unwrap();
    }

    #[test]
    fn a_table_holds_every_version_and_tombstone_in_key_order() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/t")).unwrap();
        let arc: Arc<dyn FileSystem> = fs.arc();
        let icmp = InternalKeyComparator::new(Arc::new(BytewiseComparator));
        let opts = TableOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: strata_sst::Compression::None,
            bloom_bits_per_key: 10,
            comparator: Arc::new(icmp),
        };
        let entries = vec![
            (ikey::encode(b"b", 4, ValueKind::Put), b"b4".to_vec()),
            (ikey::encode(b"a", 5, ValueKind::Delete), Vec::new()),
            (ikey::encode(b"b", 7, ValueKind::Put), b"b7".to_vec()),
            (ikey::encode(b"a", 2, ValueKind::Put), b"a2".to_vec()),
        ];
        assert_eq!(write_table(&arc, Path::new("/t/empty.sst"), opts.clone(), Vec::new()).unwrap(), None);
        assert!(!fs.exists(Path::new("/t/empty.sst")));
        let t = write_table(&arc, Path::new("/t/x.sst"), opts, entries).unwrap().unwrap();
        assert_eq!((t.entries, t.size), (4, fs.file_size(Path::new("/t/x.sst")).unwrap()));
        let ropts = strata::Options { fs: Some(arc), ..strata::Options::default() };
        let reader = SstFileReader::open_opt("/t/x.sst", &ropts).unwrap();
        let props = &reader.properties().user;
        assert_eq!(props.get(PROP_SMALLEST_SEQ).map(Vec::as_slice), Some(&b"2"[..]));
        assert_eq!(props.get(PROP_LARGEST_SEQ).map(Vec::as_slice), Some(&b"7"[..]));
        let mut seen = Vec::new();
        let mut it = reader.raw_iter();
        it.seek_to_first();
        while it.valid() {
            seen.push((it.key().to_vec(), it.sequence(), it.kind()));
            it.next();
        }
        it.status().unwrap();
        let want = [
            (b"a".to_vec(), 5, ValueKind::Delete),
            (b"a".to_vec(), 2, ValueKind::Put),
            (b"b".to_vec(), 7, ValueKind::Put),
            (b"b".to_vec(), 4, ValueKind::Put),
        ];
        assert_eq!(seen, want);
    }
}
