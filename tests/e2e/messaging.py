#!/usr/bin/env python3
"""SNS and EventBridge deliveries end to end, through boto3: signatures, https, targets.

Usage: messaging.py ENDPOINT COMMAND [ARGS]...

  mkcert DIR        write DIR/cert.pem and DIR/key.pem: a self-signed certificate for
                    localhost (the server is started with SNAPSTACK_CA_BUNDLE=DIR/cert.pem)
  signatures STATE  SNS messages signed as AWS signs them: SubscriptionConfirmation and
                    Notification to an HTTP subscriber and Notification into SQS, for
                    SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA), each verified with
                    `cryptography` against the certificate fetched from SigningCertURL; an HTTP
                    endpoint that fails twice before it accepts (the retries seen), a dead-letter
                    queue after exhausted retries, and the /_aws/sns inspection endpoints (SMS,
                    mobile push, email, subscription tokens). STATE keeps a signed message and
                    the certificate for `sig-check`.
  sig-check STATE   after a restart: the same certificate is served, and the message signed
                    before the restart still verifies
  https DIR         with DIR's certificate trusted by the server: an SNS https subscription
                    (confirmation, delivery, signatures), EventBridge API destinations with
                    API_KEY, BASIC and OAUTH_CLIENT_CREDENTIALS connections (the token fetched
                    from an https authorization endpoint), an untrusted https endpoint refused,
                    and a Firehose https endpoint destination
  targets           EventBridge rules into a Lambda function, a Kinesis stream
                    (PartitionKeyPath), a Firehose stream into S3, and a Step Functions state
                    machine (not served here: the delivery fails into the rule's dead-letter
                    queue); SNS subscriptions of protocol lambda and firehose
  burst STATE       1,000 publishes from 16 threads to a topic with 3 SQS subscriptions (raw),
                    each acknowledged number appended to STATE as it is acknowledged; stops at
                    the first failed call (the server killed under it)
  burst-check STATE after the restart: every acknowledged publish is in every queue
  fifo              a FIFO topic into two FIFO queues (raw and enveloped): interleaved
                    groups, explicit deduplication ids (repeats deduplicated), PublishBatch and
                    8 concurrent publishers; each message once, per group in SequenceNumber order
  fifo-burst STATE  800 publishes from 8 threads to a FIFO topic with two FIFO queues, each
                    acknowledged `body sequence` appended to STATE; stops when the server dies
  fifo-burst-check STATE  after a kill -9 and a restart: every acknowledged publish in each
                    queue, none twice, per group in SequenceNumber order
  backoff           an HTTP endpoint failing 5 times under a four-phase delivery policy
                    (1 s < 3 s): the gaps between attempts respect each phase's delay
  settle STATE      an SNS publish into an SQS queue and an EventBridge event into another;
                    once each message is in its queue, waits until the removal of the delivery
                    record (background work, which no request waits for) is durable, then only
                    requests to other services; STATE keeps the queue URLs for `settle-check`
  settle-check STATE after a kill -9 and a restart: each queue holds its message exactly once
                    (a delivery record whose removal was not durable would be sent again)
"""

import base64
import io
import json
import os
import ssl
import sys
import threading
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=CFG)


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """A local HTTP(S) endpoint recording what it gets. `answer(method, path, headers, body)`
    gives (status, body) for each request (200 and nothing by default)."""

    def __init__(self, answer=None, cert_dir=None):
        got = self.got = []
        answer = answer or (lambda *a: (200, b""))

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                got.append((self.command, self.path, headers, body))
                status, out = answer(self.command, self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = handle_any

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        scheme = "http"
        if cert_dir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(cert_dir, "cert.pem"), os.path.join(cert_dir, "key.pem"))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://localhost:{self.port}"
        self.url = self.base + "/sns"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path=None, kind=None):
        out = []
        for m, p, h, b in list(self.got):
            if path and not p.startswith(path):
                continue
            if kind and h.get("x-amz-sns-message-type") != kind:
                continue
            out.append((h, b))
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- signatures


def string_to_sign(m):
    if m["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{m[k]}\n" for k in keys if k in m).encode()


def fetch_cert(url):
    check("/_aws/sns/SimpleNotificationService-" in url and url.endswith(".pem"), url)
    # The URL names the advertised host; fetch it from this server.
    path = url[url.index("/_aws/"):]
    with urllib.request.urlopen(ENDPOINT.rstrip("/") + path) as r:
        return r.read()


def verify(m, cert_pem=None):
    """Verify an SNS message's signature as AWS's SDKs do; returns the certificate PEM."""
    pem = cert_pem or fetch_cert(m["SigningCertURL"])
    cert = x509.load_pem_x509_certificate(pem)
    algo = hashes.SHA256() if m["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(m["Signature"]), string_to_sign(m), padding.PKCS1v15(), algo)
    return pem


def verify_fails(m, pem):
    try:
        verify(m, pem)
    except InvalidSignature:
        return True
    return False


def receive(sqs, url, want, timeout=30):
    out = []
    deadline = time.time() + timeout
    while len(out) < want and time.time() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                MessageAttributeNames=["All"], AttributeNames=["All"])
        for m in r.get("Messages", []):
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check(len(out) >= want, f"{len(out)} of {want} messages arrived")
    return out


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def confirm(sns, rx, topic):
    conf = wait_for("the SubscriptionConfirmation", lambda: rx.bodies(kind="SubscriptionConfirmation"))
    h, body = conf[-1]
    m = json.loads(body)
    check(h["x-amz-sns-topic-arn"] == topic, h)
    check(m["Type"] == "SubscriptionConfirmation" and m["TopicArn"] == topic, m)
    verify(m)
    arn = sns.confirm_subscription(TopicArn=topic, Token=m["Token"])["SubscriptionArn"]
    return arn, m


def signatures(state):
    sns, sqs = client("sns"), client("sqs")
    # The certificate is served at the documented path, and is a real RSA-2048 certificate.
    with urllib.request.urlopen(ENDPOINT.rstrip("/") + "/_aws/sns/SimpleNotificationService-us-east-1.pem") as r:
        pem = r.read()
    cert = x509.load_pem_x509_certificate(pem)
    check(cert.public_key().key_size == 2048, cert)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    check(cn == "sns.us-east-1.amazonaws.com", cn)
    try:
        urllib.request.urlopen(ENDPOINT.rstrip("/") + "/_aws/sns/SimpleNotificationService-eu-west-1.pem").read()
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"the eu-west-1 certificate: {e}")

    kept = {}
    for version in ["1", "2"]:
        topic = sns.create_topic(Name=f"signed-v{version}")["TopicArn"]
        if version == "2":
            sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
        rx = Receiver()
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=rx.url)
        _, conf = confirm(sns, rx, topic)
        check(conf["SignatureVersion"] == version, conf)
        url, qarn = queue(sqs, f"signed-q{version}")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        sns.publish(TopicArn=topic, Message=f"hello v{version}", Subject="greetings")
        sns.publish(TopicArn=topic, Message=json.dumps({"default": "dflt", "http": "for http"}),
                    MessageStructure="json")
        notes = wait_for("the notifications", lambda: len(rx.bodies(kind="Notification")) >= 2
                         and rx.bodies(kind="Notification"))
        msgs = [json.loads(b) for _, b in notes]
        check({m["Message"] for m in msgs} == {f"hello v{version}", "for http"}, msgs)
        for m in msgs:
            check(m["SignatureVersion"] == version, m)
            p = verify(m)
            check(p == pem, "one certificate per region")
            tampered = dict(m, Message=m["Message"] + "!")
            check(verify_fails(tampered, p), "a changed message does not verify")
        # The other hash does not verify: the version really chooses the algorithm.
        other = dict(msgs[0], SignatureVersion="1" if version == "2" else "2")
        check(verify_fails(other, pem), "the other signature version does not verify")
        envs = [json.loads(m["Body"]) for m in receive(sqs, url, 2)]
        check({e["Message"] for e in envs} == {f"hello v{version}", "dflt"}, envs)
        for env in envs:
            check(env["Type"] == "Notification" and env["SignatureVersion"] == version, env)
            verify(env, pem)
        kept[version] = msgs[0]
        rx.stop()

    # An endpoint that fails twice before accepting: SNS retries by the delivery policy.
    fails = {"n": 0}

    def flaky(method, path, headers, body):
        if headers.get("x-amz-sns-message-type") == "Notification" and fails["n"] < 2:
            fails["n"] += 1
            return 500, b"not yet"
        return 200, b""

    topic = sns.create_topic(Name="flaky")["TopicArn"]
    rx = Receiver(flaky)
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=rx.url, Attributes={
        "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
            "numRetries": 3, "numNoDelayRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1,
            "numMinDelayRetries": 2}})})
    confirm(sns, rx, topic)
    mid = sns.publish(TopicArn=topic, Message="eventually")["MessageId"]
    wait_for("three attempts", lambda: len(rx.bodies(kind="Notification")) >= 3, timeout=30)
    attempts = [json.loads(b) for _, b in rx.bodies(kind="Notification")]
    check(len(attempts) == 3 and all(a["MessageId"] == mid for a in attempts), attempts)
    time.sleep(2.5)
    check(len(rx.bodies(kind="Notification")) == 3, "no attempt after the one accepted")
    rx.stop()

    # An endpoint that always fails: after the retries, the subscription's dead-letter queue.
    dlq_url, dlq_arn = queue(sqs, "http-dlq")
    topic = sns.create_topic(Name="doomed")["TopicArn"]
    rx = Receiver(lambda m, p, h, b: (200, b"") if h.get("x-amz-sns-message-type") != "Notification" else (503, b""))
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=rx.url, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
        "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
            "numRetries": 2, "numNoDelayRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}})})
    confirm(sns, rx, topic)
    mid = sns.publish(TopicArn=topic, Message="to the dlq")["MessageId"]
    dead = receive(sqs, dlq_url, 1)
    env = json.loads(dead[0]["Body"])
    check(env["MessageId"] == mid and env["Message"] == "to the dlq", env)
    verify(env, pem)
    check(len(rx.bodies(kind="Notification")) == 3, rx.bodies(kind="Notification"))
    rx.stop()

    # The inspection endpoints.
    sns.publish(PhoneNumber="+15550001111", Message="an sms")
    app = sns.create_platform_application(Name="app", Platform="GCM",
                                          Attributes={"PlatformCredential": "k"})["PlatformApplicationArn"]
    ep = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device-1")["EndpointArn"]
    sns.publish(TargetArn=ep, Message="a push")
    topic = sns.create_topic(Name="mail")["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com",
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    tok = json.loads(get(f"/_aws/sns/subscription-tokens/{sub}"))
    check(tok["subscription_arn"] == sub and tok["subscription_token"], tok)
    sns.confirm_subscription(TopicArn=topic, Token=tok["subscription_token"])
    sns.publish(TopicArn=topic, Message="an email", Subject="subj")
    sms = json.loads(get("/_aws/sns/sms-messages"))
    check(sms["region"] == "us-east-1", sms)
    check([m["Message"] for m in sms["sms_messages"]["+15550001111"]] == ["an sms"], sms)
    push = wait_for("the push message", lambda: json.loads(get(f"/_aws/sns/platform-endpoint-messages?endpointArn={ep}"))
                    ["platform_endpoint_messages"].get(ep))
    check("a push" in push[0]["Message"], push)
    mails = wait_for("the email", lambda: json.loads(get("/_aws/sns/email-messages"))["email_messages"].get("a@example.com"))
    check(mails[0]["Message"] == "an email", mails)
    req = urllib.request.Request(ENDPOINT.rstrip("/") + "/_aws/sns/sms-messages", method="DELETE")
    urllib.request.urlopen(req).read()
    check(json.loads(get("/_aws/sns/sms-messages"))["sms_messages"] == {}, "deleted")

    with open(state, "w") as f:
        json.dump({"pem": pem.decode(), "messages": kept}, f)
    print("signatures ok")


def get(path):
    with urllib.request.urlopen(ENDPOINT.rstrip("/") + path) as r:
        return r.read()


def sig_check(state):
    with open(state) as f:
        st = json.load(f)
    pem = get("/_aws/sns/SimpleNotificationService-us-east-1.pem")
    check(pem.decode() == st["pem"], "the signing certificate survives the restart")
    for m in st["messages"].values():
        verify(m)
    print("signatures after restart ok")


# ---------------------------------------------------------------- https


def mkcert(d):
    os.makedirs(d, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - __import__("datetime").timedelta(days=1))
            .not_valid_after(now + __import__("datetime").timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(d, "cert.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(d, "key.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def https(cert_dir):
    sns, ev, sqs, fh = client("sns"), client("events"), client("sqs"), client("firehose")

    def answer(method, path, headers, body):
        if path.startswith("/oauth"):
            return 200, json.dumps({"access_token": "tok-123", "token_type": "Bearer",
                                    "expires_in": 3600}).encode()
        return 200, b""

    rx = Receiver(answer, cert_dir=cert_dir)
    check(rx.url.startswith("https://localhost:"), rx.url)

    # SNS over https.
    topic = sns.create_topic(Name="tls")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=rx.url)
    confirm(sns, rx, topic)
    sns.publish(TopicArn=topic, Message="over tls")
    note = wait_for("the https notification", lambda: rx.bodies(kind="Notification"))
    m = json.loads(note[0][1])
    check(m["Message"] == "over tls", m)
    verify(m)

    # EventBridge API destinations, one per authorization type.
    dlq_url, dlq_arn = queue(sqs, "apidest-dlq")
    conns = {
        "API_KEY": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-1"}},
        "BASIC": {"BasicAuthParameters": {"Username": "u", "Password": "p"},
                  "InvocationHttpParameters": {"HeaderParameters": [
                      {"Key": "x-conn", "Value": "from-connection", "IsValueSecret": False}]}},
        "OAUTH_CLIENT_CREDENTIALS": {"OAuthParameters": {
            "AuthorizationEndpoint": rx.base + "/oauth/token", "HttpMethod": "POST",
            "ClientParameters": {"ClientID": "cid", "ClientSecret": "csecret"},
            "OAuthHttpParameters": {"BodyParameters": [{"Key": "scope", "Value": "s1", "IsValueSecret": False}]}}},
    }
    for i, (kind, params) in enumerate(conns.items()):
        c = ev.create_connection(Name=f"c{i}", AuthorizationType=kind, AuthParameters=params)
        d = ev.create_api_destination(Name=f"d{i}", ConnectionArn=c["ConnectionArn"],
                                      InvocationEndpoint=rx.base + f"/api/{i}/*", HttpMethod="POST")
        ev.put_rule(Name=f"r{i}", EventPattern=json.dumps({"source": [f"app.{i}"]}))
        ev.put_targets(Rule=f"r{i}", Targets=[{
            "Id": "t", "Arn": d["ApiDestinationArn"], "RoleArn": ROLE,
            "HttpParameters": {"PathParameterValues": ["leaf"], "QueryStringParameters": {"q": "1"},
                               "HeaderParameters": {"x-target": "yes"}},
            "DeadLetterConfig": {"Arn": dlq_arn}}])
        ev.put_events(Entries=[{"Source": f"app.{i}", "DetailType": "t", "Detail": json.dumps({"n": i})}])
    calls = wait_for("three API destination calls", lambda: len(rx.bodies(path="/api/")) >= 3
                     and rx.bodies(path="/api/"))
    by_path = {}
    for meth, p, h, b in rx.got:
        if p.startswith("/api/"):
            by_path[p] = (meth, h, json.loads(b))
    for i in range(3):
        meth, h, event = by_path[f"/api/{i}/leaf?q=1"]
        check(meth == "POST" and event["detail"] == {"n": i} and h["x-target"] == "yes", (meth, h, event))
        check(h["content-type"].startswith("application/json"), h)
    check(by_path["/api/0/leaf?q=1"][1]["x-api-key"] == "k-1", by_path)
    basic = base64.b64encode(b"u:p").decode()
    check(by_path["/api/1/leaf?q=1"][1]["authorization"] == f"Basic {basic}", by_path)
    check(by_path["/api/1/leaf?q=1"][1]["x-conn"] == "from-connection", by_path)
    check(by_path["/api/2/leaf?q=1"][1]["authorization"] == "Bearer tok-123", by_path)
    oauth = [x for x in rx.got if x[1].startswith("/oauth")]
    check(oauth and oauth[0][0] == "POST", oauth)
    check(oauth[0][2]["authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode(), oauth)
    check("grant_type=client_credentials" in oauth[0][3] and "scope=s1" in oauth[0][3], oauth)
    del calls

    # An endpoint whose certificate nobody trusts: never delivered; the DLQ gets the event.
    untrusted_dir = os.path.join(cert_dir, "untrusted")
    mkcert(untrusted_dir)
    bad = Receiver(cert_dir=untrusted_dir)
    c = ev.create_connection(Name="cbad", AuthorizationType="API_KEY", AuthParameters=conns["API_KEY"])
    d = ev.create_api_destination(Name="dbad", ConnectionArn=c["ConnectionArn"],
                                  InvocationEndpoint=bad.base + "/x", HttpMethod="PUT")
    ev.put_rule(Name="rbad", EventPattern=json.dumps({"source": ["app.bad"]}))
    ev.put_targets(Rule="rbad", Targets=[{"Id": "t", "Arn": d["ApiDestinationArn"], "RoleArn": ROLE,
                                          "RetryPolicy": {"MaximumRetryAttempts": 0},
                                          "DeadLetterConfig": {"Arn": dlq_arn}}])
    ev.put_events(Entries=[{"Source": "app.bad", "DetailType": "t", "Detail": "{}"}])
    dead = receive(sqs, dlq_url, 1)
    check(json.loads(dead[0]["Body"])["source"] == "app.bad", dead)
    check(bad.got == [], bad.got)
    bad.stop()

    # Firehose into an https endpoint.
    fh.create_delivery_stream(DeliveryStreamName="fh-https", HttpEndpointDestinationConfiguration={
        "EndpointConfiguration": {"Url": rx.base + "/firehose", "Name": "rx"},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}})
    wait_for("fh-https ACTIVE", lambda: fh.describe_delivery_stream(DeliveryStreamName="fh-https")[
        "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE")
    fh.put_record(DeliveryStreamName="fh-https", Record={"Data": b"tls-record"})
    got = wait_for("the firehose https delivery", lambda: rx.bodies(path="/firehose"))
    recs = json.loads(got[0][1])["records"]
    check(base64.b64decode(recs[0]["data"]) == b"tls-record", recs)
    rx.stop()
    print("https ok")


# ---------------------------------------------------------------- targets

PY_TO_SSM = """
import boto3, json
def handler(event, context):
    if "Records" in event:
        value = event["Records"][0]["Sns"]["Message"]
        name = "/sns-lambda"
    else:
        value = json.dumps(event)
        name = "/events-lambda"
    boto3.client("ssm").put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    return "ok"
"""


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
    return buf.getvalue()


def param(ssm, name):
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def s3_objects(s3, bucket, prefix):
    out = []
    for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        out.append(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
    return out


def targets():
    ev, sqs, sns, lam, ssm, kin, fh, s3 = (client(s) for s in
                                           ["events", "sqs", "sns", "lambda", "ssm", "kinesis", "firehose", "s3"])
    fn = lam.create_function(FunctionName="target-fn", Runtime="python3.11", Role=ROLE, Handler="index.handler",
                             Code={"ZipFile": zip_of({"index.py": PY_TO_SSM})}, Timeout=30)["FunctionArn"]
    wait_for("the function Active", lambda: lam.get_function(FunctionName="target-fn")["Configuration"]
             ["State"] == "Active")
    kin.create_stream(StreamName="ev-stream", ShardCount=1)
    wait_for("the stream ACTIVE", lambda: kin.describe_stream(StreamName="ev-stream")["StreamDescription"]
             ["StreamStatus"] == "ACTIVE")
    stream_arn = kin.describe_stream(StreamName="ev-stream")["StreamDescription"]["StreamARN"]
    s3.create_bucket(Bucket="ev-out")
    for name, prefix in [("ev-fh", "events/"), ("sns-fh", "sns/")]:
        fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::ev-out", "Prefix": prefix,
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}})
        wait_for(f"{name} ACTIVE", lambda n=name: fh.describe_delivery_stream(DeliveryStreamName=n)[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE")
    fh_arn = fh.describe_delivery_stream(DeliveryStreamName="ev-fh")["DeliveryStreamDescription"]["DeliveryStreamARN"]
    dlq_url, dlq_arn = queue(sqs, "targets-dlq")

    ev.put_rule(Name="fan", EventPattern=json.dumps({"source": ["app.targets"]}))
    ev.put_targets(Rule="fan", Targets=[
        {"Id": "lambda", "Arn": fn},
        {"Id": "kinesis", "Arn": stream_arn, "RoleArn": ROLE,
         "KinesisParameters": {"PartitionKeyPath": "$.detail.key"}},
        {"Id": "firehose", "Arn": fh_arn, "RoleArn": ROLE},
        {"Id": "states", "Arn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:sm", "RoleArn": ROLE,
         "RetryPolicy": {"MaximumRetryAttempts": 0}, "DeadLetterConfig": {"Arn": dlq_arn}},
    ])
    r = ev.put_events(Entries=[{"Source": "app.targets", "DetailType": "t",
                                "Detail": json.dumps({"key": "pk-7", "v": 1})}])
    check(r["FailedEntryCount"] == 0, r)
    event_id = r["Entries"][0]["EventId"]

    got = wait_for("the Lambda target", lambda: param(ssm, "/events-lambda"))
    check(json.loads(got)["id"] == event_id, got)

    it = kin.get_shard_iterator(StreamName="ev-stream", ShardId="shardId-000000000000",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = wait_for("the Kinesis record", lambda: kin.get_records(ShardIterator=it)["Records"])
    check(recs[0]["PartitionKey"] == "pk-7", recs)
    check(json.loads(recs[0]["Data"])["id"] == event_id, recs)

    objs = wait_for("the Firehose object", lambda: s3_objects(s3, "ev-out", "events/"))
    check(json.loads(objs[0])["id"] == event_id, objs)

    dead = receive(sqs, dlq_url, 1)
    check(json.loads(dead[0]["Body"])["id"] == event_id, dead)
    attrs = dead[0].get("MessageAttributes", {})
    check("ERROR_CODE" in attrs and "RULE_ARN" in attrs and "TARGET_ARN" in attrs, attrs)

    # SNS into Lambda and Firehose subscriptions.
    topic = sns.create_topic(Name="to-fn-and-fh")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)
    sns_fh = fh.describe_delivery_stream(DeliveryStreamName="sns-fh")["DeliveryStreamDescription"]["DeliveryStreamARN"]
    sns.subscribe(TopicArn=topic, Protocol="firehose", Endpoint=sns_fh, Attributes={"SubscriptionRoleArn": ROLE})
    mid = sns.publish(TopicArn=topic, Message="via sns")["MessageId"]
    check(wait_for("the SNS Lambda subscription", lambda: param(ssm, "/sns-lambda")) == "via sns", "lambda")
    objs = wait_for("the SNS Firehose object", lambda: s3_objects(s3, "ev-out", "sns/"))
    env = json.loads(objs[0])
    check(env["MessageId"] == mid and env["Message"] == "via sns", env)
    verify(env)
    print("targets ok")


# ---------------------------------------------------------------- burst


def burst(state):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="burst")["TopicArn"]
    for i in range(3):
        _, arn = queue(sqs, f"burst-{i}")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    lock = threading.Lock()
    out = open(state, "a", buffering=1)
    out.write("ready\n")
    stop = threading.Event()

    def one(n):
        if stop.is_set():
            return
        c = clients.setdefault(threading.get_ident(), client("sns"))
        try:
            c.publish(TopicArn=topic, Message=f"m-{n}")
        except Exception:  # noqa: BLE001 - the server was killed: stop publishing
            stop.set()
            return
        with lock:
            out.write(f"{n}\n")
            out.flush()
            os.fsync(out.fileno())

    clients = {}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(1000)))
    out.close()
    print("burst stopped" if stop.is_set() else "burst done")


def burst_check(state):
    sqs = client("sqs")
    with open(state) as f:
        acked = {f"m-{line.strip()}" for line in f if line.strip().isdigit()}
    check(len(acked) > 0, "some publishes were acknowledged")
    for i in range(3):
        url = sqs.get_queue_url(QueueName=f"burst-{i}")["QueueUrl"]
        seen = set()
        deadline = time.time() + 90
        while not acked <= seen and time.time() < deadline:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                seen.add(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        missing = acked - seen
        check(not missing, f"queue burst-{i}: {len(missing)} of {len(acked)} acknowledged publishes lost")
    print(f"burst check ok: {len(acked)} acknowledged publishes in each of 3 queues")


# ---------------------------------------------------------------- FIFO


def fifo_queue(sqs, name):
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain_fifo(sqs, url, want=None, timeout=60):
    """Receive until `want` messages came (or, without `want`, until two empty long polls after
    the first message), deleting each; returns them in the order received."""
    out, quiet = [], 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        if want is not None and len(out) >= want:
            break
        if want is None and quiet >= 2:
            break
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  AttributeNames=["All"]).get("Messages", [])
        for m in got:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        quiet = quiet + 1 if out and not got else 0
    return out


def fifo_body(m, raw):
    """(group, body, sequence number or None) of a message received from a FIFO queue."""
    group = m["Attributes"]["MessageGroupId"]
    if raw:
        return group, m["Body"], None
    env = json.loads(m["Body"])
    return group, env["Message"], env["SequenceNumber"]


def fifo():
    """FIFO topic into FIFO queues: two interleaved groups with explicit deduplication ids
    (repeats answered with the first publish's id and sequence number, delivered once), a FIFO
    PublishBatch, and 8 concurrent publishers sharing the groups; each queue gets every message
    once, and per group in SequenceNumber order (the envelope's SequenceNumber too)."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="order.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    raw_url, raw_arn = fifo_queue(sqs, "order-raw.fifo")
    env_url, env_arn = fifo_queue(sqs, "order-env.fifo")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn,
                  Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env_arn)
    seq_of = {}  # body -> sequence number answered
    lock = threading.Lock()

    def note(body, r):
        with lock:
            check(body not in seq_of, f"{body} published twice")
            seq_of[body] = r["SequenceNumber"]

    # Interleaved groups, explicit dedup ids; every third one repeated (same dedup id).
    for i in range(30):
        g = "g1" if i % 3 else "g2"
        body = f"{g}-i{i}"
        r = sns.publish(TopicArn=topic, Message=body, MessageGroupId=g, MessageDeduplicationId=f"i{i}")
        note(body, r)
        if i % 3 == 0:
            again = sns.publish(TopicArn=topic, Message=body + "-again", MessageGroupId=g,
                                MessageDeduplicationId=f"i{i}")
            check(again["MessageId"] == r["MessageId"] and again["SequenceNumber"] == r["SequenceNumber"],
                  f"a repeated deduplication id answers the first publish: {again} vs {r}")
    # A batch across both groups.
    entries = [{"Id": f"b{i}", "Message": f"{'g1' if i % 2 else 'g2'}-b{i}",
                "MessageGroupId": "g1" if i % 2 else "g2", "MessageDeduplicationId": f"b{i}"}
               for i in range(10)]
    r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    check(not r.get("Failed") and len(r["Successful"]) == 10, r)
    by_id = {e["Id"]: e["Message"] for e in entries}
    seqs = [s["SequenceNumber"] for s in sorted(r["Successful"], key=lambda s: int(s["Id"][1:]))]
    check(seqs == sorted(seqs), f"a batch's sequence numbers follow its entries: {seqs}")
    for s_ in r["Successful"]:
        note(by_id[s_["Id"]], s_)
    # Concurrent publishers into the same two groups.

    def publisher(t):
        c = client("sns")
        for j in range(15):
            g = "g1" if (t + j) % 2 else "g2"
            body = f"{g}-t{t}-{j}"
            note(body, c.publish(TopicArn=topic, Message=body, MessageGroupId=g,
                                 MessageDeduplicationId=f"t{t}-{j}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(publisher, range(8)))
    total = len(seq_of)
    check(total == 30 + 10 + 120, total)
    check(len(set(seq_of.values())) == total, "distinct sequence numbers")
    for url, raw in ((raw_url, True), (env_url, False)):
        got = [fifo_body(m, raw) for m in drain_fifo(sqs, url, want=total)]
        bodies = [b for _, b, _ in got]
        check(len(bodies) == total and len(set(bodies)) == total,
              f"each message once: {len(bodies)} received, {len(set(bodies))} distinct, {total} published")
        for g in ("g1", "g2"):
            mine = [(b, s_) for grp, b, s_ in got if grp == g]
            check(all(b.startswith(g + "-") for b, _ in mine), f"{g}: groups kept")
            order = [seq_of[b] for b, _ in mine]
            check(order == sorted(order), f"{g} in {url}: received out of SequenceNumber order: {order}")
            if not raw:
                check([s_ for _, s_ in mine] == order, f"{g}: the envelope's SequenceNumber is the publish's")
    extra = drain_fifo(sqs, raw_url, timeout=3)
    check(not extra, f"nothing more: {[m['Body'] for m in extra]}")
    print(f"fifo ok: {total} messages, 2 groups, in SequenceNumber order in both queues")


def fifo_burst(state):
    """Publishes from 8 threads to a FIFO topic (explicit deduplication ids) with two FIFO queue
    subscriptions, 4 groups; each acknowledged `body sequence` appended to STATE; stops at the
    first failed call (the server killed under it)."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="fburst.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    for i in range(2):
        _, arn = fifo_queue(sqs, f"fburst-{i}.fifo")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true"})
    lock = threading.Lock()
    out = open(state, "a", buffering=1)
    stop = threading.Event()

    def worker(t):
        c = client("sns")
        for j in range(100):
            if stop.is_set():
                return
            body = f"g{(t + j) % 4}-t{t}-{j}"
            try:
                r = c.publish(TopicArn=topic, Message=body, MessageGroupId=body.split("-")[0],
                              MessageDeduplicationId=f"t{t}-{j}")
            except Exception:  # noqa: BLE001 - the server was killed: stop publishing
                stop.set()
                return
            with lock:
                out.write(f"{body} {r['SequenceNumber']}\n")
                out.flush()
                os.fsync(out.fileno())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    out.close()
    print("fifo burst stopped" if stop.is_set() else "fifo burst done")


def fifo_burst_check(state):
    """After the restart: in each queue every acknowledged publish arrived, none twice, and per
    group the acknowledged ones in SequenceNumber order."""
    sqs = client("sqs")
    with open(state) as f:
        acked = dict(line.split() for line in f if line.strip())
    check(len(acked) > 0, "some publishes were acknowledged")
    for i in range(2):
        url = sqs.get_queue_url(QueueName=f"fburst-{i}.fifo")["QueueUrl"]
        got = drain_fifo(sqs, url, timeout=120)
        bodies = [m["Body"] for m in got]
        dups = {b for b in bodies if bodies.count(b) > 1}
        check(not dups, f"fburst-{i}: delivered more than once: {sorted(dups)[:10]}")
        missing = set(acked) - set(bodies)
        check(not missing, f"fburst-{i}: {len(missing)} of {len(acked)} acknowledged publishes lost")
        for g in range(4):
            order = [acked[b] for b in bodies if b in acked and b.startswith(f"g{g}-")]
            check(order == sorted(order), f"fburst-{i} group g{g}: out of SequenceNumber order")
    print(f"fifo burst check ok: {len(acked)} acknowledged publishes, each once and in order, in 2 queues")


# ---------------------------------------------------------------- backoff


def backoff():
    """An HTTP endpoint that fails 5 times before it accepts, under a delivery policy of AWS's
    four phases with minDelayTarget 1 s < maxDelayTarget 3 s: numNoDelayRetries 1,
    numMinDelayRetries 1, 2 linear backoff retries (2 s, then 3 s), numMaxDelayRetries 1 (3 s).
    The gaps between attempts are at least each phase's delay (the server never retries early;
    a gap can only be longer, by the time an attempt takes), the immediate retry comes well
    before the first delayed one, and there are exactly 6 attempts."""
    sns = client("sns")
    times = []

    def flaky(method, path, headers, body):
        if headers.get("x-amz-sns-message-type") != "Notification":
            return 200, b""
        times.append(time.monotonic())
        return (500, b"not yet") if len(times) <= 5 else (200, b"")

    topic = sns.create_topic(Name="backoff")["TopicArn"]
    rx = Receiver(flaky)
    policy = {"healthyRetryPolicy": {
        "minDelayTarget": 1, "maxDelayTarget": 3, "numRetries": 5, "numNoDelayRetries": 1,
        "numMinDelayRetries": 1, "numMaxDelayRetries": 1, "backoffFunction": "linear"}}
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=rx.url,
                  Attributes={"DeliveryPolicy": json.dumps(policy)})
    sub, _ = confirm(sns, rx, topic)
    got = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    check(json.loads(got["DeliveryPolicy"]) == policy, got)
    sns.publish(TopicArn=topic, Message="patience")
    wait_for("six attempts", lambda: len(times) >= 6, timeout=60)
    gaps = [b - a for a, b in zip(times, times[1:])]
    floors = [0, 1, 2, 3, 3]
    for i, (g, f) in enumerate(zip(gaps, floors)):
        check(g >= f - 0.05, f"retry {i + 1} came after {g:.3f} s, before the policy's {f} s: {gaps}")
    check(gaps[0] < gaps[1], f"the no-delay retry precedes the delayed ones: {gaps}")
    # Accepted at the 6th: no 7th, even once the longest delay has passed again.
    time.sleep(3.5)
    check(len(times) == 6, f"{len(times)} attempts")
    rx.stop()
    print("backoff ok: gaps " + ", ".join(f"{g:.2f}" for g in gaps))


# ---------------------------------------------------------------- settle

# `BACKGROUND_BOUND` of crates/server/src/persistence.rs: under ON_REQUEST a change no request
# waits for has joined a group commit this long after it was made.
BACKGROUND_BOUND_S = 0.1


def store_state(service):
    with urllib.request.urlopen(ENDPOINT.rstrip("/") + "/_localstack/state") as r:
        return json.load(r)["services"][service]


def queued(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(a["Attributes"]["ApproximateNumberOfMessages"])


def settle(state):
    sns, sqs, events = client("sns"), client("sqs"), client("events")
    topic = sns.create_topic(Name="settle")["TopicArn"]
    sns_url, sns_queue = queue(sqs, "settle-sns")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_queue,
                  Attributes={"RawMessageDelivery": "true"})
    events_url, events_queue = queue(sqs, "settle-events")
    events.put_rule(Name="settle", EventPattern=json.dumps({"source": ["app.settle"]}))
    events.put_targets(Rule="settle", Targets=[{"Id": "q", "Arn": events_queue}])
    # First uses write records of their own (SNS's signing key of the region): done here, so
    # that below the publish and PutEvents are one store write each.
    warm = sns.create_topic(Name="settle-warm-up")["TopicArn"]
    sns.publish(TopicArn=warm, Message="warm-up")
    events.put_events(Entries=[{"Source": "app.warm-up", "DetailType": "t", "Detail": "{}"}])
    before = {s: store_state(s)["version"] for s in ("sns", "events")}
    sns.publish(TopicArn=topic, Message="once")
    r = events.put_events(Entries=[{"Source": "app.settle", "DetailType": "t", "Detail": "{}"}])
    check(r["FailedEntryCount"] == 0, r)
    for url in (sns_url, events_url):
        wait_for(f"the delivery into {url}", lambda: queued(sqs, url) == 1)
    # The queue has the message before the delivery task removes its record (it does so once
    # SendMessage answered). The publish and PutEvents are one store write each, the removal
    # another: so the removal is durable once the version is 2 past the one before and durable
    # (in the log, or saved when the log is off). Polled, from the bound on.
    time.sleep(BACKGROUND_BOUND_S)

    def removal_durable(service):
        st = store_state(service)
        durable = st["logged_version"] == st["version"] or not st["dirty"]
        return st["version"] >= before[service] + 2 and durable

    for service in ("sns", "events"):
        wait_for(f"the {service} delivery's removal to be durable",
                 lambda: removal_durable(service), timeout=30)
    # Requests to other services afterwards: they must not matter.
    client("ssm").put_parameter(Name="/settle", Value="x", Type="String")
    with open(state, "w") as f:
        json.dump({"sns": sns_url, "events": events_url}, f)
    print("settle ok")


def settle_check(state):
    sqs = client("sqs")
    with open(state) as f:
        urls = json.load(f)
    for what, url in urls.items():
        # A delivery record left behind is due at once after the restart: receive until the
        # message was seen and two long polls in a row found nothing more.
        bodies, quiet = [], 0
        deadline = time.time() + 60
        while quiet < 2 and time.time() < deadline:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=1).get("Messages", [])
            for m in got:
                bodies.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            quiet = quiet + 1 if bodies and not got else 0
        check(len(bodies) == 1,
              f"{what}: the message delivered before the kill -9 is in its queue {len(bodies)} times")
    print("settle check ok: each delivery made before the kill -9 arrived exactly once")


if __name__ == "__main__":
    run_commands({
        "mkcert": (mkcert, 1),
        "signatures": (signatures, 1),
        "sig-check": (sig_check, 1),
        "https": (https, 1),
        "targets": (targets, 0),
        "burst": (burst, 1),
        "burst-check": (burst_check, 1),
        "fifo": (fifo, 0),
        "backoff": (backoff, 0),
        "fifo-burst": (fifo_burst, 1),
        "fifo-burst-check": (fifo_burst_check, 1),
        "settle": (settle, 1),
        "settle-check": (settle_check, 1),
    }, ARGS)
