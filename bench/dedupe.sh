#!/usr/bin/env bash
# Memory per remembered webhook id (issue 18, item 6): RSS growth while N ids are inserted into
# DedupeWindow, against the structure it replaced ([UInt64: Int64] + an (id, at) array) and a plain
# Set<UInt64>, each in its own process, all in this run. Ids arrive 1,000 a second, so none expires.
# Usage: bench/dedupe.sh [N ...]   (default: 100000 1000000 3355443 — the last is the default
# ceiling, 64 MiB / 20 B). Target: <= 32 bytes per id all-in; the ceiling holds.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build-bench-dedupe}
swift build --build-tests --scratch-path "$SCRATCH" >/dev/null 2>&1 || swift build --build-tests --scratch-path "$SCRATCH"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000 3355443)
for n in "${sizes[@]}"; do
  echo "== $n ids"
  for kind in window legacy set; do
    DEDUPE_BENCH="$kind:$n" swift test --skip-build --scratch-path "$SCRATCH" --filter DedupeBenchmark 2>&1 \
      | grep -o 'DEDUPE_BENCH .*' | sed 's/^DEDUPE_BENCH //'
  done
done
