//! Calls a service makes on its own, as its service principal: SNS delivering to a subscribed
//! queue or function (and to a subscription's dead-letter queue), an EventBridge rule invoking
//! its queue, topic or function target. In AWS such a call is allowed only by the target's
//! resource policy (a queue policy granting `sns.amazonaws.com` `sqs:SendMessage`, usually with
//! `aws:SourceArn` naming the topic; a function's `AddPermission` for `events.amazonaws.com`): a
//! service principal has no identity policies. Until the policy lets it in, the delivery fails
//! (and goes where the service sends failed deliveries).

use serde_json::{Map, Value};
use snapstack_policy::{Caller, Decision, NamedPolicy, PolicySet, Request, Source};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{RequestContext, ServiceCaller};

use super::deny::{self, Reason};
use super::resources::{self, Input, account_of};
use super::{Enforcer, actions, common_context, now_secs};
use crate::gateway::App;

impl Enforcer {
    /// Whether the resource policy of what `service:operation` with `input` acts on allows
    /// `caller`; `AccessDenied` (403) when not. Targets without resource policies (streams,
    /// log groups, state machines: AWS reaches them through a role) are not decided here.
    pub async fn check_service(
        &self,
        app: &App,
        ctx: &RequestContext,
        caller: ServiceCaller<'_>,
        service: &str,
        operation: &str,
        input: &Value,
    ) -> Result<(), AwsError> {
        let empty = Map::new();
        let fields = input.as_object().unwrap_or(&empty);
        let target = resources::target(
            service,
            operation,
            &Input {
                fields,
                region: ctx.region(),
                account: ctx.account(),
            },
        );
        let Some(lookup) = &target.policy else {
            return Ok(());
        };
        let version = self.store_version(app, lookup.store());
        // No such queue, topic or function: the service answers that itself.
        let Some(found) = self.policies.get(app, ctx, lookup, version).await else {
            return Ok(());
        };
        let action = actions::action(service, operation, false);
        let now = now_secs();
        for resource in &target.resources {
            let mut req = Request::new(
                Caller::Service(caller.principal.to_string()),
                &action,
                resource,
            );
            req.context.insert("aws:SourceArn", caller.source_arn);
            req.context
                .insert("aws:SourceAccount", caller.source_account);
            req.context
                .insert("aws:PrincipalServiceName", caller.principal);
            common_context(&mut req.context, ctx, now, true, false);
            req.resource_account = Some(account_of(resource).unwrap_or(ctx.account()).to_string());
            let mut set = PolicySet::default();
            if let Some(policy) = &found.policy {
                set.resource = vec![NamedPolicy {
                    id: "resource",
                    policy,
                }];
            }
            let reason = match snapstack_policy::evaluate(&req, &set).decision {
                Decision::Allow => continue,
                Decision::ExplicitDeny => Reason::ExplicitDeny(Source::Resource),
                Decision::ImplicitDeny => Reason::NoAllow(Source::Resource),
            };
            return Err(AwsError::new(
                "AccessDenied",
                deny::message(caller.principal, &action, resource, reason),
            )
            .with_status(axum::http::StatusCode::FORBIDDEN));
        }
        Ok(())
    }
}
