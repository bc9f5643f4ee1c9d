//! The shared core of the `strata-stress` tool and the `strata-crashtest` driver: a
//! deterministic stream of write operations per worker thread, the model those operations
//! build, randomized options, and the verification of a database (or a checkpoint of one)
//! against the model.
//!
//! Every worker thread `t` owns its keys (`{t:02}/{idx:05}` in every stressed column family)
//! and numbers its writes `1, 2, 3, ..`; write `n` of thread `t` is a pure function of
//! `(seed, t, n)` ([`ops::op_at`]) and also sets the marker key of `t` in the `meta` column
//! family to `n`, atomically with its data (the same batch, or the same multi-family ingest).
//! So a fresh process can read the marker `R` of every thread and compute exactly what the
//! thread's keys must hold: the effect of writes `1..=R` ([`ops::replay`]). That single check
//! proves both crash guarantees: nothing past an acknowledged synced write is missing
//! (`R >= acked`), and the recovered writes of a thread are a prefix with no holes (the contents
//! equal the replay of `1..=R`, nothing more, nothing less).
//!
//! Invariants: ops and values depend only on `(seed, t, n)` and the key count, never on timing
//! or options, so a database may be reopened with other options and still verified.
//!
//! Thread safety: everything here is plain data and pure functions.

pub mod artifacts;
pub mod config;
pub mod ops;
pub mod racy;
pub mod repo;
pub mod rng;
pub mod verify;
