//! [`Filter`]: a table's decoded filter, of the kind its format version says.
//!
//! Version 1 tables carry a [`WholeBloom`], version 2 tables a [`LocalBloom`]; the builder
//! writes the kind of [`FORMAT_VERSION`](crate::format::FORMAT_VERSION).
//!
//! Invariants: the kind is chosen by the footer's version alone (never guessed from the
//! bytes), so a filter of one kind is never read as the other.
//!
//! Thread safety: a `Filter` is immutable and shared.

use super::local::LocalBloom;
use super::whole::WholeBloom;
use bytes::Bytes;

/// Which filter a table of a given format version carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Version 1: one Bloom filter with probes spread over the whole bit array.
    Whole,
    /// Version 2 and later: a cache-local Bloom filter (all probes of a key in one 64-byte line).
    Local,
}

impl FilterKind {
    /// The kind of a table of format `version` (a version the footer accepted).
    pub fn of_version(version: u32) -> Self {
        if version <= 1 { Self::Whole } else { Self::Local }
    }
}

/// A decoded filter.
#[derive(Debug, Clone)]
pub enum Filter {
    Whole(WholeBloom),
    Local(LocalBloom),
}

impl Filter {
    /// Checks the layout of a filter block's contents; `Err` carries the reason.
    pub fn decode(kind: FilterKind, data: Bytes) -> Result<Self, String> {
        match kind {
            FilterKind::Whole => WholeBloom::decode(data).map(Self::Whole),
            FilterKind::Local => LocalBloom::decode(&data).map(Self::Local),
        }
    }

    /// Bytes this filter keeps in memory.
    pub fn size(&self) -> usize {
        match self {
            Self::Whole(f) => f.size(),
            Self::Local(f) => f.size(),
        }
    }

    /// False only if no key with this hash was added.
    #[inline]
    pub fn may_contain_hash(&self, h: u64) -> bool {
        match self {
            Self::Whole(f) => f.may_contain_hash(h),
            Self::Local(f) => f.may_contain_hash(h),
        }
    }

    /// False only if `key` was not added.
    #[inline]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(super::hash64(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{hash64, local, whole};

    #[test]
    fn versions_map_to_kinds() {
        assert_eq!(FilterKind::of_version(1), FilterKind::Whole);
        assert_eq!(FilterKind::of_version(2), FilterKind::Local);
    }

    /// Each kind reads its own bytes; the same bytes read as the other kind are refused (a
    /// version 1 filter's length is 64 n + 1 only by chance) or answer differently, which is why
    /// the kind comes from the version and is never guessed.
    #[test]
    fn each_kind_reads_its_own_filter() {
        let hashes: Vec<u64> = (0..1000).map(|i: u32| hash64(&i.to_le_bytes())).collect();
        let v1 = Filter::decode(FilterKind::Whole, Bytes::from(whole::build(&hashes, 10))).unwrap();
        let v2 = Filter::decode(FilterKind::Local, Bytes::from(local::build(&hashes, 10))).unwrap();
        for h in &hashes {
            assert!(v1.may_contain_hash(*h) && v2.may_contain_hash(*h));
        }
        assert!(Filter::decode(FilterKind::Local, Bytes::from(whole::build(&hashes, 10))).is_err());
        assert_eq!(v2.size(), 20 * 64);
        assert_eq!(v1.size(), 1251);
    }
}
