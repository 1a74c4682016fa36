//! Function URLs: the control plane (Create/Get/Update/Delete/ListFunctionUrlConfigs) and the
//! HTTP endpoint itself. A URL is `http://<url-id>.lambda-url.<region>.<LOCALSTACK_HOST>/`; a
//! request to such a host (or to the path form `/_aws/lambda-url/<url-id>/...`) invokes the
//! function with the payload format version 2.0 event, and the result is mapped back to an HTTP
//! response as AWS does (`statusCode`, `headers`, `cookies`, `body`, `isBase64Encoded`; any
//! other JSON is a 200 `application/json` body). CORS preflights are answered from the URL's
//! `Cors` configuration without invoking the function.

mod event;

use serde_json::{Value, json};
use snapstack_engine::Txn;
use snapstack_protocol::body::Body;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, Method, StatusCode};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::{RequestContext, Runtime};

use crate::model::{LambdaRecord, UrlConfig, keys};
use crate::names::{function_arn, is_version};
use crate::ops::{Done, fn_ref, s};
use crate::output::last_modified;
use crate::{LResult, Lambda, LambdaError};

/// The label between a URL's id and its region.
const URL_LABEL: &str = "lambda-url";
/// The path form's prefix.
pub const PATH_PREFIX: &str = "/_aws/lambda-url/";

/// A URL's id: 32 lowercase letters and digits, derived from what the URL names (as AWS's
/// are deterministic), so a deleted and re-created URL gets the same address.
pub fn url_id(account: &str, region: &str, function: &str, qualifier: Option<&str>) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(
        format!("{account}/{region}/{function}/{}", qualifier.unwrap_or("")).as_bytes(),
    );
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(32);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in h.iter() {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 && out.len() < 32 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    out
}

/// The URL's id and the path after it, when a request is addressed to a function URL: by its
/// host (`<id>.lambda-url.<region>.<anything>`) or by the path form.
pub fn addressed(host: Option<&str>, path: &str) -> Option<(String, String)> {
    if let Some(h) = host {
        let h = h.rsplit_once(':').map_or(h, |(a, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                a
            } else {
                h
            }
        });
        let mut labels = h.split('.');
        if let (Some(id), Some(URL_LABEL), Some(region)) =
            (labels.next(), labels.next(), labels.next())
            && valid_id(id)
            && !region.is_empty()
        {
            return Some((id.to_ascii_lowercase(), path.to_string()));
        }
    }
    let rest = path.strip_prefix(PATH_PREFIX)?;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    valid_id(id).then(|| (id.to_ascii_lowercase(), format!("/{tail}")))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Remove the URLs of a function (all of them, or one alias's) inside a write.
pub(crate) fn forget(
    txn: &mut Txn<'_, LambdaRecord>,
    account: &str,
    region: &str,
    function: &str,
    qualifier: Option<Option<&str>>,
) {
    let doomed: Vec<_> = txn
        .scan_prefix(&keys::urls())
        .filter_map(|(k, r)| match r {
            LambdaRecord::UrlConfig(u)
                if u.account == account
                    && u.region == region
                    && u.function == function
                    && qualifier.is_none_or(|q| q == u.qualifier.as_deref()) =>
            {
                Some(k.clone())
            }
            _ => None,
        })
        .collect();
    for k in doomed {
        txn.remove(&k);
    }
}

fn not_found() -> LambdaError {
    LambdaError::not_found("The resource you requested does not exist.")
}

impl Lambda {
    /// The URL's address as handed out (`LOCALSTACK_HOST`).
    pub(crate) fn url_of(&self, u: &UrlConfig) -> String {
        let host = self.place().advertised_host;
        format!("http://{}.{URL_LABEL}.{}.{host}/", u.url_id, u.region)
    }

    fn url_out(&self, ctx: &RequestContext, u: &UrlConfig, with_modified: bool) -> Value {
        let mut o = json!({
            "FunctionUrl": self.url_of(u),
            "FunctionArn": function_arn(ctx, &u.function, u.qualifier.as_deref()),
            "AuthType": u.auth_type,
            "CreationTime": last_modified(u.created_ms),
            "InvokeMode": u.invoke_mode,
        });
        if let Some(c) = u
            .cors
            .as_deref()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        {
            o["Cors"] = c;
        }
        if with_modified {
            o["LastModifiedTime"] = json!(last_modified(u.last_modified_ms));
        }
        o
    }

    /// The URL named by the input's function and qualifier, after checking they exist.
    fn url_target(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<(String, Option<String>, String)> {
        let r = fn_ref(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let q = r.qualifier.filter(|q| q != "$LATEST");
        if let Some(q) = q.as_deref() {
            if is_version(q) {
                return Err(LambdaError::invalid(
                    "Function URLs can only be applied to an alias or the $LATEST version; a published version was given.",
                ));
            }
            self.config_of(ctx, &f, Some(q))?;
        }
        let id = url_id(ctx.account(), ctx.region(), &r.name, q.as_deref());
        Ok((r.name, q, id))
    }

    fn load_url(&self, id: &str) -> Option<UrlConfig> {
        match self.store.snapshot().get(&keys::url(id)) {
            Some(LambdaRecord::UrlConfig(u)) => Some(u.clone()),
            _ => None,
        }
    }

    pub(crate) fn create_url(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (name, q, id) = self.url_target(ctx, input)?;
        let cors = check_cors(input.get("Cors"))?;
        let now = self.now();
        let u = UrlConfig {
            url_id: id.clone(),
            account: ctx.account().into(),
            region: ctx.region().into(),
            function: name.clone(),
            qualifier: q.clone(),
            auth_type: s(input, "AuthType").unwrap_or("NONE").into(),
            cors,
            invoke_mode: s(input, "InvokeMode").unwrap_or("BUFFERED").into(),
            created_ms: now,
            last_modified_ms: now,
        };
        let (res, v) = self.store.write(|txn| {
            if txn.contains(&keys::url(&id)) {
                return Err(LambdaError::conflict(format!(
                    "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                    function_arn(ctx, &name, q.as_deref())
                )));
            }
            txn.insert(keys::url(&id), LambdaRecord::UrlConfig(u.clone()));
            Ok(())
        });
        res?;
        Ok(Done::wrote(self.url_out(ctx, &u, false), v))
    }

    pub(crate) fn get_url(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (_, _, id) = self.url_target(ctx, input)?;
        let u = self.load_url(&id).ok_or_else(not_found)?;
        Ok(Done::read(self.url_out(ctx, &u, true)))
    }

    pub(crate) fn update_url(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (_, _, id) = self.url_target(ctx, input)?;
        let cors = match input.get("Cors") {
            Some(c) => Some(check_cors(Some(c))?),
            None => None,
        };
        let now = self.now();
        let (res, v) = self.store.write(|txn| {
            let Some(LambdaRecord::UrlConfig(mut u)) = txn.get(&keys::url(&id)).cloned() else {
                return Err(not_found());
            };
            if let Some(a) = s(input, "AuthType") {
                u.auth_type = a.into();
            }
            if let Some(m) = s(input, "InvokeMode") {
                u.invoke_mode = m.into();
            }
            if let Some(c) = cors.clone() {
                u.cors = c;
            }
            u.last_modified_ms = now;
            txn.insert(keys::url(&id), LambdaRecord::UrlConfig(u.clone()));
            Ok(u)
        });
        let u = res?;
        Ok(Done::wrote(self.url_out(ctx, &u, true), v))
    }

    pub(crate) fn delete_url(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (_, _, id) = self.url_target(ctx, input)?;
        let (res, v) = self.store.write(|txn| {
            if txn.remove(&keys::url(&id)).is_none() {
                return Err(not_found());
            }
            Ok(())
        });
        res?;
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn list_urls(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = crate::ops::names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let all: Vec<Value> = self
            .store
            .snapshot()
            .scan_prefix(&keys::urls())
            .filter_map(|(_, rec)| match rec {
                LambdaRecord::UrlConfig(u)
                    if u.account == ctx.account()
                        && u.region == ctx.region()
                        && u.function == r.name =>
                {
                    Some(self.url_out(ctx, u, true))
                }
                _ => None,
            })
            .collect();
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(50, |n| n.clamp(1, 50) as usize);
        let start = s(input, "Marker")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "FunctionUrlConfigs": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    /// Serve one HTTP request to a function URL.
    pub(crate) async fn serve_url(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        parts: &Parts,
        body: Body,
        id: &str,
        path: &str,
    ) -> Response {
        rt.ensure_loaded(crate::NAME).await;
        let Some(u) = self.load_url(id) else {
            return message(
                StatusCode::FORBIDDEN,
                "Forbidden",
                Some("AccessDeniedException"),
            );
        };
        let cors: Option<Value> = u.cors.as_deref().and_then(|c| serde_json::from_str(c).ok());
        let origin = header(parts, "origin");
        if parts.method == Method::OPTIONS
            && origin.is_some()
            && header(parts, "access-control-request-method").is_some()
            && let Some(c) = &cors
        {
            return preflight(c, parts);
        }
        let fctx = RequestContext {
            access_key: u.account.clone(),
            partition: snapstack_engine::Partition::new(&u.account, &u.region),
            scope_service: None,
            request_id: ctx.request_id.clone(),
        };
        let caller = if u.auth_type == "AWS_IAM" {
            match self.iam_caller(ctx, &fctx, &u) {
                Ok(c) => Some(c),
                Err(r) => return *r,
            }
        } else {
            None
        };
        let body = match snapstack_protocol::body::to_bytes(body, crate::invoke::MAX_SYNC_PAYLOAD)
            .await
        {
            Ok(b) => b,
            Err(_) => {
                return message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "Request must be smaller than {} bytes for the InvokeFunction operation",
                        crate::invoke::MAX_SYNC_PAYLOAD
                    ),
                    Some("RequestTooLargeException"),
                );
            }
        };
        let ev = event::request_event(&u, parts, path, &body, caller.as_ref(), self.now(), &fctx);
        let r = crate::names::FnRef {
            name: u.function.clone(),
            qualifier: u.qualifier.clone(),
        };
        let Ok((config, reserved)) = self.target(&fctx, &r) else {
            return message(
                StatusCode::FORBIDDEN,
                "Forbidden",
                Some("AccessDeniedException"),
            );
        };
        let Ok(_slot) = self.slot(&fctx, &u.function, reserved) else {
            return message(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate Exceeded.",
                Some("TooManyRequestsException"),
            );
        };
        let arn = function_arn(&fctx, &u.function, u.qualifier.as_deref());
        let out = self
            .run(
                &fctx,
                &u.function,
                &config,
                &arn,
                &ctx.request_id,
                ev.to_string().into_bytes(),
            )
            .await;
        let mut resp = if out.function_error.is_some() {
            message(StatusCode::BAD_GATEWAY, "Internal Server Error", None)
        } else {
            event::response_of(&out.payload)
        };
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            h.insert("x-amzn-requestid", v);
        }
        if let (Some(c), Some(o)) = (&cors, origin) {
            cors_headers(c, &o, h);
        }
        resp
    }

    /// `AWS_IAM`: the request must be signed (SigV4 for `lambda`), and the signer must be of the
    /// function's account or be granted `lambda:InvokeFunctionUrl` by its resource policy. The
    /// signature itself is checked by the gateway's verifier when enforcement is on, not here.
    fn iam_caller(
        &self,
        ctx: &RequestContext,
        fctx: &RequestContext,
        u: &UrlConfig,
    ) -> Result<event::Caller, Box<Response>> {
        let forbidden = || {
            Box::new(message(
                StatusCode::FORBIDDEN,
                "Forbidden",
                Some("AccessDeniedException"),
            ))
        };
        if ctx.scope_service.as_deref() != Some("lambda") || ctx.access_key.is_empty() {
            return Err(forbidden());
        }
        let caller = ctx.account().to_string();
        if caller != u.account {
            let f = self
                .get_function(fctx, &u.function)
                .map_err(|_| forbidden())?;
            let granted = f.policy.iter().any(|t| {
                let Ok(st) = serde_json::from_str::<Value>(t) else {
                    return false;
                };
                let action_ok = matches!(
                    st["Action"].as_str(),
                    Some("lambda:InvokeFunctionUrl" | "lambda:*" | "*")
                );
                let p = &st["Principal"];
                let principal_ok = p == "*"
                    || p["AWS"] == "*"
                    || p["AWS"]
                        .as_str()
                        .is_some_and(|a| a.contains(&format!("::{caller}:")) || a == caller);
                action_ok && principal_ok
            });
            if !granted {
                return Err(forbidden());
            }
        }
        Ok(event::Caller {
            access_key: ctx.access_key.clone(),
            account: caller,
        })
    }
}

fn header(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A JSON `{"Message": ...}` answer, as function URLs give for their own errors.
fn message(status: StatusCode, text: &str, error_type: Option<&str>) -> Response {
    let mut r = (status, json!({ "Message": text }).to_string()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert("x-amzn-errortype", t);
    }
    r
}

/// Check a `Cors` member as Lambda does; its JSON text to store (`None` for none).
fn check_cors(c: Option<&Value>) -> LResult<Option<String>> {
    let Some(c) = c else { return Ok(None) };
    if let Some(methods) = c.get("AllowMethods").and_then(Value::as_array) {
        for m in methods.iter().filter_map(Value::as_str) {
            let ok = m == "*"
                || ["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"]
                    .contains(&m.to_ascii_uppercase().as_str());
            if !ok {
                return Err(LambdaError::invalid(format!(
                    "1 validation error detected: Value '[{m}]' at 'cors.allowMethods' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 6, Member must satisfy regular expression pattern: .*]"
                )));
            }
        }
    }
    Ok(Some(c.to_string()))
}

fn list_of(c: &Value, k: &str) -> Vec<String> {
    c.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The origin to allow, if the configuration allows this one.
fn allowed_origin(c: &Value, origin: &str) -> Option<String> {
    let origins = list_of(c, "AllowOrigins");
    if origins.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

fn set(h: &mut snapstack_protocol::http::HeaderMap, name: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// The CORS headers of an actual (not preflight) response; they replace the function's own.
fn cors_headers(c: &Value, origin: &str, h: &mut snapstack_protocol::http::HeaderMap) {
    let Some(allow) = allowed_origin(c, origin) else {
        return;
    };
    set(h, "access-control-allow-origin", &allow);
    let expose = list_of(c, "ExposeHeaders");
    if !expose.is_empty() {
        set(h, "access-control-expose-headers", &expose.join(","));
    }
    if c.get("AllowCredentials").and_then(Value::as_bool) == Some(true) {
        set(h, "access-control-allow-credentials", "true");
    }
    if allow != "*" {
        set(h, "vary", "Origin");
    }
}

/// A CORS preflight, answered from the configuration.
fn preflight(c: &Value, parts: &Parts) -> Response {
    let mut r = StatusCode::OK.into_response();
    let origin = header(parts, "origin").unwrap_or_default();
    let Some(allow) = allowed_origin(c, &origin) else {
        return r;
    };
    let want = header(parts, "access-control-request-method").unwrap_or_default();
    let methods = list_of(c, "AllowMethods");
    if !methods
        .iter()
        .any(|m| m == "*" || m.eq_ignore_ascii_case(&want))
    {
        return r;
    }
    let h = r.headers_mut();
    set(h, "access-control-allow-origin", &allow);
    set(h, "access-control-allow-methods", &methods.join(","));
    let headers = list_of(c, "AllowHeaders");
    if !headers.is_empty() {
        set(h, "access-control-allow-headers", &headers.join(","));
    }
    if let Some(age) = c.get("MaxAge").and_then(Value::as_u64) {
        set(h, "access-control-max-age", &age.to_string());
    }
    if c.get("AllowCredentials").and_then(Value::as_bool) == Some(true) {
        set(h, "access-control-allow-credentials", "true");
    }
    if allow != "*" {
        set(h, "vary", "Origin");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_url_shaped() {
        let a = url_id("000000000000", "us-east-1", "f", None);
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(a, url_id("000000000000", "us-east-1", "f", None));
        assert_ne!(a, url_id("000000000000", "us-east-1", "f", Some("live")));
    }

    #[test]
    fn hosts_and_paths_address_urls() {
        let id = "abcdef0123";
        let host = format!("{id}.lambda-url.us-east-1.localhost.localstack.cloud:4566");
        assert_eq!(
            addressed(Some(&host), "/x"),
            Some((id.to_string(), "/x".to_string()))
        );
        assert_eq!(
            addressed(Some("localhost:4566"), "/_aws/lambda-url/AbC/p/q"),
            Some(("abc".to_string(), "/p/q".to_string()))
        );
        assert_eq!(
            addressed(Some("localhost:4566"), "/_aws/lambda-url/abc"),
            Some(("abc".to_string(), "/".to_string()))
        );
        assert_eq!(
            addressed(Some("localhost:4566"), "/2015-03-31/functions"),
            None
        );
        assert_eq!(addressed(Some("s3.localhost.localstack.cloud"), "/"), None);
        assert_eq!(addressed(Some("x.lambda-url"), "/"), None);
        assert_eq!(addressed(None, "/_aws/lambda-url//"), None);
    }

    #[test]
    fn cors_origins_and_preflight() {
        let c =
            json!({"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"], "MaxAge": 60});
        assert_eq!(
            allowed_origin(&c, "https://a.example").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(allowed_origin(&c, "https://b.example"), None);
        let star = json!({"AllowOrigins": ["*"]});
        assert_eq!(allowed_origin(&star, "x").as_deref(), Some("*"));
        assert!(check_cors(Some(&json!({"AllowMethods": ["FETCH"]}))).is_err());
        assert!(check_cors(Some(&json!({"AllowMethods": ["get", "*"]}))).is_ok());
    }
}
