//! The managed instances seen as nodes: DescribeInstanceProperties, ListNodes and
//! ListNodesSummary (its `Count` aggregator by one attribute), from the instances registered
//! here (see `instances.rs`). Resource data syncs are not read (a `SyncName` must exist).

use super::objects::*;
use super::*;

/// The node attributes of an instance record, by ListNodes' filter keys.
fn node_attr(v: &Value, key: &str) -> Option<String> {
    let field = match key {
        "AgentType" => return Some("amazon-ssm-agent".into()),
        "InstanceStatus" => return Some("Active".into()),
        "ManagedStatus" => return Some("Managed".into()),
        "IpAddress" => "IPAddress",
        other => other,
    };
    v.get(field).and_then(|x| x.as_str().map(str::to_string))
}

fn node_filter(v: &Value, f: &Value) -> bool {
    let key = s(f, "Key").unwrap_or("");
    let got = node_attr(v, key);
    let values: Vec<&str> = arr(f, "Values").iter().filter_map(Value::as_str).collect();
    let Some(g) = got else { return false };
    match s(f, "Type").unwrap_or("Equal") {
        "NotEqual" => !values.contains(&g.as_str()),
        "BeginWith" => values.iter().any(|w| g.starts_with(w)),
        _ => values.contains(&g.as_str()),
    }
}

impl Ssm {
    fn check_sync(&self, ctx: &RequestContext, input: &Value) -> Result<(), AwsError> {
        if let Some(sync) = s(input, "SyncName")
            && self.obj_get(ctx, "datasync", sync).is_none()
        {
            return Err(AwsError::new(
                "ResourceDataSyncNotFoundException",
                format!("Sync {sync} does not exist."),
            ));
        }
        Ok(())
    }

    fn nodes(&self, ctx: &RequestContext, input: &Value) -> Vec<Value> {
        let filters = arr(input, "Filters");
        self.obj_list(ctx, instances::INSTANCE)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| filters.iter().all(|f| node_filter(v, f)))
            .collect()
    }

    pub(super) fn describe_instance_properties(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 1000, 50)?;
        let mut filters: Vec<(String, String, Vec<Value>)> = Vec::new();
        for f in arr(input, "InstancePropertyFilterList") {
            filters.push((
                s(f, "key").unwrap_or("").into(),
                "Equal".into(),
                arr(f, "valueSet").to_vec(),
            ));
        }
        for f in arr(input, "FiltersWithOperator") {
            let op = s(f, "Operator").unwrap_or("Equal").to_string();
            filters.push((
                s(f, "Key").unwrap_or("").into(),
                op,
                arr(f, "Values").to_vec(),
            ));
        }
        let items: Vec<Value> = self
            .obj_list(ctx, instances::INSTANCE)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| {
                filters.iter().all(|(k, op, values)| {
                    let field = match k.as_str() {
                        "InstanceIds" => "InstanceId",
                        "PlatformTypes" => "PlatformType",
                        "ActivationIds" => "ActivationId",
                        other => other,
                    };
                    let got = v.get(field).and_then(Value::as_str).unwrap_or("");
                    let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    match op.as_str() {
                        "NotEqual" => !values.contains(&got),
                        "BeginWith" => values.iter().any(|w| got.starts_with(w)),
                        "LessThan" => values.iter().any(|w| got < *w),
                        "GreaterThan" => values.iter().any(|w| got > *w),
                        _ => values.contains(&got),
                    }
                })
            })
            .map(|mut v| {
                v["Name"] = v.get("ComputerName").cloned().unwrap_or(Value::Null);
                v
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("InstanceProperties", items, next), None)
    }

    pub(super) fn list_nodes(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        self.check_sync(ctx, input)?;
        let items: Vec<Value> = self
            .nodes(ctx, input)
            .into_iter()
            .map(|v| {
                let mut inst = Map::new();
                for k in [
                    "AgentType", "AgentVersion", "ComputerName", "InstanceStatus", "IpAddress",
                    "ManagedStatus", "PlatformType", "PlatformName", "PlatformVersion", "ResourceType",
                ] {
                    if let Some(x) = node_attr(&v, k) {
                        inst.insert(k.to_string(), json!(x));
                    }
                }
                json!({"Id": v["InstanceId"], "CaptureTime": v["LastPingDateTime"], "Region": ctx.region(),
                       "Owner": {"AccountId": ctx.account()}, "NodeType": {"Instance": inst}})
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Nodes", items, next), None)
    }

    pub(super) fn list_nodes_summary(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        self.check_sync(ctx, input)?;
        let aggs = arr(input, "Aggregators");
        let [agg] = aggs else {
            return Err(AwsError::new(
                "InvalidAggregatorException",
                "Exactly one aggregator is supported by this emulator.",
            ));
        };
        if !arr(agg, "Aggregators").is_empty() || s(agg, "AggregatorType") != Some("Count") {
            return Err(AwsError::new(
                "InvalidAggregatorException",
                "Only a single Count aggregator is supported by this emulator.",
            ));
        }
        let attr = req(agg, "AttributeName")?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for v in self.nodes(ctx, input) {
            let value = if attr == "Region" {
                Some(ctx.region().to_string())
            } else {
                node_attr(&v, attr)
            };
            *counts.entry(value.unwrap_or_default()).or_default() += 1;
        }
        let items: Vec<Value> = counts
            .into_iter()
            .map(|(value, n)| json!({attr: value, "Count": n.to_string()}))
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Summary", items, next), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_instances_are_nodes() {
        let s = Ssm::new();
        let ctx = RequestContext::from_scope(None);
        s.register_instance(
            &ctx,
            "mi-0123456789abcdef0",
            Some(&json!({"ComputerName": "a", "PlatformType": "Linux"})),
        );
        s.register_instance(
            &ctx,
            "mi-0123456789abcdef1",
            Some(&json!({"ComputerName": "b", "PlatformType": "Windows"})),
        );
        let call = |op: &str, v: Value| {
            s.handle(&ctx, op, v.to_string().as_bytes())
                .map(|o| o.value)
        };
        let n = call(
            "ListNodes",
            json!({"Filters": [{"Key": "PlatformType", "Values": ["Linux"]}]}),
        )
        .unwrap();
        assert_eq!(n["Nodes"].as_array().unwrap().len(), 1);
        assert_eq!(n["Nodes"][0]["NodeType"]["Instance"]["ComputerName"], "a");
        let sum = call("ListNodesSummary", json!({"Aggregators": [{"AggregatorType": "Count", "TypeName": "Instance", "AttributeName": "PlatformType"}]})).unwrap();
        assert_eq!(
            sum["Summary"],
            json!([{"PlatformType": "Linux", "Count": "1"}, {"PlatformType": "Windows", "Count": "1"}])
        );
        let p = call("DescribeInstanceProperties", json!({"FiltersWithOperator": [{"Key": "ComputerName", "Operator": "BeginWith", "Values": ["b"]}]})).unwrap();
        assert_eq!(p["InstanceProperties"][0]["Name"], "b");
        assert_eq!(
            call("ListNodes", json!({"SyncName": "nope"}))
                .unwrap_err()
                .code,
            "ResourceDataSyncNotFoundException"
        );
    }
}
