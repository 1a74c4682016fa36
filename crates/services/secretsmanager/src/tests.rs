//! Unit tests: a test-only KMS behind a test [`Runtime`], the operations, a restart (every
//! record through postcard into a new store) and the deletion window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::*;

/// TEST ONLY: a stand-in for KMS (AES-256-GCM keys held in memory, aliases, enable/disable),
/// answering the JSON shapes of KMS's model that Secrets Manager uses. The real KMS is the
/// snapstack-kms crate, reached through the server's runtime.
#[derive(Default)]
pub(crate) struct FakeKms {
    pub keys: Mutex<HashMap<String, (Vec<u8>, bool)>>,
    pub aliases: Mutex<HashMap<String, String>>,
    pub calls: Mutex<Vec<String>>,
    /// Answer every call as an unserved service does.
    pub unserved: bool,
}

fn kerr(code: &str, message: &str) -> AwsError {
    AwsError::new(code, message)
}

impl FakeKms {
    fn arn(id: &str) -> String {
        format!("arn:aws:kms:us-east-1:000000000000:key/{id}")
    }

    pub fn create_key(&self) -> String {
        let id = uuid4();
        let k = Key::<Aes256Gcm>::generate().to_vec();
        self.keys.lock().unwrap().insert(id.clone(), (k, true));
        id
    }

    pub fn set_enabled(&self, id: &str, on: bool) {
        if let Some(k) = self.keys.lock().unwrap().get_mut(id) {
            k.1 = on;
        }
    }

    fn resolve(&self, key_id: &str) -> Result<String, AwsError> {
        let id = if key_id.starts_with("alias/") {
            self.aliases.lock().unwrap().get(key_id).cloned()
        } else {
            Some(key_id.rsplit('/').next().unwrap_or(key_id).to_string())
        };
        match id {
            Some(id) if self.keys.lock().unwrap().contains_key(&id) => Ok(id),
            _ => Err(kerr(
                "NotFoundException",
                &format!("Key '{key_id}' does not exist"),
            )),
        }
    }

    fn material(&self, id: &str) -> Result<Vec<u8>, AwsError> {
        let keys = self.keys.lock().unwrap();
        let (k, on) = keys.get(id).cloned().unwrap();
        if !on {
            return Err(kerr(
                "DisabledException",
                &format!("{} is disabled.", Self::arn(id)),
            ));
        }
        Ok(k)
    }

    fn call(&self, op: &str, input: Value) -> Result<Value, AwsError> {
        self.calls.lock().unwrap().push(op.to_string());
        if self.unserved {
            return Err(kerr(
                "ResourceNotFoundException",
                "Service kms is not served by this emulator",
            ));
        }
        let aad = input["EncryptionContext"].to_string();
        match op {
            "GenerateDataKey" => {
                assert_eq!(input["KeySpec"], "AES_256");
                let plain = Key::<Aes256Gcm>::generate();
                let mut encrypt = input.clone();
                encrypt["Plaintext"] = json!(B64.encode(plain.as_slice()));
                let mut out = self.call("Encrypt", encrypt)?;
                self.calls.lock().unwrap().pop();
                out["Plaintext"] = json!(B64.encode(plain.as_slice()));
                Ok(out)
            }
            "Encrypt" => {
                let id = self.resolve(input["KeyId"].as_str().unwrap_or_default())?;
                let key = self.material(&id)?;
                let plain = B64.decode(input["Plaintext"].as_str().unwrap()).unwrap();
                let nonce = Nonce::<Aes256Gcm>::generate();
                let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(key.as_slice()).unwrap());
                let ct = cipher
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: &plain,
                            aad: aad.as_bytes(),
                        },
                    )
                    .unwrap();
                let mut blob = vec![id.len() as u8];
                blob.extend_from_slice(id.as_bytes());
                blob.extend_from_slice(&nonce);
                blob.extend_from_slice(&ct);
                Ok(json!({"CiphertextBlob": B64.encode(blob), "KeyId": Self::arn(&id)}))
            }
            "Decrypt" => {
                let blob = B64
                    .decode(input["CiphertextBlob"].as_str().unwrap())
                    .unwrap();
                let bad = || kerr("InvalidCiphertextException", "");
                let n = *blob.first().ok_or_else(bad)? as usize;
                let id = String::from_utf8(blob.get(1..1 + n).ok_or_else(bad)?.to_vec()).unwrap();
                let id = self.resolve(&id)?;
                // A key named must be the one that encrypted the blob (KMS's rule).
                if let Some(named) = input["KeyId"].as_str()
                    && self.resolve(named)? != id
                {
                    return Err(kerr("IncorrectKeyException", ""));
                }
                let key = self.material(&id)?;
                let rest = &blob[1 + n..];
                let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(key.as_slice()).unwrap());
                let nonce = Nonce::<Aes256Gcm>::try_from(&rest[..12]).unwrap();
                let plain = cipher
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: &rest[12..],
                            aad: aad.as_bytes(),
                        },
                    )
                    .map_err(|_| bad())?;
                Ok(json!({"Plaintext": B64.encode(plain), "KeyId": Self::arn(&id)}))
            }
            "DescribeKey" => {
                let id = self.resolve(input["KeyId"].as_str().unwrap_or_default())?;
                Ok(json!({"KeyMetadata": {"KeyId": id, "Arn": Self::arn(&id)}}))
            }
            "CreateKey" => {
                let id = self.create_key();
                Ok(json!({"KeyMetadata": {"KeyId": id, "Arn": Self::arn(&id)}}))
            }
            "CreateAlias" => {
                let name = input["AliasName"].as_str().unwrap().to_string();
                let target = self.resolve(input["TargetKeyId"].as_str().unwrap())?;
                let mut a = self.aliases.lock().unwrap();
                if a.contains_key(&name) {
                    return Err(kerr("AlreadyExistsException", "exists"));
                }
                a.insert(name, target);
                Ok(json!({}))
            }
            _ => Err(kerr("NotImplemented", op)),
        }
    }
}

/// TEST ONLY: a runtime whose state is always loaded and durable, and whose `invoke` reaches
/// the fake KMS (any other service is unserved).
pub(crate) struct TestRuntime {
    pub kms: FakeKms,
    /// TEST ONLY: a stand-in for Lambda when set: `GetFunction` answers, `Invoke` records the
    /// event and fails (a `FunctionError`) at the step named here, if any.
    pub lambda: Option<FakeLambda>,
    /// TEST ONLY: when set, KMS calls reach this real KMS (the snapstack-kms crate) instead
    /// of the fake.
    pub real_kms: Option<snapstack_kms::Kms>,
}

#[derive(Default)]
pub(crate) struct FakeLambda {
    pub events: Mutex<Vec<Value>>,
    pub fail_at: Mutex<Option<String>>,
}

impl FakeLambda {
    fn call(&self, op: &str, input: Value) -> Result<Value, AwsError> {
        match op {
            "GetFunction" => Ok(json!({"Configuration": {}})),
            "Invoke" => {
                let raw = B64
                    .decode(input["Payload"].as_str().unwrap_or_default())
                    .unwrap();
                let event: Value = serde_json::from_slice(&raw).unwrap();
                let step = event["Step"].as_str().unwrap_or_default().to_string();
                self.events.lock().unwrap().push(event);
                if self.fail_at.lock().unwrap().as_deref() == Some(step.as_str()) {
                    let payload =
                        B64.encode(json!({"errorMessage": format!("{step} broke")}).to_string());
                    return Ok(
                        json!({"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload}),
                    );
                }
                Ok(json!({"StatusCode": 200, "Payload": B64.encode("null")}))
            }
            _ => Err(kerr("NotImplemented", op)),
        }
    }
}

impl Runtime for TestRuntime {
    fn ensure_loaded<'a>(&'a self, _service: &'static str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn wait_durable<'a>(
        &'a self,
        _service: &'static str,
        _version: u64,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn is_ready(&self, _service: &str) -> bool {
        true
    }
    fn invoke<'a>(
        &'a self,
        ctx: &'a RequestContext,
        service: &'a str,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, AwsError>> {
        Box::pin(async move {
            if service == "lambda"
                && let Some(l) = &self.lambda
            {
                return l.call(operation, input);
            }
            if service != "kms" {
                return Err(kerr(
                    "ResourceNotFoundException",
                    &format!("Service {service} is not served by this emulator"),
                ));
            }
            if let Some(k) = &self.real_kms {
                return k.handle(ctx, operation, &input).map(|o| o.value);
            }
            self.kms.call(operation, input)
        })
    }
}

pub(crate) struct Env {
    pub sm: SecretsManager,
    pub rt: TestRuntime,
    pub ctx: RequestContext,
}

pub(crate) fn env() -> Env {
    Env {
        sm: SecretsManager::new(),
        rt: TestRuntime {
            kms: FakeKms::default(),
            lambda: None,
            real_kms: None,
        },
        ctx: ctx_in("000000000000", "us-east-1"),
    }
}

pub(crate) fn ctx_in(account: &str, region: &str) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: Partition::new(account, region),
        scope_service: None,
        request_id: "rid".into(),
    }
}

impl Env {
    pub async fn call(&self, op: &str, input: Value) -> Result<Value, AwsError> {
        if let Some(m) = snapstack_service::reply::model_violation(NAME, op, Some(&input), 99) {
            return Err(AwsError::new("ValidationException", m));
        }
        let h = self.sm.handle(&self.rt, &self.ctx, op, &input).await?;
        // As the client reads it: written by the model.
        Ok(
            serde_json::from_slice(&snapstack_protocol::codec::json::serialize_output(
                snapstack_protocol::model::named(NAME).unwrap(),
                op,
                &h.value,
            ))
            .unwrap(),
        )
    }

    pub async fn ok(&self, op: &str, input: Value) -> Value {
        match self.call(op, input).await {
            Ok(v) => v,
            Err(e) => panic!("{op}: {} {}", e.code, e.message),
        }
    }

    pub async fn err(&self, op: &str, input: Value) -> AwsError {
        match self.call(op, input).await {
            Ok(v) => panic!("{op} succeeded: {v}"),
            Err(e) => e,
        }
    }

    /// The same state in a new service (every record through postcard, as a save and a
    /// load do), with the same KMS.
    pub fn restarted(self) -> Env {
        let snap = self.sm.store.snapshot();
        let mut map = snapstack_engine::store::Map::new();
        for (k, r) in snap.iter() {
            let bytes = postcard::to_allocvec(r).unwrap();
            let back: SmRecord = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(&back, r);
            map.insert(k.clone(), Arc::new(back));
        }
        let sm = SecretsManager::new();
        sm.set_clock(self.sm.clock.load(std::sync::atomic::Ordering::Relaxed));
        sm.store.replace(map);
        Env {
            sm,
            rt: self.rt,
            ctx: self.ctx,
        }
    }

    /// Every byte of every record, to check that no value is stored in plain text.
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (_, r) in self.sm.store.snapshot().iter() {
            out.extend(postcard::to_allocvec(r).unwrap());
        }
        out
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn create_get_put_and_stages_move_as_aws_moves_them() {
    let e = env();
    let c = e
        .ok(
            "CreateSecret",
            json!({"Name": "db/password", "SecretString": "hunter2-plain",
            "Description": "the db", "Tags": [{"Key": "team", "Value": "core"}]}),
        )
        .await;
    let arn = c["ARN"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-"));
    assert_eq!(
        arn.len(),
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-".len() + 6
    );
    let v1 = c["VersionId"].as_str().unwrap().to_string();
    // The default key was created on first use, with its alias.
    assert!(
        e.rt.kms
            .aliases
            .lock()
            .unwrap()
            .contains_key(DEFAULT_KEY_ALIAS)
    );
    let g = e
        .ok("GetSecretValue", json!({"SecretId": "db/password"}))
        .await;
    assert_eq!(g["SecretString"], "hunter2-plain");
    assert_eq!(g["VersionStages"], json!(["AWSCURRENT"]));
    // By full ARN and partial ARN.
    let g = e.ok("GetSecretValue", json!({"SecretId": arn})).await;
    assert_eq!(g["VersionId"], v1.as_str());
    let partial = &arn[..arn.len() - 7];
    let g = e.ok("GetSecretValue", json!({"SecretId": partial})).await;
    assert_eq!(g["Name"], "db/password");
    let bad = format!("{partial}-XXXXXX");
    assert_eq!(
        e.err("GetSecretValue", json!({"SecretId": bad})).await.code,
        "ResourceNotFoundException"
    );

    let p = e
        .ok(
            "PutSecretValue",
            json!({"SecretId": "db/password", "SecretBinary": B64.encode([0u8, 1, 2, 255])}),
        )
        .await;
    let v2 = p["VersionId"].as_str().unwrap().to_string();
    assert_eq!(p["VersionStages"], json!(["AWSCURRENT"]));
    let g = e
        .ok("GetSecretValue", json!({"SecretId": "db/password"}))
        .await;
    assert_eq!(g["SecretBinary"], B64.encode([0u8, 1, 2, 255]));
    assert!(g.get("SecretString").is_none());
    let g = e
        .ok(
            "GetSecretValue",
            json!({"SecretId": "db/password", "VersionStage": "AWSPREVIOUS"}),
        )
        .await;
    assert_eq!(g["VersionId"], v1.as_str());
    assert_eq!(g["SecretString"], "hunter2-plain");
    // A third version: v1 loses AWSPREVIOUS (deprecated), v2 becomes AWSPREVIOUS.
    let v3 = e
        .ok(
            "PutSecretValue",
            json!({"SecretId": "db/password", "SecretString": "three"}),
        )
        .await["VersionId"]
        .as_str()
        .unwrap()
        .to_string();
    let d = e
        .ok("DescribeSecret", json!({"SecretId": "db/password"}))
        .await;
    assert_eq!(
        d["VersionIdsToStages"],
        json!({v2.clone(): ["AWSPREVIOUS"], v3.clone(): ["AWSCURRENT"]})
    );
    assert_eq!(d["Description"], "the db");
    assert_eq!(d["Tags"], json!([{"Key": "team", "Value": "core"}]));
    assert!(d.get("KmsKeyId").is_none());
    assert!(d["LastAccessedDate"].is_number() && d["CreatedDate"].is_number());
    // The deprecated version is still readable by id and listed with IncludeDeprecated.
    let g = e
        .ok(
            "GetSecretValue",
            json!({"SecretId": "db/password", "VersionId": v1}),
        )
        .await;
    assert_eq!(g["VersionStages"], json!([]));
    let l = e
        .ok("ListSecretVersionIds", json!({"SecretId": "db/password"}))
        .await;
    assert_eq!(l["Versions"].as_array().unwrap().len(), 2);
    let l = e
        .ok(
            "ListSecretVersionIds",
            json!({"SecretId": "db/password", "IncludeDeprecated": true}),
        )
        .await;
    assert_eq!(l["Versions"].as_array().unwrap().len(), 3);
    assert!(
        l["Versions"][0]["KmsKeyIds"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:kms:")
    );
    // A version id and a stage that do not match.
    let err = e
        .err(
            "GetSecretValue",
            json!({"SecretId": "db/password", "VersionId": v1, "VersionStage": "AWSCURRENT"}),
        )
        .await;
    assert_eq!(err.code, "ResourceNotFoundException");
    let err = e
        .err(
            "GetSecretValue",
            json!({"SecretId": "db/password", "VersionStage": "NOPE"}),
        )
        .await;
    assert_eq!(
        err.message,
        "Secrets Manager can't find the specified secret value for staging label: NOPE"
    );
    // Custom stages move between versions; AWSCURRENT needs RemoveFromVersionId.
    e.ok(
        "UpdateSecretVersionStage",
        json!({"SecretId": "db/password", "VersionStage": "blue", "MoveToVersionId": v1}),
    )
    .await;
    e.ok("UpdateSecretVersionStage", json!({"SecretId": "db/password", "VersionStage": "blue", "MoveToVersionId": v2, "RemoveFromVersionId": v1})).await;
    let err = e
        .err(
            "UpdateSecretVersionStage",
            json!({"SecretId": "db/password", "VersionStage": "AWSCURRENT", "MoveToVersionId": v1}),
        )
        .await;
    assert_eq!(err.code, "InvalidParameterException");
    e.ok("UpdateSecretVersionStage", json!({"SecretId": "db/password", "VersionStage": "AWSCURRENT", "MoveToVersionId": v1, "RemoveFromVersionId": v3})).await;
    let d = e
        .ok("DescribeSecret", json!({"SecretId": "db/password"}))
        .await;
    assert_eq!(d["VersionIdsToStages"][&v1], json!(["AWSCURRENT"]));
    assert_eq!(d["VersionIdsToStages"][&v3], json!(["AWSPREVIOUS"]));
    assert_eq!(d["VersionIdsToStages"][&v2], json!(["blue"]));
    // No value is in the state in plain text.
    let bytes = e.state_bytes();
    assert!(!contains(&bytes, b"hunter2-plain"));
    assert!(!contains(&bytes, b"three"));
}

#[tokio::test]
async fn client_request_tokens_are_idempotent_and_refuse_other_content() {
    let e = env();
    let tok = "11111111-2222-3333-4444-555555555555";
    let a = e
        .ok(
            "CreateSecret",
            json!({"Name": "t", "SecretString": "v", "ClientRequestToken": tok}),
        )
        .await;
    assert_eq!(a["VersionId"], tok);
    let b = e
        .ok(
            "CreateSecret",
            json!({"Name": "t", "SecretString": "v", "ClientRequestToken": tok}),
        )
        .await;
    assert_eq!(b["ARN"], a["ARN"]);
    let err = e
        .err(
            "CreateSecret",
            json!({"Name": "t", "SecretString": "other", "ClientRequestToken": tok}),
        )
        .await;
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        (
            "ResourceExistsException",
            "You can't modify an existing version, you can only create a new version."
        )
    );
    let err = e
        .err("CreateSecret", json!({"Name": "t", "SecretString": "v"}))
        .await;
    assert_eq!(
        err.message,
        "The operation failed because the secret t already exists."
    );
    let tok2 = "22222222-2222-3333-4444-555555555555";
    e.ok(
        "PutSecretValue",
        json!({"SecretId": "t", "SecretString": "w", "ClientRequestToken": tok2}),
    )
    .await;
    e.ok(
        "PutSecretValue",
        json!({"SecretId": "t", "SecretString": "w", "ClientRequestToken": tok2}),
    )
    .await;
    let err = e
        .err(
            "PutSecretValue",
            json!({"SecretId": "t", "SecretBinary": B64.encode("w"), "ClientRequestToken": tok2}),
        )
        .await;
    assert_eq!(err.code, "ResourceExistsException");
    let l = e.ok("ListSecretVersionIds", json!({"SecretId": "t"})).await;
    assert_eq!(l["Versions"].as_array().unwrap().len(), 2);
    let err = e
        .err(
            "CreateSecret",
            json!({"Name": "both", "SecretString": "v", "SecretBinary": "AA=="}),
        )
        .await;
    assert_eq!(err.code, "InvalidParameterException");
    // A token shorter than the model allows.
    let err = e
        .err(
            "PutSecretValue",
            json!({"SecretId": "t", "SecretString": "w", "ClientRequestToken": "short"}),
        )
        .await;
    assert_eq!(err.code, "ValidationException");
}

#[tokio::test]
async fn a_disabled_key_fails_reads_and_writes_and_customer_keys_are_used() {
    let e = env();
    let key = e.rt.kms.create_key();
    e.ok(
        "CreateSecret",
        json!({"Name": "k", "SecretString": "v", "KmsKeyId": key}),
    )
    .await;
    let d = e.ok("DescribeSecret", json!({"SecretId": "k"})).await;
    assert_eq!(d["KmsKeyId"], key.as_str());
    assert!(
        !e.rt
            .kms
            .aliases
            .lock()
            .unwrap()
            .contains_key(DEFAULT_KEY_ALIAS)
    );
    e.rt.kms.set_enabled(&key, false);
    let err = e.err("GetSecretValue", json!({"SecretId": "k"})).await;
    assert_eq!(err.code, "DecryptionFailure");
    let err = e
        .err(
            "PutSecretValue",
            json!({"SecretId": "k", "SecretString": "w"}),
        )
        .await;
    assert_eq!(err.code, "EncryptionFailure");
    e.rt.kms.set_enabled(&key, true);
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "k"})).await["SecretString"],
        "v"
    );
    let err = e
        .err(
            "CreateSecret",
            json!({"Name": "nokey", "SecretString": "v", "KmsKeyId": "alias/missing"}),
        )
        .await;
    assert_eq!(err.code, "EncryptionFailure");
    // Changing the key re-encrypts the labelled versions under the new key.
    let key2 = e.rt.kms.create_key();
    e.ok(
        "UpdateSecret",
        json!({"SecretId": "k", "KmsKeyId": key2, "Description": "moved"}),
    )
    .await;
    e.rt.kms.set_enabled(&key, false);
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "k"})).await["SecretString"],
        "v"
    );
    let u = e
        .ok(
            "UpdateSecret",
            json!({"SecretId": "k", "SecretString": "new"}),
        )
        .await;
    assert!(u["VersionId"].is_string());
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "k"})).await["SecretString"],
        "new"
    );
    assert_eq!(
        e.ok(
            "GetSecretValue",
            json!({"SecretId": "k", "VersionStage": "AWSPREVIOUS"})
        )
        .await["SecretString"],
        "v"
    );
}

#[tokio::test]
async fn without_kms_values_cannot_be_stored_but_metadata_can() {
    let mut e = env();
    e.rt.kms.unserved = true;
    let err = e
        .err("CreateSecret", json!({"Name": "x", "SecretString": "v"}))
        .await;
    assert_eq!(err.code, "EncryptionFailure");
    assert!(err.message.contains("KMS is not served"), "{}", err.message);
    e.ok("CreateSecret", json!({"Name": "meta-only"})).await;
    let err = e
        .err("GetSecretValue", json!({"SecretId": "meta-only"}))
        .await;
    assert_eq!(err.code, "ResourceNotFoundException");
}
