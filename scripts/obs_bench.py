#!/usr/bin/env python3
"""CloudWatch and CloudWatch Logs figures of one snapstack build, and of moto_server for the same
calls: PutMetricData, GetMetricData, PutLogEvents and FilterLogEvents requests/s, p50 and p99,
over C keep-alive connections (16 by default), each in its own process sending one request at a
time.

Usage: obs_bench.py BIN [--seconds S] [--connections C] [--metrics M] [--hours H]
                        [--events E] [--no-moto] [--only snapstack|moto]

Each target is started fresh (snapstack: `BIN serve`, persistence off; moto:
`python3 -m moto.server -p PORT`) and filled first:
- M metrics (default 100) with H hours (default 168: a week) of 1-minute data, 1,000 datums a
  PutMetricData call;
- a log group of E events (default 1,000,000) over 8 streams, 10,000 a PutLogEvents call, one
  in 100 an `ERROR` line.
Then, each for S seconds (default 10):
- put-metric-data: one datum a request (ten metric names in turn);
- get-metric-data: the M metrics' Average over the filled range at a 1-hour period (M queries
  in one request: for a week, 168 points each);
- put-log-events: one event a request, each connection into its own stream;
- filter-log-events: `ERROR` over the whole group, the first page of 100 matches (so ~10,000
  events scanned a request, from the start of the group).
Requests are raw HTTP (query protocol for CloudWatch, which both servers speak; JSON 1.1 for
Logs), signed with a fixed dummy signature (neither server verifies by default).
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{svc}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def start_snapstack(binary, port, volume):
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
               PERSISTENCE="0")
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p


def start_moto(port):
    p = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p


class Client:
    """One keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def send(self, body, headers):
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                if attempt:
                    raise

    def logs(self, op, payload):
        return self.send(json.dumps(payload).encode(), {
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Logs_20140328.{op}",
            "Authorization": AUTH.format(svc="logs"), "X-Amz-Date": "20240101T000000Z"})

    def cw(self, params):
        params = dict(params, Version="2010-08-01")
        return self.send(urllib.parse.urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Authorization": AUTH.format(svc="monitoring"), "X-Amz-Date": "20240101T000000Z"})


def ok(status, data, what):
    if status != 200:
        raise SystemExit(f"{what}: HTTP {status}: {data[:300]!r}")


def fill(port, metrics, hours, events):
    c = Client(port)
    now = int(time.time()) // 60 * 60
    start = now - int(hours * 3600)
    t = time.perf_counter()
    datums = [(m, ts) for ts in range(start, now, 60) for m in range(metrics)]
    for i in range(0, len(datums), 1000):
        params = {"Action": "PutMetricData", "Namespace": "Bench"}
        for j, (m, ts) in enumerate(datums[i:i + 1000], 1):
            params[f"MetricData.member.{j}.MetricName"] = f"m{m}"
            params[f"MetricData.member.{j}.Value"] = str(random.random() * 100)
            params[f"MetricData.member.{j}.Timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        ok(*c.cw(params), "PutMetricData (fill)")
    print(f"  filled {len(datums):,} datapoints in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    ok(*c.logs("CreateLogGroup", {"logGroupName": "bench"}), "CreateLogGroup")
    streams = 8
    for s in range(streams):
        ok(*c.logs("CreateLogStream", {"logGroupName": "bench", "logStreamName": f"fill{s}"}), "CreateLogStream")
    base = int(time.time() * 1000) - 3_600_000
    per = max(1, events // streams)
    for s in range(streams):
        for i in range(0, per, 10_000):
            n = min(10_000, per - i)
            evs = [{"timestamp": base + (i + k) * 3_600_000 // per,
                    "message": (f"ERROR request {i + k} failed code=500" if (i + k) % 100 == 0
                                else f"INFO request {i + k} ok latency={(i + k) % 997}")}
                   for k in range(n)]
            ok(*c.logs("PutLogEvents", {"logGroupName": "bench", "logStreamName": f"fill{s}",
                                        "logEvents": evs}), "PutLogEvents (fill)")
    print(f"  filled {per * streams:,} log events in {time.perf_counter() - t:.1f} s", flush=True)
    return start, now


def worker(args):
    op, port, seconds, index, metrics, span = args
    c = Client(port)
    lat, errors, n = [], 0, 0
    if op == "put-log-events":
        c.logs("CreateLogStream", {"logGroupName": "bench", "logStreamName": f"w{index}"})
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        if op == "put-metric-data":
            status, _ = c.cw({"Action": "PutMetricData", "Namespace": "Load",
                              "MetricData.member.1.MetricName": f"m{n % 10}",
                              "MetricData.member.1.Value": str(n)})
        elif op == "get-metric-data":
            params = {"Action": "GetMetricData",
                      "StartTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(span[0])),
                      "EndTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(span[1]))}
            for q in range(metrics):
                k = f"MetricDataQueries.member.{q + 1}"
                params[f"{k}.Id"] = f"q{q}"
                params[f"{k}.MetricStat.Metric.Namespace"] = "Bench"
                params[f"{k}.MetricStat.Metric.MetricName"] = f"m{q}"
                params[f"{k}.MetricStat.Period"] = "3600"
                params[f"{k}.MetricStat.Stat"] = "Average"
            status, _ = c.cw(params)
        elif op == "put-log-events":
            status, _ = c.logs("PutLogEvents", {"logGroupName": "bench", "logStreamName": f"w{index}",
                                                "logEvents": [{"timestamp": int(time.time() * 1000),
                                                               "message": f"line {n} " + "x" * 60}]})
        else:
            status, _ = c.logs("FilterLogEvents", {"logGroupName": "bench", "filterPattern": "ERROR",
                                                   "limit": 100})
        lat.append(time.perf_counter() - t)
        n += 1
        if status != 200:
            errors += 1
    return lat, errors


def measure(op, port, seconds, connections, metrics, span):
    with multiprocessing.Pool(connections) as pool:
        t = time.perf_counter()
        parts = pool.map(worker, [(op, port, seconds, i, metrics, span) for i in range(connections)])
        wall = time.perf_counter() - t
    lat = sorted(x for p in parts for x in p[0])
    errors = sum(p[1] for p in parts)
    if not lat:
        return 0.0, 0.0, 0.0, errors
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    return len(lat) / min(wall, seconds + 1), pct(0.5), pct(0.99), errors


OPS = ["put-metric-data", "get-metric-data", "put-log-events", "filter-log-events"]


def run(name, port, proc, a):
    rows = []
    try:
        print(f"{name}: filling", flush=True)
        span = fill(port, a.metrics, a.hours, a.events)
        for op in OPS:
            r = measure(op, port, a.seconds, a.connections, a.metrics, span)
            print(f"  {op}: {r[0]:.0f} req/s, p50 {r[1]:.2f} ms, p99 {r[2]:.2f} ms, {r[3]} errors", flush=True)
            rows.append((op, name) + r)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--hours", type=float, default=168)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--no-moto", action="store_true")
    ap.add_argument("--only", choices=["snapstack", "moto"])
    a = ap.parse_args()
    rows = []
    if a.only != "moto":
        with tempfile.TemporaryDirectory() as volume:
            port = free_port()
            rows += run("snapstack", port, start_snapstack(a.binary, port, volume), a)
    if not a.no_moto and a.only != "snapstack":
        port = free_port()
        rows += run("moto", port, start_moto(port), a)
    print(f"\n{a.connections} connections, {a.seconds:g} s per operation; {a.metrics} metrics x "
          f"{a.hours:g} h of 1-minute data; {a.events:,} log events\n")
    print("| operation | server | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|")
    for op, name, rps, p50, p99, err in rows:
        print(f"| {op} | {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {err} |")


if __name__ == "__main__":
    main()
