//! `SavepointWriter` (the file, from any sorted source) and `Savepoint::create` (from a live
//! database, through a snapshot iterator per family).
//!
//! Invariants: the writer appends front to back and hashes every byte it appends, so the
//! footer's file CRC covers exactly what was written; keys of a family arrive strictly
//! ascending and families in header order (checked, `InvalidArgument` otherwise), so what
//! the writer accepts the reader accepts. `create` builds in a temporary sibling and renames.
//!
//! Thread safety: a writer has one owner; `create` reads the database through a snapshot while
//! other threads write.

use super::format::{
    self, CHUNK_TARGET_MAX, ChunkMeta, FamilyDesc, FamilyStats, Footer, Header, Index, Preamble, RECORD_CHUNK,
    RECORD_HEADER, RECORD_INDEX, encode_entry, encode_record, entry_len,
};
use super::{DEFAULT_CHUNK_BYTES, SavepointInfo, SavepointOptions, SavepointProgress, SavepointReader, report};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use strata::{Db, Error, ReadOptions, Result};
use strata_base::testing::kill_point;
use strata_base::{BytewiseComparator, WritableFile};

/// Writes one savepoint file. Usable without a database (a savepoint built from any sorted
/// source, like Flink's State Processor API).
#[derive(Debug)]
pub struct SavepointWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    hasher: crc32fast::Hasher,
    offset: u64,
    chunk_target: usize,
    index: Index,
    /// The chunk being filled: its payload (entries only) and metadata.
    payload: Vec<u8>,
    meta: ChunkMeta,
    /// Family and key of the last entry added (`has_last`: whether there is one).
    family: usize,
    last_key: Vec<u8>,
    has_last: bool,
}

impl SavepointWriter {
    /// Starts a savepoint in `file` (empty, created at `path`, which is used in messages):
    /// writes the preamble and `header`. `chunk_bytes` is the target payload size of a chunk.
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf, header: &Header, chunk_bytes: usize) -> Result<Self> {
        header.check().map_err(Error::InvalidArgument)?;
        if chunk_bytes == 0 || chunk_bytes > CHUNK_TARGET_MAX {
            return Err(Error::InvalidArgument(format!("chunk_bytes must be in 1..={CHUNK_TARGET_MAX}")));
        }
        let families = vec![FamilyStats::default(); header.families.len()];
        let mut w = SavepointWriter {
            file,
            path,
            hasher: crc32fast::Hasher::new(),
            offset: 0,
            chunk_target: chunk_bytes,
            index: Index { families, chunks: Vec::new() },
            payload: Vec::new(),
            meta: ChunkMeta::default(),
            family: 0,
            last_key: Vec::new(),
            has_last: false,
        };
        w.append(&Preamble::CURRENT.encode())?;
        let mut rec = Vec::new();
        encode_record(RECORD_HEADER, &header.encode(), &mut rec);
        w.append(&rec)?;
        Ok(w)
    }

    fn append(&mut self, b: &[u8]) -> Result<()> {
        self.file.append(b).map_err(|e| Error::io(&self.path, e))?;
        self.hasher.update(b);
        self.offset += b.len() as u64;
        Ok(())
    }

    /// Adds `key -> value` to family number `family` (its position in the header). Families in
    /// header order, keys strictly ascending within one. Returns whether a chunk was written.
    pub fn add(&mut self, family: usize, key: &[u8], value: &[u8]) -> Result<bool> {
        if family >= self.index.families.len() || family < self.family {
            return Err(Error::InvalidArgument(format!("family {family} out of order or unknown")));
        }
        let new_family = family != self.family;
        if !new_family && self.has_last && self.last_key.as_slice() >= key {
            return Err(Error::InvalidArgument("savepoint keys must be added in strictly ascending order".into()));
        }
        if key.len() > format::KEY_LEN_MAX || value.len() > format::VALUE_LEN_MAX {
            return Err(Error::InvalidArgument("key or value too long for a savepoint".into()));
        }
        let mut wrote = false;
        let full = self.payload.len() + entry_len(key, value) > self.chunk_target;
        if self.meta.entries > 0 && (new_family || full) {
            self.finish_chunk()?;
            wrote = true;
        }
        self.family = family;
        if self.meta.entries == 0 {
            self.meta.family = family as u32;
            self.meta.first_key = key.to_vec();
        }
        encode_entry(&mut self.payload, key, value);
        self.meta.entries += 1;
        let stats = &mut self.index.families[family];
        stats.entries += 1;
        stats.data_bytes += (key.len() + value.len()) as u64;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.has_last = true;
        Ok(wrote)
    }

    fn finish_chunk(&mut self) -> Result<()> {
        if self.meta.entries == 0 {
            return Ok(());
        }
        let mut meta = std::mem::take(&mut self.meta);
        // The last key added belongs to this chunk: a chunk is finished before the first
        // entry of the next one is added.
        meta.last_key.clone_from(&self.last_key);
        let mut body = Vec::with_capacity(self.payload.len() + 10);
        strata_base::coding::put_varint32(&mut body, meta.family);
        strata_base::coding::put_varint32(&mut body, meta.entries);
        body.extend_from_slice(&self.payload);
        self.payload.clear();
        let mut rec = Vec::with_capacity(body.len() + format::RECORD_OVERHEAD);
        encode_record(RECORD_CHUNK, &body, &mut rec);
        meta.offset = self.offset;
        meta.len = rec.len() as u32;
        let stats = &mut self.index.families[meta.family as usize];
        if stats.chunks == 0 {
            stats.first_key.clone_from(&meta.first_key);
        }
        stats.last_key.clone_from(&meta.last_key);
        stats.chunks += 1;
        self.append(&rec)?;
        self.index.chunks.push(meta);
        Ok(())
    }

    /// Chunks written so far.
    pub fn chunks(&self) -> usize {
        self.index.chunks.len()
    }

    /// Writes the last chunk, the index and the footer, and fsyncs the file. Returns the
    /// index and the file's length.
    pub fn finish(mut self) -> Result<(Index, u64)> {
        self.finish_chunk()?;
        let index_offset = self.offset;
        let payload = self.index.encode();
        if payload.len() > format::INDEX_PAYLOAD_MAX {
            return Err(Error::InvalidArgument("savepoint index exceeds INDEX_PAYLOAD_MAX: use bigger chunks".into()));
        }
        let mut rec = Vec::with_capacity(payload.len() + format::RECORD_OVERHEAD);
        encode_record(RECORD_INDEX, &payload, &mut rec);
        self.append(&rec)?;
        let footer = Footer {
            index_offset,
            index_len: rec.len() as u64,
            file_crc: strata_base::checksum::mask(self.hasher.clone().finalize()),
        };
        self.append(&footer.encode())?;
        self.file.sync().map_err(|e| Error::io(&self.path, e))?;
        Ok((self.index, self.offset))
    }
}

/// Name of the temporary sibling a savepoint into `parent/name` is built in.
fn tmp_name(name: &str) -> String {
    format!(".{name}.strata-savepoint.tmp")
}

/// The source's options worth recording (for information only).
fn describe_options(o: &strata::Options) -> Vec<(String, String)> {
    let pairs: [(&str, String); 9] = [
        ("block_size", o.block_size.to_string()),
        ("block_restart_interval", o.block_restart_interval.to_string()),
        ("compression", format!("{:?}", o.compression)),
        ("bloom_bits_per_key", o.bloom_bits_per_key.to_string()),
        ("write_buffer_size", o.write_buffer_size.to_string()),
        ("target_file_size", o.target_file_size.to_string()),
        ("max_bytes_for_level_base", o.max_bytes_for_level_base.to_string()),
        ("max_bytes_for_level_multiplier", o.max_bytes_for_level_multiplier.to_string()),
        ("level0_compaction_trigger", o.level0_compaction_trigger.to_string()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub(super) fn create(db: &Db, dir: &Path, opts: &SavepointOptions<'_>) -> Result<SavepointInfo> {
    let start = Instant::now();
    let fs = opts.fs.clone().unwrap_or_else(|| db.file_system());
    let (parent, name) = super::restore::check_new_target(&*fs, dir, "savepoint directory")?;
    if crate::paths::normalize(&parent.join(&name)).starts_with(crate::paths::normalize(db.path())) {
        return Err(Error::InvalidArgument(format!("savepoint directory {} is inside the database", dir.display())));
    }
    let own;
    let snap = match opts.snapshot {
        Some(s) => s,
        None => {
            own = db.snapshot();
            &own
        }
    };
    // Every family's iterator is made before any is read: each pins its family's tables and
    // memtables, so a family dropped while the savepoint is written is still read whole at
    // the snapshot. Asked for by name, a family that is gone is an error; with every family
    // asked for, one dropped between the listing and its pin is left out (its drop came first).
    let (explicit, listed) = match &opts.column_families {
        Some(list) => (true, list.clone()),
        None => (false, db.cf_names()),
    };
    let mut names = Vec::with_capacity(listed.len());
    let mut iters = Vec::with_capacity(listed.len());
    for n in listed {
        let read = ReadOptions { snapshot: Some(snap), ..Default::default() };
        match db.cf(&n).ok_or_else(|| Error::ColumnFamilyNotFound(n.clone())).and_then(|cf| db.iter_cf(&cf, &read)) {
            Ok(it) => {
                names.push(n);
                iters.push(it);
            }
            Err(Error::ColumnFamilyNotFound(_)) if !explicit => {}
            Err(e) => return Err(e),
        }
    }
    let header = Header {
        sequence: snap.sequence(),
        created_unix_secs: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        options: describe_options(db.options()),
        families: names
            .iter()
            .map(|n| FamilyDesc { name: n.clone(), comparator: BytewiseComparator::NAME.to_string() })
            .collect(),
    };
    let tmp = parent.join(tmp_name(&name));
    if fs.exists(&tmp) {
        fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    fs.create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = (|| {
        let path = tmp.join(format::FILE_NAME);
        let file = fs.create(&path).map_err(|e| Error::io(&path, e))?;
        let chunk_bytes = opts.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
        let mut w = SavepointWriter::new(file, path, &header, chunk_bytes)?;
        let mut progress = SavepointProgress::default();
        for (i, mut it) in iters.into_iter().enumerate() {
            it.seek_to_first();
            while it.valid() {
                if w.add(i, it.key(), it.value())? {
                    kill_point("savepoint.chunks_midway");
                    progress.chunks_done = w.chunks() as u64;
                    super::report(opts.progress.as_ref(), &progress, "savepoint")?;
                }
                progress.entries += 1;
                progress.bytes += (it.key().len() + it.value().len()) as u64;
                it.next();
            }
            it.status()?;
        }
        let done = w.finish()?;
        progress.chunks_done = done.0.chunks.len() as u64;
        report(opts.progress.as_ref(), &progress, "savepoint")?;
        fs.sync_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        kill_point("savepoint.before_rename");
        Ok(done)
    })();
    if let Err(e) = written {
        let _ = fs.remove_dir_all(&tmp);
        return Err(e);
    }
    let target = parent.join(&name);
    if let Err(e) = fs.rename(&tmp, &target) {
        let _ = fs.remove_dir_all(&tmp);
        return Err(Error::io(&target, e));
    }
    // From here on the savepoint belongs to the user: even if the parent's fsync fails, it is
    // reported but never deleted.
    fs.sync_dir(&parent).map_err(|e| Error::io(&parent, e))?;
    let mut info = SavepointReader::open(fs, &target)?.info();
    info.duration = start.elapsed();
    Ok(info)
}
