//! Strata, the engine. Under construction: see issue 5.

pub mod batch;
pub mod cf;
pub mod error;
pub mod iter;
pub mod memtable;

pub use batch::WriteBatch;
pub use cf::ColumnFamily;
pub use error::{Error, Result};
