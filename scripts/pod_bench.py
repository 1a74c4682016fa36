#!/usr/bin/env python3
"""Pods: time, chunks and bytes sent for a first save, a second save after changing 1 % of the
data, and a load into a fresh server, against a local directory remote (or --remote URL).

Usage: pod_bench.py SNAPSTACK_BIN [--mib N] [--items N] [--workers N] [--remote URL]

The state is N MiB of S3 objects (1 MiB each, pseudo-random) plus N DynamoDB items (about 100
bytes each). The issue asks for 1 GiB and 1M items (--mib 1024 --items 1000000, a release
build); the defaults are smaller so a run takes a minute or two. The state is seeded in
parallel connections (PutObject, BatchWriteItem of 25 items), each generating its share as it
goes, so the script's memory stays bounded at any size. The 1 % change rewrites 1 % of the
objects (every 100th) and 1 % of the items: by default in ten runs of consecutive keys
(`--change clustered`: new or recently touched data usually sits together in the key space), or
every 100th item (`--change spread`, the worst case for a tree of sorted keys: nearly every leaf
of the table changes, so the second save sends most of the table's bytes again).

LocalStack's Cloud Pods upload the whole state on every save, so its "bytes sent" for the second
save equal the first (shown for comparison).
"""

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

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
    os.makedirs(volume, exist_ok=True)
    log = open(os.path.join(volume, "server.log"), "wb")
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, f"http://127.0.0.1:{port}"
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.1)
    raise SystemExit(f"the server did not start (see {volume}/server.log)")


_local = threading.local()


def client(service, endpoint):
    """One client per thread and service (boto3 clients are not shared across threads here)."""
    key = (service, endpoint)
    cache = getattr(_local, "clients", None)
    if cache is None:
        cache = _local.clients = {}
    if key not in cache:
        session = boto3.session.Session()
        cache[key] = session.client(
            service, endpoint_url=endpoint, aws_access_key_id="test",
            aws_secret_access_key="test", region_name="us-east-1",
            config=Config(retries={"max_attempts": 5}, read_timeout=300,
                          max_pool_connections=4))
    return cache[key]


def pod(binary, *args):
    t = time.monotonic()
    out = subprocess.run([binary, "pod", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"pod {args}: {out.stdout}\n{out.stderr}")
    return time.monotonic() - t, out.stdout


def sent(save_output):
    m = re.search(r"(\d+) chunks \((\d+) bytes\); sent (\d+) chunks \((\d+) bytes\)", save_output)
    if not m:
        raise SystemExit(f"unexpected save output: {save_output}")
    return tuple(int(x) for x in m.groups())


def fetched(load_output):
    m = re.search(r"fetched (\d+) chunks \((\d+) bytes\)", load_output)
    return tuple(int(x) for x in m.groups()) if m else (0, 0)


def parallel(workers, fn, jobs):
    """Run fn(job) for every job on `workers` threads, at most 4 × workers jobs queued at once
    (jobs is an iterator: the work is generated as it is consumed)."""
    with ThreadPoolExecutor(workers) as pool:
        pending = set()
        for job in jobs:
            pending.add(pool.submit(fn, job))
            if len(pending) >= 4 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()
        for f in pending:
            f.result()


def put_objects(ep, indexes, seed):
    def one(i):
        body = random.Random(f"{seed}-{i}").randbytes(1 << 20)
        client("s3", ep).put_object(Bucket="bench", Key=f"o/{i:06}", Body=body)
    return one, indexes


def write_items(ep, ids, value):
    """BatchWriteItem the items `ids` (an iterator), 25 at a time, retrying unprocessed ones."""
    def batches():
        batch = []
        for i in ids:
            batch.append(i)
            if len(batch) == 25:
                yield batch
                batch = []
        if batch:
            yield batch

    def one(batch):
        reqs = [{"PutRequest": {"Item": {"id": {"S": f"item-{i:08}"}, "n": {"N": str(i)},
                                         "v": {"S": f"{value} {i:08} " + "x" * 48}}}}
                for i in batch]
        items = {"bench": reqs}
        for _ in range(20):
            out = client("dynamodb", ep).batch_write_item(RequestItems=items)
            items = out.get("UnprocessedItems") or {}
            if not items:
                return
            time.sleep(0.05)
        raise SystemExit("BatchWriteItem kept items unprocessed")
    return one, batches()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument("--items", type=int, default=50000)
    ap.add_argument("--workers", type=int, default=8, help="parallel connections for seeding")
    ap.add_argument("--remote", help="a remote URL (default: a directory in the work dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--change", choices=["clustered", "spread"], default="clustered",
                    help="which 1 %% of the items changes (see above)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pod-bench-")
    srv = fresh = None
    try:
        vol = os.path.join(work, "source")
        remote = a.remote or f"file://{work}/remote"
        srv, ep = start(a.binary, vol, True)
        client("s3", ep).create_bucket(Bucket="bench")
        ddb = client("dynamodb", ep)
        ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        t = time.monotonic()
        parallel(a.workers, *put_objects(ep, iter(range(a.mib)), "first"))
        t_s3 = time.monotonic() - t
        t = time.monotonic()
        parallel(a.workers, *write_items(ep, iter(range(a.items)), "value"))
        t_ddb = time.monotonic() - t
        print(f"seeded {a.mib} MiB of S3 objects in {t_s3:.1f} s and {a.items} items in "
              f"{t_ddb:.1f} s ({a.items / max(t_ddb, 1e-9):.0f} items/s, {a.workers} connections)",
              flush=True)

        common = ["--remote", remote, "--volume-dir", vol, "--endpoint", ep]
        t1, out1 = pod(a.binary, "save", "bench", *common)
        c1, b1, sc1, sb1 = sent(out1)
        print(f"first save: {t1:.1f} s", flush=True)

        # Change 1 %: every 100th object, and 1 % of the items.
        changed_objects = range(0, a.mib, 100)
        if a.change == "spread":
            def changed_items():
                return iter(range(0, a.items, 100))
        else:
            run = max(1, a.items // 1000)

            def changed_items():
                return (i for i in range(a.items) if (i // run) % 100 == 0)
        n_changed = sum(1 for _ in changed_items())
        t = time.monotonic()
        parallel(a.workers, *put_objects(ep, iter(changed_objects), "changed"))
        parallel(a.workers, *write_items(ep, changed_items(), "changed"))
        t_change = time.monotonic() - t
        t2, out2 = pod(a.binary, "save", "bench", *common)
        c2, b2, sc2, sb2 = sent(out2)
        print(f"second save: {t2:.1f} s", flush=True)
        srv.terminate()
        srv.wait()
        srv = None

        fresh, fep = start(a.binary, os.path.join(work, "fresh"), False)
        t3, out3 = pod(a.binary, "load", "bench", "--remote", remote, "--endpoint", fep)
        fc, fb = fetched(out3)
        # The load is complete: spot-check an item and an object.
        item = client("dynamodb", fep).get_item(TableName="bench",
                                                Key={"id": {"S": "item-00000000"}})["Item"]
        assert item["v"]["S"].startswith("changed"), item
        n = client("dynamodb", fep).describe_table(TableName="bench")["Table"]
        obj = client("s3", fep).head_object(Bucket="bench", Key=f"o/{a.mib - 1:06}")
        assert obj["ContentLength"] == 1 << 20
        fresh.terminate()
        fresh.wait()
        fresh = None

        ratio = 100 * sb2 / max(sb1, 1)
        print(f"\nPod of {a.mib} MiB of S3 objects + {a.items} DynamoDB items "
              f"({len(changed_objects)} objects and {n_changed} items changed ({a.change}), "
              f"{t_change:.1f} s), remote {remote.split('?')[0]}\n")
        print("| step | time (s) | chunks sent / in version | bytes sent | % of first save "
              "| LocalStack (full upload) |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| first save | {t1:.1f} | {sc1} / {c1} | {sb1} | 100 % | {b1} |")
        print(f"| second save (1 % changed) | {t2:.1f} | {sc2} / {c2} | {sb2} | {ratio:.2f} % "
              f"| {b2} |")
        print(f"| second / first | {t2 / max(t1, 1e-9):.3f} | {sc2 / max(sc1, 1):.4f} | "
              f"{sb2 / max(sb1, 1):.4f} | | 1 |")
        print(f"| load into a fresh server | {t3:.1f} | {fc} fetched / {c2} | {fb} fetched | | |")
        print(f"\n(table item count reported by DescribeTable after the load: "
              f"{n.get('ItemCount')}; goal: second save under 2 % of the first's bytes: "
              f"{'met' if ratio < 2 else 'NOT met'})")
    finally:
        for p in (srv, fresh):
            if p is not None:
                p.terminate()
                p.wait()
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
