//! Shared helpers of the server-level reliability tests: run the real `snapstack` binary, talk to
//! it with a tiny HTTP/1.1 client over `std::net::TcpStream`, and a seeded PRNG.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// xorshift64*: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// A running `snapstack serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    _stdout: BufReader<ChildStdout>,
}

/// Start `snapstack serve` on a free port with `LOCALSTACK_VOLUME_DIR=volume` and the given extra
/// environment; stderr goes to `log` (appended). Waits for the `snapstack listening on` line.
pub fn start(volume: &Path, log: &Path, env: &[(&str, &str)]) -> Server {
    try_start(volume, log, env).unwrap_or_else(|e| {
        let l = std::fs::read_to_string(log).unwrap_or_default();
        panic!("the server did not start: {e}\n--- log ---\n{l}")
    })
}

pub fn try_start(volume: &Path, log: &Path, env: &[(&str, &str)]) -> Result<Server, String> {
    let err = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snapstack"));
    cmd.arg("serve")
        .env_remove("GATEWAY_LISTEN")
        .env_remove("SNAPSHOT_SAVE_STRATEGY")
        .env_remove("SNAPSHOT_LOAD_STRATEGY")
        .env_remove("SNAPSHOT_FLUSH_INTERVAL")
        .env("PERSISTENCE", "1")
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("LOCALSTACK_VOLUME_DIR", volume)
        .env("SNAPSTACK_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    match out.read_line(&mut line) {
        Ok(n) if n > 0 => {}
        _ => {
            let _ = child.kill();
            let status = child.wait().ok();
            return Err(format!("no address on stdout (exit status {status:?})"));
        }
    }
    let addr = line
        .trim()
        .strip_prefix("snapstack listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected first line {line:?}"))?;
    Ok(Server {
        child,
        addr,
        log: log.to_path_buf(),
        _stdout: out,
    })
}

impl Server {
    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful shutdown, which saves), and wait for the exit.
    pub fn terminate(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }

    pub fn ssm(&self, op: &str, body: &Value) -> Result<(u16, Value), String> {
        ssm(self.addr, op, body)
    }

    pub fn put(&self, name: &str, value: &str) -> Result<(u16, Value), String> {
        put(self.addr, name, value)
    }

    pub fn state(&self) -> Value {
        let r = request(self.addr, "GET", "/_localstack/state", &[], b"").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }

    /// `GET /_localstack/health`.
    #[allow(dead_code)]
    pub fn health(&self) -> Value {
        let r = request(self.addr, "GET", "/_localstack/health", &[], b"").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }

    /// `POST /_localstack/state/<what>` (`what` is e.g. `save` or `ssm/load`): the JSON lines.
    pub fn state_op(&self, what: &str) -> (u16, Vec<Value>) {
        let r = request(
            self.addr,
            "POST",
            &format!("/_localstack/state/{what}"),
            &[],
            b"",
        )
        .unwrap();
        let lines = r
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({ "raw": l })))
            .collect();
        (r.status, lines)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One request on a fresh connection (`Connection: close`); reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    s.set_nodelay(true).ok();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("receive: {e}"))?;
    parse_response(&raw, method == "HEAD")
}

/// Parse a whole response; `head`: the answer to a HEAD, which has no body whatever its length.
fn parse_response(raw: &[u8], no_body: bool) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("incomplete response ({} bytes)", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if no_body {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        match len {
            Some(n) if n <= rest.len() => rest[..n].to_vec(),
            Some(n) => return Err(format!("body cut short: {} of {n} bytes", rest.len())),
            None => rest.to_vec(),
        }
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body cut short")?;
        let size_str = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_str:?}"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("chunk cut short".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// An SSM call over JSON 1.1: the status and the parsed body.
pub fn ssm(addr: SocketAddr, op: &str, body: &Value) -> Result<(u16, Value), String> {
    let target = format!("AmazonSSM.{op}");
    let r = request(
        addr,
        "POST",
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body.to_string().as_bytes(),
    )?;
    Ok((r.status, r.json()))
}

pub fn put(addr: SocketAddr, name: &str, value: &str) -> Result<(u16, Value), String> {
    ssm(
        addr,
        "PutParameter",
        &json!({"Name": name, "Value": value, "Type": "String", "Overwrite": true}),
    )
}

/// The value of a parameter, `None` if it does not exist.
pub fn get(addr: SocketAddr, name: &str) -> Option<String> {
    let (status, v) = ssm(addr, "GetParameter", &json!({ "Name": name })).unwrap();
    match status {
        200 => Some(v["Parameter"]["Value"].as_str().unwrap().to_string()),
        400 if v["__type"]
            .as_str()
            .is_some_and(|t| t.contains("ParameterNotFound")) =>
        {
            None
        }
        _ => panic!("GetParameter {name}: {status} {v}"),
    }
}

/// Every parameter directly under `path`: name → value (follows `NextToken`).
pub fn by_path(addr: SocketAddr, path: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"Path": path, "MaxResults": 10});
        if let Some(t) = &token {
            req["NextToken"] = json!(t);
        }
        let (status, v) = ssm(addr, "GetParametersByPath", &req).unwrap();
        assert_eq!(status, 200, "GetParametersByPath {path}: {v}");
        for p in v["Parameters"].as_array().unwrap() {
            out.insert(
                p["Name"].as_str().unwrap().to_string(),
                p["Value"].as_str().unwrap().to_string(),
            );
        }
        match v.get("NextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

/// Every regular file under `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Poll `f` until it returns true (event-driven waits, with a generous cap).
pub fn wait_until(what: &str, cap: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + cap;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
