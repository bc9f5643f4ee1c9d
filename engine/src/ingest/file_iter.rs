//! [`FileIter`]: a table's iterator as the engine reads it, with an ingested table's global
//! sequence number applied.
//!
//! An ingested table stores every entry at sequence 0 and the manifest gives it a global
//! sequence number `G` (0 for none). Readers must see each entry as `(user_key, G, kind)`:
//! keys are rewritten on the fly and seeks translated. The rewrite keeps the order because an
//! external table holds each user key once and all its entries share one sequence number.
//!
//! Invariants: with `G == 0` the iterator is the table's own (no copy); otherwise, while valid,
//! `key()` is the stored key with its sequence number replaced by `G`.
//!
//! Thread safety: one owner (`Send`).

use crate::error::Result;
use crate::iter::{InternalIterator, compare_ikey, split_ikey};
use bytes::Bytes;
use std::borrow::Cow;
use std::cmp::Ordering;
use strata_base::ikey::{self, SEQ_MAX, SeqNo, ValueKind};
use strata_sst::TableIter;

/// A table iterator with an optional global sequence number; see the module docs.
pub(crate) struct FileIter {
    inner: TableIter,
    global_seq: SeqNo,
    key: Vec<u8>,
}

impl FileIter {
    pub(crate) fn new(inner: TableIter, global_seq: SeqNo) -> Self {
        Self { inner, global_seq, key: Vec::new() }
    }

    /// Rebuilds `key` from the entry under the cursor.
    fn rewrite(&mut self) {
        if self.global_seq == 0 || !self.inner.valid() {
            return;
        }
        let (user, trailer) = split_ikey(self.inner.key());
        let kind = ValueKind::from_u8((trailer & 0xff) as u8).unwrap_or(ValueKind::Delete);
        self.key.clear();
        ikey::encode_into(&mut self.key, user, self.global_seq, kind);
    }
}

/// `global_seq` applied to a point lookup: the key to seek in the file for a reader at
/// `read_seq`, or `None` if the table's entries are not visible to it.
/// Borrows `lookup` for the usual table (no global sequence), so a point read allocates nothing.
pub(crate) fn file_lookup_key<'a>(
    global_seq: SeqNo,
    user_key: &[u8],
    read_seq: SeqNo,
    lookup: &'a [u8],
) -> Option<Cow<'a, [u8]>> {
    match global_seq {
        0 => Some(Cow::Borrowed(lookup)),
        g if g > read_seq => None,
        _ => Some(Cow::Owned(ikey::lookup_key(user_key, SEQ_MAX))),
    }
}

impl InternalIterator for FileIter {
    fn valid(&self) -> bool {
        self.inner.valid()
    }
    fn seek_to_first(&mut self) {
        self.inner.seek_to_first();
        self.rewrite();
    }
    fn seek_to_last(&mut self) {
        self.inner.seek_to_last();
        self.rewrite();
    }
    fn seek(&mut self, target: &[u8]) {
        if self.global_seq == 0 {
            return self.inner.seek(target);
        }
        // First entry of the target's user key (or after it), then past it if its rewritten
        // key is still below the target (its sequence number is above the target's).
        let (user, _) = split_ikey(target);
        self.inner.seek(&ikey::lookup_key(user, SEQ_MAX));
        self.rewrite();
        if self.inner.valid() && compare_ikey(&self.key, target) == Ordering::Less {
            self.inner.next();
            self.rewrite();
        }
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        if self.global_seq == 0 {
            return self.inner.seek_for_prev(target);
        }
        let (user, _) = split_ikey(target);
        self.inner.seek_for_prev(&ikey::encode(user, 0, ValueKind::Delete));
        self.rewrite();
        if self.inner.valid() && compare_ikey(&self.key, target) == Ordering::Greater {
            self.inner.prev();
            self.rewrite();
        }
    }
    fn next(&mut self) {
        self.inner.next();
        self.rewrite();
    }
    fn prev(&mut self) {
        self.inner.prev();
        self.rewrite();
    }
    fn key(&self) -> &[u8] {
        if self.global_seq == 0 { self.inner.key() } else { &self.key }
    }
    fn value(&self) -> &[u8] {
        self.inner.value()
    }
    fn value_bytes(&self) -> Bytes {
        self.inner.value_bytes()
    }
    fn status(&self) -> Result<()> {
        InternalIterator::status(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iter::VecIter;
    use std::path::Path;
    use std::sync::Arc;
    use strata_base::ikey::InternalKeyComparator;
    use strata_base::{BytewiseComparator, FileSystem, SimFs};
    use strata_sst::{Table, TableBuilder, TableOptions, TableReadOptions};

    /// An external table (keys `k00`, `k02`, ... at sequence 0, every third a delete) and the
    /// same entries at sequence `g`, as a model.
    fn table_and_model(g: SeqNo) -> (TableIter, VecIter) {
        let fs: Arc<dyn FileSystem> = Arc::new(SimFs::new());
        let path = Path::new("/t.sst");
        let icmp = Arc::new(InternalKeyComparator::new(Arc::new(BytewiseComparator)));
        let opts = TableOptions { block_size: 64, comparator: icmp.clone(), ..Default::default() };
        let mut b = TableBuilder::create(Arc::clone(&fs), path, opts).unwrap();
        let mut model = Vec::new();
        for i in (0..40).step_by(2) {
            let user = format!("k{i:02}");
            let kind = if i % 3 == 0 { ValueKind::Delete } else { ValueKind::Put };
            b.add(&ikey::encode(user.as_bytes(), 0, kind), kind, user.as_bytes()).unwrap();
            model.push((ikey::encode(user.as_bytes(), g, kind), Bytes::from(user)));
        }
        b.finish().unwrap();
        let read = TableReadOptions { comparator: icmp, ..Default::default() };
        (Table::open_path(fs.as_ref(), path, read).unwrap().iter(), VecIter::new(model))
    }

    fn same(a: &dyn InternalIterator, b: &dyn InternalIterator, what: &str) {
        assert_eq!(a.valid(), b.valid(), "{what}");
        if a.valid() {
            assert_eq!(a.key(), b.key(), "{what}");
            assert_eq!(a.value(), b.value(), "{what}");
        }
    }

    #[test]
    fn matches_a_model_with_rewritten_sequence_numbers() {
        let g = 50;
        let (t, mut model) = table_and_model(g);
        let mut it = FileIter::new(t, g);
        it.seek_to_first();
        model.seek_to_first();
        same(&it, &model, "first");
        while model.valid() {
            it.next();
            model.next();
            same(&it, &model, "next");
        }
        it.seek_to_last();
        model.seek_to_last();
        while model.valid() {
            same(&it, &model, "prev");
            it.prev();
            model.prev();
        }
        // Seeks at sequence numbers below, at and above g, for present and absent user keys,
        // with both kinds in the target.
        for i in 0..42 {
            let user = format!("k{i:02}");
            for seq in [0, g - 1, g, g + 1, SEQ_MAX] {
                for kind in [ValueKind::Put, ValueKind::Delete] {
                    let target = ikey::encode(user.as_bytes(), seq, kind);
                    it.seek(&target);
                    model.seek(&target);
                    same(&it, &model, &format!("seek {user} @{seq} {kind:?}"));
                    it.seek_for_prev(&target);
                    model.seek_for_prev(&target);
                    same(&it, &model, &format!("seek_for_prev {user} @{seq} {kind:?}"));
                }
            }
        }
        it.status().unwrap();
    }

    #[test]
    fn zero_global_sequence_is_the_table_itself() {
        let (t, mut model) = table_and_model(0);
        let mut it = FileIter::new(t, 0);
        it.seek(&ikey::lookup_key(b"k05", 3));
        model.seek(&ikey::lookup_key(b"k05", 3));
        same(&it, &model, "seek");
    }

    #[test]
    fn point_lookup_key_hides_entries_above_the_read_sequence() {
        let lookup = ikey::lookup_key(b"k", 9);
        assert_eq!(file_lookup_key(0, b"k", 9, &lookup).as_deref(), Some(&lookup[..]));
        assert!(matches!(file_lookup_key(0, b"k", 9, &lookup), Some(Cow::Borrowed(_))));
        assert_eq!(file_lookup_key(10, b"k", 9, &lookup), None);
        assert_eq!(file_lookup_key(9, b"k", 9, &lookup).as_deref(), Some(&ikey::lookup_key(b"k", SEQ_MAX)[..]));
    }
}
