#!/usr/bin/env python3
"""Lambda on snapstack: cold start and warm invoke latency, and warm throughput with C connections,
of a Python and a Node.js hello-world, beside LocalStack's published figures.

Usage: lambda_bench.py [--bin PATH | --endpoint URL] [--baseline BIN] [--rounds N] [--cold N]
                       [--warm N] [--seconds S] [--warmup S] [--connections C]
                       [--runtimes python,node] [--no-latency] [--no-throughput]

Starts the given snapstack binary (default target/release/snapstack, else target/debug) on a free
port with a temporary volume (persistence off), or uses a running server at --endpoint. With
--baseline BIN, both binaries are measured in every round, one after the other in alternating
order (as scripts/compare.py does), and shown side by side with their ratio. Every figure is the
median over --rounds rounds (each round a fresh server).

- cold: an invocation right after UpdateFunctionConfiguration (which retires the function's warm
  environments, so a new process starts, imports the handler and answers);
- warm: a RequestResponse invocation on an environment that is already running, one client;
- throughput: C client threads, each with its own keep-alive connection, invoke the function
  (RequestResponse, payload {}) back to back for S seconds after a warm-up of --warmup seconds
  (also C connections, so the environments exist before the clock starts). Reported: completed
  invocations per second, p50/p99 latency, and how many execution environments the server
  started for the function (its processes, children of the server, counted in /proc by their
  AWS_LAMBDA_FUNCTION_NAME: one environment runs one invocation at a time, so concurrency
  governs this, up to SNAPSTACK_LAMBDA_MAX_CONCURRENCY). Throttled (429) and failed invocations
  are counted, not timed. The throughput client is plain http.client with one SigV4 header
  set signed once per thread (the emulator does not check signatures by default), so that the
  client costs less than boto3 would; it still shares the machine's cores with the server and
  the functions, which a small machine's figures show.

Latency is measured at the client, so it includes the HTTP round trip. Node.js is measured when
`node` is on PATH. LocalStack's figures (LOCALSTACK below) are published ones, printed after ours
with their source and conditions: LocalStack's Lambda runs every environment in a Docker
container, which this project's machines lack, so they are not measured here (docs/LAMBDA.md,
"Benchmark").
"""

import argparse
import http.client
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

PY = "def handler(event, context):\n    return {'hello': 'world'}\n"
NODE = "exports.handler = async () => ({ hello: 'world' });\n"
RUNTIMES = {
    "python": ("Python (python3.12)", "python3.12", "index.py", PY),
    "node": ("Node.js (nodejs20.x)", "nodejs20.x", "index.js", NODE),
}

# Published LocalStack Lambda figures: (what, figure, conditions, source). Searched for: LocalStack
# docs, blog/discuss posts and GitHub issues and pull requests with measured Lambda invoke
# latency or throughput (docs/LAMBDA.md, "Benchmark", lists the searches). No published
# throughput figure (invocations/s with concurrent clients) was found.
LOCALSTACK = [
    ("warm invoke", "~10 ms", "LocalStack 2.0, echo Python function, container reused",
     "https://discuss.localstack.cloud/t/new-lambda-implementation-in-localstack-2-0/258"),
    ("cold start", "~600 ms", "LocalStack 2.0, echo Python function",
     "https://discuss.localstack.cloud/t/new-lambda-implementation-in-localstack-2-0/258"),
    ("warm invoke", "p50 24 ms, p99 41 ms", "LocalStack 2.1.0 host mode (Lambda in Docker), "
     "echo Python, 100 boto3 invokes, LocalStack's test_lambda_performance; machine not stated",
     "https://github.com/joe4dev/localstack-performance-testing (localstack-2.1.0/"
     "test_invoke_warm_start_host, CSV; p50/p99 computed from it)"),
    ("warm invoke", "p50 30 ms, p99 64 ms", "LocalStack 2.1.0 in Docker (Pro), same test",
     "same repository, localstack-2.1.0/test_invoke_warm_start_docker"),
    ("cold start", "p50 1,292 ms, p99 1,785 ms", "LocalStack 2.1.0 host mode, same test",
     "same repository, localstack-2.1.0/test_invoke_cold_start_host"),
    ("cold start", "p50 1,194 ms, p99 1,293 ms", "LocalStack 2.1.0 in Docker (Pro), same test",
     "same repository, localstack-2.1.0/test_invoke_cold_start_docker"),
    ("cold start", "p50 934 ms, p99 1,299 ms (min 731)", "LocalStack 2.0.1, Linux, host mode",
     "same repository, localstack-2.0.1-lambda-v2/test_invoke_cold_start_linux; summarised in "
     "https://github.com/localstack/localstack/pull/8137"),
    ("cold start", "p50 3.5-5.2 s, p99 4.1-8.1 s", "LocalStack 2.0.1 in Docker on macOS",
     "same repository, localstack-2.0.1-lambda-v2/test_invoke_cold_start*; PR 8137: "
     "'3.3s (min) to 7.5s (p99) on macOS with Docker'"),
    ("throughput", "none published", "a report of 15-20 near-simultaneous invocations of a "
     "nodejs22.x function all hanging (LocalStack in Docker, 2025)",
     "https://github.com/localstack/localstack/issues/13195"),
]


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
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def start(binary):
    port = free_port()
    vol = tempfile.mkdtemp(prefix="lambda-bench-")
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=vol,
               SNAPSTACK_INIT_DIR=os.path.join(vol, "no-init"))
    for k in ["PERSISTENCE", "LOCALSTACK_HOST", "SERVICES"]:
        env.pop(k, None)
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url, vol
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{binary}: the server did not start")


def environments(server_pid, function):
    """The live processes of a function's environments: children of the server whose
    environment names the function (Linux /proc)."""
    if server_pid is None:
        return None
    want = f"AWS_LAMBDA_FUNCTION_NAME={function}".encode()
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != server_pid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    n += 1
        except (OSError, ValueError, IndexError):
            continue
    return n


def lambda_client(url):
    return boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, read_timeout=120,
                                      max_pool_connections=64))


def signed_invoke(url, name):
    """(host, port, path, headers) of a signed Invoke of `name` with payload {}."""
    req = AWSRequest(method="POST", url=f"{url}/2015-03-31/functions/{name}/invocations", data=b"{}")
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(req)
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path.rstrip("/") + f"/2015-03-31/functions/{name}/invocations", \
        dict(req.headers.items())


def hammer(url, name, seconds, connections):
    """C threads invoking back to back for `seconds`: (completed, latencies ms, throttled, errors,
    elapsed)."""
    host, port, path, headers = signed_invoke(url, name)
    stop_at = [0.0]
    go = threading.Barrier(connections + 1)
    results = []
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        lat, throttled, errors = [], 0, 0
        go.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=b"{}", headers=headers)
                r = conn.getresponse()
                r.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=120)
                continue
            dt = (time.perf_counter() - t0) * 1000
            if r.status == 429:
                throttled += 1
            elif r.status != 200 or r.getheader("X-Amz-Function-Error"):
                errors += 1
            else:
                lat.append(dt)
        conn.close()
        with lock:
            results.append((lat, throttled, errors))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    go.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = [x for r in results for x in r[0]]
    return len(lat), lat, sum(r[1] for r in results), sum(r[2] for r in results), elapsed


def measure(url, server_pid, a, runtimes):
    """One round against one server: {runtime: {figure: value}}."""
    lam = lambda_client(url)
    out = {}
    for key in runtimes:
        label, runtime, fname, code = RUNTIMES[key]
        name = f"bench-{key}-{int(time.time() * 1000)}"
        lam.create_function(FunctionName=name, Runtime=runtime, Role="arn:aws:iam::000000000000:role/r",
                            Handler="index.handler", Code={"ZipFile": zip_of(fname, code)})
        row = {}

        def call():
            t0 = time.perf_counter()
            r = lam.invoke(FunctionName=name, Payload=b"{}")
            body = r["Payload"].read()
            dt = (time.perf_counter() - t0) * 1000
            if r.get("FunctionError"):
                sys.exit(f"{label}: {body!r}")
            return dt
        if not a.no_latency:
            cold = []
            for i in range(a.cold):
                lam.update_function_configuration(FunctionName=name, Description=f"cold {i}")
                cold.append(call())
            call()
            warm = [call() for _ in range(a.warm)]
            row.update({"cold p50": statistics.median(cold), "cold p99": pct(cold, 99),
                        "warm p50": statistics.median(warm), "warm p99": pct(warm, 99)})
        if not a.no_throughput:
            # A fresh configuration: no environment left from the latency runs.
            lam.update_function_configuration(FunctionName=name, Description="throughput")
            call()
            hammer(url, name, a.warmup, a.connections)
            n, lat, throttled, errors, elapsed = hammer(url, name, a.seconds, a.connections)
            row.update({"inv/s": n / elapsed, "tp p50": pct(lat, 50), "tp p99": pct(lat, 99),
                        "envs": environments(server_pid, name), "throttled": throttled,
                        "errors": errors})
        out[key] = row
    return out


def run_binary(binary, a, runtimes):
    proc, url, vol = start(binary)
    try:
        return measure(url, proc.pid, a, runtimes)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(vol, ignore_errors=True)


def med(rounds, key, fig):
    xs = [r[key][fig] for r in rounds if r[key].get(fig) is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin")
    ap.add_argument("--endpoint")
    ap.add_argument("--baseline", help="a second snapstack binary, measured in the same rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cold", type=int, default=10)
    ap.add_argument("--warm", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0, help="throughput run length")
    ap.add_argument("--warmup", type=float, default=2.0, help="throughput warm-up length")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--runtimes", default="python,node")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    a = ap.parse_args()
    runtimes = [r for r in a.runtimes.split(",") if r]
    for r in runtimes:
        if r not in RUNTIMES:
            sys.exit(f"--runtimes: {r} is not one of {', '.join(RUNTIMES)}")
    if "node" in runtimes and not shutil.which("node"):
        print("node is not on PATH: Node.js is not measured", file=sys.stderr)
        runtimes.remove("node")
    if a.endpoint and a.baseline:
        sys.exit("--baseline starts binaries; it does not go with --endpoint")

    builds = {}
    if a.endpoint:
        builds["server"] = [measure(a.endpoint, None, a, runtimes) for _ in range(a.rounds)]
    else:
        binary = a.bin or next((p for p in ["target/release/snapstack", "target/debug/snapstack"]
                                if os.path.exists(p)), None)
        if not binary:
            sys.exit("no snapstack binary: build one or pass --bin")
        order = [("this", binary)] + ([("baseline", a.baseline)] if a.baseline else [])
        builds = {k: [] for k, _ in order}
        for r in range(a.rounds):
            for which, b in (order if r % 2 == 0 else order[::-1]):
                builds[which].append(run_binary(b, a, runtimes))
                time.sleep(0.2)

    names = list(builds)
    print(f"median of {a.rounds} round(s); latency in ms at the client")
    if not a.no_latency:
        print(f"\nlatency ({a.cold} cold starts, {a.warm} warm invokes per round)")
        figs = ["cold p50", "cold p99", "warm p50", "warm p99"]
        head = "| runtime | " + " | ".join(f"{f} {n}" if len(names) > 1 else f for f in figs for n in names)
        print(head + " |")
        print("|---|" + "---:|" * (len(figs) * len(names)))
        for key in runtimes:
            cells = [fmt(med(builds[n], key, f)) for f in figs for n in names]
            print(f"| {RUNTIMES[key][0]} | " + " | ".join(cells) + " |")
    if not a.no_throughput:
        print(f"\nwarm throughput: {a.connections} connections, {a.seconds:g} s after a "
              f"{a.warmup:g} s warm-up")
        figs = [("inv/s", 0), ("tp p50", 1), ("tp p99", 1), ("envs", 0), ("throttled", 0),
                ("errors", 0)]
        labels = {"inv/s": "invocations/s", "tp p50": "p50 ms", "tp p99": "p99 ms",
                  "envs": "environments", "throttled": "throttled", "errors": "errors"}
        cols = [f"{labels[f]} {n}" if len(names) > 1 else labels[f] for f, _ in figs for n in names]
        if len(names) > 1:
            cols.append(f"invocations/s {names[0]}/{names[1]}")
        print("| runtime | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for key in runtimes:
            cells = [fmt(med(builds[n], key, f), d) for f, d in figs for n in names]
            if len(names) > 1:
                x, y = med(builds[names[0]], key, "inv/s"), med(builds[names[1]], key, "inv/s")
                cells.append(f"{x / y:.3f}" if x and y else "n/a")
            print(f"| {RUNTIMES[key][0]} | " + " | ".join(cells) + " |")
    print("\nLocalStack, published figures (not measured here: its Lambda needs Docker)")
    print("| figure | value | conditions | source |")
    print("|---|---|---|---|")
    for what, value, cond, src in LOCALSTACK:
        print(f"| {what} | {value} | {cond} | {src} |")


if __name__ == "__main__":
    main()
