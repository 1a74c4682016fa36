#!/usr/bin/env python3
"""CloudWatch and CloudWatch Logs figures of one snapstack build, and of moto_server for the same
calls (the issue's Benchmark section): PutMetricData, GetMetricData, PutLogEvents and
FilterLogEvents requests/s, p50 and p99, over C keep-alive connections (16 by default), each in
its own process sending one request at a time; and the bytes a flush writes after 10,000 new
events into a log group of 10,000,000.

Usage: obs_bench.py BIN [--scale X] [--seconds S] [--connections C] [--metrics M] [--hours H]
                        [--events E] [--flush-events N] [--flush-new K] [--skip-flush]
                        [--no-moto] [--only snapstack|moto]

--scale X multiplies every size (hours of metric data, events, flush sizes; default 1) so that a
debug build can run the whole script quickly (e.g. --scale 0.01); explicit sizes win.

Each target is started fresh (snapstack: `BIN serve`, persistence off; moto:
`python3 -m moto.server -p PORT`) and filled first, by C processes in parallel:
- M metrics (default 100) with H hours (default 168: a week) of 1-minute data, 1,000 datums a
  PutMetricData call, timestamped in the past (CloudWatch accepts up to two weeks back, so H is
  at most 335);
- a log group of E events (default 1,000,000) over 8 streams, 10,000 a PutLogEvents call, one
  in 100 an `ERROR` line.
Then, each for S seconds (default 10):
- put-metric-data: one datum a request (ten metric names in turn);
- get-metric-data: the M metrics' Average over the filled week at a 1-hour period (M queries
  in one request: for a week, 168 points each, from 10,080 1-minute points each);
- put-log-events: one event a request, each connection into its own stream;
- filter-log-events: `ERROR` over the whole group, the first page of 100 matches (so ~10,000
  events scanned a request, from the start of the group).
Requests are raw HTTP (query protocol for CloudWatch, which both servers speak; JSON 1.1 for
Logs), signed with a fixed dummy signature (neither server verifies by default).

Flush (snapstack only): a server with PERSISTENCE=1 and SNAPSHOT_SAVE_STRATEGY=MANUAL, a log group
filled with N events (default 10,000,000; 16 streams, 10,000-event PutLogEvents batches sent by
C processes in parallel), a save (POST /_localstack/state/save), K new events (default 10,000, in
one batch into a new stream), and a save again: the bytes are those the state directory grew by
(as scripts/kinesis_bench.py measures its flush), the time that of the second save.
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
import urllib.request

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


def _put_metrics(args):
    port, chunk = args
    c = Client(port)
    params = {"Action": "PutMetricData", "Namespace": "Bench"}
    for j, (m, ts, v) in enumerate(chunk, 1):
        params[f"MetricData.member.{j}.MetricName"] = f"m{m}"
        params[f"MetricData.member.{j}.Value"] = str(v)
        params[f"MetricData.member.{j}.Timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    ok(*c.cw(params), "PutMetricData (fill)")


def _put_events(args):
    """One PutLogEvents batch: events [first, first + n) of a stream of `per`, spread over the
    hour before `base + span`."""
    port, group, stream, first, n, per, base, span = args
    c = Client(port)
    evs = [{"timestamp": base + (first + k) * span // per,
            "message": (f"ERROR request {first + k} failed code=500" if (first + k) % 100 == 0
                        else f"INFO request {first + k} ok latency={(first + k) % 997}")}
           for k in range(n)]
    ok(*c.logs("PutLogEvents", {"logGroupName": group, "logStreamName": stream, "logEvents": evs}),
       "PutLogEvents (fill)")
    return n


def fill_group(port, group, events, streams, connections, span_ms=3_600_000):
    """A log group of `events` events over `streams` streams, in 10,000-event batches sent in
    parallel (each stream's batches in time order: one stream's batches go to one worker)."""
    c = Client(port)
    ok(*c.logs("CreateLogGroup", {"logGroupName": group}), "CreateLogGroup")
    for s in range(streams):
        ok(*c.logs("CreateLogStream", {"logGroupName": group, "logStreamName": f"fill{s}"}), "CreateLogStream")
    base = int(time.time() * 1000) - span_ms - 60_000
    per = max(1, events // streams)
    # Batches of a stream are sent in order by one worker; the streams run in parallel.
    jobs = [[(port, group, f"fill{s}", i, min(10_000, per - i), per, base, span_ms)
             for i in range(0, per, 10_000)] for s in range(streams)]
    with multiprocessing.Pool(min(connections, streams)) as pool:
        done = sum(pool.map(_fill_stream, jobs))
    return done


def _fill_stream(batches):
    return sum(_put_events(b) for b in batches)


def fill(port, metrics, hours, events, connections):
    now = int(time.time()) // 60 * 60
    start = now - int(hours * 3600)
    t = time.perf_counter()
    datums = [(m, ts, random.random() * 100) for ts in range(start, now, 60) for m in range(metrics)]
    with multiprocessing.Pool(connections) as pool:
        pool.map(_put_metrics, [(port, datums[i:i + 1000]) for i in range(0, len(datums), 1000)])
    print(f"  filled {len(datums):,} datapoints in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    n = fill_group(port, "bench", events, 8, connections)
    print(f"  filled {n:,} log events in {time.perf_counter() - t:.1f} s", flush=True)
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
        span = fill(port, a.metrics, a.hours, a.events, a.connections)
        for op in OPS:
            r = measure(op, port, a.seconds, a.connections, a.metrics, span)
            print(f"  {op}: {r[0]:.0f} req/s, p50 {r[1]:.2f} ms, p99 {r[2]:.2f} ms, {r[3]} errors", flush=True)
            rows.append((op, name) + r)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return rows


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


def flush(binary, events, new, connections):
    """The bytes and time of a save after `new` events into a group of `events`."""
    port = free_port()
    with tempfile.TemporaryDirectory() as volume:
        env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
                   PERSISTENCE="1", SNAPSHOT_SAVE_STRATEGY="MANUAL")
        p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_port(port, p)
            t = time.perf_counter()
            total = fill_group(port, "flush", events, 16, connections)
            fill_s = time.perf_counter() - t
            state = os.path.join(volume, "state")
            first = save(port)
            before = dir_bytes(state)
            c = Client(port)
            ok(*c.logs("CreateLogStream", {"logGroupName": "flush", "logStreamName": "new"}), "CreateLogStream")
            now = int(time.time() * 1000)
            for i in range(0, new, 10_000):
                n = min(10_000, new - i)
                ok(*c.logs("PutLogEvents", {"logGroupName": "flush", "logStreamName": "new", "logEvents": [
                    {"timestamp": now - 60_000 + (i + k) * 50_000 // max(1, new), "message": f"INFO new event {i + k} ok"}
                    for k in range(n)]}), "PutLogEvents (new)")
            took = save(port)
            after = dir_bytes(state)
        finally:
            p.terminate()
            p.wait(timeout=120)
    print(f"\nFlush: a log group of {total:,} events (filled in {fill_s:.1f} s, first save {first:.2f} s, "
          f"state directory {before / (1 << 20):,.1f} MiB), then {new:,} more\n")
    print("| events in the group | new events | bytes written by the save | save time |")
    print("|---:|---:|---:|---:|")
    print(f"| {total:,} | {new:,} | {after - before:,} | {took * 1000:.0f} ms |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every size (hours, events, flush sizes); e.g. 0.01 for a debug build")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--hours", type=float)
    ap.add_argument("--events", type=int)
    ap.add_argument("--flush-events", type=int)
    ap.add_argument("--flush-new", type=int)
    ap.add_argument("--skip-flush", action="store_true")
    ap.add_argument("--no-moto", action="store_true")
    ap.add_argument("--only", choices=["snapstack", "moto"])
    a = ap.parse_args()
    if a.scale <= 0:
        ap.error("--scale must be positive")
    a.hours = a.hours if a.hours is not None else 168 * a.scale
    a.events = a.events if a.events is not None else max(100, int(1_000_000 * a.scale))
    a.flush_events = a.flush_events if a.flush_events is not None else max(1000, int(10_000_000 * a.scale))
    a.flush_new = a.flush_new if a.flush_new is not None else max(100, int(10_000 * min(1.0, a.scale * 10)))
    if a.hours > 335:
        ap.error("--hours: CloudWatch accepts data points up to two weeks old (at most 335 hours)")
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
    if not a.skip_flush and a.only != "moto":
        flush(a.binary, a.flush_events, a.flush_new, a.connections)


if __name__ == "__main__":
    main()
