//! A real S3-protocol server for tests: `moto_server` (PyPI `moto[server]`) on 127.0.0.1, on a
//! free port, one per test, stopped (killed and reaped) when the handle drops.
//!
//! moto's own threaded server runs requests at once, and its conditional PUT (`If-None-Match:
//! *`, the repository's put-if-absent) looks for the key and then writes it without a lock: two
//! racing writers could both be told they created it. So the server is not started as the
//! `moto_server` script but as moto's `main` under the Python interpreter of that script, with
//! its application wrapped (`moto_serial.py`, passed with `-c`) so that requests run one at a
//! time while connections are still served by threads (an idle keep-alive connection never
//! blocks another client): every conditional write is atomic, as on S3. Benchmarks of one writer
//! may ask for moto's own threaded server instead ([`S3Server::start_threaded_logged`]).
//! `tests/s3_conditional_put.rs` races writers for keys to prove it.
//!
//! When the server cannot be started, [`S3Server::start`] returns `None` after printing a skip
//! line, except under `CI=true`, where it panics: CI never skips the S3 tests. The script is
//! `$STRATA_MOTO_SERVER` if set, else `moto_server` on the `PATH`; its interpreter is the one its
//! `#!` line names, else `python3` (`$STRATA_MOTO_PYTHON` overrides both).
//!
//! Invariants: every server this module starts is killed by the handle's `Drop`; the port was
//! free when chosen (a race with another process taking it makes the start fail, not hang:
//! readiness is bounded by [`START_TIMEOUT`]); no two requests run inside the server at once
//! (except in a server from `start_threaded_logged`).
//!
//! Thread safety: a handle may be shared; `stop` is idempotent.

use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_checkpoint::StoreOptions;
use strata_checkpoint::store::RequestHook;

/// The Python wrapper that runs moto's server one request at a time (see the module docs).
const SERIAL_WRAPPER: &str = include_str!("moto_serial.py");

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
        Self::start_with(test, log, &[])
    }

    /// [`start_logged`](Self::start_logged), with `env` added to the server's environment
    /// (moto's settings, e.g. `MOTO_S3_DEFAULT_KEY_BUFFER_SIZE`).
    pub fn start_with(test: &str, log: Option<&std::path::Path>, env: &[(&str, &str)]) -> Option<Self> {
        Self::start_or_skip(test, Self::try_start(log, env, true))
    }

    /// [`start_logged`](Self::start_logged), but moto's own threaded server, running requests at
    /// once: its conditional PUTs are NOT atomic (see the module docs). For benchmarks of one
    /// writer, whose parallel transfers should overlap in the server as they would on S3; never
    /// for a test of racing writers.
    pub fn start_threaded_logged(test: &str, log: Option<&std::path::Path>) -> Option<Self> {
        Self::start_or_skip(test, Self::try_start(log, &[], false))
    }

    fn start_or_skip(test: &str, started: Result<Self, String>) -> Option<Self> {
        match started {
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

    /// Starts moto: one request at a time if `serial` (see the module docs), else as its
    /// `moto_server` script does.
    fn try_start(log: Option<&std::path::Path>, env: &[(&str, &str)], serial: bool) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let bin = std::env::var("STRATA_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let (program, mut args) =
            if serial { (python_of(&bin)?, vec!["-c", SERIAL_WRAPPER]) } else { (bin.clone(), vec![]) };
        let port_arg = port.to_string();
        args.extend(["-H", "127.0.0.1", "-p", &port_arg]);
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
        let child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .envs(env.iter().copied())
            .spawn()
            .map_err(|e| format!("cannot run {program} (for {bin}): {e}"))?;
        let server = Self { child: Mutex::new(Some(child)), port };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if server.request("GET", "/").is_ok() {
                return Ok(server);
            }
            if let Some(Some(status)) = server.child.lock().as_mut().map(|c| c.try_wait().ok().flatten()) {
                return Err(format!("{program} (for {bin}) exited at start: {status}"));
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

/// The Python interpreter that runs moto for the `moto_server` script `bin` (a path, or a name
/// looked up on the `PATH`): `$STRATA_MOTO_PYTHON`, else the one the script's `#!` line names,
/// else `python3`. An error (so a skip outside CI) when the script is nowhere.
fn python_of(bin: &str) -> Result<String, String> {
    if let Ok(p) = std::env::var("STRATA_MOTO_PYTHON") {
        return Ok(p);
    }
    let script = if bin.contains('/') {
        Some(std::path::PathBuf::from(bin))
    } else {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(bin)).find(|p| p.is_file()))
    };
    let script = script.filter(|p| p.is_file()).ok_or_else(|| format!("no {bin} found"))?;
    let mut head = Vec::new();
    std::fs::File::open(&script)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|e| format!("cannot read {}: {e}", script.display()))?;
    Ok(python_of_shebang(&head).unwrap_or_else(|| "python3".into()))
}

/// The Python interpreter a script's `#!` line names (`#!/venv/bin/python3`, or
/// `#!/usr/bin/env python3`), if it names one (a pyenv shim is a shell script: `None`).
fn python_of_shebang(script: &[u8]) -> Option<String> {
    let first = script.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(first).ok()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let mut program = words.next()?;
    if program.ends_with("/env") {
        program = words.next()?;
    }
    let name = program.rsplit('/').next()?;
    name.starts_with("python").then(|| program.to_string())
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_comes_from_the_shebang() {
        let of = |s: &str| python_of_shebang(s.as_bytes());
        assert_eq!(of("#!/v/bin/python\n# -*- coding\nimport re\n").as_deref(), Some("/v/bin/python"));
        assert_eq!(of("#!/usr/bin/env python3.11\n").as_deref(), Some("python3.11"));
        assert_eq!(of("#! /opt/py/bin/python3 -E\n").as_deref(), Some("/opt/py/bin/python3"));
        assert_eq!(of("#!/usr/bin/env bash\nset -e\n"), None, "a pyenv shim");
        assert_eq!(of("import re\n"), None);
        assert_eq!(of(""), None);
    }
}

/// The store calls a repository made, as `"op key"` lines in order, recorded by the
/// [`RequestHook`] that [`hook`](Self::hook) makes (counted on the client side; the server's
/// own log is `start_logged`'s).
#[derive(Debug, Clone, Default)]
pub struct StoreCalls(Arc<Mutex<Vec<String>>>);

impl StoreCalls {
    /// A hook recording every call into this log.
    pub fn hook(&self) -> RequestHook {
        let calls = Arc::clone(&self.0);
        RequestHook(Arc::new(move |op: &str, key: &str| calls.lock().push(format!("{op} {key}"))))
    }

    /// The calls recorded since the last `take`, which starts a new record.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// How many of `calls` start with `prefix` (e.g. `"head "`, `"get file tables/"`).
pub fn count_calls(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}
