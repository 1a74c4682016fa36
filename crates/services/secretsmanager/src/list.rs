//! Listing: ListSecrets (filters, sorting, pages), ListSecretVersionIds, BatchGetSecretValue.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext, Runtime};

use crate::{
    Secret, SecretsManager, SmRecord, date, find, flag, int, invalid_parameter, not_found, ok, s,
    secrets_prefix,
};

/// A filter of ListSecrets / BatchGetSecretValue.
struct Filter {
    key: String,
    values: Vec<String>,
}

fn filters_of(v: &Value) -> Result<Vec<Filter>, AwsError> {
    let mut out = Vec::new();
    for f in v
        .get("Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(f, "Key").unwrap_or_default().to_string();
        let values: Vec<String> = f
            .get("Values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if key.is_empty() || values.is_empty() {
            return Err(invalid_parameter("Invalid filter key or filter values."));
        }
        out.push(Filter { key, values });
    }
    Ok(out)
}

fn prefix(hay: &str, needle: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        hay.starts_with(needle)
    } else {
        hay.to_lowercase().starts_with(&needle.to_lowercase())
    }
}

/// Whether one (non-negated) value of a filter matches the secret.
fn matches_value(secret: &Secret, key: &str, value: &str) -> bool {
    let tag_keys = || secret.tags.iter().map(|(k, _)| k.as_str());
    let tag_values = || secret.tags.iter().map(|(_, v)| v.as_str());
    match key {
        "name" => prefix(&secret.name, value, true),
        "description" => secret
            .description
            .as_deref()
            .is_some_and(|d| prefix(d, value, false)),
        "tag-key" => tag_keys().any(|k| prefix(k, value, true)),
        "tag-value" => tag_values().any(|k| prefix(k, value, true)),
        "primary-region" => secret
            .primary_region
            .as_deref()
            .is_some_and(|r| prefix(r, value, true)),
        "owning-service" => secret
            .owning_service
            .as_deref()
            .is_some_and(|r| prefix(r, value, true)),
        "all" => value.split_whitespace().any(|word| {
            let mut attrs: Vec<&str> = vec![&secret.name];
            attrs.extend(secret.description.as_deref());
            attrs.extend(tag_keys());
            attrs.extend(tag_values());
            attrs.extend(secret.primary_region.as_deref());
            attrs.extend(secret.owning_service.as_deref());
            // Each attribute and each of its words (split at the name separators).
            attrs.iter().any(|a| {
                prefix(a, word, false)
                    || a.split(|c: char| !c.is_alphanumeric())
                        .any(|w| prefix(w, word, false))
            })
        }),
        _ => false,
    }
}

/// Values within a filter: any positive one matches and no negated (`!`) one matches.
/// Filters together: all match.
fn matches(secret: &Secret, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let (neg, pos): (Vec<&String>, Vec<&String>) =
            f.values.iter().partition(|v| v.starts_with('!'));
        let pos_ok = pos.is_empty() || pos.iter().any(|v| matches_value(secret, &f.key, v));
        let neg_ok = !neg.iter().any(|v| matches_value(secret, &f.key, &v[1..]));
        pos_ok && neg_ok
    })
}

fn token_of(v: &Value) -> Result<usize, AwsError> {
    match s(v, "NextToken") {
        None => Ok(0),
        Some(t) => B64
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| {
                AwsError::new(
                    "InvalidNextTokenException",
                    "The NextToken value is invalid.",
                )
            }),
    }
}

fn token(offset: usize) -> String {
    B64.encode(format!("o:{offset}"))
}

/// One page of `items` from the request's token, and the next token.
fn page<T>(items: Vec<T>, v: &Value, default: usize) -> Result<(Vec<T>, Option<String>), AwsError> {
    let from = token_of(v)?;
    let max = int(v, "MaxResults").map_or(default, |n| n.max(1) as usize);
    if from > items.len() {
        return Err(AwsError::new(
            "InvalidNextTokenException",
            "The NextToken value is invalid.",
        ));
    }
    let end = from.saturating_add(max).min(items.len());
    let next = (end < items.len()).then(|| token(end));
    Ok((
        items.into_iter().skip(from).take(end - from).collect(),
        next,
    ))
}

impl SecretsManager {
    /// The partition's secrets that match `filters`, sorted as the request asks.
    fn matching(
        &self,
        ctx: &RequestContext,
        v: &Value,
        include_deleted: bool,
    ) -> Result<Vec<Secret>, AwsError> {
        let filters = filters_of(v)?;
        let now = self.now_ms();
        let snap = self.store.snapshot();
        let mut out: Vec<Secret> = snap
            .scan_prefix(&secrets_prefix(&ctx.partition))
            .filter_map(|(_, r)| match r {
                SmRecord::Secret(s) => Some(s),
                _ => None,
            })
            .filter(|s| !s.is_gone(now) && (include_deleted || !s.is_deleted()))
            .filter(|s| matches(s, &filters))
            .cloned()
            .collect();
        match s(v, "SortBy").unwrap_or("created-date") {
            "name" => out.sort_by(|a, b| a.name.cmp(&b.name)),
            "last-accessed-date" => out.sort_by_key(|s| (s.accessed_day_ms, s.created_ms)),
            "last-changed-date" => out.sort_by_key(|s| (s.changed_ms, s.created_ms)),
            _ => out.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.name.cmp(&b.name))),
        }
        if s(v, "SortOrder") == Some("desc") {
            out.reverse();
        }
        Ok(out)
    }

    pub(crate) fn list_secrets(&self, ctx: &RequestContext, v: &Value) -> Result<Output, AwsError> {
        let include = flag(v, "IncludePlannedDeletion").unwrap_or(false);
        let all = self.matching(ctx, v, include)?;
        let (items, next) = page(all, v, 100)?;
        let mut out = json!({
            "SecretList": items.iter().map(|s| s.describe("SecretVersionsToStages")).collect::<Vec<_>>(),
        });
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        ok(out, None)
    }

    pub(crate) fn list_secret_version_ids(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let now = self.now_ms();
        let Some((_, secret)) = find(&self.store.snapshot(), &ctx.partition, id, now) else {
            return Err(not_found());
        };
        let deprecated = flag(v, "IncludeDeprecated").unwrap_or(false);
        let versions: Vec<Value> = secret
            .versions
            .iter()
            .rev()
            .filter(|x| deprecated || !x.stages.is_empty())
            .map(|x| {
                let mut o = json!({
                    "VersionId": x.id,
                    "VersionStages": x.stages,
                    "CreatedDate": date(x.created_ms),
                    "KmsKeyIds": [x.key_arn],
                });
                if let Some(d) = x.accessed_day_ms {
                    o["LastAccessedDate"] = date(d);
                }
                o
            })
            .collect();
        let (items, next) = page(versions, v, 100)?;
        let mut out = json!({"ARN": secret.arn, "Name": secret.name, "Versions": items});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        ok(out, None)
    }

    pub(crate) async fn batch_get_secret_value(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let ids: Option<Vec<String>> = v.get("SecretIdList").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        });
        let has_filters = v.get("Filters").is_some();
        let mut next = None;
        let ids = match (ids, has_filters) {
            (Some(_), true) | (None, false) => {
                return Err(invalid_parameter(
                    "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
                ));
            }
            (Some(ids), false) => {
                if v.get("MaxResults").is_some() {
                    return Err(invalid_parameter(
                        "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.",
                    ));
                }
                ids
            }
            (None, true) => {
                let all = self.matching(ctx, v, false)?;
                let (items, n) = page(all, v, 20)?;
                next = n;
                items.into_iter().map(|s| s.arn).collect()
            }
        };
        let mut values = Vec::new();
        let mut errors = Vec::new();
        let mut wv = None;
        for id in &ids {
            match self.read_value(rt, ctx, id, None, None).await {
                Ok((val, w)) => {
                    values.push(val);
                    wv = wv.max(w);
                }
                Err(e) => errors.push(json!({"SecretId": id, "ErrorCode": e.code,
                    "Message": e.message})),
            }
        }
        let mut out = json!({"SecretValues": values, "Errors": errors});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        ok(out, wv)
    }
}
