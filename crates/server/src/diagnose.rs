//! `GET /_localstack/diagnose`: what a bug report needs, in one JSON document, as LocalStack's
//! endpoint of the same name gives it (version and info, health, the resolved configuration, the
//! variables that shaped it, persistence status, init hooks, and the volume's file tree). Only
//! what is cheap to gather: the file tree is bounded, nothing is read from the state files.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::gateway::App;

/// At most this many files and directories are listed in `file-tree`; the totals count all.
pub const MAX_TREE_ENTRIES: usize = 500;
/// And no deeper than this below the volume directory.
pub const MAX_TREE_DEPTH: usize = 6;

/// Variables that shape a LocalStack or snapstack server: listed in `environment` when set.
const PREFIXES: &[&str] = &[
    "SNAPSTACK_",
    "LOCALSTACK_",
    "PERSIST",
    "LAMBDA_",
    "DYNAMODB_",
    "SQS_",
];
const NAMES: &[&str] = &[
    "GATEWAY_LISTEN",
    "SERVICES",
    "EAGER_SERVICE_LOADING",
    "DEBUG",
    "LS_LOG",
    "SAVE_STRATEGY",
    "SNAPSHOT_SAVE_STRATEGY",
    "SNAPSHOT_LOAD_STRATEGY",
    "SNAPSHOT_FLUSH_INTERVAL",
    "ENFORCE_IAM",
    "AWS_DEFAULT_REGION",
    "DOCKER_HOST",
];

/// The whole report.
pub async fn diagnose(app: &App) -> Value {
    let persistence = if app.persistence.enabled() {
        crate::state_api::status(app).await
    } else {
        json!({"persistence": false})
    };
    let volume = app.config.volume_dir.clone();
    let tree = tokio::task::spawn_blocking(move || file_tree(&volume))
        .await
        .unwrap_or_else(|e| json!({"error": e.to_string()}));
    json!({
        "info": crate::state_api::info(app),
        "health": crate::state_api::health(app),
        "config": config(&app.config),
        "environment": environment(|k| std::env::var(k).ok(), std::env::vars().map(|(k, _)| k)),
        "persistence": persistence,
        "init": app.init.report(None),
        "file-tree": tree,
    })
}

/// The resolved configuration, as the server uses it.
pub fn config(c: &Config) -> Value {
    json!({
        "GATEWAY_LISTEN": std::iter::once(c.listen).chain(c.extra_listen.iter().copied())
            .map(|a| a.to_string()).collect::<Vec<_>>(),
        "SERVICES": c.services,
        "EAGER_SERVICE_LOADING": c.eager_service_loading,
        "init_dir": c.init_dir,
        "PERSISTENCE": c.persistence,
        "SNAPSTACK_PERSIST_MODE": c.persist_mode.to_string(),
        "PERSIST": snapstack_protocol::model::EMBEDDED
            .iter()
            .map(|s| (
                crate::config::persist_variable(s),
                Value::from(c.persistence && !c.not_persisted.iter().any(|n| n == s)),
            ))
            .collect::<Map<String, Value>>(),
        "SNAPSHOT_SAVE_STRATEGY": c.save_strategy.to_string(),
        "SNAPSHOT_LOAD_STRATEGY": c.load_strategy.to_string(),
        "SNAPSHOT_FLUSH_INTERVAL_seconds": c.flush_interval.as_secs_f64(),
        "volume_dir": c.volume_dir,
        "state_dir": c.state_dir(),
        "direct_writes": c.direct_writes,
        "write_ahead_log": c.write_ahead_log,
        "connections": {
            "header_timeout_seconds": c.connections.header_timeout.as_secs_f64(),
            "body_timeout_seconds": c.connections.body_timeout.as_secs_f64(),
            "idle_timeout_seconds": c.connections.idle_timeout.as_secs_f64(),
            "max_connections": c.connections.max_connections,
        },
        "SQS_ENDPOINT_STRATEGY": c.sqs_endpoint_strategy.to_string(),
        "LOCALSTACK_HOST": c.advertised_host(c.listen.port()),
    })
}

/// The set variables that concern the server, with the values of secrets hidden.
pub fn environment(
    get: impl Fn(&str) -> Option<String>,
    names: impl Iterator<Item = String>,
) -> Value {
    let mut out = Map::new();
    for name in names {
        let relevant = NAMES.contains(&name.as_str())
            || PREFIXES.iter().any(|p| name.starts_with(p))
            || crate::config::IGNORED_LOCALSTACK_VARIABLES.contains(&name.as_str());
        if !relevant {
            continue;
        }
        let Some(value) = get(&name) else { continue };
        let secret = ["KEY", "SECRET", "TOKEN", "PASSWORD", "AUTH"]
            .iter()
            .any(|s| name.to_ascii_uppercase().contains(s));
        let shown = if secret {
            Value::from("<hidden>")
        } else {
            Value::from(value)
        };
        out.insert(name, shown);
    }
    Value::Object(out)
}

/// The volume directory: every file and directory (up to [`MAX_TREE_ENTRIES`], at most
/// [`MAX_TREE_DEPTH`] deep) with sizes, and the totals of everything below it.
pub fn file_tree(root: &Path) -> Value {
    let mut entries = Vec::new();
    let (mut files, mut dirs, mut bytes) = (0u64, 0u64, 0u64);
    let mut truncated = false;
    // Iterative, so that a deep tree cannot grow the stack.
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<_> = read.flatten().collect();
        children.sort_by_key(|e| e.file_name());
        for e in children {
            // Not following symlinks: a link to `/` must not make the walk enormous.
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            let rel = e
                .path()
                .strip_prefix(root)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            if meta.is_dir() {
                dirs += 1;
                if depth + 1 < MAX_TREE_DEPTH {
                    stack.push((e.path(), depth + 1));
                } else {
                    truncated = true;
                }
            } else {
                files += 1;
                bytes += meta.len();
            }
            if entries.len() < MAX_TREE_ENTRIES {
                let mut v = json!({"path": rel});
                if meta.is_dir() {
                    v["dir"] = json!(true);
                } else {
                    v["bytes"] = json!(meta.len());
                }
                entries.push(v);
            } else {
                truncated = true;
            }
        }
    }
    json!({
        "root": root,
        "exists": root.exists(),
        "files": files,
        "directories": dirs,
        "bytes": bytes,
        "entries": entries,
        "truncated": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_unrelated_variables_left_out() {
        let env = |k: &str| match k {
            "LOCALSTACK_AUTH_TOKEN" => Some("ls-abc".to_string()),
            "PERSISTENCE" => Some("1".to_string()),
            "HOME" => Some("/root".to_string()),
            "SNAPSTACK_LOG" => Some("debug".to_string()),
            _ => None,
        };
        let names = [
            "LOCALSTACK_AUTH_TOKEN",
            "PERSISTENCE",
            "HOME",
            "SNAPSTACK_LOG",
        ]
        .into_iter()
        .map(String::from);
        let v = environment(env, names);
        assert_eq!(v["LOCALSTACK_AUTH_TOKEN"], "<hidden>");
        assert_eq!(v["PERSISTENCE"], "1");
        assert_eq!(v["SNAPSTACK_LOG"], "debug");
        assert!(v.get("HOME").is_none());
    }

    #[test]
    fn the_file_tree_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for i in 0..(MAX_TREE_DEPTH + 3) {
            deep.push(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        for i in 0..(MAX_TREE_ENTRIES + 10) {
            std::fs::write(dir.path().join(format!("f{i:04}")), b"abc").unwrap();
        }
        let t = file_tree(dir.path());
        assert_eq!(t["files"], MAX_TREE_ENTRIES as u64 + 10);
        assert_eq!(t["bytes"], 3 * (MAX_TREE_ENTRIES as u64 + 10));
        assert_eq!(t["entries"].as_array().unwrap().len(), MAX_TREE_ENTRIES);
        assert_eq!(t["truncated"], true);
        assert_eq!(t["directories"], MAX_TREE_DEPTH as u64);
    }

    #[test]
    fn a_missing_volume_is_reported_not_an_error() {
        let t = file_tree(Path::new("/nonexistent/snapstack-volume"));
        assert_eq!(t["exists"], false);
        assert_eq!(t["files"], 0);
    }
}
