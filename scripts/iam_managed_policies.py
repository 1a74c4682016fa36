#!/usr/bin/env python3
"""Extract AWS's managed IAM policies from moto's copy of AWS's list (moto/iam/aws_managed_policies.py,
itself generated from AWS's published policies) into crates/services/iam/data/aws_managed_policies.json.gz:
one JSON object, policy name -> [path, default version id, create date, update date, document (compact JSON)].

Usage: python3 scripts/iam_managed_policies.py [OUT]
"""
import gzip
import json
import os
import sys

from moto.iam.aws_managed_policies import aws_managed_policies_data


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "crates", "services", "iam", "data", "aws_managed_policies.json.gz")
    data = json.loads(aws_managed_policies_data)
    table = {
        name: [p["Path"], p["DefaultVersionId"], p["CreateDate"], p["UpdateDate"],
               json.dumps(p["Document"], separators=(",", ":"))]
        for name, p in sorted(data.items())
    }
    raw = json.dumps(table, separators=(",", ":"), sort_keys=True).encode()
    # mtime=0: the same list always gives the same bytes.
    with open(out, "wb") as f:
        f.write(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"{len(table)} policies, {len(raw)} bytes, written to {out}")


if __name__ == "__main__":
    main()
