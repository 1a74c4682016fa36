//! Calls a service makes to another on behalf of its caller, while it serves the caller's
//! request (AWS's forward access sessions): S3 asking KMS for an object's data key during
//! `PutObject`, SQS during `SendMessage`, Secrets Manager during `GetSecretValue`. AWS
//! authorizes such a call as the caller's own, with `kms:ViaService` (`s3.<region>.amazonaws.com`)
//! and `kms:CallerAccount` in its context: a user allowed `s3:PutObject` but not
//! `kms:GenerateDataKey` on the bucket's customer managed key is refused, and an AWS managed
//! key (`alias/aws/s3`), whose policy allows the account's principals through its service, is
//! usable by any of them.
//!
//! Only a call made while serving the caller's own request is checked: its context is the
//! request's, signed for the calling service. Work a service does later or for itself
//! (deliveries, schedules, its own keys) carries no caller and is not.

use serde_json::Value;
use snapstack_policy::Request;
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

use super::resources::{PolicyLookup, account_of};
use super::{Enforcer, decide, deny, now_secs};
use crate::gateway::App;

/// What a call for a caller acts on, by the called service's input: the resource whose policy
/// decides it. `None`: nothing this check knows to decide (the call goes ahead).
fn lookup_of(service: &str, input: &Value) -> Option<PolicyLookup> {
    match service {
        "kms" => input
            .get("KeyId")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .map(|k| PolicyLookup::KmsKey(k.to_string())),
        _ => None,
    }
}

/// `<service>.<region>.amazonaws.com`, the `kms:ViaService` value of a call made by `service`.
pub(super) fn via_service(service: &str, region: &str) -> String {
    format!("{service}.{region}.amazonaws.com")
}

impl Enforcer {
    /// Whether the caller of `ctx` may have the service `via` call `service:operation` with
    /// `input` on its behalf; `AccessDeniedException` (KMS's) when not.
    pub async fn check_forward(
        &self,
        app: &App,
        ctx: &RequestContext,
        via: &str,
        service: &str,
        operation: &str,
        input: &Value,
    ) -> Result<(), AwsError> {
        // Not the caller's own request to `via`: nobody to check.
        if ctx.scope_service.as_deref() != Some(via) {
            return Ok(());
        }
        let Some(lookup) = lookup_of(service, input) else {
            return Ok(());
        };
        let versions = |store: &str| self.store_version(app, store);
        // The request was let in, so its key resolves; if it no longer does (deleted since),
        // the called service's own answer stands.
        let Ok(resolved) = self
            .principals
            .resolve(app.runtime.as_ref(), ctx, &ctx.access_key, &versions)
            .await
        else {
            return Ok(());
        };
        let principal = &resolved.principal;
        if principal.root && principal.session.is_empty() {
            return Ok(());
        }
        let version = self.store_version(app, lookup.store());
        // No such key: the called service answers that itself.
        let Some(found) = self.policies.get(app, ctx, &lookup, version).await else {
            return Ok(());
        };
        let resource = match (&found.arn, &lookup) {
            (Some(arn), _) => arn.clone(),
            (None, PolicyLookup::KmsKey(id)) => id.clone(),
            (None, _) => return Ok(()),
        };
        let action = format!("{service}:{operation}");
        let mut req = Request::new(principal.caller.clone(), &action, &resource);
        let mut context = resolved.context().clone();
        let now = now_secs();
        context.insert("kms:ViaService", via_service(via, ctx.region()));
        context.insert("kms:CallerAccount", principal.account.clone());
        // A service's call with the caller's credentials (a forward access session).
        super::common_context(&mut context, ctx, now, false, true);
        let policies = principal.policies().chain(found.policy.as_ref());
        if super::tags::read_resource_tags(policies) {
            let t = self
                .tags
                .get(app, ctx, service, &resource, Some(&lookup), versions)
                .await;
            super::tags::insert_resource(&mut context, &t);
        }
        req.context = context;
        req.resource_account = Some(account_of(&resource).unwrap_or(ctx.account()).to_string());
        match decide(
            &req,
            Some(principal),
            found.policy.as_ref(),
            lookup.required(),
        ) {
            None => Ok(()),
            Some(reason) => Err(AwsError::new(
                "AccessDeniedException",
                deny::message(&principal.arn, &action, &resource, reason),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_named_key_is_looked_up() {
        assert_eq!(
            lookup_of("kms", &json!({"KeyId": "alias/k"})),
            Some(PolicyLookup::KmsKey("alias/k".into()))
        );
        assert_eq!(lookup_of("kms", &json!({"KeyId": ""})), None);
        assert_eq!(lookup_of("kms", &json!({"CiphertextBlob": "eA=="})), None);
        assert_eq!(lookup_of("sqs", &json!({"KeyId": "k"})), None);
        assert_eq!(via_service("s3", "eu-west-1"), "s3.eu-west-1.amazonaws.com");
    }
}
