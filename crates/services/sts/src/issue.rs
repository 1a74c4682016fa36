//! The operations that issue temporary credentials: AssumeRole, AssumeRoleWithSAML,
//! AssumeRoleWithWebIdentity, AssumeRoot, GetSessionToken, GetFederationToken.
//!
//! Each validates what the model cannot (ARNs, tags, policies), decides the identity the
//! credentials stand for, and stores them (`model.rs`) before answering. There is no IAM here,
//! so roles are not looked up and trust policies are not evaluated (as in LocalStack): any
//! well-formed role ARN can be assumed, and the role's id is derived from its ARN.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha1::Digest as _;
use snapstack_protocol::codec::time::ms_to_value;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

use crate::federation::{claim, jwt_claims, parse_saml};
use crate::model::{self, CredentialKind, IssuedCredentials, SessionScope, StsRecord};
use crate::validation::error as validation_error;
use crate::{Answer, Sts};

/// Default durations (seconds).
const ROLE_DEFAULT: u64 = 3600;
const SESSION_DEFAULT: u64 = 43_200;
const ROOT_DEFAULT: u64 = 900;
/// A role session assumed with role-session credentials lasts at most an hour.
const CHAINED_MAX: u64 = 3600;
/// Expired credentials dropped per issuance.
const SWEEP: usize = 32;
/// The packed size limit the `PackedPolicySize` percentage is of (an estimate of AWS's
/// compressed format: the compacted policy, ARNs and tags, byte for byte).
const PACKED_LIMIT: usize = 4096;

/// Session tags: (key as given, value).
type Tags = Vec<(String, String)>;

/// An ARN's parts.
struct Arn<'a> {
    partition: &'a str,
    account: &'a str,
    resource: &'a str,
}

/// `arn:partition:service:region:account:resource`, partition, service and resource non-empty
/// (what STS accepts as a role ARN).
fn parse_arn(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.splitn(6, ':');
    let (arn, partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn == "arn" && !partition.is_empty() && !service.is_empty() && !resource.is_empty())
        .then_some(Arn {
            partition,
            account,
            resource,
        })
}

fn role_arn<'a>(text: &'a str) -> Result<Arn<'a>, AwsError> {
    parse_arn(text).ok_or_else(|| validation_error(format!("{text} is invalid")))
}

fn str_of<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

fn duration(input: &Map<String, Value>, default: u64) -> u64 {
    input
        .get("DurationSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(default)
}

fn invalid_parameter(message: &str) -> AwsError {
    AwsError::new("InvalidParameterValue", message)
}

fn access_denied(message: &str) -> AwsError {
    AwsError::new("AccessDenied", message).with_status(StatusCode::FORBIDDEN)
}

/// Session tags of a request, checked; with the caller's transitive tags when it is a role
/// session (role chaining), which the request may not override.
fn session_tags(
    input: &Map<String, Value>,
    caller: Option<&IssuedCredentials>,
) -> Result<(Tags, Vec<String>), AwsError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in input
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = t.get("Key").and_then(Value::as_str).unwrap_or_default();
        let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
        if tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(invalid_parameter(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        tags.push((key.to_string(), value.to_string()));
    }
    let mut transitive: Vec<String> = Vec::new();
    for k in input
        .get("TransitiveTagKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let lower = k.to_ascii_lowercase();
        if !tags.iter().any(|(t, _)| t.to_ascii_lowercase() == lower) {
            return Err(invalid_parameter(
                "The specified transitive tag key must be included in the requested tags.",
            ));
        }
        if !transitive.contains(&lower) {
            transitive.push(lower);
        }
    }
    if let Some(caller) = caller.filter(|c| c.kind == CredentialKind::AssumedRole) {
        for key in &caller.transitive_tag_keys {
            if tags.iter().any(|(t, _)| t.to_ascii_lowercase() == *key) {
                return Err(invalid_parameter(
                    "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.",
                ));
            }
            if let Some(tag) = caller
                .tags
                .iter()
                .find(|(t, _)| t.to_ascii_lowercase() == *key)
            {
                tags.push(tag.clone());
            }
            if !transitive.contains(key) {
                transitive.push(key.clone());
            }
        }
    }
    Ok((tags, transitive))
}

/// `PackedPolicySize` when the request passes session policies or tags: the inline policy must
/// be JSON; the size is a percentage of the packed limit, over 100 refused.
fn packed_policy_size(
    input: &Map<String, Value>,
    tags: &[(String, String)],
) -> Result<Option<u64>, AwsError> {
    let policy = str_of(input, "Policy");
    let arns: Vec<&str> = input
        .get("PolicyArns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("arn").and_then(Value::as_str))
        .collect();
    if policy.is_none() && arns.is_empty() && tags.is_empty() {
        return Ok(None);
    }
    let mut size = 0usize;
    if let Some(p) = policy {
        let doc: Value = serde_json::from_str(p).map_err(|_| {
            AwsError::new(
                "MalformedPolicyDocument",
                "The policy is not in the valid JSON format.",
            )
        })?;
        size += doc.to_string().len();
    }
    size += arns.iter().map(|a| a.len()).sum::<usize>();
    size += tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let percent = (size * 100).div_ceil(PACKED_LIMIT).max(1) as u64;
    if percent > 100 {
        return Err(AwsError::new(
            "PackedPolicyTooLarge",
            format!(
                "Packed size of consolidated policies and tags exceeds {percent}% of the limit."
            ),
        ));
    }
    Ok(Some(percent))
}

/// What to issue.
struct Grant {
    kind: CredentialKind,
    account: String,
    arn: String,
    user_id: String,
    seconds: u64,
    source_identity: Option<String>,
    tags: Vec<(String, String)>,
    transitive_tag_keys: Vec<String>,
}

fn credentials_value(c: &IssuedCredentials) -> Value {
    json!({
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key,
        "SessionToken": c.session_token,
        "Expiration": ms_to_value(c.expires_at_ms as i64),
    })
}

impl Sts {
    /// Store new credentials for a grant (dropping a few expired ones on the way).
    fn issue(&self, g: Grant, now: u64) -> (IssuedCredentials, u64) {
        self.issue_scoped(g, None, now)
    }

    /// [`Sts::issue`], with the session's policies and source (kept beside the credentials).
    fn issue_scoped(
        &self,
        g: Grant,
        scope: Option<SessionScope>,
        now: u64,
    ) -> (IssuedCredentials, u64) {
        let expires_at_ms = (now / 1000).saturating_add(g.seconds).saturating_mul(1000);
        let creds = IssuedCredentials {
            access_key_id: model::new_access_key_id(&g.account),
            secret_access_key: model::new_secret(),
            session_token: model::new_session_token(),
            kind: g.kind,
            account: g.account,
            arn: g.arn,
            user_id: g.user_id,
            expires_at_ms,
            source_identity: g.source_identity,
            tags: g.tags,
            transitive_tag_keys: g.transitive_tag_keys,
        };
        let stored = creds.clone();
        let ((), version) = self.store.write(|txn| {
            let (lo, hi) = model::expiry_bounds(now);
            let expired: Vec<_> = txn
                .range(lo..hi)
                .take(SWEEP)
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                txn.remove(&k);
                if let Some(snapstack_engine::key::Part::Str(akid)) =
                    k.parts().and_then(|p| p.into_iter().nth(2))
                {
                    let ck = model::credentials_key(&akid);
                    if matches!(txn.get(&ck), Some(StsRecord::Credentials(c)) if c.is_expired(now))
                    {
                        txn.remove(&ck);
                        txn.remove(&model::scope_key(&akid));
                    }
                }
            }
            txn.insert(
                model::expiry_key(stored.expires_at_ms, &stored.access_key_id),
                StsRecord::Expiry,
            );
            if let Some(scope) = scope {
                txn.insert(
                    model::scope_key(&stored.access_key_id),
                    StsRecord::Scope(Box::new(scope)),
                );
            }
            txn.insert(
                model::credentials_key(&stored.access_key_id),
                StsRecord::Credentials(Box::new(stored)),
            );
        });
        (creds, version)
    }

    /// The role session of an AssumeRole* call: ARN `assumed-role/<role>/<session>` in the
    /// role's account, id `<role id>:<session>`.
    fn role_session(
        ctx: &RequestContext,
        arn: &Arn<'_>,
        role_arn: &str,
        session: &str,
    ) -> (String, String, String) {
        let account = if arn.account.is_empty() {
            ctx.account().to_string()
        } else {
            arn.account.to_string()
        };
        let role_name = arn.resource.rsplit('/').next().unwrap_or(arn.resource);
        let user_id = format!("{}:{session}", model::stable_id("AROA", role_arn));
        let assumed = format!(
            "arn:{}:sts::{account}:assumed-role/{role_name}/{session}",
            arn.partition
        );
        (account, assumed, user_id)
    }

    pub(crate) fn assume_role(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let role = str_of(input, "RoleArn").unwrap_or_default();
        let session = str_of(input, "RoleSessionName").unwrap_or_default();
        let arn = role_arn(role)?;
        let caller = self.credentials(&ctx.access_key, now);
        let seconds = duration(input, ROLE_DEFAULT);
        if caller
            .as_ref()
            .is_some_and(|c| c.kind == CredentialKind::AssumedRole)
            && seconds > CHAINED_MAX
        {
            return Err(validation_error(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        let (tags, transitive_tag_keys) = session_tags(input, caller.as_ref())?;
        let packed = packed_policy_size(input, &tags)?;
        let (account, assumed, user_id) = Self::role_session(ctx, &arn, role, session);
        let source_identity = str_of(input, "SourceIdentity").map(str::to_string);
        let scope = SessionScope::of_request(Some(role.to_string()), input);
        let (creds, version) = self.issue_scoped(
            Grant {
                kind: CredentialKind::AssumedRole,
                account,
                arn: assumed.clone(),
                user_id: user_id.clone(),
                seconds,
                source_identity: source_identity.clone(),
                tags,
                transitive_tag_keys,
            },
            Some(scope),
            now,
        );
        let mut out = json!({
            "Credentials": credentials_value(&creds),
            "AssumedRoleUser": {"AssumedRoleId": user_id, "Arn": assumed},
        });
        if let Some(p) = packed {
            out["PackedPolicySize"] = json!(p);
        }
        if let Some(s) = source_identity {
            out["SourceIdentity"] = json!(s);
        }
        Ok(Answer {
            output: out,
            write_version: Some(version),
        })
    }

    pub(crate) fn assume_role_with_saml(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let role = str_of(input, "RoleArn").unwrap_or_default();
        let principal = str_of(input, "PrincipalArn").unwrap_or_default();
        let arn = role_arn(role)?;
        let provider = role_arn(principal)?;
        let saml = parse_saml(str_of(input, "SAMLAssertion").unwrap_or_default())
            .ok_or_else(|| validation_error("Invalid SAML assertion"))?;
        let session = saml
            .role_session_name
            .clone()
            .unwrap_or_else(|| "SAMLSession".to_string());
        let seconds = input
            .get("DurationSeconds")
            .and_then(Value::as_u64)
            .or_else(|| saml.session_duration.map(|d| d.clamp(900, 43_200) as u64))
            .unwrap_or(ROLE_DEFAULT);
        let packed = packed_policy_size(input, &[])?;
        let (account, assumed, user_id) = Self::role_session(ctx, &arn, role, &session);
        let (creds, version) = self.issue_scoped(
            Grant {
                kind: CredentialKind::AssumedRole,
                account,
                arn: assumed.clone(),
                user_id: user_id.clone(),
                seconds,
                source_identity: saml.source_identity.clone(),
                tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
            },
            Some(SessionScope::of_request(Some(role.to_string()), input)),
            now,
        );
        let mut out = json!({
            "Credentials": credentials_value(&creds),
            "AssumedRoleUser": {"AssumedRoleId": user_id, "Arn": assumed},
        });
        let issuer = saml.issuer.clone().unwrap_or_default();
        // BASE64(SHA1(issuer + provider's account + "/" + provider name)), as AWS documents.
        let provider_name = provider.resource.rsplit('/').next().unwrap_or_default();
        let digest = sha1::Sha1::digest(format!("{issuer}{}/{provider_name}", provider.account));
        out["NameQualifier"] = json!(base64::engine::general_purpose::STANDARD.encode(digest));
        for (field, value) in [
            ("Issuer", saml.issuer.clone()),
            ("Subject", saml.subject.clone()),
            ("SubjectType", saml.subject_type()),
            ("Audience", saml.recipient.clone()),
            ("SourceIdentity", saml.source_identity.clone()),
        ] {
            if let Some(v) = value {
                out[field] = json!(v);
            }
        }
        if let Some(p) = packed {
            out["PackedPolicySize"] = json!(p);
        }
        Ok(Answer {
            output: out,
            write_version: Some(version),
        })
    }

    pub(crate) fn assume_role_with_web_identity(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let role = str_of(input, "RoleArn").unwrap_or_default();
        let session = str_of(input, "RoleSessionName").unwrap_or_default();
        let arn = role_arn(role)?;
        let claims = jwt_claims(str_of(input, "WebIdentityToken").unwrap_or_default());
        let seconds = duration(input, ROLE_DEFAULT);
        let packed = packed_policy_size(input, &[])?;
        let (account, assumed, user_id) = Self::role_session(ctx, &arn, role, session);
        let (creds, version) = self.issue_scoped(
            Grant {
                kind: CredentialKind::AssumedRole,
                account,
                arn: assumed.clone(),
                user_id: user_id.clone(),
                seconds,
                source_identity: None,
                tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
            },
            Some(SessionScope::of_request(Some(role.to_string()), input)),
            now,
        );
        let mut out = json!({
            "Credentials": credentials_value(&creds),
            "AssumedRoleUser": {"AssumedRoleId": user_id, "Arn": assumed},
        });
        // OpenID Connect tokens name their issuer; OAuth 2.0 access tokens come with ProviderId.
        let provider = str_of(input, "ProviderId")
            .map(str::to_string)
            .or_else(|| claims.as_ref().and_then(|c| claim(c, "iss")));
        let claimed = |name: &str| claims.as_ref().and_then(|c| claim(c, name));
        for (field, value) in [
            ("Provider", provider),
            ("Audience", claimed("aud")),
            ("SubjectFromWebIdentityToken", claimed("sub")),
        ] {
            if let Some(v) = value {
                out[field] = json!(v);
            }
        }
        if let Some(p) = packed {
            out["PackedPolicySize"] = json!(p);
        }
        Ok(Answer {
            output: out,
            write_version: Some(version),
        })
    }

    /// Short-term root credentials of a member account (`TargetPrincipal`: its account id, or
    /// an ARN in it).
    pub(crate) fn assume_root(
        &self,
        _ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let target = str_of(input, "TargetPrincipal").unwrap_or_default();
        let account = if target.len() == 12 && target.bytes().all(|b| b.is_ascii_digit()) {
            target.to_string()
        } else {
            parse_arn(target)
                .map(|a| a.account)
                .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string)
                .ok_or_else(|| {
                    validation_error(format!(
                        "{target} is invalid: TargetPrincipal must be an account ID or a principal ARN of a member account"
                    ))
                })?
        };
        if input
            .get("TaskPolicyArn")
            .and_then(|t| t.get("arn"))
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(validation_error(
                "1 validation error detected: Value null at 'taskPolicyArn.arn' failed to satisfy constraint: Member must not be null",
            ));
        }
        let (creds, version) = self.issue(
            Grant {
                kind: CredentialKind::Root,
                arn: format!("arn:aws:iam::{account}:root"),
                user_id: account.clone(),
                account,
                seconds: duration(input, ROOT_DEFAULT),
                source_identity: None,
                tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
            },
            now,
        );
        Ok(Answer {
            output: json!({ "Credentials": credentials_value(&creds) }),
            write_version: Some(version),
        })
    }

    pub(crate) fn get_session_token(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        if self.credentials(&ctx.access_key, now).is_some() {
            return Err(access_denied(
                "Cannot call GetSessionToken with session credentials",
            ));
        }
        let account = ctx.account().to_string();
        let scope = SessionScope {
            source_arn: Some(format!("accesskey/{}", ctx.access_key)),
            ..SessionScope::default()
        };
        let (creds, version) = self.issue_scoped(
            Grant {
                kind: CredentialKind::Session,
                arn: format!("arn:aws:iam::{account}:root"),
                user_id: account.clone(),
                account,
                seconds: duration(input, SESSION_DEFAULT),
                source_identity: None,
                tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
            },
            Some(scope),
            now,
        );
        Ok(Answer {
            output: json!({ "Credentials": credentials_value(&creds) }),
            write_version: Some(version),
        })
    }

    pub(crate) fn get_federation_token(
        &self,
        ctx: &RequestContext,
        input: &Map<String, Value>,
        now: u64,
    ) -> Result<Answer, AwsError> {
        if self.credentials(&ctx.access_key, now).is_some() {
            return Err(access_denied(
                "Cannot call GetFederationToken with session credentials",
            ));
        }
        let name = str_of(input, "Name").unwrap_or_default();
        let (tags, _) = session_tags(input, None)?;
        let packed = packed_policy_size(input, &tags)?;
        let account = ctx.account().to_string();
        let arn = format!("arn:aws:sts::{account}:federated-user/{name}");
        let user_id = format!("{account}:{name}");
        let (creds, version) = self.issue_scoped(
            Grant {
                kind: CredentialKind::FederatedUser,
                account,
                arn: arn.clone(),
                user_id: user_id.clone(),
                seconds: duration(input, SESSION_DEFAULT),
                source_identity: None,
                tags,
                transitive_tag_keys: Vec::new(),
            },
            Some(SessionScope::of_request(
                Some(format!("accesskey/{}", ctx.access_key)),
                input,
            )),
            now,
        );
        let mut out = json!({
            "Credentials": credentials_value(&creds),
            "FederatedUser": {"FederatedUserId": user_id, "Arn": arn},
        });
        if let Some(p) = packed {
            out["PackedPolicySize"] = json!(p);
        }
        Ok(Answer {
            output: out,
            write_version: Some(version),
        })
    }
}
