//! Log groups: create, delete, describe; retention; KMS key; tags (old and new APIs).

use std::ops::Bound;

use serde_json::{Map, Value, json};
use snapstack_engine::{Partition, Snapshot};
use snapstack_protocol::errors::AwsError;

use crate::*;

/// Tags on one resource (AWS's limit).
const MAX_TAGS: usize = 50;

pub(crate) fn load_group(
    snap: &Snapshot<LogsRecord>,
    p: &Partition,
    name: &str,
) -> Option<GroupRec> {
    match snap.get(&group_key(p, name)) {
        Some(LogsRecord::Group(g)) => Some(g.clone()),
        _ => None,
    }
}

fn tags_in(v: &Value, key: &str) -> Vec<(String, String)> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn merge_tags(cur: &mut Vec<(String, String)>, new: Vec<(String, String)>) -> Result<(), AwsError> {
    for (k, v) in new {
        match cur.iter_mut().find(|(ck, _)| *ck == k) {
            Some(e) => e.1 = v,
            None => cur.push((k, v)),
        }
    }
    if cur.len() > MAX_TAGS {
        return Err(AwsError::new(
            "TooManyTagsException",
            format!("A resource can have no more than {MAX_TAGS} tags."),
        ));
    }
    cur.sort();
    Ok(())
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

fn group_json(p: &Partition, snap: &Snapshot<LogsRecord>, g: &GroupRec) -> Value {
    let arn = group_arn(p, &g.name);
    let stored: u64 = snap
        .scan_prefix(&streams_prefix(p, &g.name))
        .filter_map(|(_, r)| match r {
            LogsRecord::Stream(s) => Some(s.stored_bytes),
            _ => None,
        })
        .sum();
    let filters = snap.scan_prefix(&metric_filters_prefix(p, &g.name)).count();
    let mut o = json!({
        "logGroupName": g.name,
        "creationTime": g.created_ms,
        "metricFilterCount": filters,
        "arn": format!("{arn}:*"),
        "logGroupArn": arn,
        "storedBytes": stored,
        "logGroupClass": g.class,
        "deletionProtectionEnabled": g.deletion_protection,
    });
    if let Some(d) = g.retention_days {
        o["retentionInDays"] = json!(d);
    }
    if let Some(k) = &g.kms_key_id {
        o["kmsKeyId"] = json!(k);
    }
    o
}

/// AWS's rule for log group names: 1-512 of `[\.\-_/#A-Za-z0-9]`.
pub(crate) fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_/#".contains(c))
}

impl Logs {
    pub(crate) fn create_log_group(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "logGroupName").unwrap_or_default().to_string();
        if !valid_group_name(&name) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
            )));
        }
        let class = str_of(v, "logGroupClass").unwrap_or("STANDARD").to_string();
        let mut tags = Vec::new();
        merge_tags(&mut tags, tags_in(v, "tags"))?;
        let rec = GroupRec {
            name: name.clone(),
            created_ms: self.now_ms(),
            retention_days: None,
            kms_key_id: str_of(v, "kmsKeyId").map(str::to_string),
            class,
            deletion_protection: bool_of(v, "deletionProtectionEnabled").unwrap_or(false),
            tags,
        };
        let (r, ver) = self.store.write(|txn| {
            let k = group_key(p, &name);
            if txn.contains(&k) {
                return Err(AwsError::new(
                    "ResourceAlreadyExistsException",
                    "The specified log group already exists",
                ));
            }
            txn.insert(k, LogsRecord::Group(rec));
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_log_group(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let (r, ver) = self.store.write(|txn| {
            let k = group_key(p, &name);
            match txn.get(&k) {
                Some(LogsRecord::Group(g)) if g.deletion_protection => {
                    return Err(AwsError::new(
                        "OperationAbortedException",
                        "Log group deletion is not allowed while deletion protection is enabled.",
                    ));
                }
                Some(LogsRecord::Group(_)) => {}
                _ => return Err(group_missing()),
            }
            txn.remove(&k);
            txn.remove_prefix(&streams_prefix(p, &name));
            txn.remove_prefix(&group_events_prefix(p, &name));
            txn.remove_prefix(&metric_filters_prefix(p, &name));
            txn.remove_prefix(&sub_filters_prefix(p, &name));
            // The group's own policies and transformer go with it.
            for kind in [
                crate::resources::TRANSFORMER,
                crate::resources::INDEX_POLICY,
                crate::resources::DATA_PROTECTION,
                crate::resources::BEARER_TOKEN,
            ] {
                txn.remove(&resource_key(p, kind, &name));
            }
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_log_groups(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "logGroupNamePrefix");
        let pattern = str_of(v, "logGroupNamePattern");
        if prefix.is_some() && pattern.is_some() {
            return Err(invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let ids: Option<Vec<String>> =
            v.get("logGroupIdentifiers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(name_from_identifier)
                        .collect()
                });
        let class = str_of(v, "logGroupClass");
        let limit = limit_of(v, 50, 50);
        let snap = self.store.snapshot();
        let base = groups_prefix(p);
        let start = match str_of(v, "nextToken") {
            Some(t) => Bound::Excluded(group_key(p, &untoken(t)?)),
            None => match prefix {
                Some(pre) => Bound::Included(group_key(p, pre)),
                None => Bound::Included(base.clone()),
            },
        };
        let upper = base.prefix_range().1;
        let pattern_lc = pattern.map(str::to_lowercase);
        let mut items = Vec::new();
        let mut next = None;
        for (k, r) in snap.range((start, upper)) {
            if !k.starts_with(&base) {
                break;
            }
            let LogsRecord::Group(g) = r else { continue };
            if prefix.is_some_and(|pre| !g.name.starts_with(pre)) {
                break;
            }
            if let Some(pl) = &pattern_lc
                && !g.name.to_lowercase().contains(pl.as_str())
            {
                continue;
            }
            if let Some(ids) = &ids
                && !ids.contains(&g.name)
            {
                continue;
            }
            if class.is_some_and(|c| c != g.class) {
                continue;
            }
            if items.len() == limit {
                next = items
                    .last()
                    .and_then(|x: &Value| x["logGroupName"].as_str())
                    .map(token);
                break;
            }
            items.push(group_json(p, &snap, g));
        }
        out(page(items, "logGroups", next), None)
    }

    fn update_group(
        &self,
        p: &Partition,
        name: &str,
        f: impl FnOnce(&mut GroupRec) -> Result<(), AwsError>,
    ) -> Result<u64, AwsError> {
        let (r, ver) = self.store.write(|txn| {
            let k = group_key(p, name);
            let Some(LogsRecord::Group(g)) = txn.get(&k) else {
                return Err(group_missing());
            };
            let mut g = g.clone();
            f(&mut g)?;
            txn.insert(k, LogsRecord::Group(g));
            Ok(())
        });
        r.map(|_| ver)
    }

    pub(crate) fn put_retention(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let days = int_of(v, "retentionInDays").unwrap_or(0);
        if !RETENTION_DAYS.iter().any(|&d| i64::from(d) == days) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {RETENTION_DAYS:?}"
            )));
        }
        let ver = self.update_group(p, &name, |g| {
            g.retention_days = Some(days as u32);
            Ok(())
        })?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_retention(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let ver = self.update_group(p, &name, |g| {
            g.retention_days = None;
            Ok(())
        })?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn associate_kms(
        &self,
        p: &Partition,
        v: &Value,
        set: bool,
    ) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let key = str_of(v, "kmsKeyId").map(str::to_string);
        if set && key.is_none() {
            return Err(AwsError::missing("kmsKeyId"));
        }
        let ver = self.update_group(p, &name, |g| {
            g.kms_key_id = if set { key } else { None };
            Ok(())
        })?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn tag_log_group(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let tags = tags_in(v, "tags");
        let ver = self.update_group(p, &name, |g| merge_tags(&mut g.tags, tags))?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn untag_log_group(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let keys = string_list(v, "tags");
        let ver = self.update_group(p, &name, |g| {
            g.tags.retain(|(k, _)| !keys.contains(k));
            Ok(())
        })?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_tags_log_group(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = group_name(v)?;
        let g = load_group(&self.store.snapshot(), p, &name).ok_or_else(group_missing)?;
        out(json!({ "tags": tags_json(&g.tags) }), None)
    }

    /// The log group an ARN names (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`).
    fn arn_group(&self, p: &Partition, v: &Value) -> Result<String, AwsError> {
        let arn = str_of(v, "resourceArn").unwrap_or_default();
        let prefix = format!("arn:aws:logs:{}:{}:log-group:", p.region, p.account);
        match arn.strip_prefix(&prefix) {
            Some(rest) => Ok(rest.strip_suffix(":*").unwrap_or(rest).to_string()),
            None if arn.starts_with("arn:") => Err(not_found(format!(
                "The specified resource does not exist: {arn}"
            ))),
            None => Err(invalid(format!("Invalid ARN: {arn}"))),
        }
    }

    pub(crate) fn tag_resource(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = self.arn_group(p, v)?;
        let tags = tags_in(v, "tags");
        let ver = self.update_group(p, &name, |g| merge_tags(&mut g.tags, tags))?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn untag_resource(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = self.arn_group(p, v)?;
        let keys = string_list(v, "tagKeys");
        let ver = self.update_group(p, &name, |g| {
            g.tags.retain(|(k, _)| !keys.contains(k));
            Ok(())
        })?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_tags_for_resource(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = self.arn_group(p, v)?;
        let g = load_group(&self.store.snapshot(), p, &name).ok_or_else(group_missing)?;
        out(json!({ "tags": tags_json(&g.tags) }), None)
    }
}

pub(crate) fn string_list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
