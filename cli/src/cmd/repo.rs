//! `strata repo ...`: snapshot repositories (`strata_checkpoint::repo`, `docs/repository.md`).
//!
//! A repository is a local directory or an `s3://bucket/prefix` URL (`repo_store.rs`: the
//! store flags and the AWS environment); other `scheme://` arguments are refused with one line.
//! Databases, restore targets and bundles are local paths. Snapshots are named by id or by
//! name. Long work (snapshot, verify, restore, export, import) draws a bar through the
//! library's progress callback, which also carries Ctrl-C to the library (`library_progress`).
//!
//! Invariants: the library builds every new target (restored database, export bundle, imported
//! database) in a temporary sibling and renames it into place, and removes the sibling when the
//! callback cancels: after Ctrl-C (exit 130) no target exists. A snapshot cancelled mid-way is
//! committed as failed and holds nothing; `repo gc` removes it. `repo verify` and `repo gc`
//! print their whole report and exit 1 when they found damage.
//!
//! Thread safety: runs on the main thread; the library calls the progress callback from it.

use super::db::{close, open_to_copy};
use super::library_progress;
use super::repo_show::{self as show, duration, key_value};
use super::repo_store::{Location, StoreArgs, one_line};
use crate::Ctx;
use crate::output::{CliError, Report, engine_error, local_path};
use crate::progress::Unit;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use strata::RealFs;
use strata_checkpoint::repo::{
    ImportOptions, Repository, RepositoryOptions, RestoreOptions, Retention, SnapshotId, SnapshotInfo, SnapshotOptions,
    VerifyLevel, import_into_new_database,
};

/// `strata repo [STORE FLAGS] COMMAND`: the store flags may also follow the command.
#[derive(Debug, Args)]
pub struct RepoArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: RepoCommand,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a new, empty repository (the directory must not exist; its parent must).
    #[command(after_help = "An s3:// repository goes into an existing bucket; the prefix must hold \
        no repository yet.\n\nExamples:\n  strata repo init /backups/app\n  \
        strata repo init s3://my-bucket/backups/app\n  \
        strata repo init s3://test/app --endpoint http://127.0.0.1:9000 --allow-http")]
    Init {
        /// The repository: a new local directory, or s3://bucket/prefix.
        repo: PathBuf,
    },
    /// Take a snapshot of a database into the repository (unchanged tables are shared with
    /// earlier snapshots).
    #[command(after_help = "The database is flushed first when it can be opened for writing. When \
        another process holds the writer's lock (or with --read-only), the snapshot is taken from a \
        read-only open: the state at the command's open, unflushed writes carried as WAL prefixes.\n\n\
        Examples:\n  strata repo snapshot /backups/app /data/app --name nightly\n  \
        strata repo snapshot /backups/app /data/app --label env=prod --cf users --cf meta")]
    Snapshot {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// The database directory.
        db: PathBuf,
        /// A name for the snapshot (unique names let later commands use it instead of the id).
        #[arg(long)]
        name: Option<String>,
        /// A label KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = key_value)]
        labels: Vec<(String, String)>,
        /// Only this column family (repeatable; `default` is always included).
        #[arg(long = "cf", value_name = "NAME")]
        cfs: Vec<String>,
        /// Do not flush first: unflushed writes are stored as WAL prefixes.
        #[arg(long)]
        no_flush: bool,
        /// Copy tables into the repository even where they could be hard-linked.
        #[arg(long)]
        copy: bool,
        /// Never take the writer's lock (snapshot of the state at a read-only open).
        #[arg(long)]
        read_only: bool,
    },
    /// List the snapshots: id, name, state, time, sequence, size.
    #[command(after_help = "Examples:\n  strata repo list /backups/app\n  strata --json repo list /backups/app")]
    List {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
    },
    /// Show one snapshot in full.
    #[command(after_help = "Examples:\n  strata repo show /backups/app 3\n  strata repo show /backups/app nightly")]
    Show {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// The snapshot: its id or its name.
        snapshot: String,
    },
    /// Check snapshots' files against their recorded sizes and checksums (exit 1 on damage,
    /// every bad file named).
    #[command(after_help = "Without SNAPSHOT every complete snapshot is checked.\n\nExamples:\n  \
        strata repo verify /backups/app\n  strata repo verify /backups/app 3 --sizes-only")]
    Verify {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// Snapshots (id or name); default: every complete one.
        snapshots: Vec<String>,
        /// Check only that every file exists with its size (fast); default: every checksum.
        #[arg(long)]
        sizes_only: bool,
    },
    /// Restore a snapshot into a new database directory (TARGET must not exist).
    #[command(after_help = "Files are hard-linked where possible; the repository is never written.\n\n\
        Examples:\n  strata repo restore /backups/app 3 /data/app-restored\n  \
        strata repo restore /backups/app nightly /data/app-copy --copy --verify-checksums")]
    Restore {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// The snapshot: its id or its name.
        snapshot: String,
        /// The new database directory.
        target: PathBuf,
        /// Copy files even where they could be hard-linked.
        #[arg(long)]
        copy: bool,
        /// Check every file's checksum before using it (sizes are always checked).
        #[arg(long)]
        verify_checksums: bool,
    },
    /// Export a snapshot as a self-contained bundle directory (for `repo import` elsewhere).
    #[command(after_help = "Examples:\n  strata repo export /backups/app 3 /tmp/app-bundle")]
    Export {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// The snapshot: its id or its name.
        snapshot: String,
        /// The new bundle directory.
        dir: PathBuf,
    },
    /// Make a new database directory from an exported bundle.
    #[command(after_help = "Examples:\n  strata repo import /tmp/app-bundle /data/app-copy\n  \
        strata repo import /tmp/app-bundle /data/app-copy --rename-cf users=users_v1")]
    Import {
        /// The bundle directory (made by `repo export`).
        bundle: PathBuf,
        /// The new database directory.
        target: PathBuf,
        /// Rename a column family on the way in, FROM=TO (repeatable; not `default`).
        #[arg(long = "rename-cf", value_name = "FROM=TO", value_parser = key_value)]
        renames: Vec<(String, String)>,
        /// Copy files even where they could be hard-linked.
        #[arg(long)]
        copy: bool,
    },
    /// Delete a snapshot (tables no other snapshot uses are removed).
    #[command(after_help = "Examples:\n  strata repo delete /backups/app 3")]
    Delete {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// The snapshot: its id or its name.
        snapshot: String,
    },
    /// Delete the complete snapshots no rule keeps (counted per database).
    #[command(after_help = "A snapshot is kept if any rule keeps it; at least one rule is needed.\n\n\
        Examples:\n  strata repo retain /backups/app --keep-last 7\n  \
        strata repo retain /backups/app --keep-within 30d --keep-named")]
    Retain {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
        /// Keep the newest N snapshots of each database.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_last: usize,
        /// Keep snapshots younger than this (90m, 12h, 7d, 2w).
        #[arg(long, value_name = "AGE", value_parser = duration)]
        keep_within: Option<std::time::Duration>,
        /// Keep every named snapshot.
        #[arg(long)]
        keep_named: bool,
    },
    /// Remove what no snapshot needs: unused files, failed snapshots, temporary files (exit 1
    /// if a complete snapshot is missing files; it is reported, never deleted).
    #[command(after_help = "Examples:\n  strata repo gc /backups/app")]
    Gc {
        /// The repository: a local directory or s3://bucket/prefix.
        repo: PathBuf,
    },
}

pub fn run(args: RepoArgs, ctx: &Ctx) -> Result<Report, CliError> {
    let store = &args.store;
    match args.command {
        RepoCommand::Init { repo } => init(&repo, store),
        RepoCommand::Snapshot { repo, db, name, labels, cfs, no_flush, copy, read_only } => {
            let opts = SnapshotOptions {
                name,
                flush: !no_flush,
                column_families: (!cfs.is_empty()).then_some(cfs),
                labels: labels.into_iter().collect(),
                copy_files: copy,
                progress: None,
            };
            snapshot(&repo, store, &db, opts, read_only, ctx)
        }
        RepoCommand::List { repo } => list(&repo, store),
        RepoCommand::Show { repo, snapshot } => {
            let r = open(&repo, store)?;
            let s = find(&r, &snapshot)?;
            Ok(Report::ok(with_repo(&repo, show::snapshot_json(&s)), show::snapshot_text(&s)))
        }
        RepoCommand::Verify { repo, snapshots, sizes_only } => {
            let level = if sizes_only { VerifyLevel::Sizes } else { VerifyLevel::Checksums };
            verify(&repo, store, &snapshots, level, ctx)
        }
        RepoCommand::Restore { repo, snapshot, target, copy, verify_checksums } => restore(
            &repo,
            store,
            &snapshot,
            &target,
            RestoreOptions { copy_files: copy, verify_checksums, progress: None },
            ctx,
        ),
        RepoCommand::Export { repo, snapshot, dir } => export(&repo, store, &snapshot, &dir, ctx),
        RepoCommand::Import { bundle, target, renames, copy } => import(&bundle, &target, renames, copy, ctx),
        RepoCommand::Delete { repo, snapshot } => {
            let r = open(&repo, store)?;
            let s = find(&r, &snapshot)?;
            r.delete(s.id).map_err(|e| repo_error(&repo, e))?;
            let doc = json!({ "repo": repo.display().to_string(), "deleted": s.id.0 });
            Ok(Report::ok(doc, format!("deleted snapshot {}\n", s.id)))
        }
        RepoCommand::Retain { repo, keep_last, keep_within, keep_named } => {
            if keep_last == 0 && keep_within.is_none() && !keep_named {
                return Err(CliError::Usage(
                    "repo retain needs at least one of --keep-last, --keep-within, --keep-named".into(),
                ));
            }
            let r = open(&repo, store)?;
            let deleted =
                r.retain(&Retention { keep_last, keep_within, keep_named }).map_err(|e| repo_error(&repo, e))?;
            let ids: Vec<u64> = deleted.iter().map(|i| i.0).collect();
            let shown: Vec<String> = ids.iter().map(u64::to_string).collect();
            let doc = json!({ "repo": repo.display().to_string(), "deleted": ids });
            let text = if shown.is_empty() {
                "nothing to delete: every snapshot is kept\n".to_string()
            } else {
                format!("deleted snapshots {}\n", shown.join(", "))
            };
            Ok(Report::ok(doc, text))
        }
        RepoCommand::Gc { repo } => gc(&repo, store),
    }
}

/// `{"repo": ..., ...fields}`.
fn with_repo(repo: &Path, v: Value) -> Value {
    let mut m = Map::new();
    m.insert("repo".into(), json!(repo.display().to_string()));
    if let Value::Object(o) = v {
        m.extend(o);
    }
    Value::Object(m)
}

fn object(fields: Vec<(&'static str, Value)>) -> Map<String, Value> {
    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Opens a repository (a directory or an `s3://` URL): a clear line when there is none.
fn open(repo: &Path, store: &StoreArgs) -> Result<Repository, CliError> {
    let opened = match Location::of(repo, store)? {
        Location::Local(dir) => Repository::open(dir),
        Location::S3(url) => Repository::open_url(&url, store.options(), RepositoryOptions::default()),
    };
    opened.map_err(|e| match e {
        strata::Error::NotFound(what) => {
            let check = if is_url(repo) {
                "check the bucket and prefix (and --endpoint / AWS_ENDPOINT_URL)"
            } else {
                "check the path"
            };
            CliError::Failed {
                message: format!("{what}; {check}, or create one with `strata repo init {}`", repo.display()),
                file: Some(repo.display().to_string()),
                offset: None,
            }
        }
        e => repo_error(repo, e),
    })
}

/// An error of a restore or export: about the object store when it names an object, else
/// about the local `target`.
fn target_error(repo: &Path, target: &Path, e: strata::Error) -> CliError {
    let remote = matches!(&e, strata::Error::Io { path: Some(p), .. } if is_url(p));
    if remote { repo_error(repo, e) } else { engine_error(target, e) }
}

fn is_url(repo: &Path) -> bool {
    repo.to_string_lossy().starts_with("s3://")
}

/// A repository operation's error: for an object store, one line naming the object and what
/// to check (the bucket, the endpoint, the credentials) instead of "the disk".
fn repo_error(repo: &Path, e: strata::Error) -> CliError {
    match e {
        strata::Error::Io { path, source } if is_url(repo) => {
            let file = path.as_deref().unwrap_or(repo).display().to_string();
            CliError::Failed {
                message: one_line(&format!(
                    "{source}; check that the bucket exists, the endpoint (--endpoint, AWS_ENDPOINT_URL) \
                     answers and the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) are valid"
                )),
                file: Some(file),
                offset: None,
            }
        }
        strata::Error::InvalidArgument(m) if is_url(repo) => CliError::Failed {
            message: one_line(&format!("{}: {m}", repo.display())),
            file: Some(repo.display().to_string()),
            offset: None,
        },
        e => engine_error(repo, e),
    }
}

/// The snapshot `which` names: an id (digits) or a unique name.
fn find(r: &Repository, which: &str) -> Result<SnapshotInfo, CliError> {
    let repo = r.path();
    if let Ok(id) = which.parse::<u64>() {
        return r.snapshot(SnapshotId(id)).map_err(|e| match e {
            strata::Error::NotFound(what) => no_snapshot(repo, which, &what),
            e => repo_error(repo, e),
        });
    }
    let list = r.list().map_err(|e| repo_error(repo, e))?;
    let named: Vec<SnapshotInfo> = list.into_iter().filter(|s| s.name.as_deref() == Some(which)).collect();
    match named.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(no_snapshot(repo, which, "no snapshot has that id or name")),
        many => Err(CliError::Failed {
            message: format!(
                "{}: {} snapshots are named {which:?} (ids {}); give the id",
                repo.display(),
                many.len(),
                many.iter().map(|s| s.id.to_string()).collect::<Vec<_>>().join(", ")
            ),
            file: Some(repo.display().to_string()),
            offset: None,
        }),
    }
}

fn no_snapshot(repo: &Path, which: &str, what: &str) -> CliError {
    CliError::Failed {
        message: format!(
            "{}: snapshot {which:?}: {what}; `strata repo list {}` lists the snapshots",
            repo.display(),
            repo.display()
        ),
        file: Some(repo.display().to_string()),
        offset: None,
    }
}

fn init(repo: &Path, store: &StoreArgs) -> Result<Report, CliError> {
    let created = match Location::of(repo, store)? {
        Location::Local(dir) => Repository::create(dir),
        Location::S3(url) => Repository::create_url(&url, store.options(), RepositoryOptions::default()),
    };
    created.map_err(|e| repo_error(repo, e))?;
    let doc = json!({ "repo": repo.display().to_string(), "created": true });
    Ok(Report::ok(doc, format!("created an empty snapshot repository at {}\n", repo.display())))
}

fn snapshot(
    repo: &Path,
    store: &StoreArgs,
    db: &Path,
    mut opts: SnapshotOptions,
    read_only: bool,
    ctx: &Ctx,
) -> Result<Report, CliError> {
    local_path(db, "database")?;
    let r = open(repo, store)?;
    let (handle, read_only) = open_to_copy(db, read_only)?;
    let task = ctx.progress.task("snapshot", 0, Unit::Bytes);
    opts.progress = Some(library_progress::repo(&task));
    let info = match r.create_snapshot(&handle, &opts) {
        Ok(info) => info,
        Err(e) => {
            task.abandon();
            let _ = close(handle);
            return Err(repo_error(repo, e));
        }
    };
    task.finish("done");
    close(handle)?;
    let mut doc = with_repo(repo, show::snapshot_json(&info));
    if let Value::Object(m) = &mut doc {
        m.insert("db".into(), json!(db.display().to_string()));
        m.insert("from_read_only_open".into(), json!(read_only));
    }
    let text = format!(
        "snapshot {} of {} stored: {} tables, {} bytes ({} new)\n",
        info.id,
        db.display(),
        info.tables,
        info.bytes_total,
        info.bytes_added
    );
    Ok(Report::ok(doc, text))
}

fn list(repo: &Path, store: &StoreArgs) -> Result<Report, CliError> {
    let r = open(repo, store)?;
    let list = r.list().map_err(|e| repo_error(repo, e))?;
    let doc = json!({
        "repo": repo.display().to_string(),
        "snapshots": list.iter().map(show::snapshot_json).collect::<Vec<_>>(),
    });
    Ok(Report::ok(doc, show::list_text(&list)))
}

fn verify(repo: &Path, store: &StoreArgs, which: &[String], level: VerifyLevel, ctx: &Ctx) -> Result<Report, CliError> {
    let r = open(repo, store)?;
    let targets: Vec<SnapshotInfo> = if which.is_empty() {
        let all = r.list().map_err(|e| repo_error(repo, e))?;
        all.into_iter().filter(|s| s.state == strata_checkpoint::repo::SnapshotState::Complete).collect()
    } else {
        which.iter().map(|w| find(&r, w)).collect::<Result<_, _>>()?
    };
    let mut reports = Vec::new();
    for s in &targets {
        let task = ctx.progress.task(&format!("verify snapshot {}", s.id), s.bytes_total, Unit::Bytes);
        let progress = library_progress::repo(&task);
        match r.verify_with(s.id, level, Some(&progress)) {
            Ok(rep) => {
                task.finish(if rep.is_ok() { "ok" } else { "DAMAGED" });
                reports.push(rep);
            }
            Err(e) => {
                task.abandon();
                return Err(repo_error(repo, e));
            }
        }
    }
    let bad: Vec<String> = reports.iter().filter(|r| !r.is_ok()).map(|r| r.id.to_string()).collect();
    let doc = json!({
        "repo": repo.display().to_string(),
        "level": show::level_name(level),
        "ok": bad.is_empty(),
        "snapshots": reports.iter().map(show::verify_json).collect::<Vec<_>>(),
    });
    let mut text: String = reports.iter().map(show::verify_text).collect();
    if reports.is_empty() {
        text.push_str("no complete snapshot to verify\n");
    }
    let failed = (!bad.is_empty()).then(|| {
        format!(
            "{}: snapshot(s) {} damaged (files named above); restore from another snapshot, then `strata repo delete` the damaged one",
            repo.display(),
            bad.join(", ")
        )
    });
    Ok(Report { json: doc, text, failed })
}

fn restore(
    repo: &Path,
    store: &StoreArgs,
    which: &str,
    target: &Path,
    mut opts: RestoreOptions,
    ctx: &Ctx,
) -> Result<Report, CliError> {
    local_path(target, "target")?;
    let r = open(repo, store)?;
    let s = find(&r, which)?;
    let task = ctx.progress.task("restore", s.bytes_total, Unit::Bytes);
    opts.progress = Some(library_progress::repo(&task));
    let info = r.restore(s.id, target, &opts).map_err(|e| {
        task.clone().abandon();
        target_error(repo, target, e)
    })?;
    task.finish("done");
    let mut m = object(show::restore_fields(&info));
    m.insert("repo".into(), json!(repo.display().to_string()));
    m.insert("snapshot".into(), json!(s.id.0));
    Ok(Report::ok(Value::Object(m), show::restore_text(&info)))
}

fn export(repo: &Path, store: &StoreArgs, which: &str, dir: &Path, ctx: &Ctx) -> Result<Report, CliError> {
    local_path(dir, "bundle")?;
    let r = open(repo, store)?;
    let s = find(&r, which)?;
    let task = ctx.progress.task("export", s.bytes_total, Unit::Bytes);
    let progress = library_progress::repo(&task);
    let info = r.export_with(s.id, dir, Some(&progress)).map_err(|e| {
        task.clone().abandon();
        target_error(repo, dir, e)
    })?;
    task.finish("done");
    let doc = json!({
        "repo": repo.display().to_string(),
        "snapshot": s.id.0,
        "dir": info.dir.display().to_string(),
        "files": info.files,
        "bytes": info.bytes,
    });
    Ok(Report::ok(
        doc,
        format!("exported snapshot {} to {}: {} files, {} bytes\n", s.id, info.dir.display(), info.files, info.bytes),
    ))
}

fn import(
    bundle: &Path,
    target: &Path,
    renames: Vec<(String, String)>,
    copy: bool,
    ctx: &Ctx,
) -> Result<Report, CliError> {
    if is_url(bundle) {
        return Err(CliError::Failed {
            message: format!(
                "{}: a bundle is a local directory (made by `strata repo export`); to make a database \
                 from an s3:// repository use `strata repo restore URL SNAPSHOT TARGET`",
                bundle.display()
            ),
            file: Some(bundle.display().to_string()),
            offset: None,
        });
    }
    local_path(bundle, "bundle")?;
    local_path(target, "target")?;
    let task = ctx.progress.task("import", 0, Unit::Bytes);
    let opts = ImportOptions {
        column_families: renames,
        copy_files: copy,
        progress: Some(library_progress::repo(&task)),
        mode: strata_checkpoint::ImportMode::default(),
    };
    let info = import_into_new_database(RealFs::arc(), bundle, target, &opts).map_err(|e| {
        task.clone().abandon();
        engine_error(bundle, e)
    })?;
    task.finish("done");
    let mut m = object(show::restore_fields(&info));
    m.insert("bundle".into(), json!(bundle.display().to_string()));
    Ok(Report::ok(Value::Object(m), show::restore_text(&info)))
}

fn gc(repo: &Path, store: &StoreArgs) -> Result<Report, CliError> {
    let r = open(repo, store)?;
    let g = r.gc().map_err(|e| repo_error(repo, e))?;
    let mut m = object(show::gc_fields(&g));
    m.insert("repo".into(), json!(repo.display().to_string()));
    let failed = (!g.damaged.is_empty()).then(|| {
        format!(
            "{}: {} complete snapshot(s) are missing files (named above); they were kept: verify and delete them",
            repo.display(),
            g.damaged.len()
        )
    });
    Ok(Report { json: Value::Object(m), text: show::gc_text(&g), failed })
}
