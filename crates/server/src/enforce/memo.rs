//! Decisions remembered per identity. A request whose evaluation reads no condition key (no
//! policy of the identity, and not the resource's policy, has a condition on the request's
//! context) is decided by the identity's policies, the action, the resource, the resource's
//! policy, and the account alone. Those decisions are remembered in the identity's
//! [`super::principal::Resolved`], which is itself replaced whenever IAM or STS change, so a
//! remembered decision never outlives the policies that made it. The resource policy is named
//! by its `Arc` (a policy changed is a new `Arc`) and held by the entry, so that its address
//! cannot be reused by another policy while the entry exists.
//!
//! A question may also be asked of every resource under a prefix (all the objects of one S3
//! bucket, whose keys are distinct resources): answered only when every policy involved
//! decides all of them alike ([`snapstack_policy::Policy::resources_alike_under`]), so that
//! requests for many keys are decided once, not once per key.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use super::deny::Reason;
use super::lookup::ResourcePolicy;

/// The most decisions one identity remembers (beyond it, it starts over).
const MAX_DECISIONS: usize = 512;

/// What a decision was made of, besides the identity.
pub struct Question<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub account: &'a str,
    pub policy: Option<&'a Arc<ResourcePolicy>>,
    pub required: bool,
    /// `resource` is a prefix: the question is asked of every resource under it.
    pub under: bool,
}

impl Question<'_> {
    fn policy_id(&self) -> usize {
        self.policy.map_or(0, |p| Arc::as_ptr(p) as usize)
    }

    fn hash(&self) -> u64 {
        // FxHash: the entries are one identity's own, keyed by what it asked; no flooding to
        // fear from a hasher that is not DoS-resistant beyond its bounded size.
        let mut h = rustc_hash::FxHasher::default();
        self.action.hash(&mut h);
        self.resource.hash(&mut h);
        self.account.hash(&mut h);
        self.policy_id().hash(&mut h);
        self.required.hash(&mut h);
        self.under.hash(&mut h);
        h.finish()
    }
}

struct Entry {
    action: String,
    resource: String,
    account: String,
    /// Keeps the policy's address from being reused while the entry exists.
    policy: Option<Arc<ResourcePolicy>>,
    required: bool,
    under: bool,
    /// `None`: the resources under the prefix are not all decided alike.
    decision: Option<Option<Reason>>,
}

impl Entry {
    fn answers(&self, q: &Question<'_>) -> bool {
        self.action == q.action
            && self.resource == q.resource
            && self.account == q.account
            && self.required == q.required
            && self.under == q.under
            && self.policy.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize) == q.policy_id()
    }
}

/// One identity's remembered decisions: `None` allowed, `Some(reason)` denied.
#[derive(Default)]
pub struct Decisions {
    /// By [`Question::hash`], already a hash: buckets it with FxHash rather than hash it again
    /// with SipHash.
    entries: Mutex<rustc_hash::FxHashMap<u64, Vec<Entry>>>,
}

impl std::fmt::Debug for Decisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decisions").finish_non_exhaustive()
    }
}

impl Decisions {
    /// The decision of `q`, made by `decide` once and remembered.
    pub fn get_or_decide(
        &self,
        q: &Question<'_>,
        decide: impl FnOnce() -> Option<Reason>,
    ) -> Option<Reason> {
        debug_assert!(!q.under);
        self.remembered(q, || Some(decide()))
            .unwrap_or_else(|| unreachable!("an exact question always has an answer"))
    }

    /// The decision of every resource under the prefix `q.resource`: `decide` answers `None`
    /// when they are not all decided alike (remembered too, so that it is asked once).
    pub fn get_or_decide_under(
        &self,
        q: &Question<'_>,
        decide: impl FnOnce() -> Option<Option<Reason>>,
    ) -> Option<Option<Reason>> {
        debug_assert!(q.under);
        self.remembered(q, decide)
    }

    fn remembered(
        &self,
        q: &Question<'_>,
        decide: impl FnOnce() -> Option<Option<Reason>>,
    ) -> Option<Option<Reason>> {
        let h = q.hash();
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = entries
                .get(&h)
                .and_then(|v| v.iter().find(|e| e.answers(q)))
            {
                return e.decision;
            }
        }
        let decision = decide();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_DECISIONS {
            entries.clear();
        }
        let bucket = entries.entry(h).or_default();
        if !bucket.iter().any(|e| e.answers(q)) {
            bucket.push(Entry {
                action: q.action.to_string(),
                resource: q.resource.to_string(),
                account: q.account.to_string(),
                policy: q.policy.cloned(),
                required: q.required,
                under: q.under,
                decision,
            });
        }
        decision
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_policy::Source;

    fn q<'a>(action: &'a str, policy: Option<&'a Arc<ResourcePolicy>>) -> Question<'a> {
        Question {
            action,
            resource: "arn:aws:s3:::b/k",
            account: "000000000000",
            policy,
            required: false,
            under: false,
        }
    }

    #[test]
    fn a_decision_is_made_once_per_question() {
        let d = Decisions::default();
        let mut made = 0;
        for _ in 0..3 {
            assert_eq!(
                d.get_or_decide(&q("s3:GetObject", None), || {
                    made += 1;
                    None
                }),
                None
            );
        }
        assert_eq!(made, 1);
        let denied = Some(Reason::NoAllow(Source::Identity));
        assert_eq!(d.get_or_decide(&q("s3:PutObject", None), || denied), denied);
        assert_eq!(d.get_or_decide(&q("s3:PutObject", None), || None), denied);
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn another_resource_policy_is_another_question() {
        let d = Decisions::default();
        let p1 = Arc::new(ResourcePolicy {
            policy: None,
            arn: None,
        });
        let p2 = Arc::new(ResourcePolicy {
            policy: None,
            arn: None,
        });
        assert_eq!(
            d.get_or_decide(&q("s3:GetObject", Some(&p1)), || None),
            None
        );
        let denied = Some(Reason::ExplicitDeny(Source::Resource));
        assert_eq!(
            d.get_or_decide(&q("s3:GetObject", Some(&p2)), || denied),
            denied
        );
        assert_eq!(d.get_or_decide(&q("s3:GetObject", None), || denied), denied);
        assert_eq!(
            d.get_or_decide(&q("s3:GetObject", Some(&p1)), || denied),
            None
        );
    }

    #[test]
    fn a_prefix_question_is_its_own_and_remembers_that_it_depends() {
        let d = Decisions::default();
        let under = Question {
            resource: "arn:aws:s3:::b/",
            under: true,
            ..q("s3:GetObject", None)
        };
        let exact = Question {
            resource: "arn:aws:s3:::b/",
            ..q("s3:GetObject", None)
        };
        let mut asked = 0;
        for _ in 0..2 {
            assert_eq!(
                d.get_or_decide_under(&under, || {
                    asked += 1;
                    None
                }),
                None
            );
        }
        assert_eq!(asked, 1);
        // The key `b/` itself (an object named by the empty key) is another question.
        let denied = Some(Reason::NoAllow(Source::Identity));
        assert_eq!(d.get_or_decide(&exact, || denied), denied);
        assert_eq!(d.get_or_decide_under(&under, || Some(None)), None);
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn it_is_bounded() {
        let d = Decisions::default();
        let actions: Vec<String> = (0..2 * MAX_DECISIONS).map(|i| format!("s3:A{i}")).collect();
        for a in &actions {
            d.get_or_decide(&q(a, None), || None);
        }
        assert!(d.len() <= MAX_DECISIONS);
    }
}
