//! Keys: the derived SigV4 signing key (HMAC pads applied once), the chunk signature chain
//! of S3's `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` bodies, and the key derivation.

use super::*;

/// A SigV4 signing key (`kSigning`), with HMAC's inner and outer pads already applied to it:
/// a request's signature then costs the string to sign's blocks and one more, not two more.
/// Shared, not copied, when cloned (callers cache one per scope and hand it out per request).
#[derive(Clone)]
pub struct SigningKey(std::sync::Arc<PreparedKey>);

pub(super) struct PreparedKey {
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

    pub(super) fn sign(&self, data: &[u8]) -> [u8; 32] {
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
    pub(super) key: [u8; 32],
    pub(super) amz_date: String,
    pub(super) scope: String,
    pub(super) previous: String,
}

impl ChunkVerifier {
    /// The signature the next chunk (`data`) must carry.
    pub fn expected(&self, data: &[u8]) -> String {
        self.expected_for_hash(&hex(&Sha256::digest(data)))
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
        self.verify_hash(&hex(&Sha256::digest(data)), signature)
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

pub(super) fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

pub(super) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
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
