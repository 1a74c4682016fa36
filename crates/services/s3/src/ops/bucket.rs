//! Buckets: create, delete, head, list; location; tagging, versioning, CORS and policy as
//! fields of the bucket record.

use serde_json::{Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::Response;

use crate::model::{Bucket, S3Record, keys};
use crate::ops::tagging::parse_tagging;
use crate::out::{self, owner, reply, tag_set, ts};
use crate::subres::{self, Sub};
use crate::time::now_ms;
use crate::{Req, S3, S3Error, S3Result, cors, validation};

impl S3 {
    pub(crate) fn bucket_meta(&self, r: &Req<'_>) -> S3Result<Bucket> {
        match self
            .store
            .snapshot()
            .get(&keys::bucket(r.account(), r.bucket()))
        {
            Some(S3Record::Bucket(b)) => Ok(b.clone()),
            _ => Err(S3Error::no_such_bucket(r.bucket())),
        }
    }

    /// ListBuckets (and ListDirectoryBuckets, its wire twin): the account's buckets by name,
    /// filtered by `prefix` and `bucket-region`, a page of `max-buckets` (or
    /// `max-directory-buckets`) at a time after `continuation-token`.
    pub(crate) fn list_buckets(&self, r: &Req<'_>) -> S3Result<Response> {
        let max = match validation::int_param(r, "max-buckets", 1, 10_000)? {
            Some(n) => Some(n),
            None => validation::int_param(r, "max-directory-buckets", 0, 1000)?,
        };
        let token = r.q("continuation-token");
        if let Some(t) = token
            && t.len() > 1024
        {
            return Err(
                S3Error::invalid_argument("The continuation token provided is incorrect")
                    .with("ArgumentName", "continuation-token"),
            );
        }
        let prefix = r.q("prefix").unwrap_or("");
        let region = r.q("bucket-region");
        let snap = self.store.snapshot();
        let mut buckets: Vec<Value> = Vec::new();
        let mut next = None;
        for (_, rec) in snap.scan_prefix(&keys::buckets(r.account())) {
            let S3Record::Bucket(b) = rec else { continue };
            if !b.name.starts_with(prefix)
                || region.is_some_and(|g| g != b.region)
                || token.is_some_and(|t| b.name.as_str() <= t)
            {
                continue;
            }
            if max.is_some_and(|m| buckets.len() as i64 >= m.max(1)) {
                next = buckets
                    .last()
                    .and_then(|l| l["Name"].as_str())
                    .map(str::to_string);
                break;
            }
            buckets.push(json!({
                "Name": b.name,
                "CreationDate": ts(b.created_ms),
                "BucketRegion": b.region,
            }));
        }
        let mut out = json!({"Owner": owner(r.account()), "Buckets": buckets});
        if let Some(t) = next {
            out["ContinuationToken"] = json!(t);
        }
        if r.q("prefix").is_some() {
            out["Prefix"] = json!(prefix);
        }
        reply(r.operation, &out)
    }

    /// HeadBucket: the bucket's region, as S3 tells it (`x-amz-bucket-region`).
    pub(crate) fn head_bucket(&self, r: &Req<'_>) -> S3Result<Response> {
        let b = self.bucket_meta(r)?;
        reply(r.operation, &json!({"BucketRegion": b.region}))
    }

    pub(crate) fn create_bucket(
        &self,
        r: &Req<'_>,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let name = r.bucket().to_string();
        if !valid_bucket_name(&name) {
            return Err(
                S3Error::bad("InvalidBucketName", "The specified bucket is not valid.")
                    .with("BucketName", &name),
            );
        }
        validation::check_create_bucket(r)?;
        let mut region = r.ctx.partition.region.clone();
        let input = subres::read_input(r, &doc)?;
        if let Some(loc) = input
            .pointer("/CreateBucketConfiguration/LocationConstraint")
            .and_then(Value::as_str)
            .map(str::trim)
            && !loc.is_empty()
        {
            region = loc.to_string();
        }
        // A bucket created with Object Lock has versioning enabled, and it cannot be turned off.
        let object_lock = r
            .h("x-amz-bucket-object-lock-enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let key = keys::bucket(r.account(), &name);
        let owner_key = keys::owner(&name);
        let account = r.account().to_string();
        let (result, version) = self.store.write(|t| {
            if let Some(S3Record::Owner(owner)) = t.get(&owner_key)
                && *owner != account
            {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                )
                .with("BucketName", &name));
            }
            if let Some(S3Record::Bucket(b)) = t.get(&key) {
                // us-east-1 answers a repeated create by the owner with success, as S3 does.
                if b.region == "us-east-1" && region == "us-east-1" {
                    return Ok(false);
                }
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
                .with("BucketName", &name));
            }
            t.insert(
                key.clone(),
                S3Record::Bucket(Bucket {
                    name: name.clone(),
                    region: region.clone(),
                    created_ms: now_ms(),
                    versioning: object_lock.then(|| "Enabled".to_string()),
                    tags: Vec::new(),
                    cors: None,
                    policy: None,
                }),
            );
            if object_lock {
                t.insert(
                    keys::config(&account, &name, Sub::ObjectLock.kind()),
                    subres::record(Sub::ObjectLock, &serde_json::json!({"ObjectLockEnabled": "Enabled"})),
                );
            }
            t.insert(owner_key.clone(), S3Record::Owner(account.clone()));
            Ok(true)
        });
        let created = result?;
        // As S3 and LocalStack: the path in us-east-1, the bucket's URL elsewhere.
        let location = if region == "us-east-1" {
            format!("/{name}")
        } else {
            self.bucket_url(&name)
        };
        let resp = reply(r.operation, &json!({"Location": location}))?;
        Ok((resp, created.then_some(version)))
    }

    pub(crate) fn get_location(&self, r: &Req<'_>) -> S3Result<Response> {
        let b = self.bucket_meta(r)?;
        // us-east-1 is the empty constraint.
        let out = if b.region == "us-east-1" {
            json!({})
        } else {
            json!({"LocationConstraint": b.region})
        };
        reply(r.operation, &out)
    }

    pub(crate) fn delete_bucket(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let acct = r.account().to_string();
        let bucket = r.bucket().to_string();
        let (res, v) = self.store.write(|t| {
            if !matches!(
                t.get(&keys::bucket(&acct, &bucket)),
                Some(S3Record::Bucket(_))
            ) {
                return Err(S3Error::no_such_bucket(&bucket));
            }
            let busy = t
                .scan_prefix(&keys::objects(&acct, &bucket))
                .next()
                .is_some()
                || t.scan_prefix(&keys::versions(&acct, &bucket))
                    .next()
                    .is_some();
            if busy {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                )
                .with("BucketName", &bucket));
            }
            let uploads: Vec<String> = t
                .scan_prefix(&keys::uploads(&acct, &bucket))
                .filter_map(|(_, v)| match v {
                    S3Record::Upload(u) => Some(u.upload_id.clone()),
                    _ => None,
                })
                .collect();
            for id in uploads {
                t.remove_prefix(&keys::parts(&acct, &id));
            }
            t.remove_prefix(&keys::uploads(&acct, &bucket));
            t.remove_prefix(&keys::configs(&acct, &bucket));
            t.remove_prefix(&keys::object_configs(&acct, &bucket));
            t.remove(&keys::lifecycle_index(&acct, &bucket));
            t.remove(&keys::bucket(&acct, &bucket));
            t.remove(&keys::owner(&bucket));
            Ok(())
        });
        res?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn put_bucket_field(
        &self,
        r: &Req<'_>,
        field: Field,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let value = match field {
            Field::Tags => FieldValue::Tags(parse_tagging(r, &doc)?),
            Field::Versioning => {
                let input = subres::read_input(r, &doc)?;
                let status = input
                    .pointer("/VersioningConfiguration/Status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                if status != "Enabled" && status != "Suspended" {
                    return Err(S3Error::bad(
                        "IllegalVersioningConfigurationException",
                        "The Versioning element must be specified",
                    ));
                }
                if status == "Suspended"
                    && self
                        .sub_value(r.account(), r.bucket(), Sub::ObjectLock)
                        .is_some()
                {
                    return Err(S3Error::new(
                        StatusCode::CONFLICT,
                        "InvalidBucketState",
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                    ));
                }
                FieldValue::Text(status)
            }
            Field::Cors => {
                // A missing bucket is named before the rules are checked.
                self.bucket_meta(r)?;
                cors::parse(&doc)?;
                FieldValue::Text(String::from_utf8_lossy(&doc).into_owned())
            }
            Field::Policy => {
                let text = String::from_utf8_lossy(&doc).into_owned();
                if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                    return Err(S3Error::bad(
                        "MalformedPolicy",
                        "Policies must be valid JSON and the first byte must be '{'",
                    ));
                }
                FieldValue::Text(text)
            }
        };
        let v = self.update_bucket(r, |b| match (field, value) {
            (Field::Tags, FieldValue::Tags(t)) => b.tags = t,
            (Field::Versioning, FieldValue::Text(s)) => b.versioning = Some(s),
            (Field::Cors, FieldValue::Text(s)) => b.cors = Some(s),
            (Field::Policy, FieldValue::Text(s)) => b.policy = Some(s),
            _ => {}
        })?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn delete_bucket_field(
        &self,
        r: &Req<'_>,
        field: Field,
    ) -> S3Result<(Response, Option<u64>)> {
        let v = self.update_bucket(r, |b| match field {
            Field::Tags => b.tags.clear(),
            Field::Cors => b.cors = None,
            Field::Policy => b.policy = None,
            Field::Versioning => {}
        })?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    fn update_bucket(&self, r: &Req<'_>, f: impl FnOnce(&mut Bucket)) -> S3Result<u64> {
        let key = keys::bucket(r.account(), r.bucket());
        let (res, v) = self.store.write(|t| match t.get(&key) {
            Some(S3Record::Bucket(b)) => {
                let mut b = b.clone();
                f(&mut b);
                t.insert(key.clone(), S3Record::Bucket(b));
                Ok(())
            }
            _ => Err(S3Error::no_such_bucket(r.bucket())),
        });
        res.map(|()| v)
    }

    pub(crate) fn get_bucket_field(&self, r: &Req<'_>, field: Field) -> S3Result<Response> {
        let b = self.bucket_meta(r)?;
        match field {
            Field::Tags => {
                if b.tags.is_empty() {
                    return Err(S3Error::new(
                        StatusCode::NOT_FOUND,
                        "NoSuchTagSet",
                        "The TagSet does not exist",
                    )
                    .with("BucketName", &b.name));
                }
                reply(r.operation, &json!({"TagSet": tag_set(&b.tags)}))
            }
            Field::Versioning => {
                let out = match &b.versioning {
                    Some(status) => json!({"Status": status}),
                    None => json!({}),
                };
                reply(r.operation, &out)
            }
            // The rules are kept as the client sent them; the codec reads them back by the
            // model and writes the answer.
            Field::Cors => match b.cors {
                Some(c) => match out::read_document("PutBucketCors", &c) {
                    Some(rules) => reply(r.operation, &rules),
                    None => Ok(out::verbatim_xml(c)),
                },
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchCORSConfiguration",
                    "The CORS configuration does not exist",
                )
                .with("BucketName", &b.name)),
            },
            Field::Policy => match b.policy {
                // The payload is the policy's text; its type is not in the model.
                Some(p) => {
                    let mut resp = reply(r.operation, &json!({"Policy": p}))?;
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    Ok(resp)
                }
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucketPolicy",
                    "The bucket policy does not exist",
                )
                .with("BucketName", &b.name)),
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Tags,
    Versioning,
    Cors,
    Policy,
}

enum FieldValue {
    Tags(Vec<(String, String)>),
    Text(String),
}

fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("my-bucket.1"));
        for bad in ["ab", "-ab", "ab-", "Ab", "a..b", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
