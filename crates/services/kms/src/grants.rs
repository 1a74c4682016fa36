//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::crypto::random_bytes;
use crate::input::*;
use crate::names::*;
use crate::{GrantRec, Kms, KmsRecord, err, ok, rk, ts, validation};

fn grant_json(p: &Partition, g: &GrantRec) -> Value {
    let mut v = json!({
        "KeyId": format!("{}key/{}", crate::arn_prefix(p), g.key_id),
        "GrantId": g.id,
        "CreationDate": ts(g.created_ms),
        "GranteePrincipal": g.grantee,
        "IssuingAccount": format!("arn:aws:iam::{}:root", p.account),
        "Operations": g.operations,
    });
    if let Some(n) = &g.name {
        v["Name"] = json!(n);
    }
    if let Some(r) = &g.retiring {
        v["RetiringPrincipal"] = json!(r);
    }
    if let Some(c) = g
        .constraints
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
    {
        v["Constraints"] = c;
    }
    v
}

fn grants_page(items: Vec<(String, Value)>, m: &Input) -> Result<Output, AwsError> {
    let (page, next) = page(items, str_of(m, "Marker"), int_of(m, "Limit"), 50);
    let mut out = json!({ "Grants": page, "Truncated": next.is_some() });
    if let Some(n) = next {
        out["NextMarker"] = json!(n);
    }
    ok(out, None)
}

impl Kms {
    pub(crate) fn create_grant(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let grantee = req(m, "GranteePrincipal")?.to_string();
        let operations = strings_of(m, "Operations");
        if operations.is_empty() {
            return Err(validation(
                "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        let constraints = m
            .get("Constraints")
            .filter(|c| !c.is_null())
            .map(Value::to_string);
        let name = str_of(m, "Name").map(str::to_string);
        let retiring = str_of(m, "RetiringPrincipal").map(str::to_string);
        let now = self.now_ms();
        let key_id = req(m, "KeyId")?;
        dry_run(m)?;
        let (r, v) = self.store.write(|txn| {
            let k = find_key(txn, p, key_id, now)?;
            not_pending_deletion(p, &k)?;
            // A grant with the same name and parameters is the same grant (idempotent retries).
            if name.is_some() {
                let same = txn
                    .scan_prefix(&rk::grants_of(p, &k.id))
                    .find_map(|(_, r)| match r {
                        KmsRecord::Grant(g)
                            if g.name == name
                                && g.grantee == grantee
                                && g.retiring == retiring
                                && g.operations == operations
                                && g.constraints == constraints =>
                        {
                            Some(g.clone())
                        }
                        _ => None,
                    });
                if let Some(g) = same {
                    return Ok(g);
                }
            }
            let g = GrantRec {
                id: hex_id(32),
                key_id: k.id.clone(),
                token: input_token(),
                name,
                grantee,
                retiring,
                operations,
                constraints,
                created_ms: now,
            };
            txn.insert(rk::grant(p, &k.id, &g.id), KmsRecord::Grant(g.clone()));
            Ok::<_, AwsError>(g)
        });
        let g = r?;
        ok(json!({ "GrantId": g.id, "GrantToken": g.token }), Some(v))
    }

    pub(crate) fn list_grants(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let snap = self.store.snapshot();
        let k = find_key(&snap, p, req(m, "KeyId")?, self.now_ms())?;
        let only_id = str_of(m, "GrantId");
        let only_grantee = str_of(m, "GranteePrincipal");
        let items = snap
            .scan_prefix(&rk::grants_of(p, &k.id))
            .filter_map(|(_, r)| match r {
                KmsRecord::Grant(g)
                    if only_id.is_none_or(|i| i == g.id)
                        && only_grantee.is_none_or(|i| i == g.grantee) =>
                {
                    Some((g.id.clone(), grant_json(p, g)))
                }
                _ => None,
            })
            .collect();
        grants_page(items, m)
    }

    pub(crate) fn list_retirable_grants(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let who = req(m, "RetiringPrincipal")?;
        let snap = self.store.snapshot();
        let items = snap
            .scan_prefix(&rk::grants(p))
            .filter_map(|(_, r)| match r {
                KmsRecord::Grant(g) if g.retiring.as_deref() == Some(who) => {
                    Some((format!("{}/{}", g.key_id, g.id), grant_json(p, g)))
                }
                _ => None,
            })
            .collect();
        grants_page(items, m)
    }

    pub(crate) fn retire_grant(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let token = str_of(m, "GrantToken");
        let key_id = str_of(m, "KeyId");
        let grant_id = str_of(m, "GrantId");
        dry_run(m)?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let found = if let (Some(kid), Some(gid)) = (key_id, grant_id) {
                let k = find_key(txn, p, kid, now)?;
                let key = rk::grant(p, &k.id, gid);
                txn.get(&key).is_some().then_some(key)
            } else if let Some(t) = token {
                txn.scan_prefix(&rk::grants(p))
                    .find(|(_, r)| matches!(r, KmsRecord::Grant(g) if g.token == t))
                    .map(|(k, _)| k.clone())
            } else {
                return Err(validation(
                    "Grant token or both KeyId and GrantId are required",
                ));
            };
            match found {
                Some(key) => {
                    txn.remove(&key);
                    Ok(())
                }
                None if grant_id.is_some() => {
                    Err(err("InvalidGrantIdException", "Grant ID not found"))
                }
                None => Err(err("InvalidGrantTokenException", "Invalid grant token")),
            }
        });
        r?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn revoke_grant(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let key_id = req(m, "KeyId")?;
        let grant_id = req(m, "GrantId")?;
        dry_run(m)?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let k = find_key(txn, p, key_id, now)?;
            if txn.remove(&rk::grant(p, &k.id, grant_id)).is_none() {
                return Err(err("InvalidGrantIdException", "Grant ID not found"));
            }
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }
}

/// The random bytes of a grant token.
const TOKEN_BYTES: usize = 96;

/// A grant token: opaque random text, as long as AWS's are.
fn input_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(TOKEN_BYTES))
}

/// Whether `token` has the form of the grant tokens this KMS hands out.
fn well_formed(token: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .is_ok_and(|b| b.len() == TOKEN_BYTES)
}

/// The `GrantTokens` of a request: each must be a grant token (AWS refuses a malformed one
/// with `InvalidGrantTokenException`). A well-formed token is accepted whether or not its grant
/// still exists, as AWS accepts the token of a retired grant (its permissions are gone).
pub(crate) fn check_grant_tokens(m: &Input) -> Result<(), AwsError> {
    let Some(tokens) = m.get("GrantTokens").and_then(Value::as_array) else {
        return Ok(());
    };
    for t in tokens {
        if !t.as_str().is_some_and(well_formed) {
            return Err(err(
                "InvalidGrantTokenException",
                "The grant token is not valid.",
            ));
        }
    }
    Ok(())
}
