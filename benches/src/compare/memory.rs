//! Peak memory of one workload, two ways: `VmHWM` (the kernel's peak resident set, which counts
//! every resident page of a memory-mapped table file as well as the heap) and the peak of
//! `RssAnon` (anonymous memory only: heap, stacks, caches the engine allocates), sampled by a
//! background thread. An engine that reads its tables through `mmap` (Strata) shows the pages
//! it touched in `VmHWM`, although they are page cache the kernel can drop at any time; an
//! engine that reads with `pread` (RocksDB as configured here) keeps those pages out of its
//! resident set. The anonymous peak compares what each engine really holds.
//!
//! Invariants: the sampler reads `/proc/self/status` every [`SAMPLE_EVERY`]; a peak shorter
//! than that can be missed, so the anonymous figure is a lower bound.
//!
//! Thread safety: [`AnonSampler`] owns its thread; `finish` joins it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the anonymous resident set is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Resets the peak resident set size (`VmHWM`) of this process (Linux: `clear_refs` 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A field of `/proc/self/status` in kB, as bytes.
fn status_bytes(status: &str, field: &str) -> Option<u64> {
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident set size in bytes since the last reset.
pub fn peak_rss() -> Option<u64> {
    status_bytes(&std::fs::read_to_string("/proc/self/status").ok()?, "VmHWM:")
}

/// The anonymous resident set now, in bytes.
fn anon_rss() -> Option<u64> {
    status_bytes(&std::fs::read_to_string("/proc/self/status").ok()?, "RssAnon:")
}

/// Samples the anonymous resident set until [`finish`](Self::finish).
#[derive(Debug)]
pub struct AnonSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<u64>>>,
}

impl AnonSampler {
    /// Starts sampling (one sample right away).
    pub fn start() -> AnonSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let mut peak = anon_rss()?;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(SAMPLE_EVERY);
                    peak = peak.max(anon_rss()?);
                }
                Some(peak)
            })
            .ok();
        AnonSampler { stop, thread }
    }

    /// Stops sampling and returns the peak anonymous resident set seen, in bytes.
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let last = anon_rss();
        let peak = self.thread.take()?.join().ok()??;
        Some(last.map_or(peak, |l| l.max(peak)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t  1234 kB\nRssAnon:\t   10 kB\n";
        assert_eq!(status_bytes(status, "VmHWM:"), Some(1234 * 1024));
        assert_eq!(status_bytes(status, "RssAnon:"), Some(10 * 1024));
        assert_eq!(status_bytes(status, "RssFile:"), None);
    }

    #[test]
    fn the_sampler_sees_an_allocation_it_was_running_for() {
        let s = AnonSampler::start();
        let before = anon_rss().unwrap();
        // 64 MiB touched page by page, held across a few samples, then freed.
        let mut v = vec![0u8; 64 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        std::thread::sleep(SAMPLE_EVERY * 4);
        std::hint::black_box(&v);
        drop(v);
        let peak = s.finish().unwrap();
        assert!(peak >= before + (60 << 20), "peak {peak} before {before}");
    }
}
