//! Records as Lambda's outputs (the model's neutral shape): FunctionConfiguration,
//! AliasConfiguration.

use serde_json::{Map, Value, json};
use snapstack_service::RequestContext;

use crate::model::{Alias, Config};
use crate::names::function_arn;

/// The extras member holding an image function's `ImageUri` (private: not an output member).
pub const IMAGE_URI: &str = "_ImageUri";

/// Lambda's `LastModified`: `2024-01-01T12:00:00.000+0000`.
pub fn last_modified(ms: u64) -> String {
    let s = snapstack_protocol::codec::time::iso8601(ms as i64, true);
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}+0000"),
        None => s,
    }
}

/// The ARN a configuration is reported under: unqualified for `$LATEST`, else with its version.
pub fn config_arn(ctx: &RequestContext, name: &str, c: &Config) -> String {
    if c.version == "$LATEST" {
        function_arn(ctx, name, None)
    } else {
        function_arn(ctx, name, Some(&c.version))
    }
}

pub fn configuration(ctx: &RequestContext, name: &str, c: &Config) -> Value {
    let mut o = Map::new();
    o.insert("FunctionName".into(), json!(name));
    o.insert("FunctionArn".into(), json!(config_arn(ctx, name, c)));
    if !c.runtime.is_empty() {
        o.insert("Runtime".into(), json!(c.runtime));
    }
    o.insert("Role".into(), json!(c.role));
    if !c.handler.is_empty() {
        o.insert("Handler".into(), json!(c.handler));
    }
    o.insert("CodeSize".into(), json!(c.code_size));
    o.insert("Description".into(), json!(c.description));
    o.insert("Timeout".into(), json!(c.timeout));
    o.insert("MemorySize".into(), json!(c.memory));
    o.insert(
        "LastModified".into(),
        json!(last_modified(c.last_modified_ms)),
    );
    o.insert("CodeSha256".into(), json!(c.code_sha256));
    o.insert("Version".into(), json!(c.version));
    if !c.env.is_empty() {
        let vars: Map<String, Value> = c.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        o.insert("Environment".into(), json!({ "Variables": vars }));
    }
    o.insert("TracingConfig".into(), json!({"Mode": "PassThrough"}));
    o.insert("RevisionId".into(), json!(c.revision_id));
    o.insert("State".into(), json!("Active"));
    o.insert("LastUpdateStatus".into(), json!("Successful"));
    o.insert("PackageType".into(), json!("Zip"));
    o.insert("Architectures".into(), json!(c.architectures));
    o.insert("EphemeralStorage".into(), json!({"Size": 512}));
    o.insert(
        "SnapStart".into(),
        json!({"ApplyOn": "None", "OptimizationStatus": "Off"}),
    );
    o.insert(
        "LoggingConfig".into(),
        json!({"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{name}")}),
    );
    if let Some(dlq) = &c.dead_letter_arn {
        o.insert("DeadLetterConfig".into(), json!({ "TargetArn": dlq }));
    }
    if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(&c.extra) {
        for (k, v) in extra {
            if !k.starts_with('_') {
                o.insert(k, v);
            }
        }
    }
    Value::Object(o)
}

pub fn alias(ctx: &RequestContext, a: &Alias) -> Value {
    let mut o = json!({
        "AliasArn": function_arn(ctx, &a.function, Some(&a.name)),
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !a.routing.is_empty() {
        let weights: Map<String, Value> = a
            .routing
            .iter()
            .map(|(v, w)| (v.clone(), json!(w)))
            .collect();
        o["RoutingConfig"] = json!({ "AdditionalVersionWeights": weights });
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_timestamps() {
        assert_eq!(last_modified(0), "1970-01-01T00:00:00.000+0000");
    }
}
