//! Rotation through Lambda: the four steps (`createSecret`, `setSecret`, `testSecret`,
//! `finishSecret`) run by invoking the rotation function with AWS's event
//! `{"Step", "SecretId", "ClientRequestToken"}`, and scheduled rotations.
//!
//! The function does the work through the Secrets Manager API, as in AWS: `createSecret` puts
//! the new value as `AWSPENDING` under the token, `finishSecret` moves `AWSCURRENT` to it (and
//! `AWSPREVIOUS` follows). A step that fails stops the rotation and leaves `AWSPENDING` where
//! the function put it; the error is the answer of `RotateSecret`.
//!
//! A secret with rotation enabled and rules has a [`RotationSchedule`] record whose deadline
//! is absolute (`AutomaticallyAfterDays`, `rate(...)` or `cron(...)` after the last rotation);
//! the sweeper runs due rotations and records the next deadline, so a restart resumes the
//! schedule. A rotation is run at the start of its window (`Duration` is recorded, not used).

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::codec::time::civil_from_days;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext, Runtime};

use crate::model::{RotationRules, RotationSchedule, schedule_key};
use crate::{DAY_MS, PENDING, SecretsManager, SmRecord, find, not_found, uuid4};

const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

fn invalid_request(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidRequestException", message)
}

/// The first time after `from` that `rules` schedule a rotation (`None`: no schedule).
pub fn next_after(rules: &RotationRules, from: u64) -> Option<u64> {
    if let Some(d) = rules.after_days {
        return Some(from.saturating_add((d.max(1) as u64).saturating_mul(DAY_MS)));
    }
    let expr = rules.schedule.as_deref()?.trim();
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let (n, unit) = inner.trim().split_once(' ')?;
        let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
        let unit_ms = match unit.trim() {
            "day" | "days" => DAY_MS,
            "hour" | "hours" => HOUR_MS,
            _ => return None,
        };
        return Some(from.saturating_add(n.saturating_mul(unit_ms)));
    }
    let inner = expr.strip_prefix("cron(")?.strip_suffix(')')?;
    Cron::parse(inner)?.next_after(from)
}

/// An AWS cron expression: minutes hours day-of-month month day-of-week year (UTC).
struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Option<Vec<bool>>,
    months: Vec<bool>,
    weekdays: Option<Vec<bool>>,
    years: Option<Vec<bool>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One cron field as a set over `lo..=hi` (`None` for `?`); `names` map to `lo`, `lo+1`, ...
fn field(s: &str, lo: u32, hi: u32, names: &[&str]) -> Option<Option<Vec<bool>>> {
    if s == "?" {
        return Some(None);
    }
    let mut set = vec![false; hi as usize + 1];
    let value = |v: &str| -> Option<u32> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Some(lo + i as u32);
        }
        v.parse().ok().filter(|n| (lo..=hi).contains(n))
    };
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (r, st.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a > b {
            return None;
        }
        let mut v = a;
        while v <= b {
            set[v as usize] = true;
            v += step;
        }
    }
    Some(Some(set))
}

impl Cron {
    fn parse(s: &str) -> Option<Cron> {
        let f: Vec<&str> = s.split_whitespace().collect();
        if f.len() != 6 {
            return None;
        }
        let days = field(f[2], 1, 31, &[])?;
        let weekdays = field(f[4], 1, 7, &WEEKDAYS)?;
        // AWS requires `?` in one of day-of-month and day-of-week.
        if days.is_some() && weekdays.is_some() {
            return None;
        }
        Some(Cron {
            minutes: field(f[0], 0, 59, &[])??,
            hours: field(f[1], 0, 23, &[])??,
            days,
            months: field(f[3], 1, 12, &MONTHS)??,
            weekdays,
            years: if f[5] == "*" {
                None
            } else {
                let y = field(f[5], 1970, 2199, &[])??;
                Some(y)
            },
        })
    }

    fn day_matches(&self, day: i64) -> bool {
        let (y, m, d) = civil_from_days(day);
        let weekday = ((day + 4).rem_euclid(7) + 1) as usize; // 1 = Sunday
        self.years
            .as_ref()
            .is_none_or(|ys| ys.get(y as usize).copied().unwrap_or(false))
            && self.months[m as usize]
            && self.days.as_ref().is_none_or(|ds| ds[d as usize])
            && self.weekdays.as_ref().is_none_or(|ws| ws[weekday])
    }

    /// The first matching minute strictly after `from`, within ten years.
    fn next_after(&self, from: u64) -> Option<u64> {
        let start = from / MINUTE_MS + 1;
        let first_day = (start * MINUTE_MS / DAY_MS) as i64;
        for day in first_day..first_day + 3660 {
            if !self.day_matches(day) {
                continue;
            }
            for h in (0..24).filter(|h| self.hours[*h]) {
                for mi in (0..60).filter(|m| self.minutes[*m]) {
                    let t = (day as u64 * DAY_MS + h as u64 * HOUR_MS + mi as u64 * MINUTE_MS)
                        / MINUTE_MS;
                    if t >= start {
                        return Some(t * MINUTE_MS);
                    }
                }
            }
        }
        None
    }
}

impl SecretsManager {
    /// Run the rotation function's steps for `id` with `token` (all four, or `testSecret`
    /// alone when the rotation is not immediate). The answer is `RotateSecret`'s.
    pub(crate) async fn run_rotation(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        id: &str,
        function: &str,
        token: &str,
        immediately: bool,
    ) -> Result<Output, AwsError> {
        let arn = find(&self.store.snapshot(), &ctx.partition, id, self.now_ms())
            .map(|(_, s)| s.arn)
            .ok_or_else(not_found)?;
        let steps: &[&str] = if immediately {
            &["createSecret", "setSecret", "testSecret", "finishSecret"]
        } else {
            &["testSecret"]
        };
        for step in steps {
            let payload = json!({"Step": step, "SecretId": arn, "ClientRequestToken": token});
            // Lambda's neutral shape: the payload blob in base64.
            let payload = {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(payload.to_string())
            };
            // As Secrets Manager's service principal: under `ENFORCE_IAM` the function's
            // policy must let `secretsmanager.amazonaws.com` invoke it, as in AWS.
            let caller = snapstack_service::ServiceCaller {
                principal: "secretsmanager.amazonaws.com",
                source_arn: &arn,
                source_account: &ctx.partition.account,
            };
            let out = rt
                .invoke_as_service(
                    ctx,
                    caller,
                    "lambda",
                    "Invoke",
                    json!({"FunctionName": function, "Payload": payload}),
                )
                .await
                .map_err(|e| {
                    if e.code == "AccessDenied" {
                        crate::extras::cannot_invoke()
                    } else {
                        invalid_request(e.message)
                    }
                })?;
            if out.get("FunctionError").is_some() {
                let detail = out
                    .get("Payload")
                    .and_then(Value::as_str)
                    .and_then(|p| {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD.decode(p).ok()
                    })
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| {
                        v.get("errorMessage")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                return Err(invalid_request(format!(
                    "The rotation function failed at step {step}: {detail}"
                )));
            }
        }
        self.mutate(ctx, id, false, |sec, now| {
            if immediately {
                sec.rotated_ms = Some(now);
            }
            Ok(json!({"ARN": sec.arn, "Name": sec.name, "VersionId": token}))
        })
    }

    /// Record the next scheduled rotation of `id` after one ran now (or was configured), or
    /// remove the schedule when rotation has none.
    pub(crate) fn schedule_rotation(&self, ctx: &RequestContext, id: &str, error: Option<String>) {
        let now = self.now_ms();
        let p = &ctx.partition;
        self.store.write(|txn| {
            let Some((_, sec)) = crate::model::find_in(|k| txn.get(k), p, id, now) else {
                return;
            };
            let key = schedule_key(p, &sec.name);
            let next = sec
                .rotation_rules
                .as_ref()
                .filter(|_| sec.rotation_enabled && sec.rotation_lambda.is_some())
                .and_then(|r| next_after(r, now));
            match next {
                Some(due) => txn.insert(
                    key,
                    SmRecord::Rotation(RotationSchedule {
                        name: sec.name.clone(),
                        due_ms: due,
                        last_attempt_ms: Some(now),
                        last_error: error,
                    }),
                ),
                None => txn.remove(&key),
            };
        });
    }

    /// The schedules due at `now`: `(partition, secret name)`.
    pub fn due_rotations(&self, now: u64) -> Vec<(Partition, String)> {
        self.store
            .snapshot()
            .iter()
            .filter_map(|(k, r)| match r {
                SmRecord::Rotation(s) if s.due_ms <= now => {
                    let parts = k.parts()?;
                    let (
                        Some(snapstack_engine::key::Part::Str(a)),
                        Some(snapstack_engine::key::Part::Str(r)),
                    ) = (parts.first(), parts.get(1))
                    else {
                        return None;
                    };
                    Some((Partition::new(a.clone(), r.clone()), s.name.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Run one due scheduled rotation (the sweeper's part). A rotation left pending by a
    /// failed attempt is resumed with its token, as AWS retries it.
    pub async fn rotate_scheduled(&self, rt: &dyn Runtime, p: &Partition, name: &str) {
        let mut ctx = RequestContext::from_scope(None);
        ctx.partition = p.clone();
        let now = self.now_ms();
        let Some((_, sec)) = find(&self.store.snapshot(), p, name, now) else {
            self.store.write(|txn| txn.remove(&schedule_key(p, name)));
            return;
        };
        let Some(function) = sec
            .rotation_lambda
            .clone()
            .filter(|_| sec.rotation_enabled && !sec.is_deleted())
        else {
            self.store.write(|txn| txn.remove(&schedule_key(p, name)));
            return;
        };
        let token = sec
            .staged(PENDING)
            .filter(|v| !v.stages.iter().any(|s| s == crate::CURRENT))
            .map(|v| v.id.clone())
            .unwrap_or_else(uuid4);
        let result = self
            .run_rotation(rt, &ctx, name, &function, &token, true)
            .await;
        if let Err(e) = &result {
            tracing::info!(secret = name, error = %e.message, "a scheduled rotation failed");
        }
        self.schedule_rotation(&ctx, name, result.err().map(|e| e.message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(after: Option<i64>, schedule: Option<&str>) -> RotationRules {
        RotationRules {
            after_days: after,
            duration: None,
            schedule: schedule.map(str::to_string),
        }
    }

    // 2026-12-06T20:00:00Z, a Sunday.
    const T: u64 = 1_796_587_200_000;

    #[test]
    fn schedules() {
        assert_eq!(next_after(&rules(Some(30), None), T), Some(T + 30 * DAY_MS));
        assert_eq!(
            next_after(&rules(None, Some("rate(10 days)")), T),
            Some(T + 10 * DAY_MS)
        );
        assert_eq!(
            next_after(&rules(None, Some("rate(4 hours)")), T),
            Some(T + 4 * HOUR_MS)
        );
        // Every day at 16:00: tomorrow.
        assert_eq!(
            next_after(&rules(None, Some("cron(0 16 * * ? *)")), T),
            Some(T + DAY_MS - 4 * HOUR_MS)
        );
        // The first of each month at 08:30.
        let first = next_after(&rules(None, Some("cron(30 8 1 * ? *)")), T).unwrap();
        assert_eq!(civil_from_days((first / DAY_MS) as i64), (2027, 1, 1));
        assert_eq!(first % DAY_MS, 8 * HOUR_MS + 30 * MINUTE_MS);
        // Saturdays at midnight: six days later.
        assert_eq!(
            next_after(&rules(None, Some("cron(0 0 ? * SAT *)")), T),
            Some(T - 20 * HOUR_MS + 6 * DAY_MS)
        );
        assert_eq!(next_after(&rules(None, Some("rate(0 days)")), T), None);
        assert_eq!(next_after(&rules(None, Some("cron(0 16 * *)")), T), None);
        assert_eq!(next_after(&rules(None, Some("bogus")), T), None);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
