//! Vended-log deliveries: delivery sources, delivery destinations and their policies,
//! deliveries joining them, and the configuration templates AWS publishes for them.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

fn missing(what: &str) -> AwsError {
    not_found(format!("The specified {what} does not exist."))
}

/// The destination type an ARN implies (S3 bucket, log group, Firehose stream, X-Ray).
fn destination_type(arn: &str) -> Option<&'static str> {
    match arn.split(':').nth(2)? {
        "s3" => Some("S3"),
        "logs" => Some("CWL"),
        "firehose" => Some("FH"),
        "xray" => Some("XRAY"),
        _ => None,
    }
}

/// The configuration templates (a static table, as AWS's is per service and log type).
fn templates() -> Vec<Value> {
    let fields = |names: &[&str]| -> Value {
        Value::Array(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| json!({"name": n, "mandatory": i == 0}))
                .collect(),
        )
    };
    let mut out = Vec::new();
    let kinds: [(&str, &str, &str, &[&str]); 3] = [
        (
            "cloudfront",
            "AWS::CloudFront::Distribution",
            "ACCESS_LOGS",
            &[
                "timestamp",
                "DistributionId",
                "date",
                "time",
                "x-edge-location",
                "sc-bytes",
                "c-ip",
                "cs-method",
                "cs(Host)",
                "cs-uri-stem",
                "sc-status",
            ],
        ),
        (
            "bedrock",
            "AWS::Bedrock::KnowledgeBase",
            "APPLICATION_LOGS",
            &[
                "event_timestamp",
                "event",
                "event_type",
                "level",
                "resource_arn",
            ],
        ),
        (
            "workmail",
            "AWS::WorkMail::Organization",
            "ACCESS_CONTROL_LOGS",
            &[
                "event_timestamp",
                "request_id",
                "organization_arn",
                "user",
                "protocol",
                "access_granted",
            ],
        ),
    ];
    for (service, rtype, log_type, names) in kinds {
        for dest in ["S3", "CWL", "FH"] {
            let formats: &[&str] = match dest {
                "S3" => &["json", "plain", "w3c", "parquet"],
                "CWL" => &["json", "plain"],
                _ => &["json", "plain", "raw"],
            };
            let mut t = json!({
                "service": service,
                "logType": log_type,
                "resourceType": rtype,
                "deliveryDestinationType": dest,
                "defaultDeliveryConfigValues": {"recordFields": names, "fieldDelimiter": ""},
                "allowedFields": fields(names),
                "allowedOutputFormats": formats,
                "allowedActionForAllowVendedLogsDeliveryForResource": format!("{service}:AllowVendedLogDeliveryForResource"),
                "allowedFieldDelimiters": ["", "\t", " ", ","],
            });
            if dest == "S3" {
                t["defaultDeliveryConfigValues"]["s3DeliveryConfiguration"] = json!({
                    "suffixPath": format!("AWSLogs/{{account-id}}/{service}/{{yyyy}}/{{MM}}/{{dd}}"),
                    "enableHiveCompatiblePath": false,
                });
                t["allowedSuffixPathFields"] = json!(["account-id", "yyyy", "MM", "dd", "HH"]);
            }
            out.push(t);
        }
    }
    out
}

impl Logs {
    pub(crate) fn put_delivery_source(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default().to_string();
        let resource = str_of(v, "resourceArn").unwrap_or_default();
        let log_type = str_of(v, "logType").unwrap_or_default();
        let service = resource
            .split(':')
            .nth(2)
            .filter(|s| resource.starts_with("arn:") && !s.is_empty())
            .ok_or_else(|| validation(format!("Invalid resourceArn: {resource}")))?;
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if let Some(cur) = load_txn(txn, p, DELIVERY_SOURCE, &name)
                && (cur["resourceArns"][0] != resource || cur["logType"] != log_type)
            {
                return Err(conflict(
                    "The resourceArn and logType of an existing delivery source cannot be changed.",
                ));
            }
            let mut d = json!({
                "name": name,
                "arn": res::arn(p, &format!("delivery-source:{name}")),
                "resourceArns": [resource],
                "service": service,
                "logType": log_type,
                "status": "ACTIVE",
                "tags": tags_of(v),
            });
            copy_members(&mut d, v, &["deliverySourceConfiguration"]);
            res::store(txn, p, DELIVERY_SOURCE, &name, &d, now);
            Ok(d)
        });
        let d = r?;
        out(json!({ "deliverySource": d }), Some(ver))
    }

    pub(crate) fn get_delivery_source(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default();
        let d = res::load(&self.store.snapshot(), p, DELIVERY_SOURCE, name)
            .ok_or_else(|| missing("delivery source"))?;
        out(json!({ "deliverySource": d }), None)
    }

    fn describe_kind(
        &self,
        p: &Partition,
        v: &Value,
        kind: &str,
        key: &str,
    ) -> Result<Out, AwsError> {
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            kind,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |_, d| Some(public(d)),
        )?;
        out(page(items, key, next), None)
    }

    pub(crate) fn describe_delivery_sources(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        self.describe_kind(p, v, DELIVERY_SOURCE, "deliverySources")
    }

    pub(crate) fn delete_delivery_source(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default();
        let (r, ver) = self.store.write(|txn| {
            load_txn(txn, p, DELIVERY_SOURCE, name).ok_or_else(|| missing("delivery source"))?;
            let used = txn
                .scan_prefix(&resources_prefix(p, DELIVERY))
                .any(|(_, r)| matches!(r, LogsRecord::Resource(r) if serde_json::from_str::<Value>(&r.body).is_ok_and(|d| d["deliverySourceName"] == name)));
            if used {
                return Err(conflict(
                    "The delivery source is used by a delivery; delete the delivery first.",
                ));
            }
            res::remove(txn, p, DELIVERY_SOURCE, name);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn put_delivery_destination(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default().to_string();
        let target = v
            .pointer("/deliveryDestinationConfiguration/destinationResourceArn")
            .and_then(Value::as_str);
        let given_type = str_of(v, "deliveryDestinationType");
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let cur = load_txn(txn, p, DELIVERY_DESTINATION, &name);
            let target = match (target, &cur) {
                (Some(t), _) => t.to_string(),
                (None, Some(c)) => c["deliveryDestinationConfiguration"]["destinationResourceArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                (None, None) if given_type == Some("XRAY") => String::new(),
                (None, None) => {
                    return Err(validation(
                        "deliveryDestinationConfiguration is required for this destination type.",
                    ));
                }
            };
            let kind = match (given_type, destination_type(&target)) {
                (Some(g), Some(d)) if g != d => {
                    return Err(validation(format!(
                        "The destination resource {target} is not of type {g}."
                    )));
                }
                (Some(g), _) => g.to_string(),
                (None, Some(d)) => d.to_string(),
                (None, None) => {
                    return Err(validation(format!(
                        "Invalid destinationResourceArn: {target}"
                    )));
                }
            };
            if let Some(c) = &cur
                && c["deliveryDestinationType"] != kind.as_str()
            {
                return Err(conflict(
                    "The type of an existing delivery destination cannot be changed.",
                ));
            }
            let mut d = json!({
                "name": name,
                "arn": res::arn(p, &format!("delivery-destination:{name}")),
                "deliveryDestinationType": kind,
                "outputFormat": str_of(v, "outputFormat")
                    .or_else(|| cur.as_ref().and_then(|c| c["outputFormat"].as_str()))
                    .unwrap_or("json"),
                "tags": v.get("tags").cloned().or_else(|| cur.as_ref().map(|c| c["tags"].clone())).unwrap_or_else(|| json!({})),
            });
            if !target.is_empty() {
                d["deliveryDestinationConfiguration"] = json!({"destinationResourceArn": target});
            }
            if let Some(pol) = cur.as_ref().and_then(|c| c.get("_policy")) {
                d["_policy"] = pol.clone();
            }
            res::store(txn, p, DELIVERY_DESTINATION, &name, &d, now);
            Ok(d)
        });
        let d = r?;
        out(json!({ "deliveryDestination": public(&d) }), Some(ver))
    }

    pub(crate) fn get_delivery_destination(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default();
        let d = res::load(&self.store.snapshot(), p, DELIVERY_DESTINATION, name)
            .ok_or_else(|| missing("delivery destination"))?;
        out(json!({ "deliveryDestination": public(&d) }), None)
    }

    pub(crate) fn describe_delivery_destinations(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        self.describe_kind(p, v, DELIVERY_DESTINATION, "deliveryDestinations")
    }

    pub(crate) fn delete_delivery_destination(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default();
        let (r, ver) = self.store.write(|txn| {
            let d = load_txn(txn, p, DELIVERY_DESTINATION, name)
                .ok_or_else(|| missing("delivery destination"))?;
            let arn = d["arn"].clone();
            let used = txn
                .scan_prefix(&resources_prefix(p, DELIVERY))
                .any(|(_, r)| matches!(r, LogsRecord::Resource(r) if serde_json::from_str::<Value>(&r.body).is_ok_and(|d| d["deliveryDestinationArn"] == arn)));
            if used {
                return Err(conflict(
                    "The delivery destination is used by a delivery; delete the delivery first.",
                ));
            }
            res::remove(txn, p, DELIVERY_DESTINATION, name);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn put_delivery_destination_policy(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "deliveryDestinationName").unwrap_or_default();
        let policy = str_of(v, "deliveryDestinationPolicy").unwrap_or_default();
        if !matches!(serde_json::from_str::<Value>(policy), Ok(Value::Object(_))) {
            return Err(validation(
                "The delivery destination policy is not valid JSON.",
            ));
        }
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let mut d = load_txn(txn, p, DELIVERY_DESTINATION, name)
                .ok_or_else(|| missing("delivery destination"))?;
            d["_policy"] = json!(policy);
            res::store(txn, p, DELIVERY_DESTINATION, name, &d, now);
            Ok(())
        });
        r?;
        out(
            json!({"policy": {"deliveryDestinationPolicy": policy}}),
            Some(ver),
        )
    }

    pub(crate) fn get_delivery_destination_policy(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "deliveryDestinationName").unwrap_or_default();
        let d = res::load(&self.store.snapshot(), p, DELIVERY_DESTINATION, name)
            .ok_or_else(|| missing("delivery destination"))?;
        let policy = match d.get("_policy") {
            Some(x) => json!({ "deliveryDestinationPolicy": x }),
            None => json!({}),
        };
        out(json!({ "policy": policy }), None)
    }

    pub(crate) fn delete_delivery_destination_policy(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "deliveryDestinationName").unwrap_or_default();
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let mut d = load_txn(txn, p, DELIVERY_DESTINATION, name)
                .ok_or_else(|| missing("delivery destination"))?;
            let Some(m) = d.as_object_mut() else {
                return Err(missing("delivery destination"));
            };
            if m.remove("_policy").is_none() {
                return Err(missing("delivery destination policy"));
            }
            res::store(txn, p, DELIVERY_DESTINATION, name, &d, now);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn create_delivery(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let source = str_of(v, "deliverySourceName").unwrap_or_default();
        let dest_arn = str_of(v, "deliveryDestinationArn").unwrap_or_default();
        let id = hex_id(self.next_id(), 16);
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            load_txn(txn, p, DELIVERY_SOURCE, source).ok_or_else(|| missing("delivery source"))?;
            let dest_name = id_from_arn(dest_arn, "delivery-destination");
            let dest = load_txn(txn, p, DELIVERY_DESTINATION, &dest_name)
                .filter(|d| d["arn"] == dest_arn)
                .ok_or_else(|| missing("delivery destination"))?;
            let dup = txn
                .scan_prefix(&resources_prefix(p, DELIVERY))
                .any(|(_, r)| matches!(r, LogsRecord::Resource(r) if serde_json::from_str::<Value>(&r.body).is_ok_and(|d| d["deliverySourceName"] == source && d["deliveryDestinationArn"] == dest_arn)));
            if dup {
                return Err(conflict(
                    "A delivery already exists for this delivery source and delivery destination.",
                ));
            }
            let mut d = json!({
                "id": id,
                "arn": res::arn(p, &format!("delivery:{id}")),
                "deliverySourceName": source,
                "deliveryDestinationArn": dest_arn,
                "deliveryDestinationType": dest["deliveryDestinationType"],
                "tags": tags_of(v),
            });
            copy_members(&mut d, v, &["recordFields", "fieldDelimiter", "s3DeliveryConfiguration"]);
            res::store(txn, p, DELIVERY, &id, &d, now);
            Ok(d)
        });
        let d = r?;
        out(json!({ "delivery": d }), Some(ver))
    }

    pub(crate) fn get_delivery(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "id").unwrap_or_default();
        let d = res::load(&self.store.snapshot(), p, DELIVERY, id)
            .ok_or_else(|| missing("delivery"))?;
        out(json!({ "delivery": d }), None)
    }

    pub(crate) fn describe_deliveries(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        self.describe_kind(p, v, DELIVERY, "deliveries")
    }

    pub(crate) fn delete_delivery(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "id").unwrap_or_default();
        let (found, ver) = self.store.write(|txn| res::remove(txn, p, DELIVERY, id));
        if !found {
            return Err(missing("delivery"));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn update_delivery_configuration(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "id").unwrap_or_default();
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let mut d = load_txn(txn, p, DELIVERY, id).ok_or_else(|| missing("delivery"))?;
            if v.get("s3DeliveryConfiguration").is_some() && d["deliveryDestinationType"] != "S3" {
                return Err(validation(
                    "s3DeliveryConfiguration applies only to deliveries to S3.",
                ));
            }
            copy_members(
                &mut d,
                v,
                &["recordFields", "fieldDelimiter", "s3DeliveryConfiguration"],
            );
            res::store(txn, p, DELIVERY, id, &d, now);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_configuration_templates(&self, v: &Value) -> Result<Out, AwsError> {
        let service = str_of(v, "service");
        let list = |k: &str| crate::groups::string_list(v, k);
        let (log_types, resource_types, dests) = (
            list("logTypes"),
            list("resourceTypes"),
            list("deliveryDestinationTypes"),
        );
        let items: Vec<Value> = templates()
            .into_iter()
            .filter(|t| {
                let has =
                    |l: &Vec<String>, k: &str| l.is_empty() || l.iter().any(|x| t[k] == x.as_str());
                service.is_none_or(|s| t["service"] == s)
                    && has(&log_types, "logType")
                    && has(&resource_types, "resourceType")
                    && has(&dests, "deliveryDestinationType")
            })
            .collect();
        let limit = limit_of(v, 50, 50);
        let start: usize = match str_of(v, "nextToken") {
            Some(t) => untoken(t)?
                .parse()
                .map_err(|_| invalid("The specified nextToken is invalid"))?,
            None => 0,
        };
        let page_items: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
        let next = (start + limit < items.len()).then(|| token(&(start + limit).to_string()));
        out(page(page_items, "configurationTemplates", next), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_types_from_arns() {
        assert_eq!(destination_type("arn:aws:s3:::b"), Some("S3"));
        assert_eq!(
            destination_type("arn:aws:logs:us-east-1:1:log-group:g"),
            Some("CWL")
        );
        assert_eq!(
            destination_type("arn:aws:firehose:us-east-1:1:deliverystream/x"),
            Some("FH")
        );
        assert_eq!(destination_type("arn:aws:sqs:us-east-1:1:q"), None);
        assert_eq!(templates().len(), 9);
    }
}
