//! Archives (events of a bus that match the archive's pattern, kept as records, removed past
//! their RetentionDays by the background task) and replays
//! (StartReplay records the replay and a marker; the background task routes the archived events
//! of the window to the destination bus's rules and completes it).

use serde_json::{Value, json};
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;

use crate::buses::{bus_missing, bus_of};
use crate::model::{self, Archive, EventsRecord, Replay};
use crate::put_events::{ReplayCtx, route};
use crate::{Answer, Events, Input, bad_pattern, exists, ms_of, not_found, str_of, ts, validation};

fn archive_missing(name: &str) -> AwsError {
    not_found(format!("Archive {name} does not exist."))
}

fn replay_missing(name: &str) -> AwsError {
    not_found(format!("Replay {name} does not exist."))
}

fn archive_json(a: &Archive, full: bool) -> Value {
    let mut v = json!({
        "ArchiveName": a.name, "EventSourceArn": a.source_arn, "State": a.state,
        "RetentionDays": a.retention_days, "SizeBytes": a.size_bytes, "EventCount": a.event_count,
        "CreationTime": ts(a.created_ms),
    });
    if full {
        v["ArchiveArn"] = json!(a.arn);
        if let Some(d) = &a.description {
            v["Description"] = json!(d);
        }
        if let Some(p) = &a.event_pattern {
            v["EventPattern"] = json!(p);
        }
        if let Some(k) = &a.kms_key {
            v["KmsKeyIdentifier"] = json!(k);
        }
    }
    v
}

fn replay_json(r: &Replay, full: bool) -> Value {
    let mut v = json!({
        "ReplayName": r.name, "EventSourceArn": r.source_arn, "State": r.state,
        "EventStartTime": ts(r.start_ms), "EventEndTime": ts(r.end_ms),
        "ReplayStartTime": ts(r.replay_start_ms),
    });
    if let Some(s) = &r.state_reason {
        v["StateReason"] = json!(s);
    }
    if let Some(t) = r.last_replayed_ms {
        v["EventLastReplayedTime"] = ts(t);
    }
    if let Some(t) = r.replay_end_ms {
        v["ReplayEndTime"] = ts(t);
    }
    if full {
        v["ReplayArn"] = json!(r.arn);
        if let Some(d) = &r.description {
            v["Description"] = json!(d);
        }
        let mut dest = json!({"Arn": r.destination_arn});
        if !r.filter_arns.is_empty() {
            dest["FilterArns"] = json!(r.filter_arns);
        }
        v["Destination"] = dest;
    }
    v
}

/// The bus name of an event-bus ARN of this partition.
fn bus_of_arn(p: &Partition, arn: &str) -> Option<String> {
    let a = crate::parse_arn(arn)?;
    if a.service != "events" || a.account != p.account || a.region != p.region {
        return None;
    }
    a.resource.strip_prefix("event-bus/").map(str::to_string)
}

impl Events {
    pub(crate) fn create_archive(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "ArchiveName").unwrap_or_default().to_string();
        let source = str_of(input, "EventSourceArn")
            .unwrap_or_default()
            .to_string();
        let pattern = str_of(input, "EventPattern").map(str::to_string);
        if let Some(pat) = &pattern {
            crate::pattern::compile(pat).map_err(bad_pattern)?;
        }
        let bus = bus_of_arn(p, &source).ok_or_else(|| {
            validation(format!("Parameter EventSourceArn is not valid. Reason: Provided Arn is not in correct format: {source}"))
        })?;
        let a = Archive {
            name: name.clone(),
            arn: format!("arn:aws:events:{}:{}:archive/{name}", p.region, p.account),
            source_arn: source.clone(),
            description: str_of(input, "Description").map(str::to_string),
            event_pattern: pattern,
            retention_days: input
                .get("RetentionDays")
                .and_then(Value::as_u64)
                .unwrap_or(0) as u32,
            kms_key: str_of(input, "KmsKeyIdentifier").map(str::to_string),
            state: "ENABLED".into(),
            created_ms: now,
            event_count: 0,
            size_bytes: 0,
        };
        let key = model::archive_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            if bus_of(txn.get(&model::bus_key(p, &bus)), p, &bus).is_none() {
                return Err(bus_missing(&bus));
            }
            if txn.contains(&key) {
                return Err(exists(format!("Archive {name} already exists.")));
            }
            txn.insert(key.clone(), EventsRecord::Archive(Box::new(a.clone())));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(
            json!({"ArchiveArn": a.arn, "State": a.state, "CreationTime": ts(now)}),
            v,
        ))
    }

    fn archive(&self, p: &Partition, name: &str) -> Result<Archive, AwsError> {
        match self.store.snapshot().get(&model::archive_key(p, name)) {
            Some(EventsRecord::Archive(a)) => Ok((**a).clone()),
            _ => Err(archive_missing(name)),
        }
    }

    pub(crate) fn update_archive(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "ArchiveName").unwrap_or_default().to_string();
        if let Some(pat) = str_of(input, "EventPattern") {
            crate::pattern::compile(pat).map_err(bad_pattern)?;
        }
        let key = model::archive_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            let mut a = match txn.get(&key) {
                Some(EventsRecord::Archive(a)) => (**a).clone(),
                _ => return Err(archive_missing(&name)),
            };
            if let Some(d) = str_of(input, "Description") {
                a.description = Some(d.to_string());
            }
            if let Some(pat) = str_of(input, "EventPattern") {
                a.event_pattern = Some(pat.to_string());
            }
            if let Some(n) = input.get("RetentionDays").and_then(Value::as_u64) {
                a.retention_days = n as u32;
            }
            if let Some(k) = str_of(input, "KmsKeyIdentifier") {
                a.kms_key = (!k.is_empty()).then(|| k.to_string());
            }
            txn.insert(key.clone(), EventsRecord::Archive(Box::new(a.clone())));
            Ok(a)
        });
        let a = r?;
        Ok(Answer::wrote(
            json!({"ArchiveArn": a.arn, "State": a.state, "CreationTime": ts(a.created_ms)}),
            v,
        ))
    }

    pub(crate) fn describe_archive(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        self.archive(p, str_of(input, "ArchiveName").unwrap_or_default())
            .map(|a| archive_json(&a, true))
    }

    pub(crate) fn list_archives(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let source = str_of(input, "EventSourceArn");
        let state = str_of(input, "State");
        if let Some(s) = source {
            let bus = bus_of_arn(p, s).unwrap_or_default();
            let snap = self.store.snapshot();
            if bus_of(snap.get(&model::bus_key(p, &bus)), p, &bus).is_none() {
                return Err(bus_missing(&bus));
            }
        }
        let items = self
            .store
            .snapshot()
            .scan_prefix(&model::archives_prefix(p))
            .filter_map(|(_, r)| match r {
                EventsRecord::Archive(a)
                    if a.name.starts_with(prefix)
                        && source.is_none_or(|s| s == a.source_arn)
                        && state.is_none_or(|s| s == a.state) =>
                {
                    Some(archive_json(a, false))
                }
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "Limit", "Archives")
    }

    pub(crate) fn delete_archive(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "ArchiveName").unwrap_or_default().to_string();
        let (r, v) = self.store.write(|txn| {
            if txn.remove(&model::archive_key(p, &name)).is_none() {
                return Err(archive_missing(&name));
            }
            txn.remove_prefix(&model::archived_of(p, &name));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn start_replay(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "ReplayName").unwrap_or_default().to_string();
        let source = str_of(input, "EventSourceArn")
            .unwrap_or_default()
            .to_string();
        let start = ms_of(input, "EventStartTime").unwrap_or(0);
        let end = ms_of(input, "EventEndTime").unwrap_or(0);
        let dest = input.get("Destination").cloned().unwrap_or(Value::Null);
        let dest_arn = dest
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let filter_arns: Vec<String> = dest
            .get("FilterArns")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if start >= end {
            return Err(validation(
                "Parameter EventStartTime is not valid. Reason: EventStartTime must be before EventEndTime.",
            ));
        }
        if end > now {
            return Err(validation(
                "Parameter EventEndTime is not valid. Reason: EventEndTime must be in the past.",
            ));
        }
        let archive_name = crate::parse_arn(&source)
            .and_then(|a| a.resource.strip_prefix("archive/").map(str::to_string))
            .ok_or_else(|| validation(format!("Parameter EventSourceArn is not valid. Reason: Provided Arn is not in correct format: {source}")))?;
        let archive = self.archive(p, &archive_name)?;
        if dest_arn != archive.source_arn {
            return Err(validation(
                "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.",
            ));
        }
        let r = Replay {
            name: name.clone(),
            arn: format!("arn:aws:events:{}:{}:replay/{name}", p.region, p.account),
            description: str_of(input, "Description").map(str::to_string),
            source_arn: archive.arn.clone(),
            destination_arn: dest_arn,
            filter_arns,
            start_ms: start,
            end_ms: end,
            state: "STARTING".into(),
            state_reason: None,
            replay_start_ms: now,
            replay_end_ms: None,
            last_replayed_ms: None,
        };
        let key = model::replay_key(p, &name);
        let (res, v) = self.store.write(|txn| {
            if txn.contains(&key) {
                return Err(exists(format!("Replay {name} already exists.")));
            }
            txn.insert(key.clone(), EventsRecord::Replay(Box::new(r.clone())));
            txn.insert(
                model::replaying_key(&p.account, &p.region, &name),
                EventsRecord::Replaying,
            );
            Ok(())
        });
        res?;
        self.wake.notify_one();
        Ok(Answer::wrote(
            json!({"ReplayArn": r.arn, "State": r.state, "ReplayStartTime": ts(now)}),
            v,
        ))
    }

    pub(crate) fn describe_replay(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let name = str_of(input, "ReplayName").unwrap_or_default();
        match self.store.snapshot().get(&model::replay_key(p, name)) {
            Some(EventsRecord::Replay(r)) => Ok(replay_json(r, true)),
            _ => Err(replay_missing(name)),
        }
    }

    pub(crate) fn list_replays(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let source = str_of(input, "EventSourceArn");
        let state = str_of(input, "State");
        let items = self
            .store
            .snapshot()
            .scan_prefix(&model::replays_prefix(p))
            .filter_map(|(_, r)| match r {
                EventsRecord::Replay(r)
                    if r.name.starts_with(prefix)
                        && source.is_none_or(|s| s == r.source_arn)
                        && state.is_none_or(|s| s == r.state) =>
                {
                    Some(replay_json(r, false))
                }
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "Limit", "Replays")
    }

    pub(crate) fn cancel_replay(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "ReplayName").unwrap_or_default().to_string();
        let key = model::replay_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            let mut r = match txn.get(&key) {
                Some(EventsRecord::Replay(r)) => (**r).clone(),
                _ => return Err(replay_missing(&name)),
            };
            if r.state != "STARTING" && r.state != "RUNNING" {
                return Err(AwsError::new(
                    "IllegalStatusException",
                    format!("Replay {name} is not in a valid state for this operation."),
                ));
            }
            r.state = "CANCELLING".into();
            let arn = r.arn.clone();
            txn.insert(key.clone(), EventsRecord::Replay(Box::new(r)));
            Ok(arn)
        });
        let arn = r?;
        self.wake.notify_one();
        Ok(Answer::wrote(
            json!({"ReplayArn": arn, "State": "CANCELLING"}),
            v,
        ))
    }

    /// Run a pending replay in one store write: its archived events of the window go to the
    /// destination bus's rules (tagged with `replay-name`), and it completes (or, cancelled
    /// meanwhile, ends CANCELLED).
    pub fn run_replay(&self, account: &str, region: &str, name: &str, now: u64) {
        let p = Partition::new(account, region);
        self.store.write(|txn| {
            txn.remove(&model::replaying_key(account, region, name));
            let key = model::replay_key(&p, name);
            let mut r = match txn.get(&key) {
                Some(EventsRecord::Replay(r)) => (**r).clone(),
                _ => return,
            };
            if r.state == "CANCELLING" {
                r.state = "CANCELLED".into();
                r.replay_end_ms = Some(now);
            } else {
                replay_into(txn, &p, &mut r, now);
            }
            txn.insert(key, EventsRecord::Replay(Box::new(r)));
        });
    }
}

impl Events {
    /// Remove archived events older than their archive's retention (0 days: kept forever);
    /// returns how many went.
    pub fn sweep_archives(&self, now: u64) -> usize {
        let archives: Vec<(Partition, Archive)> = self
            .store
            .snapshot()
            .iter()
            .filter_map(|(_, r)| match r {
                EventsRecord::Archive(a) if a.retention_days > 0 => {
                    let arn = crate::parse_arn(&a.arn)?;
                    Some((Partition::new(arn.account, arn.region), (**a).clone()))
                }
                _ => None,
            })
            .collect();
        let mut removed = 0;
        for (p, a) in archives {
            let cutoff = now.saturating_sub(a.retention_days as u64 * 86_400_000);
            let lo = model::archived_of(&p, &a.name);
            let hi = model::archived_at(&p, &a.name, cutoff);
            let old: Vec<(snapstack_engine::Key, u64)> = self
                .store
                .snapshot()
                .range((std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi)))
                .filter_map(|(k, r)| match r {
                    EventsRecord::Archived(t) => Some((k.clone(), t.len() as u64)),
                    _ => None,
                })
                .take(10_000)
                .collect();
            if old.is_empty() {
                continue;
            }
            removed += old.len();
            let key = model::archive_key(&p, &a.name);
            self.store.write(|txn| {
                let mut cur = match txn.get(&key) {
                    Some(EventsRecord::Archive(c)) if c.arn == a.arn => (**c).clone(),
                    _ => return,
                };
                for (k, size) in &old {
                    if txn.remove(k).is_some() {
                        cur.event_count = cur.event_count.saturating_sub(1);
                        cur.size_bytes = cur.size_bytes.saturating_sub(*size);
                    }
                }
                txn.insert(key.clone(), EventsRecord::Archive(Box::new(cur)));
            });
        }
        removed
    }
}

fn replay_into(txn: &mut Txn<'_, EventsRecord>, p: &Partition, r: &mut Replay, now: u64) {
    let archive = crate::parse_arn(&r.source_arn)
        .and_then(|a| a.resource.strip_prefix("archive/").map(str::to_string))
        .unwrap_or_default();
    let bus = bus_of_arn(p, &r.destination_arn).unwrap_or_default();
    let lo = model::archived_at(p, &archive, r.start_ms);
    let hi = model::archived_at(p, &archive, r.end_ms);
    let events: Vec<String> = txn
        .range((std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi)))
        .filter_map(|(_, rec)| match rec {
            EventsRecord::Archived(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    let ctx = ReplayCtx {
        name: &r.name,
        filter_arns: &r.filter_arns,
    };
    let mut last = None;
    for text in events {
        let Ok(mut ev) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        ev["replay-name"] = json!(ctx.name);
        last = ev
            .get("time")
            .and_then(Value::as_str)
            .and_then(snapstack_protocol::codec::time::parse_iso8601)
            .map(|t| t.max(0) as u64)
            .or(last);
        route(txn, p, &bus, &ev, now, Some(&ctx));
    }
    r.state = "COMPLETED".into();
    r.replay_end_ms = Some(now);
    r.last_replayed_ms = last;
}
