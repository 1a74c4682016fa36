//! Model conformance (`tests/conformance/run.py`): requests generated from botocore's models of
//! every served service (S3, SQS, DynamoDB and DynamoDB Streams, SSM, STS, Secrets Manager, KMS,
//! SNS, CloudWatch Logs, CloudWatch, IAM, EventBridge, Kinesis, Lambda, Firehose: `SERVICES` in
//! `run.py`), sent to the real server with botocore, which parses every response by the same
//! model. Fails when any case gets a 5xx other than an operation's 501, or no
//! answer at all. With `SNAPSTACK_WRITE_COVERAGE=1` it rewrites `docs/COVERAGE.md` and
//! `docs/coverage.json` (operations implemented per service, cases passed).

mod common;

use std::process::Command;

use common::{Server, tempdir};

#[test]
fn generated_requests_never_get_a_server_error() {
    let vol = tempdir();
    let server = Server::start(vol.path(), &[]);
    let root = env!("CARGO_MANIFEST_DIR");
    let write_docs = std::env::var("SNAPSTACK_WRITE_COVERAGE").is_ok_and(|v| v == "1");
    let (json, md) = if write_docs {
        (
            format!("{root}/docs/coverage.json"),
            format!("{root}/docs/COVERAGE.md"),
        )
    } else {
        let d = vol.path().display().to_string();
        (format!("{d}/coverage.json"), format!("{d}/COVERAGE.md"))
    };
    let out = Command::new("python3")
        .arg(format!("{root}/tests/conformance/run.py"))
        .args([&server.endpoint, &json, &md])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "conformance run failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    // The report covers every service, and what it says of S3 holds: its routed operations
    // are implemented, the rest answer 501.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report")).unwrap();
    for service in [
        "s3",
        "sqs",
        "dynamodb",
        "dynamodbstreams",
        "ssm",
        "sts",
        "secretsmanager",
        "kms",
        "sns",
        "logs",
        "cloudwatch",
        "iam",
        "events",
        "kinesis",
        "lambda",
        "firehose",
    ] {
        assert!(
            report[service]["operations"]
                .as_object()
                .is_some_and(|o| !o.is_empty())
        );
    }
    assert_eq!(report["s3"]["operations"]["PutObject"]["implemented"], true);
    assert_eq!(
        report["s3"]["operations"]["PutObjectAcl"]["implemented"],
        true
    );
    assert_eq!(
        report["s3"]["operations"]["SelectObjectContent"]["implemented"],
        true
    );
}
