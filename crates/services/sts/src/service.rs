//! STS as a service of the registry: the query protocol through the model-driven codec
//! (`snapstack_protocol::codec::query`): form parameters in, XML out, errors in the query
//! error shape with the model's statuses.

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::{BoxFuture, Call, RequestContext, Runtime, Service};

use crate::{NAME, Sts};

/// An error in STS's XML shape, with the status the model (or AWS's common errors) give its code.
pub fn error_response(ctx: &RequestContext, code: &str, message: &str) -> Response {
    snapstack_service::reply::query_error(Sts::model(), ctx, code, message)
}

impl Service for Sts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            // A request signed with a long-term key IAM issued is that IAM user.
            let user = match call.operation {
                Some("GetCallerIdentity") => self.iam_user(rt, call.ctx).await,
                _ => None,
            };
            snapstack_service::reply::serve_query(
                rt,
                NAME,
                Sts::model(),
                call,
                |ctx, operation, input| match user {
                    Some(identity) if operation == "GetCallerIdentity" => Ok((identity, None)),
                    _ => self
                        .handle(ctx, operation, input)
                        .map(|answer| (answer.output, answer.write_version)),
                },
            )
            .await
        })
    }

    /// STS for the gateway's policy enforcement: [`crate::RESOLVE_CREDENTIALS`].
    fn invoke<'a>(
        &'a self,
        _rt: &'a dyn Runtime,
        _ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            match operation {
                crate::RESOLVE_CREDENTIALS => Ok((self.resolve_credentials(&input), None)),
                other => Err(AwsError::new(
                    "NotImplemented",
                    snapstack_protocol::model::not_implemented_message("STS", other),
                )
                .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            }
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        error_response(ctx, "InternalFailure", message)
    }
}

impl Sts {
    /// The IAM user whose access key signed the request (`GetCallerIdentity`'s answer), asked
    /// of IAM (`LookupAccessKey`, which also records the key's last use); `None` for keys IAM
    /// did not issue, inactive ones, or when IAM is not running.
    async fn iam_user(&self, rt: &dyn Runtime, ctx: &RequestContext) -> Option<serde_json::Value> {
        let key = &ctx.access_key;
        if !key.starts_with("AKIA") || self.credentials(key, crate::now_ms()).is_some() {
            return None;
        }
        let input = serde_json::json!({"AccessKeyId": key, "ServiceName": "sts"});
        let found = rt.invoke(ctx, "iam", "LookupAccessKey", input).await.ok()?;
        Some(serde_json::json!({
            "UserId": found.get("UserId")?,
            "Account": found.get("Account")?,
            "Arn": found.get("Arn")?,
        }))
    }
}
