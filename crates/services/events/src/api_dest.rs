//! Deliveries to API destinations: the destination's method and endpoint (`*` in its path
//! replaced by the target's `PathParameterValues`), the connection's and the target's header
//! and query parameters, and the connection's authorization (an API key header, HTTP basic, or
//! an OAuth client-credentials token fetched from the authorization endpoint), over the shared
//! HTTP client (`https` included). As AWS does, 401, 407, 409, 429 and 5xx answers (and
//! unreachable endpoints) are retried; other non-2xx answers are not.

use base64::Engine as _;
use serde_json::{Map, Value};
use snapstack_engine::Partition;

use crate::delivery::Outcome;
use crate::model::{self, ApiDestination, Connection, EventsRecord};
use crate::{Arn, Events};

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Key`/`Value` pairs of an `HttpParameters`-like list member (`HeaderParameters`, ...).
fn pairs(params: Option<&Value>, member: &str) -> Vec<(String, String)> {
    let Some(list) = params.and_then(|p| p.get(member)) else {
        return Vec::new();
    };
    match list {
        // Connections: [{Key, Value, IsValueSecret}].
        Value::Array(a) => a
            .iter()
            .filter_map(|e| {
                Some((
                    e.get("Key")?.as_str()?.to_string(),
                    e.get("Value")?.as_str()?.to_string(),
                ))
            })
            .collect(),
        // Targets: {name: value}.
        Value::Object(m) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

fn with_query(url: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return url.to_string();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", q.join("&"))
}

/// The endpoint with each `*` replaced by the next path parameter value.
fn fill_path(endpoint: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(endpoint.len());
    let mut it = values.iter();
    for c in endpoint.chars() {
        if c == '*'
            && let Some(v) = it.next()
        {
            out.push_str(&encode(v));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether an answer's status is worth a retry, as AWS's API destinations decide.
fn retryable(status: u16) -> bool {
    matches!(status, 401 | 407 | 409 | 429) || status >= 500
}

/// An OAuth access token for a client-credentials connection.
async fn oauth_token(oauth: &Value) -> Result<String, Outcome> {
    let endpoint = oauth
        .get("AuthorizationEndpoint")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let method = oauth
        .get("HttpMethod")
        .and_then(Value::as_str)
        .unwrap_or("POST");
    let client = oauth.get("ClientParameters");
    let id = client
        .and_then(|c| c.get("ClientID"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let secret = client
        .and_then(|c| c.get("ClientSecret"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let http = oauth.get("OAuthHttpParameters");
    let mut headers: Vec<(String, String)> = pairs(http, "HeaderParameters");
    headers.push((
        "Authorization".into(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        ),
    ));
    let mut form = vec![("grant_type".to_string(), "client_credentials".to_string())];
    form.extend(pairs(http, "BodyParameters"));
    let query = pairs(http, "QueryStringParameters");
    let (url, body) = if method == "GET" {
        form.extend(query);
        (with_query(endpoint, &form), String::new())
    } else {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        (with_query(endpoint, &query), body.join("&"))
    };
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let answer = snapstack_service::http_client::request(method, &url, &headers, body.as_bytes())
        .await
        .map_err(|e| Outcome::Retry("OAuthError".into(), e))?;
    if !(200..300).contains(&answer.status) {
        let why = format!("The authorization endpoint answered {}", answer.status);
        return Err(if retryable(answer.status) {
            Outcome::Retry("OAuthError".into(), why)
        } else {
            Outcome::Fail("OAuthError".into(), why)
        });
    }
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            Outcome::Fail(
                "OAuthError".into(),
                "The authorization endpoint answered no access_token".into(),
            )
        })
}

impl Events {
    fn destination_and_connection(
        &self,
        a: &Arn<'_>,
    ) -> Option<(ApiDestination, Option<Connection>)> {
        let p = Partition::new(a.account, a.region);
        let name = a
            .resource
            .strip_prefix("api-destination/")?
            .split('/')
            .next()?;
        let snap = self.store.snapshot();
        let Some(EventsRecord::ApiDestination(d)) = snap.get(&model::apidest_key(&p, name)) else {
            return None;
        };
        let conn_name = crate::parse_arn(&d.connection_arn)
            .and_then(|c| c.resource.strip_prefix("connection/")?.split('/').next())
            .map(str::to_string);
        let conn = conn_name.and_then(|n| match snap.get(&model::connection_key(&p, &n)) {
            Some(EventsRecord::Connection(c)) => Some((**c).clone()),
            _ => None,
        });
        Some(((**d).clone(), conn))
    }

    /// One attempt of a delivery to an API destination.
    pub(crate) async fn send_api_destination(
        &self,
        a: &Arn<'_>,
        target: &Value,
        body: &str,
    ) -> Outcome {
        let Some((dest, conn)) = self.destination_and_connection(a) else {
            return Outcome::Fail(
                "ResourceNotFoundException".into(),
                format!("The api destination {} does not exist.", a.resource),
            );
        };
        if dest.state != "ACTIVE" {
            return Outcome::Fail(
                "ApiDestinationInactive".into(),
                format!("The api destination {} is not active.", dest.name),
            );
        }
        let Some(conn) = conn else {
            return Outcome::Fail(
                "ResourceNotFoundException".into(),
                format!("The connection {} does not exist.", dest.connection_arn),
            );
        };
        if conn.state == "DEAUTHORIZED" {
            return Outcome::Fail(
                "ConnectionDeauthorized".into(),
                format!("The connection {} is deauthorized.", conn.name),
            );
        }
        let auth: Value = serde_json::from_str(&conn.auth_parameters).unwrap_or_default();
        let conn_http = auth.get("InvocationHttpParameters");
        let target_http = target.get("HttpParameters");
        let path_values: Vec<String> = target_http
            .and_then(|h| h.get("PathParameterValues"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut query = pairs(conn_http, "QueryStringParameters");
        query.extend(pairs(target_http, "QueryStringParameters"));
        let url = with_query(&fill_path(&dest.endpoint, &path_values), &query);
        let mut headers: Map<String, Value> = Map::new();
        let mut set = |k: &str, v: String| {
            headers.insert(k.to_string(), Value::String(v));
        };
        set("Content-Type", "application/json; charset=utf-8".into());
        set("User-Agent", "Amazon/EventBridge/ApiDestinations".into());
        for (k, v) in pairs(conn_http, "HeaderParameters") {
            set(&k, v);
        }
        for (k, v) in pairs(target_http, "HeaderParameters") {
            set(&k, v);
        }
        match conn.authorization_type.as_str() {
            "API_KEY" => {
                let p = auth.get("ApiKeyAuthParameters");
                let name = p
                    .and_then(|p| p.get("ApiKeyName"))
                    .and_then(Value::as_str)
                    .unwrap_or("x-api-key");
                let value = p
                    .and_then(|p| p.get("ApiKeyValue"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                set(name, value.to_string());
            }
            "BASIC" => {
                let p = auth.get("BasicAuthParameters");
                let user = p
                    .and_then(|p| p.get("Username"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let pass = p
                    .and_then(|p| p.get("Password"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                set(
                    "Authorization",
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
                    ),
                );
            }
            "OAUTH_CLIENT_CREDENTIALS" => {
                let oauth = auth.get("OAuthParameters").cloned().unwrap_or_default();
                match oauth_token(&oauth).await {
                    Ok(token) => set("Authorization", format!("Bearer {token}")),
                    Err(o) => return o,
                }
            }
            _ => {}
        }
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let send_body = if matches!(dest.method.as_str(), "GET" | "HEAD") {
            ""
        } else {
            body
        };
        match snapstack_service::http_client::request(
            &dest.method,
            &url,
            &headers,
            send_body.as_bytes(),
        )
        .await
        {
            Ok(a) if (200..300).contains(&a.status) => Outcome::Delivered,
            Ok(a) => {
                let why = format!("The endpoint answered HTTP {}", a.status);
                if retryable(a.status) {
                    Outcome::Retry("SDK_CLIENT_ERROR".into(), why)
                } else {
                    Outcome::Fail("SDK_CLIENT_ERROR".into(), why)
                }
            }
            Err(e) => Outcome::Retry("SDK_CLIENT_ERROR".into(), e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_filled_and_queried() {
        assert_eq!(
            fill_path("https://h/a/*/b/*", &["x y".into(), "z".into()]),
            "https://h/a/x%20y/b/z"
        );
        assert_eq!(fill_path("https://h/*", &[]), "https://h/*");
        assert_eq!(
            with_query("https://h/p?a=1", &[("k".into(), "v&w".into())]),
            "https://h/p?a=1&k=v%26w"
        );
        let conn = serde_json::json!({"HeaderParameters": [{"Key": "a", "Value": "1", "IsValueSecret": false}]});
        assert_eq!(
            pairs(Some(&conn), "HeaderParameters"),
            vec![("a".into(), "1".into())]
        );
        let target = serde_json::json!({"HeaderParameters": {"b": "2"}});
        assert_eq!(
            pairs(Some(&target), "HeaderParameters"),
            vec![("b".into(), "2".into())]
        );
        assert!(retryable(429) && retryable(503) && retryable(401));
        assert!(!retryable(400) && !retryable(404));
    }
}
