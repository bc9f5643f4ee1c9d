//! A real S3-protocol server for tests: `moto_server` (PyPI `moto[server]`) on 127.0.0.1, on a
//! free port, one per test, stopped (killed and reaped) when the handle drops.
//!
//! When the server cannot be started, [`S3Server::start`] returns `None` after printing a skip
//! line, except under `CI=true`, where it panics: CI never skips the S3 tests. The binary is
//! `$STRATA_MOTO_SERVER` if set, else `moto_server` on the `PATH`.
//!
//! Invariants: every server this module starts is killed by the handle's `Drop`; the port was
//! free when chosen (a race with another process taking it makes the start fail, not hang:
//! readiness is bounded by [`START_TIMEOUT`]).
//!
//! Thread safety: a handle may be shared; `stop` is idempotent.

use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_checkpoint::StoreOptions;

/// How long the server may take to answer its first request.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `moto_server`. See the module docs.
#[derive(Debug)]
pub struct S3Server {
    child: Mutex<Option<Child>>,
    port: u16,
}

/// Whether the tests run under CI (`CI=true`), where a missing server is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl S3Server {
    /// Starts a server, or `None` (with a skip line) when none can be started outside CI.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_logged(test, None)
    }

    /// [`start`](Self::start), with the server's request log (one line a request, on its
    /// stderr) appended to `log` when given: benchmarks count requests from it.
    pub fn start_logged(test: &str, log: Option<&std::path::Path>) -> Option<Self> {
        match Self::try_start(log) {
            Ok(s) => Some(s),
            Err(why) if under_ci() => panic!("{test}: CI=true but no S3 server could be started: {why}"),
            Err(why) => {
                // Straight to the stderr handle: the test harness captures `eprintln!` of passing tests.
                let line =
                    format!("SKIPPED {test}: no S3 server ({why}); install it with `pip install 'moto[server]'`\n");
                let _ = std::io::stderr().write_all(line.as_bytes());
                None
            }
        }
    }

    fn try_start(log: Option<&std::path::Path>) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let bin = std::env::var("STRATA_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open the request log {}: {e}", path.display()))?,
            ),
            None => Stdio::null(),
        };
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run {bin}: {e}"))?;
        let server = Self { child: Mutex::new(Some(child)), port };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if server.request("GET", "/").is_ok() {
                return Ok(server);
            }
            if let Some(Some(status)) = server.child.lock().as_mut().map(|c| c.try_wait().ok().flatten()) {
                return Err(format!("{bin} exited at start: {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!("{bin} did not answer on port {port} within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The endpoint URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP/1.1 request (moto accepts unsigned ones); returns the status code.
    fn request(&self, method: &str, path: &str) -> std::io::Result<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        let code = std::str::from_utf8(&head[9..12]).ok().and_then(|c| c.parse().ok());
        code.ok_or_else(|| std::io::Error::other("not an HTTP response"))
    }

    /// Creates bucket `name` (lowercase, 3-63 characters).
    pub fn create_bucket(&self, name: &str) {
        let code = self.request("PUT", &format!("/{name}")).expect("create bucket");
        assert_eq!(code, 200, "create bucket {name}");
    }

    /// Options reaching this server with test credentials and few, quick retries.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            allow_http: true,
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            max_retries: 2,
            retry_timeout: Duration::from_secs(3),
            ..StoreOptions::default()
        }
    }

    /// Kills the server (a crash, as far as clients can tell). Idempotent.
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
