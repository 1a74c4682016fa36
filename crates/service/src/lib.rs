//! snapstack-service: the contract between a service and the runtime that serves it.
//!
//! A service is its records and its behaviour. It declares its model (which gives it the wire:
//! target prefix, signing name, protocol, operations), registers its stores with the engine,
//! serves calls the gateway routed to it, and may run background tasks. It knows nothing of
//! files (the engine keeps its stores) or of sockets (the server owns them); what it needs of
//! persistence at run time (a lazy load, waiting for a write to be durable) it asks of the
//! [`Runtime`].
//!
//! This crate is the only thing a service crate and the server share besides the engine and the
//! protocol crates; adding a service is a crate implementing [`Service`] and one line in the
//! server's registry.

mod context;
pub mod describe;
pub mod envelope;
pub mod http_client;
pub mod kms;
pub mod matcher;
pub mod metrics;
pub mod reply;
pub mod schedule;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use context::RequestContext;
use snapstack_engine::Engine;
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::request::NotUtf8;
use snapstack_protocol::response::Response;

/// A boxed future, as the service trait returns (object-safe async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a service answered: the body, its content type, and the store version a mutation
/// produced (`None` when the request changed nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Handled {
    pub body: String,
    pub content_type: &'static str,
    pub write_version: Option<u64>,
}

/// What an operation of a JSON-protocol service answered: its output in the neutral JSON shape
/// (`snapstack_protocol::codec`), which [`reply::finish_json`] writes by the model, and the
/// store version a mutation produced (`None` when the request changed nothing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    pub value: serde_json::Value,
    pub write_version: Option<u64>,
}

impl Output {
    /// An output that changed nothing.
    pub fn read(value: serde_json::Value) -> Self {
        Output {
            value,
            write_version: None,
        }
    }

    /// An output of a request that produced this store version (if any).
    pub fn write(value: serde_json::Value, write_version: Option<u64>) -> Self {
        Output {
            value,
            write_version,
        }
    }
}

/// A request's payload as the gateway hands it over, by the protocol the client spoke.
pub enum Payload {
    /// REST protocols: the body, still streaming (an S3 object body is never buffered).
    Stream(Body),
    /// JSON and CBOR protocols: the whole body (bounded by the gateway).
    Bytes(Bytes),
    /// The query protocol: the query string's and the form body's parameters, or the first one
    /// that is not UTF-8 once decoded.
    Form(Result<Vec<(String, String)>, NotUtf8>),
}

/// One call of a service.
pub struct Call<'a> {
    pub ctx: &'a RequestContext,
    pub parts: &'a Parts,
    /// The operation the request names (`X-Amz-Target`, query `Action`, the CBOR path); `None`
    /// when it names none, as REST requests do (the service's router finds theirs).
    pub operation: Option<&'a str>,
    pub payload: Payload,
    /// A JSON body already parsed before the service was called (by IAM enforcement, which
    /// reads its members): exactly what `serde_json::from_slice::<Value>` gives for the body
    /// bytes, handed over so that they are not parsed twice. Only given to a service that
    /// [`Service::reuses_parsed_json`], and only when the body parses; `None` otherwise.
    pub parsed: Option<serde_json::Value>,
    /// The service's own matching of this request ([`Routed::state`]), made before the
    /// service was called (by IAM enforcement, through [`Service::route`]) and handed back so
    /// that the request is not matched twice; `None` otherwise.
    pub routed: Option<Box<dyn std::any::Any + Send>>,
}

/// A REST request matched to its operation by its service's own router ([`Service::route`]).
pub struct Routed {
    /// The operation of the model.
    pub operation: &'static str,
    /// The input members its path labels and query parameters give, decoded, by label name
    /// and parameter name: what IAM enforcement reads resource names from.
    pub members: serde_json::Map<String, serde_json::Value>,
    /// The service's own reading of the request, handed back to it in [`Call::routed`].
    pub state: Box<dyn std::any::Any + Send>,
}

/// A service acting on its own ([`Runtime::invoke_as_service`]): its service principal, and
/// the resource it acts for (the topic, the rule) with that resource's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceCaller<'a> {
    /// `sns.amazonaws.com`, `events.amazonaws.com`.
    pub principal: &'a str,
    /// `aws:SourceArn`.
    pub source_arn: &'a str,
    /// `aws:SourceAccount`.
    pub source_account: &'a str,
}

/// What the persistence runtime offers a service while it serves.
pub trait Runtime: Send + Sync {
    /// Load the service's state if the load strategy deferred it (`LOAD_STRATEGY=ON_REQUEST`).
    fn ensure_loaded<'a>(&'a self, service: &'static str) -> BoxFuture<'a, ()>;
    /// Wait until the store version a write produced is durable (`SAVE_STRATEGY=ON_REQUEST`);
    /// immediate under other strategies.
    fn wait_durable<'a>(
        &'a self,
        service: &'static str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Whether the service's state is in memory (loaded, or nothing to load): background tasks
    /// wait for it before they act on the state.
    fn is_ready(&self, service: &str) -> bool;

    /// Run an operation of another registered service, as AWS's own integrations do (SNS
    /// delivering to SQS, EventBridge targets, Lambda event sources): input and output in the
    /// neutral JSON shape (`snapstack_protocol::codec`), the caller's context (account and
    /// region) passed on. The target's state is loaded first and the answer waits until the
    /// change is durable, as for a request. An unknown service is `ResourceNotFoundException`.
    fn invoke<'a>(
        &'a self,
        ctx: &'a RequestContext,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>>;

    /// [`Runtime::invoke`] on behalf of the request's caller, by the service `via` while it
    /// serves that caller's request (S3 asking KMS for an object's data key during PutObject):
    /// what AWS calls a forward access session. With IAM enforcement on, the caller must be
    /// allowed `<service>:<operation>` on what the call names, with `kms:ViaService` and
    /// `kms:CallerAccount` in the request's context, or the call fails with
    /// `AccessDeniedException` without reaching the service. Without enforcement it is
    /// [`Runtime::invoke`].
    /// [`Runtime::invoke`] by a service acting on its own, as its service principal (SNS
    /// delivering to a subscribed queue or function, an EventBridge rule to its target): with
    /// IAM enforcement on, the target's resource policy (queue, topic or function policy) must
    /// allow `caller.principal` the call, with `aws:SourceArn` and `aws:SourceAccount` in the
    /// context, or the call fails with `AccessDenied` (403) without reaching the service, as in
    /// AWS, where such a delivery fails until the target's policy lets the service in. Without
    /// enforcement it is [`Runtime::invoke`].
    fn invoke_as_service<'a>(
        &'a self,
        ctx: &'a RequestContext,
        caller: ServiceCaller<'a>,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
        let _ = caller;
        self.invoke(ctx, service, operation, input)
    }

    fn invoke_for_caller<'a>(
        &'a self,
        ctx: &'a RequestContext,
        via: &'a str,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
        let _ = via;
        self.invoke(ctx, service, operation, input)
    }
}

/// Settings the server resolves once it is bound (advertised host and port).
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    /// `host:port` that URLs handed out name (`LOCALSTACK_HOST`).
    pub advertised_host: String,
    /// A URL on which this server is reachable from processes on this machine
    /// (`http://127.0.0.1:<port>`): what Lambda functions are given as `AWS_ENDPOINT_URL`.
    pub internal_url: Option<String>,
}

/// A service of the emulator.
pub trait Service: Send + Sync + 'static {
    /// The service's name: its store's name, its model's file name, its name in
    /// `/_localstack/health` (`s3`, `sqs`, `dynamodb`, ...).
    fn name(&self) -> &'static str;

    /// The service's model.
    fn model(&self) -> &'static ServiceModel {
        snapstack_protocol::model::named(self.name())
            .expect("every registered service has an embedded model")
    }

    /// SigV4 signing names that address this service besides the model's `signingName` (or
    /// `endpointPrefix`): S3 is also signed as `s3express` and `s3-object-lambda`.
    fn extra_signing_names(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether a request that names no service and no operation, with this path, is this
    /// service's (SQS queue URLs `/<account>/<queue>`). REST services of the registry's first
    /// REST entry get the rest.
    fn claims_path(&self, _path: &str) -> bool {
        false
    }

    /// Whether a request is this service's by its address alone (the `Host` header without
    /// regard to its port, and the path), whatever its signature, headers or body: Lambda's
    /// function URLs (`<url-id>.lambda-url.<region>.<host>`). Such a request reaches `serve`
    /// with its body still streaming and no operation.
    fn claims_address(&self, _host: Option<&str>, _path: &str) -> bool {
        false
    }

    /// Whether this service has addresses of its own at all ([`Service::claims_address`] can
    /// answer true): the gateway asks only these services, so the others cost nothing per
    /// request.
    fn has_own_addresses(&self) -> bool {
        false
    }

    /// Whether the service parses its JSON body with `serde_json::from_slice::<Value>` first
    /// and so takes [`Call::parsed`] instead when it is given.
    fn reuses_parsed_json(&self) -> bool {
        false
    }

    /// A REST service's own matching of a request to an operation of its model, without
    /// acting on it (IAM enforcement asks before it decides, and hands [`Routed::state`] back
    /// in [`Call::routed`]); `None` when the service does not offer it or the request matches
    /// no operation (enforcement then reads the request with the model's router, and the
    /// service refuses it as it would).
    fn route(&self, _parts: &Parts) -> Option<Routed> {
        None
    }

    /// Register the service's stores with the engine that persists them (with persistence off,
    /// an in-memory engine: S3 bodies live in its chunk store).
    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()>;

    /// Serve one call.
    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response>;

    /// Run an operation for another service ([`Runtime::invoke`]): input and output in the
    /// neutral JSON shape, and the store version a change produced (the runtime waits for it
    /// to be durable). Services that others call implement it; the default refuses.
    fn invoke<'a>(
        &'a self,
        _rt: &'a dyn Runtime,
        _ctx: &'a RequestContext,
        operation: &'a str,
        _input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        let message = snapstack_protocol::model::not_implemented_message(self.name(), operation);
        Box::pin(async move {
            Err(AwsError::new("NotImplemented", message)
                .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED))
        })
    }

    /// The 500 in this service's shape, for a call whose handler panicked.
    fn internal_error(&self, ctx: &RequestContext, parts: &Parts, message: &str) -> Response;

    /// Start background tasks (sweepers, deliveries, timers). They run until `stop` turns true.
    fn start(self: Arc<Self>, _rt: Arc<dyn Runtime>, _stop: tokio::sync::watch::Receiver<bool>) {}

    /// The server is bound: URLs the service hands out can name its address.
    fn bound(&self, _endpoint: &Endpoint) {}

    /// The resource a key of this service's store belongs to, in the service's words
    /// (`object photos/a.jpg in bucket b`), for `snapstack snapshot diff`. The service's state
    /// is that of the generation compared (loaded, never saved), so it may look names up in its
    /// own records. `None`: the generic form ([`describe::generic`]).
    fn describe_key(&self, _key: &snapstack_engine::Key) -> Option<String> {
        None
    }
}
