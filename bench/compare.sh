#!/usr/bin/env bash
# Two builds under the ingest load of bench/ingest.sh, interleaved (A B A B ...) so that the
# machine's drift hits both alike: req/s of each run and the ratio of the medians. For deciding
# whether a change to the hot path pays, on a machine whose speed wanders ±30% between minutes.
# Each round's B/A compares two runs a few seconds apart; their median is the steadier figure.
# Usage: bench/compare.sh BIN_A BIN_B [ROUNDS] [SECONDS]   (INGEST_FLOW=quiet works here too)
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; ROUNDS=${3:-3}; SECS=${4:-5}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
CALLFLOW_BIN=$A source bench/common.sh
source bench/ingest-load.sh
ingest_sign $((ROUNDS * SECS * 6000))
: > "$WORK/a.txt"; : > "$WORK/b.txt"
for i in $(seq "$ROUNDS"); do
  for side in a b; do
    if [ $side = a ]; then BIN=$A; else BIN=$B; fi
    ingest_serve
    kill -0 "$SERVER" 2>/dev/null || { echo "the server ($BIN) did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
    taskset -c 0 wrk -t1 -c32 -d"${SECS}s" -s "$WORK/replay.lua" "http://127.0.0.1:18997/webhooks/telnyx" > "$WORK/wrk.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
    echo "$rps" >> "$WORK/$side.txt"
    echo "round $i $side: $rps req/s"
    kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
    rm -f "$WORK"/calls.db*
  done
done
python3 - "$WORK/a.txt" "$WORK/b.txt" <<'PY'
import sys, statistics
a = [float(x) for x in open(sys.argv[1])]; b = [float(x) for x in open(sys.argv[2])]
ma, mb = statistics.median(a), statistics.median(b)
pairs = sorted(y / x for x, y in zip(a, b))
print("median A %.0f  B %.0f  B/A %.3f; median of the rounds' B/A %.3f (range %.2f-%.2f)"
      % (ma, mb, mb / ma, statistics.median(pairs), pairs[0], pairs[-1]))
PY
