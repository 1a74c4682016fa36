//! SigV4a (`AWS4-ECDSA-P256-SHA256`), the asymmetric form of Signature Version 4 that AWS SDKs
//! use for requests valid in several Regions (EventBridge global endpoints, S3 Multi-Region
//! Access Points). The canonical request is SigV4's ([`super::sigv4`]); the credential scope
//! names no Region (`<access key>/<date>/<service>/aws4_request`, the Regions are the signed
//! `X-Amz-Region-Set` header or query parameter); the signature is the hex of a DER ECDSA
//! P-256 signature, with SHA-256, of the string to sign, made with a key derived from the
//! secret access key.
//!
//! The key derivation is the AWS CRT's (NIST SP 800-108 KDF in counter mode, HMAC-SHA256): keyed
//! with `"AWS4A" + secret`, over `00000001 || "AWS4-ECDSA-P256-SHA256" || 00 || access key id
//! || c || 00000100` where `c` is one byte counting from 1; the 32 bytes `k0` it gives are the
//! private scalar `k0 + 1` when `k0 <= n - 2` (`n` the curve's order), else `c` goes up.
//! The curve arithmetic and ECDSA are the `p256` crate's (RustCrypto).

use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::Verifier;
use sha2::Sha256;

use crate::sigv4::hex_val;

pub use p256::ecdsa::VerifyingKey;

/// The algorithm's name, as the `Authorization` header and `X-Amz-Algorithm` give it.
pub const ALGORITHM: &str = "AWS4-ECDSA-P256-SHA256";
/// The `x-amz-content-sha256` of a SigV4a body in signed chunks (prefix: a `-TRAILER` form too).
pub const STREAMING_PREFIX: &str = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD";
/// The longest DER ECDSA P-256 signature (two 33-byte integers and their headers), in hex.
const MAX_SIGNATURE_HEX: usize = 2 * 72;
/// The CRT gives up after this many counter values (each fails with probability about 2^-32).
const MAX_COUNTER: u8 = 254;

/// The ECDSA P-256 private key an access key's secret derives (see the module's description);
/// `None` only if every counter value fails, which no real secret does.
pub fn signing_key(access_key: &str, secret: &str) -> Option<p256::ecdsa::SigningKey> {
    let mut input_key = Vec::with_capacity(5 + secret.len());
    input_key.extend_from_slice(b"AWS4A");
    input_key.extend_from_slice(secret.as_bytes());
    for counter in 1..=MAX_COUNTER {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&input_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&1u32.to_be_bytes());
        mac.update(ALGORITHM.as_bytes());
        mac.update(&[0]);
        mac.update(access_key.as_bytes());
        mac.update(&[counter]);
        mac.update(&256u32.to_be_bytes());
        let mut d: [u8; 32] = mac.finalize().into_bytes().into();
        // d = k0 + 1, big-endian. A carry out of the top byte means k0 = 2^256 - 1 > n - 2.
        let mut carry = true;
        for b in d.iter_mut().rev() {
            let (v, c) = b.overflowing_add(1);
            *b = v;
            carry = c;
            if !carry {
                break;
            }
        }
        if carry {
            continue;
        }
        // A scalar is accepted when 1 <= d < n, that is k0 <= n - 2.
        if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&d) {
            return Some(key);
        }
    }
    None
}

/// The public key that verifies an access key's SigV4a signatures.
pub fn verifying_key(access_key: &str, secret: &str) -> Option<VerifyingKey> {
    signing_key(access_key, secret).map(|k| *k.verifying_key())
}

/// Whether `signature_hex` (hex of a DER signature, either letter case) is `key`'s ECDSA
/// signature of `string_to_sign`.
pub fn verify(key: &VerifyingKey, string_to_sign: &[u8], signature_hex: &str) -> bool {
    let hex = signature_hex.as_bytes();
    if hex.is_empty() || hex.len() > MAX_SIGNATURE_HEX || !hex.len().is_multiple_of(2) {
        return false;
    }
    let mut der = [0u8; MAX_SIGNATURE_HEX / 2];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let (Some(hi), Some(lo)) = (hex_val(pair[0]), hex_val(pair[1])) else {
            return false;
        };
        der[i] = hi << 4 | lo;
    }
    let Ok(signature) = p256::ecdsa::Signature::from_der(&der[..hex.len() / 2]) else {
        return false;
    };
    key.verify(string_to_sign, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_derived_key_verifies_its_own_signatures_and_nothing_else() {
        let key = signing_key("AKIDEXAMPLE", "secret").unwrap();
        let public = verifying_key("AKIDEXAMPLE", "secret").unwrap();
        assert_eq!(public, *key.verifying_key());
        let sig: p256::ecdsa::Signature = key.sign(b"string to sign");
        let der = hex(sig.to_der().as_bytes());
        assert!(verify(&public, b"string to sign", &der));
        assert!(verify(&public, b"string to sign", &der.to_uppercase()));
        assert!(!verify(&public, b"string to sigN", &der));
        // Another secret, another access key: other keys.
        assert!(!verify(
            &verifying_key("AKIDEXAMPLE", "secreT").unwrap(),
            b"string to sign",
            &der
        ));
        assert!(!verify(
            &verifying_key("AKIDEXAMPLF", "secret").unwrap(),
            b"string to sign",
            &der
        ));
        // Malformed signatures are refused, never a panic.
        for bad in ["", "0", "zz", &der[..der.len() - 2], &"ab".repeat(200)] {
            assert!(!verify(&public, b"string to sign", bad), "{bad}");
        }
    }
}
