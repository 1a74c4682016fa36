//! Who may act on a queue. A queue belongs to the account in its URL (or ARN); a caller of
//! another account may act on it only as SQS allows across accounts: with an action the queue's
//! `Policy` grants to the caller's account (or to everyone), and never for the actions SQS keeps
//! to the owner ("Cross-account permissions don't apply to the following actions", SQS
//! Developer Guide, Limitations of Amazon SQS custom policies).
//!
//! Otherwise the answer is SQS's: `403 AccessDenied` ("Access to the resource ... is denied.")
//! for a request by queue URL or ARN, and `AWS.SimpleQueueService.NonExistentQueue` ("The
//! specified queue does not exist or you do not have access to it.") for `GetQueueUrl`, which
//! must not tell whether another account's queue exists.
//!
//! The policy evaluation is the part of IAM's that a caller known only by its account can meet:
//! an explicit `Deny` wins over an `Allow`; `Principal` `"*"`, `{"AWS": "*"}`, the account id or
//! `arn:aws:iam::<account>:root` match; `Action` and `Resource` may use `*` and `?`; a statement
//! with a `Condition`, `NotPrincipal`, `NotAction` or `NotResource` is not evaluated (it grants
//! nothing and denies nothing), since the emulator has no request context to evaluate it with.

use serde_json::Value;

use super::error::SqsError;
use super::model::{self, Rec};
use super::queue::{self, arn, parse_arn, parse_url};
use super::{Req, Sqs};
use snapstack_engine::Partition;

/// Actions no other account may perform, whatever the policy says.
const OWNER_ONLY: &[&str] = &[
    "AddPermission",
    "CancelMessageMoveTask",
    "CreateQueue",
    "DeleteQueue",
    "ListMessageMoveTasks",
    "ListQueues",
    "ListQueueTags",
    "RemovePermission",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "TagQueue",
    "UntagQueue",
];

/// The IAM action an operation needs (a batch needs its single operation's).
fn iam_action(op: &str) -> &str {
    match op {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    }
}

impl Sqs {
    /// Refuse an operation on a queue of another account that the queue's policy does not open
    /// to the caller. Inputs this cannot read (a malformed URL or ARN) are left to the
    /// operation, which reports them.
    pub(super) fn authorize(&self, req: &Req<'_>, op: &str, input: &Value) -> Result<(), SqsError> {
        let caller = req.ctx.account();
        if op == "GetQueueUrl" {
            let owner = input.get("QueueOwnerAWSAccountId").and_then(Value::as_str);
            let name = input.get("QueueName").and_then(Value::as_str);
            if let (Some(owner), Some(name)) = (owner, name)
                && owner != caller
            {
                let p = Partition::new(owner, req.ctx.region());
                if !self.policy_allows(&p, name, caller, op) {
                    return Err(SqsError::no_queue_or_no_access());
                }
            }
            return Ok(());
        }
        if let Some(url) = input.get("QueueUrl").and_then(Value::as_str)
            && let Ok((p, name)) = parse_url(req, url)
            && p.account != caller
        {
            let granted = !OWNER_ONLY.contains(&op) && self.policy_allows(&p, &name, caller, op);
            if !granted {
                return Err(SqsError::access_denied(&queue::url(req, &p, &name)));
            }
        }
        // Operations by ARN (message move tasks) are the owner's alone.
        for field in ["SourceArn", "DestinationArn"] {
            if let Some(a) = input.get(field).and_then(Value::as_str)
                && let Some((p, _)) = parse_arn(a)
                && p.account != caller
            {
                return Err(SqsError::access_denied(a));
            }
        }
        Ok(())
    }

    /// Whether the policy of queue `name` in `p` lets a caller of account `caller` perform `op`.
    fn policy_allows(&self, p: &Partition, name: &str, caller: &str, op: &str) -> bool {
        let snap = self.store.snapshot();
        let Some(Rec::Queue(q)) = snap.get(&model::queue_key(p, name)) else {
            return false;
        };
        let Some(policy) = q.attributes.get("Policy") else {
            return false;
        };
        evaluate(policy, caller, iam_action(op), &arn(p, name))
    }
}

/// Evaluate a queue policy for a caller known by its account: allowed only by a matching
/// `Allow` and no matching `Deny`.
pub fn evaluate(policy: &str, caller: &str, action: &str, resource: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let mut allowed = false;
    for s in statements {
        if ["Condition", "NotPrincipal", "NotAction", "NotResource"]
            .iter()
            .any(|k| s.get(k).is_some())
        {
            continue;
        }
        let matches = principal_matches(s.get("Principal"), caller)
            && any_matches(s.get("Action"), |a| {
                a == "*"
                    || (a.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("sqs:"))
                        && glob(&a[4..].to_ascii_lowercase(), &action.to_ascii_lowercase()))
            })
            && (s.get("Resource").is_none()
                || any_matches(s.get("Resource"), |r| glob(r, resource)));
        if !matches {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return false,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    allowed
}

fn principal_matches(p: Option<&Value>, caller: &str) -> bool {
    let root = format!("arn:aws:iam::{caller}:root");
    let one = |v: &str| v == "*" || v == caller || v == root;
    match p {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(m)) => m.get("AWS").is_some_and(|aws| any_matches(Some(aws), one)),
        _ => false,
    }
}

/// Whether `v` (a string or a list of strings) has an element `f` accepts.
fn any_matches(v: Option<&Value>, f: impl Fn(&str) -> bool) -> bool {
    match v {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(f),
        _ => false,
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one. Iterative (no recursion a
/// policy could deepen).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "arn:aws:sqs:us-east-1:222222222222:q";

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("send*", "sendmessage"));
        assert!(glob("arn:aws:sqs:*:222222222222:?", Q));
        assert!(!glob("arn:aws:sqs:*:222222222222:x*", Q));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn policies() {
        let allow = |principal: Value, action: Value| {
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": principal, "Action": action, "Resource": Q}]})
                .to_string()
        };
        let a = "111111111111";
        let p = allow(
            serde_json::json!({"AWS": "arn:aws:iam::111111111111:root"}),
            serde_json::json!("sqs:SendMessage"),
        );
        assert!(evaluate(&p, a, "SendMessage", Q));
        assert!(!evaluate(&p, a, "PurgeQueue", Q));
        assert!(!evaluate(&p, "333333333333", "SendMessage", Q));
        let p = allow(serde_json::json!("*"), serde_json::json!(["SQS:*"]));
        assert!(evaluate(&p, a, "PurgeQueue", Q));
        let p = allow(
            serde_json::json!({"AWS": ["111111111111"]}),
            serde_json::json!("sqs:Receive*"),
        );
        assert!(evaluate(&p, a, "ReceiveMessage", Q));
        assert!(!evaluate(&p, a, "SendMessage", Q));
        // A Deny wins; a Condition is not evaluated, so its statement grants nothing.
        let p = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:*"},
            {"Effect": "Deny", "Principal": {"AWS": a}, "Action": "sqs:PurgeQueue"},
        ]})
        .to_string();
        assert!(evaluate(&p, a, "SendMessage", Q));
        assert!(!evaluate(&p, a, "PurgeQueue", Q));
        let p = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        ]})
        .to_string();
        assert!(!evaluate(&p, a, "SendMessage", Q));
        assert!(!evaluate("not json", a, "SendMessage", Q));
    }
}
