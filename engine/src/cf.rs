//! Column family handles.
//!
//! A [`ColumnFamily`] is a cheap, cloneable name for one key space of a `Db`. It carries the
//! column family's id, which is what write batches, the WAL and the manifest record.
//!
//! Thread safety: handles are `Send + Sync` and may outlive the column family; using a handle of
//! a dropped column family is `Error::ColumnFamilyNotFound`.

use std::sync::Arc;
use strata_base::CfId;

pub use strata_base::limits::{CF_NAME_LEN_MAX, DEFAULT_CF_ID, DEFAULT_CF_NAME};

/// A handle to a column family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnFamily {
    inner: Arc<CfName>,
}

#[derive(Debug, PartialEq, Eq)]
struct CfName {
    id: CfId,
    name: String,
}

impl ColumnFamily {
    pub(crate) fn new(id: CfId, name: impl Into<String>) -> Self {
        Self { inner: Arc::new(CfName { id, name: name.into() }) }
    }

    /// The handle of the `default` column family.
    pub fn default_cf() -> Self {
        Self::new(DEFAULT_CF_ID, DEFAULT_CF_NAME)
    }

    /// The id stored in write batches, logs and the manifest.
    pub fn id(&self) -> CfId {
        self.inner.id
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }
}
