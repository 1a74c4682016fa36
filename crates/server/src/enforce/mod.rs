//! IAM policy enforcement (`ENFORCE_IAM=1`): for every request to a served service, verify its
//! SigV4 signature against the secret of its access key, find who it is, map the operation to
//! its IAM action and resource ARN(s), fetch the resource's own policy, and evaluate with the
//! policy crate's evaluator (explicit deny, identity, resource, boundary and session policies).
//! A denied request is answered AccessDenied in the service's protocol and never reaches it.
//!
//! Off (the default), the gateway never calls into this module: no extra work per request.
//!
//! - `principal.rs`: access key → identity and policies (IAM and STS through `invoke`, cached
//!   against their store versions), and the signing keys derived from its secret.
//! - `access.rs`: last-accessed tracking for IAM's reports (at most one write per identity,
//!   service and minute, off the request's path).
//! - `actions.rs`: operation → IAM action.
//! - `resources.rs`: request → resource ARNs, condition keys, where its resource policy is.
//! - `lookup.rs`: fetching resource policies (cached against the owning store's version), and
//!   the web identity checks.
//!
//! A signed `aws-chunked` S3 upload (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) hands the
//! chunk signature chain (seeded by the verified request signature) to S3 as a request
//! extension; S3's chunked decoder verifies each chunk as it streams.
//! - `service_caller.rs`: calls a service makes as its service principal (SNS and EventBridge
//!   deliveries), decided by the target's resource policy.
//! - `tags.rs`: tags as condition keys (`aws:RequestTag/*`, `aws:TagKeys`,
//!   `aws:ResourceTag/*`), read only when a policy has a condition on them.
//! - `passrole.rs`: the roles a request hands a service, each checked as `iam:PassRole`.
//! - `deny.rs`: refusals in the caller's protocol.
//! - `forward.rs`: calls a service makes for its caller (KMS data keys for S3, SQS, Secrets
//!   Manager), decided as the caller's own (`kms:ViaService`).

mod access;
mod actions;
mod deny;
mod fields;
mod forward;
mod lookup;
mod memo;
mod passrole;
mod principal;
mod resources;
mod service_caller;
mod tags;

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};
use snapstack_policy::sigv4::{self, SigError, SignedRequest};
use snapstack_policy::{
    Caller, Context, Decision, NamedPolicy, Policy, PolicyKind, PolicySet, Request, Source,
    principal_context,
};
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::rest::{RestRequest, RestRouter};
use snapstack_service::{Call, Payload, RequestContext, Service};

use crate::gateway::App;
use deny::Reason;
use principal::{Principals, Resolved};
use resources::{Input, PolicyLookup};

pub use actions::action;

/// The enforcement state: the caches of principals and of resource policies.
#[derive(Default)]
pub struct Enforcer {
    principals: Principals,
    policies: lookup::PolicyCache,
    tags: tags::TagCache,
    accessed: access::Recorder,
    /// `IAM_SOFT_MODE`: what would be refused is logged and let through.
    soft: bool,
    /// The version readers of the stores enforcement reads on every request (IAM's and STS's
    /// for the principal cache, the resource policies' stores for the policy cache), looked
    /// up once.
    stores: std::sync::OnceLock<Stores>,
}

/// The stores whose versions enforcement reads per request.
const READ_STORES: [&str; 8] = [
    "iam",
    "sts",
    "s3",
    "sqs",
    "sns",
    "kms",
    "secretsmanager",
    "lambda",
];

/// [`Enforcer::stores`]: the engine they were read from, and the readers of [`READ_STORES`].
struct Stores {
    engine: std::sync::Weak<snapstack_engine::Engine>,
    readers: [Option<snapstack_engine::engine::VersionReader>; READ_STORES.len()],
}

/// A decoded path segment or query value.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn header(parts: &Parts, name: axum::http::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn router(model: &'static ServiceModel) -> Arc<RestRouter> {
    // By the model's address: a handful of REST models, found by a pointer comparison under a
    // read lock (no hashing on the request path).
    type Routers = Vec<(usize, Arc<RestRouter>)>;
    static ROUTERS: OnceLock<std::sync::RwLock<Routers>> = OnceLock::new();
    let routers = ROUTERS.get_or_init(Default::default);
    let id = std::ptr::from_ref(model) as usize;
    let found = |r: &Routers| r.iter().find(|(m, _)| *m == id).map(|(_, r)| r.clone());
    if let Some(r) = found(&routers.read().unwrap_or_else(|e| e.into_inner())) {
        return r;
    }
    let mut all = routers.write().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = found(&all) {
        return r;
    }
    let r = Arc::new(RestRouter::from_model(model));
    all.push((id, r.clone()));
    r
}

/// The bucket a virtual-hosted-style host names (the same reading as S3's router).
fn virtual_host_bucket(parts: &Parts) -> Option<String> {
    header(parts, axum::http::header::HOST)
        .and_then(snapstack_protocol::request::virtual_host_bucket)
        .map(str::to_string)
}

/// The operation of a REST request and its path labels and query members as input fields.
fn rest_operation(service: &dyn Service, parts: &Parts) -> Option<(String, Map<String, Value>)> {
    let model = service.model();
    let raw = parts.uri.path();
    let path = match (service.name(), virtual_host_bucket(parts)) {
        ("s3", Some(b)) if raw.starts_with('/') => format!("/{b}{raw}"),
        ("s3", Some(b)) => format!("/{b}/{raw}"),
        _ => raw.to_string(),
    };
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect();
    let has_header = |n: &str| parts.headers.contains_key(n);
    let router = router(model);
    let matched = router
        .route(&RestRequest {
            method: parts.method.as_str(),
            path: &path,
            query: &query,
            has_header: &has_header,
        })
        .ok()?;
    let mut fields = Map::new();
    for (k, v) in &query {
        fields.insert(k.clone(), Value::String(v.clone()));
    }
    for (name, raw) in &matched.labels {
        fields.insert(name.to_string(), Value::String(decode(raw)));
    }
    Some((matched.operation.to_string(), fields))
}

/// The members enforcement reads from a JSON or CBOR body (`Kinesis` from the Java SDK and
/// the KCL, `rpc-v2-cbor` services), by the operation's input shape for CBOR.
fn body_fields(
    model: &ServiceModel,
    operation: Option<&str>,
    parts: &Parts,
    body: &[u8],
) -> Map<String, Value> {
    // A JSON object starts with `{`: no need to look at the content type.
    if body.first() == Some(&b'{') || !snapstack_protocol::codec::cbor::is_cbor(&parts.headers) {
        return fields::json_fields(body, resources::reads);
    }
    let Some(operation) = operation else {
        return Map::new();
    };
    match snapstack_protocol::codec::cbor::parse_input(model, operation, body) {
        Ok(Value::Object(members)) => members
            .into_iter()
            .filter(|(k, _)| resources::reads(k))
            .collect(),
        // The service refuses what does not decode.
        _ => Map::new(),
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether the request carries a SigV4 or SigV4a signature (header or presigned query).
fn sigv4_signed(parts: &Parts) -> bool {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .is_some_and(|a| {
            a.as_bytes().starts_with(sigv4::ALGORITHM.as_bytes())
                || a.as_bytes()
                    .starts_with(snapstack_policy::sigv4a::ALGORITHM.as_bytes())
        })
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature="))
}

/// Whether the request carries any signature (SigV2 forms included).
fn any_signature(parts: &Parts) -> bool {
    parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
        || parts.uri.query().is_some_and(|q| {
            q.contains("X-Amz-Signature=")
                || q.contains("Signature=") && q.contains("AWSAccessKeyId=")
        })
}

impl Enforcer {
    pub fn new() -> Self {
        Enforcer::default()
    }

    /// An enforcer that, in soft mode (`IAM_SOFT_MODE`), logs what it would refuse and lets it
    /// through.
    pub fn with_soft_mode(soft: bool) -> Self {
        Enforcer {
            soft,
            ..Enforcer::default()
        }
    }

    /// Whether refusals are only logged (`IAM_SOFT_MODE`).
    pub fn soft(&self) -> bool {
        self.soft
    }

    /// In soft mode, log a refusal of `operation` of `service` (`why`) that is let through;
    /// `false` (nothing logged) when refusals stand.
    fn let_through(&self, service: &str, operation: Option<&str>, why: &str) -> bool {
        if self.soft {
            tracing::warn!(
                target: "snapstack::iam",
                service,
                operation = operation.unwrap_or(""),
                "IAM_SOFT_MODE: let through a request that enforcement would refuse: {why}"
            );
        }
        self.soft
    }

    /// Decide `call` and serve it if allowed. `raw_body` is the request body as received when
    /// the gateway read it (JSON, CBOR and query requests).
    pub async fn serve(
        &self,
        app: &App,
        service: &Arc<dyn Service>,
        call: Call<'_>,
        raw_body: Option<&Bytes>,
    ) -> Response {
        let parts = call.parts;
        let ctx = call.ctx;
        let name = service.name();
        // One reading of the clock per request: signature skew, expiry, last access, context.
        let now = now_secs();
        let head = parts.method == Method::HEAD;
        // The body: REST services other than S3 (whose bodies stream and are covered by
        // `x-amz-content-sha256`) are read here so their hash can be checked.
        let mut payload = call.payload;
        let mut read_body: Option<Bytes> = None;
        if name != "s3"
            && let Payload::Stream(body) = payload
        {
            match crate::gateway::read_body(body, &parts.headers).await {
                Ok(b) => {
                    read_body = Some(b.clone());
                    payload = Payload::Bytes(b);
                }
                Err(e) => {
                    return deny::error(service.as_ref(), ctx, head, &e.code, &e.message, e.status);
                }
            }
        }
        let is_rest = crate::registry::service_is_rest(service.as_ref());
        // A JSON body the service would parse whole anyway is parsed whole here, once: its
        // members are read from that value, which the service then takes (`Call::parsed`).
        let parsed: Option<Value> = match &payload {
            Payload::Bytes(b) if !is_rest && b.first() == Some(&b'{') => service
                .reuses_parsed_json()
                .then(|| serde_json::from_slice::<Value>(b).ok())
                .flatten()
                .filter(Value::is_object),
            _ => None,
        };
        // A REST service that matches its requests itself (S3) is asked to: its reading is
        // handed back to it, so the request is matched once.
        let mut routed: Option<Box<dyn std::any::Any + Send>> = None;
        // Hand the request on to its service, with what was read of it here.
        macro_rules! pass {
            ($ctx:expr, $parts:expr, $operation:expr) => {
                Self::pass(
                    app,
                    service,
                    Call {
                        ctx: $ctx,
                        parts: $parts,
                        operation: $operation,
                        payload,
                        parsed,
                        routed,
                    },
                )
                .await
            };
        }
        let (operation, own_fields) = if is_rest {
            let own = service.route(parts).map(|r| {
                routed = Some(r.state);
                (std::borrow::Cow::Borrowed(r.operation), r.members)
            });
            match own.or_else(|| {
                rest_operation(service.as_ref(), parts)
                    .map(|(op, fields)| (std::borrow::Cow::Owned(op), fields))
            }) {
                Some((op, mut fields)) => {
                    if let Some(b) = read_body.as_ref().filter(|b| !b.is_empty()) {
                        for (k, v) in fields::json_fields(b, resources::reads) {
                            fields.entry(k).or_insert(v);
                        }
                    }
                    (Some(op), fields)
                }
                None => (None, Map::new()),
            }
        } else {
            let fields = match &payload {
                Payload::Form(Ok(params)) => params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
                Payload::Bytes(_) if parsed.is_some() => Map::new(),
                Payload::Bytes(b) => body_fields(service.model(), call.operation, parts, b),
                _ => Map::new(),
            };
            (call.operation.map(std::borrow::Cow::Borrowed), fields)
        };
        let fields = parsed
            .as_ref()
            .and_then(Value::as_object)
            .unwrap_or(&own_fields);
        let rest_claimed = || app.services.rest_claiming_path(parts.uri.path()).is_some();
        let Some(operation) = operation else {
            // Not an operation of the model: the service refuses it without acting.
            return pass!(ctx, parts, call.operation);
        };
        let pass_unsigned = actions::unsigned_allowed(name, &operation);

        // Who is asking.
        let mut chunk_chain: Option<sigv4::ChunkVerifier> = None;
        let resolved: Option<Arc<Resolved>> = if sigv4_signed(parts) {
            let mut hex = [0u8; 64];
            let body_hash = match (raw_body, &payload) {
                (Some(b), _) | (None, Payload::Bytes(b)) => sigv4::sha256_hex_to(b, &mut hex),
                _ => sigv4::EMPTY_SHA256,
            };
            match self.authenticate(app, ctx, parts, body_hash, now).await {
                Ok((r, chain)) => {
                    chunk_chain = chain;
                    Some(r)
                }
                Err(e) => {
                    if self.let_through(name, Some(&operation), &refusal_text(&e, name == "s3")) {
                        return pass!(ctx, parts, call.operation);
                    }
                    return Self::sig_refusal(service.as_ref(), ctx, head, &e);
                }
            }
        } else if any_signature(parts) && !pass_unsigned {
            // SigV2 cannot be verified here: only the default root credentials may use it.
            let key = &ctx.access_key;
            if principal::aws_format(key) {
                if self.let_through(name, Some(&operation), "a SigV2 signature") {
                    return pass!(ctx, parts, call.operation);
                }
                let s3 = name == "s3";
                return deny::error(
                    service.as_ref(),
                    ctx,
                    head,
                    if s3 {
                        "AccessDenied"
                    } else {
                        "IncompleteSignature"
                    },
                    "Only Signature Version 4 requests are accepted when ENFORCE_IAM is on",
                    StatusCode::FORBIDDEN,
                );
            }
            Some(Arc::new(Resolved::new(
                None,
                None,
                None,
                principal::root(ctx.account()),
            )))
        } else {
            None
        };

        if name == "sts" && operation == "AssumeRoleWithWebIdentity" {
            if let Err(resp) = lookup::web_identity(app, service.as_ref(), ctx, fields).await
                && !self.let_through(name, Some(&operation), "the web identity token's checks")
            {
                return resp;
            }
            return pass!(ctx, parts, call.operation);
        }
        if pass_unsigned && resolved.is_none() {
            return pass!(ctx, parts, call.operation);
        }
        let anonymous = Caller::Anonymous;
        let (caller, principal) = match &resolved {
            Some(r) => (&r.principal.caller, Some(&r.principal)),
            // Unsigned: S3 answers anonymous requests by its bucket policies, a URL a REST
            // service handed out is its own authorization, anything else needs a signature.
            None if name == "s3" => (&anonymous, None),
            None if is_rest && rest_claimed() => {
                return pass!(ctx, parts, call.operation);
            }
            None => {
                let e = Refusal::Sig(SigError::NotSigned);
                if self.let_through(name, Some(&operation), &refusal_text(&e, false)) {
                    return pass!(ctx, parts, call.operation);
                }
                return Self::sig_refusal(service.as_ref(), ctx, head, &e);
            }
        };
        // The request acts in the identity's account.
        let own_ctx;
        let ctx = match principal {
            Some(p) if !p.account.is_empty() && p.account != ctx.account() => {
                let mut c = ctx.clone();
                c.partition.account = p.account.clone();
                own_ctx = c;
                &own_ctx
            }
            _ => ctx,
        };
        let allowed_outright = actions::always_allowed(name, &operation)
            || principal.is_some_and(|p| p.root && p.session.is_empty());
        let versioned = fields.contains_key("versionId");
        let action = actions::action(name, &operation, versioned);
        if let Some(r) = resolved.as_deref() {
            // Every authenticated attempt counts as an access, allowed or not (as AWS's
            // last-accessed data has it).
            self.accessed
                .record(app, ctx, r, actions::prefix(name), &action, now);
        }
        if !allowed_outright {
            let input = Input {
                fields,
                region: ctx.region(),
                account: ctx.account(),
            };
            let target = resources::target(name, &operation, &input);
            let resource_policy = match &target.policy {
                Some(l) => {
                    let version = self.store_version(app, l.store());
                    self.policies.get(app, ctx, l, version).await
                }
                None => None,
            };
            let resource_policy_arc = resource_policy;
            let resource_policy = resource_policy_arc.as_deref();
            let resource_document = resource_policy.and_then(|p| p.policy.as_ref());
            // The request's condition keys, built only when a policy can read them.
            let reads_context = resolved.as_deref().is_none_or(Resolved::reads_context)
                || resource_document.is_some_and(Policy::reads_context);
            let mut context = if !reads_context {
                Context::default()
            } else {
                let mut context = match resolved.as_deref() {
                    Some(r) => r.context().clone(),
                    None => principal_context(caller, "", &[]),
                };
                Self::request_context(&mut context, parts, ctx, now);
                for (k, v) in &target.context {
                    context.insert(k, v.clone());
                }
                let tagging = (name == "s3")
                    .then(|| header(parts, axum::http::HeaderName::from_static("x-amz-tagging")))
                    .flatten();
                let (request_tags, tag_keys) = tags::of_request(fields, tagging);
                tags::insert_request(&mut context, &request_tags, &tag_keys);
                context
            };
            // The resource's tags, read only when a policy has a condition on them.
            let read_resource_tags = reads_context
                && tags::read_resource_tags(
                    principal
                        .into_iter()
                        .flat_map(principal::Principal::policies)
                        .chain(resource_document),
                );
            let last = target.resources.len().saturating_sub(1);
            for (i, resource) in target.resources.iter().enumerate() {
                let resource: &str = match (resource_policy, &target.policy) {
                    // A key or secret named by alias or name: the ARN its service gives.
                    (Some(p), Some(PolicyLookup::KmsKey(_) | PolicyLookup::Secret(_))) => {
                        p.arn.as_deref().unwrap_or(resource)
                    }
                    _ => resource,
                };
                let required = target.policy.as_ref().is_some_and(PolicyLookup::required);
                let resource_tags = if read_resource_tags {
                    let versions = |store: &str| self.store_version(app, store);
                    let lookup = target.policy.as_ref();
                    Some(
                        self.tags
                            .get(app, ctx, name, resource, lookup, versions)
                            .await,
                    )
                } else {
                    None
                };
                let mut decide_now = || {
                    let mut req = Request::new(caller.clone(), &action, resource);
                    req.context = if i == last {
                        std::mem::take(&mut context)
                    } else {
                        context.clone()
                    };
                    if let Some(t) = &resource_tags {
                        tags::insert_resource(&mut req.context, t);
                    }
                    req.resource_account = resources::account_of(resource)
                        .map(str::to_string)
                        .or_else(|| Some(ctx.account().to_string()));
                    decide(&req, principal, resource_document, required)
                };
                let decision = match resolved.as_deref() {
                    // Nothing reads the request's context: the decision is the identity's
                    // answer to (action, resource, resource policy, account), remembered;
                    // for an S3 object, of its whole bucket when every policy decides all
                    // the bucket's objects alike.
                    Some(r) if !reads_context => {
                        let question = memo::Question {
                            action: &action,
                            resource,
                            account: ctx.account(),
                            policy: resource_policy_arc.as_ref(),
                            required,
                            under: false,
                        };
                        let bucket = s3_object_prefix(resource).filter(|_| name == "s3");
                        let whole_bucket = bucket.and_then(|prefix| {
                            let under = memo::Question {
                                resource: prefix,
                                under: true,
                                ..question
                            };
                            r.decisions.get_or_decide_under(&under, || {
                                alike_under(&r.principal, resource_document, prefix)
                                    .then(&mut decide_now)
                            })
                        });
                        match whole_bucket {
                            Some(decision) => decision,
                            None => r.decisions.get_or_decide(&question, decide_now),
                        }
                    }
                    _ => decide_now(),
                };
                if let Some(reason) = decision {
                    let who = principal.map_or("anonymous", |p| p.arn.as_str());
                    let msg = deny::message(who, &action, resource, reason);
                    if self.let_through(name, Some(&operation), &msg) {
                        continue;
                    }
                    let resp = deny::access_denied(service.as_ref(), ctx, head, &msg);
                    return snapstack_protocol::request_log::tag(resp, name, &operation);
                }
            }
        }
        // A role handed to the service must be the caller's to pass (`iam:PassRole`).
        if !allowed_outright
            && let Some(p) = principal
            && let Some((to, roles)) = passrole::passed(name, &operation, fields)
        {
            for role in &roles {
                let mut req = Request::new(caller.clone(), "iam:PassRole", role);
                let mut context = resolved
                    .as_deref()
                    .map(|r| r.context().clone())
                    .unwrap_or_default();
                Self::request_context(&mut context, parts, ctx, now);
                context.insert("iam:PassedToService", to);
                req.context = context;
                req.resource_account = resources::account_of(role).map(str::to_string);
                if let Some(reason) = decide(&req, Some(p), None, false) {
                    let msg = deny::message(&p.arn, "iam:PassRole", role, reason);
                    if self.let_through(name, Some(&operation), &msg) {
                        continue;
                    }
                    let resp = deny::access_denied(service.as_ref(), ctx, head, &msg);
                    return snapstack_protocol::request_log::tag(resp, name, &operation);
                }
            }
        }
        if let Some(chain) = chunk_chain
            && name == "s3"
        {
            // A signed aws-chunked upload: S3's decoder verifies each chunk along the chain
            // that starts at the seed signature verified here.
            let mut parts = parts.clone();
            parts.extensions.insert(chain);
            return pass!(ctx, &parts, call.operation);
        }
        pass!(ctx, parts, call.operation)
    }

    async fn pass(app: &App, service: &Arc<dyn Service>, call: Call<'_>) -> Response {
        service.serve(app.runtime.as_ref(), call).await
    }

    /// The global condition keys of the request itself.
    fn request_context(context: &mut Context, parts: &Parts, ctx: &RequestContext, now: i64) {
        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>()
        {
            context.insert("aws:SourceIp", peer.ip().to_string());
        }
        common_context(context, ctx, now, false, false);
        if let Some(ua) = header(parts, axum::http::header::USER_AGENT) {
            context.insert("aws:UserAgent", ua);
        }
    }

    /// Verify the signature and resolve its key; with the chunk signature chain of a signed
    /// `aws-chunked` body (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`).
    async fn authenticate(
        &self,
        app: &App,
        ctx: &RequestContext,
        parts: &Parts,
        body_hash: &str,
        now: i64,
    ) -> Result<(Arc<Resolved>, Option<sigv4::ChunkVerifier>), Refusal> {
        let key = ctx.access_key.as_str();
        let versions = |store: &str| self.store_version(app, store);
        let resolved = self
            .principals
            .resolve(app.runtime.as_ref(), ctx, key, &versions)
            .await
            .map_err(|_| Refusal::Sig(SigError::UnknownAccessKey(key.to_string())))?;
        if resolved.secret.is_none() {
            return Ok((resolved, None));
        }
        // The headers as sent, values as bytes: verification checks for UTF-8 only the ones
        // it reads.
        let mut headers: Vec<(&str, &[u8])> = Vec::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            headers.push((name.as_str(), value.as_bytes()));
        }
        let path = parts.uri.path();
        let req = SignedRequest {
            method: parts.method.as_str(),
            path,
            query: parts.uri.query().unwrap_or(""),
            headers: (&headers).into(),
            payload_hash: body_hash,
        };
        let verified = sigv4::verify_with(&req, now, |s| {
            if s.asymmetric {
                resolved
                    .sigv4a_key(s.access_key)
                    .map(sigv4::VerifyKey::Ecdsa)
            } else {
                resolved
                    .signing_key(s.date, s.region, s.service)
                    .map(sigv4::VerifyKey::Hmac)
            }
        })
        .map_err(Refusal::Sig)?;
        if let Some(token) = &resolved.session_token
            && verified.security_token.as_deref() != Some(token.as_str())
        {
            return Err(Refusal::BadToken);
        }
        if let Some(exp) = resolved.expires_ms
            && (now as u64).saturating_mul(1000) >= exp
        {
            return Err(Refusal::Expired);
        }
        let chain = verified.signed_chunks().then(|| verified.chunks());
        Ok((resolved, chain))
    }

    /// A store's current version: through readers looked up once for [`READ_STORES`].
    fn store_version(&self, app: &App, store: &str) -> Option<u64> {
        let engine = &app.blob_engine;
        let stores = self.stores.get_or_init(|| Stores {
            engine: Arc::downgrade(engine),
            readers: READ_STORES.map(|s| engine.version_reader(s).ok()),
        });
        let reader = if std::ptr::eq(stores.engine.as_ptr(), Arc::as_ptr(engine)) {
            READ_STORES
                .iter()
                .position(|s| *s == store)
                .and_then(|i| stores.readers[i].as_ref())
        } else {
            None
        };
        match reader {
            Some(r) => Some(r.get()),
            None => engine.version(store).ok(),
        }
    }

    fn sig_refusal(
        service: &dyn Service,
        ctx: &RequestContext,
        head: bool,
        e: &Refusal,
    ) -> Response {
        let s3 = service.name() == "s3";
        let json = !s3 && service.model().metadata.protocol != "query";
        let (code, message, status) = match e {
            Refusal::Sig(e) => {
                let status = match e {
                    SigError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
                    SigError::Incomplete(_) | SigError::BadExpires if !s3 => {
                        StatusCode::BAD_REQUEST
                    }
                    SigError::Incomplete(_) | SigError::BadExpires | SigError::ScopeDate => {
                        StatusCode::BAD_REQUEST
                    }
                    _ => StatusCode::FORBIDDEN,
                };
                (e.code(s3).to_string(), e.message(s3), status)
            }
            Refusal::Expired => (
                if json {
                    "ExpiredTokenException"
                } else {
                    "ExpiredToken"
                }
                .to_string(),
                "The security token included in the request is expired".to_string(),
                if s3 {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::FORBIDDEN
                },
            ),
            Refusal::BadToken if s3 => (
                "InvalidToken".to_string(),
                "The provided token is malformed or otherwise invalid.".to_string(),
                StatusCode::BAD_REQUEST,
            ),
            Refusal::BadToken => (
                if json {
                    "UnrecognizedClientException"
                } else {
                    "InvalidClientTokenId"
                }
                .to_string(),
                "The security token included in the request is invalid.".to_string(),
                StatusCode::FORBIDDEN,
            ),
        };
        let code = match (code.as_str(), json) {
            ("InvalidClientTokenId", true) => "UnrecognizedClientException".to_string(),
            _ => code,
        };
        deny::error(service, ctx, head, &code, &message, status)
    }
}

/// The global condition keys every decision has, from a request or a service's call: the
/// transport, whether a service made the call with the caller's credentials, the time, the
/// Region.
fn common_context(
    context: &mut Context,
    ctx: &RequestContext,
    now: i64,
    secure_transport: bool,
    via_aws_service: bool,
) {
    context.insert("aws:SecureTransport", secure_transport.to_string());
    context.insert("aws:ViaAWSService", via_aws_service.to_string());
    context.insert("aws:EpochTime", now.to_string());
    context.insert("aws:CurrentTime", iso_time(now));
    context.insert("aws:RequestedRegion", ctx.region());
}

/// `aws:CurrentTime` of epoch seconds: `YYYY-MM-DDTHH:MM:SSZ`.
fn iso_time(now: i64) -> String {
    let t = sigv4::amz_date(now);
    // YYYYMMDDTHHMMSSZ → YYYY-MM-DDTHH:MM:SSZ
    match (
        t.get(0..4),
        t.get(4..6),
        t.get(6..8),
        t.get(9..11),
        t.get(11..13),
        t.get(13..15),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            format!("{y}-{mo}-{d}T{h}:{mi}:{s}Z")
        }
        _ => String::new(),
    }
}

/// A refusal as its error code and message say it (for soft mode's log).
fn refusal_text(e: &Refusal, s3: bool) -> String {
    match e {
        Refusal::Sig(e) => format!("{}: {}", e.code(s3), e.message(s3)),
        Refusal::Expired => {
            "ExpiredToken: the security token included in the request is expired".to_string()
        }
        Refusal::BadToken => {
            "InvalidToken: the security token included in the request is invalid".to_string()
        }
    }
}

/// Why a signed request was refused before its policies were looked at.
#[derive(Debug)]
enum Refusal {
    Sig(SigError),
    Expired,
    BadToken,
}

/// `arn:aws:s3:::bucket/` of an object's ARN (`arn:aws:s3:::bucket/key`).
fn s3_object_prefix(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("arn:aws:s3:::")?;
    let slash = rest.find('/')?;
    Some(&resource[.."arn:aws:s3:::".len() + slash + 1])
}

/// Whether every policy of `principal` and the resource's policy decide all the resources
/// under `prefix` alike (conditions aside: asked only when no policy reads the context).
fn alike_under(principal: &principal::Principal, resource: Option<&Policy>, prefix: &str) -> bool {
    principal
        .policies()
        .chain(resource)
        .all(|p| p.resources_alike_under(prefix))
}

/// An identity policy that allows everything: used to ask whether a resource policy that must
/// grant (a KMS key policy, a trust policy) grants by itself or delegates to the account.
fn allow_all() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            PolicyKind::Managed,
        )
        .expect("a valid policy")
    })
}

/// Decide one request; `None` allows, else why it is denied.
fn decide(
    req: &Request,
    principal: Option<&principal::Principal>,
    resource_policy: Option<&Policy>,
    resource_policy_required: bool,
) -> Option<Reason> {
    let mut set = PolicySet::default();
    if let Some(p) = principal {
        set.identity = p
            .identity
            .iter()
            .map(|(id, policy)| NamedPolicy { id, policy })
            .collect();
        set.permissions_boundary = p
            .boundary
            .as_ref()
            .map(|(id, policy)| NamedPolicy { id, policy });
        set.session = p
            .session
            .iter()
            .map(|(id, policy)| NamedPolicy { id, policy })
            .collect();
    }
    if let Some(policy) = resource_policy {
        set.resource = vec![NamedPolicy {
            id: "resource",
            policy,
        }];
    }
    let eval = snapstack_policy::evaluate(req, &set);
    match eval.decision {
        Decision::ExplicitDeny => {
            let source = eval.matched.first().map_or(Source::Identity, |m| m.source);
            return Some(Reason::ExplicitDeny(source));
        }
        Decision::Allow if !resource_policy_required => return None,
        Decision::Allow => {
            // The resource policy must grant or delegate: asked as across accounts (where
            // a statement naming the caller's account counts as naming it) of an identity that
            // may do anything, it must allow.
            let mut across = req.clone();
            across.resource_account = Some("resource-policy-check".to_string());
            let req = &across;
            let mut open = set.clone();
            open.identity = vec![NamedPolicy {
                id: "all",
                policy: allow_all(),
            }];
            open.permissions_boundary = None;
            open.session = Vec::new();
            if resource_policy.is_none()
                || snapstack_policy::evaluate(req, &open).decision != Decision::Allow
            {
                return Some(Reason::NoAllow(Source::Resource));
            }
            return None;
        }
        Decision::ImplicitDeny => {}
    }
    // Which kind of policy failed to allow, for the message.
    let only = |s: PolicySet<'_>| snapstack_policy::evaluate(req, &s).decision == Decision::Allow;
    let identity_only = PolicySet {
        identity: set.identity.clone(),
        ..PolicySet::default()
    };
    let cross_account = req
        .resource_account
        .as_deref()
        .zip(principal.map(|p| p.account.as_str()))
        .is_some_and(|(r, a)| r != a);
    if principal.is_none() || (!only(identity_only) && !principal.is_some_and(|p| p.root)) {
        if cross_account && principal.is_some_and(|p| p.root) {
            return Some(Reason::NoAllow(Source::Resource));
        }
        return Some(Reason::NoAllow(Source::Identity));
    }
    if set.permissions_boundary.is_some() {
        let with_boundary = PolicySet {
            identity: set.identity.clone(),
            permissions_boundary: set.permissions_boundary,
            ..PolicySet::default()
        };
        if !only(with_boundary) {
            return Some(Reason::NoAllow(Source::PermissionsBoundary));
        }
    }
    if !set.session.is_empty() {
        let with_session = PolicySet {
            identity: set.identity.clone(),
            session: set.session.clone(),
            ..PolicySet::default()
        };
        if !only(with_session) {
            return Some(Reason::NoAllow(Source::Session));
        }
    }
    Some(Reason::NoAllow(Source::Resource))
}

/// A JSON object's members (tests build input fields with `json!`).
#[cfg(test)]
fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

#[cfg(test)]
mod tests;
