//! Log anomaly detection, pattern based: a simple model, not AWS's machine learning. Each
//! detector is evaluated on its `evaluationFrequency` at absolute times (`_next` in its
//! document). An evaluation takes the events of its log groups in the last period (those its
//! `filterPattern` matches), reduces each message to its pattern (whitespace-separated tokens
//! holding a digit become `<*>`) and counts events per pattern. The model keeps, per pattern,
//! the number of periods and the sum and sum of squares of its counts (at most
//! [`MAX_PATTERNS`] patterns). The first [`TRAINING_PERIODS`] evaluations train
//! (`TRAINING`); then (`ANALYZING`) a pattern never seen before, or one whose count exceeds its
//! mean + 3 standard deviations + 1, is an anomaly: a record with its pattern, tokens, a
//! histogram of counts per evaluation and up to 10 sample events, which ListAnomalies lists and
//! UpdateAnomaly suppresses or marks as baseline (a baseline pattern is no longer reported).
//! Anomalies not seen for the detector's `anomalyVisibilityTime` days are forgotten.

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

/// The family of anomaly records (id: the detector's id, NUL, the pattern id).
pub(crate) const LOG_ANOMALY: &str = "log-anomaly";
/// Evaluations that only train the model.
pub const TRAINING_PERIODS: u64 = 3;
/// Patterns a model keeps.
pub const MAX_PATTERNS: usize = 1000;
/// Events one evaluation looks at.
const MAX_EVENTS: usize = 200_000;
/// Sample events an anomaly keeps.
const MAX_SAMPLES: usize = 10;
/// Histogram entries an anomaly keeps.
const MAX_HISTOGRAM: usize = 100;

pub(crate) fn frequency_ms(f: &str) -> u64 {
    60_000
        * match f {
            "ONE_MIN" => 1,
            "TEN_MIN" => 10,
            "FIFTEEN_MIN" => 15,
            "THIRTY_MIN" => 30,
            "ONE_HOUR" => 60,
            _ => 5,
        }
}

/// A message's pattern: its first 64 tokens, those holding a digit replaced by `<*>`.
pub fn pattern_of(msg: &str) -> String {
    msg.split_whitespace()
        .take(64)
        .map(|t| {
            if t.bytes().any(|b| b.is_ascii_digit()) {
                "<*>"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn pattern_id(p: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in p.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{h:032x}")
}

fn anomaly_id(detector: &str, pattern: &str) -> String {
    format!("{detector}\0{}", pattern_id(pattern))
}

impl Logs {
    /// Evaluate every detector due at `now`. Returns how many anomalies were raised or updated.
    pub fn evaluate_anomaly_detectors(&self, now: u64) -> usize {
        let mut raised = 0;
        for p in self.partitions() {
            let due: Vec<(String, Value)> = res::all(&self.store.snapshot(), &p, ANOMALY_DETECTOR)
                .into_iter()
                .filter(|(_, d)| {
                    d["anomalyDetectorStatus"] != "PAUSED"
                        && d["_next"].as_u64().is_some_and(|t| t <= now)
                })
                .collect();
            for (id, d) in due {
                raised += self.evaluate_detector(&p, &id, d, now);
            }
        }
        raised
    }

    fn evaluate_detector(&self, p: &Partition, id: &str, d: Value, now: u64) -> usize {
        let freq = frequency_ms(d["evaluationFrequency"].as_str().unwrap_or("FIVE_MIN"));
        let at = d["_next"].as_u64().unwrap_or(now);
        let from = at.saturating_sub(freq);
        let filter = d["filterPattern"]
            .as_str()
            .and_then(|f| crate::pattern::parse(f).ok());
        let groups: Vec<String> = d["logGroupArnList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(name_from_identifier)
            .collect();
        // Counts and samples per pattern in [from, at).
        let mut counts: std::collections::BTreeMap<String, (u64, Vec<Value>)> = Default::default();
        let snap = self.store.snapshot();
        let mut seen = 0;
        'groups: for g in &groups {
            for (_, r) in snap.scan_prefix(&group_events_prefix(p, g)) {
                let LogsRecord::Event(e) = r else { continue };
                if e.timestamp < from || e.timestamp >= at {
                    continue;
                }
                seen += 1;
                if seen > MAX_EVENTS {
                    break 'groups;
                }
                if filter.as_ref().is_some_and(|f| !f.matches(&e.message)) {
                    continue;
                }
                let c = counts.entry(pattern_of(&e.message)).or_default();
                c.0 += 1;
                if c.1.len() < MAX_SAMPLES {
                    c.1.push(json!({"timestamp": e.timestamp, "message": e.message}));
                }
            }
        }
        drop(snap);
        let visibility = d["anomalyVisibilityTime"].as_u64().unwrap_or(21) * 86_400_000;
        let arn = d["anomalyDetectorArn"].clone();
        let group_arns: Vec<Value> = groups.iter().map(|g| json!(group_arn(p, g))).collect();
        let (raised, _) = self.store.write(|txn| {
            let Some(mut cur) = load_txn(txn, p, ANOMALY_DETECTOR, id) else {
                return 0;
            };
            if cur["_next"] != d["_next"] {
                return 0;
            }
            let periods = cur["_periods"].as_u64().unwrap_or(0);
            let analyzing = periods >= TRAINING_PERIODS;
            let mut model: Map<String, Value> = cur["_model"].as_object().cloned().unwrap_or_default();
            let mut raised = 0;
            for (pattern, (c, samples)) in &counts {
                let stats = model.get(pattern).and_then(Value::as_array).cloned();
                let (sum, sumsq) = stats
                    .as_ref()
                    .map(|s| (s[0].as_f64().unwrap_or(0.0), s[1].as_f64().unwrap_or(0.0)))
                    .unwrap_or((0.0, 0.0));
                let n = periods.max(1) as f64;
                let mean = sum / n;
                let sd = (sumsq / n - mean * mean).max(0.0).sqrt();
                let c = *c as f64;
                let new_pattern = stats.is_none();
                if analyzing && (new_pattern || c > mean + 3.0 * sd + 1.0) {
                    let key = anomaly_id(id, pattern);
                    let mut a = load_txn(txn, p, LOG_ANOMALY, &key).unwrap_or_else(|| {
                        json!({
                            "anomalyId": uuid(self.next_id()),
                            "patternId": pattern_id(pattern),
                            "anomalyDetectorArn": arn,
                            "patternString": pattern,
                            "patternRegex": regex::escape(pattern).replace("<\\*>", "\\S+").replace("<\\*\\>", "\\S+"),
                            "patternTokens": pattern.split(' ').enumerate().map(|(i, t)| {
                                let dynamic = t == "<*>";
                                let mut tok = json!({"tokenString": t, "isDynamic": dynamic});
                                if dynamic {
                                    tok["dynamicTokenPosition"] = json!(i);
                                }
                                tok
                            }).collect::<Vec<_>>(),
                            "firstSeen": from,
                            "priority": if new_pattern { "HIGH" } else { "MEDIUM" },
                            "description": if new_pattern {
                                "A new log pattern appeared.".to_string()
                            } else {
                                format!("The log pattern occurred {c} times, above its baseline of {mean:.1} per period.")
                            },
                            "state": "Active",
                            "suppressed": false,
                            "isPatternLevelSuppression": false,
                            "logGroupArnList": group_arns,
                            "histogram": {},
                            "logSamples": [],
                        })
                    });
                    if a["state"] == "Baseline" {
                        continue;
                    }
                    a["lastSeen"] = json!(at);
                    let mut h = a["histogram"].as_object().cloned().unwrap_or_default();
                    h.insert(from.to_string(), json!(c as u64));
                    while h.len() > MAX_HISTOGRAM {
                        let first = h.keys().next().cloned().unwrap_or_default();
                        h.remove(&first);
                    }
                    a["histogram"] = Value::Object(h);
                    a["logSamples"] = json!(samples);
                    res::store(txn, p, LOG_ANOMALY, &key, &a, now);
                    raised += 1;
                }
                if model.len() < MAX_PATTERNS || !new_pattern {
                    model.insert(pattern.clone(), json!([sum + c, sumsq + c * c]));
                }
            }
            // Anomalies not seen for the visibility time are forgotten.
            let prefix = format!("{id}\0");
            let stale: Vec<String> = res::all_txn(txn, p, LOG_ANOMALY)
                .into_iter()
                .filter(|(k, a)| {
                    k.starts_with(&prefix)
                        && a["lastSeen"].as_u64().unwrap_or(0) + visibility <= now
                })
                .map(|(k, _)| k)
                .collect();
            for k in stale {
                res::remove(txn, p, LOG_ANOMALY, &k);
            }
            cur["_model"] = Value::Object(model);
            cur["_periods"] = json!(periods + 1);
            cur["anomalyDetectorStatus"] = json!(if periods + 1 >= TRAINING_PERIODS {
                "ANALYZING"
            } else {
                "TRAINING"
            });
            // The next period; periods missed while the server was down are skipped.
            let mut next = at + freq;
            if next <= now {
                next = now + freq;
            }
            cur["_next"] = json!(next);
            res::store(txn, p, ANOMALY_DETECTOR, id, &cur, now);
            raised
        });
        raised
    }

    /// The anomalies of a partition (of one detector if given), as ListAnomalies answers.
    pub(crate) fn anomalies(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let detector = str_of(v, "anomalyDetectorArn").map(|a| id_from_arn(a, "anomaly-detector"));
        let snap = self.store.snapshot();
        if let Some(d) = &detector
            && res::load(&snap, p, ANOMALY_DETECTOR, d).is_none()
        {
            return Err(not_found("The specified anomaly detector does not exist."));
        }
        let want = str_of(v, "suppressionState");
        let now = self.now_ms();
        let prefix = detector.map(|d| format!("{d}\0"));
        let (items, next) = page_of(
            &snap,
            p,
            LOG_ANOMALY,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |id, a| {
                if prefix.as_ref().is_some_and(|x| !id.starts_with(x.as_str())) {
                    return None;
                }
                let mut a = public(a);
                let until = a["suppressedUntil"].as_u64();
                let suppressed = a["suppressed"] == true && until.is_none_or(|u| now < u);
                a["suppressed"] = json!(suppressed);
                let det = id.split('\0').next().unwrap_or_default();
                let freq = res::load(&snap, p, ANOMALY_DETECTOR, det).map_or(300_000, |d| {
                    frequency_ms(d["evaluationFrequency"].as_str().unwrap_or(""))
                });
                a["active"] = json!(a["lastSeen"].as_u64().unwrap_or(0) + 2 * freq > now);
                let ok = match want {
                    Some("SUPPRESSED") => suppressed,
                    Some("UNSUPPRESSED") => !suppressed,
                    _ => true,
                };
                ok.then_some(a)
            },
        )?;
        out(page(items, "anomalies", next), None)
    }

    /// UpdateAnomaly: suppress (for a period or for good), unsuppress, or mark as baseline.
    pub(crate) fn change_anomaly(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let det = id_from_arn(
            str_of(v, "anomalyDetectorArn").unwrap_or_default(),
            "anomaly-detector",
        );
        let now = self.now_ms();
        let until = match (str_of(v, "suppressionType"), v.get("suppressionPeriod")) {
            (Some("LIMITED"), Some(sp)) => {
                let unit = match sp["suppressionUnit"].as_str() {
                    Some("SECONDS") => 1000,
                    Some("HOURS") => 3_600_000,
                    _ => 60_000,
                };
                Some(Some(now + sp["value"].as_u64().unwrap_or(0) * unit))
            }
            (Some("INFINITE"), _) => Some(None),
            _ => None,
        };
        let (found, ver) = self.store.write(|txn| {
            let mut n = 0;
            for (k, mut a) in res::all_txn(txn, p, LOG_ANOMALY) {
                if !k.starts_with(&format!("{det}\0"))
                    || !(str_of(v, "anomalyId").is_some_and(|x| a["anomalyId"] == x)
                        || str_of(v, "patternId").is_some_and(|x| a["patternId"] == x))
                {
                    continue;
                }
                if let Some(u) = until {
                    a["suppressed"] = json!(true);
                    a["suppressedDate"] = json!(now);
                    a["state"] = json!("Suppressed");
                    a["isPatternLevelSuppression"] = json!(str_of(v, "anomalyId").is_none());
                    a["suppressedUntil"] = u.map_or(Value::Null, |u| json!(u));
                } else if str_of(v, "suppressionType").is_none() && v.get("baseline").is_none() {
                    a["suppressed"] = json!(false);
                    a["state"] = json!("Active");
                }
                if v["baseline"] == true {
                    a["state"] = json!("Baseline");
                }
                res::store(txn, p, LOG_ANOMALY, &k, &a, now);
                n += 1;
            }
            n
        });
        if found == 0 {
            return Err(not_found("The specified anomaly does not exist."));
        }
        out(json!({}), Some(ver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_service::RequestContext;

    /// 2024-01-01T00:00:00Z.
    const T0: u64 = 1_704_067_200_000;

    #[test]
    fn patterns() {
        assert_eq!(pattern_of("GET /a 200 in 12ms"), "GET /a <*> in <*>");
        assert_eq!(pattern_id("a"), pattern_id("a"));
        assert_ne!(pattern_id("a"), pattern_id("b"));
    }

    #[test]
    fn new_patterns_and_spikes_are_anomalies_after_training() {
        let l = Logs::new();
        l.set_clock(T0);
        let ctx = RequestContext::from_scope(None);
        let call = |op: &str, v: Value| l.handle(&ctx, op, &v).unwrap().value;
        call("CreateLogGroup", json!({"logGroupName": "/svc"}));
        call(
            "CreateLogStream",
            json!({"logGroupName": "/svc", "logStreamName": "s"}),
        );
        let garn = group_arn(&ctx.partition, "/svc");
        let arn = call(
            "CreateLogAnomalyDetector",
            json!({"logGroupArnList": [garn], "evaluationFrequency": "ONE_MIN"}),
        )["anomalyDetectorArn"]
            .clone();
        let put = |t: u64, msgs: &[String]| {
            let evs: Vec<Value> = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| json!({"timestamp": t + i as u64, "message": m}))
                .collect();
            l.handle(
                &ctx,
                "PutLogEvents",
                &json!({"logGroupName": "/svc", "logStreamName": "s", "logEvents": evs}),
            )
            .unwrap();
        };
        // Four minutes of the usual: 5 requests a minute.
        for m in 0..4u64 {
            let t = T0 + m * 60_000;
            l.set_clock(t + 1000);
            put(
                t + 100,
                &(0..5)
                    .map(|i| format!("GET /api {} ok", 200 + i))
                    .collect::<Vec<_>>(),
            );
            l.set_clock(t + 61_000);
            l.evaluate_anomaly_detectors(t + 61_000);
        }
        let d = call("GetLogAnomalyDetector", json!({"anomalyDetectorArn": arn}));
        assert_eq!(d["anomalyDetectorStatus"], "ANALYZING");
        assert!(d.get("_model").is_none());
        assert_eq!(
            call("ListAnomalies", json!({"anomalyDetectorArn": arn}))["anomalies"],
            json!([])
        );
        // Then a new pattern and a spike.
        let t = T0 + 4 * 60_000;
        l.set_clock(t + 1000);
        let mut msgs: Vec<String> = (0..40)
            .map(|i| format!("GET /api {} ok", 200 + i))
            .collect();
        msgs.push("FATAL disk full".into());
        put(t + 100, &msgs);
        l.set_clock(t + 61_000);
        assert_eq!(l.evaluate_anomaly_detectors(t + 61_000), 2);
        let a = call("ListAnomalies", json!({"anomalyDetectorArn": arn}))["anomalies"].clone();
        let a = a.as_array().unwrap();
        assert_eq!(a.len(), 2);
        let fatal = a
            .iter()
            .find(|x| x["patternString"] == "FATAL disk full")
            .unwrap();
        assert_eq!(fatal["priority"], "HIGH");
        assert_eq!(fatal["active"], true);
        let spike = a
            .iter()
            .find(|x| x["patternString"] == "GET /api <*> ok")
            .unwrap();
        assert_eq!(spike["histogram"][(t).to_string()], 40);
        assert_eq!(spike["logSamples"].as_array().unwrap().len(), 10);
        // Suppressed, it is listed as such.
        call(
            "UpdateAnomaly",
            json!({"anomalyDetectorArn": arn, "anomalyId": fatal["anomalyId"], "suppressionType": "INFINITE"}),
        );
        let s = call(
            "ListAnomalies",
            json!({"anomalyDetectorArn": arn, "suppressionState": "SUPPRESSED"}),
        );
        assert_eq!(s["anomalies"].as_array().unwrap().len(), 1);
        assert!(l.handle(&ctx, "UpdateAnomaly", &json!({"anomalyDetectorArn": arn, "anomalyId": "nope", "suppressionType": "INFINITE"})).is_err());
    }
}
