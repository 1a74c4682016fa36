#!/usr/bin/env python3
"""Drive a running snapstack's SNS with boto3, as a user's program would.

Usage: sns_client.py ENDPOINT COMMAND [ARGS]...

  suite          topics, attributes, tags, permissions, subscriptions, errors; fan-out of
                 publishes to SQS queues (raw and enveloped, filter policies on attributes and
                 on the body), PublishBatch, a FIFO topic into a FIFO queue in order, and an
                 HTTP subscriber (a local http.server) that gets the SubscriptionConfirmation,
                 confirms, and receives a notification with SNS's headers
  prepare STATE  before a kill -9: a confirmed HTTP subscription whose endpoint is then down,
                 and a publish acknowledged while it is down (the delivery cannot happen)
  check STATE    after the restart: the endpoint comes back on the same port and gets the
                 message
  filters        every filter operator (suffix, exists, cidr v4/v6, $or, equals-ignore-case,
                 wildcard, anything-but prefix, numeric range, String.Array, arrays of objects)
                 on attributes and on the body, positive and negative publishes
  ops            data protection policies, SMS attributes, opt-outs, the SMS sandbox,
                 origination numbers, platform applications and endpoints
  filter-errors  refused filter policies with AWS's exact messages, through Subscribe and
                 SetSubscriptionAttributes
"""

import json
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
ACCOUNT = "000000000000"


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CFG,
    )


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """A local HTTP endpoint recording the POSTs it gets."""

    def __init__(self, port=0):
        got = self.got = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/sns"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, t):
        return [(h, json.loads(b)) for h, b in self.got if h.get("x-amz-sns-message-type") == t]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def receive_all(sqs, url, want, timeout=30):
    out = []
    deadline = time.time() + timeout
    while len(out) < want and time.time() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                MessageAttributeNames=["All"])
        for m in r.get("Messages", []):
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def confirm_http(sns, topic, receiver):
    sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url)
    check(sub["SubscriptionArn"] == "pending confirmation", sub)
    h, conf = wait_for("the confirmation", lambda: (receiver.of_type("SubscriptionConfirmation") or [None])[-1])
    check(h["x-amz-sns-topic-arn"] == topic, h)
    check(conf["TopicArn"] == topic and conf["Token"] and "SubscribeURL" in conf, conf)
    arn = sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])["SubscriptionArn"]
    check(arn.startswith(topic + ":"), arn)
    return arn


def suite():
    sns, sqs = client("sns"), client("sqs")
    # Topics.
    t = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"},
                         Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    check(t == f"arn:aws:sns:us-east-1:{ACCOUNT}:orders", t)
    check(sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"] == t, "idempotent")
    expect_error("InvalidParameter", sns.create_topic, Name="orders", Attributes={"DisplayName": "Other"})
    expect_error("InvalidParameter", sns.create_topic, Name="bad name")
    a = sns.get_topic_attributes(TopicArn=t)["Attributes"]
    check(a["DisplayName"] == "Orders" and a["Owner"] == ACCOUNT and "Policy" in a, a)
    sns.set_topic_attributes(TopicArn=t, AttributeName="DisplayName", AttributeValue="O2")
    check(sns.get_topic_attributes(TopicArn=t)["Attributes"]["DisplayName"] == "O2", "set")
    check(t in [x["TopicArn"] for x in sns.list_topics()["Topics"]], "listed")
    check(sns.list_tags_for_resource(ResourceArn=t)["Tags"] == [{"Key": "team", "Value": "a"}], "tags")
    sns.tag_resource(ResourceArn=t, Tags=[{"Key": "b", "Value": "c"}])
    sns.untag_resource(ResourceArn=t, TagKeys=["team"])
    check(sns.list_tags_for_resource(ResourceArn=t)["Tags"] == [{"Key": "b", "Value": "c"}], "tags edited")
    sns.add_permission(TopicArn=t, Label="p1", AWSAccountId=["111122223333"], ActionName=["Publish"])
    pol = json.loads(sns.get_topic_attributes(TopicArn=t)["Attributes"]["Policy"])
    check(any(s.get("Sid") == "p1" for s in pol["Statement"]), pol)
    sns.remove_permission(TopicArn=t, Label="p1")
    e = expect_error("NotFound", sns.get_topic_attributes, TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:nope")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response)
    expect_error("NotFound", sns.publish, TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:nope", Message="m")

    # Fan-out to three queues: raw with an attribute filter, enveloped with none, a body filter.
    u_raw, a_raw = queue(sqs, "sns-raw")
    u_env, a_env = queue(sqs, "sns-env")
    u_body, a_body = queue(sqs, "sns-body")
    s_raw = sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=a_raw, ReturnSubscriptionArn=True,
                          Attributes={"RawMessageDelivery": "true",
                                      "FilterPolicy": json.dumps({"color": ["red", {"prefix": "ora"}],
                                                                  "price": [{"numeric": [">", 10]}]})})["SubscriptionArn"]
    sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=a_env)
    s_body = sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=a_body, Attributes={
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"order": {"status": [{"anything-but": "draft"}]}})})["SubscriptionArn"]
    a = sns.get_subscription_attributes(SubscriptionArn=s_raw)["Attributes"]
    check(a["RawMessageDelivery"] == "true" and a["FilterPolicyScope"] == "MessageAttributes", a)
    check(sns.get_subscription_attributes(SubscriptionArn=s_body)["Attributes"]["FilterPolicyScope"] == "MessageBody", "scope")
    e = expect_error("InvalidParameter", sns.set_subscription_attributes, SubscriptionArn=s_raw,
                     AttributeName="FilterPolicy", AttributeValue=json.dumps({"a": [{"nope": 1}]}))
    check("Unrecognized match type nope" in e.response["Error"]["Message"], e.response)
    check(len(sns.list_subscriptions_by_topic(TopicArn=t)["Subscriptions"]) == 3, "three subscriptions")

    def attrs(color, price):
        return {"color": {"DataType": "String", "StringValue": color},
                "price": {"DataType": "Number", "StringValue": str(price)}}
    sns.publish(TopicArn=t, Message="red-20", Subject="s1", MessageAttributes=attrs("red", 20))
    sns.publish(TopicArn=t, Message="blue-20", MessageAttributes=attrs("blue", 20))
    sns.publish(TopicArn=t, Message="orange-5", MessageAttributes=attrs("orange", 5))
    sns.publish(TopicArn=t, Message="orange-50", MessageAttributes=attrs("orange", 50))
    sns.publish(TopicArn=t, Message=json.dumps({"order": {"status": "paid"}}))
    sns.publish(TopicArn=t, Message=json.dumps({"order": {"status": "draft"}}))
    r = sns.publish_batch(TopicArn=t, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "batch-a", "MessageAttributes": attrs("red", 11)},
        {"Id": "b", "Message": "batch-b"},
        {"Id": "c", "Message": ""},
    ])
    check(sorted(x["Id"] for x in r["Successful"]) == ["a", "b"], r)
    check([x["Id"] for x in r["Failed"]] == ["c"], r)

    raw = receive_all(sqs, u_raw, 3)
    check(sorted(m["Body"] for m in raw) == ["batch-a", "orange-50", "red-20"], [m["Body"] for m in raw])
    red = [m for m in raw if m["Body"] == "red-20"][0]
    check(red["MessageAttributes"]["color"]["StringValue"] == "red", red)
    env = receive_all(sqs, u_env, 8)
    bodies = sorted(json.loads(m["Body"])["Message"] for m in env)
    check(len(bodies) == 8, bodies)
    n = [json.loads(m["Body"]) for m in env if json.loads(m["Body"])["Message"] == "red-20"][0]
    check(n["Type"] == "Notification" and n["TopicArn"] == t and n["Subject"] == "s1", n)
    check(n["MessageAttributes"]["color"] == {"Type": "String", "Value": "red"}, n)
    for k in ["MessageId", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"]:
        check(k in n, k)
    body = receive_all(sqs, u_body, 1)
    check([json.loads(json.loads(m["Body"])["Message"]) for m in body] == [{"order": {"status": "paid"}}],
          [m["Body"] for m in body])
    time.sleep(1)
    check(receive_all(sqs, u_body, 1, timeout=2) == [], "the draft was filtered out")

    # Per-protocol messages.
    sns.publish(TopicArn=t, MessageStructure="json",
                Message=json.dumps({"default": "d", "sqs": "for-sqs"}))
    check(json.loads(receive_all(sqs, u_env, 1)[0]["Body"])["Message"] == "for-sqs", "per protocol")

    # FIFO topic into a FIFO queue, in order per group; deduplication.
    ft = sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true",
                                                          "ContentBasedDeduplication": "true"})["TopicArn"]
    fu, fa = queue(sqs, "events.fifo", FifoQueue="true")
    sns.subscribe(TopicArn=ft, Protocol="sqs", Endpoint=fa, Attributes={"RawMessageDelivery": "true"})
    expect_error("InvalidParameter", sns.publish, TopicArn=ft, Message="x")
    seqs = []
    for i in range(10):
        seqs.append(sns.publish(TopicArn=ft, Message=f"m{i}", MessageGroupId="g")["SequenceNumber"])
    check(seqs == sorted(seqs), seqs)
    dup = sns.publish(TopicArn=ft, Message="m0", MessageGroupId="g")
    check(dup["SequenceNumber"] == seqs[0], dup)
    got = receive_all(sqs, fu, 10)
    check([m["Body"] for m in got] == [f"m{i}" for i in range(10)], [m["Body"] for m in got])

    # An HTTP subscriber: confirmation, then a notification with SNS's headers.
    rcv = Receiver()
    try:
        sub = confirm_http(sns, t, rcv)
        listed = {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}
        check(sub in listed, listed)
        mid = sns.publish(TopicArn=t, Message="to-http", Subject="hi")["MessageId"]
        h, n = wait_for("the notification", lambda: next(
            ((h, n) for h, n in rcv.of_type("Notification") if n["MessageId"] == mid), None))
        check(n["Message"] == "to-http" and n["Subject"] == "hi", n)
        check(h["x-amz-sns-topic-arn"] == t and h["x-amz-sns-subscription-arn"] == sub, h)
        check(h["x-amz-sns-message-id"] == mid, h)
        # The SubscribeURL of a second subscriber confirms it when fetched.
        rcv2 = Receiver()
        try:
            sns.subscribe(TopicArn=t, Protocol="http", Endpoint=rcv2.url)
            _, conf = wait_for("the second confirmation", lambda: (rcv2.of_type("SubscriptionConfirmation") or [None])[-1])
            parts = urllib.parse.urlsplit(conf["SubscribeURL"])
            with urllib.request.urlopen(ENDPOINT + "/?" + parts.query, timeout=30) as resp:
                check(resp.status == 200, resp.status)
            pending = [s for s in sns.list_subscriptions_by_topic(TopicArn=t)["Subscriptions"]
                       if s["SubscriptionArn"] == "PendingConfirmation"]
            check(pending == [], pending)
        finally:
            rcv2.stop()
        sns.unsubscribe(SubscriptionArn=sub)
        expect_error("NotFound", sns.unsubscribe, SubscriptionArn=sub)
    finally:
        rcv.stop()

    sns.delete_topic(TopicArn=ft)
    check(ft not in [x["TopicArn"] for x in sns.list_topics()["Topics"]], "deleted")
    print("sns suite ok")


def prepare(state):
    sns = client("sns")
    t = sns.create_topic(Name="restart-topic")["TopicArn"]
    rcv = Receiver()
    sub = confirm_http(sns, t, rcv)
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1, "maxDelayTarget": 2,
                                "numNoDelayRetries": 0, "numMinDelayRetries": 0, "numMaxDelayRetries": 0,
                                "backoffFunction": "linear"}}))
    port = rcv.port
    rcv.stop()
    mid = sns.publish(TopicArn=t, Message="after-the-crash")["MessageId"]
    with open(state, "w") as f:
        json.dump({"topic": t, "port": port, "message_id": mid}, f)
    print("prepared", mid, "for port", port)


def check_after(state):
    with open(state) as f:
        s = json.load(f)
    rcv = Receiver(s["port"])
    try:
        _, n = wait_for("the message published before the crash", lambda: next(
            ((h, n) for h, n in rcv.of_type("Notification") if n["MessageId"] == s["message_id"]), None), 90)
        check(n["Message"] == "after-the-crash" and n["TopicArn"] == s["topic"], n)
    finally:
        rcv.stop()
    print("delivered after the restart", s["message_id"])


# ---------------------------------------------------------------- filter operators


def s_attr(v):
    return {"DataType": "String", "StringValue": v}


# Four messages: (message attributes, body). Every body names its message.
FILTER_MESSAGES = [
    ({"name": s_attr("photo.png"), "ip": s_attr("10.0.1.7"), "state": s_attr("Paid"),
      "n": {"DataType": "Number", "StringValue": "5"},
      "tags": {"DataType": "String.Array", "StringValue": '["a", "b"]'}},
     {"id": "m1", "name": "photo.png", "ip": "10.0.1.7", "state": "Paid", "n": 5,
      "items": [{"sku": "x1"}, {"sku": "y2"}]}),
    ({"name": s_attr("doc.txt"), "ip": s_attr("192.168.0.1"), "state": s_attr("refunded"),
      "n": {"DataType": "Number", "StringValue": "50"}},
     {"id": "m2", "name": "doc.txt", "ip": "192.168.0.1", "state": "refunded", "n": 50,
      "items": [{"sku": "z9"}]}),
    ({"name": s_attr("cat.PNG")},
     {"id": "m3", "name": "cat.PNG"}),
    ({"state": s_attr("PAID"), "ip": s_attr("2001:db8::5"), "n": {"DataType": "Number", "StringValue": "-1"}},
     {"id": "m4", "state": "PAID", "ip": "2001:db8::5", "n": -1}),
]

# (name, policy, the messages it lets through), the same for both scopes.
FILTER_CASES = [
    ("suffix", {"name": [{"suffix": ".png"}]}, ["m1"]),
    ("exists-true", {"ip": [{"exists": True}]}, ["m1", "m2", "m4"]),
    ("exists-false", {"ip": [{"exists": False}]}, ["m3"]),
    ("cidr4", {"ip": [{"cidr": "10.0.0.0/16"}]}, ["m1"]),
    ("cidr6", {"ip": [{"cidr": "2001:db8::/32"}]}, ["m4"]),
    ("or", {"$or": [{"name": [{"suffix": ".txt"}]}, {"n": [{"numeric": ["<", 0]}]}]}, ["m2", "m4"]),
    ("ignore-case", {"state": [{"equals-ignore-case": "paid"}]}, ["m1", "m4"]),
    ("wildcard", {"name": [{"wildcard": "*.*G"}]}, ["m3"]),
    ("anything-but-prefix", {"state": [{"anything-but": {"prefix": "Pa"}}]}, ["m2", "m4"]),
    ("numeric-range", {"n": [{"numeric": [">=", 0, "<", 10]}]}, ["m1"]),
]


def filters():
    """Every filter operator through the binary, on attributes and on the body: a FIFO topic
    (one group, so a queue that got its last expected message got everything before it) with
    one FIFO queue per operator and scope; each queue gets exactly the messages its policy
    lets through. Arrays of objects in the body are flattened ({"items": {"sku": ...}})."""
    sns, sqs = client("sns"), client("sqs")
    t = sns.create_topic(Name="ops.fifo", Attributes={"FifoTopic": "true",
                                                      "ContentBasedDeduplication": "true"})["TopicArn"]
    cases = [(f"a-{n}", "MessageAttributes", p, want) for n, p, want in FILTER_CASES]
    cases += [(f"b-{n}", "MessageBody", p, want) for n, p, want in FILTER_CASES]
    cases.append(("b-flatten", "MessageBody", {"items": {"sku": ["y2"]}}, ["m1"]))
    cases.append(("a-string-array", "MessageAttributes", {"tags": ["b"]}, ["m1"]))
    urls = {}
    for name, scope, policy, want in cases:
        url, arn = queue(sqs, f"ops-{name}.fifo", FifoQueue="true")
        urls[name] = url
        sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=arn, Attributes={
            "RawMessageDelivery": "true", "FilterPolicyScope": scope, "FilterPolicy": json.dumps(policy)})
    for attrs, body in FILTER_MESSAGES:
        sns.publish(TopicArn=t, Message=json.dumps(body), MessageAttributes=attrs, MessageGroupId="g")
    for name, scope, policy, want in cases:
        got = []

        def last_arrived():
            r = sqs.receive_message(QueueUrl=urls[name], MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(json.loads(m["Body"])["id"])
                sqs.delete_message(QueueUrl=urls[name], ReceiptHandle=m["ReceiptHandle"])
            return want[-1] in got
        wait_for(f"{name}'s last message", last_arrived)
        check(got == want, f"{name} ({scope}) {json.dumps(policy)}: got {got}, want {want}")
    print(f"filters ok: {len(cases)} policies")


# (policy, scope, reason): refused with AWS's words; Subscribe puts "Attributes Reason: " in front.
FILTER_ERRORS = [
    ({"a": [1], "b": [1], "c": [1], "d": [1], "e": [1], "f": [1]}, "MessageAttributes",
     "FilterPolicy: Filter policy can not have more than 5 keys"),
    ({"a": [str(i) for i in range(6)], "b": [str(i) for i in range(5)], "c": [str(i) for i in range(6)]},
     "MessageAttributes", "FilterPolicy: Filter policy is too complex"),
    ({"k": {"nested": ["a"]}}, "MessageAttributes",
     "Filter policy scope MessageAttributes does not support nested filter policy"),
    ({"k": []}, "MessageAttributes", "FilterPolicy: Empty arrays are not allowed"),
    ({"k": "x"}, "MessageBody", 'FilterPolicy: "k" must be an object or an array'),
    ({"k": [{"nope": 1}]}, "MessageAttributes", "FilterPolicy: Unrecognized match type nope"),
    ({"k": [{"prefix": 1}]}, "MessageAttributes", "FilterPolicy: prefix match pattern must be a string"),
    ({"k": [{"exists": "yes"}]}, "MessageAttributes",
     "FilterPolicy: exists match pattern must be either true or false."),
    ({"k": [{"numeric": [">", 5, "<", 1]}]}, "MessageAttributes", "FilterPolicy: Bottom must be less than top"),
    ({"k": [{"numeric": ["=", "x"]}]}, "MessageAttributes", "FilterPolicy: Value of equals must be numeric"),
    ({"k": [{"numeric": ["<", 1, ">", 0]}]}, "MessageAttributes",
     "FilterPolicy: Too many elements in numeric expression"),
    ({"k": [{"cidr": "10.0.0.0"}]}, "MessageAttributes", "FilterPolicy: Malformed CIDR, one '/' required"),
    ({"k": [{"cidr": "10.0.0/8"}]}, "MessageAttributes", "FilterPolicy: Nonstandard IP address: 10.0.0"),
    ({"k": [{"anything-but": {"wildcard": "a*"}}]}, "MessageAttributes",
     "FilterPolicy: Unsupported anything-but pattern: wildcard"),
]


def filter_errors():
    """Filter policies refused with AWS's exact messages: Subscribe says
    `Invalid parameter: Attributes Reason: <reason>`, SetSubscriptionAttributes
    `Invalid parameter: <reason>`; nothing is changed by a refused call."""
    sns, sqs = client("sns"), client("sqs")
    t = sns.create_topic(Name="filter-errors")["TopicArn"]
    _, arn = queue(sqs, "filter-errors")
    sub = sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True,
                        Attributes={"FilterPolicy": json.dumps({"ok": ["yes"]})})["SubscriptionArn"]
    for policy, scope, reason in FILTER_ERRORS:
        e = expect_error("InvalidParameter", sns.subscribe, TopicArn=t, Protocol="sqs", Endpoint=arn,
                         Attributes={"FilterPolicyScope": scope, "FilterPolicy": json.dumps(policy)})
        msg = e.response["Error"]["Message"]
        check(msg == f"Invalid parameter: Attributes Reason: {reason}", f"Subscribe {policy}: {msg!r}")
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                        AttributeValue=scope)
        e = expect_error("InvalidParameter", sns.set_subscription_attributes, SubscriptionArn=sub,
                         AttributeName="FilterPolicy", AttributeValue=json.dumps(policy))
        msg = e.response["Error"]["Message"]
        check(msg == f"Invalid parameter: {reason}", f"SetSubscriptionAttributes {policy}: {msg!r}")
    a = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    check(json.loads(a["FilterPolicy"]) == {"ok": ["yes"]}, f"the refused calls changed nothing: {a}")
    check(len(sns.list_subscriptions_by_topic(TopicArn=t)["Subscriptions"]) == 1, "no subscription made")
    print(f"filter errors ok: {len(FILTER_ERRORS)} policies, both calls")


# ---------------------------------------------------------------- the remaining operations


def http_get(path, method="GET"):
    req = urllib.request.Request(ENDPOINT.rstrip("/") + path, method=method)
    with urllib.request.urlopen(req) as r:
        body = r.read()
        return json.loads(body) if body else None


def ops():
    """The operations `suite` does not drive: data protection policies, SMS attributes,
    opt-outs, the SMS sandbox (the one-time password read from the SMS inspection endpoint),
    origination numbers, platform applications and endpoints (attributes, listing, deletion,
    a publish to an endpoint, and a disabled endpoint refused)."""
    sns = client("sns")
    t = sns.create_topic(Name="dpp")["TopicArn"]
    dpp = json.dumps({"Name": "p", "Description": "", "Version": "2021-06-01", "Statement": [{
        "Sid": "audit", "DataDirection": "Inbound", "Principal": ["*"],
        "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
        "Operation": {"Audit": {"SampleRate": "99", "FindingsDestination": {}}}}]})
    check(sns.get_data_protection_policy(ResourceArn=t).get("DataProtectionPolicy", "") == "", "none yet")
    sns.put_data_protection_policy(ResourceArn=t, DataProtectionPolicy=dpp)
    check(json.loads(sns.get_data_protection_policy(ResourceArn=t)["DataProtectionPolicy"]) == json.loads(dpp),
          "stored as given")
    expect_error("NotFound", sns.get_data_protection_policy,
                 ResourceArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:nope")

    # SMS attributes, opt-outs, origination numbers.
    sns.set_sms_attributes(attributes={"DefaultSMSType": "Transactional", "DefaultSenderID": "Snap"})
    got = sns.get_sms_attributes(attributes=["DefaultSMSType"])["attributes"]
    check(got == {"DefaultSMSType": "Transactional"}, got)
    check(sns.get_sms_attributes()["attributes"].get("DefaultSenderID") == "Snap", "all attributes")
    check(sns.check_if_phone_number_is_opted_out(phoneNumber="+15550100")["isOptedOut"] is False, "opted in")
    check(sns.list_phone_numbers_opted_out()["phoneNumbers"] == [], "none opted out")
    sns.opt_in_phone_number(phoneNumber="+15550100")
    expect_error("InvalidParameter", sns.opt_in_phone_number, phoneNumber="call me")
    check(sns.list_origination_numbers()["PhoneNumbers"] == [], "no origination numbers")

    # The SMS sandbox.
    check(sns.get_sms_sandbox_account_status()["IsInSandbox"] in (True, False), "status")
    num = "+15550111"
    http_get("/_aws/sns/sms-messages", "DELETE")
    sns.create_sms_sandbox_phone_number(PhoneNumber=num, LanguageCode="en-US")
    listed = sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"]
    check([(x["PhoneNumber"], x["Status"]) for x in listed] == [(num, "Pending")], listed)
    sms = http_get(f"/_aws/sns/sms-messages?phoneNumber={urllib.parse.quote(num)}")["sms_messages"][num]
    otp = sms[-1]["Message"].rsplit(" ", 1)[-1]
    check(otp.isdigit() and len(otp) == 6, sms)
    wrong = "000000" if otp != "000000" else "111111"
    expect_error("VerificationException", sns.verify_sms_sandbox_phone_number, PhoneNumber=num,
                 OneTimePassword=wrong)
    sns.verify_sms_sandbox_phone_number(PhoneNumber=num, OneTimePassword=otp)
    listed = sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"]
    check([(x["PhoneNumber"], x["Status"]) for x in listed] == [(num, "Verified")], listed)
    sns.delete_sms_sandbox_phone_number(PhoneNumber=num)
    check(sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [], "deleted")
    expect_error("ResourceNotFound", sns.delete_sms_sandbox_phone_number, PhoneNumber=num)

    # Platform applications and endpoints.
    app = sns.create_platform_application(Name="app1", Platform="GCM",
                                          Attributes={"PlatformCredential": "key"})["PlatformApplicationArn"]
    check(app == f"arn:aws:sns:us-east-1:{ACCOUNT}:app/GCM/app1", app)
    apps = sns.list_platform_applications()["PlatformApplications"]
    check([a["PlatformApplicationArn"] for a in apps] == [app], apps)
    sns.set_platform_application_attributes(PlatformApplicationArn=app,
                                            Attributes={"EventEndpointCreated": t})
    a = sns.get_platform_application_attributes(PlatformApplicationArn=app)["Attributes"]
    check(a.get("EventEndpointCreated") == t, a)
    check("PlatformCredential" not in a, f"credentials are not shown: {a}")
    e1 = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="tok-1",
                                      CustomUserData="u1")["EndpointArn"]
    e2 = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="tok-2")["EndpointArn"]
    eps = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)["Endpoints"]
    check(sorted(e["EndpointArn"] for e in eps) == sorted([e1, e2]), eps)
    a = sns.get_endpoint_attributes(EndpointArn=e1)["Attributes"]
    check(a["Token"] == "tok-1" and a["CustomUserData"] == "u1" and a["Enabled"] == "true", a)
    sns.publish(TargetArn=e1, Message="push!")
    pushed = http_get("/_aws/sns/platform-endpoint-messages")["platform_endpoint_messages"]
    check([m["Message"] for m in pushed.get(e1, [])] == ["push!"], pushed)
    sns.set_endpoint_attributes(EndpointArn=e1, Attributes={"Enabled": "false", "CustomUserData": "u2"})
    a = sns.get_endpoint_attributes(EndpointArn=e1)["Attributes"]
    check(a["Enabled"] == "false" and a["CustomUserData"] == "u2", a)
    expect_error("EndpointDisabled", sns.publish, TargetArn=e1, Message="not now")
    sns.delete_endpoint(EndpointArn=e2)
    eps = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)["Endpoints"]
    check([e["EndpointArn"] for e in eps] == [e1], eps)
    expect_error("NotFound", sns.get_endpoint_attributes, EndpointArn=e2)
    sns.delete_platform_application(PlatformApplicationArn=app)
    check(sns.list_platform_applications()["PlatformApplications"] == [], "application deleted")
    expect_error("NotFound", sns.get_platform_application_attributes, PlatformApplicationArn=app)
    print("sns ops ok")


COMMANDS = {
    "suite": (suite, 0),
    "prepare": (prepare, 1),
    "check": (check_after, 1),
    "filters": (filters, 0),
    "filter-errors": (filter_errors, 0),
    "ops": (ops, 0),
}

run_commands(COMMANDS, ARGS)
