//! The repository's metadata log, in the manner of Delta Lake's transaction log: numbered
//! commit files that are never overwritten, a full-state *log checkpoint* every
//! `checkpoint_interval` commits, and a `_last_checkpoint` hint naming the newest one.
//!
//! Commit: read the newest state, let the caller derive its actions from it, apply them (so an
//! invalid action is refused before anything is written), then `put_if_absent` the commit file
//! `log/<version+1>.commit`. If another writer took that number first, start over on top of its
//! commit; after [`LogOptions::commit_attempts_max`] collisions, `Error::Conflict`.
//!
//! Read: list `log/`; take the log checkpoint the hint names if it is intact, else the newest
//! intact one listed, else start from the empty state; replay every later commit. A missing
//! commit number between the checkpoint and the newest commit is `Corruption` (a gap), as is a
//! commit that does not apply.
//!
//! Invariants: the state a caller sees is the one after some prefix of the log; a commit is
//! acknowledged only when durable, except one made with [`CommitSync::NameLater`] (a creating
//! record: its file is durable, its name with the next fsync of `log/`); log checkpoints, the hint and cleanup run after the commit is
//! durable and their failures never fail the commit (the log stays readable without them).
//!
//! Thread safety: [`MetaLog`] is shared by the repository's threads; the cached state sits
//! behind a mutex; concurrency between writers (threads or processes) is resolved by the
//! exclusive creation of commit files.

use super::format::{
    KIND_COMMIT, KIND_LAST_CHECKPOINT, KIND_LOG_CHECKPOINT, LOG_DIR, LastCheckpoint, LogName, commit_key, frame,
    get_metadata, last_checkpoint_key, log_checkpoint_key, parse_log_name, unframe,
};
use super::record::{Action, Commit, LogState, apply};
use crate::store::{Put, Store};
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use strata::{Error, Result};

/// How the metadata log is kept.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// A log checkpoint is written after every commit whose version is a multiple of this.
    pub checkpoint_interval: u64,
    /// Commits (and log checkpoints) more than this many versions old are deleted once a newer
    /// log checkpoint covers them.
    pub log_retention_commits: u64,
    /// Collisions with other writers tolerated before `Error::Conflict`.
    pub commit_attempts_max: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self { checkpoint_interval: 10, log_retention_commits: 100, commit_attempts_max: 100 }
    }
}

/// How often a load starts over when a file it listed vanished (a concurrent cleanup).
const LOAD_ATTEMPTS: u32 = 4;

/// What `log/` holds.
#[derive(Debug, Default)]
struct Listing {
    commits: BTreeSet<u64>,
    checkpoints: BTreeSet<u64>,
}

/// How a commit is made durable.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CommitSync<'a> {
    /// Durable when `commit` returns (the commit's file, then `log/`).
    Now,
    /// The file is durable when `commit` returns, its name with the next fsync of `log/`: the
    /// next commit's, the log checkpoint's. For a *creating* record, which only has to be
    /// visible to a concurrent gc; a power loss before the next commit forgets it (no snapshot
    /// came of it, its id was never returned, gc reclaims its links).
    NameLater,
    /// Durable when `commit` returns, and published only after the entries under this
    /// directory are durable (`Store::put_if_absent_after_sync`).
    After(&'a str),
}

/// The metadata log of one repository. See the module docs.
#[derive(Debug)]
pub(crate) struct MetaLog {
    store: Arc<dyn Store>,
    opts: LogOptions,
    cache: Mutex<LogState>,
    writer: String,
}

impl MetaLog {
    pub(crate) fn new(store: Arc<dyn Store>, opts: LogOptions) -> Self {
        let writer = format!("pid {} {}", std::process::id(), &strata::DbId::generate().to_hex()[..8]);
        Self { store, opts, cache: Mutex::new(LogState::empty()), writer }
    }

    fn file(&self, key: &str) -> PathBuf {
        PathBuf::from(self.store.location()).join(key)
    }

    fn list(&self) -> Result<Listing> {
        let mut l = Listing::default();
        for name in self.store.list(LOG_DIR)? {
            match parse_log_name(&name) {
                Some(LogName::Commit(v)) => {
                    l.commits.insert(v);
                }
                Some(LogName::Checkpoint(v)) => {
                    l.checkpoints.insert(v);
                }
                None => {}
            }
        }
        Ok(l)
    }

    /// The newest state of the log.
    pub(crate) fn load(&self) -> Result<LogState> {
        let mut last = None;
        for _ in 0..LOAD_ATTEMPTS {
            match self.load_once() {
                Err(Error::NotFound(why)) => last = Some(why),
                other => return other,
            }
        }
        Err(Error::TryAgain(format!("the metadata log kept changing while it was read: {}", last.unwrap_or_default())))
    }

    fn load_once(&self) -> Result<LogState> {
        let listing = self.list()?;
        let cached = self.cache.lock().clone();
        let newest = listing.commits.last().copied().unwrap_or(0);
        let base = if newest <= cached.version {
            return Ok(cached);
        } else if cached.version > 0 && listing.commits.contains(&(cached.version + 1)) {
            cached
        } else {
            self.base_state(&listing)?
        };
        let state = self.replay(base, &listing)?;
        let mut cache = self.cache.lock();
        if state.version > cache.version {
            *cache = state.clone();
        }
        Ok(state)
    }

    /// The newest intact log checkpoint (the hint's first), or the empty state.
    fn base_state(&self, listing: &Listing) -> Result<LogState> {
        let mut candidates: Vec<u64> = Vec::new();
        if let Some(hint) = self.read_hint() {
            candidates.push(hint.version);
        }
        candidates.extend(listing.checkpoints.iter().rev());
        for v in candidates {
            if let Ok(Some(state)) = self.read_checkpoint(v) {
                return Ok(state);
            }
        }
        Ok(LogState::empty())
    }

    /// The hint, if it is there and intact (a damaged hint is ignored: it is only a hint).
    fn read_hint(&self) -> Option<LastCheckpoint> {
        let key = last_checkpoint_key();
        let bytes = get_metadata(&*self.store, &key, &self.file(&key)).ok()??;
        unframe(KIND_LAST_CHECKPOINT, &bytes, &self.file(&key)).ok()
    }

    /// The log checkpoint at `version`: `None` if absent, an error if damaged.
    fn read_checkpoint(&self, version: u64) -> Result<Option<LogState>> {
        let key = log_checkpoint_key(version);
        let file = self.file(&key);
        let Some(bytes) = get_metadata(&*self.store, &key, &file)? else { return Ok(None) };
        let state: LogState = unframe(KIND_LOG_CHECKPOINT, &bytes, &file)?;
        if state.version != version {
            return Err(Error::corruption(&file, 0, format!("holds version {}, named {version}", state.version)));
        }
        state.validate().map_err(|r| Error::corruption(&file, 0, r))?;
        Ok(Some(state))
    }

    /// Applies every commit after `base.version` up to the newest listed.
    fn replay(&self, mut state: LogState, listing: &Listing) -> Result<LogState> {
        let newest = listing.commits.last().copied().unwrap_or(0);
        for v in state.version + 1..=newest {
            let key = commit_key(v);
            let file = self.file(&key);
            if !listing.commits.contains(&v) {
                return Err(Error::corruption(
                    &file,
                    0,
                    format!("gap in the metadata log: commit {v} is missing, but commit {newest} exists"),
                ));
            }
            let bytes = get_metadata(&*self.store, &key, &file)?
                .ok_or_else(|| Error::NotFound(format!("{} vanished", file.display())))?;
            let commit: Commit = unframe(KIND_COMMIT, &bytes, &file)?;
            if commit.version != v {
                return Err(Error::corruption(&file, 0, format!("holds version {}, named {v}", commit.version)));
            }
            state = apply(&state, &commit.actions).map_err(|r| Error::corruption(&file, 0, r))?;
        }
        Ok(state)
    }

    /// Commits the actions `f` derives from the newest state (see the module docs). `f`
    /// returning `None` commits nothing. Returns the state after the commit.
    pub(crate) fn commit(&self, f: impl FnMut(&LogState) -> Result<Option<Vec<Action>>>) -> Result<LogState> {
        self.commit_as(CommitSync::Now, f)
    }

    /// [`commit`](Self::commit), made durable as `sync` says.
    pub(crate) fn commit_as(
        &self,
        sync: CommitSync<'_>,
        f: impl FnMut(&LogState) -> Result<Option<Vec<Action>>>,
    ) -> Result<LogState> {
        self.commit_from(None, sync, f)
    }

    /// [`commit_as`](Self::commit_as) with [`CommitSync::After`]`(dir)`, tried first on top of
    /// `base`, a state this log committed itself (the caller's previous commit, version `v`),
    /// without listing `log/`: commit `v+1` is created only if it is absent and, looked at
    /// after that, commit `v` is still there. Commits are created in version order and cleanup
    /// deletes them oldest first, so while `v` is there `v+1` was never deleted: a name found
    /// free is one no writer has used, not one cleanup freed under a long snapshot. If another
    /// writer took `v+1`, or `v` is gone, the commit starts over with a listing, as
    /// [`commit_as`](Self::commit_as) does. Local stores only (on an object store the two
    /// looks cost more than the listing they replace); elsewhere, or for version 0 (no file),
    /// it is `commit_as`.
    pub(crate) fn commit_on(
        &self,
        base: &LogState,
        dir: &str,
        f: impl FnMut(&LogState) -> Result<Option<Vec<Action>>>,
    ) -> Result<LogState> {
        let known = !self.store.is_remote() && base.version > 0;
        self.commit_from(known.then_some(base), CommitSync::After(dir), f)
    }

    /// The commit loop: the first attempt on top of `base` if given (see
    /// [`commit_on`](Self::commit_on)), every other on top of a fresh [`load`](Self::load).
    fn commit_from(
        &self,
        mut base: Option<&LogState>,
        sync: CommitSync<'_>,
        mut f: impl FnMut(&LogState) -> Result<Option<Vec<Action>>>,
    ) -> Result<LogState> {
        for _ in 0..self.opts.commit_attempts_max {
            let loaded;
            let (state, guard) = match base.take() {
                Some(b) => (b, Some(commit_key(b.version))),
                None => {
                    loaded = self.load()?;
                    (&loaded, None)
                }
            };
            let Some(actions) = f(state)? else { return Ok(state.clone()) };
            let next = apply(state, &actions).map_err(Error::InvalidArgument)?;
            let body = Commit { version: next.version, time_ms: super::now_ms(), writer: self.writer.clone(), actions };
            let bytes = frame(KIND_COMMIT, &body)?;
            let key = commit_key(next.version);
            let put = match (sync, &guard) {
                // The guard missing: start over with a listing, as after a collision.
                (CommitSync::After(dir), Some(g)) => {
                    self.store.put_if_absent_after_sync_while(dir, &key, &bytes, g)?.unwrap_or(Put::Exists)
                }
                (CommitSync::Now, _) => self.store.put_if_absent(&key, &bytes)?,
                (CommitSync::NameLater, _) => self.store.put_if_absent_name_later(&key, &bytes)?,
                (CommitSync::After(dir), None) => self.store.put_if_absent_after_sync(dir, &key, &bytes)?,
            };
            match put {
                Put::Created => {
                    {
                        let mut cache = self.cache.lock();
                        if next.version > cache.version {
                            *cache = next.clone();
                        }
                    }
                    self.after_commit(&next);
                    return Ok(next);
                }
                Put::Exists => continue,
            }
        }
        Err(Error::Conflict(format!(
            "{}: lost the race for the next metadata log version {} times in a row",
            self.store.location(),
            self.opts.commit_attempts_max
        )))
    }

    /// Log checkpoint, hint and cleanup, best effort (the commit is already durable).
    fn after_commit(&self, state: &LogState) {
        if self.opts.checkpoint_interval == 0 || !state.version.is_multiple_of(self.opts.checkpoint_interval) {
            return;
        }
        if self.write_checkpoint(state).is_ok() {
            let _ = self.cleanup(state.version);
        }
    }

    /// Writes the log checkpoint of `state`, then points the hint at it.
    pub(crate) fn write_checkpoint(&self, state: &LogState) -> Result<()> {
        let bytes = frame(KIND_LOG_CHECKPOINT, state)?;
        self.store.put_if_absent(&log_checkpoint_key(state.version), &bytes)?;
        let hint = LastCheckpoint {
            version: state.version,
            size: state.snapshots.len() as u64,
            size_in_bytes: bytes.len() as u64,
            checksum: strata_base::checksum::crc32(&bytes),
        };
        self.store.put(&last_checkpoint_key(), &frame(KIND_LAST_CHECKPOINT, &hint)?)
    }

    /// Deletes commits and log checkpoints older than the newest intact log checkpoint that is
    /// at least `log_retention_commits` versions old (its own commit is kept). Commits go
    /// oldest first: [`commit_on`](Self::commit_on) relies on it.
    fn cleanup(&self, version: u64) -> Result<()> {
        let cutoff = version.saturating_sub(self.opts.log_retention_commits);
        let listing = self.list()?;
        let Some(&keep_from) = listing.checkpoints.range(..=cutoff).next_back() else { return Ok(()) };
        if self.read_checkpoint(keep_from)?.is_none() {
            return Ok(());
        }
        for &v in listing.commits.range(..keep_from) {
            self.store.delete(&commit_key(v))?;
        }
        for &v in listing.checkpoints.range(..keep_from) {
            self.store.delete(&log_checkpoint_key(v))?;
        }
        self.store.sync(LOG_DIR)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use crate::repo::record::SnapshotState;
    use crate::store::LocalStore;
    use std::path::Path;
    use strata_base::{FileSystem, SimFs};

    fn log(sim: &SimFs, checkpoint_interval: u64, log_retention_commits: u64) -> MetaLog {
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(sim.arc(), Path::new("/r")));
        MetaLog::new(store, LogOptions { checkpoint_interval, log_retention_commits, commit_attempts_max: 10 })
    }

    fn begin(s: &LogState) -> Result<Option<Vec<Action>>> {
        Ok(Some(vec![Action::Begin {
            id: s.next_id,
            name: None,
            db_id: strata::DbId::generate().to_hex(),
            labels: Default::default(),
            created_at_ms: 1,
            expires_at_ms: 2,
            tables: Vec::new(),
        }]))
    }

    fn fail_1(s: &LogState) -> Result<Option<Vec<Action>>> {
        assert_eq!(s.entry(1).map(|e| e.state), Some(SnapshotState::Creating));
        Ok(Some(vec![Action::Fail { id: 1, reason: "test".into() }]))
    }

    fn exists(sim: &SimFs, v: u64) -> bool {
        sim.exists(&Path::new("/r").join(commit_key(v)))
    }

    fn setup() -> SimFs {
        let sim = SimFs::new();
        sim.create_dir_all(Path::new("/r/log")).unwrap();
        sim
    }

    #[test]
    fn a_commit_on_a_known_version_goes_next_or_starts_over_on_top_of_another_writer() {
        let sim = setup();
        let (a, b) = (log(&sim, 0, 100), log(&sim, 0, 100));
        let base = a.commit_as(CommitSync::NameLater, begin).unwrap();
        assert_eq!(base.version, 1);
        let done = a.commit_on(&base, "tables", fail_1).unwrap();
        assert_eq!(done.version, 2, "nobody came between: the next version");
        // Another writer takes the next version first: the commit lands on top of it.
        let base = a.commit_as(CommitSync::NameLater, begin).unwrap();
        b.commit(begin).unwrap();
        let mut seen = Vec::new();
        let done = a
            .commit_on(&base, "tables", |s| {
                seen.push(s.version);
                Ok(Some(vec![Action::Fail { id: 2, reason: "test".into() }]))
            })
            .unwrap();
        assert_eq!(seen, vec![3, 4], "tried on the known version, then on top of the other writer's commit");
        assert_eq!(done.version, 5);
        let fresh = log(&sim, 0, 100).load().unwrap();
        assert_eq!(fresh.version, 5);
        assert_eq!(fresh.entry(2).map(|e| e.state), Some(SnapshotState::Failed));
        assert_eq!(fresh.entry(3).map(|e| e.state), Some(SnapshotState::Creating));
    }

    #[test]
    fn a_commit_on_a_known_version_never_lands_where_cleanup_deleted() {
        let sim = setup();
        // A log checkpoint every 2 commits; commits more than 2 versions behind one are deleted.
        let (a, b) = (log(&sim, 2, 2), log(&sim, 2, 2));
        let base = a.commit_as(CommitSync::NameLater, begin).unwrap();
        assert_eq!(base.version, 1);
        // While `a` works (a long snapshot), another writer commits 8 times and its cleanup
        // deletes commits 1 to 5: version 2 is free again, but not the next version.
        for _ in 0..8 {
            b.commit(begin).unwrap();
        }
        assert!(!exists(&sim, 1) && !exists(&sim, 2) && exists(&sim, 9));
        let done = a.commit_on(&base, "tables", fail_1).unwrap();
        assert_eq!(done.version, 10, "committed after the newest version, not into the deleted range");
        assert!(!exists(&sim, 2), "nothing written where cleanup deleted");
        let fresh = log(&sim, 2, 2).load().unwrap();
        assert_eq!(fresh.version, 10);
        assert_eq!(fresh.entry(1).map(|e| e.state), Some(SnapshotState::Failed));
    }
}
