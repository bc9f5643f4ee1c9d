//! [`TableBuilder`]: writes a table front to back in one pass.
//!
//! File layout: data blocks, filter block (optional), index block, properties block, footer.
//! Every block is followed by its trailer (type + masked CRC32). The footer comes last, so a
//! file that was not finished has no valid footer and can never be opened as a table; on top of
//! that, an unfinished builder removes its file when dropped.
//!
//! Invariants: keys are strictly increasing under the comparator (checked on every `add`);
//! `offset` equals the bytes appended to the file; `file_crc` covers exactly those bytes; after
//! an I/O error every later call fails (a retried write could leave a hole).
//!
//! Thread safety: one owner (`Send`).

use crate::block::BlockBuilder;
use crate::codec::{Packer, block_trailer};
use crate::error::{Error, Result, show_key};
use crate::filter::{self, FilterKind};
use crate::format::{
    BLOCK_LEN_MAX, BLOCK_TRAILER_LEN, BlockHandle, EntryLayout, FILTER_LINE_LEN, FORMAT_VERSION, Footer,
    HANDLE_VARINT_LEN_MAX, KEY_LEN_MAX, VALUE_LEN_MAX,
};
use crate::options::TableOptions;
use crate::properties::Properties;
use std::cmp::Ordering;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};
use strata_base::ikey::ValueKind;
use strata_base::{FileSyncer, FileSystem, IoGate, WritableFile};

/// What `finish` reports about the table it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    pub smallest_key: Vec<u8>,
    pub largest_key: Vec<u8>,
    pub num_entries: u64,
    pub num_deletions: u64,
    pub file_size: u64,
    /// CRC32 of every byte before the footer, as recorded in the footer.
    pub file_checksum: u32,
}

/// How a table's bytes are made durable while it is written: see
/// [`TableBuilder::sync_in_pieces`].
struct Pieces {
    bytes: u64,
    gate: Arc<IoGate>,
    /// `offset` when the last piece's sync began.
    synced: u64,
    /// Piece syncs run on a helper thread through this handle while the next piece is written
    /// ([`TableBuilder::sync_in_pieces`] with `background`); `None` while one runs, or when they run
    /// on the writer's thread.
    syncer: Option<Box<dyn FileSyncer>>,
    /// The piece sync running on a helper thread.
    running: Option<PieceSync>,
}

/// A piece sync on a helper thread; it hands the handle back with its result.
type PieceSync = JoinHandle<(Box<dyn FileSyncer>, io::Result<()>)>;

impl Pieces {
    /// Waits for the piece sync running on a helper thread, if any, and returns its result.
    fn wait_running(&mut self) -> io::Result<()> {
        let Some(h) = self.running.take() else { return Ok(()) };
        match h.join() {
            Ok((syncer, result)) => {
                self.syncer = Some(syncer);
                result
            }
            Err(_) => Err(io::Error::other("a table piece's sync thread panicked")),
        }
    }
}

impl Drop for Pieces {
    /// A table given up while a piece syncs: the sync finishes before the builder is gone, so
    /// no helper thread outlives it (its result no longer matters).
    fn drop(&mut self) {
        let _ = self.wait_running();
    }
}

/// The file being written, with its running offset and CRC.
struct Sink {
    file: Box<dyn WritableFile>,
    offset: u64,
    crc: crc32fast::Hasher,
    pieces: Option<Pieces>,
}

impl Sink {
    /// Syncs the bytes written so far if a piece's worth has accumulated since the last sync,
    /// through the gate (a piece waits while a holder has it).
    ///
    /// On the writer's thread: syncs, then waits for the gate again before the next piece is
    /// written. In the background: waits for the previous piece's sync (at most one runs, so no
    /// sync has more than about two pieces to write) and for the gate, flushes, and starts this
    /// piece's sync on a helper thread; the writer goes on meanwhile. A failed background sync
    /// is this call's error, or `finish`'s.
    fn sync_piece_if_due(&mut self) -> io::Result<()> {
        let Some(p) = self.pieces.as_mut() else { return Ok(()) };
        if self.offset - p.synced < p.bytes {
            return Ok(());
        }
        p.wait_running()?;
        if let Some(mut syncer) = p.syncer.take() {
            p.gate.wait_open();
            self.file.flush()?;
            let gate = Arc::clone(&p.gate);
            let spawned = std::thread::Builder::new().name("strata-table-sync".into()).spawn(move || {
                let result = gate.piece(|| syncer.sync());
                (syncer, result)
            });
            if let Ok(h) = spawned {
                p.running = Some(h);
                p.synced = self.offset;
                return Ok(());
            }
            // No thread could be started (the handle went with the closure): this piece and
            // every later one are synced on the writer's thread.
        }
        let file = &mut self.file;
        p.gate.piece(|| file.sync())?;
        p.synced = self.offset;
        p.gate.wait_open();
        Ok(())
    }

    /// The table's last sync (through the gate when it is written in pieces), after the piece
    /// sync still running in the background, if any.
    fn sync_all(&mut self) -> io::Result<()> {
        match self.pieces.as_mut() {
            Some(p) => {
                p.wait_running()?;
                let file = &mut self.file;
                p.gate.piece(|| file.sync())
            }
            None => self.file.sync(),
        }
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.append(data)?;
        self.crc.update(data);
        self.offset += data.len() as u64;
        Ok(())
    }

    fn write_block(&mut self, packer: &mut Packer, raw: &[u8], compress: bool) -> io::Result<BlockHandle> {
        let (ty, head, body) = packer.pack(raw, compress)?;
        let trailer = block_trailer(head, body, ty as u8);
        let handle = BlockHandle { offset: self.offset, size: (head.len() + body.len()) as u64 };
        self.append(head)?;
        self.append(body)?;
        self.append(&trailer)?;
        self.sync_piece_if_due()?;
        Ok(handle)
    }
}

/// Writes one table. See the module docs.
pub struct TableBuilder {
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    sink: Option<Sink>,
    opts: TableOptions,
    packer: Packer,
    data: BlockBuilder,
    index: BlockBuilder,
    last_key: Vec<u8>,
    pending: Option<BlockHandle>,
    /// The filter keys' hashes, for the filter `finish` builds (empty while `filter_lines`
    /// builds it as keys are added).
    hashes: Vec<u64>,
    /// The filter, built as keys are added, when their number was given
    /// ([`Self::expect_filter_keys`]).
    filter_lines: Option<filter::local::LocalBuilder>,
    /// The last filter key's hash: consecutive equal filter keys (versions of one user key)
    /// are added once.
    last_hash: Option<u64>,
    props: Properties,
    creation_time: Option<u64>,
    failed: bool,
    finished: bool,
}

impl std::fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBuilder")
            .field("path", &self.path)
            .field("entries", &self.props.num_entries)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl TableBuilder {
    /// Creates (or truncates) `path` and starts a table there.
    pub fn create(fs: Arc<dyn FileSystem>, path: &Path, opts: TableOptions) -> Result<Self> {
        opts.validate()?;
        let packer = Packer::new(opts.compression).map_err(|e| Error::io(path, e))?;
        let file = fs.create(path).map_err(|e| Error::io(path, e))?;
        let props = Properties {
            compression: opts.compression,
            format_version: FORMAT_VERSION,
            comparator: opts.comparator.name().to_string(),
            bloom_bits_per_key: opts.bloom_bits_per_key,
            block_size: opts.block_size as u64,
            restart_interval: opts.restart_interval as u64,
            ..Properties::default()
        };
        Ok(Self {
            fs,
            path: path.to_path_buf(),
            sink: Some(Sink { file, offset: 0, crc: crc32fast::Hasher::new(), pieces: None }),
            data: Self::data_block_builder(&opts, EntryLayout::of_version(FORMAT_VERSION)),
            index: Self::index_block_builder(EntryLayout::of_version(FORMAT_VERSION)),
            packer,
            opts,
            last_key: Vec::new(),
            pending: None,
            hashes: Vec::new(),
            filter_lines: None,
            last_hash: None,
            props,
            creation_time: None,
            failed: false,
            finished: false,
        })
    }

    fn data_block_builder(opts: &TableOptions, layout: EntryLayout) -> BlockBuilder {
        BlockBuilder::new(opts.restart_interval, opts.block_size + opts.block_size / 4, layout)
    }

    fn index_block_builder(layout: EntryLayout) -> BlockBuilder {
        BlockBuilder::new(1, 4096, layout)
    }

    fn layout(&self) -> EntryLayout {
        EntryLayout::of_version(self.props.format_version)
    }

    /// Appends an entry. Keys must be strictly increasing under the comparator.
    pub fn add(&mut self, key: &[u8], kind: ValueKind, value: &[u8]) -> Result<()> {
        self.check_usable()?;
        if key.len() > KEY_LEN_MAX {
            return Err(Error::InvalidArgument(format!(
                "key of {} bytes exceeds KEY_LEN_MAX ({KEY_LEN_MAX})",
                key.len()
            )));
        }
        if value.len() > VALUE_LEN_MAX {
            return Err(Error::InvalidArgument(format!(
                "value of {} bytes exceeds VALUE_LEN_MAX ({VALUE_LEN_MAX})",
                value.len()
            )));
        }
        if self.props.num_entries > 0 && self.opts.comparator.compare(&self.last_key, key) != Ordering::Less {
            return Err(Error::InvalidArgument(format!(
                "table keys must be strictly increasing: {} added after {}",
                show_key(key),
                show_key(&self.last_key)
            )));
        }
        if let Some(handle) = self.pending.take() {
            let sep = self.opts.comparator.separator(&self.last_key, key);
            self.add_index_entry(&sep, handle);
        }
        if self.props.num_entries == 0 {
            self.props.smallest_key = key.to_vec();
        }
        if self.opts.bloom_bits_per_key > 0 {
            let h = filter::hash64(self.opts.comparator.filter_key(key));
            if self.last_hash != Some(h) {
                self.last_hash = Some(h);
                match self.filter_lines.as_mut() {
                    Some(lines) => lines.add(h),
                    None => self.hashes.push(h),
                }
            }
        }
        self.data.add(&self.last_key, key, kind, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.props.num_entries += 1;
        self.props.num_deletions += u64::from(kind == ValueKind::Delete);
        self.props.raw_key_bytes += key.len() as u64;
        self.props.raw_value_bytes += value.len() as u64;
        if self.data.estimated_size() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Says that the table will hold `keys` distinct filter keys (user keys): the filter is then
    /// built while keys are added, in the lines that many keys need, and the builder holds
    /// `bloom_bits_per_key / 8` bytes per key for it instead of every key's 8-byte hash until
    /// `finish` (a flush of a 64 MiB memtable: about 0.5 MB instead of 3-4 MB). With the right
    /// count the filter's bytes are those `finish` would build from the hashes; a wrong one
    /// gives a larger or a less selective filter, never a wrong answer. Best called before the
    /// first `add` (hashes collected before are moved into the filter).
    pub fn expect_filter_keys(&mut self, keys: usize) {
        if self.opts.bloom_bits_per_key == 0
            || self.filter_lines.is_some()
            || FilterKind::of_version(self.props.format_version) != FilterKind::Local
        {
            return;
        }
        let mut lines = filter::local::LocalBuilder::new(keys, self.opts.bloom_bits_per_key);
        for h in std::mem::take(&mut self.hashes) {
            lines.add(h);
        }
        self.filter_lines = Some(lines);
    }

    /// Records a user property (the engine stores sequence ranges and column-family ids).
    pub fn set_user_property(&mut self, name: &str, value: &[u8]) {
        self.props.user.insert(name.to_string(), value.to_vec());
    }

    /// Writes format version `version` (1 or 2: their filter kind, entry and index layout)
    /// instead of `FORMAT_VERSION`: tests only, to check that this build still reads what older
    /// builds wrote. Call before the first `add`.
    #[cfg(test)]
    pub(crate) fn write_format_version(&mut self, version: u32) {
        assert!(self.props.num_entries == 0 && (crate::format::FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version));
        self.props.format_version = version;
        self.data = Self::data_block_builder(&self.opts, self.layout());
        self.index = Self::index_block_builder(self.layout());
    }

    /// Makes the file durable in pieces while it is written: after every `bytes` appended (at a
    /// block boundary) the bytes so far are synced, and `finish`'s last sync covers the rest.
    /// Every sync goes through `gate` ([`IoGate::piece`]): it waits while a holder (a
    /// checkpoint's sync phase) has the gate. Without this call (the default) the table is
    /// synced once, by `finish`. `finish` syncs the whole file either way before it returns.
    ///
    /// On the writer's thread, no sync has more than about `bytes` to write. With `background`,
    /// each piece is synced on a helper thread while the writer goes on with the next one,
    /// through a second handle to the file ([`WritableFile::background_syncer`]): at most one
    /// piece sync runs at a time (so one has up to about twice `bytes` to write), and `finish`
    /// waits for it before its own last sync, so what `finish` guarantees is unchanged. A file
    /// system without a second handle gets its pieces synced on the writer's thread.
    pub fn sync_in_pieces(&mut self, bytes: u64, gate: Arc<IoGate>, background: bool) {
        if let Some(sink) = self.sink.as_mut() {
            let syncer = if background { sink.file.background_syncer() } else { None };
            sink.pieces = Some(Pieces { bytes: bytes.max(1), gate, synced: sink.offset, syncer, running: None });
        }
    }

    /// Overrides the creation time (seconds since the Unix epoch); for reproducible files.
    pub fn set_creation_time(&mut self, secs: u64) {
        self.creation_time = Some(secs);
    }

    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// About how large the file would be if finished now.
    pub fn estimated_size(&self) -> u64 {
        let written = self.sink.as_ref().map_or(0, |s| s.offset);
        let filter = match &self.filter_lines {
            Some(lines) => lines.encoded_len() as u64 - 1,
            None if self.opts.bloom_bits_per_key > 0 => {
                (filter::local::lines_for(self.hashes.len(), self.opts.bloom_bits_per_key) * FILTER_LINE_LEN) as u64
            }
            None => 0,
        };
        written + self.data.estimated_size() as u64 + self.index.estimated_size() as u64 + filter
    }

    /// Removes the unfinished file.
    pub fn abandon(self) {
        drop(self);
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed || self.sink.is_none() {
            return Err(Error::io(&self.path, io::Error::other("table builder failed earlier; abandon it")));
        }
        Ok(())
    }

    fn io_failed(&mut self, e: io::Error) -> Error {
        self.failed = true;
        Error::io(&self.path, e)
    }

    fn add_index_entry(&mut self, sep: &[u8], handle: BlockHandle) {
        let mut buf = Vec::with_capacity(HANDLE_VARINT_LEN_MAX);
        match self.layout() {
            EntryLayout::KindByte => handle.encode_into(&mut buf),
            // Version 3: the offset is where the previous block's trailer ended (0 for the first).
            EntryLayout::KindBit => handle.encode_size_into(&mut buf),
        }
        // Restart interval 1: every index key is stored whole, `prev_key` is unused.
        self.index.add(&[], sep, ValueKind::Put, &buf);
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        self.check_usable()?;
        let raw = self.data.finish();
        let raw_len = raw.len() as u64;
        let written = match self.sink.as_mut() {
            Some(sink) => sink.write_block(&mut self.packer, raw, true),
            None => Err(io::Error::other("table builder has no file")),
        };
        let handle = written.map_err(|e| self.io_failed(e))?;
        self.data.reset();
        self.props.raw_data_bytes += raw_len;
        self.props.data_bytes += handle.size + BLOCK_TRAILER_LEN as u64;
        self.props.num_data_blocks += 1;
        self.pending = Some(handle);
        Ok(())
    }

    fn write_meta_block(&mut self, raw: &[u8], compress: bool) -> Result<BlockHandle> {
        if raw.len() > BLOCK_LEN_MAX {
            return Err(Error::InvalidArgument(format!(
                "a metadata block of {} bytes exceeds BLOCK_LEN_MAX ({BLOCK_LEN_MAX}); write smaller tables",
                raw.len()
            )));
        }
        let written = match self.sink.as_mut() {
            Some(sink) => sink.write_block(&mut self.packer, raw, compress),
            None => Err(io::Error::other("table builder has no file")),
        };
        written.map_err(|e| self.io_failed(e))
    }

    /// Writes the remaining blocks and the footer, fsyncs the file and describes it.
    pub fn finish(mut self) -> Result<TableMeta> {
        self.check_usable()?;
        self.flush_data_block()?;
        if self.props.num_entries == 0 {
            return Err(Error::InvalidArgument(format!("table {} has no entries", self.path.display())));
        }
        if let Some(handle) = self.pending.take() {
            let succ = self.opts.comparator.successor(&self.last_key);
            self.add_index_entry(&succ, handle);
        }
        let filter = if self.opts.bloom_bits_per_key > 0 {
            let bits = match (FilterKind::of_version(self.props.format_version), &mut self.filter_lines) {
                // Version 1 filters are written only by tests, to check that they are still read.
                #[cfg(test)]
                (FilterKind::Whole, _) => filter::whole::build(&self.hashes, self.opts.bloom_bits_per_key),
                (_, Some(lines)) => lines.finish(),
                (_, None) => filter::local::build(&self.hashes, self.opts.bloom_bits_per_key),
            };
            let h = self.write_meta_block(&bits, false)?;
            self.props.filter_bytes = h.size + BLOCK_TRAILER_LEN as u64;
            h
        } else {
            BlockHandle::default()
        };
        let index_raw = self.index.finish().to_vec();
        let index = self.write_meta_block(&index_raw, true)?;
        self.props.index_bytes = index.size + BLOCK_TRAILER_LEN as u64;
        self.props.largest_key = self.last_key.clone();
        self.props.creation_time = self
            .creation_time
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        let mut props_raw = Vec::with_capacity(256);
        self.props.encode_into(&mut props_raw);
        let properties = self.write_meta_block(&props_raw, true)?;
        let Some(mut sink) = self.sink.take() else {
            return Err(Error::io(&self.path, io::Error::other("table builder has no file")));
        };
        let file_crc = sink.crc.clone().finalize();
        let footer = Footer { index, filter, properties, file_crc, format_version: self.props.format_version };
        let done = sink.append(&footer.encode()).and_then(|()| sink.sync_all());
        if let Err(e) = done {
            self.sink = Some(sink);
            return Err(self.io_failed(e));
        }
        self.finished = true;
        Ok(TableMeta {
            smallest_key: std::mem::take(&mut self.props.smallest_key),
            largest_key: std::mem::take(&mut self.props.largest_key),
            num_entries: self.props.num_entries,
            num_deletions: self.props.num_deletions,
            file_size: sink.offset,
            file_checksum: file_crc,
        })
    }
}

impl Drop for TableBuilder {
    fn drop(&mut self) {
        if !self.finished {
            // Close before removing; a failure leaves a file without a valid footer, which no
            // reader accepts as a table.
            self.sink = None;
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{FOOTER_CRC_AT, FOOTER_LEN, FOOTER_VERSION_AT};
    use crate::{Table, TableReadOptions};
    use strata_base::SimFs;

    const KEYS: u32 = 2000;

    fn key(prefix: &str, i: u32) -> Vec<u8> {
        format!("{prefix}{i:06}").into_bytes()
    }

    /// A table of `KEYS` keys, of format version `version`.
    fn table(fs: &SimFs, path: &Path, version: u32) {
        let mut b = TableBuilder::create(fs.arc(), path, TableOptions::default()).unwrap();
        b.write_format_version(version);
        for i in 0..KEYS {
            b.add(&key("key", i), ValueKind::Put, b"v").unwrap();
        }
        b.finish().unwrap();
    }

    fn false_positives(t: &Table) -> usize {
        (0..100_000).filter(|&i| t.may_contain(&key("absent", i))).count()
    }

    /// What a version 1 build wrote is still read, through its own filter kind.
    #[test]
    fn version_1_tables_are_read_with_their_whole_table_filter() {
        let fs = SimFs::new();
        let (p1, p2) = (Path::new("/v1.sst"), Path::new("/v2.sst"));
        table(&fs, p1, 1);
        table(&fs, p2, FORMAT_VERSION);
        let v1 = Table::open_path(&fs, p1, TableReadOptions::default()).unwrap();
        let v2 = Table::open_path(&fs, p2, TableReadOptions::default()).unwrap();
        v1.verify_checksums().unwrap();
        assert_eq!((v1.properties().format_version, v2.properties().format_version), (1, FORMAT_VERSION));
        // 2000 keys x 10 bits: 2500 bytes of bits and a probe byte; 40 lines of 64 bytes.
        assert_eq!(v1.properties().filter_bytes, 2501 + BLOCK_TRAILER_LEN as u64);
        assert_eq!(v2.properties().filter_bytes, 40 * 64 + 1 + BLOCK_TRAILER_LEN as u64);
        for t in [&v1, &v2] {
            for i in 0..KEYS {
                assert!(t.get(&key("key", i)).unwrap().is_some(), "key {i}");
            }
            assert_eq!(t.get(&key("absent", 0)).unwrap(), None);
            let fp = false_positives(t);
            assert!(
                (300..1300).contains(&fp),
                "{fp} false positives in 100000 (version {})",
                t.properties().format_version
            );
        }
    }

    /// The filter kind follows the footer's version, so a version 1 table whose footer is made
    /// to say version 2 (checksums resealed) has a filter of the wrong shape: `Corruption` at
    /// the filter block, never a silent misread.
    #[test]
    fn a_version_1_filter_under_a_version_2_footer_is_corruption() {
        let fs = SimFs::new();
        let path = Path::new("/v1.sst");
        table(&fs, path, 1);
        let mut t = fs.read_all(path).unwrap().to_vec();
        let f = t.len() - FOOTER_LEN;
        let footer: &[u8; FOOTER_LEN] = t[f..].try_into().unwrap();
        let filter_at = Footer::decode_from(footer).unwrap().filter.offset;
        t[f + FOOTER_VERSION_AT..f + FOOTER_VERSION_AT + 4].copy_from_slice(&2u32.to_le_bytes());
        let crc = strata_base::checksum::mask(strata_base::checksum::crc32(&t[f..f + FOOTER_CRC_AT]));
        t[f + FOOTER_CRC_AT..f + FOOTER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        let file = Arc::new(strata_base::MemFile::new(bytes::Bytes::from(t)));
        match Table::open(file, path, TableReadOptions::default()) {
            Err(Error::Corruption { file, offset, reason }) => {
                assert_eq!(file, path);
                assert_eq!(offset, filter_at, "names the filter block's offset");
                assert!(reason.contains("64-byte lines"), "{reason}");
            }
            other => panic!("expected Corruption, got {other:?}"),
        }
    }

    /// A filter built while keys are added (`expect_filter_keys` with the table's number of
    /// user keys, before the first key or after some) is byte for byte the filter `finish`
    /// builds from the collected hashes, so the whole file is the same. A wrong count changes
    /// only the filter's size: every key is still found.
    #[test]
    fn a_filter_built_as_keys_come_is_the_filter_built_at_finish() {
        let opts = || TableOptions {
            comparator: Arc::new(strata_base::ikey::InternalKeyComparator::new(Arc::new(
                strata_base::comparator::BytewiseComparator,
            ))),
            ..TableOptions::default()
        };
        // 3000 user keys, some with several versions (one filter key each).
        let mut entries = Vec::new();
        for i in 0..3000u64 {
            for v in 0..(1 + i % 3) {
                entries.push(strata_base::ikey::encode(&key("user", i as u32), 10_000 - v, ValueKind::Put));
            }
        }
        let write = |path: &Path, fs: &SimFs, hint: Option<(usize, usize)>| {
            let mut b = TableBuilder::create(fs.arc(), path, opts()).unwrap();
            b.set_creation_time(1);
            for (i, k) in entries.iter().enumerate() {
                if let Some((keys, at)) = hint
                    && i == at
                {
                    b.expect_filter_keys(keys);
                }
                b.add(k, ValueKind::Put, b"value").unwrap();
            }
            b.finish().unwrap();
            fs.read_all(path).unwrap()
        };
        let fs = SimFs::new();
        let plain = write(Path::new("/plain.sst"), &fs, None);
        assert_eq!(write(Path::new("/ahead.sst"), &fs, Some((3000, 0))), plain);
        assert_eq!(write(Path::new("/late.sst"), &fs, Some((3000, 1000))), plain);
        for wrong in [1000, 9000] {
            let path = Path::new("/wrong.sst");
            assert_ne!(write(path, &fs, Some((wrong, 0))), plain);
            let t = Table::open_path(
                &fs,
                path,
                TableReadOptions { comparator: opts().comparator, ..TableReadOptions::default() },
            )
            .unwrap();
            let lines = crate::filter::local::lines_for(wrong, 10);
            assert_eq!(t.properties().filter_bytes, (lines * FILTER_LINE_LEN + 1 + BLOCK_TRAILER_LEN) as u64);
            for i in 0..3000 {
                assert!(t.may_contain(&key("user", i)), "user key {i}, filter sized for {wrong}");
            }
        }
    }

    /// Every readable version round-trips the same entries (several blocks, tombstones, long
    /// keys and values, restart intervals 1 and 16) through `get`, `seek_entry`, both scan
    /// directions and `verify_checksums`; version 3 is the smallest.
    #[test]
    fn every_version_reads_back_what_it_wrote() {
        let entries: Vec<(Vec<u8>, ValueKind, Vec<u8>)> = (0..3000u32)
            .map(|i| {
                let key = format!("k{i:05}{}", "x".repeat((i % 50) as usize)).into_bytes();
                let kind = if i % 5 == 0 { ValueKind::Delete } else { ValueKind::Put };
                let value = if kind == ValueKind::Delete { Vec::new() } else { vec![b'v'; (i % 300) as usize] };
                (key, kind, value)
            })
            .collect();
        for restart_interval in [1, 16] {
            let mut sizes = Vec::new();
            for version in crate::format::FORMAT_VERSION_MIN..=FORMAT_VERSION {
                let fs = SimFs::new();
                let path = Path::new("/t.sst");
                let opts = TableOptions { restart_interval, ..TableOptions::default() };
                let mut b = TableBuilder::create(fs.arc(), path, opts).unwrap();
                b.write_format_version(version);
                for (k, kind, v) in &entries {
                    b.add(k, *kind, v).unwrap();
                }
                b.finish().unwrap();
                let t = Table::open_path(&fs, path, TableReadOptions::default()).unwrap();
                sizes.push((t.properties().data_bytes, t.properties().index_bytes));
                t.verify_checksums().unwrap();
                assert_eq!(t.properties().format_version, version);
                assert!(t.properties().num_data_blocks > 50);
                for (k, kind, v) in &entries {
                    let (gk, gv) = t.get(k).unwrap().unwrap();
                    assert_eq!((gk, &gv[..]), (*kind, &v[..]), "version {version}");
                    let (sk, skind, _) = t.seek_entry(k).unwrap().unwrap();
                    assert_eq!((&sk[..], skind), (&k[..], *kind));
                }
                let mut it = t.iter();
                it.seek_to_first();
                for (k, kind, v) in &entries {
                    assert_eq!((it.key(), it.kind(), it.value()), (&k[..], *kind, &v[..]), "version {version}");
                    it.next();
                }
                assert!(!it.valid());
                it.seek_to_last();
                for (k, _, _) in entries.iter().rev() {
                    assert_eq!(it.key(), &k[..]);
                    it.prev();
                }
                assert!(!it.valid());
                it.status().unwrap();
            }
            // Versions 1 and 2 differ only in the filter; version 3 saves a byte per entry (all
            // keys here are shorter than 64 bytes) and the offset of every index handle.
            assert_eq!(sizes[0], sizes[1]);
            // (Blocks end at other entries, so allow for a few more restart points.)
            assert!(sizes[2].0 + entries.len() as u64 * 9 / 10 <= sizes[1].0, "{sizes:?}");
            assert!(sizes[2].1 < sizes[1].1, "{sizes:?}");
        }
    }
}
