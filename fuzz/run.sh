#!/usr/bin/env bash
# Run every fuzz target for a bounded time, seeding the corpora from the committed format fixture.
#   fuzz/run.sh [seconds per target, default 60] [target ...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain: FUZZ_TOOLCHAIN=nightly
# uses `cargo +nightly`; without it the default toolchain runs with RUSTC_BOOTSTRAP=1.
# FUZZ_TARGET_DIR sets the build directory (default fuzz/target).
# Crashes land in fuzz/artifacts/<target>/; turn each into a unit test with its bytes.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest pack tree_node blob_index ssm_request query s3_request dynamodb_legacy)
fixture=../tests/fixtures/format-v1/state
mkdir -p corpus/{manifest,pack,tree_node,blob_index,ssm_request,query,s3_request,dynamodb_legacy}
cp "$fixture"/manifests/*/*.manifest corpus/manifest/ 2>/dev/null || true
cp "$fixture"/packs/*.pack corpus/pack/ 2>/dev/null || true
# Every chunk of the fixture's packs, behind a height byte, seeds the tree and blob decoders.
python3 - "$fixture/packs" <<'PY'
import os, struct, sys
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    b = open(os.path.join(d, f), "rb").read()
    count, index_offset = struct.unpack_from("<QQ", b, len(b) - 56)
    for i in range(count):
        e = b[index_offset + 44 * i: index_offset + 44 * (i + 1)]
        off, ln = struct.unpack_from("<QI", e, 32)
        chunk = b[off:off + ln]
        for h in (1, 2, 3):
            open(f"corpus/tree_node/{f}-{i}-h{h}", "wb").write(bytes([h]) + chunk)
        open(f"corpus/blob_index/{f}-{i}", "wb").write(chunk)
PY
i=0
for body in '{"Name":"/a/b","Value":"v","Type":"String","Overwrite":true}' \
            '{"Path":"/a","Recursive":true,"MaxResults":2,"ParameterFilters":[{"Key":"Type","Option":"Equals","Values":["String"]}]}' \
            '{"Names":["/a/b","/a/b:1","/a/b:l"]}' \
            '{"Name":"/a/b","Labels":["l"],"ParameterVersion":1}' \
            '{"ResourceType":"Parameter","ResourceId":"/a/b","Tags":[{"Key":"k","Value":"v"}]}'; do
  for op in 0 1 2 3 6 8 10; do printf "\\x$(printf %02x $op)%s" "$body" > "corpus/ssm_request/seed-$i-$op"; done
  i=$((i+1))
done
printf 'Action=GetCallerIdentity&Version=2011-06-15' > corpus/query/seed-1
printf 'AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/sts/aws4_request, SignedHeaders=host' > corpus/query/seed-2
printf '/ssm/save' > corpus/query/seed-3
printf '\x01/b/k?acl\nlocalhost\n\nbody' > corpus/s3_request/seed-1
printf '\x03/b?lifecycle\nb.localhost' > corpus/s3_request/seed-2
printf '\x02/fuzz-bucket?delete\nlocalhost\n\n<Delete><Object><Key> k</Key></Object></Delete>' > corpus/s3_request/seed-3
printf '\x01/fuzz-bucket/k?uploadId=u&partNumber=1\nlocalhost\nx-amz-copy-source: /fuzz-bucket/key' > corpus/s3_request/seed-4
printf '\x00/fuzz-bucket?list-type=2&encoding-type=url&prefix=k\nlocalhost' > corpus/s3_request/seed-5
# Legacy DynamoDB maps: op, ConditionalOperator, repeat count (LE, 14 bits, 0x40 in the second
# byte for a long map), 3 bytes per entry.
printf '\x03\x01\x01\x00\x03\x07\x00\x00\x00\x01' > corpus/dynamodb_legacy/seed-scan-and
printf '\x04\x02\xa0\x4f\x03\x06\x00\x01\x10\x05' > corpus/dynamodb_legacy/seed-query-or-4000
printf '\x00\x00\x10\x67\x03\x0e\x01\x03\x07\x00' > corpus/dynamodb_legacy/seed-put-expected-10000
printf '\x01\x02\x01\x00\x00\x09\x79\x01\x0b\x8a' > corpus/dynamodb_legacy/seed-update-nested
printf '\x83{"TableName":"tbl","ScanFilter":{"a":{"ComparisonOperator":"NULL"}}}' > corpus/dynamodb_legacy/seed-raw
for t in "${targets[@]}"; do
  dict=()
  case "$t" in
    ssm_request) dict=(-dict=dict/ssm.dict) ;;
    query) dict=(-dict=dict/query.dict) ;;
  esac
  echo "=== $t (${secs}s)"
  tc=()
  [ -n "${FUZZ_TOOLCHAIN:-}" ] && tc=("+$FUZZ_TOOLCHAIN")
  td=()
  [ -n "${FUZZ_TARGET_DIR:-}" ] && td=(--target-dir "$FUZZ_TARGET_DIR")
  RUSTC_BOOTSTRAP=1 cargo "${tc[@]}" fuzz run -O "${td[@]}" "$t" corpus/"$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "${dict[@]}" 2>&1 |
    grep -E '^(#[0-9]+ +DONE|stat::|==|SUMMARY|Done|.*(panicked|deadly|crash-|leak-|timeout-|oom-))' || true
done
