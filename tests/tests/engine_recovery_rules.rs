//! The recovery rules (docs/design.md, "Recovery rules"): what an open does with what is on
//! disk. A directory holding any manifest, table or WAL is recovered or refused, never
//! initialised as a new database; a missing, empty, torn or dangling `CURRENT` is recovered by
//! listing the manifests when the newest one proves itself, and refused, touching nothing,
//! when it does not; only files provably Strata's are ever deleted.
//!
//! Every case runs on the real file system and on `SimFs` (the fault-injecting one), with
//! `create_if_missing` true and false.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use strata::{Db, Error, Options, SimFs, WriteOptions};
use strata_base::{FileSystem, RealFs};

/// A directory on one file system, and the options that open it.
struct Env {
    fs: Arc<dyn FileSystem>,
    sim: Option<SimFs>,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Env {
    fn real() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db");
        Env { fs: Arc::new(RealFs::default()), sim: None, dir, _tmp: Some(tmp) }
    }

    fn sim() -> Self {
        let sim = SimFs::new();
        Env { fs: sim.arc(), sim: Some(sim), dir: PathBuf::from("/db"), _tmp: None }
    }

    fn both() -> [Env; 2] {
        [Env::real(), Env::sim()]
    }

    fn name(&self) -> &'static str {
        if self.sim.is_some() { "sim" } else { "real" }
    }

    fn opts(&self, create_if_missing: bool) -> Options {
        Options { fs: Some(Arc::clone(&self.fs)), create_if_missing, write_buffer_size: 64 << 10, ..Options::default() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Every file but `LOCK`, with its bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for name in self.fs.list(&self.dir).unwrap_or_default() {
            if name != "LOCK" {
                out.insert(name.clone(), self.fs.read_all(&self.path(&name)).unwrap().to_vec());
            }
        }
        out
    }

    /// Names of tables and manifests present.
    fn tables_and_manifests(&self) -> BTreeSet<String> {
        self.files().into_keys().filter(|n| n.ends_with(".sst") || n.starts_with("MANIFEST-")).collect()
    }

    fn write(&self, name: &str, data: &[u8]) {
        let path = self.path(name);
        let _ = self.fs.remove_file(&path);
        let mut f = self.fs.create(&path).unwrap();
        f.append(data).unwrap();
        f.sync().unwrap();
        self.fs.sync_dir(&self.dir).unwrap();
    }

    fn remove(&self, name: &str) {
        self.fs.remove_file(&self.path(name)).unwrap();
    }

    fn manifests(&self) -> Vec<String> {
        self.files().into_keys().filter(|n| n.starts_with("MANIFEST-")).collect()
    }

    fn tables(&self) -> Vec<String> {
        self.files().into_keys().filter(|n| n.ends_with(".sst")).collect()
    }
}

fn key(i: u32) -> String {
    format!("k{i:05}")
}

/// A database holding `n` keys in flushed tables, closed.
fn fill(env: &Env, n: u32) {
    let db = Db::open(&env.dir, env.opts(true)).unwrap();
    let sync = WriteOptions { sync: true, ..Default::default() };
    for i in 0..n {
        db.put_opt(&sync, key(i), format!("v{i}")).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
}

fn check_all(db: &Db, n: u32, ctx: &str) {
    for i in 0..n {
        let got = db.get(key(i)).unwrap();
        assert_eq!(got.as_deref(), Some(format!("v{i}").as_bytes()), "{ctx}: key {i}");
    }
}

/// The ways `CURRENT` can be lost or damaged.
const DAMAGES: [(&str, Option<&[u8]>); 5] = [
    ("missing", None),
    ("empty", Some(b"")),
    ("torn", Some(b"MANIF")),
    ("garbage", Some(b"\xff\xfe not a manifest name\n")),
    ("dangling", Some(b"MANIFEST-000999\n")),
];

fn damage_current(env: &Env, damage: Option<&[u8]>) {
    env.remove("CURRENT");
    if let Some(bytes) = damage {
        env.write("CURRENT", bytes);
    }
}

#[test]
fn missing_current_no_longer_recreates_the_database() {
    // The reproduction from the issue: before the fix this open succeeded with every key gone
    // and the table deleted.
    let env = Env::real();
    fill(&env, 1_000);
    let tables = env.tables();
    assert!(!tables.is_empty());
    env.remove("CURRENT");
    let db = Db::open(&env.dir, Options::default()).unwrap();
    check_all(&db, 1_000, "after losing CURRENT");
    let report = db.recovery_report().clone();
    assert!(report.current_recovered.as_deref().is_some_and(|r| r.contains("missing")), "{report:?}");
    assert!(report.deletion_skipped);
    assert!(db.property("strata.recovery").unwrap().contains("recovered by listing"));
    for t in &tables {
        assert!(env.path(t).exists(), "{t} was deleted");
    }
    db.close().unwrap();
    // CURRENT was rewritten: the next open finds it intact.
    let db = Db::open(&env.dir, Options::default()).unwrap();
    assert_eq!(db.recovery_report().current_recovered, None);
    check_all(&db, 1_000, "second open");
}

#[test]
fn damaged_current_is_recovered_by_listing() {
    for env in Env::both() {
        for (what, damage) in DAMAGES {
            for create in [true, false] {
                let env = if env.sim.is_some() { Env::sim() } else { Env::real() };
                let ctx = format!("{} / {what} / create_if_missing={create}", env.name());
                fill(&env, 300);
                damage_current(&env, damage);
                let before = env.tables_and_manifests();
                let db = Db::open(&env.dir, env.opts(create)).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                check_all(&db, 300, &ctx);
                assert!(db.recovery_report().current_recovered.is_some(), "{ctx}");
                let after = env.tables_and_manifests();
                assert!(before.is_subset(&after), "{ctx}: the open deleted {:?}", before.difference(&after));
                // The database works on: writes, a flush, a reopen.
                db.put("after", "x").unwrap();
                db.flush().unwrap();
                db.close().unwrap();
                let db = Db::open(&env.dir, env.opts(false)).unwrap();
                check_all(&db, 300, &ctx);
                assert_eq!(db.get("after").unwrap().as_deref(), Some(&b"x"[..]), "{ctx}");
            }
        }
    }
}

#[test]
fn read_only_open_recovers_current_and_writes_nothing() {
    for env in Env::both() {
        for (what, damage) in DAMAGES {
            let env = if env.sim.is_some() { Env::sim() } else { Env::real() };
            fill(&env, 200);
            damage_current(&env, damage);
            let before = env.files();
            let db = Db::open_read_only(&env.dir, env.opts(false)).unwrap_or_else(|e| panic!("{what}: {e}"));
            check_all(&db, 200, what);
            assert!(db.recovery_report().current_recovered.is_some(), "{what}");
            drop(db);
            assert_eq!(env.files(), before, "{what}: a read-only open changed the directory");
        }
    }
}

/// Opens that must refuse with `Corruption` naming `names`, with `create_if_missing` true and
/// false, read-write and read-only, changing nothing.
fn assert_refused(env: &Env, ctx: &str, names: &[&str]) {
    let before = env.files();
    for create in [true, false] {
        for read_only in [false, true] {
            let opts = env.opts(create);
            let r = if read_only { Db::open_read_only(&env.dir, opts) } else { Db::open(&env.dir, opts) };
            let err = match r {
                Ok(_) => panic!("{ctx}: opened (create_if_missing={create}, read_only={read_only})"),
                Err(e) => e,
            };
            assert!(matches!(err, Error::Corruption { .. }), "{ctx}: {err}");
            let text = err.to_string();
            for name in names {
                assert!(text.contains(name), "{ctx}: {text} does not name {name}");
            }
            assert_eq!(env.files(), before, "{ctx}: a refused open changed the directory");
        }
    }
}

#[test]
fn unprovable_choices_are_refused_touching_nothing() {
    for env in Env::both() {
        let fresh = || if env.sim.is_some() { Env::sim() } else { Env::real() };
        let name = env.name();

        // The newest manifest is damaged before its last record.
        let e = fresh();
        fill(&e, 100);
        let m = e.manifests().pop().unwrap();
        let mut bytes = e.files()[&m].clone();
        bytes[12] ^= 0x10;
        e.write(&m, &bytes);
        e.remove("CURRENT");
        assert_refused(&e, &format!("{name}: damaged newest manifest"), &[&m, "CURRENT"]);

        // The newest manifest ends in a torn edit.
        let e = fresh();
        fill(&e, 100);
        let m = e.manifests().pop().unwrap();
        let mut bytes = e.files()[&m].clone();
        bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x09]);
        e.write(&m, &bytes);
        e.remove("CURRENT");
        assert_refused(&e, &format!("{name}: torn newest manifest"), &[&m]);

        // A table the newest manifest names is missing.
        let e = fresh();
        fill(&e, 100);
        let t = e.tables().pop().unwrap();
        e.remove(&t);
        e.remove("CURRENT");
        assert_refused(&e, &format!("{name}: missing table"), &[&t, "CURRENT"]);

        // A table has the wrong size.
        let e = fresh();
        fill(&e, 100);
        let t = e.tables().pop().unwrap();
        let mut bytes = e.files()[&t].clone();
        bytes.push(0);
        e.write(&t, &bytes);
        e.remove("CURRENT");
        assert_refused(&e, &format!("{name}: resized table"), &[&t]);

        // Tables but no manifest at all.
        let e = fresh();
        fill(&e, 100);
        let t = e.tables().pop().unwrap();
        for m in e.manifests() {
            e.remove(&m);
        }
        e.remove("CURRENT");
        assert_refused(&e, &format!("{name}: no manifest"), &[&t, "no manifest"]);

        // CURRENT intact, but the manifest it names is damaged in an earlier record.
        let e = fresh();
        fill(&e, 100);
        let m = e.manifests().pop().unwrap();
        let mut bytes = e.files()[&m].clone();
        bytes[12] ^= 0x10;
        e.write(&m, &bytes);
        assert_refused(&e, &format!("{name}: damaged live manifest"), &[&m]);
    }
}

#[test]
fn a_torn_last_edit_of_the_live_manifest_is_dropped() {
    for env in Env::both() {
        fill(&env, 100);
        let m = env.manifests().pop().unwrap();
        let mut bytes = env.files()[&m].clone();
        let at = bytes.len() as u64;
        bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x09]);
        env.write(&m, &bytes);
        let db = Db::open(&env.dir, env.opts(false)).unwrap();
        check_all(&db, 100, env.name());
        assert_eq!(db.recovery_report().manifest_tail_dropped_at, Some(at), "{}", env.name());
        assert_eq!(db.recovery_report().current_recovered, None);
    }
}

#[test]
fn a_directory_with_wal_or_table_files_is_never_initialised() {
    for env in Env::both() {
        env.fs.create_dir_all(&env.dir).unwrap();
        env.write("notes.tmp", b"my notes");
        env.write("report.sst", b"a report");
        env.write("000123.log", b"my log, not a WAL");
        assert_refused(&env, &format!("{}: stray WAL name", env.name()), &["000123.log"]);
    }
}

#[test]
fn foreign_files_beside_a_new_database_are_never_touched() {
    for env in Env::both() {
        env.fs.create_dir_all(&env.dir).unwrap();
        let foreign: [(&str, &[u8]); 4] = [
            ("notes.tmp", b"my notes"),
            ("report.sst", b"a report"),
            ("CURRENT.tmp", b"not ours either"),
            ("000123.log.bak", b"backup"),
        ];
        for (name, data) in foreign {
            env.write(name, data);
        }
        fill(&env, 500);
        let db = Db::open(&env.dir, env.opts(false)).unwrap();
        db.compact_range(&db.default_cf(), None, None).unwrap();
        db.close().unwrap();
        let files = env.files();
        for (name, data) in foreign {
            assert_eq!(files.get(name).map(Vec::as_slice), Some(data), "{}: {name}", env.name());
        }
    }
}

#[test]
fn only_provable_leftovers_are_deleted() {
    for env in Env::both() {
        fill(&env, 200);
        // Strata's own temporary leftovers go; a foreign table and a foreign old WAL stay.
        env.write("CURRENT.strata-tmp", b"MANIFEST-0000");
        env.write("MANIFEST-000050.strata-tmp", b"half a manifest");
        env.write("000777.sst", b"not a table at all");
        env.write("000001.log", b"not a WAL either, and below the log number");
        let db = Db::open(&env.dir, env.opts(false)).unwrap();
        let report = db.recovery_report().clone();
        assert_eq!(report.unrecognised_files, vec!["000001.log".to_string(), "000777.sst".to_string()]);
        assert!(db.property("strata.recovery").unwrap().contains("000777.sst"));
        for i in 0..200 {
            db.put(key(i), "w").unwrap();
        }
        db.flush().unwrap();
        db.compact_range(&db.default_cf(), None, None).unwrap();
        db.close().unwrap();
        drop(Db::open(&env.dir, env.opts(false)).unwrap());
        let files = env.files();
        assert!(!files.contains_key("CURRENT.strata-tmp"), "{}", env.name());
        assert!(!files.contains_key("MANIFEST-000050.strata-tmp"), "{}", env.name());
        assert_eq!(files.get("000777.sst").map(Vec::as_slice), Some(&b"not a table at all"[..]));
        assert!(files.contains_key("000001.log"), "{}", env.name());
    }
}

#[test]
fn no_database_is_not_found_or_created() {
    for env in Env::both() {
        let err = Db::open(&env.dir, env.opts(false)).unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let err = Db::open_read_only(&env.dir, env.opts(true)).unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let db = Db::open(&env.dir, env.opts(true)).unwrap();
        assert!(db.recovery_report().created);
    }
}

/// A crash at every file-system operation of a read-write open (its manifest rollover) and of
/// a flush that rolls the manifest over, followed by the loss of `CURRENT`: the next open has
/// every synced write or refuses, and never deletes a table or manifest.
#[test]
fn crash_in_a_rollover_then_current_lost() {
    for flush_rolls in [false, true] {
        let mut opened = 0;
        let mut refused = 0;
        for n in 0.. {
            let env = Env::sim();
            let sim = env.sim.clone().unwrap();
            fill(&env, 50);
            let mut opts = env.opts(true);
            if flush_rolls {
                opts.manifest_size_limit = 1;
            }
            let sync = WriteOptions { sync: true, ..Default::default() };
            let base = sim.op_count();
            sim.fail_after(Some(base + n));
            let done = (|| -> strata::Result<()> {
                let db = Db::open(&env.dir, opts.clone())?;
                if flush_rolls {
                    db.put_opt(&sync, "late", "1")?;
                    db.flush()?;
                }
                db.close()
            })();
            let reached = sim.op_count() > base + n;
            sim.crash();
            let _ = env.fs.remove_file(&env.path("CURRENT"));
            let before = env.tables_and_manifests();
            match Db::open(&env.dir, env.opts(true)) {
                Ok(db) => {
                    opened += 1;
                    check_all(&db, 50, &format!("fault at op {n}"));
                    if done.is_ok() && flush_rolls {
                        assert_eq!(db.get("late").unwrap().as_deref(), Some(&b"1"[..]), "op {n}");
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(matches!(e, Error::Corruption { .. }), "fault at op {n}: {e}");
                }
            }
            let after = env.tables_and_manifests();
            assert!(before.is_subset(&after), "op {n}: deleted {:?}", before.difference(&after));
            if !reached {
                assert!(done.is_ok(), "{done:?}");
                break;
            }
        }
        assert!(opened > 0, "no crash point opened ({refused} refused)");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random histories, then `CURRENT` deleted or damaged: the open that follows (read-write
    /// or read-only, either `create_if_missing`) never deletes a table or manifest, and when
    /// it opens, it holds exactly the synced writes.
    #[test]
    fn damaged_current_after_random_histories(
        ops in prop::collection::vec((0u8..6, 0u32..40), 1..60),
        damage in 0usize..DAMAGES.len(),
        create in any::<bool>(),
        read_only in any::<bool>(),
    ) {
        let env = Env::sim();
        let opts = Options { manifest_size_limit: 256, ..env.opts(true) };
        let sync = WriteOptions { sync: true, ..Default::default() };
        let mut model = BTreeMap::new();
        let mut db = Db::open(&env.dir, opts.clone()).unwrap();
        for (op, k) in ops {
            match op {
                0..=2 => {
                    db.put_opt(&sync, key(k), format!("v{op}")).unwrap();
                    model.insert(key(k), format!("v{op}"));
                }
                3 => {
                    db.delete(key(k)).unwrap();
                    db.put_opt(&sync, "sync-marker", "x").unwrap();
                    model.remove(&key(k));
                    model.insert("sync-marker".into(), "x".into());
                }
                4 => db.flush().unwrap(),
                _ => {
                    db.close().unwrap();
                    db = Db::open(&env.dir, opts.clone()).unwrap();
                }
            }
        }
        db.close().unwrap();
        damage_current(&env, DAMAGES[damage].1);
        let before = env.tables_and_manifests();
        let o = env.opts(create);
        let r = if read_only { Db::open_read_only(&env.dir, o) } else { Db::open(&env.dir, o) };
        let after = env.tables_and_manifests();
        prop_assert!(before.is_subset(&after), "deleted {:?}", before.difference(&after));
        let db = r.unwrap();
        let got: BTreeMap<String, String> = db
            .range::<&[u8], _>(..)
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (String::from_utf8(k.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap())
            })
            .collect();
        prop_assert_eq!(got, model);
    }
}
