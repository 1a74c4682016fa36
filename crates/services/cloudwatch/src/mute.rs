//! Alarm mute rules silence actions: while a rule targeting an alarm is in one of its windows
//! (a fire time of its `cron(...)` or `at(...)` schedule plus its duration, between its
//! StartDate and ExpireDate), the alarm's state changes are recorded as usual but its actions
//! are not run; the history records that they were muted. Windows are computed in UTC (a
//! rule's `Timezone` is stored, not applied).

use serde_json::Value;
use snapstack_engine::{Partition, Txn};

use crate::schedule;
use crate::*;

pub(crate) const MUTE_RULE: &str = "mute-rule";

/// Whether a mute rule's document mutes at `now` (ignoring its targets).
pub(crate) fn in_window(d: &Value, now: u64) -> bool {
    let ms = |k: &str| d[k].as_f64().map(|s| (s * 1000.0) as u64);
    if ms("StartDate").is_some_and(|s| now < s) || ms("ExpireDate").is_some_and(|e| now >= e) {
        return false;
    }
    let Some(sched) = d.pointer("/Rule/Schedule") else {
        return false;
    };
    let (Some(expr), Some(dur)) = (
        sched["Expression"].as_str(),
        sched["Duration"].as_str().and_then(schedule::duration_ms),
    ) else {
        return false;
    };
    schedule::parse(expr).is_ok_and(|s| s.within(now, dur))
}

/// The name of a rule that mutes `alarm` at `now`, if any.
pub(crate) fn muted_by(
    txn: &Txn<'_, CwRecord>,
    p: &Partition,
    alarm: &str,
    now: u64,
) -> Option<String> {
    txn.scan_prefix(&resources_prefix(p, MUTE_RULE))
        .find_map(|(_, r)| {
            let CwRecord::Resource(r) = r else {
                return None;
            };
            let d: Value = serde_json::from_str(&r.body).ok()?;
            let targets = d.pointer("/MuteTargets/AlarmNames")?.as_array()?;
            (targets.iter().any(|t| t == alarm) && in_window(&d, now)).then(|| r.id.clone())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn windows() {
        // 2024-01-01T00:00:00Z.
        let day = 1_704_067_200_000u64;
        let d =
            json!({"Rule": {"Schedule": {"Expression": "cron(0 2 * * ? *)", "Duration": "PT2H"}}});
        assert!(!in_window(&d, day + 3_600_000));
        assert!(in_window(&d, day + 2 * 3_600_000));
        assert!(in_window(&d, day + 3 * 3_600_000 + 59 * 60_000));
        assert!(!in_window(&d, day + 4 * 3_600_000));
        let mut e = d.clone();
        e["ExpireDate"] = json!((day + 2 * 3_600_000 + 60_000) as f64 / 1000.0);
        assert!(!in_window(&e, day + 3 * 3_600_000));
        let once = json!({"Rule": {"Schedule": {"Expression": "at(2024-01-01T05:00:00)", "Duration": "PT30M"}}});
        assert!(in_window(&once, day + 5 * 3_600_000 + 60_000));
        assert!(!in_window(&once, day + 6 * 3_600_000));
    }
}
