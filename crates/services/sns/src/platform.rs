//! Mobile push (platform applications and their endpoints) and SMS settings, as records:
//! messages to them are recorded (`SnsRecord::Sent`), never sent anywhere.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::Digest;
use snapstack_engine::{Key, Partition};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

use crate::model::{self, PlatformApplication, PlatformEndpoint, SentMessage, SnsRecord};
use crate::{
    Answer, Input, Sns, invalid, invalid_param, new_id, not_found, now_ms, str_of, string_map,
};

const PLATFORMS: &[&str] = &[
    "ADM",
    "APNS",
    "APNS_SANDBOX",
    "GCM",
    "BAIDU",
    "MPNS",
    "WNS",
    "APNS_VOIP",
    "APNS_VOIP_SANDBOX",
    "MACOS",
    "MACOS_SANDBOX",
];

const SMS_ATTRIBUTES: &[&str] = &[
    "MonthlySpendLimit",
    "DeliveryStatusIAMRole",
    "DeliveryStatusSuccessSamplingRate",
    "DefaultSenderID",
    "DefaultSMSType",
    "UsageReportS3Bucket",
];

/// Secrets a platform application's attributes hold, never answered.
const SECRET_ATTRIBUTES: &[&str] = &["PlatformCredential", "PlatformPrincipal"];

fn resource_not_found(message: &str) -> AwsError {
    AwsError::new("ResourceNotFound", message).with_status(StatusCode::NOT_FOUND)
}

/// `arn:aws:sns:<region>:<account>:app/<platform>/<name>` → (partition, platform, name).
fn app_of_arn(arn: &str) -> Result<(Partition, String, String), AwsError> {
    let a = model::parse_arn(arn).ok_or_else(|| invalid_param("PlatformApplicationArn"))?;
    let mut parts = a.resource.splitn(3, '/');
    match (a.service, parts.next(), parts.next(), parts.next()) {
        ("sns", Some("app"), Some(platform), Some(name)) if !name.is_empty() => Ok((
            Partition::new(a.account, a.region),
            platform.to_string(),
            name.to_string(),
        )),
        _ => Err(invalid_param("PlatformApplicationArn")),
    }
}

/// `...:endpoint/<platform>/<app>/<id>` → (partition, platform, app, id).
fn endpoint_of_arn(arn: &str) -> Result<(Partition, String, String, String), AwsError> {
    let a = model::parse_arn(arn).ok_or_else(|| invalid_param("EndpointArn"))?;
    let parts: Vec<&str> = a.resource.split('/').collect();
    match (a.service, parts.as_slice()) {
        ("sns", ["endpoint", platform, app, id]) => Ok((
            Partition::new(a.account, a.region),
            platform.to_string(),
            app.to_string(),
            id.to_string(),
        )),
        _ => Err(invalid_param("EndpointArn")),
    }
}

fn phone_ok(n: &str) -> bool {
    let d = n.strip_prefix('+').unwrap_or(n);
    !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit())
}

/// The one-time password "sent" to a sandbox number (recorded as an SMS).
pub(crate) fn otp_for(number: &str) -> String {
    let d = sha2::Sha256::digest(number.as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{n:06}")
}

impl Sns {
    pub(crate) fn load_endpoint(
        &self,
        arn: &str,
    ) -> Result<(Partition, Key, PlatformEndpoint), AwsError> {
        let (p, platform, app, id) = endpoint_of_arn(arn)?;
        let key = model::endpoint_key(&p, &platform, &app, &id);
        match self.store.snapshot().get(&key) {
            Some(SnsRecord::PlatformEndpoint(e)) => Ok((p, key, (**e).clone())),
            _ => Err(not_found("Endpoint does not exist")),
        }
    }

    fn load_app(&self, arn: &str) -> Result<(Partition, Key, PlatformApplication), AwsError> {
        let (p, platform, name) = app_of_arn(arn)?;
        let key = model::app_key(&p, &platform, &name);
        match self.store.snapshot().get(&key) {
            Some(SnsRecord::PlatformApplication(a)) => Ok((p, key, (**a).clone())),
            _ => Err(not_found("PlatformApplication does not exist")),
        }
    }

    pub(crate) fn create_platform_application(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or("");
        let platform = str_of(input, "Platform").unwrap_or("");
        if name.is_empty()
            || name.len() > 256
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(invalid(
                "Invalid parameter: Invalid platform application name",
            ));
        }
        if !PLATFORMS.contains(&platform) {
            return Err(invalid(
                "Invalid parameter: Platform Reason: Invalid platform",
            ));
        }
        let attrs = string_map(input, "Attributes");
        if !attrs.contains_key("PlatformCredential") {
            return Err(invalid(
                "Invalid parameter: Attributes Reason: PlatformCredential attribute is required",
            ));
        }
        let p = &ctx.partition;
        let arn = format!(
            "arn:aws:sns:{}:{}:app/{platform}/{name}",
            p.region, p.account
        );
        let key = model::app_key(p, platform, name);
        let app = PlatformApplication {
            arn: arn.clone(),
            name: name.to_string(),
            platform: platform.to_string(),
            attributes: attrs,
        };
        let (_, version) = self.store.write(|txn| {
            txn.insert(key, SnsRecord::PlatformApplication(Box::new(app)));
        });
        Ok(Answer::wrote(
            json!({"PlatformApplicationArn": arn}),
            version,
        ))
    }

    pub(crate) fn delete_platform_application(&self, input: &Input) -> Result<Answer, AwsError> {
        let (p, platform, name) =
            app_of_arn(str_of(input, "PlatformApplicationArn").unwrap_or(""))?;
        let (_, version) = self.store.write(|txn| {
            txn.remove(&model::app_key(&p, &platform, &name));
            txn.remove_prefix(&model::endpoints_of_app(&p, &platform, &name));
        });
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn list_platform_applications(&self, ctx: &RequestContext, _input: &Input) -> Value {
        let snap = self.store.snapshot();
        let apps: Vec<Value> = snap
            .scan_prefix(&model::apps_prefix(&ctx.partition))
            .filter_map(|(_, r)| match r {
                SnsRecord::PlatformApplication(a) => Some(json!({
                    "PlatformApplicationArn": a.arn,
                    "Attributes": public_attributes(&a.attributes),
                })),
                _ => None,
            })
            .collect();
        json!({ "PlatformApplications": apps })
    }

    pub(crate) fn get_platform_application_attributes(
        &self,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let (_, _, app) = self.load_app(str_of(input, "PlatformApplicationArn").unwrap_or(""))?;
        Ok(json!({ "Attributes": public_attributes(&app.attributes) }))
    }

    pub(crate) fn set_platform_application_attributes(
        &self,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let (_, key, mut app) =
            self.load_app(str_of(input, "PlatformApplicationArn").unwrap_or(""))?;
        app.attributes.extend(string_map(input, "Attributes"));
        let (_, version) = self.store.write(|txn| {
            if txn.contains(&key) {
                txn.insert(key.clone(), SnsRecord::PlatformApplication(Box::new(app)));
            }
        });
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn create_platform_endpoint(&self, input: &Input) -> Result<Answer, AwsError> {
        let app_arn = str_of(input, "PlatformApplicationArn").unwrap_or("");
        let (p, _, app) = self.load_app(app_arn)?;
        let token = str_of(input, "Token").unwrap_or("");
        if token.is_empty() {
            return Err(invalid_param("Token"));
        }
        let mut attrs: BTreeMap<String, String> = string_map(input, "Attributes");
        attrs.insert("Token".into(), token.to_string());
        attrs
            .entry("Enabled".into())
            .or_insert_with(|| "true".into());
        if let Some(c) = str_of(input, "CustomUserData") {
            attrs.insert("CustomUserData".into(), c.to_string());
        }
        let prefix = model::endpoints_of_app(&p, &app.platform, &app.name);
        let (res, version) = self.store.write(|txn| {
            for (_, r) in txn.scan_prefix(&prefix) {
                if let SnsRecord::PlatformEndpoint(e) = r
                    && e.attributes.get("Token").map(String::as_str) == Some(token) {
                        if e.attributes != attrs {
                            return Err(invalid(format!(
                                "Invalid parameter: Token Reason: Endpoint {} already exists with the same Token, but different attributes.",
                                e.arn
                            )));
                        }
                        return Ok((e.arn.clone(), false));
                    }
            }
            let id = new_id();
            let arn = format!(
                "arn:aws:sns:{}:{}:endpoint/{}/{}/{id}",
                p.region, p.account, app.platform, app.name
            );
            txn.insert(
                model::endpoint_key(&p, &app.platform, &app.name, &id),
                SnsRecord::PlatformEndpoint(Box::new(PlatformEndpoint {
                    arn: arn.clone(),
                    application_arn: app.arn.clone(),
                    attributes: attrs.clone(),
                })),
            );
            Ok((arn, true))
        });
        let (arn, wrote) = res?;
        let out = json!({"EndpointArn": arn});
        Ok(if wrote {
            Answer::wrote(out, version)
        } else {
            Answer::read(out)
        })
    }

    pub(crate) fn delete_endpoint(&self, input: &Input) -> Result<Answer, AwsError> {
        let (p, platform, app, id) = endpoint_of_arn(str_of(input, "EndpointArn").unwrap_or(""))?;
        let (_, version) = self
            .store
            .write(|txn| txn.remove(&model::endpoint_key(&p, &platform, &app, &id)));
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn list_endpoints_by_platform_application(
        &self,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let (p, _, app) = self.load_app(str_of(input, "PlatformApplicationArn").unwrap_or(""))?;
        let snap = self.store.snapshot();
        let eps: Vec<Value> = snap
            .scan_prefix(&model::endpoints_of_app(&p, &app.platform, &app.name))
            .filter_map(|(_, r)| match r {
                SnsRecord::PlatformEndpoint(e) => {
                    Some(json!({"EndpointArn": e.arn, "Attributes": e.attributes}))
                }
                _ => None,
            })
            .collect();
        Ok(json!({ "Endpoints": eps }))
    }

    pub(crate) fn get_endpoint_attributes(&self, input: &Input) -> Result<Value, AwsError> {
        let (_, _, e) = self.load_endpoint(str_of(input, "EndpointArn").unwrap_or(""))?;
        Ok(json!({ "Attributes": e.attributes }))
    }

    pub(crate) fn set_endpoint_attributes(&self, input: &Input) -> Result<Answer, AwsError> {
        let (_, key, mut e) = self.load_endpoint(str_of(input, "EndpointArn").unwrap_or(""))?;
        for (k, v) in string_map(input, "Attributes") {
            if k == "Enabled" && !matches!(v.as_str(), "true" | "false") {
                return Err(invalid(
                    "Invalid parameter: Attributes Reason: Enabled must be true or false",
                ));
            }
            e.attributes.insert(k, v);
        }
        let (_, version) = self.store.write(|txn| {
            if txn.contains(&key) {
                txn.insert(key.clone(), SnsRecord::PlatformEndpoint(Box::new(e)));
            }
        });
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn set_sms_attributes(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let given = string_map(input, "attributes");
        for (k, v) in &given {
            if !SMS_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid(format!("Invalid parameter: {k}")));
            }
            if k == "DefaultSMSType" && !matches!(v.as_str(), "Promotional" | "Transactional") {
                return Err(invalid("Invalid parameter: DefaultSMSType"));
            }
        }
        let key = model::sms_key(&ctx.partition);
        let (_, version) = self.store.write(|txn| {
            let mut cur = match txn.get(&key) {
                Some(SnsRecord::SmsAttributes(m)) => m.clone(),
                _ => BTreeMap::new(),
            };
            cur.extend(given);
            txn.insert(key.clone(), SnsRecord::SmsAttributes(cur));
        });
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn get_sms_attributes(&self, ctx: &RequestContext, input: &Input) -> Value {
        let cur = match self.store.snapshot().get(&model::sms_key(&ctx.partition)) {
            Some(SnsRecord::SmsAttributes(m)) => m.clone(),
            _ => BTreeMap::new(),
        };
        let wanted: Vec<&str> = input
            .get("attributes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let out: BTreeMap<_, _> = cur
            .into_iter()
            .filter(|(k, _)| wanted.is_empty() || wanted.contains(&k.as_str()))
            .collect();
        json!({ "attributes": out })
    }

    pub(crate) fn check_opted_out(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let n = str_of(input, "phoneNumber").unwrap_or("");
        if !phone_ok(n) {
            return Err(invalid(
                "Invalid parameter: PhoneNumber Reason: input incorrectly formatted",
            ));
        }
        let out = self
            .store
            .snapshot()
            .get(&model::optout_key(&ctx.partition, n))
            .is_some();
        Ok(json!({ "isOptedOut": out }))
    }

    pub(crate) fn list_opted_out(&self, ctx: &RequestContext, _input: &Input) -> Value {
        let snap = self.store.snapshot();
        let prefix = model::optout_prefix(&ctx.partition);
        let numbers: Vec<String> = snap
            .scan_prefix(&prefix)
            .filter_map(|(k, _)| match k.parts()?.last()? {
                snapstack_engine::key::Part::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        json!({ "phoneNumbers": numbers })
    }

    pub(crate) fn opt_in(&self, ctx: &RequestContext, input: &Input) -> Result<Answer, AwsError> {
        let n = str_of(input, "phoneNumber").unwrap_or("");
        if !phone_ok(n) {
            return Err(invalid(
                "Invalid parameter: PhoneNumber Reason: input incorrectly formatted",
            ));
        }
        let key = model::optout_key(&ctx.partition, n);
        let (_, version) = self.store.write(|txn| txn.remove(&key));
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn create_sandbox_number(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let n = str_of(input, "PhoneNumber").unwrap_or("").to_string();
        if !phone_ok(&n) {
            return Err(invalid("Invalid parameter: PhoneNumber"));
        }
        let p = ctx.partition.clone();
        let (_, version) = self.store.write(|txn| {
            txn.insert(
                model::sandbox_key(&p, &n),
                SnsRecord::SandboxNumber { verified: false },
            );
            Sns::record_sent(
                txn,
                &p,
                SentMessage {
                    protocol: "sms".into(),
                    endpoint: n.clone(),
                    subscription_arn: None,
                    message_id: new_id(),
                    body: format!("Your verification code is {}", otp_for(&n)),
                    subject: None,
                    at_ms: now_ms(),
                },
            );
        });
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn verify_sandbox_number(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let n = str_of(input, "PhoneNumber").unwrap_or("");
        let otp = str_of(input, "OneTimePassword").unwrap_or("");
        let key = model::sandbox_key(&ctx.partition, n);
        if self.store.snapshot().get(&key).is_none() {
            return Err(resource_not_found("Phone number does not exist."));
        }
        if otp != otp_for(n) {
            return Err(AwsError::new(
                "VerificationException",
                "Invalid one-time password.",
            ));
        }
        let (_, version) = self
            .store
            .write(|txn| txn.insert(key, SnsRecord::SandboxNumber { verified: true }));
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn delete_sandbox_number(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let n = str_of(input, "PhoneNumber").unwrap_or("");
        let key = model::sandbox_key(&ctx.partition, n);
        let (found, version) = self.store.write(|txn| txn.remove(&key).is_some());
        if !found {
            return Err(resource_not_found("Phone number does not exist."));
        }
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn list_sandbox_numbers(&self, ctx: &RequestContext, _input: &Input) -> Value {
        let snap = self.store.snapshot();
        let numbers: Vec<Value> = snap
            .scan_prefix(&model::sandbox_prefix(&ctx.partition))
            .filter_map(|(k, r)| {
                let n = match k.parts()?.last()? {
                    snapstack_engine::key::Part::Str(s) => s.clone(),
                    _ => return None,
                };
                let verified = matches!(r, SnsRecord::SandboxNumber { verified: true });
                Some(json!({"PhoneNumber": n, "Status": if verified { "Verified" } else { "Pending" }}))
            })
            .collect();
        json!({ "PhoneNumbers": numbers })
    }
}

fn public_attributes(a: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    a.iter()
        .filter(|(k, _)| !SECRET_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
