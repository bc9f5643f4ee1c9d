//! `ObjectStore`: a repository on S3-compatible object storage, through the `object_store` crate
//! (behind the `s3` cargo feature). It exposes the same blocking [`Store`] trait as the local
//! directory; it owns a small tokio runtime and blocks on it.
//!
//! Mapping: key `k` is the object `<prefix>/k` in the bucket. `put_if_absent` is a conditional
//! PUT (`If-None-Match: *`, `object_store`'s `PutMode::Create`, enabled explicitly with
//! `S3ConditionalPut::ETagMatch`): of two writers racing for a key the server answers one with
//! 412 and that one sees [`Put::Exists`]. Files go up in one PUT below [`StoreOptions::multipart_bytes`],
//! else by a multipart upload of `part_bytes` parts; they come down by one GET streamed into the
//! local file, or by ranged GETs appended in order when the caller moves fewer files at once than
//! `parallelism` (`object/transfer.rs`), and the file is fsynced; verify reads an object by one
//! streamed GET into its check, never by a HEAD and ranges. Every data request (a PUT, a
//! part, a GET, a range) holds
//! one of `parallelism` permits of the store while in flight, so the repository may move
//! `parallelism` files at once ([`Store::file_parallelism`]) and the requests of all of them
//! together stay within the bound. An optional rate limit paces every transfer of this store.
//!
//! Invariants: an object becomes visible whole or not at all (S3 PUT and multipart completion
//! are atomic), so there are no temporary objects; a failed multipart upload is aborted (a
//! killed process leaves an incomplete upload, invisible to readers, that a bucket lifecycle rule
//! removes); every error names the operation and the object's URL.
//!
//! Thread safety: `Send + Sync`; the runtime is shared by every caller, each call blocks its own
//! thread. Must not be called from inside another tokio runtime's worker thread.

mod transfer;

use super::{Put, Store, Transfer, check_key};
use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ObjectStore as _, PutMode, PutOptions, PutPayload, RetryConfig};
use parking_lot::Mutex;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata::{Error, Result};
use strata_base::{FileSystem, RandomAccessFile};
use transfer::range_bytes;

/// How an object-store repository is reached. Unset fields come from the standard AWS
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...).
#[derive(Clone)]
pub struct StoreOptions {
    /// e.g. `http://127.0.0.1:9000` for a local server; `None`: AWS (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow plain `http://` endpoints (local servers only).
    pub allow_http: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Transfers (whole small files, parts, ranges) in flight at once over the whole store, at
    /// least 1; the repository also moves up to this many files at once.
    pub parallelism: usize,
    /// Bytes per second over all transfers of this store; `None`: unlimited.
    pub rate_limit_bytes_per_sec: Option<u64>,
    /// Files at least this large are uploaded by multipart upload; smaller ones by one PUT,
    /// read whole into memory (so up to `parallelism` times this much memory). The default,
    /// 128 MiB, sends a table of the engine's default size (64 MiB, a little more with its
    /// last block) in one request instead of a dozen.
    pub multipart_bytes: u64,
    /// Size of a multipart part and of a download range (S3 wants parts of at least 5 MiB).
    pub part_bytes: usize,
    /// Attempts after a transient failure (5xx, timeouts, connection resets), with exponential
    /// backoff, and the bound on the time spent retrying one request.
    pub max_retries: usize,
    pub retry_timeout: Duration,
    /// Called with the key before every file transfer (`put_file`, `get_file`, and verify's
    /// `read_checked`); an error fails that transfer. For tests (to see transfers overlap, to
    /// fail one mid-way); `None` normally.
    pub transfer_hook: Option<TransferHook>,
    /// Called with the operation and the key before every call into the store that sends
    /// requests (`"head"`, `"list"`, `"conditional put"`, `"put file"`, `"get file"`, ...), on
    /// the calling thread. For benchmarks that time each phase of a snapshot or restore, and for
    /// tests that count requests; `None` normally.
    pub request_hook: Option<RequestHook>,
}

/// The function a [`TransferHook`] calls with an object's key.
pub type TransferHookFn = dyn Fn(&str) -> io::Result<()> + Send + Sync;

/// See [`StoreOptions::transfer_hook`].
#[derive(Clone)]
pub struct TransferHook(pub Arc<TransferHookFn>);

/// The function a [`RequestHook`] calls with an operation and an object's key.
pub type RequestHookFn = dyn Fn(&str, &str) + Send + Sync;

/// See [`StoreOptions::request_hook`].
#[derive(Clone)]
pub struct RequestHook(pub Arc<RequestHookFn>);

impl std::fmt::Debug for RequestHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestHook(..)")
    }
}

impl std::fmt::Debug for TransferHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransferHook(..)")
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
            parallelism: 4,
            rate_limit_bytes_per_sec: None,
            multipart_bytes: 128 << 20,
            part_bytes: 8 << 20,
            max_retries: 5,
            retry_timeout: Duration::from_secs(60),
            transfer_hook: None,
            request_hook: None,
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    // The secret stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("parallelism", &self.parallelism)
            .field("rate_limit_bytes_per_sec", &self.rate_limit_bytes_per_sec)
            .field("multipart_bytes", &self.multipart_bytes)
            .field("part_bytes", &self.part_bytes)
            .finish_non_exhaustive()
    }
}

/// Splits `s3://bucket/prefix` into the bucket and the key prefix (no slashes at either end;
/// may be empty). The prefix obeys the key rules of [`check_key`].
pub fn parse_s3_url(url: &str) -> Result<(String, String)> {
    let bad = |why: &str| Err(Error::InvalidArgument(format!("bad repository URL {url:?}: {why}")));
    let Some(rest) = url.strip_prefix("s3://") else { return bad("only s3://bucket/prefix is supported") };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    let bucket_ok = bucket.len() >= 3
        && bucket.len() <= 63
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !bucket_ok {
        return bad("the bucket name must be 3-63 lowercase letters, digits, `-` or `.`");
    }
    if !prefix.is_empty() && check_key(prefix).is_err() {
        return bad("the prefix must be `/`-separated ASCII letters, digits, `_`, `.`, `-`");
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// How long a transfer must wait so that `done_bytes` moved since `elapsed` began stay within
/// `rate` bytes per second. Pure, tested alone.
pub(crate) fn pace_delay(done_bytes: u64, elapsed: Duration, rate_bytes_per_sec: u64) -> Duration {
    if rate_bytes_per_sec == 0 {
        return Duration::ZERO;
    }
    let due = Duration::from_secs_f64(done_bytes as f64 / rate_bytes_per_sec as f64);
    due.saturating_sub(elapsed)
}

/// Paces all transfers of one store to a byte rate.
#[derive(Debug)]
struct RateLimit {
    rate_bytes_per_sec: u64,
    state: Mutex<(Instant, u64)>,
}

impl RateLimit {
    /// Accounts for `n` bytes about to move and returns how long to wait first.
    fn take(&self, n: usize) -> Duration {
        let mut s = self.state.lock();
        s.1 += n as u64;
        pace_delay(s.1, s.0.elapsed(), self.rate_bytes_per_sec)
    }
}

/// A repository store in an S3 bucket. See the module docs.
#[derive(Debug)]
pub struct ObjectStore {
    rt: tokio::runtime::Runtime,
    s3: Arc<AmazonS3>,
    url: String,
    prefix: String,
    opts: StoreOptions,
    rate: Option<RateLimit>,
    /// `opts.parallelism` permits: one per data request in flight, over every file.
    permits: Arc<tokio::sync::Semaphore>,
}

/// An `object_store` error as ours, naming the operation and the object.
fn obj_err(op: &str, url: &str, e: object_store::Error) -> Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    Error::io(url, io::Error::new(kind, format!("object store {op} of {url}: {e}")))
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl ObjectStore {
    /// Connects to `url` (`s3://bucket/prefix`). Makes no request.
    pub fn new(url: &str, opts: StoreOptions) -> Result<Self> {
        let (bucket, prefix) = parse_s3_url(url)?;
        if opts.parallelism == 0 || opts.part_bytes < 5 << 20 || opts.multipart_bytes < opts.part_bytes as u64 {
            return Err(Error::InvalidArgument(format!(
                "object store options: parallelism {} must be >= 1, part_bytes {} >= 5 MiB, multipart_bytes {} >= part_bytes",
                opts.parallelism, opts.part_bytes, opts.multipart_bytes
            )));
        }
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: opts.max_retries,
                retry_timeout: opts.retry_timeout,
            });
        if let Some(e) = &opts.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &opts.region {
            b = b.with_region(r);
        }
        if opts.allow_http {
            b = b.with_allow_http(true);
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &opts.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let s3 = b.build().map_err(|e| Error::InvalidArgument(format!("object store {url}: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::io(url, e))?;
        let rate = opts
            .rate_limit_bytes_per_sec
            .map(|r| RateLimit { rate_bytes_per_sec: r, state: Mutex::new((Instant::now(), 0)) });
        let url = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
        let permits = Arc::new(tokio::sync::Semaphore::new(opts.parallelism));
        Ok(Self { rt, s3: Arc::new(s3), url, prefix, opts, rate, permits })
    }

    fn obj(&self, key: &str) -> Result<ObjPath> {
        check_key(key)?;
        Ok(ObjPath::from(if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) }))
    }

    fn url_of(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }

    async fn pace(rate: Option<&RateLimit>, n: usize) {
        if let Some(r) = rate {
            let d = r.take(n);
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
        }
    }

    /// One of the store's transfer permits (the semaphore is never closed).
    async fn permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.permits).acquire_owned().await.ok()
    }

    /// Tells the request hook, if any, about a call of `op` on `key`.
    fn note(&self, op: &str, key: &str) {
        if let Some(h) = &self.opts.request_hook {
            (h.0)(op, key);
        }
    }

    /// Runs the test hook, if any, before a transfer of `key`.
    fn hook(&self, key: &str) -> Result<()> {
        match &self.opts.transfer_hook {
            Some(h) => (h.0)(key).map_err(|e| Error::io(self.url_of(key), e)),
            None => Ok(()),
        }
    }
}

/// An object read at offsets by ranged GETs.
#[derive(Debug)]
struct RemoteFile {
    store: Arc<AmazonS3>,
    handle: tokio::runtime::Handle,
    obj: ObjPath,
    url: String,
    len: u64,
}

impl RandomAccessFile for RemoteFile {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let end = offset.checked_add(len as u64).filter(|&e| e <= self.len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: read of {len} at {offset} past {}", self.url, self.len),
            )
        })?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let data = self
            .handle
            .block_on(self.store.get_range(&self.obj, offset..end))
            .map_err(|e| io::Error::other(format!("object store ranged get of {}: {e}", self.url)))?;
        if data.len() != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{}: short read at {offset}", self.url)));
        }
        Ok(data)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

impl Store for ObjectStore {
    fn put_if_absent(&self, key: &str, data: &[u8]) -> Result<Put> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("conditional put", key);
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let payload = PutPayload::from(Bytes::copy_from_slice(data));
        match self.rt.block_on(self.s3.put_opts(&obj, payload, opts)) {
            Ok(_) => Ok(Put::Created),
            // 412 Precondition Failed (or 409 from servers that say so): the key is taken.
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(Put::Exists)
            }
            Err(e) => Err(obj_err("conditional put", &url, e)),
        }
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("put", key);
        let payload = PutPayload::from(Bytes::copy_from_slice(data));
        self.rt.block_on(self.s3.put(&obj, payload)).map(|_| ()).map_err(|e| obj_err("put", &url, e))
    }

    fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("get", key);
        self.rt.block_on(async {
            match self.s3.get(&obj).await {
                Ok(r) => r.bytes().await.map(Some).map_err(|e| obj_err("get", &url, e)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(obj_err("get", &url, e)),
            }
        })
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("head", key);
        match self.rt.block_on(self.s3.head(&obj)) {
            Ok(m) => Ok(Some(m.size)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(obj_err("head", &url, e)),
        }
    }

    fn open(&self, key: &str) -> Result<Arc<dyn RandomAccessFile>> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("open", key);
        let meta = self.rt.block_on(self.s3.head(&obj)).map_err(|e| obj_err("head", &url, e))?;
        let handle = self.rt.handle().clone();
        Ok(Arc::new(RemoteFile { store: Arc::clone(&self.s3), handle, obj, url, len: meta.size }))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let (obj, url) = (self.obj(dir)?, self.url_of(dir));
        self.note("list", dir);
        let listed = self.rt.block_on(self.s3.list_with_delimiter(Some(&obj))).map_err(|e| obj_err("list", &url, e))?;
        let mut names: Vec<String> = listed
            .objects
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("delete", key);
        match self.rt.block_on(self.s3.delete(&obj)) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(obj_err("delete", &url, e)),
        }
    }

    fn sync(&self, dir: &str) -> Result<()> {
        // S3 acknowledges a PUT or DELETE only once it is durable.
        check_key(dir)
    }

    fn put_file(&self, key: &str, src_fs: &dyn FileSystem, src: &Path, _copy: bool) -> Result<(Put, Transfer)> {
        self.upload_file(key, src_fs, src, true)
    }

    fn put_new_file(&self, key: &str, src_fs: &dyn FileSystem, src: &Path, _copy: bool) -> Result<(Put, Transfer)> {
        self.upload_file(key, src_fs, src, false)
    }

    fn get_file(&self, key: &str, dst_fs: &dyn FileSystem, dst: &Path, _copy: bool) -> Result<Transfer> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("get file", key);
        self.hook(key)?;
        let meta = self.rt.block_on(self.s3.head(&obj)).map_err(|e| obj_err("head", &url, e))?;
        let range = self.opts.part_bytes as u64;
        self.rt.block_on(self.download(&obj, meta.size, range, dst_fs, dst, &url, &mut |_| {})).map(Transfer::Copied)
    }

    fn get_file_checked(
        &self,
        key: &str,
        size: u64,
        dst_fs: &dyn FileSystem,
        dst: &Path,
        files_at_once: usize,
        on_data: &mut dyn FnMut(&[u8]),
    ) -> Result<Transfer> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("get file", key);
        self.hook(key)?;
        let range = range_bytes(size, self.opts.part_bytes as u64, self.opts.parallelism, files_at_once);
        self.rt.block_on(self.download(&obj, size, range, dst_fs, dst, &url, on_data)).map(Transfer::Copied)
    }

    fn read_checked(&self, key: &str, size: u64, on_data: &mut dyn FnMut(&[u8])) -> Result<Option<u64>> {
        let (obj, url) = (self.obj(key)?, self.url_of(key));
        self.note("get", key);
        self.hook(key)?;
        self.rt.block_on(self.read_streamed(&obj, size, &url, on_data))
    }

    fn list_sizes(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        let (obj, url) = (self.obj(dir)?, self.url_of(dir));
        self.note("list", dir);
        let listed = self.rt.block_on(self.s3.list_with_delimiter(Some(&obj))).map_err(|e| obj_err("list", &url, e))?;
        let mut sizes: Vec<(String, u64)> = listed
            .objects
            .into_iter()
            .filter_map(|m| m.location.filename().map(|n| (n.to_string(), m.size)))
            .filter(|(n, _)| !n.starts_with('.'))
            .collect();
        sizes.sort();
        Ok(sizes)
    }

    fn copy_object(&self, from: &str, to: &str) -> Result<Put> {
        let (src, dst, url) = (self.obj(from)?, self.obj(to)?, self.url_of(to));
        self.note("copy", to);
        // Not every server supports a conditional copy; the callers (the gc sweep, under the gc
        // lease) copy a content-named object, so copying over an identical one is harmless.
        if self.size(to)?.is_some() {
            return Ok(Put::Exists);
        }
        self.rt.block_on(self.s3.copy(&src, &dst)).map_err(|e| obj_err("copy", &url, e))?;
        Ok(Put::Created)
    }

    fn remove_temporaries(&self, dir: &str, _older_than_ms: u64) -> Result<usize> {
        // No temporary objects: an object appears whole or not at all.
        check_key(dir)?;
        Ok(0)
    }

    fn location(&self) -> String {
        self.url.clone()
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn file_parallelism(&self) -> usize {
        self.opts.parallelism
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn urls_are_parsed_and_confined() {
        assert_eq!(parse_s3_url("s3://bkt/a/b/").unwrap(), ("bkt".into(), "a/b".into()));
        assert_eq!(parse_s3_url("s3://bkt").unwrap(), ("bkt".into(), String::new()));
        for bad in ["bkt/a", "s3://", "s3://B/a", "s3://bkt/../x", "s3://bkt/a//b", "file:///x", "s3://ab/x"] {
            assert!(parse_s3_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pacing_keeps_to_the_rate() {
        assert_eq!(pace_delay(1000, Duration::ZERO, 1000), Duration::from_secs(1));
        assert_eq!(pace_delay(1000, Duration::from_secs(2), 1000), Duration::ZERO);
        assert_eq!(pace_delay(500, Duration::from_millis(100), 1000), Duration::from_millis(400));
        assert_eq!(pace_delay(u64::MAX, Duration::ZERO, 0), Duration::ZERO);
    }

    #[test]
    fn bad_options_are_refused() {
        let o = StoreOptions { parallelism: 0, ..StoreOptions::default() };
        assert!(matches!(ObjectStore::new("s3://bkt/p", o), Err(Error::InvalidArgument(_))));
        let o = StoreOptions { part_bytes: 1024, ..StoreOptions::default() };
        assert!(matches!(ObjectStore::new("s3://bkt/p", o), Err(Error::InvalidArgument(_))));
    }
}
