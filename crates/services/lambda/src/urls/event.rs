//! The function URL's event (payload format version 2.0) and the mapping of the function's
//! result back to an HTTP response.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::RequestContext;

use crate::model::UrlConfig;

/// Who signed an `AWS_IAM` request.
pub struct Caller {
    pub access_key: String,
    pub account: String,
}

/// `12/Mar/2020:19:03:58 +0000`, as `requestContext.time` reads.
fn clf_time(ms: u64) -> String {
    let iso = snapstack_protocol::codec::time::iso8601(ms as i64, false);
    // 2020-03-12T19:03:58Z
    let (y, m, d, t) = (
        iso.get(0..4).unwrap_or("1970"),
        iso.get(5..7).unwrap_or("01"),
        iso.get(8..10).unwrap_or("01"),
        iso.get(11..19).unwrap_or("00:00:00"),
    );
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mi = m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1;
    format!("{d}/{}/{y}:{t} +0000", MONTHS[mi])
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether a body of this content type travels as text in the event.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type.map(str::to_ascii_lowercase) else {
        return false;
    };
    [
        "text/",
        "json",
        "xml",
        "javascript",
        "x-www-form-urlencoded",
        "yaml",
    ]
    .iter()
    .any(|t| ct.contains(t))
}

/// The version 2.0 event of one request.
pub fn request_event(
    u: &UrlConfig,
    parts: &Parts,
    path: &str,
    body: &[u8],
    caller: Option<&Caller>,
    now_ms: u64,
    fctx: &RequestContext,
) -> Value {
    let mut headers = Map::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(v) = value.to_str() else { continue };
        if name == header::COOKIE {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from),
            );
            continue;
        }
        let k = name.as_str().to_ascii_lowercase();
        match headers.get_mut(&k) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(v);
            }
            _ => {
                headers.insert(k, json!(v));
            }
        }
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let port = host.rsplit_once(':').map_or("80", |(_, p)| p).to_string();
    headers.insert("x-forwarded-proto".into(), json!("http"));
    headers.insert("x-forwarded-port".into(), json!(port));
    headers
        .entry("x-forwarded-for")
        .or_insert_with(|| json!("127.0.0.1"));
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let mut qs: Map<String, Value> = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()).take(1000) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match qs.get_mut(&k) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                qs.insert(k, json!(v));
            }
        }
    }
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let mut rc = json!({
        "accountId": caller.map_or("anonymous", |c| c.account.as_str()),
        "apiId": u.url_id,
        "domainName": host.split(':').next().unwrap_or(""),
        "domainPrefix": u.url_id,
        "http": {
            "method": parts.method.as_str(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": user_agent,
        },
        "requestId": fctx.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": clf_time(now_ms),
        "timeEpoch": now_ms,
    });
    if let Some(c) = caller {
        rc["authorizer"] = json!({"iam": {
            "accessKey": c.access_key,
            "accountId": c.account,
            "callerId": c.access_key,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": format!("arn:aws:iam::{}:root", c.account),
            "userId": c.account,
        }});
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": rc,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        ev["cookies"] = json!(cookies);
    }
    if !qs.is_empty() {
        ev["queryStringParameters"] = Value::Object(qs);
    }
    if !body.is_empty() {
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok());
        match std::str::from_utf8(body) {
            Ok(text) if is_text(ct) => ev["body"] = json!(text),
            _ => {
                ev["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                ev["isBase64Encoded"] = json!(true);
            }
        }
    }
    ev
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The HTTP response of a function's result: a JSON object with `statusCode` is a structured
/// response; a JSON string is the body as is; any other JSON is a 200 JSON body.
pub fn response_of(payload: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return json_response(StatusCode::OK, payload.to_vec());
    };
    let o = match v {
        Value::String(s) => return json_response(StatusCode::OK, s.into_bytes()),
        Value::Object(o) if o.contains_key("statusCode") => o,
        _ => return json_response(StatusCode::OK, payload.to_vec()),
    };
    let status = o
        .get("statusCode")
        .and_then(|s| {
            s.as_u64()
                .or_else(|| s.as_str().and_then(|t| t.parse().ok()))
        })
        .and_then(|n| u16::try_from(n).ok())
        .and_then(|n| StatusCode::from_u16(n).ok());
    let Some(status) = status else {
        return (
            StatusCode::BAD_GATEWAY,
            json!({"Message": "Internal Server Error"}).to_string(),
        )
            .into_response();
    };
    let body: Vec<u8> = match o.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s))
            if o.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) =>
        {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(b) => b,
                Err(_) => {
                    return (
                        StatusCode::BAD_GATEWAY,
                        json!({"Message": "Internal Server Error"}).to_string(),
                    )
                        .into_response();
                }
            }
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut r = json_response(status, body);
    let h = r.headers_mut();
    if let Some(hs) = o.get("headers").and_then(Value::as_object) {
        for (k, v) in hs {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                h.insert(n, v);
            }
        }
    }
    if let Some(mv) = o.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, vs) in mv {
            let Ok(n) = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()) else {
                continue;
            };
            for v in vs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.append(n.clone(), v);
                }
            }
        }
    }
    if let Some(cookies) = o.get("cookies").and_then(Value::as_array) {
        for c in cookies.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(header::SET_COOKIE, v);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_protocol::http::Request;

    fn url() -> UrlConfig {
        UrlConfig {
            url_id: "abc".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            function: "f".into(),
            qualifier: None,
            auth_type: "NONE".into(),
            cors: None,
            invoke_mode: "BUFFERED".into(),
            created_ms: 0,
            last_modified_ms: 0,
        }
    }

    #[test]
    fn events_carry_the_request() {
        let req = Request::builder()
            .method("POST")
            .uri("/p/q?a=1&a=2&b=x%20y")
            .header("host", "abc.lambda-url.us-east-1.localhost:4566")
            .header("content-type", "application/json")
            .header("cookie", "c1=v1; c2=v2")
            .header("x-custom", "1")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let ctx = RequestContext::from_scope(None);
        let ev = request_event(&url(), &parts, "/p/q", b"{\"k\":1}", None, 0, &ctx);
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["rawPath"], "/p/q");
        assert_eq!(ev["rawQueryString"], "a=1&a=2&b=x%20y");
        assert_eq!(ev["queryStringParameters"]["a"], "1,2");
        assert_eq!(ev["queryStringParameters"]["b"], "x y");
        assert_eq!(ev["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(ev["headers"]["x-custom"], "1");
        assert_eq!(ev["headers"]["x-forwarded-port"], "4566");
        assert_eq!(ev["body"], "{\"k\":1}");
        assert_eq!(ev["isBase64Encoded"], false);
        assert_eq!(ev["requestContext"]["http"]["method"], "POST");
        assert_eq!(ev["requestContext"]["time"], "01/Jan/1970:00:00:00 +0000");
        let bin = request_event(&url(), &parts, "/", &[0xff, 0], None, 0, &ctx);
        assert_eq!(bin["isBase64Encoded"], true);
        assert_eq!(bin["body"], "/wA=");
    }

    #[test]
    fn results_map_to_responses() {
        let r = response_of(br#"{"statusCode": 201, "headers": {"X-A": "b"}, "body": "hi", "cookies": ["s=1", "t=2"]}"#);
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "b");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        let r = response_of(br#""plain""#);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let r = response_of(br#"{"message": "no status"}"#);
        assert_eq!(r.status(), 200);
        let r = response_of(br#"{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}"#);
        assert_eq!(r.status(), 200);
        let r = response_of(br#"{"statusCode": "nope"}"#);
        assert_eq!(r.status(), 502);
    }
}
