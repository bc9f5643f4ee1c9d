//! `Db`: the database users open.
//!
//! Thread safety: `Db` is `Send + Sync`; share it with `Arc<Db>`. Reads never wait for writes:
//! they clone one `Arc<ReadState>` and read the memtables and tables it names.

use crate::batch::WriteBatch;
use crate::cf::{CF_NAME_LEN_MAX, ColumnFamily, DEFAULT_CF_ID, DEFAULT_CF_NAME};
use crate::error::{Error, Result};
use crate::iter::{DbIterator, RangeIter};
use crate::memtable::MemGet;
use crate::options::{Options, ReadOptions, WriteOptions};
use crate::snapshot::Snapshot;
use crate::state::{DbInner, Generation, ReadState};
use bytes::Bytes;
use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use strata_base::CfId;
use strata_base::Comparator;
use strata_base::ikey::{self, SeqNo, ValueKind};
use strata_manifest::VersionEdit;

/// An open database.
#[derive(Debug)]
pub struct Db {
    pub(crate) inner: Arc<DbInner>,
}

impl Db {
    /// Opens (creating if missing, unless `create_if_missing` is false) the database at `path`
    /// for reading and writing. Fails with `Error::Locked` if another writer has it open.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        crate::open::open(path.as_ref(), opts, false)
    }

    /// Opens the database at `path` read-only, as of now: no lock is taken, nothing is written,
    /// every write method returns `Error::ReadOnly`.
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        crate::open::open(path.as_ref(), opts, true)
    }

    /// Stops the background threads and releases the lock. Unflushed writes stay in the WAL
    /// and are recovered on the next open. Dropping the `Db` does the same, but only `close`
    /// reports a failure to hand the WAL's last bytes to the OS.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    /// Idempotent: the WAL is taken out on the first call, so `close` followed by `drop` trims
    /// and syncs it once.
    fn shutdown(&self) -> Result<()> {
        {
            let mut st = self.inner.state.lock();
            st.shutting_down = true;
        }
        self.inner.bg.cv.notify_all();
        let threads: Vec<_> = std::mem::take(&mut *self.inner.bg.threads.lock());
        for t in threads {
            let _ = t.join();
        }
        // A clean close is a synced write of nothing: the closed WALs that still back a
        // memtable are synced first (no hole behind the active one), then the active WAL is cut
        // back to its records (no preallocated zeros for the next open) and synced.
        let mut commit = self.inner.writes.commit.lock();
        let Some(mut log) = commit.log.take() else { return Ok(()) };
        let live = self.inner.read_state().log_numbers.clone();
        crate::write::forget_retired_wals(&mut commit, &live);
        let closed = self.inner.sync_closed_wals(&mut commit);
        drop(commit);
        if let Err(e) = closed {
            // Syncing the active WAL now would put synced records behind an unsynced one.
            let _ = log.flush();
            return Err(e);
        }
        log.trim().and_then(|()| log.sync()).map_err(|e| {
            let _ = log.flush();
            Error::from(e)
        })
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The file system this database uses.
    pub fn file_system(&self) -> Arc<dyn strata_base::FileSystem> {
        Arc::clone(&self.inner.fs)
    }

    /// The gate between this database's table syncs and a latency-sensitive sync phase: a
    /// checkpoint holds it ([`IoGate::hold`](strata_base::IoGate::hold)) around its own fsyncs,
    /// and an ingestion that links around its links and its manifest write, so that no flush or
    /// compaction starts syncing a piece of its output beside them
    /// (`Options::table_sync_bytes`). Holding it only delays table syncs; nothing skips one.
    pub fn io_gate(&self) -> Arc<strata_base::IoGate> {
        Arc::clone(&self.inner.io_gate)
    }

    /// The options this database was opened with (savepoints record them for information).
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// What the open found on disk and did about it: the manifest recovered from, whether
    /// `CURRENT` had to be recovered by listing, torn tails dropped, files kept because they
    /// could not be proven Strata's. Also the `strata.recovery` property.
    pub fn recovery_report(&self) -> &crate::RecoveryReport {
        &self.inner.recovery
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The database's identity, recorded in its manifest: assigned when the database is
    /// created (or at its first read-write open, for a database from before identities), new for
    /// every checkpoint or restore. `None` only for such an old database opened read-only.
    pub fn identity(&self) -> Option<strata_manifest::DbId> {
        self.inner.state.lock().versions.db_id()
    }

    /// The identity of the database this one was copied from (checkpoint, restore, import into
    /// a new directory), if any.
    pub fn parent_identity(&self) -> Option<strata_manifest::DbId> {
        self.inner.state.lock().versions.parent_db_id()
    }

    /// The last committed sequence number.
    pub fn sequence(&self) -> SeqNo {
        self.inner.last_sequence()
    }

    // ---- writes ----

    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.write_one(&WriteOptions::default(), ValueKind::Put, DEFAULT_CF_ID, key.as_ref(), value.as_ref())
    }

    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.write_one(&WriteOptions::default(), ValueKind::Delete, DEFAULT_CF_ID, key.as_ref(), &[])
    }

    pub fn put_cf(&self, cf: &ColumnFamily, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.write_one(&WriteOptions::default(), ValueKind::Put, cf.id(), key.as_ref(), value.as_ref())
    }

    pub fn delete_cf(&self, cf: &ColumnFamily, key: impl AsRef<[u8]>) -> Result<()> {
        self.write_one(&WriteOptions::default(), ValueKind::Delete, cf.id(), key.as_ref(), &[])
    }

    /// Applies a batch atomically across column families.
    pub fn write(&self, batch: WriteBatch, opts: &WriteOptions) -> Result<()> {
        self.inner.write(batch, opts)
    }

    /// `put` with write options (e.g. `sync: true`).
    pub fn put_opt(&self, opts: &WriteOptions, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.write_one(opts, ValueKind::Put, DEFAULT_CF_ID, key.as_ref(), value.as_ref())
    }

    /// A batch of one operation, sized up front so that filling it does not reallocate.
    fn write_one(&self, opts: &WriteOptions, kind: ValueKind, cf: CfId, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::with_capacity(key.len() + value.len());
        b.append(kind, cf, key, value);
        self.write(b, opts)
    }

    // ---- reads ----

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(DEFAULT_CF_ID, key.as_ref(), None)
    }

    pub fn get_opt(&self, opts: &ReadOptions<'_>, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(DEFAULT_CF_ID, key.as_ref(), opts.snapshot.map(|s| s.sequence()))
    }

    pub fn get_cf(&self, cf: &ColumnFamily, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(cf.id(), key.as_ref(), None)
    }

    pub fn get_cf_opt(
        &self,
        cf: &ColumnFamily,
        opts: &ReadOptions<'_>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>> {
        self.inner.get(cf.id(), key.as_ref(), opts.snapshot.map(|s| s.sequence()))
    }

    /// Looks up many keys of one column family against one consistent state. Keys are looked
    /// up in sorted order so neighbouring keys share cached blocks; results come back in the
    /// order of `keys`.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        cf: &ColumnFamily,
        opts: &ReadOptions<'_>,
        keys: &[K],
    ) -> Vec<Result<Option<Bytes>>> {
        let (seq, rs) = self.inner.read_point(opts.snapshot.map(Snapshot::sequence));
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].as_ref().cmp(keys[b].as_ref()));
        let mut out: Vec<Option<Result<Option<Bytes>>>> = (0..keys.len()).map(|_| None).collect();
        for i in order {
            out[i] = Some(self.inner.get_in(&rs, cf.id(), keys[i].as_ref(), seq));
        }
        out.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
    }

    /// Pins the current sequence number until the snapshot is dropped.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshots.acquire(|| self.inner.last_sequence())
    }

    /// An iterator over the default column family.
    pub fn iter(&self, opts: &ReadOptions<'_>) -> Result<DbIterator> {
        self.inner.iter(DEFAULT_CF_ID, opts)
    }

    pub fn iter_cf(&self, cf: &ColumnFamily, opts: &ReadOptions<'_>) -> Result<DbIterator> {
        self.inner.iter(cf.id(), opts)
    }

    /// A std iterator over `range` of the default column family, in key order.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> RangeIter {
        self.range_cf(&ColumnFamily::default_cf(), range)
    }

    pub fn range_cf<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, cf: &ColumnFamily, range: R) -> RangeIter {
        // The range becomes the iterator's own bounds (inclusive lower, exclusive upper), so it
        // stops at the end of the range instead of scanning on to the next visible key. In
        // bytewise order `k ++ [0]` is the smallest key after `k`.
        let after = |k: &[u8]| [k, &[0]].concat();
        let lower_bound = match range.start_bound() {
            Bound::Included(k) => Some(k.as_ref().to_vec()),
            Bound::Excluded(k) => Some(after(k.as_ref())),
            Bound::Unbounded => None,
        };
        let upper_bound = match range.end_bound() {
            Bound::Included(k) => Some(after(k.as_ref())),
            Bound::Excluded(k) => Some(k.as_ref().to_vec()),
            Bound::Unbounded => None,
        };
        RangeIter::new(self.inner.iter(cf.id(), &ReadOptions { lower_bound, upper_bound, ..Default::default() }))
    }

    /// A std iterator over the keys of the default column family that start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> RangeIter {
        let p = prefix.as_ref().to_vec();
        let upper_bound = prefix_successor(&p);
        let opts = ReadOptions { lower_bound: Some(p), upper_bound, ..Default::default() };
        RangeIter::new(self.inner.iter(DEFAULT_CF_ID, &opts))
    }

    // ---- column families ----

    /// Creates a column family; fails with `AlreadyExists` semantics (`InvalidArgument`) if the
    /// name is taken.
    pub fn create_cf(&self, name: &str) -> Result<ColumnFamily> {
        self.inner.check_writable()?;
        if name.is_empty() || name.len() > CF_NAME_LEN_MAX {
            return Err(Error::InvalidArgument(format!("column family names are 1 to {CF_NAME_LEN_MAX} bytes")));
        }
        let _commit = self.inner.writes.commit.lock();
        let mut st = self.inner.state.lock();
        if st.cf_names.values().any(|n| n == name) {
            return Err(Error::InvalidArgument(format!("column family {name:?} already exists")));
        }
        let id = st.versions.next_cf_id();
        let mut edit = VersionEdit::default();
        edit.add_cf(id, name, Comparator::name(&*self.inner.icmp));
        st.versions.log_and_apply(edit)?;
        st.cf_names.insert(id, name.to_string());
        st.active.mems.insert(id, Arc::new(crate::memtable::MemTable::new()));
        self.inner.install_read_state(&st);
        drop(st);
        Ok(ColumnFamily::new(id, name))
    }

    /// Drops a column family and all its data. The default column family cannot be dropped.
    pub fn drop_cf(&self, name: &str) -> Result<()> {
        self.inner.check_writable()?;
        if name == DEFAULT_CF_NAME {
            return Err(Error::InvalidArgument("the default column family cannot be dropped".into()));
        }
        let _commit = self.inner.writes.commit.lock();
        let mut st = self.inner.state.lock();
        let id = st
            .cf_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(&id, _)| id)
            .ok_or_else(|| Error::ColumnFamilyNotFound(name.to_string()))?;
        let mut edit = VersionEdit::default();
        edit.drop_cf(id);
        st.versions.log_and_apply(edit)?;
        st.cf_names.remove(&id);
        st.active.mems.remove(&id);
        let imm: Vec<Arc<Generation>> = st.imm.iter().cloned().collect();
        st.imm = imm
            .into_iter()
            .map(|g| {
                let mut mems = g.mems.clone();
                mems.remove(&id);
                Arc::new(Generation { log_number: g.log_number, mems })
            })
            .collect();
        self.inner.install_read_state(&st);
        drop(st);
        self.inner.delete_obsolete_files();
        Ok(())
    }

    /// The handle of a column family, if it exists.
    pub fn cf(&self, name: &str) -> Option<ColumnFamily> {
        let rs = self.inner.read_state();
        rs.cfs.iter().find(|(_, c)| c.name == name).map(|(&id, c)| ColumnFamily::new(id, c.name.clone()))
    }

    /// The default column family's handle.
    pub fn default_cf(&self) -> ColumnFamily {
        ColumnFamily::default_cf()
    }

    /// Names of all column families, `default` first.
    pub fn cf_names(&self) -> Vec<String> {
        let rs = self.inner.read_state();
        rs.cfs.values().map(|c| c.name.clone()).collect()
    }

    // ---- maintenance ----

    /// Flushes every column family's memtables to L0 tables (fsynced) and waits. When it
    /// returns, the WALs the flush retired are deleted (unless a [`LiveFiles`](crate::LiveFiles)
    /// pins them), and no background deletion that could still remove them is running.
    /// Compactions the new tables call for may still be pending: see
    /// [`Db::wait_for_background_work`].
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Compacts the keys of `cf` in `[begin, end]` (user keys; `None` = unbounded) down through
    /// every level, after flushing.
    pub fn compact_range(&self, cf: &ColumnFamily, begin: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.inner.check_writable()?;
        self.flush()?;
        {
            let st = self.inner.state.lock();
            if !st.cf_names.contains_key(&cf.id()) {
                return Err(Error::ColumnFamilyNotFound(cf.name().to_string()));
            }
        }
        self.inner.state.lock().manual_compaction = true;
        let r = self.inner.compact_range_impl(cf.id(), begin, end);
        self.inner.state.lock().manual_compaction = false;
        self.inner.bg.cv.notify_all();
        r.map_err(|e| self.inner.set_bg_error(e))
    }

    /// Waits until the background work pending at the call is done, so that the file system
    /// is quiet afterwards (tests that trace or fault file-system operations, benchmarks,
    /// before a backup of the directory):
    ///
    /// 1. every memtable that was already immutable is flushed (the active memtable is not
    ///    switched: call [`Db::flush`] first for that);
    /// 2. no compaction is running and, unless `Options::disable_auto_compactions`, none is
    ///    needed (those the picker still wants run on the calling thread, like
    ///    [`Db::wait_for_compactions`]);
    /// 3. every file obsolete by then is deleted: tables no version, iterator or
    ///    [`LiveFiles`](crate::LiveFiles) needs any more, WALs older than the oldest unflushed
    ///    memtable and not pinned. Deletion passes take turns, so none that started before
    ///    this one is still running when it returns.
    ///
    /// Work started after the call (by writes racing with it) may still be running. This is
    /// the counterpart of RocksDB's `WaitForCompact` with its default options (no flush first,
    /// no close, no timeout); here the deletion of obsolete files is part of the work waited
    /// for. Returns `Error::Poisoned` if background work failed (before or while waiting),
    /// `Error::Closed` if the database shut down; a read-only database runs no background
    /// work, and returns `Ok` at once.
    pub fn wait_for_background_work(&self) -> Result<()> {
        self.inner.wait_for_background_work()
    }

    /// Waits until no background compaction is needed (test and benchmark helper).
    pub fn wait_for_compactions(&self) -> Result<()> {
        // Exclusive: running background compactions finish first, and none starts meanwhile.
        let _exclusive = self.inner.bg.compaction.write();
        loop {
            self.inner.check_writable()?;
            if !self.inner.compact_once()? {
                return Ok(());
            }
        }
    }

    /// A named property: `strata.stats`, `strata.num-files-at-level<N>`,
    /// `strata.estimate-num-keys`, `strata.total-sst-bytes`, `strata.write-amplification`.
    pub fn property(&self, name: &str) -> Option<String> {
        crate::properties::property(&self.inner, name)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The smallest key greater than every key starting with `prefix`, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

/// Lookup keys up to this long (user key and trailer) are built on the stack.
const LOOKUP_INLINE_BYTES: usize = 64;

impl DbInner {
    pub(crate) fn get(&self, cf_id: CfId, key: &[u8], seq: Option<SeqNo>) -> Result<Option<Bytes>> {
        let (seq, rs) = self.read_point(seq);
        self.get_in(&rs, cf_id, key, seq)
    }

    pub(crate) fn get_in(&self, rs: &ReadState, cf_id: CfId, key: &[u8], seq: SeqNo) -> Result<Option<Bytes>> {
        let cf = rs.cfs.get(&cf_id).ok_or_else(|| Error::ColumnFamilyNotFound(format!("id {cf_id}")))?;
        for mem in &cf.mems {
            match mem.get(key, seq) {
                Some(MemGet::Value(v)) => return Ok(Some(v)),
                Some(MemGet::Deleted) => return Ok(None),
                None => {}
            }
        }
        let Some(vcf) = rs.version.cf(cf_id) else { return Ok(None) };
        // The lookup key, on the stack for the usual short key.
        let mut inline = [0u8; LOOKUP_INLINE_BYTES];
        let heap;
        let lookup: &[u8] = match inline.get_mut(..key.len() + ikey::TRAILER_LEN) {
            Some(buf) => {
                let (user, trailer) = buf.split_at_mut(key.len());
                user.copy_from_slice(key);
                trailer.copy_from_slice(&ikey::pack_trailer(seq.min(ikey::SEQ_MAX), ValueKind::MAX).to_le_bytes());
                buf
            }
            None => {
                heap = ikey::lookup_key(key, seq);
                &heap
            }
        };
        let ucmp = self.icmp.user_comparator();
        for (level, files) in vcf.levels.iter().enumerate() {
            if level == 0 {
                for f in files {
                    if ucmp.compare(key, ikey::user_key(&f.smallest)) == Ordering::Less
                        || ucmp.compare(key, ikey::user_key(&f.largest)) == Ordering::Greater
                    {
                        continue;
                    }
                    if let Some(r) = self.get_from_table(f, key, seq, lookup)? {
                        return Ok(r);
                    }
                }
            } else {
                let i = files.partition_point(|f| self.icmp.compare(&f.largest, lookup) == Ordering::Less);
                let Some(f) = files.get(i) else { continue };
                if ucmp.compare(key, ikey::user_key(&f.smallest)) == Ordering::Less {
                    continue;
                }
                if let Some(r) = self.get_from_table(f, key, seq, lookup)? {
                    return Ok(r);
                }
            }
        }
        Ok(None)
    }

    /// `Some(answer)` if the table holds a version of `key` visible at `seq` (`lookup` is the
    /// lookup key for `key` at `seq`; an ingested table is searched at its global sequence).
    fn get_from_table(
        &self,
        f: &strata_manifest::FileMeta,
        key: &[u8],
        seq: SeqNo,
        lookup: &[u8],
    ) -> Result<Option<Option<Bytes>>> {
        let Some(file_lookup) = crate::ingest::file_iter::file_lookup_key(f.global_seq, key, seq, lookup) else {
            return Ok(None);
        };
        let table = self.table_cache.get(f.number)?;
        if !table.may_contain(key) {
            return Ok(None);
        }
        // The first entry at or after the lookup key answers if it is a version of `key`.
        let found = table.seek_point(&file_lookup, |e| {
            (ikey::user_key(e.key()) == key).then(|| match e.kind() {
                ValueKind::Put => Some(e.value_owned()),
                ValueKind::Delete => None,
            })
        })?;
        Ok(found.flatten())
    }
}
