//! What unit tests of a service need in place of the server: a [`FakeRuntime`] that records the
//! calls a service makes into others (and can refuse them), and request contexts.
//!
//! Compiled for this crate's tests and, for other crates' tests, with the `test-support`
//! feature (`snapstack-service = { workspace = true, features = ["test-support"] }` under
//! `[dev-dependencies]`), so it is never part of the server.

use std::sync::Mutex;

use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::request::parse_authorization;

use crate::{BoxFuture, RequestContext, Runtime};

/// A call a service made through [`Runtime::invoke`]: the service, the operation, the input.
pub type Invocation = (String, String, Value);

type Answer = Box<dyn Fn(&str, &str, &Value) -> Result<Value, AwsError> + Send + Sync>;
type Spare = Box<dyn Fn(&str, &str, &Value) -> bool + Send + Sync>;

/// A [`Runtime`] without a server: loads are done, writes durable, every service ready, and
/// each [`Runtime::invoke`] is recorded and answered (`{}` unless told otherwise). While a
/// failure is set ([`FakeRuntime::fail`]), calls are refused with it and not recorded, except
/// those [`FakeRuntime::sparing`] exempts.
pub struct FakeRuntime {
    calls: Mutex<Vec<Invocation>>,
    failure: Mutex<Option<AwsError>>,
    answer: Answer,
    spare: Option<Spare>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime::answering(json!({}))
    }
}

impl FakeRuntime {
    /// Every call answered `{}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call answered `value`.
    pub fn answering(value: Value) -> Self {
        Self::answering_with(move |_, _, _| Ok(value.clone()))
    }

    /// Each call answered by `answer(service, operation, input)` (recorded either way).
    pub fn answering_with(
        answer: impl Fn(&str, &str, &Value) -> Result<Value, AwsError> + Send + Sync + 'static,
    ) -> Self {
        FakeRuntime {
            calls: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            answer: Box::new(answer),
            spare: None,
        }
    }

    /// Calls for which `spare(service, operation, input)` holds are answered even while a
    /// failure is set (a dead-letter queue that always works).
    pub fn sparing(
        mut self,
        spare: impl Fn(&str, &str, &Value) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.spare = Some(Box::new(spare));
        self
    }

    /// Refuse calls with `failure` from now on (`None`: answer them again).
    pub fn fail(&self, failure: Option<AwsError>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = failure;
    }

    /// The calls recorded so far, oldest first.
    pub fn calls(&self) -> Vec<Invocation> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The inputs of the calls recorded so far, oldest first.
    pub fn inputs(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .map(|(_, _, input)| input)
            .collect()
    }

    /// Forget the calls recorded so far.
    pub fn clear(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn call(&self, service: &str, operation: &str, input: Value) -> Result<Value, AwsError> {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let spared = self
            .spare
            .as_ref()
            .is_some_and(|s| s(service, operation, &input));
        if let Some(e) = failure
            && !spared
        {
            return Err(e);
        }
        let out = (self.answer)(service, operation, &input);
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push((
            service.to_string(),
            operation.to_string(),
            input,
        ));
        out
    }
}

impl Runtime for FakeRuntime {
    fn ensure_loaded<'a>(&'a self, _service: &'static str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn wait_durable<'a>(
        &'a self,
        _service: &'static str,
        _version: u64,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn is_ready(&self, _service: &str) -> bool {
        true
    }

    fn invoke<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        service: &'a str,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, AwsError>> {
        Box::pin(async move { self.call(service, operation, input) })
    }
}

/// The context of an unsigned request: the default account (`000000000000`) and region
/// (`us-east-1`).
pub fn context() -> RequestContext {
    RequestContext::from_scope(None)
}

/// The context of a request signed (SigV4) for `service` in `account` and `region`.
pub fn context_in(account: &str, region: &str, service: &str) -> RequestContext {
    RequestContext::from_scope(parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential={account}/20240101/{region}/{service}/aws4_request"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn records_answers_and_fails_as_told() {
        let rt = FakeRuntime::answering(json!({"MessageId": "1"}))
            .sparing(|_, _, input| input["QueueUrl"] == "dlq");
        let ctx = context();
        assert_eq!(ctx.account(), "000000000000");
        assert_eq!(ctx.region(), "us-east-1");
        let out = block_on(rt.invoke(&ctx, "sns", "Publish", json!({"n": 1}))).unwrap();
        assert_eq!(out, json!({"MessageId": "1"}));
        rt.fail(Some(AwsError::internal("InternalError", "down")));
        let e = block_on(rt.invoke(&ctx, "sns", "Publish", json!({"n": 2}))).unwrap_err();
        assert_eq!(e.code, "InternalError");
        block_on(rt.invoke(&ctx, "sqs", "SendMessage", json!({"QueueUrl": "dlq"}))).unwrap();
        rt.fail(None);
        assert_eq!(
            rt.calls(),
            [
                ("sns".into(), "Publish".into(), json!({"n": 1})),
                (
                    "sqs".into(),
                    "SendMessage".into(),
                    json!({"QueueUrl": "dlq"})
                )
            ]
        );
        assert_eq!(rt.inputs().len(), 2);
        rt.clear();
        assert!(rt.calls().is_empty());
        assert!(block_on(rt.wait_durable("x", 7)).is_ok());
        assert!(rt.is_ready("x"));
    }

    #[test]
    fn an_answer_may_depend_on_the_call() {
        let rt = FakeRuntime::answering_with(|service, _, _| {
            Err(AwsError::new(
                "ResourceNotFoundException",
                format!("no service {service}"),
            ))
        });
        let e = block_on(rt.invoke(&context(), "ec2", "RunInstances", json!({}))).unwrap_err();
        assert_eq!(e.message, "no service ec2");
        let ctx = context_in("111111111111", "eu-west-1", "ssm");
        assert_eq!(
            (ctx.account(), ctx.region(), ctx.scope_service.as_deref()),
            ("111111111111", "eu-west-1", Some("ssm"))
        );
    }
}
