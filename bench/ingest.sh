#!/usr/bin/env bash
# Webhook ingest: Callflow (release build, flows/main.json, commands to a loopback sink) against two
# C references, same signed requests, same run, one core each for the server:
#   verify-only: libevent + libsodium, verify and answer 200 (the physical floor of verification);
#   same-work (bench/reference/samework_ref.c, issue 21): verify, read the three fields, dedupe, one
#   SQLite row per webhook (WAL, synchronous=normal) committed per loop pass before the 200s, and an
#   answer command per call.initiated through libcurl multi to the same sink;
# and the Python peer (bench/peer/app.py: FastAPI + uvicorn with the telnyx SDK's webhooks.unwrap and
# its async client), installed by pip into ~/.cache/callflow-bench-peer on first use (PEER=0 skips it).
# Usage: bench/ingest.sh [REQUESTS] [SECONDS] [CONNECTIONS]
# INGEST_FLOW=quiet: a diagnostic run whose flow starts with a pause (a timer, no command), to see
# the inbound path and the store without the outbound request each webhook otherwise causes.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-120000}; SECS=${2:-8}; CONNS=${3:-32}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/common.sh
source bench/ingest-load.sh
cc -O2 -o "$WORK/ingest_ref" bench/reference/ingest_ref.c -levent -lsodium
cc -O2 -o "$WORK/samework_ref" bench/reference/samework_ref.c -levent -lsodium -lsqlite3 -lcurl
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
taskset -c 1 "$WORK/ingest_ref" 18998 "$PUB" & REF=$!; sleep 0.5
run reference 18998
kill $REF
ingest_prepare
taskset -c 1 "$WORK/samework_ref" 18996 "$PUB" "$WORK/ref.db" http://127.0.0.1:18999/v2 2>"$WORK/samework.log" & SAME=$!; sleep 0.5
run samework 18996
kill $SAME; sleep 0.3
echo "same-work reference: $(cat "$WORK/samework.log")"
if [ "${PEER:-1}" != 0 ]; then
  VENV=${PEER_VENV:-$HOME/.cache/callflow-bench-peer}
  [ -x "$VENV/bin/uvicorn" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -r bench/peer/requirements.txt; }
  (cd bench/peer && TELNYX_PUBLIC_KEY="$PUB" TELNYX_API_KEY=bench TELNYX_API_BASE_URL=http://127.0.0.1:18999/v2 \
    taskset -c 1 "$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port 18995 --loop uvloop --http httptools --log-level warning) &
  PEER_PID=$!
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18995/ && break; sleep 0.2; done
  run peer 18995
  kill $PEER_PID; sleep 0.3
fi
serve_callflow http://127.0.0.1:18999/v2 18997
SERVER=$!
sleep 1
run callflow 18997
# Read at once: a server that only queued its commands during the run would look faster than it is.
curl -s http://127.0.0.1:18997/metrics > "$WORK/metrics.txt"
python3 -c "
import os
c, v, s = (float(open('$WORK/%s.rps' % n).read()) for n in ('callflow', 'reference', 'samework'))
print('ratio callflow/same-work reference: %.2f (target >= 0.85)' % (c / s))
print('ratio callflow/verify-only reference: %.2f (the physical floor of verification; no target)' % (c / v))
if os.path.exists('$WORK/peer.rps'):
    print('ratio callflow/Python peer: %.2f (target >= 10)' % (c / float(open('$WORK/peer.rps').read())))"
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
