//! KMS and Secrets Manager end to end beyond `server_e2e.rs` and `tools_e2e.rs`: the boto3
//! drivers across a SIGTERM under ON_SHUTDOWN, `snapstack snapshot diff` never printing key
//! material or secret values, and Secrets Manager without KMS.

mod common;

use std::process::Command;

use common::*;

/// Under ON_SHUTDOWN, everything the boto3 drivers make (`kms_client.py`, `secrets_client.py`)
/// is saved by a SIGTERM and checked after the restart: every ciphertext, signature, MAC, grant,
/// secret version, staging label and deletion deadline.
#[test]
fn kms_and_secrets_with_boto3_across_sigterm_on_shutdown() {
    let dir = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_SHUTDOWN"),
    ];
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (state, more, ops, secrets) = (
        file("kms.json"),
        file("kms-more.json"),
        file("kms-ops.json"),
        file("secrets.json"),
    );
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_client.py", &["prepare", &state]);
    s.script("kms_client.py", &["prepare_more", &more]);
    s.script("kms_client.py", &["prepare_ops", &ops]);
    s.script("secrets_client.py", &["prepare", &secrets]);
    assert!(s.term().success());
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_client.py", &["check", &state]);
    s.script("kms_client.py", &["check_more", &more]);
    s.script("kms_client.py", &["check_ops", &ops]);
    s.script("secrets_client.py", &["check", &secrets]);
    assert!(s.term().success());
    // What the checks changed is saved by the second SIGTERM too.
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_client.py", &["check_ops", &ops]);
    s.script("secrets_client.py", &["check", &secrets]);
}

fn snapshot(volume: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("snapshot")
        .args(args)
        .arg("--volume-dir")
        .arg(volume)
        .env_remove("LOCALSTACK_VOLUME_DIR")
        .output()
        .expect("run snapstack snapshot");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "snapstack snapshot {args:?}: {text}");
    text
}

/// `snapstack snapshot diff` between two saved generations of `kms` and `secretsmanager` names
/// the keys and secrets that changed, and never prints key material (imported, so the test knows
/// it: hex and base64) or a secret value.
#[test]
fn snapshot_diff_never_prints_key_material_or_secret_values() {
    let dir = tempdir();
    let env = [("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];
    let expect = dir.path().join("diff.json");
    let expect = expect.to_str().unwrap();
    let mut s = Server::start(dir.path(), &env);
    for round in ["1", "2"] {
        s.script("kms_diff.py", &["round", round, expect]);
        let (status, body) = s.http("POST", "/_localstack/state/save");
        assert_eq!(status, 200, "{body}");
    }
    assert!(s.term().success());
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(expect).unwrap()).unwrap();
    let mut out = String::new();
    for service in ["kms", "secretsmanager"] {
        out += &snapshot(
            dir.path(),
            &["diff", "--service", service, "--limit", "1000"],
        );
    }
    // The diff lists the records of the second round (so the check below looks at them).
    assert!(out.contains("secretsmanager: generation"), "{out}");
    for shown in st["shown"].as_array().unwrap()[2..].iter() {
        let id = shown.as_str().unwrap();
        assert!(out.contains(id), "the diff does not name key {id}: {out}");
    }
    assert!(
        out.contains("diff/bin"),
        "the diff does not name the new secret: {out}"
    );
    assert!(
        !out.contains("PLAINTEXT-MARKER-"),
        "a value in the diff: {out}"
    );
    for secret in st["secret"].as_array().unwrap() {
        let secret = secret.as_str().unwrap();
        assert!(!out.contains(secret), "{secret} in the diff: {out}");
    }
}

/// Without KMS (`SERVICES=secretsmanager`), Secrets Manager serves every operation that needs
/// no key and refuses values with AWS's `EncryptionFailure`, saying why.
#[test]
fn secrets_manager_without_kms_refuses_values() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &[("SERVICES", "secretsmanager")]);
    s.script("secrets_client.py", &["nokms"]);
}
