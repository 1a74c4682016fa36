#!/usr/bin/env python3
"""Pods: time and bytes sent for a first save, a second save after changing 1 % of the data,
and a load into a fresh server, against a local directory remote.

Usage: pod_bench.py SNAPSTACK_BIN [--mib N] [--items N]

The state is N MiB of S3 objects (1 MiB each, pseudo-random) plus DynamoDB items. The issue asks
for 1 GiB and 1M items; the defaults are smaller so the run takes a minute or two (pass
--mib 1024 --items 1000000 for the full size). LocalStack's Cloud Pods upload the whole state on
every save, so its "bytes sent" for the second save equal the first (shown for comparison).
"""

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, volume, persistence):
    port = free_port()
    env = dict(os.environ, GATEWAY_LISTEN=f"127.0.0.1:{port}", LOCALSTACK_VOLUME_DIR=volume,
               PERSISTENCE="1" if persistence else "0", SNAPSHOT_SAVE_STRATEGY="MANUAL")
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1",
                        config=Config(retries={"max_attempts": 2}, read_timeout=300))


def pod(binary, *args):
    t = time.monotonic()
    out = subprocess.run([binary, "pod", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"pod {args}: {out.stdout}\n{out.stderr}")
    return time.monotonic() - t, out.stdout


def sent(save_output):
    m = re.search(r"(\d+) chunks \((\d+) bytes\); sent (\d+) chunks \((\d+) bytes\)", save_output)
    return tuple(int(x) for x in m.groups())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument("--items", type=int, default=50000)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pod-bench-")
    try:
        vol = os.path.join(work, "source")
        remote = f"file://{work}/remote"
        srv, ep = start(a.binary, vol, True)
        s3 = client("s3", ep)
        s3.create_bucket(Bucket="bench")
        rnd = random.Random(1)
        for i in range(a.mib):
            s3.put_object(Bucket="bench", Key=f"o/{i:06}", Body=rnd.randbytes(1 << 20))
        ddb = client("dynamodb", ep)
        ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        for start_i in range(0, a.items, 25):
            reqs = [{"PutRequest": {"Item": {"id": {"S": f"item-{i:08}"},
                                             "v": {"S": f"value {i}"}}}}
                    for i in range(start_i, min(a.items, start_i + 25))]
            ddb.batch_write_item(RequestItems={"bench": reqs})
        common = ["--remote", remote, "--volume-dir", vol, "--endpoint", ep]
        t1, out1 = pod(a.binary, "save", "bench", *common)
        c1, b1, sc1, sb1 = sent(out1)
        # Change 1 %: rewrite 1 % of the objects and 1 % of the items.
        for i in range(0, a.mib, 100):
            s3.put_object(Bucket="bench", Key=f"o/{i:06}", Body=rnd.randbytes(1 << 20))
        for start_i in range(0, a.items, 2500):
            ddb.put_item(TableName="bench", Item={"id": {"S": f"item-{start_i:08}"},
                                              "v": {"S": "changed"}})
        t2, out2 = pod(a.binary, "save", "bench", *common)
        c2, b2, sc2, sb2 = sent(out2)
        srv.terminate()
        srv.wait()
        fresh, fep = start(a.binary, os.path.join(work, "fresh"), False)
        t3, _ = pod(a.binary, "load", "bench", "--remote", remote, "--endpoint", fep)
        fresh.terminate()
        fresh.wait()
        print(f"\nPod of {a.mib} MiB of S3 objects + {a.items} DynamoDB items, local directory remote\n")
        print(f"| step | time (s) | chunks | bytes sent | % of first | LocalStack (full upload) |")
        print(f"|---|---:|---:|---:|---:|---:|")
        print(f"| first save | {t1:.1f} | {sc1} of {c1} | {sb1} | 100 % | {b1} |")
        print(f"| second save (1 % changed) | {t2:.1f} | {sc2} of {c2} | {sb2} | "
              f"{100 * sb2 / max(sb1, 1):.2f} % | {b2} |")
        print(f"| load into a fresh server | {t3:.1f} | {c2} | {b2} fetched | | |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
