//! Leveled compaction: which files to compact ([`picker`]) and which entries a compaction drops
//! ([`filter`]). Both are pure and I/O-free; the engine runs the merge.

pub mod filter;
pub mod picker;

pub use filter::{EntryFilter, FilterStats, Keep};
pub use picker::{
    CompactionPick, LevelFile, PickerOptions, level_scores, level_target_bytes, overlapping_files, pick_compaction,
    pick_compaction_round_robin, pick_range_compaction,
};
