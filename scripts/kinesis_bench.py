#!/usr/bin/env python3
"""Kinesis figures of one snapstack build: PutRecord and PutRecords records/s, GetRecords
latency (16 connections by default), and the bytes and time of a save (flush) after 1,000 new
records into a stream that already holds a large amount of data.

Usage: kinesis_bench.py BIN [--seconds S] [--connections C] [--fill-mib M] [--record-bytes B]

Throughput runs `BIN loadgen` against a fresh server (persistence off). The flush figure starts
a server with PERSISTENCE=1 and SNAPSHOT_SAVE_STRATEGY=MANUAL, fills a 4-shard stream with M MiB
(default 256) of B-byte records (default 1,000: under the 4 KiB blob threshold, so every record is
a store record), saves, puts 1,000 more records and saves again; the bytes are those the state
directory grew by, the time that of the POST /_localstack/state/save.
kinesis-mock and kinesalite are not run: neither can be installed here (no JVM; see the report).
"""

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, port, volume, persistence):
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
               PERSISTENCE="1" if persistence else "0", SNAPSHOT_SAVE_STRATEGY="MANUAL")
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if "listening" not in line:
        p.kill()
        raise SystemExit(f"{binary} did not start: {line!r}")
    return p


def loadgen(binary, port, op, seconds, connections):
    out = subprocess.run([binary, "loadgen", "--addr", f"127.0.0.1:{port}", "--op", op,
                          "--seconds", str(seconds), "--connections", str(connections),
                          "--keys", "10000"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def save(port):
    t = time.perf_counter()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_localstack/state/save", method="POST")
    with urllib.request.urlopen(req, timeout=3600) as r:
        r.read()
    return time.perf_counter() - t


def throughput(binary, seconds, connections):
    rows = []
    for op, per_request in [("kinesis-put", 1), ("kinesis-putrecords", 100), ("kinesis-get", 100)]:
        port = free_port()
        with tempfile.TemporaryDirectory() as volume:
            p = start(binary, port, volume, False)
            try:
                r = loadgen(binary, port, op, seconds, connections)
            finally:
                p.terminate()
                p.wait(timeout=30)
        rows.append((op, r["ops_per_sec"], r["ops_per_sec"] * per_request, r["p50_us"], r["p99_us"],
                     r["errors"]))
    print(f"\n{connections} connections, {seconds} s each (GetRecords: Limit 100 from TRIM_HORIZON)\n")
    print("| operation | requests/s | records/s | p50 µs | p99 µs | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for op, rps, recs, p50, p99, err in rows:
        print(f"| {op} | {rps:,.0f} | {recs:,.0f} | {p50:,} | {p99:,} | {err} |")


def flush(binary, fill_mib, record_bytes):
    port = free_port()
    with tempfile.TemporaryDirectory() as volume:
        p = start(binary, port, volume, True)
        try:
            k = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                             aws_access_key_id="test", aws_secret_access_key="test",
                             config=Config(retries={"max_attempts": 1}, read_timeout=600))
            k.create_stream(StreamName="big", ShardCount=4)
            data = os.urandom(record_bytes)
            per_call = max(1, min(500, (4 << 20) // record_bytes))
            total = (fill_mib << 20) // record_bytes
            t = time.perf_counter()
            n = 0
            while n < total:
                batch = [{"Data": data, "PartitionKey": f"k{n + i}"} for i in range(min(per_call, total - n))]
                r = k.put_records(StreamName="big", Records=batch)
                if r.get("FailedRecordCount"):
                    raise SystemExit(f"PutRecords failed: {r['FailedRecordCount']} records")
                n += len(batch)
            fill_s = time.perf_counter() - t
            state = os.path.join(volume, "state")
            first = save(port)
            before = dir_bytes(state)
            for i in range(0, 1000, 500):
                k.put_records(StreamName="big", Records=[
                    {"Data": data, "PartitionKey": f"new{i + j}"} for j in range(500)])
            took = save(port)
            grew = dir_bytes(state) - before
        finally:
            p.terminate()
            p.wait(timeout=120)
    print(f"\nFlush: a 4-shard stream holding {total:,} records of {record_bytes} bytes "
          f"({fill_mib} MiB, filled in {fill_s:.1f} s, first save {first:.2f} s), then 1,000 more\n")
    print("| records in the stream | new records | new bytes | bytes written by the save | save time |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {total:,} | 1,000 | {1000 * record_bytes:,} | {grew:,} | {took * 1000:.0f} ms |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--fill-mib", type=int, default=256)
    ap.add_argument("--record-bytes", type=int, default=1000)
    ap.add_argument("--skip-flush", action="store_true")
    a = ap.parse_args()
    throughput(a.bin, a.seconds, a.connections)
    if not a.skip_flush:
        flush(a.bin, a.fill_mib, a.record_bytes)


if __name__ == "__main__":
    main()
