//! What SSM reads out of a document's content: schema version, description, parameters, the
//! plugins (steps) it runs and the platforms those run on; and the AWS-owned documents.
//!
//! JSON content is parsed; YAML content is kept as text and read through a small outline of
//! its top-level keys, the `parameters` mapping and the `mainSteps` actions (enough for what
//! SSM answers with; anything else in it is opaque).

use super::*;

/// What a document's content says about itself.
#[derive(Default, Debug, Clone, PartialEq)]
pub(super) struct DocInfo {
    pub(super) schema_version: Option<String>,
    pub(super) description: Option<String>,
    /// (name, type, description, default) per parameter, in the content's order.
    pub(super) parameters: Vec<(String, String, Option<String>, Option<String>)>,
    /// Plugin names: the `mainSteps` names (schema 2.x), or the `runtimeConfig` plugins (1.2).
    pub(super) plugins: Vec<String>,
    /// Plugin actions (`aws:runShellScript`, ...).
    pub(super) actions: Vec<String>,
}

impl DocInfo {
    pub(super) fn platform_types(&self) -> Vec<&'static str> {
        let shell = self.actions.iter().any(|a| a == "aws:runShellScript");
        let power = self.actions.iter().any(|a| a == "aws:runPowerShellScript");
        match (shell, power) {
            (true, false) => vec!["Linux", "MacOS"],
            (false, true) => vec!["Windows"],
            _ => vec!["Windows", "Linux", "MacOS"],
        }
    }

    pub(super) fn parameters_json(&self) -> Vec<Value> {
        self.parameters
            .iter()
            .map(|(name, kind, desc, default)| {
                let mut m = Map::new();
                m.insert("Name".into(), json!(name));
                m.insert("Type".into(), json!(kind));
                if let Some(d) = desc {
                    m.insert("Description".into(), json!(d));
                }
                if let Some(d) = default {
                    m.insert("DefaultValue".into(), json!(d));
                }
                Value::Object(m)
            })
            .collect()
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn param_type(t: &str) -> String {
    // DocumentParameter.Type is String or StringList; other types (Boolean, Integer, MapList,
    // StringMap) are described as String, as SSM does.
    if t == "StringList" {
        "StringList"
    } else {
        "String"
    }
    .to_string()
}

/// Check content in its format: JSON must parse as an object; YAML and TEXT are kept as text.
pub(super) fn check_content(content: &str, format: &str) -> Result<(), AwsError> {
    let invalid = || {
        AwsError::new(
            "InvalidDocumentContent",
            "The content for the document is not valid.",
        )
    };
    if content.trim().is_empty() {
        return Err(invalid());
    }
    if format == "JSON" {
        match serde_json::from_str::<Value>(content) {
            Ok(Value::Object(_)) => {}
            _ => return Err(invalid()),
        }
    }
    Ok(())
}

pub(super) fn doc_info(content: &str, format: &str) -> DocInfo {
    let v = match format {
        "JSON" => serde_json::from_str::<Value>(content).unwrap_or(Value::Null),
        "YAML" => yaml_outline(content),
        _ => Value::Null,
    };
    let mut info = DocInfo {
        schema_version: v.get("schemaVersion").map(scalar),
        description: v.get("description").map(scalar),
        ..DocInfo::default()
    };
    if let Some(Value::Object(params)) = v.get("parameters") {
        for (name, p) in params {
            info.parameters.push((
                name.clone(),
                param_type(p.get("type").and_then(Value::as_str).unwrap_or("String")),
                p.get("description").map(scalar),
                p.get("default").map(scalar),
            ));
        }
    }
    if let Some(Value::Array(steps)) = v.get("mainSteps") {
        for s in steps {
            let action = s.get("action").map(scalar).unwrap_or_default();
            let name = s.get("name").map(scalar).unwrap_or_else(|| action.clone());
            info.plugins.push(name);
            info.actions.push(action);
        }
    }
    if let Some(Value::Object(rc)) = v.get("runtimeConfig") {
        for plugin in rc.keys() {
            info.plugins.push(plugin.clone());
            info.actions.push(plugin.clone());
        }
    }
    info
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = match s.find(" #") {
        Some(i) if !s.starts_with(['"', '\'']) => s[..i].trim_end(),
        _ => s,
    };
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `key: value` of a YAML line (the value may be empty).
fn key_value(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    let t = t.strip_prefix("- ").unwrap_or(t);
    let (k, v) = t.split_once(':')?;
    if k.is_empty() || k.contains(' ') && !k.starts_with(['"', '\'']) {
        return None;
    }
    Some((unquote(k), unquote(v)))
}

/// The parts of a YAML document SSM reads, as the JSON they would parse to.
pub(super) fn yaml_outline(content: &str) -> Value {
    let mut out = Map::new();
    let mut params = Map::new();
    let mut steps: Vec<Value> = Vec::new();
    let mut section = "";
    let mut param: Option<String> = None;
    let mut param_indent = usize::MAX;
    for line in content.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            param = None;
            param_indent = usize::MAX;
            let Some((k, v)) = key_value(line) else {
                section = "";
                continue;
            };
            section = match k.as_str() {
                "parameters" => "parameters",
                "mainSteps" => "mainSteps",
                _ => "",
            };
            if !v.is_empty() && !v.starts_with(['|', '>']) {
                out.insert(k, json!(v));
            }
            continue;
        }
        match section {
            "parameters" => {
                let Some((k, v)) = key_value(line) else {
                    continue;
                };
                if ind <= param_indent {
                    param_indent = ind;
                    params.insert(k.clone(), json!({}));
                    param = Some(k);
                } else if let Some(p) = &param
                    && matches!(k.as_str(), "type" | "description" | "default")
                    && !v.is_empty()
                    && let Some(Value::Object(m)) = params.get_mut(p)
                {
                    m.entry(k).or_insert(json!(v));
                }
            }
            "mainSteps" => {
                let t = line.trim_start();
                if t.starts_with("- ") {
                    steps.push(json!({}));
                }
                if let Some((k, v)) = key_value(line)
                    && matches!(k.as_str(), "name" | "action")
                    && let Some(Value::Object(m)) = steps.last_mut()
                {
                    m.entry(k).or_insert(json!(v));
                }
            }
            _ => {}
        }
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Object(params));
    }
    if !steps.is_empty() {
        out.insert("mainSteps".into(), Value::Array(steps));
    }
    Value::Object(out)
}

/// An AWS-owned document: listed and readable in every account and region.
pub(super) struct BuiltIn {
    pub(super) name: &'static str,
    pub(super) content: &'static str,
}

pub(super) const BUILT_IN_CREATED_MS: u64 = 1_483_228_800_000; // 2017-01-01

pub(super) const BUILT_INS: &[BuiltIn] = &[
    BuiltIn {
        name: "AWS-RunPowerShellScript",
        content: r#"{
  "schemaVersion": "1.2",
  "description": "Run a PowerShell script or specify the paths to scripts to run.",
  "parameters": {
    "commands": {
      "type": "StringList",
      "description": "(Required) Specify the commands to run or the paths to existing scripts on the instance.",
      "minItems": 1,
      "displayType": "textarea"
    },
    "workingDirectory": {
      "type": "String",
      "default": "",
      "description": "(Optional) The path to the working directory on your instance.",
      "maxChars": 4096
    },
    "executionTimeout": {
      "type": "String",
      "default": "3600",
      "description": "(Optional) The time in seconds for a command to be completed before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
      "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
    }
  },
  "runtimeConfig": {
    "aws:runPowerShellScript": {
      "properties": [
        {
          "id": "0.aws:runPowerShellScript",
          "runCommand": "{{ commands }}",
          "workingDirectory": "{{ workingDirectory }}",
          "timeoutSeconds": "{{ executionTimeout }}"
        }
      ]
    }
  }
}
"#,
    },
    BuiltIn {
        name: "AWS-RunShellScript",
        content: r#"{
  "schemaVersion": "1.2",
  "description": "Run a shell script or specify the commands to run.",
  "parameters": {
    "commands": {
      "type": "StringList",
      "description": "(Required) Specify a shell script or a command to run.",
      "minItems": 1,
      "displayType": "textarea"
    },
    "workingDirectory": {
      "type": "String",
      "default": "",
      "description": "(Optional) The path to the working directory on your instance.",
      "maxChars": 4096
    },
    "executionTimeout": {
      "type": "String",
      "default": "3600",
      "description": "(Optional) The time in seconds for a command to complete before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
      "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
    }
  },
  "runtimeConfig": {
    "aws:runShellScript": {
      "properties": [
        {
          "id": "0.aws:runShellScript",
          "runCommand": "{{ commands }}",
          "workingDirectory": "{{ workingDirectory }}",
          "timeoutSeconds": "{{ executionTimeout }}"
        }
      ]
    }
  }
}
"#,
    },
];

pub(super) fn built_in(name: &str) -> Option<&'static BuiltIn> {
    BUILT_INS.iter().find(|b| b.name == name)
}

pub(super) fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
