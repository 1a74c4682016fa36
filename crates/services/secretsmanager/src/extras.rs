//! Tags, resource policies, rotation and replication.

use serde_json::{Value, json};

use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext, Runtime};

use crate::secrets::{merge_tags, replicas_of, tags_of};
use crate::{
    MAX_TAGS, PENDING, RotationRules, SecretsManager, find, flag, int, invalid_parameter,
    invalid_request, not_found, ok, s, uuid4,
};

fn malformed(message: &str) -> AwsError {
    AwsError::new("MalformedPolicyDocumentException", message)
}

/// Parse a resource policy and list what is wrong with it (`ValidationErrors`).
fn check_policy(text: &str) -> Result<(Value, Vec<Value>), AwsError> {
    let policy: Value = serde_json::from_str(text)
        .map_err(|_| malformed("This resource policy contains a syntax error."))?;
    let mut errors = Vec::new();
    let err = |check: &str, message: &str| json!({"CheckName": check, "ErrorMessage": message});
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => {
            errors.push(err("SYNTAX_CHECK", "The policy has no Statement."));
            Vec::new()
        }
    };
    for st in statements {
        if !matches!(s(st, "Effect"), Some("Allow" | "Deny")) {
            errors.push(err(
                "SYNTAX_CHECK",
                "Each statement needs an Effect of Allow or Deny.",
            ));
        }
        if st.get("Action").is_none() && st.get("NotAction").is_none() {
            errors.push(err("SYNTAX_CHECK", "Each statement needs an Action."));
        }
    }
    Ok((policy, errors))
}

/// Whether a policy grants access to everyone (a `*` principal) without a condition.
fn is_public(policy: &Value) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o) => vec![o],
        None => Vec::new(),
    };
    statements.iter().any(|st| {
        let star = |p: &Value| match p {
            Value::String(x) => x == "*",
            Value::Array(a) => a.iter().any(|x| x == "*"),
            _ => false,
        };
        let principal = match st.get("Principal") {
            Some(p @ Value::String(_)) => star(p),
            Some(Value::Object(o)) => o.get("AWS").is_some_and(star),
            _ => false,
        };
        s(st, "Effect") == Some("Allow") && principal && st.get("Condition").is_none()
    })
}

impl SecretsManager {
    pub(crate) fn tag_resource(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let add = tags_of(v)?;
        self.mutate(
            ctx,
            s(v, "SecretId").unwrap_or_default(),
            false,
            |sec, _| {
                merge_tags(&mut sec.tags, add);
                if sec.tags.len() > MAX_TAGS {
                    return Err(invalid_parameter(format!(
                        "Number of tags exceeds the maximum of {MAX_TAGS}."
                    )));
                }
                Ok(json!({}))
            },
        )
    }

    pub(crate) fn untag_resource(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let keys: Vec<String> = v
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        self.mutate(
            ctx,
            s(v, "SecretId").unwrap_or_default(),
            false,
            |sec, _| {
                sec.tags.retain(|(k, _)| !keys.contains(k));
                Ok(json!({}))
            },
        )
    }

    pub(crate) fn put_resource_policy(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let text = s(v, "ResourcePolicy").unwrap_or_default().to_string();
        let (policy, errors) = check_policy(&text)?;
        if !errors.is_empty() {
            return Err(malformed(
                "This resource policy contains an unsupported operation.",
            ));
        }
        if flag(v, "BlockPublicPolicy").unwrap_or(false) && is_public(&policy) {
            return Err(AwsError::new(
                "PublicPolicyException",
                "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.",
            ));
        }
        self.mutate(
            ctx,
            s(v, "SecretId").unwrap_or_default(),
            false,
            |sec, _| {
                sec.policy = Some(text);
                Ok(json!({"ARN": sec.arn, "Name": sec.name}))
            },
        )
    }

    pub(crate) fn get_resource_policy(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let Some((_, sec)) = find(&self.store.snapshot(), &ctx.partition, id, self.now_ms()) else {
            return Err(not_found());
        };
        let mut out = json!({"ARN": sec.arn, "Name": sec.name});
        if let Some(p) = sec.policy {
            out["ResourcePolicy"] = json!(p);
        }
        ok(out, None)
    }

    pub(crate) fn delete_resource_policy(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        self.mutate(
            ctx,
            s(v, "SecretId").unwrap_or_default(),
            false,
            |sec, _| {
                sec.policy = None;
                Ok(json!({"ARN": sec.arn, "Name": sec.name}))
            },
        )
    }

    pub(crate) fn validate_resource_policy(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        if let Some(id) = s(v, "SecretId")
            && find(&self.store.snapshot(), &ctx.partition, id, self.now_ms()).is_none()
        {
            return Err(not_found());
        }
        let (_, errors) = check_policy(s(v, "ResourcePolicy").unwrap_or_default())?;
        ok(
            json!({"PolicyValidationPassed": errors.is_empty(), "ValidationErrors": errors}),
            None,
        )
    }

    /// RotateSecret: the configuration is recorded, then the rotation function is run. Without
    /// a Lambda service (or without the function) the answer is AWS's for a function Secrets
    /// Manager cannot invoke.
    pub(crate) async fn rotate_secret(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default().to_string();
        let rules = v.get("RotationRules").map(|r| RotationRules {
            after_days: int(r, "AutomaticallyAfterDays"),
            duration: s(r, "Duration").map(str::to_string),
            schedule: s(r, "ScheduleExpression").map(str::to_string),
        });
        if let Some(r) = &rules {
            if r.after_days.is_some() && r.schedule.is_some() {
                return Err(invalid_parameter(
                    "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
                ));
            }
            if r.after_days.is_some_and(|d| !(1..=1000).contains(&d)) {
                return Err(invalid_parameter(
                    "The rotation interval must be between 1 and 1000 days.",
                ));
            }
        }
        let lambda = s(v, "RotationLambdaARN").map(str::to_string);
        let role = s(v, "ExternalSecretRotationRoleArn").map(str::to_string);
        let metadata: Vec<(String, String)> = v
            .get("ExternalSecretRotationMetadata")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            s(m, "Key").unwrap_or_default().to_string(),
                            s(m, "Value").unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let token = s(v, "ClientRequestToken").map_or_else(uuid4, str::to_string);
        let mut function = None;
        let recorded = self.mutate(ctx, &id, false, |sec, _| {
            if let Some(l) = lambda {
                sec.rotation_lambda = Some(l);
            }
            if let Some(r) = role {
                sec.external_rotation_role = Some(r);
            }
            if !metadata.is_empty() {
                sec.external_rotation_metadata = metadata;
            }
            if sec.rotation_lambda.is_none() && sec.external_rotation_role.is_none() {
                return Err(invalid_request(
                    "No Lambda rotation function ARN is associated with this secret.",
                ));
            }
            if let Some(r) = rules {
                sec.rotation_rules = Some(r);
            }
            sec.rotation_enabled = true;
            function = sec.rotation_lambda.clone();
            Ok(json!({"ARN": sec.arn, "Name": sec.name}))
        })?;
        let Some(function) = function else {
            // Managed external rotation: the partner rotates; the configuration is the answer.
            return Ok(recorded);
        };
        let found = rt
            .invoke(
                ctx,
                "lambda",
                "GetFunction",
                json!({"FunctionName": function}),
            )
            .await;
        if found.is_err() {
            return Err(cannot_invoke());
        }
        let immediately = flag(v, "RotateImmediately").unwrap_or(true);
        let result = self
            .run_rotation(rt, ctx, &id, &function, &token, immediately)
            .await;
        // The next scheduled rotation counts from this one, failed or not.
        self.schedule_rotation(ctx, &id, result.as_ref().err().map(|e| e.message.clone()));
        result
    }

    pub(crate) fn cancel_rotate_secret(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        self.mutate(ctx, s(v, "SecretId").unwrap_or_default(), false, |sec, _| {
            if !sec.rotation_enabled && sec.rotation_lambda.is_none() {
                return Err(invalid_request(
                    "Secrets Manager can't cancel rotation because rotation is not configured for this secret.",
                ));
            }
            sec.rotation_enabled = false;
            let mut out = json!({"ARN": sec.arn, "Name": sec.name});
            if let Some(p) = sec.staged(PENDING) {
                out["VersionId"] = json!(p.id);
            }
            Ok(out)
        })
    }

    pub(crate) fn replicate_secret_to_regions(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let add = replicas_of(v, ctx.region())?;
        let force = flag(v, "ForceOverwriteReplicaSecret").unwrap_or(false);
        self.mutate(ctx, s(v, "SecretId").unwrap_or_default(), false, |sec, now| {
            if sec.primary_region.is_some() {
                return Err(invalid_request(
                    "You can't replicate a replica secret. Replicate the primary secret instead.",
                ));
            }
            for r in add {
                match sec.replicas.iter_mut().find(|x| x.region == r.region) {
                    Some(x) if force => *x = r,
                    Some(_) => {
                        return Err(invalid_parameter(format!(
                            "The secret is already replicated to {}.",
                            r.region
                        )));
                    }
                    None => sec.replicas.push(r),
                }
            }
            sec.changed_ms = now;
            Ok(json!({"ARN": sec.arn, "ReplicationStatus": sec.replication_json()}))
        })
    }

    pub(crate) fn remove_regions_from_replication(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let regions: Vec<String> = v
            .get("RemoveReplicaRegions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        self.mutate(
            ctx,
            s(v, "SecretId").unwrap_or_default(),
            false,
            |sec, now| {
                for r in &regions {
                    if !sec.replicas.iter().any(|x| &x.region == r) {
                        return Err(invalid_parameter(format!(
                            "The secret isn't replicated to {r}."
                        )));
                    }
                }
                sec.replicas.retain(|x| !regions.contains(&x.region));
                sec.changed_ms = now;
                Ok(json!({"ARN": sec.arn, "ReplicationStatus": sec.replication_json()}))
            },
        )
    }

    pub(crate) fn stop_replication_to_replica(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        self.mutate(ctx, s(v, "SecretId").unwrap_or_default(), false, |sec, now| {
            if sec.primary_region.is_none() {
                return Err(invalid_request(
                    "The secret is not a replica secret, so you can't promote it to a standalone secret.",
                ));
            }
            sec.primary_region = None;
            sec.changed_ms = now;
            Ok(json!({"ARN": sec.arn}))
        })
    }
}

/// AWS's answer when the rotation function cannot be invoked (missing, or its policy does not
/// let Secrets Manager in).
pub(crate) fn cannot_invoke() -> AwsError {
    AwsError::new(
        "AccessDeniedException",
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.",
    )
}
