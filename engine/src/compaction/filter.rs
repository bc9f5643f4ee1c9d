//! Which entries a compaction drops.
//!
//! A compaction merges its inputs into one stream in internal-key order (user key ascending,
//! then sequence number descending) and asks [`EntryFilter::keep`] about each entry. Live
//! snapshots `s_0 < s_1 < ... < s_{k-1}` cut the sequence space into *stripes*: stripe `i` holds
//! sequence numbers in `(s_{i-1}, s_i]`, and the last stripe `(s_{k-1}, u64::MAX]` is what the
//! current state reads. A reader at `s_i` sees, for each user key, the newest version in stripe
//! `i` if there is one, so only that version of each stripe is needed:
//! - An older version is dropped when a newer version of the same user key is in the same
//!   stripe (no snapshot `s` with `older.seq <= s < newer.seq`).
//! - At the bottommost level (no data for the key below the output), a tombstone that is the
//!   newest version in the oldest stripe (`seq <= s_0`, or no snapshots at all) is dropped: every
//!   reader is at or after it and would see "deleted", which equals "absent" when nothing lies
//!   below. The older versions are in the same stripe, so they go too.
//!
//! The caller must list *every* live read point in `snapshots`: explicit snapshots, and the
//! sequence number pinned by each open iterator or other implicit reader.
//!
//! Not dropped (it would need a look-ahead to the next version): a tombstone whose next older
//! surviving version is also a tombstone, or (at the bottommost level) does not exist, when the
//! tombstone is not in the oldest stripe. The model test in this file checks that these are the
//! only entries that survive without changing some reader's result.
//!
//! Invariants: [`EntryFilter::keep`] never panics. A key that does not parse, or a version that
//! is not strictly older than the previous one of its user key, yields [`Keep::Corrupt`] and
//! the caller fails the compaction with a `Corruption` error naming the input. After a
//! malformed key the filter forgets the current user key, which only keeps more entries.
//!
//! Thread safety: an `EntryFilter` is plain owned state, `Send + Sync`; one compaction uses it
//! from one thread.

use strata_base::ikey::{self, SeqNo, ValueKind};

/// The verdict on one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Write the entry to the output.
    Yes,
    /// No reader can observe the entry: leave it out.
    No,
    /// The key is malformed or out of order: report corruption.
    Corrupt,
}

/// Counts of verdicts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterStats {
    pub kept: u64,
    /// Older versions hidden by a newer version in the same stripe.
    pub dropped_shadowed: u64,
    /// Tombstones dropped at the bottommost level.
    pub dropped_tombstones: u64,
    pub corrupt: u64,
}

/// The user key being filtered and where its previous version fell.
#[derive(Debug, Clone)]
struct Current {
    user_key: Vec<u8>,
    seq: SeqNo,
    stripe: usize,
}

/// Push-style filter: call [`EntryFilter::keep`] once per entry, in internal-key order.
#[derive(Debug, Clone)]
pub struct EntryFilter {
    /// Sorted ascending, no duplicates.
    snapshots: Vec<SeqNo>,
    bottommost: bool,
    current: Option<Current>,
    stats: FilterStats,
}

impl EntryFilter {
    /// `snapshots`: every live read point (any order; duplicates are fine). `bottommost`: no
    /// data for the compacted keys lies below the output level (`CompactionPick::bottommost`).
    pub fn new(mut snapshots: Vec<SeqNo>, bottommost: bool) -> Self {
        snapshots.sort_unstable();
        snapshots.dedup();
        Self { snapshots, bottommost, current: None, stats: FilterStats::default() }
    }

    /// The verdict on the entry with internal key `ikey`, the next one in internal-key order.
    pub fn keep(&mut self, ikey: &[u8]) -> Keep {
        let Some(parsed) = ikey::parse(ikey) else {
            self.current = None;
            return self.count(Keep::Corrupt);
        };
        let stripe = self.stripe(parsed.seq);
        match &mut self.current {
            Some(cur) if cur.user_key == parsed.user_key => {
                if parsed.seq >= cur.seq {
                    return self.count(Keep::Corrupt);
                }
                let shadowed = cur.stripe == stripe;
                cur.seq = parsed.seq;
                cur.stripe = stripe;
                if shadowed {
                    self.stats.dropped_shadowed += 1;
                    return Keep::No;
                }
            }
            Some(cur) => {
                cur.user_key.clear();
                cur.user_key.extend_from_slice(parsed.user_key);
                cur.seq = parsed.seq;
                cur.stripe = stripe;
            }
            None => self.current = Some(Current { user_key: parsed.user_key.to_vec(), seq: parsed.seq, stripe }),
        }
        // The entry is the newest version of its stripe.
        if self.bottommost && stripe == 0 && parsed.kind == ValueKind::Delete {
            self.stats.dropped_tombstones += 1;
            return Keep::No;
        }
        self.count(Keep::Yes)
    }

    pub fn stats(&self) -> FilterStats {
        self.stats
    }

    /// Index of the stripe holding `seq`: the first snapshot `>= seq`, or `snapshots.len()`.
    fn stripe(&self, seq: SeqNo) -> usize {
        self.snapshots.partition_point(|&s| s < seq)
    }

    fn count(&mut self, keep: Keep) -> Keep {
        match keep {
            Keep::Yes => self.stats.kept += 1,
            Keep::No => {}
            Keep::Corrupt => self.stats.corrupt += 1,
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strata_base::ikey::encode;

    const PUT: ValueKind = ValueKind::Put;
    const DEL: ValueKind = ValueKind::Delete;

    /// The entries `filter` keeps out of `entries` (user key, seq, kind), already in order.
    fn run(snapshots: &[u64], bottommost: bool, entries: &[(&str, u64, ValueKind)]) -> Vec<(String, u64)> {
        let mut f = EntryFilter::new(snapshots.to_vec(), bottommost);
        entries
            .iter()
            .filter(|(k, seq, kind)| f.keep(&encode(k.as_bytes(), *seq, *kind)) == Keep::Yes)
            .map(|(k, seq, _)| (k.to_string(), *seq))
            .collect()
    }

    fn keys(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(k, s)| (k.to_string(), *s)).collect()
    }

    #[test]
    fn without_snapshots_only_the_newest_version_survives() {
        let input = [("a", 9, PUT), ("a", 5, DEL), ("a", 1, PUT), ("ab", 4, PUT), ("b", 3, DEL)];
        assert_eq!(run(&[], false, &input), keys(&[("a", 9), ("ab", 4), ("b", 3)]));
    }

    #[test]
    fn each_snapshot_keeps_its_newest_version() {
        let input = [("a", 9, PUT), ("a", 7, PUT), ("a", 5, PUT), ("a", 4, PUT), ("a", 1, PUT)];
        // Stripes: [..=4], (4, 7], (7, ..]. A snapshot equal to a seq sees that version.
        assert_eq!(run(&[7, 4], false, &input), keys(&[("a", 9), ("a", 7), ("a", 4)]));
        assert_eq!(run(&[4, 4, 7], true, &input), keys(&[("a", 9), ("a", 7), ("a", 4)]));
    }

    #[test]
    fn bottommost_tombstone_drops_with_everything_older() {
        let input = [("a", 5, DEL), ("a", 3, PUT), ("a", 2, DEL), ("b", 1, PUT)];
        assert_eq!(run(&[], true, &input), keys(&[("b", 1)]));
        assert_eq!(run(&[], false, &input), keys(&[("a", 5), ("b", 1)]));
        let mut f = EntryFilter::new(vec![], true);
        for (k, s, kind) in input {
            f.keep(&encode(k.as_bytes(), s, kind));
        }
        assert_eq!(f.stats(), FilterStats { kept: 1, dropped_shadowed: 2, dropped_tombstones: 1, corrupt: 0 });
    }

    #[test]
    fn tombstone_above_a_snapshot_survives_bottommost() {
        // Snapshot 4 must still see a@3; the current state must see the deletion.
        let input = [("a", 5, DEL), ("a", 3, PUT)];
        assert_eq!(run(&[4], true, &input), keys(&[("a", 5), ("a", 3)]));
        // A snapshot at or after the tombstone does not need anything older.
        assert_eq!(run(&[5], true, &input), keys(&[]));
    }

    #[test]
    fn malformed_and_out_of_order_keys_are_corrupt() {
        let mut f = EntryFilter::new(vec![3], true);
        assert_eq!(f.keep(b"short"), Keep::Corrupt);
        assert_eq!(f.keep(&[]), Keep::Corrupt);
        let mut bad_kind = encode(b"a", 5, PUT);
        bad_kind[1] = 9;
        assert_eq!(f.keep(&bad_kind), Keep::Corrupt);
        assert_eq!(f.keep(&encode(b"a", 5, PUT)), Keep::Yes);
        assert_eq!(f.keep(&encode(b"a", 5, DEL)), Keep::Corrupt, "same sequence twice");
        assert_eq!(f.keep(&encode(b"a", 8, PUT)), Keep::Corrupt, "newer after older");
        assert_eq!(f.keep(&encode(b"a", 4, PUT)), Keep::No, "state survives a corrupt entry");
        assert_eq!(f.stats().corrupt, 5);
    }

    /// What a reader at `read` sees for `key` in `entries` (ordered, newest first per key).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Seen {
        Value(u64),
        Deleted,
        /// Falls through to the levels below.
        Absent,
    }

    type Entry = (u8, u64, ValueKind);

    fn read(entries: &[Entry], key: u8, read: u64, bottommost: bool) -> Seen {
        match entries.iter().find(|e| e.0 == key && e.1 <= read) {
            Some(&(_, seq, PUT)) => Seen::Value(seq),
            // Nothing lies below the bottommost level, so a deletion reads as absence.
            Some(_) if bottommost => Seen::Absent,
            Some(_) => Seen::Deleted,
            None => Seen::Absent,
        }
    }

    fn all_reads_equal(a: &[Entry], b: &[Entry], snapshots: &[u64], bottommost: bool) -> bool {
        let points = snapshots.iter().copied().chain([u64::MAX]);
        points
            .flat_map(|s| (0..4u8).map(move |k| (k, s)))
            .all(|(k, s)| read(a, k, s, bottommost) == read(b, k, s, bottommost))
    }

    fn filtered(input: &[Entry], snapshots: &[u64], bottommost: bool) -> Vec<Entry> {
        let mut f = EntryFilter::new(snapshots.to_vec(), bottommost);
        // User keys of length 1 and 2 ("k" and "kk") share prefixes, testing key boundaries.
        let user_key = |k: u8| if k.is_multiple_of(2) { vec![k] } else { vec![k - 1, k - 1] };
        input.iter().copied().filter(|&(k, seq, kind)| f.keep(&encode(&user_key(k), seq, kind)) == Keep::Yes).collect()
    }

    /// Random histories: entry `i` is write `i + 1` of history; keys 0..4.
    fn history() -> impl Strategy<Value = (Vec<Entry>, Vec<u64>, bool)> {
        let writes = proptest::collection::vec((0..4u8, any::<bool>()), 0..40);
        (writes, proptest::collection::vec(0..45u64, 0..5), any::<bool>()).prop_map(|(writes, snaps, bottom)| {
            let mut entries: Vec<Entry> = writes
                .into_iter()
                .enumerate()
                .map(|(i, (k, put))| (k, i as u64 + 1, if put { PUT } else { DEL }))
                .collect();
            // Internal-key order: the encoded user keys 0 < [1,1]... order as k, then seq desc.
            entries.sort_by(|a, b| (a.0, b.1).cmp(&(b.0, a.1)));
            (entries, snaps, bottom)
        })
    }

    proptest! {
        #[test]
        fn filter_preserves_every_read_and_keeps_only_what_a_reader_needs((input, snaps, bottom) in history()) {
            let output = filtered(&input, &snaps, bottom);
            prop_assert!(all_reads_equal(&input, &output, &snaps, bottom), "input {input:?} output {output:?}");
            // Minimality: dropping any survivor changes some read, except the documented
            // look-ahead cases for tombstones.
            for i in 0..output.len() {
                let mut fewer = output.clone();
                let (key, _, kind) = fewer.remove(i);
                if all_reads_equal(&input, &fewer, &snaps, bottom) {
                    let next_older = output[i + 1..].iter().find(|e| e.0 == key);
                    let lookahead_case = kind == DEL
                        && match next_older {
                            Some(e) => e.2 == DEL,
                            None => bottom,
                        };
                    prop_assert!(lookahead_case, "{:?} was kept needlessly from {input:?} snaps {snaps:?}", output[i]);
                }
            }
        }
    }
}
