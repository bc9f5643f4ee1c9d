//! `strata_checkpoint::import`: a bundle exported from a snapshot repository brought into
//! ANOTHER open database, as new column families (tables keep their sequence numbers) or as an
//! upsert into existing ones; every refusal leaves the database and its directory unchanged;
//! a crash at every file-system operation leaves every imported family or none, and no stray
//! file in the database directory.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure here is a test failure")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use strata::{Db, Error, FileSystem, Options, ReadOptions, SimFs};
use strata_checkpoint::repo::format::{KIND_BUNDLE, SnapshotRecord, frame, unframe};
use strata_checkpoint::repo::{Progress, SnapshotOptions};
use strata_checkpoint::{ImportMode, ImportOptions, Repository, import};
use strata_tests::{dump_cf, small_options};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn dopts(sim: &SimFs) -> Options {
    Options { fs: Some(sim.arc()), disable_auto_compactions: true, ..small_options() }
}

fn dump_named(db: &Db, name: &str) -> Map {
    dump_cf(db, &db.cf(name).unwrap_or_else(|| panic!("no family {name}")), &ReadOptions::default())
}

fn k(i: u32) -> Vec<u8> {
    format!("k{i:05}").into_bytes()
}

/// The source: `users` and `orders` with several versions per key and tombstones spread over
/// several tables; snapshot into `/repo`, export to `/bundle`, then more writes that the bundle
/// must not hold. Returns each family's contents at the snapshot.
fn make_bundle(sim: &SimFs, flush: bool) -> BTreeMap<String, Map> {
    let src = Db::open("/src", dopts(sim)).unwrap();
    let users = src.create_cf("users").unwrap();
    let orders = src.create_cf("orders").unwrap();
    for round in 0..3u32 {
        for i in 0..150 {
            src.put_cf(&users, k(i), format!("u{round}-{i}-{}", "x".repeat(40))).unwrap();
            if i % 3 == 0 {
                src.put_cf(&orders, k(i * 2), format!("o{round}-{i}")).unwrap();
            }
        }
        for i in (round * 10..round * 10 + 10).step_by(2) {
            src.delete_cf(&users, k(i)).unwrap();
        }
        src.put(k(round), "default value").unwrap();
        src.flush().unwrap();
    }
    if !flush {
        src.put_cf(&users, k(9999), "unflushed").unwrap();
    }
    let repo = Repository::create_with(
        "/repo",
        strata_checkpoint::repo::RepositoryOptions { fs: Some(sim.arc()), ..Default::default() },
    )
    .unwrap();
    let s = repo.create_snapshot(&src, &SnapshotOptions { flush, ..Default::default() }).unwrap();
    let want: BTreeMap<String, Map> =
        ["default", "users", "orders"].iter().map(|n| ((*n).to_string(), dump_named(&src, n))).collect();
    assert_eq!(s.sequence, src.sequence());
    repo.export(s.id, "/bundle").unwrap();
    for i in 0..50 {
        src.put_cf(&users, k(i), "after the snapshot").unwrap();
    }
    src.flush().unwrap();
    want
}

/// The target database `/dst`: its own `default` data and a `users` family overlapping the
/// bundle's keys, with more sequence numbers used than the bundle's so both orders are tried.
fn make_target(sim: &SimFs) -> Db {
    let dst = Db::open("/dst", dopts(sim)).unwrap();
    let users = dst.create_cf("users").unwrap();
    for i in 100..200 {
        dst.put_cf(&users, k(i), format!("target-{i}")).unwrap();
    }
    dst.put(b"mine", b"target default").unwrap();
    dst.flush().unwrap();
    // Closed and reopened, so that no background deletion of the flushed WAL is pending when
    // the tests compare directory listings.
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

/// Every file of `dir`, recursively, with its bytes.
fn files(sim: &SimFs, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for name in sim.list(dir).unwrap() {
        let p = dir.join(&name);
        if sim.is_dir(&p) {
            for (n, b) in files(sim, &p) {
                out.insert(format!("{name}/{n}"), b);
            }
        } else {
            out.insert(name, sim.read_all(&p).unwrap().to_vec());
        }
    }
    out
}

/// Each family's contents, for an "unchanged" check.
fn state(db: &Db) -> BTreeMap<String, Map> {
    db.cf_names().iter().map(|n| (n.clone(), dump_named(db, n))).collect()
}

#[test]
fn full_cycle_into_another_database_under_new_names() {
    let sim = SimFs::new();
    let want = make_bundle(&sim, true);
    let dst = make_target(&sim);
    let before_seq = dst.sequence();
    let info =
        import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("users", "users_copy"), ("orders", "o2")]))
            .unwrap();
    assert_eq!(info.column_families, ["users_copy", "o2"]);
    assert!(info.tables >= 4, "{info:?}");
    assert_eq!(dump_named(&dst, "users_copy"), want["users"]);
    assert_eq!(dump_named(&dst, "o2"), want["orders"]);
    assert!(
        !want["users"].contains_key(&k(20)) && !dump_named(&dst, "users_copy").contains_key(&k(20)),
        "the source deleted k20 last: the tombstone came along"
    );
    // The target's own data is untouched; its last sequence is raised above the imported data.
    assert_eq!(dump_named(&dst, "users").len(), 100);
    assert!(dst.sequence() > before_seq, "the last sequence number is raised to the imported tables'");
    let copy = dst.cf("users_copy").unwrap();
    dst.put_cf(&copy, k(5), "later").unwrap();
    dst.delete_cf(&copy, k(7)).unwrap();
    assert_eq!(dst.get_cf(&copy, k(5)).unwrap().unwrap(), &b"later"[..]);
    assert_eq!(dst.get_cf(&copy, k(7)).unwrap(), None);
    let mut expect = want["users"].clone();
    expect.insert(k(5), b"later".to_vec());
    expect.remove(&k(7));
    // After a flush, a compaction and a reopen the later writes still win.
    dst.flush().unwrap();
    dst.compact_range(&copy, None, None).unwrap();
    drop(dst);
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    assert_eq!(dump_named(&dst, "users_copy"), expect);
    assert_eq!(dump_named(&dst, "o2"), want["orders"]);
    // Importing everything else: default under a new name works too.
    import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("default", "old_default")])).unwrap();
    assert_eq!(dump_named(&dst, "old_default"), want["default"]);
    assert_eq!(dst.get(b"mine").unwrap().unwrap(), &b"target default"[..]);
}

#[test]
fn upsert_into_an_existing_family() {
    let sim = SimFs::new();
    let want = make_bundle(&sim, true);
    let dst = make_target(&sim);
    let users = dst.cf("users").unwrap();
    // k00020 is deleted last in the bundle: the target's value stays (tombstones are dropped).
    dst.put_cf(&users, k(20), "only in the target").unwrap();
    let mut expect = dump_named(&dst, "users");
    for (key, v) in &want["users"] {
        expect.insert(key.clone(), v.clone());
    }
    let snap = dst.snapshot();
    let info =
        import(&dst, "/bundle", &opts(ImportMode::Upsert, &[("users", "users"), ("orders", "default")])).unwrap();
    assert_eq!(info.entries as usize, want["users"].len() + want["orders"].len());
    assert_eq!(dump_named(&dst, "users"), expect);
    assert_eq!(dst.get_cf(&users, k(20)).unwrap().unwrap(), &b"only in the target"[..]);
    assert_eq!(dst.get_cf(&users, k(149)).unwrap().unwrap(), want["users"][&k(149)].as_slice());
    assert_eq!(dst.get(k(6)).unwrap().unwrap(), want["orders"][&k(6)].as_slice());
    assert_eq!(dst.get(b"mine").unwrap().unwrap(), &b"target default"[..]);
    // A read snapshot taken before still sees the old values.
    let old = dst.get_cf_opt(&users, &ReadOptions { snapshot: Some(&snap), ..Default::default() }, k(150));
    assert_eq!(old.unwrap().unwrap(), &b"target-150"[..]);
    let new = dst.get_cf_opt(&users, &ReadOptions { snapshot: Some(&snap), ..Default::default() }, k(120));
    assert_eq!(new.unwrap().unwrap(), &b"target-120"[..]);
    drop(snap);
    // Later writes sit above the upserted data; nothing temporary is left beside the database.
    dst.put_cf(&users, k(120), "later").unwrap();
    assert_eq!(dst.get_cf(&users, k(120)).unwrap().unwrap(), &b"later"[..]);
    assert!(!sim.list(Path::new("/")).unwrap().iter().any(|n| n.contains("tmp")));
    drop(dst);
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    expect.insert(k(120), b"later".to_vec());
    assert_eq!(dump_named(&dst, "users"), expect);
}

/// Rewrites `/bundle/snapshot.json` with `edit` applied, correctly framed (so only the
/// import's own checks can refuse it). Every file keeps its `key` and `name` in the JSON, as
/// metadata format version 1 wrote them (version 2 leaves them out and readers derive them),
/// so an edited key or name reaches the reader.
fn tamper(sim: &SimFs, edit: impl FnOnce(&mut SnapshotRecord)) {
    let p = Path::new("/bundle/snapshot.json");
    let mut r: SnapshotRecord = unframe(KIND_BUNDLE, &sim.read_all(p).unwrap(), p).unwrap();
    edit(&mut r);
    let mut json = serde_json::to_value(&r).unwrap();
    for (j, f) in json["files"].as_array_mut().unwrap().iter_mut().zip(&r.files) {
        j["key"] = serde_json::json!(f.key);
        j["name"] = serde_json::json!(f.name);
    }
    strata_tests::fault_fs::overwrite_file(sim, p, &frame(KIND_BUNDLE, &json).unwrap()).unwrap();
}

#[test]
fn every_refusal_leaves_the_database_unchanged() {
    let sim = SimFs::new();
    make_bundle(&sim, true);
    let dst = make_target(&sim);
    let pristine_bundle = files(&sim, Path::new("/bundle"));
    let restore_bundle = || {
        for (n, b) in &pristine_bundle {
            strata_tests::fault_fs::overwrite_file(&sim, &Path::new("/bundle").join(n), b).unwrap();
        }
    };
    let summary = |sim: &SimFs| -> BTreeMap<String, (usize, u32)> {
        let f = files(sim, Path::new("/dst"));
        f.into_iter().map(|(n, b)| (n, (b.len(), strata_base::checksum::crc32(&b)))).collect()
    };
    let before_state = state(&dst);
    let before = (summary(&sim), dst.sequence());
    let new = ImportMode::NewColumnFamilies;
    let check = |r: strata::Result<strata_checkpoint::ImportInfo>, what: &str, ok: &dyn Fn(&Error) -> bool| {
        let e = r.expect_err(what);
        assert!(ok(&e), "{what}: {e:?}");
        assert!(state(&dst) == before_state, "{what}: contents changed");
        assert_eq!((summary(&sim), dst.sequence()), before, "{what}: database directory changed");
        assert!(!sim.list(Path::new("/")).unwrap().iter().any(|n| n.contains("tmp")), "{what}: temporary left");
        e
    };
    let invalid = |e: &Error| matches!(e, Error::InvalidArgument(_));
    let corrupt = |e: &Error| matches!(e, Error::Corruption { .. });
    check(import(&dst, "/bundle", &opts(new, &[("users", "users")])), "name clash", &invalid);
    check(import(&dst, "/bundle", &opts(new, &[])), "default clashes", &invalid);
    check(import(&dst, "/bundle", &opts(new, &[("users", "a"), ("orders", "a")])), "one name twice", &invalid);
    let nf = |e: &Error| matches!(e, Error::ColumnFamilyNotFound(_));
    check(import(&dst, "/bundle", &opts(new, &[("nope", "a")])), "not in the bundle", &nf);
    check(import(&dst, "/bundle", &opts(ImportMode::Upsert, &[("users", "nope")])), "no upsert target", &nf);
    check(import(&dst, "/nowhere", &opts(new, &[("users", "a")])), "no bundle", &|e| matches!(e, Error::NotFound(_)));
    // Cancellation, in both modes, at every file.
    for stop in 0..3 {
        let cancel = Progress::new(move |ev| ev.files_done <= stop);
        for o in [opts(new, &[("users", "users_x")]), opts(ImportMode::Upsert, &[("users", "users")])] {
            let o = ImportOptions { progress: Some(cancel.clone()), ..o };
            check(import(&dst, "/bundle", &o), "cancelled", &|e| matches!(e, Error::Cancelled(_)));
        }
    }
    // Comparator mismatches: the database's, and one family's.
    tamper(&sim, |r| r.comparator = "strata.reverse".into());
    check(import(&dst, "/bundle", &opts(new, &[("users", "a")])), "comparator", &invalid);
    tamper(&sim, |r| r.comparator = pristine_comparator(&pristine_bundle));
    tamper(&sim, |r| r.column_families.iter_mut().for_each(|c| c.comparator = "strata.reverse".into()));
    check(import(&dst, "/bundle", &opts(new, &[("users", "a")])), "family comparator", &invalid);
    check(import(&dst, "/bundle", &opts(ImportMode::Upsert, &[("users", "users")])), "upsert comparator", &invalid);
    restore_bundle();
    // Path traversal and absolute paths in the metadata.
    for bad in ["../000004.sst", "/dst/000004.sst", "sub/../../x.sst", "000004.sst/"] {
        tamper(&sim, |r| r.files[0].name = bad.into());
        check(import(&dst, "/bundle", &opts(new, &[("users", "a")])), bad, &corrupt);
        restore_bundle();
    }
    tamper(&sim, |r| r.files[0].key = "../../etc/passwd".into());
    check(import(&dst, "/bundle", &opts(new, &[("users", "a")])), "bad key", &corrupt);
    restore_bundle();
    // Damaged metadata, a flipped byte in every bundle table, a truncated table.
    let meta = Path::new("/bundle/snapshot.json");
    let mut m = pristine_bundle["snapshot.json"].clone();
    let mid = m.len() / 2;
    m[mid] ^= 1;
    strata_tests::fault_fs::overwrite_file(&sim, meta, &m).unwrap();
    check(import(&dst, "/bundle", &opts(new, &[("users", "a")])), "metadata flip", &corrupt);
    restore_bundle();
    for (name, bytes) in pristine_bundle.iter().filter(|(n, _)| n.ends_with(".sst")) {
        let p = Path::new("/bundle").join(name);
        let mut b = bytes.clone();
        b[bytes.len() / 3] ^= 0x10;
        strata_tests::fault_fs::overwrite_file(&sim, &p, &b).unwrap();
        for mode in [new, ImportMode::Upsert] {
            let pairs: &[(&str, &str)] = if mode == new {
                &[("users", "a"), ("orders", "b"), ("default", "c")]
            } else {
                &[("users", "users"), ("orders", "default")]
            };
            let e = check(import(&dst, "/bundle", &opts(mode, pairs)), "flipped byte", &corrupt);
            assert!(e.to_string().contains(name.as_str()), "{e} does not name {name}");
        }
        strata_tests::fault_fs::overwrite_file(&sim, &p, &b[..b.len() - 1]).unwrap();
        check(
            import(&dst, "/bundle", &opts(new, &[("users", "a"), ("orders", "b"), ("default", "c")])),
            "short",
            &corrupt,
        );
        restore_bundle();
    }
    // The bundle itself is never written.
    assert_eq!(files(&sim, Path::new("/bundle")), pristine_bundle);
    // A read-only database is refused.
    drop(dst);
    let ro = Db::open_read_only("/dst", dopts(&sim)).unwrap();
    assert!(matches!(import(&ro, "/bundle", &opts(new, &[("users", "a")])), Err(Error::InvalidArgument(_))));
}

fn pristine_comparator(bundle: &BTreeMap<String, Vec<u8>>) -> String {
    let p = Path::new("/bundle/snapshot.json");
    unframe::<SnapshotRecord>(KIND_BUNDLE, &bundle["snapshot.json"], p).unwrap().comparator
}

/// A bundle with WAL prefixes imports in both modes (more in `repo_import_wal.rs`).
#[test]
fn a_bundle_with_wal_prefixes_imports_as_new_families_and_upserts() {
    let sim = SimFs::new();
    let want = make_bundle(&sim, false);
    assert!(want["users"].contains_key(&k(9999)));
    let dst = make_target(&sim);
    import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &[("users", "a")])).unwrap();
    assert_eq!(dump_named(&dst, "a"), want["users"]);
    import(&dst, "/bundle", &opts(ImportMode::Upsert, &[("users", "users")])).unwrap();
    assert_eq!(dst.get_cf(&dst.cf("users").unwrap(), k(9999)).unwrap().unwrap(), &b"unflushed"[..]);
}

/// After a crash: the database opens; either every family is there with the bundle's contents
/// or none is (and the rest is as before); every table in the directory is live and nothing
/// temporary is left in it.
fn check_after_crash(sim: &SimFs, want: &BTreeMap<String, Map>, before: &BTreeMap<String, Map>, ok: bool, ctx: &str) {
    let dst = Db::open("/dst", dopts(sim)).unwrap_or_else(|e| panic!("{ctx}: database does not open: {e}"));
    let have = state(&dst);
    let imported = have.contains_key("users_copy");
    if imported {
        assert_eq!(have["users_copy"], want["users"], "{ctx}");
        assert_eq!(have.get("o2"), Some(&want["orders"]), "{ctx}: only some families imported");
        let mut rest = have.clone();
        rest.remove("users_copy");
        rest.remove("o2");
        assert_eq!(&rest, before, "{ctx}");
    } else {
        assert!(!ok, "{ctx}: acknowledged import lost");
        assert_eq!(&have, before, "{ctx}: partial import");
    }
    let live: BTreeSet<String> = dst
        .live_files(false)
        .unwrap()
        .tables
        .iter()
        .map(|t| t.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in sim.list(Path::new("/dst")).unwrap() {
        assert!(!name.contains("tmp"), "{ctx}: temporary {name} left");
        if name.ends_with(".sst") {
            assert!(live.contains(&name), "{ctx}: stray table {name} (live: {live:?})");
        }
    }
}

#[test]
fn crash_at_every_step_of_an_import() {
    let pairs = [("users", "users_copy"), ("orders", "o2")];
    for n in 0.. {
        let sim = SimFs::new();
        let want = make_bundle(&sim, true);
        let dst = make_target(&sim);
        let before = state(&dst);
        sim.fail_after(Some(sim.op_count() + n));
        let ok = import(&dst, "/bundle", &opts(ImportMode::NewColumnFamilies, &pairs)).is_ok();
        sim.fail_after(None);
        drop(dst);
        sim.crash();
        check_after_crash(&sim, &want, &before, ok, &format!("import, crash at step {n}"));
        if ok {
            assert!(n > 5, "import took only {n} file-system operations");
            return;
        }
    }
}

#[test]
fn crash_at_every_step_of_an_upsert() {
    for n in 0.. {
        let sim = SimFs::new();
        let want = make_bundle(&sim, true);
        let dst = make_target(&sim);
        let before = state(&dst);
        let mut after = before.clone();
        for (key, v) in &want["users"] {
            after.get_mut("users").unwrap().insert(key.clone(), v.clone());
        }
        for (key, v) in &want["orders"] {
            after.get_mut("default").unwrap().insert(key.clone(), v.clone());
        }
        sim.fail_after(Some(sim.op_count() + n));
        let o = opts(ImportMode::Upsert, &[("users", "users"), ("orders", "default")]);
        let ok = import(&dst, "/bundle", &o).is_ok();
        sim.fail_after(None);
        drop(dst);
        sim.crash();
        let ctx = format!("upsert, crash at step {n}");
        let dst = Db::open("/dst", dopts(&sim)).unwrap_or_else(|e| panic!("{ctx}: database does not open: {e}"));
        let have = state(&dst);
        if have != after {
            assert!(!ok, "{ctx}: acknowledged upsert lost");
            assert_eq!(have, before, "{ctx}: partial upsert");
        }
        for name in sim.list(Path::new("/dst")).unwrap() {
            assert!(!name.contains("tmp"), "{ctx}: temporary {name} left in the database directory");
        }
        // The next import removes a temporary sibling a crash left.
        import(&dst, "/bundle", &o).unwrap_or_else(|e| panic!("{ctx}: import after the crash: {e}"));
        assert_eq!(state(&dst), after, "{ctx}");
        assert!(!sim.list(Path::new("/")).unwrap().iter().any(|n| n.contains("tmp")), "{ctx}");
        if ok {
            assert!(n > 5, "upsert took only {n} file-system operations");
            return;
        }
    }
}

/// The link count of every bundle table of bundle family `cf_name`, by file name.
fn bundle_link_counts(fs: &dyn FileSystem, bundle: &Path, cf_name: &str) -> BTreeMap<String, u64> {
    let p = bundle.join("snapshot.json");
    let r: SnapshotRecord = unframe(KIND_BUNDLE, &fs.read_all(&p).unwrap(), &p).unwrap();
    let id = r.column_families.iter().find(|c| c.name == cf_name).unwrap().id;
    let tables = r.files.iter().filter(|f| f.cf == id && f.name.ends_with(".sst"));
    tables.map(|f| (f.name.clone(), fs.link_count(&bundle.join(&f.name)).unwrap())).collect()
}

#[test]
fn new_families_link_the_bundle_tables_and_never_modify_the_bundle() {
    let sim = SimFs::new();
    let want = make_bundle(&sim, true);
    let dst = make_target(&sim);
    let pristine = files(&sim, Path::new("/bundle"));
    let bundle = Path::new("/bundle");
    // The export itself linked the repository's objects: count from here.
    let before: BTreeMap<&str, BTreeMap<String, u64>> =
        ["users", "orders", "default"].iter().map(|cf| (*cf, bundle_link_counts(&sim, bundle, cf))).collect();
    let plus =
        |cf: &str, n: u64| -> BTreeMap<String, u64> { before[cf].iter().map(|(k, v)| (k.clone(), v + n)).collect() };
    import(&dst, bundle, &opts(ImportMode::NewColumnFamilies, &[("users", "users_copy"), ("orders", "o2")])).unwrap();
    // Each table of the imported families has one more name now (the database's); the
    // families not imported were not touched.
    for cf in ["users", "orders"] {
        assert!(!before[cf].is_empty());
        assert_eq!(bundle_link_counts(&sim, bundle, cf), plus(cf, 1), "{cf}");
    }
    assert_eq!(bundle_link_counts(&sim, bundle, "default"), before["default"]);
    // With `copy_files` the tables are copies.
    let copied = ImportOptions { copy_files: true, ..opts(ImportMode::NewColumnFamilies, &[("users", "u3")]) };
    import(&dst, bundle, &copied).unwrap();
    assert_eq!(dump_named(&dst, "u3"), want["users"]);
    assert_eq!(bundle_link_counts(&sim, bundle, "users"), plus("users", 1), "copy_files made links");
    // The database owns its links: writes, a compaction that replaces every imported table,
    // dropping a family and a power loss never change the bundle.
    let copy = dst.cf("users_copy").unwrap();
    dst.put_cf(&copy, k(1), "later").unwrap();
    dst.flush().unwrap();
    dst.compact_range(&copy, None, None).unwrap();
    dst.drop_cf("o2").unwrap();
    dst.wait_for_compactions().unwrap();
    drop(dst);
    sim.crash();
    let dst = Db::open("/dst", dopts(&sim)).unwrap();
    let mut expect = want["users"].clone();
    expect.insert(k(1), b"later".to_vec());
    assert_eq!(dump_named(&dst, "users_copy"), expect);
    assert!(dst.cf("o2").is_none());
    assert_eq!(files(&sim, bundle), pristine, "the bundle was modified");
    for cf in ["users", "orders"] {
        assert_eq!(bundle_link_counts(&sim, bundle, cf), before[cf], "{cf}: the database still holds links");
    }
}

/// A real source database snapshotted and exported to `bundle` (on real files); the contents
/// of its family `users`.
fn real_bundle(base: &Path, bundle: &Path) -> Map {
    let src = Db::open(base.join("src"), Options { disable_auto_compactions: true, ..small_options() }).unwrap();
    let users = src.create_cf("users").unwrap();
    for round in 0..2u32 {
        for i in 0..200 {
            src.put_cf(&users, k(i), format!("v{round}-{i}")).unwrap();
        }
        src.flush().unwrap();
    }
    let repo = Repository::create(base.join("repo")).unwrap();
    let s = repo.create_snapshot(&src, &SnapshotOptions::default()).unwrap();
    repo.export(s.id, bundle).unwrap();
    dump_named(&src, "users")
}

#[test]
fn real_files_are_linked_on_one_file_system_and_copied_across_two() {
    let fs = strata::RealFs::new();
    let tmp = tempfile::tempdir().unwrap();
    let dst = Db::open(tmp.path().join("dst"), small_options()).unwrap();
    // Same file system: linked.
    let bundle = tmp.path().join("bundle");
    let want = real_bundle(tmp.path(), &bundle);
    let before = bundle_link_counts(&fs, &bundle, "users");
    import(&dst, &bundle, &opts(ImportMode::NewColumnFamilies, &[("users", "same_fs")])).unwrap();
    assert_eq!(dump_named(&dst, "same_fs"), want);
    let counts = bundle_link_counts(&fs, &bundle, "users");
    assert!(!before.is_empty() && counts.iter().all(|(k, n)| *n == before[k] + 1), "{before:?} -> {counts:?}");
    // Another file system (tmpfs, where the machine has one): linking fails, the tables are
    // copied.
    let shm = Path::new("/dev/shm");
    let other = if shm.is_dir() { tempfile::tempdir_in(shm).ok() } else { None };
    let Some(other) = other else {
        eprintln!("no /dev/shm: the cross-file-system half of this test did not run");
        return;
    };
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(other.path()).unwrap().dev() == std::fs::metadata(tmp.path()).unwrap().dev() {
        eprintln!("/dev/shm is on the temporary directory's file system: the cross-file-system half did not run");
        return;
    }
    let far = other.path().join("bundle");
    let want = real_bundle(other.path(), &far);
    let before = bundle_link_counts(&fs, &far, "users");
    import(&dst, &far, &opts(ImportMode::NewColumnFamilies, &[("users", "other_fs")])).unwrap();
    assert_eq!(dump_named(&dst, "other_fs"), want);
    assert!(!before.is_empty());
    assert_eq!(bundle_link_counts(&fs, &far, "users"), before, "a link across file systems");
}
