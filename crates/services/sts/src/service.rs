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
            if call.operation.is_none() && self.claims_path(call.parts.uri.path()) {
                return self.serve_jwks(rt, call.parts).await;
            }
            // A request signed with a long-term key IAM issued is that IAM user.
            let user = match call.operation {
                Some("GetCallerIdentity" | "GetWebIdentityToken") => {
                    self.iam_user(rt, call.ctx).await
                }
                _ => None,
            };
            // The account's outbound federation issuer, from IAM.
            let issuer = match call.operation {
                Some("GetWebIdentityToken") => self.issuer(rt, call.ctx).await,
                _ => None,
            };
            snapstack_service::reply::serve_query(
                rt,
                NAME,
                Sts::model(),
                call,
                |ctx, operation, input| match user {
                    Some(identity) if operation == "GetCallerIdentity" => Ok((identity, None)),
                    _ if operation == "GetWebIdentityToken" => {
                        let now = crate::now_ms();
                        let arn = match &user {
                            Some(u) => u["Arn"].as_str().unwrap_or("").to_string(),
                            None => self
                                .handle(ctx, "GetCallerIdentity", &serde_json::json!({}))
                                .map(|a| a.output["Arn"].as_str().unwrap_or("").to_string())
                                .unwrap_or_default(),
                        };
                        self.handle_web_identity_token(ctx, input, issuer.as_deref(), &arn, now)
                            .map(|answer| (answer.output, answer.write_version))
                    }
                    _ => self
                        .handle(ctx, operation, input)
                        .map(|answer| (answer.output, answer.write_version)),
                },
            )
            .await
        })
    }

    /// The JWKS of outbound identity federation: `/_aws/sts/<account>/.well-known/...`.
    fn claims_path(&self, path: &str) -> bool {
        path.starts_with("/_aws/sts/")
    }

    /// STS for the gateway's policy enforcement: [`crate::RESOLVE_CREDENTIALS`]; and
    /// [`crate::outbound::ISSUE_TRADE_IN_TOKEN`] for the services that hand out trade-in tokens.
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
                crate::outbound::ISSUE_TRADE_IN_TOKEN => {
                    Ok((serde_json::json!({}), self.register_trade_in_token(&input)?))
                }
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
    /// The outbound identity federation issuer of the caller's account (IAM's
    /// `GetOutboundWebIdentityFederationInfo`); `None` when it is off or IAM is not running.
    async fn issuer(&self, rt: &dyn Runtime, ctx: &RequestContext) -> Option<String> {
        let info = rt
            .invoke(
                ctx,
                "iam",
                "GetOutboundWebIdentityFederationInfo",
                serde_json::json!({}),
            )
            .await
            .ok()?;
        info.get("IssuerIdentifier")?.as_str().map(str::to_string)
    }

    /// `GET /_aws/sts/<account>/.well-known/jwks.json`: the public keys that sign the
    /// account's web identity tokens; `.../openid-configuration`: the discovery document.
    async fn serve_jwks(&self, rt: &dyn Runtime, parts: &Parts) -> Response {
        use snapstack_protocol::http::{StatusCode, header};
        use snapstack_protocol::response::IntoResponse;
        rt.ensure_loaded(NAME).await;
        let path = parts.uri.path().trim_start_matches("/_aws/sts/");
        let (account, rest) = path.split_once('/').unwrap_or((path, ""));
        let json = |status: StatusCode, v: serde_json::Value| {
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                v.to_string(),
            )
                .into_response()
        };
        match rest {
            ".well-known/jwks.json" => json(StatusCode::OK, self.jwks(account)),
            ".well-known/openid-configuration" => {
                let mut ctx = RequestContext::from_scope(None);
                ctx.partition.account = account.to_string();
                let issuer = self.issuer(rt, &ctx).await;
                match issuer {
                    Some(iss) => json(
                        StatusCode::OK,
                        serde_json::json!({
                            "issuer": iss,
                            "jwks_uri": format!("{iss}/.well-known/jwks.json"),
                            "response_types_supported": ["id_token"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256", "ES384"],
                        }),
                    ),
                    None => json(
                        StatusCode::NOT_FOUND,
                        serde_json::json!({"error": "outbound web identity federation is off for this account"}),
                    ),
                }
            }
            _ => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": "not found"}),
            ),
        }
    }

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
