//! The predecessor check of WAL replay: given what replay found in a WAL and the length the
//! next WAL's header recorded for it, was the WAL intact, torn by a crash (it lost unsynced
//! bytes, so no later record was synced and the history ends there), or damaged?
//!
//! A pure function over plain data, tested alone; `open/wal.rs` does the I/O.
//!
//! Invariants: a tear is only ever claimed when the recorded bytes are missing (the file is
//! shorter than recorded) or read as zeros from the damage to the end of a page (a page the
//! kernel never wrote back); nonzero bytes that fail to read as records, inside the recorded
//! length, are corruption.
//!
//! Thread safety: pure.

/// Page size assumed for writeback: the unit in which an unsynced file's data reaches the disk
/// or does not.
pub(super) const WRITEBACK_PAGE_BYTES: u64 = 4096;

/// What the predecessor check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The WAL's valid records end exactly where the successor recorded.
    Intact,
    /// The WAL lost bytes it held when the successor started: they were never synced.
    Tear,
    /// The recorded bytes are there but do not read back: offset and reason.
    Corrupt(u64, String),
}

/// Judges a WAL whose valid records end at `valid_end`, whose file holds `file_len` bytes, and
/// whose successor recorded `recorded_len`. `present` holds the file's bytes from `valid_end`
/// to `min(recorded_len, file_len)` (only read when `valid_end < recorded_len`).
pub(super) fn judge(valid_end: u64, recorded_len: u64, file_len: u64, present: &[u8]) -> Verdict {
    if valid_end == recorded_len {
        return Verdict::Intact;
    }
    if valid_end > recorded_len {
        return Verdict::Corrupt(
            recorded_len,
            format!("records go on past the length its successor recorded ({recorded_len}) to {valid_end}"),
        );
    }
    if file_len < recorded_len {
        return Verdict::Tear;
    }
    // Every byte up to `recorded_len` is present. A page whose bytes from the damage on read
    // as zeros never reached the disk (preallocated or sparse space reads as zeros); anything
    // else is damage to bytes that were written.
    let mut page_start = valid_end;
    while page_start < recorded_len {
        let page_end = ((page_start / WRITEBACK_PAGE_BYTES) + 1) * WRITEBACK_PAGE_BYTES;
        let end = page_end.min(recorded_len);
        // Both offsets lie in `[valid_end, recorded_len]`, and `present` covers that range.
        let from = usize::try_from(page_start - valid_end).unwrap_or(usize::MAX);
        let to = usize::try_from(end - valid_end).unwrap_or(usize::MAX);
        if present.get(from..to).is_some_and(|b| b.iter().all(|&x| x == 0)) {
            return Verdict::Tear;
        }
        page_start = end;
    }
    Verdict::Corrupt(
        valid_end,
        format!(
            "its records end at {valid_end}, but its successor recorded {recorded_len} bytes and those bytes are \
             present and damaged (not a lost unsynced tail)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_length_is_intact_whatever_follows() {
        assert_eq!(judge(100, 100, 100, &[]), Verdict::Intact);
        // A torn tail past the recorded length (a WAL recovered at an open, never trimmed).
        assert_eq!(judge(100, 100, 1 << 20, &[]), Verdict::Intact);
    }

    #[test]
    fn a_shorter_file_is_a_tear() {
        assert_eq!(judge(50, 100, 50, &[]), Verdict::Tear);
        assert_eq!(judge(50, 100, 99, &[7; 49]), Verdict::Tear);
        assert_eq!(judge(0, 100, 0, &[]), Verdict::Tear);
    }

    #[test]
    fn an_unwritten_page_is_a_tear() {
        // Records end at 4000; the next record straddles into page 1, which reads as zeros.
        let mut present = vec![9u8; 96];
        present.extend_from_slice(&[0; 4096]);
        assert_eq!(judge(4000, 8192, 8192, &present), Verdict::Tear);
        // The rest of page 0 after the damage reads as zeros.
        assert_eq!(judge(4000, 4200, 4200, &[0; 200]), Verdict::Tear);
    }

    #[test]
    fn damaged_present_bytes_are_corruption() {
        let present: Vec<u8> = (1..=200u8).collect();
        match judge(4000, 4200, 4200, &present) {
            Verdict::Corrupt(at, reason) => {
                assert_eq!(at, 4000);
                assert!(reason.contains("damaged"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn records_past_the_recorded_length_are_corruption() {
        assert!(matches!(judge(120, 100, 120, &[]), Verdict::Corrupt(100, _)));
    }
}
