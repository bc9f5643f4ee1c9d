//! The command families, one file each.

pub mod db;
pub mod ingest;
mod library_progress;
pub mod manifest;
pub mod repo;
mod repo_show;
pub mod repo_store;
pub mod savepoint;
pub mod sst;
mod sst_input;
pub mod wal;
