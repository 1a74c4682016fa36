#!/usr/bin/env python3
"""Cold start and warm invoke latency of a Python and a Node.js hello-world on snapstack's Lambda.

Usage: lambda_bench.py [--bin PATH | --endpoint URL] [--cold N] [--warm N]

Starts the given snapstack binary (default target/release/snapstack, else target/debug) on a free
port with a temporary volume (persistence off), or uses a running server at --endpoint. For each
runtime, a cold start is an invocation right after UpdateFunctionConfiguration (which retires the
function's warm environments, so a new process starts, imports the handler and answers); a warm
invoke is a RequestResponse invocation on an environment that is already running. Latency is
measured at the client (boto3, keep-alive), so it includes the HTTP round trip. Prints a table of
the median and p95 in milliseconds.
"""

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3
from botocore.config import Config

PY = "def handler(event, context):\n    return {'hello': 'world'}\n"
NODE = "exports.handler = async () => ({ hello: 'world' });\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zip_of(name, text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def start(binary):
    port = free_port()
    vol = tempfile.mkdtemp(prefix="lambda-bench-")
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=vol,
               SNAPSTACK_INIT_DIR=os.path.join(vol, "no-init"))
    for k in ["PERSISTENCE", "LOCALSTACK_HOST", "SERVICES"]:
        env.pop(k, None)
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("the server did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--endpoint")
    ap.add_argument("--cold", type=int, default=10)
    ap.add_argument("--warm", type=int, default=100)
    a = ap.parse_args()
    proc = None
    if a.endpoint:
        url = a.endpoint
    else:
        binary = a.bin or next((p for p in ["target/release/snapstack", "target/debug/snapstack"]
                                if os.path.exists(p)), None)
        if not binary:
            sys.exit("no snapstack binary: build one or pass --bin")
        proc, url = start(binary)
    try:
        lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test",
                           config=Config(retries={"max_attempts": 1}, read_timeout=120))
        rows = []
        for label, runtime, fname, code in [("Python (python3.12)", "python3.12", "index.py", PY),
                                            ("Node.js (nodejs20.x)", "nodejs20.x", "index.js", NODE)]:
            name = f"bench-{runtime.replace('.', '-')}-{int(time.time())}"
            lam.create_function(FunctionName=name, Runtime=runtime, Role="arn:aws:iam::000000000000:role/r",
                                Handler="index.handler", Code={"ZipFile": zip_of(fname, code)})

            def call():
                t0 = time.perf_counter()
                r = lam.invoke(FunctionName=name, Payload=b"{}")
                body = r["Payload"].read()
                dt = (time.perf_counter() - t0) * 1000
                if r.get("FunctionError"):
                    sys.exit(f"{label}: {body!r}")
                return dt
            cold = []
            for i in range(a.cold):
                lam.update_function_configuration(FunctionName=name, Description=f"cold {i}")
                cold.append(call())
            call()
            warm = [call() for _ in range(a.warm)]
            rows.append((label, cold, warm))
        print(f"{'runtime':<22} {'cold p50':>10} {'cold p95':>10} {'warm p50':>10} {'warm p95':>10}   (ms; "
              f"{a.cold} cold, {a.warm} warm)")
        for label, cold, warm in rows:
            print(f"{label:<22} {statistics.median(cold):>10.1f} {pct(cold, 95):>10.1f} "
                  f"{statistics.median(warm):>10.1f} {pct(warm, 95):>10.1f}")
    finally:
        if proc:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
