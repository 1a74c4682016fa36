//! The internal endpoints under `/_localstack`: health, persistence status, and the state
//! save/load/reset endpoints (streaming one JSON line per service).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::gateway::App;
use super::persistence::OpResult;
use snapstack_protocol::errors::internal_api_error;

/// What an endpoint does to a service's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Save,
    Load,
    Reset,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "save" => Action::Save,
            "load" => Action::Load,
            "reset" => Action::Reset,
            _ => return None,
        })
    }
}

/// A path segment that may name a service or an action: 1-64 of `[a-z0-9-]`. Checked on the raw
/// (still percent-encoded) path, so `..`, `%2e%2e` and `%2f` never pass.
pub fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What a `/_localstack/state...` path asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum StateRoute<'a> {
    Status,
    All(Action),
    One(&'a str, Action),
    NotFound,
    BadName(String),
}

/// Route the part of the path after `/_localstack/state`.
pub fn route_state(rest: &str) -> StateRoute<'_> {
    if rest.is_empty() || rest == "/" {
        return StateRoute::Status;
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return StateRoute::NotFound;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    if let Some(bad) = segs.iter().find(|s| !valid_segment(s)) {
        return StateRoute::BadName((*bad).to_string());
    }
    match segs.as_slice() {
        [a] => Action::parse(a).map_or(StateRoute::NotFound, StateRoute::All),
        [s, a] => Action::parse(a).map_or(StateRoute::NotFound, |a| StateRoute::One(s, a)),
        _ => StateRoute::NotFound,
    }
}

pub async fn handle(app: &Arc<App>, parts: &Parts, _body: Body) -> Response {
    let path = parts.uri.path();
    if path == "/_localstack/health" || path == "/_localstack/health/" {
        return match parts.method {
            Method::GET | Method::HEAD => json_response(StatusCode::OK, health(app)),
            _ => internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        };
    }
    if path == "/_localstack/info" || path == "/_localstack/info/" {
        return match parts.method {
            Method::GET | Method::HEAD => json_response(StatusCode::OK, info(app)),
            _ => internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        };
    }
    if path == "/_localstack/diagnose" || path == "/_localstack/diagnose/" {
        return match parts.method {
            Method::GET | Method::HEAD => {
                json_response(StatusCode::OK, crate::diagnose::diagnose(app).await)
            }
            _ => internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        };
    }
    if path == "/_localstack/metrics" || path == "/_localstack/metrics/" {
        return match parts.method {
            Method::GET | Method::HEAD => {
                let mut resp = (
                    StatusCode::OK,
                    app.metrics.render(app.persistence.enabled()),
                )
                    .into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                );
                resp
            }
            _ => internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        };
    }
    if let Some(rest) = path.strip_prefix("/_localstack/init") {
        let stage = rest.trim_matches('/');
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        }
        if stage.is_empty() {
            return json_response(StatusCode::OK, app.init.report(None));
        }
        return match crate::init_hooks::Stage::parse(stage) {
            Some(st) => json_response(StatusCode::OK, app.init.report(Some(st))),
            None => internal_api_error(
                StatusCode::NOT_FOUND,
                format!("no such stage {stage:?}: boot, start, ready or shutdown"),
            ),
        };
    }
    let Some(rest) = path.strip_prefix("/_localstack/state") else {
        return internal_api_error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"));
    };
    let route = route_state(rest);
    if let StateRoute::BadName(name) = &route {
        return internal_api_error(
            StatusCode::BAD_REQUEST,
            format!("invalid service name {name:?}: use a-z, 0-9 and '-'"),
        );
    }
    if route == StateRoute::NotFound {
        return internal_api_error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"));
    }
    let p = &app.persistence;
    if !p.enabled() {
        return internal_api_error(
            StatusCode::BAD_REQUEST,
            "persistence is disabled: start snapstack with PERSISTENCE=1",
        );
    }
    match route {
        StateRoute::Status => match parts.method {
            Method::GET | Method::HEAD => json_response(StatusCode::OK, status(app).await),
            _ => internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        },
        StateRoute::All(action) | StateRoute::One(_, action) if parts.method != Method::POST => {
            let _ = action;
            internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
        }
        // Save and load of all: the services that persist (PERSIST_<SERVICE>=0 leaves one out).
        StateRoute::All(action) => {
            let names = p
                .services()
                .iter()
                .copied()
                .filter(|s| action == Action::Reset || p.persists(s))
                .collect();
            stream(app.clone(), action, names).await
        }
        StateRoute::One(name, Action::Load) if generation_param(parts).is_some() => {
            let Some(Ok(g)) = generation_param(parts) else {
                return internal_api_error(
                    StatusCode::BAD_REQUEST,
                    "generation must be a whole number (see GET /_localstack/state or `snapstack snapshot list`)",
                );
            };
            match p.service_name(name) {
                Some(s) => {
                    let r = p.restore(s, g).await;
                    let status = if r.is_ok() {
                        StatusCode::OK
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    };
                    ndjson(status, vec![line(s, &r)])
                }
                None => {
                    internal_api_error(StatusCode::NOT_FOUND, format!("unknown service {name:?}"))
                }
            }
        }
        StateRoute::One(name, action) => match p.service_name(name) {
            Some(s) => stream(app.clone(), action, vec![s]).await,
            None => internal_api_error(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown service {name:?}; known services: {}",
                    p.services().join(", ")
                ),
            ),
        },
        StateRoute::NotFound | StateRoute::BadName(_) => {
            internal_api_error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
        }
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut resp = (status, v.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Every service of the model set: `running` once its state is in memory, `available` while a
/// lazy load is still ahead of it (its first request loads it, as LocalStack starts its
/// services on their first request), `disabled` when `SERVICES` left it
/// out or when this build has its model but does not serve it (its requests are answered 501
/// `NotImplemented`, naming the operation).
pub(crate) fn health(app: &App) -> Value {
    use snapstack_service::Runtime;
    let mut services: Map<String, Value> = app
        .services
        .all()
        .iter()
        .map(|s| {
            let state = if app.runtime.is_ready(s.name()) {
                "running"
            } else {
                "available"
            };
            (s.name().to_string(), json!(state))
        })
        .collect();
    for name in app.services.disabled() {
        services.insert(name.to_string(), json!("disabled"));
    }
    for name in snapstack_protocol::model::EMBEDDED {
        services
            .entry(name.to_string())
            .or_insert_with(|| json!("disabled"));
    }
    let persistence_error = persistence_failure(app);
    json!({
        "services": services,
        "version": snapstack_engine::VERSION,
        "edition": "snapstack",
        "features": {
            "persistence": match (&persistence_error, app.persistence.enabled()) {
                (Some(_), _) => "error",
                (None, true) => "initialized",
                (None, false) => "disabled",
            }
        },
        "persistence": {
            "status": match (&persistence_error, app.persistence.enabled()) {
                (Some(_), _) => "error",
                (None, true) => "ok",
                (None, false) => "disabled",
            },
            "reason": persistence_error,
        },
    })
}

/// Why persistence is failing, if it is: a service whose saved state failed to load, or whose
/// last save failed (a full or read-only volume), named with the error.
fn persistence_failure(app: &App) -> Option<String> {
    let p = &app.persistence;
    let engine = p.engine()?;
    let mut reasons = Vec::new();
    for &name in p.services() {
        if p.load_failed(name) {
            reasons.push(format!("{name}: its saved state failed to load"));
        } else if let Ok(st) = engine.status(name)
            && let Some(e) = st.last_error
        {
            reasons.push(format!("{name}: {e}"));
        }
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// `GET /_localstack/info`, with the members LocalStack's has (scripts read `version` and
/// `session_id`), plus whether persistence is on.
pub(crate) fn info(app: &App) -> Value {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    json!({
        "version": snapstack_engine::VERSION,
        "edition": "snapstack",
        "is_license_activated": false,
        "session_id": app.session_id,
        "machine_id": "snapstack",
        "system": std::env::consts::OS,
        "is_docker": std::path::Path::new("/.dockerenv").exists(),
        "server_time_utc": snapstack_protocol::codec::time::iso8601_ms(now_ms),
        "uptime": app.started.elapsed().as_secs(),
        "persistence": app.persistence.enabled(),
    })
}

pub(crate) async fn status(app: &App) -> Value {
    let p = app.persistence.clone();
    let Some(engine) = p.engine().cloned() else {
        return json!({"persistence": false});
    };
    let names: Vec<&'static str> = p.services().to_vec();
    let (statuses, log) = tokio::task::spawn_blocking(move || {
        let st = names
            .iter()
            .map(|n| (*n, engine.status(n), engine.damaged_reads(n)))
            .collect::<Vec<_>>();
        let log = engine.log_status().map(|l| {
            json!({
                "appends": engine.log_appends(),
                "segments": l.segments,
                "frames": l.frames,
                "bytes": l.bytes,
                "pending_frames": l.pending_frames,
                "pending_bytes": l.pending_bytes,
                "pending_records": l.pending_records,
                "damaged": l.damaged,
                "refused": l.refused,
            })
        });
        (st, log)
    })
    .await
    .unwrap_or_default();
    let mut services = Map::new();
    for (name, st, damaged_reads) in statuses {
        let v = match st {
            Ok(s) => json!({
                "version": s.version,
                "saved_version": s.saved_version,
                "dirty": s.dirty,
                "generation": s.generation,
                "loaded": p.is_loaded(name),
                "load_failed": p.load_failed(name),
                "loaded_generation": s.loaded_generation,
                "records": s.records,
                "bytes": s.tree_bytes,
                "chunks": s.tree_chunks,
                "last_save_unix_ms": s.last_save_unix_ms,
                "last_save_duration_ms": s.last_save_duration.map(|d| d.as_secs_f64() * 1000.0),
                "last_error": s.last_error,
                "damaged_reads": damaged_reads,
                "logged_version": s.logged_version,
                "persisted": p.persists(name),
            }),
            Err(e) => json!({"error": e.to_string()}),
        };
        services.insert(name.to_string(), v);
    }
    json!({
        "persistence": true,
        "save_strategy": p.save_strategy().to_string(),
        "load_strategy": p.load_strategy().to_string(),
        "persist_mode": if p.restore_only() { "restore-only" } else { "read-write" },
        "not_persisted": p.not_persisted().collect::<Vec<_>>(),
        "services": services,
        "log": log,
    })
}

fn line(service: &str, r: &OpResult) -> Bytes {
    let v = match r {
        Ok(_) => json!({"service": service, "status": "ok"}),
        Err(m) => json!({"service": service, "status": "error", "message": m}),
    };
    Bytes::from(format!("{v}\n"))
}

/// `generation=N` in the query, if given (`Err` when it is not a number).
fn generation_param(parts: &Parts) -> Option<Result<u64, ()>> {
    let q = parts.uri.query()?;
    let (_, v) = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "generation")?;
    Some(v.parse::<u64>().map_err(|_| ()))
}

/// Run `action` on `services` in a task of its own (a client going away stops nothing), then
/// answer one JSON line per service: 200 when every one succeeded, 500 otherwise (so that
/// `curl -f` fails), with the lines either way.
async fn stream(app: Arc<App>, action: Action, services: Vec<&'static str>) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let p = &app.persistence;
        let mut results: Vec<(&'static str, OpResult)> = Vec::new();
        match action {
            Action::Save => results.extend(p.save(services).await),
            Action::Load => {
                for s in services {
                    results.push((s, p.load(s).await));
                }
            }
            Action::Reset => {
                for s in services {
                    results.push((s, p.reset(s).await));
                }
            }
        }
        let _ = tx.send(results);
    });
    let results = rx.await.unwrap_or_default();
    let failed = results.iter().any(|(_, r)| r.is_err());
    let status = if failed {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    ndjson(status, results.iter().map(|(s, r)| line(s, r)).collect())
}

fn ndjson(status: StatusCode, lines: Vec<Bytes>) -> Response {
    let body: Vec<u8> = lines.concat();
    let mut resp = (status, Body::from(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route_state(""), StateRoute::Status);
        assert_eq!(route_state("/"), StateRoute::Status);
        assert_eq!(route_state("/save"), StateRoute::All(Action::Save));
        assert_eq!(
            route_state("/ssm/load"),
            StateRoute::One("ssm", Action::Load)
        );
        assert_eq!(route_state("/ssm/nope"), StateRoute::NotFound);
        assert_eq!(route_state("/a/b/c"), StateRoute::NotFound);
        assert_eq!(route_state("x"), StateRoute::NotFound);
    }

    #[test]
    fn trickery_is_refused() {
        for p in [
            "/../save",
            "/%2e%2e/save",
            "/ssm%2f../save",
            "/SSM/save",
            "/ss_m/save",
            "//save",
            "/ssm/",
        ] {
            assert!(matches!(route_state(p), StateRoute::BadName(_)), "{p}");
        }
    }
}
