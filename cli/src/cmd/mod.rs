//! The command families, one file each.

pub mod db;
pub mod manifest;
pub mod sst;
mod sst_input;
pub mod wal;
