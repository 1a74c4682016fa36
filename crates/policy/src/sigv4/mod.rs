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

mod canonical;
mod claim;
mod encoding;
mod headers;
mod keys;

pub use canonical::*;
use claim::*;
pub use encoding::*;
use headers::Found;
pub use headers::Headers;
pub use keys::*;

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
    /// Every header as received (repeated names allowed).
    pub headers: Headers<'a>,
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
    let content_sha256: Cow<'a, str> =
        match value_of(req, "x-amz-content-sha256", specials.content_sha256) {
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
    let canonical =
        canonical_request_bytes(req, &query, &claim.signed_headers, s3, &content_sha256);
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
            canonical_request: String::from_utf8_lossy(&canonical).into_owned(),
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
#[cfg(test)]
mod sign_tests;
#[cfg(test)]
mod tests;
