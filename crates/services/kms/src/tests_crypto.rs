//! The key-spec × algorithm matrix: Sign with RAW and DIGEST messages for every signing spec,
//! grant tokens on cryptographic calls, and proptests (RSA signatures and OAEP, HMAC of every
//! size) with keys generated once per spec.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::crypto::{self, Spec};
use crate::tests::{b64, ctx, key, unb64};

fn call(k: &Kms, op: &str, input: Value) -> Result<Value, AwsError> {
    k.handle(&ctx(), op, &input).map(|h| h.value)
}

/// Every signing key spec with every algorithm the model allows it.
const SIGNING: &[(&str, &[&str])] = &[
    (
        "RSA_2048",
        &[
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
        ],
    ),
    ("ECC_NIST_P256", &["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", &["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", &["ECDSA_SHA_512"]),
    ("ECC_SECG_P256K1", &["ECDSA_SHA_256"]),
    ("ECC_NIST_EDWARDS25519", &["ED25519_PH_SHA_512"]),
];

#[test]
fn ed25519_signs_the_raw_message_and_refuses_a_digest() {
    let k = Kms::new();
    let id = key(&k, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY");
    let meta = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap();
    assert_eq!(
        meta["KeyMetadata"]["SigningAlgorithms"],
        json!(["ED25519_SHA_512", "ED25519_PH_SHA_512"])
    );
    let public = call(&k, "GetPublicKey", json!({"KeyId": id})).unwrap();
    // RFC 8410 SubjectPublicKeyInfo: 12 bytes of header, 32 of key.
    assert_eq!(unb64(&public["PublicKey"]).len(), 44);
    let msg = b64(b"an Ed25519 message");
    let s = call(
        &k,
        "Sign",
        json!({"KeyId": id, "Message": msg, "SigningAlgorithm": "ED25519_SHA_512"}),
    )
    .unwrap();
    assert_eq!(unb64(&s["Signature"]).len(), 64);
    let v = call(
        &k,
        "Verify",
        json!({"KeyId": id, "Message": msg, "Signature": s["Signature"], "SigningAlgorithm": "ED25519_SHA_512"}),
    )
    .unwrap();
    assert_eq!(v["SignatureValid"], true);
    // A pure signature is not an Ed25519ph one.
    let e = call(
        &k,
        "Verify",
        json!({"KeyId": id, "Message": msg, "Signature": s["Signature"], "SigningAlgorithm": "ED25519_PH_SHA_512"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "KMSInvalidSignatureException");
    let e = call(
        &k,
        "Sign",
        json!({"KeyId": id, "Message": b64(&[0u8; 64]), "MessageType": "DIGEST", "SigningAlgorithm": "ED25519_SHA_512"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    let e = call(
        &k,
        "Sign",
        json!({"KeyId": id, "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidKeyUsageException");
}

#[test]
fn digest_sign_verifies_as_the_raw_message_for_every_spec_and_algorithm() {
    let k = Kms::new();
    for (spec, algs) in SIGNING {
        let id = key(&k, spec, "SIGN_VERIFY");
        for alg in *algs {
            let msg = format!("message for {spec} {alg}");
            let digest = crypto::digest(alg, msg.as_bytes());
            let s = call(
                &k,
                "Sign",
                json!({"KeyId": id, "Message": b64(&digest), "MessageType": "DIGEST", "SigningAlgorithm": alg}),
            )
            .unwrap_or_else(|e| panic!("{spec} {alg}: {e:?}"));
            assert_eq!(s["SigningAlgorithm"], *alg);
            // The DIGEST signature is a signature of the message: Verify with RAW accepts it.
            let v = call(
                &k,
                "Verify",
                json!({"KeyId": id, "Message": b64(msg.as_bytes()), "MessageType": "RAW",
                       "Signature": s["Signature"], "SigningAlgorithm": alg}),
            )
            .unwrap_or_else(|e| panic!("{spec} {alg}: {e:?}"));
            assert_eq!(v["SignatureValid"], true);
            // Another message's digest does not verify.
            let other = crypto::digest(alg, b"another message");
            let e = call(
                &k,
                "Verify",
                json!({"KeyId": id, "Message": b64(&other), "MessageType": "DIGEST",
                       "Signature": s["Signature"], "SigningAlgorithm": alg}),
            )
            .unwrap_err();
            assert_eq!(e.code, "KMSInvalidSignatureException", "{spec} {alg}");
            // A digest of the wrong length is refused.
            let e = call(
                &k,
                "Sign",
                json!({"KeyId": id, "Message": b64(&digest[1..]), "MessageType": "DIGEST", "SigningAlgorithm": alg}),
            )
            .unwrap_err();
            assert_eq!(e.code, "ValidationException", "{spec} {alg}");
        }
    }
}

#[test]
fn grant_tokens_must_be_grant_tokens() {
    let k = Kms::new();
    let id = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    let g = call(
        &k,
        "CreateGrant",
        json!({"KeyId": id, "GranteePrincipal": "arn:aws:iam::000000000000:role/r", "Operations": ["Encrypt", "Decrypt"]}),
    )
    .unwrap();
    let token = g["GrantToken"].clone();
    let c = call(
        &k,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x"), "GrantTokens": [token]}),
    )
    .unwrap();
    for bad in ["not-a-token", "", "AAAA", &"A".repeat(129)] {
        for (op, input) in [
            (
                "Decrypt",
                json!({"CiphertextBlob": c["CiphertextBlob"], "GrantTokens": [token, bad]}),
            ),
            (
                "Encrypt",
                json!({"KeyId": id, "Plaintext": b64(b"x"), "GrantTokens": [bad]}),
            ),
            ("DescribeKey", json!({"KeyId": id, "GrantTokens": [bad]})),
        ] {
            let e = call(&k, op, input).unwrap_err();
            assert_eq!(e.code, "InvalidGrantTokenException", "{op} {bad:?}");
        }
    }
    // A retired grant's token is still a token (its grant is gone).
    call(&k, "RetireGrant", json!({"GrantToken": token})).unwrap();
    let d = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": c["CiphertextBlob"], "GrantTokens": [token]}),
    )
    .unwrap();
    assert_eq!(unb64(&d["Plaintext"]), b"x");
}

/// One RSA key of each size, made once for all cases (generation is the slow part).
fn rsa_key(bits: usize) -> &'static [u8] {
    static KEYS: [OnceLock<Vec<u8>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = match bits {
        2048 => 0,
        3072 => 1,
        _ => 2,
    };
    KEYS[i].get_or_init(|| crypto::generate(Spec::Rsa(bits)).unwrap())
}

const RSA_SIGNING: [&str; 6] = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn rsa_sign_verify_round_trips(
        msg in proptest::collection::vec(any::<u8>(), 0..512),
        size in 0usize..3,
        which in 0usize..6,
    ) {
        let bits = [2048, 3072, 4096][size];
        let spec = Spec::Rsa(bits);
        let der = rsa_key(bits);
        let alg = RSA_SIGNING[which];
        let d = crypto::digest(alg, &msg);
        let sig = crypto::sign(spec, der, alg, &d).unwrap();
        prop_assert_eq!(sig.len(), bits / 8);
        prop_assert!(crypto::verify(spec, der, alg, &d, &sig));
        let other = crypto::digest(alg, &[msg.as_slice(), b"x"].concat());
        prop_assert!(!crypto::verify(spec, der, alg, &other, &sig));
        let mut forged = sig.clone();
        forged[0] ^= 1;
        prop_assert!(!crypto::verify(spec, der, alg, &d, &forged));
    }

    #[test]
    fn rsa_oaep_round_trips(
        size in 0usize..3,
        sha256 in any::<bool>(),
        len in 1usize..190,
        seed in any::<u8>(),
    ) {
        let bits = [2048, 3072, 4096][size];
        let der = rsa_key(bits);
        let alg = if sha256 { "RSAES_OAEP_SHA_256" } else { "RSAES_OAEP_SHA_1" };
        let pt: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let c = crypto::rsa_encrypt(der, alg, &pt).unwrap();
        prop_assert_eq!(c.len(), bits / 8);
        prop_assert_eq!(crypto::rsa_decrypt(der, alg, &c), Some(pt));
        let other = if sha256 { "RSAES_OAEP_SHA_1" } else { "RSAES_OAEP_SHA_256" };
        prop_assert_eq!(crypto::rsa_decrypt(der, other, &c), None);
    }

    #[test]
    fn hmac_generate_verify_round_trips(
        msg in proptest::collection::vec(any::<u8>(), 0..1024),
        which in 0usize..4,
    ) {
        let (bits, alg) = [(224, "HMAC_SHA_224"), (256, "HMAC_SHA_256"), (384, "HMAC_SHA_384"), (512, "HMAC_SHA_512")][which];
        let key = crypto::generate(Spec::Hmac(bits)).unwrap();
        prop_assert_eq!(key.len(), bits / 8);
        let tag = crypto::mac(alg, &key, &msg).unwrap();
        prop_assert_eq!(tag.len(), bits / 8);
        prop_assert!(crypto::mac_verify(alg, &key, &msg, &tag));
        let mut bad = tag.clone();
        bad[0] ^= 0x80;
        prop_assert!(!crypto::mac_verify(alg, &key, &msg, &bad));
        prop_assert!(!crypto::mac_verify(alg, &key, &[msg.as_slice(), b"x"].concat(), &tag));
        // Another size's algorithm does not accept the tag.
        let other = ["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"][(which + 1) % 4];
        prop_assert!(!crypto::mac_verify(other, &key, &msg, &tag));
    }
}
