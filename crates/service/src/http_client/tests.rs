#![allow(deprecated)] // rustls::crypto::ring::default_provider: see config_trusting

use super::*;

#[test]
fn urls_split() {
    assert_eq!(
        split_url("http://a:81/x?y=1").unwrap(),
        ("a".into(), 81, "/x?y=1".into())
    );
    assert_eq!(split_url("http://a").unwrap(), ("a".into(), 80, "/".into()));
    assert_eq!(
        split_url("http://a?q").unwrap(),
        ("a".into(), 80, "/?q".into())
    );
    assert_eq!(
        split_url("http://[::1]:9/p").unwrap(),
        ("::1".into(), 9, "/p".into())
    );
    let u = parse_url("https://h.example/p#frag").unwrap();
    assert!(u.tls);
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("h.example", 443, "/p")
    );
    assert!(split_url("http://:80/").is_err());
    assert!(split_url("http://a:x/").is_err());
    assert!(split_url("ftp://a/").is_err());
}

#[test]
fn answers_parse_with_lengths_and_chunks() {
    let a = parse_answer(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}junk",
        false,
    )
    .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.body, b"{}");
    let a = parse_answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        false,
    )
    .unwrap();
    assert_eq!(a.body, b"abcde");
    // A chunk size past the data: what there is, no panic.
    assert_eq!(dechunk(b"ffffffffffffffff\r\nab"), b"ab");
    assert!(parse_answer(b"garbage", false).is_none());
    assert!(complete(b"HTTP/1.1 204 No\r\nContent-Length: 0\r\n\r\n"));
    assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"));
}

/// A one-shot server: reads until `until` is in the request, answers `answer`, returns the request.
async fn serve_once<S>(stream: S, until: &'static str, answer: &'static [u8]) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut s = stream;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(until) {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(answer).await.unwrap();
    s.shutdown().await.ok();
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn posts_and_reads_the_status() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        serve_once(s, "hello", b"HTTP/1.0 204 No Content\r\n\r\n").await
    });
    let status = post(
        &format!("http://{addr}/in"),
        &[("x-amz-sns-message-type", "Notification".into())],
        b"hello",
    )
    .await
    .unwrap();
    assert_eq!(status, 204);
    let req = server.await.unwrap();
    assert!(req.starts_with("POST /in HTTP/1.1\r\n"));
    assert!(req.contains("x-amz-sns-message-type: Notification\r\n"));
    assert!(req.contains("Content-Length: 5\r\n"));
    // Nothing listening: an error, not a hang.
    assert!(post("http://127.0.0.1:1/", &[], b"x").await.is_err());
    assert!(post("https://127.0.0.1:1/", &[], b"x").await.is_err());
}

#[tokio::test]
async fn https_is_spoken_to_a_trusted_server_and_refused_to_an_untrusted_one() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_der = cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let server_config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap(),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
    let server = tokio::spawn(async move {
        // First connection: the untrusting client gives up in the handshake.
        let (s, _) = l.accept().await.unwrap();
        let _ = acceptor.accept(s).await;
        let (s, _) = l.accept().await.unwrap();
        let tls = acceptor.accept(s).await.unwrap();
        serve_once(
            tls,
            "{\"a\":1}",
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"b\":2}",
        )
        .await
    });
    let url = format!("https://localhost:{port}/hook?x=1");
    let untrusting = config_trusting(Vec::new()).unwrap();
    let err = request_with(Some(untrusting), "POST", &url, &[], b"{\"a\":1}")
        .await
        .unwrap_err();
    assert!(err.contains("TLS handshake"), "{err}");
    let trusting = config_trusting(vec![cert_der]).unwrap();
    let answer = request_with(
        Some(trusting),
        "PUT",
        &url,
        &[("Authorization", "Basic dTpw".into())],
        b"{\"a\":1}",
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"{\"b\":2}");
    let req = server.await.unwrap();
    assert!(req.starts_with("PUT /hook?x=1 HTTP/1.1\r\n"), "{req}");
    assert!(req.contains(&format!("Host: localhost:{port}\r\n")));
    assert!(req.contains("Authorization: Basic dTpw\r\n"));
}
