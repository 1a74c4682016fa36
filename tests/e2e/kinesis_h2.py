#!/usr/bin/env python3
"""Kinesis as the AWS SDK for Java v2 and the KCL speak it, without their jars: every call over
HTTP/2 with prior knowledge (h2c, what the SDK's Netty client does on an `http://` endpoint),
with CBOR bodies (`application/x-amz-cbor-1.1`) written the way Jackson writes them:
indefinite-length maps, byte strings for data, timestamps as epoch milliseconds under tag 1.
The responses are read with this file's own CBOR decoder and must use the same conventions.
curl (built with nghttp2) carries the requests.

Usage: kinesis_h2.py ENDPOINT COMMAND [ARGS]...

  prepare STATE  a 2-shard stream, records put with PutRecords and PutRecord (binary data), the
                 calls the KCL makes (DescribeStreamSummary, ListShards with a ShardFilter,
                 GetShardIterator of every type, GetRecords, RegisterStreamConsumer,
                 DescribeStreamConsumer, SubscribeToShard's CBOR event stream), AWS's errors in
                 CBOR; what was acknowledged written to STATE
  check STATE    after a kill -9 and a restart: every acknowledged record read again exactly
                 once and in order per shard, by GetRecords and by SubscribeToShard from the
                 consumer's checkpoint; new records get larger sequence numbers
"""

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
STREAM = "java-wire"


class Tag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value

    def __repr__(self):
        return f"Tag({self.tag}, {self.value!r})"


def ms(t):
    """A timestamp as the Java SDK writes it: tag 1 around epoch milliseconds."""
    return Tag(1, int(t * 1000))


def _head(out, major, n):
    if n < 24:
        out.append(major << 5 | n)
    elif n < 1 << 8:
        out += bytes([major << 5 | 24, n])
    elif n < 1 << 16:
        out += bytes([major << 5 | 25]) + struct.pack(">H", n)
    elif n < 1 << 32:
        out += bytes([major << 5 | 26]) + struct.pack(">I", n)
    else:
        out += bytes([major << 5 | 27]) + struct.pack(">Q", n)


def encode(v, out=None):
    out = bytearray() if out is None else out
    if isinstance(v, dict):
        out.append(0xBF)  # Jackson's writeStartObject(): an indefinite-length map
        for k, x in v.items():
            encode(k, out)
            encode(x, out)
        out.append(0xFF)
    elif isinstance(v, list):
        _head(out, 4, len(v))
        for x in v:
            encode(x, out)
    elif isinstance(v, bool):
        out.append(0xF5 if v else 0xF4)
    elif isinstance(v, int):
        _head(out, 0, v) if v >= 0 else _head(out, 1, -1 - v)
    elif isinstance(v, (bytes, bytearray)):
        _head(out, 2, len(v))
        out += v
    elif isinstance(v, str):
        b = v.encode()
        _head(out, 3, len(b))
        out += b
    elif isinstance(v, Tag):
        _head(out, 6, v.tag)
        encode(v.value, out)
    else:
        raise TypeError(type(v))
    return bytes(out)


def decode(buf):
    pos = 0

    def arg(info):
        nonlocal pos
        if info < 24:
            return info
        size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
        if size is None:
            return None  # indefinite
        n = int.from_bytes(buf[pos:pos + size], "big")
        pos += size
        return n

    def item():
        nonlocal pos
        b = buf[pos]
        pos += 1
        major, info = b >> 5, b & 31
        if major == 7:
            if info == 20:
                return False
            if info == 21:
                return True
            if info in (22, 23):
                return None
            if info == 25:
                pos += 2
                return struct.unpack(">e", buf[pos - 2:pos])[0]
            if info == 26:
                pos += 4
                return struct.unpack(">f", buf[pos - 4:pos])[0]
            if info == 27:
                pos += 8
                return struct.unpack(">d", buf[pos - 8:pos])[0]
            raise ValueError(f"simple value {info}")
        n = arg(info)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major in (2, 3):
            if n is None:
                chunks = []
                while buf[pos] != 0xFF:
                    chunks.append(item())
                pos += 1
                s = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
            else:
                s = bytes(buf[pos:pos + n])
                pos += n
            return s if major == 2 else s.decode()
        if major == 4:
            out = []
            while (n is None and buf[pos] != 0xFF) or (n is not None and len(out) < n):
                out.append(item())
            if n is None:
                pos += 1
            return out
        if major == 5:
            out = {}
            while (n is None and buf[pos] != 0xFF) or (n is not None and len(out) < n):
                k = item()
                out[k] = item()
            if n is None:
                pos += 1
            return out
        if major == 6:
            return Tag(n, item())
        raise ValueError(f"major type {major}")

    v = item()
    if pos != len(buf):
        raise ValueError(f"{len(buf) - pos} bytes after the CBOR value")
    return v


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def curl(op, body, out_path, max_time=60):
    """POST one CBOR request over h2c; (curl's exit code, HTTP status, HTTP version)."""
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    r = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "--max-time", str(max_time),
         "-X", "POST", f"{ENDPOINT}/",
         "-H", "Content-Type: application/x-amz-cbor-1.1",
         "-H", f"X-Amz-Target: Kinesis_20131202.{op}",
         "-H", f"X-Amz-Date: {date}",
         "-H", "Authorization: AWS4-HMAC-SHA256 Credential=test/"
               f"{date[:8]}/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
         "-H", "User-Agent: aws-sdk-java/2.x (kinesis_h2.py)",
         "--data-binary", "@-", "-o", out_path, "-w", "%{http_code} %{http_version}"],
        input=body, capture_output=True)
    status, version = (r.stdout.decode().split() + ["0", "?"])[:2]
    return r.returncode, int(status), version, r.stderr.decode()


def call(op, params, want=200):
    with tempfile.NamedTemporaryFile() as f:
        code, status, version, err = curl(op, encode(params), f.name)
        check(code == 0, f"{op}: curl exited {code}: {err}")
        check(version == "2", f"{op}: answered over HTTP/{version}, not HTTP/2")
        raw = open(f.name, "rb").read()
    v = decode(raw) if raw else {}
    check(status == want, f"{op}: HTTP {status}, expected {want}: {v!r}")
    return v


def error(op, params, code, status=400):
    v = call(op, params, want=status)
    check(v.get("__type", "").split("#")[-1] == code, f"{op}: expected {code}, got {v!r}")
    check(isinstance(v.get("message"), str), f"{op}: no message in {v!r}")
    return v


def is_ms(t, near=None):
    """A response timestamp the Java SDK reads: an integer of epoch milliseconds (the SDK's
    CBOR timestamps are milliseconds, tag 1 or not)."""
    v = t.value if isinstance(t, Tag) and t.tag == 1 else t
    check(isinstance(v, int) and not isinstance(v, bool), f"not an integer timestamp: {t!r}")
    check(v > 10**12, f"a timestamp in seconds, not milliseconds: {t!r}")
    if near is not None:
        check(abs(v / 1000 - near) < 600, f"timestamp {t!r} far from {near}")
    return v


def events(raw):
    """The event-stream messages of `raw`: (headers, payload), CRCs checked."""
    out, pos = [], 0
    while pos + 12 <= len(raw):
        total, hlen, pcrc = struct.unpack(">III", raw[pos:pos + 12])
        if pos + total > len(raw):
            break  # cut by the timeout
        msg = raw[pos:pos + total]
        check(zlib.crc32(msg[:8]) == pcrc, "prelude CRC")
        check(zlib.crc32(msg[:-4]) == struct.unpack(">I", msg[-4:])[0], "message CRC")
        headers, h = {}, 12
        while h < 12 + hlen:
            n = msg[h]
            name = msg[h + 1:h + 1 + n].decode()
            h += 1 + n
            check(msg[h] == 7, f"header {name} is not a string")
            vlen = struct.unpack(">H", msg[h + 1:h + 3])[0]
            headers[name] = msg[h + 3:h + 3 + vlen].decode()
            h += 3 + vlen
        out.append((headers, msg[12 + hlen:-4]))
        pos += total
    return out


def subscribe(consumer, shard, position, seconds=3):
    """SubscribeToShard for `seconds`: the decoded SubscribeToShardEvents."""
    with tempfile.NamedTemporaryFile() as f:
        code, status, version, err = curl(
            "SubscribeToShard",
            encode({"ConsumerARN": consumer, "ShardId": shard, "StartingPosition": position}),
            f.name, max_time=seconds)
        raw = open(f.name, "rb").read()
    # curl ends the subscription at --max-time (28): AWS keeps it open for 5 minutes.
    check(code in (0, 28), f"SubscribeToShard: curl exited {code}: {err}")
    check((status, version) == (200, "2"), f"SubscribeToShard: {status} over HTTP/{version}")
    msgs = events(raw)
    check(msgs, "no event arrived")
    first, rest = msgs[0], msgs[1:]
    check(first[0].get(":event-type") == "initial-response", f"first event: {first[0]}")
    check(first[0].get(":content-type") == "application/x-amz-cbor-1.1", f"{first[0]}")
    check(decode(first[1]) == {}, f"initial-response payload {first[1]!r}")
    out = []
    for headers, payload in rest:
        check(headers.get(":message-type") == "event", f"{headers}: {payload!r}")
        check(headers.get(":event-type") == "SubscribeToShardEvent", f"{headers}")
        ev = decode(payload)
        check(isinstance(ev.get("ContinuationSequenceNumber"), str), f"{ev!r}")
        check(isinstance(ev.get("MillisBehindLatest"), int), f"{ev!r}")
        out.append(ev)
    return out


def wait(what, fn, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def read_all(shard, **position):
    """GetRecords from an iterator until the records stop: [(seq, data, pk)]."""
    it = call("GetShardIterator", {"StreamName": STREAM, "ShardId": shard, **position})["ShardIterator"]
    out = []
    for _ in range(50):
        r = call("GetRecords", {"ShardIterator": it, "Limit": 7})
        check(isinstance(r.get("MillisBehindLatest"), int), f"{r!r}")
        for rec in r["Records"]:
            check(isinstance(rec["Data"], bytes), f"Data is not a byte string: {rec!r}")
            is_ms(rec["ApproximateArrivalTimestamp"], time.time())
            out.append((rec["SequenceNumber"], rec["Data"].hex(), rec["PartitionKey"]))
        if not r["Records"] and r.get("MillisBehindLatest") == 0:
            break
        it = r["NextShardIterator"]
    return out


def prepare(state):
    t0 = time.time()
    call("CreateStream", {"StreamName": STREAM, "ShardCount": 2})
    error("CreateStream", {"StreamName": STREAM, "ShardCount": 2}, "ResourceInUseException")
    error("DescribeStreamSummary", {"StreamName": "nope"}, "ResourceNotFoundException")
    error("CreateStream", {"StreamName": "bad name!", "ShardCount": 1}, "ValidationException")
    wait("ACTIVE", lambda: call("DescribeStreamSummary", {"StreamName": STREAM})
         ["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE")
    summary = call("DescribeStreamSummary", {"StreamName": STREAM})["StreamDescriptionSummary"]
    is_ms(summary["StreamCreationTimestamp"], t0)
    arn = summary["StreamARN"]
    # The KCL lists shards with a filter and by the stream's ARN.
    shards = call("ListShards", {"StreamARN": arn, "ShardFilter": {"Type": "AT_TRIM_HORIZON"}})["Shards"]
    check([s["ShardId"] for s in shards] == ["shardId-000000000000", "shardId-000000000001"], f"{shards!r}")
    ts = call("ListShards", {"StreamName": STREAM,
                             "ShardFilter": {"Type": "FROM_TIMESTAMP", "Timestamp": ms(t0 - 60)}})["Shards"]
    check(len(ts) == 2, f"{ts!r}")

    acked = {s["ShardId"]: [] for s in shards}
    batch = [{"Data": bytes([i, 0, 255, i]) * (i + 1), "PartitionKey": f"pk-{i}"} for i in range(40)]
    r = call("PutRecords", {"StreamName": STREAM, "Records": batch})
    check(r["FailedRecordCount"] == 0, f"{r!r}")
    for rec, res in zip(batch, r["Records"]):
        acked[res["ShardId"]].append((res["SequenceNumber"], rec["Data"].hex(), rec["PartitionKey"]))
    r = call("PutRecord", {"StreamName": STREAM, "Data": bytes(range(256)), "PartitionKey": "one"})
    acked[r["ShardId"]].append((r["SequenceNumber"], bytes(range(256)).hex(), "one"))
    check(all(acked.values()), f"a shard got no records: {acked}")
    error("PutRecord", {"StreamName": STREAM, "Data": b"x" * (1024 * 1024 + 1), "PartitionKey": "k"},
          "ValidationException")

    for shard, want in acked.items():
        got = read_all(shard, ShardIteratorType="TRIM_HORIZON")
        check(got == want, f"{shard}: GetRecords gave {got}, expected {want}")
        after = read_all(shard, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                         StartingSequenceNumber=want[0][0])
        check(after == want[1:], f"{shard}: AFTER_SEQUENCE_NUMBER gave {after}")
        at = read_all(shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=ms(t0 - 60))
        check(at == want, f"{shard}: AT_TIMESTAMP (tag 1, milliseconds) gave {at}")

    error("GetShardIterator", {"StreamName": STREAM, "ShardId": "shardId-000000000000",
                               "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ms(time.time() + 60)},
          "InvalidArgumentException")

    # Enhanced fan-out, as the KCL's FanOutRecordsPublisher does it.
    c = call("RegisterStreamConsumer", {"StreamARN": arn, "ConsumerName": "kcl-app"})["Consumer"]
    is_ms(c["ConsumerCreationTimestamp"], t0)
    carn = c["ConsumerARN"]
    wait("the consumer", lambda: call("DescribeStreamConsumer", {"ConsumerARN": carn})
         ["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE")
    listed = call("ListStreamConsumers", {"StreamARN": arn})["Consumers"]
    check([x["ConsumerName"] for x in listed] == ["kcl-app"], f"{listed!r}")
    shard0 = "shardId-000000000000"
    evs = subscribe(carn, shard0, {"Type": "TRIM_HORIZON"})
    got = [(r["SequenceNumber"], r["Data"].hex(), r["PartitionKey"]) for e in evs for r in e["Records"]]
    for e in evs:
        for r in e["Records"]:
            is_ms(r["ApproximateArrivalTimestamp"], time.time())
    check(got == acked[shard0], f"SubscribeToShard gave {got}, expected {acked[shard0]}")
    check(evs[-1]["ContinuationSequenceNumber"] == acked[shard0][-1][0], f"{evs[-1]!r}")
    error("SubscribeToShard", {"ConsumerARN": carn + "0", "ShardId": shard0,
                               "StartingPosition": {"Type": "LATEST"}}, "ResourceNotFoundException")
    # The KCL's checkpoint: the second record of shard 0.
    json.dump({"acked": acked, "consumer": carn, "checkpoint": acked[shard0][1][0]}, open(state, "w"))
    print(f"kinesis_h2 prepare: {sum(map(len, acked.values()))} records over HTTP/2 + CBOR")


def check_after_restart(state):
    s = json.load(open(state))
    acked = {k: [tuple(r) for r in v] for k, v in s["acked"].items()}
    for shard, want in acked.items():
        got = read_all(shard, ShardIteratorType="TRIM_HORIZON")
        check(got == want, f"{shard} after the restart: {got}, expected {want}")
    shard0 = "shardId-000000000000"
    evs = subscribe(s["consumer"], shard0,
                    {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": s["checkpoint"]})
    got = [(r["SequenceNumber"], r["Data"].hex(), r["PartitionKey"]) for e in evs for r in e["Records"]]
    check(got == acked[shard0][2:], f"SubscribeToShard after the checkpoint gave {got}")
    r = call("PutRecord", {"StreamName": STREAM, "Data": b"new", "PartitionKey": "pk-0",
                           "ExplicitHashKey": "0"})
    check(r["ShardId"] == shard0, f"{r!r}")
    check(int(r["SequenceNumber"]) > int(acked[shard0][-1][0]), f"{r!r} not after {acked[shard0][-1]}")
    print(f"kinesis_h2 check: {sum(map(len, acked.values()))} records read again after the restart")


def main():
    commands = {"prepare": prepare, "check": check_after_restart}
    args = list(ARGS)
    try:
        while args:
            commands[args.pop(0)](args.pop(0))
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("LC_ALL", "C")
    main()
