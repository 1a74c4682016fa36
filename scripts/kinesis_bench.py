#!/usr/bin/env python3
"""Kinesis figures of one snapstack build, beside kinesalite's where it is installed:
PutRecord and PutRecords records/s and GetRecords latency (16 connections by default), and the
bytes and time of a save (flush) after 1,000 new records into a stream that already holds a
large amount of data (1 GiB by default).

Usage: kinesis_bench.py BIN [--seconds S] [--connections C] [--flush-gib G] [--record-bytes B]
                            [--kinesalite DIR] [--kinesis-mock DIR] [--skip-flush]
                            [--skip-throughput]

Throughput: each server starts fresh (snapstack with persistence and throttling off; kinesalite and
kinesis-mock in memory, streams active at once), a 4-shard stream `load` is created, and the
same clients drive all of them: `BIN loadgen` (Rust, keep-alive connections, every request
SigV4-signed with a date as kinesalite requires) for PutRecord and PutRecords (100 records of
100 bytes a request), and this script's own asyncio client for GetRecords (Limit 100 from
TRIM_HORIZON over 10,000 records; `BIN loadgen`'s GetRecords setup sends unsigned requests,
which kinesalite refuses).
kinesalite (npm `kinesalite`) is looked for in DIR (default ~/.cache/snapstack-kinesalite:
`npm install --prefix ~/.cache/snapstack-kinesalite kinesalite`), kinesis-mock, the Kinesis
LocalStack runs (npm `kinesis-local`, its Scala.js build), in ~/.cache/snapstack-kinesis-mock
(`npm install --prefix ~/.cache/snapstack-kinesis-mock kinesis-local`); one not installed is
named as not run.

Flush: a server with PERSISTENCE=1 and SNAPSHOT_SAVE_STRATEGY=MANUAL, a 4-shard stream filled
with G GiB of B-byte records (default 1,000: under the 4 KiB blob threshold, so every record is
a store record), a save, 1,000 more records and a save again; the bytes are those the state
directory grew by, the time that of the POST /_localstack/state/save. kinesalite has no flush
(every write goes to LevelDB as it is made). kinesis-mock (when installed) persists by writing
its whole state as one JSON file every PERSIST_INTERVAL (1 s here): the same fill and 1,000
records, and the size of the file its next persist writes (the bytes that flush wrote) and the
time from the 1,000th acknowledged record to that file's replacement.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config

DEFAULT_KINESALITE = os.path.expanduser("~/.cache/snapstack-kinesalite")
DEFAULT_KINESIS_MOCK = os.path.expanduser("~/.cache/snapstack-kinesis-mock")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{what} did not listen on {port} in {timeout} s")


def start(binary, port, volume, persistence):
    # Throttling off: the load is far above a provisioned shard's 1 MiB / 1,000 records a second
    # (kinesalite and kinesis-mock do not throttle either).
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
               PERSISTENCE="1" if persistence else "0", SNAPSHOT_SAVE_STRATEGY="MANUAL",
               SNAPSTACK_KINESIS_THROTTLE="0")
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if "listening" not in line:
        p.kill()
        raise SystemExit(f"{binary} did not start: {line!r}")
    return p


def kinesalite_cli(directory):
    cli = os.path.join(directory, "node_modules", "kinesalite", "cli.js")
    return cli if os.path.isfile(cli) and shutil.which("node") else None


def start_kinesalite(cli, port):
    p = subprocess.Popen(["node", cli, "--port", str(port), "--createStreamMs", "0",
                          "--deleteStreamMs", "0", "--updateStreamMs", "0", "--shardLimit", "100"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p, "kinesalite")
    return p


def kinesis_mock_main(directory):
    main = os.path.join(directory, "node_modules", "kinesis-local", "main.js")
    return main if os.path.isfile(main) and shutil.which("node") else None


def start_kinesis_mock(main, port):
    # It reads its server.json (TLS material) from the working directory.
    env = dict(os.environ, KINESIS_MOCK_PLAIN_PORT=str(port), KINESIS_MOCK_TLS_PORT=str(free_port()),
               CREATE_STREAM_DURATION="0ms", LOG_LEVEL="ERROR", ROOT_LOG_LEVEL="ERROR")
    p = subprocess.Popen(["node", main], cwd=os.path.dirname(main), env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p, "kinesis-mock", timeout=60)
    return p


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def client(port, read_timeout=60):
    return boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout))


def create_load_stream(port):
    k = client(port)
    k.create_stream(StreamName="load", ShardCount=4)
    for _ in range(300):
        if k.describe_stream_summary(StreamName="load")["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return k
        time.sleep(0.1)
    raise SystemExit("the stream `load` did not become ACTIVE")


def loadgen(binary, port, op, seconds, connections):
    # A real signature with X-Amz-Date on every request: kinesalite refuses requests without a
    # date; snapstack checks nothing unless IAM enforcement is on.
    env = dict(os.environ, SNAPSTACK_LOADGEN_ACCESS_KEY="test", SNAPSTACK_LOADGEN_SECRET_KEY="test")
    out = subprocess.run([binary, "loadgen", "--addr", f"127.0.0.1:{port}", "--op", op,
                          "--seconds", str(seconds), "--connections", str(connections),
                          "--keys", "10000"],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def percentile(sorted_values, q):
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _get_records_load(port, iterators, seconds, connections):
    """GetRecords (Limit 100) on `connections` keep-alive connections for `seconds`: (requests,
    errors, latencies in µs)."""
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    auth = ("AWS4-HMAC-SHA256 Credential=test/" + date[:8] +
            "/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0")
    reqs = []
    for it in iterators:
        body = json.dumps({"ShardIterator": it, "Limit": 100}).encode()
        reqs.append((f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "X-Amz-Target: Kinesis_20131202.GetRecords\r\n"
                     "Content-Type: application/x-amz-json-1.1\r\n"
                     f"X-Amz-Date: {date}\r\nAuthorization: {auth}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    deadline = time.perf_counter() + seconds
    lat, counts = [], [0, 0]

    async def worker(c):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = c
        while time.perf_counter() < deadline:
            req = reqs[i % len(reqs)]
            i += 1
            t = time.perf_counter()
            writer.write(req)
            status_line = await reader.readline()
            length, chunked = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
                elif k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            lat.append((time.perf_counter() - t) * 1e6)
            counts[0] += 1
            if b" 200 " not in status_line:
                counts[1] += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in range(connections)))
    return counts[0], counts[1], sorted(lat), time.perf_counter() - start


def get_records_load(port, seconds, connections):
    k = client(port)
    data = b"x" * 100
    for i in range(100):
        r = k.put_records(StreamName="load", Records=[
            {"Data": data, "PartitionKey": f"k{i}-{j}"} for j in range(100)])
        if r.get("FailedRecordCount"):
            raise SystemExit(f"preloading: {r['FailedRecordCount']} records failed")
    its = [k.get_shard_iterator(StreamName="load", ShardId=f"shardId-{s:012}",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"] for s in range(4)]
    n, errors, lat, elapsed = asyncio.run(_get_records_load(port, its, seconds, connections))
    return {"ops_per_sec": n / elapsed, "p50_us": int(percentile(lat, 0.5)),
            "p99_us": int(percentile(lat, 0.99)), "errors": errors}


def throughput(binary, seconds, connections, kinesalite_dir, kinesis_mock_dir):
    servers = [("snapstack", lambda port, volume: start(binary, port, volume, False))]
    missing = []
    cli = kinesalite_cli(kinesalite_dir)
    if cli:
        servers.append(("kinesalite", lambda port, _: start_kinesalite(cli, port)))
    else:
        missing.append(f"kinesalite (no {kinesalite_dir}/node_modules/kinesalite: npm install "
                       f"--prefix {kinesalite_dir} kinesalite)")
    main = kinesis_mock_main(kinesis_mock_dir)
    if main:
        servers.append(("kinesis-mock", lambda port, _: start_kinesis_mock(main, port)))
    else:
        missing.append(f"kinesis-mock (no {kinesis_mock_dir}/node_modules/kinesis-local: npm "
                       f"install --prefix {kinesis_mock_dir} kinesis-local)")
    ops = [("PutRecord", "kinesis-put", 1), ("PutRecords", "kinesis-putrecords", 100),
           ("GetRecords", "get", 100)]
    rows = []
    for name, op, per_request in ops:
        for server, launch in servers:
            port = free_port()
            with tempfile.TemporaryDirectory() as volume:
                p = launch(port, volume)
                try:
                    create_load_stream(port)
                    if op == "get":
                        r = get_records_load(port, seconds, connections)
                    else:
                        r = loadgen(binary, port, op, seconds, connections)
                finally:
                    stop(p)
            rows.append((name, server, r["ops_per_sec"], r["ops_per_sec"] * per_request, r["p50_us"],
                         r["p99_us"], r["errors"]))
    print(f"\n{connections} connections, {seconds} s each; PutRecord/PutRecords by `loadgen`, "
          "GetRecords (Limit 100 from TRIM_HORIZON) by this script's asyncio client\n")
    print("| operation | server | requests/s | records/s | p50 µs | p99 µs | errors |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, server, rps, recs, p50, p99, err in rows:
        print(f"| {name} | {server} | {rps:,.0f} | {recs:,.0f} | {p50:,} | {p99:,} | {err} |")
    for m in missing:
        print(f"\nnot run: {m}{'' if shutil.which('node') else '; no node on PATH'}")


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


def flush(binary, gib, record_bytes):
    port = free_port()
    fill_bytes = int(gib * (1 << 30))
    with tempfile.TemporaryDirectory() as volume:
        p = start(binary, port, volume, True)
        try:
            k = client(port, read_timeout=600)
            k.create_stream(StreamName="big", ShardCount=4)
            total = max(1, fill_bytes // record_bytes)
            t = time.perf_counter()
            data = fill_stream(k, "big", total, record_bytes)
            fill_s = time.perf_counter() - t
            state = os.path.join(volume, "state")
            first = save(port)
            before = dir_bytes(state)
            for i in range(0, 1000, 500):
                r = k.put_records(StreamName="big", Records=[
                    {"Data": data, "PartitionKey": f"new{i + j}"} for j in range(500)])
                if r.get("FailedRecordCount"):
                    raise SystemExit(f"PutRecords failed: {r['FailedRecordCount']} records")
            took = save(port)
            after = dir_bytes(state)
            grew = after - before
        finally:
            stop(p)
    print(f"\nFlush: a 4-shard stream holding {total:,} records of {record_bytes} bytes "
          f"({total * record_bytes / (1 << 30):.3f} GiB, filled in {fill_s:.1f} s, first save "
          f"{first:.2f} s, state directory {before / (1 << 20):,.1f} MiB), then 1,000 more\n")
    print("| records in the stream | new records | new bytes | bytes written by the save | save time |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {total:,} | 1,000 | {1000 * record_bytes:,} | {grew:,} | {took * 1000:.0f} ms |")


def fill_stream(k, stream, total, record_bytes):
    data = os.urandom(record_bytes)
    per_call = max(1, min(500, (4 << 20) // record_bytes))
    n = 0
    while n < total:
        batch = [{"Data": data, "PartitionKey": f"k{n + i}"} for i in range(min(per_call, total - n))]
        r = k.put_records(StreamName=stream, Records=batch)
        if r.get("FailedRecordCount"):
            raise SystemExit(f"PutRecords failed: {r['FailedRecordCount']} records")
        n += len(batch)
    return data


def flush_kinesis_mock(main, gib, record_bytes):
    """kinesis-mock's persistence: the bytes and time of the dump after 1,000 new records."""
    port = free_port()
    total = max(1, int(gib * (1 << 30)) // record_bytes)
    with tempfile.TemporaryDirectory() as volume:
        env = dict(os.environ, KINESIS_MOCK_PLAIN_PORT=str(port), KINESIS_MOCK_TLS_PORT=str(free_port()),
                   CREATE_STREAM_DURATION="0ms", LOG_LEVEL="ERROR", ROOT_LOG_LEVEL="ERROR",
                   SHOULD_PERSIST_DATA="true", PERSIST_PATH=volume, PERSIST_INTERVAL="1s")
        p = subprocess.Popen(["node", main], cwd=os.path.dirname(main), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = os.path.join(volume, "kinesis-data.json")
        try:
            wait_port(port, p, "kinesis-mock", timeout=60)
            k = client(port, read_timeout=600)
            k.create_stream(StreamName="big", ShardCount=4)
            time.sleep(0.5)
            data = fill_stream(k, "big", total, record_bytes)
            time.sleep(3)  # a persist of the filled stream
            before = os.stat(path)
            for i in range(0, 1000, 500):
                k.put_records(StreamName="big", Records=[
                    {"Data": data, "PartitionKey": f"new{i + j}"} for j in range(500)])
            acked = time.time()
            end = acked + 600
            last = None
            while time.time() < end:
                # The first write begun after the acknowledgement, once it stops changing.
                st = os.stat(path)
                if st.st_mtime > acked and st.st_size > before.st_size:
                    if last and (last.st_size, last.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                        break
                    last = st
                    time.sleep(0.2)
                    continue
                time.sleep(0.01)
            else:
                raise SystemExit("kinesis-mock did not persist the new records in 10 minutes")
            took = last.st_mtime - acked
            size = last.st_size
        finally:
            stop(p)
    print(f"\nkinesis-mock: the same {total:,} records, then 1,000 more; it rewrites its whole state "
          f"file every second\n")
    print("| records in the stream | new records | bytes written by the next persist | acknowledged → persisted |")
    print("|---:|---:|---:|---:|")
    print(f"| {total:,} | 1,000 | {size:,} | {max(took, 0) * 1000:.0f} ms |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--flush-gib", type=float, default=1.0,
                    help="data in the stream before the 1,000 new records (GiB; 0.01 on debug)")
    ap.add_argument("--record-bytes", type=int, default=1000)
    ap.add_argument("--kinesalite", default=DEFAULT_KINESALITE,
                    help="the npm prefix kinesalite is installed in")
    ap.add_argument("--kinesis-mock", default=DEFAULT_KINESIS_MOCK,
                    help="the npm prefix kinesis-local (kinesis-mock) is installed in")
    ap.add_argument("--skip-flush", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    a = ap.parse_args()
    if not a.skip_throughput:
        throughput(a.bin, a.seconds, a.connections, a.kinesalite, a.kinesis_mock)
    if not a.skip_flush:
        flush(a.bin, a.flush_gib, a.record_bytes)
        main_js = kinesis_mock_main(a.kinesis_mock)
        if main_js:
            flush_kinesis_mock(main_js, a.flush_gib, a.record_bytes)


if __name__ == "__main__":
    main()
