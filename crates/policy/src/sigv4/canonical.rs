//! The canonical request and the string to sign (and the client side: the `Authorization`
//! header that signs a request), with AWS's URI encoding and query decoding.

use super::*;

/// The query's pairs, percent-decoded (`+` stays a `+`).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// AWS's URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX`, `/` kept when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    uri_encode_into(s, keep_slash, &mut out);
    out
}

/// [`uri_encode`] appended to `out`.
pub(super) fn uri_encode_into(s: &str, keep_slash: bool, out: &mut String) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => {
                out.push('%');
                out.push(UPPER[usize::from(b >> 4)] as char);
                out.push(UPPER[usize::from(b & 15)] as char);
            }
        }
    }
}

/// Whether a path is already normalized: no `.`, `..` or empty segments but a trailing one.
pub(super) fn normalized_already(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty() && rest.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

/// Remove `.` and `..` segments and empty ones, keeping a leading and trailing slash.
pub(super) fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::from("/");
    s.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        s.push('/');
    }
    s
}

/// The canonical request the signature is computed over.
pub fn canonical_request(
    req: &SignedRequest<'_>,
    query: &[(String, String)],
    signed_headers: &[String],
    s3: bool,
    content_sha256: &str,
) -> String {
    let bytes = canonical_request_bytes(req, query, &signed_headers.join(";"), s3, content_sha256);
    // Only text was written (see `write_header_bytes`).
    String::from_utf8_lossy(&bytes).into_owned()
}

/// [`canonical_request`] as the bytes that are hashed, over the signed header names as the
/// request lists them (lower case, `;`-separated): written into one buffer, nothing allocated
/// per header or per path segment, header values copied as sent when canonical.
pub(super) fn canonical_request_bytes(
    req: &SignedRequest<'_>,
    query: &[(String, String)],
    signed_headers: &str,
    s3: bool,
    content_sha256: &str,
) -> Vec<u8> {
    let mut out = String::with_capacity(256 + req.path.len() + req.query.len());
    for c in req.method.chars() {
        out.push(c.to_ascii_uppercase());
    }
    out.push('\n');
    if s3 {
        out.push_str(if req.path.is_empty() { "/" } else { req.path });
    } else if normalized_already(req.path) {
        uri_encode_into(req.path, true, &mut out);
    } else {
        uri_encode_into(&normalize_path(req.path), true, &mut out);
    }
    out.push('\n');
    let signed_query = query.iter().filter(|(k, _)| k != "X-Amz-Signature");
    if query.len() == 1 && signed_query.clone().count() == 1 {
        let (k, v) = &query[0];
        uri_encode_into(k, false, &mut out);
        out.push('=');
        uri_encode_into(v, false, &mut out);
    } else if !query.is_empty() {
        let mut pairs: Vec<(String, String)> = signed_query
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        pairs.sort();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out.push('\n');
    let mut out = out.into_bytes();
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        write_header_bytes(req, name, &mut out);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(content_sha256.as_bytes());
    out
}

/// The string to sign: the algorithm, the time, the scope and the canonical request's hash.
pub(super) fn string_to_sign(
    algorithm: &str,
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical: &[u8],
) -> String {
    let mut sts = String::with_capacity(64 + amz_date.len() + 48 + 64);
    sts.push_str(algorithm);
    sts.push('\n');
    sts.push_str(amz_date);
    sts.push('\n');
    sts.push_str(date);
    sts.push('/');
    // SigV4a's scope names no region.
    if algorithm == ALGORITHM {
        sts.push_str(region);
        sts.push('/');
    }
    sts.push_str(service);
    sts.push_str("/aws4_request\n");
    hex_into(&Sha256::digest(canonical), &mut sts);
    sts
}

/// The `Authorization` header value that signs `req` (header form) with `secret` at `amz_date`
/// (`YYYYMMDDTHHMMSSZ`), over `signed_headers` (lower-case names `req` carries): what a client
/// sends (the load generator, tests).
pub fn authorization(
    req: &SignedRequest<'_>,
    access_key: &str,
    secret: &str,
    amz_date: &str,
    region: &str,
    service: &str,
    signed_headers: &[String],
) -> String {
    let date = amz_date.get(..8).unwrap_or("");
    let query = parse_query(req.query);
    let content_sha256 = header(req, "x-amz-content-sha256")
        .map_or_else(|| req.payload_hash.to_owned(), Cow::into_owned);
    let canonical = canonical_request(
        req,
        &query,
        signed_headers,
        service == "s3",
        &content_sha256,
    );
    let scope = scope(date, region, service);
    let sts = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(secret, date, region, service);
    format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={}",
        signed_headers.join(";"),
        hex(&hmac(&key, sts.as_bytes()))
    )
}
