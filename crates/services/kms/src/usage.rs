//! DeriveSharedSecret (ECDH with a `KEY_AGREEMENT` key) and GetKeyLastUsage.
//!
//! The last use of each key is kept in memory as requests succeed (a map insert, nothing
//! written) and persisted into the key's extension record by the sweeper when the day of the
//! last use differs from the recorded one: at most one write per key and day, none on the
//! request path. After a restart, `GetKeyLastUsage` reports the last persisted use.

use std::collections::HashMap;

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::crypto::{self, Spec};
use crate::input::*;
use crate::keys::DAY_MS;
use crate::names::*;
use crate::operations::{internal, no_recipient, ready};
use crate::{KeyExt, Kms, LastUse, err, ok, ts, validation};

/// The operations `GetKeyLastUsage` tracks (`KeyLastUsageTrackingOperation`).
pub(crate) const TRACKED: &[&str] = &[
    "Decrypt",
    "DeriveSharedSecret",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// Live last uses: `(account, region, key id)` → use.
pub(crate) type LastUses = std::sync::Mutex<HashMap<(String, String, String), LastUse>>;

/// The key id of a key ARN.
fn id_of_arn(arn: &str) -> Option<&str> {
    arn.rsplit_once(":key/").map(|(_, id)| id)
}

impl Kms {
    /// Note a successful tracked operation (its output names the key).
    pub(crate) fn note_use(&self, p: &Partition, op: &str, request_id: &str, out: &Value) {
        if !TRACKED.contains(&op) {
            return;
        }
        let now = self.now_ms();
        let mut ids = Vec::new();
        for f in ["KeyId", "SourceKeyId"] {
            if let Some(id) = out.get(f).and_then(Value::as_str).and_then(id_of_arn) {
                ids.push(id.to_string());
            }
        }
        let Ok(mut map) = self.last_uses.lock() else {
            return;
        };
        for id in ids {
            map.insert(
                (p.account.clone(), p.region.clone(), id),
                LastUse {
                    at_ms: now,
                    operation: op.to_string(),
                    request_id: request_id.to_string(),
                },
            );
        }
    }

    /// The sweeper's part: persist the last uses whose day is not the recorded one.
    pub(crate) fn persist_last_uses(&self) -> usize {
        let live: Vec<((String, String, String), LastUse)> = match self.last_uses.lock() {
            Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => return 0,
        };
        let snap = self.store.snapshot();
        let due: Vec<(Partition, String, LastUse)> = live
            .into_iter()
            .filter_map(|((a, r, id), u)| {
                let p = Partition::new(a, r);
                get_key(&snap, &p, &id)?;
                let recorded = get_ext(&snap, &p, &id).and_then(|x| x.last_used);
                if recorded.is_some_and(|x| x.at_ms / DAY_MS == u.at_ms / DAY_MS) {
                    return None;
                }
                Some((p, id, u))
            })
            .collect();
        if due.is_empty() {
            return 0;
        }
        let (n, _) = self.store.write(|txn| {
            let mut n = 0;
            for (p, id, u) in due {
                if get_key(txn, &p, &id).is_none() {
                    continue;
                }
                let mut x = get_ext(txn, &p, &id).unwrap_or_else(|| KeyExt {
                    id: id.clone(),
                    ..KeyExt::default()
                });
                x.last_used = Some(u);
                put_ext(txn, &p, x);
                n += 1;
            }
            n
        });
        n
    }

    pub(crate) fn get_key_last_usage(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let snap = self.store.snapshot();
        let k = find_key(&snap, p, req(m, "KeyId")?, self.now_ms())?;
        let x = get_ext(&snap, p, &k.id);
        let live = self.last_uses.lock().ok().and_then(|map| {
            map.get(&(p.account.clone(), p.region.clone(), k.id.clone()))
                .cloned()
        });
        let last = live.or_else(|| x.as_ref().and_then(|x| x.last_used.clone()));
        let start = x
            .as_ref()
            .and_then(|x| x.tracking_start_ms)
            .unwrap_or(k.created_ms);
        let mut out = json!({
            "KeyId": k.arn(p),
            "KeyCreationDate": ts(k.created_ms),
            "TrackingStartDate": ts(start),
        });
        if let Some(u) = last {
            out["KeyLastUsage"] = json!({
                "Timestamp": ts(u.at_ms),
                "Operation": u.operation,
                "KmsRequestId": u.request_id,
            });
        }
        ok(out, None)
    }

    pub(crate) fn derive_shared_secret(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let alg = req(m, "KeyAgreementAlgorithm")?;
        let peer = req_blob(m, "PublicKey", 8192)?;
        no_recipient(m)?;
        let snap = self.store.snapshot();
        let now = self.now_ms();
        let k = find_key(&snap, p, req(m, "KeyId")?, now)?;
        let spec = ready(p, &k, "KEY_AGREEMENT", "DeriveSharedSecret")?;
        available(&snap, p, &k, now)?;
        if alg != "ECDH" || !matches!(spec, Spec::P256 | Spec::P384 | Spec::P521) {
            return Err(err(
                "InvalidKeyUsageException",
                format!("Algorithm {alg} is incompatible with key spec {}.", k.spec),
            ));
        }
        dry_run(m)?;
        let (_, mat) = k
            .current()
            .ok_or_else(|| internal("key has no material".into()))?;
        let secret = crypto::ecdh(spec, &mat.secret.0, &peer).map_err(|e| {
            validation(format!(
                "PublicKey is not a valid public key for key spec {}: {e}",
                k.spec
            ))
        })?;
        ok(
            json!({
                "KeyId": k.arn(p),
                "SharedSecret": b64(&secret),
                "KeyAgreementAlgorithm": alg,
                "KeyOrigin": k.origin,
            }),
            None,
        )
    }
}
