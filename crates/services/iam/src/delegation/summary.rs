//! `GetHumanReadableSummary`: a delegation request's permissions in words.
//!
//! AWS generates this text with a language model; this emulator renders it deterministically
//! from the request and its rendered permission policy, following the layout of the IAM
//! console's policy summary: what is asked and for how long, then each statement as its
//! effect, its actions grouped by service (the service prefix, in the order first named), the
//! resources it applies to, and its conditions, in the document's order. The same request
//! always gives the same text. Only English is rendered (`en-US`, the default); the console's
//! other languages answer `NOT_AVAILABLE`.

use snapstack_policy::{Effect, Policy};

use super::DelegationRequest;

/// The locales of the AWS Management Console's supported languages.
pub const LOCALES: &[&str] = &[
    "en-US", "de-DE", "es-ES", "fr-FR", "id-ID", "it-IT", "ja-JP", "ko-KR", "pt-BR", "tr-TR",
    "zh-CN", "zh-TW",
];

/// The most summary characters (the model's bound on `SummaryContent`).
const MAX_SUMMARY: usize = 10_000;

/// A duration in seconds as words (`2 hours 30 minutes`).
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let unit = |n: u64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(unit(h, "hour"));
    }
    if m > 0 {
        parts.push(unit(m, "minute"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(unit(s, "second"));
    }
    parts.join(" ")
}

/// A condition operator in words (`StringEquals` → `equals`); others as written.
fn operator(name: &str) -> String {
    let (set, rest) = match name.split_once(':') {
        Some((set, rest)) => (Some(set), rest),
        None => (None, name),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let words = match base {
        "StringEquals" | "NumericEquals" | "DateEquals" | "Bool" | "BinaryEquals" => "equals",
        "StringNotEquals" | "NumericNotEquals" | "DateNotEquals" => "does not equal",
        "StringEqualsIgnoreCase" => "equals (ignoring case)",
        "StringNotEqualsIgnoreCase" => "does not equal (ignoring case)",
        "StringLike" => "matches",
        "StringNotLike" => "does not match",
        "ArnEquals" | "ArnLike" => "is the ARN",
        "ArnNotEquals" | "ArnNotLike" => "is not the ARN",
        "NumericLessThan" => "is less than",
        "NumericLessThanEquals" => "is at most",
        "NumericGreaterThan" => "is greater than",
        "NumericGreaterThanEquals" => "is at least",
        "DateLessThan" => "is before",
        "DateLessThanEquals" => "is at or before",
        "DateGreaterThan" => "is after",
        "DateGreaterThanEquals" => "is at or after",
        "IpAddress" => "is in",
        "NotIpAddress" => "is not in",
        "Null" => "is absent",
        other => other,
    };
    let mut out = match set {
        Some("ForAllValues") => format!("all values {words}"),
        Some("ForAnyValue") => format!("any value {words}"),
        _ => words.to_string(),
    };
    if if_exists {
        out.push_str(" (if present)");
    }
    out
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

/// One statement's lines.
fn statement(n: usize, s: &snapstack_policy::Statement, out: &mut Vec<String>) {
    let verb = match s.effect {
        Effect::Allow => "Allows",
        Effect::Deny => "Denies",
    };
    match &s.action {
        Some(a) => {
            // Actions grouped by service prefix, in the order first named.
            let mut services: Vec<(String, Vec<String>)> = Vec::new();
            for pattern in &a.values.items {
                let (service, name) = pattern.split_once(':').unwrap_or(("*", pattern.as_str()));
                let service = service.to_ascii_lowercase();
                match services.iter_mut().find(|(s, _)| *s == service) {
                    Some((_, names)) => names.push(name.to_string()),
                    None => services.push((service, vec![name.to_string()])),
                }
            }
            let what = services
                .iter()
                .map(|(service, names)| {
                    if names.iter().any(|n| n == "*") || service == "*" {
                        format!("all {service} actions")
                    } else {
                        format!("{service}: {}", names.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            if a.negated {
                out.push(format!("{n}. {verb} every action except {what}"));
            } else {
                out.push(format!("{n}. {verb} {what}"));
            }
        }
        None => out.push(format!("{n}. {verb} no actions")),
    }
    if let Some(r) = &s.resource {
        let all = r.values.items.iter().any(|x| x == "*");
        let line = match (r.negated, all) {
            (false, true) => "on all resources".to_string(),
            (false, false) => format!("on {}", list(&r.values.items)),
            (true, _) => format!("on every resource except {}", list(&r.values.items)),
        };
        out.push(format!("   {line}"));
    }
    for c in &s.conditions {
        let values = list(&c.values.items);
        let line = if c.operator_name.trim_end_matches("IfExists") == "Null" {
            let absent = c
                .values
                .items
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true"));
            if absent {
                format!("when {} is absent", c.key)
            } else {
                format!("when {} is present", c.key)
            }
        } else {
            format!("when {} {} {values}", c.key, operator(&c.operator_name))
        };
        out.push(format!("   {line}"));
    }
}

/// The summary of a delegation request whose permission policy is `policy`.
pub fn render(r: &DelegationRequest, policy: &Policy) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "{} (AWS account {}) requests temporary access to {} for {}, starting when the delegation token is sent.",
        r.requestor_name,
        r.requestor_account,
        r.owner_account
            .as_deref()
            .map_or("an AWS account".to_string(), |a| format!("AWS account {a}")),
        duration(u64::from(r.session_duration)),
    ));
    if !r.description.is_empty() {
        out.push(format!("Description: {}", r.description));
    }
    if let Some(m) = r.request_message.as_deref().filter(|m| !m.is_empty()) {
        out.push(format!("Message from the requestor: {m}"));
    }
    out.push(format!(
        "Permissions requested (policy template {}):",
        r.template_arn
    ));
    for (i, s) in policy.statements.iter().enumerate() {
        statement(i + 1, s, &mut out);
    }
    if !r.boundary_arns.is_empty() {
        out.push(format!(
            "Roles created with these permissions must have one of these permissions boundaries: {}",
            list(&r.boundary_arns)
        ));
    }
    if r.only_send_by_owner {
        out.push("Only the owner of the request can send the delegation token.".to_string());
    }
    let mut text = out.join("\n");
    if text.len() > MAX_SUMMARY {
        let mut end = MAX_SUMMARY;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_operators_read_as_words() {
        assert_eq!(duration(3600), "1 hour");
        assert_eq!(duration(9000), "2 hours 30 minutes");
        assert_eq!(duration(300), "5 minutes");
        assert_eq!(duration(61), "1 minute 1 second");
        assert_eq!(operator("StringEquals"), "equals");
        assert_eq!(
            operator("ForAnyValue:StringLikeIfExists"),
            "any value matches (if present)"
        );
        assert_eq!(operator("SomethingNew"), "SomethingNew");
    }
}
