//! Tags (of streams and consumers), resource policies, DescribeLimits and the account settings.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use snapstack_engine::{Key, Partition};
use snapstack_protocol::errors::AwsError;

use crate::streams::open_shards_in;
use crate::*;

fn tag_map(v: &Value) -> BTreeMap<String, String> {
    v.get("Tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| (k.clone(), x.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn tag_keys(v: &Value) -> Vec<String> {
    v.get("TagKeys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn valid_tag_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_./=+-@:".contains(c))
}

fn tags_json(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect()
}

/// A resource an ARN names: its record key and the stream it belongs to.
enum Resource {
    Stream(Partition, String),
    Consumer(Partition, String, String),
}

fn resource_of(arn: &str) -> Result<Resource, AwsError> {
    let (p, stream, consumer) =
        parse_arn(arn).ok_or_else(|| invalid(format!("Invalid ResourceARN {arn}.")))?;
    Ok(match consumer {
        None => Resource::Stream(p, stream),
        Some(c) => {
            let name = c.split_once(':').map_or(c.as_str(), |(n, _)| n).to_string();
            Resource::Consumer(p, stream, name)
        }
    })
}

impl Kinesis {
    /// Edit the tags or the policy of the resource an ARN names, in one write.
    fn edit_resource(
        &self,
        arn: &str,
        f: impl FnOnce(&mut BTreeMap<String, String>, &mut Option<String>) -> Result<Value, AwsError>,
    ) -> Result<Out, AwsError> {
        let res = resource_of(arn)?;
        let (key, p, stream): (Key, Partition, String) = match &res {
            Resource::Stream(p, s) => (stream_key(p, s), p.clone(), s.clone()),
            Resource::Consumer(p, s, c) => (consumer_key(p, s, c), p.clone(), s.clone()),
        };
        let (r, ver) = self.store.write(|txn| {
            let o = match txn.get(&key) {
                Some(KinesisRecord::Stream(s)) => {
                    let mut s = s.clone();
                    let o = f(&mut s.tags, &mut s.policy)?;
                    txn.insert(key.clone(), KinesisRecord::Stream(s));
                    o
                }
                Some(KinesisRecord::Consumer(c)) if arn_matches_consumer(arn, &c.arn) => {
                    let mut c = c.clone();
                    let o = f(&mut c.tags, &mut c.policy)?;
                    txn.insert(key.clone(), KinesisRecord::Consumer(c));
                    o
                }
                _ => {
                    return Err(match res {
                        Resource::Stream(..) => stream_missing(&p, &stream),
                        Resource::Consumer(..) => not_found(format!(
                            "Consumer {arn} under account {} not found.",
                            p.account
                        )),
                    });
                }
            };
            Ok(o)
        });
        out(r?, Some(ver))
    }

    fn read_resource(
        &self,
        arn: &str,
    ) -> Result<(BTreeMap<String, String>, Option<String>), AwsError> {
        let res = resource_of(arn)?;
        let snap = self.store.snapshot();
        match &res {
            Resource::Stream(p, s) => {
                let st = load_stream(&snap, p, s)?;
                Ok((st.tags, st.policy))
            }
            Resource::Consumer(p, s, c) => match snap.get(&consumer_key(p, s, c)) {
                Some(KinesisRecord::Consumer(c)) if arn_matches_consumer(arn, &c.arn) => {
                    Ok((c.tags.clone(), c.policy.clone()))
                }
                _ => Err(not_found(format!(
                    "Consumer {arn} under account {} not found.",
                    p.account
                ))),
            },
        }
    }

    pub(crate) fn add_tags_to_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let tags = tag_map(v);
        check_tags(&tags)?;
        self.update_stream(p, v, |p, s| {
            add_tags(&mut s.tags, &tags, &s.name, p)?;
            Ok(json!({}))
        })
    }

    pub(crate) fn remove_tags_from_stream(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let keys = tag_keys(v);
        self.update_stream(p, v, |_, s| {
            for k in &keys {
                s.tags.remove(k);
            }
            Ok(json!({}))
        })
    }

    pub(crate) fn list_tags_for_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let s = load_stream(&self.store.snapshot(), &p, &name)?;
        let lim = int_of(v, "Limit").unwrap_or(50).clamp(1, 50) as usize;
        let after = str_of(v, "ExclusiveStartTagKey");
        let tags: Vec<Value> = s
            .tags
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        let more = tags.len() > lim;
        let tags: Vec<Value> = tags.into_iter().take(lim).collect();
        out(json!({ "Tags": tags, "HasMoreTags": more }), None)
    }

    pub(crate) fn tag_resource(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").unwrap_or_default().to_string();
        let tags = tag_map(v);
        check_tags(&tags)?;
        let (p, name, _) =
            parse_arn(&arn).ok_or_else(|| invalid(format!("Invalid ResourceARN {arn}.")))?;
        self.edit_resource(&arn, |t, _| {
            add_tags(t, &tags, &name, &p)?;
            Ok(json!({}))
        })
    }

    pub(crate) fn untag_resource(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").unwrap_or_default().to_string();
        let keys = tag_keys(v);
        self.edit_resource(&arn, |t, _| {
            for k in &keys {
                t.remove(k);
            }
            Ok(json!({}))
        })
    }

    pub(crate) fn list_tags_for_resource(
        &self,
        _p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").unwrap_or_default();
        let (tags, _) = self.read_resource(arn)?;
        out(json!({ "Tags": tags_json(&tags) }), None)
    }

    pub(crate) fn put_resource_policy(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").unwrap_or_default().to_string();
        let policy = str_of(v, "Policy").unwrap_or_default().to_string();
        match serde_json::from_str::<Value>(&policy) {
            Ok(Value::Object(_)) => {}
            _ => {
                return Err(invalid(
                    "The resource policy is not valid JSON: a policy document is a JSON object.",
                ));
            }
        }
        self.edit_resource(&arn, |_, pol| {
            *pol = Some(policy);
            Ok(json!({}))
        })
    }

    pub(crate) fn get_resource_policy(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").unwrap_or_default();
        let (_, policy) = self.read_resource(arn)?;
        out(
            json!({ "Policy": policy.unwrap_or_else(|| "{}".to_string()) }),
            None,
        )
    }

    pub(crate) fn delete_resource_policy(
        &self,
        _p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let arn = str_of(v, "ResourceARN").unwrap_or_default().to_string();
        let arn2 = arn.clone();
        self.edit_resource(&arn, move |_, pol| {
            if pol.take().is_none() {
                return Err(not_found(format!(
                    "No resource policy found for resource ARN {arn2}."
                )));
            }
            Ok(json!({}))
        })
    }

    pub(crate) fn describe_limits(&self, p: &Partition) -> Result<Out, AwsError> {
        let snap = self.store.snapshot();
        let on_demand = snap
            .scan_prefix(&streams_prefix(p))
            .filter(|(_, r)| matches!(r, KinesisRecord::Stream(s) if s.mode == "ON_DEMAND"))
            .count();
        out(
            json!({
                "ShardLimit": SHARD_LIMIT,
                "OpenShardCount": open_shards_in(&snap, p),
                "OnDemandStreamCount": on_demand,
                "OnDemandStreamCountLimit": ON_DEMAND_STREAM_LIMIT,
            }),
            None,
        )
    }

    pub(crate) fn describe_account_settings(&self, p: &Partition) -> Result<Out, AwsError> {
        let snap = self.store.snapshot();
        let o = match snap.get(&account_key(p)) {
            Some(KinesisRecord::Account(a)) => account_json(a),
            _ => json!({}),
        };
        out(o, None)
    }

    pub(crate) fn update_account_settings(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let status = v
            .get("MinimumThroughputBillingCommitment")
            .and_then(|m| str_of(m, "Status"))
            .unwrap_or("DISABLED")
            .to_string();
        let now = self.now_ms();
        let (a, ver) = self.store.write(|txn| {
            let mut a = match txn.get(&account_key(p)) {
                Some(KinesisRecord::Account(a)) => a.clone(),
                _ => AccountRec {
                    commitment_status: "DISABLED".into(),
                    started_ms: None,
                    ended_ms: None,
                },
            };
            if status == "ENABLED" && a.commitment_status != "ENABLED" {
                a.commitment_status = "ENABLED".into();
                a.started_ms = Some(now);
                a.ended_ms = None;
            } else if status == "DISABLED" && a.commitment_status == "ENABLED" {
                a.commitment_status = "DISABLED".into();
                a.ended_ms = Some(now);
            }
            txn.insert(account_key(p), KinesisRecord::Account(a.clone()));
            a
        });
        out(account_json(&a), Some(ver))
    }
}

fn account_json(a: &AccountRec) -> Value {
    let mut m = json!({ "Status": a.commitment_status });
    if let Some(s) = a.started_ms {
        m["StartedAt"] = secs(s);
        // A commitment runs at least a year.
        m["EarliestAllowedEndAt"] = secs(s + 365 * 86_400_000);
    }
    if let Some(e) = a.ended_ms {
        m["EndedAt"] = secs(e);
    }
    json!({ "MinimumThroughputBillingCommitment": m })
}

/// A consumer ARN given with or without its creation suffix.
fn arn_matches_consumer(given: &str, stored: &str) -> bool {
    given == stored
        || stored
            .rsplit_once(':')
            .is_some_and(|(without, _)| without == given)
}

fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
    if tags
        .iter()
        .any(|(k, v)| !valid_tag_text(k) || !valid_tag_text(v))
    {
        return Err(invalid(
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.",
        ));
    }
    Ok(())
}

fn add_tags(
    to: &mut BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
    name: &str,
    p: &Partition,
) -> Result<(), AwsError> {
    let mut next = to.clone();
    next.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    if next.len() > MAX_TAGS {
        return Err(invalid(format!(
            "Failed to add tags to stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
            p.account
        )));
    }
    *to = next;
    Ok(())
}
