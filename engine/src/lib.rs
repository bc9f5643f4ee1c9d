//! Strata, the engine. Under construction: see issue 5.

pub mod error;

pub use error::{Error, Result};
