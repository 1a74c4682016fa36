//! IAM as a service of the registry: the query protocol through the model-driven codec, and
//! `invoke` for the lookups other services make (STS finding who an access key belongs to).

use std::sync::Arc;

use serde_json::{Value, json};
use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::{BoxFuture, Call, RequestContext, Runtime, Service};

use crate::delegation::{self, Caller, Followup};
use crate::{Iam, NAME};

/// A context acting in `account` and `region`.
fn context_in(ctx: &RequestContext, account: &str, region: &str) -> RequestContext {
    let mut c = ctx.clone();
    c.partition.account = account.to_string();
    if !region.is_empty() {
        c.partition.region = region.to_string();
    }
    c
}

/// Carry out what a delegation request's change asks of STS and SNS, in order. The change is
/// made (and answered) whatever they say: a failure is logged.
async fn run_followups(rt: &dyn Runtime, ctx: &RequestContext, followups: Vec<Followup>) {
    for f in followups {
        let (service, operation, c, input) = match f {
            Followup::IssueToken { account, input } => (
                "sts",
                snapstack_sts::outbound::ISSUE_TRADE_IN_TOKEN,
                context_in(ctx, &account, ctx.region()),
                input,
            ),
            Followup::Notify { topic, message } => {
                let Some((region, account)) = delegation::topic_parts(&topic) else {
                    continue;
                };
                let c = context_in(ctx, account, region);
                let input = json!({
                    "TopicArn": topic,
                    "Subject": "IAM delegation request",
                    "Message": message,
                });
                ("sns", "Publish", c, input)
            }
        };
        if let Err(e) = rt.invoke(&c, service, operation, input).await {
            tracing::warn!(service, operation, code = %e.code, message = %e.message,
                "a delegation request's follow-up failed");
        }
    }
}

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
        Box::pin(async move {
            let ctx = call.ctx;
            // Delegation requests record who acts; a session's identity is STS's to tell.
            let caller = match call.operation {
                Some(op) if delegation::OPERATIONS.contains(&op) => {
                    self.session_caller(rt, ctx).await
                }
                _ => None,
            };
            let followups = std::sync::Mutex::new(Vec::new());
            let resp = snapstack_service::reply::serve_query(
                rt,
                NAME,
                Iam::model(),
                call,
                |ctx, operation, input| {
                    self.handle_as(ctx, operation, input, crate::now_ms(), caller)
                        .map(|answer| {
                            *followups.lock().unwrap_or_else(|e| e.into_inner()) = answer.followups;
                            (answer.output, answer.write_version)
                        })
                },
            )
            .await;
            let followups =
                std::mem::take(&mut *followups.lock().unwrap_or_else(|e| e.into_inner()));
            run_followups(rt, ctx, followups).await;
            resp
        })
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
                let followups = self.sweep_delegations(crate::now_ms());
                if !followups.is_empty() {
                    let ctx = RequestContext::from_scope(None);
                    run_followups(rt.as_ref(), &ctx, followups).await;
                }
            }
        });
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        snapstack_service::reply::query_error(Iam::model(), ctx, "InternalFailure", message)
    }
}

impl Iam {
    /// The identity of temporary credentials (`ASIA…`), asked of STS: the session's ARN and
    /// account, and the role (or user) whose policies are its. `None` for other keys (IAM
    /// resolves those itself) and credentials STS does not know.
    async fn session_caller(&self, rt: &dyn Runtime, ctx: &RequestContext) -> Option<Caller> {
        let key = ctx.access_key.as_str();
        if !key.starts_with("ASIA") {
            return None;
        }
        let input = json!({"AccessKeyId": key});
        let found = rt
            .invoke(ctx, "sts", snapstack_sts::RESOLVE_CREDENTIALS, input)
            .await
            .ok()?;
        if found.get("Found").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let s = |k: &str| {
            found
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (arn, account) = (s("Arn"), s("Account"));
        let source = s("SourceArn");
        let source_arn = if s("Kind") == "root" {
            None
        } else if let Some(k) = source.strip_prefix("accesskey/") {
            // GetSessionToken / GetFederationToken: the user whose key made them.
            self.key_owner(k).map(|o| o.arn)
        } else if source.is_empty() {
            None
        } else {
            Some(source)
        };
        Some(Caller {
            arn,
            account,
            source_arn,
        })
    }

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
                caller: None,
                followups: Vec::new(),
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
