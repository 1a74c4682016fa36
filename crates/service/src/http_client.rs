//! A minimal HTTP/1.1 client for deliveries to `http://` and `https://` endpoints (SNS
//! subscriptions, Firehose HTTP endpoint destinations, EventBridge API destinations): one
//! request per connection (`Connection: close`), bounded by timeouts and by the size of the
//! answer read.
//!
//! TLS is rustls with the ring provider. Servers are trusted if their chain ends in a Mozilla
//! root (`webpki-roots`) or in a certificate of the PEM files named by `SNAPSTACK_CA_BUNDLE`,
//! `REQUESTS_CA_BUNDLE` or `SSL_CERT_FILE` (each that is set; read once, at the first https
//! request). A file that cannot be read is logged and skipped.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// AWS waits 15 seconds for an HTTP endpoint's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer read (head and body).
const MAX_ANSWER: usize = 1 << 20;
/// The environment variables whose PEM files add trusted certificates, in the order read.
pub const CA_BUNDLE_VARS: [&str; 3] =
    ["SNAPSTACK_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"];

/// A URL split for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// `http[s]://host[:port]/path?query` → its parts.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("not an http:// or https:// URL: {url}"));
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], "/".to_string()),
        None => (rest, "/".to_string()),
    };
    let path = match path.split_once('#') {
        Some((p, _)) => p.to_string(),
        None => path,
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
        if tls { 443 } else { 80 }
    } else {
        port.parse().map_err(|_| format!("bad port in {url}"))?
    };
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok(Url {
        tls,
        host,
        port,
        path,
    })
}

/// `http://host[:port]/path?query` → (host, port, path); `https://` too.
pub fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let u = parse_url(url)?;
    Ok((u.host, u.port, u.path))
}

/// An answer: its status, headers (names lower-cased) and body (at most [`MAX_ANSWER`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The certificates trusted beyond the Mozilla roots: those of the bundles the environment names.
fn extra_roots() -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    for var in CA_BUNDLE_VARS {
        let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
            continue;
        };
        match CertificateDer::pem_file_iter(&path) {
            Ok(iter) => {
                let before = out.len();
                out.extend(iter.filter_map(Result::ok));
                if out.len() == before {
                    tracing::warn!("{var}={path:?} holds no PEM certificate");
                }
            }
            Err(e) => tracing::warn!("{var}={path:?} cannot be read: {e}"),
        }
    }
    out
}

/// A client configuration trusting the Mozilla roots and `extra`.
fn config_trusting(
    extra: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let (added, ignored) = roots.add_parsable_certificates(extra);
    if ignored > 0 {
        tracing::warn!("{ignored} certificates of the CA bundles were not usable roots");
    }
    tracing::debug!("https deliveries trust {added} extra certificates");
    // ring rather than aws-lc-rs keeps the build light; rustls deprecates its default provider
    // only for lacking post-quantum key exchange, which these deliveries do not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        .map_err(|e| e.to_string())
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| config_trusting(extra_roots()))
        .clone()
}

/// POST `body` to `url` with `headers`; the answer's status code.
pub async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
    request("POST", url, headers, body).await.map(|a| a.status)
}

/// Send one request; its answer.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<Answer, String> {
    request_with(None, method, url, headers, body).await
}

/// [`request`] with a TLS configuration of the caller's (tests), else the environment's.
async fn request_with(
    config: Option<Arc<rustls::ClientConfig>>,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<Answer, String> {
    let u = parse_url(url)?;
    if !method.bytes().all(|b| b.is_ascii_alphabetic()) || method.is_empty() {
        return Err(format!("bad method {method}"));
    }
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((u.host.as_str(), u.port)),
    )
    .await
    .map_err(|_| format!("connecting to {}:{} timed out", u.host, u.port))?
    .map_err(|e| format!("connecting to {}:{}: {e}", u.host, u.port))?;
    let default_port = if u.tls { 443 } else { 80 };
    let host_header = match (u.port == default_port, u.host.contains(':')) {
        (true, false) => u.host.clone(),
        (true, true) => format!("[{}]", u.host),
        (false, false) => format!("{}:{}", u.host, u.port),
        (false, true) => format!("[{}]:{}", u.host, u.port),
    };
    let mut req = format!("{method} {} HTTP/1.1\r\nHost: {host_header}\r\n", u.path);
    for (k, v) in headers {
        if !v.contains(['\r', '\n']) && !k.contains(['\r', '\n', ':']) {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD" | "OPTIONS" | "DELETE") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let head_only = method == "HEAD";
    let raw = if u.tls {
        let config = match config {
            Some(c) => c,
            None => tls_config()?,
        };
        let name = ServerName::try_from(u.host.clone()).map_err(|e| format!("{url}: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
            .await
            .map_err(|_| format!("TLS handshake with {}:{} timed out", u.host, u.port))?
            .map_err(|e| format!("TLS handshake with {}:{}: {e}", u.host, u.port))?;
        exchange(tls, req.as_bytes(), body, url).await?
    } else {
        exchange(stream, req.as_bytes(), body, url).await?
    };
    parse_answer(&raw, head_only).ok_or_else(|| format!("{url} answered no HTTP status line"))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &[u8],
    body: &[u8],
    url: &str,
) -> Result<Vec<u8>, String> {
    let run = async {
        stream.write_all(head).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        let mut got = Vec::with_capacity(1024);
        let mut buf = [0u8; 8192];
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(n) => n,
                // A peer that closes without TLS close_notify: what was read is the answer.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !got.is_empty() => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            let room = MAX_ANSWER - got.len();
            got.extend_from_slice(&buf[..n.min(room)]);
            if got.len() >= MAX_ANSWER || complete(&got) {
                break;
            }
        }
        Ok::<_, std::io::Error>(got)
    };
    tokio::time::timeout(ANSWER_TIMEOUT, run)
        .await
        .map_err(|_| format!("{url} did not answer in time"))?
        .map_err(|e| format!("{url}: {e}"))
}

/// Whether an answer read so far is whole by its Content-Length (so a server that keeps the
/// connection open is not waited for).
fn complete(got: &[u8]) -> bool {
    let Some(end) = find(got, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..end]);
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    length.is_some_and(|n| got.len() >= end + 4 + n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status line, headers and body of a raw answer (a chunked body is decoded).
fn parse_answer(raw: &[u8], head_only: bool) -> Option<Answer> {
    let end = find(raw, b"\r\n\r\n");
    let head_end = end.unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    if !status_line.starts_with("HTTP/") {
        return None;
    }
    let status = status_line.split_whitespace().nth(1)?.parse::<u16>().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return Some(answer);
    }
    let mut body = end.map(|e| raw[e + 4..].to_vec()).unwrap_or_default();
    if answer
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        body = dechunk(&body);
    } else if let Some(n) = answer
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    answer.body = body;
    Some(answer)
}

/// A chunked body decoded (as much of it as is whole).
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(data, b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..i]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = i + 2;
        let Some(stop) = start.checked_add(size).filter(|s| *s <= data.len()) else {
            out.extend_from_slice(&data[start.min(data.len())..]);
            break;
        };
        out.extend_from_slice(&data[start..stop]);
        data = data.get(stop + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests;
