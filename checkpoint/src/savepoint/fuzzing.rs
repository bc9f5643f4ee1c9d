//! The entry point the `savepoint_read` fuzz target and its proptest twin
//! (`tests/tests/savepoint_fuzz_twin.rs`) share: arbitrary bytes as a savepoint file.
//!
//! Invariants: never panics; returns `None` for any error.
//!
//! Thread safety: uses its own in-memory file system.

use super::SavepointReader;
use super::format::FILE_NAME;
use std::path::Path;
use strata_base::{FileSystem, SimFs};

/// Opens `data` as a savepoint, verifies it and reads every chunk; the number of entries if it
/// is a valid savepoint, `None` otherwise.
pub fn read_all(data: &[u8]) -> Option<u64> {
    let fs = SimFs::new();
    let dir = Path::new("/sp");
    fs.create_dir_all(dir).ok()?;
    let mut f = fs.create(&dir.join(FILE_NAME)).ok()?;
    f.append(data).ok()?;
    f.sync().ok()?;
    drop(f);
    let r = SavepointReader::open(fs.arc(), dir).ok()?;
    let info = r.verify().ok()?;
    let mut n = 0u64;
    for i in 0..info.chunks as usize {
        n += r.read_chunk(i).ok()?.entries.len() as u64;
    }
    Some(n)
}
