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
                        is recorded in its history (failed while SNS is not served)
  alarm-check           after a restart: still in ALARM with its history; evaluation resumes
                        (low values bring it to OK)
"""

import copy
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
    check(c.describe_alarms(StateValue="ALARM", AlarmNamePrefix=name)["MetricAlarms"][0]["StateReason"] == "forced",
          "set")
    h = c.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    check(len(h) == 1 and "to ALARM" in h[0]["HistorySummary"], h)
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


def cmd_alarm_prepare():
    c = cloudwatch()
    c.put_metric_alarm(AlarmName="high-cpu", Namespace="E2E/Alarm", MetricName="CPU", Statistic="Maximum",
                       Period=10, EvaluationPeriods=1, Threshold=80, ComparisonOperator="GreaterThanThreshold",
                       TreatMissingData="ignore",
                       AlarmActions=["arn:aws:sns:us-east-1:000000000000:alarms"])
    deadline = time.time() + 60
    while time.time() < deadline:
        c.put_metric_data(Namespace="E2E/Alarm", MetricData=[{"MetricName": "CPU", "Value": 95.0}])
        a = c.describe_alarms(AlarmNames=["high-cpu"])["MetricAlarms"][0]
        if a["StateValue"] == "ALARM":
            break
        time.sleep(1)
    check(a["StateValue"] == "ALARM", a)
    check("Threshold Crossed" in a["StateReason"], a["StateReason"])
    deadline = time.time() + 20
    while time.time() < deadline:
        h = c.describe_alarm_history(AlarmName="high-cpu", HistoryItemType="Action")["AlarmHistoryItems"]
        if h:
            break
        time.sleep(0.5)
    check(h and "arn:aws:sns:us-east-1:000000000000:alarms" in h[0]["HistorySummary"], h)


def cmd_alarm_check():
    c = cloudwatch()
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


COMMANDS = {
    "logs": (cmd_logs, 0),
    "metrics": (cmd_metrics, 1),
    "raw": (cmd_raw, 0),
    "alarm-prepare": (cmd_alarm_prepare, 0),
    "alarm-check": (cmd_alarm_check, 0),
}


if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])
