//! Imported key material: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, and the expiry of material whose `ValidTo` passed (the deadline
//! is in the key's extension record; the sweeper deletes the material, [`crate::names::available`]
//! refuses it from the deadline on).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::crypto::{self, Spec};
use crate::input::*;
use crate::keys::DAY_MS;
use crate::names::*;
use crate::{
    ImportParams, KeyExt, KeyRec, KeyState, Kms, KmsRecord, Material, Secret, err, ok, rk, ts,
    validation,
};

/// How long an import token and its wrapping key are valid.
const IMPORT_WINDOW_MS: u64 = DAY_MS;
const MAX_WRAPPED: usize = 6144;

fn internal(e: String) -> AwsError {
    AwsError::internal("KMSInternalException", e)
}

/// The key must be of imported material and not pending deletion.
fn importable(p: &Partition, k: &KeyRec) -> Result<(), AwsError> {
    if k.origin != "EXTERNAL" {
        return Err(err(
            "UnsupportedOperationException",
            format!(
                "{} origin is {} which is not valid for this operation.",
                k.arn(p),
                k.origin
            ),
        ));
    }
    not_pending_deletion(p, k)
}

/// The id of imported material: a digest of the key id and the material, so a re-import of
/// the same material has the same id.
fn material_id(key_id: &str, material: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"snapstack-kms-import\0");
    h.update(key_id.as_bytes());
    h.update([0]);
    h.update(material);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A timestamp member (epoch seconds, as the JSON protocol sends it) in milliseconds.
fn time_ms(m: &Input, k: &str) -> Option<u64> {
    m.get(k)
        .and_then(Value::as_f64)
        .map(|s| (s * 1000.0).max(0.0) as u64)
}

impl Kms {
    pub(crate) fn get_parameters_for_import(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let key_id = req(m, "KeyId")?;
        let alg = req(m, "WrappingAlgorithm")?.to_string();
        let spec = req(m, "WrappingKeySpec")?.to_string();
        let bits = match spec.as_str() {
            "RSA_2048" => 2048,
            "RSA_3072" => 3072,
            "RSA_4096" => 4096,
            other => {
                return Err(err(
                    "UnsupportedOperationException",
                    format!("WrappingKeySpec {other} is not supported in this Region."),
                ));
            }
        };
        match alg.as_str() {
            "RSAES_OAEP_SHA_1"
            | "RSAES_OAEP_SHA_256"
            | "RSA_AES_KEY_WRAP_SHA_1"
            | "RSA_AES_KEY_WRAP_SHA_256" => {}
            other => {
                return Err(err(
                    "UnsupportedOperationException",
                    format!("WrappingAlgorithm {other} is not supported."),
                ));
            }
        }
        let now = self.now_ms();
        // Check the key before the (slow) RSA key generation.
        let k = find_key_no_alias(&self.store.snapshot(), p, key_id, now)?;
        importable(p, &k)?;
        let private = crypto::wrapping_key(bits).map_err(internal)?;
        let public = crypto::public_der(Spec::Rsa(bits), &private).map_err(internal)?;
        let mut token = k.id.as_bytes().to_vec();
        token.push(0);
        token.extend_from_slice(&crypto::random_bytes(64));
        let expires = now + IMPORT_WINDOW_MS;
        let params = ImportParams {
            token: token.clone(),
            algorithm: alg,
            wrapping_spec: spec,
            wrapping_key: Secret(private),
            expires_ms: expires,
        };
        let (r, v) = self.store.write(|txn| {
            let k = find_key_no_alias(txn, p, key_id, now)?;
            importable(p, &k)?;
            let mut x = get_ext(txn, p, &k.id).unwrap_or_else(|| KeyExt {
                id: k.id.clone(),
                ..KeyExt::default()
            });
            x.import = Some(params);
            put_ext(txn, p, x);
            Ok::<_, AwsError>(k.arn(p))
        });
        let arn = r?;
        ok(
            json!({
                "KeyId": arn,
                "ImportToken": b64(&token),
                "PublicKey": b64(&public),
                "ParametersValidTo": ts(expires),
            }),
            Some(v),
        )
    }

    pub(crate) fn import_key_material(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let key_id = req(m, "KeyId")?;
        let token = req_blob(m, "ImportToken", MAX_WRAPPED)?;
        let wrapped = req_blob(m, "EncryptedKeyMaterial", MAX_WRAPPED)?;
        let now = self.now_ms();
        let model = str_of(m, "ExpirationModel");
        let valid_to = time_ms(m, "ValidTo");
        let valid_to = match (model, valid_to) {
            (Some("KEY_MATERIAL_EXPIRES") | None, Some(t)) => {
                if t <= now {
                    return Err(validation("ValidTo must be in the future."));
                }
                if t > now + 365 * DAY_MS {
                    return Err(validation(
                        "ValidTo must be at most 365 days after the time of the request.",
                    ));
                }
                Some(t)
            }
            (Some("KEY_MATERIAL_EXPIRES"), None) => {
                return Err(validation(
                    "A ValidTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
                ));
            }
            (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
                return Err(validation(
                    "A ValidTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
                ));
            }
            _ => None,
        };
        let snap = self.store.snapshot();
        let k = find_key_no_alias(&snap, p, key_id, now)?;
        importable(p, &k)?;
        if str_of(m, "ImportType") == Some("NEW_KEY_MATERIAL") && !k.materials.is_empty() {
            return Err(err(
                "UnsupportedOperationException",
                "Importing new key material for rotation is not supported by this emulator's KMS.",
            ));
        }
        let x = get_ext(&snap, p, &k.id).unwrap_or_default();
        let params = x
            .import
            .as_ref()
            .filter(|i| i.token == token)
            .ok_or_else(|| {
                err(
                    "InvalidImportTokenException",
                    "The import token is invalid or is not associated with this KMS key.",
                )
            })?;
        if params.expires_ms <= now {
            return Err(err(
                "ExpiredImportTokenException",
                "The import token has expired. Use GetParametersForImport to get a new one.",
            ));
        }
        let material = crypto::unwrap_import(&params.wrapping_key.0, &params.algorithm, &wrapped)
            .ok_or_else(|| err("InvalidCiphertextException", ""))?;
        let spec = Spec::parse(&k.spec).ok_or_else(|| internal(format!("spec {}", k.spec)))?;
        if !crypto::check_material(spec, &material) {
            return Err(err(
                "IncorrectKeyMaterialException",
                format!("The key material is not valid for key spec {}.", k.spec),
            ));
        }
        let id = material_id(&k.id, &material);
        if let Some(given) = str_of(m, "KeyMaterialId")
            && given != id
        {
            return Err(err(
                "IncorrectKeyMaterialException",
                "The key material does not match the KeyMaterialId.",
            ));
        }
        if x.imported_material_id
            .as_ref()
            .is_some_and(|prev| *prev != id)
        {
            return Err(err(
                "IncorrectKeyMaterialException",
                "The key material being imported is not the key material previously imported into this KMS key.",
            ));
        }
        let (r, v) = self.store.write(|txn| {
            let mut k = find_key_no_alias(txn, p, key_id, now)?;
            importable(p, &k)?;
            let mut x = get_ext(txn, p, &k.id).unwrap_or_else(|| KeyExt {
                id: k.id.clone(),
                ..KeyExt::default()
            });
            k.materials = vec![Material {
                id: id.clone(),
                secret: Secret(material),
                created_ms: now,
                rotation: None,
            }];
            if k.state == KeyState::PendingImport {
                k.state = KeyState::Enabled;
            }
            x.imported_material_id = Some(id.clone());
            x.valid_to_ms = valid_to;
            let arn = k.arn(p);
            put_key(txn, p, k);
            put_ext(txn, p, x);
            Ok::<_, AwsError>(arn)
        });
        let arn = r?;
        ok(json!({ "KeyId": arn, "KeyMaterialId": id }), Some(v))
    }

    pub(crate) fn delete_imported_key_material(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let key_id = req(m, "KeyId")?;
        let now = self.now_ms();
        let ((arn, id), v) = self.update_key(p, key_id, false, |k| {
            importable(p, k)?;
            if let Some(given) = str_of(m, "KeyMaterialId")
                && k.materials.iter().all(|mat| mat.id != given)
            {
                return Err(crate::not_found(format!(
                    "Key material {given} does not exist for {}.",
                    k.arn(p)
                )));
            }
            let id = k.materials.first().map(|mat| mat.id.clone());
            k.materials.clear();
            k.state = KeyState::PendingImport;
            Ok((k.arn(p), id))
        })?;
        // The expiry goes with the material.
        let key = find_key_no_alias(&self.store.snapshot(), p, key_id, now)?;
        let (_, v2) = self.store.write(|txn| {
            if let Some(mut x) = get_ext(txn, p, &key.id)
                && x.valid_to_ms.is_some()
            {
                x.valid_to_ms = None;
                put_ext(txn, p, x);
            }
        });
        let mut out = json!({ "KeyId": arn });
        if let Some(id) = id {
            out["KeyMaterialId"] = json!(id);
        }
        ok(out, Some(v.max(v2)))
    }

    /// The sweeper's part: delete imported material whose `ValidTo` passed. Returns how many
    /// keys it changed.
    pub(crate) fn expire_due(&self, p: &Partition, now: u64) -> usize {
        let due: Vec<String> = self
            .store
            .snapshot()
            .scan_prefix(&rk::exts(p))
            .filter_map(|(_, r)| match r {
                KmsRecord::KeyExt(x) if x.valid_to_ms.is_some_and(|t| t <= now) => {
                    Some(x.id.clone())
                }
                _ => None,
            })
            .collect();
        if due.is_empty() {
            return 0;
        }
        let (n, _) = self.store.write(|txn| {
            let mut n = 0;
            for id in &due {
                let Some(mut x) = get_ext(txn, p, id) else {
                    continue;
                };
                if x.valid_to_ms.is_none_or(|t| t > now) {
                    continue;
                }
                x.valid_to_ms = None;
                put_ext(txn, p, x);
                if let Some(mut k) = get_key(txn, p, id) {
                    k.materials.clear();
                    if k.state != KeyState::PendingDeletion {
                        k.state = KeyState::PendingImport;
                    }
                    put_key(txn, p, k);
                }
                n += 1;
            }
            n
        });
        n
    }
}
