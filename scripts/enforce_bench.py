#!/usr/bin/env python3
"""Throughput with ENFORCE_IAM off and on, side by side in one run.

Usage: enforce_bench.py BIN [--rounds N] [--seconds S] [--connections C] [--ops a,b] [--pin]
       enforce_bench.py BIN --instructions [--ops a,b]

For each operation and round, BIN is started twice (fresh temporary volume, persistence off, a
free port), once with ENFORCE_IAM=0 and once with ENFORCE_IAM=1, in alternating order. In both,
an IAM user is created (with the root's test/test credentials) whose policy allows the measured
action, and `BIN loadgen` signs every measured request with that user's access key
(SNAPSTACK_LOADGEN_ACCESS_KEY/SECRET_KEY: real SigV4, so the client does the same work in both
modes). With enforcement on, the server verifies each signature, resolves the user and evaluates
its policy; off, it does neither. Prints the median requests/s and p50 latency of each mode and
their ratio, and the server's CPU time per request (user + system, from /proc/PID/stat over the
run): on a busy machine throughput follows whatever else runs, CPU per request hardly does, so
the CPU columns are the ones to compare there.

--instructions counts instead of timing: the server runs under valgrind's callgrind, and the
instructions it executes per request are the difference between two load windows (3 s and 9 s,
counters zeroed before each), so start-up and set-up cancel out. The count does not depend on
the machine's load, so two builds compare exactly; but it is not time: valgrind's CPU has no
SHA extensions, so SHA-256 counts as software (about 3,400 instructions a block) where the
real CPU runs it in hardware, and system calls do not count at all.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time

import boto3

OPS = ["sts-identity", "ssm-get", "ddb-get", "s3-get"]
# The action each measured operation needs.
ACTIONS = {
    "sts-identity": "sts:GetCallerIdentity",
    "ssm-get": "ssm:GetParameter",
    "ssm-put": "ssm:PutParameter",
    "ddb-get": "dynamodb:GetItem",
    "ddb-put": "dynamodb:PutItem",
    "s3-get": "s3:GetObject",
    "s3-put": "s3:PutObject",
    "sqs-send": "sqs:SendMessage",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PIN = {"server": [], "client": []}


def start(binary, port, volume, enforce):
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
               PERSISTENCE="0", ENFORCE_IAM="1" if enforce else "0")
    p = subprocess.Popen(PIN["server"] + [binary, "serve"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if "listening" not in line:
        p.kill()
        raise SystemExit(f"{binary} did not start: {line!r}")
    return p


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (Linux)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def user(port, op):
    iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    iam.create_user(UserName="bench")
    iam.put_user_policy(UserName="bench", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ACTIONS.get(op, "*"), "Resource": "*"}]}))
    k = iam.create_access_key(UserName="bench")["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def measure(binary, op, seconds, connections, enforce):
    port = free_port()
    with tempfile.TemporaryDirectory() as volume:
        p = start(binary, port, volume, enforce)
        try:
            key, secret = user(port, op)
            env = dict(os.environ, SNAPSTACK_LOADGEN_ACCESS_KEY=key,
                       SNAPSTACK_LOADGEN_SECRET_KEY=secret)
            cpu0 = cpu_seconds(p.pid)
            out = subprocess.run(
                PIN["client"] + [binary, "loadgen", "--addr", f"127.0.0.1:{port}", "--op", op,
                 "--seconds", str(seconds), "--connections", str(connections)],
                check=True, capture_output=True, text=True, env=env).stdout
            r = json.loads(out.strip().splitlines()[-1])
            # Includes the load generator's setup requests (a few), negligible over a run.
            r["cpu_us"] = (cpu_seconds(p.pid) - cpu0) / max(r["ops"], 1) * 1e6
            if r["errors"]:
                raise SystemExit(f"{op} enforce={enforce}: {r['errors']} errors")
            return r
        finally:
            p.terminate()
            p.wait(timeout=30)


def instructions(binary, op, enforce):
    """Instructions the server executes per request (callgrind), set-up excluded."""
    port = free_port()
    with tempfile.TemporaryDirectory() as volume:
        saved = PIN["server"]
        PIN["server"] = ["valgrind", "--tool=callgrind", "--dump-instr=no",
                         f"--callgrind-out-file={volume}/cg.%p"]
        try:
            p = start(binary, port, volume + "/state", enforce)
        finally:
            PIN["server"] = saved
        try:
            key, secret = user(port, op)
            env = dict(os.environ, SNAPSTACK_LOADGEN_ACCESS_KEY=key,
                       SNAPSTACK_LOADGEN_SECRET_KEY=secret)

            def load(seconds):
                out = subprocess.run(
                    [binary, "loadgen", "--addr", f"127.0.0.1:{port}", "--op", op, "--seconds",
                     str(seconds), "--connections", "4", "--keys", "200"],
                    check=True, capture_output=True, text=True, env=env).stdout
                return json.loads(out.strip().splitlines()[-1])["ops"]

            load(2)  # warm: caches, remembered decisions, derived signing keys
            windows = []
            for seconds in (3, 9):
                subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True,
                               capture_output=True)
                ops = load(seconds)
                subprocess.run(["callgrind_control", "-d", f"w{seconds}", str(p.pid)],
                               check=True, capture_output=True)
                newest = max((os.path.join(volume, f) for f in os.listdir(volume)
                              if f.startswith("cg.")), key=os.path.getmtime)
                total = next(int(line.split()[1]) for line in open(newest)
                             if line.startswith(("summary:", "totals:")))
                windows.append((ops, total))
            (ops1, ir1), (ops2, ir2) = windows
            return (ir2 - ir1) / max(ops2 - ops1, 1)
        finally:
            p.terminate()
            p.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--pin", action="store_true",
                    help="server on CPU 0, load generator on CPU 1 (taskset): the server is "
                         "then the bottleneck, so throughput follows its CPU per request")
    ap.add_argument("--instructions", action="store_true",
                    help="count the server's instructions per request under callgrind instead "
                         "of timing it (deterministic; see above)")
    a = ap.parse_args()
    if a.instructions:
        print("| operation | instructions/req off | on | added by enforcement | on/off |")
        print("|---|---:|---:|---:|---:|")
        for op in a.ops.split(","):
            off, on = instructions(a.binary, op, False), instructions(a.binary, op, True)
            print(f"| {op} | {off:,.0f} | {on:,.0f} | {on - off:,.0f} | {on / off:.3f} |")
        return
    if a.pin:
        PIN["server"], PIN["client"] = ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    rows = []
    for op in a.ops.split(","):
        runs = {False: [], True: []}
        for r in range(a.rounds):
            for enforce in ([False, True] if r % 2 == 0 else [True, False]):
                runs[enforce].append(measure(a.binary, op, a.seconds, a.connections, enforce))
                time.sleep(0.2)
        off = statistics.median(x["ops_per_sec"] for x in runs[False])
        on = statistics.median(x["ops_per_sec"] for x in runs[True])
        off_p = statistics.median(x["p50_us"] for x in runs[False])
        on_p = statistics.median(x["p50_us"] for x in runs[True])
        off_c = statistics.median(x["cpu_us"] for x in runs[False])
        on_c = statistics.median(x["cpu_us"] for x in runs[True])
        rows.append((op, off, on, on / off, off_p, on_p, off_c, on_c))
    print(f"{a.connections} keep-alive connections, {a.seconds:g} s per run, median of {a.rounds} "
          "alternating rounds, every request SigV4-signed with an IAM user's key")
    print("| operation | ENFORCE_IAM=0 req/s | ENFORCE_IAM=1 req/s | on/off | p50 off µs | p50 on µs "
          "| server CPU µs/req off | on | on/off |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for op, off, on, ratio, off_p, on_p, off_c, on_c in rows:
        print(f"| {op} | {off:,.0f} | {on:,.0f} | {ratio:.3f} | {off_p:.0f} | {on_p:.0f} "
              f"| {off_c:.1f} | {on_c:.1f} | {on_c / max(off_c, 1e-9):.3f} |")


if __name__ == "__main__":
    main()
