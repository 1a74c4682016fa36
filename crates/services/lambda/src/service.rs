//! Lambda as a service of the registry (rest-json): a request is matched to its operation by
//! the model's URI templates, read by the rest-json codec, validated against the model, run,
//! and written back by the codec. Operations without a handler answer 501 NotImplemented.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use snapstack_engine::{Engine, Partition};
use snapstack_protocol::body::Body;
use snapstack_protocol::codec::rest::{parse_request, serialize_response};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use snapstack_protocol::model::{self, ServiceModel};
use snapstack_protocol::request_log;
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_protocol::rest::{RestRequest, RestRouter, RouteError};
use snapstack_protocol::validate;
use snapstack_service::{BoxFuture, Call, Endpoint, Payload, RequestContext, Runtime, Service};

use crate::model::{LambdaRecord, keys};
use crate::ops::Done;
use crate::{LResult, Lambda, LambdaError, NAME, Where};

/// The largest request body read (a CreateFunction with a 50 MB zip, base64).
const MAX_BODY: usize = 72 * 1024 * 1024;
/// Where `Code.Location` URLs point (a path on this server, as LocalStack's S3-style one).
const CODE_PATH: &str = "/awslambda-";

fn lambda_model() -> &'static ServiceModel {
    model::named(NAME).expect("the lambda model is embedded")
}

fn router() -> &'static RestRouter {
    static ROUTER: OnceLock<RestRouter> = OnceLock::new();
    ROUTER.get_or_init(|| RestRouter::from_model(lambda_model()))
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .take(1000)
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn refusal(e: RouteError) -> LambdaError {
    match e {
        RouteError::MissingMember { member, .. } => LambdaError::new(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        ),
        _ => LambdaError::new(404, "UnknownOperationException", "Unknown operation"),
    }
}

impl Lambda {
    async fn dispatch(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        input: &Value,
    ) -> Option<LResult<Done>> {
        Some(match op {
            "CreateFunction" => self.create_function(rt, ctx, input).await,
            "GetFunction" => self.get_function_op(ctx, input, false),
            "GetFunctionConfiguration" => self.get_function_op(ctx, input, true),
            "ListFunctions" => self.list_functions(ctx, input),
            "UpdateFunctionCode" => self.update_code(rt, ctx, input).await,
            "UpdateFunctionConfiguration" => self.update_configuration(ctx, input),
            "DeleteFunction" => self.delete_function(ctx, input),
            "PublishVersion" => self.publish_version(ctx, input),
            "ListVersionsByFunction" => self.list_versions(ctx, input),
            "CreateAlias" => self.create_alias(ctx, input),
            "GetAlias" => self.get_alias_op(ctx, input),
            "UpdateAlias" => self.update_alias(ctx, input),
            "DeleteAlias" => self.delete_alias(ctx, input),
            "ListAliases" => self.list_aliases(ctx, input),
            "AddPermission" => self.add_permission(ctx, input),
            "RemovePermission" => self.remove_permission(ctx, input),
            "GetPolicy" => self.get_policy(ctx, input),
            "TagResource" => self.tag_resource(ctx, input),
            "UntagResource" => self.untag_resource(ctx, input),
            "ListTags" => self.list_tags(ctx, input),
            "PutFunctionConcurrency" => self.put_concurrency(ctx, input),
            "GetFunctionConcurrency" => self.get_concurrency(ctx, input),
            "DeleteFunctionConcurrency" => self.delete_concurrency(ctx, input),
            "GetAccountSettings" => self.account_settings(ctx),
            "PutFunctionEventInvokeConfig" => self.put_event_invoke(ctx, input, false),
            "UpdateFunctionEventInvokeConfig" => self.put_event_invoke(ctx, input, true),
            "GetFunctionEventInvokeConfig" => self.get_event_invoke(ctx, input),
            "ListFunctionEventInvokeConfigs" => self.list_event_invoke(ctx, input),
            "DeleteFunctionEventInvokeConfig" => self.delete_event_invoke(ctx, input),
            "Invoke" => self.invoke_op(ctx, input).await,
            "InvokeAsync" => {
                // The deprecated form of an `Event` invocation.
                let mut i = serde_json::json!({
                    "FunctionName": input.get("FunctionName"),
                    "InvocationType": "Event",
                });
                if let Some(a) = input.get("InvokeArgs") {
                    i["Payload"] = a.clone();
                }
                self.invoke_op(ctx, &i).await.map(|d| Done {
                    output: serde_json::json!({ "Status": 202 }),
                    ..d
                })
            }
            "CreateEventSourceMapping" => self.create_mapping(ctx, input),
            "GetEventSourceMapping" => self.get_mapping_op(ctx, input),
            "ListEventSourceMappings" => self.list_mappings(ctx, input),
            "UpdateEventSourceMapping" => self.update_mapping(ctx, input),
            "DeleteEventSourceMapping" => self.delete_mapping(ctx, input),
            "CreateFunctionUrlConfig" => self.create_url(ctx, input),
            "GetFunctionUrlConfig" => self.get_url(ctx, input),
            "UpdateFunctionUrlConfig" => self.update_url(ctx, input),
            "DeleteFunctionUrlConfig" => self.delete_url(ctx, input),
            "ListFunctionUrlConfigs" => self.list_urls(ctx, input),
            "PublishLayerVersion" => self.publish_layer(rt, ctx, input).await,
            "GetLayerVersion" => self.get_layer(ctx, input),
            "GetLayerVersionByArn" => self.get_layer_by_arn(ctx, input),
            "ListLayers" => self.list_layers(ctx, input),
            "ListLayerVersions" => self.list_layer_versions(ctx, input),
            "DeleteLayerVersion" => self.delete_layer(ctx, input),
            "AddLayerVersionPermission" => self.add_layer_permission(ctx, input),
            "RemoveLayerVersionPermission" => self.remove_layer_permission(ctx, input),
            "GetLayerVersionPolicy" => self.get_layer_policy(ctx, input),
            "PutProvisionedConcurrencyConfig" => self.put_provisioned(ctx, input),
            "GetProvisionedConcurrencyConfig" => self.get_provisioned(ctx, input),
            "DeleteProvisionedConcurrencyConfig" => self.delete_provisioned(ctx, input),
            "ListProvisionedConcurrencyConfigs" => self.list_provisioned(ctx, input),
            "CreateCodeSigningConfig" => self.create_csc(ctx, input),
            "GetCodeSigningConfig" => self.get_csc_op(ctx, input),
            "UpdateCodeSigningConfig" => self.update_csc(ctx, input),
            "DeleteCodeSigningConfig" => self.delete_csc(ctx, input),
            "ListCodeSigningConfigs" => self.list_cscs(ctx, input),
            "PutFunctionCodeSigningConfig" => self.put_function_csc(ctx, input),
            "GetFunctionCodeSigningConfig" => self.get_function_csc(ctx, input),
            "DeleteFunctionCodeSigningConfig" => self.delete_function_csc(ctx, input),
            "ListFunctionsByCodeSigningConfig" => self.list_functions_by_csc(ctx, input),
            "GetFunctionRecursionConfig" => self.get_recursion(ctx, input),
            "PutFunctionRecursionConfig" => self.put_recursion(ctx, input),
            "GetRuntimeManagementConfig" => self.get_runtime_management(ctx, input),
            "PutRuntimeManagementConfig" => self.put_runtime_management(ctx, input),
            "GetFunctionScalingConfig" => self.get_scaling(ctx, input),
            "PutFunctionScalingConfig" => self.put_scaling(ctx, input),
            "CreateCapacityProvider" => self.create_provider(ctx, input),
            "GetCapacityProvider" => self.get_provider_op(ctx, input),
            "UpdateCapacityProvider" => self.update_provider(ctx, input),
            "DeleteCapacityProvider" => self.delete_provider(ctx, input),
            "ListCapacityProviders" => self.list_providers(ctx, input),
            "ListFunctionVersionsByCapacityProvider" => self.list_provider_versions(ctx, input),
            "InvokeWithResponseStream" => self.invoke_op(ctx, input).await,
            "GetDurableExecution" => self.get_durable_op(ctx, input),
            "GetDurableExecutionHistory" => self.durable_history(ctx, input),
            "GetDurableExecutionState" => self.durable_state(ctx, input),
            "ListDurableExecutionsByFunction" => self.list_durables(ctx, input),
            "CheckpointDurableExecution" => self.checkpoint_durable(ctx, input),
            "StopDurableExecution" => self.stop_durable(ctx, input),
            "SendDurableExecutionCallbackSuccess" => self.callback_done(ctx, input, "SUCCEEDED"),
            "SendDurableExecutionCallbackFailure" => self.callback_done(ctx, input, "FAILED"),
            "SendDurableExecutionCallbackHeartbeat" => self.callback_heartbeat(ctx, input),
            _ => return None,
        })
    }

    /// Run one operation on a neutral input (requests and `Service::invoke`).
    pub(crate) async fn call(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        input: &Value,
    ) -> LResult<Done> {
        let v = validate::violations(lambda_model(), op, input);
        if !v.is_empty() {
            return Err(LambdaError::new(
                400,
                "ValidationException",
                validate::message(&v),
            ));
        }
        rt.ensure_loaded(NAME).await;
        match self.dispatch(rt, ctx, op, input).await {
            Some(r) => r,
            None => Err(LambdaError::new(
                501,
                "NotImplemented",
                model::not_implemented_message(NAME, op),
            )),
        }
    }

    async fn handle(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        parts: &Parts,
        body: Body,
    ) -> (Response, &'static str) {
        let query = parse_query(parts.uri.query());
        let has_header = |h: &str| parts.headers.contains_key(h);
        let routed = router().route(&RestRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &query,
            has_header: &has_header,
        });
        let (op, labels) = match routed {
            Ok(m) => {
                let op: &'static str = lambda_model()
                    .operations
                    .get_key_value(m.operation)
                    .map(|(k, _)| k.as_str())
                    .unwrap_or("");
                (op, m.labels)
            }
            Err(e) => return (refusal(e).into_response(&ctx.request_id), "?"),
        };
        let body = match snapstack_protocol::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                let e = LambdaError::new(
                    413,
                    "RequestEntityTooLargeException",
                    format!("Request must be smaller than {MAX_BODY} bytes for the {op} operation"),
                );
                return (e.into_response(&ctx.request_id), op);
            }
        };
        let input = match parse_request(
            lambda_model(),
            op,
            &labels,
            (&parts.method, &parts.uri, &parts.headers),
            &body,
        ) {
            Ok(v) => v,
            Err(e) => {
                return (
                    LambdaError::new(e.status, &e.code, e.message).into_response(&ctx.request_id),
                    op,
                );
            }
        };
        if op == "InvokeWithResponseStream" {
            return (self.invoke_stream(rt, ctx, &input).await, op);
        }
        let done = match self.call(rt, ctx, op, &input).await {
            Ok(d) => d,
            Err(e) => return (e.into_response(&ctx.request_id), op),
        };
        if let Some(v) = done.version
            && let Err(e) = rt.wait_durable(NAME, v).await
        {
            let e = LambdaError::service(format!("The change could not be saved durably: {e}"));
            return (e.into_response(&ctx.request_id), op);
        }
        (reply(op, &done.output, &ctx.request_id), op)
    }

    /// `Code.Location`: the function's zip, unsigned, from this server.
    fn serve_code(&self, parts: &Parts) -> Response {
        let not_found = || {
            (
                StatusCode::NOT_FOUND,
                "The code of this function is not here",
            )
                .into_response()
        };
        // /awslambda-<region>-tasks/snapshots/<account>/<name>-<revision uuid>?code=<sha>
        let path = parts.uri.path();
        let Some(rest) = path.strip_prefix(CODE_PATH) else {
            return not_found();
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let [region_tasks, "snapshots", account, file] = segs.as_slice() else {
            return not_found();
        };
        let Some(region) = region_tasks.strip_suffix("-tasks") else {
            return not_found();
        };
        let dashes: Vec<usize> = file.match_indices('-').map(|(i, _)| i).collect();
        if dashes.len() < 5 {
            return not_found();
        }
        let name = &file[..dashes[dashes.len() - 5]];
        let Some(sha) = parse_query(parts.uri.query())
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| crate::ops::functions::sha_from_url(&v))
        else {
            return not_found();
        };
        let p = Partition::new(*account, region);
        let snap = self.store.snapshot();
        let blob = match snap.get(&keys::function(&p, name)) {
            Some(LambdaRecord::Function(f)) if f.latest.code_sha256 == sha => Some(f.latest.code),
            Some(LambdaRecord::Function(_)) => snap
                .scan_prefix(&keys::versions(&p, name))
                .find_map(|(_, r)| match r {
                    LambdaRecord::Version(v) if v.config.code_sha256 == sha => Some(v.config.code),
                    _ => None,
                }),
            _ => None,
        };
        let Some(blob) = blob else {
            return not_found();
        };
        match crate::blocking(|| crate::code::read(self.engine(), &blob)) {
            Ok(bytes) => {
                let mut r = (StatusCode::OK, bytes).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/zip"),
                );
                r
            }
            Err(e) => e.into_response(""),
        }
    }
}

/// An operation's output, written by the codec.
fn reply(op: &str, output: &Value, request_id: &str) -> Response {
    let rr = match serialize_response(lambda_model(), op, output) {
        Ok(r) => r,
        Err(e) => return LambdaError::service(e.message).into_response(request_id),
    };
    let status = StatusCode::from_u16(rr.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, rr.body).into_response();
    let h = resp.headers_mut();
    for (name, value) in &rr.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rr.content_type.unwrap_or("application/json")),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

impl Service for Lambda {
    fn name(&self) -> &'static str {
        NAME
    }

    fn claims_path(&self, path: &str) -> bool {
        (path.starts_with(CODE_PATH) && path.contains("-tasks/snapshots/"))
            || crate::ops::layers::is_layer_path(path)
    }

    /// Function URLs: `<url-id>.lambda-url.<region>.<host>` and `/_aws/lambda-url/<url-id>/`.
    fn claims_address(&self, host: Option<&str>, path: &str) -> bool {
        crate::urls::addressed(host, path).is_some()
    }

    fn has_own_addresses(&self) -> bool {
        true
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let (ctx, parts) = (call.ctx, call.parts);
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(parts.uri.host());
            if let Some((id, path)) = crate::urls::addressed(host, parts.uri.path()) {
                let body = match call.payload {
                    Payload::Stream(b) => b,
                    Payload::Bytes(b) => b.into(),
                    Payload::Form(_) => Body::empty(),
                };
                let resp = self.serve_url(rt, ctx, parts, body, &id, &path).await;
                return request_log::tag(resp, NAME, "InvokeFunctionUrl");
            }
            if parts.method == Method::GET && crate::ops::layers::is_layer_path(parts.uri.path()) {
                rt.ensure_loaded(NAME).await;
                let resp = match self.layer_zip(parts.uri.path(), parts.uri.query()) {
                    Some(zip) => {
                        let mut r = (StatusCode::OK, zip).into_response();
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/zip"),
                        );
                        r
                    }
                    None => (
                        StatusCode::NOT_FOUND,
                        "The content of this layer is not here",
                    )
                        .into_response(),
                };
                return request_log::tag(resp, NAME, "GetLayerVersionContent");
            }
            if parts.method == Method::GET && self.claims_path(parts.uri.path()) {
                rt.ensure_loaded(NAME).await;
                return request_log::tag(self.serve_code(parts), NAME, "GetFunctionCode");
            }
            let body = match call.payload {
                Payload::Stream(b) => b,
                Payload::Bytes(b) => b.into(),
                Payload::Form(_) => Body::empty(),
            };
            let (resp, op) = self.handle(rt, ctx, parts, body).await;
            request_log::tag(resp, NAME, op)
        })
    }

    /// Lambda for other services (event sources, destinations, SNS subscriptions): the
    /// operation's neutral JSON shape (`Invoke` with `Payload` in base64).
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<(Value, Option<u64>), snapstack_protocol::errors::AwsError>> {
        Box::pin(async move {
            self.call(rt, ctx, operation, &input)
                .await
                .map(|d| (d.output, d.version))
                .map_err(LambdaError::into_aws)
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        LambdaError::service(message.to_string()).into_response(&ctx.request_id)
    }

    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, stop: tokio::sync::watch::Receiver<bool>) {
        let _ = self.runtime.set(rt.clone());
        let reaper = self.clone();
        let mut stop2 = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                let stopped = tokio::select! {
                    _ = tick.tick() => false,
                    _ = stop2.wait_for(|s| *s) => true,
                };
                if stopped {
                    reaper.exec.stop_all();
                    return;
                }
                reaper.exec.reap();
                reaper.keep_provisioned().await;
            }
        });
        tokio::spawn(self.clone().run_mappings(rt.clone(), stop.clone()));
        tokio::spawn(self.clone().run_durables(rt.clone(), stop.clone()));
        tokio::spawn(self.run_queue(rt, stop));
    }

    fn bound(&self, endpoint: &Endpoint) {
        let port = endpoint
            .advertised_host
            .rsplit_once(':')
            .map_or("4566", |(_, p)| p)
            .to_string();
        self.set_place(Where {
            advertised_host: endpoint.advertised_host.clone(),
            internal_url: endpoint
                .internal_url
                .clone()
                .unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
        });
    }
}
