//! DynamoDB Streams as a service of the registry (JSON 1.0,
//! `X-Amz-Target: DynamoDBStreams_20120810.*`).
//!
//! It is served from the DynamoDB store itself: stream records are written in the same store
//! write as the item changes they describe, so the two can never disagree, and reading them
//! needs no copy. The store is registered (and persisted) by the `dynamodb` service; this one
//! only reads it.

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish_json, model_violation};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{DdbError, DynamoDb};

pub const NAME: &str = "dynamodbstreams";

/// The DynamoDB Streams service: a view of a [`DynamoDb`]'s store.
pub struct DynamoDbStreams {
    ddb: DynamoDb,
}

impl DynamoDb {
    /// The DynamoDB Streams service reading this DynamoDB's store.
    pub fn streams_service(&self) -> DynamoDbStreams {
        DynamoDbStreams {
            ddb: DynamoDb {
                store: self.store.clone(),
                clock: self.clock.clone(),
                metrics: crate::metrics::DdbMetrics::off(),
            },
        }
    }
}

impl DynamoDbStreams {
    pub fn ddb(&self) -> &DynamoDb {
        &self.ddb
    }
}

impl Service for DynamoDbStreams {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The store is DynamoDB's, registered by the `dynamodb` service.
    fn register(&self, _engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        Ok(())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let ctx = call.ctx;
            let (Some(op), Payload::Bytes(body)) = (call.operation, &call.payload) else {
                return DdbError::new(
                    "UnknownOperationException",
                    "DynamoDB Streams requests must name their operation in the X-Amz-Target header (DynamoDBStreams_20120810.<Operation>)",
                )
                .into_response(&ctx.request_id);
            };
            let input = match DynamoDb::parse_body(body) {
                Ok(v) => v,
                Err(e) => return e.into_response(&ctx.request_id),
            };
            if let Some(message) = model_violation(NAME, op, Some(&input), 1) {
                return DdbError::validation(message).into_response(&ctx.request_id);
            }
            rt.ensure_loaded(crate::NAME).await;
            match self.ddb.handle_streams(ctx, op, &input) {
                Ok(out) => finish_json(rt, NAME, self.model(), op, ctx, Ok(out)).await,
                Err(e) => e.into_response(&ctx.request_id),
            }
        })
    }

    /// DynamoDB Streams for other services (Lambda's event source mappings).
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            let err = |e: DdbError| AwsError::new(e.code, e.message).with_status(e.status);
            if let Some(message) = model_violation(NAME, operation, Some(&input), 1) {
                return Err(err(DdbError::validation(message)));
            }
            rt.ensure_loaded(crate::NAME).await;
            let out = self
                .ddb
                .handle_streams(ctx, operation, &input)
                .map_err(err)?;
            Ok((out.value, None))
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        DdbError::internal(message).into_response(&ctx.request_id)
    }
}
