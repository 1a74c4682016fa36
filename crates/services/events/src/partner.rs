//! Partner event sources: a SaaS partner's account offers a source (`aws.partner/...`) to a
//! customer account (CreatePartnerEventSource), the customer sees it (DescribeEventSource,
//! ListEventSources), associates it by creating the event bus of the same name (the source
//! becomes ACTIVE), and the partner's PutPartnerEvents land on that bus.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::buses::bus_of;
use crate::model::{self, EventsRecord, PartnerSource};
use crate::put_events::{event_of, route};
use crate::{Answer, Events, Input, exists, not_found, str_of, ts};

fn source_missing(name: &str) -> AwsError {
    not_found(format!("Event source {name} does not exist."))
}

/// The partner's name in a source name (`aws.partner/<partner>/...`).
fn partner_of(name: &str) -> &str {
    name.strip_prefix("aws.partner/")
        .and_then(|r| r.split('/').next())
        .unwrap_or(name)
}

fn customer_json(s: &PartnerSource) -> Value {
    json!({"Arn": s.arn, "Name": s.name, "CreatedBy": partner_of(&s.name),
           "CreationTime": ts(s.created_ms), "State": s.state})
}

impl Events {
    fn source(&self, p: &Partition, name: &str) -> Option<PartnerSource> {
        match self
            .store
            .snapshot()
            .get(&model::partner_key(&p.region, name))
        {
            Some(EventsRecord::PartnerSource(s)) => Some((**s).clone()),
            _ => None,
        }
    }

    /// The source a customer account may use to create its partner bus.
    pub(crate) fn source_for_customer(&self, p: &Partition, name: &str) -> Option<PartnerSource> {
        self.source(p, name)
            .filter(|s| s.customer_account == p.account)
    }

    pub(crate) fn create_partner_event_source(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let account = str_of(input, "Account").unwrap_or_default().to_string();
        let s = PartnerSource {
            name: name.clone(),
            arn: format!("arn:aws:events:{}::event-source/{name}", p.region),
            partner_account: p.account.clone(),
            customer_account: account,
            state: "PENDING".into(),
            created_ms: now,
        };
        let key = model::partner_key(&p.region, &name);
        let (r, v) = self.store.write(|txn| {
            if txn.contains(&key) {
                return Err(exists(format!("Event source {name} already exists.")));
            }
            txn.insert(
                key.clone(),
                EventsRecord::PartnerSource(Box::new(s.clone())),
            );
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({"EventSourceArn": s.arn}), v))
    }

    pub(crate) fn delete_partner_event_source(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let account = str_of(input, "Account").unwrap_or_default().to_string();
        let key = model::partner_key(&p.region, &name);
        let (_, v) = self.store.write(|txn| {
            let mine = matches!(txn.get(&key), Some(EventsRecord::PartnerSource(s))
                if s.partner_account == p.account && s.customer_account == account);
            if mine {
                txn.remove(&key);
            }
        });
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn describe_partner_event_source(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default();
        let s = self
            .source(p, name)
            .filter(|s| s.partner_account == p.account)
            .ok_or_else(|| source_missing(name))?;
        Ok(json!({"Arn": s.arn, "Name": s.name}))
    }

    fn sources(&self, p: &Partition, keep: impl Fn(&PartnerSource) -> bool) -> Vec<PartnerSource> {
        self.store
            .snapshot()
            .scan_prefix(&model::partners_prefix(&p.region))
            .filter_map(|(_, r)| match r {
                EventsRecord::PartnerSource(s) if keep(s) => Some((**s).clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn list_partner_event_sources(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let items = self
            .sources(p, |s| {
                s.partner_account == p.account && s.name.starts_with(prefix)
            })
            .iter()
            .map(|s| json!({"Arn": s.arn, "Name": s.name}))
            .collect();
        crate::paginate(items, input, "Limit", "PartnerEventSources")
    }

    pub(crate) fn list_partner_event_source_accounts(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "EventSourceName").unwrap_or_default();
        let items: Vec<Value> = self
            .sources(p, |s| s.partner_account == p.account && s.name == name)
            .iter()
            .map(|s| json!({"Account": s.customer_account, "CreationTime": ts(s.created_ms), "State": s.state}))
            .collect();
        if items.is_empty() {
            return Err(source_missing(name));
        }
        crate::paginate(items, input, "Limit", "PartnerEventSourceAccounts")
    }

    pub(crate) fn describe_event_source(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default();
        self.source_for_customer(p, name)
            .map(|s| customer_json(&s))
            .ok_or_else(|| source_missing(name))
    }

    pub(crate) fn list_event_sources(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let items = self
            .sources(p, |s| {
                s.customer_account == p.account && s.name.starts_with(prefix)
            })
            .iter()
            .map(customer_json)
            .collect();
        crate::paginate(items, input, "Limit", "EventSources")
    }

    /// ActivateEventSource / DeactivateEventSource.
    pub(crate) fn set_source_state(
        &self,
        p: &Partition,
        input: &Input,
        active: bool,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let key = model::partner_key(&p.region, &name);
        let (r, v) = self.store.write(|txn| {
            let mut s = match txn.get(&key) {
                Some(EventsRecord::PartnerSource(s)) if s.customer_account == p.account => {
                    (**s).clone()
                }
                _ => return Err(source_missing(&name)),
            };
            let want = if active { "ACTIVE" } else { "PENDING" };
            if s.state == want || s.state == "DELETED" {
                return Err(AwsError::new(
                    "InvalidStateException",
                    format!("Event source {name} is in state {}.", s.state),
                ));
            }
            s.state = want.into();
            txn.insert(key.clone(), EventsRecord::PartnerSource(Box::new(s)));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    /// Mark a source ACTIVE once its customer created the partner bus (inside that write).
    pub(crate) fn activate_in(
        txn: &mut snapstack_engine::Txn<'_, EventsRecord>,
        region: &str,
        name: &str,
    ) {
        let key = model::partner_key(region, name);
        if let Some(EventsRecord::PartnerSource(s)) = txn.get(&key) {
            let mut s = (**s).clone();
            s.state = "ACTIVE".into();
            txn.insert(key, EventsRecord::PartnerSource(Box::new(s)));
        }
    }

    pub(crate) fn put_partner_events(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let entries: Vec<Value> = input
            .get("Entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let (results, v) = self.store.write(|txn| {
            let mut results = Vec::new();
            for e in &entries {
                let source = e.get("Source").and_then(Value::as_str).unwrap_or_default();
                let owner = match txn.get(&model::partner_key(&p.region, source)) {
                    Some(EventsRecord::PartnerSource(s)) if s.partner_account == p.account => {
                        Some(s.customer_account.clone())
                    }
                    _ => None,
                };
                let detail = e
                    .get("Detail")
                    .and_then(Value::as_str)
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .filter(Value::is_object);
                let fail =
                    |code: &str, msg: String| json!({"ErrorCode": code, "ErrorMessage": msg});
                let Some(customer) = owner else {
                    results.push(fail(
                        "ResourceNotFoundException",
                        format!("Event source {source} does not exist."),
                    ));
                    continue;
                };
                let Some(detail) = detail else {
                    results.push(fail("MalformedDetail", "Detail is malformed.".into()));
                    continue;
                };
                let cp = Partition::new(&customer, &p.region);
                if bus_of(txn.get(&model::bus_key(&cp, source)), &cp, source).is_none() {
                    results.push(fail(
                        "ResourceNotFoundException",
                        format!("Event bus {source} does not exist."),
                    ));
                    continue;
                }
                let event = event_of(&cp, e, detail, now);
                route(txn, &cp, source, &event, now, None);
                results.push(json!({"EventId": event["id"]}));
            }
            results
        });
        let failed = results
            .iter()
            .filter(|r| r.get("ErrorCode").is_some())
            .count();
        self.wake.notify_one();
        Ok(Answer::wrote(
            json!({"FailedEntryCount": failed, "Entries": results}),
            v,
        ))
    }
}
