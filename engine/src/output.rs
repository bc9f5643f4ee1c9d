//! A table being written by a flush or a compaction.
//!
//! Invariants: the output's number is in `State::pending_outputs` from allocation until the
//! caller installs the edit that adds the table or gives the output up (then it removes the
//! number), so the obsolete-file scan never deletes a table being written. Every output table
//! carries the same user properties: `strata.cf_id`, `strata.smallest_seq`,
//! `strata.largest_seq`.
//!
//! Thread safety: one owner; allocation takes the state lock briefly.

use crate::error::Result;
use crate::state::DbInner;
use std::sync::Arc;
use strata_base::ikey::{SeqNo, ValueKind};
use strata_base::{CfId, FileNumber};
use strata_manifest::FileMeta;
use strata_sst::TableBuilder;

pub(crate) struct TableOutput {
    pub(crate) number: FileNumber,
    builder: TableBuilder,
    smallest_seq: SeqNo,
    largest_seq: SeqNo,
}

impl DbInner {
    /// Allocates a file number (recorded in `pending_outputs`) and creates its table;
    /// `bottommost`: the table goes to the bottommost level (see `Options::bottommost_compression`);
    /// `background_syncs`: its pieces are synced on a helper thread while the next is written
    /// (`TableBuilder::sync_in_pieces`; flushes with
    /// `Options::background_flush_syncs`), else on the writing thread (compactions always: they
    /// run beside checkpoints and ingestions for longer; docs/performance.md, "Table syncs in
    /// the background").
    pub(crate) fn new_table_output(&self, bottommost: bool, background_syncs: bool) -> Result<TableOutput> {
        let number = {
            let mut st = self.state.lock();
            let n = st.versions.new_file_number();
            st.pending_outputs.insert(n);
            n
        };
        match TableBuilder::create(Arc::clone(&self.fs), &self.table_path(number), self.table_options(bottommost)) {
            Ok(mut builder) => {
                let piece = self.opts.table_sync_bytes;
                if piece > 0 {
                    builder.sync_in_pieces(piece, Arc::clone(&self.io_gate), background_syncs);
                }
                Ok(TableOutput { number, builder, smallest_seq: SeqNo::MAX, largest_seq: 0 })
            }
            Err(e) => {
                self.state.lock().pending_outputs.remove(&number);
                Err(e.into())
            }
        }
    }
}

impl TableOutput {
    /// Adds an entry whose internal key `key` carries `seq` and `kind`.
    pub(crate) fn add(&mut self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Result<()> {
        self.builder.add(key, kind, value)?;
        self.smallest_seq = self.smallest_seq.min(seq);
        self.largest_seq = self.largest_seq.max(seq);
        Ok(())
    }

    /// The table will hold `keys` distinct user keys: its filter is built as they are added
    /// (`TableBuilder::expect_filter_keys`).
    pub(crate) fn expect_filter_keys(&mut self, keys: usize) {
        self.builder.expect_filter_keys(keys);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.builder.num_entries() == 0
    }

    pub(crate) fn estimated_size(&self) -> u64 {
        self.builder.estimated_size()
    }

    /// Removes the unfinished file.
    pub(crate) fn abandon(self) {
        self.builder.abandon();
    }

    /// Writes the properties, finishes (and fsyncs) the table and describes it.
    pub(crate) fn finish(mut self, cf_id: CfId) -> Result<FileMeta> {
        let (lo, hi) = (self.smallest_seq, self.largest_seq);
        self.builder.set_user_property("strata.cf_id", cf_id.to_string().as_bytes());
        self.builder.set_user_property("strata.smallest_seq", lo.to_string().as_bytes());
        self.builder.set_user_property("strata.largest_seq", hi.to_string().as_bytes());
        let meta = self.builder.finish()?;
        Ok(FileMeta {
            number: self.number,
            size: meta.file_size,
            smallest: meta.smallest_key,
            largest: meta.largest_key,
            smallest_seq: lo,
            largest_seq: hi,
            checksum: meta.file_checksum,
            // The caller sets the epoch when it installs the table (flush: the family's next;
            // compaction: the largest of its inputs).
            epoch: 0,
            global_seq: 0,
        })
    }
}
