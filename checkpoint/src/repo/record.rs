//! The repository's state and the actions that change it: a pure state machine, replayed from
//! the metadata log (`log.rs`) and tested alone.
//!
//! A snapshot moves `creating -> complete -> deleting -> (forgotten)`, or
//! `creating -> failed -> (forgotten)`, or `complete -> deleting`. Ids come from `next_id` and
//! are never reused, even after a snapshot is forgotten.
//!
//! Invariants: [`apply`] either returns the whole new state or an error and no change; it
//! checks every action against the state it is applied to, so a log that replays is consistent.
//!
//! Thread safety: plain data.

use super::format::{SnapshotRecord, TABLES_DIR, check_name_and_labels};
use crate::store::check_key;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use strata::DbId;

/// A shared record is written and read as the record itself (the JSON has no trace of the
/// `Arc`): `#[serde(with = "shared::required")]`, `shared::optional`.
mod shared {
    use super::SnapshotRecord;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub mod required {
        use super::*;

        pub fn serialize<S: Serializer>(r: &Arc<SnapshotRecord>, s: S) -> Result<S::Ok, S::Error> {
            <SnapshotRecord as Serialize>::serialize(r, s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<SnapshotRecord>, D::Error> {
            // The trait's, which derives keys and names (not the inherent one `remote` makes).
            <SnapshotRecord as Deserialize>::deserialize(d).map(Arc::new)
        }
    }

    pub mod optional {
        use super::*;

        pub fn serialize<S: Serializer>(r: &Option<Arc<SnapshotRecord>>, s: S) -> Result<S::Ok, S::Error> {
            r.as_deref().serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<SnapshotRecord>>, D::Error> {
            Option::<SnapshotRecord>::deserialize(d).map(|r| r.map(Arc::new))
        }
    }
}

/// Where a snapshot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    /// Being created: its tables are being stored; `gc` spares them until it expires.
    Creating,
    /// Created; restorable unless damaged.
    Complete,
    /// Creation stopped (error, cancel, crash found by `gc`); holds nothing.
    Failed,
    /// Being deleted; no longer restorable.
    Deleting,
}

/// One snapshot in the repository's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    pub state: SnapshotState,
    pub name: Option<String>,
    pub db_id: String,
    pub labels: BTreeMap<String, String>,
    pub created_at_ms: u64,
    /// A creating snapshot not completed by then may be failed by `gc`.
    pub expires_at_ms: u64,
    /// Keys of the tables a creating snapshot will use.
    pub pending_tables: Vec<String>,
    /// The complete record (complete and deleting snapshots), shared: copies of the state (one
    /// per commit and per read) share records instead of copying every file of every snapshot.
    #[serde(with = "shared::optional")]
    pub record: Option<Arc<SnapshotRecord>>,
    /// Why creation failed.
    pub failure: Option<String>,
}

/// One change to the state. A commit holds one or more, applied in order, all or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Begin {
        id: u64,
        name: Option<String>,
        db_id: String,
        labels: BTreeMap<String, String>,
        created_at_ms: u64,
        expires_at_ms: u64,
        tables: Vec<String>,
    },
    Complete {
        #[serde(with = "shared::required")]
        record: Arc<SnapshotRecord>,
    },
    Fail {
        id: u64,
        reason: String,
    },
    Delete {
        id: u64,
    },
    Forget {
        id: u64,
    },
}

/// The body of a commit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Must equal the number in the file's name.
    pub version: u64,
    pub time_ms: u64,
    /// Who wrote it (host process id and a random tag), for people reading the log.
    pub writer: String,
    pub actions: Vec<Action>,
}

/// The state after log version `version` (the body of a log checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    pub version: u64,
    /// The id the next snapshot gets (ids start at 1).
    pub next_id: u64,
    pub snapshots: Vec<Entry>,
}

impl LogState {
    /// The state of an empty repository.
    pub fn empty() -> Self {
        Self { version: 0, next_id: 1, snapshots: Vec::new() }
    }

    pub fn entry(&self, id: u64) -> Option<&Entry> {
        self.snapshots.iter().find(|e| e.id == id)
    }

    fn entry_mut(&mut self, id: u64) -> Result<&mut Entry, String> {
        self.snapshots.iter_mut().find(|e| e.id == id).ok_or_else(|| format!("snapshot {id} does not exist"))
    }

    /// Keys of every table some snapshot needs: complete ones' files and creating ones'
    /// pending tables. Deleting and failed snapshots hold nothing.
    pub fn referenced_tables(&self) -> BTreeSet<String> {
        self.referenced_keys(None).into_iter().map(str::to_owned).collect()
    }

    /// How many distinct tables [`LogState::referenced_tables`] holds, without copying a key.
    pub fn referenced_table_count(&self) -> usize {
        self.referenced_keys(None).len()
    }

    /// The keys [`LogState::referenced_tables`] holds, borrowed, leaving out what snapshot
    /// `except` alone references (a snapshot being created asks which of its tables others
    /// already hold).
    pub fn referenced_keys_except(&self, except: u64) -> std::collections::HashSet<&str> {
        self.referenced_keys(Some(except))
    }

    fn referenced_keys(&self, except: Option<u64>) -> std::collections::HashSet<&str> {
        let mut out = std::collections::HashSet::new();
        for e in self.snapshots.iter().filter(|e| Some(e.id) != except) {
            match e.state {
                SnapshotState::Complete => {
                    if let Some(r) = &e.record {
                        out.extend(r.files.iter().map(|f| f.key.as_str()));
                    }
                }
                SnapshotState::Creating => out.extend(e.pending_tables.iter().map(String::as_str)),
                SnapshotState::Failed | SnapshotState::Deleting => {}
            }
        }
        out
    }

    /// Checks a state read from a log checkpoint.
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        for e in &self.snapshots {
            if e.id == 0 || e.id >= self.next_id || !ids.insert(e.id) {
                return Err(format!("snapshot id {} is 0, not below next_id {}, or repeated", e.id, self.next_id));
            }
            check_name_and_labels(e.name.as_deref(), &e.labels)?;
            check_tables(&e.pending_tables)?;
            match (&e.record, e.state) {
                (Some(r), SnapshotState::Complete | SnapshotState::Deleting) if r.id == e.id => r.validate()?,
                (None, SnapshotState::Creating | SnapshotState::Failed) => {}
                _ => return Err(format!("snapshot {}: record does not match state {:?}", e.id, e.state)),
            }
        }
        Ok(())
    }
}

fn check_tables(tables: &[String]) -> Result<(), String> {
    for t in tables {
        check_key(t).map_err(|e| e.to_string())?;
        if t.strip_prefix(TABLES_DIR).and_then(|rest| rest.strip_prefix('/')).is_none() {
            return Err(format!("pending table {t:?} is not under {TABLES_DIR}/"));
        }
    }
    Ok(())
}

/// The state after `actions`, applied in order to `state`; the version advances by one.
pub fn apply(state: &LogState, actions: &[Action]) -> Result<LogState, String> {
    let mut s = state.clone();
    s.version += 1;
    for a in actions {
        apply_one(&mut s, a)?;
    }
    Ok(s)
}

fn apply_one(s: &mut LogState, a: &Action) -> Result<(), String> {
    match a {
        Action::Begin { id, name, db_id, labels, created_at_ms, expires_at_ms, tables } => {
            if *id != s.next_id {
                return Err(format!("new snapshot id {id} is not the next id {}", s.next_id));
            }
            DbId::from_hex(db_id).ok_or_else(|| format!("snapshot {id}: bad database identity {db_id:?}"))?;
            check_name_and_labels(name.as_deref(), labels)?;
            check_tables(tables)?;
            s.next_id = id + 1;
            s.snapshots.push(Entry {
                id: *id,
                state: SnapshotState::Creating,
                name: name.clone(),
                db_id: db_id.clone(),
                labels: labels.clone(),
                created_at_ms: *created_at_ms,
                expires_at_ms: *expires_at_ms,
                pending_tables: tables.clone(),
                record: None,
                failure: None,
            });
        }
        Action::Complete { record } => {
            record.validate()?;
            let e = s.entry_mut(record.id)?;
            if e.state != SnapshotState::Creating || e.db_id != record.db_id {
                return Err(format!("snapshot {} is {:?}, not creating (of that database)", e.id, e.state));
            }
            e.state = SnapshotState::Complete;
            e.pending_tables.clear();
            e.record = Some(Arc::clone(record));
        }
        Action::Fail { id, reason } => {
            let e = s.entry_mut(*id)?;
            if e.state != SnapshotState::Creating {
                return Err(format!("snapshot {id} is {:?}, not creating", e.state));
            }
            e.state = SnapshotState::Failed;
            e.pending_tables.clear();
            e.failure = Some(reason.clone());
        }
        Action::Delete { id } => {
            let e = s.entry_mut(*id)?;
            if !matches!(e.state, SnapshotState::Complete | SnapshotState::Failed) {
                return Err(format!("snapshot {id} is {:?}: only complete or failed snapshots are deleted", e.state));
            }
            e.state = SnapshotState::Deleting;
        }
        Action::Forget { id } => {
            let e = s.entry_mut(*id)?;
            if !matches!(e.state, SnapshotState::Deleting | SnapshotState::Failed) {
                return Err(format!("snapshot {id} is {:?}: only deleting or failed snapshots are forgotten", e.state));
            }
            s.snapshots.retain(|e| e.id != *id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn begin(id: u64, tables: &[&str]) -> Action {
        Action::Begin {
            id,
            name: Some(format!("s{id}")),
            db_id: DbId::generate().to_hex(),
            labels: BTreeMap::new(),
            created_at_ms: 1,
            expires_at_ms: 2,
            tables: tables.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn life_cycle_and_refusals() {
        let s0 = LogState::empty();
        assert!(apply(&s0, &[begin(2, &[])]).is_err(), "ids are handed out in order");
        let s1 = apply(&s0, &[begin(1, &["tables/a"])]).unwrap();
        assert_eq!((s1.version, s1.next_id), (1, 2));
        assert_eq!(s1.referenced_tables().into_iter().collect::<Vec<_>>(), vec!["tables/a".to_string()]);
        assert!(apply(&s1, &[Action::Delete { id: 1 }]).is_err(), "a creating snapshot is not deleted");
        let s2 = apply(&s1, &[Action::Fail { id: 1, reason: "x".into() }]).unwrap();
        assert!(s2.referenced_tables().is_empty());
        assert!(apply(&s2, &[Action::Fail { id: 1, reason: "x".into() }]).is_err());
        let s3 = apply(&s2, &[Action::Forget { id: 1 }]).unwrap();
        assert!(s3.snapshots.is_empty());
        assert_eq!(s3.next_id, 2, "ids are never reused");
        assert!(apply(&s3, &[Action::Forget { id: 1 }]).is_err());
        assert!(apply(&s3, &[begin(2, &["../etc/passwd"])]).is_err(), "keys are confined");
        assert!(apply(&s3, &[begin(2, &["log/x"])]).is_err(), "pending keys are tables");
        // All or nothing: the second action fails, so the first is not applied either.
        assert!(apply(&s3, &[begin(2, &[]), Action::Delete { id: 9 }]).is_err());
        assert!(s3.validate().is_ok());
    }
}
