//! Deleting files no version, generation or pin needs any more.
//!
//! Invariants: a table is deleted only if no live version references it (the version set
//! tracks every `Arc<Version>` still held by readers, iterators, `LiveFiles` and checkpoints)
//! and it is not being written; a WAL only if it is older than the manifest's log number and
//! not pinned by `LiveFiles`.

use crate::state::DbInner;
use std::collections::BTreeSet;
use strata_manifest::FileKind;

impl DbInner {
    /// Best effort: a file that cannot be deleted now is retried after the next change.
    pub(crate) fn delete_obsolete_files(&self) {
        self.delete_obsolete_files_impl(false)
    }

    /// `on_open`: also delete `*.tmp` leftovers of a crash (at any other time one may be a
    /// file being written right now).
    pub(crate) fn delete_obsolete_files_impl(&self, on_open: bool) {
        if self.read_only {
            return;
        }
        // Files numbered at or above `next_file` may be created after this snapshot of the
        // live set (a flush or compaction allocates, then creates): they are never deleted here.
        let (live, log_number, manifest_number, next_file) = {
            let st = self.state.lock();
            let mut live: BTreeSet<u64> = st.versions.live_table_numbers();
            live.extend(st.pending_outputs.iter().copied());
            (live, st.versions.log_number(), st.versions.manifest_number(), st.versions.next_file_number())
        };
        let min_pinned_log = self.wal_pins.lock().keys().next().copied().unwrap_or(u64::MAX);
        let Ok(names) = self.fs.list(&self.path) else { return };
        for name in names {
            let delete = match strata_manifest::parse_file_name(&name) {
                Some(FileKind::Table(n)) => n < next_file && !live.contains(&n),
                Some(FileKind::Log(n)) => n < log_number && n < min_pinned_log,
                Some(FileKind::Manifest(n)) => n < manifest_number,
                Some(FileKind::Temp) => on_open,
                _ => false,
            };
            if delete {
                if let Some(FileKind::Table(n)) = strata_manifest::parse_file_name(&name) {
                    self.table_cache.evict(n);
                }
                let _ = self.fs.remove_file(&self.path.join(&name));
            }
        }
    }
}
