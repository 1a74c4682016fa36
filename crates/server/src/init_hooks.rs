//! LocalStack's init hooks: shell scripts (`*.sh`) and Python files (`*.py`) in `boot.d`,
//! `start.d`, `ready.d` and `shutdown.d` under the init directory (`/etc/localstack/init`, or
//! `SNAPSTACK_INIT_DIR`), run one after another at each stage with `AWS_ENDPOINT_URL` naming this
//! server, so that `aws`/`awslocal` inside them reach it. As LocalStack: a stage's files run in
//! name order, then its subdirectories' in name order, depth first; an executable `.sh` runs
//! directly, honouring its shebang (one that is not executable, which LocalStack would fail,
//! runs with `sh`); a failing script is marked `ERROR` and the next one runs. Their results are
//! served at `GET /_localstack/init` and `/_localstack/init/<stage>` in LocalStack's shape.
//!
//! Stages, in LocalStack's order: BOOT before the state is loaded and the listener opens; START
//! once the services are built and the listener is bound, before requests are served (a request
//! then is answered 503 at once, so that a script calling AWS does not stall the start); READY
//! once requests are served, before `Ready.` is printed (so a test framework waiting for
//! `Ready.` finds what ready.d made); SHUTDOWN after the last request, before the final save.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::{info, warn};

/// A stage of the lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Boot,
    Start,
    Ready,
    Shutdown,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Boot, Stage::Start, Stage::Ready, Stage::Shutdown];

    /// `BOOT`, `START`, `READY`, `SHUTDOWN`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Boot => "BOOT",
            Stage::Start => "START",
            Stage::Ready => "READY",
            Stage::Shutdown => "SHUTDOWN",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Stage::Boot => "boot.d",
            Stage::Start => "start.d",
            Stage::Ready => "ready.d",
            Stage::Shutdown => "shutdown.d",
        }
    }

    /// A stage named in a path (`ready`, any case).
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name().eq_ignore_ascii_case(s))
    }
}

/// How a script ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptState {
    Unknown,
    Running,
    Successful,
    Error,
}

impl ScriptState {
    fn name(self) -> &'static str {
        match self {
            ScriptState::Unknown => "UNKNOWN",
            ScriptState::Running => "RUNNING",
            ScriptState::Successful => "SUCCESSFUL",
            ScriptState::Error => "ERROR",
        }
    }
}

#[derive(Clone, Debug)]
struct Script {
    stage: Stage,
    name: String,
    path: PathBuf,
    state: ScriptState,
}

/// The longest a script may run before it is killed and counted as an error.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
/// At most this many scripts per stage are run (the rest are listed as errors).
pub const MAX_SCRIPTS: usize = 256;

/// The init hooks of one server.
pub struct InitHooks {
    scripts: Mutex<Vec<Script>>,
    completed: Mutex<Vec<Stage>>,
}

impl InitHooks {
    /// Find the scripts of every stage under `dir` (a missing directory has none).
    pub fn discover(dir: &Path) -> InitHooks {
        let mut scripts = Vec::new();
        for stage in Stage::ALL {
            let root = dir.join(stage.dir());
            let mut found = Vec::new();
            walk(&root, &root, 0, &mut found);
            for (i, (name, path)) in found.into_iter().enumerate() {
                scripts.push(Script {
                    stage,
                    name,
                    path,
                    state: if i < MAX_SCRIPTS {
                        ScriptState::Unknown
                    } else {
                        ScriptState::Error
                    },
                });
            }
        }
        InitHooks {
            scripts: Mutex::new(scripts),
            completed: Mutex::new(Vec::new()),
        }
    }

    /// Run a stage's scripts in name order; a failing script is logged and the next one runs.
    pub async fn run(&self, stage: Stage, endpoint: &str) {
        let todo: Vec<(usize, PathBuf, String)> = {
            let scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
            scripts
                .iter()
                .enumerate()
                .filter(|(_, s)| s.stage == stage && s.state == ScriptState::Unknown)
                .map(|(i, s)| (i, s.path.clone(), s.name.clone()))
                .collect()
        };
        for (i, path, name) in todo {
            self.set(i, ScriptState::Running);
            let endpoint = endpoint.to_string();
            let ok = tokio::task::spawn_blocking(move || run_script(&path, &endpoint))
                .await
                .unwrap_or(false);
            if ok {
                info!(stage = stage.name(), script = %name, "init script finished");
            } else {
                warn!(stage = stage.name(), script = %name, "init script failed");
            }
            self.set(
                i,
                if ok {
                    ScriptState::Successful
                } else {
                    ScriptState::Error
                },
            );
        }
        self.completed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stage);
    }

    fn set(&self, i: usize, state: ScriptState) {
        if let Some(s) = self
            .scripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(i)
        {
            s.state = state;
        }
    }

    /// `GET /_localstack/init` (every stage) or `/_localstack/init/<stage>`.
    pub fn report(&self, only: Option<Stage>) -> Value {
        let scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        let completed = self.completed.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<Value> = scripts
            .iter()
            .filter(|s| only.is_none_or(|st| s.stage == st))
            .map(|s| json!({"stage": s.stage.name(), "name": s.name, "state": s.state.name()}))
            .collect();
        match only {
            Some(stage) => json!({"completed": completed.contains(&stage), "scripts": list}),
            None => {
                let done: serde_json::Map<String, Value> = Stage::ALL
                    .iter()
                    .map(|st| (st.name().to_string(), json!(completed.contains(st))))
                    .collect();
                json!({"completed": done, "scripts": list})
            }
        }
    }
}

/// Subdirectories deeper than this are not searched.
const MAX_DEPTH: usize = 8;

/// The scripts under `dir` in LocalStack's order (`os.walk`, sorted, top down): this
/// directory's files by name, then each subdirectory's by name, depth first. Names are relative
/// to the stage directory `root`. Hidden files and directories are skipped; the walk stops at
/// [`MAX_DEPTH`] and after a few more than [`MAX_SCRIPTS`] scripts.
fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            dirs.push((name, path));
        } else if path.is_file() && runnable(&name) {
            files.push((name, path));
        }
    }
    files.sort();
    dirs.sort();
    for (_, path) in files {
        if found.len() > MAX_SCRIPTS {
            return;
        }
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        found.push((name, path));
    }
    if depth < MAX_DEPTH {
        for (_, path) in dirs {
            walk(root, &path, depth + 1, found);
        }
    }
}

/// Shell scripts and Python files, the two kinds LocalStack runs.
fn runnable(name: &str) -> bool {
    name.ends_with(".py") || name.ends_with(".sh")
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Run one script to its end (bounded by [`SCRIPT_TIMEOUT`]); whether it exited 0.
fn run_script(path: &Path, endpoint: &str) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut cmd = if name.ends_with(".py") {
        let mut c = std::process::Command::new("python3");
        c.arg(path);
        c
    } else if executable(path) {
        // As LocalStack: run directly, so the shebang chooses the interpreter.
        std::process::Command::new(path)
    } else {
        warn!(script = %path.display(), "init script is not executable: running it with sh (LocalStack would fail it; chmod +x it)");
        let mut c = std::process::Command::new("sh");
        c.arg(path);
        c
    };
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("LOCALSTACK_HOSTNAME", "localhost")
        .stdin(std::process::Stdio::null())
        // Into the log: stdout is the server's own (its address, then `Ready.`).
        .stdout(std::io::stderr());
    // `awslocal` reads LOCALSTACK_HOST (default localhost.localstack.cloud:4566): unless the
    // user set one, name this server's port.
    if std::env::var_os("LOCALSTACK_HOST").is_none()
        && let Some(host) = endpoint.strip_prefix("http://")
    {
        cmd.env("LOCALSTACK_HOST", host);
    }
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ] {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() > SCRIPT_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return false,
        }
    }
}

/// The answer to a request that comes while the start.d scripts run.
const STARTING: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: ";
const STARTING_BODY: &str = "{\"error\":\"snapstack is starting: requests are served once the start.d init scripts have run (LocalStack's START stage); make AWS calls from ready.d\"}";

/// Answer every connection on `listener` 503 at once until `done` turns true, then hand the
/// listener back (connections that come meanwhile wait in its backlog).
pub async fn refuse_while_starting(
    listener: tokio::net::TcpListener,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> tokio::net::TcpListener {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        tokio::select! {
            biased;
            _ = done.wait_for(|d| *d) => return listener,
            accepted = listener.accept() => {
                let Ok((mut tcp, _)) = accepted else { continue };
                tokio::spawn(async move {
                    // Read what the client sent first, so it sees the answer rather than a reset.
                    let mut buf = [0u8; 8192];
                    let _ = tokio::time::timeout(Duration::from_millis(500), tcp.read(&mut buf)).await;
                    let answer = format!("{STARTING}{}\r\n\r\n{STARTING_BODY}", STARTING_BODY.len());
                    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(answer.as_bytes())).await;
                    let _ = tcp.shutdown().await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_run_in_order_and_report() {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.d");
        std::fs::create_dir_all(&ready).unwrap();
        let out = dir.path().join("out.txt");
        std::fs::write(
            ready.join("01-first.sh"),
            format!("echo \"first $AWS_ENDPOINT_URL\" >> {}\n", out.display()),
        )
        .unwrap();
        std::fs::write(ready.join("02-fails.sh"), "exit 3\n").unwrap();
        std::fs::write(
            ready.join("03-third.py"),
            format!(
                "open({:?}, 'a').write('third\\n')\n",
                out.display().to_string()
            ),
        )
        .unwrap();
        std::fs::write(ready.join("README.txt"), "not a script").unwrap();
        let hooks = InitHooks::discover(dir.path());
        let rt = tokio::runtime::Runtime::new().unwrap();
        assert_eq!(hooks.report(Some(Stage::Ready))["completed"], false);
        rt.block_on(hooks.run(Stage::Ready, "http://127.0.0.1:4566"));
        let r = hooks.report(None);
        assert_eq!(r["completed"]["READY"], true);
        assert_eq!(r["completed"]["BOOT"], false);
        let states: Vec<(String, String)> = r["scripts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().into(),
                    s["state"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("01-first.sh".into(), "SUCCESSFUL".into()),
                ("02-fails.sh".into(), "ERROR".into()),
                ("03-third.py".into(), "SUCCESSFUL".into())
            ]
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "first http://127.0.0.1:4566\nthird\n"
        );
        assert_eq!(Stage::parse("ready"), Some(Stage::Ready));
        assert_eq!(Stage::parse("nope"), None);
    }

    #[test]
    fn files_first_then_subdirectories_depth_first_and_shebangs_honoured() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.d");
        for d in ["b-sub/inner", "a-sub", ".hidden"] {
            std::fs::create_dir_all(ready.join(d)).unwrap();
        }
        let out = dir.path().join("order.txt");
        let line = |tag: &str| format!("echo {tag} >> {}\n", out.display());
        for (file, tag) in [
            ("z-last-file.sh", "z"),
            ("a-sub/1.sh", "a1"),
            ("b-sub/2.sh", "b2"),
            ("b-sub/inner/0.sh", "b-inner0"),
            (".hidden/x.sh", "hidden"),
            ("m-file.sh", "m"),
        ] {
            std::fs::write(ready.join(file), line(tag)).unwrap();
        }
        std::fs::write(ready.join("notes.txt"), line("txt")).unwrap();
        // An executable `.sh` whose shebang names Python: run directly, it works; under `sh`
        // it would fail.
        let py = ready.join("n-python.sh");
        std::fs::write(
            &py,
            format!(
                "#!/usr/bin/env python3\nopen({:?}, 'a').write('py' + chr(10))\n",
                out.display().to_string()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hooks = InitHooks::discover(dir.path());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(hooks.run(Stage::Ready, "http://127.0.0.1:4566"));
        let r = hooks.report(Some(Stage::Ready));
        let names: Vec<&str> = r["scripts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "m-file.sh",
                "n-python.sh",
                "z-last-file.sh",
                "a-sub/1.sh",
                "b-sub/2.sh",
                "b-sub/inner/0.sh"
            ]
        );
        assert!(
            r["scripts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["state"] == "SUCCESSFUL"),
            "{r}"
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "m\npy\nz\na1\nb2\nb-inner0\n"
        );
    }
}
