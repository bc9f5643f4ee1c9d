//! [`import`]: a bundle (written by `Repository::export`) brought into an OPEN database, either
//! as new column families or as an upsert into existing ones (`docs/repository.md`, "Import").
//!
//! - [`ImportMode::NewColumnFamilies`]: every bundle file of the chosen families is checked
//!   (size and whole-file checksum), then `Db::import_column_families` hard-links the tables
//!   into the database (an fsynced copy across file systems, or with `copy_files`) and adds
//!   every family, its tables (levels and sequence numbers kept) and the raised last sequence
//!   number in ONE manifest edit. The database owns its links and may later unlink them; the
//!   bundle's names and bytes are never touched (tables are immutable, and an imported table's
//!   sequence numbers live in the manifest, not in the file). WAL prefixes (a snapshot taken
//!   with `flush: false`) are read strictly and each family's entries become one more L0 table,
//!   built in the staging directory and imported in the same edit (`wal_tables.rs`).
//! - [`ImportMode::Upsert`]: the bundle is built into a temporary database directory next to
//!   the target database (`.<db name>.strata-import.tmp`, hard links into the bundle where
//!   possible, every file checked first), opened read-only, and each chosen family's visible
//!   entries (latest version per key at the bundle's sequence; tombstones are not visible) are
//!   rewritten with `SstFileWriter` into temporary tables, which `Db::ingest_external_files_multi`
//!   brings into the target families in one manifest edit, above every existing entry. WAL
//!   prefixes are checked strictly first (`wal_tables.rs`), then replayed by the read-only open.
//!
//! What is refused, before anything is written ([`plan`], a pure function over plain data):
//! a comparator that differs from the database's or the target family's, a new family whose
//! name exists (or an upsert whose target does not), a family named twice, a family the bundle
//! does not hold, a new family with no table when the bundle has no WAL prefixes either (an
//! empty family is made with `Db::create_cf`); and, by `read_bundle`, metadata that
//! is damaged or names a file by anything but its number (no path traversal, no absolute path).
//!
//! Invariants: on any error the database is unchanged and nothing is left in its directory
//! (the engine removes staged tables); a crash leaves either every family imported or none
//! (one manifest edit), plus at most the temporary sibling (of an upsert, or of an import of
//! WAL prefixes), which the next import into that database removes. The bundle is only read.
//!
//! Thread safety: runs beside readers and writers of `db`; two imports that use the temporary
//! sibling (upserts, imports of WAL prefixes) into one database at once share its name and one
//! of them fails (run them one at a time).

use super::bundle::{check_bundle_file, fetch_bundle_file, read_bundle};
use super::format::{CfRecord, FileKind, FileRecord, SnapshotRecord};
use super::restore::build_database;
use super::types::{ImportInfo, ImportMode, ImportOptions, Tracker};
use super::wal_tables::{WalTable, check_wal_prefixes, replayed_wals, with_wal_tables};
use crate::store::LocalStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata::{
    ColumnFamily, Db, Error, ImportFile, IngestOptions, IngestSpec, Options, ReadOptions, Result, SstFileWriter,
};
use strata_base::FileSystem;
use strata_manifest::CfId;

/// Longest column family name the engine accepts.
const CF_NAME_LEN_MAX: usize = 255;

/// The database side of an import as plain data: the manifest's comparator and every
/// family's `(name, comparator)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbView {
    pub comparator: String,
    pub families: Vec<(String, String)>,
}

/// One family to import: its id and name in the bundle, and its name in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub bundle_cf: CfId,
    pub from: String,
    pub to: String,
}

/// Decides which bundle families go where, refusing everything that cannot be imported (see
/// the module docs). Pure: no I/O.
pub(crate) fn plan(
    record: &SnapshotRecord,
    db: &DbView,
    wanted: &[(String, String)],
    mode: ImportMode,
) -> Result<Vec<Planned>> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    if record.comparator != db.comparator {
        return bad(format!(
            "comparator mismatch: the bundle's database uses {:?}, this database {:?}",
            record.comparator, db.comparator
        ));
    }
    let pairs: Vec<(String, String)> = if wanted.is_empty() {
        record.column_families.iter().map(|c| (c.name.clone(), c.name.clone())).collect()
    } else {
        wanted.to_vec()
    };
    let mut out: Vec<Planned> = Vec::with_capacity(pairs.len());
    for (from, to) in pairs {
        let Some(c) = record.column_families.iter().find(|c| c.name == from) else {
            return Err(Error::ColumnFamilyNotFound(format!("{from} (not in the bundle)")));
        };
        if to.is_empty() || to.len() > CF_NAME_LEN_MAX {
            return bad(format!("cannot import column family {from:?} as {to:?}: names are 1 to 255 bytes"));
        }
        if out.iter().any(|p| p.from == from || p.to == to) {
            return bad(format!("column family {from:?} or name {to:?} appears twice in one import"));
        }
        check_target(record, c, &to, db, mode)?;
        out.push(Planned { bundle_cf: c.id, from, to });
    }
    Ok(out)
}

/// The checks of one family against its target in the database.
fn check_target(record: &SnapshotRecord, c: &CfRecord, to: &str, db: &DbView, mode: ImportMode) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    let target = db.families.iter().find(|(n, _)| n == to);
    let expected = match mode {
        ImportMode::NewColumnFamilies => {
            if target.is_some() {
                return bad(format!("cannot import column family {:?} as {to:?}: it already exists", c.name));
            }
            // With WAL prefixes, whether the family is empty is known once they are read.
            let has_wals = record.files.iter().any(|f| f.kind == FileKind::Wal);
            if !has_wals && tables_of(record, c.id).next().is_none() {
                return Err(empty_family(&c.name));
            }
            // A new family gets the comparator the database's families have.
            db.families.iter().find(|(n, _)| n == "default").map_or(&db.comparator, |(_, cmp)| cmp)
        }
        ImportMode::Upsert => match target {
            None => return Err(Error::ColumnFamilyNotFound(format!("{to} (upsert target)"))),
            Some((_, cmp)) => cmp,
        },
    };
    if &c.comparator != expected {
        return bad(format!(
            "comparator mismatch: bundle column family {:?} uses {:?}, the target {to:?} {expected:?}",
            c.name, c.comparator
        ));
    }
    Ok(())
}

/// The refusal of a new family that would hold nothing.
fn empty_family(name: &str) -> Error {
    Error::InvalidArgument(format!(
        "column family {name:?} holds no table and no WAL entry in the bundle: create it with Db::create_cf instead"
    ))
}

/// The tables of bundle family `cf`, in the bundle's order.
fn tables_of(record: &SnapshotRecord, cf: CfId) -> impl Iterator<Item = &FileRecord> {
    record.files.iter().filter(move |f| f.kind == FileKind::Table && f.cf == cf)
}

/// The comparator and families of `db`.
fn db_view(db: &Db) -> Result<DbView> {
    let live = db.live_files(false)?;
    let families = live.version().cfs().map(|c| (c.name.clone(), c.comparator.clone())).collect();
    Ok(DbView { comparator: live.comparator.clone(), families })
}

/// Imports the bundle at `bundle` into the open database `db` as `opts.mode` says (see the
/// module docs): `opts.column_families` lists `(name in the bundle, name in the database)`;
/// empty means every family of the bundle under its own name.
pub fn import(db: &Db, bundle: impl AsRef<Path>, opts: &ImportOptions) -> Result<ImportInfo> {
    if db.is_read_only() {
        return Err(Error::InvalidArgument("cannot import into a database opened read-only".into()));
    }
    let fs = db.file_system();
    let bundle = bundle.as_ref();
    let record = read_bundle(&*fs, bundle)?;
    let planned = plan(&record, &db_view(db)?, &opts.column_families, opts.mode)?;
    match opts.mode {
        ImportMode::NewColumnFamilies => import_new(db, &fs, bundle, &record, &planned, opts),
        ImportMode::Upsert => {
            check_wal_prefixes(&fs, bundle, &record)?;
            upsert(db, &fs, bundle, &record, &planned, opts)
        }
    }
}

/// New families: check every table of the chosen families, turn the WAL prefixes (if any)
/// into one L0 table per family, then one engine import.
fn import_new(
    db: &Db,
    fs: &Arc<dyn FileSystem>,
    bundle: &Path,
    record: &SnapshotRecord,
    planned: &[Planned],
    opts: &ImportOptions,
) -> Result<ImportInfo> {
    let per_cf: Vec<Vec<&FileRecord>> = planned.iter().map(|p| tables_of(record, p.bundle_cf).collect()).collect();
    let (count, bytes) = per_cf.iter().flatten().fold((0, 0), |(n, b), f| (n + 1, b + f.size));
    let wals = replayed_wals(record);
    let wal_bytes: u64 = wals.iter().map(|f| f.size).sum();
    let mut tracker = Tracker::new(opts.progress.as_ref(), "import", count + wals.len(), bytes + wal_bytes);
    let store = LocalStore::new(Arc::clone(fs), bundle);
    for f in per_cf.iter().flatten() {
        check_bundle_file(&store, bundle, f)?;
        tracker.file_done(f.size)?;
    }
    let lists: Vec<Vec<ImportFile>> =
        per_cf.iter().map(|fs| fs.iter().map(|f| f.import_file(bundle)).collect()).collect();
    let commit = |wal_tables: &[Option<WalTable>]| commit_new(db, record, planned, lists, wal_tables, opts);
    if wals.is_empty() {
        return commit(&[]);
    }
    let cfs: Vec<CfId> = planned.iter().map(|p| p.bundle_cf).collect();
    let (parent, tmp) = staging_dir(db)?;
    with_wal_tables(db, fs, bundle, record, &cfs, (&parent, &tmp), &mut tracker, commit)
}

/// The engine import of new families: each family's bundle tables in `lists`, plus its table
/// made from the WAL prefixes, if any (placed newest in L0 by its sequence numbers).
fn commit_new(
    db: &Db,
    record: &SnapshotRecord,
    planned: &[Planned],
    mut lists: Vec<Vec<ImportFile>>,
    wal_tables: &[Option<WalTable>],
    opts: &ImportOptions,
) -> Result<ImportInfo> {
    for (list, t) in lists.iter_mut().zip(wal_tables) {
        if let Some(t) = t {
            list.push(ImportFile { path: t.path.clone(), level: 0, global_seq: 0 });
        }
    }
    if let Some((p, _)) = planned.iter().zip(&lists).find(|(_, l)| l.is_empty()) {
        return Err(empty_family(&p.from));
    }
    let families: Vec<(&str, &[ImportFile])> =
        planned.iter().zip(&lists).map(|(p, l)| (p.to.as_str(), l.as_slice())).collect();
    let link = strata::ImportOptions { link_files: !opts.copy_files, ..strata::ImportOptions::default() };
    db.import_column_families(&families, &link)?;
    let from_wals = wal_tables.iter().flatten();
    let table_bytes: u64 = record
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Table && planned.iter().any(|p| p.bundle_cf == f.cf))
        .map(|f| f.size)
        .sum();
    Ok(ImportInfo {
        column_families: planned.iter().map(|p| p.to.clone()).collect(),
        sequence: record.sequence,
        tables: lists.iter().map(Vec::len).sum(),
        bytes: table_bytes + from_wals.clone().map(|t| t.size).sum::<u64>(),
        entries: from_wals.map(|t| t.entries).sum(),
    })
}

/// The import's temporary sibling of the database directory: `(parent, parent/.<name>.strata-import.tmp)`.
fn staging_dir(db: &Db) -> Result<(PathBuf, PathBuf)> {
    let (parent, name) = db_parent_and_name(db)?;
    let tmp = parent.join(format!(".{name}.strata-import.tmp"));
    Ok((parent, tmp))
}

/// `(parent, name)` of the database directory, for its temporary sibling.
fn db_parent_and_name(db: &Db) -> Result<(PathBuf, String)> {
    let norm = crate::paths::normalize(db.path());
    let name = norm.file_name().and_then(|n| n.to_str()).map(str::to_string);
    let name = name.ok_or_else(|| Error::InvalidArgument(format!("{} has no usable name", db.path().display())))?;
    Ok((norm.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf), name))
}

/// Upsert: build the bundle as a temporary database, rewrite each family's visible entries,
/// ingest them all in one edit. The temporary sibling is removed whatever happens.
fn upsert(
    db: &Db,
    fs: &Arc<dyn FileSystem>,
    bundle: &Path,
    record: &SnapshotRecord,
    planned: &[Planned],
    opts: &ImportOptions,
) -> Result<ImportInfo> {
    let (parent, tmp) = staging_dir(db)?;
    if fs.exists(&tmp) {
        fs.remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    let result = upsert_in(db, fs, bundle, record, planned, opts, &tmp);
    let cleaned = fs.remove_dir_all(&tmp).and_then(|()| fs.sync_dir(&parent));
    match (result, cleaned) {
        (Err(e), _) => Err(e),
        (Ok(info), Ok(())) => Ok(info),
        // The import is durable; only the temporary sibling is left, for the next import.
        (Ok(info), Err(_)) => Ok(info),
    }
}

fn upsert_in(
    db: &Db,
    fs: &Arc<dyn FileSystem>,
    bundle: &Path,
    record: &SnapshotRecord,
    planned: &[Planned],
    opts: &ImportOptions,
    tmp: &Path,
) -> Result<ImportInfo> {
    fs.create_dir_all(tmp).map_err(|e| Error::io(tmp, e))?;
    let total = record.files.iter().map(|f| f.size).sum();
    let mut tracker = Tracker::new(opts.progress.as_ref(), "import", record.files.len() + planned.len(), total);
    let store = LocalStore::new(Arc::clone(fs), bundle);
    let fetch = |f: &FileRecord, dst: &Path| fetch_bundle_file(&store, &**fs, bundle, f, dst, false);
    let restored = tmp.join("bundle-db");
    build_database(&**fs, &restored, "strata-import", record, &[], fetch, 1, &mut tracker)?;
    let src_opts = Options { fs: Some(Arc::clone(fs)), create_if_missing: false, ..db.options().clone() };
    let src = Db::open_read_only(&restored, src_opts)?;
    let mut written: Vec<(ColumnFamily, PathBuf, u64)> = Vec::new();
    let mut entries = 0;
    for (k, p) in planned.iter().enumerate() {
        let from = src.cf(&p.from).ok_or_else(|| Error::ColumnFamilyNotFound(p.from.clone()))?;
        let to = db.cf(&p.to).ok_or_else(|| Error::ColumnFamilyNotFound(p.to.clone()))?;
        let path = tmp.join(format!("upsert-{k:04}.sst"));
        let (n, size) = rewrite(&src, &from, db, &to, &path)?;
        entries += n;
        if n > 0 {
            written.push((to, path, size));
        }
        tracker.file_done(0)?;
    }
    drop(src);
    let specs: Vec<IngestSpec<'_>> =
        written.iter().map(|(cf, path, _)| IngestSpec { cf, files: vec![path.clone()] }).collect();
    if !specs.is_empty() {
        db.ingest_external_files_multi(&specs, &IngestOptions { move_files: true, ..IngestOptions::default() })?;
    }
    Ok(ImportInfo {
        column_families: planned.iter().map(|p| p.to.clone()).collect(),
        sequence: record.sequence,
        tables: written.len(),
        bytes: written.iter().map(|w| w.2).sum(),
        entries,
    })
}

/// Writes every visible entry of `from` in `src` to a new table at `path` for family `to` of
/// `db`: `(entries, bytes)`; no file when the family is empty.
fn rewrite(src: &Db, from: &ColumnFamily, db: &Db, to: &ColumnFamily, path: &Path) -> Result<(u64, u64)> {
    let mut it = src.iter_cf(from, &ReadOptions::default())?;
    it.seek_to_first();
    let mut writer: Option<SstFileWriter> = None;
    let mut n = 0;
    while it.valid() {
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(SstFileWriter::for_cf(db, to, path)?),
        };
        w.put(it.key(), it.value())?;
        n += 1;
        it.next();
    }
    it.status()?;
    match writer {
        Some(w) => Ok((n, w.finish()?.file_size)),
        None => Ok((0, 0)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use std::collections::BTreeMap;
    use strata_manifest::FileNumber;

    fn cf(id: u32, name: &str, cmp: &str) -> CfRecord {
        CfRecord { id: CfId::new(id), name: name.into(), comparator: cmp.into() }
    }

    fn table(cf: u32, number: u64) -> FileRecord {
        FileRecord {
            kind: FileKind::Table,
            key: String::new(),
            name: format!("{number:06}.sst"),
            cf: CfId::new(cf),
            level: 0,
            number: FileNumber::new(number),
            size: 1,
            checksum: 0,
            smallest: String::new(),
            largest: String::new(),
            smallest_seq: 1,
            largest_seq: 1,
            epoch: 0,
            global_seq: 0,
        }
    }

    fn record() -> SnapshotRecord {
        SnapshotRecord {
            id: 1,
            name: None,
            db_id: String::new(),
            parent_db_id: None,
            sequence: 9,
            created_at_ms: 0,
            labels: BTreeMap::new(),
            comparator: "bytewise".into(),
            log_number: FileNumber::new(1),
            next_file_number: FileNumber::new(10),
            max_cf_id: CfId::new(2),
            column_families: vec![cf(0, "default", "bytewise"), cf(1, "users", "bytewise"), cf(2, "empty", "bytewise")],
            files: vec![table(0, 3), table(1, 4)],
            bytes_total: 2,
            bytes_added: 2,
        }
    }

    fn view() -> DbView {
        DbView {
            comparator: "bytewise".into(),
            families: vec![("default".into(), "bytewise".into()), ("users".into(), "bytewise".into())],
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| ((*a).to_string(), (*b).to_string())).collect()
    }

    const NEW: ImportMode = ImportMode::NewColumnFamilies;

    #[test]
    fn plans_renames_and_subsets() {
        let p = plan(&record(), &view(), &pairs(&[("users", "users_copy"), ("default", "d2")]), NEW).unwrap();
        assert_eq!(
            p.iter().map(|p| (p.bundle_cf.get(), p.to.as_str())).collect::<Vec<_>>(),
            [(1, "users_copy"), (0, "d2")]
        );
        let up = plan(&record(), &view(), &pairs(&[("users", "default")]), ImportMode::Upsert).unwrap();
        assert_eq!(up[0].to, "default");
    }

    #[test]
    fn wal_prefixes_are_planned_in_every_mode() {
        let mut r = record();
        r.files.push(FileRecord { kind: FileKind::Wal, name: "000005.log".into(), ..table(0, 5) });
        plan(&r, &view(), &pairs(&[("users", "a")]), NEW).unwrap();
        plan(&r, &view(), &pairs(&[("users", "users")]), ImportMode::Upsert).unwrap();
        // A family with no table may hold WAL entries: decided when they are read.
        plan(&r, &view(), &pairs(&[("empty", "e")]), NEW).unwrap();
    }

    #[test]
    fn refuses_every_bad_plan() {
        let invalid = |r: Result<Vec<Planned>>| assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        // Name clash (also the default of an empty list: every family under its own name).
        invalid(plan(&record(), &view(), &pairs(&[("users", "users")]), NEW));
        invalid(plan(&record(), &view(), &[], NEW));
        // Twice, empty name, empty family, comparators.
        invalid(plan(&record(), &view(), &pairs(&[("users", "a"), ("users", "b")]), NEW));
        invalid(plan(&record(), &view(), &pairs(&[("users", "a"), ("default", "a")]), NEW));
        invalid(plan(&record(), &view(), &pairs(&[("users", "")]), NEW));
        invalid(plan(&record(), &view(), &pairs(&[("empty", "e")]), NEW));
        let mut other = view();
        other.comparator = "reverse".into();
        invalid(plan(&record(), &other, &pairs(&[("users", "a")]), NEW));
        let mut r = record();
        r.column_families[1].comparator = "reverse".into();
        invalid(plan(&r, &view(), &pairs(&[("users", "a")]), NEW));
        invalid(plan(&r, &view(), &pairs(&[("users", "users")]), ImportMode::Upsert));
        // Missing source or upsert target.
        let missing = plan(&record(), &view(), &pairs(&[("nope", "a")]), NEW);
        assert!(matches!(missing, Err(Error::ColumnFamilyNotFound(_))));
        let missing = plan(&record(), &view(), &pairs(&[("users", "nope")]), ImportMode::Upsert);
        assert!(matches!(missing, Err(Error::ColumnFamilyNotFound(_))));
    }
}
