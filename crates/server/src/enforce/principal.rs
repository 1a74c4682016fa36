//! Who signed a request: the access key resolved through IAM (long-term user keys) or STS
//! (temporary credentials), asked through `Runtime::invoke`, with the identity's policies.
//!
//! Keys neither service issued that do not look like AWS keys (`test`, a 12-digit account id,
//! anything not `AKIA…`/`ASIA…`) are the account's root, as in LocalStack: allowed everything,
//! their signature not checked (the emulator does not know their secret). Resolutions are
//! cached per access key with the versions of the IAM and STS stores they were read at: while
//! neither store changed, a request costs no call into them at all (one version load each);
//! after any change the services are asked again (an unchanged answer keeps its parsed
//! policies), so a change to a user, a policy, a key or a session applies to the next request.
//! Each resolution also keeps the SigV4 signing keys derived from its secret, per scope.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use snapstack_policy::sigv4::SigningKey;
use snapstack_policy::{Caller, Context, Policy, PolicyKind, principal_context};
use snapstack_service::{RequestContext, Runtime};

/// The most access keys remembered (beyond it the cache starts over).
const MAX_CACHED: usize = 10_000;

/// A resolved identity and its policies.
#[derive(Debug)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    pub caller: Caller,
    /// The account's root: allowed everything.
    pub root: bool,
    pub identity: Vec<(String, Policy)>,
    pub boundary: Option<(String, Policy)>,
    pub session: Vec<(String, Policy)>,
    pub tags: Vec<(String, String)>,
}

impl Principal {
    /// Every policy of the identity: its identity policies, its permissions boundary, its
    /// session policies.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.identity
            .iter()
            .chain(&self.boundary)
            .chain(&self.session)
            .map(|(_, p)| p)
    }
}

/// What signing with a key needs, and who it is.
#[derive(Debug)]
pub struct Resolved {
    /// `None` for the root of LocalStack's default credentials: not verified.
    pub secret: Option<String>,
    pub session_token: Option<String>,
    /// Epoch ms after which temporary credentials are refused.
    pub expires_ms: Option<u64>,
    pub principal: Principal,
    /// The signing keys derived from `secret`, by scope.
    pub keys: SigningKeys,
    /// The SigV4a public key `secret` derives for the access key, derived once.
    sigv4a: OnceLock<Option<snapstack_policy::sigv4a::VerifyingKey>>,
    /// The condition keys the principal supplies (`aws:PrincipalArn`, its tags, ...), built
    /// once.
    context: OnceLock<Context>,
    /// Whether any of the principal's policies reads the request context, found once.
    reads_context: OnceLock<bool>,
    /// Decisions of requests that read no context (`memo.rs`).
    pub decisions: super::memo::Decisions,
    /// What this identity last noted for IAM's last-accessed data (`access.rs`).
    pub accessed: super::access::Noted,
}

impl Resolved {
    pub fn new(
        secret: Option<String>,
        session_token: Option<String>,
        expires_ms: Option<u64>,
        principal: Principal,
    ) -> Resolved {
        Resolved {
            secret,
            session_token,
            expires_ms,
            principal,
            keys: SigningKeys::default(),
            sigv4a: OnceLock::new(),
            context: OnceLock::new(),
            reads_context: OnceLock::new(),
            decisions: Default::default(),
            accessed: Default::default(),
        }
    }

    /// Whether evaluating the principal's policies (identity, boundary, session) can read the
    /// request context: when none can (and the resource's policy cannot either), a request
    /// needs no context at all.
    pub fn reads_context(&self) -> bool {
        *self
            .reads_context
            .get_or_init(|| self.principal.policies().any(Policy::reads_context))
    }

    /// The SigV4a public key of this identity's secret for `access_key` (the one it was
    /// resolved for), derived once.
    pub fn sigv4a_key(&self, access_key: &str) -> Option<snapstack_policy::sigv4a::VerifyingKey> {
        let secret = self.secret.as_deref()?;
        *self
            .sigv4a
            .get_or_init(|| snapstack_policy::sigv4a::verifying_key(access_key, secret))
    }

    /// The principal's condition keys.
    pub fn context(&self) -> &Context {
        self.context.get_or_init(|| {
            let p = &self.principal;
            principal_context(&p.caller, &p.user_id, &p.tags)
        })
    }

    /// The SigV4 signing key of this identity's secret for a credential scope, derived once
    /// per scope (as AWS SDKs cache it) rather than per request.
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> Option<SigningKey> {
        let secret = self.secret.as_deref()?;
        Some(self.keys.get_or_derive(secret, date, region, service))
    }
}

/// The most scopes (date, region, service) whose signing key one identity remembers.
const MAX_SCOPES: usize = 8;

/// A derived signing key and its scope: (date, region, service, key).
type ScopedKey = (String, String, String, SigningKey);

/// A small most-recently-used cache of derived signing keys.
#[derive(Debug, Default)]
pub struct SigningKeys {
    entries: Mutex<Vec<ScopedKey>>,
}

impl SigningKeys {
    fn get_or_derive(&self, secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, _, _, key)) = entries
                .iter()
                .find(|(d, r, s, _)| d == date && r == region && s == service)
            {
                return key.clone();
            }
        }
        let key = SigningKey::new(snapstack_policy::sigv4::signing_key(
            secret, date, region, service,
        ));
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_SCOPES {
            entries.remove(0);
        }
        entries.push((
            date.to_string(),
            region.to_string(),
            service.to_string(),
            key.clone(),
        ));
        key
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Why a key does not resolve.
#[derive(Debug, PartialEq, Eq)]
pub enum Unresolved {
    Unknown,
}

/// A service's answer and the store version it was current at.
type Answer = (u64, Arc<Value>);

struct Cached {
    iam: Option<Answer>,
    sts: Option<Answer>,
    resolved: Arc<Resolved>,
}

#[derive(Default)]
pub struct Principals {
    /// By access key. FxHash, not SipHash: the keys are ones this server generated (IAM's and
    /// STS's), never chosen by a client, so they cannot be picked to collide.
    cache: Mutex<rustc_hash::FxHashMap<String, Cached>>,
}

fn parse_all(list: &Value, kind: PolicyKind) -> Vec<(String, Policy)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = p.get("Id")?.as_str()?;
            let doc = p.get("Document")?.as_str()?;
            // A stored document that no longer parses (an older check) is left out.
            Policy::parse_stored(doc, kind)
                .ok()
                .map(|pol| (id.to_string(), pol))
        })
        .collect()
}

fn tags_of(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get("Key")?.as_str()?.to_string(),
                t.get("Value")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn s<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The root of `account`.
pub fn root(account: &str) -> Principal {
    let arn = format!("arn:aws:iam::{account}:root");
    Principal {
        caller: Caller::aws(&arn),
        arn,
        account: account.to_string(),
        user_id: account.to_string(),
        root: true,
        identity: Vec::new(),
        boundary: None,
        session: Vec::new(),
        tags: Vec::new(),
    }
}

/// The principal an IAM answer (`ResolvePrincipal`) describes.
fn from_iam(iam: &Value) -> Principal {
    let arn = s(iam, "Arn").to_string();
    Principal {
        caller: Caller::aws(&arn),
        account: s(iam, "Account").to_string(),
        user_id: s(iam, "UserId").to_string(),
        root: false,
        identity: parse_all(&iam["Policies"], PolicyKind::InlineRole),
        boundary: iam
            .get("Boundary")
            .and_then(|b| parse_all(&json!([b]), PolicyKind::Managed).pop()),
        session: Vec::new(),
        tags: tags_of(&iam["Tags"]),
        arn,
    }
}

/// Whether a key looks like one AWS (and so this emulator) issues.
pub fn aws_format(key: &str) -> bool {
    (key.starts_with("AKIA") || key.starts_with("ASIA")) && key.len() >= 16
}

impl Principals {
    async fn ask(
        rt: &dyn Runtime,
        ctx: &RequestContext,
        service: &str,
        operation: &str,
        input: Value,
        known: Option<&Answer>,
    ) -> Result<(u64, Arc<Value>, bool), Unresolved> {
        let mut input = input;
        if let Some((v, _)) = known {
            input["KnownVersion"] = json!(v);
        }
        let out = rt
            .invoke(ctx, service, operation, input)
            .await
            .map_err(|_| Unresolved::Unknown)?;
        let mut out = out;
        let version = out.get("Version").and_then(Value::as_u64).unwrap_or(0);
        if let Some((_, cached)) = known {
            if out.get("Unchanged").and_then(Value::as_bool) == Some(true) {
                return Ok((version, cached.clone(), true));
            }
            // The store changed elsewhere (another entity, a key's last use): the same
            // answer keeps what was parsed from it.
            if let Some(o) = out.as_object_mut() {
                o.remove("Version");
            }
            if out == **cached {
                return Ok((version, cached.clone(), true));
            }
            return Ok((version, Arc::new(out), false));
        }
        if let Some(o) = out.as_object_mut() {
            o.remove("Version");
        }
        Ok((version, Arc::new(out), false))
    }

    /// Resolve `key` (the access key a request was signed with).
    ///
    /// `store_version` gives the current version of a store (`iam`, `sts`): a cached
    /// resolution is used as long as the stores it was read from have not changed since, so a
    /// change to a user, a policy, a key or a session applies to the next request.
    pub async fn resolve(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        key: &str,
        store_version: &(dyn Fn(&str) -> Option<u64> + Sync),
    ) -> Result<Arc<Resolved>, Unresolved> {
        if !aws_format(key) {
            return Ok(Arc::new(Resolved::new(
                None,
                None,
                None,
                root(ctx.account()),
            )));
        }
        let (known_iam, known_sts, known_resolved) = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(key) {
                Some(c) => {
                    // Current when neither store changed since the answers were given: no
                    // call into IAM or STS at all (the common case: one atomic load each).
                    let current = |answer: &Option<Answer>, store: &str| {
                        answer
                            .as_ref()
                            .is_none_or(|(v, _)| store_version(store) == Some(*v))
                    };
                    if current(&c.iam, "iam") && current(&c.sts, "sts") {
                        return Ok(c.resolved.clone());
                    }
                    (c.iam.clone(), c.sts.clone(), Some(c.resolved.clone()))
                }
                None => (None, None, None),
            }
        };
        let mut unchanged = true;
        let mut sts = None;
        let iam_input = if key.starts_with("ASIA") {
            let (v, answer, same) = Self::ask(
                rt,
                ctx,
                "sts",
                snapstack_sts::RESOLVE_CREDENTIALS,
                json!({"AccessKeyId": key}),
                known_sts.as_ref(),
            )
            .await?;
            unchanged &= same;
            if answer.get("Found").and_then(Value::as_bool) != Some(true) {
                return Err(Unresolved::Unknown);
            }
            let source = s(&answer, "SourceArn").to_string();
            let policy_arns = answer["PolicyArns"].clone();
            sts = Some((v, answer));
            if let Some(k) = source.strip_prefix("accesskey/") {
                if !aws_format(k) {
                    // Made by the root (GetSessionToken with the default credentials).
                    None
                } else {
                    Some(json!({"AccessKeyId": k, "PolicyArns": policy_arns}))
                }
            } else if !source.is_empty() {
                Some(json!({"Arn": source, "PolicyArns": policy_arns}))
            } else {
                None
            }
        } else {
            Some(json!({"AccessKeyId": key}))
        };
        let mut iam = None;
        if let Some(input) = iam_input {
            let (v, answer, same) = Self::ask(
                rt,
                ctx,
                "iam",
                snapstack_iam::resolve::RESOLVE_PRINCIPAL,
                input,
                known_iam.as_ref(),
            )
            .await?;
            unchanged &= same;
            iam = Some((v, answer));
        }
        if unchanged && let Some(r) = known_resolved {
            // Remember the versions the answers were current at.
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = cache.get_mut(key) {
                c.iam = iam;
                c.sts = sts;
            }
            return Ok(r);
        }
        let resolved = Arc::new(Self::build(iam.as_ref(), sts.as_ref())?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            key.to_string(),
            Cached {
                iam,
                sts,
                resolved: resolved.clone(),
            },
        );
        Ok(resolved)
    }

    fn build(iam: Option<&Answer>, sts: Option<&Answer>) -> Result<Resolved, Unresolved> {
        let found = |v: &Value| v.get("Found").and_then(Value::as_bool) == Some(true);
        let Some((_, creds)) = sts else {
            // A long-term key of an IAM user.
            let Some((_, iam)) = iam.filter(|(_, v)| found(v)) else {
                return Err(Unresolved::Unknown);
            };
            return Ok(Resolved::new(
                Some(s(iam, "SecretAccessKey").to_string()),
                None,
                None,
                from_iam(iam),
            ));
        };
        let arn = s(creds, "Arn").to_string();
        let account = s(creds, "Account").to_string();
        let session: Vec<(String, Policy)> = {
            let mut list = Vec::new();
            if let Some(p) = creds.get("Policy").and_then(Value::as_str)
                && let Ok(pol) = Policy::parse_stored(p, PolicyKind::Session)
            {
                list.push(("session-policy".to_string(), pol));
            }
            if let Some((_, iam)) = iam {
                list.extend(parse_all(&iam["SessionPolicies"], PolicyKind::Managed));
            }
            list
        };
        let has_session_policies = creds.get("Policy").is_some()
            || creds["PolicyArns"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
        let mut principal = match (s(creds, "Kind"), iam) {
            ("root", _) => root(&account),
            ("assumed-role", Some((_, iam))) if found(iam) => {
                let mut p = from_iam(iam);
                p.caller = Caller::session(&arn, s(iam, "Arn"));
                p.arn = arn.clone();
                p.user_id = s(creds, "UserId").to_string();
                p.account = account.clone();
                p
            }
            // A role deleted since: its session has no identity policies left.
            ("assumed-role", _) => Principal {
                caller: Caller::aws(&arn),
                root: false,
                ..root(&account)
            },
            // GetSessionToken / GetFederationToken: the calling user's permissions.
            (_, Some((_, iam))) if found(iam) => {
                let mut p = from_iam(iam);
                if s(creds, "Kind") == "federated-user" {
                    p.caller = Caller::session(&arn, s(iam, "Arn"));
                    p.arn = arn.clone();
                }
                p
            }
            (_, Some(_)) => return Err(Unresolved::Unknown),
            // Made with the root's default credentials.
            (_, None) => root(&account),
        };
        if !principal.root {
            principal.arn = arn.clone();
            principal.tags.extend(tags_of(&creds["Tags"]));
            if has_session_policies || s(creds, "Kind") == "federated-user" {
                principal.session = session;
            }
        } else if has_session_policies && s(creds, "Kind") != "root" {
            principal.session = session;
        }
        Ok(Resolved::new(
            Some(s(creds, "SecretAccessKey").to_string()),
            Some(s(creds, "SessionToken").to_string()),
            creds.get("Expiration").and_then(Value::as_u64),
            principal,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_are_derived_once_per_scope_and_bounded() {
        let r = Resolved::new(Some("secret".into()), None, None, root("000000000000"));
        let bytes = |k: Option<SigningKey>| k.map(|k| k.bytes());
        let k = r
            .signing_key("20240101", "us-east-1", "s3")
            .unwrap()
            .bytes();
        assert_eq!(
            k,
            snapstack_policy::sigv4::signing_key("secret", "20240101", "us-east-1", "s3")
        );
        assert_eq!(bytes(r.signing_key("20240101", "us-east-1", "s3")), Some(k));
        assert_eq!(r.keys.len(), 1);
        assert_ne!(bytes(r.signing_key("20240102", "us-east-1", "s3")), Some(k));
        for day in 10..40 {
            r.signing_key(&format!("202401{day}"), "eu-west-1", "sqs");
        }
        assert_eq!(r.keys.len(), MAX_SCOPES);
        // The root of the default credentials has no secret: nothing to sign with.
        let root = Resolved::new(None, None, None, root("000000000000"));
        assert!(root.signing_key("20240101", "us-east-1", "s3").is_none());
    }

    #[test]
    fn the_principal_context_is_built_once() {
        let r = Resolved::new(None, None, None, root("111122223333"));
        let c = r.context();
        assert_eq!(c.single("aws:PrincipalAccount"), Some("111122223333"));
        assert!(std::ptr::eq(c, r.context()));
    }

    /// A runtime whose only service is an IAM, counting the calls made to it.
    struct IamOnly {
        iam: snapstack_iam::Iam,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Runtime for IamOnly {
        fn ensure_loaded<'a>(&'a self, _: &'static str) -> snapstack_service::BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn wait_durable<'a>(
            &'a self,
            _: &'static str,
            _: u64,
        ) -> snapstack_service::BoxFuture<'a, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn is_ready(&self, _: &str) -> bool {
            true
        }
        fn invoke<'a>(
            &'a self,
            _ctx: &'a RequestContext,
            _service: &'a str,
            _operation: &'a str,
            input: Value,
        ) -> snapstack_service::BoxFuture<'a, Result<Value, snapstack_protocol::errors::AwsError>>
        {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async move { Ok(self.iam.resolve_principal(&input)) })
        }
    }

    #[tokio::test]
    async fn a_cached_principal_follows_every_change_of_iam() {
        let rt = IamOnly {
            iam: snapstack_iam::Iam::new(),
            calls: Default::default(),
        };
        let ctx = RequestContext::from_scope(None);
        let call = |op: &str, input: Value| rt.iam.handle(&ctx, op, &input).unwrap().output;
        call("CreateUser", json!({"UserName": "u"}));
        let doc = |action: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
            )
        };
        call(
            "PutUserPolicy",
            json!({"UserName": "u", "PolicyName": "p", "PolicyDocument": doc("s3:GetObject")}),
        );
        let key = call("CreateAccessKey", json!({"UserName": "u"}))["AccessKey"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_string();
        let principals = Principals::default();
        let version = |s: &str| (s == "iam").then(|| rt.iam.store.version());
        let calls = || rt.calls.load(std::sync::atomic::Ordering::Relaxed);
        let first = principals.resolve(&rt, &ctx, &key, &version).await.unwrap();
        assert_eq!(calls(), 1);
        // Unchanged: no call at all, the same resolution.
        for _ in 0..3 {
            let again = principals.resolve(&rt, &ctx, &key, &version).await.unwrap();
            assert!(Arc::ptr_eq(&first, &again));
        }
        assert_eq!(calls(), 1);
        // Another entity changes: asked again, the same answer keeps what was parsed.
        call("CreateUser", json!({"UserName": "other"}));
        let again = principals.resolve(&rt, &ctx, &key, &version).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(calls(), 2);
        // Its policy changes: the next resolution has the new policy.
        call(
            "PutUserPolicy",
            json!({"UserName": "u", "PolicyName": "p", "PolicyDocument": doc("sqs:*")}),
        );
        let changed = principals.resolve(&rt, &ctx, &key, &version).await.unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert_eq!(changed.principal.identity.len(), 1);
        let text = format!("{:?}", changed.principal.identity[0].1);
        assert!(text.contains("sqs:*"), "{text}");
        // Its key is deleted: unknown from the next request on.
        call(
            "DeleteAccessKey",
            json!({"UserName": "u", "AccessKeyId": key}),
        );
        assert_eq!(
            principals.resolve(&rt, &ctx, &key, &version).await.err(),
            Some(Unresolved::Unknown)
        );
    }
}
