//! LocalStack's init hooks: executable scripts and Python files in `boot.d`, `start.d`,
//! `ready.d` and `shutdown.d` under the init directory (`/etc/localstack/init`, or
//! `SNAPSTACK_INIT_DIR`), run in name order at each stage with `AWS_ENDPOINT_URL` naming this
//! server, so that `aws`/`awslocal` inside them reach it. Their results are served at
//! `GET /_localstack/init` and `/_localstack/init/<stage>` in LocalStack's shape.
//!
//! Stages: BOOT before the state is loaded and the listener opens; START once the services are
//! built, before `Ready.`; READY right after `Ready.` (in the background, as LocalStack); SHUTDOWN
//! after the last request, before the final save.

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
            let Ok(entries) = std::fs::read_dir(dir.join(stage.dir())) else {
                continue;
            };
            let mut found: Vec<(String, PathBuf)> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
                .filter(|(name, path)| runnable(name, path))
                .collect();
            found.sort();
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

/// Shell scripts and other executables, and Python files.
fn runnable(name: &str, path: &Path) -> bool {
    if name.starts_with('.') {
        return false;
    }
    if name.ends_with(".py") || name.ends_with(".sh") {
        return true;
    }
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
    } else if name.ends_with(".sh") {
        let mut c = std::process::Command::new("sh");
        c.arg(path);
        c
    } else {
        std::process::Command::new(path)
    };
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("LOCALSTACK_HOSTNAME", "localhost")
        .stdin(std::process::Stdio::null());
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
}
