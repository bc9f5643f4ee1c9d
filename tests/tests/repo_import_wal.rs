//! Importing a bundle whose snapshot was taken with `flush: false`, so part of its state is in
//! WAL prefixes: as NEW column families of an open database (each family's WAL entries become
//! one L0 table above its bundle tables), as an upsert, and into a new directory. Contents are
//! compared with a `BTreeMap` model of the source at the snapshot's sequence; a damaged, torn
//! or inconsistent WAL prefix is `Corruption` naming it in every mode with nothing left behind;
//! a crash at every file-system operation of the import leaves every family whole or absent.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use strata::{Db, Error, FileSystem, Options, SimFs};
use strata_checkpoint::repo::format::{FileKind, KIND_BUNDLE, SnapshotRecord, frame, unframe};
use strata_checkpoint::repo::{SnapshotOptions, import_into_new_database};
use strata_checkpoint::{ImportMode, ImportOptions, Repository, import};
use strata_tests::fault_fs::overwrite_file;
use strata_tests::{dump_cf, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn dopts(sim: &SimFs) -> Options {
    // Memtables large enough that the unflushed writes stay in the WAL until the snapshot.
    Options { fs: Some(sim.arc()), disable_auto_compactions: true, write_buffer_size: 4 << 20, ..small_options() }
}

fn dump_named(db: &Db, name: &str) -> Map {
    dump_cf(db, &db.cf(name).unwrap_or_else(|| panic!("no family {name}")), &strata::ReadOptions::default())
}

fn k(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

/// What the source held at its snapshot: each family's model and the snapshot's sequence.
struct Source {
    model: BTreeMap<String, Map>,
    sequence: u64,
}

/// A write to the source, mirrored in the model.
fn put(db: &Db, model: &mut BTreeMap<String, Map>, cf: &str, key: Vec<u8>, value: String) {
    db.put_cf(&db.cf(cf).unwrap(), &key, value.as_bytes()).unwrap();
    model.get_mut(cf).unwrap().insert(key, value.into_bytes());
}

fn del(db: &Db, model: &mut BTreeMap<String, Map>, cf: &str, key: Vec<u8>) {
    db.delete_cf(&db.cf(cf).unwrap(), &key).unwrap();
    model.get_mut(cf).unwrap().remove(&key);
}

/// The source `/src`: `users` and `orders` with tables at L0 and deeper, then unflushed puts,
/// overwrites and deletes that shadow table entries (several versions of some keys); a
/// snapshot with `flush: false` into `/repo`, exported to `/bundle`; then more writes the
/// bundle must not hold.
fn make_wal_bundle(sim: &SimFs) -> Source {
    let src = Db::open("/src", dopts(sim)).unwrap();
    let mut model: BTreeMap<String, Map> =
        ["default", "users", "orders"].iter().map(|n| (n.to_string(), Map::new())).collect();
    src.create_cf("users").unwrap();
    src.create_cf("orders").unwrap();
    for round in 0..2u32 {
        for i in 0..120 {
            put(&src, &mut model, "users", k(i), format!("u{round}-{i}-{}", "x".repeat(30)));
            if i % 3 == 0 {
                put(&src, &mut model, "orders", k(i * 2), format!("o{round}-{i}"));
            }
        }
        put(&src, &mut model, "default", k(round), "default value".into());
        src.flush().unwrap();
        if round == 0 {
            src.compact_range(&src.cf("users").unwrap(), None, None).unwrap();
        }
    }
    // Unflushed: overwrites and deletes of table entries, new keys, several versions of a key.
    for i in (0..120).step_by(7) {
        put(&src, &mut model, "users", k(i), format!("wal-{i}"));
    }
    for i in (3..120).step_by(11) {
        del(&src, &mut model, "users", k(i));
    }
    for i in (0..120).step_by(9) {
        del(&src, &mut model, "orders", k(i * 2));
    }
    for v in 0..4 {
        put(&src, &mut model, "orders", k(1000), format!("version {v}"));
    }
    del(&src, &mut model, "orders", k(1001));
    put(&src, &mut model, "orders", k(1001), "after its delete".into());
    put(&src, &mut model, "default", k(7), "unflushed default".into());
    put(&src, &mut model, "users", k(5000), "last write".into());
    for (name, m) in &model {
        assert_eq!(&dump_named(&src, name), m, "the model of {name}");
    }
    let repo = Repository::create_with(
        "/repo",
        strata_checkpoint::repo::RepositoryOptions { fs: Some(sim.arc()), ..Default::default() },
    )
    .unwrap();
    let s = repo.create_snapshot(&src, &SnapshotOptions { flush: false, ..Default::default() }).unwrap();
    assert_eq!(s.sequence, src.sequence());
    repo.export(s.id, "/bundle").unwrap();
    assert!(sim.list(Path::new("/bundle")).unwrap().iter().any(|n| n.ends_with(".log")), "no WAL prefix in the bundle");
    for i in 0..50 {
        src.put_cf(&src.cf("users").unwrap(), k(i), "after the snapshot").unwrap();
        src.delete_cf(&src.cf("orders").unwrap(), k(1000)).unwrap();
    }
    src.flush().unwrap();
    Source { model, sequence: s.sequence }
}

/// The target `/dst`: its own `default` data and a `users` family overlapping the bundle's
/// keys, with fewer sequence numbers used than the source (so the import must raise them).
fn make_target(sim: &SimFs) -> Db {
    let dst = Db::open("/dst", dopts(sim)).unwrap();
    let users = dst.create_cf("users").unwrap();
    for i in 100..140 {
        dst.put_cf(&users, k(i), format!("target-{i}")).unwrap();
    }
    dst.put(b"mine", b"target default").unwrap();
    dst.flush().unwrap();
    drop(dst);
    Db::open("/dst", dopts(sim)).unwrap()
}

fn opts(mode: ImportMode, pairs: &[(&str, &str)]) -> ImportOptions {
    ImportOptions {
        column_families: pairs.iter().map(|(a, b)| ((*a).to_string(), (*b).to_string())).collect(),
        mode,
        ..Default::default()
    }
}

fn no_temporaries(sim: &SimFs, ctx: &str) {
    let left: Vec<String> = sim.list(Path::new("/")).unwrap().into_iter().filter(|n| n.contains("tmp")).collect();
    assert!(left.is_empty(), "{ctx}: temporary {left:?} left");
}

/// Checks the L0 order of family `cf`: the table holding the largest sequence number (the
/// one made of the WAL prefixes) has the largest epoch.
fn newest_l0_is_the_wal_table(db: &Db, cf: &str) {
    let id = db.cf(cf).unwrap().id();
    let live = db.live_files(false).unwrap();
    let l0: Vec<_> = live.tables.iter().filter(|t| t.cf_id == id && t.level == 0).collect();
    let newest = l0.iter().max_by_key(|t| t.meta.largest_seq).expect("an L0 table");
    assert!(l0.iter().all(|t| t.meta.epoch <= newest.meta.epoch), "{cf}: the WAL table is not the newest L0");
    assert!(live.tables.iter().filter(|t| t.cf_id == id).count() >= 2, "{cf}: bundle tables missing");
}

#[test]
fn wal_prefixes_become_tables_of_new_families() {
    let sim = SimFs::new();
    let src = make_wal_bundle(&sim);
    let dst = make_target(&sim);
    assert!(dst.sequence() < src.sequence);
    let before_users = dump_named(&dst, "users");
    let pairs = [("users", "u2"), ("orders", "o2")];
    let info = import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &pairs)).unwrap();
    assert_eq!(info.column_families, ["u2", "o2"]);
    assert!(info.entries > 0, "{info:?}");
    assert_eq!(dump_named(&dst, "u2"), src.model["users"]);
    assert_eq!(dump_named(&dst, "o2"), src.model["orders"]);
    // Deletes in the WAL shadow table entries; the last write (to users) sets the sequence.
    assert_eq!(dst.get_cf(&dst.cf("u2").unwrap(), k(3)).unwrap(), None);
    assert_eq!(dst.get_cf(&dst.cf("o2").unwrap(), k(1000)).unwrap().unwrap(), &b"version 3"[..]);
    assert_eq!(dst.sequence(), src.sequence, "raised to the largest imported sequence");
    assert_eq!(dump_named(&dst, "users"), before_users);
    newest_l0_is_the_wal_table(&dst, "u2");
    newest_l0_is_the_wal_table(&dst, "o2");
    no_temporaries(&sim, "after the import");
    // After a reopen and after a compaction, the same contents.
    drop(dst);
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    assert_eq!(dump_named(&dst, "u2"), src.model["users"]);
    for cf in ["u2", "o2"] {
        dst.compact_range(&dst.cf(cf).unwrap(), None, None).unwrap();
    }
    assert_eq!(dump_named(&dst, "u2"), src.model["users"]);
    assert_eq!(dump_named(&dst, "o2"), src.model["orders"]);
    // Later writes sit above the imported ones, through a flush, a compaction and a reopen.
    let mut users = src.model["users"].clone();
    let mut orders = src.model["orders"].clone();
    let (u2, o2) = (dst.cf("u2").unwrap(), dst.cf("o2").unwrap());
    for i in (0..130).step_by(5) {
        dst.put_cf(&u2, k(i), "later").unwrap();
        users.insert(k(i), b"later".to_vec());
    }
    dst.delete_cf(&o2, k(1000)).unwrap();
    orders.remove(&k(1000));
    dst.put_cf(&o2, k(1001), "later").unwrap();
    orders.insert(k(1001), b"later".to_vec());
    assert_eq!(dump_named(&dst, "u2"), users);
    dst.flush().unwrap();
    dst.compact_range(&u2, None, None).unwrap();
    drop(dst);
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    assert_eq!(dump_named(&dst, "u2"), users);
    assert_eq!(dump_named(&dst, "o2"), orders);
    assert_eq!(dst.get(b"mine").unwrap().unwrap(), &b"target default"[..]);
    // `default` (its WAL entries included) under a new name, in a second import.
    import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("default", "d2")])).unwrap();
    assert_eq!(dump_named(&dst, "d2"), src.model["default"]);
}

#[test]
fn a_family_held_only_by_wal_prefixes_is_imported() {
    let sim = SimFs::new();
    let src = Db::open("/src", dopts(&sim)).unwrap();
    let fresh = src.create_cf("fresh").unwrap();
    src.put(b"flushed", b"1").unwrap();
    src.flush().unwrap();
    src.put_cf(&fresh, b"a", b"1").unwrap();
    src.put_cf(&fresh, b"a", b"2").unwrap();
    src.put_cf(&fresh, b"b", b"3").unwrap();
    src.delete_cf(&fresh, b"b").unwrap();
    let repo = Repository::create_with(
        "/repo",
        strata_checkpoint::repo::RepositoryOptions { fs: Some(sim.arc()), ..Default::default() },
    )
    .unwrap();
    let s = repo.create_snapshot(&src, &SnapshotOptions { flush: false, ..Default::default() }).unwrap();
    repo.export(s.id, "/bundle").unwrap();
    let dst = make_target(&sim);
    let info = import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("fresh", "f")])).unwrap();
    assert_eq!((info.tables, info.entries), (1, 4), "{info:?}");
    let want: Map = [(b"a".to_vec(), b"2".to_vec())].into_iter().collect();
    assert_eq!(dump_named(&dst, "f"), want);
    assert!(dst.sequence() >= s.sequence);
    // A family with neither tables nor WAL entries is still refused, and nothing is left.
    src.create_cf("empty").unwrap();
    let s = repo.create_snapshot(&src, &SnapshotOptions { flush: false, ..Default::default() }).unwrap();
    repo.export(s.id, "/bundle2").unwrap();
    let r = import(&dst, "/bundle2", &opts(ImportMode::NewColumnFamilies, &[("empty", "e")]));
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    assert!(dst.cf("e").is_none());
    no_temporaries(&sim, "after the refusal");
}

#[test]
fn upsert_and_a_new_directory_hold_the_same_contents() {
    let sim = SimFs::new();
    let src = make_wal_bundle(&sim);
    // Into a new directory: every family, `users` renamed; the WAL prefixes replay at open.
    let renamed = opts(ImportMode::NewColumnFamilies, &[("users", "u2")]);
    import_into_new_database(sim.arc(), "/bundle", "/new", &renamed).unwrap();
    let db = Db::open("/new", dopts(&sim)).unwrap();
    assert_eq!(dump_named(&db, "u2"), src.model["users"]);
    assert_eq!(dump_named(&db, "orders"), src.model["orders"]);
    assert_eq!(dump_named(&db, "default"), src.model["default"]);
    assert_eq!(db.sequence(), src.sequence);
    let u2 = db.cf("u2").unwrap();
    db.put_cf(&u2, k(0), "later").unwrap();
    db.compact_range(&u2, None, None).unwrap();
    drop(db);
    let db = Db::open("/new", dopts(&sim)).unwrap();
    let mut users = src.model["users"].clone();
    users.insert(k(0), b"later".to_vec());
    assert_eq!(dump_named(&db, "u2"), users);
    drop(db);
    // As an upsert: the bundle's visible entries (WAL entries included) over the target's.
    let dst = make_target(&sim);
    let mut expect = dump_named(&dst, "users");
    expect.extend(src.model["users"].clone());
    import(&dst, "/bundle", &opts(ImportMode::Upsert, &[("users", "users")])).unwrap();
    assert_eq!(dump_named(&dst, "users"), expect);
    no_temporaries(&sim, "after the upsert");
}

/// The bundle's WAL prefix file names.
fn wal_names(sim: &SimFs) -> Vec<String> {
    let mut n: Vec<String> =
        sim.list(Path::new("/bundle")).unwrap().into_iter().filter(|n| n.ends_with(".log")).collect();
    n.sort();
    n
}

/// Every file of `/bundle`, by name.
fn bundle_files(sim: &SimFs) -> BTreeMap<String, Vec<u8>> {
    let dir = Path::new("/bundle");
    sim.list(dir).unwrap().into_iter().map(|n| (n.clone(), sim.read_all(&dir.join(&n)).unwrap().to_vec())).collect()
}

fn put_bundle(sim: &SimFs, files: &BTreeMap<String, Vec<u8>>) {
    for (n, b) in files {
        overwrite_file(sim, &Path::new("/bundle").join(n), b).unwrap();
    }
}

/// Rewrites `snapshot.json` with `edit` applied, correctly framed.
fn tamper(sim: &SimFs, edit: impl FnOnce(&mut SnapshotRecord)) {
    let p = Path::new("/bundle/snapshot.json");
    let mut r: SnapshotRecord = unframe(KIND_BUNDLE, &sim.read_all(p).unwrap(), p).unwrap();
    edit(&mut r);
    overwrite_file(sim, p, &frame(KIND_BUNDLE, &r).unwrap()).unwrap();
}

/// Makes the metadata agree with WAL file `name`'s present bytes (size and CRC32), so only a
/// strict read of its records can find what is wrong with it.
fn reseal(sim: &SimFs, name: &str) {
    let bytes = sim.read_all(&Path::new("/bundle").join(name)).unwrap();
    tamper(sim, |r| {
        let f = r.files.iter_mut().find(|f| f.kind == FileKind::Wal && f.name == name).unwrap();
        f.size = bytes.len() as u64;
        f.checksum = strata_base::checksum::crc32(&bytes);
    });
}

/// The families of the import as new families, and their new names.
const NEW_PAIRS: [(&str, &str); 2] = [("users", "u2"), ("orders", "o2")];

/// Runs every mode on the present bundle and checks each is `Corruption` naming `name` at an
/// offset at most `at_most`, with the database, its directory and the new directory untouched.
fn every_mode_refuses(sim: &SimFs, dst: &Db, name: &str, at_most: u64, what: &str) {
    let dir_before: BTreeMap<String, u64> = sim
        .list(Path::new("/dst"))
        .unwrap()
        .into_iter()
        .map(|n| {
            let size = sim.file_size(&Path::new("/dst").join(&n)).unwrap();
            (n, size)
        })
        .collect();
    let (names, seq) = (dst.cf_names(), dst.sequence());
    let results = [
        ("new families", import(dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &NEW_PAIRS)).map(|_| ())),
        ("upsert", import(dst, "/bundle", &opts(ImportMode::Upsert, &[("users", "users")])).map(|_| ())),
        (
            "new directory",
            import_into_new_database(sim.arc(), "/bundle", "/new", &ImportOptions::default()).map(|_| ()),
        ),
    ];
    for (mode, r) in results {
        let ctx = format!("{what}, {mode}");
        match &r {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, &PathBuf::from("/bundle").join(name), "{ctx}: {r:?}");
                assert!(*offset <= at_most, "{ctx}: offset {offset} is past {at_most}");
            }
            other => panic!("{ctx}: expected Corruption, got {other:?}"),
        }
        assert_eq!((dst.cf_names(), dst.sequence()), (names.clone(), seq), "{ctx}: database changed");
        let after: BTreeMap<String, u64> = sim
            .list(Path::new("/dst"))
            .unwrap()
            .into_iter()
            .map(|n| {
                let size = sim.file_size(&Path::new("/dst").join(&n)).unwrap();
                (n, size)
            })
            .collect();
        assert_eq!(after, dir_before, "{ctx}: database directory changed");
        assert!(!sim.exists(Path::new("/new")), "{ctx}: new directory left");
        no_temporaries(sim, &ctx);
    }
}

#[test]
fn a_damaged_wal_prefix_is_corruption_naming_it_in_every_mode() {
    let sim = SimFs::new();
    make_wal_bundle(&sim);
    let dst = make_target(&sim);
    let pristine = bundle_files(&sim);
    let names = wal_names(&sim);
    assert!(!names.is_empty());
    for name in &names {
        let bytes = &pristine[name];
        let path = Path::new("/bundle").join(name);
        // A flipped byte: the metadata's checksum catches it; a strict read locates the record.
        for at in [bytes.len() / 3, bytes.len() - 2] {
            let mut b = bytes.clone();
            b[at] ^= 0x20;
            overwrite_file(&sim, &path, &b).unwrap();
            every_mode_refuses(&sim, &dst, name, at as u64, &format!("{name}: byte {at} flipped"));
            put_bundle(&sim, &pristine);
        }
        // Torn (cut inside its last record): the size check catches it, a strict read locates it.
        overwrite_file(&sim, &path, &bytes[..bytes.len() - 3]).unwrap();
        every_mode_refuses(&sim, &dst, name, bytes.len() as u64, &format!("{name}: torn"));
        // Torn with metadata that agrees: only the strict read catches it, never a silently
        // dropped tail (recovery's default mode would drop it).
        reseal(&sim, name);
        every_mode_refuses(&sim, &dst, name, bytes.len() as u64, &format!("{name}: torn, resealed"));
        put_bundle(&sim, &pristine);
    }
    // Metadata whose sequence is below the writes its WAL prefixes hold.
    tamper(&sim, |r| r.sequence -= 1);
    every_mode_refuses(&sim, &dst, names.last().unwrap(), u64::MAX, "sequence below the WAL's writes");
    put_bundle(&sim, &pristine);
    // The intact bundle still imports.
    import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("users", "u2")])).unwrap();
    assert_eq!(bundle_files(&sim), pristine, "the bundle was written");
}

/// After a crash in an import of two new families with WAL prefixes: the database opens, both
/// families are whole or both absent, every table in the directory is live, and a retried
/// import succeeds (removing a staging directory the crash left).
fn check_after_crash(sim: &SimFs, src: &Source, before: &BTreeMap<String, Map>, ok: bool, ctx: &str) {
    let dst = Db::open("/dst", dopts(sim)).unwrap_or_else(|e| panic!("{ctx}: database does not open: {e}"));
    let have: BTreeMap<String, Map> = dst.cf_names().iter().map(|n| (n.clone(), dump_named(&dst, n))).collect();
    if have.contains_key("u2") {
        assert_eq!(have["u2"], src.model["users"], "{ctx}");
        assert_eq!(have.get("o2"), Some(&src.model["orders"]), "{ctx}: only some families imported");
        assert!(dst.sequence() >= src.sequence, "{ctx}: last sequence not raised");
    } else {
        assert!(!ok, "{ctx}: acknowledged import lost");
        assert_eq!(&have, before, "{ctx}: partial import");
        let info = import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("users", "u2"), ("orders", "o2")]))
            .unwrap_or_else(|e| panic!("{ctx}: import after the crash: {e}"));
        assert!(info.entries > 0);
        assert_eq!(dump_named(&dst, "u2"), src.model["users"], "{ctx}: retried import");
        no_temporaries(sim, ctx);
    }
    let live: Vec<String> = dst
        .live_files(false)
        .unwrap()
        .tables
        .iter()
        .map(|t| t.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in sim.list(Path::new("/dst")).unwrap() {
        assert!(!name.contains("tmp"), "{ctx}: temporary {name} left");
        if name.ends_with(".sst") {
            assert!(live.contains(&name), "{ctx}: stray table {name}");
        }
    }
}

#[test]
fn crash_at_every_step_of_a_wal_import() {
    // The bundle is made once and copied into a fresh file system for every crash point.
    let base = SimFs::new();
    let src = make_wal_bundle(&base);
    let bundle = bundle_files(&base);
    let pairs = [("users", "u2"), ("orders", "o2")];
    for n in 0.. {
        let sim = SimFs::new();
        sim.create_dir_all(Path::new("/bundle")).unwrap();
        for (name, b) in &bundle {
            let mut f = sim.create(&Path::new("/bundle").join(name)).unwrap();
            f.append(b).unwrap();
            f.sync().unwrap();
        }
        sim.sync_dir(Path::new("/bundle")).unwrap();
        let dst = make_target(&sim);
        let before: BTreeMap<String, Map> = dst.cf_names().iter().map(|n| (n.clone(), dump_named(&dst, n))).collect();
        sim.fail_after(Some(sim.op_count() + n));
        let ok = import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &pairs)).is_ok();
        sim.fail_after(None);
        drop(dst);
        sim.crash();
        check_after_crash(&sim, &src, &before, ok, &format!("crash at step {n}"));
        if ok {
            assert!(n > 10, "the import took only {n} file-system operations");
            return;
        }
    }
}
