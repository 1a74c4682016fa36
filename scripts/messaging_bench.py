#!/usr/bin/env python3
"""SNS and EventBridge fan-out beside moto: publish throughput and publish → SQS delivery latency.

Usage: messaging_bench.py SNAPSTACK_BIN [--rounds N] [--seconds S] [--connections C]

Operations (`snapstack loadgen`, see crates/server/src/loadgen/fanout.rs):
  sns-fanout-1   Publish to a topic with 1 SQS subscription
  sns-fanout-10  Publish to a topic with 10 SQS subscriptions
  events-put     PutEvents (one entry) matched by a rule into an SQS target
  events-put-10  PutEvents (one entry) matched by 10 rules, each into its own SQS target
For each round a fresh snapstack (persistence off, as moto has none) and a fresh moto_server
are started one after the other (alternating order, `scripts/vs_moto.py`), driven with C
keep-alive connections for S seconds. Request latency is the call's; delivery latency is each
queue's SentTimestamp minus the send time stamped in the message (millisecond resolution), over
every queue of the fan-out (so the slowest subscription counts), read after the run, so a server
whose deliveries fall behind shows it there; "delivered" is what the least-served queue got.
Medians over rounds.
Use a release build.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_moto import measure  # noqa: E402

OPS = ["sns-fanout-1", "sns-fanout-10", "events-put", "events-put-10"]


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def fmt(v, w, unit=1.0):
    return f"{'-':>{w}}" if v is None else f"{v / unit:>{w}.1f}" if unit != 1.0 else f"{v:>{w}.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapstack")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--no-moto", action="store_true")
    ap.add_argument("--localstack", action="store_true",
                    help="also LocalStack in host mode (see vs_moto.py --against localstack)")
    a = ap.parse_args()
    kinds = ["snapstack"] if a.no_moto else ["snapstack", "moto"]
    if a.localstack:
        kinds.append("localstack")
    print(f"{a.rounds} rounds x {a.seconds}s, {a.connections} connections; medians; "
          "request latency in µs, delivery latency in ms")
    header = ("| operation     | server    |  req/s | req p50 | req p99 | delivered | "
              "deliv p50 | deliv p99 |")
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for op in a.ops.split(","):
        runs = {k: [] for k in kinds}
        for rnd in range(a.rounds):
            order = kinds if rnd % 2 == 0 else list(reversed(kinds))
            for kind in order:
                runs[kind].append(measure(kind, a.snapstack, op, a.seconds, a.connections))
        for kind in kinds:
            ok = [r for r in runs[kind] if "failed" not in r]
            if not ok:
                print(f"| {op:<13} | {kind:<9} | failed: {runs[kind][0]['failed']}")
                continue
            errors = sum(r["errors"] for r in ok)
            ops = sum(r["ops"] for r in ok)
            delivered = sum(r.get("delivered", 0) for r in ok)
            print(f"| {op:<13} | {kind:<9} | {fmt(med(ok, 'ops_per_sec'), 6)} | "
                  f"{fmt(med(ok, 'p50_us'), 7)} | {fmt(med(ok, 'p99_us'), 7)} | "
                  f"{f'{delivered}/{ops - errors}':>9} | {fmt(med(ok, 'delivery_p50_us'), 9, 1000.0)} | "
                  f"{fmt(med(ok, 'delivery_p99_us'), 9, 1000.0)} |")
            if errors:
                print(f"|   {kind}: {errors} errors of {ops}")


if __name__ == "__main__":
    main()
