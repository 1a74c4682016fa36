//! Destinations (cross-account subscription targets) and their access policies, resource
//! policies, account policies, data protection policies, index policies and field indexes,
//! log group deletion protection and bearer-token authentication.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

/// Account-scoped resource policies per region (AWS's quota).
const MAX_RESOURCE_POLICIES: usize = 10;
/// Account policies of one type per account (AWS's quota for most types).
const MAX_ACCOUNT_POLICIES: usize = 20;

impl Logs {
    // ---- destinations ----

    pub(crate) fn put_destination(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "destinationName").unwrap_or_default().to_string();
        let target = str_of(v, "targetArn").unwrap_or_default();
        if !target.starts_with("arn:") {
            return Err(invalid(format!("Invalid targetArn: {target}")));
        }
        let now = self.now_ms();
        let (doc, ver) = self.store.write(|txn| {
            let mut d = load_txn(txn, p, DESTINATION, &name).unwrap_or_else(|| {
                json!({
                    "destinationName": name,
                    "arn": res::arn(p, &format!("destination:{name}")),
                    "creationTime": now,
                })
            });
            d["targetArn"] = json!(target);
            d["roleArn"] = v["roleArn"].clone();
            if let Some(t) = v.get("tags") {
                d["_tags"] = t.clone();
            }
            res::store(txn, p, DESTINATION, &name, &d, now);
            d
        });
        out(json!({ "destination": public(&doc) }), Some(ver))
    }

    pub(crate) fn put_destination_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "destinationName").unwrap_or_default().to_string();
        let policy = str_of(v, "accessPolicy").unwrap_or_default();
        json_document(policy, "accessPolicy")?;
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let mut d = load_txn(txn, p, DESTINATION, &name)
                .ok_or_else(|| not_found("The specified destination does not exist."))?;
            d["accessPolicy"] = json!(policy);
            res::store(txn, p, DESTINATION, &name, &d, now);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_destinations(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "DestinationNamePrefix");
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            DESTINATION,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |id, d| (prefix.is_none_or(|x| id.starts_with(x))).then(|| public(d)),
        )?;
        out(page(items, "destinations", next), None)
    }

    pub(crate) fn delete_destination(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "destinationName").unwrap_or_default();
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, DESTINATION, name));
        if !found {
            return Err(not_found("The specified destination does not exist."));
        }
        out(json!({}), Some(ver))
    }

    // ---- resource policies ----

    pub(crate) fn put_resource_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let doc = str_of(v, "policyDocument").ok_or_else(|| AwsError::missing("policyDocument"))?;
        json_document(doc, "Policy document")?;
        let (scope, id, name) = match (str_of(v, "resourceArn"), str_of(v, "policyName")) {
            (Some(arn), _) => {
                let group = name_from_identifier(arn);
                if load_group_exists(&self.store.snapshot(), p, &group).is_none() {
                    return Err(not_found(format!(
                        "The specified resource does not exist: {arn}"
                    )));
                }
                (
                    "RESOURCE",
                    format!("resource\0{arn}"),
                    "ResourcePolicy".to_string(),
                )
            }
            (None, Some(n)) => ("ACCOUNT", format!("account\0{n}"), n.to_string()),
            (None, None) => {
                return Err(invalid(
                    "Either policyName or resourceArn must be specified.",
                ));
            }
        };
        let expected = str_of(v, "expectedRevisionId");
        let now = self.now_ms();
        let rev_seed = self.next_id();
        let (r, ver) = self.store.write(|txn| {
            let cur = load_txn(txn, p, RESOURCE_POLICY, &id);
            if let Some(e) = expected
                && cur.as_ref().and_then(|c| c["revisionId"].as_str()) != Some(e)
            {
                return Err(AwsError::new(
                    "OperationAbortedException",
                    "The expected revision ID does not match the policy's current revision ID.",
                ));
            }
            if cur.is_none() && scope == "ACCOUNT" {
                let n = txn
                    .scan_prefix(&resources_prefix(p, RESOURCE_POLICY))
                    .filter(|(_, r)| matches!(r, LogsRecord::Resource(r) if r.id.starts_with("account\0")))
                    .count();
                if n >= MAX_RESOURCE_POLICIES {
                    return Err(AwsError::new(
                        "LimitExceededException",
                        "Resource limit exceeded.",
                    ));
                }
            }
            let mut d = json!({
                "policyName": name,
                "policyDocument": doc,
                "lastUpdatedTime": now,
                "policyScope": scope,
                "revisionId": hex_id(rev_seed, 32),
            });
            if let Some(a) = str_of(v, "resourceArn") {
                d["resourceArn"] = json!(a);
            }
            res::store(txn, p, RESOURCE_POLICY, &id, &d, now);
            Ok(d)
        });
        let d = r?;
        out(
            json!({ "resourcePolicy": d, "revisionId": d["revisionId"] }),
            Some(ver),
        )
    }

    pub(crate) fn describe_resource_policies(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let scope = str_of(v, "policyScope");
        let arn = str_of(v, "resourceArn");
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            RESOURCE_POLICY,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |_, d| {
                let ok = scope.is_none_or(|s| d["policyScope"] == s)
                    && arn.is_none_or(|a| d["resourceArn"] == a);
                ok.then(|| d.clone())
            },
        )?;
        out(page(items, "resourcePolicies", next), None)
    }

    pub(crate) fn delete_resource_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (id, what) = match (str_of(v, "resourceArn"), str_of(v, "policyName")) {
            (Some(arn), _) => (format!("resource\0{arn}"), arn.to_string()),
            (None, Some(n)) => (format!("account\0{n}"), n.to_string()),
            (None, None) => {
                return Err(invalid(
                    "Either policyName or resourceArn must be specified.",
                ));
            }
        };
        let expected = str_of(v, "expectedRevisionId");
        let (r, ver) = self.store.write(|txn| {
            let cur = load_txn(txn, p, RESOURCE_POLICY, &id)
                .ok_or_else(|| not_found(format!("Policy with name [{what}] does not exist")))?;
            if let Some(e) = expected
                && cur["revisionId"].as_str() != Some(e)
            {
                return Err(AwsError::new(
                    "OperationAbortedException",
                    "The expected revision ID does not match the policy's current revision ID.",
                ));
            }
            res::remove(txn, p, RESOURCE_POLICY, &id);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    // ---- account policies ----

    pub(crate) fn put_account_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "policyName").unwrap_or_default().to_string();
        let kind = str_of(v, "policyType").unwrap_or_default().to_string();
        let doc = str_of(v, "policyDocument").unwrap_or_default();
        json_document(doc, "Policy document")?;
        let selection = str_of(v, "selectionCriteria");
        if selection.is_some() && kind == "DATA_PROTECTION_POLICY" {
            return Err(invalid(
                "selectionCriteria is not supported for policies of type DATA_PROTECTION_POLICY",
            ));
        }
        let id = format!("{kind}\0{name}");
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let exists = load_txn(txn, p, ACCOUNT_POLICY, &id).is_some();
            if !exists {
                let n = txn
                    .scan_prefix(&resources_prefix(p, ACCOUNT_POLICY))
                    .filter(|(_, r)| matches!(r, LogsRecord::Resource(r) if r.id.starts_with(&format!("{kind}\0"))))
                    .count();
                let max = if kind == "DATA_PROTECTION_POLICY" { 1 } else { MAX_ACCOUNT_POLICIES };
                if n >= max {
                    return Err(AwsError::new(
                        "LimitExceededException",
                        format!("The account already has the maximum number of {kind} account policies."),
                    ));
                }
            }
            let mut d = json!({
                "policyName": name,
                "policyDocument": doc,
                "policyType": kind,
                "scope": str_of(v, "scope").unwrap_or("ALL"),
                "lastUpdatedTime": now,
                "accountId": p.account,
            });
            if let Some(s) = selection {
                d["selectionCriteria"] = json!(s);
            }
            res::store(txn, p, ACCOUNT_POLICY, &id, &d, now);
            Ok(d)
        });
        let d = r?;
        out(json!({ "accountPolicy": d }), Some(ver))
    }

    pub(crate) fn describe_account_policies(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let kind = str_of(v, "policyType").unwrap_or_default();
        let name = str_of(v, "policyName");
        let accounts = crate::groups::string_list(v, "accountIdentifiers");
        let snap = self.store.snapshot();
        let items: Vec<Value> = all(&snap, p, ACCOUNT_POLICY)
            .into_iter()
            .filter(|(_, d)| d["policyType"] == kind && name.is_none_or(|n| d["policyName"] == n))
            .filter(|_| accounts.is_empty() || accounts.contains(&p.account))
            .map(|(_, d)| d)
            .collect();
        out(json!({ "accountPolicies": items }), None)
    }

    pub(crate) fn delete_account_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "policyName").unwrap_or_default();
        let kind = str_of(v, "policyType").unwrap_or_default();
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, ACCOUNT_POLICY, &format!("{kind}\0{name}")));
        if !found {
            return Err(not_found(format!(
                "Policy with name [{name}] does not exist"
            )));
        }
        out(json!({}), Some(ver))
    }

    // ---- data protection policies (one per log group) ----

    pub(crate) fn put_data_protection_policy(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let doc = str_of(v, "policyDocument").unwrap_or_default();
        let parsed = json_document(doc, "Data protection policy document")?;
        if parsed.get("Statement").and_then(Value::as_array).is_none() {
            return Err(invalid(
                "Invalid data protection policy: the document must have a Statement list",
            ));
        }
        let group = existing_group(&self.store.snapshot(), p, id)?;
        let now = self.now_ms();
        let d = json!({"logGroupIdentifier": id, "policyDocument": doc, "lastUpdatedTime": now});
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, DATA_PROTECTION, &group, &d, now));
        out(d, Some(ver))
    }

    pub(crate) fn get_data_protection_policy(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let snap = self.store.snapshot();
        let group = existing_group(&snap, p, id)?;
        let mut d = res::load(&snap, p, DATA_PROTECTION, &group).unwrap_or_else(|| json!({}));
        d["logGroupIdentifier"] = json!(id);
        out(d, None)
    }

    pub(crate) fn delete_data_protection_policy(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let group = existing_group(&self.store.snapshot(), p, id)?;
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, DATA_PROTECTION, &group));
        if !found {
            return Err(not_found(
                "The specified log group does not have a data protection policy.",
            ));
        }
        out(json!({}), Some(ver))
    }

    // ---- index policies and field indexes ----

    pub(crate) fn put_index_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let doc = str_of(v, "policyDocument").unwrap_or_default();
        index_fields(doc)?;
        let group = existing_group(&self.store.snapshot(), p, id)?;
        let now = self.now_ms();
        let d = json!({
            "logGroupIdentifier": group_arn(p, &group),
            "policyDocument": doc,
            "lastUpdateTime": now,
            "policyName": "LogGroupIndexPolicy",
            "source": "LOG_GROUP",
        });
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, INDEX_POLICY, &group, &d, now));
        out(json!({ "indexPolicy": d }), Some(ver))
    }

    /// A group's effective index policy: its own, else the account's FIELD_INDEX_POLICY.
    fn index_policy_of(
        &self,
        snap: &snapstack_engine::Snapshot<LogsRecord>,
        p: &Partition,
        group: &str,
    ) -> Option<Value> {
        if let Some(d) = res::load(snap, p, INDEX_POLICY, group) {
            return Some(d);
        }
        let acct = all(snap, p, ACCOUNT_POLICY)
            .into_iter()
            .map(|(_, d)| d)
            .find(|d| {
                d["policyType"] == "FIELD_INDEX_POLICY"
                    && selection_matches(d["selectionCriteria"].as_str(), group)
            })?;
        Some(json!({
            "logGroupIdentifier": group_arn(p, group),
            "policyDocument": acct["policyDocument"],
            "lastUpdateTime": acct["lastUpdatedTime"],
            "policyName": acct["policyName"],
            "source": "ACCOUNT",
        }))
    }

    pub(crate) fn describe_index_policies(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let snap = self.store.snapshot();
        let mut items = Vec::new();
        for id in crate::groups::string_list(v, "logGroupIdentifiers") {
            let group = existing_group(&snap, p, &id)?;
            if let Some(d) = self.index_policy_of(&snap, p, &group) {
                items.push(d);
            }
        }
        out(json!({ "indexPolicies": items }), None)
    }

    pub(crate) fn delete_index_policy(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let group = existing_group(&self.store.snapshot(), p, id)?;
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, INDEX_POLICY, &group));
        if !found {
            return Err(not_found(
                "The specified log group does not have an index policy.",
            ));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_field_indexes(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let snap = self.store.snapshot();
        let mut items = Vec::new();
        for id in crate::groups::string_list(v, "logGroupIdentifiers") {
            let group = existing_group(&snap, p, &id)?;
            let Some(policy) = self.index_policy_of(&snap, p, &group) else {
                continue;
            };
            let (mut first, mut last) = (None::<u64>, None::<u64>);
            for (_, r) in snap.scan_prefix(&streams_prefix(p, &group)) {
                if let LogsRecord::Stream(s) = r {
                    if let Some(f) = s.first_event_ms {
                        first = Some(first.map_or(f, |x| x.min(f)));
                    }
                    if let Some(l) = s.last_event_ms {
                        last = Some(last.map_or(l, |x| x.max(l)));
                    }
                }
            }
            let doc = policy["policyDocument"].as_str().unwrap_or("{}");
            for f in index_fields(doc).unwrap_or_default() {
                let mut o = json!({
                    "fieldIndexName": f,
                    "logGroupIdentifier": group_arn(p, &group),
                    "lastScanTime": self.now_ms(),
                    "type": "FIELD_INDEX",
                });
                if let Some(t) = first {
                    o["firstEventTime"] = json!(t);
                }
                if let Some(t) = last {
                    o["lastEventTime"] = json!(t);
                }
                items.push(o);
            }
        }
        out(json!({ "fieldIndexes": items }), None)
    }

    // ---- log group switches ----

    pub(crate) fn put_deletion_protection(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = name_from_identifier(str_of(v, "logGroupIdentifier").unwrap_or_default());
        let on = bool_of(v, "deletionProtectionEnabled").unwrap_or(false);
        let (r, ver) = self.store.write(|txn| {
            let k = group_key(p, &name);
            let Some(LogsRecord::Group(g)) = txn.get(&k) else {
                return Err(group_missing());
            };
            let mut g = g.clone();
            g.deletion_protection = on;
            txn.insert(k, LogsRecord::Group(g));
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn put_bearer_token_auth(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let group = existing_group(&self.store.snapshot(), p, id)?;
        let on = bool_of(v, "bearerTokenAuthenticationEnabled").unwrap_or(false);
        let now = self.now_ms();
        let ((), ver) = self.store.write(|txn| {
            if on {
                res::store(txn, p, BEARER_TOKEN, &group, &json!({"enabled": true}), now);
            } else {
                res::remove(txn, p, BEARER_TOKEN, &group);
            }
        });
        out(json!({}), Some(ver))
    }
}

fn load_group_exists(
    snap: &snapstack_engine::Snapshot<LogsRecord>,
    p: &Partition,
    name: &str,
) -> Option<()> {
    matches!(snap.get(&group_key(p, name)), Some(LogsRecord::Group(_))).then_some(())
}

/// The fields an index policy document names (`{"Fields": ["a", "b"]}`), as AWS validates it.
pub(crate) fn index_fields(doc: &str) -> Result<Vec<String>, AwsError> {
    let v = json_document(doc, "Index policy document")?;
    let fields = v
        .get("Fields")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Invalid index policy: the document must have a Fields list"))?;
    let names: Vec<String> = fields
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if names.len() != fields.len() || names.is_empty() || names.len() > 20 {
        return Err(invalid(
            "Invalid index policy: Fields must be a list of 1 to 20 field names",
        ));
    }
    Ok(names)
}

/// Whether an account policy's selection criteria (`LogGroupName NOT IN [...]` or
/// `LogGroupNamePrefix IN [...]`) selects a group; none selects every group.
pub(crate) fn selection_matches(criteria: Option<&str>, group: &str) -> bool {
    let Some(c) = criteria.map(str::trim).filter(|c| !c.is_empty()) else {
        return true;
    };
    let list = |s: &str| -> Vec<String> {
        s.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|x| x.trim().trim_matches('"').to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    if let Some(rest) = c.strip_prefix("LogGroupName NOT IN") {
        return !list(rest).iter().any(|n| n == group);
    }
    if let Some(rest) = c.strip_prefix("LogGroupNamePrefix IN") {
        return list(rest).iter().any(|n| group.starts_with(n.as_str()));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_policy_documents() {
        assert_eq!(
            index_fields(r#"{"Fields":["a","b"]}"#).unwrap(),
            vec!["a", "b"]
        );
        assert!(index_fields("{}").is_err());
        assert!(index_fields("nope").is_err());
        assert!(index_fields(r#"{"Fields":[]}"#).is_err());
    }

    #[test]
    fn selection_criteria() {
        assert!(selection_matches(None, "g"));
        assert!(!selection_matches(
            Some(r#"LogGroupName NOT IN ["g"]"#),
            "g"
        ));
        assert!(selection_matches(Some(r#"LogGroupName NOT IN ["g"]"#), "h"));
        assert!(selection_matches(
            Some(r#"LogGroupNamePrefix IN ["/aws"]"#),
            "/aws/x"
        ));
        assert!(!selection_matches(
            Some(r#"LogGroupNamePrefix IN ["/aws"]"#),
            "/app"
        ));
    }
}
