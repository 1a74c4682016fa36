#!/usr/bin/env python3
"""Before/after throughput of two snapstack builds, side by side in one run.

Usage: compare.py BEFORE_BIN AFTER_BIN [--rounds N] [--seconds S] [--connections C] [--ops a,b]

For each operation and round, both binaries are started (fresh temporary volume, persistence
off, a free port) one after the other, in alternating order, and driven by the AFTER build's
`snapstack loadgen` with C keep-alive connections for S seconds. Prints, per operation, the
median requests/s and p50 latency of each build over the rounds, and their ratio, and the
server's CPU time per request (user + system, from /proc/PID/stat over the run). On a busy
machine throughput follows whatever else runs; CPU per request hardly does, so read that column
when the two disagree.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time

OPS = ["ssm-put", "ssm-get", "ddb-put", "ddb-get", "sqs-send", "s3-put", "s3-get"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, port, volume):
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
               PERSISTENCE="0")
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE,
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


def measure(server_bin, loadgen_bin, op, seconds, connections):
    port = free_port()
    with tempfile.TemporaryDirectory() as volume:
        p = start(server_bin, port, volume)
        try:
            cpu0 = cpu_seconds(p.pid)
            out = subprocess.run(
                [loadgen_bin, "loadgen", "--addr", f"127.0.0.1:{port}", "--op", op,
                 "--seconds", str(seconds), "--connections", str(connections)],
                check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            r["cpu_us"] = (cpu_seconds(p.pid) - cpu0) / max(r["ops"], 1) * 1e6
            if r["errors"]:
                raise SystemExit(f"{server_bin} {op}: {r['errors']} errors")
            return r
        finally:
            p.terminate()
            p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--ops", default=",".join(OPS))
    a = ap.parse_args()
    rows = []
    for op in a.ops.split(","):
        runs = {"before": [], "after": []}
        for r in range(a.rounds):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for which in order:
                binary = a.before if which == "before" else a.after
                runs[which].append(measure(binary, a.after, op, a.seconds, a.connections))
                time.sleep(0.2)
        b = statistics.median(x["ops_per_sec"] for x in runs["before"])
        f = statistics.median(x["ops_per_sec"] for x in runs["after"])
        bp = statistics.median(x["p50_us"] for x in runs["before"])
        fp = statistics.median(x["p50_us"] for x in runs["after"])
        bc = statistics.median(x["cpu_us"] for x in runs["before"])
        fc = statistics.median(x["cpu_us"] for x in runs["after"])
        rows.append((op, b, f, f / b, bp, fp, bc, fc))
    print(f"{a.connections} keep-alive connections, {a.seconds:g} s per run, median of {a.rounds} "
          "alternating rounds")
    print("| operation | before req/s | after req/s | after/before | p50 before µs | p50 after µs "
          "| server CPU µs/req before | after | after/before |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for op, b, f, ratio, bp, fp, bc, fc in rows:
        print(f"| {op} | {b:,.0f} | {f:,.0f} | {ratio:.3f} | {bp:.0f} | {fp:.0f} "
              f"| {bc:.1f} | {fc:.1f} | {fc / bc:.3f} |")


if __name__ == "__main__":
    main()
