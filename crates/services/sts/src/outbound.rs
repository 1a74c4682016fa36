//! Outbound identity federation (`GetWebIdentityToken`) and delegated access
//! (`GetDelegatedAccessToken`).
//!
//! `GetWebIdentityToken` answers a JWT (RFC 7519) about the caller, signed RS256 (RSA 2048,
//! PKCS#1 v1.5 with SHA-256) or ES384 (ECDSA P-384 with SHA-384), as AWS's outbound identity
//! federation does, once the account turned it on in IAM (`EnableOutboundWebIdentityFederation`,
//! whose issuer URL is the token's `iss`). The signing keys are records (one a signing
//! algorithm and account, made at first use), so tokens issued before a restart still verify;
//! their public halves are published as a JWKS at
//! `/_aws/sts/<account>/.well-known/jwks.json` (and the OIDC discovery document beside it),
//! since the issuer's own host is AWS's.
//!
//! `GetDelegatedAccessToken` exchanges a trade-in token for credentials of the principal it
//! names. Trade-in tokens are records other services register through `invoke`
//! ([`ISSUE_TRADE_IN_TOKEN`]), one use each, with an absolute expiry. IAM's delegation
//! requests (`SendDelegationToken`) register theirs with a grant ([`TradeInGrant`]): the kind
//! of credentials, the user or role whose policies apply, the permission policy (kept as the
//! credentials' session policy), the partner account that alone may redeem the token, and the
//! delegation window (credentials never outlive the token's expiry).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use snapstack_engine::Key;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

use crate::model::{self, CredentialKind, IssuedCredentials, StsRecord};
use crate::{Answer, Sts};

/// The internal operation that registers a trade-in token: `{"TradeInToken", "Account",
/// "PrincipalArn", "ExpiresAtMs", "DurationSeconds"?}` → `{}`; with a grant when any of
/// `"Kind"` (`assumed-role` or `session`), `"SourceArn"`, `"Policy"`, `"RedeemerAccount"` is
/// given.
pub const ISSUE_TRADE_IN_TOKEN: &str = "IssueTradeInToken";

/// The JWT's payload may be at most this large (encoded).
const MAX_PAYLOAD: usize = 16 * 1024;
const DEFAULT_TOKEN_SECONDS: u64 = 300;
/// Delegated credentials last an hour.
const DELEGATED_SECONDS: u64 = 3600;

/// A key that signs web identity tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    pub account: String,
    /// `RS256` or `ES384`.
    pub algorithm: String,
    pub kid: String,
    /// The private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    pub created_ms: u64,
}

/// A trade-in token waiting to be exchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeInToken {
    pub account: String,
    pub principal_arn: String,
    pub expires_at_ms: u64,
    pub duration_seconds: u64,
}

/// How the credentials a trade-in token gives are scoped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeInGrant {
    pub kind: CredentialKind,
    /// The IAM user or role whose policies apply (`None`: the account's root).
    pub source_arn: Option<String>,
    /// The session policy the credentials carry.
    pub policy: Option<String>,
    /// The only account that may redeem the token.
    pub redeemer_account: Option<String>,
}

pub fn trade_in_grant_key(token: &str) -> Key {
    let digest = sha2::Sha256::digest(token.as_bytes());
    Key::builder().str("tradein-grant").bytes(&digest).build()
}

pub fn signing_key_key(account: &str, algorithm: &str) -> Key {
    Key::builder()
        .str("jwk")
        .str(account)
        .str(algorithm)
        .build()
}

pub fn trade_in_key(token: &str) -> Key {
    let digest = sha2::Sha256::digest(token.as_bytes());
    Key::builder().str("tradein").bytes(&digest).build()
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// New private key material (PKCS#8 DER) for an algorithm.
fn generate(algorithm: &str) -> Result<Vec<u8>, String> {
    use pkcs8::EncodePrivateKey;
    match algorithm {
        "RS256" => rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
            .map_err(|e| e.to_string())?
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string()),
        "ES384" => {
            let sk =
                <p384::SecretKey as p384::elliptic_curve::Generate>::generate_from_rng(&mut rng());
            sk.to_pkcs8_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string())
        }
        other => Err(format!("unsupported algorithm {other}")),
    }
}

/// The JWS signature of `signing_input` (RS256: PKCS#1 v1.5; ES384: `r || s`).
pub fn sign(algorithm: &str, pkcs8: &[u8], signing_input: &[u8]) -> Result<Vec<u8>, String> {
    use pkcs8::DecodePrivateKey;
    match algorithm {
        "RS256" => {
            let k = rsa::PrivateKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?;
            let digest = sha2::Sha256::digest(signing_input);
            k.pkcs1v15_sign_prehash::<sha2::Sha256>(&digest)
                .map_err(|e| e.to_string())
        }
        "ES384" => {
            use p384::ecdsa::signature::hazmat::PrehashSigner;
            let sk = p384::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?;
            let digest = sha2::Sha384::digest(signing_input);
            let sig: p384::ecdsa::Signature =
                sk.sign_prehash(&digest).map_err(|e| e.to_string())?;
            Ok(sig.to_bytes().to_vec())
        }
        other => Err(format!("unsupported algorithm {other}")),
    }
}

/// Whether `sig` is a valid JWS signature of `signing_input` by the key (what a verifier
/// holding the JWKS checks; used by the tests).
pub fn verify(algorithm: &str, pkcs8: &[u8], signing_input: &[u8], sig: &[u8]) -> bool {
    use pkcs8::DecodePrivateKey;
    match algorithm {
        "RS256" => {
            let Ok(k) = rsa::PrivateKey::from_pkcs8_der(pkcs8) else {
                return false;
            };
            let digest = sha2::Sha256::digest(signing_input);
            k.as_public_key()
                .pkcs1v15_verify_prehash::<sha2::Sha256>(&digest, sig)
                .is_ok()
        }
        "ES384" => {
            use p384::ecdsa::signature::hazmat::PrehashVerifier;
            let Ok(sk) = p384::ecdsa::SigningKey::from_pkcs8_der(pkcs8) else {
                return false;
            };
            let Ok(s) = p384::ecdsa::Signature::from_slice(sig) else {
                return false;
            };
            let digest = sha2::Sha384::digest(signing_input);
            sk.verifying_key().verify_prehash(&digest, &s).is_ok()
        }
        _ => false,
    }
}

/// The public JWK of a signing key.
pub fn jwk(k: &SigningKey) -> Option<Value> {
    use pkcs8::DecodePrivateKey;
    match k.algorithm.as_str() {
        "RS256" => {
            use rsa::traits::PublicKeyParts;
            let p = rsa::PrivateKey::from_pkcs8_der(&k.pkcs8).ok()?;
            let public = p.as_public_key();
            Some(json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
                "n": b64url(&public.n_bytes()), "e": b64url(&public.e_bytes()),
            }))
        }
        "ES384" => {
            let sk = p384::ecdsa::SigningKey::from_pkcs8_der(&k.pkcs8).ok()?;
            // P-384 points encode uncompressed.
            let point = p384::Sec1Point::from(sk.verifying_key());
            let bytes = point.as_bytes();
            // Uncompressed: 0x04 || x (48 bytes) || y (48 bytes).
            if bytes.len() != 97 {
                return None;
            }
            Some(json!({
                "kty": "EC", "use": "sig", "alg": "ES384", "kid": k.kid, "crv": "P-384",
                "x": b64url(&bytes[1..49]), "y": b64url(&bytes[49..]),
            }))
        }
        _ => None,
    }
}

fn validation(message: String) -> AwsError {
    AwsError::new("ValidationError", message)
}

/// The IAM ARN a caller's identity stands for in a token's `sub` (a role session is its role).
pub fn subject_arn(arn: &str) -> String {
    if let Some(rest) = arn.strip_prefix("arn:aws:sts::")
        && let Some((account, res)) = rest.split_once(':')
        && let Some(role) = res.strip_prefix("assumed-role/")
    {
        let name = role.split('/').next().unwrap_or(role);
        return format!("arn:aws:iam::{account}:role/{name}");
    }
    arn.to_string()
}

impl Sts {
    /// The signing key of an account for an algorithm, made (and stored) at first use; the
    /// store version if one was made.
    fn signing_key(
        &self,
        account: &str,
        algorithm: &str,
        now: u64,
    ) -> Result<(SigningKey, Option<u64>), AwsError> {
        let k = signing_key_key(account, algorithm);
        if let Some(StsRecord::SigningKey(s)) = self.store.snapshot().get(&k) {
            return Ok(((**s).clone(), None));
        }
        let pkcs8 = generate(algorithm).map_err(|e| AwsError::internal("InternalFailure", e))?;
        let kid = {
            let d = sha2::Sha256::digest(&pkcs8);
            b64url(&d[..16])
        };
        let fresh = SigningKey {
            account: account.to_string(),
            algorithm: algorithm.to_string(),
            kid,
            pkcs8,
            created_ms: now,
        };
        let (key, v) = self.store.write(|txn| {
            // Another request may have made it meanwhile: the first one stays.
            if let Some(StsRecord::SigningKey(s)) = txn.get(&k) {
                return (**s).clone();
            }
            txn.insert(k.clone(), StsRecord::SigningKey(Box::new(fresh.clone())));
            fresh
        });
        Ok((key, Some(v)))
    }

    /// Every signing key of an account (the JWKS).
    pub fn signing_keys(&self, account: &str) -> Vec<SigningKey> {
        let prefix = Key::builder().str("jwk").str(account).build();
        self.store
            .snapshot()
            .scan_prefix(&prefix)
            .filter_map(|(_, r)| match r {
                StsRecord::SigningKey(s) => Some((**s).clone()),
                _ => None,
            })
            .collect()
    }

    /// The JWKS document of an account.
    pub fn jwks(&self, account: &str) -> Value {
        json!({"keys": self.signing_keys(account).iter().filter_map(jwk).collect::<Vec<_>>()})
    }

    /// `GetWebIdentityToken`, for a caller `caller_arn` (with its credentials' expiry, when
    /// temporary) in an account whose outbound federation issuer is `issuer` (`None`: off).
    pub(crate) fn web_identity_token(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        issuer: Option<&str>,
        caller: (&str, Option<u64>),
        now: u64,
    ) -> Result<Answer, AwsError> {
        let algorithm = input
            .get("SigningAlgorithm")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !matches!(algorithm, "RS256" | "ES384") {
            return Err(validation(format!(
                "1 validation error detected: Value '{algorithm}' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]"
            )));
        }
        let Some(issuer) = issuer else {
            return Err(AwsError::new(
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is disabled for your account. Enable it with IAM's EnableOutboundWebIdentityFederation.",
            )
            .with_status(StatusCode::FORBIDDEN));
        };
        let seconds = input
            .get("DurationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_TOKEN_SECONDS);
        let exp_ms = (now / 1000).saturating_add(seconds).saturating_mul(1000);
        if let Some(session_end) = caller.1
            && exp_ms > session_end
        {
            return Err(AwsError::new(
                "SessionDurationEscalationException",
                "The requested token duration would extend the session beyond its original expiration time.",
            )
            .with_status(StatusCode::FORBIDDEN));
        }
        let audiences: Vec<Value> = input
            .get("Audience")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let aud = match audiences.as_slice() {
            [one] => one.clone(),
            many => Value::Array(many.to_vec()),
        };
        let mut aws = json!({
            "aws_account": ctx.account(),
            "source_region": ctx.region(),
            "principal_id": subject_arn(caller.0),
        });
        let tags: Map<String, Value> = input
            .get("Tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        Some((
                            t.get("Key")?.as_str()?.to_string(),
                            t.get("Value").cloned().unwrap_or(json!("")),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !tags.is_empty() {
            aws["request_tags"] = Value::Object(tags);
        }
        let claims = json!({
            "iss": issuer,
            "aud": aud,
            "sub": subject_arn(caller.0),
            "iat": now / 1000,
            "nbf": now / 1000,
            "exp": exp_ms / 1000,
            "jti": format!("{:016x}{:016x}", model::random_u64(), model::random_u64()),
            "https://sts.amazonaws.com/": aws,
        });
        let payload = b64url(claims.to_string().as_bytes());
        if payload.len() > MAX_PAYLOAD {
            return Err(AwsError::new(
                "JWTPayloadSizeExceededException",
                format!("The JWT payload exceeds the maximum size of {MAX_PAYLOAD} bytes."),
            ));
        }
        let (key, version) = self.signing_key(ctx.account(), algorithm, now)?;
        let header = json!({"alg": algorithm, "typ": "JWT", "kid": key.kid});
        let signing_input = format!("{}.{payload}", b64url(header.to_string().as_bytes()));
        let sig = sign(algorithm, &key.pkcs8, signing_input.as_bytes())
            .map_err(|e| AwsError::internal("InternalFailure", e))?;
        Ok(Answer {
            output: json!({
                "WebIdentityToken": format!("{signing_input}.{}", b64url(&sig)),
                "Expiration": snapstack_protocol::codec::time::ms_to_value(exp_ms as i64),
            }),
            write_version: version,
        })
    }

    /// [`ISSUE_TRADE_IN_TOKEN`].
    pub fn register_trade_in_token(&self, input: &Value) -> Result<Option<u64>, AwsError> {
        let s = |k: &str| {
            input
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let token = s("TradeInToken");
        if token.is_empty() || s("PrincipalArn").is_empty() {
            return Err(AwsError::validation(
                "TradeInToken and PrincipalArn are required",
            ));
        }
        let rec = TradeInToken {
            account: s("Account"),
            principal_arn: s("PrincipalArn"),
            expires_at_ms: input
                .get("ExpiresAtMs")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            duration_seconds: input
                .get("DurationSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(DELEGATED_SECONDS),
        };
        let given = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
        let grant = ["Kind", "SourceArn", "Policy", "RedeemerAccount"]
            .iter()
            .any(|k| input.get(*k).is_some())
            .then(|| TradeInGrant {
                kind: match given("Kind").as_deref() {
                    Some("session") => CredentialKind::Session,
                    _ => CredentialKind::AssumedRole,
                },
                source_arn: given("SourceArn"),
                policy: given("Policy"),
                redeemer_account: given("RedeemerAccount"),
            });
        let ((), v) = self.store.write(|txn| {
            txn.insert(trade_in_key(&token), StsRecord::TradeIn(Box::new(rec)));
            if let Some(g) = grant {
                txn.insert(
                    trade_in_grant_key(&token),
                    StsRecord::TradeInGrant(Box::new(g)),
                );
            }
        });
        Ok(Some(v))
    }

    pub(crate) fn delegated_access_token(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let token = input
            .get("TradeInToken")
            .and_then(Value::as_str)
            .unwrap_or("");
        let k = trade_in_key(token);
        let expired = || {
            AwsError::new(
                "ExpiredTradeInTokenException",
                "The trade-in token provided in the request has expired or is not valid. Request a new token and retry the operation.",
            )
        };
        let gk = trade_in_grant_key(token);
        let (found, _) = self.store.write(|txn| {
            let grant = match txn.get(&gk) {
                Some(StsRecord::TradeInGrant(g)) => Some((**g).clone()),
                _ => None,
            };
            // A token for another account is not this caller's to redeem (nor to spend).
            if grant
                .as_ref()
                .and_then(|g| g.redeemer_account.as_deref())
                .is_some_and(|a| a != ctx.account())
            {
                return None;
            }
            match txn.get(&k) {
                Some(StsRecord::TradeIn(t)) => {
                    let t = (**t).clone();
                    // One use: exchanged (or found expired), it is gone.
                    txn.remove(&k);
                    txn.remove(&gk);
                    Some((t, grant))
                }
                _ => None,
            }
        });
        let (t, grant) = found.ok_or_else(expired)?;
        if now >= t.expires_at_ms {
            return Err(expired());
        }
        let user_id = format!("{}:delegated", model::stable_id("AROA", &t.principal_arn));
        let mut expires_at_ms = (now / 1000)
            .saturating_add(t.duration_seconds.clamp(900, 43_200))
            .saturating_mul(1000);
        if grant.is_some() {
            // A delegation's credentials end with its window.
            expires_at_ms = expires_at_ms.min(t.expires_at_ms);
        }
        let scope = grant.as_ref().map(|g| model::SessionScope {
            source_arn: g.source_arn.clone(),
            policy: g.policy.clone(),
            policy_arns: Vec::new(),
        });
        let creds = IssuedCredentials {
            access_key_id: model::new_access_key_id(&t.account),
            secret_access_key: model::new_secret(),
            session_token: model::new_session_token(),
            kind: grant
                .as_ref()
                .map_or(CredentialKind::AssumedRole, |g| g.kind),
            account: t.account.clone(),
            arn: t.principal_arn.clone(),
            user_id,
            expires_at_ms,
            source_identity: None,
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
        };
        let stored = creds.clone();
        let ((), v) = self.store.write(|txn| {
            txn.insert(
                model::expiry_key(stored.expires_at_ms, &stored.access_key_id),
                StsRecord::Expiry,
            );
            if let Some(scope) = scope {
                txn.insert(
                    model::scope_key(&stored.access_key_id),
                    StsRecord::Scope(Box::new(scope)),
                );
            }
            txn.insert(
                model::credentials_key(&stored.access_key_id),
                StsRecord::Credentials(Box::new(stored)),
            );
        });
        Ok(Answer {
            output: json!({
                "Credentials": {
                    "AccessKeyId": creds.access_key_id,
                    "SecretAccessKey": creds.secret_access_key,
                    "SessionToken": creds.session_token,
                    "Expiration": snapstack_protocol::codec::time::ms_to_value(expires_at_ms as i64),
                },
                "AssumedPrincipal": t.principal_arn,
            }),
            write_version: Some(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext::from_scope(None)
    }

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn part(token: &str, i: usize) -> Value {
        let p = token.split('.').nth(i).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn tokens_are_signed_by_a_stored_key_the_jwks_publishes() {
        for alg in ["ES384", "RS256"] {
            let sts = Sts::new();
            let now = 1_800_000_000_000;
            let a = sts
                .web_identity_token(
                    &ctx(),
                    &input(
                        json!({"Audience": ["https://api.example.com"], "SigningAlgorithm": alg,
                                  "Tags": [{"Key": "team", "Value": "data"}]}),
                    ),
                    Some("https://abc.tokens.sts.global.api.aws"),
                    ("arn:aws:sts::000000000000:assumed-role/R/s", None),
                    now,
                )
                .unwrap();
            assert!(a.write_version.is_some(), "the key is made at first use");
            let token = a.output["WebIdentityToken"].as_str().unwrap().to_string();
            let header = part(&token, 0);
            let claims = part(&token, 1);
            assert_eq!(header["alg"], alg);
            assert_eq!(claims["aud"], "https://api.example.com");
            assert_eq!(claims["iss"], "https://abc.tokens.sts.global.api.aws");
            assert_eq!(claims["sub"], "arn:aws:iam::000000000000:role/R");
            assert_eq!(claims["exp"], 1_800_000_300u64);
            assert_eq!(
                claims["https://sts.amazonaws.com/"]["request_tags"]["team"],
                "data"
            );
            let (signing_input, sig) = token.rsplit_once('.').unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .unwrap();
            let keys = sts.signing_keys("000000000000");
            assert_eq!(keys.len(), 1);
            assert!(verify(alg, &keys[0].pkcs8, signing_input.as_bytes(), &sig));
            assert!(!verify(alg, &keys[0].pkcs8, b"other", &sig));
            let jwks = sts.jwks("000000000000");
            assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
            // The same key signs the next token.
            let b = sts
                .web_identity_token(
                    &ctx(),
                    &input(json!({"Audience": ["x", "y"], "SigningAlgorithm": alg})),
                    Some("https://abc.tokens.sts.global.api.aws"),
                    ("arn:aws:iam::000000000000:root", None),
                    now,
                )
                .unwrap();
            assert_eq!(b.write_version, None);
            assert_eq!(
                part(b.output["WebIdentityToken"].as_str().unwrap(), 1)["aud"],
                json!(["x", "y"])
            );
        }
    }

    #[test]
    fn web_identity_tokens_need_federation_and_respect_the_session() {
        let sts = Sts::new();
        let i =
            input(json!({"Audience": ["a"], "SigningAlgorithm": "ES384", "DurationSeconds": 3600}));
        let e = sts
            .web_identity_token(
                &ctx(),
                &i,
                None,
                ("arn:aws:iam::000000000000:root", None),
                0,
            )
            .unwrap_err();
        assert_eq!(e.code, "OutboundWebIdentityFederationDisabledException");
        let e = sts
            .web_identity_token(&ctx(), &i, Some("https://i"), ("arn", Some(60_000)), 0)
            .unwrap_err();
        assert_eq!(e.code, "SessionDurationEscalationException");
        let bad = input(json!({"Audience": ["a"], "SigningAlgorithm": "HS256"}));
        let e = sts
            .web_identity_token(&ctx(), &bad, Some("https://i"), ("arn", None), 0)
            .unwrap_err();
        assert_eq!(e.code, "ValidationError");
    }

    #[test]
    fn trade_in_tokens_are_exchanged_once() {
        let sts = Sts::new();
        sts.register_trade_in_token(&json!({"TradeInToken": "t1", "Account": "111122223333",
            "PrincipalArn": "arn:aws:iam::111122223333:role/Partner", "ExpiresAtMs": 10_000}))
            .unwrap();
        let a = sts
            .delegated_access_token(&ctx(), &input(json!({"TradeInToken": "t1"})), 5_000)
            .unwrap();
        assert_eq!(
            a.output["AssumedPrincipal"],
            "arn:aws:iam::111122223333:role/Partner"
        );
        let key = a.output["Credentials"]["AccessKeyId"].as_str().unwrap();
        assert_eq!(sts.credentials(key, 5_000).unwrap().account, "111122223333");
        let e = sts
            .delegated_access_token(&ctx(), &input(json!({"TradeInToken": "t1"})), 5_000)
            .unwrap_err();
        assert_eq!(e.code, "ExpiredTradeInTokenException");
        sts.register_trade_in_token(&json!({"TradeInToken": "t2", "Account": "1",
            "PrincipalArn": "arn:aws:iam::1:role/P", "ExpiresAtMs": 10_000}))
            .unwrap();
        let e = sts
            .delegated_access_token(&ctx(), &input(json!({"TradeInToken": "t2"})), 10_000)
            .unwrap_err();
        assert_eq!(e.code, "ExpiredTradeInTokenException");
    }
}
