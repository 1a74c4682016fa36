//! Helpers of the pod end-to-end tests (`tests/pods_e2e.rs`, `tests/pods_cli_e2e.rs`): the
//! `snapstack pod` CLI, the boto3 driver `tests/e2e/pods.py`, moto's server, a gate proxy, and
//! readers of the CLI's output and the server's metrics.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, Server, TIMEOUT};

/// Run `snapstack pod ARGS…`; exit code, stdout, stderr.
pub fn pod(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("pod")
        .args(args)
        .env_remove("LOCALSTACK_VOLUME_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run snapstack pod");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn pod_ok(args: &[&str]) -> String {
    let (code, out, err) = pod(args, &[]);
    assert_eq!(code, 0, "pod {args:?}:\n{out}\n{err}");
    out
}

/// `pods.py ENDPOINT ARGS…`, its stdout.
pub fn py(endpoint: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(format!("{}/tests/e2e/pods.py", env!("CARGO_MANIFEST_DIR")))
        .arg(endpoint)
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pods.py {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (chunks in the version, chunks sent) from a save's last line.
pub fn counts(save_output: &str) -> (u64, u64) {
    let num_before = |marker: &str| -> u64 {
        let at = save_output
            .find(marker)
            .unwrap_or_else(|| panic!("{save_output}"));
        save_output[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let total = num_before(" chunks (");
    let sent_at = save_output.rfind("sent ").unwrap();
    let sent: u64 = save_output[sent_at + 5..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (total, sent)
}

/// `Server::start` in `volume`, created first.
pub fn serve(volume: &Path, env: &[(&str, &str)]) -> Server {
    std::fs::create_dir_all(volume).unwrap();
    Server::start(volume, env)
}

pub fn source(volume: &Path) -> Server {
    serve(volume, &[("PERSISTENCE", "1")])
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's server on a free port, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < TIMEOUT, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `marker` in `out` (e.g. "deleted: " → chunks deleted by a gc).
pub fn num_after(out: &str, marker: &str) -> u64 {
    let at = out
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {out}"))
        + marker.len();
    out[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{marker:?} in {out}"))
}

/// The (version, message) rows of `pod versions`.
pub fn version_rows(out: &str) -> Vec<(u64, String)> {
    out.lines()
        .skip(1)
        .map(|l| {
            let n = l.split_whitespace().next().unwrap().parse().unwrap();
            let message = l.rsplit(" / ").next().unwrap().trim().to_string();
            (n, message)
        })
        .collect()
}

/// The (service, added, changed, removed) rows of a `pod load`'s table.
pub fn load_rows(out: &str) -> Vec<(String, u64, u64, u64)> {
    out.lines()
        .skip(2)
        .filter(|l| !l.contains("skipped"))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| c[i].parse().unwrap_or_else(|_| panic!("{l:?} in {out}"));
            (c[0].to_string(), n(1), n(2), n(3))
        })
        .collect()
}

/// Every file under `dir` with its bytes, sorted by path.
pub fn state_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = crate::common::files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds files", dir.display());
    files
}

/// `GET /_localstack/metrics` of a server.
pub fn metrics(server: &Server) -> String {
    let (status, body) = server.http("GET", "/_localstack/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the series named exactly `series` (name and labels), a whole number.
pub fn metric(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {series}:\n{body}"))
}

/// Where a remote's chunks can be counted through S3: the endpoint, the bucket, the prefix.
pub struct Bucket<'a> {
    pub endpoint: &'a str,
    pub name: &'a str,
    pub chunks: &'a str,
}

impl Bucket<'_> {
    pub fn chunks(&self) -> u64 {
        py(self.endpoint, &["count", self.name, self.chunks])
            .trim()
            .parse()
            .unwrap()
    }
}

/// A pass-through HTTP proxy to an S3 endpoint that forwards the first `allow` chunk uploads
/// (`PUT …/chunks/…`) and holds every later one unanswered: a save through it stops mid-way,
/// deterministically, until its process is killed. One request per connection.
pub struct Gate {
    pub endpoint: String,
    /// Chunk uploads that arrived after the first `allow` (held, never forwarded).
    held: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Gate {
    pub fn start(upstream: &str, allow: u64) -> Gate {
        use std::io::{Read, Write};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = Arc::new(AtomicU64::new(0));
        let chunk_puts = Arc::new(AtomicU64::new(0));
        let held2 = held.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (upstream, held, chunk_puts) =
                    (upstream.clone(), held2.clone(), chunk_puts.clone());
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") {
                        match conn.read(&mut byte) {
                            Ok(1) => req.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&req).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if conn.read_exact(&mut body).is_err() {
                        return;
                    }
                    let first = head.lines().next().unwrap_or("");
                    if first.starts_with("PUT ")
                        && first.contains("/chunks/")
                        && chunk_puts.fetch_add(1, Ordering::SeqCst) >= allow
                    {
                        held.fetch_add(1, Ordering::SeqCst);
                        // Unanswered until the client goes away.
                        let mut sink = [0u8; 1024];
                        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                        return;
                    }
                    let mut out: Vec<u8> = Vec::new();
                    for l in head.split("\r\n").filter(|l| !l.is_empty()) {
                        if !l.to_ascii_lowercase().starts_with("connection:") {
                            out.extend_from_slice(l.as_bytes());
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                    out.extend_from_slice(b"Connection: close\r\n\r\n");
                    out.extend_from_slice(&body);
                    let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
                        return;
                    };
                    let mut resp = Vec::new();
                    if up.write_all(&out).is_ok() && up.read_to_end(&mut resp).is_ok() {
                        let _ = conn.write_all(&resp);
                    }
                });
            }
        });
        Gate { endpoint, held }
    }

    pub fn held(&self) -> u64 {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// `{"other_param", "other_queue", "extra", "p3"}` of a server (`pods.py extras`).
pub fn extras(server: &Server) -> serde_json::Value {
    serde_json::from_str(&py(&server.endpoint, &["extras"])).unwrap()
}

/// The row of `service` in a `pod load` table: (added, changed, removed).
pub fn row(out: &str, service: &str) -> (u64, u64, u64) {
    let r = load_rows(out);
    let r = r
        .iter()
        .find(|r| r.0 == service)
        .unwrap_or_else(|| panic!("no {service} in {out}"));
    (r.1, r.2, r.3)
}
