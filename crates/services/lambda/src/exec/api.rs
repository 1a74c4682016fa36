//! The Lambda Runtime API one environment's process talks to, on a loopback port:
//! `GET /2018-06-01/runtime/invocation/next` (waits for the next event),
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error` and
//! `POST .../init/error`, as AWS's runtimes and runtime interface clients use them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

/// The largest response or error a runtime may post (AWS: 6 MB synchronous responses).
pub const MAX_RESPONSE: usize = 6 * 1024 * 1024;

/// One event handed to the runtime.
#[derive(Debug)]
pub struct Event {
    pub request_id: String,
    pub deadline_ms: u64,
    pub arn: String,
    pub payload: Vec<u8>,
}

/// What the runtime posted.
#[derive(Debug, PartialEq)]
pub enum Posted {
    /// The runtime took the event (its init is over; the function's timeout starts).
    Picked {
        request_id: String,
    },
    Response {
        request_id: String,
        body: Vec<u8>,
    },
    Error {
        request_id: String,
        body: Vec<u8>,
    },
    InitError {
        body: Vec<u8>,
    },
    /// A response larger than the limit.
    TooLarge {
        request_id: String,
    },
}

struct State {
    events: Mutex<mpsc::Receiver<Event>>,
    posted: mpsc::UnboundedSender<Posted>,
}

/// A running Runtime API: its address, where events go in and posts come out.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub events: mpsc::Sender<Event>,
    pub posted: Mutex<mpsc::UnboundedReceiver<Posted>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (etx, erx) = mpsc::channel(1);
        let (ptx, prx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            events: Mutex::new(erx),
            posted: ptx,
        });
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(RuntimeApi {
            addr,
            events: etx,
            posted: Mutex::new(prx),
            task,
        })
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"Unknown path","errorType":"InvalidRequest"}"#,
        );
    };
    if method == hyper::Method::GET && rest == "invocation/next" {
        let mut events = state.events.lock().await;
        let Some(ev) = events.recv().await else {
            return reply(
                StatusCode::GONE,
                r#"{"errorMessage":"The environment is shutting down","errorType":"Runtime.ExitError"}"#,
            );
        };
        drop(events);
        let _ = state.posted.send(Posted::Picked {
            request_id: ev.request_id.clone(),
        });
        let mut r = Response::new(Full::new(Bytes::from(ev.payload)));
        let h = r.headers_mut();
        let set = |h: &mut hyper::HeaderMap, k: &'static str, v: &str| {
            if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        };
        set(h, "lambda-runtime-aws-request-id", &ev.request_id);
        set(h, "lambda-runtime-deadline-ms", &ev.deadline_ms.to_string());
        set(h, "lambda-runtime-invoked-function-arn", &ev.arn);
        set(
            h,
            "lambda-runtime-trace-id",
            &format!(
                "Root=1-{:08x}-{}",
                ev.deadline_ms / 1000,
                &ev.request_id.replace('-', "")[..24.min(ev.request_id.replace('-', "").len())]
            ),
        );
        set(h, "content-type", "application/json");
        return r;
    }
    if method != hyper::Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"errorMessage":"Method not allowed","errorType":"InvalidRequest"}"#,
        );
    }
    let body = match Limited::new(req.into_body(), MAX_RESPONSE).collect().await {
        Ok(b) => Some(b.to_bytes().to_vec()),
        Err(_) => None,
    };
    if rest == "init/error" {
        let _ = state.posted.send(Posted::InitError {
            body: body.unwrap_or_default(),
        });
        return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#);
    }
    let Some(inv) = rest.strip_prefix("invocation/") else {
        return reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"Unknown path","errorType":"InvalidRequest"}"#,
        );
    };
    let posted = match (inv.rsplit_once('/'), body) {
        (Some((id, "response")), Some(body)) => Posted::Response {
            request_id: id.to_string(),
            body,
        },
        (Some((id, "response")), None) => Posted::TooLarge {
            request_id: id.to_string(),
        },
        (Some((id, "error")), body) => Posted::Error {
            request_id: id.to_string(),
            body: body.unwrap_or_default(),
        },
        _ => {
            return reply(
                StatusCode::NOT_FOUND,
                r#"{"errorMessage":"Unknown path","errorType":"InvalidRequest"}"#,
            );
        }
    };
    let too_large = matches!(posted, Posted::TooLarge { .. });
    let _ = state.posted.send(posted);
    if too_large {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            r#"{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#,
        );
    }
    reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}
