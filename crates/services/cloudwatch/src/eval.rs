//! Alarm evaluation, on absolute times from the stored data: each metric alarm is evaluated
//! when its `next_eval_ms` is due (then just after every `min(Period, 60 s)` boundary, over the
//! complete periods before it), composite alarms on every
//! pass from their children's states. A state change is recorded (record and history) in the
//! same write; its actions (SNS topics) run afterwards and their outcome goes to the history.
//! Also the retention sweep of history (and the rollups of [`crate::rollup`]).

use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::key::Part;
use snapstack_engine::{Key, Partition};
use snapstack_service::Runtime;

use crate::alarms::{Change, config};
use crate::metrics::{MetricId, bucket_stat};
use crate::*;

/// History items are kept this long (AWS: 30 days).
pub const HISTORY_RETENTION_MS: u64 = 30 * 86_400_000;
/// Deletions per store write in the sweep.
const SWEEP_BATCH: usize = 5000;

/// An alarm's change of state, whose actions are to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub partition: Partition,
    pub alarm: String,
    pub composite: bool,
    pub old: String,
    pub new: String,
    pub reason: String,
    pub actions: Vec<String>,
    pub alarm_json: Value,
    pub at_ms: u64,
}

// ---- composite alarm rules ----

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    Const(bool),
    State(String, String),
    Not(Box<Rule>),
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
}

const MAX_RULE_DEPTH: usize = 32;

struct RuleParser<'a> {
    s: &'a str,
    i: usize,
}

impl RuleParser<'_> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with(char::is_whitespace) {
            self.i += self.s[self.i..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn word(&mut self, w: &str) -> bool {
        self.ws();
        let rest = &self.s[self.i..];
        if rest.len() >= w.len()
            && rest.is_char_boundary(w.len())
            && rest[..w.len()].eq_ignore_ascii_case(w)
            && !rest[w.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            self.i += w.len();
            return true;
        }
        false
    }

    fn or(&mut self, d: usize) -> Result<Rule, String> {
        let mut l = self.and(d)?;
        while self.word("OR") {
            l = Rule::Or(Box::new(l), Box::new(self.and(d)?));
        }
        Ok(l)
    }

    fn and(&mut self, d: usize) -> Result<Rule, String> {
        let mut l = self.unary(d)?;
        while self.word("AND") {
            l = Rule::And(Box::new(l), Box::new(self.unary(d)?));
        }
        Ok(l)
    }

    fn unary(&mut self, d: usize) -> Result<Rule, String> {
        if d > MAX_RULE_DEPTH {
            return Err("The alarm rule is nested too deeply.".into());
        }
        if self.word("NOT") {
            return Ok(Rule::Not(Box::new(self.unary(d + 1)?)));
        }
        if self.word("TRUE") {
            return Ok(Rule::Const(true));
        }
        if self.word("FALSE") {
            return Ok(Rule::Const(false));
        }
        for st in ["ALARM", "OK", "INSUFFICIENT_DATA"] {
            if self.word(st) {
                self.ws();
                if !self.s[self.i..].starts_with('(') {
                    return Err(format!("Expected '(' after {st} in the alarm rule."));
                }
                self.i += 1;
                let rest = &self.s[self.i..];
                let end = rest.find(')').ok_or("Missing ')' in the alarm rule.")?;
                let arg = rest[..end].trim().trim_matches(|c| c == '"' || c == '\'');
                self.i += end + 1;
                let name = match arg.split_once(":alarm:") {
                    Some((_, n)) => n,
                    None => arg,
                };
                if name.is_empty() {
                    return Err("An alarm rule names an empty alarm.".into());
                }
                return Ok(Rule::State(st.to_string(), name.to_string()));
            }
        }
        self.ws();
        if self.s[self.i..].starts_with('(') {
            self.i += 1;
            let r = self.or(d + 1)?;
            self.ws();
            if !self.s[self.i..].starts_with(')') {
                return Err("Missing ')' in the alarm rule.".into());
            }
            self.i += 1;
            return Ok(r);
        }
        Err(format!("Invalid alarm rule at position {}.", self.i))
    }
}

fn parse_rule(s: &str) -> Result<Rule, String> {
    if s.len() > 10_240 {
        return Err("The alarm rule is too long.".into());
    }
    let mut p = RuleParser { s, i: 0 };
    let r = p.or(0)?;
    p.ws();
    if p.i != s.len() {
        return Err(format!("Invalid alarm rule at position {}.", p.i));
    }
    Ok(r)
}

/// The alarms a composite rule refers to (and whether it parses).
pub fn rule_children(s: &str) -> Result<Vec<String>, String> {
    fn walk(r: &Rule, out: &mut Vec<String>) {
        match r {
            Rule::State(_, n) => {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            Rule::Not(x) => walk(x, out),
            Rule::And(a, b) | Rule::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Rule::Const(_) => {}
        }
    }
    let r = parse_rule(s)?;
    let mut out = Vec::new();
    walk(&r, &mut out);
    Ok(out)
}

fn rule_eval(r: &Rule, state_of: &dyn Fn(&str) -> Option<String>) -> bool {
    match r {
        Rule::Const(b) => *b,
        Rule::State(st, n) => state_of(n).as_deref() == Some(st.as_str()),
        Rule::Not(x) => !rule_eval(x, state_of),
        Rule::And(a, b) => rule_eval(a, state_of) && rule_eval(b, state_of),
        Rule::Or(a, b) => rule_eval(a, state_of) || rule_eval(b, state_of),
    }
}

// ---- metric alarm evaluation ----

fn compare(op: &str, x: f64, t: f64) -> Option<bool> {
    Some(match op {
        "GreaterThanOrEqualToThreshold" => x >= t,
        "GreaterThanThreshold" => x > t,
        "LessThanThreshold" => x < t,
        "LessThanOrEqualToThreshold" => x <= t,
        _ => return None,
    })
}

fn op_words(op: &str) -> &'static str {
    match op {
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "GreaterThanThreshold" => "greater than",
        "LessThanThreshold" => "less than",
        _ => "less than or equal to",
    }
}

/// A metric alarm's period in milliseconds: its own `Period`, or (metric math) that of the first
/// query with one.
fn period_ms(cfg: &Value) -> Option<u64> {
    let period = int_of(cfg, "Period").or_else(|| {
        cfg.get("Metrics")?
            .as_array()?
            .iter()
            .find_map(|q| int_of(q.get("MetricStat")?, "Period").or(int_of(q, "Period")))
    })?;
    Some((period.max(1) as u64) * 1000)
}

pub(crate) fn fmt_time(ms: u64) -> String {
    snapstack_protocol::codec::time::iso8601(ms as i64, false)
}

impl CloudWatch {
    /// The windows' values of a metric alarm (oldest first) ending with the period holding `now`,
    /// the first window's start, the period, and (an alarm on an anomaly detection band, its
    /// `ThresholdMetricId`) each window's band.
    #[allow(clippy::type_complexity)]
    fn windows(
        &self,
        p: &Partition,
        cfg: &Value,
        now: u64,
    ) -> Option<(Vec<Option<f64>>, u64, u64, Option<Vec<Option<(f64, f64)>>>)> {
        let period = period_ms(cfg)?;
        let n = int_of(cfg, "EvaluationPeriods")
            .unwrap_or(1)
            .clamp(1, 10_000) as u64;
        // The complete periods before the last evaluation step boundary (a minute, or the
        // period when it is shorter): the newest datapoints of a period count once it is over.
        let step = period.min(60_000);
        let end = now / step * step;
        let start = end.saturating_sub(n * period);
        let mut vals = vec![None; n as usize];
        let mut bands = None;
        if let Some(name) = str_of(cfg, "MetricName") {
            let ns = str_of(cfg, "Namespace")?;
            let dims = dims_of(cfg, "Dimensions");
            let stat = str_of(cfg, "Statistic").or(str_of(cfg, "ExtendedStatistic"))?;
            let snap = self.store.snapshot();
            let m = MetricId {
                ns,
                name,
                dims: &dims,
            };
            let unit = str_of(cfg, "Unit");
            for (b, x) in bucket_stat(&snap, p, &m, (start, end, period), unit, stat) {
                if let Some(slot) = vals.get_mut(((b - start) / period) as usize) {
                    *slot = Some(x);
                }
            }
        } else {
            // Metric math: the query that returns data (and the band of ThresholdMetricId).
            let tid = str_of(cfg, "ThresholdMetricId");
            let mut queries = cfg.get("Metrics").cloned().unwrap_or_default();
            if let (Some(t), Some(qs)) = (tid, queries.as_array_mut()) {
                for q in qs.iter_mut().filter(|q| str_of(q, "Id") == Some(t)) {
                    q["ReturnData"] = json!(true);
                }
            }
            let input = json!({
                "MetricDataQueries": queries,
                "StartTime": start as f64 / 1000.0,
                "EndTime": end as f64 / 1000.0,
                "ScanBy": "TimestampAscending",
            });
            let out = self.get_metric_data(p, &input).ok()?;
            let results = out.value["MetricDataResults"].as_array()?;
            if let Some(t) = tid {
                bands = Some(crate::anomaly::band_windows(
                    results, t, start, period, n as usize,
                ));
            }
            let r = results
                .iter()
                .find(|r| tid.is_none_or(|t| r["Id"] != t))?
                .clone();
            let ts = r["Timestamps"].as_array()?;
            let vs = r["Values"].as_array()?;
            for (t, v) in ts.iter().zip(vs) {
                let t = (t.as_f64()? * 1000.0) as u64;
                if let Some(slot) = vals.get_mut(((t.saturating_sub(start)) / period) as usize) {
                    *slot = v.as_f64();
                }
            }
        }
        Some((vals, start, period, bands))
    }

    /// The state a metric alarm's data gives, with the reason and reason data; `None` to keep
    /// the current state (`TreatMissingData=ignore` with no data).
    fn metric_state(
        &self,
        p: &Partition,
        a: &AlarmRec,
        now: u64,
    ) -> Option<(String, String, Option<String>)> {
        let cfg = config(a);
        let op = str_of(&cfg, "ComparisonOperator").unwrap_or("GreaterThanThreshold");
        let threshold = num_of(&cfg, "Threshold").unwrap_or(0.0);
        let Some((mut vals, start, period, bands)) = self.windows(p, &cfg, now) else {
            return Some((
                "INSUFFICIENT_DATA".into(),
                "Unchecked: the alarm's metric cannot be evaluated".into(),
                None,
            ));
        };
        let band_op = crate::anomaly::is_band_operator(op);
        if band_op {
            // A datapoint without its band cannot be compared: it counts as missing.
            let bands = bands.as_deref().unwrap_or_default();
            for (i, v) in vals.iter_mut().enumerate() {
                if bands.get(i).copied().flatten().is_none() {
                    *v = None;
                }
            }
        } else {
            compare(op, 0.0, 0.0)?;
        }
        let band_at = |i: usize| bands.as_ref().and_then(|b| b.get(i).copied().flatten());
        let breaches = |i: usize, x: f64| match band_at(i) {
            Some((lo, hi)) if band_op => crate::anomaly::outside_band(op, x, lo, hi),
            _ => compare(op, x, threshold) == Some(true),
        };
        let n = vals.len();
        let m = int_of(&cfg, "DatapointsToAlarm").map_or(n, |m| (m.max(1) as usize).min(n));
        let treat = str_of(&cfg, "TreatMissingData").unwrap_or("missing");
        let present: Vec<(usize, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i, (*v)?)))
            .collect();
        let missing = n - present.len();
        let breaching = present.iter().filter(|(i, x)| breaches(*i, *x)).count()
            + if treat == "breaching" { missing } else { 0 };
        let recent: Vec<String> = present
            .iter()
            .rev()
            .map(|(i, x)| format!("{x} ({})", fmt_time(start + *i as u64 * period)))
            .collect();
        let data = json!({
            "version": "1.0",
            "queryDate": fmt_time(now),
            "startDate": fmt_time(start),
            "statistic": str_of(&cfg, "Statistic").or(str_of(&cfg, "ExtendedStatistic")),
            "period": period / 1000,
            "recentDatapoints": present.iter().rev().map(|(_, x)| *x).collect::<Vec<_>>(),
            "threshold": threshold,
            "evaluatedDatapoints": present.iter().rev().map(|(i, x)| json!({"timestamp": fmt_time(start + *i as u64 * period), "value": x})).collect::<Vec<_>>(),
        })
        .to_string();
        if present.is_empty() {
            return match treat {
                "ignore" => None,
                "breaching" => Some((
                    "ALARM".into(),
                    format!(
                        "Threshold Crossed: no datapoints were received for {n} periods and {n} missing datapoints were treated as [Breaching]."
                    ),
                    Some(data),
                )),
                "notBreaching" => Some((
                    "OK".into(),
                    format!(
                        "Threshold Crossed: no datapoints were received for {n} periods and {n} missing datapoints were treated as [NonBreaching]."
                    ),
                    Some(data),
                )),
                _ => Some((
                    "INSUFFICIENT_DATA".into(),
                    format!(
                        "Insufficient Data: {n} datapoint{} unknown.",
                        if n == 1 { " was" } else { "s were" }
                    ),
                    Some(data),
                )),
            };
        }
        let state = if breaching >= m { "ALARM" } else { "OK" };
        if band_op {
            let bands: Vec<(f64, f64)> = present
                .iter()
                .rev()
                .filter_map(|(i, _)| band_at(*i))
                .collect();
            let reason = crate::anomaly::band_reason(op, state, breaching, n, m, &recent, &bands);
            return Some((state.into(), reason, Some(data)));
        }
        let reason = format!(
            "Threshold Crossed: {breaching} out of the last {n} datapoints [{}] {} {} the threshold ({threshold}) (minimum {m} datapoint{} for OK -> ALARM transition).",
            recent.join(", "),
            if breaching == 1 { "was" } else { "were" },
            if state == "ALARM" {
                op_words(op)
            } else {
                "not"
            },
            if m == 1 { "" } else { "s" },
        );
        let reason = if state == "OK" {
            reason.replacen(
                " not the threshold",
                &format!(" not {} the threshold", op_words(op)),
                1,
            )
        } else {
            reason
        };
        Some((state.into(), reason, Some(data)))
    }

    /// Evaluate every due alarm of every partition at `now`: state changes recorded, their
    /// transitions returned (for the actions).
    pub fn evaluate_due(&self, now: u64) -> Vec<Transition> {
        let mut out = Vec::new();
        for p in self.partitions() {
            let snap = self.store.snapshot();
            let alarms: Vec<AlarmRec> = snap
                .scan_prefix(&alarms_prefix(&p))
                .filter_map(|(_, r)| match r {
                    CwRecord::Alarm(a) => Some(a.clone()),
                    _ => None,
                })
                .collect();
            drop(snap);
            let mut changed = false;
            for a in alarms
                .iter()
                .filter(|a| !a.composite && a.next_eval_ms <= now)
            {
                let cfg = config(a);
                // Evaluated just after each step boundary (a minute, or the period when it is
                // shorter: the same step `windows` ends its windows on).
                let step = period_ms(&cfg).unwrap_or(60_000).clamp(10_000, 60_000);
                let next = (now / step + 1) * step + 500;
                let decided = self.metric_state(&p, a, now);
                let (t, _) = self.store.write(|txn| match &decided {
                    Some((st, reason, data)) => self.transition(
                        txn,
                        &p,
                        &a.name,
                        Change {
                            state: st,
                            reason,
                            data: data.clone(),
                            now,
                            next_eval: Some(next),
                        },
                    ),
                    None => self.transition(
                        txn,
                        &p,
                        &a.name,
                        Change {
                            state: &a.state,
                            reason: "",
                            data: None,
                            now,
                            next_eval: Some(next),
                        },
                    ),
                });
                if let Some(t) = t {
                    changed = true;
                    out.push(t);
                }
            }
            // Composite alarms, from their children's current states.
            let composites: Vec<&AlarmRec> = alarms.iter().filter(|a| a.composite).collect();
            if composites.is_empty() {
                continue;
            }
            let _ = changed;
            let snap = self.store.snapshot();
            let state_of = |n: &str| match snap.get(&alarm_key(&p, n)) {
                Some(CwRecord::Alarm(x)) => Some(x.state.clone()),
                _ => None,
            };
            let mut decisions = Vec::new();
            for c in composites {
                let cfg = config(c);
                let Ok(rule) = parse_rule(str_of(&cfg, "AlarmRule").unwrap_or("FALSE")) else {
                    continue;
                };
                let st = if rule_eval(&rule, &state_of) {
                    "ALARM"
                } else {
                    "OK"
                };
                if st != c.state {
                    decisions.push((
                        c.name.clone(),
                        st,
                        format!(
                            "arn:aws:cloudwatch alarm rule \"{}\" evaluated to {}",
                            str_of(&cfg, "AlarmRule").unwrap_or(""),
                            st == "ALARM"
                        ),
                    ));
                }
            }
            drop(snap);
            for (name, st, reason) in decisions {
                let (t, _) = self.store.write(|txn| {
                    self.transition(
                        txn,
                        &p,
                        &name,
                        Change {
                            state: st,
                            reason: &reason,
                            data: None,
                            now,
                            next_eval: None,
                        },
                    )
                });
                out.extend(t);
            }
        }
        out
    }

    /// Run the actions owed: the transitions' actions were written as [`ActionRec`]s with
    /// their state changes (see [`queue_actions`]), so this delivers every due one (those of
    /// earlier attempts and of before a restart too). Returns the store version of the last
    /// write.
    pub async fn run_actions(
        &self,
        rt: &dyn Runtime,
        _transitions: Vec<Transition>,
    ) -> Option<u64> {
        self.deliver_actions(rt).await
    }
    /// Every partition with records.
    pub(crate) fn partitions(&self) -> Vec<Partition> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut from = Bound::Unbounded;
        while let Some((k, _)) = snap.range((from.clone(), Bound::Unbounded)).next() {
            let Some(parts) = k.parts() else { break };
            let (Some(Part::Str(a)), Some(Part::Str(r))) = (parts.first(), parts.get(1)) else {
                break;
            };
            let p = Partition::new(a.clone(), r.clone());
            let next = p.prefix().prefix_range().1;
            out.push(p);
            match next {
                Bound::Excluded(n) => from = Bound::Included(n),
                _ => break,
            }
        }
        out
    }

    /// The retention sweep: data rolled up by resolution and dropped after 455 days
    /// ([`crate::rollup`]), history past [`HISTORY_RETENTION_MS`] dropped. Returns how many
    /// records were removed.
    pub fn sweep(&self, now: u64) -> usize {
        let mut deleted = self.rollup(now);
        for p in self.partitions() {
            let snap = self.store.snapshot();
            let mut ranges: Vec<(Key, Key)> = Vec::new();
            let alarms: Vec<String> = snap
                .scan_prefix(&p.key().str("h").build())
                .filter_map(|(_, r)| match r {
                    CwRecord::History(h) => Some(h.alarm.clone()),
                    _ => None,
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            ranges.extend(alarms.iter().map(|a| {
                (
                    history_prefix(&p, a),
                    history_key(&p, a, now.saturating_sub(HISTORY_RETENTION_MS), 0),
                )
            }));
            drop(snap);
            for (lo, hi) in ranges {
                loop {
                    let keys: Vec<Key> = self
                        .store
                        .snapshot()
                        .range((Bound::Included(lo.clone()), Bound::Excluded(hi.clone())))
                        .map(|(k, _)| k.clone())
                        .take(SWEEP_BATCH)
                        .collect();
                    if keys.is_empty() {
                        break;
                    }
                    let n = keys.len();
                    self.store.write(|txn| {
                        for k in &keys {
                            txn.remove(k);
                        }
                    });
                    deleted += n;
                    if n < SWEEP_BATCH {
                        break;
                    }
                }
            }
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rules() {
        assert_eq!(
            rule_children("ALARM(a) AND NOT OK(\"b\")").unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(
            rule_children("ALARM(arn:aws:cloudwatch:us-east-1:1:alarm:x) OR TRUE").unwrap(),
            vec!["x"]
        );
        assert!(rule_children("ALARM(a) AND").is_err());
        assert!(rule_children("(((ALARM(a)").is_err());
        let r = parse_rule("ALARM(a) AND (OK(b) OR FALSE)").unwrap();
        let st = |n: &str| {
            Some(if n == "a" {
                "ALARM".to_string()
            } else {
                "OK".to_string()
            })
        };
        assert!(rule_eval(&r, &st));
    }

    proptest! {
        #[test]
        fn rule_parser_never_panics(s in ".{0,80}") {
            let _ = rule_children(&s);
        }
    }
}
