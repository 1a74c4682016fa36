#!/usr/bin/env python3
"""Secrets Manager driven by the AWS CLI: every operation of the model.

Usage: secrets_cli.py ENDPOINT COMMAND WORKDIR

  prepare WORKDIR  string and binary secrets with several versions, staging labels moved by
                   hand, a customer KMS key, tags, a resource policy, replication, a rotation
                   configuration (refused as AWS refuses a missing function), GetRandomPassword
                   with every option, BatchGetSecretValue by ids and by filters, ListSecrets with
                   filters and pages, a secret scheduled for deletion, and a secret whose KMS key
                   is scheduled for deletion; what to check later goes to WORKDIR
  check WORKDIR    after a restart: every version of every secret reads back with its labels, the
                   deletion date is the one DeleteSecret answered (read before RestoreSecret),
                   the tags, policy and replication are kept, the deleted key still refuses;
                   and every operation of the model was driven through the CLI (coverage)
"""

import json
import string
import sys

from aws_cli import Cli, b64d, check, epoch

ENDPOINT, CMD, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
C = Cli(ENDPOINT, WORK)
STATE = C.path("secrets-cli.json")
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


def sm(command, *args, **kw):
    return C.aws("secretsmanager", command, *args, **kw)


def sm_fails(code, command, *args):
    return C.fails(code, "secretsmanager", command, *args)


def stages(sid):
    return sm("describe-secret", "--secret-id", sid)["VersionIdsToStages"]


def passwords():
    """GetRandomPassword with every option."""
    def pw(*args):
        return sm("get-random-password", *args)["RandomPassword"]
    p = pw("--password-length", "40", "--exclude-punctuation")
    check(len(p) == 40 and p.isalnum(), p)
    p = pw("--password-length", "64", "--exclude-numbers", "--exclude-uppercase",
           "--exclude-punctuation", "--require-each-included-type")
    check(len(p) == 64 and set(p) <= set(string.ascii_lowercase), p)
    p = pw("--password-length", "64", "--exclude-lowercase", "--exclude-numbers",
           "--exclude-punctuation")
    check(set(p) <= set(string.ascii_uppercase), p)
    p = pw("--password-length", "64", "--exclude-lowercase", "--exclude-uppercase",
           "--exclude-punctuation")
    check(set(p) <= set(string.digits), p)
    p = pw("--password-length", "200", "--exclude-characters", "abcXYZ0123!\"#", "--include-space")
    check(len(p) == 200 and not set(p) & set("abcXYZ0123!\"#") and " " in p, p)
    # Every included type is present when required (the default), even in a short password.
    for _ in range(3):
        p = pw("--password-length", "5", "--include-space", "--require-each-included-type")
        check(len(p) == 5 and any(c.islower() for c in p) and any(c.isupper() for c in p)
              and any(c.isdigit() for c in p) and " " in p
              and any(c in string.punctuation for c in p), p)
    p = pw("--password-length", "32", "--no-require-each-included-type", "--exclude-lowercase",
           "--exclude-uppercase", "--exclude-numbers")
    check(set(p) <= set(string.punctuation), p)
    sm_fails("InvalidParameterException", "get-random-password", "--password-length", "3",
             "--include-space", "--require-each-included-type")
    sm_fails("InvalidParameterException", "get-random-password", "--exclude-lowercase",
             "--exclude-uppercase", "--exclude-numbers", "--exclude-punctuation")


def prepare():
    st = {}
    key = C.aws("kms", "create-key", "--description", "secrets cli key")["KeyMetadata"]["KeyId"]
    # A string secret with three versions and a binary one.
    c = sm("create-secret", "--name", "cli/db", "--secret-string", '{"password":"one"}',
           "--description", "cli db", "--tags", "Key=env,Value=prod", "Key=gone,Value=x")
    arn, v1 = c["ARN"], c["VersionId"]
    v2 = sm("put-secret-value", "--secret-id", "cli/db", "--secret-string", '{"password":"two"}')["VersionId"]
    tok = "c11c11c1-0000-4000-8000-000000000003"
    sm("put-secret-value", "--secret-id", arn, "--secret-string", '{"password":"three"}',
       "--client-request-token", tok, "--version-stages", "AWSPENDING")
    # The same token and value again: the same version (idempotent); another value: refused.
    sm("put-secret-value", "--secret-id", arn, "--secret-string", '{"password":"three"}',
       "--client-request-token", tok, "--version-stages", "AWSPENDING")
    sm_fails("ResourceExistsException", "put-secret-value", "--secret-id", arn, "--secret-string",
             "other", "--client-request-token", tok)
    check(stages("cli/db") == {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"], tok: ["AWSPENDING"]},
          stages("cli/db"))
    # Move AWSCURRENT to the pending version by hand, as a rotation's last step does.
    sm("update-secret-version-stage", "--secret-id", "cli/db", "--version-stage", "AWSCURRENT",
       "--move-to-version-id", tok, "--remove-from-version-id", v2)
    sm("update-secret-version-stage", "--secret-id", "cli/db", "--version-stage", "AWSPENDING",
       "--remove-from-version-id", tok)
    want = {v1: [], v2: ["AWSPREVIOUS"], tok: ["AWSCURRENT"]}
    got = {k: v for k, v in stages("cli/db").items()}
    check(got == {k: v for k, v in want.items() if v}, got)
    ids = sm("list-secret-version-ids", "--secret-id", "cli/db", "--include-deprecated")["Versions"]
    check({v["VersionId"] for v in ids} == {v1, v2, tok}, ids)
    cur = sm("get-secret-value", "--secret-id", "cli/db")
    check(cur["SecretString"] == '{"password":"three"}' and cur["VersionId"] == tok, cur)
    sm("create-secret", "--name", "cli/bin", "--secret-binary",
       f"fileb://{C.write('secret.bin', bytes(range(256)))}", "--kms-key-id", key)
    check(b64d(sm("get-secret-value", "--secret-id", "cli/bin")["SecretBinary"]) == bytes(range(256)), "bin")
    # UpdateSecret: a description, a new key, a new value.
    u = sm("update-secret", "--secret-id", "cli/db", "--description", "cli db, moved", "--kms-key-id", key,
           "--secret-string", '{"password":"four"}')
    d = sm("describe-secret", "--secret-id", "cli/db")
    check(d["Description"] == "cli db, moved" and d["KmsKeyId"] == key, d)
    check(stages("cli/db")[u["VersionId"]] == ["AWSCURRENT"], stages("cli/db"))
    st.update(arn=arn, v1=v1, v2=v2, tok=tok, v4=u["VersionId"], key=key)
    # Tags and resource policies.
    sm("tag-resource", "--secret-id", "cli/db", "--tags", "Key=team,Value=core")
    sm("untag-resource", "--secret-id", "cli/db", "--tag-keys", "gone")
    tags = sm("describe-secret", "--secret-id", "cli/db")["Tags"]
    check(sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("team", "core")], tags)
    check(sm("validate-resource-policy", "--resource-policy", POLICY)["PolicyValidationPassed"], "valid")
    sm_fails("MalformedPolicyDocumentException", "validate-resource-policy", "--resource-policy", "{not json")
    sm("put-resource-policy", "--secret-id", "cli/db", "--resource-policy", POLICY)
    check(json.loads(sm("get-resource-policy", "--secret-id", "cli/db")["ResourcePolicy"]) == json.loads(POLICY),
          "policy")
    sm("put-resource-policy", "--secret-id", "cli/bin", "--resource-policy", POLICY)
    sm("delete-resource-policy", "--secret-id", "cli/bin")
    check("ResourcePolicy" not in sm("get-resource-policy", "--secret-id", "cli/bin"), "deleted policy")
    # Replication (records): one kept across the restart, one removed.
    r = sm("replicate-secret-to-regions", "--secret-id", "cli/db", "--add-replica-regions",
           "Region=eu-west-1", "Region=ap-south-1")
    check(sorted(x["Region"] for x in r["ReplicationStatus"]) == ["ap-south-1", "eu-west-1"], r)
    r = sm("remove-regions-from-replication", "--secret-id", "cli/db", "--remove-replica-regions", "ap-south-1")
    check([x["Region"] for x in r["ReplicationStatus"]] == ["eu-west-1"], r)
    sm_fails("InvalidRequestException", "stop-replication-to-replica", "--secret-id", "cli/db")
    # Rotation: no such function, as AWS answers; the configuration is recorded, then cancelled.
    sm("create-secret", "--name", "cli/rot", "--secret-string", "r0")
    fn = "arn:aws:lambda:us-east-1:000000000000:function:cli-missing-rotator"
    sm_fails("AccessDeniedException", "rotate-secret", "--secret-id", "cli/rot", "--rotation-lambda-arn", fn,
             "--rotation-rules", "AutomaticallyAfterDays=30")
    d = sm("describe-secret", "--secret-id", "cli/rot")
    check(d["RotationEnabled"] and d["RotationLambdaARN"] == fn, d)
    sm("cancel-rotate-secret", "--secret-id", "cli/rot")
    check(not sm("describe-secret", "--secret-id", "cli/rot").get("RotationEnabled"), "cancelled")
    # Lists: a name filter, a tag filter, pages.
    for i in range(3):
        sm("create-secret", "--name", f"cli/list/{i}", "--secret-string", f"v{i}", "--tags",
           f"Key=n,Value={i}")
    names = [s["Name"] for s in sm("list-secrets", "--filters", "Key=name,Values=cli/list/")["SecretList"]]
    check(names == ["cli/list/0", "cli/list/1", "cli/list/2"], names)
    names = [s["Name"] for s in sm("list-secrets", "--filters", "Key=tag-value,Values=1")["SecretList"]]
    check(names == ["cli/list/1"], names)
    page = sm("list-secrets", "--max-results", "2", "--no-paginate")
    check(len(page["SecretList"]) == 2 and page.get("NextToken"), page)
    rest = sm("list-secrets", "--max-results", "10", "--no-paginate", "--next-token", page["NextToken"])
    check(len(rest["SecretList"]) == 4 and "NextToken" not in rest, rest)
    # BatchGetSecretValue by ids (one missing) and by filters.
    b = sm("batch-get-secret-value", "--secret-id-list", "cli/list/0", "cli/list/2", "cli/nope")
    check(sorted(v["SecretString"] for v in b["SecretValues"]) == ["v0", "v2"], b)
    check(b["Errors"][0]["ErrorCode"] == "ResourceNotFoundException", b)
    b = sm("batch-get-secret-value", "--filters", "Key=name,Values=cli/list/", "--max-results", "2",
           "--no-paginate")
    check([v["Name"] for v in b["SecretValues"]] == ["cli/list/0", "cli/list/1"] and b.get("NextToken"), b)
    b2 = sm("batch-get-secret-value", "--filters", "Key=name,Values=cli/list/", "--max-results", "2",
            "--no-paginate", "--next-token", b["NextToken"])
    check([v["SecretString"] for v in b2["SecretValues"]] == ["v2"], b2)
    sm_fails("InvalidParameterException", "batch-get-secret-value", "--secret-id-list", "cli/db",
             "--filters", "Key=name,Values=cli")
    passwords()
    # Deletion with a recovery window (kept across the restart), and forced deletion.
    d = sm("delete-secret", "--secret-id", "cli/list/2", "--recovery-window-in-days", "8")
    st["deleted_at"] = epoch(d["DeletionDate"])
    sm_fails("InvalidRequestException", "get-secret-value", "--secret-id", "cli/list/2")
    sm("delete-secret", "--secret-id", "cli/list/1", "--force-delete-without-recovery")
    sm_fails("ResourceNotFoundException", "describe-secret", "--secret-id", "cli/list/1")
    sm("delete-secret", "--secret-id", "cli/list/0", "--recovery-window-in-days", "7")
    sm("restore-secret", "--secret-id", "cli/list/0")
    check(sm("get-secret-value", "--secret-id", "cli/list/0")["SecretString"] == "v0", "restored")
    # A secret whose KMS key is scheduled for deletion cannot be read (AWS's DecryptionFailure).
    gone = C.aws("kms", "create-key", "--description", "deleted key")["KeyMetadata"]["KeyId"]
    sm("create-secret", "--name", "cli/orphan", "--secret-string", "lost", "--kms-key-id", gone)
    C.aws("kms", "schedule-key-deletion", "--key-id", gone, "--pending-window-in-days", "7")
    sm_fails("DecryptionFailure", "get-secret-value", "--secret-id", "cli/orphan")
    with open(STATE, "w") as f:
        json.dump(st, f)
    print("prepared")


def check_after_restart():
    with open(STATE) as f:
        st = json.load(f)
    want = {st["v2"]: "two", st["tok"]: "three", st["v4"]: "four", st["v1"]: "one"}
    for vid, pw in want.items():
        g = sm("get-secret-value", "--secret-id", st["arn"], "--version-id", vid)
        check(json.loads(g["SecretString"])["password"] == pw, (vid, g))
    check(stages("cli/db") == {st["v4"]: ["AWSCURRENT"], st["tok"]: ["AWSPREVIOUS"]}, stages("cli/db"))
    prev = sm("get-secret-value", "--secret-id", "cli/db", "--version-stage", "AWSPREVIOUS")
    check(prev["VersionId"] == st["tok"], prev)
    check(b64d(sm("get-secret-value", "--secret-id", "cli/bin")["SecretBinary"]) == bytes(range(256)), "bin")
    d = sm("describe-secret", "--secret-id", "cli/db")
    check(sorted(t["Key"] for t in d["Tags"]) == ["env", "team"], d)
    check([r["Region"] for r in d["ReplicationStatus"]] == ["eu-west-1"], d)
    check(json.loads(sm("get-resource-policy", "--secret-id", "cli/db")["ResourcePolicy"]) == json.loads(POLICY),
          "policy after the restart")
    # The deletion deadline, read before the restore: the one DeleteSecret answered.
    d = sm("describe-secret", "--secret-id", "cli/list/2")
    check(abs(epoch(d["DeletedDate"]) + 8 * 86400 - st["deleted_at"]) < 2, (d, st["deleted_at"]))
    listed = [s for s in sm("list-secrets", "--include-planned-deletion")["SecretList"]
              if s["Name"] == "cli/list/2"]
    check(len(listed) == 1 and abs(epoch(listed[0]["DeletedDate"]) - epoch(d["DeletedDate"])) < 1, listed)
    sm("restore-secret", "--secret-id", "cli/list/2")
    check(sm("get-secret-value", "--secret-id", "cli/list/2")["SecretString"] == "v2", "restored after restart")
    sm_fails("DecryptionFailure", "get-secret-value", "--secret-id", "cli/orphan")
    n = C.coverage("secretsmanager")
    print(f"checked; all {n} Secrets Manager operations driven through the AWS CLI")


if CMD == "prepare":
    prepare()
elif CMD == "check":
    check_after_restart()
else:
    sys.exit(f"unknown command {CMD}")
