#!/usr/bin/env python3
"""Drive a running snapstack's CloudWatch and CloudWatch Logs with boto3.

Usage: cloudwatch_client.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  logs                  log groups, streams, PutLogEvents rules, GetLogEvents tokens both ways,
                        FilterLogEvents patterns and paging, metric filters into CloudWatch,
                        retention, tags, an Insights query
  metrics PROTOCOL      PutMetricData / GetMetricStatistics / GetMetricData / ListMetrics,
                        dashboards, tags, in PROTOCOL: cbor (boto3's default), json or query
                        (botocore's model switched to that protocol)
  raw                   hand-made query-protocol form POSTs (no SDK)
  alarm-prepare         an alarm (Period 10 s) goes to ALARM from PutMetricData; its SNS action
                        publishes to a topic subscribed by an SQS queue, and is recorded in its
                        history; new Logs and CloudWatch resources are created
  alarm-check           after a restart: still in ALARM with its history; evaluation resumes
                        (low values bring it to OK), whose OK action reaches the queue; the new
                        resources are still there; the scheduled query created before the
                        restart runs and writes its results to S3, and the metric stream created
                        before it delivers its minute through Firehose into S3
  logs-more             every Logs family added with the stored resources: destinations and
                        policies, resource / account / data protection / index policies, field
                        indexes, deliveries, query definitions, transformers (TestTransformer),
                        anomaly detectors, lookup tables, scheduled queries, integrations, S3
                        Tables sources, import tasks, discovery (ListLogGroups, fields, records)
  export                an export task to S3 whose objects are read back and gunzipped
  subscribe             a subscription filter into Kinesis, read back with GetRecords (gzip
                        JSON as AWS sends)
  livetail              StartLiveTail's event stream: sessionStart, then sessionUpdate with the
                        matching events put after the session started
  cw-more               metric streams, anomaly detectors, insight rules (and managed), mute
                        rules, OTel enrichment, alarm contributors, GetMetricWidgetImage (a PNG)
  aws-metrics           the metrics services publish (the server runs with a 1 s report
                        interval): SQS sends, receives, empty receives, deletes and sizes, and
                        the visible-messages gauge; DynamoDB consumed read / write capacity,
                        latency samples and Query's returned items; GetMetricStatistics is
                        polled (bounded) until the sums are exactly what was done; an alarm on an
                        anomaly detection band goes to ALARM when a value leaves the band
  obs                   what is simulated beyond storage: a mute rule silences an alarm's action,
                        an anomaly detector trains and ANOMALY_DETECTION_BAND answers its band,
                        Insights `stats ... by bin()`, a log anomaly detector's lifecycle
"""

import base64
import copy
import gzip
import json
import sys
import time
import urllib.request

import boto3
import botocore.session
from botocore.config import Config

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
KW = dict(endpoint_url=ENDPOINT, aws_access_key_id="test", aws_secret_access_key="test",
          region_name="us-east-1", config=CFG)


def logs():
    return boto3.client("logs", **KW)


def cloudwatch(protocol="cbor"):
    """A CloudWatch client speaking `protocol`: botocore's model with its protocol switched."""
    if protocol == "cbor":
        c = boto3.client("cloudwatch", **KW)
        check(c.meta.service_model.protocol == "smithy-rpc-v2-cbor", c.meta.service_model.protocol)
        return c
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    original = loader.load_service_model

    def patched(service_name, type_name, api_version=None):
        data = original(service_name, type_name, api_version)
        if service_name == "cloudwatch" and type_name == "service-2":
            data = copy.deepcopy(data)
            data["metadata"]["protocol"] = protocol
            data["metadata"]["protocols"] = [protocol]
        return data

    loader.load_service_model = patched
    c = session.create_client("cloudwatch", **KW)
    check(c.meta.service_model.protocol == protocol, c.meta.service_model.protocol)
    return c


def now_ms():
    return int(time.time() * 1000)


def cmd_logs():
    c = logs()
    g = "/e2e/app"
    c.create_log_group(logGroupName=g, tags={"team": "a"})
    expect_error("ResourceAlreadyExistsException", c.create_log_group, logGroupName=g)
    for i in range(3):
        c.create_log_group(logGroupName=f"/e2e/page/{i}")
    page = c.describe_log_groups(logGroupNamePrefix="/e2e/page/", limit=2)
    check(len(page["logGroups"]) == 2 and "nextToken" in page, page)
    rest = c.describe_log_groups(logGroupNamePrefix="/e2e/page/", limit=2, nextToken=page["nextToken"])
    check([x["logGroupName"] for x in rest["logGroups"]] == ["/e2e/page/2"], rest)
    c.put_retention_policy(logGroupName=g, retentionInDays=30)
    expect_error("InvalidParameterException", c.put_retention_policy, logGroupName=g, retentionInDays=2)
    desc = c.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
    check(desc["retentionInDays"] == 30 and desc["arn"].endswith(":*"), desc)
    arn = desc["logGroupArn"]
    c.tag_resource(resourceArn=arn, tags={"env": "dev"})
    check(c.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a", "env": "dev"}, "tags")
    c.untag_log_group(logGroupName=g, tags=["team"])
    check(c.list_tags_log_group(logGroupName=g)["tags"] == {"env": "dev"}, "old tag API")
    c.associate_kms_key(logGroupName=g, kmsKeyId="arn:aws:kms:us-east-1:000000000000:key/k1")
    check(c.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]["kmsKeyId"].endswith("k1"), "kms")
    c.disassociate_kms_key(logGroupName=g)

    c.create_log_stream(logGroupName=g, logStreamName="s1")
    c.create_log_stream(logGroupName=g, logStreamName="s2")
    expect_error("ResourceNotFoundException", c.put_log_events, logGroupName=g, logStreamName="nope",
                 logEvents=[{"timestamp": now_ms(), "message": "x"}])
    c.put_metric_filter(logGroupName=g, filterName="errors", filterPattern="ERROR",
                        metricTransformations=[{"metricName": "ErrorCount", "metricNamespace": "E2E/Logs",
                                                "metricValue": "1"}])
    t0 = now_ms() - 60_000
    s1 = [{"timestamp": t0 + i * 10, "message": f"ERROR s1 event {i}" if i % 3 == 0 else f"INFO s1 event {i}"}
          for i in range(30)]
    s2 = [{"timestamp": t0 + i * 10 + 5, "message": json.dumps({"level": "error" if i % 2 else "info", "ms": i})}
          for i in range(30)]
    r = c.put_log_events(logGroupName=g, logStreamName="s1", logEvents=s1)
    check("rejectedLogEventsInfo" not in r, r)
    c.put_log_events(logGroupName=g, logStreamName="s2", logEvents=s2)
    e = expect_error("InvalidParameterException", c.put_log_events, logGroupName=g, logStreamName="s1",
                     logEvents=[{"timestamp": t0 + 10, "message": "b"}, {"timestamp": t0, "message": "a"}])
    check("chronological" in e.response["Error"]["Message"], e.response)
    r = c.put_log_events(logGroupName=g, logStreamName="s1",
                         logEvents=[{"timestamp": now_ms() - 20 * 86400_000, "message": "old"}])
    check(r["rejectedLogEventsInfo"]["tooOldLogEventEndIndex"] == 0, r)

    # GetLogEvents forward from the head, in pages, until the token repeats.
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        r = c.get_log_events(logGroupName=g, logStreamName="s1", limit=7, **kw)
        seen += [e["message"] for e in r["events"]]
        if r["nextForwardToken"] == token:
            break
        token = r["nextForwardToken"]
    check(seen == [e["message"] for e in s1], seen)
    # And backwards from the tail.
    r = c.get_log_events(logGroupName=g, logStreamName="s1", limit=10)
    check([e["message"] for e in r["events"]] == [e["message"] for e in s1[20:]], r["events"])
    r = c.get_log_events(logGroupName=g, logStreamName="s1", limit=10, nextToken=r["nextBackwardToken"])
    check([e["message"] for e in r["events"]] == [e["message"] for e in s1[10:20]], r["events"])

    # FilterLogEvents: terms, exclusions, JSON patterns, interleaved, paged.
    def filt(pattern, **kw):
        out, token = [], None
        while True:
            args = dict(logGroupName=g, filterPattern=pattern, **kw)
            if token:
                args["nextToken"] = token
            r = c.filter_log_events(**args)
            out += r["events"]
            token = r.get("nextToken")
            if not token:
                return out

    errs = filt("ERROR")
    check(len(errs) == 10 and all("ERROR" in e["message"] for e in errs), errs)
    check(len(filt("ERROR -\"event 9\"")) == 9, "exclusion")
    check(len(filt('"s1 event 1"')) == 11, "quoted phrase (1, 10-19)")
    js = filt('{ $.level = "error" && $.ms >= 10 }')
    check(len(js) == 10 and all(e["logStreamName"] == "s2" for e in js), js)
    everything = filt("", limit=7)
    check(len(everything) == 60, len(everything))
    ts = [e["timestamp"] for e in everything]
    check(ts == sorted(ts), "interleaved by time")
    check(len({e["eventId"] for e in everything}) == 60, "event ids unique")
    check(len(filt("", logStreamNames=["s2"])) == 30, "one stream")

    t = c.test_metric_filter(filterPattern="[ip, user, status=404, size]",
                             logEventMessages=["1.2.3.4 bob 404 10", "1.2.3.4 bob 200 10"])
    check(len(t["matches"]) == 1 and t["matches"][0]["extractedValues"]["$size"] == "10", t)
    check(c.describe_metric_filters(logGroupName=g)["metricFilters"][0]["filterName"] == "errors", "mf")
    c.put_subscription_filter(logGroupName=g, filterName="sub", filterPattern="",
                              destinationArn="arn:aws:lambda:us-east-1:000000000000:function:f")
    check(len(c.describe_subscription_filters(logGroupName=g)["subscriptionFilters"]) == 1, "sf")
    c.delete_subscription_filter(logGroupName=g, filterName="sub")

    # The metric filter published to CloudWatch.
    cw = cloudwatch()
    check(any(m["MetricName"] == "ErrorCount" for m in cw.list_metrics(Namespace="E2E/Logs")["Metrics"]), "metric")
    st = cw.get_metric_statistics(Namespace="E2E/Logs", MetricName="ErrorCount",
                                  StartTime=(t0 - 60_000) / 1000, EndTime=(t0 + 120_000) / 1000,
                                  Period=3600, Statistics=["Sum"])
    check(sum(d["Sum"] for d in st["Datapoints"]) == 10, st)

    # Logs Insights.
    q = c.start_query(logGroupName=g, startTime=t0 // 1000 - 1, endTime=now_ms() // 1000 + 1,
                      queryString="filter level = \"error\" | stats count(*) as n by level")
    r = c.get_query_results(queryId=q["queryId"])
    check(r["status"] == "Complete" and r["results"] == [[{"field": "level", "value": "error"},
                                                         {"field": "n", "value": "15"}]], r)
    r = c.start_query(logGroupName=g, startTime=t0 // 1000 - 1, endTime=now_ms() // 1000 + 1,
                      queryString="fields @message | filter @message like /ERROR/ | sort @timestamp desc | limit 3")
    r = c.get_query_results(queryId=r["queryId"])
    check(len(r["results"]) == 3, r)

    streams = c.describe_log_streams(logGroupName=g, orderBy="LastEventTime", descending=True)["logStreams"]
    check([s["logStreamName"] for s in streams] == ["s2", "s1"], streams)
    c.delete_log_stream(logGroupName=g, logStreamName="s2")
    expect_error("ResourceNotFoundException", c.get_log_events, logGroupName=g, logStreamName="s2")
    c.delete_log_group(logGroupName=g)
    expect_error("ResourceNotFoundException", c.describe_log_streams, logGroupName=g)


def cmd_metrics(protocol):
    c = cloudwatch(protocol)
    ns = f"E2E/{protocol}"
    now = time.time()
    base = int(now // 60) * 60 - 600
    dims = [{"Name": "Host", "Value": "a"}]
    c.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": base + 5, "Value": 10.0, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": base + 10, "Values": [20.0, 30.0],
         "Counts": [1.0, 2.0], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": base + 65,
         "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40, "Maximum": 60}, "Unit": "Milliseconds"},
        {"MetricName": "Requests", "Timestamp": base + 5, "Value": 100.0, "Unit": "Count"},
        {"MetricName": "Requests", "Timestamp": base + 65, "Value": 200.0, "Unit": "Count"},
    ])
    expect_error("InvalidParameterValue", c.put_metric_data, Namespace="AWS/EC2",
                 MetricData=[{"MetricName": "x", "Value": 1.0}])
    st = c.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims, StartTime=base,
                                 EndTime=base + 120, Period=60,
                                 Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
                                 ExtendedStatistics=["p50"])
    dps = sorted(st["Datapoints"], key=lambda d: d["Timestamp"])
    check(len(dps) == 2, st)
    check(dps[0]["SampleCount"] == 4 and dps[0]["Sum"] == 90 and dps[0]["Minimum"] == 10
          and dps[0]["Maximum"] == 30 and dps[0]["ExtendedStatistics"]["p50"] == 20, dps[0])
    check(dps[1]["Average"] == 50 and dps[0]["Unit"] == "Milliseconds", dps)
    check(dps[0]["Timestamp"].timestamp() == base, dps[0]["Timestamp"])
    e = expect_error("InvalidParameterCombination", c.get_metric_statistics, Namespace=ns, MetricName="Latency",
                     StartTime=0, EndTime=now, Period=60, Statistics=["Sum"])
    check("1440" in e.response["Error"]["Message"], e.response)

    r = c.get_metric_data(StartTime=base, EndTime=base + 120, ScanBy="TimestampAscending", MetricDataQueries=[
        {"Id": "lat", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Latency", "Dimensions": dims},
                                      "Period": 60, "Stat": "p99"}},
        {"Id": "req", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "Requests"},
                                      "Period": 60, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "perk", "Expression": "req / 1000", "Label": "thousands"},
    ])
    res = {x["Id"]: x for x in r["MetricDataResults"]}
    check(set(res) == {"lat", "perk"}, r)
    check(res["lat"]["Values"] == [30.0] and res["lat"]["StatusCode"] == "Complete", res["lat"])
    check(res["perk"]["Values"] == [0.1, 0.2] and res["perk"]["Label"] == "thousands", res["perk"])

    metrics = c.list_metrics(Namespace=ns)["Metrics"]
    check(sorted(m["MetricName"] for m in metrics) == ["Latency", "Requests"], metrics)
    check(len(c.list_metrics(Namespace=ns, Dimensions=[{"Name": "Host"}])["Metrics"]) == 1, "dims filter")

    c.put_dashboard(DashboardName=f"d-{protocol}", DashboardBody=json.dumps({"widgets": []}))
    check(json.loads(c.get_dashboard(DashboardName=f"d-{protocol}")["DashboardBody"]) == {"widgets": []}, "dash")
    check(any(d["DashboardName"] == f"d-{protocol}" for d in c.list_dashboards()["DashboardEntries"]), "list")
    c.delete_dashboards(DashboardNames=[f"d-{protocol}"])
    expect_error("ResourceNotFound", c.get_dashboard, DashboardName=f"d-{protocol}")

    name = f"alarm-{protocol}"
    c.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="Requests", Statistic="Sum", Period=60,
                       EvaluationPeriods=1, Threshold=1e9, ComparisonOperator="GreaterThanThreshold",
                       Tags=[{"Key": "k", "Value": "v"}])
    a = c.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    check(a["StateValue"] in ("INSUFFICIENT_DATA", "OK") and a["Threshold"] == 1e9, a)
    check(c.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"] == [{"Key": "k", "Value": "v"}], "tags")
    c.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="forced")
    # The alarm's first evaluation is due at once, so the evaluator may already have put it back to
    # its real state (AWS does so "often within seconds"): then the forced update is the older item.
    alarmed = c.describe_alarms(StateValue="ALARM", AlarmNamePrefix=name)["MetricAlarms"]
    h = c.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    check(len(h) in (1, 2) and "INSUFFICIENT_DATA to ALARM" in h[-1]["HistorySummary"]
          and json.loads(h[-1]["HistoryData"])["newState"]["stateReason"] == "forced", h)
    check(len(h) == 2 or alarmed[0]["StateReason"] == "forced", alarmed)
    check(len(c.describe_alarms_for_metric(Namespace=ns, MetricName="Requests")["MetricAlarms"]) == 1, "for metric")
    c.disable_alarm_actions(AlarmNames=[name])
    check(c.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["ActionsEnabled"] is False, "disabled")
    expect_error("ResourceNotFound", c.set_alarm_state, AlarmName="nope", StateValue="OK", StateReason="x")
    c.delete_alarms(AlarmNames=[name])
    check(c.describe_alarms(AlarmNames=[name])["MetricAlarms"] == [], "deleted")


def cmd_raw():
    """Query-protocol form POSTs by hand (AWS CLI v1 and old SDKs send these)."""
    def post(params):
        body = "&".join(f"{k}={urllib.parse.quote(str(v), safe='')}" for k, v in params.items()).encode()
        req = urllib.request.Request(ENDPOINT + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/monitoring/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    import urllib.parse
    import urllib.error
    status, body = post({"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "Raw",
                         "MetricData.member.1.MetricName": "m", "MetricData.member.1.Value": "5"})
    check(status == 200 and "<PutMetricDataResponse" in body, body)
    status, body = post({"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": "Raw"})
    check(status == 200 and "<MetricName>m</MetricName>" in body, body)
    status, body = post({"Action": "DescribeAlarms", "Version": "2010-08-01", "StateValue": "BOGUS"})
    check(status == 400 and "<Code>" in body, body)
    status, body = post({"Action": "GetDashboard", "Version": "2010-08-01", "DashboardName": "none"})
    check(status == 404 and "<Code>ResourceNotFound</Code>" in body, body)


def client(name):
    return boto3.client(name, **KW)


def alarm_queue():
    """The SQS queue subscribed to the alarm topic (created once)."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    url = sqs.create_queue(QueueName="alarm-notes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, url


def wait_note(url, state):
    """The alarm notification with NewStateValue `state` that reached the queue."""
    sqs = client("sqs")
    deadline = time.time() + 30
    while time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            note = json.loads(json.loads(m["Body"])["Message"])
            if note["NewStateValue"] == state:
                return note
    check(False, f"no {state} notification reached the queue")


def cmd_alarm_prepare():
    c = cloudwatch()
    topic, url = alarm_queue()
    c.put_metric_alarm(AlarmName="high-cpu", Namespace="E2E/Alarm", MetricName="CPU", Statistic="Maximum",
                       Period=10, EvaluationPeriods=1, Threshold=80, ComparisonOperator="GreaterThanThreshold",
                       TreatMissingData="ignore", AlarmActions=[topic], OKActions=[topic])
    deadline = time.time() + 60
    while time.time() < deadline:
        c.put_metric_data(Namespace="E2E/Alarm", MetricData=[{"MetricName": "CPU", "Value": 95.0}])
        a = c.describe_alarms(AlarmNames=["high-cpu"])["MetricAlarms"][0]
        if a["StateValue"] == "ALARM":
            break
        time.sleep(1)
    check(a["StateValue"] == "ALARM", a)
    check("Threshold Crossed" in a["StateReason"], a["StateReason"])
    note = wait_note(url, "ALARM")
    check(note["AlarmName"] == "high-cpu" and note["Trigger"]["MetricName"] == "CPU", note)
    deadline = time.time() + 20
    while time.time() < deadline:
        h = c.describe_alarm_history(AlarmName="high-cpu", HistoryItemType="Action")["AlarmHistoryItems"]
        if h:
            break
        time.sleep(0.5)
    check(h and "Successfully executed action " + topic in h[0]["HistorySummary"], h)
    # New records of both services, checked after the restart.
    lg = logs()
    lg.put_destination(destinationName="restart-dest", targetArn="arn:aws:kinesis:us-east-1:000000000000:stream/x",
                       roleArn="arn:aws:iam::000000000000:role/r")
    lg.put_query_definition(name="restart-q", queryString="fields @message")
    c.put_metric_stream(Name="restart-stream", FirehoseArn="arn:aws:firehose:us-east-1:000000000000:deliverystream/f",
                        RoleArn="arn:aws:iam::000000000000:role/r", OutputFormat="json")
    c.stop_metric_streams(Names=["restart-stream"])
    c.put_anomaly_detector(SingleMetricAnomalyDetector={"Namespace": "E2E/Alarm", "MetricName": "CPU", "Stat": "Average"})
    # A scheduled query (every minute, into S3) and a metric stream (through Firehose into S3),
    # whose runs and deliveries happen around the restart.
    s3, fh = client("s3"), client("firehose")
    s3.create_bucket(Bucket="sched-results")
    s3.create_bucket(Bucket="stream-out")
    lg.create_log_group(logGroupName="/sched")
    lg.create_log_stream(logGroupName="/sched", logStreamName="s")
    lg.put_log_events(logGroupName="/sched", logStreamName="s", logEvents=[
        {"timestamp": now_ms() - 1000 + i, "message": m} for i, m in enumerate(["ERROR a", "INFO b", "ERROR c"])])
    lg.create_scheduled_query(name="errors", queryLanguage="CWLI", scheduleExpression="rate(1 minute)",
                              queryString="filter @message like /ERROR/ | stats count(*) as n",
                              executionRoleArn="arn:aws:iam::000000000000:role/r", logGroupIdentifiers=["/sched"],
                              startTimeOffset=3600, destinationConfiguration={"s3Configuration": {
                                  "destinationIdentifier": "s3://sched-results/runs",
                                  "roleArn": "arn:aws:iam::000000000000:role/r"}})
    fh_arn = fh.create_delivery_stream(DeliveryStreamName="metric-fh", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::stream-out",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}})["DeliveryStreamARN"]
    c.put_metric_stream(Name="obs-stream", FirehoseArn=fh_arn, RoleArn="arn:aws:iam::000000000000:role/r",
                        OutputFormat="json", IncludeFilters=[{"Namespace": "E2E/Stream"}])
    # A datum in the minute after the stream's creation (the first it streams).
    minute = (int(time.time()) // 60 + 1) * 60
    c.put_metric_data(Namespace="E2E/Stream", MetricData=[
        {"MetricName": "Hits", "Value": v, "Unit": "Count", "Timestamp": minute + 5} for v in (3.0, 4.0)])


def wait_for(what, fn, seconds=150):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(1)
    check(False, f"timed out waiting for {what}")


def s3_objects(bucket):
    s3 = client("s3")
    return [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def cmd_alarm_check():
    c = cloudwatch()
    _, url = alarm_queue()
    a = c.describe_alarms(AlarmNames=["high-cpu"])["MetricAlarms"][0]
    check(a["StateValue"] == "ALARM", a)
    kinds = {h["HistoryItemType"] for h in c.describe_alarm_history(AlarmName="high-cpu")["AlarmHistoryItems"]}
    check({"ConfigurationUpdate", "StateUpdate", "Action"} <= kinds, kinds)
    deadline = time.time() + 60
    while time.time() < deadline:
        c.put_metric_data(Namespace="E2E/Alarm", MetricData=[{"MetricName": "CPU", "Value": 5.0}])
        a = c.describe_alarms(AlarmNames=["high-cpu"])["MetricAlarms"][0]
        if a["StateValue"] == "OK":
            break
        time.sleep(1)
    check(a["StateValue"] == "OK", a)
    check(wait_note(url, "OK")["OldStateValue"] == "ALARM", "ok note")
    lg = logs()
    check([d["destinationName"] for d in lg.describe_destinations()["destinations"]] == ["restart-dest"], "dest")
    check([q["name"] for q in lg.describe_query_definitions()["queryDefinitions"]] == ["restart-q"], "qdef")
    check(c.get_metric_stream(Name="restart-stream")["State"] == "stopped", "stream")
    check(len(c.describe_anomaly_detectors(Namespace="E2E/Alarm")["AnomalyDetectors"]) == 1, "detector")
    # The scheduled query ran (on its absolute schedule, across the restart) into S3.
    runs = wait_for("a scheduled query run", lambda: [
        r for r in lg.get_scheduled_query_history(identifier="errors", startTime=0,
                                                  endTime=now_ms() + 60_000)["triggerHistory"]
        if r["executionStatus"] == "Complete"])
    check(runs[0]["destinations"][0]["status"] == "COMPLETE", runs)
    check(lg.get_scheduled_query(identifier="errors")["lastExecutionStatus"] == "Complete", "last status")
    bodies = s3_objects("sched-results")
    check(bodies and json.loads(bodies[0].decode().splitlines()[0]) == {"n": "2"}, bodies)
    # The metric stream's minute went through Firehose into S3, in AWS's JSON format.
    def streamed():
        lines = [json.loads(x) for b in s3_objects("stream-out") for x in b.decode().splitlines() if x.strip()]
        return [x for x in lines if x.get("metric_stream_name") == "obs-stream"]
    recs = wait_for("the metric stream's records", streamed)
    check(recs[0]["namespace"] == "E2E/Stream" and recs[0]["metric_name"] == "Hits", recs)
    check(recs[0]["value"] == {"max": 4.0, "min": 3.0, "sum": 7.0, "count": 2.0} and recs[0]["unit"] == "Count", recs)


def cmd_logs_more():
    c = logs()
    acct, region = "000000000000", "us-east-1"
    garn = lambda g: f"arn:aws:logs:{region}:{acct}:log-group:{g}"
    c.create_log_group(logGroupName="/more")
    c.create_log_stream(logGroupName="/more", logStreamName="s")
    t = now_ms()
    c.put_log_events(logGroupName="/more", logStreamName="s", logEvents=[
        {"timestamp": t - 2000, "message": json.dumps({"user": "ann", "ms": 12})},
        {"timestamp": t - 1000, "message": "plain text"}])
    # Destinations and their policies.
    d = c.put_destination(destinationName="d1", targetArn="arn:aws:kinesis:us-east-1:000000000000:stream/s",
                          roleArn="arn:aws:iam::000000000000:role/r")["destination"]
    check(d["arn"] == f"arn:aws:logs:{region}:{acct}:destination:d1", d)
    c.put_destination_policy(destinationName="d1", accessPolicy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    check("accessPolicy" in c.describe_destinations(DestinationNamePrefix="d")["destinations"][0], "policy")
    c.delete_destination(destinationName="d1")
    expect_error("ResourceNotFoundException", c.delete_destination, destinationName="d1")
    # Resource, account, data protection and index policies; field indexes.
    r = c.put_resource_policy(policyName="p1", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    check(r["resourcePolicy"]["policyScope"] == "ACCOUNT" and r["revisionId"], r)
    expect_error("InvalidParameterException", c.put_resource_policy, policyName="p2", policyDocument="nope")
    check([p["policyName"] for p in c.describe_resource_policies()["resourcePolicies"]] == ["p1"], "policies")
    c.delete_resource_policy(policyName="p1")
    c.put_account_policy(policyName="ix", policyType="FIELD_INDEX_POLICY", policyDocument=json.dumps({"Fields": ["user"]}))
    check(c.describe_account_policies(policyType="FIELD_INDEX_POLICY")["accountPolicies"][0]["policyName"] == "ix", "acct")
    c.delete_account_policy(policyName="ix", policyType="FIELD_INDEX_POLICY")
    dp = json.dumps({"Name": "dp", "Version": "2021-06-01", "Statement": []})
    c.put_data_protection_policy(logGroupIdentifier="/more", policyDocument=dp)
    check(c.get_data_protection_policy(logGroupIdentifier="/more")["policyDocument"] == dp, "dp")
    c.delete_data_protection_policy(logGroupIdentifier="/more")
    c.put_index_policy(logGroupIdentifier="/more", policyDocument=json.dumps({"Fields": ["user", "ms"]}))
    check(c.describe_index_policies(logGroupIdentifiers=["/more"])["indexPolicies"][0]["source"] == "LOG_GROUP", "ix")
    fi = c.describe_field_indexes(logGroupIdentifiers=["/more"])["fieldIndexes"]
    check(sorted(f["fieldIndexName"] for f in fi) == ["ms", "user"], fi)
    c.delete_index_policy(logGroupIdentifier="/more")
    # Deletion protection and bearer tokens.
    c.put_log_group_deletion_protection(logGroupIdentifier="/more", deletionProtectionEnabled=True)
    expect_error("OperationAbortedException", c.delete_log_group, logGroupName="/more")
    c.put_log_group_deletion_protection(logGroupIdentifier="/more", deletionProtectionEnabled=False)
    c.put_bearer_token_authentication(logGroupIdentifier="/more", bearerTokenAuthenticationEnabled=True)
    # Deliveries.
    c.put_delivery_source(name="src", resourceArn="arn:aws:bedrock:us-east-1:000000000000:knowledge-base/kb",
                          logType="APPLICATION_LOGS")
    dd = c.put_delivery_destination(name="dst", deliveryDestinationConfiguration={
        "destinationResourceArn": garn("/more")})["deliveryDestination"]
    check(dd["deliveryDestinationType"] == "CWL", dd)
    c.put_delivery_destination_policy(deliveryDestinationName="dst", deliveryDestinationPolicy="{}")
    check(c.get_delivery_destination_policy(deliveryDestinationName="dst")["policy"]["deliveryDestinationPolicy"] == "{}", "ddp")
    dl = c.create_delivery(deliverySourceName="src", deliveryDestinationArn=dd["arn"])["delivery"]
    expect_error("ConflictException", c.create_delivery, deliverySourceName="src", deliveryDestinationArn=dd["arn"])
    c.update_delivery_configuration(id=dl["id"], recordFields=["event"])
    check(c.get_delivery(id=dl["id"])["delivery"]["recordFields"] == ["event"], "delivery")
    check(len(c.describe_deliveries()["deliveries"]) == 1, "deliveries")
    check(len(c.describe_delivery_sources()["deliverySources"]) == 1, "sources")
    check(len(c.describe_delivery_destinations()["deliveryDestinations"]) == 1, "dests")
    check(c.get_delivery_source(name="src")["deliverySource"]["service"] == "bedrock", "source")
    check(c.get_delivery_destination(name="dst")["deliveryDestination"]["name"] == "dst", "dst")
    c.delete_delivery(id=dl["id"])
    c.delete_delivery_source(name="src")
    c.delete_delivery_destination_policy(deliveryDestinationName="dst")
    c.delete_delivery_destination(name="dst")
    check(c.describe_configuration_templates(service="cloudfront")["configurationTemplates"], "templates")
    # Query definitions.
    qid = c.put_query_definition(name="errs", queryString="fields @message | filter @message like /ERROR/")["queryDefinitionId"]
    check(c.describe_query_definitions(queryDefinitionNamePrefix="er")["queryDefinitions"][0]["queryDefinitionId"] == qid, "qd")
    check(c.delete_query_definition(queryDefinitionId=qid)["success"] is True, "qd del")
    # Transformers.
    cfg = [{"parseJSON": {}}, {"addKeys": {"entries": [{"key": "env", "value": "prod"}]}},
           {"renameKeys": {"entries": [{"key": "user", "renameTo": "who"}]}},
           {"upperCaseString": {"withKeys": ["who"]}}]
    c.put_transformer(logGroupIdentifier="/more", transformerConfig=cfg)
    check(c.get_transformer(logGroupIdentifier="/more")["transformerConfig"] == cfg, "tf")
    out = c.test_transformer(transformerConfig=cfg, logEventMessages=['{"user": "ann"}'])["transformedLogs"][0]
    check(json.loads(out["transformedEventMessage"]) == {"who": "ANN", "env": "prod"}, out)
    grok = c.test_transformer(transformerConfig=[{"grok": {"match": "%{IP:ip} %{WORD:verb}"}}],
                              logEventMessages=["10.0.0.1 GET"])["transformedLogs"][0]
    check(json.loads(grok["transformedEventMessage"]) == {"ip": "10.0.0.1", "verb": "GET"}, grok)
    expect_error("InvalidParameterException", c.put_transformer, logGroupIdentifier="/more",
                 transformerConfig=[{"addKeys": {"entries": [{"key": "a", "value": "b"}]}}])
    c.delete_transformer(logGroupIdentifier="/more")
    # Anomaly detectors.
    det = c.create_log_anomaly_detector(logGroupArnList=[garn("/more")], detectorName="det")["anomalyDetectorArn"]
    check(c.get_log_anomaly_detector(anomalyDetectorArn=det)["detectorName"] == "det", "det")
    c.update_log_anomaly_detector(anomalyDetectorArn=det, enabled=False)
    check(c.list_log_anomaly_detectors()["anomalyDetectors"][0]["anomalyDetectorStatus"] == "PAUSED", "paused")
    check(c.list_anomalies(anomalyDetectorArn=det)["anomalies"] == [], "anomalies")
    c.delete_log_anomaly_detector(anomalyDetectorArn=det)
    # Lookup tables.
    lt = c.create_lookup_table(lookupTableName="hosts", tableBody="host,team\na,x\nb,y\n")["lookupTableArn"]
    check(c.describe_lookup_tables()["lookupTables"][0]["recordsCount"] == 2, "lt")
    c.update_lookup_table(lookupTableArn=lt, tableBody="host\na\n")
    check(c.get_lookup_table(lookupTableArn=lt)["tableBody"] == "host\na\n", "lt body")
    c.delete_lookup_table(lookupTableArn=lt)
    # Scheduled queries.
    sq = c.create_scheduled_query(name="nightly", queryLanguage="CWLI", queryString="fields @message",
                                  scheduleExpression="rate(1 day)", executionRoleArn="arn:aws:iam::000000000000:role/r",
                                  logGroupIdentifiers=["/more"])["scheduledQueryArn"]
    expect_error("ConflictException", c.create_scheduled_query, name="nightly", queryLanguage="CWLI",
                 queryString="x", scheduleExpression="rate(1 day)", executionRoleArn="r")
    c.update_scheduled_query(identifier=sq, queryLanguage="CWLI", queryString="fields @timestamp",
                             scheduleExpression="rate(2 days)", executionRoleArn="arn:aws:iam::000000000000:role/r")
    check(c.get_scheduled_query(identifier="nightly")["scheduleExpression"] == "rate(2 days)", "sq")
    check(len(c.list_scheduled_queries()["scheduledQueries"]) == 1, "sqs")
    check(c.get_scheduled_query_history(identifier=sq, startTime=0, endTime=t)["triggerHistory"] == [], "hist")
    c.delete_scheduled_query(identifier=sq)
    # Integrations and S3 Tables sources.
    c.put_integration(integrationName="os", integrationType="OPENSEARCH", resourceConfig={"openSearchResourceConfig": {
        "dataSourceRoleArn": "arn:aws:iam::000000000000:role/r", "dashboardViewerPrincipals": [], "retentionDays": 7}})
    check(c.get_integration(integrationName="os")["integrationStatus"] == "ACTIVE", "int")
    check(len(c.list_integrations()["integrationSummaries"]) == 1, "ints")
    c.delete_integration(integrationName="os")
    integ = "arn:aws:s3tables:us-east-1:000000000000:bucket/b"
    sid = c.associate_source_to_s3_table_integration(integrationArn=integ, dataSource={"name": "amazon_vpc", "type": "flow"})["identifier"]
    check(c.list_sources_for_s3_table_integration(integrationArn=integ)["sources"][0]["identifier"] == sid, "s3t")
    c.disassociate_source_from_s3_table_integration(identifier=sid)
    # Import tasks.
    imp = c.create_import_task(importSourceArn="arn:aws:cloudtrail:us-east-1:000000000000:eventdatastore/abc",
                               importRoleArn="arn:aws:iam::000000000000:role/r")
    check(c.describe_import_tasks(importId=imp["importId"])["imports"][0]["importStatus"] == "COMPLETED", "import")
    check(c.describe_import_task_batches(importId=imp["importId"])["importBatches"] == [], "batches")
    # Discovery.
    check([g["logGroupName"] for g in c.list_log_groups(logGroupNamePattern="more")["logGroups"]] == ["/more"], "lg")
    fields = {f["name"]: f["percent"] for f in c.get_log_group_fields(logGroupName="/more")["logGroupFields"]}
    check(fields.get("user") == 50 and fields.get("@message") == 100, fields)
    q = c.start_query(logGroupName="/more", startTime=t // 1000 - 60, endTime=t // 1000 + 1,
                      queryString="fields @message, @ptr")["queryId"]
    res = c.get_query_results(queryId=q)["results"]
    ptr = next(f["value"] for f in res[0] if f["field"] == "@ptr")
    check(c.get_log_record(logRecordPointer=ptr)["logRecord"]["@logStream"] == "s", "record")
    check(c.list_log_groups_for_query(queryId=q)["logGroupIdentifiers"] == [garn("/more")], "for query")
    check(c.list_aggregate_log_group_summaries(groupBy="DATA_SOURCE_NAME_AND_TYPE")["aggregateLogGroupSummaries"], "agg")


def cmd_export():
    c, s3 = logs(), client("s3")
    s3.create_bucket(Bucket="log-exports")
    c.create_log_group(logGroupName="/exp")
    t = now_ms()
    for stream in ("a", "b"):
        c.create_log_stream(logGroupName="/exp", logStreamName=stream)
        c.put_log_events(logGroupName="/exp", logStreamName=stream, logEvents=[
            {"timestamp": t - 1000 + i, "message": f"{stream}-{i}"} for i in range(3)])
    expect_error("InvalidParameterException", c.create_export_task, logGroupName="/exp", **{"from": 0}, to=t,
                 destination="no-such-bucket")
    task = c.create_export_task(logGroupName="/exp", **{"from": t - 10_000}, to=t + 1, destination="log-exports",
                                destinationPrefix="out")["taskId"]
    deadline = time.time() + 20
    while time.time() < deadline:
        st = c.describe_export_tasks(taskId=task)["exportTasks"][0]["status"]["code"]
        if st in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.2)
    check(st == "COMPLETED", st)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="log-exports", Prefix=f"out/{task}/")["Contents"])
    check(keys == [f"out/{task}/a/000000.gz", f"out/{task}/b/000000.gz"], keys)
    body = gzip.decompress(s3.get_object(Bucket="log-exports", Key=keys[0])["Body"].read()).decode()
    lines = body.splitlines()
    check([l.split(" ", 1)[1] for l in lines] == ["a-0", "a-1", "a-2"], lines)
    check(lines[0][:4].isdigit() and lines[0][10] == "T", lines[0])
    expect_error("InvalidOperationException", c.cancel_export_task, taskId=task)


def cmd_subscribe():
    c, k = logs(), client("kinesis")
    k.create_stream(StreamName="log-sub", ShardCount=1)
    deadline = time.time() + 10
    while k.describe_stream_summary(StreamName="log-sub")["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        check(time.time() < deadline, "stream never ACTIVE")
        time.sleep(0.2)
    c.create_log_group(logGroupName="/sub")
    c.create_log_stream(logGroupName="/sub", logStreamName="s")
    c.put_subscription_filter(logGroupName="/sub", filterName="errors", filterPattern="ERROR",
                              destinationArn="arn:aws:kinesis:us-east-1:000000000000:stream/log-sub",
                              roleArn="arn:aws:iam::000000000000:role/r")
    t = now_ms()
    c.put_log_events(logGroupName="/sub", logStreamName="s", logEvents=[
        {"timestamp": t, "message": "ERROR one"}, {"timestamp": t + 1, "message": "fine"},
        {"timestamp": t + 2, "message": "ERROR two"}])
    shard = k.list_shards(StreamName="log-sub")["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName="log-sub", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = []
    deadline = time.time() + 20
    while not records and time.time() < deadline:
        r = k.get_records(ShardIterator=it)
        records, it = r["Records"], r["NextShardIterator"]
        time.sleep(0.2)
    check(len(records) == 1, records)
    payload = json.loads(gzip.decompress(records[0]["Data"]))
    check(payload["messageType"] == "DATA_MESSAGE" and payload["logGroup"] == "/sub"
          and payload["logStream"] == "s" and payload["subscriptionFilters"] == ["errors"]
          and payload["owner"] == "000000000000", payload)
    check([e["message"] for e in payload["logEvents"]] == ["ERROR one", "ERROR two"], payload["logEvents"])


def cmd_livetail():
    # StartLiveTail's endpoint has the host prefix `stream-`, which an IP endpoint cannot take.
    c = boto3.client("logs", **{**KW, "config": CFG.merge(Config(inject_host_prefix=False))})
    c.create_log_group(logGroupName="/tail")
    c.create_log_stream(logGroupName="/tail", logStreamName="s")
    c.put_log_events(logGroupName="/tail", logStreamName="s",
                     logEvents=[{"timestamp": now_ms(), "message": "ERROR before the session"}])
    garn = "arn:aws:logs:us-east-1:000000000000:log-group:/tail"
    expect_error("ResourceNotFoundException", lambda: c.start_live_tail(
        logGroupIdentifiers=["arn:aws:logs:us-east-1:000000000000:log-group:/none"]))
    resp = c.start_live_tail(logGroupIdentifiers=[garn], logEventFilterPattern="ERROR")
    seen, started = [], False
    deadline = time.time() + 20
    for ev in resp["responseStream"]:
        if "sessionStart" in ev:
            started = True
            check(ev["sessionStart"]["logGroupIdentifiers"] == [garn], ev)
            c.put_log_events(logGroupName="/tail", logStreamName="s", logEvents=[
                {"timestamp": now_ms(), "message": "ERROR live"}, {"timestamp": now_ms(), "message": "fine"}])
        if "sessionUpdate" in ev:
            seen += [r["message"] for r in ev["sessionUpdate"]["sessionResults"]]
            if seen or time.time() > deadline:
                break
    resp["responseStream"].close()
    check(started and seen == ["ERROR live"], seen)


def cmd_cw_more():
    c = cloudwatch()
    fh = "arn:aws:firehose:us-east-1:000000000000:deliverystream/f"
    arn = c.put_metric_stream(Name="ms", FirehoseArn=fh, RoleArn="arn:aws:iam::000000000000:role/r",
                              OutputFormat="json", IncludeFilters=[{"Namespace": "AWS/EC2"}])["Arn"]
    check(c.get_metric_stream(Name="ms")["State"] == "running", "running")
    c.stop_metric_streams(Names=["ms"])
    check(c.list_metric_streams()["Entries"][0]["State"] == "stopped", "stopped")
    c.start_metric_streams(Names=["ms"])
    c.tag_resource(ResourceARN=arn, Tags=[{"Key": "k", "Value": "v"}])
    check(c.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "k", "Value": "v"}], "tags")
    c.delete_metric_stream(Name="ms")
    expect_error("ResourceNotFoundException", c.get_metric_stream, Name="ms")
    c.put_anomaly_detector(SingleMetricAnomalyDetector={"Namespace": "More", "MetricName": "m", "Stat": "Average"})
    check(c.describe_anomaly_detectors(Namespace="More")["AnomalyDetectors"][0]["StateValue"] == "PENDING_TRAINING", "ad")
    c.delete_anomaly_detector(SingleMetricAnomalyDetector={"Namespace": "More", "MetricName": "m", "Stat": "Average"})
    expect_error("ResourceNotFoundException", c.delete_anomaly_detector,
                 SingleMetricAnomalyDetector={"Namespace": "More", "MetricName": "m", "Stat": "Average"})
    rule = json.dumps({"Schema": {"Name": "CloudWatchLogRule", "Version": 1}, "LogGroupNames": ["/g"],
                       "LogFormat": "JSON", "Contribution": {"Keys": ["$.ip"], "Filters": []}, "AggregateOn": "Count"})
    c.put_insight_rule(RuleName="r", RuleDefinition=rule)
    c.disable_insight_rules(RuleNames=["r"])
    check(c.describe_insight_rules()["InsightRules"][0]["State"] == "DISABLED", "rule")
    c.enable_insight_rules(RuleNames=["r"])
    rep = c.get_insight_rule_report(RuleName="r", StartTime=time.time() - 600, EndTime=time.time(), Period=60)
    check(rep["KeyLabels"] == ["$.ip"], rep)
    check(len(c.delete_insight_rules(RuleNames=["r", "missing"])["Failures"]) == 1, "failures")
    table = "arn:aws:dynamodb:us-east-1:000000000000:table/t"
    c.put_managed_insight_rules(ManagedRules=[{"ResourceARN": table, "TemplateName": "DynamoDBContributorInsights"}])
    check(c.list_managed_insight_rules(ResourceARN=table)["ManagedRules"][0]["RuleState"]["State"] == "ENABLED", "managed")
    c.put_alarm_mute_rule(Name="quiet", Rule={"Schedule": {"Expression": "cron(0 2 * * ? *)", "Duration": "PT2H"}},
                          MuteTargets={"AlarmNames": ["x"]})
    check(c.get_alarm_mute_rule(AlarmMuteRuleName="quiet")["Status"] == "ACTIVE", "mute")
    check(len(c.list_alarm_mute_rules(AlarmName="x")["AlarmMuteRuleSummaries"]) == 1, "mutes")
    c.delete_alarm_mute_rule(AlarmMuteRuleName="quiet")
    c.start_otel_enrichment()
    check(c.get_otel_enrichment()["Status"] == "Running", "otel")
    c.stop_otel_enrichment()
    c.put_metric_alarm(AlarmName="contrib", Namespace="More", MetricName="m", Statistic="Sum", Period=60,
                       EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    check(c.describe_alarm_contributors(AlarmName="contrib")["AlarmContributors"] == [], "contributors")
    expect_error("ResourceNotFoundException", c.describe_alarm_contributors, AlarmName="none")
    c.delete_alarms(AlarmNames=["contrib"])
    c.put_metric_data(Namespace="More", MetricData=[{"MetricName": "w", "Value": float(i),
                                                     "Timestamp": time.time() - 600 + i * 60} for i in range(10)])
    img = c.get_metric_widget_image(MetricWidget=json.dumps({
        "metrics": [["More", "w"]], "start": "-PT1H", "end": "P0D", "period": 60, "width": 300, "height": 200}))
    png = img["MetricWidgetImage"]
    check(png[:8] == b"\x89PNG\r\n\x1a\n", png[:16])
    check(int.from_bytes(png[16:20], "big") == 300 and int.from_bytes(png[20:24], "big") == 200, "size")


def cmd_obs():
    c, lg, sns = cloudwatch(), logs(), client("sns")
    # A mute rule in its window: the state changes, the action does not run.
    topic = sns.create_topic(Name="muted-alarms")["TopicArn"]
    c.put_metric_alarm(AlarmName="muted", Namespace="Obs", MetricName="m", Statistic="Sum", Period=60,
                       EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                       AlarmActions=[topic])
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 60))
    c.put_alarm_mute_rule(Name="maintenance", Rule={"Schedule": {"Expression": f"at({start})", "Duration": "PT1H"}},
                          MuteTargets={"AlarmNames": ["muted"]})
    c.set_alarm_state(AlarmName="muted", StateValue="ALARM", StateReason="test")
    h = c.describe_alarm_history(AlarmName="muted", HistoryItemType="Action")["AlarmHistoryItems"]
    check(len(h) == 1 and "muted by alarm mute rule maintenance" in h[0]["HistorySummary"], h)
    time.sleep(2)
    h = c.describe_alarm_history(AlarmName="muted", HistoryItemType="Action")["AlarmHistoryItems"]
    check(len(h) == 1, h)
    c.delete_alarm_mute_rule(AlarmMuteRuleName="maintenance")
    c.set_alarm_state(AlarmName="muted", StateValue="OK", StateReason="test")
    c.set_alarm_state(AlarmName="muted", StateValue="ALARM", StateReason="test")
    h = wait_for("the unmuted action", lambda: [x for x in c.describe_alarm_history(
        AlarmName="muted", HistoryItemType="Action")["AlarmHistoryItems"] if "executed action" in x["HistorySummary"]], 30)
    check(topic in h[0]["HistorySummary"], h)
    # An anomaly detector trains on the data; the band is mean ± k·stddev of its training window.
    t0 = (int(time.time()) // 300) * 300 - 3600
    c.put_metric_data(Namespace="Obs", MetricData=[
        {"MetricName": "lat", "Value": 10.0 if i % 2 == 0 else 20.0, "Timestamp": t0 + i * 300} for i in range(12)])
    det = {"Namespace": "Obs", "MetricName": "lat", "Stat": "Average"}
    c.put_anomaly_detector(SingleMetricAnomalyDetector=det)
    check(c.describe_anomaly_detectors(Namespace="Obs")["AnomalyDetectors"][0]["StateValue"] == "TRAINED", "trained")
    r = c.get_metric_data(StartTime=t0, EndTime=t0 + 3600, MetricDataQueries=[
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "Obs", "MetricName": "lat"}, "Period": 300, "Stat": "Average"}},
        {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "lat"}])["MetricDataResults"]
    bands = {x["Label"]: x["Values"] for x in r if x["Id"] == "band"}
    check(bands["lat Lower"][0] == 5.0 and bands["lat Upper"][0] == 25.0, bands)
    # Insights stats by bin().
    lg.create_log_group(logGroupName="/obs")
    lg.create_log_stream(logGroupName="/obs", logStreamName="s")
    base = (now_ms() // 60_000 - 5) * 60_000
    lg.put_log_events(logGroupName="/obs", logStreamName="s", logEvents=[
        {"timestamp": base + i * 20_000, "message": f"GET /x {i}"} for i in range(9)])
    q = lg.start_query(logGroupName="/obs", startTime=base // 1000, endTime=base // 1000 + 600,
                       queryString="stats count(*) as c by bin(1m)")["queryId"]
    res = lg.get_query_results(queryId=q)
    counts = sorted(int(f["value"]) for row in res["results"] for f in row if f["field"] == "c")
    check(counts == [3, 3, 3], res)
    # A log anomaly detector: created INITIALIZING, evaluated on its period (unit-tested), no
    # anomalies yet; UpdateAnomaly of an unknown anomaly is refused.
    garn = f"arn:aws:logs:us-east-1:000000000000:log-group:/obs"
    darn = lg.create_log_anomaly_detector(logGroupArnList=[garn], evaluationFrequency="ONE_MIN")["anomalyDetectorArn"]
    check(lg.get_log_anomaly_detector(anomalyDetectorArn=darn)["anomalyDetectorStatus"] == "INITIALIZING", "init")
    check(lg.list_anomalies(anomalyDetectorArn=darn)["anomalies"] == [], "anomalies")
    expect_error("ResourceNotFoundException", lg.update_anomaly, anomalyDetectorArn=darn, anomalyId="0" * 36,
                 suppressionType="INFINITE")


def metric_sum(c, ns, name, dims, stat="Sum", since=None):
    """The statistic summed over every 60 s datapoint of the last hour (the Maximum for
    "Maximum"), or None with no datapoints."""
    now = time.time()
    pts = c.get_metric_statistics(Namespace=ns, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims],
                                  StartTime=since or now - 3600, EndTime=now + 600, Period=60,
                                  Statistics=[stat])["Datapoints"]
    if not pts:
        return None
    if stat == "Maximum":
        return max(p[stat] for p in pts)
    if stat == "Minimum":
        return min(p[stat] for p in pts)
    return sum(p[stat] for p in pts)


def wait_metrics(c, ns, want, seconds=30, since=None):
    """Poll until every (name, dims, stat) has exactly its value (over the datapoints from
    `since`, default the last hour); bounded."""
    deadline = time.time() + seconds
    while True:
        got = {k: metric_sum(c, ns, k[0], k[1], k[2], since) for k in want}
        if got == want:
            return
        if time.time() > deadline:
            check(False, f"{ns}: wanted {want}, got {got}")
        time.sleep(0.5)


def cmd_aws_metrics():
    c, sqs, ddb = cloudwatch(), client("sqs"), client("dynamodb")
    # SQS: 5 sends (a batch of 3, two single), received until all 5 came (empty receives
    # counted as they happen), deleted (one batch of the first, singly the rest).
    url = sqs.create_queue(QueueName="metrics-q")["QueueUrl"]
    bodies = ["a" * 10, "b" * 20, "c" * 30, "d" * 40, "e" * 50]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[:3])])
    for b in bodies[3:]:
        sqs.send_message(QueueUrl=url, MessageBody=b)
    got, empty = [], 0
    deadline = time.time() + 20
    while len(got) < 5 and time.time() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            empty += 1
        got += msgs
    check(len(got) == 5, got)
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": got[0]["ReceiptHandle"]}])
    for m in got[1:]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check(not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages"), "drained")
    empty += 1
    q = [("QueueName", "metrics-q")]
    wait_metrics(c, "AWS/SQS", {
        ("NumberOfMessagesSent", tuple(q), "Sum"): 5.0,
        ("NumberOfMessagesReceived", tuple(q), "Sum"): 5.0,
        ("NumberOfMessagesDeleted", tuple(q), "Sum"): 5.0,
        ("NumberOfEmptyReceives", tuple(q), "Sum"): float(empty),
        ("SentMessageSize", tuple(q), "SampleCount"): 5.0,
        ("SentMessageSize", tuple(q), "Sum"): 150.0,
    })
    # The visible-messages gauge: two messages left in the queue.
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.send_message(QueueUrl=url, MessageBody="y")
    since = time.time()
    # (a report made before the two sends may share the period: only the maximum is certain)
    wait_metrics(c, "AWS/SQS", {("ApproximateNumberOfMessagesVisible", tuple(q), "Maximum"): 2.0}, since=since)
    check(any(m["MetricName"] == "ApproximateAgeOfOldestMessage"
              for m in c.list_metrics(Namespace="AWS/SQS", Dimensions=[{"Name": "QueueName", "Value": "metrics-q"}])["Metrics"]),
          "age metric listed")
    # Clients may not write into AWS/ namespaces.
    expect_error("InvalidParameterValue", c.put_metric_data, Namespace="AWS/SQS",
                 MetricData=[{"MetricName": "NumberOfMessagesSent", "Value": 1}])
    # DynamoDB: 3 small puts (1 WCU each), 4 eventually consistent gets (0.5 RCU each), one
    # Query of the 3 items (under 4 KB: 0.5 RCU).
    ddb.create_table(TableName="metrics-t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    for i in range(3):
        ddb.put_item(TableName="metrics-t", Item={"pk": {"S": "p"}, "sk": {"S": str(i)}})
    for i in range(4):
        ddb.get_item(TableName="metrics-t", Key={"pk": {"S": "p"}, "sk": {"S": str(i % 3)}})
    r = ddb.query(TableName="metrics-t", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "p"}})
    check(r["Count"] == 3, r)
    t = ("TableName", "metrics-t")
    wait_metrics(c, "AWS/DynamoDB", {
        ("ConsumedWriteCapacityUnits", (t,), "Sum"): 3.0,
        ("ConsumedReadCapacityUnits", (t,), "Sum"): 2.5,
        ("ReturnedItemCount", (("Operation", "Query"), t), "Sum"): 3.0,
        ("SuccessfulRequestLatency", (("Operation", "GetItem"), t), "SampleCount"): 4.0,
        ("SuccessfulRequestLatency", (("Operation", "PutItem"), t), "SampleCount"): 3.0,
    })
    # An alarm on an anomaly detection band (10 s periods): half an hour of 10 / 20 trains the
    # band, then a 100 in the current period takes the alarm out of it, to ALARM.
    now = time.time()
    c.put_metric_data(Namespace="Obs/Band", MetricData=[
        {"MetricName": "lat", "Value": 10.0 if i % 2 == 0 else 20.0, "Timestamp": now - 1800 + i * 10}
        for i in range(175)])
    metrics = [
        {"Id": "m1", "ReturnData": True, "MetricStat": {"Metric": {"Namespace": "Obs/Band", "MetricName": "lat"},
                                                       "Period": 10, "Stat": "Average"}},
        {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "lat (expected)", "ReturnData": True}]
    c.put_metric_alarm(AlarmName="band", ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
                       EvaluationPeriods=1, ThresholdMetricId="ad1", Metrics=metrics)
    a = c.describe_alarms(AlarmNames=["band"])["MetricAlarms"][0]
    check(a["ThresholdMetricId"] == "ad1" and a["ComparisonOperator"] == "LessThanLowerOrGreaterThanUpperThreshold", a)
    c.put_metric_data(Namespace="Obs/Band", MetricData=[{"MetricName": "lat", "Value": 100.0}])
    a = wait_for("the band alarm", lambda: [x for x in c.describe_alarms(AlarmNames=["band"])["MetricAlarms"]
                                            if x["StateValue"] == "ALARM"], 60)[0]
    check(a["StateReason"].startswith("Thresholds Crossed: 1 out of the last 1 datapoints [100"), a["StateReason"])
    expect_error("InvalidParameterValue", c.put_metric_alarm, AlarmName="bad", ComparisonOperator="GreaterThanThreshold",
                 EvaluationPeriods=1, ThresholdMetricId="ad1", Metrics=metrics)
    c.delete_alarms(AlarmNames=["band"])


COMMANDS = {
    "logs": (cmd_logs, 0),
    "metrics": (cmd_metrics, 1),
    "raw": (cmd_raw, 0),
    "alarm-prepare": (cmd_alarm_prepare, 0),
    "alarm-check": (cmd_alarm_check, 0),
    "logs-more": (cmd_logs_more, 0),
    "export": (cmd_export, 0),
    "subscribe": (cmd_subscribe, 0),
    "livetail": (cmd_livetail, 0),
    "cw-more": (cmd_cw_more, 0),
    "obs": (cmd_obs, 0),
    "aws-metrics": (cmd_aws_metrics, 0),
}


if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])
