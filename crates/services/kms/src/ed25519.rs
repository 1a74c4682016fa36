//! Ed25519 (`ECC_NIST_EDWARDS25519`) with RustCrypto's `ed25519-dalek`: pure Ed25519
//! (`ED25519_SHA_512`, over the message itself) and Ed25519ph (`ED25519_PH_SHA_512`, RFC 8032
//! HashEdDSA over the message's SHA-512, no context), PKCS#8 / SPKI DER as RFC 8410 writes them.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::digest;

/// The pure signing algorithm (the message is signed as it is, `MessageType: RAW` only).
pub const PURE: &str = "ED25519_SHA_512";
/// The pre-hashed signing algorithm (RFC 8032 Ed25519ph).
pub const PREHASHED: &str = "ED25519_PH_SHA_512";

/// A SHA-512 value already computed (the `DIGEST` message, or the hash of a `RAW` one), handed
/// to `ed25519-dalek`'s prehashed API, which takes the hash as a `Digest` and finalizes it.
/// Nothing is computed here: the bytes given are the output.
#[derive(Clone, Default)]
struct GivenSha512(Vec<u8>);

impl digest::HashMarker for GivenSha512 {}

impl digest::OutputSizeUser for GivenSha512 {
    type OutputSize = digest::consts::U64;
}

impl digest::Update for GivenSha512 {
    fn update(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }
}

impl digest::FixedOutput for GivenSha512 {
    fn finalize_into(self, out: &mut digest::Output<Self>) {
        // The callers pass exactly 64 bytes (checked by `prehash`).
        if self.0.len() == out.len() {
            out.copy_from_slice(&self.0);
        }
    }
}

fn prehash(sha512: &[u8]) -> Result<GivenSha512, String> {
    if sha512.len() != 64 {
        return Err("an Ed25519ph digest is 64 bytes (SHA-512)".into());
    }
    Ok(GivenSha512(sha512.to_vec()))
}

/// The PKCS#8 DER of a key as RFC 8410 writes it (version 1, no public key), the form openssl
/// 3.0 and Python's `cryptography` read (they refuse the version 2 form with the public key that
/// `SigningKey::to_pkcs8_der` writes); a data key pair's private key is handed out in it.
fn encode(sk: &SigningKey) -> Result<Vec<u8>, String> {
    KeypairBytes {
        secret_key: sk.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_der()
    .map(|d| d.as_bytes().to_vec())
    .map_err(|e| e.to_string())
}

/// A new key: its PKCS#8 DER.
pub fn generate() -> Result<Vec<u8>, String> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    encode(&SigningKey::generate(&mut rng))
}

/// The DER `SubjectPublicKeyInfo` of a PKCS#8 DER private key.
pub fn public_der(private: &[u8]) -> Result<Vec<u8>, String> {
    let sk = SigningKey::from_pkcs8_der(private).map_err(|e| e.to_string())?;
    sk.verifying_key()
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| e.to_string())
}

/// Sign: `input` is the message for [`PURE`], its SHA-512 for [`PREHASHED`].
pub fn sign(private: &[u8], algorithm: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let sk = SigningKey::from_pkcs8_der(private).map_err(|e| e.to_string())?;
    let sig = match algorithm {
        PURE => sk.sign(input),
        PREHASHED => sk
            .sign_prehashed(prehash(input)?, None)
            .map_err(|e| e.to_string())?,
        _ => return Err(format!("unsupported algorithm {algorithm}")),
    };
    Ok(sig.to_bytes().to_vec())
}

/// Verify (strictly: no malleable or small-order encodings), `input` as for [`sign`].
pub fn verify(private: &[u8], algorithm: &str, input: &[u8], sig: &[u8]) -> bool {
    let (Ok(sk), Ok(sig)) = (
        SigningKey::from_pkcs8_der(private),
        Signature::from_slice(sig),
    ) else {
        return false;
    };
    let vk = sk.verifying_key();
    match algorithm {
        PURE => vk.verify_strict(input, &sig).is_ok(),
        PREHASHED => {
            prehash(input).is_ok_and(|h| vk.verify_prehashed_strict(h, None, &sig).is_ok())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha512};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032, section 7.3 (Ed25519ph, "abc"): the signature made through the prehashed path
    /// with a SHA-512 computed beforehand is the RFC's.
    #[test]
    fn ed25519ph_matches_rfc_8032_test_vector() {
        let secret: [u8; 32] =
            unhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
                .try_into()
                .unwrap();
        let sk = SigningKey::from_bytes(&secret);
        assert_eq!(
            sk.verifying_key().to_bytes().to_vec(),
            unhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
        );
        let der = encode(&sk).unwrap();
        let digest = Sha512::digest(b"abc").to_vec();
        let sig = sign(&der, PREHASHED, &digest).unwrap();
        assert_eq!(
            sig,
            unhex(
                "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
                 31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
            )
        );
        assert!(verify(&der, PREHASHED, &digest, &sig));
        assert!(!verify(&der, PURE, b"abc", &sig));
        let other = Sha512::digest(b"abd").to_vec();
        assert!(!verify(&der, PREHASHED, &other, &sig));
        assert!(sign(&der, PREHASHED, &digest[1..]).is_err());
    }

    /// RFC 8032, section 7.1, TEST 2 (pure Ed25519, one byte).
    #[test]
    fn ed25519_matches_rfc_8032_test_vector() {
        let secret: [u8; 32] =
            unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
                .try_into()
                .unwrap();
        let der = encode(&SigningKey::from_bytes(&secret)).unwrap();
        // RFC 8410's form: version 1 (INTEGER 0), no public key, 48 bytes.
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00]);
        let sig = sign(&der, PURE, &[0x72]).unwrap();
        assert_eq!(
            sig,
            unhex(
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
            )
        );
        assert!(verify(&der, PURE, &[0x72], &sig));
        assert!(!verify(&der, PURE, &[0x73], &sig));
        let fresh = generate().unwrap();
        assert_eq!(fresh.len(), 48);
        assert_eq!(public_der(&fresh).unwrap().len(), 44);
        // The version 2 form (with the public key) is read too.
        let v2 = SigningKey::from_bytes(&secret).to_pkcs8_der().unwrap();
        assert_eq!(
            public_der(v2.as_bytes()).unwrap(),
            public_der(&der).unwrap()
        );
        assert!(!verify(&fresh, PURE, &[0x72], &sig));
    }
}
