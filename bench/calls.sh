#!/usr/bin/env bash
# Calls through flows/main.json (menu, gather, http, transfer) at fixed webhook rates: the emulator
# is a separate process on core 0, the server (release, SQLite store) on core 1, a fresh pair per
# rate. For each rate it prints the webhook rate reached in steady state (the median second of the
# second half of placing, not the total over a time that includes the ramp-up and -down), p50/p99/
# p99.9 of webhook received -> command handed to the Telnyx client, measured inside the server
# (callflow_webhook_to_command_seconds), and the round trip Telnyx sees (sent -> 200 back) beside
# its parts: the server's arrival -> reply (callflow_webhook_handling_seconds) and how late the
# driver's own loop runs (the load generator's share), split by libcurl's clock; and the machine's
# floor for any request and reply between two processes (bench/reference/pingpong.py). Then the
# knee: the first rate whose p99 webhook -> command passes 10 ms.
# Targets (issue 21): p99 webhook -> command < 2 ms up to 2,000 webhooks/s; round trip p99 < 5 ms at 1,000/s.
# Usage: bench/calls.sh [RATES] [SECONDS]   RATES: webhooks/s, one or a quoted list (default "500 1000 2000 4000").
# STORE_SYNC, FSYNC_DELAY_MS: see common.sh; CALLS_DRIVER_BIN: the emulator from another build than BENCH_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${1:-500 1000 2000 4000}; SECS=${2:-15}
source bench/common.sh
PORT=18996
calls_flows
: > "$WORK/summary.txt"

run_rate() {  # RATE: one driver and one fresh server; appends a line to summary.txt
  local rate=$1
  rm -f "$WORK/ready" "$WORK"/calls.db*
  taskset -c 0 "${CALLS_DRIVER_BIN:-$BENCH_BIN}" bench-calls --server-port $PORT --rate "$rate" --duration "$SECS" --webhooks-per-call 16 --ready-file "$WORK/ready" > "$WORK/driver.txt" &
  local driver=$!
  for _ in $(seq 50); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
  PUB=$(sed -n 1p "$WORK/ready"); local api; api=$(sed -n 2p "$WORK/ready")
  store_config bench/ingest-config.json "$WORK/config.json"
  sed -i "s|\"dir\": \"[^\"]*\"|\"dir\": \"$WORK/flows\"|" "$WORK/config.json"
  serve_callflow "http://127.0.0.1:$api/v2" "$PORT"
  local server=$!
  await_driver $driver $server "$WORK/serve.log"
  curl -s "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt"
  # The server's CPU time (user + system, in clock ticks) over its life: per webhook, what a core buys.
  server_cpu $server >> "$WORK/driver.txt"
  kill $server; wait $server 2>/dev/null || true
  echo "== $rate webhooks/s requested"
  cat "$WORK/driver.txt"
  grep -E "^callflow_store_errors_total|^callflow_commands_total" "$WORK/metrics.txt" | head -8 || true
  grep -iE "error|warn" "$WORK/serve.log" | cut -c1-200 | sort | uniq -c | sort -rn | head -5 || true
  python3 bench/calls_row.py "$WORK/driver.txt" "$rate" "$WORK/metrics.txt" >> "$WORK/summary.txt"
}

python3 bench/reference/pingpong.py 5
for rate in $RATES; do run_rate "$rate"; done
echo
python3 bench/calls_row.py --header
cat "$WORK/summary.txt"
python3 bench/calls_row.py --verdict "$WORK/summary.txt"
