//! CheckpointDurableExecution: the SDK's updates applied to the execution's record, with the
//! checkpoint token consumed, the request's size limits, and `ClientToken` idempotency.
//!
//! A checkpoint with a `ClientToken` leaves a [`DurableClientToken`] record for 15 minutes
//! (AWS: "Lambda uses this token to detect and handle duplicate requests within a 15-minute
//! window"): a retry with the same token and the same request (checkpoint token and updates)
//! gets the first answer again and applies nothing; the same token with another request is an
//! `InvalidParameterValueException` (the only client error the operation's model lists). The
//! sweeper removes expired tokens and those of forgotten executions.
//!
//! Limits, as AWS's durable-execution SDKs respect them: an operation's `Payload` (and its
//! `Error`) at most 256 KB, and the updates of one checkpoint at most 750 KB (the Java SDK cuts
//! its batches at 750 KB; the JavaScript SDK keeps a child context's result under 256 KB). The
//! `EXECUTION` operation's result is bounded by the model (6 MB) only, as the SDK checkpoints a
//! result too large for the invocation's answer there.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use snapstack_service::RequestContext;

use super::{bad_token, callback_id, not_found, parse_token, state, token};
use crate::model::{DurableCallback, DurableClientToken, LambdaRecord, keys};
use crate::ops::{Done, s};
use crate::{LResult, Lambda, LambdaError};

/// How long a `ClientToken` is remembered.
pub const CLIENT_TOKEN_MS: u64 = 15 * 60 * 1000;
/// The most bytes of one operation's payload (or error) in a checkpoint.
pub const MAX_OPERATION_PAYLOAD: usize = 256 * 1024;
/// The most bytes of the updates of one checkpoint (the `EXECUTION` result aside).
pub const MAX_CHECKPOINT_BYTES: usize = 750 * 1024;

/// Refuse updates over the limits.
pub fn check_limits(updates: &[Value]) -> LResult<()> {
    let mut total = 0usize;
    for u in updates {
        let id = u.get("Id").and_then(Value::as_str).unwrap_or("");
        if u.get("Type").and_then(Value::as_str) == Some("EXECUTION") {
            continue;
        }
        let payload = u.get("Payload").and_then(Value::as_str).map_or(0, str::len);
        let error = u.get("Error").map_or(0, |e| e.to_string().len());
        for (what, n) in [("payload", payload), ("error", error)] {
            if n > MAX_OPERATION_PAYLOAD {
                return Err(LambdaError::invalid(format!(
                    "The {what} of operation {id} is {n} bytes, which exceeds the maximum size of {MAX_OPERATION_PAYLOAD} bytes for an operation."
                )));
            }
        }
        total += u.to_string().len();
    }
    if total > MAX_CHECKPOINT_BYTES {
        return Err(LambdaError::invalid(format!(
            "The checkpoint's updates are {total} bytes, which exceeds the maximum size of {MAX_CHECKPOINT_BYTES} bytes for one checkpoint."
        )));
    }
    Ok(())
}

/// What a request asked, for comparing a retry with it: its checkpoint token and updates.
pub fn request_digest(checkpoint_token: &str, updates: &[Value]) -> String {
    let mut h = Sha256::new();
    h.update(checkpoint_token.as_bytes());
    h.update([0]);
    h.update(Value::Array(updates.to_vec()).to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer a `ClientToken` already got: `Ok(Some)` for the same request within the window,
/// `Ok(None)` for a new (or expired) token, an error for another request with the same token.
pub fn replay(
    known: Option<&DurableClientToken>,
    digest: &str,
    now: u64,
) -> LResult<Option<Value>> {
    match known {
        Some(t) if t.expires_ms > now => {
            if t.request == digest {
                Ok(Some(serde_json::from_str(&t.answer).unwrap_or(json!({}))))
            } else {
                Err(LambdaError::invalid(format!(
                    "The client token {} was already used with a different request.",
                    t.client_token
                )))
            }
        }
        _ => Ok(None),
    }
}

impl Lambda {
    pub(crate) fn checkpoint_durable(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let arn = s(input, "DurableExecutionArn").unwrap_or("").to_string();
        let d = self.durable(ctx, &arn)?;
        let raw_token = s(input, "CheckpointToken").unwrap_or("");
        let given = parse_token(raw_token);
        let updates: Vec<Value> = input
            .get("Updates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let client_token = s(input, "ClientToken").map(String::from);
        let digest = request_digest(raw_token, &updates);
        let now = self.now();
        let id = d.id.clone();
        let (res, v) = self.store.write(|txn| {
            if let Some(ct) = &client_token {
                let known = match txn.get(&keys::client_token(&id, ct)) {
                    Some(LambdaRecord::DurableClientToken(t)) => Some(t.clone()),
                    _ => None,
                };
                if let Some(answer) = replay(known.as_ref(), &digest, now)? {
                    return Ok(answer);
                }
            }
            let Some(LambdaRecord::DurableExecution(mut rec)) =
                txn.get(&keys::durable(&id)).cloned()
            else {
                return Err(not_found(&arn));
            };
            match &given {
                Some((tid, n)) if *tid == rec.id && *n == rec.token => {}
                _ => return Err(bad_token()),
            }
            if rec.status != "RUNNING" {
                return Err(LambdaError::invalid(format!(
                    "The durable execution is not running (status {}).",
                    rec.status
                )));
            }
            check_limits(&updates)?;
            let mut fx = state::Effects::default();
            let mut touched: Vec<String> = std::mem::take(&mut rec.changed);
            let exec = rec.id.clone();
            for u in &updates {
                let op = state::apply(
                    &mut rec,
                    now,
                    u,
                    &|op: &str| callback_id(&exec, op),
                    &mut fx,
                )?;
                touched.push(op);
            }
            for (cb, op) in &fx.callbacks_started {
                txn.insert(
                    keys::callback(cb),
                    LambdaRecord::DurableCallback(DurableCallback {
                        callback_id: cb.clone(),
                        execution: rec.id.clone(),
                        operation: op.clone(),
                        account: rec.account.clone(),
                    }),
                );
            }
            rec.token += 1;
            let ops: Vec<Value> = state::operations(&rec)
                .iter()
                .filter(|o| {
                    o.get("Id")
                        .and_then(Value::as_str)
                        .is_some_and(|i| touched.iter().any(|t| t == i))
                })
                .map(state::public)
                .collect();
            let out = json!({
                "CheckpointToken": token(&rec.id, rec.token),
                "NewExecutionState": { "Operations": ops },
            });
            if let Some(ct) = client_token {
                txn.insert(
                    keys::client_token(&id, &ct),
                    LambdaRecord::DurableClientToken(DurableClientToken {
                        execution: id.clone(),
                        client_token: ct,
                        request: digest.clone(),
                        answer: out.to_string(),
                        expires_ms: now + CLIENT_TOKEN_MS,
                    }),
                );
            }
            txn.insert(keys::durable(&id), LambdaRecord::DurableExecution(rec));
            Ok(out)
        });
        Ok(Done::wrote(res?, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(request: &str, expires_ms: u64) -> DurableClientToken {
        DurableClientToken {
            execution: "e".into(),
            client_token: "ct-1".into(),
            request: request.into(),
            answer: json!({"CheckpointToken": "abc"}).to_string(),
            expires_ms,
        }
    }

    #[test]
    fn a_client_token_replays_the_same_request_and_refuses_another() {
        let ups = [json!({"Id": "s", "Type": "STEP", "Action": "START"})];
        let d = request_digest("tok", &ups);
        assert_eq!(d.len(), 64);
        assert_eq!(d, request_digest("tok", &ups));
        assert_ne!(d, request_digest("tok2", &ups));
        assert_ne!(d, request_digest("tok", &[]));
        let t = known(&d, 1000);
        assert_eq!(
            replay(Some(&t), &d, 999).unwrap(),
            Some(json!({"CheckpointToken": "abc"}))
        );
        let e = replay(Some(&t), &request_digest("tok", &[]), 999).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValueException");
        assert!(e.message.contains("ct-1"), "{}", e.message);
        // Expired: a new request.
        assert_eq!(replay(Some(&t), &d, 1000).unwrap(), None);
        assert_eq!(replay(None, &d, 0).unwrap(), None);
    }

    #[test]
    fn limits_on_payloads_and_checkpoints() {
        let step = |id: &str, n: usize| json!({"Id": id, "Type": "STEP", "Action": "SUCCEED", "Payload": "x".repeat(n)});
        assert!(check_limits(&[step("a", MAX_OPERATION_PAYLOAD)]).is_ok());
        let e = check_limits(&[step("a", MAX_OPERATION_PAYLOAD + 1)]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValueException");
        assert!(e.message.contains("operation a"), "{}", e.message);
        let big_error = json!({"Id": "b", "Type": "STEP", "Action": "FAIL",
                               "Error": {"ErrorMessage": "y".repeat(MAX_OPERATION_PAYLOAD)}});
        assert!(check_limits(&[big_error]).is_err());
        // Three payloads of 250 KB: each allowed, together over 750 KB.
        let three: Vec<Value> = (0..3).map(|i| step(&format!("s{i}"), 250 * 1024)).collect();
        let e = check_limits(&three).unwrap_err();
        assert!(e.message.contains("one checkpoint"), "{}", e.message);
        assert!(check_limits(&three[..2]).is_ok());
        // The execution's own result is bounded by the model only.
        let done = json!({"Id": "e", "Type": "EXECUTION", "Action": "SUCCEED",
                          "Payload": "z".repeat(MAX_CHECKPOINT_BYTES * 2)});
        assert!(check_limits(&[done]).is_ok());
    }
}
