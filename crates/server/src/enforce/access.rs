//! Last-accessed tracking: every authenticated request of an IAM identity (a user, or a role
//! through its sessions) is when that identity last used the service, which IAM's
//! service-last-accessed reports and access keys' last use answer. Recorded through IAM's
//! internal `RecordAccess` at most once per identity, service (and tracked action) and minute,
//! off the request's path (a spawned task), so that the hot path costs one map lookup.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;
use snapstack_policy::Caller;
use snapstack_service::{RequestContext, Runtime};

use super::principal::{Principal, Resolved};
use crate::gateway::App;

/// How often one identity's use of one service (or tracked action) is written: AWS's own
/// last-accessed data is no finer than this.
pub const EVERY_MS: u64 = 60_000;
/// The most (identity, service) pairs remembered (beyond it the map starts over; the worst
/// case is one extra write per pair).
const MAX_TRACKED: usize = 10_000;

/// The services whose actions are tracked one by one (`ACTION_LEVEL` reports), as AWS tracks
/// action-level last access only for some services.
pub fn tracks_actions(service: &str) -> bool {
    matches!(service, "s3" | "iam" | "lambda" | "ec2")
}

#[derive(Default)]
pub struct Recorder {
    /// `service-or-action` → identity ARN → when last written (epoch ms).
    last: Mutex<HashMap<String, HashMap<String, u64>>>,
}

/// The IAM entity a principal's use is tracked for: the user, or the role of a role session.
pub fn entity_of(p: &Principal) -> Option<&str> {
    if p.root {
        return None;
    }
    match &p.caller {
        Caller::Aws {
            role_arn: Some(role),
            arn,
            ..
        } if arn.contains(":assumed-role/") => Some(role.as_str()),
        Caller::Aws {
            role_arn: Some(user),
            ..
        } => Some(user.as_str()),
        Caller::Aws { arn, .. } if arn.contains(":user/") => Some(arn.as_str()),
        _ => None,
    }
}

impl Recorder {
    /// Note that `p` used `action` (`s3:GetObject`) of `service` at `now_secs`; written to IAM when the
    /// last write of the pair is a minute old or more.
    pub fn record(
        &self,
        app: &App,
        ctx: &RequestContext,
        r: &Resolved,
        service: &str,
        action: &str,
        now_secs: i64,
    ) {
        let now = now_secs.max(0) as u64 * 1000;
        let tracked = if tracks_actions(service) {
            action
        } else {
            service
        };
        // This identity's own recent notes first: no shared lock, no hashing.
        if r.accessed.recent(tracked, now) {
            return;
        }
        r.accessed.note(tracked, now);
        let p = &r.principal;
        let Some(entity) = entity_of(p) else {
            return;
        };
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = last.get(tracked).and_then(|m| m.get(entity))
                && now.saturating_sub(*at) < EVERY_MS
            {
                return;
            }
            if last.values().map(HashMap::len).sum::<usize>() >= MAX_TRACKED {
                last.clear();
            }
            last.entry(tracked.to_string())
                .or_default()
                .insert(entity.to_string(), now);
        }
        let key = ctx.access_key.clone();
        let input = json!({
            "Account": p.account,
            "Entity": entity,
            "Service": service,
            "Action": tracks_actions(service).then_some(action),
            "Region": ctx.region(),
            "AccessKeyId": key.starts_with("AKIA").then_some(key),
            "Time": now,
        });
        let rt = app.runtime.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = rt
                .invoke(&ctx, "iam", snapstack_iam::lastaccess::RECORD_ACCESS, input)
                .await;
        });
    }
}

/// The most pairs one identity remembers noting.
const MAX_NOTED: usize = 64;

/// What one identity (a [`Resolved`]) noted last, by service or action: a pre-filter before
/// the [`Recorder`]'s shared map, which still decides across identities.
#[derive(Debug, Default)]
pub struct Noted(Mutex<Vec<(String, u64)>>);

impl Noted {
    /// Whether `tracked` was noted less than [`EVERY_MS`] before `now`.
    fn recent(&self, tracked: &str, now: u64) -> bool {
        let noted = self.0.lock().unwrap_or_else(|e| e.into_inner());
        noted
            .iter()
            .any(|(t, at)| t == tracked && now.saturating_sub(*at) < EVERY_MS)
    }

    fn note(&self, tracked: &str, now: u64) {
        let mut noted = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match noted.iter_mut().find(|(t, _)| t == tracked) {
            Some((_, at)) => *at = now,
            None => {
                if noted.len() >= MAX_NOTED {
                    noted.remove(0);
                }
                noted.push((tracked.to_string(), now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(arn: &str, caller: Caller, root: bool) -> Principal {
        Principal {
            arn: arn.into(),
            account: "000000000000".into(),
            user_id: "AIDA".into(),
            caller,
            root,
            identity: Vec::new(),
            boundary: None,
            session: Vec::new(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn entities_are_users_and_roles() {
        let user = "arn:aws:iam::000000000000:user/path/alice";
        assert_eq!(
            entity_of(&principal(user, Caller::aws(user), false)),
            Some(user)
        );
        let session = "arn:aws:sts::000000000000:assumed-role/r/s";
        let role = "arn:aws:iam::000000000000:role/r";
        assert_eq!(
            entity_of(&principal(session, Caller::session(session, role), false)),
            Some(role)
        );
        let root = "arn:aws:iam::000000000000:root";
        assert_eq!(entity_of(&principal(root, Caller::aws(root), true)), None);
        assert!(tracks_actions("s3") && !tracks_actions("dynamodb"));
    }

    #[test]
    fn an_identity_notes_each_pair_once_a_minute_and_boundedly() {
        let n = Noted::default();
        assert!(!n.recent("dynamodb", 1_000));
        n.note("dynamodb", 1_000);
        assert!(n.recent("dynamodb", 1_000 + EVERY_MS - 1));
        assert!(!n.recent("dynamodb", 1_000 + EVERY_MS));
        assert!(!n.recent("s3:GetObject", 1_000));
        for i in 0..2 * MAX_NOTED {
            n.note(&format!("s3:A{i}"), 2_000);
        }
        assert!(n.0.lock().unwrap().len() <= MAX_NOTED);
        assert!(!n.recent("dynamodb", 2_000), "the oldest note went first");
    }
}
