#!/usr/bin/env python3
"""Drive a running snapstack's Secrets Manager (and the KMS it encrypts with) with boto3.

Usage: secrets_client.py ENDPOINT COMMAND [ARGS]...

  nokms            without KMS (SERVICES=secretsmanager): metadata operations work, values are
                   refused (EncryptionFailure)
  suite            every operation of the model, errors included (fresh server, KMS served)
  prepare FILE     before a restart: secrets with several string and binary versions, a customer
                   key, tags, a policy, a rotation configuration, one scheduled for deletion;
                   what to expect goes to FILE (JSON)
  check FILE       after the restart: the deletion deadline (DescribeSecret, ListSecrets with
                   IncludePlannedDeletion) is the one made before, read before RestoreSecret;
                   every version of every secret reads back, stages are unchanged, a disabled key
                   and a key pending deletion make GetSecretValue fail
  rotation_prepare FILE
                   a Python rotation function (Lambda) implementing the four steps with boto3;
                   a rotation that succeeds and one that fails at testSecret
  rotation_check FILE
                   after the restart: the rotated values and labels, the configuration, and a
                   second rotation
"""

import base64
import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
# Values carry this marker so that the test can look for it in the state directory.
MARK = "PLAINTEXT-MARKER-"


def client(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=ENDPOINT, aws_access_key_id="test",
                        aws_secret_access_key="secret", region_name=region, config=CFG)


def cmd_nokms():
    sm = client("secretsmanager")
    p = sm.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"]
    check(len(p) == 40 and p.isalnum(), p)
    c = sm.create_secret(Name="meta/only", Description="no value", Tags=[{"Key": "k", "Value": "v"}])
    check(c["ARN"].startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:meta/only-"), c)
    check("VersionId" not in c, c)
    d = sm.describe_secret(SecretId=c["ARN"])
    check(d["Name"] == "meta/only" and d["Description"] == "no value", d)
    check(d["VersionIdsToStages"] == {} and d["Tags"] == [{"Key": "k", "Value": "v"}], d)
    check([s["Name"] for s in sm.list_secrets()["SecretList"]] == ["meta/only"], "list")
    e = expect_error("EncryptionFailure", sm.create_secret, Name="with/value", SecretString="x")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
    check("KMS is not served" in e.response["Error"]["Message"], e.response)
    expect_error("ResourceNotFoundException", sm.get_secret_value, SecretId="meta/only")
    expect_error("ResourceNotFoundException", sm.describe_secret, SecretId="nope")
    r = sm.delete_secret(SecretId="meta/only", RecoveryWindowInDays=7)
    check(r["DeletionDate"].timestamp() - time.time() > 7 * 86400 - 120, r)
    sm.restore_secret(SecretId="meta/only")
    sm.delete_secret(SecretId="meta/only", ForceDeleteWithoutRecovery=True)
    expect_error("ResourceNotFoundException", sm.describe_secret, SecretId="meta/only")


def versions_to_stages(sm, sid):
    return sm.describe_secret(SecretId=sid)["VersionIdsToStages"]


def cmd_suite():
    sm, kms = client("secretsmanager"), client("kms")
    # Create (string), read by name, full ARN and partial ARN.
    c = sm.create_secret(Name="app/db", SecretString=MARK + "one", Description="db",
                         Tags=[{"Key": "env", "Value": "prod"}])
    arn, v1 = c["ARN"], c["VersionId"]
    check(arn.startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-") and
          len(arn.rsplit("-", 1)[1]) == 6, arn)
    for sid in ["app/db", arn, arn[:-7]]:
        g = sm.get_secret_value(SecretId=sid)
        check(g["SecretString"] == MARK + "one" and g["VersionStages"] == ["AWSCURRENT"], g)
    # The default key exists now, as AWS creates it.
    k = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    check(k["Enabled"], k)
    # Put a binary version: AWSCURRENT and AWSPREVIOUS move.
    v2 = sm.put_secret_value(SecretId="app/db", SecretBinary=b"\x00\x01bin")["VersionId"]
    check(sm.get_secret_value(SecretId="app/db")["SecretBinary"] == b"\x00\x01bin", "binary")
    prev = sm.get_secret_value(SecretId="app/db", VersionStage="AWSPREVIOUS")
    check(prev["VersionId"] == v1 and prev["SecretString"] == MARK + "one", prev)
    check(versions_to_stages(sm, "app/db") == {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"]}, "stages")
    # Tokens: idempotent with the same value, refused with another.
    tok = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    sm.put_secret_value(SecretId="app/db", SecretString="three", ClientRequestToken=tok)
    sm.put_secret_value(SecretId="app/db", SecretString="three", ClientRequestToken=tok)
    expect_error("ResourceExistsException", sm.put_secret_value, SecretId="app/db",
                 SecretString="four", ClientRequestToken=tok)
    # Staging labels.
    sm.update_secret_version_stage(SecretId="app/db", VersionStage="AWSPENDING", MoveToVersionId=v1)
    expect_error("InvalidParameterException", sm.update_secret_version_stage, SecretId="app/db",
                 VersionStage="AWSCURRENT", MoveToVersionId=v1)
    sm.update_secret_version_stage(SecretId="app/db", VersionStage="AWSCURRENT", MoveToVersionId=v1,
                                   RemoveFromVersionId=tok)
    check(sm.get_secret_value(SecretId="app/db")["VersionId"] == v1, "moved")
    ids = sm.list_secret_version_ids(SecretId="app/db", IncludeDeprecated=True)["Versions"]
    check({v["VersionId"] for v in ids} == {v1, v2, tok}, ids)
    # Update: description and a new value under a customer key.
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    u = sm.update_secret(SecretId="app/db", Description="moved", KmsKeyId=key, SecretString="five")
    check(sm.get_secret_value(SecretId="app/db", VersionId=u["VersionId"])["SecretString"] == "five", u)
    d = sm.describe_secret(SecretId="app/db")
    check(d["Description"] == "moved" and d["KmsKeyId"] == key, d)
    # A disabled key: reads fail as in AWS.
    kms.disable_key(KeyId=key)
    expect_error("DecryptionFailure", sm.get_secret_value, SecretId="app/db")
    kms.enable_key(KeyId=key)
    check(sm.get_secret_value(SecretId="app/db")["SecretString"] == "five", "re-enabled")
    # Errors.
    expect_error("ResourceExistsException", sm.create_secret, Name="app/db", SecretString="x")
    expect_error("InvalidParameterException", sm.create_secret, Name="both", SecretString="x",
                 SecretBinary=b"x")
    expect_error("ResourceNotFoundException", sm.get_secret_value, SecretId="missing")
    # List, filters, pages.
    for i in range(3):
        sm.create_secret(Name=f"list/{i}", SecretString=f"v{i}", Tags=[{"Key": "n", "Value": str(i)}])
    names = [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "name", "Values": ["list/"]}])["SecretList"]]
    check(names == ["list/0", "list/1", "list/2"], names)
    names = [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["!1"]}],
                                                SortOrder="desc")["SecretList"]]
    check(names == ["list/2", "list/0", "app/db"], names)
    page = sm.list_secrets(MaxResults=2)
    check(len(page["SecretList"]) == 2 and page["NextToken"], page)
    rest = sm.list_secrets(MaxResults=2, NextToken=page["NextToken"])
    check(len(rest["SecretList"]) == 2 and "NextToken" not in rest, rest)
    b = sm.batch_get_secret_value(SecretIdList=["list/0", "list/2", "nope"])
    check([v["SecretString"] for v in b["SecretValues"]] == ["v0", "v2"], b)
    check(b["Errors"][0]["ErrorCode"] == "ResourceNotFoundException", b)
    # Random passwords.
    p = sm.get_random_password(PasswordLength=64, ExcludeCharacters="abc", IncludeSpace=True)["RandomPassword"]
    check(len(p) == 64 and not set("abc") & set(p), p)
    # Tags, policies.
    sm.tag_resource(SecretId="app/db", Tags=[{"Key": "team", "Value": "core"}])
    sm.untag_resource(SecretId="app/db", TagKeys=["env"])
    check(sm.describe_secret(SecretId="app/db")["Tags"] == [{"Key": "team", "Value": "core"}], "tags")
    pol = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": "arn:aws:iam::000000000000:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    check(sm.validate_resource_policy(ResourcePolicy=pol)["PolicyValidationPassed"], "policy")
    sm.put_resource_policy(SecretId="app/db", ResourcePolicy=pol)
    check(json.loads(sm.get_resource_policy(SecretId="app/db")["ResourcePolicy"]) == json.loads(pol), "pol")
    sm.delete_resource_policy(SecretId="app/db")
    # Rotation without a Lambda service: AWS's answer for a function it cannot invoke; the
    # configuration is recorded.
    expect_error("InvalidRequestException", sm.rotate_secret, SecretId="list/0")
    fn = "arn:aws:lambda:us-east-1:000000000000:function:rotator"
    expect_error("AccessDeniedException", sm.rotate_secret, SecretId="list/0", RotationLambdaARN=fn,
                 RotationRules={"AutomaticallyAfterDays": 30})
    d = sm.describe_secret(SecretId="list/0")
    check(d["RotationEnabled"] and d["RotationLambdaARN"] == fn, d)
    sm.cancel_rotate_secret(SecretId="list/0")
    check(not sm.describe_secret(SecretId="list/0")["RotationEnabled"], "cancelled")
    # Replication records.
    r = sm.replicate_secret_to_regions(SecretId="list/1", AddReplicaRegions=[{"Region": "eu-west-1"}])
    check(r["ReplicationStatus"][0]["Region"] == "eu-west-1", r)
    r = sm.remove_regions_from_replication(SecretId="list/1", RemoveReplicaRegions=["eu-west-1"])
    check(r["ReplicationStatus"] == [], r)
    expect_error("InvalidRequestException", sm.stop_replication_to_replica, SecretId="list/1")
    # Deletion.
    expect_error("InvalidParameterException", sm.delete_secret, SecretId="list/2", RecoveryWindowInDays=31)
    sm.delete_secret(SecretId="list/2", RecoveryWindowInDays=7)
    expect_error("InvalidRequestException", sm.get_secret_value, SecretId="list/2")
    check("list/2" not in [s["Name"] for s in sm.list_secrets()["SecretList"]], "hidden")
    check("list/2" in [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]], "planned")
    sm.restore_secret(SecretId="list/2")
    sm.delete_secret(SecretId="list/2", ForceDeleteWithoutRecovery=True)
    expect_error("ResourceNotFoundException", sm.describe_secret, SecretId="list/2")


def cmd_prepare(path):
    sm, kms = client("secretsmanager"), client("kms")
    key = kms.create_key(Description="customer key")["KeyMetadata"]["KeyId"]
    expect = {"key": key, "secrets": {}}
    for name, kms_key in [("keep/default", None), ("keep/custom", key)]:
        kw = {"KmsKeyId": kms_key} if kms_key else {}
        c = sm.create_secret(Name=name, SecretString=f"{MARK}{name}-0", **kw)
        versions = {c["VersionId"]: {"s": f"{MARK}{name}-0"}}
        for i in range(1, 4):
            if i % 2:
                v = sm.put_secret_value(SecretId=name, SecretBinary=f"{MARK}{name}-{i}".encode())
                versions[v["VersionId"]] = {"b": f"{MARK}{name}-{i}"}
            else:
                v = sm.put_secret_value(SecretId=name, SecretString=f"{MARK}{name}-{i}")
                versions[v["VersionId"]] = {"s": f"{MARK}{name}-{i}"}
        expect["secrets"][name] = {"arn": c["ARN"], "versions": versions,
                                   "stages": versions_to_stages(sm, name)}
    sm.tag_resource(SecretId="keep/default", Tags=[{"Key": "t", "Value": "1"}])
    d = sm.delete_secret(SecretId="keep/custom", RecoveryWindowInDays=7)
    expect["deletion"] = d["DeletionDate"].timestamp()
    expect["deleted"] = sm.describe_secret(SecretId="keep/custom")["DeletedDate"].timestamp()
    check(abs(expect["deleted"] + 7 * 86400 - expect["deletion"]) < 1, expect)
    # A secret whose KMS key is scheduled for deletion: GetSecretValue fails as in AWS.
    doomed = kms.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
    sm.create_secret(Name="keep/doomed", SecretString=MARK + "doomed", KmsKeyId=doomed)
    check(sm.get_secret_value(SecretId="keep/doomed")["SecretString"] == MARK + "doomed", "doomed")
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    expect_error("DecryptionFailure", sm.get_secret_value, SecretId="keep/doomed")
    expect_error("EncryptionFailure", sm.put_secret_value, SecretId="keep/doomed", SecretString="new")
    with open(path, "w") as f:
        json.dump(expect, f)


def cmd_check(path):
    sm, kms = client("secretsmanager"), client("kms")
    with open(path) as f:
        expect = json.load(f)
    # The deletion deadline kept counting across the restart: read it before restoring.
    d = sm.describe_secret(SecretId="keep/custom")
    check(abs(d["DeletedDate"].timestamp() - expect["deleted"]) < 1, (d, expect["deleted"]))
    planned = [x for x in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]
               if x["Name"] == "keep/custom"]
    check(len(planned) == 1 and abs(planned[0]["DeletedDate"].timestamp() - expect["deleted"]) < 1, planned)
    check("keep/custom" not in [x["Name"] for x in sm.list_secrets()["SecretList"]], "hidden while deleted")
    expect_error("InvalidRequestException", sm.get_secret_value, SecretId="keep/custom")
    sm.restore_secret(SecretId="keep/custom")
    # The key pending deletion still refuses after the restart.
    expect_error("DecryptionFailure", sm.get_secret_value, SecretId="keep/doomed")
    for name, e in expect["secrets"].items():
        check(versions_to_stages(sm, name) == e["stages"], (name, e["stages"]))
        for vid, val in e["versions"].items():
            g = sm.get_secret_value(SecretId=e["arn"], VersionId=vid)
            if "s" in val:
                check(g.get("SecretString") == val["s"], (name, vid, g))
            else:
                check(g.get("SecretBinary") == val["b"].encode(), (name, vid, g))
    check(sm.describe_secret(SecretId="keep/default")["Tags"] == [{"Key": "t", "Value": "1"}], "tags")
    kms.disable_key(KeyId=expect["key"])
    expect_error("DecryptionFailure", sm.get_secret_value, SecretId="keep/custom")
    kms.enable_key(KeyId=expect["key"])
    sm.get_secret_value(SecretId="keep/custom")
    # Deleted again, so that a later check finds it pending deletion (the new dates recorded).
    d = sm.delete_secret(SecretId="keep/custom", RecoveryWindowInDays=7)
    check(d["DeletionDate"].timestamp() >= expect["deletion"], d)
    expect["deletion"] = d["DeletionDate"].timestamp()
    expect["deleted"] = sm.describe_secret(SecretId="keep/custom")["DeletedDate"].timestamp()
    with open(path, "w") as f:
        json.dump(expect, f)


ROTATOR = """
import json
import boto3

sm = boto3.client("secretsmanager")


def handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    meta = sm.describe_secret(SecretId=arn)
    stages = meta["VersionIdsToStages"]
    if step == "createSecret":
        sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
        if "AWSPENDING" not in stages.get(token, []):
            sm.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                SecretString=json.dumps({"password": "rotated-" + token}),
                                VersionStages=["AWSPENDING"])
    elif step == "setSecret":
        pass
    elif step == "testSecret":
        sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        if "fail" in meta["Name"]:
            raise ValueError("the new password of " + meta["Name"] + " does not work")
    elif step == "finishSecret":
        current = [v for v, s in stages.items() if "AWSCURRENT" in s][0]
        if current != token:
            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                           MoveToVersionId=token, RemoveFromVersionId=current)
    else:
        raise ValueError("unknown step " + step)
"""


def rotator(lam):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", ROTATOR)
    try:
        return lam.get_function(FunctionName="rotator")["Configuration"]["FunctionArn"]
    except ClientError:
        return lam.create_function(FunctionName="rotator", Runtime="python3.11",
                                   Role="arn:aws:iam::000000000000:role/rotation",
                                   Handler="index.handler", Timeout=60,
                                   Code={"ZipFile": buf.getvalue()})["FunctionArn"]


def stage_of(sm, name, stage):
    return sm.get_secret_value(SecretId=name, VersionStage=stage)


def cmd_rotation_prepare(path):
    sm, lam = client("secretsmanager"), client("lambda")
    arn = rotator(lam)
    first = sm.create_secret(Name="rot/db", SecretString=json.dumps({"password": "v0"}))
    r = sm.rotate_secret(SecretId="rot/db", RotationLambdaARN=arn,
                         RotationRules={"ScheduleExpression": "rate(4 hours)"})
    token = r["VersionId"]
    cur = stage_of(sm, "rot/db", "AWSCURRENT")
    check(cur["VersionId"] == token and json.loads(cur["SecretString"])["password"] == "rotated-" + token, cur)
    prev = stage_of(sm, "rot/db", "AWSPREVIOUS")
    check(prev["VersionId"] == first["VersionId"], prev)
    d = sm.describe_secret(SecretId="rot/db")
    check(d["RotationEnabled"] and d["RotationLambdaARN"] == arn and "LastRotatedDate" in d, d)
    check(d["RotationRules"]["ScheduleExpression"] == "rate(4 hours)", d)
    # A rotation whose testSecret step fails: the error is RotateSecret's, AWSPENDING stays.
    bad = sm.create_secret(Name="rot/fail", SecretString="old")
    e = expect_error("InvalidRequestException", sm.rotate_secret, SecretId="rot/fail",
                     RotationLambdaARN=arn, ClientRequestToken="f" * 32 + "-0001")
    check("testSecret" in e.response["Error"]["Message"], e.response)
    pending = stage_of(sm, "rot/fail", "AWSPENDING")
    check(pending["VersionId"] == "f" * 32 + "-0001", pending)
    check(stage_of(sm, "rot/fail", "AWSCURRENT")["VersionId"] == bad["VersionId"], "current kept")
    with open(path, "w") as f:
        json.dump({"token": token, "first": first["VersionId"], "fail": bad["VersionId"], "arn": arn}, f)


def cmd_rotation_check(path):
    sm = client("secretsmanager")
    with open(path) as f:
        e = json.load(f)
    check(stage_of(sm, "rot/db", "AWSCURRENT")["VersionId"] == e["token"], "current after restart")
    check(stage_of(sm, "rot/db", "AWSPREVIOUS")["VersionId"] == e["first"], "previous after restart")
    check(stage_of(sm, "rot/fail", "AWSPENDING")["VersionId"] == "f" * 32 + "-0001", "pending kept")
    check(stage_of(sm, "rot/fail", "AWSCURRENT")["VersionId"] == e["fail"], "current kept")
    d = sm.describe_secret(SecretId="rot/db")
    check(d["RotationEnabled"] and d["RotationLambdaARN"] == e["arn"], d)
    # Rotating again (rules only: the function is configured) moves the labels once more.
    r = sm.rotate_secret(SecretId="rot/db", RotationRules={"ScheduleExpression": "rate(4 hours)"})
    check(stage_of(sm, "rot/db", "AWSCURRENT")["VersionId"] == r["VersionId"], "second rotation")
    check(stage_of(sm, "rot/db", "AWSPREVIOUS")["VersionId"] == e["token"], "previous moved")
    e["token"] = r["VersionId"]
    e["first"] = stage_of(sm, "rot/db", "AWSPREVIOUS")["VersionId"]
    with open(path, "w") as f:
        json.dump(e, f)


COMMANDS = {
    "rotation_prepare": (cmd_rotation_prepare, 1),
    "rotation_check": (cmd_rotation_check, 1),
    "nokms": (cmd_nokms, 0),
    "suite": (cmd_suite, 0),
    "prepare": (cmd_prepare, 1),
    "check": (cmd_check, 1),
}

if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])
