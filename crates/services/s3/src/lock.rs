//! Settings of object versions and what S3 enforces with them: Object Lock (retention modes,
//! legal holds, a bucket's default retention, deletes refused), object ACLs, RestoreObject for
//! objects that are not archived, and a bucket's policy status.
//!
//! A version's setting is a `Config` record under `keys::object_config` whose document is
//! `{"stamp": <the version's last_modified_ms>, "value": <neutral JSON of the model's shape>}`:
//! the stamp ties it to the version it was set on, so a `null` version written over (which
//! keeps its version id) does not inherit the old one's settings.

use serde_json::{Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::http::StatusCode;
use snapstack_protocol::response::Response;

use crate::model::{Bucket, BucketConfig, Object, S3Record, keys};
use crate::subres::{Sub, malformed, parse_input, reply};
use crate::{Req, S3, S3Error, S3Result};

const RETENTION: &str = "retention";
const LEGAL_HOLD: &str = "legalHold";
const ACL: &str = "acl";

fn version_of(o: &Object) -> &str {
    o.version_id.as_deref().unwrap_or("null")
}

fn denied() -> S3Error {
    S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
}

fn no_lock_config(bucket: &str) -> S3Error {
    S3Error::bad(
        "InvalidRequest",
        "Bucket is missing Object Lock Configuration",
    )
    .with("BucketName", bucket)
}

fn no_object_lock() -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchObjectLockConfiguration",
        "The specified object does not have a ObjectLock configuration",
    )
}

/// A retention's mode and end (ms), if it is in force at `now`.
fn retention_in_force(v: &Value, now: u64) -> Option<(&str, u64)> {
    let mode = v.get("Mode")?.as_str()?;
    let until = (v.get("RetainUntilDate")?.as_f64()? * 1000.0) as u64;
    (until > now).then_some((mode, until))
}

/// S3's checks of an Object Lock configuration put on `bucket`.
pub(crate) fn check_lock_configuration(bucket: &Bucket, v: &Value) -> S3Result<()> {
    if bucket.versioning.as_deref() != Some("Enabled") {
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            "InvalidBucketState",
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
        )
        .with("BucketName", &bucket.name));
    }
    if v.get("ObjectLockEnabled").and_then(Value::as_str) != Some("Enabled") {
        return Err(malformed());
    }
    if let Some(d) = v.pointer("/Rule/DefaultRetention") {
        let (days, years) = (d.get("Days"), d.get("Years"));
        if d.get("Mode").is_none() || days.is_some() == years.is_some() {
            return Err(malformed());
        }
        if days
            .or(years)
            .and_then(Value::as_i64)
            .is_none_or(|n| n <= 0)
        {
            return Err(S3Error::invalid_argument(
                "Default retention period must be a positive integer value",
            ));
        }
    }
    Ok(())
}

impl S3 {
    /// A setting of an object version, if one was set on this very version.
    pub(crate) fn object_setting(
        &self,
        acct: &str,
        bucket: &str,
        o: &Object,
        kind: &str,
    ) -> Option<Value> {
        let key = keys::object_config(acct, bucket, &o.key, version_of(o), kind);
        match self.store.snapshot().get(&key) {
            Some(S3Record::Config(c)) => {
                let doc: Value = serde_json::from_str(&c.document).ok()?;
                (doc.get("stamp")?.as_u64()? == o.last_modified_ms).then(|| doc["value"].clone())
            }
            _ => None,
        }
    }

    pub(crate) fn set_object_setting(
        &self,
        acct: &str,
        bucket: &str,
        o: &Object,
        kind: &str,
        value: Value,
    ) -> S3Result<u64> {
        let key = keys::object_config(acct, bucket, &o.key, version_of(o), kind);
        let document = json!({"stamp": o.last_modified_ms, "value": value}).to_string();
        let (res, v) = self.store.write(|t| {
            if !matches!(
                t.get(&keys::bucket(acct, bucket)),
                Some(S3Record::Bucket(_))
            ) {
                return Err(S3Error::no_such_bucket(bucket));
            }
            t.insert(
                key.clone(),
                S3Record::Config(BucketConfig {
                    kind: kind.to_string(),
                    document,
                }),
            );
            Ok(())
        });
        res.map(|()| v)
    }

    /// Whether a version is protected from deletion at `now` (a legal hold, or a retention in
    /// force; `bypass_governance` lifts a GOVERNANCE one).
    pub(crate) fn protected(
        &self,
        acct: &str,
        bucket: &str,
        o: &Object,
        now: u64,
        bypass_governance: bool,
    ) -> bool {
        let hold = self
            .object_setting(acct, bucket, o, LEGAL_HOLD)
            .is_some_and(|h| h.get("Status").and_then(Value::as_str) == Some("ON"));
        let retained = self
            .object_setting(acct, bucket, o, RETENTION)
            .is_some_and(|r| match retention_in_force(&r, now) {
                Some(("GOVERNANCE", _)) => !bypass_governance,
                Some(_) => true,
                None => false,
            });
        hold || retained
    }

    /// Lifecycle never deletes a locked version.
    pub(crate) fn locked(&self, acct: &str, bucket: &str, o: &Object, now: u64) -> bool {
        self.protected(acct, bucket, o, now, false)
    }

    /// DeleteObject(s) of one version: refused while it is locked, as S3 refuses it.
    pub(crate) fn check_delete(
        &self,
        r: &Req<'_>,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<()> {
        let Some(version) = version else {
            return Ok(());
        };
        if self
            .sub_value(r.account(), bucket, Sub::ObjectLock)
            .is_none()
        {
            return Ok(());
        }
        let Ok(o) = self.find_object(r, bucket, key, Some(version)) else {
            return Ok(());
        };
        let bypass = r
            .h("x-amz-bypass-governance-retention")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if self.protected(r.account(), bucket, &o, self.now(), bypass) {
            return Err(S3Error::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Access Denied because object protected by object lock.",
            ));
        }
        Ok(())
    }

    /// A new object version in a bucket with Object Lock: the retention and legal hold its
    /// `x-amz-object-lock-*` headers ask for, else the bucket's default retention.
    pub(crate) fn lock_new_object(
        &self,
        r: &Req<'_>,
        bucket: &str,
        o: &Object,
    ) -> S3Result<Option<u64>> {
        let mode = r.h("x-amz-object-lock-mode");
        let until = r.h("x-amz-object-lock-retain-until-date");
        let hold = r.h("x-amz-object-lock-legal-hold");
        let config = self.sub_value(r.account(), bucket, Sub::ObjectLock);
        if config.is_none() {
            if mode.is_some() || until.is_some() || hold.is_some() {
                return Err(no_lock_config(bucket));
            }
            return Ok(None);
        }
        let mut version = None;
        let retention = match (mode, until) {
            (Some(m), Some(u)) => {
                let ms = snapstack_protocol::codec::time::parse(u).ok_or_else(|| {
                    S3Error::invalid_argument("The retain until date must be a valid date")
                })?;
                Some(json!({"Mode": m, "RetainUntilDate": ms as f64 / 1000.0}))
            }
            (None, None) => config.as_ref().and_then(|c| {
                let d = c.pointer("/Rule/DefaultRetention")?;
                let days = d
                    .get("Days")
                    .and_then(Value::as_u64)
                    .or_else(|| d.get("Years").and_then(Value::as_u64).map(|y| y * 365))?;
                let until = o
                    .last_modified_ms
                    .saturating_add(days.saturating_mul(86_400_000));
                Some(json!({"Mode": d.get("Mode")?, "RetainUntilDate": until as f64 / 1000.0}))
            }),
            _ => {
                return Err(S3Error::invalid_argument(
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                ));
            }
        };
        if let Some(ret) = retention {
            version = Some(self.set_object_setting(r.account(), bucket, o, RETENTION, ret)?);
        }
        if let Some(h) = hold {
            version = Some(self.set_object_setting(
                r.account(),
                bucket,
                o,
                LEGAL_HOLD,
                json!({"Status": h}),
            )?);
        }
        Ok(version)
    }

    fn lock_target(&self, r: &Req<'_>) -> S3Result<Object> {
        let bucket = self.bucket_meta(r)?;
        if self
            .sub_value(r.account(), &bucket.name, Sub::ObjectLock)
            .is_none()
        {
            return Err(no_lock_config(&bucket.name));
        }
        self.find_object(r, &bucket.name, r.key(), r.q("versionId"))
    }

    pub(crate) fn put_object_retention(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let o = self.lock_target(r)?;
        let new = input.get("Retention").cloned().unwrap_or(json!({}));
        let now = self.now();
        let new_until = new
            .get("RetainUntilDate")
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0) as u64);
        match (new.get("Mode").and_then(Value::as_str), new_until) {
            (Some(_), Some(u)) if u <= now => {
                return Err(S3Error::invalid_argument(
                    "The retain until date must be in the future!",
                ));
            }
            (Some(_), Some(_)) | (None, None) => {}
            _ => return Err(malformed()),
        }
        let bypass = input.get("BypassGovernanceRetention") == Some(&Value::Bool(true));
        if let Some(old) = self.object_setting(r.account(), r.bucket(), &o, RETENTION)
            && let Some((mode, until)) = retention_in_force(&old, now)
        {
            // Extending a retention, or turning GOVERNANCE into COMPLIANCE, needs no bypass.
            let new_mode = new.get("Mode").and_then(Value::as_str);
            let weaker = new_until.is_none_or(|u| u < until)
                || (mode == "COMPLIANCE" && new_mode != Some("COMPLIANCE"));
            if weaker && (mode == "COMPLIANCE" || !bypass) {
                return Err(denied());
            }
        }
        let v = self.set_object_setting(r.account(), r.bucket(), &o, RETENTION, new)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn get_object_retention(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.lock_target(r)?;
        let v = self
            .object_setting(r.account(), r.bucket(), &o, RETENTION)
            .filter(|v| v.get("Mode").is_some())
            .ok_or_else(no_object_lock)?;
        reply(r.operation, &json!({"Retention": v}))
    }

    pub(crate) fn put_object_legal_hold(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let o = self.lock_target(r)?;
        let hold = input.get("LegalHold").cloned().ok_or_else(malformed)?;
        if hold.get("Status").is_none() {
            return Err(malformed());
        }
        let v = self.set_object_setting(r.account(), r.bucket(), &o, LEGAL_HOLD, hold)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn get_object_legal_hold(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.lock_target(r)?;
        let v = self
            .object_setting(r.account(), r.bucket(), &o, LEGAL_HOLD)
            .ok_or_else(no_object_lock)?;
        reply(r.operation, &json!({"LegalHold": v}))
    }

    /// PutObjectAcl: a canned `x-amz-acl`, `x-amz-grant-*` headers, or an
    /// `AccessControlPolicy` body.
    pub(crate) fn put_object_acl(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let bucket = self.bucket_meta(r)?;
        let o = self.find_object(r, &bucket.name, r.key(), r.q("versionId"))?;
        let owner = json!({"ID": r.account(), "DisplayName": "snapstack"});
        let grant_headers = [
            ("GrantFullControl", "FULL_CONTROL"),
            ("GrantRead", "READ"),
            ("GrantReadACP", "READ_ACP"),
            ("GrantWrite", "WRITE"),
            ("GrantWriteACP", "WRITE_ACP"),
        ];
        let has_grant_headers = grant_headers.iter().any(|(m, _)| input.get(*m).is_some());
        let acl = match (
            input.get("ACL").and_then(Value::as_str),
            input.get("AccessControlPolicy"),
        ) {
            (Some(_), Some(_)) => {
                return Err(S3Error::bad(
                    "UnexpectedContent",
                    "This request does not support content",
                ));
            }
            (Some(canned), None) => {
                if has_grant_headers {
                    return Err(S3Error::invalid_request(
                        "Specifying both Canned ACLs and Header Grants is not allowed",
                    ));
                }
                json!({"Owner": owner, "Grants": canned_grants(r.account(), canned)?})
            }
            (None, Some(policy)) => {
                let grants = policy.get("Grants").cloned().unwrap_or(json!([]));
                json!({"Owner": policy.get("Owner").cloned().unwrap_or(owner), "Grants": grants})
            }
            (None, None) if has_grant_headers => {
                let mut grants = Vec::new();
                for (member, permission) in grant_headers {
                    let Some(value) = input.get(member).and_then(Value::as_str) else {
                        continue;
                    };
                    for g in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                        grants.push(json!({"Grantee": grantee(g)?, "Permission": permission}));
                    }
                }
                json!({"Owner": owner, "Grants": grants})
            }
            (None, None) => return Err(malformed()),
        };
        let v = self.set_object_setting(r.account(), &bucket.name, &o, ACL, acl)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn get_object_acl(&self, r: &Req<'_>) -> S3Result<Response> {
        let bucket = self.bucket_meta(r)?;
        let o = self.find_object(r, &bucket.name, r.key(), r.q("versionId"))?;
        let acl = match self.object_setting(r.account(), &bucket.name, &o, ACL) {
            Some(v) => v,
            None => json!({
                "Owner": {"ID": r.account(), "DisplayName": "snapstack"},
                "Grants": canned_grants(r.account(), "private")?,
            }),
        };
        reply(r.operation, &acl)
    }

    /// RestoreObject: nothing here is archived (every object is STANDARD), so S3's answer for
    /// an object that is not in an archive storage class.
    pub(crate) fn restore_object(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        parse_input(r, &body)?;
        let bucket = self.bucket_meta(r)?;
        self.find_object(r, &bucket.name, r.key(), r.q("versionId"))?;
        Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidObjectState",
            "The operation is not valid for the object's storage class",
        )
        .with("StorageClass", "STANDARD"))
    }

    /// GetBucketPolicyStatus: public when a statement allows everyone (`"*"`) without a
    /// condition, as S3 judges it.
    pub(crate) fn get_policy_status(&self, r: &Req<'_>) -> S3Result<Response> {
        let bucket = self.bucket_meta(r)?;
        let policy = bucket.policy.as_deref().ok_or_else(|| {
            S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
            )
            .with("BucketName", &bucket.name)
        })?;
        let public = serde_json::from_str::<Value>(policy)
            .map(|p| is_public(&p))
            .unwrap_or(false);
        reply(r.operation, &json!({"PolicyStatus": {"IsPublic": public}}))
    }
}

fn is_public(policy: &Value) -> bool {
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s) => vec![s.clone()],
        None => Vec::new(),
    };
    statements.iter().any(|s| {
        let everyone = match s.get("Principal") {
            Some(Value::String(p)) => p == "*",
            Some(Value::Object(o)) => o.get("AWS").is_some_and(|a| match a {
                Value::String(p) => p == "*",
                Value::Array(ps) => ps.iter().any(|p| p == "*"),
                _ => false,
            }),
            _ => false,
        };
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && everyone
            && s.get("Condition").is_none()
    })
}

/// A grantee of an `x-amz-grant-*` header (`id="…"`, `uri="…"`, `emailAddress="…"`).
fn grantee(g: &str) -> S3Result<Value> {
    let bad =
        || S3Error::invalid_argument("Invalid grantee in a grant header").with("ArgumentValue", g);
    let (kind, v) = g.split_once('=').ok_or_else(bad)?;
    let v = v.trim().trim_matches('"');
    Ok(match kind.trim() {
        "id" => json!({"Type": "CanonicalUser", "ID": v}),
        "uri" => json!({"Type": "Group", "URI": v}),
        "emailAddress" => json!({"Type": "AmazonCustomerByEmail", "EmailAddress": v}),
        _ => return Err(bad()),
    })
}

/// The grants of a canned ACL.
fn canned_grants(owner: &str, canned: &str) -> S3Result<Value> {
    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
    const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
    let group =
        |uri: &str, p: &str| json!({"Grantee": {"Type": "Group", "URI": uri}, "Permission": p});
    let mut grants = vec![json!({
        "Grantee": {"Type": "CanonicalUser", "ID": owner, "DisplayName": "snapstack"},
        "Permission": "FULL_CONTROL",
    })];
    match canned {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => {}
        "public-read" => grants.push(group(ALL_USERS, "READ")),
        "public-read-write" => {
            grants.push(group(ALL_USERS, "READ"));
            grants.push(group(ALL_USERS, "WRITE"));
        }
        "authenticated-read" => grants.push(group(AUTHENTICATED, "READ")),
        _ => {
            return Err(
                S3Error::invalid_argument(format!("Invalid canned ACL: {canned}"))
                    .with("ArgumentName", "x-amz-acl")
                    .with("ArgumentValue", canned),
            );
        }
    }
    Ok(Value::Array(grants))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_policies() {
        let p = |principal: Value, cond: bool| {
            let mut s =
                json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject"});
            if cond {
                s["Condition"] = json!({"IpAddress": {"aws:SourceIp": "1.2.3.4/32"}});
            }
            is_public(&json!({"Statement": [s]}))
        };
        assert!(p(json!("*"), false));
        assert!(p(json!({"AWS": "*"}), false));
        assert!(!p(json!("*"), true));
        assert!(!p(json!({"AWS": "arn:aws:iam::1:root"}), false));
    }

    #[test]
    fn lock_configurations() {
        let mut b = Bucket {
            name: "b".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            versioning: None,
            tags: Vec::new(),
            cors: None,
            policy: None,
        };
        let c = json!({"ObjectLockEnabled": "Enabled"});
        assert_eq!(
            check_lock_configuration(&b, &c).unwrap_err().code,
            "InvalidBucketState"
        );
        b.versioning = Some("Enabled".into());
        assert!(check_lock_configuration(&b, &c).is_ok());
        let both = json!({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}});
        assert_eq!(
            check_lock_configuration(&b, &both).unwrap_err().code,
            "MalformedXML"
        );
        let zero = json!({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}});
        assert_eq!(
            check_lock_configuration(&b, &zero).unwrap_err().code,
            "InvalidArgument"
        );
    }

    #[test]
    fn retention_in_force_until_its_date() {
        let r = json!({"Mode": "COMPLIANCE", "RetainUntilDate": 10.0});
        assert_eq!(retention_in_force(&r, 9_999), Some(("COMPLIANCE", 10_000)));
        assert_eq!(retention_in_force(&r, 10_000), None);
    }
}
