//! Enhanced fan-out consumers: RegisterStreamConsumer, DescribeStreamConsumer,
//! ListStreamConsumers, DeregisterStreamConsumer.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::streams::{opaque, unopaque};
use crate::*;

fn consumer_json(c: &ConsumerRec) -> Value {
    json!({
        "ConsumerName": c.name,
        "ConsumerARN": c.arn,
        "ConsumerStatus": c.status,
        "ConsumerCreationTimestamp": secs(c.created_ms),
    })
}

fn stream_of_arn(v: &Value) -> Result<(Partition, String), AwsError> {
    let arn = str_of(v, "StreamARN").unwrap_or_default();
    match parse_arn(arn) {
        Some((p, s, None)) => Ok((p, s)),
        _ => Err(invalid(format!("Invalid StreamARN {arn}."))),
    }
}

/// The consumer a request names: `ConsumerARN`, or `StreamARN` and `ConsumerName`.
fn consumer_of(v: &Value) -> Result<(Partition, String, String, Option<String>), AwsError> {
    if let Some(arn) = str_of(v, "ConsumerARN") {
        return match parse_arn(arn) {
            Some((p, s, Some(c))) => {
                let name = c.split_once(':').map_or(c.as_str(), |(n, _)| n).to_string();
                Ok((p, s, name, Some(arn.to_string())))
            }
            _ => Err(invalid(format!("Invalid ConsumerARN {arn}."))),
        };
    }
    match (str_of(v, "StreamARN"), str_of(v, "ConsumerName")) {
        (Some(_), Some(name)) => {
            let (p, s) = stream_of_arn(v)?;
            Ok((p, s, name.to_string(), None))
        }
        _ => Err(invalid(
            "Either ConsumerARN or both ConsumerName and StreamARN must be provided.",
        )),
    }
}

fn consumer_missing(p: &Partition, stream: &str, name: &str) -> AwsError {
    not_found(format!(
        "Consumer {name} under stream {stream} under account {} not found.",
        p.account
    ))
}

impl Kinesis {
    pub(crate) fn register_consumer(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, stream) = stream_of_arn(v)?;
        let name = str_of(v, "ConsumerName").unwrap_or_default().to_string();
        let tags: BTreeMap<String, String> = v
            .get("Tags")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, x)| (k.clone(), x.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&stream_key(&p, &stream)), Some(KinesisRecord::Stream(_))) {
                return Err(stream_missing(&p, &stream));
            }
            let key = consumer_key(&p, &stream, &name);
            if txn.contains(&key) {
                return Err(in_use(format!(
                    "Consumer {name} under stream {stream} under account {} already exists.",
                    p.account
                )));
            }
            if txn.scan_prefix(&consumers_prefix(&p, &stream)).count() >= MAX_CONSUMERS {
                return Err(limit(format!(
                    "Stream {stream} under account {} already has the maximum number of {MAX_CONSUMERS} registered consumers.",
                    p.account
                )));
            }
            let c = ConsumerRec {
                name: name.clone(),
                arn: format!("{}/consumer/{name}:{}", stream_arn(&p, &stream), now / 1000),
                created_ms: now,
                status: "ACTIVE".into(),
                tags: tags.clone(),
                policy: None,
            };
            txn.insert(key, KinesisRecord::Consumer(c.clone()));
            Ok(c)
        });
        let c = r?;
        // AWS answers while the consumer is still being created.
        let mut cj = consumer_json(&c);
        cj["ConsumerStatus"] = json!("CREATING");
        out(json!({ "Consumer": cj }), Some(ver))
    }

    fn find_consumer(&self, v: &Value) -> Result<(Partition, String, ConsumerRec), AwsError> {
        let (p, stream, name, arn) = consumer_of(v)?;
        let snap = self.store.snapshot();
        match snap.get(&consumer_key(&p, &stream, &name)) {
            Some(KinesisRecord::Consumer(c)) if arn.as_deref().is_none_or(|a| a == c.arn) => {
                Ok((p, stream, c.clone()))
            }
            _ => Err(consumer_missing(&p, &stream, &name)),
        }
    }

    pub(crate) fn describe_consumer(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, stream, c) = self.find_consumer(v)?;
        let mut d = consumer_json(&c);
        d["StreamARN"] = json!(stream_arn(&p, &stream));
        out(json!({ "ConsumerDescription": d }), None)
    }

    pub(crate) fn list_consumers(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, stream) = stream_of_arn(v)?;
        let lim = int_of(v, "MaxResults").unwrap_or(100).clamp(1, 10_000) as usize;
        let snap = self.store.snapshot();
        load_stream(&snap, &p, &stream)?;
        let lo = match str_of(v, "NextToken") {
            Some(t) => {
                let last = unopaque(t).ok_or_else(|| {
                    AwsError::new(
                        "ExpiredNextTokenException",
                        format!("Invalid NextToken: {t}"),
                    )
                })?;
                Bound::Excluded(consumer_key(&p, &stream, &last))
            }
            None => Bound::Included(consumers_prefix(&p, &stream)),
        };
        let hi = consumers_prefix(&p, &stream).prefix_range().1;
        let mut list: Vec<ConsumerRec> = snap
            .range((lo, hi))
            .filter_map(|(_, r)| match r {
                KinesisRecord::Consumer(c) => Some(c.clone()),
                _ => None,
            })
            .take(lim + 1)
            .collect();
        let more = list.len() > lim;
        list.truncate(lim);
        let mut o = json!({ "Consumers": list.iter().map(consumer_json).collect::<Vec<_>>() });
        if more && let Some(last) = list.last() {
            o["NextToken"] = json!(opaque(&last.name));
        }
        out(o, None)
    }

    pub(crate) fn deregister_consumer(&self, _p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, stream, c) = self.find_consumer(v)?;
        let (_, ver) = self.store.write(|txn| {
            txn.remove(&consumer_key(&p, &stream, &c.name));
        });
        out(json!({}), Some(ver))
    }
}
