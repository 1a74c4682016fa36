#!/usr/bin/env python3
"""snapstack beside moto: throughput and latency of each service's main call, in one run.

Usage: vs_moto.py SNAPSTACK_BIN [--rounds N] [--seconds S] [--connections C] [--ops a,b]
                  [--against moto|localstack]

`--against localstack` runs LocalStack (community, in host mode: `python -m
localstack.runtime.main`, no Docker) instead of moto: the Python that has `localstack-core[runtime]`
installed is `SNAPSTACK_LOCALSTACK_PYTHON` (LocalStack needs Python 3.12 or later), default
`python3`. It is started like the others: a fresh volume, persistence off, a free port.

For each operation and round, a fresh snapstack (persistence off, as moto has none) and a fresh
`moto_server` (from the machine's Python) are started on free ports, one after the other in
alternating order, and driven by `SNAPSTACK_BIN loadgen` with C keep-alive connections for S
seconds: the same requests, byte for byte, against both. Prints per operation the median
requests/s, p50 and p99 latency of each over the rounds, and the ratio snapstack / moto.
A run where a server answers errors is reported as such, not hidden. Use a release build.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

OPS = ["ssm-put", "ssm-get", "ddb-put", "ddb-get", "sqs-send", "s3-put", "s3-get",
       "sns-publish", "kms-encrypt", "secrets-get", "logs-put", "cw-put", "sts-identity",
       "kms-sign", "kms-sign-rsa", "kms-datakey", "kms-decrypt"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {timeout}s")


def wait_ready(port, proc, timeout=180):
    """Until LocalStack's health endpoint answers (its port opens before its services do)."""
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health",
                                        timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"LocalStack on {port} not ready after {timeout}s")


def start(kind, binary, port, volume):
    if kind == "snapstack":
        env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}",
                   LOCALSTACK_VOLUME_DIR=volume, PERSISTENCE="0")
        p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    elif kind == "localstack":
        python = os.environ.get("SNAPSTACK_LOCALSTACK_PYTHON", "python3")
        env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", PERSISTENCE="0",
                   LOCALSTACK_VOLUME_DIR=volume, DISABLE_EVENTS="1", SKIP_SSL_CERT_DOWNLOAD="1",
                   # LocalStack believes it runs in a container here; with its DNS server on,
                   # it would rewrite /etc/resolv.conf.
                   DNS_ADDRESS="0")
        p = subprocess.Popen([python, "-m", "localstack.runtime.main"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, p, timeout=180)
        wait_ready(port, p)
        return p
    else:
        moto = shutil.which("moto_server")
        if not moto:
            raise SystemExit("moto_server is not installed (pip install 'moto[server]')")
        p = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p


def measure(kind, binary, op, seconds, connections):
    port = free_port()
    with tempfile.TemporaryDirectory() as volume:
        p = start(kind, binary, port, volume)
        try:
            out = subprocess.run(
                [binary, "loadgen", "--addr", f"127.0.0.1:{port}", "--op", op,
                 "--seconds", str(seconds), "--connections", str(connections)],
                capture_output=True, text=True)
            if out.returncode != 0:
                return {"failed": (out.stderr or out.stdout).strip().splitlines()[-1][:120]}
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def summary(runs):
    ok = [r for r in runs if "failed" not in r]
    if not ok:
        return None, runs[0]["failed"]
    errors = sum(r["errors"] for r in ok)
    return {
        "rps": statistics.median(r["ops_per_sec"] for r in ok),
        "p50": statistics.median(r["p50_us"] for r in ok),
        "p99": statistics.median(r["p99_us"] for r in ok),
        "errors": errors,
        "ops": sum(r["ops"] for r in ok),
    }, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapstack")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--against", choices=["moto", "localstack"], default="moto")
    a = ap.parse_args()
    other = a.against
    ops = a.ops.split(",")
    print(f"{a.rounds} rounds x {a.seconds}s, {a.connections} connections; medians; "
          f"latency in microseconds")
    header = (f"| {'operation':<13} | {'snapstack req/s':>15} | {'p50':>6} | {'p99':>7} | "
              f"{other + ' req/s':>10} | {'p50':>7} | {'p99':>7} | {'ratio':>6} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for op in ops:
        runs = {"snapstack": [], other: []}
        for rnd in range(a.rounds):
            order = ["snapstack", other] if rnd % 2 == 0 else [other, "snapstack"]
            for kind in order:
                runs[kind].append(measure(kind, a.snapstack, op, a.seconds, a.connections))
        s, s_fail = summary(runs["snapstack"])
        m, m_fail = summary(runs[other])

        def cells(x, fail, w, w50):
            if x is None:
                return f"{'failed':>{w}} | {'':>{w50}} | {'':>7}", fail
            note = f"{x['errors']} errors of {x['ops']}" if x["errors"] else None
            return f"{x['rps']:>{w}.0f} | {x['p50']:>{w50}.0f} | {x['p99']:>7.0f}", note

        sc, s_note = cells(s, s_fail, 15, 6)
        mc, m_note = cells(m, m_fail, 10, 7)
        ratio = f"{s['rps'] / m['rps']:>6.1f}" if s and m and m["rps"] else f"{'-':>6}"
        print(f"| {op:<13} | {sc} | {mc} | {ratio} |")
        for who, note in (("snapstack", s_note), (other, m_note)):
            if note:
                print(f"|   {who}: {note}")


if __name__ == "__main__":
    main()
