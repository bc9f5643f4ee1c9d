//! Leveled compaction: which files to compact ([`picker`]) and which entries a compaction drops
//! ([`filter`]), both pure and I/O-free, and running it (`run`: the merge, the outputs, the
//! edit, the background loop).

pub mod filter;
pub mod picker;
mod run;

pub use filter::{EntryFilter, FilterStats, Keep};
pub use picker::{
    CompactionPick, LevelFile, PickerOptions, level_scores, level_target_bytes, overlapping_files, pick_compaction,
    pick_compaction_round_robin, pick_range_compaction,
};
