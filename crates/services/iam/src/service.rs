//! IAM as a service of the registry: the query protocol through the model-driven codec, and
//! `invoke` for the lookups other services make (STS finding who an access key belongs to).

use std::sync::Arc;

use serde_json::{Value, json};
use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::{BoxFuture, Call, RequestContext, Runtime, Service};

use crate::{Iam, NAME};

/// The internal operation STS calls: who the access key `AccessKeyId` belongs to
/// (`{"Account", "UserName", "UserId", "Arn"}`, or `{}` when IAM did not issue it or it is
/// inactive). Its use is recorded as the key's last use (`ServiceName` from the input).
pub const LOOKUP_ACCESS_KEY: &str = "LookupAccessKey";

/// How often the background task looks for report jobs to complete.
const JOB_SWEEP: std::time::Duration = std::time::Duration::from_millis(250);

impl Service for Iam {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(snapstack_service::reply::serve_query(
            rt,
            NAME,
            Iam::model(),
            call,
            |ctx, operation, input| {
                self.handle(ctx, operation, input)
                    .map(|answer| (answer.output, answer.write_version))
            },
        ))
    }

    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<(Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            rt.ensure_loaded(NAME).await;
            match operation {
                LOOKUP_ACCESS_KEY => Ok(self.lookup_access_key(ctx, &input)),
                crate::resolve::RESOLVE_PRINCIPAL => Ok((self.resolve_principal(&input), None)),
                crate::resolve::FIND_OIDC_PROVIDER => Ok((self.find_oidc_provider(&input), None)),
                // STS's GetWebIdentityToken: the account's outbound federation issuer.
                "GetOutboundWebIdentityFederationInfo" => self
                    .handle(ctx, operation, &input)
                    .map(|answer| (answer.output, None)),
                crate::lastaccess::RECORD_ACCESS => Ok((json!({}), self.record_access(&input))),
                other => Err(crate::not_implemented(other)),
            }
        })
    }

    /// The report jobs' completion: every [`JOB_SWEEP`], jobs past their deadline complete.
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(JOB_SWEEP);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                let n = self.complete_jobs(crate::now_ms());
                if n > 0 {
                    tracing::debug!(n, "completed IAM access report jobs");
                }
            }
        });
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        snapstack_service::reply::query_error(Iam::model(), ctx, "InternalFailure", message)
    }
}

impl Iam {
    /// [`LOOKUP_ACCESS_KEY`].
    pub fn lookup_access_key(&self, ctx: &RequestContext, input: &Value) -> (Value, Option<u64>) {
        let id = input
            .get("AccessKeyId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(owner) = self.key_owner(id) else {
            return (json!({}), None);
        };
        let service = input
            .get("ServiceName")
            .and_then(Value::as_str)
            .unwrap_or("sts")
            .to_string();
        let now = crate::now_ms() / 1000 * 1000;
        let region = ctx.region().to_string();
        let before = self.store.version();
        let (_, version) = self.store.write(|txn| {
            let empty = serde_json::Map::new();
            let mut op = crate::Op {
                txn,
                account: owner.account.clone(),
                region,
                access_key: id.to_string(),
                now,
                input: &empty,
            };
            crate::creds::mark_key_used(&mut op, id, &service);
        });
        let out = json!({
            "Account": owner.account, "UserName": owner.user_name,
            "UserId": owner.user_id, "Arn": owner.arn,
        });
        (out, (version != before).then_some(version))
    }
}
