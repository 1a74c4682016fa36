#!/usr/bin/env python3
"""Drive a running snapstack's EventBridge with boto3, as a user's program would.

Usage: events.py ENDPOINT COMMAND [ARGS]...

  suite          buses (custom, default, policies, tags), rules (patterns, enable/disable,
                 listing, refusals), targets to an SQS queue, to an SNS topic subscribed by an
                 SQS queue, to a CloudWatch Logs group, with Input, InputPath and an
                 InputTransformer; PutEvents per-entry failures; TestEventPattern; a scheduled
                 rate(1 minute) rule (the server runs with SNAPSTACK_EVENTS_RATE_SCALE, so a
                 minute is ~1 s); an archive and a replay; connections and API destinations
  prepare STATE  before a kill -9: an event accepted while its delivery is held back (the server
                 runs with SNAPSTACK_EVENTS_FIRST_ATTEMPT_DELAY_MS), its queue still empty; a
                 scheduled rule into a second queue
  check STATE    after the restart: the held event reaches its queue, and the schedule fires
  ops            the operations `suite` does not drive (tags, bus updates and deletion,
                 archives, CancelReplay, connections, API destinations, endpoints, partner
                 sources from both sides)
  routing        a rule on one bus targeting another bus whose rule routes to SQS; PutEvents
                 over 256 KB and with 11 entries refused with AWS's messages
"""

import json
import sys
import time

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
ACCOUNT = "000000000000"
REGION = "us-east-1"


def client(service, key="test"):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key="test",
        config=CFG,
    )


def queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(sqs, url, n, timeout=30):
    """Receive (and delete) at least n messages, within timeout seconds."""
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                AttributeNames=["All"], MessageAttributeNames=["All"])
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check(len(got) >= n, f"expected {n} messages on {url}, got {len(got)}: {got}")
    return got


def entry(source, detail, bus=None, **kw):
    e = {"Source": source, "DetailType": kw.pop("detail_type", "Order"), "Detail": json.dumps(detail)}
    if bus:
        e["EventBusName"] = bus
    e.update(kw)
    return e


def buses_and_rules(ev):
    d = ev.describe_event_bus()
    check(d["Name"] == "default" and d["Arn"].endswith(":event-bus/default"), d)
    arn = ev.create_event_bus(Name="orders", Tags=[{"Key": "team", "Value": "a"}])["EventBusArn"]
    check(arn == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders", arn)
    expect_error("ResourceAlreadyExistsException", ev.create_event_bus, Name="orders")
    names = [b["Name"] for b in ev.list_event_buses()["EventBuses"]]
    check("default" in names and "orders" in names, names)
    check(ev.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}], "tags")
    ev.put_permission(EventBusName="orders", Action="events:PutEvents", Principal="111122223333", StatementId="acct")
    pol = json.loads(ev.describe_event_bus(Name="orders")["Policy"])
    check(pol["Statement"][0]["Sid"] == "acct", pol)
    ev.remove_permission(EventBusName="orders", StatementId="acct")
    expect_error("ResourceNotFoundException", ev.remove_permission, EventBusName="orders", StatementId="acct")
    e = expect_error("ValidationException", ev.delete_event_bus, Name="default")
    check("Cannot delete event bus default." in str(e), e)

    e = expect_error("InvalidEventPatternException", ev.put_rule, Name="bad", EventPattern='{"source": "x"}')
    check('"source" must be an object or an array' in str(e), e)
    expect_error("ResourceNotFoundException", ev.describe_rule, Name="nope")
    expect_error("ResourceNotFoundException", ev.put_rule, Name="r", EventPattern="{}", EventBusName="nobus")
    r = ev.put_rule(Name="paid", EventBusName="orders",
                    EventPattern=json.dumps({"source": ["shop"], "detail": {"state": ["paid"]}}))
    check(r["RuleArn"].endswith(":rule/orders/paid"), r)
    ev.disable_rule(Name="paid", EventBusName="orders")
    check(ev.describe_rule(Name="paid", EventBusName="orders")["State"] == "DISABLED", "disabled")
    ev.enable_rule(Name="paid", EventBusName="orders")
    check([x["Name"] for x in ev.list_rules(EventBusName="orders")["Rules"]] == ["paid"], "list_rules")
    res = ev.test_event_pattern(
        EventPattern=json.dumps({"detail": {"n": [{"numeric": [">", 5]}], "ip": [{"cidr": "10.0.0.0/8"}]}}),
        Event=json.dumps({"id": "1", "account": ACCOUNT, "source": "s", "time": "2024-01-01T00:00:00Z",
                          "region": REGION, "detail-type": "t", "detail": {"n": 7, "ip": "10.1.2.3"}}))
    check(res["Result"] is True, res)


def targets_and_delivery(ev, sqs, sns, logs):
    q_url, q_arn = queue(sqs, "ev-orders")
    t_url, t_arn = queue(sqs, "ev-transformed")
    s_url, s_arn = queue(sqs, "ev-from-sns")
    topic = sns.create_topic(Name="ev-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=s_arn)
    logs.create_log_group(logGroupName="/aws/events/e2e")
    log_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/e2e"
    out = ev.put_targets(Rule="paid", EventBusName="orders", Targets=[
        {"Id": "queue", "Arn": q_arn},
        {"Id": "topic", "Arn": topic, "InputPath": "$.detail"},
        {"Id": "logs", "Arn": log_arn},
        {"Id": "xf", "Arn": t_arn, "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.id", "state": "$.detail.state"},
            "InputTemplate": '{"order": <id>, "text": "order <id> is <state>"}'}},
        {"Id": "bad", "Arn": "not-an-arn"},
    ])
    check(out["FailedEntryCount"] == 1 and out["FailedEntries"][0]["TargetId"] == "bad", out)
    listed = {t["Id"] for t in ev.list_targets_by_rule(Rule="paid", EventBusName="orders")["Targets"]}
    check(listed == {"queue", "topic", "logs", "xf"}, listed)
    check(ev.list_rule_names_by_target(TargetArn=q_arn, EventBusName="orders")["RuleNames"] == ["paid"], "by target")
    e = expect_error("ValidationException", ev.delete_rule, Name="paid", EventBusName="orders")
    check("Rule can't be deleted since it has targets." in str(e), e)

    out = ev.put_events(Entries=[
        entry("shop", {"id": "o-1", "state": "paid"}, "orders"),
        entry("shop", {"id": "o-2", "state": "new"}, "orders"),
        entry("shop", {"id": "o-3"}, "nobus"),
        {"Source": "shop", "DetailType": "x", "Detail": "not json", "EventBusName": "orders"},
    ])
    check(out["FailedEntryCount"] == 2, out)
    check(out["Entries"][2]["ErrorCode"] == "ResourceNotFoundException", out)
    check(out["Entries"][3]["ErrorCode"] == "MalformedDetail", out)
    event_id = out["Entries"][0]["EventId"]

    [m] = receive(sqs, q_url, 1)
    body = json.loads(m["Body"])
    check(body["id"] == event_id and body["detail"]["id"] == "o-1" and body["source"] == "shop", body)
    check(body["account"] == ACCOUNT and body["region"] == REGION and body["detail-type"] == "Order", body)
    [m] = receive(sqs, t_url, 1)
    check(json.loads(m["Body"]) == {"order": "o-1", "text": "order o-1 is paid"}, m["Body"])
    [m] = receive(sqs, s_url, 1)
    envelope = json.loads(m["Body"])
    check(json.loads(envelope["Message"]) == {"id": "o-1", "state": "paid"}, envelope)
    deadline = time.time() + 30
    found = []
    while not found and time.time() < deadline:
        found = logs.filter_log_events(logGroupName="/aws/events/e2e").get("events", [])
        time.sleep(0.2)
    check(found and json.loads(found[0]["message"])["id"] == event_id, found)
    # The unmatched event went nowhere.
    r = sqs.receive_message(QueueUrl=q_url, WaitTimeSeconds=1)
    check(not r.get("Messages"), r)

    ev.remove_targets(Rule="paid", EventBusName="orders", Ids=["queue", "topic", "logs", "xf"])
    ev.delete_rule(Name="paid", EventBusName="orders")
    expect_error("ResourceNotFoundException", ev.describe_rule, Name="paid", EventBusName="orders")


def scheduled(ev, sqs):
    url, arn = queue(sqs, "ev-tick")
    ev.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    ev.put_targets(Rule="tick", Targets=[{"Id": "q", "Arn": arn}])
    e = expect_error("ValidationException", ev.put_rule, Name="t2", ScheduleExpression="rate(1 minutes)")
    check("ScheduleExpression is not valid" in str(e), e)
    msgs = receive(sqs, url, 2, timeout=30)
    b = json.loads(msgs[0]["Body"])
    check(b["detail-type"] == "Scheduled Event" and b["source"] == "aws.events", b)
    check(b["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/tick"], b)
    ev.disable_rule(Name="tick")
    ev.remove_targets(Rule="tick", Ids=["q"])
    ev.delete_rule(Name="tick")


def archive_and_replay(ev, sqs):
    url, arn = queue(sqs, "ev-replayed")
    bus_arn = ev.create_event_bus(Name="audit")["EventBusArn"]
    a = ev.create_archive(ArchiveName="audit-archive", EventSourceArn=bus_arn,
                          EventPattern=json.dumps({"source": ["billing"]}), RetentionDays=1)
    check(a["State"] == "ENABLED", a)
    t0 = time.time()
    ev.put_events(Entries=[entry("billing", {"n": i}, "audit") for i in range(3)]
                  + [entry("other", {"n": 9}, "audit")])
    d = ev.describe_archive(ArchiveName="audit-archive")
    check(d["EventCount"] == 3, d)
    ev.put_rule(Name="replayed", EventBusName="audit", EventPattern=json.dumps({"source": ["billing"]}))
    ev.put_targets(Rule="replayed", EventBusName="audit", Targets=[{"Id": "q", "Arn": arn}])
    time.sleep(1.5)
    r = ev.start_replay(ReplayName="rp1", EventSourceArn=a["ArchiveArn"],
                        EventStartTime=t0 - 5, EventEndTime=time.time(),
                        Destination={"Arn": bus_arn})
    check(r["State"] in ("STARTING", "RUNNING", "COMPLETED"), r)
    deadline = time.time() + 30
    while ev.describe_replay(ReplayName="rp1")["State"] != "COMPLETED":
        check(time.time() < deadline, "replay did not complete")
        time.sleep(0.2)
    msgs = receive(sqs, url, 3)
    bodies = [json.loads(m["Body"]) for m in msgs]
    check(sorted(b["detail"]["n"] for b in bodies) == [0, 1, 2], bodies)
    check(all(b["replay-name"] == "rp1" for b in bodies), bodies)
    expect_error("ResourceAlreadyExistsException", ev.start_replay, ReplayName="rp1",
                 EventSourceArn=a["ArchiveArn"], EventStartTime=t0 - 5, EventEndTime=time.time(),
                 Destination={"Arn": bus_arn})
    check([x["ReplayName"] for x in ev.list_replays()["Replays"]] == ["rp1"], "list_replays")
    check(ev.describe_archive(ArchiveName="audit-archive")["EventCount"] == 3, "replays are not archived")
    ev.delete_archive(ArchiveName="audit-archive")
    expect_error("ResourceNotFoundException", ev.describe_archive, ArchiveName="audit-archive")


def connections(ev):
    c = ev.create_connection(Name="conn", AuthorizationType="BASIC",
                             AuthParameters={"BasicAuthParameters": {"Username": "u", "Password": "p"}})
    check(c["ConnectionState"] == "AUTHORIZED", c)
    d = ev.describe_connection(Name="conn")
    check(d["AuthParameters"]["BasicAuthParameters"] == {"Username": "u"}, d)
    a = ev.create_api_destination(Name="dest", ConnectionArn=c["ConnectionArn"],
                                  InvocationEndpoint="https://example.com/hook", HttpMethod="POST",
                                  InvocationRateLimitPerSecond=10)
    check(a["ApiDestinationState"] == "ACTIVE", a)
    ev.update_api_destination(Name="dest", HttpMethod="PUT")
    check(ev.describe_api_destination(Name="dest")["HttpMethod"] == "PUT", "update")
    check([x["Name"] for x in ev.list_connections()["Connections"]] == ["conn"], "list")
    ev.delete_api_destination(Name="dest")
    ev.delete_connection(Name="conn")
    expect_error("ResourceNotFoundException", ev.describe_connection, Name="conn")


def partners_and_endpoints(ev, sqs):
    partner = client("events", key="111122223333")
    name = "aws.partner/saas.example/acme/orders"
    partner.create_partner_event_source(Name=name, Account=ACCOUNT)
    check(ev.describe_event_source(Name=name)["State"] == "PENDING", "pending")
    expect_error("ResourceNotFoundException", ev.create_event_bus, Name=name)
    ev.create_event_bus(Name=name, EventSourceName=name)
    check(ev.describe_event_source(Name=name)["State"] == "ACTIVE", "active")
    accounts = partner.list_partner_event_source_accounts(EventSourceName=name)["PartnerEventSourceAccounts"]
    check([a["Account"] for a in accounts] == [ACCOUNT], accounts)
    url, arn = queue(sqs, "ev-partner")
    ev.put_rule(Name="from-partner", EventBusName=name, EventPattern=json.dumps({"source": [name]}))
    ev.put_targets(Rule="from-partner", EventBusName=name, Targets=[{"Id": "q", "Arn": arn}])
    out = partner.put_partner_events(Entries=[{"Source": name, "DetailType": "Order", "Detail": '{"id": 1}'}])
    check(out["FailedEntryCount"] == 0, out)
    [m] = receive(sqs, url, 1)
    check(json.loads(m["Body"])["detail"] == {"id": 1}, m["Body"])

    buses = [{"EventBusArn": f"arn:aws:events:{r}:{ACCOUNT}:event-bus/default"} for r in (REGION, "us-west-2")]
    routing = {"FailoverConfig": {"Primary": {"HealthCheck": "arn:aws:route53:::healthcheck/abc"},
                                  "Secondary": {"Route": "us-west-2"}}}
    ev.create_endpoint(Name="global", RoutingConfig=routing, EventBuses=buses)
    d = ev.describe_endpoint(Name="global")
    check(d["State"] == "ACTIVE" and d["EndpointUrl"].startswith("https://"), d)
    check([e["Name"] for e in ev.list_endpoints()["Endpoints"]] == ["global"], "list_endpoints")
    ev.delete_endpoint(Name="global")
    expect_error("ResourceNotFoundException", ev.describe_endpoint, Name="global")


def suite():
    ev, sqs, sns, logs = client("events"), client("sqs"), client("sns"), client("logs")
    buses_and_rules(ev)
    targets_and_delivery(ev, sqs, sns, logs)
    scheduled(ev, sqs)
    archive_and_replay(ev, sqs)
    connections(ev)
    partners_and_endpoints(ev, sqs)
    print("events suite passed")


def prepare(state):
    ev, sqs = client("events"), client("sqs")
    url, arn = queue(sqs, "held")
    ev.put_rule(Name="held", EventPattern=json.dumps({"source": ["restart"]}))
    ev.put_targets(Rule="held", Targets=[{"Id": "q", "Arn": arn}])
    tick_url, tick_arn = queue(sqs, "restart-tick")
    ev.put_rule(Name="restart-tick", ScheduleExpression="rate(1 minute)")
    ev.put_targets(Rule="restart-tick", Targets=[{"Id": "q", "Arn": tick_arn}])
    out = ev.put_events(Entries=[entry("restart", {"keep": "me"})])
    check(out["FailedEntryCount"] == 0, out)
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    check(not r.get("Messages"), f"the held delivery went out before the kill: {r}")
    with open(state, "w") as f:
        json.dump({"url": url, "tick_url": tick_url, "event_id": out["Entries"][0]["EventId"]}, f)


def check_after(state):
    with open(state) as f:
        s = json.load(f)
    sqs, ev = client("sqs"), client("events")
    [m] = receive(sqs, s["url"], 1, timeout=60)
    body = json.loads(m["Body"])
    check(body["id"] == s["event_id"] and body["detail"] == {"keep": "me"}, body)
    start = time.time()
    msgs = receive(sqs, s["tick_url"], 1, timeout=60)
    deadline = time.time() + 60
    while not any(int(m["Attributes"]["SentTimestamp"]) / 1000 >= start for m in msgs):
        check(time.time() < deadline, "the schedule did not fire after the restart")
        msgs = receive(sqs, s["tick_url"], 1, timeout=60)
    check(ev.describe_rule(Name="restart-tick")["State"] == "ENABLED", "rule kept")
    print("delivered after the restart", s["event_id"])


def routing():
    """A rule on bus A targets bus B; a rule on B routes to SQS: the event arrives once, as put
    on A (source, detail-type, detail). PutEvents over 256 KB and with 11 entries is refused."""
    ev, sqs = client("events"), client("sqs")
    a_arn = ev.create_event_bus(Name="route-a")["EventBusArn"]
    b_arn = ev.create_event_bus(Name="route-b")["EventBusArn"]
    url, q_arn = queue(sqs, "route-final")
    ev.put_rule(Name="a-to-b", EventBusName="route-a", EventPattern=json.dumps({"source": ["app.route"]}))
    ev.put_targets(Rule="a-to-b", EventBusName="route-a",
                   Targets=[{"Id": "b", "Arn": b_arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events"}])
    ev.put_rule(Name="b-to-q", EventBusName="route-b",
                EventPattern=json.dumps({"source": ["app.route"], "detail": {"n": [{"numeric": [">", 1]}]}}))
    ev.put_targets(Rule="b-to-q", EventBusName="route-b", Targets=[{"Id": "q", "Arn": q_arn}])
    out = ev.put_events(Entries=[entry("app.route", {"n": 1}, "route-a"),
                                 entry("app.route", {"n": 2}, "route-a"),
                                 entry("app.other", {"n": 3}, "route-a")])
    check(out["FailedEntryCount"] == 0, out)
    [m] = receive(sqs, url, 1)
    body = json.loads(m["Body"])
    check(body["source"] == "app.route" and body["detail"] == {"n": 2} and body["detail-type"] == "Order", body)
    # Nothing else came: a marker routed the same way after it arrives alone.
    ev.put_events(Entries=[entry("app.route", {"n": 9, "marker": True}, "route-a")])
    [m] = receive(sqs, url, 1)
    check(json.loads(m["Body"])["detail"] == {"n": 9, "marker": True}, m["Body"])
    check(not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"), "delivered once")
    del a_arn

    # Size: one entry of over 256 KB; eleven entries.
    big = entry("app.big", {"pad": "x" * (256 * 1024)})
    e = expect_error("ValidationException", ev.put_events, Entries=[big])
    check(e.response["Error"]["Message"] == "Total size of the entries in the request is over the limit.",
          e.response)
    e = expect_error("ValidationException", ev.put_events,
                     Entries=[entry("app.many", {"i": i}) for i in range(11)])
    msg = e.response["Error"]["Message"]
    check(msg.startswith("1 validation error detected: Value '") and
          msg.endswith("' at 'entries' failed to satisfy constraint: "
                       "Member must have length less than or equal to 10"), msg)
    out = ev.put_events(Entries=[entry("app.many", {"i": i}) for i in range(10)])
    check(out["FailedEntryCount"] == 0 and len(out["Entries"]) == 10, out)
    print("routing ok")


def ops():
    """The operations `suite` does not drive: tags on a rule and a bus, UpdateEventBus and
    DeleteEventBus, UpdateArchive and ListArchives, CancelReplay (of a replay still running, or
    refused once it completed), UpdateConnection and DeauthorizeConnection,
    ListApiDestinations, UpdateEndpoint, partner sources (Describe/List/Delete) and the
    customer's ListEventSources, DeactivateEventSource and ActivateEventSource."""
    ev, sqs = client("events"), client("sqs")
    bus_arn = ev.create_event_bus(Name="ops-bus", Description="first")["EventBusArn"]
    rule_arn = ev.put_rule(Name="ops-rule", EventBusName="ops-bus",
                           EventPattern=json.dumps({"source": ["ops"]}))["RuleArn"]
    for arn in (bus_arn, rule_arn):
        ev.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}])
        ev.untag_resource(ResourceARN=arn, TagKeys=["env"])
        check(ev.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}], arn)
    expect_error("ResourceNotFoundException", ev.tag_resource,
                 ResourceARN=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nope", Tags=[{"Key": "k", "Value": "v"}])
    dlq_url, dlq_arn = queue(sqs, "ops-bus-dlq")
    u = ev.update_event_bus(Name="ops-bus", Description="second", DeadLetterConfig={"Arn": dlq_arn})
    check(u["Arn"] == bus_arn and u["Description"] == "second", u)
    d = ev.describe_event_bus(Name="ops-bus")
    check(d["Description"] == "second" and d["DeadLetterConfig"] == {"Arn": dlq_arn}, d)

    # Archives and a replay.
    a = ev.create_archive(ArchiveName="ops-archive", EventSourceArn=bus_arn, RetentionDays=1)
    ev.update_archive(ArchiveName="ops-archive", Description="kept", RetentionDays=3,
                      EventPattern=json.dumps({"source": ["ops"]}))
    d = ev.describe_archive(ArchiveName="ops-archive")
    check(d["Description"] == "kept" and d["RetentionDays"] == 3 and
          json.loads(d["EventPattern"]) == {"source": ["ops"]}, d)
    names = [x["ArchiveName"] for x in ev.list_archives(EventSourceArn=bus_arn)["Archives"]]
    check(names == ["ops-archive"], names)
    check(ev.list_archives(NamePrefix="zzz")["Archives"] == [], "prefix")
    t0 = time.time()
    ev.put_events(Entries=[entry("ops", {"n": 1}, "ops-bus")])
    ev.start_replay(ReplayName="ops-replay", EventSourceArn=a["ArchiveArn"], EventStartTime=t0 - 60,
                    EventEndTime=time.time(), Destination={"Arn": bus_arn})
    try:
        c = ev.cancel_replay(ReplayName="ops-replay")
        check(c["State"] == "CANCELLING", c)
        final = "CANCELLED"
    except ev.exceptions.IllegalStatusException:
        final = "COMPLETED"  # it ran before the cancel came
    deadline = time.time() + 30
    while ev.describe_replay(ReplayName="ops-replay")["State"] != final:
        check(time.time() < deadline, f"the replay did not end {final}")
        time.sleep(0.1)
    expect_error("IllegalStatusException", ev.cancel_replay, ReplayName="ops-replay")
    expect_error("ResourceNotFoundException", ev.cancel_replay, ReplayName="nope")
    ev.delete_archive(ArchiveName="ops-archive")

    # Delete the bus (its rule first).
    expect_error("ValidationException", ev.delete_event_bus, Name="default")
    ev.delete_rule(Name="ops-rule", EventBusName="ops-bus")
    ev.delete_event_bus(Name="ops-bus")
    expect_error("ResourceNotFoundException", ev.describe_event_bus, Name="ops-bus")
    check("ops-bus" not in [b["Name"] for b in ev.list_event_buses()["EventBuses"]], "listed")

    # Connections and API destinations.
    c = ev.create_connection(Name="ops-conn", AuthorizationType="API_KEY",
                             AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "v1"}})
    u = ev.update_connection(Name="ops-conn", Description="rotated",
                             AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-key2", "ApiKeyValue": "v2"}})
    check(u["ConnectionArn"] == c["ConnectionArn"] and u["ConnectionState"] == "AUTHORIZED", u)
    d = ev.describe_connection(Name="ops-conn")
    check(d["Description"] == "rotated" and d["AuthParameters"]["ApiKeyAuthParameters"] == {"ApiKeyName": "x-key2"}, d)
    u = ev.deauthorize_connection(Name="ops-conn")
    check(u["ConnectionState"] == "DEAUTHORIZING", u)
    check(ev.describe_connection(Name="ops-conn")["ConnectionState"] == "DEAUTHORIZED", "deauthorized")
    for i in range(2):
        ev.create_api_destination(Name=f"ops-dest-{i}", ConnectionArn=c["ConnectionArn"],
                                  InvocationEndpoint=f"https://example.com/{i}", HttpMethod="POST")
    dests = ev.list_api_destinations(NamePrefix="ops-dest")["ApiDestinations"]
    check(sorted(x["Name"] for x in dests) == ["ops-dest-0", "ops-dest-1"], dests)
    check(ev.list_api_destinations(NamePrefix="none")["ApiDestinations"] == [], "prefix")

    # Global endpoints.
    buses = [{"EventBusArn": f"arn:aws:events:{r}:{ACCOUNT}:event-bus/default"} for r in (REGION, "us-west-2")]
    routing = {"FailoverConfig": {"Primary": {"HealthCheck": "arn:aws:route53:::healthcheck/abc"},
                                  "Secondary": {"Route": "us-west-2"}}}
    ev.create_endpoint(Name="ops-ep", RoutingConfig=routing, EventBuses=buses)
    u = ev.update_endpoint(Name="ops-ep", Description="moved", ReplicationConfig={"State": "DISABLED"})
    check(u["Name"] == "ops-ep", u)
    d = ev.describe_endpoint(Name="ops-ep")
    check(d["Description"] == "moved" and d["ReplicationConfig"] == {"State": "DISABLED"}, d)
    expect_error("ResourceNotFoundException", ev.update_endpoint, Name="nope", Description="x")

    # Partner event sources, from both sides.
    partner = client("events", key="111122223333")
    name = "aws.partner/saas.example/acme/ops"
    partner.create_partner_event_source(Name=name, Account=ACCOUNT)
    d = partner.describe_partner_event_source(Name=name)
    check(d["Name"] == name and d["Arn"].endswith(name), d)
    listed = partner.list_partner_event_sources(NamePrefix="aws.partner/saas.example")["PartnerEventSources"]
    check([x["Name"] for x in listed] == [name], listed)
    mine = ev.list_event_sources(NamePrefix="aws.partner/saas.example/acme/ops")["EventSources"]
    check([(x["Name"], x["State"]) for x in mine] == [(name, "PENDING")], mine)
    ev.create_event_bus(Name=name, EventSourceName=name)
    check(ev.describe_event_source(Name=name)["State"] == "ACTIVE", "active with its bus")
    ev.deactivate_event_source(Name=name)
    check(ev.describe_event_source(Name=name)["State"] != "ACTIVE", "deactivated")
    expect_error("InvalidStateException", ev.deactivate_event_source, Name=name)
    ev.activate_event_source(Name=name)
    check(ev.describe_event_source(Name=name)["State"] == "ACTIVE", "active again")
    partner.delete_partner_event_source(Name=name, Account=ACCOUNT)
    gone = ev.list_event_sources(NamePrefix=name)["EventSources"]
    check(all(x["State"] == "DELETED" for x in gone), gone)
    expect_error("ResourceNotFoundException", partner.describe_partner_event_source, Name=name)
    print("events ops ok")


COMMANDS = {
    "suite": (suite, 0),
    "prepare": (prepare, 1),
    "check": (check_after, 1),
    "routing": (routing, 0),
    "ops": (ops, 0),
}

run_commands(COMMANDS, ARGS)
