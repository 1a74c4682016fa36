//! Which interpreter runs a runtime: `python3.12` when the machine has it, else the nearest
//! Python 3 (with a warning for the function's log); `node` for `nodejs*` (warning when its
//! major version differs); the function's own `bootstrap` for `provided*`. Candidates are
//! probed once by running them (a pyenv shim for a version not selected exists but fails).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The program that runs a function and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interpreter {
    Python(PathBuf),
    Node(PathBuf),
    /// `provided.*`: the code's own `bootstrap`.
    Provided,
}

/// The probed version (major, minor) of a program, or `None` when it does not run.
fn probe(program: &str, python: bool) -> Option<(u32, u32)> {
    type Probed = Mutex<HashMap<String, Option<(u32, u32)>>>;
    static CACHE: OnceLock<Probed> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(program) {
        return *v;
    }
    let out = if python {
        std::process::Command::new(program)
            .args([
                "-c",
                "import sys; print(sys.version_info[0], sys.version_info[1])",
            ])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
    } else {
        std::process::Command::new(program)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
    };
    let v = out.ok().filter(|o| o.status.success()).and_then(|o| {
        let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if python {
            let mut it = s.split_whitespace().map(|p| p.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        } else {
            let mut it = s
                .trim_start_matches('v')
                .split('.')
                .map(|p| p.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        }
    });
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(program.to_string(), v);
    v
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// `SNAPSTACK_LAMBDA_STRICT_RUNTIMES=1`: only the exact interpreter a runtime names.
fn strict() -> bool {
    std::env::var("SNAPSTACK_LAMBDA_STRICT_RUNTIMES").is_ok_and(|v| v == "1")
}

/// The interpreter for `runtime`, and a warning line when it is not the exact one; `Err` names
/// what is missing.
pub fn resolve(runtime: &str) -> Result<(Interpreter, Option<String>), String> {
    if runtime.starts_with("provided") {
        return Ok((Interpreter::Provided, None));
    }
    if let Some(v) = runtime.strip_prefix("python") {
        let want: Option<(u32, u32)> = v
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        if let Some((maj, min)) = want {
            let exact = format!("python{maj}.{min}");
            if probe(&exact, true) == Some((maj, min))
                && let Some(p) = on_path(&exact)
            {
                return Ok((Interpreter::Python(p), None));
            }
        }
        if strict() {
            return Err(format!(
                "python{} is not on this machine (SNAPSTACK_LAMBDA_STRICT_RUNTIMES=1 forbids running {runtime} with another Python)",
                v
            ));
        }
        // The nearest Python 3 that runs.
        let mut best: Option<(u32, PathBuf, (u32, u32))> = None;
        let mut names: Vec<String> = (6..=20).map(|m| format!("python3.{m}")).collect();
        names.push("python3".into());
        for name in names {
            let Some(found) = probe(&name, true) else {
                continue;
            };
            let Some(path) = on_path(&name) else { continue };
            let dist = want.map_or(0, |(_, min)| found.1.abs_diff(min));
            if best.as_ref().is_none_or(|(d, _, _)| dist < *d) {
                best = Some((dist, path, found));
            }
        }
        return match best {
            Some((_, path, (a, b))) => Ok((
                Interpreter::Python(path),
                Some(format!(
                    "snapstack: {runtime} is not on this machine; running with Python {a}.{b} instead"
                )),
            )),
            None => Err(format!(
                "No Python 3 interpreter on this machine to run {runtime}"
            )),
        };
    }
    if let Some(v) = runtime.strip_prefix("nodejs") {
        let want: Option<u32> = v.split('.').next().and_then(|m| m.parse().ok());
        let Some(path) = on_path("node") else {
            return Err(format!(
                "No Node.js (node) on this machine to run {runtime}"
            ));
        };
        let found = probe(&path.to_string_lossy(), false);
        if strict() && want.is_some() && found.map(|f| f.0) != want {
            return Err(format!(
                "Node.js {} is not on this machine (SNAPSTACK_LAMBDA_STRICT_RUNTIMES=1 forbids running {runtime} with another Node.js)",
                want.unwrap_or(0)
            ));
        }
        let warning = match (want, found) {
            (Some(w), Some((maj, _))) if w != maj => Some(format!(
                "snapstack: {runtime} is not on this machine; running with Node.js {maj} instead"
            )),
            _ => None,
        };
        return Ok((Interpreter::Node(path), warning));
    }
    Err(format!(
        "The runtime {runtime} cannot run on this machine (snapstack runs python3.x, nodejs and provided runtimes as local processes)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provided_and_unknown_runtimes() {
        assert_eq!(resolve("provided.al2023").unwrap().0, Interpreter::Provided);
        assert!(resolve("java21").is_err());
    }

    #[test]
    fn some_python_runs_any_python_runtime() {
        if on_path("python3").is_none() {
            return;
        }
        let (i, _) = resolve("python3.99").unwrap();
        assert!(matches!(i, Interpreter::Python(_)));
        let (_, warning) = resolve("python3.99").unwrap();
        assert!(warning.unwrap().contains("python3.99"));
    }
}
