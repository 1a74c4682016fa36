//! Event buses (the `default` bus of every account and region exists without a record until
//! something is stored on it), their resource policies, and tags of buses and rules.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::model::{self, Bus, EventsRecord};
use crate::{
    Answer, DEFAULT_BUS, Events, Input, bus_arn, bus_name, exists, merge_tags, not_found, str_of,
    tags_in, tags_out, ts, validation,
};

/// The bus of a record slot: the stored one, else the implicit default bus.
pub(crate) fn bus_of(rec: Option<&EventsRecord>, p: &Partition, name: &str) -> Option<Bus> {
    match rec {
        Some(EventsRecord::Bus(b)) => Some((**b).clone()),
        _ if name == DEFAULT_BUS => Some(Bus {
            name: DEFAULT_BUS.into(),
            arn: bus_arn(p, DEFAULT_BUS),
            description: None,
            kms_key: None,
            dead_letter_arn: None,
            policy: None,
            event_source_name: None,
            tags: Vec::new(),
            created_ms: 0,
            modified_ms: 0,
        }),
        _ => None,
    }
}

pub(crate) fn bus_missing(name: &str) -> AwsError {
    not_found(format!("Event bus {name} does not exist."))
}

fn bus_json(b: &Bus, full: bool) -> Value {
    let mut v = json!({"Name": b.name, "Arn": b.arn});
    if let Some(d) = &b.description {
        v["Description"] = json!(d);
    }
    if let Some(pol) = &b.policy {
        v["Policy"] = json!(pol);
    }
    if b.created_ms > 0 {
        v["CreationTime"] = ts(b.created_ms);
        v["LastModifiedTime"] = ts(b.modified_ms);
    }
    if full {
        if let Some(k) = &b.kms_key {
            v["KmsKeyIdentifier"] = json!(k);
        }
        if let Some(d) = &b.dead_letter_arn {
            v["DeadLetterConfig"] = json!({"Arn": d});
        }
    }
    v
}

fn dead_letter_of(input: &Input) -> Result<Option<String>, AwsError> {
    match input.get("DeadLetterConfig").and_then(|d| d.get("Arn")) {
        None => Ok(None),
        Some(Value::String(a)) => {
            let ok =
                crate::parse_arn(a).is_some_and(|x| x.service == "sqs" && !x.resource.is_empty());
            if !ok {
                return Err(validation(format!(
                    "Parameter DeadLetterConfig.Arn is not valid. Reason: Provided Arn is not in correct format: {a}"
                )));
            }
            Ok(Some(a.clone()))
        }
        Some(_) => Ok(None),
    }
}

impl Events {
    pub(crate) fn create_event_bus(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let source = str_of(input, "EventSourceName").map(str::to_string);
        if name == DEFAULT_BUS {
            return Err(exists(format!("Event bus {name} already exists.")));
        }
        let partner = name.starts_with("aws.partner/");
        if partner {
            // A partner bus needs the partner event source of its name offered to this account.
            let offered = source.as_deref() == Some(name.as_str())
                && self.source_for_customer(p, &name).is_some();
            if !offered {
                return Err(not_found(format!(
                    "Event source {} does not exist.",
                    source.as_deref().unwrap_or(&name)
                )));
            }
        }
        if !partner && name.contains('/') {
            return Err(validation("Event bus name must not contain '/'."));
        }
        let dlq = dead_letter_of(input)?;
        let bus = Bus {
            name: name.clone(),
            arn: bus_arn(p, &name),
            description: str_of(input, "Description").map(str::to_string),
            kms_key: str_of(input, "KmsKeyIdentifier").map(str::to_string),
            dead_letter_arn: dlq,
            policy: None,
            event_source_name: source,
            tags: tags_in(input),
            created_ms: now,
            modified_ms: now,
        };
        let key = model::bus_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            if txn.contains(&key) {
                return Err(exists(format!("Event bus {name} already exists.")));
            }
            txn.insert(key.clone(), EventsRecord::Bus(Box::new(bus.clone())));
            if partner {
                Events::activate_in(txn, &p.region, &name);
            }
            Ok(())
        });
        r?;
        let mut out = json!({"EventBusArn": bus.arn});
        if let Some(d) = &bus.description {
            out["Description"] = json!(d);
        }
        if let Some(k) = &bus.kms_key {
            out["KmsKeyIdentifier"] = json!(k);
        }
        if let Some(d) = &bus.dead_letter_arn {
            out["DeadLetterConfig"] = json!({"Arn": d});
        }
        Ok(Answer::wrote(out, v))
    }

    pub(crate) fn update_event_bus(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = bus_name(str_of(input, "Name"));
        let dlq = dead_letter_of(input)?;
        let key = model::bus_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            let mut b = bus_of(txn.get(&key), p, &name).ok_or_else(|| bus_missing(&name))?;
            if let Some(d) = str_of(input, "Description") {
                b.description = Some(d.to_string());
            }
            if let Some(k) = str_of(input, "KmsKeyIdentifier") {
                b.kms_key = (!k.is_empty()).then(|| k.to_string());
            }
            if input.contains_key("DeadLetterConfig") {
                b.dead_letter_arn = dlq.clone();
            }
            if b.created_ms == 0 {
                b.created_ms = now;
            }
            b.modified_ms = now;
            txn.insert(key.clone(), EventsRecord::Bus(Box::new(b.clone())));
            Ok(b)
        });
        let b = r?;
        let mut out = bus_json(&b, true);
        out.as_object_mut().map(|o| {
            o.remove("Policy");
            o.remove("CreationTime");
            o.remove("LastModifiedTime")
        });
        Ok(Answer::wrote(out, v))
    }

    pub(crate) fn describe_event_bus(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = bus_name(str_of(input, "Name"));
        let snap = self.store.snapshot();
        bus_of(snap.get(&model::bus_key(p, &name)), p, &name)
            .map(|b| bus_json(&b, true))
            .ok_or_else(|| bus_missing(&name))
    }

    pub(crate) fn list_event_buses(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let snap = self.store.snapshot();
        let mut buses: Vec<Bus> = snap
            .scan_prefix(&model::buses_prefix(p))
            .filter_map(|(_, r)| match r {
                EventsRecord::Bus(b) => Some((**b).clone()),
                _ => None,
            })
            .collect();
        if !buses.iter().any(|b| b.name == DEFAULT_BUS) {
            buses.extend(bus_of(None, p, DEFAULT_BUS));
        }
        buses.sort_by(|a, b| a.name.cmp(&b.name));
        let items = buses
            .iter()
            .filter(|b| b.name.starts_with(prefix))
            .map(|b| bus_json(b, false))
            .collect();
        crate::paginate(items, input, "Limit", "EventBuses")
    }

    pub(crate) fn delete_event_bus(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let name = bus_name(str_of(input, "Name"));
        if name == DEFAULT_BUS {
            return Err(validation("Cannot delete event bus default."));
        }
        let (_, v) = self.store.write(|txn| {
            if txn.remove(&model::bus_key(p, &name)).is_some() {
                txn.remove_prefix(&model::rules_of_bus(p, &name));
            }
        });
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn put_permission(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = bus_name(str_of(input, "EventBusName"));
        let key = model::bus_key(p, &name);
        let arn = bus_arn(p, &name);
        let new_policy: Option<Value> = match str_of(input, "Policy") {
            Some(text) => {
                let v: Value = serde_json::from_str(text).map_err(|_| {
                    validation(
                        "Parameter Policy is not valid. Reason: The policy is not valid JSON.",
                    )
                })?;
                if !v.is_object() {
                    return Err(validation(
                        "Parameter Policy is not valid. Reason: The policy must be a JSON object.",
                    ));
                }
                Some(v)
            }
            None => None,
        };
        let statement = if new_policy.is_none() {
            let (Some(action), Some(principal), Some(sid)) = (
                str_of(input, "Action"),
                str_of(input, "Principal"),
                str_of(input, "StatementId"),
            ) else {
                return Err(validation(
                    "One or more parameters are missing. Action, Principal and StatementId are required when Policy is not specified.",
                ));
            };
            if action != "events:PutEvents" {
                return Err(validation(
                    "Provided value in parameter 'action' is not supported.",
                ));
            }
            let who = if principal == "*" {
                json!("*")
            } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
                json!({"AWS": format!("arn:aws:iam::{principal}:root")})
            } else {
                return Err(validation(format!(
                    "Parameter Principal is not valid. Reason: {principal} is not a valid account id."
                )));
            };
            let mut st = json!({"Sid": sid, "Effect": "Allow", "Principal": who, "Action": action, "Resource": arn});
            if let Some(c) = input.get("Condition") {
                let (t, k, val) = (c.get("Type"), c.get("Key"), c.get("Value"));
                if let (Some(t), Some(k), Some(val)) =
                    (t.and_then(Value::as_str), k.and_then(Value::as_str), val)
                {
                    st["Condition"] = json!({ t: { k: val } });
                }
            }
            Some(st)
        } else {
            None
        };
        let (r, v) = self.store.write(|txn| {
            let mut b = bus_of(txn.get(&key), p, &name).ok_or_else(|| bus_missing(&name))?;
            let policy = match (&new_policy, &statement) {
                (Some(pol), _) => pol.clone(),
                (None, Some(st)) => {
                    let mut pol = b
                        .policy
                        .as_deref()
                        .and_then(|t| serde_json::from_str::<Value>(t).ok())
                        .filter(|v| v.get("Statement").is_some_and(Value::is_array))
                        .unwrap_or_else(|| json!({"Version": "2012-10-17", "Statement": []}));
                    if let Some(list) = pol["Statement"].as_array_mut() {
                        list.retain(|s| s.get("Sid") != st.get("Sid"));
                        list.push(st.clone());
                    }
                    pol
                }
                (None, None) => return Ok(()),
            };
            b.policy = Some(policy.to_string());
            if b.created_ms == 0 {
                b.created_ms = now;
            }
            b.modified_ms = now;
            txn.insert(key.clone(), EventsRecord::Bus(Box::new(b)));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn remove_permission(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = bus_name(str_of(input, "EventBusName"));
        let all = input
            .get("RemoveAllPermissions")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let sid = str_of(input, "StatementId").map(str::to_string);
        if !all && sid.is_none() {
            return Err(validation(
                "Parameter StatementId is required unless RemoveAllPermissions is true.",
            ));
        }
        let key = model::bus_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            let mut b = bus_of(txn.get(&key), p, &name).ok_or_else(|| bus_missing(&name))?;
            let Some(text) = b.policy.clone() else {
                return Err(not_found("EventBus does not have a policy."));
            };
            if all {
                b.policy = None;
            } else {
                let mut pol: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({}));
                let list = pol.get_mut("Statement").and_then(Value::as_array_mut);
                let Some(list) = list else {
                    return Err(not_found("Statement with the provided id does not exist."));
                };
                let before = list.len();
                list.retain(|s| s.get("Sid").and_then(Value::as_str) != sid.as_deref());
                if list.len() == before {
                    return Err(not_found("Statement with the provided id does not exist."));
                }
                b.policy = (!list.is_empty()).then(|| pol.to_string());
            }
            b.modified_ms = now;
            txn.insert(key.clone(), EventsRecord::Bus(Box::new(b)));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    /// The key of a taggable resource (a bus or a rule) from its ARN.
    fn tagged_key(
        &self,
        p: &Partition,
        arn: &str,
    ) -> Result<(snapstack_engine::Key, String), AwsError> {
        let a = crate::parse_arn(arn).filter(|a| a.service == "events");
        let Some(a) = a else {
            return Err(validation(format!(
                "Parameter ResourceARN is not valid. Reason: Provided Arn is not in correct format: {arn}"
            )));
        };
        if let Some(name) = a.resource.strip_prefix("event-bus/") {
            return Ok((model::bus_key(p, name), name.to_string()));
        }
        if let Some(rest) = a.resource.strip_prefix("rule/") {
            let (bus, name) = rest.split_once('/').unwrap_or((DEFAULT_BUS, rest));
            return Ok((model::rule_key(p, bus, name), format!("{bus}/{name}")));
        }
        Err(not_found(format!("Resource {arn} does not exist.")))
    }

    fn edit_tags(
        &self,
        p: &Partition,
        input: &Input,
        edit: impl Fn(&mut Vec<(String, String)>),
    ) -> Result<Answer, AwsError> {
        let arn = str_of(input, "ResourceARN").unwrap_or_default();
        let (key, what) = self.tagged_key(p, arn)?;
        let (r, v) = self.store.write(|txn| {
            let rec = match txn.get(&key) {
                Some(EventsRecord::Rule(r)) => {
                    let mut r = (**r).clone();
                    edit(&mut r.tags);
                    EventsRecord::Rule(Box::new(r))
                }
                other => {
                    let name = what.as_str();
                    let mut b = bus_of(other, p, name).ok_or_else(|| missing_resource(&what))?;
                    edit(&mut b.tags);
                    EventsRecord::Bus(Box::new(b))
                }
            };
            txn.insert(key.clone(), rec);
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn tag_resource(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let new = tags_in(input);
        self.edit_tags(p, input, |t| merge_tags(t, new.clone()))
    }

    pub(crate) fn untag_resource(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let keys: Vec<String> = input
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.edit_tags(p, input, |t| t.retain(|(k, _)| !keys.contains(k)))
    }

    pub(crate) fn list_tags_for_resource(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let arn = str_of(input, "ResourceARN").unwrap_or_default();
        let (key, what) = self.tagged_key(p, arn)?;
        let snap = self.store.snapshot();
        let tags = match snap.get(&key) {
            Some(EventsRecord::Rule(r)) => r.tags.clone(),
            other => {
                bus_of(other, p, &what)
                    .ok_or_else(|| missing_resource(&what))?
                    .tags
            }
        };
        Ok(json!({"Tags": tags_out(&tags)}))
    }
}

/// The not-found error of a tagged resource (`bus/rule` for rules, a bus name otherwise).
fn missing_resource(what: &str) -> AwsError {
    match what.split_once('/') {
        Some((bus, rule)) => not_found(format!("Rule {rule} does not exist on EventBus {bus}.")),
        None => bus_missing(what),
    }
}
