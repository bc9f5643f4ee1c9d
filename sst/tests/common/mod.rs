//! Helpers shared by the integration tests: building tables in memory and reading them back.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, reason = "test helpers")]

use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use strata_base::{FileSystem, MemFile, SimFs};
use strata_sst::{EntryKind, Table, TableBuilder, TableMeta, TableOptions, TableReadOptions};

pub type Model = BTreeMap<Vec<u8>, (EntryKind, Vec<u8>)>;
/// Entries as read back, in order.
pub type Entries = Vec<(Vec<u8>, EntryKind, Vec<u8>)>;

/// Builds a table of `model` in a fresh SimFs and returns its bytes and metadata.
pub fn build(model: &Model, opts: TableOptions) -> (Bytes, TableMeta) {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).unwrap();
    let path = Path::new("/db/000001.sst");
    let mut b = TableBuilder::create(fs.arc(), path, opts).unwrap();
    for (k, (kind, v)) in model {
        b.add(k, *kind, v).unwrap();
    }
    let meta = b.finish().unwrap();
    (fs.read_all(path).unwrap(), meta)
}

pub fn open(bytes: Bytes, ropts: TableReadOptions) -> strata_sst::Result<Arc<Table>> {
    Table::open(Arc::new(MemFile::new(bytes)), Path::new("/db/000001.sst"), ropts)
}

/// Every entry, front to back; stops at the first error.
pub fn scan_forward(t: &Arc<Table>) -> strata_sst::Result<Entries> {
    let mut it = t.iter();
    let mut out = Vec::new();
    it.seek_to_first();
    while it.valid() {
        out.push((it.key().to_vec(), it.kind(), it.value().to_vec()));
        it.next();
    }
    it.status()?;
    Ok(out)
}

/// Every entry, back to front, returned in forward order.
pub fn scan_backward(t: &Arc<Table>) -> strata_sst::Result<Entries> {
    let mut it = t.iter();
    let mut out = Vec::new();
    it.seek_to_last();
    while it.valid() {
        out.push((it.key().to_vec(), it.kind(), it.value().to_vec()));
        it.prev();
    }
    it.status()?;
    out.reverse();
    Ok(out)
}

pub fn entries(model: &Model) -> Entries {
    model.iter().map(|(k, (kind, v))| (k.clone(), *kind, v.clone())).collect()
}

/// A deterministic model of `n` entries with 16-byte keys, every seventh a tombstone.
pub fn sample_model(n: usize, value_len: usize) -> Model {
    (0..n)
        .map(|i| {
            let key = format!("key{:013}", i * 3).into_bytes();
            let kind = if i % 7 == 3 { EntryKind::Delete } else { EntryKind::Put };
            let value = if kind == EntryKind::Delete {
                Vec::new()
            } else {
                format!("{i:x}").repeat(value_len).as_bytes()[..value_len].to_vec()
            };
            (key, (kind, value))
        })
        .collect()
}
