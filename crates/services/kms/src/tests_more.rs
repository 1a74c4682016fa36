//! Imported key material, custom key stores, Multi-Region keys, DeriveSharedSecret and
//! GetKeyLastUsage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_service::RequestContext;

use super::*;
use crate::crypto;

const T0: u64 = 1_800_000_000_000;

fn ctx_in(region: &str) -> RequestContext {
    let mut c = RequestContext::from_scope(None);
    c.partition = Partition::new("000000000000", region);
    c
}

fn kms() -> (Kms, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(T0));
    let n = now.clone();
    (
        Kms::with_clock(Arc::new(move || n.load(Ordering::SeqCst))),
        now,
    )
}

fn call_in(k: &Kms, region: &str, op: &str, input: Value) -> Result<Value, AwsError> {
    k.handle(&ctx_in(region), op, &input).map(|h| {
        serde_json::from_slice(&snapstack_protocol::codec::json::serialize_output(
            snapstack_protocol::model::named(NAME).unwrap(),
            op,
            &h.value,
        ))
        .unwrap()
    })
}

fn call(k: &Kms, op: &str, input: Value) -> Result<Value, AwsError> {
    call_in(k, "us-east-1", op, input)
}

fn code(r: Result<Value, AwsError>) -> String {
    r.unwrap_err().code
}

fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn import(k: &Kms, id: &str, alg: &str, material: &[u8], extra: Value) -> Result<Value, AwsError> {
    let params = call(
        k,
        "GetParametersForImport",
        json!({"KeyId": id, "WrappingAlgorithm": alg, "WrappingKeySpec": "RSA_2048"}),
    )
    .unwrap();
    let wrapped = crypto::wrap_import(&unb64(&params["PublicKey"]), alg, material).unwrap();
    let mut input = json!({
        "KeyId": id,
        "ImportToken": params["ImportToken"],
        "EncryptedKeyMaterial": b64(&wrapped),
    });
    for (f, v) in extra.as_object().unwrap() {
        input[f] = v.clone();
    }
    call(k, "ImportKeyMaterial", input)
}

#[test]
fn imported_material_with_every_wrapping_algorithm() {
    let (k, _) = kms();
    for alg in [
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "RSA_AES_KEY_WRAP_SHA_1",
        "RSA_AES_KEY_WRAP_SHA_256",
    ] {
        let meta =
            call(&k, "CreateKey", json!({"Origin": "EXTERNAL"})).unwrap()["KeyMetadata"].clone();
        assert_eq!(meta["KeyState"], "PendingImport");
        let id = meta["KeyId"].as_str().unwrap().to_string();
        assert_eq!(
            code(call(
                &k,
                "Encrypt",
                json!({"KeyId": id, "Plaintext": b64(b"x")})
            )),
            "KMSInvalidStateException"
        );
        let material = crypto::random_bytes(32);
        let out = import(&k, &id, alg, &material, json!({})).unwrap();
        assert_eq!(out["KeyMaterialId"].as_str().unwrap().len(), 64, "{alg}");
        let meta = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
        assert_eq!(meta["KeyState"], "Enabled");
        assert_eq!(meta["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE");
        let c = call(
            &k,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"secret")}),
        )
        .unwrap();
        // The material is really the one imported: its AES-GCM opens the blob.
        let blob = unb64(&c["CiphertextBlob"]);
        let parsed = blob::parse(&blob).unwrap();
        assert_eq!(
            crypto::open(&material, &parsed, &Default::default()).unwrap(),
            b"secret"
        );
        // Other material is refused; the same material again is accepted.
        assert_eq!(
            code(import(&k, &id, alg, &crypto::random_bytes(32), json!({}))),
            "IncorrectKeyMaterialException"
        );
        let d = call(&k, "DeleteImportedKeyMaterial", json!({"KeyId": id})).unwrap();
        assert_eq!(d["KeyMaterialId"], out["KeyMaterialId"]);
        let meta = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
        assert_eq!(meta["KeyState"], "PendingImport");
        assert_eq!(
            code(call(
                &k,
                "Decrypt",
                json!({"CiphertextBlob": c["CiphertextBlob"]})
            )),
            "KMSInvalidStateException"
        );
        import(&k, &id, alg, &material, json!({})).unwrap();
        let p = call(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": c["CiphertextBlob"]}),
        )
        .unwrap();
        assert_eq!(unb64(&p["Plaintext"]), b"secret");
    }
}

#[test]
fn import_errors_tokens_and_expiry() {
    let (k, now) = kms();
    let aws = call(&k, "CreateKey", json!({})).unwrap()["KeyMetadata"]["KeyId"].clone();
    assert_eq!(
        code(call(
            &k,
            "GetParametersForImport",
            json!({"KeyId": aws, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"})
        )),
        "UnsupportedOperationException"
    );
    let id = call(&k, "CreateKey", json!({"Origin": "EXTERNAL"})).unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        code(call(
            &k,
            "GetParametersForImport",
            json!({"KeyId": id, "WrappingAlgorithm": "RSAES_PKCS1_V1_5", "WrappingKeySpec": "RSA_2048"})
        )),
        "UnsupportedOperationException"
    );
    let params = call(
        &k,
        "GetParametersForImport",
        json!({"KeyId": id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
    )
    .unwrap();
    assert_eq!(
        params["ParametersValidTo"].as_f64().unwrap(),
        (T0 + 24 * 3600 * 1000) as f64 / 1000.0
    );
    let material = crypto::random_bytes(32);
    let wrapped = crypto::wrap_import(
        &unb64(&params["PublicKey"]),
        "RSAES_OAEP_SHA_256",
        &material,
    )
    .unwrap();
    // A wrong token, garbage, a wrong length.
    let bad_token =
        json!({"KeyId": id, "ImportToken": b64(b"nope"), "EncryptedKeyMaterial": b64(&wrapped)});
    assert_eq!(
        code(call(&k, "ImportKeyMaterial", bad_token)),
        "InvalidImportTokenException"
    );
    let garbage = json!({"KeyId": id, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": b64(&[1u8; 256])});
    assert_eq!(
        code(call(&k, "ImportKeyMaterial", garbage)),
        "InvalidCiphertextException"
    );
    let short = crypto::wrap_import(
        &unb64(&params["PublicKey"]),
        "RSAES_OAEP_SHA_256",
        &[7u8; 16],
    )
    .unwrap();
    let short = json!({"KeyId": id, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": b64(&short)});
    assert_eq!(
        code(call(&k, "ImportKeyMaterial", short)),
        "IncorrectKeyMaterialException"
    );
    // ValidTo rules.
    let good = |extra: Value| {
        let mut i = json!({"KeyId": id, "ImportToken": params["ImportToken"], "EncryptedKeyMaterial": b64(&wrapped)});
        for (f, v) in extra.as_object().unwrap() {
            i[f] = v.clone();
        }
        i
    };
    assert_eq!(
        code(call(
            &k,
            "ImportKeyMaterial",
            good(json!({"ExpirationModel": "KEY_MATERIAL_EXPIRES"}))
        )),
        "ValidationException"
    );
    let valid_to = (T0 + 3_600_000) as f64 / 1000.0;
    call(&k, "ImportKeyMaterial", good(json!({"ValidTo": valid_to}))).unwrap();
    let meta = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
    assert_eq!(meta["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(meta["ValidTo"].as_f64().unwrap(), valid_to);
    call(&k, "Encrypt", json!({"KeyId": id, "Plaintext": b64(b"x")})).unwrap();
    // The deadline passes: refused at once, and the sweeper deletes the material.
    now.store(T0 + 3_600_000, Ordering::SeqCst);
    assert_eq!(
        code(call(
            &k,
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"x")})
        )),
        "KMSInvalidStateException"
    );
    k.sweep(T0 + 3_600_000);
    let meta = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
    assert_eq!(meta["KeyState"], "PendingImport");
    assert!(meta.get("ValidTo").is_none());
    // The token expires after 24 hours.
    now.store(T0 + 24 * 3600 * 1000, Ordering::SeqCst);
    assert_eq!(
        code(call(&k, "ImportKeyMaterial", good(json!({})))),
        "ExpiredImportTokenException"
    );
}

#[test]
fn imported_hmac_and_ecc_material() {
    let (k, _) = kms();
    let id = call(
        &k,
        "CreateKey",
        json!({"Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    )
    .unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let material = crypto::random_bytes(32);
    import(&k, &id, "RSAES_OAEP_SHA_256", &material, json!({})).unwrap();
    let mac = call(
        &k,
        "GenerateMac",
        json!({"KeyId": id, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256"}),
    )
    .unwrap();
    assert_eq!(
        unb64(&mac["Mac"]),
        crypto::mac("HMAC_SHA_256", &material, b"m").unwrap()
    );
    let id = call(
        &k,
        "CreateKey",
        json!({"Origin": "EXTERNAL", "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
    )
    .unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let private = crypto::generate(crypto::Spec::P256).unwrap();
    import(&k, &id, "RSA_AES_KEY_WRAP_SHA_256", &private, json!({})).unwrap();
    let public = call(&k, "GetPublicKey", json!({"KeyId": id})).unwrap();
    assert_eq!(
        unb64(&public["PublicKey"]),
        crypto::public_der(crypto::Spec::P256, &private).unwrap()
    );
}

#[test]
fn custom_key_stores_connect_after_a_deadline_and_gate_their_keys() {
    let (k, now) = kms();
    let cloudhsm = json!({
        "CustomKeyStoreName": "hsm",
        "CloudHsmClusterId": "cluster-1234567890a",
        "TrustAnchorCertificate": "-----BEGIN CERTIFICATE-----",
        "KeyStorePassword": "kmsuser-password",
    });
    let sid = call(&k, "CreateCustomKeyStore", cloudhsm.clone()).unwrap()["CustomKeyStoreId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sid.starts_with("cks-") && sid.len() == 21, "{sid}");
    assert_eq!(
        code(call(&k, "CreateCustomKeyStore", cloudhsm)),
        "CustomKeyStoreNameInUseException"
    );
    let d = call(
        &k,
        "DescribeCustomKeyStores",
        json!({"CustomKeyStoreId": sid}),
    )
    .unwrap();
    assert_eq!(d["CustomKeyStores"][0]["ConnectionState"], "DISCONNECTED");
    assert_eq!(
        d["CustomKeyStores"][0]["CloudHsmClusterId"],
        "cluster-1234567890a"
    );
    let create = json!({"CustomKeyStoreId": sid, "Origin": "AWS_CLOUDHSM"});
    assert_eq!(
        code(call(&k, "CreateKey", create.clone())),
        "CustomKeyStoreInvalidStateException"
    );
    call(
        &k,
        "ConnectCustomKeyStore",
        json!({"CustomKeyStoreId": sid}),
    )
    .unwrap();
    let d = call(&k, "DescribeCustomKeyStores", json!({})).unwrap();
    assert_eq!(d["CustomKeyStores"][0]["ConnectionState"], "CONNECTING");
    now.store(T0 + stores::CONNECT_MS, Ordering::SeqCst);
    k.sweep(T0 + stores::CONNECT_MS);
    assert!(matches!(
        k.store.snapshot().get(&rk::store(&ctx_in("us-east-1").partition, &sid)),
        Some(KmsRecord::KeyStore(s)) if s.state == "CONNECTED"
    ));
    assert_eq!(
        code(call(
            &k,
            "UpdateCustomKeyStore",
            json!({"CustomKeyStoreId": sid, "KeyStorePassword": "x"})
        )),
        "CustomKeyStoreInvalidStateException"
    );
    let meta = call(&k, "CreateKey", create).unwrap()["KeyMetadata"].clone();
    assert_eq!(meta["CustomKeyStoreId"], sid.as_str());
    assert_eq!(meta["CloudHsmClusterId"], "cluster-1234567890a");
    assert_eq!(meta["Origin"], "AWS_CLOUDHSM");
    let id = meta["KeyId"].as_str().unwrap().to_string();
    let c = call(
        &k,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"hsm")}),
    )
    .unwrap();
    call(
        &k,
        "DisconnectCustomKeyStore",
        json!({"CustomKeyStoreId": sid}),
    )
    .unwrap();
    let meta = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
    assert_eq!(meta["KeyState"], "Unavailable");
    assert_eq!(
        code(call(
            &k,
            "Decrypt",
            json!({"CiphertextBlob": c["CiphertextBlob"]})
        )),
        "KMSInvalidStateException"
    );
    assert_eq!(
        code(call(
            &k,
            "DeleteCustomKeyStore",
            json!({"CustomKeyStoreId": sid})
        )),
        "CustomKeyStoreHasCMKsException"
    );
    call(
        &k,
        "UpdateCustomKeyStore",
        json!({"CustomKeyStoreId": sid, "NewCustomKeyStoreName": "hsm2"}),
    )
    .unwrap();
    call(
        &k,
        "ScheduleKeyDeletion",
        json!({"KeyId": id, "PendingWindowInDays": 7}),
    )
    .unwrap();
    k.sweep(T0 + 8 * 24 * 3600 * 1000);
    call(&k, "DeleteCustomKeyStore", json!({"CustomKeyStoreId": sid})).unwrap();
    assert_eq!(
        code(call(
            &k,
            "DescribeCustomKeyStores",
            json!({"CustomKeyStoreName": "hsm2"})
        )),
        "CustomKeyStoreNotFoundException"
    );
}

#[test]
fn external_key_stores_need_proxy_settings_and_xks_key_ids() {
    let (k, now) = kms();
    let xks = json!({
        "CustomKeyStoreName": "xks",
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": "https://xks.example.com",
        "XksProxyUriPath": "/example/kms/xks/v1",
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        "XksProxyAuthenticationCredential": {"AccessKeyId": "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey": "abcdefghijklmnopqrstuvwxyz012345678901234"},
    });
    let mut bad = xks.clone();
    bad["XksProxyUriPath"] = json!("/nope");
    assert_eq!(
        code(call(&k, "CreateCustomKeyStore", bad)),
        "XksProxyInvalidConfigurationException"
    );
    let sid = call(&k, "CreateCustomKeyStore", xks).unwrap()["CustomKeyStoreId"]
        .as_str()
        .unwrap()
        .to_string();
    let d = call(&k, "DescribeCustomKeyStores", json!({})).unwrap();
    assert_eq!(
        d["CustomKeyStores"][0]["XksProxyConfiguration"]["AccessKeyId"],
        "ABCDEFGHIJKLMNOPQRST"
    );
    assert!(
        d.to_string().find("abcdefghijklmnopqrstuvwxyz").is_none(),
        "the secret is never shown"
    );
    call(
        &k,
        "ConnectCustomKeyStore",
        json!({"CustomKeyStoreId": sid}),
    )
    .unwrap();
    now.store(T0 + stores::CONNECT_MS, Ordering::SeqCst);
    let create = json!({"CustomKeyStoreId": sid, "Origin": "EXTERNAL_KEY_STORE"});
    assert_eq!(
        code(call(&k, "CreateKey", create.clone())),
        "ValidationException"
    );
    let mut create = create;
    create["XksKeyId"] = json!("ext-key-1");
    let meta = call(&k, "CreateKey", create.clone()).unwrap()["KeyMetadata"].clone();
    assert_eq!(meta["XksKeyConfiguration"]["Id"], "ext-key-1");
    assert_eq!(
        code(call(&k, "CreateKey", create)),
        "XksKeyAlreadyInUseException"
    );
    let id = meta["KeyId"].as_str().unwrap();
    let c = call(
        &k,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"xks")}),
    )
    .unwrap();
    let p = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": c["CiphertextBlob"]}),
    )
    .unwrap();
    assert_eq!(unb64(&p["Plaintext"]), b"xks");
}

#[test]
fn multi_region_keys_replicate_and_decrypt_across_regions() {
    let (k, _) = kms();
    let meta = call(&k, "CreateKey", json!({"MultiRegion": true})).unwrap()["KeyMetadata"].clone();
    let id = meta["KeyId"].as_str().unwrap().to_string();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert_eq!(
        meta["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    let c = call(
        &k,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"everywhere")}),
    )
    .unwrap();
    let single = call(&k, "CreateKey", json!({})).unwrap()["KeyMetadata"]["KeyId"].clone();
    assert_eq!(
        code(call(
            &k,
            "ReplicateKey",
            json!({"KeyId": single, "ReplicaRegion": "us-west-2"})
        )),
        "UnsupportedOperationException"
    );
    let r = call(
        &k,
        "ReplicateKey",
        json!({"KeyId": id, "ReplicaRegion": "us-west-2", "Description": "replica", "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
    )
    .unwrap();
    let rm = &r["ReplicaKeyMetadata"];
    assert_eq!(
        rm["Arn"],
        format!("arn:aws:kms:us-west-2:000000000000:key/{id}")
    );
    assert_eq!(
        rm["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    assert_eq!(
        rm["MultiRegionConfiguration"]["PrimaryKey"]["Region"],
        "us-east-1"
    );
    assert_eq!(r["ReplicaTags"][0]["TagKey"], "a");
    assert_eq!(
        code(call(
            &k,
            "ReplicateKey",
            json!({"KeyId": id, "ReplicaRegion": "us-west-2"})
        )),
        "AlreadyExistsException"
    );
    let primary = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
    assert_eq!(
        primary["MultiRegionConfiguration"]["ReplicaKeys"][0]["Region"],
        "us-west-2"
    );
    // The primary's ciphertext decrypts in the replica's Region, and back.
    let p = call_in(
        &k,
        "us-west-2",
        "Decrypt",
        json!({"CiphertextBlob": c["CiphertextBlob"]}),
    )
    .unwrap();
    assert_eq!(unb64(&p["Plaintext"]), b"everywhere");
    let c2 = call_in(
        &k,
        "us-west-2",
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"back")}),
    )
    .unwrap();
    let p = call(
        &k,
        "Decrypt",
        json!({"CiphertextBlob": c2["CiphertextBlob"]}),
    )
    .unwrap();
    assert_eq!(unb64(&p["Plaintext"]), b"back");
    // Rotation is the primary's, and reaches the replica.
    assert_eq!(
        code(call_in(
            &k,
            "us-west-2",
            "RotateKeyOnDemand",
            json!({"KeyId": id})
        )),
        "UnsupportedOperationException"
    );
    call(&k, "RotateKeyOnDemand", json!({"KeyId": id})).unwrap();
    let c3 = call(
        &k,
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"rotated")}),
    )
    .unwrap();
    let p = call_in(
        &k,
        "us-west-2",
        "Decrypt",
        json!({"CiphertextBlob": c3["CiphertextBlob"]}),
    )
    .unwrap();
    assert_eq!(unb64(&p["Plaintext"]), b"rotated");
    // The primary moves.
    assert_eq!(
        code(call_in(
            &k,
            "us-west-2",
            "UpdatePrimaryRegion",
            json!({"KeyId": id, "PrimaryRegion": "us-west-2"})
        )),
        "UnsupportedOperationException"
    );
    assert_eq!(
        code(call(
            &k,
            "UpdatePrimaryRegion",
            json!({"KeyId": id, "PrimaryRegion": "eu-west-1"})
        )),
        "NotFoundException"
    );
    call(
        &k,
        "UpdatePrimaryRegion",
        json!({"KeyId": id, "PrimaryRegion": "us-west-2"}),
    )
    .unwrap();
    let m1 = call(&k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"]["MultiRegionConfiguration"].clone();
    let m2 = call_in(&k, "us-west-2", "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"]
        ["MultiRegionConfiguration"]
        .clone();
    assert_eq!(m1["MultiRegionKeyType"], "REPLICA");
    assert_eq!(m2["MultiRegionKeyType"], "PRIMARY");
    assert_eq!(m1["PrimaryKey"], m2["PrimaryKey"]);
    assert_eq!(m2["ReplicaKeys"][0]["Region"], "us-east-1");
}

macro_rules! ecdh_case {
    ($k:expr, $curve:ident, $spec:expr) => {{
        use $curve::pkcs8::EncodePublicKey;
        let id = call($k, "CreateKey", json!({"KeySpec": $spec, "KeyUsage": "KEY_AGREEMENT"})).unwrap()
            ["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string();
        let meta = call($k, "DescribeKey", json!({"KeyId": id})).unwrap()["KeyMetadata"].clone();
        assert_eq!(meta["KeyAgreementAlgorithms"], json!(["ECDH"]));
        let mine =
            $curve::SecretKey::from_pkcs8_der(&crypto::generate(spec_of($spec)).unwrap()).unwrap();
        let mine_pub = mine.public_key().to_public_key_der().unwrap();
        let out = call(
            $k,
            "DeriveSharedSecret",
            json!({"KeyId": id, "KeyAgreementAlgorithm": "ECDH", "PublicKey": b64(mine_pub.as_bytes())}),
        )
        .unwrap();
        assert_eq!(out["KeyOrigin"], "AWS_KMS");
        let theirs = call($k, "GetPublicKey", json!({"KeyId": id})).unwrap();
        assert_eq!(theirs["KeyAgreementAlgorithms"], json!(["ECDH"]));
        use spki::DecodePublicKey;
        let theirs = $curve::PublicKey::from_public_key_der(&unb64(&theirs["PublicKey"])).unwrap();
        let expect = $curve::ecdh::diffie_hellman(mine.to_nonzero_scalar(), theirs.as_affine());
        assert_eq!(unb64(&out["SharedSecret"]), expect.raw_secret_bytes().to_vec());
        id
    }};
}

fn spec_of(s: &str) -> crypto::Spec {
    crypto::Spec::parse(s).unwrap()
}

#[test]
fn derive_shared_secret_agrees_with_a_local_ecdh() {
    use pkcs8::DecodePrivateKey;
    let (k, _) = kms();
    let p256 = ecdh_case!(&k, p256, "ECC_NIST_P256");
    ecdh_case!(&k, p384, "ECC_NIST_P384");
    ecdh_case!(&k, p521, "ECC_NIST_P521");
    // Another curve's public key is refused; a signing key is of the wrong usage.
    let other = call(
        &k,
        "CreateKey",
        json!({"KeySpec": "ECC_NIST_P384", "KeyUsage": "SIGN_VERIFY"}),
    )
    .unwrap()["KeyMetadata"]["KeyId"]
        .clone();
    let pub384 = call(&k, "GetPublicKey", json!({"KeyId": other})).unwrap()["PublicKey"].clone();
    assert_eq!(
        code(call(
            &k,
            "DeriveSharedSecret",
            json!({"KeyId": p256, "KeyAgreementAlgorithm": "ECDH", "PublicKey": pub384})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &k,
            "DeriveSharedSecret",
            json!({"KeyId": other, "KeyAgreementAlgorithm": "ECDH", "PublicKey": pub384})
        )),
        "InvalidKeyUsageException"
    );
    assert_eq!(
        code(call(
            &k,
            "CreateKey",
            json!({"KeySpec": "ECC_SECG_P256K1", "KeyUsage": "KEY_AGREEMENT"})
        )),
        "ValidationException"
    );
}

#[test]
fn last_usage_is_live_and_persisted_once_a_day() {
    let (k, now) = kms();
    let id = call(&k, "CreateKey", json!({})).unwrap()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let u = call(&k, "GetKeyLastUsage", json!({"KeyId": id})).unwrap();
    assert!(u.get("KeyLastUsage").is_none());
    assert_eq!(u["TrackingStartDate"].as_f64().unwrap(), T0 as f64 / 1000.0);
    call(&k, "Encrypt", json!({"KeyId": id, "Plaintext": b64(b"x")})).unwrap();
    let u = call(&k, "GetKeyLastUsage", json!({"KeyId": id})).unwrap();
    assert_eq!(u["KeyLastUsage"]["Operation"], "Encrypt");
    let p = ctx_in("us-east-1").partition;
    let version = k.store.snapshot().version();
    assert_eq!(k.persist_last_uses(), 1);
    assert_eq!(
        k.persist_last_uses(),
        0,
        "the same day is not written again"
    );
    now.store(T0 + 60_000, Ordering::SeqCst);
    call(
        &k,
        "GenerateDataKey",
        json!({"KeyId": id, "KeySpec": "AES_256"}),
    )
    .unwrap();
    assert_eq!(k.persist_last_uses(), 0);
    assert_eq!(k.store.snapshot().version(), version + 1);
    now.store(T0 + 24 * 3600 * 1000, Ordering::SeqCst);
    call(&k, "Encrypt", json!({"KeyId": id, "Plaintext": b64(b"x")})).unwrap();
    assert_eq!(k.persist_last_uses(), 1);
    let Some(KmsRecord::KeyExt(x)) = k.store.snapshot().get(&rk::ext(&p, &id)).cloned() else {
        panic!("no extension record");
    };
    assert_eq!(x.last_used.unwrap().at_ms, T0 + 24 * 3600 * 1000);
}

#[test]
fn new_records_round_trip_through_postcard() {
    let (k, _) = kms();
    call(&k, "CreateKey", json!({"MultiRegion": true})).unwrap();
    call(&k, "CreateCustomKeyStore", json!({
        "CustomKeyStoreName": "hsm", "CloudHsmClusterId": "cluster-1", "TrustAnchorCertificate": "t", "KeyStorePassword": "p"
    }))
    .unwrap();
    for (_, r) in k.store.snapshot().iter() {
        let bytes = postcard::to_allocvec(r).unwrap();
        let back: KmsRecord = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&back, r);
    }
}
