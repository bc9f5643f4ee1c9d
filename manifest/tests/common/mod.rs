//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, reason = "test code: a failure here is a test failure")]
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::Path;
use std::sync::Arc;
use strata_base::ikey::{self, InternalKeyComparator, ValueKind};
use strata_base::{BytewiseComparator, FileSystem, SimFs};
use strata_manifest::FileNumber;
use strata_manifest::{FileMeta, VersionSetOptions, table_file_name};

pub const DIR: &str = "/db";

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

pub fn opts(manifest_size_limit: u64) -> VersionSetOptions {
    VersionSetOptions {
        comparator: Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator))),
        manifest_size_limit,
    }
}

/// A table whose key range `[k(2n), k(2n+1)]` is disjoint from every other number's, so any set
/// of distinct numbers can share a level >= 1.
pub fn meta(file_number: FileNumber, seq: u64) -> FileMeta {
    let number = file_number.get();
    FileMeta {
        number: file_number,
        size: 1000 + number,
        smallest: ikey::encode(format!("k{:012}", number * 2).as_bytes(), seq, ValueKind::Put),
        largest: ikey::encode(format!("k{:012}", number * 2 + 1).as_bytes(), seq, ValueKind::Put),
        smallest_seq: seq,
        largest_seq: seq,
        checksum: (number as u32).wrapping_mul(2_654_435_761),
        epoch: number,
        global_seq: 0,
    }
}

/// Creates `dir/NNNNNN.sst` durably (contents do not matter to the manifest).
pub fn touch_table(fs: &dyn FileSystem, number: FileNumber) {
    fs.write_atomic(&dir().join(table_file_name(number)), b"table").unwrap();
}

pub fn sim() -> SimFs {
    let fs = SimFs::new();
    fs.create_dir_all(dir()).unwrap();
    fs
}
