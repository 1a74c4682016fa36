//! The endpoints under `/_aws/sns/` (LocalStack's, same paths and shapes):
//! - `GET /_aws/sns/SimpleNotificationService-<region>.pem`: the region's signing certificate
//!   (the `SigningCertURL` of every signed message);
//! - `GET|DELETE /_aws/sns/sms-messages?accountId=&region=&phoneNumber=`: SMS sent;
//! - `GET|DELETE /_aws/sns/platform-endpoint-messages?accountId=&region=&endpointArn=`: mobile
//!   push messages sent;
//! - `GET|DELETE /_aws/sns/email-messages?accountId=&region=&email=`: email sent (an addition:
//!   LocalStack shows these through SES);
//! - `GET /_aws/sns/subscription-tokens/<subscription ARN>`: the confirmation token of a
//!   pending subscription.

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{Method, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use crate::model::{self, SnsRecord};
use crate::{Sns, signing};

const DEFAULT_ACCOUNT: &str = "000000000000";
const DEFAULT_REGION: &str = "us-east-1";

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"error": message}))
}

/// Which protocol a listing is of, its answer's member, and its filter parameter.
fn listing(name: &str) -> Option<(&'static [&'static str], &'static str, &'static str)> {
    match name {
        "sms-messages" => Some((&["sms"], "sms_messages", "phoneNumber")),
        "platform-endpoint-messages" => Some((
            &["application"],
            "platform_endpoint_messages",
            "endpointArn",
        )),
        "email-messages" => Some((&["email", "email-json"], "email_messages", "email")),
        _ => None,
    }
}

impl Sns {
    /// Answer a request under `/_aws/sns/`; `None` if the path is not one of them.
    pub fn serve_inspection(&self, parts: &Parts) -> Option<Response> {
        let path = parts.uri.path();
        let rest = path.strip_prefix("/_aws/sns/")?;
        let query: Vec<(String, String)> =
            snapstack_protocol::request::parse_form(parts.uri.query().unwrap_or("").as_bytes())
                .unwrap_or_default();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if let Some(region) = signing::region_of_cert_path(path) {
            if parts.method != Method::GET && parts.method != Method::HEAD {
                return Some(error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
            }
            return Some(match self.signer(region) {
                Ok(s) => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-pem-file")],
                    s.cert_pem.clone(),
                )
                    .into_response(),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.message),
            });
        }
        if let Some(arn) = rest.strip_prefix("subscription-tokens/") {
            let arn = snapstack_protocol::request::parse_form(format!("a={arn}").as_bytes())
                .ok()
                .and_then(|v| v.into_iter().next())
                .map(|(_, v)| v)
                .unwrap_or_default();
            return Some(self.subscription_token(&arn));
        }
        let (protocols, member, filter) = listing(rest.trim_end_matches('/'))?;
        let account = param("accountId").unwrap_or_else(|| DEFAULT_ACCOUNT.to_string());
        let region = param("region").unwrap_or_else(|| DEFAULT_REGION.to_string());
        let only = param(filter);
        let p = Partition::new(account.as_str(), region.as_str());
        let snap = self.store.snapshot();
        let sent: Vec<(snapstack_engine::Key, model::SentMessage)> = snap
            .scan_prefix(&model::sent_prefix(&p))
            .filter_map(|(k, r)| match r {
                SnsRecord::Sent(m)
                    if protocols.contains(&m.protocol.as_str())
                        && only.as_ref().is_none_or(|o| *o == m.endpoint) =>
                {
                    Some((k.clone(), (**m).clone()))
                }
                _ => None,
            })
            .collect();
        if parts.method == Method::DELETE {
            self.store.write(|txn| {
                for (k, _) in &sent {
                    txn.remove(k);
                }
            });
            return Some(StatusCode::NO_CONTENT.into_response());
        }
        if parts.method != Method::GET {
            return Some(error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
        }
        let mut by_endpoint: Map<String, Value> = Map::new();
        for (_, m) in sent {
            let entry = by_endpoint
                .entry(m.endpoint.clone())
                .or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                a.push(sent_json(&m));
            }
        }
        Some(json_response(
            StatusCode::OK,
            &json!({ member: by_endpoint, "region": region }),
        ))
    }

    fn subscription_token(&self, arn: &str) -> Response {
        let Ok((p, topic, id)) = crate::sub_of_arn(arn) else {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Subscription with arn {arn} not found"),
            );
        };
        match self.store.snapshot().get(&model::sub_key(&p, &topic, &id)) {
            Some(SnsRecord::Subscription(s)) => match &s.pending_token {
                Some(t) => json_response(
                    StatusCode::OK,
                    &json!({"subscription_token": t, "subscription_arn": arn}),
                ),
                None => error(
                    StatusCode::NOT_FOUND,
                    &format!("No token found for subscription {arn}"),
                ),
            },
            _ => error(
                StatusCode::NOT_FOUND,
                &format!("Subscription with arn {arn} not found"),
            ),
        }
    }
}

/// One sent message as the listing shows it.
fn sent_json(m: &model::SentMessage) -> Value {
    let mut v = json!({
        "MessageId": m.message_id,
        "Message": m.body,
        "Timestamp": snapstack_protocol::codec::time::iso8601_ms(m.at_ms),
        "Protocol": m.protocol,
    });
    let key = match m.protocol.as_str() {
        "sms" => "PhoneNumber",
        "application" => "TargetArn",
        _ => "Endpoint",
    };
    v[key] = json!(m.endpoint);
    if let Some(s) = &m.subject {
        v["Subject"] = json!(s);
    }
    if let Some(s) = &m.subscription_arn {
        v["SubscriptionArn"] = json!(s);
        if let Some((topic, _)) = s.rsplit_once(':') {
            v["TopicArn"] = json!(topic);
        }
    }
    v
}
