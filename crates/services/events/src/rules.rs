//! Rules: PutRule (event patterns and schedules), Describe, Enable/Disable, Delete, List,
//! ListRuleNamesByTarget. A scheduled, enabled rule keeps its next fire time in the rule and
//! as a [`model::Fire`] record ordered by deadline.

use serde_json::{Value, json};
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;
use snapstack_service::schedule::{self, Schedule, Syntax};

use crate::buses::{bus_missing, bus_of};
use crate::model::{self, EventsRecord, Fire, Rule};
use crate::{
    Answer, DEFAULT_BUS, Events, Input, bad_pattern, bus_name, not_found, rule_arn, str_of,
    tags_in, validation,
};

/// The factor end-to-end tests may apply to rate intervals (`SNAPSTACK_EVENTS_RATE_SCALE`:
/// `0.01` makes `rate(1 minute)` fire every 600 ms); cron schedules are not scaled.
pub fn rate_scale() -> f64 {
    std::env::var("SNAPSTACK_EVENTS_RATE_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(1.0)
}

/// A rule's `ScheduleExpression` as EventBridge reads it: `rate()` (scaled by [`rate_scale`])
/// and `cron()` with its year field; no `at()`.
pub fn parse_schedule(expr: &str) -> Result<Schedule, String> {
    schedule::parse_with(expr, &Syntax::eventbridge(rate_scale()))
}

pub(crate) fn rule_missing(name: &str, bus: &str) -> AwsError {
    not_found(format!("Rule {name} does not exist on EventBus {bus}."))
}

pub(crate) fn rule_json(r: &Rule, full: bool) -> Value {
    let mut v = json!({"Name": r.name, "Arn": r.arn, "State": r.state, "EventBusName": r.bus});
    if let Some(x) = &r.event_pattern {
        v["EventPattern"] = json!(x);
    }
    if let Some(x) = &r.schedule {
        v["ScheduleExpression"] = json!(x);
    }
    if let Some(x) = &r.description {
        v["Description"] = json!(x);
    }
    if let Some(x) = &r.role_arn {
        v["RoleArn"] = json!(x);
    }
    if let Some(x) = &r.managed_by {
        v["ManagedBy"] = json!(x);
    }
    if full {
        v["CreatedBy"] = json!(r.created_by);
    }
    v
}

/// Re-arm (or disarm) a rule's schedule in `txn`: the old Fire record goes, and an enabled
/// scheduled rule gets its next fire time after `now` (unless `keep` and it has one).
pub(crate) fn arm(
    txn: &mut Txn<'_, EventsRecord>,
    p: &Partition,
    r: &mut Rule,
    now: u64,
    keep: bool,
) {
    let enabled = r.state != "DISABLED";
    if let Some(old) = r.next_fire_ms {
        if keep && enabled {
            return;
        }
        txn.remove(&model::fire_key(old, &p.account, &p.region, &r.name));
        r.next_fire_ms = None;
    }
    if !enabled {
        return;
    }
    let next = r
        .schedule
        .as_deref()
        .and_then(|s| parse_schedule(s).ok())
        .and_then(|s| s.next_after(now));
    if let Some(due) = next {
        r.next_fire_ms = Some(due);
        txn.insert(
            model::fire_key(due, &p.account, &p.region, &r.name),
            EventsRecord::Fire(Box::new(Fire {
                account: p.account.clone(),
                region: p.region.clone(),
                rule: r.name.clone(),
            })),
        );
    }
}

impl Events {
    pub(crate) fn put_rule(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let bus = bus_name(str_of(input, "EventBusName"));
        let pattern = str_of(input, "EventPattern").map(str::to_string);
        let schedule = str_of(input, "ScheduleExpression").map(str::to_string);
        if pattern.is_none() && schedule.is_none() {
            return Err(validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        }
        if let Some(pat) = &pattern {
            crate::pattern::compile(pat).map_err(bad_pattern)?;
        }
        if let Some(s) = &schedule {
            if bus != DEFAULT_BUS {
                return Err(validation(
                    "ScheduleExpression is supported only on the default event bus.",
                ));
            }
            parse_schedule(s).map_err(validation)?;
        }
        let state = str_of(input, "State").unwrap_or("ENABLED").to_string();
        let key = model::rule_key(p, &bus, &name);
        let bus_key = model::bus_key(p, &bus);
        let (r, v) = self.store.write(|txn| {
            if bus_of(txn.get(&bus_key), p, &bus).is_none() {
                return Err(bus_missing(&bus));
            }
            let old = match txn.get(&key) {
                Some(EventsRecord::Rule(r)) => Some((**r).clone()),
                _ => None,
            };
            if let Some(o) = &old
                && o.managed_by.is_some()
            {
                return Err(AwsError::new(
                    "ManagedRuleException",
                    format!(
                        "Rule {name} is managed by {} and cannot be modified.",
                        o.managed_by.as_deref().unwrap_or("")
                    ),
                ));
            }
            let same_schedule = old
                .as_ref()
                .is_some_and(|o| o.schedule == schedule && o.state == state);
            let mut r = old.clone().unwrap_or_else(|| Rule {
                name: name.clone(),
                arn: rule_arn(p, &bus, &name),
                bus: bus.clone(),
                event_pattern: None,
                schedule: None,
                state: state.clone(),
                description: None,
                role_arn: None,
                managed_by: None,
                created_by: p.account.clone(),
                tags: tags_in(input),
                targets: Vec::new(),
                next_fire_ms: None,
            });
            r.event_pattern = pattern.clone();
            r.schedule = schedule.clone();
            r.state = state.clone();
            r.description = str_of(input, "Description").map(str::to_string);
            r.role_arn = str_of(input, "RoleArn").map(str::to_string);
            arm(txn, p, &mut r, now, same_schedule);
            let arn = r.arn.clone();
            txn.insert(key.clone(), EventsRecord::Rule(Box::new(r)));
            Ok(arn)
        });
        let arn = r?;
        if schedule.is_some() {
            self.wake.notify_one();
        }
        Ok(Answer::wrote(json!({"RuleArn": arn}), v))
    }

    fn rule(&self, p: &Partition, input: &Input) -> Result<Rule, AwsError> {
        let name = str_of(input, "Name")
            .or_else(|| str_of(input, "Rule"))
            .unwrap_or_default();
        let bus = bus_name(str_of(input, "EventBusName"));
        match self.store.snapshot().get(&model::rule_key(p, &bus, name)) {
            Some(EventsRecord::Rule(r)) => Ok((**r).clone()),
            _ => Err(rule_missing(name, &bus)),
        }
    }

    pub(crate) fn describe_rule(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        self.rule(p, input).map(|r| rule_json(&r, true))
    }

    pub(crate) fn set_rule_state(
        &self,
        p: &Partition,
        input: &Input,
        state: &str,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let bus = bus_name(str_of(input, "EventBusName"));
        let key = model::rule_key(p, &bus, &name);
        let (r, v) = self.store.write(|txn| {
            let mut r = match txn.get(&key) {
                Some(EventsRecord::Rule(r)) => (**r).clone(),
                _ => return Err(rule_missing(&name, &bus)),
            };
            if r.managed_by.is_some() {
                return Err(AwsError::new(
                    "ManagedRuleException",
                    format!("Rule {name} is a managed rule and cannot be modified."),
                ));
            }
            let unchanged = (r.state == "DISABLED") == (state == "DISABLED");
            r.state = if state == "ENABLED" && r.state != "DISABLED" {
                r.state.clone()
            } else {
                state.to_string()
            };
            arm(txn, p, &mut r, now, unchanged);
            txn.insert(key.clone(), EventsRecord::Rule(Box::new(r)));
            Ok(())
        });
        r?;
        self.wake.notify_one();
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn delete_rule(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let bus = bus_name(str_of(input, "EventBusName"));
        let force = input.get("Force").and_then(Value::as_bool).unwrap_or(false);
        let key = model::rule_key(p, &bus, &name);
        let (r, v) = self.store.write(|txn| {
            let r = match txn.get(&key) {
                Some(EventsRecord::Rule(r)) => (**r).clone(),
                _ => return Ok(()),
            };
            if r.managed_by.is_some() && !force {
                return Err(AwsError::new(
                    "ManagedRuleException",
                    format!("Rule {name} is a managed rule; use Force to delete it."),
                ));
            }
            if !r.targets.is_empty() {
                return Err(validation("Rule can't be deleted since it has targets."));
            }
            if let Some(due) = r.next_fire_ms {
                txn.remove(&model::fire_key(due, &p.account, &p.region, &r.name));
            }
            txn.remove(&key);
            Ok(())
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn list_rules(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let bus = bus_name(str_of(input, "EventBusName"));
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let snap = self.store.snapshot();
        if bus_of(snap.get(&model::bus_key(p, &bus)), p, &bus).is_none() {
            return Err(bus_missing(&bus));
        }
        let items = snap
            .scan_prefix(&model::rules_of_bus(p, &bus))
            .filter_map(|(_, r)| match r {
                EventsRecord::Rule(r) if r.name.starts_with(prefix) => Some(rule_json(r, false)),
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "Limit", "Rules")
    }

    pub(crate) fn list_rule_names_by_target(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let bus = bus_name(str_of(input, "EventBusName"));
        let target = str_of(input, "TargetArn").unwrap_or_default();
        let snap = self.store.snapshot();
        if bus_of(snap.get(&model::bus_key(p, &bus)), p, &bus).is_none() {
            return Err(bus_missing(&bus));
        }
        let items = snap
            .scan_prefix(&model::rules_of_bus(p, &bus))
            .filter_map(|(_, r)| match r {
                EventsRecord::Rule(r) if r.targets.iter().any(|t| t.arn == target) => {
                    Some(json!(r.name))
                }
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "Limit", "RuleNames")
    }
}
