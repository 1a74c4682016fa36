//! End to end: the real `snapstack` binary on a free port with a temporary volume, driven by boto3
//! (`tests/e2e/client.py`) and by raw HTTP for the internal endpoints.
//!
//! Every wait polls for a condition with a generous timeout; nothing depends on wall-clock speed.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

#[test]
fn cli_without_arguments_and_bad_configuration() {
    let out = Command::new(BIN).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("snapstack"));
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    for (var, value, allowed) in [
        (
            "SNAPSHOT_SAVE_STRATEGY",
            "SOMETIMES",
            "ON_REQUEST, ON_SHUTDOWN, SCHEDULED, MANUAL",
        ),
        (
            "SNAPSHOT_LOAD_STRATEGY",
            "LAZY",
            "ON_REQUEST, ON_STARTUP, MANUAL",
        ),
        ("PERSISTENCE", "maybe", "0, 1"),
        ("SNAPSHOT_FLUSH_INTERVAL", "soon", "seconds"),
        ("GATEWAY_LISTEN", "nowhere", "host:port"),
        ("SNAPSTACK_LOG", "loud", "error, warn, info, debug, trace"),
        (
            "SQS_ENDPOINT_STRATEGY",
            "off",
            "standard, domain, path, dynamic",
        ),
        ("LOCALSTACK_HOST", "http://localhost:4566", "host[:port]"),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .env(var, value)
            .env(
                "GATEWAY_LISTEN",
                if var == "GATEWAY_LISTEN" {
                    value
                } else {
                    "127.0.0.1:0"
                },
            )
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var) && err.contains(allowed), "{err}");
    }
    // A flag overrides its variable (and is checked the same way).
    let out = Command::new(BIN)
        .args(["serve", "--save-strategy", "NEVER"])
        .env("SNAPSHOT_SAVE_STRATEGY", "MANUAL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SNAPSHOT_SAVE_STRATEGY"));
    let out = Command::new(BIN)
        .args(["serve", "--sqs-endpoint-strategy", "virtual"])
        .env("SQS_ENDPOINT_STRATEGY", "path")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SQS_ENDPOINT_STRATEGY") && err.contains("\"virtual\""),
        "{err}"
    );
}

#[test]
fn without_persistence_ssm_semantics_errors_and_isolation() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &[]);
    let (status, body) = s.http("GET", "/_localstack/health");
    assert_eq!(status, 200);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["features"]["persistence"], "disabled");
    assert_eq!(h["services"]["ssm"], "running");
    assert_eq!(h["services"]["sts"], "running");
    assert_eq!(h["services"]["sqs"], "running");
    assert_eq!(h["services"]["dynamodb"], "running");
    let (status, body) = s.http("GET", "/_localstack/info");
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["persistence"], false);
    assert_eq!(
        info["session_id"].as_str().map(str::len),
        Some(36),
        "{info}"
    );
    assert!(info["uptime"].as_u64().is_some(), "{info}");
    let (status, _) = s.http("POST", "/_localstack/info");
    assert_eq!(status, 405);
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("persistence is disabled"), "{body}");
    s.py(&["suite", "errors"]);
    s.py(&[
        "ctx",
        "111122223333",
        "eu-west-1",
        "sts",
        "111122223333",
        "put",
        "/iso",
        "a",
        "get",
        "/iso",
        "a", //
        "ctx",
        "111122223333",
        "us-east-1",
        "missing",
        "/iso",
        "put",
        "/iso",
        "b", //
        "ctx",
        "222233334444",
        "eu-west-1",
        "missing",
        "/iso",
        "sts",
        "222233334444", //
        "ctx",
        "not-an-account",
        "eu-west-1",
        "missing",
        "/iso",
        "sts",
        "000000000000", //
        "ctx",
        "111122223333",
        "eu-west-1",
        "get",
        "/iso",
        "a", //
        "ctx",
        "111122223333",
        "us-east-1",
        "get",
        "/iso",
        "b",
    ]);
    assert!(
        !dir.path().join("state").exists(),
        "PERSISTENCE=0 wrote state"
    );
}

#[test]
fn on_request_save_survives_kill9_and_loads_on_first_touch() {
    let dir = tempdir();
    // A generation per group commit (the write-ahead log off): the log's path is covered by
    // tests/wal.rs and the crash loops.
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("SNAPSTACK_WAL", "0"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&[
        "put", "/k/one", "1", "burst", "/burst/", "40", "put", "/k/one", "2",
    ]);
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["dirty"], false, "{st}");
    s.kill9();

    // Load strategy ON_REQUEST (the default): nothing loads until a request touches SSM.
    let mut s = Server::start(dir.path(), &[("PERSISTENCE", "1")]);
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["loaded"], false, "{st}");
    assert_eq!(
        st["services"]["ssm"]["loaded_generation"],
        serde_json::Value::Null
    );
    s.py(&["get", "/k/one", "2", "getburst", "/burst/", "40"]);
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["loaded"], true, "{st}");
    assert!(st["services"]["ssm"]["loaded_generation"].is_u64(), "{st}");
    assert_eq!(st["services"]["ssm"]["records"], 41, "{st}");
}

#[test]
fn ssm_documents_commands_and_windows_survive_kill9() {
    let dir = tempdir();
    let ids = dir.path().join("ssm-ids.json");
    let ids = ids.to_str().unwrap();
    // The write-ahead log on (the default): every answered write is durable.
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/beside/docs", "p", "ssmext-prepare", ids]);
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.py(&["get", "/beside/docs", "p", "ssmext-check", ids]);
    // And once more from a saved generation.
    let (status, body) = s.http("POST", "/_localstack/state/ssm/save");
    assert_eq!(status, 200, "{body}");
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.py(&["get", "/beside/docs", "p"]);
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["load_failed"], false, "{st}");
}

#[test]
fn ssm_associations_opsitems_baselines_inventory_and_more_survive_kill9() {
    let dir = tempdir();
    let state = dir.path().join("ssm-wide.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.script("ssm_wide.py", &["prepare", state]);
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script("ssm_wide.py", &["check", state]);
    // And once more from a saved generation.
    let (status, body) = s.http("POST", "/_localstack/state/ssm/save");
    assert_eq!(status, 200, "{body}");
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script("ssm_wide.py", &["check", state]);
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["load_failed"], false, "{st}");
}

#[test]
fn kms_keys_ciphertexts_and_signatures_survive_kill9() {
    let dir = tempdir();
    let state = dir.path().join("kms-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let more = dir.path().join("kms-more.json");
    let more = more.to_str().unwrap();
    let mut s = Server::start(dir.path(), &env);
    let ops = dir.path().join("kms-ops.json");
    let ops = ops.to_str().unwrap();
    s.script("kms_client.py", &["prepare", state]);
    s.script("kms_client.py", &["prepare_more", more]);
    s.script("kms_client.py", &["prepare_ops", ops]);
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_client.py", &["check", state]);
    s.script("kms_client.py", &["check_more", more]);
    s.script("kms_client.py", &["check_ops", ops]);
    // And once more from a saved generation.
    let (status, body) = s.http("POST", "/_localstack/state/kms/save");
    assert_eq!(status, 200, "{body}");
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_client.py", &["check", state]);
    s.script("kms_client.py", &["check_more", more]);
    s.script("kms_client.py", &["check_ops", ops]);
    let st = s.state();
    assert_eq!(st["services"]["kms"]["load_failed"], false, "{st}");
}

#[test]
fn scheduled_save_survives_kill9_once_clean_and_on_startup_loads_first() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
        ("SNAPSHOT_FLUSH_INTERVAL", "1"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/sched", "a", "put", "/sched", "b"]);
    s.wait_for("a scheduled save", |s| {
        let st = s.state();
        st["services"]["ssm"]["dirty"] == false && st["services"]["ssm"]["generation"].is_u64()
    });
    s.kill9();

    let mut s = Server::start(
        dir.path(),
        &[
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP"),
        ],
    );
    // Loaded before the first request.
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["loaded"], true, "{st}");
    assert!(st["services"]["ssm"]["loaded_generation"].is_u64(), "{st}");
    assert_eq!(st["services"]["ssm"]["records"], 1, "{st}");
    s.py(&["get", "/sched", "b"]);
}

#[test]
fn on_shutdown_save_survives_sigterm_and_manual_load_waits_for_the_endpoint() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_SHUTDOWN"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/shut", "down"]);
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["dirty"], true, "{st}");
    assert_eq!(st["services"]["ssm"]["generation"], serde_json::Value::Null);
    let status = s.term();
    assert!(status.success(), "exit status {status:?}");

    let mut s = Server::start(
        dir.path(),
        &[("PERSISTENCE", "1"), ("SNAPSHOT_LOAD_STRATEGY", "MANUAL")],
    );
    s.py(&["missing", "/shut"]);
    let (status, body) = s.http("POST", "/_localstack/state/ssm/load");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        lines(&body),
        vec![serde_json::json!({"service": "ssm", "status": "ok"})]
    );
    s.py(&["get", "/shut", "down"]);
}

#[test]
fn manual_save_keeps_only_what_the_endpoint_saved_and_endpoints_behave() {
    let dir = tempdir();
    let env = [("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/m/a", "1"]);
    let (status, body) = s.http("POST", "/_localstack/state/ssm/save");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        lines(&body),
        vec![serde_json::json!({"service": "ssm", "status": "ok"})]
    );
    s.py(&["put", "/m/b", "2"]);
    // The diagnose report names the configuration and the saved files.
    let (status, body) = s.http("GET", "/_localstack/diagnose");
    assert_eq!(status, 200, "{body}");
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(d["config"]["PERSISTENCE"], true, "{d}");
    assert_eq!(d["config"]["SNAPSHOT_SAVE_STRATEGY"], "MANUAL", "{d}");
    assert_eq!(d["environment"]["PERSISTENCE"], "1", "{d}");
    assert_eq!(d["persistence"]["services"]["ssm"]["generation"], 1, "{d}");
    assert!(d["file-tree"]["files"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["health"]["services"]["ssm"], "running", "{d}");
    // Unknown services, bad names and trickery.
    let (status, body) = s.http("POST", "/_localstack/state/nosuch/save");
    assert_eq!(status, 404, "{body}");
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string());
    for bad in [
        "/_localstack/state/../save",
        "/_localstack/state/%2e%2e/save",
        "/_localstack/state/ssm%2F..%2F/save",
        "/_localstack/state/SSM/save",
        "/_localstack/state/../../etc/save",
    ] {
        let (status, body) = s.http("POST", bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = s.http("GET", "/_localstack/state/ssm/save");
    assert_eq!(status, 405);
    s.kill9();

    let mut s = Server::start(dir.path(), &env);
    s.py(&["get", "/m/a", "1", "missing", "/m/b"]);
    // Reset empties the service; a load brings the saved state back.
    let (status, body) = s.http("POST", "/_localstack/state/ssm/reset");
    assert_eq!(
        (status, lines(&body)[0]["status"].clone()),
        (200, "ok".into())
    );
    s.py(&["missing", "/m/a"]);
    let (status, body) = s.http("POST", "/_localstack/state/load");
    assert_eq!(status, 200);
    let ls = lines(&body);
    assert!(ls.len() >= 5, "{body}");
    assert!(ls.iter().all(|l| l["status"] == "ok"), "{body}");
    s.py(&["get", "/m/a", "1", "put", "/m/c", "3"]);
    // Global save and reset stream one line per service.
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200);
    let ls = lines(&body);
    let mut names: Vec<&str> = ls.iter().map(|l| l["service"].as_str().unwrap()).collect();
    names.sort();
    // One line per registered service: those health lists as not disabled (it lists the
    // models this build does not serve as `disabled`).
    let (_, health) = s.http("GET", "/_localstack/health");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    let mut served: Vec<&str> = health["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, state)| *state != "disabled")
        .map(|(name, _)| name.as_str())
        .collect();
    // DynamoDB Streams reads DynamoDB's store and owns none: served, never saved.
    served.retain(|s| *s != "dynamodbstreams");
    served.sort();
    assert_eq!(names, served);
    for core in ["dynamodb", "s3", "sqs", "ssm", "sts"] {
        assert!(names.contains(&core), "{names:?}");
    }
    assert!(ls.iter().all(|l| l["status"] == "ok"), "{body}");
    let (status, body) = s.http("POST", "/_localstack/state/reset");
    assert_eq!(status, 200);
    assert_eq!(lines(&body).len(), served.len());
    s.py(&["missing", "/m/c"]);
    s.kill9();

    // The global save held /m/c; the reset after it was never saved.
    let mut s = Server::start(dir.path(), &env);
    s.py(&["get", "/m/c", "3", "get", "/m/a", "1"]);
}

#[test]
fn a_damaged_snapshot_is_named_survived_and_never_overwritten() {
    let dir = tempdir();
    let env = [("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/d", "1"]);
    let (status, _) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200);
    s.kill9();
    let manifests = dir.path().join("state/manifests/ssm");
    let files: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::write(&files[0], b"garbage, not a manifest").unwrap();

    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
        ("SNAPSHOT_FLUSH_INTERVAL", "1"),
        ("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP"),
    ];
    let mut s = Server::start(dir.path(), &env);
    let log = s.log();
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        log.contains("ssm") && log.contains(&name),
        "log names neither service nor file:\n{log}"
    );
    let st = s.state();
    assert_eq!(st["services"]["ssm"]["load_failed"], true, "{st}");
    // The server serves; new writes are not saved over the damaged snapshot.
    s.py(&["missing", "/d", "put", "/d", "2", "get", "/d", "2"]);
    assert!(s.term().success());
    let after: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(after, files);
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        b"garbage, not a manifest"
    );
}

#[test]
fn on_request_answers_a_failed_save_with_a_server_error_and_recovers() {
    let dir = tempdir();
    // The save path (the write-ahead log off); a failing log append is tests/wal.rs's and
    // tests/disk_full.rs's.
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("SNAPSTACK_WAL", "0"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/ok", "1"]);
    // Make the next save fail: the pack directory becomes a file.
    let packs = dir.path().join("state/packs");
    let aside = dir.path().join("state/packs.aside");
    std::fs::rename(&packs, &aside).unwrap();
    std::fs::write(&packs, b"not a directory").unwrap();
    s.py(&["putfails", "/bad", "2", "InternalServerError"]);
    let st = s.state();
    assert!(st["services"]["ssm"]["last_error"].is_string(), "{st}");
    // Reads never wait for saves and keep working.
    s.py(&["get", "/ok", "1"]);
    std::fs::remove_file(&packs).unwrap();
    std::fs::rename(&aside, &packs).unwrap();
    // The next save retries and succeeds.
    s.py(&["put", "/ok2", "3"]);
    s.kill9();
    let mut s = Server::start(dir.path(), &[("PERSISTENCE", "1")]);
    s.py(&["get", "/ok", "1", "get", "/ok2", "3"]);
}

/// STS through boto3: every operation; then credentials from AssumeRole are records, so after a
/// hard kill and a restart a client signing with them is still the assumed role.
#[test]
fn sts_issued_credentials_survive_kill9() {
    let dir = tempdir();
    let creds = dir.path().join("creds.json");
    let creds = creds.to_str().unwrap();
    let role = "arn:aws:iam::123456789012:role/deploy/Deployer";
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let jwt = dir.path().join("jwt.json");
    let jwt = jwt.to_str().unwrap();
    let mut s = Server::start(dir.path(), &env);
    s.py(&[
        "stssuite", "assume", role, "ci-run", creds, "whoami", creds, "jwt", jwt,
    ]);
    let st = s.state();
    // Durable before the answers: every write is in the log.
    assert_eq!(
        st["services"]["sts"]["logged_version"], st["services"]["sts"]["version"],
        "{st}"
    );
    s.kill9();

    let mut s = Server::start(dir.path(), &[("PERSISTENCE", "1")]);
    s.py(&["whoami", creds, "jwtcheck", jwt]);
    let st = s.state();
    assert_eq!(st["services"]["sts"]["loaded"], true, "{st}");
    // Keys this server never issued stay the root of the account they name.
    s.py(&["ctx", "111122223333", "us-east-1", "sts", "111122223333"]);
}

/// The README's session with the AWS CLI: put, hard kill, restart, get.
#[test]
fn the_readme_session_with_the_aws_cli() {
    if Command::new("aws").arg("--version").output().is_err() {
        eprintln!("the AWS CLI is not installed; skipping (boto3 covers the same ground)");
        return;
    }
    let dir = tempdir();
    let aws = |s: &Server, args: &[&str]| -> String {
        let out = Command::new("aws")
            .args(["--endpoint-url", &s.endpoint])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let s = Server::start(dir.path(), &env);
    aws(
        &s,
        &[
            "ssm",
            "put-parameter",
            "--name",
            "/app/db/url",
            "--value",
            "postgres://db",
            "--type",
            "String",
        ],
    );
    s.kill9();
    let s = Server::start(dir.path(), &[("PERSISTENCE", "1")]);
    let v = aws(
        &s,
        &[
            "ssm",
            "get-parameter",
            "--name",
            "/app/db/url",
            "--query",
            "Parameter.Value",
            "--output",
            "text",
        ],
    );
    assert_eq!(v, "postgres://db");
}

/// LocalStack's `DEBUG=1`: a request log line per call naming the service and the operation the
/// request was matched to, with its status.
#[test]
fn debug_logs_each_call_with_its_operation() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &[("DEBUG", "1")]);
    s.py(&["ctx", "000000000000", "us-east-1", "put", "/debug/p", "v"]);
    let (status, _) = s.http("GET", "/nobucket-here/key");
    assert_eq!(status, 404);
    s.wait_for("the request log lines", |s| {
        let log = s.log();
        log.contains("AWS ssm.PutParameter => 200") && log.contains("AWS s3.GetObject => 404")
    });
}

/// LocalStack's start-up contract: init hooks run at each stage with `AWS_ENDPOINT_URL` set (a
/// ready.d script creates a bucket with boto3) and report at `/_localstack/init`; `SERVICES`
/// starts only the services named (health lists the others as disabled, and their requests get
/// an error naming the variable); `GATEWAY_LISTEN` serves every address it lists;
/// `EAGER_SERVICE_LOADING` loads the state at start; shutdown.d runs on SIGTERM.
#[test]
fn init_hooks_services_and_several_listen_addresses() {
    let dir = tempdir();
    let init = dir.path().join("init");
    for stage in ["boot.d", "ready.d", "shutdown.d"] {
        std::fs::create_dir_all(init.join(stage)).unwrap();
    }
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    std::fs::write(
        init.join("boot.d/00-mark.sh"),
        format!("touch {}/boot\n", marks.display()),
    )
    .unwrap();
    std::fs::write(
        init.join("ready.d/10-bucket.py"),
        "import os, boto3\nboto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL']).create_bucket(Bucket='from-init')\n",
    )
    .unwrap();
    std::fs::write(init.join("ready.d/20-fails.sh"), "exit 7\n").unwrap();
    std::fs::write(
        init.join("shutdown.d/00-mark.sh"),
        format!("touch {}/shutdown\n", marks.display()),
    )
    .unwrap();
    let second = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:0,127.0.0.1:{second}");
    let init_dir = init.display().to_string();
    let s = Server::start(
        dir.path(),
        &[
            ("SNAPSTACK_INIT_DIR", &init_dir),
            ("SERVICES", "s3,sts"),
            ("EAGER_SERVICE_LOADING", "1"),
            ("PERSISTENCE", "1"),
            ("GATEWAY_LISTEN", &listen),
        ],
    );
    assert!(marks.join("boot").exists(), "boot.d ran before Ready.");
    s.wait_for("the ready.d scripts", |s| {
        let (_, body) = s.http("GET", "/_localstack/init/ready");
        serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v["completed"] == true)
    });
    let (status, body) = s.http("GET", "/_localstack/init");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["completed"]["BOOT"], true, "{v}");
    assert_eq!(v["completed"]["START"], true, "{v}");
    let states: Vec<(String, String)> = v["scripts"]
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
    assert!(
        states.contains(&("10-bucket.py".into(), "SUCCESSFUL".into())),
        "{v}"
    );
    assert!(
        states.contains(&("20-fails.sh".into(), "ERROR".into())),
        "{v}"
    );
    // The bucket the hook made, listed through the second address.
    let (status, body) = common::http(&format!("127.0.0.1:{second}"), "GET", "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Name>from-init</Name>"), "{body}");
    // Health: what SERVICES started, and what it left out.
    let (_, body) = s.http("GET", "/_localstack/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["services"]["s3"], "running", "{h}");
    assert_eq!(h["services"]["sts"], "running", "{h}");
    assert_eq!(h["services"]["ssm"], "disabled", "{h}");
    assert_eq!(h["services"]["dynamodb"], "disabled", "{h}");
    // A request for a service left out names the variable.
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    use std::io::{Read, Write};
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.GetParameter\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{{\"Name\":\"p\"}}"
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 501"), "{raw}");
    assert!(raw.contains("SERVICES"), "{raw}");
    assert!(s.term().success());
    assert!(marks.join("shutdown").exists(), "shutdown.d ran on SIGTERM");
}

/// A chosen generation is loaded back (`POST /_localstack/state/<svc>/load?generation=N`), so a
/// bad run can be undone: the state becomes that generation's, durably (it survives a kill -9
/// under ON_REQUEST with the write-ahead log), and the newer generations stay on disk.
#[test]
fn a_chosen_generation_is_loaded_back_and_survives_a_restart() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.py(&["put", "/gen/a", "one"]);
    let (status, _) = s.http("POST", "/_localstack/state/ssm/save");
    assert_eq!(status, 200);
    let first = s.state()["services"]["ssm"]["generation"].as_u64().unwrap();
    s.py(&["put", "/gen/a", "two"]);
    let (status, _) = s.http("POST", "/_localstack/state/ssm/save");
    assert_eq!(status, 200);
    s.py(&["put", "/gen/a", "three"]);
    let (status, body) = s.http(
        "POST",
        &format!("/_localstack/state/ssm/load?generation={first}"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    s.py(&["get", "/gen/a", "one"]);
    let st = s.state();
    assert_eq!(
        st["services"]["ssm"]["loaded_generation"].as_u64(),
        Some(first),
        "{st}"
    );
    // Refusals: not a number, a generation that does not exist (non-2xx for `curl -f`).
    let (status, _) = s.http("POST", "/_localstack/state/ssm/load?generation=x");
    assert_eq!(status, 400);
    let (status, body) = s.http("POST", "/_localstack/state/ssm/load?generation=9999");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("\"status\":\"error\""), "{body}");
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.py(&["get", "/gen/a", "one"]);
    drop(s);
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_holding(&p, needle));
        } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            out.push(p);
        }
    }
    out
}

/// Secrets Manager through boto3: every operation; values encrypted by KMS survive a hard kill
/// and every version reads back after it (the deletion deadline read before RestoreSecret, a
/// secret whose key is pending deletion still refused); no value is in the state directory in
/// plain text. (Without KMS, see `kms_e2e.rs`.)
#[test]
fn secrets_manager_versions_survive_kill9_encrypted_by_kms() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(dir.path(), &env);
    let expect = dir.path().join("secrets.json");
    let expect = expect.to_str().unwrap();
    let rot = dir.path().join("rotation.json");
    let rot = rot.to_str().unwrap();
    s.script("secrets_client.py", &["suite", "prepare", expect]);
    s.script("secrets_client.py", &["rotation_prepare", rot]);
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script(
        "secrets_client.py",
        &["check", expect, "rotation_check", rot],
    );
    let (status, body) = s.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    s.kill9();
    let holding = files_holding(&dir.path().join("state"), b"PLAINTEXT-MARKER-");
    assert!(
        holding.is_empty(),
        "secret values in plain text in {holding:?}"
    );
    let mut s = Server::start(dir.path(), &env);
    s.script("secrets_client.py", &["check", expect]);
}

/// SNS end to end (`tests/e2e/sns_client.py`): every topic and subscription operation through
/// boto3, fan-out into SQS queues (raw, enveloped, filtered), FIFO order, an HTTP subscriber
/// that confirms and receives.
#[test]
fn sns_fans_out_to_sqs_and_http() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script("sns_client.py", &["suite"]);
}

/// A publish acknowledged while its HTTP endpoint is down survives a kill -9 (ON_REQUEST): the
/// delivery record is in the same durable write as the answer, and after the restart the task
/// delivers it once the endpoint is back.
#[test]
fn sns_deliveries_survive_a_kill9() {
    let vol = tempdir();
    let state = vol.path().join("sns-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("sns_client.py", &["prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("sns_client.py", &["check", state]);
}

/// IAM end to end (`tests/e2e/iam.py`): roles, policies and versions, users, groups, access keys
/// (STS `GetCallerIdentity` signed with one answers the user), instance profiles, tags, account
/// settings and IAM's errors through boto3; then a kill -9 under `ON_REQUEST` keeps every
/// entity, id and key.
#[test]
fn iam_entities_survive_kill9() {
    let vol = tempdir();
    let state = vol.path().join("iam-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("iam.py", &["suite", "prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("iam.py", &["check", state]);
}

/// `ENFORCE_IAM=1` end to end (`tests/e2e/enforce.py`): signatures verified against IAM and STS
/// secrets, identity, session, bucket, queue and key policies evaluated, AccessDenied in each
/// protocol; then a kill -9 under `ON_REQUEST` keeps the user, its key and its policy, and
/// enforcement still applies after the restart.
#[test]
fn enforce_iam_decides_and_survives_kill9() {
    let vol = tempdir();
    let state = vol.path().join("enforce-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("ENFORCE_IAM", "1"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("enforce.py", &["suite", "prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("enforce.py", &["check", state]);
}

/// `IAM_SOFT_MODE=1` (LocalStack's): policies are evaluated and signatures verified as under
/// `ENFORCE_IAM=1`, but what would be refused (a user with no policy creating a bucket, a
/// wrong secret) is let through and logged.
#[test]
fn iam_soft_mode_lets_through_and_logs() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[("IAM_SOFT_MODE", "1")]);
    server.script("enforce.py", &["soft"]);
    let log = server.log();
    let soft: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("IAM_SOFT_MODE"))
        .collect();
    assert!(
        soft.iter()
            .any(|l| l.contains("s3:CreateBucket") && l.contains("user/softie")),
        "{log}"
    );
    assert!(soft.iter().any(|l| l.contains("s3:GetObject")), "{log}");
    assert!(
        soft.iter()
            .any(|l| l.contains("SignatureDoesNotMatch") && l.contains("sqs")),
        "{log}"
    );
}

/// CloudWatch Logs and CloudWatch through boto3: logs round trip (patterns, paging, metric
/// filters into CloudWatch, Insights); metrics in each protocol CloudWatch's model lists
/// (smithy-rpc-v2-cbor, boto3's default; JSON; query), and raw query-protocol form POSTs; every
/// Logs family of stored resources, an export task read back from S3, a subscription filter
/// into Kinesis, CloudWatch's metric streams, detectors, rules and its PNG widget; mute rules
/// silencing actions, anomaly bands, Insights `bin()`, log anomaly detectors; the metrics SQS
/// and DynamoDB publish (reported every second here) and an alarm on an anomaly band.
#[test]
fn cloudwatch_and_logs_through_boto3() {
    let dir = tempdir();
    let env = [
        ("SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL", "1"),
        ("DYNAMODB_CLOUDWATCH_METRICS_REPORT_INTERVAL", "1"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.script(
        "cloudwatch_client.py",
        &[
            "logs",
            "metrics",
            "cbor",
            "metrics",
            "json",
            "metrics",
            "query",
            "raw",
            "logs-more",
            "export",
            "subscribe",
            "livetail",
            "cw-more",
            "obs",
            "aws-metrics",
        ],
    );
}

/// An alarm goes to ALARM from PutMetricData (its SNS action reaches an SQS queue subscribed to
/// the topic, and is recorded in the history); after a hard kill and a restart it is still in
/// ALARM, evaluation resumes on its period, and its OK action reaches the queue; the new Logs
/// and CloudWatch records survive too; a scheduled query and a metric stream created before the
/// kill run after it (into S3, the stream through Firehose).
#[test]
fn cloudwatch_alarm_survives_kill9_and_evaluation_resumes() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.script("cloudwatch_client.py", &["alarm-prepare"]);
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script("cloudwatch_client.py", &["alarm-check"]);
    let st = s.state();
    assert_eq!(st["services"]["cloudwatch"]["load_failed"], false, "{st}");
}

/// EventBridge end to end (`tests/e2e/events.py`): buses, rules, targets into SQS, into an SNS
/// topic subscribed by a queue and into CloudWatch Logs, an input transformer, a `rate(1 minute)`
/// schedule (scaled to ~1 s by `SNAPSTACK_EVENTS_RATE_SCALE`), an archive and a replay.
#[test]
fn eventbridge_routes_events_to_sqs_sns_and_logs() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[("SNAPSTACK_EVENTS_RATE_SCALE", "0.02")]);
    server.script("events.py", &["suite"]);
}

/// An event accepted (ON_REQUEST) while its delivery is held back survives a kill -9: the
/// delivery record is in the same durable write as the answer, and after the restart the task
/// delivers it; a scheduled rule keeps firing after the restart.
#[test]
fn eventbridge_deliveries_survive_a_kill9() {
    let vol = tempdir();
    let state = vol.path().join("events-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("SNAPSTACK_EVENTS_FIRST_ATTEMPT_DELAY_MS", "4000"),
        ("SNAPSTACK_EVENTS_RATE_SCALE", "0.05"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("events.py", &["prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("events.py", &["check", state]);
}

/// Kinesis through boto3 (`tests/e2e/kinesis.py suite`): every implemented operation, a 1 MiB
/// record, 500-record PutRecords, resharding with lineage, AWS's errors, and an iterator that
/// expires (iterators live 5 seconds on this server instead of 5 minutes). The suite writes a
/// 1 MiB record after others into one shard, faster than AWS's rate: throttling is off.
#[test]
fn kinesis_through_boto3() {
    let dir = tempdir();
    let mut s = Server::start(
        dir.path(),
        &[
            ("SNAPSTACK_KINESIS_ITERATOR_SECONDS", "5"),
            ("SNAPSTACK_KINESIS_THROTTLE", "0"),
        ],
    );
    s.script("kinesis.py", &["suite"]);
}

/// A producer's acknowledged records survive a kill -9 under ON_REQUEST: after the restart,
/// the iterators issued before the kill read every acknowledged record exactly once, in order
/// per shard, across a split, and new records continue the sequence; a stream resharded 6 -> 3
/// by UpdateShardCount is read in lineage order with every partition key's records in order.
/// The producer writes faster than AWS's rate (a 1 MiB record among others): throttling is off.
#[test]
fn kinesis_records_survive_kill9_exactly_once() {
    let dir = tempdir();
    let state = dir.path().join("kinesis-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("SNAPSTACK_KINESIS_THROTTLE", "0"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.script("kinesis.py", &["produce", state]);
    s.kill9();
    let mut s = Server::start(dir.path(), &env);
    s.script("kinesis.py", &["consume", state]);
    let st = s.state();
    assert_eq!(st["services"]["kinesis"]["load_failed"], false, "{st}");
}

/// Lambda through boto3 (`tests/e2e/lambda.py`): every control-plane operation served, then
/// Python and Node.js functions run as local processes behind the Runtime API (payloads,
/// errors, a timeout, an init error, LogType=Tail, throttling, a function calling SSM back with
/// boto3, async invocations retried into a DLQ with their logs in CloudWatch Logs, weighted
/// aliases).
#[test]
fn lambda_functions_run_through_boto3() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &[("SNAPSTACK_LAMBDA_RETRY_SECONDS", "0.2")]);
    s.script("lambda.py", &["control", "run"]);
}

/// Functions, versions and aliases survive a kill -9 (ON_REQUEST), and an asynchronous
/// invocation accepted (202) before it runs after the restart. One zip held by two functions
/// and three configurations is stored once.
#[test]
fn lambda_functions_and_queued_invocations_survive_kill9() {
    let vol = tempdir();
    let state = vol.path().join("lambda-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda.py", &["prepare", state]);
    let marker = "snapstack-dedup-marker-7f3a9c";
    s.script("lambda.py", &["dedup", marker]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda.py", &["check", state]);
    let (code, _) = s.http("POST", "/_localstack/state/save");
    assert_eq!(code, 200);
    let state_dir = vol.path().join("state");
    let copies: usize = files_holding(&state_dir, marker.as_bytes())
        .iter()
        .map(|p| {
            let b = std::fs::read(p).unwrap();
            b.windows(marker.len())
                .filter(|w| *w == marker.as_bytes())
                .count()
        })
        .sum();
    assert_eq!(copies, 1, "the zip's bytes are stored once");
}

/// Firehose end to end (`tests/e2e/firehose.py`): every operation through boto3, the
/// destinations' descriptions, the limits of PutRecord and PutRecordBatch, and an HTTP endpoint
/// that gets Firehose's request.
#[test]
fn firehose_through_boto3() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script("firehose.py", &["suite"]);
}

/// Records acknowledged into a Firehose buffer (ON_REQUEST) survive a kill -9 in the middle of
/// the buffer's interval: after the restart the HTTP endpoint gets them, once.
#[test]
fn firehose_buffer_survives_kill9_into_http() {
    let vol = tempdir();
    let state = vol.path().join("firehose-http.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("firehose.py", &["prepare-http", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("firehose.py", &["check-http", state]);
}

/// Firehose into S3: the objects' names and contents (plain and GZIP), then records buffered
/// before a kill -9 (ON_REQUEST) delivered after the restart as exactly one object.
#[test]
fn firehose_into_s3_across_kill9() {
    let vol = tempdir();
    let state = vol.path().join("firehose-s3.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("firehose.py", &["s3", "prepare-s3", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("firehose.py", &["check-s3", state]);
}
