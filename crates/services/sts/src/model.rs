//! STS's records and identifiers.
//!
//! One record per issued temporary credential, keyed by its access key id
//! (`["credentials", access key id]`), so a request signed with that key finds who it is; and one
//! index entry per credential, keyed by its expiry (`["expiry", epoch ms, access key id]`), so
//! issuing new credentials drops a few expired ones without scanning (no timer: the deadline is
//! in the key). Credentials are global, as AWS's are: they name their account (the role's
//! account for a role session), not the partition of the request that made them.
//!
//! Access key ids encode their account as AWS's do (`ASIA` + 16 base-32 characters whose first
//! 48 bits hold `account << 7`), so `GetAccessKeyInfo` answers for keys whose record is gone.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Record};

/// A record of the STS store. New variants go at the end (the on-disk format is postcard).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StsRecord {
    /// Temporary credentials this emulator issued.
    Credentials(Box<IssuedCredentials>),
    /// The expiry index: the credentials named by the key expire at the key's time.
    Expiry,
    /// What limits a session besides its identity: its session policies and what it was made
    /// from (`["scope", access key id]`; dropped with its credentials).
    Scope(Box<SessionScope>),
    /// A key that signs web identity tokens (`["jwk", account, algorithm]`).
    SigningKey(Box<crate::outbound::SigningKey>),
    /// A trade-in token waiting for GetDelegatedAccessToken (`["tradein", sha256 of it]`).
    TradeIn(Box<crate::outbound::TradeInToken>),
    /// What the credentials a trade-in token gives are scoped to, when its issuer said
    /// (`["tradein-grant", sha256 of it]`; IAM's delegation requests).
    TradeInGrant(Box<crate::outbound::TradeInGrant>),
}

/// The session policies of temporary credentials and the principal they were made from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionScope {
    /// The role's ARN (AssumeRole*); `accesskey/<id>`, the long-term key that called, for
    /// GetSessionToken and GetFederationToken (whose permissions are that key's identity's).
    pub source_arn: Option<String>,
    /// The inline session policy (`Policy`), as given.
    pub policy: Option<String>,
    /// The managed session policies (`PolicyArns`).
    pub policy_arns: Vec<String>,
}

impl SessionScope {
    /// The scope a request passes (`Policy`, `PolicyArns`), made from `source_arn`.
    pub fn of_request(
        source_arn: Option<String>,
        input: &serde_json::Map<String, serde_json::Value>,
    ) -> SessionScope {
        SessionScope {
            source_arn,
            policy: input
                .get("Policy")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            policy_arns: input
                .get("PolicyArns")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("arn").and_then(serde_json::Value::as_str))
                .map(str::to_string)
                .collect(),
        }
    }
}
impl Record for StsRecord {}

/// What issued the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialKind {
    /// AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity.
    AssumedRole,
    /// GetFederationToken.
    FederatedUser,
    /// GetSessionToken.
    Session,
    /// AssumeRoot.
    Root,
}

/// One issued temporary credential and the identity it stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssuedCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub kind: CredentialKind,
    /// The account the identity belongs to (`GetCallerIdentity`'s `Account`).
    pub account: String,
    pub arn: String,
    pub user_id: String,
    /// Absolute expiry, epoch milliseconds.
    pub expires_at_ms: u64,
    pub source_identity: Option<String>,
    /// Session tags (key as given, value).
    pub tags: Vec<(String, String)>,
    /// Lower-case keys of the tags that pass on to chained role sessions.
    pub transitive_tag_keys: Vec<String>,
}

impl IssuedCredentials {
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }
}

pub fn credentials_key(access_key_id: &str) -> Key {
    Key::builder().str("credentials").str(access_key_id).build()
}

pub fn scope_key(access_key_id: &str) -> Key {
    Key::builder().str("scope").str(access_key_id).build()
}

pub fn expiry_key(expires_at_ms: u64, access_key_id: &str) -> Key {
    Key::builder()
        .str("expiry")
        .u64(expires_at_ms)
        .str(access_key_id)
        .build()
}

/// The first expiry key after every entry that expires at or before `now_ms`.
pub fn expiry_bounds(now_ms: u64) -> (Key, Key) {
    (
        Key::builder().str("expiry").build(),
        Key::builder()
            .str("expiry")
            .u64(now_ms.saturating_add(1))
            .build(),
    )
}

/// 64 unpredictable bits (the standard library's randomly keyed hasher, a counter and the
/// clock): what ids and secrets are drawn from.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.finish()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&random_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&b| b == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    Some(out)
}

/// Mask of the account's bits in the first 48 bits of a key id's body.
const ACCOUNT_MASK: u64 = 0x7fff_ffff_ff80;

/// A temporary access key id of `account`: `ASIA` and 16 base-32 characters, the account in
/// them as AWS puts it (an account that is not 12 digits is not encoded).
pub fn new_access_key_id(account: &str) -> String {
    let mut body = random_bytes(10);
    let acct: u64 = if account.len() == 12 {
        account.parse().unwrap_or(0)
    } else {
        0
    };
    let head = ((acct << 7) & ACCOUNT_MASK) | (u64::from(body[5]) & 0x7f);
    body[..6].copy_from_slice(&head.to_be_bytes()[2..]);
    format!("ASIA{}", base32(&body))
}

/// The account an AWS-format access key id (4-letter prefix, 16 base-32 characters) encodes.
pub fn account_of_key_id(key: &str) -> Option<String> {
    if key.len() != 20 || !key.is_ascii() || !key[..4].bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let body = unbase32(&key[4..])?;
    let mut head = [0u8; 8];
    head[2..].copy_from_slice(body.get(..6)?);
    let account = (u64::from_be_bytes(head) & ACCOUNT_MASK) >> 7;
    Some(format!("{account:012}"))
}

/// A secret access key: 40 characters of base64.
pub fn new_secret() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes(30))
}

/// A session token: long base64, as AWS's are.
pub fn new_session_token() -> String {
    let mut t = String::from("FQoGZXIvYXdzE");
    t.push_str(&base64::engine::general_purpose::STANDARD.encode(random_bytes(201)));
    t
}

fn fnv1a(seed: u64, text: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A unique id (`AROA` + 17 characters, AWS's form of a role id) derived from `name`, so the
/// same role always has the same id; `prefix` gives other kinds of principal.
pub fn stable_id(prefix: &str, name: &str) -> String {
    let mut bytes = fnv1a(1, name).to_be_bytes().to_vec();
    bytes.extend_from_slice(&fnv1a(2, name).to_be_bytes());
    let mut id = String::from(prefix);
    id.push_str(&base32(&bytes)[..17]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_ids_have_aws_form_and_encode_their_account() {
        let k = new_access_key_id("123456789012");
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("ASIA"));
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(account_of_key_id(&k).as_deref(), Some("123456789012"));
        assert_ne!(k, new_access_key_id("123456789012"));
        // An AWS-issued key (the account a published key belongs to).
        assert_eq!(
            account_of_key_id("ASIAY34FZKBOKMUTVV7A").as_deref(),
            Some("609629065308")
        );
        assert_eq!(account_of_key_id("test"), None);
        assert_eq!(account_of_key_id("ASIA0000000000000000"), None);
        assert_eq!(account_of_key_id("asiaAAAAAAAAAAAAAAAA"), None);
    }

    #[test]
    fn secrets_tokens_and_role_ids() {
        assert_eq!(new_secret().len(), 40);
        assert!(new_session_token().len() > 200);
        let id = stable_id("AROA", "arn:aws:iam::123456789012:role/r");
        assert_eq!(id.len(), 21);
        assert_eq!(id, stable_id("AROA", "arn:aws:iam::123456789012:role/r"));
        assert_ne!(id, stable_id("AROA", "arn:aws:iam::123456789012:role/s"));
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let text = base32(&bytes);
            let back = unbase32(&text).unwrap();
            prop_assert_eq!(&back[..bytes.len()], &bytes[..]);
        }

        #[test]
        fn every_twelve_digit_account_is_encoded(n in 0u64..1_000_000_000_000) {
            let account = format!("{n:012}");
            let k = new_access_key_id(&account);
            prop_assert_eq!(account_of_key_id(&k), Some(account));
        }
    }
}
