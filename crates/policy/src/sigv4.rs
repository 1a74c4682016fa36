//! Signature Version 4 verification
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>):
//! the `Authorization: AWS4-HMAC-SHA256 ...` header form, the presigned query form
//! (`X-Amz-Signature`, `X-Amz-Expires`), and S3's chunked payload signatures
//! (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: a seed signature, then one per chunk).
//!
//! Canonical request rules: the path is normalized and URI-encoded again (double encoding)
//! except for S3, which signs the path as sent; the query is decoded, re-encoded and sorted;
//! signed headers are lower-cased, trimmed, with runs of spaces collapsed and repeated headers
//! joined by commas; the payload hash is the `x-amz-content-sha256` header when present
//! (`UNSIGNED-PAYLOAD`, `STREAMING-...`), S3 presigned URLs sign `UNSIGNED-PAYLOAD`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

use crate::sigv4a;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far a header-signed request's time may be from the server's (15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// The longest a presigned URL may be valid (7 days).
pub const MAX_EXPIRES_SECS: i64 = 604_800;

/// A request as received.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    /// The query string as sent (without `?`).
    pub query: &'a str,
    /// Every header as received (repeated names allowed), names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body, used when no `x-amz-content-sha256` header says otherwise.
    /// Callers that do not hash bodies (S3 sends the header) may pass [`EMPTY_SHA256`].
    pub payload_hash: &'a str,
}

/// Why a request's signature was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigError {
    /// Neither an `Authorization` header nor `X-Amz-Signature`: not a SigV4 request.
    NotSigned,
    /// The header or query form is incomplete or malformed (its message says what).
    Incomplete(String),
    /// The credential's date is not the request's date.
    ScopeDate,
    /// The secret lookup knows no such access key.
    UnknownAccessKey(String),
    /// Recomputed signature differs.
    Mismatch {
        string_to_sign: String,
        canonical_request: String,
    },
    /// A header-signed request outside the allowed clock skew.
    Skewed { request_time: String, now: i64 },
    /// A presigned URL past `X-Amz-Date + X-Amz-Expires`.
    Expired,
    /// `X-Amz-Expires` out of range.
    BadExpires,
    /// A signing form this server does not verify (SigV4a's signed chunks): refused, not
    /// passed unverified.
    Unsupported(String),
}

impl SigError {
    /// The error code, as S3 (`s3 == true`) or the other services answer.
    pub fn code(&self, s3: bool) -> &'static str {
        match self {
            SigError::NotSigned => {
                if s3 {
                    "AccessDenied"
                } else {
                    "MissingAuthenticationToken"
                }
            }
            SigError::Incomplete(_) | SigError::BadExpires if s3 => {
                "AuthorizationQueryParametersError"
            }
            SigError::Incomplete(_) => "IncompleteSignature",
            SigError::BadExpires => "AuthorizationQueryParametersError",
            SigError::ScopeDate => {
                if s3 {
                    "AuthorizationHeaderMalformed"
                } else {
                    "SignatureDoesNotMatch"
                }
            }
            SigError::UnknownAccessKey(_) => {
                if s3 {
                    "InvalidAccessKeyId"
                } else {
                    "InvalidClientTokenId"
                }
            }
            SigError::Mismatch { .. } => "SignatureDoesNotMatch",
            SigError::Skewed { .. } => {
                if s3 {
                    "RequestTimeTooSkewed"
                } else {
                    "SignatureDoesNotMatch"
                }
            }
            SigError::Expired => {
                if s3 {
                    "AccessDenied"
                } else {
                    "SignatureDoesNotMatch"
                }
            }
            SigError::Unsupported(_) => "NotImplemented",
        }
    }

    /// The error message, as S3 (`s3 == true`) or the other services answer.
    pub fn message(&self, s3: bool) -> String {
        match self {
            SigError::NotSigned => {
                if s3 {
                    "Access Denied".into()
                } else {
                    "Request is missing Authentication Token".into()
                }
            }
            SigError::Incomplete(m) => m.clone(),
            SigError::ScopeDate => {
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP"
                    .into()
            }
            SigError::UnknownAccessKey(_) => {
                if s3 {
                    "The AWS Access Key Id you provided does not exist in our records.".into()
                } else {
                    "The security token included in the request is invalid.".into()
                }
            }
            SigError::Mismatch { .. } => {
                if s3 {
                    "The request signature we calculated does not match the signature you \
                     provided. Check your key and signing method."
                        .into()
                } else {
                    "The request signature we calculated does not match the signature you \
                     provided. Check your AWS Secret Access Key and signing method. Consult the \
                     service documentation for details."
                        .into()
                }
            }
            SigError::Skewed { request_time, now } => {
                let at = parse_amz_date(request_time).unwrap_or(*now);
                if s3 {
                    "The difference between the request time and the current time is too large."
                        .into()
                } else if at < *now {
                    format!(
                        "Signature expired: {request_time} is now earlier than {} ({} - 15 min.)",
                        amz_date(now - MAX_SKEW_SECS),
                        amz_date(*now)
                    )
                } else {
                    format!(
                        "Signature not yet current: {request_time} is still later than {} ({} + \
                         15 min.)",
                        amz_date(now + MAX_SKEW_SECS),
                        amz_date(*now)
                    )
                }
            }
            SigError::Expired => {
                if s3 {
                    "Request has expired".into()
                } else {
                    "Signature expired".into()
                }
            }
            SigError::BadExpires => {
                "X-Amz-Expires must be less than a week (in seconds) that is, the given \
                 X-Amz-Expires must be less than 604800 seconds"
                    .into()
            }
            SigError::Unsupported(m) => m.clone(),
        }
    }
}

/// What a verified request was signed with; borrowed from the request where it can be (the
/// header form), owned where it was decoded (the presigned query form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    pub access_key: Cow<'a, str>,
    /// `YYYYMMDD` of the credential scope.
    pub date: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub service: Cow<'a, str>,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: Cow<'a, str>,
    /// The request's signature (the seed signature of a chunked upload).
    pub signature: Cow<'a, str>,
    pub presigned: bool,
    /// The payload hash the signature covers (a hex hash, `UNSIGNED-PAYLOAD`, `STREAMING-...`).
    pub content_sha256: Cow<'a, str>,
    /// `X-Amz-Security-Token`, when the request carried one.
    pub security_token: Option<Cow<'a, str>>,
    signing_key: [u8; 32],
}

impl Verified<'_> {
    /// Whether the body is chunked with a signature per chunk.
    pub fn signed_chunks(&self) -> bool {
        self.content_sha256 == STREAMING_PAYLOAD || self.content_sha256 == STREAMING_PAYLOAD_TRAILER
    }

    /// A verifier for the chunk signatures, chained from the seed signature.
    pub fn chunks(&self) -> ChunkVerifier {
        ChunkVerifier {
            key: self.signing_key,
            amz_date: self.amz_date.to_string(),
            scope: scope(&self.date, &self.region, &self.service),
            previous: self.signature.to_string(),
        }
    }
}

/// A SigV4 signing key (`kSigning`), with HMAC's inner and outer pads already applied to it:
/// a request's signature then costs the string to sign's blocks and one more, not two more.
/// Shared, not copied, when cloned (callers cache one per scope and hand it out per request).
#[derive(Clone)]
pub struct SigningKey(std::sync::Arc<PreparedKey>);

struct PreparedKey {
    key: [u8; 32],
    mac: Hmac<Sha256>,
}

impl SigningKey {
    pub fn new(key: [u8; 32]) -> SigningKey {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        SigningKey(std::sync::Arc::new(PreparedKey { key, mac }))
    }

    /// The key's bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.0.key
    }

    fn sign(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.0.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl From<[u8; 32]> for SigningKey {
    fn from(key: [u8; 32]) -> Self {
        SigningKey::new(key)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Verifies `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` chunks in order.
#[derive(Clone, Debug)]
pub struct ChunkVerifier {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkVerifier {
    /// The signature the next chunk (`data`) must carry.
    pub fn expected(&self, data: &[u8]) -> String {
        let sts = format!(
            "{ALGORITHM}-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(&Sha256::digest(data))
        );
        hex(&hmac(&self.key, sts.as_bytes()))
    }

    /// The signature the next chunk must carry, from the hex SHA-256 of its data (so that a
    /// chunk can be hashed as it streams, never held whole).
    pub fn expected_for_hash(&self, data_sha256_hex: &str) -> String {
        let sts = format!(
            "{ALGORITHM}-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_sha256_hex}",
            self.amz_date, self.scope, self.previous,
        );
        hex(&hmac(&self.key, sts.as_bytes()))
    }

    /// [`ChunkVerifier::verify`] of a chunk whose data hashes to `data_sha256_hex`.
    pub fn verify_hash(&mut self, data_sha256_hex: &str, signature: &str) -> bool {
        let expected = self.expected_for_hash(data_sha256_hex);
        if constant_eq(expected.as_bytes(), signature.as_bytes()) {
            self.previous = expected;
            true
        } else {
            false
        }
    }

    /// Check the next chunk's signature (the final, empty chunk included); on success the
    /// chain moves on.
    pub fn verify(&mut self, data: &[u8], signature: &str) -> bool {
        let expected = self.expected(data);
        if constant_eq(expected.as_bytes(), signature.as_bytes()) {
            self.previous = expected;
            true
        } else {
            false
        }
    }

    /// Check the trailer signature (`x-amz-trailer-signature`) over the trailing headers as
    /// sent (`name:value\n` each).
    pub fn verify_trailer(&self, trailers: &str, signature: &str) -> bool {
        let sts = format!(
            "{ALGORITHM}-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(&Sha256::digest(trailers.as_bytes()))
        );
        constant_eq(
            hex(&hmac(&self.key, sts.as_bytes())).as_bytes(),
            signature.as_bytes(),
        )
    }
}

/// The parts of a signature, from the header (borrowed from the request) or the query
/// (decoded, owned).
struct Claim<'a> {
    access_key: Cow<'a, str>,
    date: Cow<'a, str>,
    region: Cow<'a, str>,
    service: Cow<'a, str>,
    /// The signed header names, lower case, `;`-separated as the request lists them.
    signed_headers: Cow<'a, str>,
    signature: Cow<'a, str>,
    amz_date: Cow<'a, str>,
    presigned: bool,
    expires: Option<i64>,
    security_token: Option<Cow<'a, str>>,
    /// SigV4a (`AWS4-ECDSA-P256-SHA256`): the scope names no region.
    asymmetric: bool,
}

/// A key that verifies a signature: SigV4's derived HMAC key or SigV4a's public key.
pub enum VerifyKey {
    Hmac(SigningKey),
    Ecdsa(sigv4a::VerifyingKey),
}

/// What a signature's key is asked for by: its credential scope (`region` is empty for
/// SigV4a, whose scope names none) and whether it is SigV4a's.
#[derive(Clone, Copy, Debug)]
pub struct KeyScope<'s> {
    pub access_key: &'s str,
    pub date: &'s str,
    pub region: &'s str,
    pub service: &'s str,
    pub asymmetric: bool,
}

/// Verify `req`, signed at most 15 minutes from `now` (epoch seconds) or presigned and not
/// expired, with the secret `secret_for` gives for its access key.
pub fn verify<'a>(
    req: &SignedRequest<'a>,
    now: i64,
    secret_for: impl FnOnce(&str) -> Option<String>,
) -> Result<Verified<'a>, SigError> {
    verify_with(req, now, |s| {
        let secret = secret_for(s.access_key)?;
        Some(if s.asymmetric {
            VerifyKey::Ecdsa(sigv4a::verifying_key(s.access_key, &secret)?)
        } else {
            VerifyKey::Hmac(signing_key(&secret, s.date, s.region, s.service).into())
        })
    })
}

/// [`verify`] with the signing key `key_for` gives for (access key, date, region, service):
/// callers that verify many requests of one key cache the derived key, as AWS SDKs do, instead
/// of deriving it (four HMACs) per request.
pub fn verify_with_key<'a>(
    req: &SignedRequest<'a>,
    now: i64,
    key_for: impl FnOnce(&str, &str, &str, &str) -> Option<SigningKey>,
) -> Result<Verified<'a>, SigError> {
    verify_with(req, now, |s| {
        if s.asymmetric {
            None
        } else {
            key_for(s.access_key, s.date, s.region, s.service).map(VerifyKey::Hmac)
        }
    })
}

/// [`verify`] of SigV4 and SigV4a with the key `key_for` gives for a credential scope (a
/// derived SigV4 key, cached by callers that verify many requests of one key as AWS SDKs
/// cache it; or the SigV4a public key of the access key).
pub fn verify_with<'a>(
    req: &SignedRequest<'a>,
    now: i64,
    key_for: impl FnOnce(&KeyScope<'_>) -> Option<VerifyKey>,
) -> Result<Verified<'a>, SigError> {
    let query = parse_query(req.query);
    let specials = Specials::of(req);
    let claim = match authorization_header(req, specials.authorization) {
        Some(auth) => header_claim(req, &specials, auth)?,
        None if query.iter().any(|(k, _)| k == "X-Amz-Signature") => query_claim(&query)?,
        None => return Err(SigError::NotSigned),
    };
    if claim.amz_date.get(..8) != Some(&*claim.date) {
        return Err(SigError::ScopeDate);
    }
    let signed_at =
        parse_amz_date(&claim.amz_date).ok_or_else(|| incomplete_date(claim.presigned))?;
    if let Some(expires) = claim.expires {
        if !(1..=MAX_EXPIRES_SECS).contains(&expires) {
            return Err(SigError::BadExpires);
        }
        if now > signed_at + expires {
            return Err(SigError::Expired);
        }
    } else if (now - signed_at).abs() > MAX_SKEW_SECS {
        return Err(SigError::Skewed {
            request_time: claim.amz_date.to_string(),
            now,
        });
    }
    let key = key_for(&KeyScope {
        access_key: &claim.access_key,
        date: &claim.date,
        region: &claim.region,
        service: &claim.service,
        asymmetric: claim.asymmetric,
    })
    .ok_or_else(|| SigError::UnknownAccessKey(claim.access_key.to_string()))?;
    let s3 = claim.service == "s3";
    let content_sha256: Cow<'a, str> = match specials.content_sha256.value(req) {
        Some(h) => h,
        None if claim.presigned && s3 => query
            .iter()
            .find(|(k, _)| k == "X-Amz-Content-Sha256")
            .map_or(Cow::Borrowed(UNSIGNED_PAYLOAD), |(_, v)| {
                Cow::Owned(v.clone())
            }),
        None => Cow::Borrowed(req.payload_hash),
    };
    if claim.asymmetric && content_sha256.starts_with(sigv4a::STREAMING_PREFIX) {
        return Err(SigError::Unsupported(format!(
            "Payloads signed in chunks with SigV4a ({content_sha256}) are not verified by this \
             server: sign the payload whole or use SigV4"
        )));
    }
    let canonical = canonical_request_of(req, &query, &claim.signed_headers, s3, &content_sha256);
    let sts = string_to_sign(
        if claim.asymmetric {
            sigv4a::ALGORITHM
        } else {
            ALGORITHM
        },
        &claim.amz_date,
        &claim.date,
        &claim.region,
        &claim.service,
        &canonical,
    );
    let (matches, signing_key) = match &key {
        VerifyKey::Hmac(key) if !claim.asymmetric => {
            let mut expected = [0u8; 64];
            hex_to(&key.sign(sts.as_bytes()), &mut expected);
            (
                constant_eq(&expected, claim.signature.as_bytes()),
                key.bytes(),
            )
        }
        VerifyKey::Ecdsa(key) if claim.asymmetric => (
            sigv4a::verify(key, sts.as_bytes(), &claim.signature),
            [0; 32],
        ),
        // A key of the other form cannot have made the signature.
        _ => (false, [0; 32]),
    };
    if !matches {
        return Err(SigError::Mismatch {
            string_to_sign: sts,
            canonical_request: canonical,
        });
    }
    Ok(Verified {
        access_key: claim.access_key,
        date: claim.date,
        region: claim.region,
        service: claim.service,
        amz_date: claim.amz_date,
        signature: claim.signature,
        presigned: claim.presigned,
        content_sha256,
        security_token: claim.security_token,
        signing_key,
    })
}

fn incomplete_date(presigned: bool) -> SigError {
    SigError::Incomplete(if presigned {
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".into()
    } else {
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            .into()
    })
}

/// All values of a header (case-insensitive name), joined with commas, each trimmed with inner
/// runs of spaces collapsed; `None` if absent.
fn header<'a>(req: &SignedRequest<'a>, name: &str) -> Option<Cow<'a, str>> {
    // The common case, one value with nothing to trim or collapse: borrowed, no copy.
    let mut found = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let (_, first) = found.next()?;
    if found.next().is_none() && canonical_already(first) {
        return Some(Cow::Borrowed(first));
    }
    let mut out = String::new();
    write_header(req, name, &mut out);
    Some(Cow::Owned(out))
}

/// The `Authorization` header: as sent when it is the only one (its parts are trimmed as they
/// are read, so its white space needs no rewriting), else [`header`]'s joined value.
fn authorization_header<'a>(req: &SignedRequest<'a>, found: Found<'a>) -> Option<Cow<'a, str>> {
    match found {
        Found::Absent => None,
        Found::One(_, value) => Some(Cow::Borrowed(value)),
        Found::Many(name) => header(req, name),
    }
}

/// The headers verification reads by name, found in one pass over the request's headers
/// rather than in one pass per name.
struct Specials<'a> {
    authorization: Found<'a>,
    x_amz_date: Found<'a>,
    date: Found<'a>,
    content_sha256: Found<'a>,
    security_token: Found<'a>,
}

/// A header by name: absent, sent once (its name as sent, its value), or sent more than once.
#[derive(Clone, Copy)]
enum Found<'a> {
    Absent,
    One(&'a str, &'a str),
    Many(&'a str),
}

impl<'a> Specials<'a> {
    fn of(req: &SignedRequest<'a>) -> Specials<'a> {
        let mut s = Specials {
            authorization: Found::Absent,
            x_amz_date: Found::Absent,
            date: Found::Absent,
            content_sha256: Found::Absent,
            security_token: Found::Absent,
        };
        for &(name, value) in req.headers {
            // By length first: most names are none of these.
            let slot = match name.len() {
                4 if name.eq_ignore_ascii_case("date") => &mut s.date,
                10 if name.eq_ignore_ascii_case("x-amz-date") => &mut s.x_amz_date,
                13 if name.eq_ignore_ascii_case("authorization") => &mut s.authorization,
                20 if name.eq_ignore_ascii_case("x-amz-content-sha256") => &mut s.content_sha256,
                20 if name.eq_ignore_ascii_case("x-amz-security-token") => &mut s.security_token,
                _ => continue,
            };
            *slot = match *slot {
                Found::Absent => Found::One(name, value),
                Found::One(..) | Found::Many(_) => Found::Many(name),
            };
        }
        s
    }
}

impl<'a> Found<'a> {
    /// [`header`]'s value: borrowed when sent once and already canonical.
    fn value(self, req: &SignedRequest<'a>) -> Option<Cow<'a, str>> {
        match self {
            Found::Absent => None,
            Found::One(_, value) if canonical_already(value) => Some(Cow::Borrowed(value)),
            Found::One(name, _) | Found::Many(name) => header(req, name),
        }
    }
}

/// Whether a header value is already canonical: no leading, trailing or repeated white space,
/// no white space but the space, ASCII only. One pass: this runs on every signed header.
fn canonical_already(v: &str) -> bool {
    let b = v.as_bytes();
    // Most values (dates, hashes, tokens, hosts) hold no space at all: one branch-free pass
    // (vectorized) answers for them.
    if b.iter().fold(true, |ok, &c| ok & (c > b' ') & (c < 0x80)) {
        return true;
    }
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let mut after_space = false;
    for &c in b {
        match c {
            b' ' if after_space => return false,
            b' ' => after_space = true,
            b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0x80.. => return false,
            _ => after_space = false,
        }
    }
    true
}

/// Append [`header`]'s value to `out` (nothing when absent).
fn write_header(req: &SignedRequest<'_>, name: &str, out: &mut String) {
    let mut first_value = true;
    for (_, v) in req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        if !first_value {
            out.push(',');
        }
        first_value = false;
        if canonical_already(v) {
            out.push_str(v);
            continue;
        }
        let mut first_word = true;
        for word in v.split_whitespace() {
            if !first_word {
                out.push(' ');
            }
            first_word = false;
            out.push_str(word);
        }
    }
}

/// `<access key>/<date>/<region>/<service>/aws4_request` (the access key may hold a `/`).
fn parse_credential(credential: &str) -> Option<(&str, &str, &str, &str)> {
    // The last four slashes, found in one backward pass.
    let mut at = [0usize; 4];
    let mut found = 0;
    for (i, b) in credential.bytes().enumerate().rev() {
        if b == b'/' {
            at[3 - found] = i;
            found += 1;
            if found == 4 {
                break;
            }
        }
    }
    if found < 4 {
        return None;
    }
    let access_key = &credential[..at[0]];
    let date = &credential[at[0] + 1..at[1]];
    let region = &credential[at[1] + 1..at[2]];
    let service = &credential[at[2] + 1..at[3]];
    let terminal = &credential[at[3] + 1..];
    if terminal != "aws4_request" || access_key.is_empty() || date.len() != 8 {
        return None;
    }
    Some((access_key, date, region, service))
}

/// SigV4a's `<access key>/<date>/<service>/aws4_request` (no region), with the region `""`.
fn parse_credential_v4a(credential: &str) -> Option<(&str, &str, &str, &str)> {
    let (rest, terminal) = credential.rsplit_once('/')?;
    let (rest, service) = rest.rsplit_once('/')?;
    let (access_key, date) = rest.rsplit_once('/')?;
    (terminal == "aws4_request" && !access_key.is_empty() && date.len() == 8)
        .then_some((access_key, date, "", service))
}

/// `s` in lower case, borrowed when it is already.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn header_claim<'a>(
    req: &SignedRequest<'a>,
    specials: &Specials<'a>,
    auth: Cow<'a, str>,
) -> Result<Claim<'a>, SigError> {
    // A header as sent (the common case) is borrowed, and so is everything read from it.
    let auth = match auth {
        Cow::Borrowed(a) => a,
        Cow::Owned(a) => return header_claim_owned(req, specials, &a),
    };
    let (rest, asymmetric) = match auth.strip_prefix(ALGORITHM) {
        Some(rest) => (rest, false),
        None => match auth.strip_prefix(sigv4a::ALGORITHM) {
            Some(rest) => (rest, true),
            None => ("", false),
        },
    };
    if rest.is_empty() {
        return Err(SigError::Incomplete(format!(
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization=\"{auth}\""
        )));
    };
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim_ascii();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(SigError::Incomplete(format!(
            "{missing}Authorization=\"{auth}\""
        )));
    };
    let scope = if asymmetric {
        parse_credential_v4a(credential)
    } else {
        parse_credential(credential)
    };
    let (access_key, date, region, service) = scope.ok_or_else(|| {
        SigError::Incomplete(if asymmetric {
            format!(
                "Credential should be scoped as <access key>/<date>/<service>/aws4_request. \
                 Authorization=\"{auth}\""
            )
        } else {
            format!("Credential should be scoped to a valid region. Authorization=\"{auth}\"")
        })
    })?;
    let amz_date = match specials.x_amz_date.value(req) {
        Some(d) => d,
        None => specials
            .date
            .value(req)
            .and_then(|d| http_date_to_amz(&d))
            .map(Cow::Owned)
            .ok_or_else(|| incomplete_date(false))?,
    };
    Ok(Claim {
        access_key: Cow::Borrowed(access_key),
        date: Cow::Borrowed(date),
        region: Cow::Borrowed(region),
        service: Cow::Borrowed(service),
        signed_headers: lower(signed),
        signature: Cow::Borrowed(signature),
        amz_date,
        presigned: false,
        expires: None,
        security_token: specials.security_token.value(req),
        asymmetric,
    })
}

/// [`header_claim`] of a header value that had to be rebuilt (repeated or with extra white
/// space): the claim owns its parts.
fn header_claim_owned<'a>(
    req: &SignedRequest<'a>,
    specials: &Specials<'a>,
    auth: &str,
) -> Result<Claim<'a>, SigError> {
    let c = header_claim(req, specials, Cow::Borrowed(auth))?;
    let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
    Ok(Claim {
        access_key: own(c.access_key),
        date: own(c.date),
        region: own(c.region),
        service: own(c.service),
        signed_headers: own(c.signed_headers),
        signature: own(c.signature),
        amz_date: own(c.amz_date),
        presigned: c.presigned,
        expires: c.expires,
        security_token: c.security_token.map(own),
        asymmetric: c.asymmetric,
    })
}

fn query_claim(query: &[(String, String)]) -> Result<Claim<'static>, SigError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut missing = Vec::new();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    ] {
        if get(name).is_none() {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(SigError::Incomplete(format!(
            "Query-string authentication version 4 requires the {} parameters.",
            missing.join(", ")
        )));
    }
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    let asymmetric = algorithm == sigv4a::ALGORITHM;
    if algorithm != ALGORITHM && !asymmetric {
        return Err(SigError::Incomplete(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\" and \"AWS4-ECDSA-P256-SHA256\""
                .into(),
        ));
    }
    let credential = get("X-Amz-Credential").unwrap_or_default();
    let scope = if asymmetric {
        parse_credential_v4a(&credential)
    } else {
        parse_credential(&credential)
    };
    let (access_key, date, region, service) = scope.ok_or_else(|| {
        SigError::Incomplete(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; \
             expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .into(),
        )
    })?;
    let expires = get("X-Amz-Expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or(SigError::BadExpires)?;
    let own = |s: &str| Cow::Owned(s.to_string());
    Ok(Claim {
        access_key: own(access_key),
        date: own(date),
        region: own(region),
        service: own(service),
        signed_headers: Cow::Owned(
            get("X-Amz-SignedHeaders")
                .unwrap_or_default()
                .to_ascii_lowercase(),
        ),
        signature: Cow::Owned(get("X-Amz-Signature").unwrap_or_default()),
        amz_date: Cow::Owned(get("X-Amz-Date").unwrap_or_default()),
        presigned: true,
        expires: Some(expires),
        security_token: get("X-Amz-Security-Token").map(Cow::Owned),
        asymmetric,
    })
}

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

fn percent_decode(s: &str) -> String {
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

/// The value of one hex digit, either letter case.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// AWS's URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX`, `/` kept when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    uri_encode_into(s, keep_slash, &mut out);
    out
}

/// [`uri_encode`] appended to `out`.
fn uri_encode_into(s: &str, keep_slash: bool, out: &mut String) {
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
fn normalized_already(path: &str) -> bool {
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
fn normalize_path(path: &str) -> String {
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
    canonical_request_of(req, query, &signed_headers.join(";"), s3, content_sha256)
}

/// [`canonical_request`] over the signed header names as the request lists them (lower case,
/// `;`-separated).
fn canonical_request_of(
    req: &SignedRequest<'_>,
    query: &[(String, String)],
    signed_headers: &str,
    s3: bool,
    content_sha256: &str,
) -> String {
    // Written into one buffer: nothing is allocated per header or per path segment.
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
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        write_header(req, name, &mut out);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(content_sha256);
    out
}

/// The string to sign: the algorithm, the time, the scope and the canonical request's hash.
fn string_to_sign(
    algorithm: &str,
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical: &str,
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
    hex_into(&Sha256::digest(canonical.as_bytes()), &mut sts);
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

fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(bytes, &mut s);
    s
}

/// [`hex`] appended to `out`.
fn hex_into(bytes: &[u8], out: &mut String) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let n = 2 * chunk.len();
        hex_to(chunk, &mut buf[..n]);
        // Hex digits are ASCII.
        out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
    }
}

/// Lower-case hex of `bytes` into `out` (twice as long): one table look-up a byte.
fn hex_to(bytes: &[u8], out: &mut [u8]) {
    static PAIRS: [[u8; 2]; 256] = {
        const LOWER: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [LOWER[i >> 4], LOWER[i & 15]];
            i += 1;
        }
        t
    };
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&PAIRS[usize::from(*b)]);
    }
}

/// Hex SHA-256 of `data` (what [`SignedRequest::payload_hash`] wants).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// [`sha256_hex`] written into `out`, which the answer borrows (no allocation).
pub fn sha256_hex_to<'o>(data: &[u8], out: &'o mut [u8; 64]) -> &'o str {
    hex_to(&Sha256::digest(data), out);
    // Hex digits are ASCII.
    std::str::from_utf8(out).unwrap_or_default()
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYYMMDDTHHMMSSZ` to epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    // Digits read in place: this runs on every signed request.
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = crate::condition::days_from_civil(y, mo, d);
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// Epoch seconds as `YYYYMMDDTHHMMSSZ` (civil-from-days, Howard Hinnant's algorithm).
pub fn amz_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An HTTP `Date` (`Fri, 24 May 2013 00:00:00 GMT`) as `YYYYMMDDTHHMMSSZ`, for requests signed
/// without `X-Amz-Date`.
fn http_date_to_amz(date: &str) -> Option<String> {
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let day: u32 = day.parse().ok()?;
    let year: u32 = year.parse().ok()?;
    let hms: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    let amz = format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{sec:02}Z");
    parse_amz_date(&amz).map(|_| amz)
}

#[cfg(test)]
mod sign_tests {
    use super::*;

    #[test]
    fn what_authorization_signs_verifies() {
        let headers = [
            ("Host", "localhost:4566"),
            ("X-Amz-Date", "20240101T000000Z"),
        ];
        let mut req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload_hash: &sha256_hex(b"Action=GetCallerIdentity"),
        };
        let signed = vec!["host".to_string(), "x-amz-date".to_string()];
        let auth = authorization(
            &req,
            "AKID",
            "secret",
            "20240101T000000Z",
            "us-east-1",
            "sts",
            &signed,
        );
        let with = [headers[0], headers[1], ("Authorization", auth.as_str())];
        req.headers = &with;
        let now = parse_amz_date("20240101T000000Z").unwrap();
        assert!(verify(&req, now, |_| Some("secret".into())).is_ok());
        assert!(verify(&req, now, |_| Some("other".into())).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        for t in [0, 1_369_353_600, 1_440_938_160, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_amz_date(&amz_date(t)), Some(t), "{t}");
        }
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date_to_amz("Fri, 24 May 2013 00:00:00 GMT").as_deref(),
            Some("20130524T000000Z")
        );
        assert_eq!(http_date_to_amz("Fri, 24 Foo 2013 00:00:00 GMT"), None);
        assert_eq!(http_date_to_amz("yesterday"), None);
        assert_eq!(http_date_to_amz("Fri, 99 May 2013 00:00:00 GMT"), None);
    }

    #[test]
    fn paths_normalize_and_encode() {
        assert_eq!(normalize_path("//example//"), "/example/");
        assert_eq!(normalize_path("/a/./b/../c"), "/a/c");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/../.."), "/");
        assert_eq!(uri_encode("/a b/%2F~é", true), "/a%20b/%252F~%C3%A9");
        assert_eq!(
            parse_query("a=%2f&b&c=1%2"),
            [
                ("a".into(), "/".into()),
                ("b".into(), "".into()),
                ("c".into(), "1%2".into())
            ]
        );
    }

    /// The canonical request as first written (a `format!` and a `Vec` per part): the buffer
    /// version must give the same text for every request.
    fn reference_canonical(
        req: &SignedRequest<'_>,
        query: &[(String, String)],
        signed_headers: &[String],
        s3: bool,
        content_sha256: &str,
    ) -> String {
        let header = |name: &str| {
            let values: Vec<String> = req
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        let path = if s3 {
            if req.path.is_empty() {
                "/".to_owned()
            } else {
                req.path.to_owned()
            }
        } else {
            uri_encode(&normalize_path(req.path), true)
        };
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        pairs.sort();
        let canonical_query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = String::new();
        for name in signed_headers {
            headers.push_str(name);
            headers.push(':');
            headers.push_str(&header(name).unwrap_or_default());
            headers.push('\n');
        }
        format!(
            "{}\n{path}\n{canonical_query}\n{headers}\n{}\n{content_sha256}",
            req.method.to_ascii_uppercase(),
            signed_headers.join(";")
        )
    }

    proptest::proptest! {
        #[test]
        fn credentials_split_at_their_last_four_slashes(c in "[a/_4]{0,10}(/[0-9]{8})?(/[a-z]{0,3}){0,3}") {
            // The reference: four splits from the right.
            let reference = (|| {
                let (rest, terminal) = c.rsplit_once('/')?;
                let (rest, service) = rest.rsplit_once('/')?;
                let (rest, region) = rest.rsplit_once('/')?;
                let (access_key, date) = rest.rsplit_once('/')?;
                (terminal == "aws4_request" && !access_key.is_empty() && date.len() == 8)
                    .then_some((access_key, date, region, service))
            })();
            proptest::prop_assert_eq!(parse_credential(&c), reference);
            let whole = format!("{c}/aws4_request");
            proptest::prop_assert_eq!(parse_credential(&whole), (|| {
                let (rest, service) = c.rsplit_once('/')?;
                let (rest, region) = rest.rsplit_once('/')?;
                let (access_key, date) = rest.rsplit_once('/')?;
                (!access_key.is_empty() && date.len() == 8).then_some((access_key, date, region, service))
            })());
        }

        #[test]
        fn the_buffered_canonical_request_is_the_reference_one(
            path in "(/[a-z.%2 ]{0,4}){0,4}/?",
            query in "([a-zA-Z%=&+ -]{0,6}&?){0,4}",
            values in proptest::collection::vec("[ a-z\t]{0,8}|\\PC{0,4}", 1..4),
            s3 in proptest::bool::ANY,
        ) {
            let mut headers: Vec<(&str, &str)> = vec![("Host", "localhost"), ("X-Amz-Date", "20240101T000000Z")];
            for v in &values {
                headers.push(("X-Custom", v.as_str()));
            }
            let req = SignedRequest { method: "post", path: &path, query: &query, headers: &headers, payload_hash: EMPTY_SHA256 };
            let parsed = parse_query(&query);
            let signed = vec!["host".to_string(), "x-amz-date".to_string(), "x-custom".to_string(), "x-absent".to_string()];
            proptest::prop_assert_eq!(
                canonical_request(&req, &parsed, &signed, s3, EMPTY_SHA256),
                reference_canonical(&req, &parsed, &signed, s3, EMPTY_SHA256)
            );
            for v in &values {
                let one = [("X-Custom", v.as_str())];
                let r = SignedRequest { headers: &one, ..req };
                proptest::prop_assert_eq!(
                    header(&r, "x-custom").map(Cow::into_owned),
                    Some(v.split_whitespace().collect::<Vec<_>>().join(" "))
                );
            }
        }
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
        assert_eq!(uri_encode("a/ b", false), "a%2F%20b");
    }
}
