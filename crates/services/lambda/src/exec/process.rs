//! The process executor: each environment is one local process (our bootstrap under the
//! runtime's interpreter, or the code's own `bootstrap`) with its own Runtime API on loopback.
//! Environments are reused while warm, one invocation at a time each, and reaped when idle.
//! A process is in its own session and dies with the server (`PR_SET_PDEATHSIG`); a timeout
//! kills its whole process group.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::process::{Child, Command};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::api::{Event, Posted, RuntimeApi};
use super::interp::{Interpreter, resolve};
use super::{CodeSource, Executor, FunctionSpec, Outcome, error_payload};
use snapstack_service::BoxFuture;

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap.js");
/// At most this much of one invocation's output is kept for its log.
const MAX_LOG: usize = 1 << 20;
/// Environments idle longer than this are stopped (`SNAPSTACK_LAMBDA_IDLE_SECONDS`).
const DEFAULT_IDLE: Duration = Duration::from_secs(600);
/// How long a new environment may take to start (its init) beyond the function's timeout.
const INIT_BUDGET: Duration = Duration::from_secs(10);

/// The output a process wrote, shared with the tasks that read its pipes.
#[derive(Default)]
struct LogBuf {
    text: String,
}

impl LogBuf {
    fn push(&mut self, line: &str) {
        if self.text.len() + line.len() + 1 > MAX_LOG {
            let cut = (self.text.len() + line.len() + 1).saturating_sub(MAX_LOG);
            let mut at = cut.min(self.text.len());
            while !self.text.is_char_boundary(at) {
                at += 1;
            }
            self.text.drain(..at);
        }
        self.text.push_str(line);
        self.text.push('\n');
    }
}

type SharedLog = Arc<std::sync::Mutex<LogBuf>>;

struct Environment {
    api: RuntimeApi,
    child: std::sync::Mutex<Child>,
    pid: i32,
    log: SharedLog,
    last_used: std::sync::Mutex<Instant>,
    fresh: AtomicBool,
    started: Instant,
}

impl Drop for Environment {
    fn drop(&mut self) {
        kill_group(self.pid);
        // Reap it (it was just killed, so this does not wait long).
        let _ = lock(&self.child).wait();
    }
}

/// A command to start, and where its child goes.
type SpawnRequest = (
    Command,
    tokio::sync::oneshot::Sender<std::io::Result<Child>>,
);

/// Start a process from one thread that lives as long as the server: `PR_SET_PDEATHSIG` fires
/// when the thread that forked the child ends, and tokio's worker and blocking threads come and
/// go, so a child forked on one of them could be killed at any time.
async fn spawn_process(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<SpawnRequest>>> =
        std::sync::OnceLock::new();
    let tx = SPAWNER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
            let spawned = std::thread::Builder::new()
                .name("lambda-spawner".into())
                .spawn(move || {
                    while let Ok((mut cmd, reply)) = rx.recv() {
                        let _ = reply.send(cmd.spawn());
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "the Lambda process spawner thread could not start");
            }
            std::sync::Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (reply, answer) = tokio::sync::oneshot::channel();
    tx.send((cmd, reply))
        .map_err(|_| std::io::Error::other("the process spawner is gone"))?;
    answer
        .await
        .map_err(|_| std::io::Error::other("the process spawner is gone"))?
}

fn kill_group(pid: i32) {
    if pid > 0 {
        // SAFETY: signalling a process group we created; no memory is touched.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// The process executor.
pub struct ProcessExecutor {
    work_dir: PathBuf,
    idle: std::sync::Mutex<HashMap<String, Vec<Arc<Environment>>>>,
    idle_after: Duration,
    started: AtomicU64,
    /// Pools kept warm (provisioned concurrency): how many of their idle environments the
    /// reaper leaves alone.
    pinned: std::sync::Mutex<HashMap<String, usize>>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory name for a code hash (base64 has `/` and `+`).
fn safe(sha: &str) -> String {
    sha.chars()
        .map(|c| match c {
            '/' => '_',
            '+' => '-',
            c if c.is_ascii_alphanumeric() => c,
            _ => 'x',
        })
        .collect::<String>()
        .trim_end_matches('x')
        .to_string()
}

fn now_iso() -> String {
    snapstack_protocol::codec::time::iso8601(crate::now_ms() as i64, true)
}

impl ProcessExecutor {
    pub fn new(work_dir: PathBuf) -> Self {
        let idle_after = std::env::var("SNAPSTACK_LAMBDA_IDLE_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_IDLE);
        ProcessExecutor {
            work_dir,
            idle: Default::default(),
            idle_after,
            started: AtomicU64::new(0),
            pinned: Default::default(),
        }
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// How many environments were started since the beginning (tests: warm reuse).
    pub fn environments_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Stop environments idle longer than the idle limit; how many were stopped.
    pub fn reap(&self) -> usize {
        let pinned = lock(&self.pinned).clone();
        let mut idle = lock(&self.idle);
        let mut n = 0;
        for (key, envs) in idle.iter_mut() {
            let before = envs.len();
            let mut keep = pinned.get(key).copied().unwrap_or(0);
            envs.retain(|e| {
                if keep > 0 {
                    keep -= 1;
                    return true;
                }
                lock(&e.last_used).elapsed() < self.idle_after
            });
            n += before - envs.len();
        }
        idle.retain(|_, v| !v.is_empty());
        n
    }

    /// Keep exactly these pools warm with these many environments (provisioned concurrency):
    /// start what is missing (at most `MAX_WARM_STARTS` per call), and unpin the others.
    pub async fn keep_warm(&self, wanted: Vec<(FunctionSpec, CodeSource, usize)>) {
        const MAX_WARM_STARTS: usize = 8;
        *lock(&self.pinned) = wanted
            .iter()
            .map(|(s, _, n)| (s.pool_key.clone(), *n))
            .collect();
        let mut budget = MAX_WARM_STARTS;
        for (spec, code, n) in wanted {
            let have = lock(&self.idle).get(&spec.pool_key).map_or(0, Vec::len);
            for _ in have..n {
                if budget == 0 {
                    return;
                }
                budget -= 1;
                match self.start_env(&spec, code.clone()).await {
                    Ok((env, _)) => lock(&self.idle)
                        .entry(spec.pool_key.clone())
                        .or_default()
                        .push(env),
                    Err(_) => break,
                }
            }
        }
    }

    /// How many idle environments a pool holds (tests).
    pub fn idle_in(&self, prefix: &str) -> usize {
        lock(&self.idle)
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.len())
            .sum()
    }

    /// Stop every idle environment (shutdown).
    pub fn stop_all(&self) {
        lock(&self.idle).clear();
    }

    fn code_dir(&self, sha: &str) -> PathBuf {
        self.work_dir.join("code").join(safe(sha))
    }

    /// The unpacked code, unpacking it first if needed.
    async fn ensure_code(&self, spec: &FunctionSpec, code: CodeSource) -> Result<PathBuf, String> {
        let dir = self.code_dir(&spec.code_sha256);
        if dir.is_dir() {
            return Ok(dir);
        }
        let parent = self.work_dir.join("code");
        let tmp = parent.join(format!(
            ".tmp-{}-{}-{}",
            safe(&spec.code_sha256),
            std::process::id(),
            self.started.fetch_add(0, Ordering::Relaxed) ^ crate::now_ms()
        ));
        let dir2 = dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
            let zip = code()?;
            crate::code::unpack(&zip, &tmp)
                .map_err(|e| format!("the code could not be unpacked: {e}"))?;
            if std::fs::rename(&tmp, &dir2).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
                if !dir2.is_dir() {
                    return Err("the code could not be unpacked".into());
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())??;
        Ok(dir)
    }

    /// The function's layers merged, in order, into one directory (what AWS mounts at `/opt`),
    /// kept per list of layer hashes.
    async fn ensure_opt(&self, spec: &FunctionSpec) -> Result<Option<PathBuf>, String> {
        if spec.layers.is_empty() {
            return Ok(None);
        }
        use sha2::Digest;
        let key = sha2::Sha256::digest(
            spec.layers
                .iter()
                .map(|l| l.sha256.as_str())
                .collect::<Vec<_>>()
                .join(",")
                .as_bytes(),
        );
        let name: String = key.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let parent = self.work_dir.join("opt");
        let dir = parent.join(&name);
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        let tmp = parent.join(format!(
            ".tmp-{name}-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        let layers = spec.layers.clone();
        let dir2 = dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
            for l in &layers {
                let zip = (l.zip)()?;
                crate::code::unpack(&zip, &tmp)
                    .map_err(|e| format!("a layer could not be unpacked: {e}"))?;
            }
            if std::fs::rename(&tmp, &dir2).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
                if !dir2.is_dir() {
                    return Err("the layers could not be unpacked".into());
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())??;
        Ok(Some(dir))
    }

    fn runtime_dir(&self) -> Result<PathBuf, String> {
        let dir = self.work_dir.join("runtime");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for (name, text) in [
            ("bootstrap.py", PYTHON_BOOTSTRAP),
            ("bootstrap.js", NODE_BOOTSTRAP),
        ] {
            let p = dir.join(name);
            if std::fs::read_to_string(&p).ok().as_deref() != Some(text) {
                let tmp = dir.join(format!(".{name}.{}", std::process::id()));
                std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &p).map_err(|e| e.to_string())?;
            }
        }
        Ok(dir)
    }

    async fn start_env(
        &self,
        spec: &FunctionSpec,
        code: CodeSource,
    ) -> Result<(Arc<Environment>, Option<String>), (String, String)> {
        let (interp, warning) =
            resolve(&spec.runtime).map_err(|m| ("Runtime.Unavailable".to_string(), m))?;
        let task_root = self
            .ensure_code(spec, code)
            .await
            .map_err(|m| ("Runtime.CodeUnavailable".to_string(), m))?;
        let opt = self
            .ensure_opt(spec)
            .await
            .map_err(|m| ("Runtime.LayerUnavailable".to_string(), m))?;
        let runtime_dir = self
            .runtime_dir()
            .map_err(|m| ("Runtime.Unavailable".to_string(), m))?;
        let api = RuntimeApi::start()
            .await
            .map_err(|e| ("Runtime.Unavailable".to_string(), e.to_string()))?;
        let mut cmd = match &interp {
            Interpreter::Python(p) => {
                let mut c = Command::new(p);
                c.arg("-u").arg(runtime_dir.join("bootstrap.py"));
                c
            }
            Interpreter::Node(p) => {
                let mut c = Command::new(p);
                c.arg(runtime_dir.join("bootstrap.js"));
                c
            }
            Interpreter::Provided => Command::new(task_root.join("bootstrap")),
        };
        cmd.env_clear();
        for var in ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION", "SYSTEMROOT"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("LD_LIBRARY_PATH", task_root.join("lib"));
        if let Some(opt) = &opt {
            for (k, v) in opt_env(opt, &task_root) {
                cmd.env(k, v);
            }
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("LAMBDA_RUNTIME_DIR", &runtime_dir)
            .current_dir(&task_root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        #[cfg(target_os = "linux")]
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::setsid();
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = spawn_process(cmd).await.map_err(|e| {
            (
                "Runtime.InvalidEntrypoint".to_string(),
                format!("The runtime could not start: {e}"),
            )
        })?;
        self.started.fetch_add(1, Ordering::Relaxed);
        let pid = child.id() as i32;
        let log: SharedLog = Default::default();
        if let Some(w) = &warning {
            lock(&log).push(w);
        }
        if let Some(out) = child
            .stdout
            .take()
            .and_then(|o| tokio::process::ChildStdout::from_std(o).ok())
        {
            spawn_reader(out, log.clone());
        }
        if let Some(err) = child
            .stderr
            .take()
            .and_then(|e| tokio::process::ChildStderr::from_std(e).ok())
        {
            spawn_reader(err, log.clone());
        }
        Ok((
            Arc::new(Environment {
                api,
                child: std::sync::Mutex::new(child),
                pid,
                log,
                last_used: std::sync::Mutex::new(Instant::now()),
                fresh: AtomicBool::new(true),
                started: Instant::now(),
            }),
            warning,
        ))
    }
}

/// The variables that point a process at its layers, where AWS's point at `/opt`: `PATH`
/// (`/opt/bin`), `LD_LIBRARY_PATH` (`/opt/lib`), `PYTHONPATH` (`/opt/python` and its
/// `lib/python3.x/site-packages`), `NODE_PATH` (`/opt/nodejs/node_modules` and
/// `/opt/nodejs/nodeNN/node_modules`), and `SNAPSTACK_LAMBDA_OPT` naming the directory.
fn opt_env(opt: &Path, task_root: &Path) -> Vec<(String, String)> {
    let join = |dirs: Vec<PathBuf>| {
        dirs.iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    };
    let sub = |a: &str, b: &str| -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(opt.join(a))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(b))
            .filter(|p| p.is_dir())
            .collect();
        out.sort();
        out
    };
    let mut py = vec![opt.join("python")];
    py.extend(sub("python/lib", "site-packages"));
    let mut node = vec![opt.join("nodejs/node_modules")];
    node.extend(sub("nodejs", "node_modules"));
    let path = std::env::var("PATH").unwrap_or_default();
    vec![
        (
            "PATH".into(),
            format!("{path}:{}", opt.join("bin").display()),
        ),
        (
            "LD_LIBRARY_PATH".into(),
            format!(
                "{}:{}",
                task_root.join("lib").display(),
                opt.join("lib").display()
            ),
        ),
        ("PYTHONPATH".into(), join(py)),
        ("NODE_PATH".into(), join(node)),
        (
            "SNAPSTACK_LAMBDA_OPT".into(),
            opt.to_string_lossy().into_owned(),
        ),
    ]
}

fn spawn_reader<R: tokio::io::AsyncRead + Unpin + Send + 'static>(r: R, log: SharedLog) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            lock(&log).push(&line);
        }
    });
}

/// Max Memory Used of a process, in MB (its peak resident set).
fn peak_mb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb.div_ceil(1024))
}

enum End {
    Ok(Vec<u8>),
    Failed(Vec<u8>),
    /// The environment is unusable after this (init error, crash, timeout).
    Broken(Vec<u8>),
}

impl Executor for ProcessExecutor {
    fn invoke<'a>(
        &'a self,
        spec: &'a FunctionSpec,
        code: CodeSource,
        request_id: &'a str,
        arn: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let t0 = Instant::now();
            let pooled = lock(&self.idle).get_mut(&spec.pool_key).and_then(Vec::pop);
            let env = match pooled {
                Some(e) => e,
                None => match self.start_env(spec, code).await {
                    Ok((e, _)) => e,
                    Err((kind, message)) => {
                        let log = format!(
                            "START RequestId: {request_id} Version: {}\n{} {request_id} [ERROR] {kind}: {message}\nEND RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: 0.00 ms\tBilled Duration: 0 ms\tMemory Size: {} MB\tMax Memory Used: 0 MB\n",
                            spec.version,
                            now_iso(),
                            spec.memory_mb
                        );
                        return Outcome {
                            payload: error_payload(&kind, &message),
                            function_error: Some("Unhandled".into()),
                            log,
                            duration_ms: 0.0,
                        };
                    }
                },
            };
            let cold = env.fresh.swap(false, Ordering::Relaxed);
            let timeout = Duration::from_millis(spec.timeout_ms.max(1));
            let deadline_ms = crate::now_ms() + spec.timeout_ms;
            let mut head = format!("START RequestId: {request_id} Version: {}\n", spec.version);
            let start_run = Instant::now();
            let mut picked: Option<Instant> = None;
            let sent = env
                .api
                .events
                .send(Event {
                    request_id: request_id.to_string(),
                    deadline_ms,
                    arn: arn.to_string(),
                    payload,
                })
                .await
                .is_ok();
            let end = if !sent {
                End::Broken(error_payload(
                    "Runtime.ExitError",
                    &format!("RequestId: {request_id} Error: Runtime exited"),
                ))
            } else {
                let mut deadline = tokio::time::Instant::now()
                    + timeout
                    + if cold { INIT_BUDGET } else { Duration::ZERO };
                let mut posted = env.api.posted.lock().await;
                let mut exited = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tokio::select! {
                        p = posted.recv() => match p {
                            Some(Posted::Picked { request_id: id }) if id == request_id => {
                                picked = Some(Instant::now());
                                deadline = tokio::time::Instant::now() + timeout;
                            }
                            Some(Posted::Response { request_id: id, body }) if id == request_id => {
                                break End::Ok(body);
                            }
                            Some(Posted::Error { request_id: id, body }) if id == request_id => {
                                break End::Failed(body);
                            }
                            Some(Posted::TooLarge { request_id: id }) if id == request_id => {
                                break End::Failed(error_payload(
                                    "Function.ResponseSizeTooLarge",
                                    "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                                ));
                            }
                            Some(Posted::InitError { body }) => break End::Broken(body),
                            Some(_) => {}
                            None => {
                                break End::Broken(error_payload("Runtime.ExitError", "Runtime exited"));
                            }
                        },
                        _ = exited.tick() => {
                            let Ok(Some(status)) = lock(&env.child).try_wait() else {
                                continue;
                            };
                            // A post that raced the exit wins.
                            break match posted.try_recv() {
                                Ok(Posted::InitError { body }) => End::Broken(body),
                                Ok(Posted::Response { request_id: id, body }) if id == request_id => End::Ok(body),
                                Ok(Posted::Error { request_id: id, body }) if id == request_id => End::Failed(body),
                                _ => End::Broken(error_payload(
                                    "Runtime.ExitError",
                                    &format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                                )),
                            };
                        }
                        _ = tokio::time::sleep_until(deadline) => {
                            let secs = spec.timeout_ms as f64 / 1000.0;
                            let message = if picked.is_some() || !cold {
                                format!("Task timed out after {secs:.2} seconds")
                            } else {
                                format!("Init timed out after {:.2} seconds", INIT_BUDGET.as_secs_f64())
                            };
                            lock(&env.log).push(&format!("{} {request_id} {message}", now_iso()));
                            break End::Broken(error_payload(
                                "Sandbox.Timedout",
                                &format!("RequestId: {request_id} Error: {message}"),
                            ));
                        }
                    }
                }
            };
            // Let the pipes' last lines arrive.
            tokio::time::sleep(Duration::from_millis(2)).await;
            let run_from = picked.unwrap_or(start_run);
            let duration_ms = run_from.elapsed().as_secs_f64() * 1000.0;
            let output = std::mem::take(&mut lock(&env.log).text);
            head.push_str(&output);
            let init = if cold {
                format!(
                    "\tInit Duration: {:.2} ms",
                    (run_from - env.started).as_secs_f64() * 1000.0
                )
            } else {
                String::new()
            };
            head.push_str(&format!(
                "END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB{init}\t\n",
                duration_ms.ceil() as u64,
                spec.memory_mb,
                peak_mb(env.pid),
            ));
            let (payload, function_error, keep) = match end {
                End::Ok(b) => (b, None, true),
                End::Failed(b) => (b, Some("Unhandled".to_string()), true),
                End::Broken(b) => (b, Some("Unhandled".to_string()), false),
            };
            if keep {
                *lock(&env.last_used) = Instant::now();
                lock(&self.idle)
                    .entry(spec.pool_key.clone())
                    .or_default()
                    .push(env);
            } else {
                kill_group(env.pid);
            }
            let _ = t0;
            Outcome {
                payload,
                function_error,
                log: head,
                duration_ms,
            }
        })
    }

    fn retire(&self, prefix: &str) {
        lock(&self.idle).retain(|k, _| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_and_bounded_logs() {
        assert_eq!(safe("ab/c+d="), "ab_c-d");
        let mut l = LogBuf::default();
        for _ in 0..3000 {
            l.push(&"x".repeat(1000));
        }
        assert!(l.text.len() <= MAX_LOG);
    }
}
