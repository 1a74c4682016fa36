//! Unit tests: deletion windows (across a restart), listing, passwords, tags, policies,
//! rotation, replication.

use serde_json::json;

use crate::tests::{ctx_in, env};
use crate::*;

const T0: u64 = 1_700_000_000_000;

#[tokio::test]
async fn deletion_window_is_an_absolute_deadline_that_survives_a_restart() {
    let e = env();
    e.sm.set_clock(T0);
    e.ok("CreateSecret", json!({"Name": "gone", "SecretString": "v"}))
        .await;
    e.ok("CreateSecret", json!({"Name": "kept", "SecretString": "v"}))
        .await;
    let err = e
        .err(
            "DeleteSecret",
            json!({"SecretId": "gone", "RecoveryWindowInDays": 6}),
        )
        .await;
    assert_eq!(
        err.message,
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
    );
    let err = e.err("DeleteSecret", json!({"SecretId": "gone", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true})).await;
    assert_eq!(err.code, "InvalidParameterException");
    let d = e
        .ok(
            "DeleteSecret",
            json!({"SecretId": "gone", "RecoveryWindowInDays": 7}),
        )
        .await;
    let deadline = T0 + 7 * DAY_MS;
    assert_eq!(d["DeletionDate"], json!(deadline as f64 / 1000.0));
    let err = e.err("GetSecretValue", json!({"SecretId": "gone"})).await;
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        (
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion."
        )
    );
    let err = e
        .err("CreateSecret", json!({"Name": "gone", "SecretString": "v"}))
        .await;
    assert_eq!(err.code, "InvalidRequestException");
    let err = e.err("DeleteSecret", json!({"SecretId": "gone"})).await;
    assert_eq!(err.code, "InvalidRequestException");
    let d = e.ok("DescribeSecret", json!({"SecretId": "gone"})).await;
    assert_eq!(d["DeletedDate"], json!(T0 as f64 / 1000.0));
    // Listing hides it unless asked.
    let l = e.ok("ListSecrets", json!({})).await;
    assert_eq!(l["SecretList"].as_array().unwrap().len(), 1);
    let l = e
        .ok("ListSecrets", json!({"IncludePlannedDeletion": true}))
        .await;
    assert_eq!(l["SecretList"].as_array().unwrap().len(), 2);
    // Restore, then schedule again.
    e.ok("RestoreSecret", json!({"SecretId": "gone"})).await;
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "gone"})).await["SecretString"],
        "v"
    );
    e.ok(
        "DeleteSecret",
        json!({"SecretId": "gone", "RecoveryWindowInDays": 7}),
    )
    .await;

    // A restart keeps the deadline: not due a minute before it, gone at it.
    let e = e.restarted();
    e.sm.set_clock(deadline - 60_000);
    assert_eq!(e.sm.sweep_deleted(e.sm.now_ms()), 0);
    assert!(e.ok("DescribeSecret", json!({"SecretId": "gone"})).await["DeletedDate"].is_number());
    e.sm.set_clock(deadline);
    // Gone for lookups the moment the deadline passes, before the sweeper runs.
    assert_eq!(
        e.err("DescribeSecret", json!({"SecretId": "gone"}))
            .await
            .code,
        "ResourceNotFoundException"
    );
    assert_eq!(e.sm.sweep_deleted(deadline), 1);
    assert_eq!(e.sm.store.snapshot().len(), 1);
    // The name is free again.
    e.ok(
        "CreateSecret",
        json!({"Name": "gone", "SecretString": "again"}),
    )
    .await;
    // Forced deletion removes at once, also a secret already scheduled.
    e.ok(
        "DeleteSecret",
        json!({"SecretId": "kept", "RecoveryWindowInDays": 10}),
    )
    .await;
    let d = e
        .ok(
            "DeleteSecret",
            json!({"SecretId": "kept", "ForceDeleteWithoutRecovery": true}),
        )
        .await;
    assert_eq!(d["Name"], "kept");
    assert_eq!(
        e.err("DescribeSecret", json!({"SecretId": "kept"}))
            .await
            .code,
        "ResourceNotFoundException"
    );
    assert_eq!(
        e.err("RestoreSecret", json!({"SecretId": "kept"}))
            .await
            .message,
        "Secrets Manager can't find the specified secret."
    );
}

#[tokio::test]
async fn every_version_reads_back_after_a_restart() {
    let e = env();
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = if i == 0 {
            e.ok(
                "CreateSecret",
                json!({"Name": "multi", "SecretString": format!("value-{i}")}),
            )
            .await
        } else {
            e.ok(
                "PutSecretValue",
                json!({"SecretId": "multi", "SecretString": format!("value-{i}")}),
            )
            .await
        };
        ids.push(r["VersionId"].as_str().unwrap().to_string());
    }
    let e = e.restarted();
    for (i, id) in ids.iter().enumerate() {
        let g = e
            .ok(
                "GetSecretValue",
                json!({"SecretId": "multi", "VersionId": id}),
            )
            .await;
        assert_eq!(g["SecretString"], format!("value-{i}"));
    }
}

#[tokio::test]
async fn list_secrets_filters_sorts_and_pages() {
    let e = env();
    for (i, (name, desc, tag)) in [
        ("prod/db", "Production database", ("env", "prod")),
        ("prod/api", "the API key", ("env", "prod")),
        ("dev/db", "development DB", ("env", "dev")),
        ("other", "misc", ("owner", "me")),
    ]
    .iter()
    .enumerate()
    {
        e.sm.set_clock(T0 + i as u64 * 1000);
        e.ok(
            "CreateSecret",
            json!({"Name": name, "Description": desc,
            "Tags": [{"Key": tag.0, "Value": tag.1}]}),
        )
        .await;
    }
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let f = |k: &str, vals: &[&str]| json!({"Filters": [{"Key": k, "Values": vals}]});
    assert_eq!(
        names(&e.ok("ListSecrets", f("name", &["prod/"])).await),
        ["prod/db", "prod/api"]
    );
    assert_eq!(
        names(&e.ok("ListSecrets", f("name", &["Prod/"])).await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&e.ok("ListSecrets", f("description", &["PRODUCTION"])).await),
        ["prod/db"]
    );
    assert_eq!(
        names(&e.ok("ListSecrets", f("tag-key", &["own"])).await),
        ["other"]
    );
    assert_eq!(
        names(&e.ok("ListSecrets", f("tag-value", &["dev", "me"])).await),
        ["dev/db", "other"]
    );
    assert_eq!(
        names(&e.ok("ListSecrets", f("tag-value", &["!prod"])).await),
        ["dev/db", "other"]
    );
    assert_eq!(
        names(&e.ok("ListSecrets", f("all", &["DB"])).await),
        ["prod/db", "dev/db"]
    );
    let both = json!({"Filters": [{"Key": "tag-value", "Values": ["prod"]}, {"Key": "description", "Values": ["the"]}]});
    assert_eq!(names(&e.ok("ListSecrets", both).await), ["prod/api"]);
    let l = e.ok("ListSecrets", json!({"SortOrder": "desc"})).await;
    assert_eq!(names(&l), ["other", "dev/db", "prod/api", "prod/db"]);
    let l = e.ok("ListSecrets", json!({"SortBy": "name"})).await;
    assert_eq!(names(&l), ["dev/db", "other", "prod/api", "prod/db"]);
    // Pages of two.
    let p1 = e.ok("ListSecrets", json!({"MaxResults": 2})).await;
    assert_eq!(names(&p1).len(), 2);
    let tok = p1["NextToken"].as_str().unwrap();
    let p2 = e
        .ok("ListSecrets", json!({"MaxResults": 2, "NextToken": tok}))
        .await;
    assert_eq!(names(&p2), ["dev/db", "other"]);
    assert!(p2.get("NextToken").is_none());
    let err = e.err("ListSecrets", json!({"NextToken": "garbage"})).await;
    assert_eq!(err.code, "InvalidNextTokenException");
    // Another account or region sees none of them.
    let other = ctx_in("111111111111", "us-east-1");
    let h =
        e.sm.handle(&e.rt, &other, "ListSecrets", &json!({}))
            .await
            .unwrap();
    let model = snapstack_protocol::model::named(NAME).unwrap();
    let body = snapstack_protocol::codec::json::serialize_output(model, "ListSecrets", &h.value);
    assert_eq!(String::from_utf8(body).unwrap(), r#"{"SecretList":[]}"#);
}

#[tokio::test]
async fn batch_get_secret_value_by_ids_and_filters() {
    let e = env();
    e.ok("CreateSecret", json!({"Name": "a", "SecretString": "1"}))
        .await;
    e.ok("CreateSecret", json!({"Name": "b", "SecretString": "2"}))
        .await;
    e.ok("CreateSecret", json!({"Name": "nov"})).await;
    let r = e
        .ok(
            "BatchGetSecretValue",
            json!({"SecretIdList": ["a", "b", "missing", "nov"]}),
        )
        .await;
    assert_eq!(r["SecretValues"].as_array().unwrap().len(), 2);
    assert_eq!(r["SecretValues"][1]["SecretString"], "2");
    assert_eq!(r["Errors"].as_array().unwrap().len(), 2);
    assert_eq!(r["Errors"][0]["ErrorCode"], "ResourceNotFoundException");
    let r = e
        .ok(
            "BatchGetSecretValue",
            json!({"Filters": [{"Key": "name", "Values": ["a"]}]}),
        )
        .await;
    assert_eq!(r["SecretValues"][0]["Name"], "a");
    let err = e.err("BatchGetSecretValue", json!({})).await;
    assert_eq!(err.code, "InvalidParameterException");
}

#[tokio::test]
async fn random_passwords_honour_every_option() {
    let e = env();
    let p = e.ok("GetRandomPassword", json!({})).await["RandomPassword"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(p.len(), 32);
    assert!(p.chars().any(|c| c.is_ascii_lowercase()) && p.chars().any(|c| c.is_ascii_uppercase()));
    assert!(p.chars().any(|c| c.is_ascii_digit()) && p.chars().any(|c| c.is_ascii_punctuation()));
    assert!(!p.contains(' '));
    let p = e
        .ok(
            "GetRandomPassword",
            json!({"PasswordLength": 200, "ExcludePunctuation": true,
        "ExcludeUppercase": true, "ExcludeCharacters": "abc0", "IncludeSpace": true}),
        )
        .await;
    let p = p["RandomPassword"].as_str().unwrap();
    assert_eq!(p.len(), 200);
    assert!(
        p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ' ')
    );
    assert!(!p.contains(['a', 'b', 'c', '0']) && p.contains(' '));
    let p = e
        .ok(
            "GetRandomPassword",
            json!({"PasswordLength": 4096, "ExcludeLowercase": true,
        "ExcludeUppercase": true, "ExcludePunctuation": true, "RequireEachIncludedType": false}),
        )
        .await;
    assert!(
        p["RandomPassword"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    let err = e
        .err(
            "GetRandomPassword",
            json!({"ExcludeLowercase": true, "ExcludeUppercase": true,
        "ExcludePunctuation": true, "ExcludeNumbers": true}),
        )
        .await;
    assert_eq!(err.code, "InvalidParameterException");
    let err = e
        .err("GetRandomPassword", json!({"PasswordLength": 2}))
        .await;
    assert_eq!(err.code, "InvalidParameterException");
    assert_eq!(
        e.err("GetRandomPassword", json!({"PasswordLength": 0}))
            .await
            .code,
        "ValidationException"
    );
}

#[tokio::test]
async fn tags_policies_rotation_and_replication_are_recorded() {
    let e = env();
    e.ok(
        "CreateSecret",
        json!({"Name": "s", "SecretString": "v",
        "AddReplicaRegions": [{"Region": "eu-west-1"}]}),
    )
    .await;
    e.ok(
        "TagResource",
        json!({"SecretId": "s", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}),
    )
    .await;
    e.ok(
        "TagResource",
        json!({"SecretId": "s", "Tags": [{"Key": "a", "Value": "3"}]}),
    )
    .await;
    e.ok("UntagResource", json!({"SecretId": "s", "TagKeys": ["b"]}))
        .await;
    let d = e.ok("DescribeSecret", json!({"SecretId": "s"})).await;
    assert_eq!(d["Tags"], json!([{"Key": "a", "Value": "3"}]));
    assert_eq!(d["ReplicationStatus"][0]["Region"], "eu-west-1");

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let err = e
        .err(
            "PutResourcePolicy",
            json!({"SecretId": "s", "ResourcePolicy": policy, "BlockPublicPolicy": true}),
        )
        .await;
    assert_eq!(err.code, "PublicPolicyException");
    e.ok(
        "PutResourcePolicy",
        json!({"SecretId": "s", "ResourcePolicy": policy}),
    )
    .await;
    assert_eq!(
        e.ok("GetResourcePolicy", json!({"SecretId": "s"})).await["ResourcePolicy"],
        policy
    );
    let v = e
        .ok(
            "ValidateResourcePolicy",
            json!({"ResourcePolicy": "{\"Statement\":[{\"Effect\":\"Maybe\"}]}"}),
        )
        .await;
    assert_eq!(v["PolicyValidationPassed"], false);
    assert_eq!(v["ValidationErrors"].as_array().unwrap().len(), 2);
    let v = e
        .ok(
            "ValidateResourcePolicy",
            json!({"SecretId": "s", "ResourcePolicy": policy}),
        )
        .await;
    assert_eq!(v["PolicyValidationPassed"], true);
    let err = e
        .err(
            "PutResourcePolicy",
            json!({"SecretId": "s", "ResourcePolicy": "{nope"}),
        )
        .await;
    assert_eq!(err.code, "MalformedPolicyDocumentException");
    e.ok("DeleteResourcePolicy", json!({"SecretId": "s"})).await;
    assert!(
        e.ok("GetResourcePolicy", json!({"SecretId": "s"}))
            .await
            .get("ResourcePolicy")
            .is_none()
    );

    let err = e.err("RotateSecret", json!({"SecretId": "s"})).await;
    assert_eq!(
        err.message,
        "No Lambda rotation function ARN is associated with this secret."
    );
    let lambda = "arn:aws:lambda:us-east-1:000000000000:function:rotator";
    let err = e
        .err(
            "RotateSecret",
            json!({"SecretId": "s", "RotationLambdaARN": lambda,
        "RotationRules": {"AutomaticallyAfterDays": 10}}),
        )
        .await;
    assert_eq!(err.code, "AccessDeniedException");
    let d = e.ok("DescribeSecret", json!({"SecretId": "s"})).await;
    assert_eq!(d["RotationEnabled"], true);
    assert_eq!(d["RotationLambdaARN"], lambda);
    assert_eq!(d["RotationRules"], json!({"AutomaticallyAfterDays": 10}));
    assert!(d["NextRotationDate"].is_number());
    e.ok("CancelRotateSecret", json!({"SecretId": "s"})).await;
    assert_eq!(
        e.ok("DescribeSecret", json!({"SecretId": "s"})).await["RotationEnabled"],
        false
    );

    let r = e.ok("ReplicateSecretToRegions", json!({"SecretId": "s", "AddReplicaRegions": [{"Region": "ap-south-1", "KmsKeyId": "alias/x"}]})).await;
    assert_eq!(r["ReplicationStatus"].as_array().unwrap().len(), 2);
    let err = e
        .err(
            "ReplicateSecretToRegions",
            json!({"SecretId": "s", "AddReplicaRegions": [{"Region": "ap-south-1"}]}),
        )
        .await;
    assert_eq!(err.code, "InvalidParameterException");
    let r = e
        .ok(
            "RemoveRegionsFromReplication",
            json!({"SecretId": "s", "RemoveReplicaRegions": ["eu-west-1"]}),
        )
        .await;
    assert_eq!(
        r["ReplicationStatus"],
        json!([{"Region": "ap-south-1", "KmsKeyId": "alias/x", "Status": "InSync", "StatusMessage": "Replication succeeded"}])
    );
    let err = e
        .err("StopReplicationToReplica", json!({"SecretId": "s"}))
        .await;
    assert_eq!(err.code, "InvalidRequestException");
    // All of it survives a restart.
    let e = e.restarted();
    let d = e.ok("DescribeSecret", json!({"SecretId": "s"})).await;
    assert_eq!(d["RotationLambdaARN"], lambda);
    assert_eq!(d["ReplicationStatus"][0]["Region"], "ap-south-1");
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "s"})).await["SecretString"],
        "v"
    );
}

#[tokio::test]
async fn rotation_runs_the_four_steps_and_is_scheduled_across_a_restart() {
    let mut e = env();
    e.rt.lambda = Some(Default::default());
    let t0 = 1_800_000_000_000;
    e.sm.set_clock(t0);
    e.ok("CreateSecret", json!({"Name": "db", "SecretString": "v0"}))
        .await;
    let lambda = "arn:aws:lambda:us-east-1:000000000000:function:rotator";
    let r = e
        .ok(
            "RotateSecret",
            json!({"SecretId": "db", "RotationLambdaARN": lambda,
                "RotationRules": {"ScheduleExpression": "rate(4 hours)"}}),
        )
        .await;
    let token = r["VersionId"].as_str().unwrap().to_string();
    let events = e.rt.lambda.as_ref().unwrap().events.lock().unwrap().clone();
    let steps: Vec<&str> = events.iter().map(|v| v["Step"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        ["createSecret", "setSecret", "testSecret", "finishSecret"]
    );
    for ev in &events {
        assert_eq!(ev["ClientRequestToken"], token.as_str());
        assert!(
            ev["SecretId"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:secretsmanager:")
        );
    }
    let d = e.ok("DescribeSecret", json!({"SecretId": "db"})).await;
    assert_eq!(d["LastRotatedDate"].as_f64().unwrap(), t0 as f64 / 1000.0);
    // The schedule is a record with an absolute deadline; nothing is due before it.
    assert!(e.sm.due_rotations(t0 + 4 * 3_600_000 - 1).is_empty());
    // A failed step is RotateSecret's error.
    *e.rt.lambda.as_ref().unwrap().fail_at.lock().unwrap() = Some("testSecret".into());
    let err = e.err("RotateSecret", json!({"SecretId": "db"})).await;
    assert_eq!(err.code, "InvalidRequestException");
    assert!(err.message.contains("testSecret broke"), "{}", err.message);
    *e.rt.lambda.as_ref().unwrap().fail_at.lock().unwrap() = None;
    // After a restart the schedule is still there, and the sweeper's part runs it when due.
    let e = e.restarted();
    let due_at = t0 + 4 * 3_600_000;
    let due = e.sm.due_rotations(due_at);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, "db");
    e.sm.set_clock(due_at);
    let before = e.rt.lambda.as_ref().unwrap().events.lock().unwrap().len();
    e.sm.rotate_scheduled(&e.rt, &due[0].0, &due[0].1).await;
    let events = e.rt.lambda.as_ref().unwrap().events.lock().unwrap().clone();
    assert_eq!(events.len(), before + 4);
    assert!(
        e.sm.due_rotations(due_at).is_empty(),
        "the next one is 4 hours later"
    );
    assert_eq!(e.sm.due_rotations(due_at + 4 * 3_600_000).len(), 1);
    // Cancelled: the sweeper drops the schedule.
    e.ok("CancelRotateSecret", json!({"SecretId": "db"})).await;
    let due = e.sm.due_rotations(due_at + 4 * 3_600_000);
    e.sm.rotate_scheduled(&e.rt, &due[0].0, &due[0].1).await;
    assert!(e.sm.due_rotations(u64::MAX).is_empty());
}

/// With the real KMS behind it: a secret whose key is scheduled for deletion cannot be read or
/// written (AWS's `DecryptionFailure` / `EncryptionFailure`); a cancelled deletion leaves the
/// key disabled (still refused) until it is enabled again.
#[tokio::test]
async fn a_key_pending_deletion_fails_reads_and_writes_with_the_real_kms() {
    let mut e = env();
    e.rt.real_kms = Some(snapstack_kms::Kms::new());
    let kms = |op: &str, input: serde_json::Value| {
        e.rt.real_kms
            .as_ref()
            .unwrap()
            .handle(&e.ctx, op, &input)
            .map(|o| o.value)
    };
    let key = kms("CreateKey", json!({}))
        .unwrap()
        .pointer("/KeyMetadata/KeyId")
        .and_then(|v| v.as_str())
        .unwrap()
        .to_string();
    e.ok(
        "CreateSecret",
        json!({"Name": "doomed", "SecretString": "v", "KmsKeyId": key}),
    )
    .await;
    // The default key is the real KMS's too.
    e.ok(
        "CreateSecret",
        json!({"Name": "plain", "SecretString": "p"}),
    )
    .await;
    assert!(kms("DescribeKey", json!({"KeyId": "alias/aws/secretsmanager"})).is_ok());
    kms(
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    )
    .unwrap();
    let err = e.err("GetSecretValue", json!({"SecretId": "doomed"})).await;
    assert_eq!(err.code, "DecryptionFailure", "{}", err.message);
    let err = e
        .err(
            "PutSecretValue",
            json!({"SecretId": "doomed", "SecretString": "w"}),
        )
        .await;
    assert_eq!(err.code, "EncryptionFailure", "{}", err.message);
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "plain"})).await["SecretString"],
        "p"
    );
    kms("CancelKeyDeletion", json!({"KeyId": key})).unwrap();
    let err = e.err("GetSecretValue", json!({"SecretId": "doomed"})).await;
    assert_eq!(err.code, "DecryptionFailure");
    kms("EnableKey", json!({"KeyId": key})).unwrap();
    assert_eq!(
        e.ok("GetSecretValue", json!({"SecretId": "doomed"})).await["SecretString"],
        "v"
    );
}
