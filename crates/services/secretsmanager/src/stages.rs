//! Staging labels: how AWS moves them between versions, and `UpdateSecretVersionStage`.

use serde_json::{Value, json};

use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext};

use crate::{
    CURRENT, MAX_STAGES, MAX_VERSIONS, PREVIOUS, Secret, SecretsManager, SmRecord, find_in,
    invalid_parameter, marked_for_deletion, not_found, ok, s,
};

/// Attach `stages` to version `id`, taking each from the version that held it. When
/// `AWSCURRENT` moves, the version that held it becomes `AWSPREVIOUS` (taken from wherever it
/// was), as AWS does.
pub(crate) fn attach(secret: &mut Secret, id: &str, stages: &[String]) {
    for stage in stages {
        let holder = secret
            .versions
            .iter()
            .position(|v| v.id != id && v.stages.iter().any(|s| s == stage));
        if let Some(h) = holder {
            secret.versions[h].stages.retain(|s| s != stage);
            if stage == CURRENT {
                for v in secret.versions.iter_mut() {
                    v.stages.retain(|s| s != PREVIOUS);
                }
                secret.versions[h].stages.push(PREVIOUS.to_string());
            }
        }
        if let Some(v) = secret.versions.iter_mut().find(|v| v.id == id)
            && !v.stages.iter().any(|s| s == stage)
        {
            v.stages.push(stage.clone());
        }
    }
    // A version that became AWSCURRENT is not also AWSPREVIOUS.
    if stages.iter().any(|s| s == CURRENT)
        && let Some(v) = secret.versions.iter_mut().find(|v| v.id == id)
    {
        v.stages.retain(|s| s != PREVIOUS);
    }
    prune(secret);
}

/// Drop the oldest versions without labels beyond [`MAX_VERSIONS`] (AWS removes deprecated
/// versions once a secret has more than 100).
pub(crate) fn prune(secret: &mut Secret) {
    while secret.versions.len() > MAX_VERSIONS {
        match secret.versions.iter().position(|v| v.stages.is_empty()) {
            Some(i) => {
                secret.versions.remove(i);
            }
            None => break,
        }
    }
}

/// Check a `VersionStages` list.
pub(crate) fn check_stages(stages: &[String]) -> Result<(), AwsError> {
    if stages.len() > MAX_STAGES {
        return Err(AwsError::new(
            "LimitExceededException",
            format!("A version can have at most {MAX_STAGES} staging labels."),
        ));
    }
    Ok(())
}

pub(crate) fn stages_of(v: &Value) -> Option<Vec<String>> {
    v.get("VersionStages").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

impl SecretsManager {
    pub(crate) fn update_secret_version_stage(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let stage = s(v, "VersionStage").unwrap_or_default().to_string();
        let move_to = s(v, "MoveToVersionId");
        let remove_from = s(v, "RemoveFromVersionId");
        let now = self.now_ms();
        let p = &ctx.partition;
        let (out, version) = self.store.write(|txn| {
            let Some((key, mut secret)) = find_in(|k| txn.get(k), p, id, now) else {
                return Err(not_found());
            };
            if secret.is_deleted() {
                return Err(marked_for_deletion());
            }
            for vid in [move_to, remove_from].into_iter().flatten() {
                if secret.version(vid).is_none() {
                    return Err(invalid_parameter(format!(
                        "Secrets Manager can't find the specified secret version: {vid}."
                    )));
                }
            }
            let holder = secret.staged(&stage).map(|x| x.id.clone());
            if let Some(h) = &holder
                && move_to.is_some_and(|m| m != h)
                && remove_from != Some(h.as_str())
            {
                return Err(invalid_parameter(format!(
                    "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
                )));
            }
            if let Some(r) = remove_from
                && holder.as_deref() != Some(r)
            {
                return Err(invalid_parameter(format!(
                    "The staging label {stage} is not currently attached to version {r}."
                )));
            }
            if move_to.is_none() && remove_from.is_none() {
                return Err(invalid_parameter(
                    "You must specify either MoveToVersionId or RemoveFromVersionId.",
                ));
            }
            if let Some(m) = move_to {
                let count = secret.version(m).map_or(0, |x| x.stages.len());
                if holder.as_deref() != Some(m) && count >= MAX_STAGES {
                    return Err(AwsError::new(
                        "LimitExceededException",
                        format!("A version can have at most {MAX_STAGES} staging labels."),
                    ));
                }
                attach(&mut secret, m, std::slice::from_ref(&stage));
            } else if let Some(r) = remove_from {
                if stage == CURRENT {
                    return Err(invalid_parameter(
                        "You can't remove the staging label AWSCURRENT from a version without moving it to another version.",
                    ));
                }
                for x in secret.versions.iter_mut().filter(|x| x.id == r) {
                    x.stages.retain(|s| *s != stage);
                }
            }
            secret.changed_ms = now;
            let out = json!({"ARN": secret.arn, "Name": secret.name});
            txn.insert(key, SmRecord::Secret(secret));
            Ok(out)
        });
        ok(out?, Some(version))
    }
}
