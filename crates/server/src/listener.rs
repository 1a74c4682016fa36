//! Serving client connections: the accept loop with its connection limit, and the timeouts that
//! keep one client from holding connections (and file descriptors) forever.
//!
//! - **Idle**: a keep-alive connection with no request in progress and no byte received for
//!   `idle_timeout` is closed. A request in progress (an SQS long poll) is never idle.
//! - **Header**: from the first byte of a request to the end of its headers, `header_timeout`
//!   (slowloris).
//! - **Body**: while a handler reads a request body, each wait for the next piece may last
//!   `body_timeout`; the handler then sees an error (answered `400 RequestTimeout`) and the
//!   connection closes. Between pieces, not in total: a slow but steady upload is never cut.
//!   The same bound applies to a response the client stops reading (a write that makes no
//!   progress for `body_timeout`).
//! - **Limit**: at most `max_connections` are served at once; one more is answered `503` and
//!   closed at once, so that the process keeps descriptors for its own files.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tracing::{debug, info, warn};

use super::config::ConnectionLimits;

/// Descriptors kept for the process's own use when the connection limit is derived from
/// `RLIMIT_NOFILE`: up to 256 cached pack-file handles (`backend::local`), plus files being
/// written, directories synced, the listener, stdio, epoll and the runtime.
pub const RESERVED_FDS: u64 = 320;

/// The connection limit when none is configured and descriptors allow more: bounds the memory
/// of connections when the hard descriptor limit is very large.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; answer the soft limit now in effect.
#[cfg(unix)]
pub fn raise_nofile_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return None;
    }
    // The kernel refuses a soft limit above its own ceiling (Linux `nr_open`, macOS
    // `OPEN_MAX`) even when the hard limit is unlimited: try the hard limit, then the ceiling.
    let mut candidates = vec![rl.rlim_max];
    for ceiling in [1_048_576 as libc::rlim_t, 10_240] {
        if ceiling < rl.rlim_max {
            candidates.push(ceiling);
        }
    }
    for want in candidates {
        if want <= rl.rlim_cur {
            break;
        }
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            rl.rlim_cur = want;
            break;
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
    Some(rl.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_nofile_limit() -> Option<u64> {
    None
}

/// The connection limit in effect: the configured one (or the default), kept below the
/// descriptor limit less [`RESERVED_FDS`].
pub fn connection_limit(configured: Option<usize>, nofile: Option<u64>) -> usize {
    let by_fds = nofile.map(|n| (n.saturating_sub(RESERVED_FDS)).max(16) as usize);
    match (configured, by_fds) {
        (Some(c), Some(f)) if c > f => {
            warn!(
                configured = c,
                allowed = f,
                "the connection limit is above what the file-descriptor limit allows; using {f}"
            );
            f
        }
        (Some(c), _) => c,
        (None, Some(f)) => f.min(DEFAULT_MAX_CONNECTIONS),
        (None, None) => DEFAULT_MAX_CONNECTIONS,
    }
}

/// Why a connection was closed by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expired {
    Idle,
    Header,
    Write,
}

/// What the connection's socket, its requests and its watchdog share.
struct ConnState {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last_io: AtomicU64,
    /// Requests whose response has not been sent completely.
    active: AtomicUsize,
    /// 1 + milliseconds since `start` of the first byte read while no request was in progress
    /// (the start of the next request's headers); 0 when none.
    head_started: AtomicU64,
    /// 1 + milliseconds since `start` when a write first found the socket full; 0 when not.
    write_blocked: AtomicU64,
    /// Wakes the watchdog when a deadline may have moved earlier (headers or a write started).
    changed: Notify,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            head_started: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// The earliest moment the connection must be closed at, and why; `None` while a request is
    /// in progress and its response is not stuck.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Expired)> {
        let mut best: Option<(Instant, Expired)> = None;
        let mut consider = |at: Instant, why: Expired| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, why));
            }
        };
        let blocked = self.write_blocked.load(Ordering::Acquire);
        if blocked != 0 {
            consider(self.at(blocked - 1) + limits.body_timeout, Expired::Write);
        }
        if self.active.load(Ordering::Acquire) == 0 {
            let head = self.head_started.load(Ordering::Acquire);
            if head != 0 {
                consider(self.at(head - 1) + limits.header_timeout, Expired::Header);
            } else {
                let last = self.last_io.load(Ordering::Acquire);
                consider(self.at(last) + limits.idle_timeout, Expired::Idle);
            }
        }
        best
    }
}

/// Marks a request in progress from its headers until its response is sent (or dropped).
struct InProgress(Arc<ConnState>);

impl InProgress {
    fn new(state: &Arc<ConnState>) -> Self {
        state.head_started.store(0, Ordering::Release);
        state.active.fetch_add(1, Ordering::AcqRel);
        InProgress(state.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let s = &self.0;
        s.last_io.store(s.now_ms(), Ordering::Release);
        s.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes move.
struct Watched {
    tcp: TcpStream,
    state: Arc<ConnState>,
}

impl Watched {
    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        let s = &self.state;
        match r {
            Poll::Pending => {
                if s.write_blocked
                    .compare_exchange(0, s.now_ms() + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    s.changed.notify_one();
                }
            }
            Poll::Ready(r) => {
                s.write_blocked.store(0, Ordering::Release);
                if matches!(r, Ok(n) if *n > 0) {
                    s.last_io.store(s.now_ms(), Ordering::Release);
                }
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let s = &self.state;
            let now = s.now_ms();
            s.last_io.store(now, Ordering::Release);
            if s.active.load(Ordering::Acquire) == 0
                && s.head_started
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                s.changed.notify_one();
            }
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.wrote(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The error a request body gives when the client sends nothing for the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("no part of the request body arrived for {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Whether `e` (or an error it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A request body whose every wait for the next frame is bounded.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                self.sleep = None;
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
                Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in progress until it is sent.
struct CountedBody {
    inner: Body,
    _in_progress: InProgress,
}

impl hyper::body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether each request carries its client's address (`axum::extract::ConnectInfo`): set when
/// IAM policies are enforced (`aws:SourceIp`), so that otherwise requests carry nothing extra.
pub static CLIENT_ADDRESSES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Serve `router` on `listener` until `stop` turns true; then stop accepting, let the open
/// connections finish their requests, and return once they are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let refused = AtomicU64::new(0);
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // A connection that failed before we took it: nothing to do. Anything else
                // (out of descriptors): wait a little rather than spin.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionRefused
                ) {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                warn!(
                    max_connections,
                    refused = n,
                    "too many open connections: answering 503 to new ones"
                );
            }
            refuse(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let (router, stop) = (router.clone(), stop.clone());
        tokio::spawn(async move {
            let peer = CLIENT_ADDRESSES.load(Ordering::Relaxed).then_some(peer);
            serve_connection(tcp, peer, router, limits, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    // Every connection returns its slot when it closes.
    let _ = slots.acquire_many(max_connections as u32).await;
}

/// Answer a connection beyond the limit with a 503 and close it, without waiting on it.
fn refuse(tcp: TcpStream) {
    const BODY: &str = "too many open connections; retry later\n";
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    // A fresh socket's send buffer is empty: this write does not block.
    let _ = tcp.try_write(resp.as_bytes());
    drop(tcp);
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes a client sends say about its protocol.
#[derive(Debug, PartialEq, Eq)]
enum Opening {
    Http1,
    /// HTTP/2 with prior knowledge ("h2c"): the client opened with the preface.
    Http2,
    /// A beginning of the preface: more bytes decide.
    Undecided,
}

fn opening(first: &[u8]) -> Opening {
    if first.len() >= H2_PREFACE.len() {
        if first.starts_with(H2_PREFACE) {
            Opening::Http2
        } else {
            Opening::Http1
        }
    } else if H2_PREFACE.starts_with(first) {
        Opening::Undecided
    } else {
        Opening::Http1
    }
}

/// Peek at the connection's first bytes (nothing is consumed) until they tell HTTP/2 with prior
/// knowledge from HTTP/1. `None`: the client sent nothing within the idle timeout (or the server
/// stops), or closed the connection. An HTTP/1 request decides at its first byte unless it begins
/// with `P`; a beginning of the preface must be complete within the header timeout.
async fn sniff(
    tcp: &TcpStream,
    limits: &ConnectionLimits,
    stop: &mut watch::Receiver<bool>,
) -> Option<Opening> {
    let mut deadline = Instant::now() + limits.idle_timeout;
    let mut first = true;
    let mut buf = [0u8; 24];
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout_at(deadline, tcp.peek(&mut buf)) => match r {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            },
            _ = stop.wait_for(|s| *s) => return None,
        };
        if first {
            first = false;
            deadline = Instant::now() + limits.header_timeout;
        }
        match opening(&buf[..n]) {
            Opening::Undecided if Instant::now() < deadline => {
                // The rest of the preface is on its way; peek returns at once until it lands.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Opening::Undecided => return Some(Opening::Http1),
            decided => return Some(decided),
        }
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: Option<std::net::SocketAddr>,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    // An idle connection that never sends a byte closes when it would have idled out.
    let Some(protocol) = sniff(&tcp, &limits, &mut stop).await else {
        return;
    };
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Watched {
        tcp,
        state: state.clone(),
    });
    let svc_state = state.clone();
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_progress = InProgress::new(&svc_state);
        let mut req = req.map(|inner| {
            Body::new(TimedBody {
                inner,
                timeout: body_timeout,
                sleep: None,
            })
        });
        // The client's address (`aws:SourceIp` when policies are enforced).
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let mut router = router.clone();
        async move {
            let resp = tower_service::Service::call(&mut router, req).await?;
            Ok::<_, std::convert::Infallible>(resp.map(|inner| CountedBody {
                inner,
                _in_progress: in_progress,
            }))
        }
    });
    if protocol == Opening::Http2 {
        // HTTP/2 with prior knowledge: the JavaScript SDK's Kinesis client (and any client built
        // on an HTTP/2-only handler) speaks nothing else to an `http://` endpoint.
        let conn = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, service);
        drive(conn, |c| c.graceful_shutdown(), state, limits, stop).await;
    } else {
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(io, service);
        drive(conn, |c| c.graceful_shutdown(), state, limits, stop).await;
    }
}

/// Run a connection until it ends, closing it at its deadlines and shutting it down gracefully on
/// stop.
async fn drive<C, G>(
    conn: C,
    graceful_shutdown: G,
    state: Arc<ConnState>,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    C: Future<Output = Result<(), hyper::Error>>,
    G: Fn(Pin<&mut C>),
{
    tokio::pin!(conn);
    // With nothing to watch (a request in progress), look again this often.
    let recheck = limits
        .header_timeout
        .min(limits.idle_timeout)
        .min(limits.body_timeout);
    let mut stopping = false;
    loop {
        let wake = match state.deadline(&limits) {
            Some((at, _)) => at,
            None => Instant::now() + recheck,
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(error = %e, "a connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                graceful_shutdown(conn.as_mut());
            }
            _ = state.changed.notified() => {}
            _ = tokio::time::sleep_until(wake) => {
                if let Some((at, why)) = state.deadline(&limits)
                    && at <= Instant::now()
                {
                    debug!(reason = ?why, "closing a connection that timed out");
                    return;
                }
            }
        }
    }
}

/// Log the limits in effect at start.
pub fn log_limits(limits: &ConnectionLimits, max_connections: usize, nofile: Option<u64>) {
    info!(
        header_timeout = ?limits.header_timeout,
        body_timeout = ?limits.body_timeout,
        idle_timeout = ?limits.idle_timeout,
        max_connections,
        nofile = nofile.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into()),
        "connection limits"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_tell_http2_prior_knowledge_from_http1() {
        assert_eq!(opening(H2_PREFACE), Opening::Http2);
        let mut more = H2_PREFACE.to_vec();
        more.extend_from_slice(&[0, 0, 0, 4, 0]);
        assert_eq!(opening(&more[..24]), Opening::Http2);
        assert_eq!(opening(b"PRI * HTTP/2.0\r\n"), Opening::Undecided);
        assert_eq!(opening(b"P"), Opening::Undecided);
        assert_eq!(opening(b"POST / HTTP/1.1\r\n"), Opening::Http1);
        assert_eq!(opening(b"PUT"), Opening::Http1);
        assert_eq!(
            opening(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Opening::Http1
        );
        assert_eq!(opening(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), Opening::Http1);
    }

    #[test]
    fn the_limit_stays_below_the_descriptor_limit() {
        assert_eq!(connection_limit(None, Some(1024)), 1024 - 320);
        assert_eq!(
            connection_limit(None, Some(1 << 20)),
            DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(connection_limit(Some(8), Some(1024)), 8);
        assert_eq!(connection_limit(Some(5000), Some(1024)), 704);
        assert_eq!(connection_limit(None, Some(100)), 16);
        assert_eq!(connection_limit(None, None), DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn deadlines_follow_the_connection_state() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(3),
            body_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(7),
            max_connections: None,
        };
        let s = Arc::new(ConnState::new());
        let (at, why) = s.deadline(&limits).unwrap();
        assert_eq!((at, why), (s.start + limits.idle_timeout, Expired::Idle));
        s.head_started.store(1001, Ordering::Release);
        let (at, why) = s.deadline(&limits).unwrap();
        assert_eq!(why, Expired::Header);
        assert_eq!(
            at,
            s.start + Duration::from_millis(1000) + limits.header_timeout
        );
        // A request in progress (a long poll) has no deadline...
        let req = InProgress::new(&s);
        assert!(s.deadline(&limits).is_none());
        // ...unless its response stops moving.
        s.write_blocked.store(1, Ordering::Release);
        assert_eq!(s.deadline(&limits).unwrap().1, Expired::Write);
        s.write_blocked.store(0, Ordering::Release);
        drop(req);
        assert_eq!(s.deadline(&limits).unwrap().1, Expired::Idle);
    }
}
