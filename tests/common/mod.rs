//! The end-to-end harness shared by the test files: the real `snapstack` binary on a free port
//! with a temporary volume, driven by the boto3 scripts in `tests/e2e/` and by raw HTTP.
//!
//! Every wait polls for a condition with a generous timeout; nothing depends on wall-clock speed.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_snapstack");
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Option<Child>,
    pub endpoint: String,
    pub addr: String,
    pub log: PathBuf,
}

impl Server {
    /// Start the server on a free port (`GATEWAY_LISTEN=127.0.0.1:0`) with `volume` and `env`.
    pub fn start(volume: &Path, env: &[(&str, &str)]) -> Server {
        let log = volume.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("GATEWAY_LISTEN", "127.0.0.1:0")
            .env("LOCALSTACK_VOLUME_DIR", volume)
            .env_remove("PERSISTENCE")
            .env_remove("SNAPSHOT_SAVE_STRATEGY")
            .env_remove("SNAPSHOT_LOAD_STRATEGY")
            .env_remove("SNAPSHOT_FLUSH_INTERVAL")
            .env_remove("SQS_ENDPOINT_STRATEGY")
            .env_remove("LOCALSTACK_HOST")
            .env_remove("SERVICES")
            .env_remove("EAGER_SERVICE_LOADING")
            .env_remove("ENFORCE_IAM")
            .env_remove("IAM_SOFT_MODE")
            .env("SNAPSTACK_INIT_DIR", volume.join("no-init-hooks"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start snapstack");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                // The readiness line test frameworks wait for follows the address.
                let ready = lines.next().and_then(Result::ok);
                assert_eq!(ready.as_deref(), Some("Ready."), "second stdout line");
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let addr = line
            .strip_prefix("snapstack listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child: Some(child),
            endpoint: format!("http://{addr}"),
            addr,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run the boto3 client with these commands; it must succeed.
    pub fn py(&mut self, args: &[&str]) {
        self.script("client.py", args)
    }

    /// Run the S3 boto3 client with these commands; it must succeed.
    pub fn s3(&mut self, args: &[&str]) {
        self.script("s3_client.py", args)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Run a script of `tests/e2e/` against this server; it must succeed.
    pub fn script(&mut self, script: &str, args: &[&str]) {
        let out = Command::new("python3")
            .arg(format!("{}/tests/e2e/{script}", env!("CARGO_MANIFEST_DIR")))
            .arg(&self.endpoint)
            .args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run python3");
        if !out.status.success() {
            let server = self.child.as_mut().map(|c| c.try_wait());
            panic!(
                "{script} {args:?} failed:\n{}\n{}\nserver process: {server:?}\nserver log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
        }
    }

    /// One HTTP/1.1 request; returns the status and the (de-chunked) body.
    pub fn http(&self, method: &str, path: &str) -> (u16, String) {
        http(&self.addr, method, path)
    }

    pub fn state(&self) -> serde_json::Value {
        let (status, body) = self.http("GET", "/_localstack/state");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&Server) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            assert!(
                start.elapsed() < TIMEOUT,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for the exit.
    pub fn term(mut self) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        let pid = libc::pid_t::try_from(c.id()).unwrap();
        // SAFETY: `pid` is our own child, not yet waited for, so it names that process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {pid} failed");
        let start = Instant::now();
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > TIMEOUT {
                let _ = c.kill();
                panic!("server did not exit after SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..];
        s = s.strip_prefix("\r\n").unwrap_or(s);
    }
    out
}

pub fn lines(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Every file under `dir`, at any depth (unreadable directories are skipped).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// Whether `needle` occurs in any file under `dir`: the files that hold it.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .map(|p| p.display().to_string())
        .collect()
}
