//! Deleting files no version, generation or pin needs any more.
//!
//! Invariants: a table is deleted only if no live version references it (the version set
//! tracks every `Arc<Version>` still held by readers, iterators, `LiveFiles` and checkpoints)
//! and it is not being written; a WAL only if it is older than the manifest's log number and
//! not pinned by `LiveFiles`.

use crate::state::DbInner;
use strata_base::FileNumber;
use strata_manifest::FileKind;

impl DbInner {
    /// Best effort: a file that cannot be deleted now is retried after the next change.
    pub(crate) fn delete_obsolete_files(&self) {
        self.delete_obsolete_files_impl(false)
    }

    /// `on_open`: also delete temporary leftovers of a crash (`<Strata name>.strata-tmp`; at any
    /// other time one may be a file being written right now). Files the open could not prove
    /// are Strata's (`DbInner::kept_files`) are never deleted.
    pub(crate) fn delete_obsolete_files_impl(&self, on_open: bool) {
        if self.read_only {
            return;
        }
        let Ok(names) = self.fs.list(&self.path) else { return };
        // One snapshot of the live state, taken after listing: a file created after it has a
        // number at or above its next file number and is protected by that (a flush or
        // compaction allocates the number under the state lock, then creates the file).
        let doomed = {
            let st = self.state.lock();
            let logs_pinned_from = self.files.wal_pins.lock().keys().next().copied().unwrap_or(FileNumber::MAX);
            st.versions.obsolete_files(&names, &st.pending_outputs, logs_pinned_from, on_open)
        };
        for name in doomed.into_iter().filter(|n| !self.files.kept.contains(n)) {
            if let Some(FileKind::Table(n)) = strata_manifest::parse_file_name(&name) {
                self.table_cache.evict(n);
            }
            let _ = self.fs.remove_file(&self.path.join(&name));
        }
    }
}
