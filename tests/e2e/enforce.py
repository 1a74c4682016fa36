#!/usr/bin/env python3
"""Drive a snapstack started with ENFORCE_IAM=1 with boto3: IAM policies decide.

Usage: enforce.py ENDPOINT COMMAND [ARGS]...

  suite          the root's default credentials (test/test) may do anything; a user whose policy
                 allows s3:GetObject under one prefix reads it and is denied elsewhere (S3's XML
                 AccessDenied with AWS's message); SQS SendMessage denied (the JSON protocol
                 boto3 uses, AccessDenied); an assumed role whose session policy narrows it; a
                 bucket policy granting another user; a KMS key policy that leaves a user out; a
                 wrong secret (SignatureDoesNotMatch), an unknown key (InvalidClientTokenId /
                 InvalidAccessKeyId), an unsigned request; AssumeRoleWithWebIdentity checked
                 against IAM's OIDC providers and the role's trust policy; changes (a deleted
                 key, a removed bucket policy) apply to the next request whatever is cached;
                 S3 chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with and without a
                 signed trailer) verified chunk by chunk, a bad chunk refused and not stored;
                 service-last-accessed reports (IN_PROGRESS, then COMPLETED by the server);
                 a delegation request accepted by a customer's user, its exchange token
                 delivered to the partner's topic and traded at STS: the credentials act as that
                 user, limited to the request's permission policy; SigV4a (botocore's CRT
                 signer: EventBridge global endpoints and any request signed by hand) verified
                 against the key the user's secret derives
  prepare STATE  before a restart: a user with a policy and an access key (written to STATE),
                 a last-accessed report job
  check STATE    after it: the key still signs, its policy still allows and still denies, the
                 report job is still there and completed
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import sys
import time
import urllib.parse

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
ACCOUNT = "000000000000"


def client(service, key="test", secret="test", token=None, unsigned=False):
    cfg = CFG.merge(Config(signature_version=UNSIGNED)) if unsigned else CFG
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=cfg,
    )


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def user_with(iam, name, *statements):
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def root_allowed():
    s3, sqs, iam = client("s3"), client("sqs"), client("iam")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="public/a.txt", Body=b"public")
    s3.put_object(Bucket="data", Key="private/b.txt", Body=b"private")
    sqs.create_queue(QueueName="jobs")
    iam.list_users()
    ident = client("sts").get_caller_identity()
    check(ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:root", ident)


def s3_prefix():
    iam = client("iam")
    key, secret = user_with(
        iam, "reader",
        allow("s3:GetObject", "arn:aws:s3:::data/public/*"),
        allow("s3:ListBucket", "arn:aws:s3:::data"),
    )
    s3 = client("s3", key, secret)
    body = s3.get_object(Bucket="data", Key="public/a.txt")["Body"].read()
    check(body == b"public", body)
    s3.head_object(Bucket="data", Key="public/a.txt")
    s3.list_objects_v2(Bucket="data", Prefix="public/")
    e = expect_error("AccessDenied", s3.get_object, Bucket="data", Key="private/b.txt")
    check(status(e) == 403, e.response)
    msg = e.response["Error"]["Message"]
    want = (f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: "
            "s3:GetObject on resource: arn:aws:s3:::data/private/b.txt because no "
            "identity-based policy allows the s3:GetObject action")
    check(msg == want, msg)
    expect_error("AccessDenied", s3.put_object, Bucket="data", Key="public/x", Body=b"x")
    ident = client("sts", key, secret).get_caller_identity()
    check(ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/reader", ident)
    # A policy change applies to the next request.
    iam.put_user_policy(UserName="reader", PolicyName="deny", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}))
    e = expect_error("AccessDenied", s3.get_object, Bucket="data", Key="public/a.txt")
    check("with an explicit deny in an identity-based policy" in e.response["Error"]["Message"],
          e.response)
    iam.delete_user_policy(UserName="reader", PolicyName="deny")
    s3.get_object(Bucket="data", Key="public/a.txt")


def sqs_denied():
    iam = client("iam")
    url = client("sqs").get_queue_url(QueueName="jobs")["QueueUrl"]
    key, secret = user_with(iam, "poller", allow("sqs:ReceiveMessage",
                                                 f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"))
    sqs = client("sqs", key, secret)
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    e = expect_error("AccessDenied", sqs.send_message, QueueUrl=url, MessageBody="hi")
    check(status(e) == 403, e.response)
    want = (f"User: arn:aws:iam::{ACCOUNT}:user/poller is not authorized to perform: "
            f"sqs:SendMessage on resource: arn:aws:sqs:us-east-1:{ACCOUNT}:jobs because no "
            "identity-based policy allows the sqs:SendMessage action")
    check(e.response["Error"]["Message"] == want, e.response)
    # A queue policy naming the user grants it.
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/poller"},
                       "Action": "sqs:SendMessage",
                       "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"}]})})
    sqs.send_message(QueueUrl=url, MessageBody="hi")


def assumed_role():
    iam = client("iam")
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="worker", PolicyName="s3", PolicyDocument=doc(
        allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::data/*")))
    key, secret = user_with(iam, "assumer", allow("sts:AssumeRole",
                                                  f"arn:aws:iam::{ACCOUNT}:role/worker"))
    sts = client("sts", key, secret)
    # The trust policy names the account: the user's own policy must allow it, and does.
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/worker", RoleSessionName="s1",
        Policy=doc(allow("s3:GetObject", "arn:aws:s3:::data/public/*")))["Credentials"]
    s3 = client("s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    s3.get_object(Bucket="data", Key="public/a.txt")
    e = expect_error("AccessDenied", s3.get_object, Bucket="data", Key="private/b.txt")
    check("because no session policy allows the s3:GetObject action"
          in e.response["Error"]["Message"], e.response)
    check(f"assumed-role/worker/s1" in e.response["Error"]["Message"], e.response)
    expect_error("AccessDenied", s3.put_object, Bucket="data", Key="public/y", Body=b"y")
    # Without a session policy the role's own policy decides.
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/worker",
                            RoleSessionName="s2")["Credentials"]
    s3 = client("s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    s3.put_object(Bucket="data", Key="public/y", Body=b"y")
    s3.get_object(Bucket="data", Key="private/b.txt")
    expect_error("AccessDenied", s3.delete_object, Bucket="data", Key="public/y")
    # A wrong session token.
    bad = client("s3", creds["AccessKeyId"], creds["SecretAccessKey"], "nope")
    expect_error("InvalidToken", bad.get_object, Bucket="data", Key="public/a.txt")
    # A user the trust policy's account delegation does not cover (no sts:AssumeRole).
    key2, secret2 = user_with(iam, "stranger")
    e = expect_error("AccessDenied", client("sts", key2, secret2).assume_role,
                     RoleArn=f"arn:aws:iam::{ACCOUNT}:role/worker", RoleSessionName="xx")
    check(status(e) == 403, e.response)


def bucket_policy():
    iam, s3 = client("iam"), client("s3")
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="doc", Body=b"shared")
    key, secret = user_with(iam, "guest")
    guest = client("s3", key, secret)
    expect_error("AccessDenied", guest.get_object, Bucket="shared", Key="doc")
    s3.put_bucket_policy(Bucket="shared", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/guest"},
                       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}))
    check(guest.get_object(Bucket="shared", Key="doc")["Body"].read() == b"shared", "guest")
    expect_error("AccessDenied", guest.put_object, Bucket="shared", Key="doc", Body=b"x")
    # Anonymous: denied until the bucket policy names everyone.
    anon = client("s3", unsigned=True)
    expect_error("AccessDenied", anon.get_object, Bucket="data", Key="public/a.txt")
    s3.put_bucket_policy(Bucket="data", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": "arn:aws:s3:::data/public/*"}]}))
    anon.get_object(Bucket="data", Key="public/a.txt")
    expect_error("AccessDenied", anon.get_object, Bucket="data", Key="private/b.txt")


def kms_key_policy():
    iam, kms = client("iam"), client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    k, s = user_with(iam, "crypto", allow("kms:*"))
    user = client("kms", k, s)
    # The default key policy delegates to the account's IAM policies.
    blob = user.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    check(user.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x", "decrypt")
    # A key policy naming only another principal leaves the user out, whatever IAM says.
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "kms:*", "Resource": "*"},
                      {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/crypto"},
                       "Action": "kms:Encrypt", "Resource": "*"}]}))
    e = expect_error("AccessDeniedException", user.encrypt, KeyId=key_id, Plaintext=b"x")
    check(status(e) == 400, e.response)  # KMS answers its auth errors with 400
    check("explicit deny in a resource-based policy" in e.response["Error"]["Message"], e.response)
    user.describe_key(KeyId=key_id)


def kms_via_services():
    """A service that uses a KMS key for its caller (S3 SSE-KMS, SQS SSE, Secrets Manager) needs
    the caller's own permission on a customer managed key, as AWS's forward access sessions do;
    an AWS managed key (alias/aws/<service>) is usable by the account's principals through its
    service, and by none directly."""
    iam, kms, s3, sqs, sm = (client(n) for n in ("iam", "kms", "s3", "sqs", "secretsmanager"))
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket="sealed")
    s3.put_object(Bucket="sealed", Key="old", Body=b"old", ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key_arn)
    q = sqs.create_queue(QueueName="sealed", Attributes={"KmsMasterKeyId": key_arn})["QueueUrl"]
    sm.create_secret(Name="sealed", SecretString="v0", KmsKeyId=key_arn)
    sm.create_secret(Name="plain", SecretString="p0")
    k, s = user_with(iam, "nokms", allow(["s3:PutObject", "s3:GetObject", "sqs:SendMessage",
                                          "sqs:ReceiveMessage", "secretsmanager:GetSecretValue",
                                          "secretsmanager:PutSecretValue", "kms:DescribeKey"]))
    us3, usqs, usm = client("s3", k, s), client("sqs", k, s), client("secretsmanager", k, s)
    e = expect_error("AccessDenied", us3.put_object, Bucket="sealed", Key="a", Body=b"x",
                     ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    msg = e.response["Error"]["Message"]
    check(status(e) == 403 and f"kms:GenerateDataKey on resource: {key_arn}" in msg, e.response)
    e = expect_error("AccessDenied", us3.get_object, Bucket="sealed", Key="old")
    check("kms:Decrypt" in e.response["Error"]["Message"], e.response)
    try:
        usqs.send_message(QueueUrl=q, MessageBody="m")
        raise AssertionError("SendMessage with no kms:GenerateDataKey succeeded")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check(code in ("KMS.AccessDeniedException", "KmsAccessDenied"), e.response)
    e = expect_error("AccessDeniedException", usm.get_secret_value, SecretId="sealed")
    check(e.response["Error"]["Message"] == "Access to KMS is not allowed", e.response)
    expect_error("AccessDeniedException", usm.put_secret_value, SecretId="sealed",
                 SecretString="v1")
    # AWS managed keys: through their service, yes; directly, no (their policy names the
    # service, and this user's IAM policy grants no kms:Encrypt either).
    us3.put_object(Bucket="sealed", Key="managed", Body=b"m", ServerSideEncryption="aws:kms")
    check(us3.get_object(Bucket="sealed", Key="managed")["Body"].read() == b"m", "managed key")
    check(usm.get_secret_value(SecretId="plain")["SecretString"] == "p0", "aws/secretsmanager")
    ukms = client("kms", k, s)
    expect_error("AccessDeniedException", ukms.encrypt, KeyId="alias/aws/s3", Plaintext=b"x")
    # Allowed the key's use in IAM (the key's default policy delegates to the account):
    # every service works for the user.
    iam.put_user_policy(UserName="nokms", PolicyName="kms", PolicyDocument=doc(
        allow(["kms:GenerateDataKey", "kms:Decrypt"], key_arn)))
    us3.put_object(Bucket="sealed", Key="a", Body=b"x", ServerSideEncryption="aws:kms",
                   SSEKMSKeyId=key_arn)
    check(us3.get_object(Bucket="sealed", Key="a")["Body"].read() == b"x", "s3 with kms")
    usqs.send_message(QueueUrl=q, MessageBody="m")
    got = usqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", [])
    check([m["Body"] for m in got] == ["m"], got)
    usm.put_secret_value(SecretId="sealed", SecretString="v1")
    check(usm.get_secret_value(SecretId="sealed")["SecretString"] == "v1", "secret with kms")
    # A key policy that refuses the user wins over IAM, through a service too.
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "kms:*", "Resource": "*"},
                      {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nokms"},
                       "Action": "kms:Decrypt", "Resource": "*",
                       "Condition": {"StringEquals": {
                           "kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]}))
    e = expect_error("AccessDenied", us3.get_object, Bucket="sealed", Key="a")
    check("explicit deny in a resource-based policy" in e.response["Error"]["Message"], e.response)
    check(usm.get_secret_value(SecretId="sealed")["SecretString"] == "v1", "not via s3")
    # The root of the account is not asked.
    check(s3.get_object(Bucket="sealed", Key="a")["Body"].read() == b"x", "root")


def abac_tags():
    """Tags as condition keys: aws:ResourceTag/<key> from the resource's own tags (read through
    its service, and current after a retag), aws:RequestTag/<key> and aws:TagKeys from the tags
    a request carries."""
    iam, sqs, kms, sm = client("iam"), client("sqs"), client("kms"), client("secretsmanager")
    qa = sqs.create_queue(QueueName="team-a", tags={"team": "a"})["QueueUrl"]
    qb = sqs.create_queue(QueueName="team-b", tags={"team": "b"})["QueueUrl"]
    ka = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    kb = kms.create_key()["KeyMetadata"]["KeyId"]
    sm.create_secret(Name="team-a", SecretString="a", Tags=[{"Key": "team", "Value": "a"}])
    sm.create_secret(Name="team-b", SecretString="b", Tags=[{"Key": "team", "Value": "b"}])
    team_a = {"StringEquals": {"aws:ResourceTag/team": "a"}}
    k, s = user_with(
        iam, "abac",
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "kms:Encrypt",
                                       "secretsmanager:GetSecretValue"],
         "Resource": "*", "Condition": team_a},
        {"Effect": "Allow", "Action": "sqs:CreateQueue", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "a"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}})
    usqs, ukms, usm = client("sqs", k, s), client("kms", k, s), client("secretsmanager", k, s)
    usqs.send_message(QueueUrl=qa, MessageBody="m")
    e = expect_error("AccessDenied", usqs.send_message, QueueUrl=qb, MessageBody="m")
    check("sqs:SendMessage" in e.response["Error"]["Message"], e.response)
    ukms.encrypt(KeyId=ka, Plaintext=b"x")
    expect_error("AccessDeniedException", ukms.encrypt, KeyId=kb, Plaintext=b"x")
    check(usm.get_secret_value(SecretId="team-a")["SecretString"] == "a", "tagged a")
    expect_error("AccessDeniedException", usm.get_secret_value, SecretId="team-b")
    # Retagged, the queue is the team's at once.
    sqs.tag_queue(QueueUrl=qb, Tags={"team": "a"})
    usqs.send_message(QueueUrl=qb, MessageBody="m")
    sqs.untag_queue(QueueUrl=qa, TagKeys=["team"])
    expect_error("AccessDenied", usqs.send_message, QueueUrl=qa, MessageBody="m")
    # Request tags: only queues tagged team=a, with no other tag key.
    usqs.create_queue(QueueName="made-a", tags={"team": "a"})
    expect_error("AccessDenied", usqs.create_queue, QueueName="made-b", tags={"team": "b"})
    expect_error("AccessDenied", usqs.create_queue, QueueName="made-x",
                 tags={"team": "a", "cost": "1"})
    expect_error("AccessDenied", usqs.create_queue, QueueName="made-none")


def receive_until(sqs, url, wants, read):
    """Every message of `url` until all of `wants` (values of `read(body)`) arrived (at most 20
    polls)."""
    seen = []
    for _ in range(20):
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                     MaxNumberOfMessages=10).get("Messages", []):
            seen.append(read(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if all(w in seen for w in wants):
            return seen
    raise AssertionError(f"{wants!r} never all arrived; got {seen}")


def service_deliveries():
    """SNS and EventBridge deliver as their service principals: a queue whose policy does not
    let them in gets nothing, as in AWS; a policy naming the topic or rule (aws:SourceArn) lets
    their deliveries in, and only theirs."""
    sqs, sns, events = client("sqs"), client("sns"), client("events")
    q = sqs.create_queue(QueueName="fanout")["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="news")["TopicArn"]
    other = sns.create_topic(Name="other-news")["TopicArn"]
    for t in (topic, other):
        sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=q_arn)
    events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["app"]}))
    rule = events.describe_rule(Name="to-queue")["Arn"]
    events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": q_arn}])

    def publish_all(tag):
        sns.publish(TopicArn=topic, Message=f"{tag}-topic")
        sns.publish(TopicArn=other, Message=f"{tag}-other")
        events.put_events(Entries=[{"Source": "app", "DetailType": "t",
                                    "Detail": json.dumps({"tag": f"{tag}-rule"})}])

    def read(body):
        b = json.loads(body)
        return b.get("Message") or b.get("detail", {}).get("tag")

    publish_all("before")
    grant = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": q_arn}
    sqs.set_queue_attributes(QueueUrl=q, Attributes={"Policy": doc(
        dict(grant, Principal={"Service": "sns.amazonaws.com"},
             Condition={"ArnEquals": {"aws:SourceArn": topic}}),
        dict(grant, Principal={"Service": "events.amazonaws.com"},
             Condition={"ArnEquals": {"aws:SourceArn": rule}}))})
    publish_all("after")
    seen = receive_until(sqs, q, ["after-topic", "after-rule"], read)
    check(not any(x.startswith("before") for x in seen), seen)
    check("after-other" not in seen, seen)


def pass_role():
    """Handing a service a role needs iam:PassRole on it, with iam:PassedToService naming the
    service, as AWS checks it."""
    import io
    import zipfile
    iam = client("iam")
    trust = doc({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                 "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName="events-to-kinesis",
                           AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    k, s = user_with(iam, "ruler", allow(["events:PutRule", "events:PutTargets",
                                          "lambda:CreateFunction"]))
    ev = client("events", k, s)
    ev.put_rule(Name="passing", EventPattern=json.dumps({"source": ["app"]}))
    target = {"Id": "k", "Arn": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s", "RoleArn": role}
    e = expect_error("AccessDeniedException", ev.put_targets, Rule="passing", Targets=[target])
    check(f"iam:PassRole on resource: {role}" in e.response["Error"]["Message"], e.response)
    iam.put_user_policy(UserName="ruler", PolicyName="pass", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
         "Condition": {"StringEquals": {"iam:PassedToService": "events.amazonaws.com"}}}))
    out = ev.put_targets(Rule="passing", Targets=[target])
    check(out["FailedEntryCount"] == 0, out)
    # The same role passed to Lambda is not the user's to pass.
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return e\n")
    e = expect_error("AccessDeniedException", client("lambda", k, s).create_function,
                     FunctionName="passed", Runtime="python3.12", Role=role,
                     Handler="index.handler", Code={"ZipFile": code.getvalue()})
    check(status(e) == 403 and "iam:PassRole" in e.response["Error"]["Message"], e.response)


def bad_credentials():
    iam = client("iam")
    key, secret = user_with(iam, "signer", allow("sqs:*"))
    expect_error("SignatureDoesNotMatch", client("sqs", key, "wrong" + secret[5:]).list_queues)
    e = expect_error("SignatureDoesNotMatch", client("s3", key, "wrong" + secret[5:]).list_buckets)
    check(status(e) == 403, e.response)
    e = expect_error("InvalidClientTokenId", client("sts", "AKIAXXXXXXXXXXXXXXXX", "x")
                     .get_caller_identity)
    check(status(e) == 403, e.response)
    expect_error("InvalidAccessKeyId", client("s3", "AKIAXXXXXXXXXXXXXXXX", "x").list_buckets)
    e = expect_error("MissingAuthenticationToken", client("sts", unsigned=True)
                     .get_caller_identity)
    check(status(e) == 403, e.response)
    # A deactivated key is unknown.
    iam.update_access_key(UserName="signer", AccessKeyId=key, Status="Inactive")
    expect_error("InvalidClientTokenId", client("sts", key, secret).get_caller_identity)


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def web_identity():
    iam = client("iam")
    iam.create_open_id_connect_provider(Url="https://issuer.example.com", ClientIDList=["app"],
                                        ThumbprintList=["a" * 40])
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/issuer.example.com"
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=doc({
        "Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"issuer.example.com:aud": "app"}}}))

    def token(iss, aud, sub="alice"):
        return ".".join([b64({"alg": "none"}), b64({"iss": iss, "aud": aud, "sub": sub}), "sig"])

    sts = client("sts", unsigned=True)
    role = f"arn:aws:iam::{ACCOUNT}:role/web"
    out = sts.assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="web1", WebIdentityToken=token("https://issuer.example.com", "app"))
    check(out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/web/web1", out)
    expect_error("InvalidIdentityToken", sts.assume_role_with_web_identity, RoleArn=role,
                 RoleSessionName="web1", WebIdentityToken=token("https://other.example.com", "app"))
    expect_error("InvalidIdentityToken", sts.assume_role_with_web_identity, RoleArn=role,
                 RoleSessionName="web1", WebIdentityToken=token("https://issuer.example.com", "nope"))
    iam.create_role(RoleName="closed", AssumeRolePolicyDocument=doc({
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}))
    expect_error("AccessDenied", sts.assume_role_with_web_identity,
                 RoleArn=f"arn:aws:iam::{ACCOUNT}:role/closed", RoleSessionName="web1",
                 WebIdentityToken=token("https://issuer.example.com", "app"))


def changes_apply_at_once():
    iam, s3 = client("iam"), client("s3")
    key, secret = user_with(iam, "fleeting", allow("s3:GetObject", "arn:aws:s3:::shared/*"))
    s3u = client("s3", key, secret)
    s3u.get_object(Bucket="shared", Key="doc")
    s3u.get_object(Bucket="shared", Key="doc")
    # The bucket policy granted guest, not this user: its removal changes nothing for it, but a
    # deny added to the bucket policy applies at once.
    s3.put_bucket_policy(Bucket="shared", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/fleeting"},
                       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}))
    e = expect_error("AccessDenied", s3u.get_object, Bucket="shared", Key="doc")
    check("explicit deny in a resource-based policy" in e.response["Error"]["Message"], e.response)
    s3.delete_bucket_policy(Bucket="shared")
    s3u.get_object(Bucket="shared", Key="doc")
    # A deleted key is unknown on the next request.
    iam.delete_access_key(UserName="fleeting", AccessKeyId=key)
    expect_error("InvalidAccessKeyId", s3u.get_object, Bucket="shared", Key="doc")
    expect_error("InvalidClientTokenId", client("sts", key, secret).get_caller_identity)


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def chunked_put(key, secret, bucket, name, chunks, trailer=None, tamper=None):
    """PUT an object as aws-chunked with chunk signatures (what the Java and Go SDKs send over
    plain HTTP), signed by hand. `tamper(i, data, sig)` may change a chunk before it is sent.
    Returns (status, body)."""
    url = urllib.parse.urlparse(ENDPOINT)
    host = url.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/us-east-1/s3/aws4_request"
    total = sum(len(c) for c in chunks)
    mode = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if trailer
            else "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    headers = {
        "content-encoding": "aws-chunked",
        "host": host,
        "x-amz-content-sha256": mode,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(total),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    signed = ";".join(sorted(headers))
    path = f"/{bucket}/{name}"
    canonical = "\n".join(["PUT", path, ""] + [f"{k}:{headers[k]}" for k in sorted(headers)]
                          + ["", signed, mode])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = _sign(("AWS4" + secret).encode(), day)
    for part in ("us-east-1", "s3", "aws4_request"):
        k = _sign(k, part)
    seed = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={seed}")
    body = b""
    previous = seed
    empty = hashlib.sha256(b"").hexdigest()
    for i, data in enumerate(list(chunks) + [b""]):
        chunk_sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
                               hashlib.sha256(data).hexdigest()])
        sig = hmac.new(k, chunk_sts.encode(), hashlib.sha256).hexdigest()
        previous = sig
        if tamper:
            data, sig = tamper(i, data, sig)
        body += f"{len(data):x};chunk-signature={sig}\r\n".encode() + data
        body += b"\r\n" if data else b""
    if trailer:
        text = f"{trailer[0]}:{trailer[1]}\n"
        t_sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                           hashlib.sha256(text.encode()).hexdigest()])
        t_sig = hmac.new(k, t_sts.encode(), hashlib.sha256).hexdigest()
        body += f"{trailer[0]}:{trailer[1]}\r\nx-amz-trailer-signature:{t_sig}\r\n\r\n".encode()
    else:
        body += b"\r\n"
    headers["content-length"] = str(len(body))
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("PUT", path, body=body, headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read().decode(errors="replace")
    conn.close()
    return out


def chunk_signatures():
    iam, s3 = client("iam"), client("s3")
    key, secret = user_with(iam, "uploader", allow(["s3:PutObject", "s3:GetObject"],
                                                   "arn:aws:s3:::data/*"))
    chunks = [b"a" * 70000, b"b" * 1024]
    status_, body = chunked_put(key, secret, "data", "chunked/good", chunks)
    check(status_ == 200, (status_, body))
    got = s3.get_object(Bucket="data", Key="chunked/good")["Body"].read()
    check(got == b"".join(chunks), len(got))
    # A signed trailer (a checksum after the last chunk).
    crc = base64.b64encode((__import__("zlib").crc32(b"".join(chunks))).to_bytes(4, "big")).decode()
    status_, body = chunked_put(key, secret, "data", "chunked/trailer", chunks,
                                trailer=("x-amz-checksum-crc32", crc))
    check(status_ == 200, (status_, body))
    # A chunk whose data changed after signing, a wrong final chunk signature: refused, and
    # no object is left behind.
    for name, tamper in [
        ("chunked/bad-data", lambda i, d, s: (d[:-1] + b"X", s) if i == 1 else (d, s)),
        ("chunked/bad-final", lambda i, d, s: (d, "0" * 64) if i == 2 else (d, s)),
        ("chunked/bad-first", lambda i, d, s: (d, s[::-1]) if i == 0 else (d, s)),
    ]:
        status_, body = chunked_put(key, secret, "data", name, chunks, tamper=tamper)
        check(status_ == 403 and "SignatureDoesNotMatch" in body, (name, status_, body))
        e = expect_error("404", s3.head_object, Bucket="data", Key=name)
        check(status(e) == 404, e.response)
    status_, body = chunked_put(key, "wrong" + secret[5:], "data", "chunked/wrong-secret", chunks)
    check(status_ == 403 and "SignatureDoesNotMatch" in body, (status_, body))


def wait_report(iam, job_id, entities=None):
    for _ in range(100):
        if entities:
            out = iam.get_service_last_accessed_details_with_entities(
                JobId=job_id, ServiceNamespace=entities)
        else:
            out = iam.get_service_last_accessed_details(JobId=job_id)
        if out["JobStatus"] == "COMPLETED":
            return out
        check(out["JobStatus"] == "IN_PROGRESS", out)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never completed")


def last_accessed():
    iam = client("iam")
    key, secret = user_with(iam, "auditor", allow("s3:GetObject", "arn:aws:s3:::data/*"),
                            allow("dynamodb:ListTables"))
    client("s3", key, secret).get_object(Bucket="data", Key="public/a.txt")
    # A denied attempt counts as an access too.
    expect_error("AccessDenied", client("sqs", key, secret).list_queues)
    arn = f"arn:aws:iam::{ACCOUNT}:user/auditor"
    time.sleep(0.5)  # the access is written off the request's path
    job = iam.generate_service_last_accessed_details(Arn=arn, Granularity="ACTION_LEVEL")["JobId"]
    out = wait_report(iam, job)
    check(out["JobType"] == "ACTION_LEVEL", out)
    by_ns = {s["ServiceNamespace"]: s for s in out["ServicesLastAccessed"]}
    check(set(by_ns) == {"s3", "dynamodb"}, by_ns)
    check(by_ns["s3"]["LastAuthenticatedEntity"] == arn, by_ns["s3"])
    check(by_ns["s3"]["LastAuthenticatedRegion"] == "us-east-1", by_ns["s3"])
    check(by_ns["s3"]["TotalAuthenticatedEntities"] == 1, by_ns["s3"])
    check("LastAuthenticated" not in by_ns["dynamodb"], by_ns["dynamodb"])
    actions = [a["ActionName"] for a in by_ns["s3"]["TrackedActionsLastAccessed"]]
    check(actions == ["GetObject"], actions)
    ents = wait_report(iam, job, "s3")["EntityDetailsList"]
    check([e["EntityInfo"]["Name"] for e in ents] == ["auditor"], ents)
    # The key's last use.
    used = iam.get_access_key_last_used(AccessKeyId=key)["AccessKeyLastUsed"]
    check(used.get("ServiceName") in ("s3", "sqs"), used)
    expect_error("NoSuchEntity", iam.get_service_last_accessed_details,
                 JobId="00000000-0000-4000-8000-000000000000")
    expect_error("NoSuchEntity", iam.generate_service_last_accessed_details,
                 Arn=f"arn:aws:iam::{ACCOUNT}:user/nobody")


def delegated_access():
    partner, customer = "111111111111", "222222222222"
    sns, sqs = client("sns", partner), client("sqs", partner)
    topic = sns.create_topic(Name="delegation-updates")["TopicArn"]
    url = sqs.create_queue(QueueName="delegation-updates")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    # The queue lets the topic's deliveries in (SNS delivers as sns.amazonaws.com).
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": doc(dict(
        allow("sqs:SendMessage", qarn), Principal={"Service": "sns.amazonaws.com"},
        Condition={"ArnEquals": {"aws:SourceArn": topic}}))})
    tpl = client("iam", partner).create_policy(
        PolicyName="ReadTemplate",
        PolicyDocument=doc(allow("s3:GetObject", "arn:aws:s3:::@{bucket}/*")))["Policy"]["Arn"]
    rid = client("iam", partner).create_delegation_request(
        Description="read the report", RequestorWorkflowId="wf-enforce-1", NotificationChannel=topic,
        Permissions={"PolicyTemplateArn": tpl,
                     "Parameters": [{"Name": "bucket", "Values": ["delegated-data"], "Type": "string"}]},
        SessionDuration=900)["DelegationRequestId"]
    owner_s3 = client("s3", customer)
    owner_s3.create_bucket(Bucket="delegated-data")
    owner_s3.put_object(Bucket="delegated-data", Key="report.csv", Body=b"rows")
    key, secret = user_with(client("iam", customer), "approver", allow("s3:*"),
                            allow("iam:*DelegationRequest*"), allow("iam:SendDelegationToken"))
    approver = client("iam", key, secret)
    approver.associate_delegation_request(DelegationRequestId=rid)
    approver.accept_delegation_request(DelegationRequestId=rid)
    approver.send_delegation_token(DelegationRequestId=rid)
    token, deadline = None, time.time() + 20
    while token is None and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(m["Body"])
            if body["DelegationRequestId"] == rid and body["State"] == "FINALIZED":
                token = body["ExchangeToken"]
    check(token is not None, "the exchange token reached the partner's queue")
    # Only the partner may trade it.
    expect_error("ExpiredTradeInTokenException", client("sts", "333333333333").get_delegated_access_token,
                 TradeInToken=token)
    out = client("sts", partner).get_delegated_access_token(TradeInToken=token)
    check(out["AssumedPrincipal"] == f"arn:aws:iam::{customer}:user/approver", out)
    c = out["Credentials"]
    d = client("s3", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    check(d.get_object(Bucket="delegated-data", Key="report.csv")["Body"].read() == b"rows", "delegated read")
    # The approver may do any S3 action; the delegation only what the request asked.
    e = expect_error("AccessDenied", d.list_buckets)
    check(status(e) == 403, e.response)
    expect_error("AccessDenied", d.put_object, Bucket="delegated-data", Key="x", Body=b"x")
    client("s3", key, secret).list_buckets()


def sigv4a():
    """SigV4a (AWS4-ECDSA-P256-SHA256), which the SDKs sign with the AWS CRT: an EventBridge
    PutEvents to a global endpoint (botocore signs it with SigV4a itself), and any request signed
    with SigV4a by hand, verified against the key the user's secret derives."""
    try:
        from botocore.crt.auth import CrtSigV4AsymAuth
        from botocore.credentials import Credentials
        from botocore.awsrequest import AWSRequest
    except ImportError:
        print("sigv4a: awscrt (botocore[crt]) is not installed: skipped")
        return
    iam = client("iam")
    key, secret = user_with(iam, "global", allow("events:PutEvents"))
    entries = [{"Source": "app", "DetailType": "t", "Detail": "{}"}]
    out = client("events", key, secret).put_events(Entries=entries, EndpointId="abcde.xyz")
    check(out["FailedEntryCount"] == 0, out)
    e = expect_error("InvalidSignatureException",
                     client("events", key, "wrong" + secret[5:]).put_events,
                     Entries=entries, EndpointId="abcde.xyz")
    check(status(e) == 400, e.response)
    k2, s2 = user_with(iam, "global-ro")
    expect_error("AccessDeniedException", client("events", k2, s2).put_events,
                 Entries=entries, EndpointId="abcde.xyz")

    def signed(body, secret, tamper=None):
        req = AWSRequest(method="POST", url=ENDPOINT + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        CrtSigV4AsymAuth(Credentials(key, secret), "sts", "*").add_auth(req)
        check(req.headers["Authorization"].startswith("AWS4-ECDSA-P256-SHA256 "), req.headers)
        url = urllib.parse.urlsplit(ENDPOINT)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("POST", "/", body=tamper or body, headers=dict(req.headers.items()))
        r = conn.getresponse()
        return r.status, r.read().decode()

    body = "Action=GetCallerIdentity&Version=2011-06-15"
    code, text = signed(body, secret)
    check(code == 200 and f"arn:aws:iam::{ACCOUNT}:user/global" in text, (code, text))
    code, text = signed(body, secret, tamper=body.replace("2011", "2012"))
    check(code == 403 and "SignatureDoesNotMatch" in text, (code, text))
    code, text = signed(body, "x" * 40)
    check(code == 403 and "SignatureDoesNotMatch" in text, (code, text))


def suite():
    root_allowed()
    s3_prefix()
    sqs_denied()
    assumed_role()
    bucket_policy()
    kms_key_policy()
    kms_via_services()
    abac_tags()
    service_deliveries()
    pass_role()
    bad_credentials()
    web_identity()
    changes_apply_at_once()
    chunk_signatures()
    last_accessed()
    delegated_access()
    sigv4a()


def soft_mode():
    """IAM_SOFT_MODE=1: what enforcement would refuse is let through (the server logs it)."""
    k, s = user_with(client("iam"), "softie")
    s3 = client("s3", k, s)
    s3.create_bucket(Bucket="soft-bucket")
    s3.put_object(Bucket="soft-bucket", Key="k", Body=b"v")
    check(s3.get_object(Bucket="soft-bucket", Key="k")["Body"].read() == b"v", "soft read")
    # A wrong secret, too.
    client("sqs", k, "x" * 40).create_queue(QueueName="soft-queue")


def prepare(state):
    iam = client("iam")
    client("ssm").put_parameter(Name="/app/visible", Value="v", Type="String")
    client("ssm").put_parameter(Name="/app/hidden", Value="h", Type="String")
    key, secret = user_with(iam, "keeper", allow("ssm:GetParameter",
                                                 f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/visible"))
    ssm = client("ssm", key, secret)
    ssm.get_parameter(Name="/app/visible")
    expect_error("AccessDeniedException", ssm.get_parameter, Name="/app/hidden")
    job = iam.generate_service_last_accessed_details(
        Arn=f"arn:aws:iam::{ACCOUNT}:user/keeper")["JobId"]
    with open(state, "w") as f:
        json.dump({"key": key, "secret": secret, "job": job}, f)


def check_state(state):
    with open(state) as f:
        s = json.load(f)
    ssm = client("ssm", s["key"], s["secret"])
    check(ssm.get_parameter(Name="/app/visible")["Parameter"]["Value"] == "v", "visible")
    e = expect_error("AccessDeniedException", ssm.get_parameter, Name="/app/hidden")
    check(status(e) == 400, e.response)
    # A JSON service names a bad signature InvalidSignatureException (400).
    e = expect_error("InvalidSignatureException", client("ssm", s["key"], "x" * 40).get_parameter,
                     Name="/app/visible")
    check(status(e) == 400, e.response)
    client("ssm").get_parameter(Name="/app/hidden")
    out = wait_report(client("iam"), s["job"])
    check([x["ServiceNamespace"] for x in out["ServicesLastAccessed"]] == ["ssm"], out)


if __name__ == "__main__":
    run_commands({"suite": (suite, 0), "prepare": (prepare, 1), "check": (check_state, 1),
                  "soft": (soft_mode, 0)}, ARGS)
