//! The engine's ranked locks, and the lock order, checked in debug builds.
//!
//! Locks of `DbInner` are always taken in increasing [`Rank`]:
//!
//! | rank | lock | owner | held for |
//! |---|---|---|---|
//! | 1 | `writes.queue` | write path | enqueueing, electing a group leader |
//! | 2 | `writes.commit` | write path | the leader's WAL append and sync |
//! | 3 | `bg.compaction` | background jobs | a compaction run (shared), `compact_range` (exclusive) |
//! | 4 | `files.deleting` | file lifecycle | one pass deleting obsolete files (listing and removes) |
//! | 5 | `state` | versions and memtable generations | picking work, installing edits |
//! | 6 | `files.wal_pins` | file lifecycle | reading or changing WAL pins |
//! | 7 | `bg.error` | background jobs | recording the first background error |
//! | 8 | `read_state` | read state | swapping the published pointer (no I/O) |
//! | 9 | `bg.threads` | background jobs | starting and joining threads |
//!
//! Leaf locks that are never held while another lock is taken are not ranked: a pending
//! write's slots, the snapshot list, the table cache's and block cache's shards, memtables.
//!
//! Every ranked lock records its rank in a per-thread list while held; in debug builds taking a
//! lock whose rank is not above every rank the thread holds panics with both names, so any
//! test that exercises an out-of-order path fails. Release builds carry no bookkeeping.
//!
//! Thread safety: the wrappers are `Sync` like the `parking_lot` locks inside them.

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::ops::{Deref, DerefMut};

/// A lock's place in the order; see the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    WriteQueue = 1,
    Commit = 2,
    Compaction = 3,
    Deleting = 4,
    State = 5,
    WalPins = 6,
    BgError = 7,
    ReadState = 8,
    Threads = 9,
}

#[cfg(debug_assertions)]
mod held {
    use super::Rank;
    use std::cell::RefCell;

    thread_local! {
        static HELD: RefCell<Vec<Rank>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn acquire(rank: Rank) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(&top) = h.iter().max() {
                assert!(top < rank, "lock order violated: taking {rank:?} while holding {top:?} (held: {h:?})");
            }
            h.push(rank);
        });
    }

    pub(super) fn release(rank: Rank) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|&r| r == rank) {
                h.remove(i);
            }
        });
    }
}

#[cfg(not(debug_assertions))]
mod held {
    use super::Rank;
    #[inline(always)]
    pub(super) fn acquire(_: Rank) {}
    #[inline(always)]
    pub(super) fn release(_: Rank) {}
}

/// Records `rank` as held until dropped.
#[derive(Debug)]
struct Held(Rank);

impl Held {
    fn new(rank: Rank) -> Self {
        held::acquire(rank);
        Held(rank)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        held::release(self.0);
    }
}

/// A mutex with a [`Rank`].
#[derive(Debug)]
pub(crate) struct OrderedMutex<T> {
    rank: Rank,
    inner: Mutex<T>,
}

/// The guard of an [`OrderedMutex`]; [`OrderedMutexGuard::raw`] hands the inner guard to a
/// condition variable.
#[derive(Debug)]
pub(crate) struct OrderedMutexGuard<'a, T> {
    // Field order: the lock is released before the rank is forgotten.
    guard: MutexGuard<'a, T>,
    _held: Held,
}

impl<T> OrderedMutex<T> {
    pub(crate) fn new(rank: Rank, value: T) -> Self {
        Self { rank, inner: Mutex::new(value) }
    }

    pub(crate) fn lock(&self) -> OrderedMutexGuard<'_, T> {
        let held = Held::new(self.rank);
        OrderedMutexGuard { guard: self.inner.lock(), _held: held }
    }

    /// The lock if it is free now. Cannot deadlock, but the rank is checked all the same, so
    /// a path that only works because the lock happened to be free is still caught.
    pub(crate) fn try_lock(&self) -> Option<OrderedMutexGuard<'_, T>> {
        let held = Held::new(self.rank);
        self.inner.try_lock().map(|guard| OrderedMutexGuard { guard, _held: held })
    }
}

impl<'a, T> OrderedMutexGuard<'a, T> {
    /// The `parking_lot` guard, for `Condvar::wait` (which releases and retakes this same
    /// lock, so the thread's held ranks stay true).
    pub(crate) fn raw(&mut self) -> &mut MutexGuard<'a, T> {
        &mut self.guard
    }
}

impl<T> Deref for OrderedMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for OrderedMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// A reader-writer lock with a [`Rank`].
#[derive(Debug)]
pub(crate) struct OrderedRwLock<T> {
    rank: Rank,
    inner: RwLock<T>,
}

/// A shared guard of an [`OrderedRwLock`].
#[derive(Debug)]
pub(crate) struct OrderedReadGuard<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    _held: Held,
}

/// An exclusive guard of an [`OrderedRwLock`].
#[derive(Debug)]
pub(crate) struct OrderedWriteGuard<'a, T> {
    guard: RwLockWriteGuard<'a, T>,
    _held: Held,
}

impl<T> OrderedRwLock<T> {
    pub(crate) fn new(rank: Rank, value: T) -> Self {
        Self { rank, inner: RwLock::new(value) }
    }

    pub(crate) fn read(&self) -> OrderedReadGuard<'_, T> {
        let held = Held::new(self.rank);
        OrderedReadGuard { guard: self.inner.read(), _held: held }
    }

    pub(crate) fn write(&self) -> OrderedWriteGuard<'_, T> {
        let held = Held::new(self.rank);
        OrderedWriteGuard { guard: self.inner.write(), _held: held }
    }
}

impl<T> Deref for OrderedReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> Deref for OrderedWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for OrderedWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_is_fine_and_release_forgets() {
        let a = OrderedMutex::new(Rank::Commit, 1);
        let b = OrderedMutex::new(Rank::State, 2);
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        // Both released: taking the lower rank again is fine.
        let _a = a.lock();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "lock order violated: taking Commit while holding State")]
    fn out_of_order_panics_in_debug_builds() {
        let a = OrderedMutex::new(Rank::Commit, 1);
        let b = OrderedMutex::new(Rank::State, 2);
        let _b = b.lock();
        let _a = a.lock();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "lock order violated")]
    fn the_same_rank_twice_panics() {
        let a = OrderedRwLock::new(Rank::Compaction, ());
        let b = OrderedRwLock::new(Rank::Compaction, ());
        let _a = a.read();
        let _b = b.read();
    }
}
