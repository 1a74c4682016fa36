//! The cryptography, all of it RustCrypto's: key generation per key spec, AES-256-GCM sealing,
//! RSA-OAEP, RSA-PSS / PKCS#1 v1.5, ECDSA and Ed25519 (`ed25519.rs`) signatures, HMAC, DER
//! encodings.

use std::collections::BTreeMap;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::Nonce;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use getrandom::SysRng;
use hmac::{Hmac, Mac};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rand_core::UnwrapErr;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::{blob, ed25519};

/// A key spec this emulator can make material for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    Symmetric,
    Rsa(usize),
    P256,
    P384,
    P521,
    K256,
    Ed25519,
    Hmac(usize),
}

impl Spec {
    pub fn parse(s: &str) -> Option<Spec> {
        Some(match s {
            "SYMMETRIC_DEFAULT" => Spec::Symmetric,
            "RSA_2048" => Spec::Rsa(2048),
            "RSA_3072" => Spec::Rsa(3072),
            "RSA_4096" => Spec::Rsa(4096),
            "ECC_NIST_P256" => Spec::P256,
            "ECC_NIST_P384" => Spec::P384,
            "ECC_NIST_P521" => Spec::P521,
            "ECC_SECG_P256K1" => Spec::K256,
            "ECC_NIST_EDWARDS25519" => Spec::Ed25519,
            "HMAC_224" => Spec::Hmac(224),
            "HMAC_256" => Spec::Hmac(256),
            "HMAC_384" => Spec::Hmac(384),
            "HMAC_512" => Spec::Hmac(512),
            _ => return None,
        })
    }

    pub fn is_asymmetric(self) -> bool {
        !matches!(self, Spec::Symmetric | Spec::Hmac(_))
    }

    /// The key usages this spec allows, the first being the default.
    pub fn usages(self) -> &'static [&'static str] {
        match self {
            Spec::Symmetric => &["ENCRYPT_DECRYPT"],
            Spec::Rsa(_) => &["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
            Spec::P256 | Spec::P384 | Spec::P521 => &["SIGN_VERIFY", "KEY_AGREEMENT"],
            Spec::K256 | Spec::Ed25519 => &["SIGN_VERIFY"],
            Spec::Hmac(_) => &["GENERATE_VERIFY_MAC"],
        }
    }

    pub fn encryption_algorithms(self) -> &'static [&'static str] {
        match self {
            Spec::Symmetric => &["SYMMETRIC_DEFAULT"],
            Spec::Rsa(_) => &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
            _ => &[],
        }
    }

    pub fn signing_algorithms(self) -> &'static [&'static str] {
        match self {
            Spec::Rsa(_) => &[
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
            ],
            Spec::P256 | Spec::K256 => &["ECDSA_SHA_256"],
            Spec::P384 => &["ECDSA_SHA_384"],
            Spec::P521 => &["ECDSA_SHA_512"],
            Spec::Ed25519 => &[ed25519::PURE, ed25519::PREHASHED],
            _ => &[],
        }
    }

    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self {
            Spec::Hmac(224) => &["HMAC_SHA_224"],
            Spec::Hmac(256) => &["HMAC_SHA_256"],
            Spec::Hmac(384) => &["HMAC_SHA_384"],
            Spec::Hmac(512) => &["HMAC_SHA_512"],
            _ => &[],
        }
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    if getrandom::fill(&mut out).is_err() {
        // The OS generator does not fail on supported systems; never hand out zeros.
        panic!("the operating system's random number generator failed");
    }
    out
}

fn rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

macro_rules! ec_generate {
    ($curve:ident) => {{
        let sk =
            <$curve::SecretKey as $curve::elliptic_curve::Generate>::generate_from_rng(&mut rng());
        sk.to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())
    }};
}

/// New key material for `spec`: the raw key (symmetric, HMAC) or the private key's PKCS#8 DER.
pub fn generate(spec: Spec) -> Result<Vec<u8>, String> {
    match spec {
        Spec::Symmetric => Ok(random_bytes(32)),
        Spec::Hmac(bits) => Ok(random_bytes(bits / 8)),
        Spec::Rsa(bits) => {
            let k = rsa::PrivateKey::new(&mut SysRng, bits).map_err(|e| e.to_string())?;
            k.to_pkcs8_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string())
        }
        Spec::P256 => ec_generate!(p256),
        Spec::P384 => ec_generate!(p384),
        Spec::P521 => ec_generate!(p521),
        Spec::K256 => ec_generate!(k256),
        Spec::Ed25519 => ed25519::generate(),
    }
}

/// Seal `plaintext` under a 32-byte key: returns the whole blob.
pub fn seal(
    key: &[u8],
    key_id: &str,
    material: u32,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| e.to_string())?;
    let mut nonce = [0u8; blob::NONCE_LEN];
    nonce.copy_from_slice(&random_bytes(blob::NONCE_LEN));
    let mut out = blob::header(key_id, material, &nonce);
    let aad = blob::aad(&out, context);
    let n = Nonce::<Aes256Gcm>::try_from(&nonce[..]).map_err(|e| e.to_string())?;
    let sealed = cipher
        .encrypt(
            &n,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Open a parsed blob with its key; `None` when authentication fails.
pub fn open(key: &[u8], b: &blob::Blob<'_>, context: &BTreeMap<String, String>) -> Option<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    let n = Nonce::<Aes256Gcm>::try_from(b.nonce).ok()?;
    let aad = blob::aad(b.header, context);
    cipher
        .decrypt(
            &n,
            Payload {
                msg: b.sealed,
                aad: &aad,
            },
        )
        .ok()
}

macro_rules! ec_public {
    ($curve:ident, $der:expr) => {{
        let sk = $curve::SecretKey::from_pkcs8_der($der).map_err(|e| e.to_string())?;
        sk.public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())
    }};
}

/// The DER `SubjectPublicKeyInfo` of an asymmetric key's private PKCS#8 DER.
pub fn public_der(spec: Spec, private: &[u8]) -> Result<Vec<u8>, String> {
    match spec {
        Spec::Rsa(_) => {
            let k = rsa::PrivateKey::from_pkcs8_der(private).map_err(|e| e.to_string())?;
            k.to_public_key()
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string())
        }
        Spec::P256 => ec_public!(p256, private),
        Spec::P384 => ec_public!(p384, private),
        Spec::P521 => ec_public!(p521, private),
        Spec::K256 => ec_public!(k256, private),
        Spec::Ed25519 => ed25519::public_der(private),
        Spec::Symmetric | Spec::Hmac(_) => Err("not an asymmetric key".into()),
    }
}

/// RSA-OAEP encryption with the public half of `private`. `None` for an unknown algorithm;
/// `Err` for a plaintext too long for the key.
pub fn rsa_encrypt(private: &[u8], algorithm: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let k = rsa::PrivateKey::from_pkcs8_der(private).map_err(|e| e.to_string())?;
    let public = k.to_public_key();
    match algorithm {
        "RSAES_OAEP_SHA_1" => public.oaep_encrypt::<Sha1>(plaintext),
        "RSAES_OAEP_SHA_256" => public.oaep_encrypt::<Sha256>(plaintext),
        _ => return Err(format!("unsupported algorithm {algorithm}")),
    }
    .map_err(|e| e.to_string())
}

/// RSA-OAEP decryption; `None` when the ciphertext does not decrypt.
pub fn rsa_decrypt(private: &[u8], algorithm: &str, ciphertext: &[u8]) -> Option<Vec<u8>> {
    let k = rsa::PrivateKey::from_pkcs8_der(private).ok()?;
    match algorithm {
        "RSAES_OAEP_SHA_1" => k.oaep_decrypt::<Sha1>(ciphertext).ok(),
        "RSAES_OAEP_SHA_256" => k.oaep_decrypt::<Sha256>(ciphertext).ok(),
        _ => None,
    }
}

/// The digest length of a signing algorithm's hash.
pub fn digest_len(algorithm: &str) -> usize {
    if algorithm.ends_with("_384") {
        48
    } else if algorithm.ends_with("_512") {
        64
    } else {
        32
    }
}

/// Hash `message` with a signing algorithm's hash.
pub fn digest(algorithm: &str, message: &[u8]) -> Vec<u8> {
    match digest_len(algorithm) {
        48 => Sha384::digest(message).to_vec(),
        64 => Sha512::digest(message).to_vec(),
        _ => Sha256::digest(message).to_vec(),
    }
}

macro_rules! ec_sign {
    ($curve:ident, $der:expr, $digest:expr) => {{
        use $curve::ecdsa::signature::hazmat::PrehashSigner;
        let sk = $curve::ecdsa::SigningKey::from_pkcs8_der($der).map_err(|e| e.to_string())?;
        let sig: $curve::ecdsa::Signature = sk.sign_prehash($digest).map_err(|e| e.to_string())?;
        Ok(sig.to_der().as_bytes().to_vec())
    }};
}

macro_rules! ec_verify {
    ($curve:ident, $der:expr, $digest:expr, $sig:expr) => {{
        use $curve::ecdsa::signature::hazmat::PrehashVerifier;
        let Ok(sk) = $curve::ecdsa::SigningKey::from_pkcs8_der($der) else {
            return false;
        };
        let Ok(sig) = $curve::ecdsa::Signature::from_der($sig) else {
            return false;
        };
        sk.verifying_key().verify_prehash($digest, &sig).is_ok()
    }};
}

/// Sign a digest (already the algorithm's hash of the message; for `ED25519_SHA_512`, the
/// message itself). The algorithm must be one of the spec's [`Spec::signing_algorithms`].
pub fn sign(spec: Spec, private: &[u8], algorithm: &str, digest: &[u8]) -> Result<Vec<u8>, String> {
    match spec {
        Spec::Rsa(_) => {
            let k = rsa::PrivateKey::from_pkcs8_der(private).map_err(|e| e.to_string())?;
            match algorithm {
                "RSASSA_PSS_SHA_256" => k.pss_sign_prehash::<Sha256>(digest),
                "RSASSA_PSS_SHA_384" => k.pss_sign_prehash::<Sha384>(digest),
                "RSASSA_PSS_SHA_512" => k.pss_sign_prehash::<Sha512>(digest),
                "RSASSA_PKCS1_V1_5_SHA_256" => k.pkcs1v15_sign_prehash::<Sha256>(digest),
                "RSASSA_PKCS1_V1_5_SHA_384" => k.pkcs1v15_sign_prehash::<Sha384>(digest),
                "RSASSA_PKCS1_V1_5_SHA_512" => k.pkcs1v15_sign_prehash::<Sha512>(digest),
                _ => return Err(format!("unsupported algorithm {algorithm}")),
            }
            .map_err(|e| e.to_string())
        }
        Spec::P256 => ec_sign!(p256, private, digest),
        Spec::P384 => ec_sign!(p384, private, digest),
        Spec::P521 => ec_sign!(p521, private, digest),
        Spec::K256 => ec_sign!(k256, private, digest),
        Spec::Ed25519 => ed25519::sign(private, algorithm, digest),
        Spec::Symmetric | Spec::Hmac(_) => Err("not a signing key".into()),
    }
}

/// Verify a signature over a digest.
pub fn verify(spec: Spec, private: &[u8], algorithm: &str, digest: &[u8], sig: &[u8]) -> bool {
    match spec {
        Spec::Rsa(_) => {
            let Ok(k) = rsa::PrivateKey::from_pkcs8_der(private) else {
                return false;
            };
            let p = k.as_public_key();
            match algorithm {
                "RSASSA_PSS_SHA_256" => p.pss_verify_prehash::<Sha256>(digest, sig),
                "RSASSA_PSS_SHA_384" => p.pss_verify_prehash::<Sha384>(digest, sig),
                "RSASSA_PSS_SHA_512" => p.pss_verify_prehash::<Sha512>(digest, sig),
                "RSASSA_PKCS1_V1_5_SHA_256" => p.pkcs1v15_verify_prehash::<Sha256>(digest, sig),
                "RSASSA_PKCS1_V1_5_SHA_384" => p.pkcs1v15_verify_prehash::<Sha384>(digest, sig),
                "RSASSA_PKCS1_V1_5_SHA_512" => p.pkcs1v15_verify_prehash::<Sha512>(digest, sig),
                _ => return false,
            }
            .is_ok()
        }
        Spec::P256 => ec_verify!(p256, private, digest, sig),
        Spec::P384 => ec_verify!(p384, private, digest, sig),
        Spec::P521 => ec_verify!(p521, private, digest, sig),
        Spec::K256 => ec_verify!(k256, private, digest, sig),
        Spec::Ed25519 => ed25519::verify(private, algorithm, digest, sig),
        Spec::Symmetric | Spec::Hmac(_) => false,
    }
}

macro_rules! hmac_of {
    ($h:ty, $key:expr, $msg:expr) => {{
        let mut m = <Hmac<$h> as hmac::KeyInit>::new_from_slice($key).ok()?;
        m.update($msg);
        Some(m.finalize().into_bytes().to_vec())
    }};
}

/// The HMAC of `message` under `key` for a `MacAlgorithm`.
pub fn mac(algorithm: &str, key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    match algorithm {
        "HMAC_SHA_224" => hmac_of!(Sha224, key, message),
        "HMAC_SHA_256" => hmac_of!(Sha256, key, message),
        "HMAC_SHA_384" => hmac_of!(Sha384, key, message),
        "HMAC_SHA_512" => hmac_of!(Sha512, key, message),
        _ => None,
    }
}

macro_rules! hmac_verify {
    ($h:ty, $key:expr, $msg:expr, $tag:expr) => {{
        let Ok(mut m) = <Hmac<$h> as hmac::KeyInit>::new_from_slice($key) else {
            return false;
        };
        m.update($msg);
        m.verify_slice($tag).is_ok()
    }};
}

/// Whether `tag` is the HMAC of `message` under `key` (compared in constant time by `hmac`).
pub fn mac_verify(algorithm: &str, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    match algorithm {
        "HMAC_SHA_224" => hmac_verify!(Sha224, key, message, tag),
        "HMAC_SHA_256" => hmac_verify!(Sha256, key, message, tag),
        "HMAC_SHA_384" => hmac_verify!(Sha384, key, message, tag),
        "HMAC_SHA_512" => hmac_verify!(Sha512, key, message, tag),
        _ => false,
    }
}

macro_rules! ecdh_with {
    ($curve:ident, $der:expr, $peer:expr) => {{
        use spki::DecodePublicKey;
        let sk = $curve::SecretKey::from_pkcs8_der($der).map_err(|e| e.to_string())?;
        let peer = $curve::PublicKey::from_public_key_der($peer)
            .map_err(|_| "the public key is not a DER SubjectPublicKeyInfo of the key's curve")?;
        let shared = $curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
        Ok(shared.raw_secret_bytes().to_vec())
    }};
}

/// ECDH: the shared secret (the x coordinate, as AWS returns it) of a private key and a peer's
/// DER `SubjectPublicKeyInfo` on the same curve.
pub fn ecdh(spec: Spec, private: &[u8], peer_der: &[u8]) -> Result<Vec<u8>, String> {
    match spec {
        Spec::P256 => ecdh_with!(p256, private, peer_der),
        Spec::P384 => ecdh_with!(p384, private, peer_der),
        Spec::P521 => ecdh_with!(p521, private, peer_der),
        _ => Err("not a key agreement key".into()),
    }
}

/// A new RSA wrapping key pair of `bits`: the private key's PKCS#8 DER.
pub fn wrapping_key(bits: usize) -> Result<Vec<u8>, String> {
    generate(Spec::Rsa(bits))
}

/// Unwrap imported key material with the wrapping key, as `ImportKeyMaterial` does:
/// `RSAES_OAEP_SHA_*` is RSA-OAEP of the material; `RSA_AES_KEY_WRAP_SHA_*` is RSA-OAEP of an
/// ephemeral AES-256 key (as long as the modulus) followed by the material wrapped with it by
/// AES key wrap with padding (RFC 5649). `None` when it does not unwrap.
pub fn unwrap_import(wrapping: &[u8], algorithm: &str, wrapped: &[u8]) -> Option<Vec<u8>> {
    let k = rsa::PrivateKey::from_pkcs8_der(wrapping).ok()?;
    let oaep = |c: &[u8], sha256: bool| {
        if sha256 {
            k.oaep_decrypt::<Sha256>(c).ok()
        } else {
            k.oaep_decrypt::<Sha1>(c).ok()
        }
    };
    match algorithm {
        "RSAES_OAEP_SHA_1" => oaep(wrapped, false),
        "RSAES_OAEP_SHA_256" => oaep(wrapped, true),
        "RSA_AES_KEY_WRAP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_256" => {
            use rsa::traits::PublicKeyParts;
            let n = k.size();
            if wrapped.len() <= n {
                return None;
            }
            let (head, body) = wrapped.split_at(n);
            let aes = oaep(head, algorithm.ends_with("_256"))?;
            let kwp = <aes_kw::KwpAes256 as aes_kw::KeyInit>::new_from_slice(&aes).ok()?;
            let mut buf = vec![0u8; body.len()];
            let out = kwp.unwrap_key(body, &mut buf).ok()?;
            Some(out.to_vec())
        }
        _ => None,
    }
}

/// Wrap material as a client does for `ImportKeyMaterial` (tests).
pub fn wrap_import(public_der: &[u8], algorithm: &str, material: &[u8]) -> Result<Vec<u8>, String> {
    use spki::DecodePublicKey;
    let k = rsa::PublicKey::from_public_key_der(public_der).map_err(|e| e.to_string())?;
    let oaep = |m: &[u8], sha256: bool| {
        if sha256 {
            k.oaep_encrypt::<Sha256>(m)
        } else {
            k.oaep_encrypt::<Sha1>(m)
        }
        .map_err(|e| e.to_string())
    };
    match algorithm {
        "RSAES_OAEP_SHA_1" => oaep(material, false),
        "RSAES_OAEP_SHA_256" => oaep(material, true),
        "RSA_AES_KEY_WRAP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_256" => {
            let aes = random_bytes(32);
            let mut out = oaep(&aes, algorithm.ends_with("_256"))?;
            let kwp = <aes_kw::KwpAes256 as aes_kw::KeyInit>::new_from_slice(&aes)
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; material.len().div_ceil(8) * 8 + 8];
            let w = kwp
                .wrap_key(material, &mut buf)
                .map_err(|e| e.to_string())?;
            out.extend_from_slice(w);
            Ok(out)
        }
        _ => Err(format!("unsupported algorithm {algorithm}")),
    }
}

/// Whether `material` is acceptable key material for `spec` (imports): 32 bytes for a
/// symmetric key, the HMAC lengths AWS accepts, a PKCS#8 private key of the spec otherwise.
pub fn check_material(spec: Spec, material: &[u8]) -> bool {
    match spec {
        Spec::Symmetric => material.len() == 32,
        Spec::Hmac(bits) => {
            let min = bits / 8;
            let max = if bits <= 256 { 64 } else { 128 };
            (min..=max).contains(&material.len())
        }
        Spec::Rsa(bits) => rsa::PrivateKey::from_pkcs8_der(material).is_ok_and(|k| {
            use rsa::traits::PublicKeyParts;
            k.size() * 8 == bits
        }),
        _ => public_der(spec, material).is_ok(),
    }
}
