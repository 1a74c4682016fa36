// Lambda, CloudWatch Logs and CloudWatch (metrics and alarms) through the JavaScript SDK v3.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import {
  LambdaClient,
  CreateFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  ListFunctionsCommand,
} from "@aws-sdk/client-lambda";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutRetentionPolicyCommand,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  PutLogEventsCommand,
  GetLogEventsCommand,
  FilterLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  CloudWatchClient,
  PutMetricDataCommand,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  ListMetricsCommand,
  PutMetricAlarmCommand,
  DescribeAlarmsCommand,
  SetAlarmStateCommand,
  DescribeAlarmHistoryCommand,
} from "@aws-sdk/client-cloudwatch";
import { SSMClient, GetParameterCommand } from "@aws-sdk/client-ssm";

import { ACCOUNT, clientConfig, expectError, text, utf8, waitFor, zipOf } from "./common.mjs";

const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/lambda-role`;
const PY_FN = "js-e2e-py";
const NODE_FN = "js-e2e-node";
const ASYNC_FN = "js-e2e-async";
const GROUP = "/js/e2e";
const LOG_STREAM = "main";
const NAMESPACE = "JS/E2E";
const ALARM = "js-e2e-latency";

const PY_ECHO = `
def handler(event, context):
    print("python got", event.get("n"))
    if event.get("fail"):
        raise ValueError("boom " + str(event.get("n")))
    return {"echo": event, "fn": context.function_name}
`;
const NODE = `
exports.handler = async (event, context) => {
  console.log("node got", JSON.stringify(event));
  return { doubled: (event.n || 0) * 2, fn: context.functionName };
};
`;
const PY_SSM = `
import boto3
def handler(event, context):
    boto3.client("ssm").put_parameter(Name=event["name"], Value=event["value"], Type="String", Overwrite=True)
    return {"stored": event["name"]}
`;

export function clients(endpoint) {
  const config = clientConfig(endpoint);
  return {
    lambda: new LambdaClient(config),
    logs: new CloudWatchLogsClient(config),
    cw: new CloudWatchClient(config),
    ssm: new SSMClient(config),
  };
}

async function invoke(lambda, name, payload, extra = {}) {
  const r = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: utf8(JSON.stringify(payload)), ...extra }),
  );
  const body = r.Payload && r.Payload.length ? JSON.parse(text(r.Payload)) : null;
  return [r, body];
}

async function create(lambda, name, files, runtime, extra = {}) {
  const zip = zipOf(files);
  const r = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: runtime,
      Role: ROLE_ARN,
      Handler: "index.handler",
      Code: { ZipFile: zip },
      Timeout: 30,
      ...extra,
    }),
  );
  assert.equal(r.CodeSha256, createHash("sha256").update(zip).digest("base64"));
  assert.equal(r.CodeSize, zip.length);
  assert.equal(r.FunctionArn, `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${name}`);
  assert.equal(r.Runtime, runtime);
  await waitFor(`${name} Active`, async () => {
    const g = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    return g.Configuration.State === "Active";
  });
  return r;
}

async function metricSum(cw, start, end) {
  const r = await cw.send(
    new GetMetricDataCommand({
      StartTime: start,
      EndTime: end,
      MetricDataQueries: [
        {
          Id: "sum",
          MetricStat: {
            Metric: {
              Namespace: NAMESPACE,
              MetricName: "Latency",
              Dimensions: [{ Name: "Api", Value: "get" }],
            },
            Period: 60,
            Stat: "Sum",
          },
        },
        { Id: "doubled", Expression: "sum * 2" },
      ],
    }),
  );
  const byId = Object.fromEntries(r.MetricDataResults.map((m) => [m.Id, m]));
  assert.equal(byId.sum.StatusCode, "Complete");
  return [byId.sum.Values.reduce((a, b) => a + b, 0), byId.doubled.Values.reduce((a, b) => a + b, 0)];
}

export async function write({ run, state, endpoint }) {
  const { lambda, logs, cw, ssm } = clients(endpoint);

  // ---- Lambda ----
  await run.step("lambda CreateFunction/Invoke (python, nodejs)", async () => {
    await create(lambda, PY_FN, { "index.py": PY_ECHO }, "python3.12", {
      Environment: { Variables: { SUITE: "js" } },
    });
    const [r, out] = await invoke(lambda, PY_FN, { n: 1 }, { LogType: "Tail" });
    assert.equal(r.StatusCode, 200);
    assert.equal(r.FunctionError, undefined);
    assert.equal(r.ExecutedVersion, "$LATEST");
    assert.deepEqual(out, { echo: { n: 1 }, fn: PY_FN });
    const tail = Buffer.from(r.LogResult, "base64").toString("utf8");
    assert.match(tail, /python got 1/);
    assert.match(tail, /REPORT RequestId:/);
    const [err, errOut] = await invoke(lambda, PY_FN, { n: 2, fail: true });
    assert.equal(err.StatusCode, 200);
    assert.equal(err.FunctionError, "Unhandled");
    assert.equal(errOut.errorType, "ValueError");
    assert.equal(errOut.errorMessage, "boom 2");
    await create(lambda, NODE_FN, { "index.js": NODE }, "nodejs20.x");
    const [nr, nout] = await invoke(lambda, NODE_FN, { n: 21 });
    assert.equal(nr.StatusCode, 200);
    assert.deepEqual(nout, { doubled: 42, fn: NODE_FN });
    await expectError(
      "ResourceConflictException",
      create(lambda, PY_FN, { "index.py": PY_ECHO }, "python3.12"),
      409,
    );
    await expectError(
      "ResourceNotFoundException",
      lambda.send(new GetFunctionCommand({ FunctionName: "js-e2e-absent" })),
      404,
    );
    await expectError(
      "InvalidRequestContentException",
      lambda.send(new InvokeCommand({ FunctionName: PY_FN, Payload: utf8("{not json") })),
      400,
    );
  });
  await run.step("lambda async Invoke/ListFunctions", async () => {
    await create(lambda, ASYNC_FN, { "index.py": PY_SSM }, "python3.12");
    const r = await lambda.send(
      new InvokeCommand({
        FunctionName: ASYNC_FN,
        InvocationType: "Event",
        Payload: utf8(JSON.stringify({ name: "/js/async", value: "later" })),
      }),
    );
    assert.equal(r.StatusCode, 202);
    const value = await waitFor("the async invocation's parameter", async () => {
      const p = await ssm.send(new GetParameterCommand({ Name: "/js/async" }));
      return p.Parameter.Value;
    });
    assert.equal(value, "later");
    const listed = await lambda.send(new ListFunctionsCommand({}));
    const names = listed.Functions.map((f) => f.FunctionName);
    for (const n of [PY_FN, NODE_FN, ASYNC_FN]) assert.ok(names.includes(n), `${n} in ${names}`);
    const py = listed.Functions.find((f) => f.FunctionName === PY_FN);
    assert.deepEqual(py.Environment.Variables, { SUITE: "js" });
    const g = await lambda.send(new GetFunctionCommand({ FunctionName: PY_FN }));
    assert.equal(g.Configuration.LastUpdateStatus, "Successful");
    assert.ok(g.Code.Location.startsWith("http"));
    // The function's log group got the invocations' output.
    const ev = await waitFor("the function's log events", async () => {
      const f = await logs.send(new FilterLogEventsCommand({ logGroupName: `/aws/lambda/${PY_FN}` }));
      return f.events.some((e) => e.message.includes("python got 1")) && f.events;
    });
    assert.ok(ev.some((e) => e.message.startsWith("START RequestId:")));
  });

  // ---- CloudWatch Logs ----
  const base = Date.now() - 60000;
  await run.step("logs CreateLogGroup/CreateLogStream/PutLogEvents", async () => {
    await logs.send(new CreateLogGroupCommand({ logGroupName: GROUP, tags: { suite: "js" } }));
    await logs.send(new PutRetentionPolicyCommand({ logGroupName: GROUP, retentionInDays: 7 }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: LOG_STREAM }));
    const put = await logs.send(
      new PutLogEventsCommand({
        logGroupName: GROUP,
        logStreamName: LOG_STREAM,
        logEvents: [
          { timestamp: base, message: "INFO started" },
          { timestamp: base + 1000, message: "ERROR disk full" },
          { timestamp: base + 2000, message: "INFO stopped" },
        ],
      }),
    );
    assert.equal(put.rejectedLogEventsInfo, undefined);
    const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: GROUP }));
    assert.equal(groups.logGroups.length, 1);
    assert.equal(groups.logGroups[0].logGroupName, GROUP);
    assert.equal(groups.logGroups[0].retentionInDays, 7);
    assert.equal(groups.logGroups[0].arn, `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${GROUP}:*`);
    const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: GROUP }));
    assert.deepEqual(
      streams.logStreams.map((s) => s.logStreamName),
      [LOG_STREAM],
    );
    assert.equal(streams.logStreams[0].firstEventTimestamp, base);
    assert.equal(streams.logStreams[0].lastEventTimestamp, base + 2000);
    await expectError(
      "ResourceAlreadyExistsException",
      logs.send(new CreateLogGroupCommand({ logGroupName: GROUP })),
      400,
    );
    await expectError(
      "ResourceNotFoundException",
      logs.send(new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: "absent" })),
      400,
    );
    await expectError(
      "InvalidParameterException",
      logs.send(new PutRetentionPolicyCommand({ logGroupName: GROUP, retentionInDays: 8 })),
      400,
    );
  });
  await run.step("logs GetLogEvents/FilterLogEvents", async () => {
    const got = await logs.send(
      new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: LOG_STREAM, startFromHead: true }),
    );
    assert.deepEqual(
      got.events.map((e) => [e.timestamp, e.message]),
      [
        [base, "INFO started"],
        [base + 1000, "ERROR disk full"],
        [base + 2000, "INFO stopped"],
      ],
    );
    assert.ok(got.events.every((e) => typeof e.ingestionTime === "number"));
    assert.match(got.nextForwardToken, /^f\//);
    assert.match(got.nextBackwardToken, /^b\//);
    const f = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP, filterPattern: "ERROR" }));
    assert.deepEqual(
      f.events.map((e) => [e.logStreamName, e.message]),
      [[LOG_STREAM, "ERROR disk full"]],
    );
    assert.ok(f.events[0].eventId);
    const window = await logs.send(
      new FilterLogEventsCommand({ logGroupName: GROUP, startTime: base + 1500, endTime: base + 5000 }),
    );
    assert.deepEqual(
      window.events.map((e) => e.message),
      ["INFO stopped"],
    );
  });

  // ---- CloudWatch ----
  const now = new Date();
  await run.step("cloudwatch PutMetricData/GetMetricData/ListMetrics", async () => {
    await cw.send(
      new PutMetricDataCommand({
        Namespace: NAMESPACE,
        MetricData: [
          {
            MetricName: "Latency",
            Dimensions: [{ Name: "Api", Value: "get" }],
            Timestamp: now,
            Unit: "Milliseconds",
            Values: [10, 20, 30],
            Counts: [1, 2, 1],
          },
          {
            MetricName: "Latency",
            Dimensions: [{ Name: "Api", Value: "get" }],
            Timestamp: now,
            Unit: "Milliseconds",
            Value: 5,
          },
        ],
      }),
    );
    const start = new Date(now.getTime() - 10 * 60000);
    const end = new Date(now.getTime() + 60000);
    const [sum, doubled] = await metricSum(cw, start, end);
    assert.equal(sum, 10 + 40 + 30 + 5);
    assert.equal(doubled, 2 * sum);
    const stats = await cw.send(
      new GetMetricStatisticsCommand({
        Namespace: NAMESPACE,
        MetricName: "Latency",
        Dimensions: [{ Name: "Api", Value: "get" }],
        StartTime: start,
        EndTime: end,
        Period: 3600,
        Statistics: ["SampleCount", "Maximum", "Minimum"],
      }),
    );
    const points = stats.Datapoints;
    assert.equal(points.length, 1, JSON.stringify(points));
    assert.equal(points[0].SampleCount, 5);
    assert.equal(points[0].Maximum, 30);
    assert.equal(points[0].Minimum, 5);
    assert.equal(points[0].Unit, "Milliseconds");
    const listed = await cw.send(new ListMetricsCommand({ Namespace: NAMESPACE }));
    assert.deepEqual(listed.Metrics, [
      { Namespace: NAMESPACE, MetricName: "Latency", Dimensions: [{ Name: "Api", Value: "get" }] },
    ]);
    state.set("metricTime", now.getTime());
    await expectError(
      "InvalidParameterValueException",
      cw.send(
        new PutMetricDataCommand({
          Namespace: "AWS/EC2",
          MetricData: [{ MetricName: "x", Value: 1 }],
        }),
      ),
      400,
    );
  });
  await run.step("cloudwatch PutMetricAlarm/DescribeAlarms/SetAlarmState", async () => {
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: ALARM,
        Namespace: NAMESPACE,
        MetricName: "Latency",
        Dimensions: [{ Name: "Api", Value: "get" }],
        Statistic: "Average",
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 1000,
        ComparisonOperator: "GreaterThanThreshold",
        AlarmDescription: "slow gets",
        Tags: [{ Key: "suite", Value: "js" }],
      }),
    );
    const d = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [ALARM] }));
    assert.equal(d.MetricAlarms.length, 1);
    const a = d.MetricAlarms[0];
    assert.equal(a.AlarmArn, `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:${ALARM}`);
    assert.equal(a.Threshold, 1000);
    assert.equal(a.ComparisonOperator, "GreaterThanThreshold");
    assert.deepEqual(a.Dimensions, [{ Name: "Api", Value: "get" }]);
    assert.ok(a.StateUpdatedTimestamp instanceof Date);
    await cw.send(
      new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: "ALARM", StateReason: "by the js suite" }),
    );
    const after = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [ALARM] }));
    assert.equal(after.MetricAlarms[0].StateValue, "ALARM");
    assert.equal(after.MetricAlarms[0].StateReason, "by the js suite");
    const history = await cw.send(
      new DescribeAlarmHistoryCommand({ AlarmName: ALARM, HistoryItemType: "StateUpdate" }),
    );
    assert.ok(history.AlarmHistoryItems.some((h) => h.HistorySummary.includes("to ALARM")));
    await expectError(
      "ResourceNotFound",
      cw.send(new SetAlarmStateCommand({ AlarmName: "js-e2e-absent", StateValue: "OK", StateReason: "x" })),
      404,
    );
  });
}

export async function check({ run, state, endpoint }) {
  const { lambda, logs, cw } = clients(endpoint);
  await run.step("lambda after restart", async () => {
    const [r, out] = await invoke(lambda, PY_FN, { n: 5 });
    assert.equal(r.StatusCode, 200);
    assert.deepEqual(out, { echo: { n: 5 }, fn: PY_FN });
    const [, nout] = await invoke(lambda, NODE_FN, { n: 4 });
    assert.equal(nout.doubled, 8);
    const g = await lambda.send(new GetFunctionCommand({ FunctionName: PY_FN }));
    assert.deepEqual(g.Configuration.Environment.Variables, { SUITE: "js" });
  });
  await run.step("logs after restart", async () => {
    const got = await logs.send(
      new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: LOG_STREAM, startFromHead: true }),
    );
    assert.deepEqual(
      got.events.map((e) => e.message),
      ["INFO started", "ERROR disk full", "INFO stopped"],
    );
    const g = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: GROUP }));
    assert.equal(g.logGroups[0].retentionInDays, 7);
  });
  await run.step("cloudwatch after restart", async () => {
    const t = state.get("metricTime");
    const [sum] = await metricSum(cw, new Date(t - 10 * 60000), new Date(t + 60000));
    assert.equal(sum, 85);
    const d = await cw.send(new DescribeAlarmsCommand({ AlarmNames: [ALARM] }));
    assert.equal(d.MetricAlarms.length, 1);
    assert.equal(d.MetricAlarms[0].AlarmDescription, "slow gets");
  });
}
