//! What a request says about who sends it and where: the SigV4 credential scope (access key,
//! region, service), the account derived from the access key, and a request id.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

/// The account used when the access key is not a 12-digit account id.
pub const DEFAULT_ACCOUNT: &str = "000000000000";
/// The host name in the URLs handed out when `LOCALSTACK_HOST` is not set (LocalStack's).
pub const DEFAULT_LOCALSTACK_HOSTNAME: &str = "localhost.localstack.cloud";
/// The region used when the request names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The parts of a SigV4 credential scope: `AKID/date/region/service/aws4_request`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

/// Parse the credential scope from an `Authorization: AWS4-HMAC-SHA256 Credential=...` header,
/// or a SigV4a one (`AWS4-ECDSA-P256-SHA256`), whose scope names no region (the region is left
/// empty: [`scope_of_request`] takes it from the region set).
pub fn parse_authorization(header: &str) -> Option<CredentialScope> {
    let header = header.trim();
    let (rest, v4a) = match header.strip_prefix("AWS4-HMAC-SHA256") {
        Some(rest) => (rest, false),
        None => (header.strip_prefix(SIGV4A)?, true),
    };
    let cred = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    if v4a {
        parse_credential_v4a(cred)
    } else {
        parse_credential(cred)
    }
}

/// SigV4a's algorithm name.
const SIGV4A: &str = "AWS4-ECDSA-P256-SHA256";

/// SigV4a's `AKID/date/service/aws4_request`, with an empty region.
fn parse_credential_v4a(cred: &str) -> Option<CredentialScope> {
    credential_scope(cred, false)
}

/// The region a SigV4a region set (`X-Amz-Region-Set: us-east-1,us-west-2`, or `*`) names
/// first, if it names one without wildcards.
fn first_of_region_set(set: &str) -> Option<&str> {
    set.split(',').map(str::trim).find(|r| valid_region(r))
}

/// Parse a SigV2 `Authorization: AWS AKID:signature` header.
pub fn parse_authorization_v2(header: &str) -> Option<CredentialScope> {
    let rest = header.trim().strip_prefix("AWS ")?;
    let (access_key, _signature) = rest.trim().split_once(':')?;
    v2_scope(access_key)
}

/// A SigV2 credential: an access key, no region, no service.
fn v2_scope(access_key: &str) -> Option<CredentialScope> {
    let access_key = access_key.trim();
    (!access_key.is_empty()).then(|| CredentialScope {
        access_key: access_key.to_string(),
        ..CredentialScope::default()
    })
}

/// Parse `AKID/date/region/service/aws4_request`.
pub fn parse_credential(cred: &str) -> Option<CredentialScope> {
    credential_scope(cred, true)
}

/// A credential scope's parts, with a region (SigV4) or without (SigV4a).
fn credential_scope(cred: &str, regional: bool) -> Option<CredentialScope> {
    let mut parts = cred.trim().split('/');
    let access_key = parts.next()?.to_string();
    let date = parts.next()?.to_string();
    let region = if regional {
        parts.next()?.to_string()
    } else {
        String::new()
    };
    let service = parts.next()?.to_string();
    if access_key.is_empty() {
        return None;
    }
    Some(CredentialScope {
        access_key,
        date,
        region,
        service,
    })
}

/// The account an access key belongs to: a 12-digit key id is that account, anything else the
/// default account.
pub fn account_for_access_key(access_key: &str) -> String {
    if access_key.len() == 12 && access_key.bytes().all(|b| b.is_ascii_digit()) {
        access_key.to_string()
    } else {
        DEFAULT_ACCOUNT.to_string()
    }
}

/// A region name is lower-case letters, digits and dashes.
fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The credential scope a request is signed with: its SigV4 `Authorization` header, a SigV2
/// one (`AWS AKID:signature`), or, for presigned URLs, the query's `X-Amz-Credential` (or SigV2
/// `AWSAccessKeyId=`, as boto3 presigns S3 URLs by default). SigV2 forms name the access key but
/// no region or service.
pub fn scope_of_request(headers: &HeaderMap, query: Option<&str>) -> Option<CredentialScope> {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let query_pairs = || -> Vec<(String, String)> {
        query
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default()
    };
    if let Some(mut scope) = authorization.and_then(parse_authorization) {
        if scope.region.is_empty() {
            // SigV4a: the signed region set says where.
            let set = headers
                .get("x-amz-region-set")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            scope.region = first_of_region_set(set).unwrap_or("").to_string();
        }
        return Some(scope);
    }
    authorization.and_then(parse_authorization_v2).or_else(|| {
        let pairs = query_pairs();
        let find = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let v4a = find("X-Amz-Algorithm").is_some_and(|a| a == SIGV4A);
        let credential = find("X-Amz-Credential");
        if v4a {
            let mut scope = credential.and_then(|v| parse_credential_v4a(v))?;
            let set = find("X-Amz-Region-Set").map_or("", String::as_str);
            scope.region = first_of_region_set(set).unwrap_or("").to_string();
            return Some(scope);
        }
        credential
            .and_then(|v| parse_credential(v))
            .or_else(|| find("AWSAccessKeyId").and_then(|v| v2_scope(v)))
    })
}

/// The bucket a virtual-hosted-style S3 host names (`<bucket>.s3.<anything>`,
/// `<bucket>.localhost`, a port ignored), if it names one: what S3's router and IAM
/// enforcement both read, so that they agree.
pub fn virtual_host_bucket(host: &str) -> Option<&str> {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    // `.s3.` found without a substring searcher's set-up: hosts are short.
    let bucket = match host.as_bytes().windows(4).position(|w| w == b".s3.") {
        Some(at) => &host[..at],
        None => host.strip_suffix(".localhost")?,
    };
    (!bucket.is_empty() && !bucket.contains(':') && !bucket.contains('/')).then_some(bucket)
}

/// The region a request names, or the default region when it names none or an invalid one.
pub fn region_or_default(region: String) -> String {
    if valid_region(&region) {
        region
    } else {
        DEFAULT_REGION.to_string()
    }
}

/// A form-encoded parameter whose name or value does not decode to UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotUtf8 {
    /// The parameter's name (lossily decoded when the name itself is the culprit).
    pub name: String,
    /// The first byte that is not part of a UTF-8 character.
    pub byte: u8,
}

/// Form-encoded pairs (`a=b&c=d`, `+` for a space, `%XX` escapes) as the query protocol sends
/// them. Unlike `serde_urlencoded`, which replaces what is not UTF-8 with U+FFFD and so stores
/// something the client never sent (an SQS `MessageBody=%FF%FE` was kept altered, with the MD5
/// of the altered text), a name or value whose decoded bytes are not UTF-8 is an error. A `%`
/// not followed by two hex digits is kept literally, as by `serde_urlencoded`.
pub fn parse_form(input: &[u8]) -> Result<Vec<(String, String)>, NotUtf8> {
    let decode = |raw: &[u8]| -> Result<String, (Vec<u8>, u8)> {
        let plus: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
        String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let byte = bytes[at];
            (bytes, byte)
        })
    };
    let mut out = Vec::new();
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode(name).map_err(|(bytes, byte)| NotUtf8 {
            name: String::from_utf8_lossy(&bytes).into_owned(),
            byte,
        })?;
        let value = decode(value).map_err(|(_, byte)| NotUtf8 {
            name: name.clone(),
            byte,
        })?;
        out.push((name, value));
    }
    Ok(out)
}

/// A fresh request id shaped like a UUID.
pub fn new_request_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| RandomState::new().build_hasher().finish());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(seed ^ n);
    let a = h.finish();
    let b = seed.rotate_left(17) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a as u16) & 0x0fff,
        ((b >> 48) as u16 & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sigv4_header() {
        let h = "AWS4-HMAC-SHA256 Credential=123456789012/20240101/eu-west-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        let s = parse_authorization(h).unwrap();
        assert_eq!(s.access_key, "123456789012");
        assert_eq!(s.date, "20240101");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.service, "ssm");
    }

    #[test]
    fn a_sigv4a_scope_takes_its_region_from_the_region_set() {
        let auth = "AWS4-ECDSA-P256-SHA256 Credential=111122223333/20240101/events/aws4_request, SignedHeaders=host;x-amz-region-set, Signature=3044";
        let mut headers = HeaderMap::new();
        headers.insert("authorization", auth.parse().unwrap());
        for (set, region) in [
            ("*", ""),
            ("eu-west-1", "eu-west-1"),
            ("*,us-west-2 , eu-west-1", "us-west-2"),
            ("us-*", ""),
        ] {
            headers.insert("x-amz-region-set", set.parse().unwrap());
            let s = scope_of_request(&headers, None).unwrap();
            assert_eq!(
                (s.access_key.as_str(), s.service.as_str(), s.region.as_str()),
                ("111122223333", "events", region),
                "{set}"
            );
        }
        // Presigned.
        let q = "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=111122223333%2F20240101%2Fs3%2Faws4_request&X-Amz-Region-Set=ap-south-1&X-Amz-Signature=30";
        let s = scope_of_request(&HeaderMap::new(), Some(q)).unwrap();
        assert_eq!(
            (s.access_key.as_str(), s.service.as_str(), s.region.as_str()),
            ("111122223333", "s3", "ap-south-1")
        );
        assert_eq!(region_or_default(s.region), "ap-south-1");
        assert_eq!(region_or_default(String::new()), DEFAULT_REGION);
    }

    #[test]
    fn virtual_hosted_buckets() {
        for (host, bucket) in [
            ("photos.s3.localhost.localstack.cloud:4566", Some("photos")),
            ("photos.s3.amazonaws.com", Some("photos")),
            (
                "my.dotted.bucket.s3.us-east-1.amazonaws.com",
                Some("my.dotted.bucket"),
            ),
            ("photos.localhost:4566", Some("photos")),
            ("photos.localhost", Some("photos")),
            ("localhost:4566", None),
            ("127.0.0.1:4566", None),
            ("s3.amazonaws.com", None),
            (".s3.amazonaws.com", None),
            ("a:b.s3.x", None),
            ("", None),
        ] {
            assert_eq!(virtual_host_bucket(host), bucket, "{host}");
        }
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        assert_eq!(parse_authorization("Basic abc"), None);
        assert_eq!(parse_authorization("AWS4-HMAC-SHA256 Signature=x"), None);
        assert_eq!(parse_authorization("AWS4-HMAC-SHA256 Credential="), None);
    }

    #[test]
    fn account_from_access_key() {
        assert_eq!(account_for_access_key("111122223333"), "111122223333");
        assert_eq!(
            account_for_access_key("AKIAIOSFODNN7EXAMPLE"),
            DEFAULT_ACCOUNT
        );
        assert_eq!(account_for_access_key("12345678901"), DEFAULT_ACCOUNT);
        assert_eq!(account_for_access_key("test"), DEFAULT_ACCOUNT);
    }

    #[test]
    fn forms_decode_strictly() {
        assert_eq!(
            parse_form(b"a=1&b=x+y%20z&&c&d=%zz%C3%A9").unwrap(),
            [("a", "1"), ("b", "x y z"), ("c", ""), ("d", "%zz\u{e9}")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            parse_form(b"Action=SendMessage&MessageBody=ok%FF%FE").unwrap_err(),
            NotUtf8 {
                name: "MessageBody".into(),
                byte: 0xFF
            }
        );
        assert_eq!(parse_form(b"a%C3=1").unwrap_err().byte, 0xC3);
        // What serde_urlencoded accepts as UTF-8 decodes the same.
        let q = b"Action=X&Attribute.1.Name=a%2Fb&v=%E2%82%AC+%2B";
        let lossy: Vec<(String, String)> = serde_urlencoded::from_bytes(q).unwrap();
        assert_eq!(parse_form(q).unwrap(), lossy);
    }

    #[test]
    fn request_ids_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
