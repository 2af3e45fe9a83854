#!/usr/bin/env bash
# Commands/s from the Telnyx client to a loopback sink, and TCP connections used, with the sink's
# own capacity (wrk, same machine, same run) as the reference. Usage: bench/commands.sh [COMMANDS] [LEGS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
LEGS=${2:-64}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/common.sh
echo "== client: $N commands over $LEGS legs (each leg in order, one at a time)"
taskset -c 0 "$BENCH_BIN" bench-commands --commands "$N" --calls "$LEGS" | tee $WORK/client.txt
PORT=18999
taskset -c 1 "$BENCH_BIN" bench-commands --sink-only "$PORT" >/dev/null &
sleep 0.5
cat > $WORK/post.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"payload":"Thanks for calling.","voice":"female","client_state":"eyJjZiI6MX0=","command_id":"cf-bench-1-1"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
LUA
echo "== reference: wrk against the same sink, $LEGS connections"
taskset -c 0 wrk -t1 -c"$LEGS" -d5s -s $WORK/post.lua "http://127.0.0.1:$PORT/v2/calls/v3:x/actions/speak" | tee $WORK/wrk.txt
CLIENT=$(awk '/commands_per_second/ {print $2}' $WORK/client.txt)
REF=$(awk '/Requests\/sec/ {print $2}' $WORK/wrk.txt)
CONN=$(awk '/tcp_connections_opened/ {print $2}' $WORK/client.txt)
python3 -c "print(f'ratio client/wrk: {float($CLIENT)/float($REF):.2f}  ({$CLIENT} vs {$REF} req/s); connections opened for $N commands: $CONN')"
