//! Snapshots: pinned sequence numbers.
//!
//! A [`Snapshot`] registers its sequence number in the database's [`SnapshotList`] until it is
//! dropped; flushes and compactions keep every version some live snapshot can see.
//!
//! Thread safety: the list is a mutex-guarded multiset, touched once per snapshot create/drop
//! and once per flushed generation and per compaction.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use strata_base::ikey::SeqNo;

/// The live snapshots of one database, as a multiset of sequence numbers.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    seqs: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    /// Registers a snapshot at `last_sequence()`, loaded under the list's lock: a compaction
    /// that read the list before us only dropped versions shadowed by newer ones it had
    /// already seen published, which the loaded sequence therefore covers.
    pub(crate) fn acquire(self: &Arc<Self>, last_sequence: impl FnOnce() -> SeqNo) -> Snapshot {
        let mut seqs = self.seqs.lock();
        let seq = last_sequence();
        *seqs.entry(seq).or_insert(0) += 1;
        drop(seqs);
        Snapshot { seq, list: Arc::clone(self) }
    }

    /// Live snapshot sequence numbers, ascending, without duplicates.
    pub(crate) fn sequences(&self) -> Vec<SeqNo> {
        self.seqs.lock().keys().copied().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.seqs.lock().values().sum()
    }
}

/// A pinned, consistent view of the database as of one sequence number. Reads and iterators
/// given it see exactly the writes with a lower or equal sequence number, across flushes and
/// compactions. Released when dropped.
pub struct Snapshot {
    seq: SeqNo,
    list: Arc<SnapshotList>,
}

impl Snapshot {
    /// The last sequence number this snapshot sees.
    pub fn sequence(&self) -> SeqNo {
        self.seq
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.seq).finish()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut seqs = self.list.seqs.lock();
        if let Some(n) = seqs.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                seqs.remove(&self.seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiset_semantics() {
        let list = Arc::new(SnapshotList::default());
        let a = list.acquire(|| 5);
        let b = list.acquire(|| 5);
        let c = list.acquire(|| 9);
        assert_eq!(list.sequences(), vec![5, 9]);
        drop(a);
        assert_eq!(list.sequences(), vec![5, 9]);
        drop(b);
        assert_eq!(list.sequences(), vec![9]);
        assert_eq!(c.sequence(), 9);
        assert_eq!(list.len(), 1);
    }
}
