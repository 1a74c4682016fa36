//! Connection bounds against the real server: idle keep-alive connections, slowloris headers and
//! bodies shorter than their Content-Length are closed after their timeouts; beyond the
//! connection limit new connections are refused at once, and served again once idle ones time
//! out; a long poll longer than the idle timeout and a slow but steady upload are never cut.
//! Timeouts are set short through the environment; assertions allow generous margins.

#[path = "rel_common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, request, start};

/// Timeouts for a test: header, body, idle (seconds).
fn server(dir: &tempfile::TempDir, header: &str, body: &str, idle: &str) -> Server {
    start(
        &dir.path().join("v"),
        &dir.path().join("log"),
        &[
            ("SNAPSTACK_HEADER_TIMEOUT", header),
            ("SNAPSTACK_BODY_TIMEOUT", body),
            ("SNAPSTACK_IDLE_TIMEOUT", idle),
        ],
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

/// Read until the server closes (EOF or reset); answer what was read and how long it took.
fn read_until_closed(c: &mut TcpStream) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept the connection open for {:?}", t.elapsed())
            }
            Err(_) => break, // reset: closed too
        }
    }
    (out, t.elapsed())
}

fn ssm_put_head(len: usize, close: bool) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.PutParameter\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {len}\r\n{}\r\n",
        if close { "Connection: close\r\n" } else { "" }
    )
}

fn still_serves(s: &Server) {
    let (status, body) = s.put("/alive/x", "1").unwrap();
    assert_eq!(status, 200, "{body}");
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, "30", "30", "1");
    // After a request on a keep-alive connection.
    let mut c = connect(s.addr);
    let body = r#"{"Name":"/idle","Value":"v","Type":"String","Overwrite":true}"#;
    c.write_all(ssm_put_head(body.len(), false).as_bytes())
        .unwrap();
    c.write_all(body.as_bytes()).unwrap();
    let (resp, took) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(took < Duration::from_secs(15), "closed after {took:?}");
    // A connection that never sends a byte.
    let mut c = connect(s.addr);
    let (resp, took) = read_until_closed(&mut c);
    assert!(resp.is_empty());
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    still_serves(&s);
}

#[test]
fn a_slowloris_header_is_cut_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, "1", "30", "30");
    let c = connect(s.addr);
    let mut writer = c.try_clone().unwrap();
    // One header line every 100 ms, for up to 30 s: never a complete head.
    let dribble = std::thread::spawn(move || {
        let _ = writer.write_all(b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n");
        for i in 0..300 {
            std::thread::sleep(Duration::from_millis(100));
            if writer
                .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });
    let mut c = c;
    let (_, took) = read_until_closed(&mut c);
    assert!(took < Duration::from_secs(15), "closed after {took:?}");
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    dribble.join().unwrap();
    still_serves(&s);
}

#[test]
fn a_body_shorter_than_its_content_length_is_cut_after_the_body_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, "30", "1", "30");
    // A JSON service: the gateway reads the body; the answer names the timeout.
    let mut c = connect(s.addr);
    c.write_all(ssm_put_head(100, false).as_bytes()).unwrap();
    c.write_all(b"{\"Name\":").unwrap();
    let (resp, took) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("RequestTimeout"), "{text}");
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    assert!(took < Duration::from_secs(15), "closed after {took:?}");
    // S3 streams the body into the chunk store: it is cut the same way and nothing is stored.
    assert_eq!(
        request(s.addr, "PUT", "/short", &[], b"").unwrap().status,
        200
    );
    let mut c = connect(s.addr);
    c.write_all(b"PUT /short/obj HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        .unwrap();
    let (resp, took) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(took < Duration::from_secs(15), "closed after {took:?}");
    let r = request(s.addr, "GET", "/short/obj", &[], b"").unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    still_serves(&s);
}

#[test]
fn a_slow_but_steady_upload_is_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, "1", "1", "1");
    assert_eq!(
        request(s.addr, "PUT", "/slow", &[], b"").unwrap().status,
        200
    );
    // 12 pieces 300 ms apart: 3.6 s in all, three times the body timeout.
    let piece = vec![b'x'; 1000];
    let mut c = connect(s.addr);
    let len = piece.len() * 12;
    c.write_all(
        format!("PUT /slow/obj HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let t = Instant::now();
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(300));
        c.write_all(&piece).unwrap();
    }
    let (resp, _) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(t.elapsed() >= Duration::from_secs(3));
    let r = request(s.addr, "GET", "/slow/obj", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), len);
}

fn sqs(addr: SocketAddr, form: &str) -> common::Response {
    request(
        addr,
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .unwrap()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_long_poll_longer_than_the_idle_timeout_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, "1", "1", "1");
    let r = sqs(
        s.addr,
        "Action=CreateQueue&QueueName=poll&Version=2012-11-05",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let url = text
        .split("<QueueUrl>")
        .nth(1)
        .and_then(|t| t.split("</QueueUrl>").next())
        .unwrap()
        .to_string();
    let enc = encode(&url);
    // Empty: the poll lasts its whole 3 s, three times the idle (and header, body) timeout.
    let t = Instant::now();
    let r = sqs(
        s.addr,
        &format!("Action=ReceiveMessage&QueueUrl={enc}&WaitTimeSeconds=3&Version=2012-11-05"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    // A message sent during the poll is received by it.
    let addr = s.addr;
    let enc1 = enc.clone();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2000));
        let r = sqs(
            addr,
            &format!("Action=SendMessage&QueueUrl={enc1}&MessageBody=late&Version=2012-11-05"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    });
    let enc2 = encode(&url);
    let r = sqs(
        s.addr,
        &format!("Action=ReceiveMessage&QueueUrl={enc2}&WaitTimeSeconds=5&Version=2012-11-05"),
    );
    assert!(r.text().contains("<Body>late</Body>"), "{}", r.text());
    sender.join().unwrap();
}

#[test]
fn beyond_the_connection_limit_new_connections_are_refused_then_served_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        &dir.path().join("v"),
        &dir.path().join("log"),
        &[
            ("SNAPSTACK_MAX_CONNECTIONS", "8"),
            ("SNAPSTACK_IDLE_TIMEOUT", "2"),
        ],
    );
    let idle: Vec<TcpStream> = (0..8).map(|_| connect(s.addr)).collect();
    // Let the server take them all.
    std::thread::sleep(Duration::from_millis(300));
    // The ninth is answered at once (a 503, or closed), not left hanging.
    let t = Instant::now();
    let mut c = connect(s.addr);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = c.write_all(b"GET /x/y HTTP/1.1\r\nHost: x\r\n\r\n");
    let (resp, _) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 503"),
        "{text}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Once the idle ones time out, new clients are served.
    common::wait_until("a new client to be served", Duration::from_secs(30), || {
        matches!(s.put("/limit/x", "1"), Ok((200, _)))
    });
    drop(idle);
    still_serves(&s);
    let log = s.log_text();
    assert!(log.contains("too many open connections"), "{log}");
}

#[cfg(target_os = "linux")]
#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_limit() {
    // Lower this process's soft limit (children inherit it); the server raises its own.
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    let hard = rl.rlim_max;
    let low = libc::rlimit {
        rlim_cur: hard.min(4096) / 2,
        rlim_max: hard,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir.path().join("v"), &dir.path().join("log"), &[]);
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard_seen) = (fields[3], fields[4]);
    assert_eq!(soft, hard_seen, "{line}");
    assert!(s.log_text().contains("max_connections"), "{}", s.log_text());
}

/// boto3 sends `Expect: 100-continue` on every `PutObject` and `UploadPart`. A request refused
/// before its body is read is answered without `100 Continue` and says `Connection: close`
/// (the server closes such a connection: the client may still send the body or not), so that
/// the client does not reuse a connection that is going away; a request whose body is read
/// gets `100 Continue`, then its answer, on a connection that stays open.
#[test]
fn an_expect_continue_request_refused_before_its_body_says_the_connection_closes() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, "30", "30", "30");
    let mut c = connect(s.addr);
    c.write_all(
        b"PUT /no-such-bucket/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let (resp, _) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 404"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert!(!text.contains("100 continue"), "{text}");

    let mut c = connect(s.addr);
    let body = r#"{"Name":"/expect","Value":"v","Type":"String","Overwrite":true}"#;
    let head =
        ssm_put_head(body.len(), false).replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    c.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 25];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(body.as_bytes()).unwrap();
    // The same connection serves a second request, which closes it.
    c.write_all(ssm_put_head(body.len(), true).as_bytes())
        .unwrap();
    c.write_all(body.as_bytes()).unwrap();
    let (resp, _) = read_until_closed(&mut c);
    let text = String::from_utf8_lossy(&resp);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    still_serves(&s);
}
