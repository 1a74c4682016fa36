//! Delivery streams: create, describe, list, delete, update a destination, tags and
//! server-side encryption.

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Handled;

use crate::describe::{self, KINDS};
use crate::model::{Buffer, Destination, Encryption, FirehoseRecord, StreamRec, rk};
use crate::{CREATING_MS, DELETING_MS, Firehose, in_use, invalid, not_found, ok, s, ts};

/// The most tags a stream holds.
const MAX_TAGS: usize = 50;

/// Source configuration members, by stream type.
const SOURCES: &[(&str, &str)] = &[
    ("KinesisStreamAsSource", "KinesisStreamSourceConfiguration"),
    ("MSKAsSource", "MSKSourceConfiguration"),
    ("DatabaseAsSource", "DatabaseSourceConfiguration"),
    ("DirectPut", "DirectPutSourceConfiguration"),
];

pub(crate) fn tags_of(m: &Map<String, Value>) -> Vec<(String, String)> {
    m.get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("Key")?.as_str()?.to_string(),
                        t.get("Value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Firehose {
    /// The stream named by the input's `DeliveryStreamName`, as stored.
    pub(crate) fn stream(&self, p: &Partition, name: &str) -> Result<StreamRec, AwsError> {
        match self.store.snapshot().get(&rk::stream(p, name)) {
            Some(FirehoseRecord::Stream(st)) if st.deleting_ms.is_none() => Ok(st.clone()),
            _ => Err(not_found(name, &p.account)),
        }
    }

    /// Change a stream in one store write; `f` may refuse.
    pub(crate) fn update_stream<R>(
        &self,
        p: &Partition,
        name: &str,
        f: impl FnOnce(&mut StreamRec) -> Result<R, AwsError>,
    ) -> Result<(R, u64), AwsError> {
        let key = rk::stream(p, name);
        let (r, v) = self.store.write(|txn| {
            let mut st = match txn.get(&key) {
                Some(FirehoseRecord::Stream(st)) if st.deleting_ms.is_none() => st.clone(),
                _ => return Err(not_found(name, &p.account)),
            };
            let r = f(&mut st)?;
            txn.insert(key.clone(), FirehoseRecord::Stream(st));
            Ok(r)
        });
        r.map(|r| (r, v))
    }

    pub(crate) fn create(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default().to_string();
        let stream_type = s(m, "DeliveryStreamType")
            .unwrap_or("DirectPut")
            .to_string();
        let given: Vec<&(&str, &str, &str, &str)> =
            KINDS.iter().filter(|k| m.contains_key(k.1)).collect();
        let (kind, config) = match given.as_slice() {
            [] => {
                return Err(invalid(
                    "Exactly one destination configuration is required.",
                ));
            }
            [k] => (k.0, m[k.1].clone()),
            _ => {
                return Err(invalid("Only one destination configuration is allowed."));
            }
        };
        let source_member = SOURCES
            .iter()
            .find(|(t, _)| *t == stream_type)
            .map(|(_, member)| *member)
            .unwrap_or("");
        for (t, member) in SOURCES {
            if m.contains_key(*member) && *member != source_member {
                return Err(invalid(format!(
                    "{member} is not allowed for a delivery stream of type {stream_type}."
                )));
            }
            if *t == stream_type && *t != "DirectPut" && !m.contains_key(*member) {
                return Err(invalid(format!(
                    "{member} is required for a delivery stream of type {stream_type}."
                )));
            }
        }
        check_destination(kind, &config)?;
        let source = m
            .get(source_member)
            .map(|v| (source_member.to_string(), v.to_string()));
        let encryption = match m
            .get("DeliveryStreamEncryptionConfigurationInput")
            .and_then(Value::as_object)
        {
            Some(e) => {
                if stream_type != "DirectPut" {
                    return Err(invalid(
                        "Server-side encryption can be enabled only for DirectPut delivery streams.",
                    ));
                }
                Some(encryption_of(e)?)
            }
            None => None,
        };
        let tags = tags_of(m);
        let now = self.now_ms();
        let key = rk::stream(p, &name);
        let st = StreamRec {
            name: name.clone(),
            created_ms: now,
            updated_ms: now,
            active_ms: now + CREATING_MS,
            deleting_ms: None,
            version: 1,
            stream_type,
            source,
            destinations: vec![Destination {
                id: "destinationId-000000000001".into(),
                kind: kind.to_string(),
                config: config.to_string(),
            }],
            encryption,
            tags,
            next_seq: 0,
            buffer: Buffer::default(),
            failure: None,
        };
        let arn = st.arn(p);
        let (r, v) = self.store.write(|txn| {
            if txn.contains(&key) {
                return Err(in_use(format!(
                    "Firehose {name} under account {} already exists",
                    p.account
                )));
            }
            txn.insert(key.clone(), FirehoseRecord::Stream(st));
            Ok(())
        });
        r?;
        ok(json!({"DeliveryStreamARN": arn}), Some(v))
    }

    pub(crate) fn describe(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let st = match self.store.snapshot().get(&rk::stream(p, name)) {
            Some(FirehoseRecord::Stream(st)) => st.clone(),
            _ => return Err(not_found(name, &p.account)),
        };
        let now = self.now_ms();
        // One destination per stream: a start after it (or a limit) leaves none to list.
        let after = s(m, "ExclusiveStartDestinationId");
        let destinations: Vec<Value> = st
            .destinations
            .iter()
            .skip_while(|d| after.is_some_and(|a| d.id.as_str() <= a))
            .take(m.get("Limit").and_then(Value::as_u64).unwrap_or(10_000) as usize)
            .map(|d| {
                let c: Value = serde_json::from_str(&d.config).unwrap_or_default();
                describe::destination_description(&d.id, &d.kind, &c)
            })
            .collect();
        let mut out = Map::new();
        out.insert("DeliveryStreamName".into(), json!(st.name));
        out.insert("DeliveryStreamARN".into(), json!(st.arn(p)));
        out.insert("DeliveryStreamStatus".into(), json!(st.status(now)));
        out.insert("DeliveryStreamType".into(), json!(st.stream_type));
        out.insert("VersionId".into(), json!(st.version.to_string()));
        out.insert("CreateTimestamp".into(), ts(st.created_ms));
        if st.version > 1 {
            out.insert("LastUpdateTimestamp".into(), ts(st.updated_ms));
        }
        out.insert("Destinations".into(), Value::Array(destinations));
        out.insert("HasMoreDestinations".into(), json!(false));
        let enc = st.encryption.clone().unwrap_or(Encryption {
            status: "DISABLED".into(),
            key_type: None,
            key_arn: None,
        });
        let mut e = Map::new();
        e.insert("Status".into(), json!(enc.status));
        if let Some(t) = &enc.key_type {
            e.insert("KeyType".into(), json!(t));
        }
        if let Some(a) = &enc.key_arn {
            e.insert("KeyARN".into(), json!(a));
        }
        out.insert(
            "DeliveryStreamEncryptionConfiguration".into(),
            Value::Object(e),
        );
        if let Some((t, d)) = &st.failure {
            out.insert(
                "FailureDescription".into(),
                json!({"Type": t, "Details": d}),
            );
        }
        if st.source.is_some() {
            out.insert("Source".into(), self.source_description(&st));
        }
        ok(json!({"DeliveryStreamDescription": out}), None)
    }

    fn source_description(&self, st: &StreamRec) -> Value {
        match &st.source {
            Some((member, text)) => {
                let c: Value = serde_json::from_str(text).unwrap_or_default();
                let desc = member.replace("Configuration", "Description");
                let mut d = describe::describe_shape(&c, &desc, "");
                if desc == "KinesisStreamSourceDescription"
                    && let Value::Object(o) = &mut d
                {
                    o.insert("DeliveryStartTimestamp".into(), ts(st.created_ms));
                }
                json!({ desc: d })
            }
            None => json!({}),
        }
    }

    pub(crate) fn list(&self, p: &Partition, m: &Map<String, Value>) -> Result<Handled, AwsError> {
        let limit = m.get("Limit").and_then(Value::as_u64).unwrap_or(10) as usize;
        let kind = s(m, "DeliveryStreamType");
        let after = s(m, "ExclusiveStartDeliveryStreamName");
        let snap = self.store.snapshot();
        let mut names = snap
            .scan_prefix(&rk::streams(p))
            .filter_map(|(_, r)| match r {
                FirehoseRecord::Stream(st)
                    if kind.is_none_or(|k| k == st.stream_type)
                        && after.is_none_or(|a| st.name.as_str() > a) =>
                {
                    Some(st.name.clone())
                }
                _ => None,
            });
        let page: Vec<String> = names.by_ref().take(limit).collect();
        let more = names.next().is_some();
        ok(
            json!({"DeliveryStreamNames": page, "HasMoreDeliveryStreams": more}),
            None,
        )
    }

    pub(crate) fn delete(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let now = self.now_ms();
        let ((), v) = self.update_stream(p, name, |st| {
            st.deleting_ms = Some(now + DELETING_MS);
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn update_destination(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let current = s(m, "CurrentDeliveryStreamVersionId").unwrap_or_default();
        let dest_id = s(m, "DestinationId").unwrap_or_default();
        let given: Vec<&(&str, &str, &str, &str)> =
            KINDS.iter().filter(|k| m.contains_key(k.3)).collect();
        let (kind, update) = match given.as_slice() {
            [k] => (k.0, m[k.3].clone()),
            [] => return Err(invalid("Exactly one destination update is required.")),
            _ => return Err(invalid("Only one destination update is allowed.")),
        };
        let now = self.now_ms();
        let ((), v) = self.update_stream(p, name, |st| {
            if st.status(now) != "ACTIVE" {
                return Err(in_use(format!(
                    "Firehose {name} under account {} is not ACTIVE.",
                    p.account
                )));
            }
            if current != st.version.to_string() {
                return Err(AwsError::new(
                    "ConcurrentModificationException",
                    format!(
                        "Cannot update firehose: {name} since the current version id: {} and the specified version id: {current} do not match",
                        st.version
                    ),
                ));
            }
            let Some(d) = st.destinations.iter_mut().find(|d| d.id == dest_id) else {
                return Err(invalid(format!("Destination Id {dest_id} not found.")));
            };
            let same = d.kind == kind || (describe::is_s3(&d.kind) && describe::is_s3(kind));
            let (new_kind, config) = if same {
                let mut c: Value = serde_json::from_str(&d.config).unwrap_or_default();
                describe::merge(&mut c, &update);
                // An ExtendedS3 update turns an S3 destination into an extended one.
                let k = if kind == "ExtendedS3" { kind } else { d.kind.as_str() };
                (k.to_string(), c)
            } else {
                let mut c = json!({});
                describe::merge(&mut c, &update);
                (kind.to_string(), c)
            };
            let missing = describe::missing_required(&config, describe::config_member(&new_kind));
            if !missing.is_empty() {
                return Err(invalid(format!(
                    "The destination update is missing required fields: {}.",
                    missing.join(", ")
                )));
            }
            check_destination(&new_kind, &config)?;
            d.kind = new_kind;
            d.config = config.to_string();
            st.version += 1;
            st.updated_ms = now;
            st.failure = None;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn tag(&self, p: &Partition, m: &Map<String, Value>) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let new = tags_of(m);
        let ((), v) = self.update_stream(p, name, |st| {
            let mut tags = st.tags.clone();
            for (k, val) in new {
                match tags.iter_mut().find(|(tk, _)| *tk == k) {
                    Some(t) => t.1 = val,
                    None => tags.push((k, val)),
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(AwsError::new(
                    "LimitExceededException",
                    format!("The number of tags on delivery stream {name} would exceed the limit of {MAX_TAGS}."),
                ));
            }
            st.tags = tags;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn untag(&self, p: &Partition, m: &Map<String, Value>) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let keys: Vec<&str> = m
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ((), v) = self.update_stream(p, name, |st| {
            st.tags.retain(|(k, _)| !keys.contains(&k.as_str()));
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn list_tags(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let st = self.stream(p, name)?;
        let limit = m.get("Limit").and_then(Value::as_u64).unwrap_or(50) as usize;
        let mut tags = st.tags.clone();
        tags.sort();
        let start = match s(m, "ExclusiveStartTagKey") {
            Some(k) => tags
                .iter()
                .position(|(tk, _)| tk.as_str() > k)
                .unwrap_or(tags.len()),
            None => 0,
        };
        let rest = &tags[start..];
        let page: Vec<Value> = rest
            .iter()
            .take(limit)
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        ok(
            json!({"Tags": page, "HasMoreTags": rest.len() > limit}),
            None,
        )
    }

    pub(crate) fn start_encryption(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let enc = match m
            .get("DeliveryStreamEncryptionConfigurationInput")
            .and_then(Value::as_object)
        {
            Some(e) => encryption_of(e)?,
            None => Encryption {
                status: "ENABLED".into(),
                key_type: Some("AWS_OWNED_CMK".into()),
                key_arn: None,
            },
        };
        let ((), v) = self.update_stream(p, name, |st| {
            if st.stream_type != "DirectPut" {
                return Err(invalid(format!(
                    "Server-side encryption is not supported for delivery stream {name} of type {}.",
                    st.stream_type
                )));
            }
            st.encryption = Some(enc);
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn stop_encryption(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let ((), v) = self.update_stream(p, name, |st| {
            if st.stream_type != "DirectPut" {
                return Err(invalid(format!(
                    "Server-side encryption is not supported for delivery stream {name} of type {}.",
                    st.stream_type
                )));
            }
            st.encryption = Some(Encryption {
                status: "DISABLED".into(),
                key_type: None,
                key_arn: None,
            });
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }
}

fn encryption_of(e: &Map<String, Value>) -> Result<Encryption, AwsError> {
    let key_type = s(e, "KeyType").unwrap_or("AWS_OWNED_CMK").to_string();
    let key_arn = s(e, "KeyARN").map(str::to_string);
    match (key_type.as_str(), &key_arn) {
        ("CUSTOMER_MANAGED_CMK", None) => Err(invalid(
            "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK.",
        )),
        ("AWS_OWNED_CMK", Some(_)) => Err(invalid(
            "KeyARN must not be specified when KeyType is AWS_OWNED_CMK.",
        )),
        _ => Ok(Encryption {
            status: "ENABLED".into(),
            key_type: Some(key_type),
            key_arn,
        }),
    }
}

/// What AWS checks of a destination's configuration beyond the model: S3 bucket ARNs and the
/// prefixes' expressions.
fn check_destination(kind: &str, config: &Value) -> Result<(), AwsError> {
    let s3 = if describe::is_s3(kind) {
        Some(config)
    } else {
        config.get("S3Configuration")
    };
    for c in s3.into_iter().chain(config.get("S3BackupConfiguration")) {
        if let Some(b) = c.get("BucketARN").and_then(Value::as_str)
            && crate::deliver::bucket_of(b).is_none()
        {
            return Err(invalid(format!(
                "BucketARN {b} is not a valid S3 bucket ARN."
            )));
        }
    }
    if describe::is_s3(kind) {
        let prefix = config.get("Prefix").and_then(Value::as_str).unwrap_or("");
        let error_prefix = config
            .get("ErrorOutputPrefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let dynamic = config
            .pointer("/DynamicPartitioningConfiguration/Enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        crate::prefix::check(prefix, error_prefix, dynamic).map_err(invalid)?;
    }
    Ok(())
}
