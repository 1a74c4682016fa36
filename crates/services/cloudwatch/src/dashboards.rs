//! Dashboards (stored records) and tags of alarms and dashboards.

use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::alarms::alarm_arn;
use crate::*;

/// Tags per resource.
const MAX_TAGS: usize = 50;
/// Dashboards ListDashboards answers per page.
const DASHBOARD_PAGE: usize = 1000;

fn dashboard_arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:cloudwatch::{}:dashboard/{name}", p.account)
}

impl CloudWatch {
    pub(crate) fn put_dashboard(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "DashboardName")
            .ok_or_else(|| missing("DashboardName"))?
            .to_string();
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || name.len() > 255
        {
            return Err(AwsError::new(
                "DashboardInvalidInputError",
                "The value for field DashboardName contains invalid characters. It can only contain alphanumerics, dash (-) and underscore (_).",
            ));
        }
        let body = str_of(v, "DashboardBody")
            .ok_or_else(|| missing("DashboardBody"))?
            .to_string();
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Object(o)) => {
                if o.get("widgets").is_some_and(|w| !w.is_array()) {
                    return Err(AwsError::new(
                        "DashboardInvalidInputError",
                        "The field DashboardBody.widgets must be an array.",
                    ));
                }
            }
            _ => {
                return Err(AwsError::new(
                    "DashboardInvalidInputError",
                    "The field DashboardBody must be a valid JSON object.",
                ));
            }
        }
        let tags = tags_in(v);
        let now = self.now_ms();
        let (_, ver) = self.store.write(|txn| {
            txn.insert(
                dashboard_key(p, &name),
                CwRecord::Dashboard(DashboardRec {
                    name: name.clone(),
                    body,
                    modified_ms: now,
                }),
            );
            if !tags.is_empty() {
                let arn = dashboard_arn(p, &name);
                txn.insert(tags_key(p, &arn), CwRecord::Tags(TagsRec { arn, tags }));
            }
        });
        out(json!({ "DashboardValidationMessages": [] }), Some(ver))
    }

    pub(crate) fn get_dashboard(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "DashboardName").ok_or_else(|| missing("DashboardName"))?;
        match self.store.snapshot().get(&dashboard_key(p, name)) {
            Some(CwRecord::Dashboard(d)) => out(
                json!({"DashboardArn": dashboard_arn(p, name), "DashboardBody": d.body, "DashboardName": d.name}),
                None,
            ),
            _ => Err(AwsError::new(
                "DashboardNotFoundError",
                format!("Dashboard {name} does not exist"),
            )),
        }
    }

    pub(crate) fn delete_dashboards(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let names = strings(v, "DashboardNames");
        let (r, ver) = self.store.write(|txn| {
            for n in &names {
                if !matches!(txn.get(&dashboard_key(p, n)), Some(CwRecord::Dashboard(_))) {
                    return Err(AwsError::new(
                        "DashboardNotFoundError",
                        format!("Dashboard {n} does not exist"),
                    ));
                }
            }
            for n in &names {
                txn.remove(&dashboard_key(p, n));
                txn.remove(&tags_key(p, &dashboard_arn(p, n)));
            }
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_dashboards(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "DashboardNamePrefix");
        let base = dashboards_prefix(p);
        let start = match str_of(v, "NextToken") {
            Some(t) => {
                let name = untoken(t).map_err(|_| {
                    invalid_value(format!("The value {t} for parameter NextToken is invalid."))
                })?;
                Bound::Excluded(dashboard_key(p, &name))
            }
            None => Bound::Included(base.clone()),
        };
        let snap = self.store.snapshot();
        let mut items = Vec::new();
        let mut next = None;
        let mut last = None;
        for (k, r) in snap.range((start, base.prefix_range().1)) {
            if !k.starts_with(&base) {
                break;
            }
            let CwRecord::Dashboard(d) = r else { continue };
            if prefix.is_some_and(|pre| !d.name.starts_with(pre)) {
                continue;
            }
            if items.len() == DASHBOARD_PAGE {
                next = last.map(token);
                break;
            }
            last = Some(d.name.as_str());
            items.push(json!({
                "DashboardName": d.name,
                "DashboardArn": dashboard_arn(p, &d.name),
                "LastModified": d.modified_ms as f64 / 1000.0,
                "Size": d.body.len(),
            }));
        }
        let mut o = json!({ "DashboardEntries": items });
        if let Some(n) = next {
            o["NextToken"] = json!(n);
        }
        out(o, None)
    }

    /// Whether the ARN names an existing alarm or dashboard of the partition.
    fn resource_exists(&self, p: &Partition, arn: &str) -> bool {
        let snap = self.store.snapshot();
        if let Some(name) = arn.strip_prefix(&alarm_arn(p, "")) {
            return matches!(snap.get(&alarm_key(p, name)), Some(CwRecord::Alarm(_)));
        }
        if let Some(name) = arn.strip_prefix(&dashboard_arn(p, "")) {
            return matches!(
                snap.get(&dashboard_key(p, name)),
                Some(CwRecord::Dashboard(_))
            );
        }
        self.catalog_resource_exists(p, arn)
    }

    fn resource_missing(arn: &str) -> AwsError {
        AwsError::new(
            "ResourceNotFoundException",
            format!("The specified resource {arn} does not exist."),
        )
    }

    pub(crate) fn tag_resource(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN")
            .ok_or_else(|| missing("ResourceARN"))?
            .to_string();
        if !self.resource_exists(p, &arn) {
            return Err(Self::resource_missing(&arn));
        }
        let new = tags_in(v);
        let (r, ver) = self.store.write(|txn| {
            let k = tags_key(p, &arn);
            let mut tags = match txn.get(&k) {
                Some(CwRecord::Tags(t)) => t.tags.clone(),
                _ => Vec::new(),
            };
            for (k, v) in new {
                match tags.iter_mut().find(|(x, _)| *x == k) {
                    Some(e) => e.1 = v,
                    None => tags.push((k, v)),
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(AwsError::new(
                    "LimitExceededException",
                    format!("A resource can have at most {MAX_TAGS} tags."),
                ));
            }
            txn.insert(
                k,
                CwRecord::Tags(TagsRec {
                    arn: arn.clone(),
                    tags,
                }),
            );
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn untag_resource(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN")
            .ok_or_else(|| missing("ResourceARN"))?
            .to_string();
        if !self.resource_exists(p, &arn) {
            return Err(Self::resource_missing(&arn));
        }
        let keys = strings(v, "TagKeys");
        let (_, ver) = self.store.write(|txn| {
            let k = tags_key(p, &arn);
            if let Some(CwRecord::Tags(t)) = txn.get(&k) {
                let mut t = t.clone();
                t.tags.retain(|(k, _)| !keys.contains(k));
                txn.insert(k, CwRecord::Tags(t));
            }
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_tags(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").ok_or_else(|| missing("ResourceARN"))?;
        if !self.resource_exists(p, arn) {
            return Err(Self::resource_missing(arn));
        }
        let tags = match self.store.snapshot().get(&tags_key(p, arn)) {
            Some(CwRecord::Tags(t)) => t.tags.clone(),
            _ => Vec::new(),
        };
        let list: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        out(json!({ "Tags": list }), None)
    }
}

fn tags_in(v: &Value) -> Vec<(String, String)> {
    v.get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        str_of(t, "Key")?.to_string(),
                        str_of(t, "Value")?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}
