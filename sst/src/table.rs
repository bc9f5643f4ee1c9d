//! [`Table`]: an open table, for point lookups, iteration and verification.
//!
//! Open reads the footer, then the properties, index and filter blocks, checking each one's
//! checksum whatever the options say, and refuses a table written under another comparator.
//! Data blocks are read on demand, through the block cache when there is one.
//!
//! Invariants: every handle is checked against the file before it is read: metadata blocks
//! must end before the footer, data blocks before the first metadata block, and no block may
//! exceed `BLOCK_LEN_MAX`. Nothing is allocated from a length that was not checked so.
//!
//! Thread safety: a `Table` is immutable after open and shared as `Arc<Table>` (`Send + Sync`);
//! reads go through the thread-safe `RandomAccessFile` and `BlockCache`.

use crate::block::{Block, BlockIter, IndexEntries};
use crate::codec;
use crate::error::{BlockCorrupt, Error, Result};
use crate::filter::{Filter, FilterKind};
use crate::format::{
    BLOCK_LEN_MAX, BLOCK_TRAILER_LEN, BlockHandle, EntryLayout, FOOTER_CRC_AT, FOOTER_FILE_CRC_AT, FOOTER_LEN,
    FOOTER_MAGIC_AT, FOOTER_VERSION_AT, FORMAT_VERSION, FORMAT_VERSION_MIN, Footer, FooterError,
};
use crate::iter::TableIter;
use crate::options::TableReadOptions;
use crate::properties::Properties;
use bytes::Bytes;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_base::ikey::ValueKind;
use strata_base::{FileSystem, RandomAccessFile};

thread_local! {
    /// The key buffer of [`Table::seek_point`], one per thread, so a point lookup allocates
    /// nothing for the keys it decodes. It keeps the longest key a lookup decoded.
    static POINT_KEY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Bytes read at a time by the whole-file checksum.
const VERIFY_CHUNK_BYTES: usize = 1 << 20;

/// An open table.
#[derive(Debug)]
pub struct Table {
    file: Arc<dyn RandomAccessFile>,
    path: PathBuf,
    opts: TableReadOptions,
    file_size: u64,
    footer: Footer,
    /// Offset of the first metadata block: data blocks end at or before it.
    data_end: u64,
    index: Block,
    /// The index entries located and decoded once, for the binary search of every lookup.
    index_keys: IndexEntries,
    /// How entries are laid out in this table's blocks (its format version).
    layout: EntryLayout,
    filter: Option<Filter>,
    props: Properties,
    /// The index and filter blocks' charge to the block cache, held while the table is open.
    _cache_charge: Option<crate::cache::CacheReservation>,
}

impl Table {
    /// Opens the table stored in `file`; `path` names it in errors.
    pub fn open(file: Arc<dyn RandomAccessFile>, path: &Path, opts: TableReadOptions) -> Result<Arc<Table>> {
        let file_size = file.len();
        let corrupt = |offset, reason: String| Error::corruption(path, offset, reason);
        let Some(footer_at) = file_size.checked_sub(FOOTER_LEN as u64) else {
            return Err(corrupt(0, format!("file of {file_size} bytes is shorter than the {FOOTER_LEN}-byte footer")));
        };
        let raw = file.read_at(footer_at, FOOTER_LEN).map_err(|e| Error::io(path, e))?;
        let mut arr = [0u8; FOOTER_LEN];
        if raw.len() != FOOTER_LEN {
            return Err(corrupt(footer_at, "short footer read".into()));
        }
        arr.copy_from_slice(&raw);
        let footer = Footer::decode_from(&arr).map_err(|e| match e {
            FooterError::BadMagic => corrupt(
                footer_at + FOOTER_MAGIC_AT as u64,
                "bad magic number: not a table, or truncated or extended".into(),
            ),
            FooterError::BadChecksum => corrupt(footer_at + FOOTER_CRC_AT as u64, "footer checksum mismatch".into()),
            FooterError::BadVersion(v) => Error::UnsupportedVersion {
                file: path.to_path_buf(),
                offset: footer_at + FOOTER_VERSION_AT as u64,
                reason: format!(
                    "format version {v} (this build reads versions {FORMAT_VERSION_MIN} to {FORMAT_VERSION})"
                ),
            },
        })?;
        let has_filter = footer.filter.size != 0;
        if !has_filter && footer.filter.offset != 0 {
            return Err(corrupt(footer_at, "empty filter handle with a nonzero offset".into()));
        }
        let mut data_end = footer.index.offset.min(footer.properties.offset);
        if has_filter {
            data_end = data_end.min(footer.filter.offset);
        }
        let read = |h: BlockHandle| read_block(file.as_ref(), path, h, footer_at, true);
        let block_error = |h: BlockHandle, c: BlockCorrupt| block_error(path, h, c);
        let props_raw = read(footer.properties)?;
        let props = Properties::decode_from(&props_raw).map_err(|c| block_error(footer.properties, c))?;
        let layout = EntryLayout::of_version(footer.format_version);
        let index = Block::parse(read(footer.index)?, layout).map_err(|c| block_error(footer.index, c))?;
        let filter = if has_filter {
            let bits = read(footer.filter)?;
            let kind = FilterKind::of_version(footer.format_version);
            Some(Filter::decode(kind, bits).map_err(|r| corrupt(footer.filter.offset, r))?)
        } else {
            None
        };
        let index_keys = IndexEntries::new(&index, data_end)
            .map_err(|c| block_error(footer.index, c))?
            .with_order_prefixes(opts.comparator.as_ref());
        let pinned = pinned_bytes(&index, &index_keys, filter.as_ref());
        let _cache_charge = opts.cache.as_ref().map(|c| c.reserve(pinned));
        let t = Table {
            file,
            path: path.to_path_buf(),
            opts,
            file_size,
            footer,
            data_end,
            index,
            index_keys,
            layout,
            filter,
            props,
            _cache_charge,
        };
        t.check_properties()?;
        Ok(Arc::new(t))
    }

    /// Opens `path` through `fs`.
    pub fn open_path(fs: &dyn FileSystem, path: &Path, opts: TableReadOptions) -> Result<Arc<Table>> {
        let file = fs.open(path).map_err(|e| Error::io(path, e))?;
        Self::open(file, path, opts)
    }

    fn check_properties(&self) -> Result<()> {
        let p = &self.props;
        let at = self.footer.properties.offset;
        if p.comparator != self.opts.comparator.name() {
            return Err(Error::InvalidArgument(format!(
                "table {} is sorted by comparator {:?} but was opened with {:?}",
                self.path.display(),
                p.comparator,
                self.opts.comparator.name()
            )));
        }
        if p.format_version != self.footer.format_version {
            return Err(Error::corruption(&self.path, at, "properties and footer disagree on the format version"));
        }
        if p.num_entries == 0 || p.num_deletions > p.num_entries {
            return Err(Error::corruption(&self.path, at, "impossible entry counts in properties"));
        }
        Ok(())
    }

    pub(crate) fn block_error(&self, handle: BlockHandle, c: BlockCorrupt) -> Error {
        block_error(&self.path, handle, c)
    }

    fn read_block(&self, handle: BlockHandle, limit: u64, verify: bool) -> Result<Bytes> {
        read_block(self.file.as_ref(), &self.path, handle, limit, verify)
    }

    /// A data block, checked, from the cache or the file (and then cached).
    pub(crate) fn data_block(&self, handle: BlockHandle) -> Result<Block> {
        if let Some(b) = self.opts.cache.as_ref().and_then(|c| c.get_block(self.opts.cache_id, handle.offset)) {
            return Ok(b);
        }
        self.read_data_block(handle)
    }

    /// A data block the cache does not hold, read from the file and cached. A cached block gets
    /// its restart hints, for the point lookups that will find it there; a block read for one
    /// use (no cache, or `data_block_no_fill`) does not, since the lookup that reads it has it in
    /// the CPU cache anyway.
    fn read_data_block(&self, handle: BlockHandle) -> Result<Block> {
        let Some(cache) = &self.opts.cache else { return self.load_data_block(handle) };
        let cmp = self.comparator();
        let b = self.load_data_block(handle)?.with_restart_hints(|k| self.index_keys.summary(k, cmp));
        cache.insert_block(self.opts.cache_id, handle.offset, b.clone());
        Ok(b)
    }

    /// A data block from the cache, or from the file without adding it to the cache.
    pub(crate) fn data_block_no_fill(&self, handle: BlockHandle) -> Result<Block> {
        if let Some(b) = self.opts.cache.as_ref().and_then(|c| c.get_block(self.opts.cache_id, handle.offset)) {
            return Ok(b);
        }
        self.load_data_block(handle)
    }

    /// Reads and checks a data block from the file. Only checked blocks are cached, so a block
    /// from the cache needs no check.
    fn load_data_block(&self, handle: BlockHandle) -> Result<Block> {
        let bytes = self.read_block(handle, self.data_end, self.opts.verify_checksums)?;
        Block::parse(bytes, self.layout).map_err(|c| self.block_error(handle, c))
    }

    /// Entries of the index (one per data block).
    #[inline]
    pub(crate) fn index_len(&self) -> usize {
        self.index_keys.len()
    }

    /// The first index entry whose separator is `>= target` (`index_len()` if none).
    pub(crate) fn index_seek(&self, target: &[u8]) -> usize {
        self.index_keys.seek(target, self.comparator())
    }

    /// The handle of the data block of index entry `i < index_len()`, decoded and checked at open.
    #[inline]
    pub(crate) fn index_handle(&self, i: usize) -> BlockHandle {
        self.index_keys.handle(i)
    }

    /// The checked data block that index entry `i` names.
    fn data_block_of_entry(&self, i: usize) -> Result<(BlockHandle, Block)> {
        let handle = self.index_keys.handle(i);
        Ok((handle, self.data_block(handle)?))
    }

    /// The index: for each data block in file order, its separator key (every key of the block
    /// is `<=` it) and its handle. For tools (`strata sst dump`); reads no data block.
    pub fn index_entries(&self) -> Result<Vec<(Vec<u8>, BlockHandle)>> {
        let keys = &self.index_keys;
        let mut out = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            out.push((keys.key(i).to_vec(), keys.handle(i)));
        }
        Ok(out)
    }

    pub(crate) fn comparator(&self) -> &dyn strata_base::Comparator {
        self.opts.comparator.as_ref()
    }

    /// False only if no entry's filter key equals `filter_key` (always true without a filter).
    pub fn may_contain(&self, filter_key: &[u8]) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(filter_key))
    }

    /// The entry whose key equals `key`; consults the filter first.
    pub fn get(&self, key: &[u8]) -> Result<Option<(ValueKind, Bytes)>> {
        let cmp = self.comparator();
        if !self.may_contain(cmp.filter_key(key)) {
            return Ok(None);
        }
        let i = self.index_keys.seek(key, cmp);
        if i == self.index_keys.len() {
            return Ok(None);
        }
        let (handle, block) = self.data_block_of_entry(i)?;
        let mut it = BlockIter::new(block);
        it.seek(key, cmp).map_err(|c| self.block_error(handle, c))?;
        if it.valid() && cmp.compare(it.key(), key) == Ordering::Equal {
            return Ok(Some((it.kind(), it.value_bytes())));
        }
        Ok(None)
    }

    /// The first entry whose key is `>= key` (no filter), with its key copied out.
    pub fn seek_entry(&self, key: &[u8]) -> Result<Option<(Bytes, ValueKind, Bytes)>> {
        self.seek_point(key, |e| (Bytes::copy_from_slice(e.key()), e.kind(), e.value_bytes()))
    }

    /// The engine's point lookup: hands the first entry whose key is `>= key` (no filter) to
    /// `f`, which decides what to keep; the key is not copied and the value is a view of the
    /// (cached) block. A binary search of the located index keys, then of one data block's
    /// restart points and a scan of one restart interval, or the same in the next block when
    /// every key of the first is below `key`.
    ///
    /// Locking: when the block is cached, `f` runs while the cache shard holding it is locked
    /// (that is what spares the hit a reference count), so `f` must be short and must not read
    /// through the same block cache (no lookup in any table sharing it): that would deadlock.
    /// Copy or slice what it needs ([`PointEntry::value_owned`]) and return.
    pub fn seek_point<R>(&self, key: &[u8], f: impl FnOnce(PointEntry<'_>) -> R) -> Result<Option<R>> {
        POINT_KEY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => self.seek_point_in(key, &mut buf, f),
            // Only when `f` itself looks a key up (in a table without a block cache).
            Err(_) => self.seek_point_in(key, &mut Vec::new(), f),
        })
    }

    fn seek_point_in<R>(
        &self,
        key: &[u8],
        buf: &mut Vec<u8>,
        f: impl FnOnce(PointEntry<'_>) -> R,
    ) -> Result<Option<R>> {
        let cmp = self.comparator();
        let mut f = Some(f);
        // One summary of the key serves the index search and the data blocks' restart hints.
        let summary = self.index_keys.summary(key, cmp);
        let mut i = self.index_keys.seek_summarized(key, summary, cmp);
        while i < self.index_keys.len() {
            let handle = self.index_keys.handle(i);
            // A cached block is searched under its cache shard's lock (no reference count
            // taken); a block read from the file is cached, then searched.
            let mut search = |block: &Block| -> Result<Option<R>> {
                let found = block.seek_point(key, summary, cmp, buf).map_err(|c| self.block_error(handle, c))?;
                let Some(hit) = found else {
                    return Ok(None);
                };
                let entry = PointEntry { key: buf, kind: hit.kind, block: block.bytes(), value: hit.value };
                Ok(f.take().map(|f| f(entry)))
            };
            let cached =
                self.opts.cache.as_ref().and_then(|c| c.with_block(self.opts.cache_id, handle.offset, &mut search));
            let found = match cached {
                Some(found) => found?,
                None => search(&self.read_data_block(handle)?)?,
            };
            if found.is_some() {
                return Ok(found);
            }
            i += 1;
        }
        Ok(None)
    }

    /// An iterator over every entry; it keeps the table alive.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter::new(self.clone())
    }

    /// Checks the whole-file CRC, then every block's checksum and layout, bypassing the cache.
    pub fn verify_checksums(&self) -> Result<()> {
        let footer_at = self.file_size - FOOTER_LEN as u64;
        let mut h = crc32fast::Hasher::new();
        let mut off = 0u64;
        while off < footer_at {
            let n = (footer_at - off).min(VERIFY_CHUNK_BYTES as u64) as usize;
            let chunk = self.file.read_at(off, n).map_err(|e| Error::io(&self.path, e))?;
            h.update(&chunk);
            off += n as u64;
        }
        if h.finalize() != self.footer.file_crc {
            return Err(Error::corruption(
                &self.path,
                footer_at + FOOTER_FILE_CRC_AT as u64,
                "whole-file checksum mismatch",
            ));
        }
        let f = &self.footer;
        for handle in [f.properties, f.index].into_iter().chain((f.filter.size != 0).then_some(f.filter)) {
            self.read_block(handle, footer_at, true)?;
        }
        let mut expected = 0u64;
        for i in 0..self.index_keys.len() {
            let handle = self.index_keys.handle(i);
            if handle.offset != expected {
                return Err(Error::corruption(&self.path, handle.offset, "data blocks are not contiguous"));
            }
            let block = self.read_block(handle, self.data_end, true)?;
            Block::parse(block, self.layout).map_err(|c| self.block_error(handle, c))?;
            expected = handle.end().unwrap_or(u64::MAX);
        }
        if expected != self.data_end {
            return Err(Error::corruption(&self.path, expected, "data blocks do not reach the metadata blocks"));
        }
        Ok(())
    }

    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Bytes this open table holds in memory outside the block cache's LRU: its index block
    /// (with the located entries and order prefixes of its lookups) and bloom filter, read at
    /// open and kept while the table is open. With a block cache they are charged to its
    /// capacity for as long ([`BlockCache::reserve`](crate::BlockCache::reserve)).
    pub fn pinned_bytes(&self) -> usize {
        pinned_bytes(&self.index, &self.index_keys, self.filter.as_ref())
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole-file CRC recorded in the footer (what `TableMeta::file_checksum` reported).
    pub fn file_checksum(&self) -> u32 {
        self.footer.file_crc
    }
}

/// The entry a [`Table::seek_point`] found, lent to its callback.
#[derive(Debug)]
pub struct PointEntry<'a> {
    key: &'a [u8],
    kind: ValueKind,
    block: &'a Bytes,
    value: std::ops::Range<usize>,
}

impl PointEntry<'_> {
    /// Values up to this many bytes are copied out by [`PointEntry::value_owned`].
    pub const COPY_MAX: usize = 512;

    pub fn key(&self) -> &[u8] {
        self.key
    }

    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    pub fn value(&self) -> &[u8] {
        self.block.get(self.value.clone()).unwrap_or_default()
    }

    /// The value as a view of the block (no copy).
    pub fn value_bytes(&self) -> Bytes {
        self.block.slice(self.value.clone())
    }

    /// The value to hand out: a copy when it is at most [`PointEntry::COPY_MAX`] bytes, else a
    /// view of the block. A small copy costs less than the view's reference count (an atomic
    /// on a shared line), and does not keep a whole block alive outside the cache's charge.
    pub fn value_owned(&self) -> Bytes {
        let v = self.value();
        if v.len() <= Self::COPY_MAX { Bytes::copy_from_slice(v) } else { self.value_bytes() }
    }
}

/// What an open table holds beside the block cache: the index block, its located entries,
/// and the filter.
fn pinned_bytes(index: &Block, index_keys: &IndexEntries, filter: Option<&Filter>) -> usize {
    index.size() + index_keys.heap_bytes() + filter.map_or(0, Filter::size)
}

fn block_error(path: &Path, handle: BlockHandle, c: BlockCorrupt) -> Error {
    Error::corruption(path, handle.offset, format!("{} (byte {} of the block)", c.reason, c.at))
}

/// Reads, checks and decompresses the block at `handle`, which must end by `limit`.
fn read_block(
    file: &dyn RandomAccessFile,
    path: &Path,
    handle: BlockHandle,
    limit: u64,
    verify: bool,
) -> Result<Bytes> {
    let in_range = handle.end().is_some_and(|end| end <= limit);
    if !in_range || handle.size > BLOCK_LEN_MAX as u64 {
        return Err(Error::corruption(
            path,
            handle.offset,
            format!("block handle (offset {}, size {}) out of range", handle.offset, handle.size),
        ));
    }
    // size <= BLOCK_LEN_MAX, so this fits in usize.
    let len = handle.size as usize + BLOCK_TRAILER_LEN;
    let buf = file.read_at(handle.offset, len).map_err(|e| Error::io(path, e))?;
    if buf.len() != len {
        return Err(Error::corruption(path, handle.offset, "short block read"));
    }
    codec::unpack(buf, verify).map_err(|c| Error::corruption(path, handle.offset + c.at as u64, c.reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCache, TableBuilder, TableOptions};
    use strata_base::{MemFile, SimFs};

    /// A table of 400 decimal keys in 4 KiB blocks (three restart points each).
    fn table(cache: Option<Arc<BlockCache>>) -> Arc<Table> {
        let fs = SimFs::new();
        let path = Path::new("/t.sst");
        let mut b = TableBuilder::create(fs.arc(), path, TableOptions::default()).unwrap();
        for i in 0..400 {
            b.add(format!("{i:016}").as_bytes(), ValueKind::Put, &[7; 100]).unwrap();
        }
        b.finish().unwrap();
        let file = Arc::new(MemFile::new(fs.read_all(path).unwrap()));
        Table::open(file, path, TableReadOptions { cache, ..TableReadOptions::default() }).unwrap()
    }

    /// Blocks that go into the cache carry restart hints made with the index's summaries;
    /// blocks read for one use do not.
    #[test]
    fn cached_blocks_get_restart_hints_and_one_use_blocks_do_not() {
        let cache = Arc::new(BlockCache::new(1 << 20));
        let t = table(Some(Arc::clone(&cache)));
        let (k0, k1) = (format!("{:016}", 5), format!("{:016}", 300));
        let first = t.index_handle(t.index_seek(k0.as_bytes()));
        let found = t.seek_entry(k0.as_bytes()).unwrap().unwrap();
        assert_eq!(found.0.as_ref(), k0.as_bytes());
        let cached = cache.get_block(0, first.offset).expect("a point lookup caches its block");
        let hints = cached.hint_prefixes().expect("a cached block has restart hints");
        assert_eq!(hints.len(), 2, "three restart points in a 4 KiB block of these entries");
        // The index's summaries: the eight bytes after the zeros every separator starts with,
        // so the decimal keys differ in them.
        assert!(hints.windows(2).all(|w| w[0] < w[1]), "{hints:?}");
        // Read without filling the cache: no hints.
        let other = t.index_handle(t.index_seek(k1.as_bytes()));
        assert!(t.data_block_no_fill(other).unwrap().hint_prefixes().is_none());
        // A table without a cache reads blocks for one lookup: no hints, same answers.
        let plain = table(None);
        assert!(plain.data_block(first).unwrap().hint_prefixes().is_none());
        assert_eq!(plain.seek_entry(k1.as_bytes()).unwrap().unwrap().0.as_ref(), k1.as_bytes());
    }
}
