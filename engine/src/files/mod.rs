//! The files of a database directory over time: [`live`] pins one consistent set of them
//! (`Db::live_files`, what checkpoints copy); [`obsolete`] deletes those nothing needs any more.

mod live;
mod obsolete;

pub use live::{LiveFiles, LiveTable, LiveWal};
