//! `POST /_localstack/pods/load`: load a pod version from a remote into this running server,
//! without a restart; and `AUTO_LOAD_POD=name[:version][,…]` at startup.
//!
//! The request body is JSON: `{"remote": URL, "pod": NAME, "version": N (default newest),
//! "strategy": "account-region-merge" (default) | "overwrite", "dry_run": false,
//! "services": [..] (default: every service the pod holds)}`. The answer names, per service,
//! the records added, changed and removed (or, dry, that would be). Only the chunks this server
//! lacks are fetched; every one is checked against its hash, and a missing or damaged one
//! refuses the version before anything changes (`snapstack_pods::load`).
//!
//! With `"progress": true` the answer is a stream of JSON lines (`application/x-ndjson`, status
//! 200 once the request is accepted): `{"progress": {"done": N, "total": T, "bytes": B}}` as
//! chunks arrive (at most one a percent), then one line `{"result": {…}}` (the answer above) or
//! `{"error": MESSAGE, "status": HTTP_STATUS}`. The CLI shows these as its progress.
//!
//! Every load (but a dry run) counts in the metrics per service (`snapstack_pod_load*`), and
//! the chunks fetched from remotes in `snapstack_pod_fetched_*`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use snapstack_engine::Merge;
use snapstack_pods::load::Fetched;
use snapstack_pods::remote::Remote;
use snapstack_protocol::errors::internal_api_error;
use tracing::{error, info};

use super::gateway::App;

/// Chunks fetched at once.
const PARALLEL: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    pub remote: String,
    pub pod: String,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Answer with a stream of progress lines (see the module documentation).
    #[serde(default)]
    pub progress: bool,
}

/// `overwrite` or `account-region-merge`.
pub fn parse_strategy(s: Option<&str>) -> Result<Merge, String> {
    match s.unwrap_or("account-region-merge") {
        "account-region-merge" => Ok(Merge::AccountRegion),
        "overwrite" => Ok(Merge::Overwrite),
        other => Err(format!(
            "unknown merge strategy {other:?}: overwrite or account-region-merge"
        )),
    }
}

pub async fn handle(app: &Arc<App>, parts: &Parts, body: Body) -> Response {
    let path = parts.uri.path().trim_end_matches('/');
    if path != "/_localstack/pods/load" {
        return internal_api_error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"));
    }
    if parts.method != Method::POST {
        return internal_api_error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(e) => return internal_api_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let req: LoadRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return internal_api_error(
                StatusCode::BAD_REQUEST,
                format!("the body must be a pod load request: {e}"),
            );
        }
    };
    if req.progress {
        return streamed(app, req);
    }
    // The work runs in a task of its own: a client going away stops nothing half-way.
    let app2 = app.clone();
    let r = tokio::spawn(async move { load(&app2, req).await })
        .await
        .unwrap_or_else(|e| Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())));
    match r {
        Ok(v) => {
            let mut resp = (StatusCode::OK, v.to_string()).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err((status, msg)) => internal_api_error(status, msg),
    }
}

/// The load in a task of its own, its progress and result as JSON lines.
fn streamed(app: &Arc<App>, req: LoadRequest) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let app2 = app.clone();
    tokio::spawn(async move {
        let last_percent = AtomicU64::new(u64::MAX);
        let progress_tx = tx.clone();
        let report = move |f: Fetched| {
            let percent = f
                .done
                .saturating_mul(100)
                .checked_div(f.total)
                .unwrap_or(100);
            // At most one line a percent (and the first and the last).
            if last_percent.swap(percent, Ordering::Relaxed) != percent || f.done == f.total {
                let line =
                    json!({"progress": {"done": f.done, "total": f.total, "bytes": f.bytes}});
                let _ = progress_tx.send(format!("{line}\n"));
            }
        };
        let last = match load_reporting(&app2, req, &report).await {
            Ok(v) => json!({ "result": v }),
            Err((status, msg)) => json!({"error": msg, "status": status.as_u16()}),
        };
        let _ = tx.send(format!("{last}\n"));
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|l| (Ok::<_, std::convert::Infallible>(bytes::Bytes::from(l)), rx))
    });
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

/// Load a pod version into the running server (see the module documentation).
pub async fn load(app: &Arc<App>, req: LoadRequest) -> Result<Value, (StatusCode, String)> {
    load_reporting(app, req, &|_| {}).await
}

/// [`load`], telling `report` how far the fetch is; counted in the metrics.
pub async fn load_reporting(
    app: &Arc<App>,
    req: LoadRequest,
    report: &(dyn Fn(Fetched) + Sync),
) -> Result<Value, (StatusCode, String)> {
    let started = Instant::now();
    let dry_run = req.dry_run;
    let mut touched = Vec::new();
    let r = load_counted(app, req, report, &mut touched).await;
    if !dry_run {
        let elapsed = started.elapsed();
        match &r {
            Ok(v) => {
                for s in v["services"].as_array().into_iter().flatten() {
                    let Some(name) = s["service"].as_str() else {
                        continue;
                    };
                    // Only the services the pod holds (not those an overwrite emptied).
                    if let Some(t) = touched.iter().find(|t: &&Touched| t.service == name) {
                        app.metrics.pod_loaded(
                            name,
                            elapsed,
                            t.bytes,
                            t.chunks,
                            s["records"].as_u64().unwrap_or(0),
                        );
                    }
                }
            }
            Err(_) => {
                for t in &touched {
                    app.metrics.pod_load_failed(&t.service);
                }
            }
        }
    }
    r
}

/// A service of a pod version that a load meant to change: the size of its state there.
struct Touched {
    service: String,
    bytes: u64,
    chunks: u64,
}

async fn load_counted(
    app: &Arc<App>,
    req: LoadRequest,
    report: &(dyn Fn(Fetched) + Sync),
    touched: &mut Vec<Touched>,
) -> Result<Value, (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let merge = parse_strategy(req.strategy.as_deref()).map_err(bad)?;
    if !snapstack_pods::valid_pod_name(&req.pod) {
        return Err(bad(format!("invalid pod name {:?}", req.pod)));
    }
    let remote = Remote::open(&req.remote).map_err(|e| bad(e.0))?;
    let failed = |e: snapstack_pods::PodError| {
        let status = if e.0.contains("no pod named") || e.0.contains("has no version") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        (status, e.0)
    };
    let v = snapstack_pods::load::read_version(&remote, &req.pod, req.version)
        .await
        .map_err(failed)?;
    let registered = app.persistence.services();
    let in_pod: Vec<String> = v.services.iter().map(|s| s.service.clone()).collect();
    let services: Vec<String> = match &req.services {
        Some(want) => {
            for s in want {
                if !in_pod.contains(s) {
                    return Err(bad(format!(
                        "pod {} version {} holds no {s:?}; it holds {}",
                        v.pod,
                        v.version,
                        in_pod.join(", ")
                    )));
                }
            }
            want.clone()
        }
        None => in_pod.clone(),
    };
    // A service of the pod this build does not run is skipped (and said so).
    let skipped: Vec<String> = services
        .iter()
        .filter(|s| !registered.contains(&s.as_str()))
        .cloned()
        .collect();
    let services: Vec<String> = services
        .into_iter()
        .filter(|s| registered.contains(&s.as_str()))
        .collect();
    for s in v.services.iter().filter(|s| services.contains(&s.service)) {
        touched.push(Touched {
            service: s.service.clone(),
            bytes: s.tree_bytes.saturating_add(s.blob_bytes),
            chunks: s.tree_chunks,
        });
    }
    let reset: Vec<String> = if merge == Merge::Overwrite && req.services.is_none() {
        registered
            .iter()
            .filter(|s| !in_pod.iter().any(|p| p.as_str() == **s))
            .map(|s| s.to_string())
            .collect()
    } else {
        Vec::new()
    };
    let engine = app.blob_engine.clone();
    let list = snapstack_pods::load::chunk_list(&remote, &v)
        .await
        .map_err(failed)?;
    let staging = snapstack_pods::load::fetch_reporting(
        &engine,
        &remote,
        &v,
        &list,
        list.chunks.len(),
        PARALLEL,
        true,
        report,
    )
    .await
    .map_err(failed)?;
    app.metrics
        .pod_fetched(staging.fetched.len() as u64, staging.fetched_bytes);
    // A lazy load after this would replace what the pod brings: load first.
    for s in services.iter().chain(&reset) {
        if let Some(name) = app.persistence.service_name(s) {
            app.persistence.ensure_loaded(name).await;
        }
    }
    let (fetched, fetched_bytes) = (staging.fetched.len(), staging.fetched_bytes);
    let dry_run = req.dry_run;
    let v2 = v.clone();
    let outcomes = tokio::task::spawn_blocking(move || {
        let r =
            snapstack_pods::load::apply(&engine, &staging, &v2, &services, &reset, merge, dry_run);
        drop(staging);
        r
    })
    .await
    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(failed)?;
    let mut out = Vec::new();
    for o in &outcomes {
        if let (Some(version), Some(name)) = (o.version, app.persistence.service_name(&o.service))
            && let Err(e) = app.persistence.wait_durable(name, version).await
        {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: loaded, but not saved durably: {e}", o.service),
            ));
        }
        out.push(json!({
            "service": o.service,
            "added": o.report.added,
            "changed": o.report.changed,
            "removed": o.report.removed,
            "records": o.report.records,
        }));
    }
    if !dry_run {
        info!(pod = %v.pod, version = v.version, fetched, fetched_bytes, "loaded pod");
    }
    Ok(json!({
        "pod": v.pod,
        "version": v.version,
        "strategy": match merge { Merge::Overwrite => "overwrite", Merge::AccountRegion => "account-region-merge" },
        "dry_run": dry_run,
        "fetched_chunks": fetched,
        "fetched_bytes": fetched_bytes,
        "services": out,
        "skipped_services": skipped,
    }))
}

/// `AUTO_LOAD_POD=name[:version][,name…]`: load these pods, in order, before the port opens,
/// from `AUTO_LOAD_POD_REMOTE` (a URL or a remote name in `<volume>/pods/remotes.json`;
/// default: the remote named `default`). A pod that fails to load is logged and skipped.
pub async fn auto_load(app: &Arc<App>) {
    let Ok(spec) = std::env::var("AUTO_LOAD_POD") else {
        return;
    };
    let remote = std::env::var("AUTO_LOAD_POD_REMOTE").ok();
    let url = match snapstack_pods::remotes::resolve(
        &app.config.volume_dir,
        remote.as_deref().filter(|r| !r.trim().is_empty()),
    ) {
        Ok(u) => u,
        Err(e) => {
            error!(error = %e, "AUTO_LOAD_POD: no remote to load from");
            return;
        }
    };
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (pod, version) = match snapstack_pods::parse_pod_ref(item) {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "AUTO_LOAD_POD");
                continue;
            }
        };
        let req = LoadRequest {
            remote: url.clone(),
            pod: pod.clone(),
            version,
            strategy: None,
            dry_run: false,
            services: None,
            progress: false,
        };
        match load(app, req).await {
            Ok(v) => info!(pod, result = %v, "AUTO_LOAD_POD: loaded"),
            Err((_, e)) => error!(pod, error = %e, "AUTO_LOAD_POD: the pod did not load"),
        }
    }
}
