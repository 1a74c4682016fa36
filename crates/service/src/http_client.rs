//! A minimal HTTP/1.1 client for deliveries to `http://` endpoints (SNS subscriptions, Firehose
//! HTTP endpoint destinations): one POST per connection, bounded by timeouts, and only the
//! status line of the answer is read. `https://` endpoints are refused (this build has no TLS):
//! the caller treats that as an unreachable endpoint (retries, then its dead-letter path).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// AWS waits 15 seconds for an HTTP endpoint's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest status line read.
const MAX_HEAD: usize = 8192;

/// `http://host[:port]/path?query` → (host, port, path).
pub fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, p) = h.split_once(']').ok_or("bad IPv6 host")?;
        (h.to_string(), p.strip_prefix(':').unwrap_or(""))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), ""),
        }
    };
    let port = if port.is_empty() {
        80
    } else {
        port.parse().map_err(|_| format!("bad port in {url}"))?
    };
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok((host, port, path))
}

/// POST `body` to `url` with `headers`; the answer's status code.
pub async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
    if url.starts_with("https://") {
        return Err("https endpoints are not supported (no TLS in this build)".into());
    }
    let (host, port, path) = split_url(url)?;
    let mut stream =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| format!("connecting to {host}:{port} timed out"))?
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let host_header = if port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {host_header}\r\n");
    for (k, v) in headers {
        if !v.contains(['\r', '\n']) {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let exchange = async {
        stream.write_all(req.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        let mut head = Vec::with_capacity(256);
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(2).any(|w| w == b"\r\n") || head.len() >= MAX_HEAD {
                break;
            }
        }
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{url} did not answer in time"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| format!("{url} answered no HTTP status line"))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
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
        assert!(split_url("http://:80/").is_err());
        assert!(split_url("http://a:x/").is_err());
        assert!(split_url("ftp://a/").is_err());
    }

    #[tokio::test]
    async fn posts_and_reads_the_status() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("hello") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.0 204 No Content\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
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
        drop(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        assert!(post("http://127.0.0.1:1/", &[], b"x").await.is_err());
        assert!(post("https://127.0.0.1/", &[], b"x").await.is_err());
    }
}
