// The AWS SDK for JavaScript v3 against snapstack: the main calls of every service.
//
//   node suite.mjs ENDPOINT write STATE   create and check resources, leave some for `check`
//   node suite.mjs ENDPOINT check STATE   after a restart: what `write` left is there
//
// STATE is a JSON file `write` leaves for `check` (ciphertexts, ARNs). S3, SQS, DynamoDB, SSM and
// STS are here; security.mjs (KMS, Secrets Manager, IAM, AssumeRole), messaging.mjs (SNS,
// EventBridge, Kinesis, Firehose, DynamoDB Streams) and compute.mjs (Lambda, Logs, CloudWatch)
// hold the rest. Exits non-zero with the failing step on any mismatch; prints each service's time.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  DeleteBucketCommand,
  PutBucketTaggingCommand,
  GetBucketTaggingCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  SQSClient,
  CreateQueueCommand,
  GetQueueUrlCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
} from "@aws-sdk/client-sqs";
import {
  DynamoDBClient,
  CreateTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  GetItemCommand,
  UpdateItemCommand,
  QueryCommand,
  BatchWriteItemCommand,
  DeleteTableCommand,
} from "@aws-sdk/client-dynamodb";
import {
  SSMClient,
  PutParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  DeleteParametersCommand,
} from "@aws-sdk/client-ssm";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

import { Runner, State, clientConfig, expectError } from "./common.mjs";
import * as compute from "./compute.mjs";
import * as messaging from "./messaging.mjs";
import * as security from "./security.mjs";

const [endpoint, phase, statePath] = process.argv.slice(2);
if (!endpoint || !["write", "check"].includes(phase) || !statePath) {
  console.error("usage: node suite.mjs ENDPOINT write|check STATE");
  process.exit(64);
}

const config = clientConfig(endpoint);
const s3 = new S3Client({ ...config, forcePathStyle: true });
const sqs = new SQSClient(config);
const ddb = new DynamoDBClient(config);
const ssm = new SSMClient(config);
const sts = new STSClient(config);

const BUCKET = "js-e2e";
const BIG_KEY = "big/upload.bin";
const BIG_SIZE = 12 * 1024 * 1024 + 12345;
const QUEUE = "js-e2e-queue";
const TABLE = "js-e2e-table";
const PARAM = "/js/e2e";

// The big body is a deterministic stream of bytes so that `check` can recompute its digest.
function bigBody() {
  const out = Buffer.alloc(BIG_SIZE + 3);
  let x = 0x2545f491;
  for (let i = 0; i < BIG_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out.subarray(0, BIG_SIZE);
}
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const bytesOf = async (body) => Buffer.from(await body.transformToByteArray());

const run = new Runner(phase);
const state = new State(statePath);
const step = (name, fn) => run.step(name, fn);

async function write() {
  await step("sts GetCallerIdentity", async () => {
    const id = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(id.Account, "000000000000");
    assert.match(id.Arn, /^arn:aws:iam::000000000000:/);
  });

  // ---- S3 ----
  await step("s3 CreateBucket", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(
      new PutBucketTaggingCommand({
        Bucket: BUCKET,
        Tagging: { TagSet: [{ Key: "suite", Value: "js" }] },
      }),
    );
  });
  await step("s3 PutObject/GetObject/HeadObject", async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: "small/hello.txt",
        Body: "hello from the JavaScript SDK",
        ContentType: "text/plain",
        Metadata: { origin: "js" },
      }),
    );
    assert.match(put.ETag, /^"[0-9a-f]{32}"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "small/hello.txt" }));
    assert.equal(await got.Body.transformToString(), "hello from the JavaScript SDK");
    assert.equal(got.ContentType, "text/plain");
    assert.equal(got.Metadata.origin, "js");
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "small/hello.txt" }));
    assert.equal(head.ContentLength, 29);
    const range = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: "small/hello.txt", Range: "bytes=6-9" }),
    );
    assert.equal(await range.Body.transformToString(), "from");
    await expectError(
      "NoSuchKey",
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "small/absent" })),
      404,
    );
    await expectError(
      "NoSuchBucket",
      s3.send(new ListObjectsV2Command({ Bucket: "js-e2e-absent" })),
      404,
    );
  });
  await step("s3 lib-storage Upload (multipart)", async () => {
    const body = bigBody();
    const upload = new Upload({
      client: s3,
      params: { Bucket: BUCKET, Key: BIG_KEY, Body: body, ContentType: "application/octet-stream" },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    let parts = 0;
    upload.on("httpUploadProgress", () => {
      parts += 1;
    });
    const done = await upload.done();
    assert.equal(done.Key, BIG_KEY);
    assert.match(done.ETag, /^"[0-9a-f]{32}-3"$/, `a 3-part ETag, got ${done.ETag}`);
    assert.ok(parts >= 3, `progress events ${parts}`);
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: BIG_KEY }));
    assert.equal(got.ContentLength, BIG_SIZE);
    assert.equal(sha256(await bytesOf(got.Body)), sha256(body));
  });
  await step("s3 ListObjectsV2", async () => {
    const all = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    assert.deepEqual(
      all.Contents.map((o) => o.Key),
      [BIG_KEY, "small/hello.txt"],
    );
    const pre = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "small/", Delimiter: "/" }),
    );
    assert.equal(pre.KeyCount, 1);
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1 }));
    assert.equal(page.IsTruncated, true);
    const next = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: page.NextContinuationToken }),
    );
    assert.deepEqual(
      next.Contents.map((o) => o.Key),
      ["small/hello.txt"],
    );
  });

  // ---- SQS ----
  let url;
  await step("sqs CreateQueue/GetQueueUrl", async () => {
    const made = await sqs.send(
      new CreateQueueCommand({ QueueName: QUEUE, Attributes: { VisibilityTimeout: "30" } }),
    );
    url = made.QueueUrl;
    assert.ok(url.endsWith(`/000000000000/${QUEUE}`), url);
    const again = await sqs.send(new GetQueueUrlCommand({ QueueName: QUEUE }));
    assert.equal(again.QueueUrl, url);
    await expectError(
      "QueueDoesNotExist",
      sqs.send(new GetQueueUrlCommand({ QueueName: "js-e2e-absent" })),
      400,
    );
  });
  await step("sqs SendMessage/ReceiveMessage/DeleteMessage", async () => {
    // The SDK checks the MD5 digests of the body and the attributes in the answer.
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: "first",
        MessageAttributes: {
          kind: { DataType: "String", StringValue: "greeting" },
          n: { DataType: "Number", StringValue: "7" },
        },
      }),
    );
    assert.match(sent.MessageId, /^[0-9a-f-]{36}$/);
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
    );
    assert.equal(got.Messages.length, 1);
    const m = got.Messages[0];
    assert.equal(m.Body, "first");
    assert.equal(m.MessageAttributes.kind.StringValue, "greeting");
    assert.equal(m.Attributes.ApproximateReceiveCount, "1");
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
  });
  await step("sqs SendMessageBatch (left for check)", async () => {
    const r = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "a", MessageBody: "kept-1" },
          { Id: "b", MessageBody: "kept-2" },
        ],
      }),
    );
    assert.equal(r.Successful.length, 2);
    assert.equal(r.Failed?.length ?? 0, 0);
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ["ApproximateNumberOfMessages"],
      }),
    );
    assert.equal(attrs.Attributes.ApproximateNumberOfMessages, "2");
  });

  // ---- DynamoDB ----
  await step("dynamodb CreateTable", async () => {
    await ddb.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "N" },
          { AttributeName: "color", AttributeType: "S" },
        ],
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: "by-color",
            KeySchema: [{ AttributeName: "color", KeyType: "HASH" }],
            Projection: { ProjectionType: "ALL" },
          },
        ],
      }),
    );
    const d = await ddb.send(new DescribeTableCommand({ TableName: TABLE }));
    assert.equal(d.Table.TableStatus, "ACTIVE");
  });
  await step("dynamodb PutItem/GetItem/UpdateItem", async () => {
    await ddb.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: "user#1" }, sk: { N: "1" }, color: { S: "red" }, tags: { SS: ["a", "b"] } },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    const got = await ddb.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "user#1" }, sk: { N: "1" } },
        ConsistentRead: true,
      }),
    );
    assert.equal(got.Item.color.S, "red");
    await expectError(
      "ConditionalCheckFailedException",
      ddb.send(
        new PutItemCommand({
          TableName: TABLE,
          Item: { pk: { S: "user#1" }, sk: { N: "1" } },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      ),
      400,
    );
    await expectError(
      "ResourceNotFoundException",
      ddb.send(new GetItemCommand({ TableName: "js-e2e-absent", Key: { pk: { S: "x" } } })),
      400,
    );
    assert.deepEqual([...got.Item.tags.SS].sort(), ["a", "b"]);
    const upd = await ddb.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "user#1" }, sk: { N: "1" } },
        UpdateExpression: "ADD visits :one SET color = :c",
        ExpressionAttributeValues: { ":one": { N: "1" }, ":c": { S: "blue" } },
        ReturnValues: "ALL_NEW",
      }),
    );
    assert.equal(upd.Attributes.visits.N, "1");
    assert.equal(upd.Attributes.color.S, "blue");
  });
  await step("dynamodb BatchWriteItem/Query", async () => {
    await ddb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [TABLE]: [2, 3, 4].map((n) => ({
            PutRequest: {
              Item: { pk: { S: "user#1" }, sk: { N: String(n) }, color: { S: n % 2 ? "red" : "blue" } },
            },
          })),
        },
      }),
    );
    const q = await ddb.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "pk = :p AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues: { ":p": { S: "user#1" }, ":a": { N: "2" }, ":b": { N: "4" } },
        ScanIndexForward: false,
      }),
    );
    assert.deepEqual(
      q.Items.map((i) => i.sk.N),
      ["4", "3", "2"],
    );
    const g = await ddb.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: "by-color",
        KeyConditionExpression: "color = :c",
        ExpressionAttributeValues: { ":c": { S: "blue" } },
      }),
    );
    assert.equal(g.Count, 3); // sk 1 (made blue above), 2 and 4
  });

  // ---- SSM ----
  await step("ssm PutParameter/GetParameter/GetParametersByPath", async () => {
    const v1 = await ssm.send(
      new PutParameterCommand({ Name: `${PARAM}/url`, Value: "postgres://db", Type: "String" }),
    );
    assert.equal(v1.Version, 1);
    const v2 = await ssm.send(
      new PutParameterCommand({
        Name: `${PARAM}/url`,
        Value: "postgres://db2",
        Type: "String",
        Overwrite: true,
      }),
    );
    assert.equal(v2.Version, 2);
    await ssm.send(
      new PutParameterCommand({ Name: `${PARAM}/secret`, Value: "s3cr3t", Type: "SecureString" }),
    );
    const got = await ssm.send(new GetParameterCommand({ Name: `${PARAM}/url` }));
    assert.equal(got.Parameter.Value, "postgres://db2");
    assert.equal(got.Parameter.Version, 2);
    const secret = await ssm.send(
      new GetParameterCommand({ Name: `${PARAM}/secret`, WithDecryption: true }),
    );
    assert.equal(secret.Parameter.Value, "s3cr3t");
    const byPath = await ssm.send(
      new GetParametersByPathCommand({ Path: PARAM, WithDecryption: true }),
    );
    assert.deepEqual(
      byPath.Parameters.map((p) => p.Name).sort(),
      [`${PARAM}/secret`, `${PARAM}/url`],
    );
    await expectError(
      "ParameterNotFound",
      ssm.send(new GetParameterCommand({ Name: `${PARAM}/absent` })),
      400,
    );
    await expectError(
      "ParameterAlreadyExists",
      ssm.send(new PutParameterCommand({ Name: `${PARAM}/url`, Value: "x", Type: "String" })),
      400,
    );
  });
}

async function check() {
  await step("s3 after restart", async () => {
    const tags = await s3.send(new GetBucketTaggingCommand({ Bucket: BUCKET }));
    assert.deepEqual(tags.TagSet, [{ Key: "suite", Value: "js" }]);
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: BIG_KEY }));
    assert.equal(got.ContentLength, BIG_SIZE);
    assert.equal(sha256(await bytesOf(got.Body)), sha256(bigBody()));
    for (const Key of [BIG_KEY, "small/hello.txt"]) {
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: BUCKET }));
  });
  await step("sqs after restart", async () => {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: QUEUE }));
    const bodies = [];
    for (let i = 0; i < 5 && bodies.length < 2; i += 1) {
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of r.Messages ?? []) {
        bodies.push(m.Body);
        await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    assert.deepEqual(bodies.sort(), ["kept-1", "kept-2"]);
    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
  });
  await step("dynamodb after restart", async () => {
    const got = await ddb.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "user#1" }, sk: { N: "1" } } }),
    );
    assert.equal(got.Item.visits.N, "1");
    const q = await ddb.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": { S: "user#1" } },
        Select: "COUNT",
      }),
    );
    assert.equal(q.Count, 4);
    await ddb.send(new DeleteTableCommand({ TableName: TABLE }));
  });
  await step("ssm after restart", async () => {
    const got = await ssm.send(new GetParameterCommand({ Name: `${PARAM}/url` }));
    assert.equal(got.Parameter.Value, "postgres://db2");
    assert.equal(got.Parameter.Version, 2);
    const del = await ssm.send(
      new DeleteParametersCommand({ Names: [`${PARAM}/url`, `${PARAM}/secret`] }),
    );
    assert.equal(del.DeletedParameters.length, 2);
  });
}

const parts = [security, messaging, compute];
const ctx = { run, state, endpoint };
if (phase === "write") {
  await write();
  for (const part of parts) await part.write(ctx);
} else {
  state.load();
  await check();
  for (const part of parts) await part.check(ctx);
}
console.log(run.summary());
// The SDK's HTTP/2 sessions (Kinesis) stay open for reuse; they must not keep the process alive.
process.exit(0);
