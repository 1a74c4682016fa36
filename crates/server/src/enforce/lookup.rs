//! Fetching what enforcement needs from the services, through `Runtime::invoke`: resource
//! policies (bucket, queue, topic, key, secret, function, a role's trust policy) by the
//! services' own read operations, and the checks of AssumeRoleWithWebIdentity against IAM's
//! OIDC providers.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use snapstack_policy::{Caller, Context, Decision, NamedPolicy, Policy, PolicyKind, PolicySet};
use snapstack_service::{RequestContext, Runtime, Service};

use super::deny;
use super::resources::{PolicyLookup, account_of};
use crate::gateway::App;

/// A resource's policy, and its ARN when the lookup resolved a name or alias.
pub struct ResourcePolicy {
    pub policy: Option<Policy>,
    pub arn: Option<String>,
}

/// The most resource policies remembered (beyond it the cache starts over).
const MAX_CACHED_POLICIES: usize = 10_000;

/// Where a lookup was made: the account and region of the asking request, and the resource.
type LookupKey = (String, String, PolicyLookup);

/// A cached answer: the owning store's version when it was read, and the policy (if any).
type Cached = (u64, Option<Arc<ResourcePolicy>>);

/// Resource policies as last read, each with the version of the store that owns it at the
/// time: reused while that store is unchanged (a bucket policy is read once, not on every
/// GetObject), read again through the service after any change to it.
///
/// Filed by a hash of where the lookup was made, so that a hit is found from the request's
/// own strings, with nothing allocated; entries of one hash are told apart by comparing them.
#[derive(Default)]
pub struct PolicyCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_hash: rustc_hash::FxHashMap<u64, Vec<(LookupKey, Cached)>>,
    len: usize,
}

fn key_hash(account: &str, region: &str, lookup: &PolicyLookup) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    (account, region, lookup).hash(&mut h);
    h.finish()
}

fn same_key(key: &LookupKey, account: &str, region: &str, lookup: &PolicyLookup) -> bool {
    key.0 == account && key.1 == region && key.2 == *lookup
}

impl PolicyCache {
    /// The policy `lookup` names, from the cache when its store (at `version`, when the
    /// engine knows it) has not changed.
    pub async fn get(
        &self,
        app: &App,
        ctx: &RequestContext,
        lookup: &PolicyLookup,
        version: Option<u64>,
    ) -> Option<Arc<ResourcePolicy>> {
        let store = lookup.store();
        let (account, region) = (ctx.account(), ctx.region());
        let hash = key_hash(account, region, lookup);
        if let Some(v) = version {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let hit = entries.by_hash.get(&hash).and_then(|bucket| {
                bucket
                    .iter()
                    .find(|(k, _)| same_key(k, account, region, lookup))
            });
            if let Some((_, (at, policy))) = hit
                && *at == v
            {
                return policy.clone();
            }
        }
        // Read before the version was taken: a change racing with the read leaves an entry
        // older than its version says, which the next request reads again.
        let policy = resource_policy(app, ctx, lookup).await.map(Arc::new);
        // A store not loaded yet when the version was read has a new version once loaded.
        if let Some(v) = version
            && app.runtime.is_ready(store)
        {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len >= MAX_CACHED_POLICIES {
                *entries = Entries::default();
            }
            let Entries { by_hash, len } = &mut *entries;
            let bucket = by_hash.entry(hash).or_default();
            let cached = (v, policy.clone());
            match bucket
                .iter_mut()
                .find(|(k, _)| same_key(k, account, region, lookup))
            {
                Some((_, slot)) => *slot = cached,
                None => {
                    let key = (account.to_string(), region.to_string(), lookup.clone());
                    bucket.push((key, cached));
                    *len += 1;
                }
            }
        }
        policy
    }
}

fn parse(text: Option<&str>, kind: PolicyKind) -> Option<Policy> {
    text.filter(|t| !t.trim().is_empty())
        .and_then(|t| Policy::parse_stored(t, kind).ok())
}

pub(super) fn in_account(ctx: &RequestContext, arn_or_url_account: Option<&str>) -> RequestContext {
    let mut c = ctx.clone();
    if let Some(a) = arn_or_url_account.filter(|a| a.len() == 12) {
        c.partition.account = a.to_string();
    }
    c
}

/// The policy of the resource `lookup` names (none when it has none or does not exist: the
/// service answers the request itself then).
pub async fn resource_policy(
    app: &App,
    ctx: &RequestContext,
    lookup: &PolicyLookup,
) -> Option<ResourcePolicy> {
    let rt: &dyn Runtime = app.runtime.as_ref();
    let call = |c: RequestContext, service: &'static str, op: &'static str, input: Value| async move {
        rt.invoke(&c, service, op, input).await.ok()
    };
    let resource =
        |policy: Option<Policy>, arn: Option<String>| Some(ResourcePolicy { policy, arn });
    match lookup {
        PolicyLookup::S3Bucket(b) => {
            let out = call(ctx.clone(), "s3", "GetBucketPolicy", json!({"Bucket": b})).await;
            let text = out.as_ref().and_then(|o| o["Policy"].as_str());
            resource(parse(text, PolicyKind::Resource), None)
        }
        PolicyLookup::SqsQueue(url) => {
            let account = url.rsplit('/').nth(1);
            let out = call(
                in_account(ctx, account),
                "sqs",
                "GetQueueAttributes",
                json!({"QueueUrl": url, "AttributeNames": ["Policy"]}),
            )
            .await;
            let text = out
                .as_ref()
                .and_then(|o| o["Attributes"]["Policy"].as_str());
            resource(parse(text, PolicyKind::Resource), None)
        }
        PolicyLookup::SnsTopic(arn) => {
            let out = call(
                in_account(ctx, account_of(arn)),
                "sns",
                "GetTopicAttributes",
                json!({"TopicArn": arn}),
            )
            .await;
            let text = out
                .as_ref()
                .and_then(|o| o["Attributes"]["Policy"].as_str());
            resource(parse(text, PolicyKind::Resource), None)
        }
        PolicyLookup::KmsKey(id) => {
            let c = in_account(ctx, account_of(id));
            let described = call(c.clone(), "kms", "DescribeKey", json!({"KeyId": id})).await?;
            let meta = &described["KeyMetadata"];
            let key_id = meta["KeyId"].as_str()?.to_string();
            let arn = meta["Arn"].as_str().map(str::to_string);
            let out = call(
                c,
                "kms",
                "GetKeyPolicy",
                json!({"KeyId": key_id, "PolicyName": "default"}),
            )
            .await;
            let text = out.as_ref().and_then(|o| o["Policy"].as_str());
            resource(parse(text, PolicyKind::Resource), arn)
        }
        PolicyLookup::Secret(id) => {
            let out = call(
                in_account(ctx, account_of(id)),
                "secretsmanager",
                "GetResourcePolicy",
                json!({"SecretId": id}),
            )
            .await?;
            let text = out["ResourcePolicy"].as_str();
            resource(
                parse(text, PolicyKind::Resource),
                out["ARN"].as_str().map(str::to_string),
            )
        }
        PolicyLookup::LambdaFunction(name) => {
            let out = call(
                in_account(ctx, account_of(name)),
                "lambda",
                "GetPolicy",
                json!({"FunctionName": name}),
            )
            .await;
            let text = out.as_ref().and_then(|o| o["Policy"].as_str());
            resource(parse(text, PolicyKind::Resource), None)
        }
        PolicyLookup::RoleTrust(arn) => {
            let out = call(
                ctx.clone(),
                "iam",
                snapstack_iam::resolve::RESOLVE_PRINCIPAL,
                json!({"Arn": arn}),
            )
            .await;
            let text = out.as_ref().and_then(|o| o["TrustPolicy"].as_str());
            resource(parse(text, PolicyKind::Trust), None)
        }
    }
}

fn invalid_token(service: &dyn Service, ctx: &RequestContext, message: &str) -> Response {
    deny::error(
        service,
        ctx,
        false,
        "InvalidIdentityToken",
        message,
        StatusCode::BAD_REQUEST,
    )
}

/// AssumeRoleWithWebIdentity: the token's issuer must be an OIDC provider of the role's
/// account, its audience one of the provider's client ids, and the role's trust policy must
/// allow the provider (`sts:AssumeRoleWithWebIdentity`, with `<issuer>:aud`/`:sub` keys).
/// The token's signature is not checked (as LocalStack does not).
pub async fn web_identity(
    app: &App,
    service: &dyn Service,
    ctx: &RequestContext,
    fields: &Map<String, Value>,
) -> Result<(), Response> {
    let s = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    let role = s("RoleArn");
    let Some(claims) = snapstack_sts::jwt_claims(s("WebIdentityToken")) else {
        return Err(invalid_token(
            service,
            ctx,
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
        ));
    };
    let issuer = snapstack_sts::claim(&claims, "iss").unwrap_or_default();
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(a)) => vec![a.clone()],
        _ => Vec::new(),
    };
    let subject = snapstack_sts::claim(&claims, "sub").unwrap_or_default();
    let account = account_of(role).unwrap_or(ctx.account()).to_string();
    let rt: &dyn Runtime = app.runtime.as_ref();
    let provider = rt
        .invoke(
            ctx,
            "iam",
            snapstack_iam::resolve::FIND_OIDC_PROVIDER,
            json!({"Account": account, "Url": issuer}),
        )
        .await
        .unwrap_or_default();
    let Some(provider_arn) = provider["Arn"].as_str() else {
        return Err(invalid_token(
            service,
            ctx,
            &format!("No OpenIDConnect provider found in your account for {issuer}"),
        ));
    };
    let client_ids: Vec<&str> = provider["ClientIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(aud) = audiences.iter().find(|a| client_ids.contains(&a.as_str())) else {
        return Err(invalid_token(service, ctx, "Incorrect token audience"));
    };
    let trust = rt
        .invoke(
            ctx,
            "iam",
            snapstack_iam::resolve::RESOLVE_PRINCIPAL,
            json!({"Arn": role}),
        )
        .await
        .ok()
        .and_then(|o| parse(o["TrustPolicy"].as_str(), PolicyKind::Trust));
    let denied = || {
        deny::access_denied(
            service,
            ctx,
            false,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    };
    let Some(trust) = trust else {
        return Err(denied());
    };
    let host = issuer
        .strip_prefix("https://")
        .unwrap_or(&issuer)
        .trim_end_matches('/');
    let mut context = Context::default();
    context.insert(&format!("{host}:aud"), aud.clone());
    context.insert(&format!("{host}:sub"), subject);
    context.insert("aws:FederatedProvider", provider_arn);
    let mut req = snapstack_policy::Request::new(
        Caller::Federated(provider_arn.to_string()),
        "sts:AssumeRoleWithWebIdentity",
        role,
    );
    req.context = context;
    let set = PolicySet {
        resource: vec![NamedPolicy {
            id: "trust",
            policy: &trust,
        }],
        ..PolicySet::default()
    };
    if snapstack_policy::evaluate(&req, &set).decision != Decision::Allow {
        return Err(denied());
    }
    Ok(())
}
