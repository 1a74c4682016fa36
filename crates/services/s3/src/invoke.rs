//! S3 for other services ([`snapstack_service::Runtime::invoke`]): Lambda reading function code
//! from a bucket, Firehose delivering to one, the gateway's policy enforcement reading a bucket
//! policy. The input and output are the model's neutral JSON
//! shape (`Body` a base64 string, as the JSON codecs carry blobs; timestamps epoch seconds).
//!
//! An invocation is the request an SDK would send, built from the model (URI labels, query
//! members, header members, `x-amz-meta-*`, the payload), run through the same router and
//! handlers as a request from the wire, and its answer read back by the model (header members,
//! the XML document or the body). So an invoked operation behaves exactly as the HTTP one:
//! same checks, same errors (their S3 code, message and status), same records.

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::codec::rest::{default_namespace, xml};
use snapstack_protocol::codec::time::{self, Format};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use snapstack_protocol::model::{self, Member, ServiceModel, Shape};
use snapstack_protocol::response::Response;
use snapstack_protocol::validate;
use snapstack_service::RequestContext;

use crate::{S3, S3Error};

/// The operations other services may invoke.
pub const INVOCABLE: [&str; 8] = [
    "PutObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "ListObjectsV2",
    "CreateBucket",
    "HeadBucket",
    // The gateway's policy enforcement (`ENFORCE_IAM=1`) reads bucket policies.
    "GetBucketPolicy",
];

/// What a URI label or query value keeps unencoded (RFC 3986 unreserved characters).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// A greedy label (`{Key+}`) keeps its slashes.
const GREEDY: &AsciiSet = &UNRESERVED.remove(b'/');

fn refused(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidArgument", message)
}

fn from_s3(e: S3Error) -> AwsError {
    AwsError::new(e.code, e.message).with_status(e.status)
}

impl S3 {
    /// Run `operation` for another service, on the caller's account and region.
    pub async fn invoke_operation(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: Value,
    ) -> Result<(Value, Option<u64>), AwsError> {
        self.invoke_operation_in(None, ctx, operation, input).await
    }

    /// [`S3::invoke_operation`] with the runtime that serves it (KMS reachable for SSE-KMS).
    pub async fn invoke_operation_in(
        &self,
        rt: Option<&dyn snapstack_service::Runtime>,
        ctx: &RequestContext,
        operation: &str,
        input: Value,
    ) -> Result<(Value, Option<u64>), AwsError> {
        if !INVOCABLE.contains(&operation) {
            return Err(AwsError::new(
                "NotImplemented",
                model::not_implemented_message(crate::NAME, operation),
            )
            .with_status(StatusCode::NOT_IMPLEMENTED));
        }
        let m = model::s3();
        let input = match input {
            Value::Null => Value::Object(Map::new()),
            v => v,
        };
        let violations = validate::violations(m, operation, &input);
        if !violations.is_empty() {
            return Err(refused(validate::message(&violations)));
        }
        let (request, body) = build_request(m, operation, &input)?;
        let (parts, ()) = request.into_parts();
        let req = self.request(ctx, &parts, None).map_err(from_s3)?;
        let req = crate::Req { rt, ..req };
        if req.operation != operation {
            // The model's own request routes back to its operation; anything else is a bug.
            return Err(AwsError::internal(
                "InternalError",
                format!("{operation} was routed as {}", req.operation),
            ));
        }
        let (response, version) = self
            .dispatch(&req, Body::from(body))
            .await
            .map_err(from_s3)?;
        let output = read_response(m, operation, response).await?;
        Ok((output, version))
    }
}

/// The HTTP request an SDK sends for `operation` with `input`, and its body.
fn build_request(
    m: &ServiceModel,
    operation: &str,
    input: &Value,
) -> Result<(Request<()>, Bytes), AwsError> {
    let op = m
        .operations
        .get(operation)
        .ok_or_else(|| refused(format!("no operation {operation}")))?;
    let http = op
        .http
        .as_ref()
        .ok_or_else(|| refused(format!("{operation} has no HTTP binding")))?;
    let shape = m.input_of(op);
    let empty = Map::new();
    let fields = input.as_object().unwrap_or(&empty);
    let member = |name: &str| shape.and_then(|s| s.members.get(name));

    // The path: every `{Label}` and `{Label+}` of the template, encoded.
    let (template, literal_query) = http
        .request_uri
        .split_once('?')
        .unwrap_or((http.request_uri.as_str(), ""));
    let mut uri = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        uri.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| refused("a malformed URI template"))?;
        let label = &rest[open + 1..close];
        let (name, greedy) = match label.strip_suffix('+') {
            Some(n) => (n, true),
            None => (label, false),
        };
        let value = fields
            .iter()
            .find(|(k, _)| {
                member(k).is_some_and(|mm| {
                    mm.location.as_deref() == Some("uri")
                        && mm.location_name.as_deref().unwrap_or(k) == name
                })
            })
            .and_then(|(_, v)| v.as_str())
            .ok_or_else(|| refused(format!("{operation} needs its {name}")))?;
        let set = if greedy { GREEDY } else { UNRESERVED };
        uri.push_str(&utf8_percent_encode(value, set).to_string());
        rest = &rest[close + 1..];
    }
    uri.push_str(rest);

    // The query: the template's literal keys, then the querystring members.
    let mut query: Vec<String> = literal_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let mut builder = Request::builder()
        .method(Method::from_bytes(http.method.as_bytes()).map_err(|_| refused("a bad method"))?);
    let mut body = Bytes::new();
    for (name, v) in fields {
        let Some(mm) = member(name) else { continue };
        if v.is_null() {
            continue;
        }
        let mshape = m
            .shape(&mm.shape)
            .ok_or_else(|| refused(format!("no shape {}", mm.shape)))?;
        let wire = mm.location_name.as_deref().unwrap_or(name);
        match mm.location.as_deref() {
            Some("querystring") => {
                for text in texts(mm, mshape, v, m, Format::Iso8601)? {
                    query.push(format!(
                        "{}={}",
                        utf8_percent_encode(wire, UNRESERVED),
                        utf8_percent_encode(&text, UNRESERVED)
                    ));
                }
            }
            Some("header") => {
                let text = texts(mm, mshape, v, m, Format::Rfc822)?.join(",");
                builder = builder.header(wire, header_value(wire, &text)?);
            }
            Some("headers") => {
                for (k, v) in v.as_object().into_iter().flatten() {
                    let text = v
                        .as_str()
                        .ok_or_else(|| refused(format!("{name} holds strings")))?;
                    let hname = HeaderName::from_bytes(format!("{wire}{k}").as_bytes())
                        .map_err(|_| refused(format!("{name} has a key no header can carry")))?;
                    builder = builder.header(hname, header_value(wire, text)?);
                }
            }
            Some(_) => {}
            None if shape.and_then(|s| s.payload.as_deref()) == Some(name.as_str()) => {
                body = payload_bytes(m, name, mm, mshape, v)?;
            }
            None => {}
        }
    }
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query.join("&"));
    }
    let request = builder
        .uri(uri)
        .body(())
        .map_err(|e| refused(format!("the request cannot be built: {e}")))?;
    Ok((request, body))
}

fn header_value(name: &str, text: &str) -> Result<HeaderValue, AwsError> {
    HeaderValue::from_str(text)
        .map_err(|_| refused(format!("the value of {name} cannot be sent as a header")))
}

/// A member's value as the texts it travels as (a list: one per item).
fn texts(
    mm: &Member,
    shape: &Shape,
    v: &Value,
    m: &ServiceModel,
    default_ts: Format,
) -> Result<Vec<String>, AwsError> {
    if shape.kind == "list" {
        let item = shape
            .member
            .as_ref()
            .and_then(|r| m.shape(&r.shape))
            .ok_or_else(|| refused("a list without items"))?;
        let mut out = Vec::new();
        for x in v.as_array().into_iter().flatten() {
            out.push(text(mm, item, x, default_ts)?);
        }
        return Ok(out);
    }
    Ok(vec![text(mm, shape, v, default_ts)?])
}

fn text(mm: &Member, shape: &Shape, v: &Value, default_ts: Format) -> Result<String, AwsError> {
    let bad = || refused(format!("a value that is not a {}", shape.kind));
    Ok(match (shape.kind.as_str(), v) {
        ("timestamp", Value::Number(n)) => {
            let ms = time::seconds_to_ms(n.as_f64().ok_or_else(bad)?).ok_or_else(bad)?;
            let format = Format::from_trait(
                mm.timestamp_format
                    .as_deref()
                    .or(shape.timestamp_format.as_deref()),
                default_ts,
            );
            time::format(ms, format)
        }
        (_, Value::String(s)) => s.clone(),
        ("boolean", Value::Bool(b)) => b.to_string(),
        (_, Value::Number(n)) => n.to_string(),
        _ => return Err(bad()),
    })
}

/// The body of a payload member: a blob's bytes (base64 in the neutral shape), a structure's
/// XML document.
fn payload_bytes(
    m: &ServiceModel,
    name: &str,
    mm: &Member,
    shape: &Shape,
    v: &Value,
) -> Result<Bytes, AwsError> {
    match (shape.kind.as_str(), v) {
        ("blob", Value::String(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Bytes::from)
            .map_err(|_| refused(format!("{name} is not base64"))),
        ("string", Value::String(s)) => Ok(Bytes::from(s.clone())),
        ("structure", _) => {
            let root = mm
                .location_name
                .as_deref()
                .or(shape.location_name.as_deref())
                .unwrap_or(name);
            let ns = mm
                .xml_namespace
                .clone()
                .unwrap_or_else(|| default_namespace(m));
            xml::write_document(m, shape, v, root, Some(&ns))
                .map(Bytes::from)
                .map_err(|e| refused(e.message))
        }
        _ => Err(refused(format!("{name} is not a {}", shape.kind))),
    }
}

/// A successful answer as the neutral value of the operation's output, by the model.
async fn read_response(
    m: &ServiceModel,
    operation: &str,
    response: Response,
) -> Result<Value, AwsError> {
    let mut out = Map::new();
    let op = &m.operations[operation];
    let Some(shape) = m.output_of(op) else {
        return Ok(Value::Object(out));
    };
    let (parts, body) = response.into_parts();
    for (name, mm) in &shape.members {
        let wire = mm.location_name.as_deref().unwrap_or(name);
        match mm.location.as_deref() {
            Some("header") => {
                let Some(text) = parts.headers.get(wire).and_then(|v| v.to_str().ok()) else {
                    continue;
                };
                let Some(mshape) = m.shape(&mm.shape) else {
                    continue;
                };
                if let Some(v) = scalar(mshape, text) {
                    out.insert(name.clone(), v);
                }
            }
            Some("headers") => {
                let prefix = wire.to_ascii_lowercase();
                let map: Map<String, Value> = parts
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        let key = k.as_str().strip_prefix(&prefix)?;
                        Some((key.to_string(), Value::String(v.to_str().ok()?.to_string())))
                    })
                    .collect();
                if !map.is_empty() {
                    out.insert(name.clone(), Value::Object(map));
                }
            }
            Some("statusCode") => {
                out.insert(name.clone(), Value::from(parts.status.as_u16()));
            }
            _ => {}
        }
    }
    let bytes = snapstack_protocol::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| AwsError::internal("InternalError", format!("the body failed: {e}")))?;
    match shape.payload.as_deref() {
        Some(payload) => {
            let mm = &shape.members[payload];
            match m.shape(&mm.shape).map(|s| s.kind.as_str()) {
                Some("blob") => {
                    out.insert(
                        payload.to_string(),
                        Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                    );
                }
                // GetBucketPolicy's `Policy`: the body is the text.
                Some("string") => {
                    out.insert(
                        payload.to_string(),
                        Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                    );
                }
                _ => {}
            }
        }
        None if !bytes.is_empty() => {
            let doc = xml::parse_document(m, shape, None, &bytes)
                .map_err(|e| AwsError::internal("InternalError", e.message))?;
            if let Value::Object(fields) = doc {
                out.extend(fields);
            }
        }
        None => {}
    }
    Ok(Value::Object(out))
}

/// A header's text as the neutral value of its shape.
fn scalar(shape: &Shape, text: &str) -> Option<Value> {
    Some(match shape.kind.as_str() {
        "string" => Value::String(text.to_string()),
        "boolean" => Value::Bool(text.eq_ignore_ascii_case("true")),
        "integer" | "long" | "short" | "byte" => Value::from(text.trim().parse::<i64>().ok()?),
        "timestamp" => time::ms_to_value(time::parse(text)?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use snapstack_protocol::http::HeaderMap;

    use super::*;

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn service() -> (S3, RequestContext) {
        let engine = Arc::new(snapstack_engine::Engine::in_memory().unwrap());
        (
            S3::new(engine),
            RequestContext::from_request(&HeaderMap::new(), None),
        )
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    async fn call(
        s3: &S3,
        ctx: &RequestContext,
        op: &str,
        input: Value,
    ) -> Result<Value, AwsError> {
        s3.invoke_operation(ctx, op, input).await.map(|(v, _)| v)
    }

    #[test]
    fn create_bucket_and_head_bucket() {
        let (s3, ctx) = service();
        run(async {
            let (out, version) = s3
                .invoke_operation(&ctx, "CreateBucket", json!({"Bucket": "code"}))
                .await
                .unwrap();
            assert_eq!(out["Location"], json!("/code"));
            assert!(version.is_some());
            let out = call(
                &s3,
                &ctx,
                "CreateBucket",
                json!({"Bucket": "eu-bucket", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}),
            )
            .await
            .unwrap();
            // Outside us-east-1, the bucket's URL under the advertised host (LocalStack's).
            assert_eq!(
                out["Location"],
                json!("http://eu-bucket.s3.localhost.localstack.cloud:4566/")
            );
            let head = call(&s3, &ctx, "HeadBucket", json!({"Bucket": "eu-bucket"}))
                .await
                .unwrap();
            assert_eq!(head["BucketRegion"], json!("eu-west-1"));
            let e = call(&s3, &ctx, "HeadBucket", json!({"Bucket": "nope"}))
                .await
                .unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.status),
                ("NoSuchBucket", StatusCode::NOT_FOUND)
            );
            let e = call(&s3, &ctx, "CreateBucket", json!({"Bucket": "Bad_Name"}))
                .await
                .unwrap_err();
            assert_eq!(e.code, "InvalidBucketName");
        });
    }

    #[test]
    fn put_object_then_get_and_head_it() {
        let (s3, ctx) = service();
        run(async {
            call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"}))
                .await
                .unwrap();
            let put = call(
                &s3,
                &ctx,
                "PutObject",
                json!({"Bucket": "bkt", "Key": "dir/a b.zip", "Body": b64(b"hello"),
                       "ContentType": "application/zip", "Metadata": {"origin": "firehose"}}),
            )
            .await
            .unwrap();
            assert_eq!(put["ETag"], json!("\"5d41402abc4b2a76b9719d911017c592\""));
            let got = call(
                &s3,
                &ctx,
                "GetObject",
                json!({"Bucket": "bkt", "Key": "dir/a b.zip"}),
            )
            .await
            .unwrap();
            assert_eq!(got["Body"], json!(b64(b"hello")));
            assert_eq!(got["ContentLength"], json!(5));
            assert_eq!(got["ContentType"], json!("application/zip"));
            assert_eq!(got["Metadata"], json!({"origin": "firehose"}));
            assert_eq!(got["ETag"], put["ETag"]);
            assert!(got["LastModified"].is_number());
            let ranged = call(
                &s3,
                &ctx,
                "GetObject",
                json!({"Bucket": "bkt", "Key": "dir/a b.zip", "Range": "bytes=1-2"}),
            )
            .await
            .unwrap();
            assert_eq!(ranged["Body"], json!(b64(b"el")));
            let head = call(
                &s3,
                &ctx,
                "HeadObject",
                json!({"Bucket": "bkt", "Key": "dir/a b.zip"}),
            )
            .await
            .unwrap();
            assert_eq!(head["ContentLength"], json!(5));
            assert!(head.get("Body").is_none());
            let e = call(
                &s3,
                &ctx,
                "GetObject",
                json!({"Bucket": "bkt", "Key": "missing"}),
            )
            .await
            .unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.status),
                ("NoSuchKey", StatusCode::NOT_FOUND)
            );
            let e = call(
                &s3,
                &ctx,
                "HeadObject",
                json!({"Bucket": "bkt", "Key": "missing"}),
            )
            .await
            .unwrap_err();
            assert_eq!(e.code, "NoSuchKey");
        });
    }

    #[test]
    fn delete_object() {
        let (s3, ctx) = service();
        run(async {
            call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"}))
                .await
                .unwrap();
            call(
                &s3,
                &ctx,
                "PutObject",
                json!({"Bucket": "bkt", "Key": "k", "Body": b64(b"x")}),
            )
            .await
            .unwrap();
            let (_, version) = s3
                .invoke_operation(&ctx, "DeleteObject", json!({"Bucket": "bkt", "Key": "k"}))
                .await
                .unwrap();
            assert!(version.is_some());
            let e = call(
                &s3,
                &ctx,
                "HeadObject",
                json!({"Bucket": "bkt", "Key": "k"}),
            )
            .await
            .unwrap_err();
            assert_eq!(e.code, "NoSuchKey");
        });
    }

    #[test]
    fn list_objects_v2() {
        let (s3, ctx) = service();
        run(async {
            call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"}))
                .await
                .unwrap();
            for k in ["logs/1", "logs/2", "other"] {
                call(
                    &s3,
                    &ctx,
                    "PutObject",
                    json!({"Bucket": "bkt", "Key": k, "Body": b64(b"xy")}),
                )
                .await
                .unwrap();
            }
            let out = call(
                &s3,
                &ctx,
                "ListObjectsV2",
                json!({"Bucket": "bkt", "Prefix": "logs/", "MaxKeys": 1}),
            )
            .await
            .unwrap();
            assert_eq!(out["KeyCount"], json!(1));
            assert_eq!(out["IsTruncated"], json!(true));
            assert_eq!(out["Contents"][0]["Key"], json!("logs/1"));
            assert_eq!(out["Contents"][0]["Size"], json!(2));
            let next = out["NextContinuationToken"].clone();
            let out = call(
                &s3,
                &ctx,
                "ListObjectsV2",
                json!({"Bucket": "bkt", "Prefix": "logs/", "ContinuationToken": next}),
            )
            .await
            .unwrap();
            assert_eq!(out["Contents"][0]["Key"], json!("logs/2"));
            assert_eq!(out["IsTruncated"], json!(false));
        });
    }

    #[test]
    fn refusals() {
        let (s3, ctx) = service();
        run(async {
            let e = call(&s3, &ctx, "PutBucketAcl", json!({"Bucket": "bkt"}))
                .await
                .unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.status),
                ("NotImplemented", StatusCode::NOT_IMPLEMENTED)
            );
            let e = call(&s3, &ctx, "GetObject", json!({"Bucket": "bkt"}))
                .await
                .unwrap_err();
            assert_eq!(e.code, "InvalidArgument");
            let e = call(
                &s3,
                &ctx,
                "PutObject",
                json!({"Bucket": "bkt", "Key": "k", "Body": "%%"}),
            )
            .await
            .unwrap_err();
            assert_eq!(e.code, "InvalidArgument");
        });
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever a caller puts (any key S3 takes, any bytes, metadata), it gets back.
        #[test]
        fn what_is_put_is_got_back(
            key in "[a-zA-Z0-9 !_.*'()/?#%&=+,;:@$é漢-]{1,40}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            meta in proptest::collection::btree_map("[a-z0-9-]{1,8}", "[a-zA-Z0-9]{0,8}", 0..3),
        ) {
            let (s3, ctx) = service();
            let meta = serde_json::to_value(&meta).unwrap();
            let (got, listed) = run(async {
                call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"})).await.unwrap();
                call(&s3, &ctx, "PutObject", json!({"Bucket": "bkt", "Key": key, "Body": b64(&body), "Metadata": meta}))
                    .await
                    .unwrap();
                let got = call(&s3, &ctx, "GetObject", json!({"Bucket": "bkt", "Key": key})).await.unwrap();
                let listed = call(&s3, &ctx, "ListObjectsV2", json!({"Bucket": "bkt"})).await.unwrap();
                (got, listed)
            });
            proptest::prop_assert_eq!(&got["Body"], &json!(b64(&body)));
            proptest::prop_assert_eq!(&got["ContentLength"], &json!(body.len()));
            if meta.as_object().is_some_and(|m| !m.is_empty()) {
                proptest::prop_assert_eq!(&got["Metadata"], &meta);
            }
            proptest::prop_assert_eq!(&listed["Contents"][0]["Key"], &json!(key));
        }
    }
}
