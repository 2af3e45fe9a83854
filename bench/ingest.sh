#!/usr/bin/env bash
# Webhook ingest: Callflow (release build, flows/main.json, commands to a loopback sink) against a
# minimal C reference (libevent + libsodium: verify, answer 200), same signed requests, same run,
# one core each for the server. Usage: bench/ingest.sh [REQUESTS] [SECONDS] [CONNECTIONS]
# INGEST_FLOW=quiet: a diagnostic run whose flow starts with a pause (a timer, no command), to see
# the inbound path and the store without the outbound request each webhook otherwise causes.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-120000}; SECS=${2:-8}; CONNS=${3:-32}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/common.sh
source bench/ingest-load.sh
cc -O2 -o "$WORK/ingest_ref" bench/reference/ingest_ref.c -levent -lsodium
echo "signing $N distinct call.initiated webhooks..."
ingest_sign "$N"
run() {  # NAME PORT
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/replay.lua" "http://127.0.0.1:$2/webhooks/telnyx" > "$WORK/$1.txt"
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$WORK/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.txt")
  bad=$(awk '/non_200/ {print $2}' "$WORK/$1.txt")
  printf "%-10s %10s req/s  p50 %8s  p99 %8s  non-200 %s\n" "$1" "$rps" "$p50" "$p99" "$bad"
  echo "$rps" > "$WORK/$1.rps"
}
taskset -c 1 "$WORK/ingest_ref" 18998 "$PUB" & sleep 0.5
run reference 18998
kill %1
ingest_serve
run callflow 18997
# Read at once: a server that only queued its commands during the run would look faster than it is.
curl -s http://127.0.0.1:18997/metrics > "$WORK/metrics.txt"
python3 -c "print('ratio callflow/reference: %.2f (target >= 0.85)' % (float(open('$WORK/callflow.rps').read()) / float(open('$WORK/reference.rps').read())))"
python3 - "$WORK/metrics.txt" <<'PY'
import re, sys
m = {}
for line in open(sys.argv[1]):
    k = re.match(r'^(callflow_\w+)(\{[^}]*\})? (\S+)$', line)
    if k: m[k.group(1) + (k.group(2) or '')] = float(k.group(3))
accepted = sum(v for k, v in m.items() if k.startswith('callflow_webhooks_total') and 'accepted' in k)
sent = sum(v for k, v in m.items() if k.startswith('callflow_commands_total') and 'result="ok"' in k)
commits = m.get('callflow_store_commit_seconds_count', 0)
print('webhooks accepted %d; answer commands sent to the sink by the end of the run %d (%.0f%%); %d store transactions (%.2f per webhook)'
      % (accepted, sent, 100 * sent / max(accepted, 1), commits, commits / max(accepted, 1)))
PY
