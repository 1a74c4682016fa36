//! STS (the query protocol, XML answers), every operation of its model (outbound identity
//! federation and delegated access in `outbound.rs`).
//!
//! Requests are read and answered by the model-driven query codec (`service.rs`); this module
//! takes the neutral input value and gives the neutral output value.
//!
//! Issued temporary credentials are records (`model.rs`): a request signed with one of their
//! access keys is that identity for `GetCallerIdentity` (the assumed role's ARN, user id and
//! account), across restarts. As in LocalStack, expired credentials are not refused with
//! `ExpiredToken`: they stop resolving, so the key reads as any unknown key does (the root of
//! the account the request names); their records are dropped as new credentials are issued.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use snapstack_engine::Store;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

mod federation;
mod issue;
pub mod model;
pub mod outbound;
mod service;
pub mod validation;

#[cfg(test)]
mod tests;

pub use federation::{claim, jwt_claims};
pub use model::{CredentialKind, IssuedCredentials, SessionScope, StsRecord};

/// The internal operation the gateway's policy enforcement invokes: the temporary credentials
/// an access key id names (`{"AccessKeyId", "KnownVersion"?}` → `{"Found", "SecretAccessKey",
/// "SessionToken", "Kind", "Account", "Arn", "UserId", "Expiration" (epoch ms), "Tags",
/// "SourceArn"?, "Policy"?, "PolicyArns", "Version"}`; expired ones are found, and say so by
/// their expiry). When the store is still at `KnownVersion`, only `{"Version", "Unchanged"}`.
pub const RESOLVE_CREDENTIALS: &str = "ResolveCredentials";

pub const NAME: &str = "sts";

/// The model's operations this service does not implement (they answer 501).
const NOT_IMPLEMENTED: &[&str] = &[];

/// What an operation answered: its output (the neutral value) and the store version a write
/// produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub output: Value,
    pub write_version: Option<u64>,
}

impl Answer {
    fn read(output: Value) -> Self {
        Answer {
            output,
            write_version: None,
        }
    }
}

pub struct Sts {
    pub store: Arc<Store<StsRecord>>,
}

impl Default for Sts {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Sts {
    pub fn new() -> Self {
        Sts {
            store: Store::new(NAME),
        }
    }

    fn model() -> &'static snapstack_protocol::model::ServiceModel {
        snapstack_protocol::model::named(NAME).expect("the STS model is embedded")
    }

    /// Run an operation on its (parsed) input.
    pub fn handle(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
    ) -> Result<Answer, AwsError> {
        self.handle_at(ctx, operation, input, now_ms())
    }

    /// [`Sts::handle`] at a given time (epoch ms).
    pub fn handle_at(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let model = Self::model();
        if !model.operations.contains_key(operation) {
            return Err(AwsError::new(
                "InvalidAction",
                format!("Could not find operation {operation} for version 2011-06-15"),
            ));
        }
        if NOT_IMPLEMENTED.contains(&operation) {
            return Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("STS", operation),
            )
            .with_status(StatusCode::NOT_IMPLEMENTED));
        }
        validation::check(model, operation, input)?;
        let empty = serde_json::Map::new();
        let input = input.as_object().unwrap_or(&empty);
        match operation {
            "GetCallerIdentity" => Ok(Answer::read(self.caller_identity(ctx, now))),
            "GetAccessKeyInfo" => Ok(Answer::read(self.access_key_info(ctx, input, now))),
            "DecodeAuthorizationMessage" => Ok(Answer::read(decode_authorization_message(input))),
            "AssumeRole" => self.assume_role(ctx, input, now),
            "AssumeRoleWithSAML" => self.assume_role_with_saml(ctx, input, now),
            "AssumeRoleWithWebIdentity" => self.assume_role_with_web_identity(ctx, input, now),
            "AssumeRoot" => self.assume_root(ctx, input, now),
            "GetSessionToken" => self.get_session_token(ctx, input, now),
            "GetFederationToken" => self.get_federation_token(ctx, input, now),
            "GetDelegatedAccessToken" => self.delegated_access_token(ctx, input, now),
            // Without the caller's outbound federation settings (`service.rs` asks IAM for
            // them), the feature reads as off.
            "GetWebIdentityToken" => {
                let caller = self.caller_identity(ctx, now);
                let arn = caller["Arn"].as_str().unwrap_or("").to_string();
                let expiry = self
                    .credentials(&ctx.access_key, now)
                    .map(|c| c.expires_at_ms);
                self.web_identity_token(ctx, input, None, (&arn, expiry), now)
            }
            other => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("STS", other),
            )
            .with_status(StatusCode::NOT_IMPLEMENTED)),
        }
    }

    /// `GetWebIdentityToken` for a caller whose account's outbound federation issuer is
    /// `issuer` and whose identity (ARN) is `arn`.
    pub fn handle_web_identity_token(
        &self,
        ctx: &RequestContext,
        input: &Value,
        issuer: Option<&str>,
        arn: &str,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let model = Self::model();
        validation::check(model, "GetWebIdentityToken", input)?;
        let empty = serde_json::Map::new();
        let input = input.as_object().unwrap_or(&empty);
        let expiry = self
            .credentials(&ctx.access_key, now)
            .map(|c| c.expires_at_ms);
        self.web_identity_token(ctx, input, issuer, (arn, expiry), now)
    }

    /// The live (unexpired) credentials an access key id names, if this emulator issued it.
    pub fn credentials(&self, access_key_id: &str, now: u64) -> Option<IssuedCredentials> {
        if access_key_id.is_empty() {
            return None;
        }
        match self
            .store
            .snapshot()
            .get(&model::credentials_key(access_key_id))
        {
            Some(StsRecord::Credentials(c)) if !c.is_expired(now) => Some((**c).clone()),
            _ => None,
        }
    }

    /// [`RESOLVE_CREDENTIALS`].
    pub fn resolve_credentials(&self, input: &Value) -> Value {
        let snap = self.store.snapshot();
        let version = snap.version();
        if input.get("KnownVersion").and_then(Value::as_u64) == Some(version) {
            return json!({"Version": version, "Unchanged": true});
        }
        let key = input
            .get("AccessKeyId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(StsRecord::Credentials(c)) = snap.get(&model::credentials_key(key)) else {
            return json!({"Found": false, "Version": version});
        };
        let scope = match snap.get(&model::scope_key(key)) {
            Some(StsRecord::Scope(s)) => (**s).clone(),
            _ => SessionScope::default(),
        };
        let kind = match c.kind {
            CredentialKind::AssumedRole => "assumed-role",
            CredentialKind::FederatedUser => "federated-user",
            CredentialKind::Session => "session",
            CredentialKind::Root => "root",
        };
        let mut out = json!({
            "Found": true,
            "Version": version,
            "SecretAccessKey": c.secret_access_key,
            "SessionToken": c.session_token,
            "Kind": kind,
            "Account": c.account,
            "Arn": c.arn,
            "UserId": c.user_id,
            "Expiration": c.expires_at_ms,
            "Tags": c.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
            "PolicyArns": scope.policy_arns,
        });
        if let Some(s) = scope.source_arn {
            out["SourceArn"] = json!(s);
        }
        if let Some(p) = scope.policy {
            out["Policy"] = json!(p);
        }
        out
    }

    fn caller_identity(&self, ctx: &RequestContext, now: u64) -> Value {
        match self.credentials(&ctx.access_key, now) {
            Some(c) => json!({"UserId": c.user_id, "Account": c.account, "Arn": c.arn}),
            None => {
                let account = ctx.account();
                json!({
                    "UserId": account,
                    "Account": account,
                    "Arn": format!("arn:aws:iam::{account}:root"),
                })
            }
        }
    }

    /// The account of a key: the one this emulator issued it for; else the account an
    /// AWS-format key id encodes; else, as LocalStack answers, the caller's account.
    fn access_key_info(
        &self,
        ctx: &RequestContext,
        input: &serde_json::Map<String, Value>,
        now: u64,
    ) -> Value {
        let key = input
            .get("AccessKeyId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let account = self
            .credentials(key, now)
            .map(|c| c.account)
            .or_else(|| model::account_of_key_id(key))
            .unwrap_or_else(|| ctx.account().to_string());
        json!({ "Account": account })
    }
}

/// This emulator enforces no policies, so it never hands out encoded authorization messages; a
/// message that is base64 of JSON is answered decoded, any other is given back as it came (as
/// LocalStack does).
fn decode_authorization_message(input: &serde_json::Map<String, Value>) -> Value {
    let message = input
        .get("EncodedMessage")
        .and_then(Value::as_str)
        .unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(message.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| serde_json::from_str::<Value>(s).is_ok());
    json!({ "DecodedMessage": decoded.unwrap_or_else(|| message.to_string()) })
}
