//! Safe defaults and hostile requests against the real server: it listens on 127.0.0.1 unless
//! told otherwise, bounds request bodies, validates the service names and paths of the state
//! endpoints, and survives garbage on the wire. After each abuse it still serves.

#[path = "rel_common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, files, request, start};
use serde_json::json;
use snapstack::server::config::{Config, Overrides};

fn still_serves(s: &Server) {
    let (status, body) = s.put("/alive/x", "1").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(common::get(s.addr, "/alive/x").as_deref(), Some("1"));
}

#[test]
fn listens_on_loopback_by_default() {
    let c = Config::resolve(&Overrides::default(), |_| None).unwrap();
    assert!(c.listen.ip().is_loopback(), "{}", c.listen);
    assert_eq!(c.listen.to_string(), "127.0.0.1:4566");
    // A bare port (here 0: any free one) also means 127.0.0.1, for the real binary too.
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("v"),
        &dir.path().join("log"),
        &[("GATEWAY_LISTEN", "0")],
    );
    assert_eq!(s.addr.ip().to_string(), "127.0.0.1");
    still_serves(&s);
}

#[test]
fn request_bodies_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("v"), &dir.path().join("log"), &[]);
    let limit = snapstack::server::gateway::MAX_BODY;
    let target = [
        ("X-Amz-Target", "AmazonSSM.PutParameter"),
        ("Content-Type", "application/x-amz-json-1.1"),
    ];

    // Announced too large: refused before a byte of it is read.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.PutParameter\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        limit + 1
    )
    .unwrap();
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("RequestEntityTooLarge"), "{text}");

    // Not announced (chunked) and too large: cut off at the limit.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        c,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.PutParameter\r\nContent-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let piece = vec![b' '; 1 << 20];
    for _ in 0..(limit >> 20) + 2 {
        if write!(c, "{:x}\r\n", piece.len())
            .and_then(|_| c.write_all(&piece))
            .and_then(|_| c.write_all(b"\r\n"))
            .is_err()
        {
            break; // the server answered and closed: fine
        }
    }
    let _ = c.write_all(b"0\r\n\r\n");
    let mut resp = Vec::new();
    let _ = c.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 413"),
        "{}",
        &text[..text.len().min(300)]
    );

    // Just under the limit is a normal (here: invalid JSON) request.
    let r = request(s.addr, "POST", "/", &target, &vec![b'x'; 1000]).unwrap();
    assert_eq!(r.status, 400);
    still_serves(&s);
}

#[test]
fn state_endpoint_names_and_paths_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("v");
    let s = start(&volume, &dir.path().join("log"), &[]);
    let long = "a".repeat(65);
    let bad = [
        "/_localstack/state/../save".to_string(),
        "/_localstack/state/../../etc/save".to_string(),
        "/_localstack/state/%2e%2e/save".to_string(),
        "/_localstack/state/%2E%2E/save".to_string(),
        "/_localstack/state/ssm%2f..%2f..%2fx/save".to_string(),
        "/_localstack/state/SSM/save".to_string(),
        "/_localstack/state/ss%6d/save".to_string(),
        "/_localstack/state/.ssm/save".to_string(),
        "/_localstack/state/ssm_x/save".to_string(),
        format!("/_localstack/state/{long}/save"),
        "/_localstack/state//save".to_string(),
        "/_localstack/state/ssm/%2e%2e".to_string(),
    ];
    for path in &bad {
        for method in ["POST", "GET"] {
            let r = request(s.addr, method, path, &[], b"").unwrap();
            assert!(
                r.status == 400 || r.status == 404 || r.status == 405,
                "{method} {path}: {}",
                r.status
            );
            assert!(
                r.json()["error"].is_string(),
                "{method} {path}: {}",
                r.text()
            );
        }
    }
    // A valid name that is no service: 404 with the list of services.
    for path in [
        "/_localstack/state/stepfunctions/save",
        "/_localstack/state/a-b-c/load",
    ] {
        let r = request(s.addr, "POST", path, &[], b"").unwrap();
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json()["error"].as_str().unwrap().contains("ssm"));
    }
    // An overlong service name is refused before anything else looks at it.
    let r = request(
        s.addr,
        "POST",
        &format!("/_localstack/state/{long}/save"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    // Nothing was written outside the state directory, and nothing odd inside it.
    let mut all: Vec<_> = files(dir.path())
        .into_iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf())
        .collect();
    all.retain(|p| p.to_string_lossy() != "log");
    // The volume lock a running server holds (`crates/engine/src/lock.rs`) is expected.
    all.retain(|p| p.to_string_lossy() != "v/.snapstack.lock");
    assert!(
        all.iter().all(|p| p.starts_with("v/state")),
        "unexpected files: {all:?}"
    );
    still_serves(&s);
}

#[test]
fn hostile_requests_get_errors_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("v"), &dir.path().join("log"), &[]);
    let target = |op: &str| format!("AmazonSSM.{op}");
    let cases: Vec<(String, Vec<u8>)> = vec![
        // Deeply nested JSON: serde_json's recursion limit, not a stack overflow.
        ("PutParameter".into(), "[".repeat(200_000).into_bytes()),
        (
            "PutParameter".into(),
            "{\"a\":".repeat(100_000).into_bytes(),
        ),
        // Not UTF-8, not JSON, wrong types, huge numbers, unknown fields.
        ("PutParameter".into(), vec![0xff, 0xfe, 0x00, 0x80]),
        (
            "PutParameter".into(),
            json!({"Name": 5, "Value": [1, 2]}).to_string().into_bytes(),
        ),
        (
            "GetParametersByPath".into(),
            json!({"Path": "/", "MaxResults": 1e300})
                .to_string()
                .into_bytes(),
        ),
        (
            "GetParametersByPath".into(),
            json!({"Path": "/", "NextToken": "zz".repeat(10_000)})
                .to_string()
                .into_bytes(),
        ),
        (
            "PutParameter".into(),
            json!({"Name": format!("/{}", "a/".repeat(5000)), "Value": "x"})
                .to_string()
                .into_bytes(),
        ),
        (
            "PutParameter".into(),
            json!({"Name": "/../../etc/passwd", "Value": "x", "Type": "String"})
                .to_string()
                .into_bytes(),
        ),
        (
            "PutParameter".into(),
            json!({"Name": "/x", "Value": "v".repeat(100_000), "Type": "String"})
                .to_string()
                .into_bytes(),
        ),
        ("NoSuchOperation".into(), b"{}".to_vec()),
    ];
    for (op, body) in &cases {
        let t = target(op);
        let r = request(
            s.addr,
            "POST",
            "/",
            &[
                ("X-Amz-Target", &t),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            body,
        )
        .unwrap();
        let prefix = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        assert!(
            r.status == 400 || r.status == 200,
            "{op} {prefix}: {} {}",
            r.status,
            r.text()
        );
        if r.status == 400 {
            assert!(
                r.json()["__type"].is_string(),
                "{op} {prefix}: {}",
                r.text()
            );
        }
    }
    // Garbage on the wire: an error or a closed connection, never a dead server.
    for garbage in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\n",
    ] {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.write_all(garbage);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{garbage:?}: {text}"
        );
    }
    // A header far too large.
    let big = "x".repeat(1 << 20);
    let r = request(s.addr, "GET", "/", &[("X-Big", &big)], b"");
    if let Ok(r) = r {
        assert!(r.status >= 400, "{}", r.status);
    }
    still_serves(&s);
}
