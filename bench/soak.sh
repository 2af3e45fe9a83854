#!/usr/bin/env bash
# Soak with faults: calls through the real server (release build) for SECONDS at RATE calls a second,
# with the emulator (`callflow-bench bench-soak`, its own process) injecting Telnyx's faults (FAULTS, syntax
# in docs/testing.md) and the server killed with SIGKILL at random points and restarted on the same
# database. STORE_KIND=redis: a redis-server on loopback and two instances sharing it, each call's
# webhooks going to both in turn; the second instance is the one killed and restarted.
# The emulator sees every command and checks the invariants: every call completes, no command_id
# twice with different bodies, no new command after the server acknowledged the call's hang-up.
# Prints those, commands retried, and RSS / WAL size / open fds of the server at start and end.
# Exits non-zero when an invariant fails or a server dies on its own.
# Usage: bench/soak.sh [SECONDS] [CALLS_PER_SECOND]   env: FAULTS, STORE_KIND (sqlite|redis), SEED,
# KILL_MIN / KILL_MAX (seconds between kills, default 8 / 25), CALLFLOW_BIN and CALLFLOW_BENCH_BIN
# (default: release builds; see common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-120}; RATE=${2:-20}
SEED=${SEED:-7}
FAULTS=${FAULTS:-commands_5xx=0.05,commands_429=0.03,retry_after=1,duplicate=0.1,reorder=0.1,reorder_ms=300,late=0.02,late_ms=2000,slow_api=0.05,slow_api_ms=1500,lost_ack=0.03,seed=$SEED}
KILL_MIN=${KILL_MIN:-8}; KILL_MAX=${KILL_MAX:-25}
KIND=${STORE_KIND:-sqlite}
source bench/common.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$WORK/flows"
cat > "$WORK/flows/t.json" <<'JSON'
{"start":"a","nodes":{
  "a":{"type":"answer","next":"m"},
  "m":{"type":"menu","prompt":"Press 1.","choices":{"1":"bye"},"on_invalid":"bye","on_no_input":"bye"},
  "bye":{"type":"say","text":"Goodbye.","next":"end"},
  "end":{"type":"hangup"}}}
JSON
PORTS=("$(free_port)")
REDIS_PID=
if [ "$KIND" = redis ]; then
  PORTS+=("$(free_port)")
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  STORE="{\"kind\":\"redis\",\"redis_url\":\"redis://127.0.0.1:$RPORT\"}"
else
  STORE="{\"kind\":\"sqlite\",\"path\":\"$WORK/calls.db\",\"synchronous\":\"${STORE_SYNC:-normal}\"}"
fi
for p in "${PORTS[@]}"; do
  cat > "$WORK/config-$p.json" <<JSON
{"server":{"host":"127.0.0.1","port":$p},"flows":{"dir":"$WORK/flows","default":"t"},
 "telnyx":{"command_timeout_ms":1000,"max_attempts":10},
 "store":$STORE,"log":{"level":"info","format":"text"}}
JSON
done

TARGETS=$(IFS=,; echo "${PORTS[*]}")
"$BENCH_BIN" bench-soak --targets "$TARGETS" --rate "$RATE" --duration "$SECS" --faults "$FAULTS" --ready-file "$WORK/ready" > "$WORK/driver.txt" 2>&1 &
DRIVER=$!
for _ in $(seq 100); do [ -s "$WORK/ready" ] && break; sleep 0.05; done
PUB=$(sed -n 1p "$WORK/ready"); API=$(sed -n 2p "$WORK/ready")

declare -A PIDS
# start PORT: a server in the background on PORT, waiting for one more "listening" line in its log.
start() {
  local p=$1 log="$WORK/serve-$1.log" before
  touch "$log"; before=$(grep -c listening "$log" || true)
  TELNYX_PUBLIC_KEY="$PUB" TELNYX_API_KEY=soak TELNYX_API_BASE_URL="http://127.0.0.1:$API/v2" PORT="$p" \
    "$BIN" serve --config "$WORK/config-$p.json" >>"$log" 2>&1 &
  PIDS[$p]=$!
  for _ in $(seq 400); do [ "$(grep -c listening "$log" || true)" -gt "$before" ] && return 0; sleep 0.05; done
  echo "server on $p did not come up" >&2; tail -5 "$log" >&2; exit 1
}
# stats PID: RSS (kB), open fds, WAL bytes.
stats() {
  local rss fds wal
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
  fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
  wal=$(stat -c %s "$WORK/calls.db-wal" 2>/dev/null || echo 0)
  echo "rss_kb=$rss fds=$fds wal_bytes=$wal"
}
for p in "${PORTS[@]}"; do start "$p"; done
VICTIM=${PORTS[-1]}
echo "start (pid ${PIDS[$VICTIM]}, before load): $(stats "${PIDS[$VICTIM]}")"
STARTED=$(date +%s)
KILLS=0; DIED=0; PEAK=0
# Kills stop at 80% of the run, so the last process serves a good part of it before the end figures.
next_kill=$((STARTED + KILL_MIN + RANDOM % (KILL_MAX - KILL_MIN + 1)))
while kill -0 $DRIVER 2>/dev/null; do
  sleep 0.$((RANDOM % 9 + 1))
  for p in "${PORTS[@]}"; do
    if ! kill -0 "${PIDS[$p]}" 2>/dev/null; then echo "server on $p died on its own" >&2; DIED=1; tail -5 "$WORK/serve-$p.log" >&2; start "$p"; fi
  done
  rss=$(awk '/VmRSS/ {print $2}' "/proc/${PIDS[$VICTIM]}/status" 2>/dev/null || echo 0)
  [ "$rss" -gt "$PEAK" ] && PEAK=$rss
  now=$(date +%s)
  if [ "$now" -ge "$next_kill" ] && [ $((now - STARTED)) -lt $((SECS * 8 / 10)) ]; then
    kill -9 "${PIDS[$VICTIM]}"; wait "${PIDS[$VICTIM]}" 2>/dev/null || true
    KILLS=$((KILLS + 1))
    start "$VICTIM"
    next_kill=$((now + KILL_MIN + RANDOM % (KILL_MAX - KILL_MIN + 1)))
  fi
done
DRIVER_RC=0; wait $DRIVER || DRIVER_RC=$?
echo "end (pid ${PIDS[$VICTIM]}, after load): $(stats "${PIDS[$VICTIM]}") peak_rss_kb=$PEAK"
echo "store: $KIND; instances: ${#PORTS[@]}; kill -9 restarts: $KILLS; seconds: $SECS; calls/s: $RATE"
cat "$WORK/driver.txt"
restored=$(cat "$WORK"/serve-*.log | grep -c "state restored" || true)
resumed=$(cat "$WORK"/serve-*.log | grep "state restored" | grep -vc "restored=0 live calls, 0 unsent commands" || true)
echo "server starts: $restored (restarts that found live calls or unsent commands: $resumed)"
curl -s "http://127.0.0.1:$VICTIM/metrics" | grep -E "^callflow_commands_total|^callflow_command_retries_total|^callflow_store_errors_total" | head -12 || true
echo "server log lines at warning or worse, by message:"
cat "$WORK"/serve-*.log | grep -E "^[0-9T:.-]+Z (WARNING|ERROR|CRITICAL) " | sed -E 's/^[^ ]+ ([A-Z]+) ([^=]*) [a-z_.]+=.*/\1 \2/' | sort | uniq -c | sort -rn | head -8 || true
for p in "${PORTS[@]}"; do kill -TERM "${PIDS[$p]}" 2>/dev/null || true; done
[ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
if [ "$DRIVER_RC" != 0 ] || [ "$DIED" != 0 ]; then echo "soak: FAILED (driver exit $DRIVER_RC, server died on its own: $DIED)"; exit 1; fi
echo "soak: ok"
