//! What services get from the server while they serve: the persistence runtime (lazy loads,
//! durable writes) and calls into other services through the registry.

use std::sync::{Arc, OnceLock, Weak};

use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime, ServiceCaller};

use crate::config::LoadStrategy;
use crate::persistence::Persistence;
use crate::registry::Registry;

/// The [`Runtime`] of this server.
pub struct AppRuntime {
    pub persistence: Arc<Persistence>,
    pub services: Arc<Registry>,
    /// The server, set once it is built when IAM enforcement is on: calls a service makes on
    /// behalf of its caller ([`Runtime::invoke_for_caller`]) are checked against the caller's
    /// policies first. Unset (enforcement off): they are plain calls.
    pub enforcing: OnceLock<Weak<crate::gateway::App>>,
}

impl Runtime for AppRuntime {
    fn ensure_loaded<'a>(&'a self, service: &'static str) -> BoxFuture<'a, ()> {
        Box::pin(self.persistence.ensure_loaded(service))
    }

    fn wait_durable<'a>(
        &'a self,
        service: &'static str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.persistence.wait_durable(service, version))
    }

    fn is_ready(&self, service: &str) -> bool {
        let p = &self.persistence;
        // A service whose persistence is off (`PERSIST_<SERVICE>=0`) never loads: always ready.
        !p.persists(service) || p.load_strategy() != LoadStrategy::OnRequest || p.is_loaded(service)
    }

    fn invoke<'a>(
        &'a self,
        ctx: &'a RequestContext,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
        Box::pin(async move {
            let Some(target) = self.services.by_name(service) else {
                return Err(AwsError::new(
                    "ResourceNotFoundException",
                    format!("Service {service} is not served by this emulator"),
                ));
            };
            let name = target.name();
            self.persistence.ensure_loaded(name).await;
            let (out, version) = target.invoke(self, ctx, operation, input).await?;
            if let Some(v) = version {
                self.persistence.wait_durable(name, v).await.map_err(|e| {
                    AwsError::internal(
                        "InternalFailure",
                        format!("The change could not be saved durably: {e}"),
                    )
                })?;
            }
            Ok(out)
        })
    }

    fn invoke_as_service<'a>(
        &'a self,
        ctx: &'a RequestContext,
        caller: ServiceCaller<'a>,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
        self.invoke_checked(ctx, On::Service(caller), service, operation, input)
    }

    fn invoke_for_caller<'a>(
        &'a self,
        ctx: &'a RequestContext,
        via: &'a str,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
        self.invoke_checked(ctx, On::Caller(via), service, operation, input)
    }
}

/// On whose authority a service calls another: the caller of the request it serves (through
/// the service `via`), or its own service principal.
enum On<'a> {
    Caller(&'a str),
    Service(ServiceCaller<'a>),
}

impl AppRuntime {
    /// [`Runtime::invoke`], decided first by the enforcer when IAM enforcement is on.
    fn invoke_checked<'a>(
        &'a self,
        ctx: &'a RequestContext,
        on: On<'a>,
        service: &'a str,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
        Box::pin(async move {
            if let Some(app) = self.enforcing.get().and_then(Weak::upgrade)
                && let Some(enforcer) = app.enforcer.as_ref()
            {
                let checked = match on {
                    On::Caller(via) => {
                        enforcer
                            .check_forward(&app, ctx, via, service, operation, &input)
                            .await
                    }
                    On::Service(caller) => {
                        enforcer
                            .check_service(&app, ctx, caller, service, operation, &input)
                            .await
                    }
                };
                match checked {
                    Err(e) if enforcer.soft() => tracing::warn!(
                        target: "snapstack::iam",
                        service,
                        operation,
                        "IAM_SOFT_MODE: let through a call that enforcement would refuse: {}",
                        e.message
                    ),
                    other => other?,
                }
            }
            self.invoke(ctx, service, operation, input).await
        })
    }
}
