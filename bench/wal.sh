#!/usr/bin/env bash
# SQLite WAL size under sustained load: Callflow (release build, flows/main.json, default store) at
# the saturating rate for SECONDS, the -wal file's size sampled every second. Prints req/s, p50/p99
# and the WAL's largest and last size, so a bound on it can be checked against the latency it costs.
# Usage: bench/wal.sh [SECONDS] [CONNECTIONS]. Webhooks are signed once, up front (1,800 distinct
# ones a second of run), so the server's signature tolerance is widened to the run's length plus a
# minute (telnyx.signature_tolerance_secs) for runs longer than Telnyx's 300 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}; CONNS=${2:-32}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/common.sh
source bench/ingest-load.sh
N=$((SECS * 1800))
echo "signing $N distinct call.initiated webhooks..."
ingest_sign "$N"
ingest_prepare
python3 - "$WORK/config.json" "$SECS" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.setdefault("telnyx", {})["signature_tolerance_secs"] = max(300, int(sys.argv[2]) + 60)
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
serve_callflow http://127.0.0.1:18999/v2 18997
sleep 1
( max=0; while sleep 1; do
    s=$(stat -c %s "$WORK/calls.db-wal" 2>/dev/null || echo 0)
    [ "$s" -gt "$max" ] && max=$s
    echo "$max $s" > "$WORK/wal.size"
  done ) &
taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/replay.lua" "http://127.0.0.1:18997/webhooks/telnyx" > "$WORK/wrk.txt"
sleep 1.5
read -r max last < "$WORK/wal.size"
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
p50=$(awk '$1=="50%" {print $2}' "$WORK/wrk.txt")
p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")
bad=$(awk '/non_200/ {print $2}' "$WORK/wrk.txt")
printf "callflow  %s req/s  p50 %s  p99 %s  non-200 %s over %s s\n" "$rps" "$p50" "$p99" "$bad" "$SECS"
printf "WAL: largest %.1f MB, at the end %.1f MB; database %.1f MB\n" \
  "$(echo "$max / 1048576" | bc -l)" "$(echo "$last / 1048576" | bc -l)" "$(echo "$(stat -c %s "$WORK/calls.db") / 1048576" | bc -l)"
errors=$(grep -c '"level":"error"' "$WORK/serve.log" || true)
echo "server errors logged: $errors"
[ "$errors" = 0 ] || { grep '"level":"error"' "$WORK/serve.log" | sed 's/"ts":"[^"]*",//; s/"call.control_id":"[^"]*",//; s/"command_id":"[^"]*",//' | sort | uniq -c | sort -rn | head -3 || true; }
