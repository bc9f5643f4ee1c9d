//! Validating a checkpoint's target directory.

use std::path::{Component, Path, PathBuf};
use strata::{Error, Result};
use strata_base::FileSystem;

/// Lexically normalizes `p` against the current directory (no symlinks resolved): makes it
/// absolute and removes `.` and `..`.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Resolves symlinks where the real file system can, else normalizes lexically.
fn resolve(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| normalize(p))
}

/// Checks `dir` and returns `(parent, name)`.
pub(crate) fn check_target(fs: &dyn FileSystem, db_dir: &Path, dir: &Path) -> Result<(PathBuf, String)> {
    if dir.as_os_str().is_empty() {
        return Err(Error::InvalidArgument("checkpoint directory is an empty path".into()));
    }
    let norm = normalize(dir);
    let name = match norm.file_name().and_then(|n| n.to_str()) {
        Some(n) => n.to_string(),
        None => {
            return Err(Error::InvalidArgument(format!(
                "checkpoint directory {} has no usable final component (root or non-UTF-8)",
                dir.display()
            )));
        }
    };
    let parent = norm.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    if fs.exists(&norm) {
        return Err(Error::AlreadyExists(dir.to_path_buf()));
    }
    if !fs.is_dir(&parent) {
        return Err(Error::InvalidArgument(format!(
            "the parent of checkpoint directory {} does not exist or is not a directory",
            dir.display()
        )));
    }
    let db_real = resolve(db_dir);
    let target_real = resolve(&parent).join(&name);
    if target_real.starts_with(&db_real) {
        return Err(Error::InvalidArgument(format!(
            "checkpoint directory {} is inside the database directory {}",
            dir.display(),
            db_dir.display()
        )));
    }
    Ok((parent, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
