//! Strata, the engine. Under construction: see issue 5.

pub mod cf;
pub mod compaction;
pub mod error;

pub use cf::ColumnFamily;
pub use error::{Error, Result};
