//! Where the time of one call goes, for benchmarks: a [`Timeline`] of labelled moments (a
//! request hook, a progress callback and the [`TimedFs`] file-system wrapper each mark one), and
//! its [`Timeline::breakdown`]: for every label, the time from each of its moments to the next
//! moment of the same thread, summed. The library stays free of timers; the marks come from
//! hooks it already offers (`StoreOptions::request_hook`, progress callbacks, the file system
//! passed in its options).
//!
//! Invariants: the breakdown of one thread's moments adds up exactly to the time from the
//! timeline's start to `end` (the first share, before any moment, is labelled `start`).
//!
//! Thread safety: a timeline is shared by every thread that marks it (a mutex); the breakdown
//! looks at the moments of one thread, the one that made the measured call.

use parking_lot::Mutex;
use std::path::Path;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Instant;
use strata_base::{FileLock, FileSystem, RandomAccessFile, WritableFile};

/// One recorded moment: when, on which thread, what.
type Mark = (Instant, ThreadId, String);

/// Moments of one measured call. See the module docs.
#[derive(Debug)]
pub struct Timeline {
    state: Mutex<(Instant, Vec<Mark>)>,
}

impl Timeline {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { state: Mutex::new((Instant::now(), Vec::new())) })
    }

    /// Forgets every moment and starts the clock again.
    pub fn reset(&self) {
        *self.state.lock() = (Instant::now(), Vec::new());
    }

    /// A moment labelled `label` on the calling thread, now.
    pub fn mark(&self, label: impl Into<String>) {
        let now = Instant::now();
        self.state.lock().1.push((now, std::thread::current().id(), label.into()));
    }

    /// The calling thread's time from the start to `end`, by label (in order of first
    /// appearance): seconds and number of moments.
    pub fn breakdown(&self, end: Instant) -> Vec<(String, f64, usize)> {
        let me = std::thread::current().id();
        let state = self.state.lock();
        let mine: Vec<&(Instant, ThreadId, String)> = state.1.iter().filter(|e| e.1 == me).collect();
        let mut out: Vec<(String, f64, usize)> = Vec::new();
        let mut add = |label: &str, secs: f64| match out.iter_mut().find(|o| o.0 == label) {
            Some(o) => {
                o.1 += secs;
                o.2 += 1;
            }
            None => out.push((label.to_string(), secs, 1)),
        };
        let first = mine.first().map_or(end, |e| e.0);
        add("start", first.saturating_duration_since(state.0).as_secs_f64());
        for (i, e) in mine.iter().enumerate() {
            let next = mine.get(i + 1).map_or(end, |n| n.0);
            add(&e.2, next.saturating_duration_since(e.0).as_secs_f64());
        }
        out
    }

    /// Seconds from the start to the first moment labelled with `prefix`, and from the last
    /// moment labelled `last` to `end`, over every thread: the serial work before the first
    /// transfer and after the last one, at any parallelism.
    pub fn ends(&self, prefix: &str, last: &str, end: Instant) -> (f64, f64) {
        let state = self.state.lock();
        let first = state.1.iter().find(|e| e.2.starts_with(prefix)).map_or(end, |e| e.0);
        let tail = state.1.iter().rev().find(|e| e.2 == last).map_or(end, |e| e.0);
        (first.saturating_duration_since(state.0).as_secs_f64(), end.saturating_duration_since(tail).as_secs_f64())
    }
}

/// The kind of file at `path`, for labels: `sst`, `wal`, `MANIFEST`, `CURRENT`, or `other`.
fn kind(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".sst") {
        "sst"
    } else if name.ends_with(".log") {
        "wal"
    } else if name.starts_with("MANIFEST") {
        "MANIFEST"
    } else if name.starts_with("CURRENT") {
        "CURRENT"
    } else {
        "other"
    }
}

/// A file system that marks a [`Timeline`] at every call that may take time (creates, opens,
/// fsyncs, renames, directory changes), then delegates to the wrapped one.
#[derive(Debug)]
pub struct TimedFs {
    inner: Arc<dyn FileSystem>,
    timeline: Arc<Timeline>,
}

impl TimedFs {
    pub fn new(inner: Arc<dyn FileSystem>, timeline: Arc<Timeline>) -> Self {
        Self { inner, timeline }
    }

    fn mark(&self, op: &str, path: &Path) {
        self.timeline.mark(format!("fs {op} {}", kind(path)));
    }
}

#[derive(Debug)]
struct TimedFile {
    inner: Box<dyn WritableFile>,
    timeline: Arc<Timeline>,
    kind: &'static str,
}

impl WritableFile for TimedFile {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.inner.append(data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.timeline.mark(format!("fs fsync {}", self.kind));
        self.inner.sync()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn preallocate(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.preallocate(len)
    }
    fn trim(&mut self) -> std::io::Result<()> {
        self.timeline.mark(format!("fs fsync {}", self.kind));
        self.inner.trim()
    }
}

impl FileSystem for TimedFs {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn WritableFile>> {
        self.mark("create", path);
        let inner = self.inner.create(path)?;
        Ok(Box::new(TimedFile { inner, timeline: Arc::clone(&self.timeline), kind: kind(path) }))
    }
    fn open(&self, path: &Path) -> std::io::Result<Arc<dyn RandomAccessFile>> {
        self.mark("open", path);
        self.inner.open(path)
    }
    fn open_unmapped(&self, path: &Path) -> std::io::Result<Arc<dyn RandomAccessFile>> {
        self.mark("open", path);
        self.inner.open_unmapped(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.mark("rename", from);
        self.inner.rename(from, to)
    }
    fn link(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.mark("link", from);
        self.inner.link(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.mark("remove", path);
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.mark("remove dir", path);
        self.inner.remove_dir_all(path)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.mark("create dir", path);
        self.inner.create_dir_all(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }
    fn file_size(&self, path: &Path) -> std::io::Result<u64> {
        self.inner.file_size(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.timeline.mark("fs fsync dir");
        self.inner.sync_dir(dir)
    }
    fn link_count(&self, path: &Path) -> std::io::Result<u64> {
        self.inner.link_count(path)
    }
    fn concurrent_syncs(&self) -> bool {
        self.inner.concurrent_syncs()
    }
    fn copy(&self, from: &Path, to: &Path) -> std::io::Result<u64> {
        self.mark("copy", from);
        self.inner.copy(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breakdown_of_one_thread_adds_up_to_the_whole() {
        let t = Timeline::new();
        t.mark("a");
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.mark("b");
        t.mark("a");
        std::thread::spawn({
            let t = Arc::clone(&t);
            move || t.mark("other thread")
        })
        .join()
        .ok();
        let end = Instant::now();
        let b = t.breakdown(end);
        assert_eq!(b.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["start", "a", "b"]);
        assert_eq!(b[1].2, 2, "two moments labelled a");
        let total: f64 = b.iter().map(|x| x.1).sum();
        let whole = end.duration_since(t.state.lock().0).as_secs_f64();
        assert!((total - whole).abs() < 1e-6, "{total} vs {whole}");
        assert!(b[1].1 >= 0.002, "a holds the sleep: {b:?}");
    }
}
