//! Policy templates: a delegation request's permissions are a template (a policy document with
//! `@{name}` parameters, as AWS's temporary delegation templates have them) and the request's
//! parameter values, rendered into the standard IAM policy the customer reviews and approves.
//!
//! Rendering is one pass over the template's JSON: every string is scanned for `@{name}`, and
//! values are inserted as given (never scanned again). A `string` parameter has exactly one
//! value, substituted in place. A `stringList` parameter expands the string it appears in into
//! one string per value (several list parameters in one string: every combination, in order);
//! inside a list the expansions are spliced in, elsewhere the string becomes a list. Object keys
//! (condition keys) take `string` parameters only. The result is compact JSON, at most 2,048
//! characters, validated as a session policy.

use serde_json::{Map, Value};
use snapstack_policy::{Policy, PolicyKind};
use snapstack_protocol::errors::AwsError;

use crate::util::{invalid_input, limit};

/// The rendered policy may be at most this long (characters).
pub const MAX_RENDERED: usize = 2_048;
/// The most strings one template string may expand into.
const MAX_EXPANSION: usize = 1_000;

/// A parameter's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ParamType {
    String,
    StringList,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::StringList => "stringList",
        }
    }
}

/// One `PolicyParameter` of a request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Parameter {
    pub name: String,
    pub kind: ParamType,
    pub values: Vec<String>,
}

/// The `Permissions.Parameters` member, checked: names unique, a `string` with one value, a
/// `stringList` with at least one.
pub fn parameters(permissions: &Map<String, Value>) -> Result<Vec<Parameter>, AwsError> {
    let mut out: Vec<Parameter> = Vec::new();
    let list = permissions
        .get("Parameters")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for p in list {
        let name = p.get("Name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(invalid_input("Policy parameter Name is required."));
        }
        let kind = match p.get("Type").and_then(Value::as_str) {
            None | Some("string") => ParamType::String,
            Some("stringList") => ParamType::StringList,
            Some(other) => {
                return Err(invalid_input(format!(
                    "Invalid type {other} for policy parameter {name}."
                )));
            }
        };
        let values: Vec<String> = p
            .get("Values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        match kind {
            ParamType::String if values.len() != 1 => {
                return Err(invalid_input(format!(
                    "Policy parameter {name} of type string must have exactly one value."
                )));
            }
            ParamType::StringList if values.is_empty() => {
                return Err(invalid_input(format!(
                    "Policy parameter {name} of type stringList must have at least one value."
                )));
            }
            _ => {}
        }
        if out.iter().any(|q| q.name == name) {
            return Err(invalid_input(format!(
                "Duplicate policy parameter name: {name}."
            )));
        }
        out.push(Parameter {
            name: name.to_string(),
            kind,
            values,
        });
    }
    Ok(out)
}

/// One piece of a template string: literal text or a parameter reference.
enum Piece<'a> {
    Text(&'a str),
    Param(&'a str),
}

fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("@{") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        out.push(Piece::Param(&rest[start + 2..start + 2 + len]));
        rest = &rest[start + 2 + len + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

struct Renderer<'p> {
    params: &'p [Parameter],
    used: Vec<bool>,
}

impl Renderer<'_> {
    fn param(&mut self, name: &str) -> Result<&Parameter, AwsError> {
        let i = self
            .params
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| {
                invalid_input(format!(
                    "The policy template requires a value for parameter {name}."
                ))
            })?;
        self.used[i] = true;
        Ok(&self.params[i])
    }

    /// Every string `s` expands into.
    fn expand(&mut self, s: &str) -> Result<Vec<String>, AwsError> {
        let mut out = vec![String::new()];
        for piece in pieces(s) {
            match piece {
                Piece::Text(t) => out.iter_mut().for_each(|o| o.push_str(t)),
                Piece::Param(name) => {
                    let values = self.param(name)?.values.clone();
                    if out.len().saturating_mul(values.len()) > MAX_EXPANSION {
                        return Err(limit(format!(
                            "The policy template expands into more than {MAX_EXPANSION} values."
                        )));
                    }
                    out = out
                        .iter()
                        .flat_map(|o| values.iter().map(move |v| format!("{o}{v}")))
                        .collect();
                }
            }
        }
        Ok(out)
    }

    fn key(&mut self, k: &str) -> Result<String, AwsError> {
        let mut out = String::new();
        for piece in pieces(k) {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Param(name) => {
                    let p = self.param(name)?;
                    if p.kind != ParamType::String {
                        return Err(invalid_input(format!(
                            "Policy parameter {name} of type stringList cannot be used in the key {k}."
                        )));
                    }
                    out.push_str(&p.values[0]);
                }
            }
        }
        Ok(out)
    }

    fn value(&mut self, v: &Value) -> Result<Value, AwsError> {
        Ok(match v {
            Value::String(s) => {
                let single = pieces(s).iter().all(|p| match p {
                    Piece::Text(_) => true,
                    Piece::Param(n) => self
                        .params
                        .iter()
                        .any(|q| q.name == *n && q.kind == ParamType::String),
                });
                let mut all = self.expand(s)?;
                if single && all.len() == 1 {
                    Value::String(all.pop().unwrap_or_default())
                } else {
                    Value::Array(all.into_iter().map(Value::String).collect())
                }
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => {
                            out.extend(self.expand(s)?.into_iter().map(Value::String));
                        }
                        other => out.push(self.value(other)?),
                    }
                }
                Value::Array(out)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(self.key(k)?, self.value(v)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// Render `template` (a policy document with `@{name}` parameters) with `params`: the compact
/// policy text and the parsed policy.
pub fn render(template: &str, params: &[Parameter]) -> Result<(String, Policy), AwsError> {
    let doc: Value = serde_json::from_str(template)
        .map_err(|_| invalid_input("The policy template is not valid JSON."))?;
    let mut r = Renderer {
        params,
        used: vec![false; params.len()],
    };
    let rendered = r.value(&doc)?;
    if let Some(i) = r.used.iter().position(|u| !u) {
        return Err(invalid_input(format!(
            "Policy parameter {} is not used by the policy template.",
            params[i].name
        )));
    }
    let text = rendered.to_string();
    if text.chars().count() > MAX_RENDERED {
        return Err(limit(format!(
            "The rendered permission policy is {} characters long; the limit is {MAX_RENDERED}.",
            text.chars().count()
        )));
    }
    let policy = Policy::parse(&text, PolicyKind::Session).map_err(|e| {
        invalid_input(format!(
            "The rendered permission policy is not valid: {}",
            e.message()
        ))
    })?;
    Ok((text, policy))
}

/// The permissions boundaries roles created with these permissions must carry: the values of
/// `iam:PermissionsBoundary` conditions on statements that allow `iam:CreateRole`.
pub fn role_boundaries(policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &policy.statements {
        if s.effect != snapstack_policy::Effect::Allow {
            continue;
        }
        let creates_roles = s.action.as_ref().is_some_and(|a| {
            let any = a
                .values
                .items
                .iter()
                .any(|p| snapstack_policy::wildcard::glob(p, "iam:CreateRole", true));
            any != a.negated
        });
        if !creates_roles {
            continue;
        }
        for c in &s.conditions {
            if c.key.eq_ignore_ascii_case("iam:PermissionsBoundary") {
                for v in &c.values.items {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(name: &str, kind: ParamType, values: &[&str]) -> Parameter {
        Parameter {
            name: name.into(),
            kind,
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    const TEMPLATE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::@{bucketName}/*"}]}"#;

    #[test]
    fn a_string_parameter_is_substituted_in_place() {
        let (text, policy) = render(
            TEMPLATE,
            &[p("bucketName", ParamType::String, &["customer-data"])],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["Statement"][0]["Resource"],
            "arn:aws:s3:::customer-data/*"
        );
        assert_eq!(policy.statements.len(), 1);
    }

    #[test]
    fn a_list_parameter_expands_into_every_value() {
        let (text, _) = render(
            TEMPLATE,
            &[p("bucketName", ParamType::StringList, &["a", "b"])],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"])
        );
        // Inside a list: spliced in; values are never scanned again.
        let t = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["@{acts}","s3:ListBucket"],"Resource":"*"}]}"#;
        let (text, _) = render(
            t,
            &[p(
                "acts",
                ParamType::StringList,
                &["s3:GetObject", "s3:GetObjectTagging"],
            )],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["Statement"][0]["Action"],
            json!(["s3:GetObject", "s3:GetObjectTagging", "s3:ListBucket"])
        );
        let params = [p("a", ParamType::String, &["@{b}"])];
        let mut r = Renderer {
            params: &params,
            used: vec![false],
        };
        assert_eq!(r.expand("x-@{a}-y").unwrap(), vec!["x-@{b}-y".to_string()]);
        // An unterminated reference is text.
        assert_eq!(r.expand("@{a").unwrap(), vec!["@{a".to_string()]);
    }

    #[test]
    fn missing_unused_and_malformed_parameters_are_refused() {
        let e = render(TEMPLATE, &[]).unwrap_err();
        assert_eq!(e.code, "InvalidInput");
        assert!(e.message.contains("bucketName"), "{}", e.message);
        let e = render(
            TEMPLATE,
            &[
                p("bucketName", ParamType::String, &["b"]),
                p("extra", ParamType::String, &["x"]),
            ],
        )
        .unwrap_err();
        assert!(e.message.contains("extra"), "{}", e.message);
        let e = render("not json", &[]).unwrap_err();
        assert_eq!(e.code, "InvalidInput");
        // The rendered document must be a valid policy.
        let t = r#"{"Version":"2012-10-17","Statement":[{"Effect":"@{effect}","Action":"s3:*","Resource":"*"}]}"#;
        let e = render(t, &[p("effect", ParamType::String, &["Maybe"])]).unwrap_err();
        assert!(
            e.message
                .starts_with("The rendered permission policy is not valid")
        );
        // A list parameter cannot name a condition key.
        let t = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/@{k}":"v"}}}]}"#;
        assert!(render(t, &[p("k", ParamType::StringList, &["a", "b"])]).is_err());
        let (text, _) = render(t, &[p("k", ParamType::String, &["team"])]).unwrap();
        assert!(text.contains("aws:ResourceTag/team"));
    }

    #[test]
    fn the_rendered_policy_is_bounded() {
        let many: Vec<String> = (0..200).map(|i| format!("bucket-number-{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = render(TEMPLATE, &[p("bucketName", ParamType::StringList, &refs)]).unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
        // Combinations are bounded before they are built.
        let t = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"@{a}@{b}@{c}"}]}"#;
        let e = render(
            t,
            &[
                p("a", ParamType::StringList, &refs),
                p("b", ParamType::StringList, &refs),
                p("c", ParamType::StringList, &refs),
            ],
        )
        .unwrap_err();
        assert_eq!(e.code, "LimitExceeded");
    }

    #[test]
    fn parameters_are_checked() {
        let input =
            json!({"Parameters": [{"Name": "bucket", "Type": "string", "Values": ["a", "b"]}]});
        assert!(parameters(input.as_object().unwrap()).is_err());
        let input = json!({"Parameters": [{"Name": "bucket", "Type": "stringList", "Values": []}]});
        assert!(parameters(input.as_object().unwrap()).is_err());
        let input = json!({"Parameters": [
            {"Name": "bucket", "Type": "string", "Values": ["a"]},
            {"Name": "bucket", "Type": "string", "Values": ["b"]}]});
        assert!(parameters(input.as_object().unwrap()).is_err());
        let input = json!({"Parameters": [{"Name": "bucket", "Values": ["a"]}]});
        assert_eq!(
            parameters(input.as_object().unwrap()).unwrap()[0].kind,
            ParamType::String
        );
    }

    proptest::proptest! {
        /// Any value renders into the document as given (JSON-escaped), or is refused with
        /// IAM's error: never a panic, never a value scanned twice.
        #[test]
        fn any_value_renders_or_is_refused(v in "\\PC{0,64}", list in proptest::collection::vec("[a-z0-9@{}.-]{1,12}", 1..4)) {
            match render(TEMPLATE, &[p("bucketName", ParamType::String, &[v.as_str()])]) {
                Ok((text, _)) => {
                    let doc: Value = serde_json::from_str(&text).unwrap();
                    proptest::prop_assert_eq!(
                        doc["Statement"][0]["Resource"].as_str().unwrap(),
                        format!("arn:aws:s3:::{v}/*")
                    );
                }
                Err(e) => proptest::prop_assert!(e.code == "InvalidInput" || e.code == "LimitExceeded"),
            }
            let refs: Vec<&str> = list.iter().map(String::as_str).collect();
            if let Ok((text, _)) = render(TEMPLATE, &[p("bucketName", ParamType::StringList, &refs)]) {
                let doc: Value = serde_json::from_str(&text).unwrap();
                let got: Vec<String> = doc["Statement"][0]["Resource"].as_array().unwrap()
                    .iter().map(|x| x.as_str().unwrap().to_string()).collect();
                let want: Vec<String> = list.iter().map(|b| format!("arn:aws:s3:::{b}/*")).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn role_creation_boundaries_are_listed() {
        let t = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreateRole","iam:PutRolePolicy"],"Resource":"*","Condition":{"StringEquals":{"iam:PermissionsBoundary":"arn:aws:iam::111122223333:policy/Boundary"}}},{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let (_, policy) = render(t, &[]).unwrap();
        assert_eq!(
            role_boundaries(&policy),
            vec!["arn:aws:iam::111122223333:policy/Boundary".to_string()]
        );
        let (_, policy) = render(TEMPLATE, &[p("bucketName", ParamType::String, &["b"])]).unwrap();
        assert!(role_boundaries(&policy).is_empty());
    }
}
