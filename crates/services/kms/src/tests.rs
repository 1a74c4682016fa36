use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_service::RequestContext;

use super::*;
use crate::crypto::Spec;

pub(super) fn ctx() -> RequestContext {
    let mut c = RequestContext::from_scope(None);
    c.partition = Partition::new("000000000000", "us-east-1");
    c
}

fn call(k: &Kms, op: &str, input: Value) -> Result<Value, AwsError> {
    k.handle(&ctx(), op, &input)
        // As the client reads it: written by the model.
        .map(|h| {
            serde_json::from_slice(&snapstack_protocol::codec::json::serialize_output(
                snapstack_protocol::model::named(NAME).unwrap(),
                op,
                &h.value,
            ))
            .unwrap()
        })
}

fn code(r: Result<Value, AwsError>) -> String {
    r.unwrap_err().code
}

pub(super) fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

pub(super) fn unb64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

pub(super) fn key(k: &Kms, spec: &str, usage: &str) -> String {
    call(k, "CreateKey", json!({"KeySpec": spec, "KeyUsage": usage})).unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn symmetric_round_trip_context_rotation_and_errors() {
    let k = Kms::new();
    let id = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    call(
        &k,
        "CreateAlias",
        json!({"AliasName": "alias/a", "TargetKeyId": id}),
    )
    .unwrap();
    let c = call(
        &k,
        "Encrypt",
        json!({"KeyId": "alias/a", "Plaintext": b64(b"hi"), "EncryptionContext": {"a": "1"}}),
    )
    .unwrap();
    let blob = c["CiphertextBlob"].clone();
    let d = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "1"}}),
    )
    .unwrap();
    assert_eq!(unb64(&d["Plaintext"]), b"hi");
    assert_eq!(
        code(call(&k, "Decrypt", json!({"CiphertextBlob": blob}))),
        "InvalidCiphertextException"
    );
    let other = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    assert_eq!(
        code(call(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": blob, "KeyId": other, "EncryptionContext": {"a": "1"}})
        )),
        "IncorrectKeyException"
    );
    call(&k, "RotateKeyOnDemand", json!({"KeyId": id})).unwrap();
    let d = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "1"}}),
    )
    .unwrap();
    assert_eq!(unb64(&d["Plaintext"]), b"hi");
    let r = call(&k, "ListKeyRotations", json!({"KeyId": id})).unwrap();
    assert_eq!(r["Rotations"].as_array().unwrap().len(), 1);
    call(&k, "DisableKey", json!({"KeyId": id})).unwrap();
    assert_eq!(
        code(call(
            &k,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"x")})
        )),
        "DisabledException"
    );
    call(&k, "EnableKey", json!({"KeyId": id})).unwrap();
    let s = call(
        &k,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .unwrap();
    assert_eq!(s["KeyState"], "PendingDeletion");
    let e = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "1"}}),
    )
    .unwrap_err();
    assert_eq!(e.code, "KMSInvalidStateException");
    assert!(
        e.message.ends_with(" is pending deletion."),
        "{}",
        e.message
    );
    assert_eq!(
        code(call(&k, "NoSuch", json!({}))),
        "UnknownOperationException"
    );
    assert_eq!(
        code(call(&k, "DescribeKey", json!({"KeyId": "alias/none"}))),
        "NotFoundException"
    );
    assert_eq!(
        code(call(
            &k,
            "CreateAlias",
            json!({"AliasName": "alias/a", "TargetKeyId": other})
        )),
        "AlreadyExistsException"
    );
}

#[test]
fn deletion_deadline_is_absolute_and_swept() {
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let clock = now.clone();
    let k = Kms::with_clock(Arc::new(move || clock.load(Ordering::Relaxed)));
    let id = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    call(
        &k,
        "CreateAlias",
        json!({"AliasName": "alias/doomed", "TargetKeyId": id}),
    )
    .unwrap();
    call(
        &k,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .unwrap();
    // A "restart": the records encoded and decoded, into a new service with the same clock.
    let map = k.store.snapshot().map().clone();
    let bytes: Vec<(Vec<u8>, Vec<u8>)> = map
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), postcard::to_allocvec(&**v).unwrap()))
        .collect();
    let clock = now.clone();
    let k2 = Kms::with_clock(Arc::new(move || clock.load(Ordering::Relaxed)));
    k2.store.write(|txn| {
        for (key, v) in &bytes {
            let rec: KmsRecord = postcard::from_bytes(v).unwrap();
            txn.insert(snapstack_engine::Key::from_bytes(key), rec);
        }
    });
    assert_eq!(k2.sweep(now.load(Ordering::Relaxed)), (0, 0));
    now.fetch_add(7 * 24 * 3600 * 1000 - 1, Ordering::Relaxed);
    assert_eq!(k2.sweep(now.load(Ordering::Relaxed)), (0, 0));
    now.fetch_add(1, Ordering::Relaxed);
    assert_eq!(
        code(call(&k2, "DescribeKey", json!({"KeyId": id}))),
        "NotFoundException"
    );
    assert_eq!(k2.sweep(now.load(Ordering::Relaxed)), (1, 0));
    assert!(k2.store.snapshot().is_empty());
}

#[test]
fn automatic_rotation_happens_at_its_deadline() {
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let clock = now.clone();
    let k = Kms::with_clock(Arc::new(move || clock.load(Ordering::Relaxed)));
    let id = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    call(
        &k,
        "EnableKeyRotation",
        json!({"KeyId": id, "RotationPeriodInDays": 90}),
    )
    .unwrap();
    let blob = call(&k, "Encrypt", json!({"KeyId": id, "Plaintext": b64(b"x")})).unwrap()["CiphertextBlob"].clone();
    now.fetch_add(90 * 24 * 3600 * 1000, Ordering::Relaxed);
    assert_eq!(k.sweep(now.load(Ordering::Relaxed)), (0, 1));
    let r = call(&k, "ListKeyRotations", json!({"KeyId": id})).unwrap();
    assert_eq!(r["Rotations"][0]["RotationType"], "AUTOMATIC");
    assert_eq!(
        unb64(&call(&k, "Decrypt", json!({"CiphertextBlob": blob})).unwrap()["Plaintext"]),
        b"x"
    );
}

#[test]
fn aws_managed_key_is_created_on_first_use() {
    let k = Kms::new();
    let c = call(
        &k,
        "Encrypt",
        json!({"KeyId": "alias/aws/secretsmanager", "Plaintext": b64(b"s")}),
    )
    .unwrap();
    let d = call(
        &k,
        "DescribeKey",
        json!({"KeyId": "alias/aws/secretsmanager"}),
    )
    .unwrap();
    assert_eq!(d["KeyMetadata"]["KeyManager"], "AWS");
    assert_eq!(c["KeyId"], d["KeyMetadata"]["Arn"]);
    // Its policy is AWS's for a managed key: the account's principals through the service.
    let p = call(
        &k,
        "GetKeyPolicy",
        json!({"KeyId": d["KeyMetadata"]["KeyId"], "PolicyName": "default"}),
    )
    .unwrap();
    let p: Value = serde_json::from_str(p["Policy"].as_str().unwrap()).unwrap();
    let via = &p["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(p["Statement"][0]["Principal"]["AWS"], "*");
    assert_eq!(
        via["kms:ViaService"],
        "secretsmanager.us-east-1.amazonaws.com"
    );
    assert_eq!(via["kms:CallerAccount"], "000000000000");
    assert_eq!(
        code(call(
            &k,
            "ScheduleKeyDeletion",
            json!({"KeyId": d["KeyMetadata"]["KeyId"]})
        )),
        "UnsupportedOperationException"
    );
}

#[test]
fn grants_tags_policies_and_data_keys() {
    let k = Kms::new();
    let id = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    let g = call(&k, "CreateGrant", json!({"KeyId": id, "GranteePrincipal": "arn:aws:iam::000000000000:role/r", "RetiringPrincipal": "arn:aws:iam::000000000000:role/x", "Operations": ["Decrypt"]})).unwrap();
    let l = call(&k, "ListGrants", json!({"KeyId": id})).unwrap();
    assert_eq!(l["Grants"][0]["GrantId"], g["GrantId"]);
    let r = call(
        &k,
        "ListRetirableGrants",
        json!({"RetiringPrincipal": "arn:aws:iam::000000000000:role/x"}),
    )
    .unwrap();
    assert_eq!(r["Grants"].as_array().unwrap().len(), 1);
    call(&k, "RetireGrant", json!({"GrantToken": g["GrantToken"]})).unwrap();
    assert_eq!(
        call(&k, "ListGrants", json!({"KeyId": id})).unwrap()["Grants"],
        json!([])
    );
    call(
        &k,
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "a", "TagValue": "1"}]}),
    )
    .unwrap();
    call(&k, "UntagResource", json!({"KeyId": id, "TagKeys": ["b"]})).unwrap();
    assert_eq!(
        call(&k, "ListResourceTags", json!({"KeyId": id})).unwrap()["Tags"],
        json!([{"TagKey": "a", "TagValue": "1"}])
    );
    call(
        &k,
        "PutKeyPolicy",
        json!({"KeyId": id, "PolicyName": "default", "Policy": "{\"Version\":\"2012-10-17\"}"}),
    )
    .unwrap();
    assert_eq!(
        call(&k, "GetKeyPolicy", json!({"KeyId": id})).unwrap()["Policy"],
        "{\"Version\":\"2012-10-17\"}"
    );
    let dk = call(
        &k,
        "GenerateDataKey",
        json!({"KeyId": id, "NumberOfBytes": 16}),
    )
    .unwrap();
    let d = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": dk["CiphertextBlob"]}),
    )
    .unwrap();
    assert_eq!(d["Plaintext"], dk["Plaintext"]);
    assert_eq!(
        code(call(&k, "GenerateDataKey", json!({"KeyId": id}))),
        "ValidationException"
    );
    let pair = call(
        &k,
        "GenerateDataKeyPair",
        json!({"KeyId": id, "KeyPairSpec": "ECC_NIST_P256"}),
    )
    .unwrap();
    let d = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": pair["PrivateKeyCiphertextBlob"]}),
    )
    .unwrap();
    assert_eq!(d["Plaintext"], pair["PrivateKeyPlaintext"]);
    let r = call(&k, "GenerateRandom", json!({"NumberOfBytes": 64})).unwrap();
    assert_eq!(unb64(&r["Plaintext"]).len(), 64);
}

fn sign_verify(k: &Kms, spec: &str, msg: &[u8]) {
    let id = key(k, spec, "SIGN_VERIFY");
    let s = Spec::parse(spec).unwrap();
    for alg in s.signing_algorithms() {
        let sig = call(
            k,
            "Sign",
            json!({"KeyId": id, "Message": b64(msg), "SigningAlgorithm": alg}),
        )
        .unwrap();
        let v = call(k, "Verify", json!({"KeyId": id, "Message": b64(msg), "Signature": sig["Signature"], "SigningAlgorithm": alg})).unwrap();
        assert_eq!(v["SignatureValid"], true);
        // The DIGEST message type signs the hash itself.
        let digest = crypto::digest(alg, msg);
        let v = call(k, "Verify", json!({"KeyId": id, "Message": b64(&digest), "MessageType": "DIGEST", "Signature": sig["Signature"], "SigningAlgorithm": alg})).unwrap();
        assert_eq!(v["SignatureValid"], true);
        let mut bad = msg.to_vec();
        bad.push(1);
        assert_eq!(
            code(call(
                k,
                "Verify",
                json!({"KeyId": id, "Message": b64(&bad), "Signature": sig["Signature"], "SigningAlgorithm": alg})
            )),
            "KMSInvalidSignatureException"
        );
    }
    let p = call(k, "GetPublicKey", json!({"KeyId": id})).unwrap();
    assert!(unb64(&p["PublicKey"]).len() > 32);
}

#[test]
fn every_signing_spec_signs_and_verifies() {
    let k = Kms::new();
    for spec in [
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "RSA_2048",
    ] {
        sign_verify(&k, spec, b"message");
    }
    let id = key(&k, "ECC_NIST_P256", "SIGN_VERIFY");
    assert_eq!(
        code(call(
            &k,
            "Sign",
            json!({"KeyId": id, "Message": b64(b"short"), "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_256"})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &k,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"x")})
        )),
        "InvalidKeyUsageException"
    );
}

#[test]
fn rsa_encryption_and_macs_round_trip() {
    let k = Kms::new();
    let id = key(&k, "RSA_2048", "ENCRYPT_DECRYPT");
    for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        let c = call(
            &k,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"rsa"), "EncryptionAlgorithm": alg}),
        )
        .unwrap();
        let d = call(
            &k,
            "Decrypt",
            json!({"KeyId": id, "CiphertextBlob": c["CiphertextBlob"], "EncryptionAlgorithm": alg}),
        )
        .unwrap();
        assert_eq!(unb64(&d["Plaintext"]), b"rsa");
    }
    for (spec, alg) in [
        ("HMAC_224", "HMAC_SHA_224"),
        ("HMAC_256", "HMAC_SHA_256"),
        ("HMAC_384", "HMAC_SHA_384"),
        ("HMAC_512", "HMAC_SHA_512"),
    ] {
        let id = key(&k, spec, "GENERATE_VERIFY_MAC");
        let m = call(
            &k,
            "GenerateMac",
            json!({"KeyId": id, "Message": b64(b"m"), "MacAlgorithm": alg}),
        )
        .unwrap();
        let v = call(
            &k,
            "VerifyMac",
            json!({"KeyId": id, "Message": b64(b"m"), "Mac": m["Mac"], "MacAlgorithm": alg}),
        )
        .unwrap();
        assert_eq!(v["MacValid"], true);
        assert_eq!(
            code(call(
                &k,
                "VerifyMac",
                json!({"KeyId": id, "Message": b64(b"n"), "Mac": m["Mac"], "MacAlgorithm": alg})
            )),
            "KMSInvalidMacException"
        );
    }
}

#[test]
fn material_is_never_in_debug_output() {
    let k = Kms::new();
    let id = key(&k, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    let snap = k.store.snapshot();
    let rec = snap.iter().next().unwrap().1;
    let KmsRecord::Key(key) = rec else { panic!() };
    assert_eq!(key.id, id);
    let secret = &key.materials[0].secret.0;
    let hex: String = secret.iter().map(|b| format!("{b}, ")).collect();
    assert!(!format!("{rec:?}").contains(&hex[..20]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn symmetric_encrypt_decrypt_round_trips(
        pt in proptest::collection::vec(any::<u8>(), 1..512),
        ctx in proptest::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..4),
    ) {
        let mat = crypto::generate(Spec::Symmetric).unwrap();
        let b = crypto::seal(&mat, "1234abcd-12ab-34cd-56ef-1234567890ab", 0, &ctx, &pt).unwrap();
        let parsed = blob::parse(&b).unwrap();
        prop_assert_eq!(crypto::open(&mat, &parsed, &ctx).unwrap(), pt);
    }

    #[test]
    fn ecc_sign_verify_round_trips(msg in proptest::collection::vec(any::<u8>(), 0..256), which in 0usize..4) {
        let (spec, alg) = [(Spec::P256, "ECDSA_SHA_256"), (Spec::P384, "ECDSA_SHA_384"), (Spec::P521, "ECDSA_SHA_512"), (Spec::K256, "ECDSA_SHA_256")][which];
        let der = crypto::generate(spec).unwrap();
        let d = crypto::digest(alg, &msg);
        let sig = crypto::sign(spec, &der, alg, &d).unwrap();
        prop_assert!(crypto::verify(spec, &der, alg, &d, &sig));
        let other = crypto::digest(alg, &[msg.as_slice(), b"x"].concat());
        prop_assert!(!crypto::verify(spec, &der, alg, &other, &sig));
    }

    #[test]
    fn decrypt_never_panics_on_arbitrary_blobs(bytes in proptest::collection::vec(any::<u8>(), 1..300)) {
        let k = Kms::new();
        let _ = call(&k, "Decrypt", json!({"CiphertextBlob": b64(&bytes)}));
    }
}

#[test]
fn rsa_sign_and_encrypt_round_trip_for_every_size() {
    // RSA key generation is slow in debug builds: one key per size.
    for bits in [2048, 3072, 4096] {
        let spec = Spec::Rsa(bits);
        let der = crypto::generate(spec).unwrap();
        for alg in spec.signing_algorithms() {
            let d = crypto::digest(alg, b"m");
            let sig = crypto::sign(spec, &der, alg, &d).unwrap();
            assert!(crypto::verify(spec, &der, alg, &d, &sig), "{bits} {alg}");
        }
        for alg in spec.encryption_algorithms() {
            let c = crypto::rsa_encrypt(&der, alg, b"p").unwrap();
            assert_eq!(crypto::rsa_decrypt(&der, alg, &c).unwrap(), b"p");
        }
        assert!(crypto::public_der(spec, &der).is_ok());
    }
}
