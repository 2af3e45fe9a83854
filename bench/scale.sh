#!/usr/bin/env bash
# Several instances on one Redis (issue 21): the calls of bench/calls.sh (flows/main.json through
# the emulator, a fresh store per run) with `store.kind: redis`, first one instance (core 1), then
# two, each pinned to its own core (0 and 1), each call's webhooks going to both in turn (the
# driver's round-robin, the worst case for shared state: consecutive webhooks of one call land on
# different instances). With one instance, the driver and Redis have core 0 to themselves; with two,
# this machine's two cores, the load generator and Redis share the servers' cores: their
# CPU is printed beside the table (driver CPU column; Redis below), so their share can be counted.
# For each configuration and rate: the calls table of bench/calls.sh, then what Redis did per
# webhook (commands, network bytes, CPU) and the memory it holds per completed call.
# Usage: bench/scale.sh [RATES] [SECONDS]   (default "1000 2000 3000", 15)
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${1:-1000 2000 3000}; SECS=${2:-15}
command -v redis-server >/dev/null || apt-get install -y -qq redis-server >/dev/null
source bench/common.sh
calls_flows
RPORT=16391
# Durable as a production Redis would be: the append-only file, fsynced every second.
redis-server --port $RPORT --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$WORK" >"$WORK/redis.log" 2>&1 &
for _ in $(seq 100); do redis-cli -p $RPORT ping >/dev/null 2>&1 && break; sleep 0.05; done
python3 - "$WORK/config.json" "$WORK/flows" $RPORT <<'PY'
import json, sys
json.dump({"server": {"host": "127.0.0.1", "max_connections": 10000}, "flows": {"dir": sys.argv[2], "default": "main"},
           "store": {"kind": "redis", "redis_url": "redis://127.0.0.1:%s" % sys.argv[3]},
           "log": {"level": "error", "format": "json"}}, open(sys.argv[1], "w"), indent=2)
PY
redis_stats() {  # FILE: commands, network bytes in+out, CPU seconds, memory, as key=value lines
  redis-cli -p $RPORT info all | tr -d '\r' | python3 -c "
import re, sys
t = sys.stdin.read()
g = lambda k: float(re.search(r'^%s:([\d.]+)' % k, t, re.M).group(1))
print('commands=%d' % sum(int(n) for n in re.findall(r'^cmdstat_\w+:calls=(\d+)', t, re.M)))
print('evalsha=%d' % sum(int(n) for n in re.findall(r'^cmdstat_(?:evalsha|eval|fcall):calls=(\d+)', t, re.M)))
print('net=%d' % (g('total_net_input_bytes') + g('total_net_output_bytes')))
print('cpu=%f' % (g('used_cpu_sys') + g('used_cpu_user')))
print('memory=%d' % g('used_memory'))" > "$1"
}

: > "$WORK/redis-summary.txt"
run() {  # NAME RATE DRIVER_CORES CORES...: one run, the driver on DRIVER_CORES, an instance per listed core
  local name=$1 rate=$2 driver_cores=$3; shift 3
  local cores=("$@") ports=() pids=()
  redis-cli -p $RPORT flushall >/dev/null
  redis-cli -p $RPORT config resetstat >/dev/null
  redis_stats "$WORK/before.txt"
  for i in "${!cores[@]}"; do ports+=($((18980 + i))); done
  rm -f "$WORK/ready"
  local also; also=$(IFS=,; echo "${ports[*]:1}")
  taskset -c "$driver_cores" "$BENCH_BIN" bench-calls --server-port "${ports[0]}" --also-ports "$also" --rate "$rate" --duration "$SECS" --ready-file "$WORK/ready" > "$WORK/driver.txt" &
  local driver=$!
  for _ in $(seq 50); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
  PUB=$(sed -n 1p "$WORK/ready"); local api; api=$(sed -n 2p "$WORK/ready")
  for i in "${!cores[@]}"; do
    TELNYX_PUBLIC_KEY="$PUB" TELNYX_API_KEY=bench TELNYX_API_BASE_URL="http://127.0.0.1:$api/v2" PORT="${ports[$i]}" \
      taskset -c "${cores[$i]}" "$BIN" serve --config "$WORK/config.json" 2>"$WORK/serve-$i.log" &
    pids+=($!)
  done
  local watched=()
  for i in "${!pids[@]}"; do watched+=("${pids[$i]}" "$WORK/serve-$i.log"); done
  await_driver $driver "${watched[@]}"
  redis_stats "$WORK/after.txt"
  echo "redis commands in the run: $(redis-cli -p $RPORT info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\).*/\2 \1/p' | sort -rn | head -8 | tr '\n' ' ')" >> "$WORK/driver.txt"
  local metrics=()
  for i in "${!pids[@]}"; do
    curl -s "http://127.0.0.1:${ports[$i]}/metrics" > "$WORK/metrics-$i.txt"; metrics+=("$WORK/metrics-$i.txt")
    server_cpu "${pids[$i]}" >> "$WORK/driver.txt"
    kill "${pids[$i]}"; wait "${pids[$i]}" 2>/dev/null || true
    grep -iE "error|warn" "$WORK/serve-$i.log" | cut -c1-200 | sort | uniq -c | sort -rn | head -3 || true
  done
  echo "== $name, $rate webhooks/s requested"; cat "$WORK/driver.txt"
  printf "%-14s" "$name" >> "$WORK/summary.txt"
  python3 bench/calls_row.py "$WORK/driver.txt" "$rate" "${metrics[@]}" >> "$WORK/summary.txt"
  python3 - "$WORK/before.txt" "$WORK/after.txt" "$WORK/driver.txt" "$name" "$rate" "${metrics[@]}" >> "$WORK/redis-summary.txt" <<'PY'
import re, sys
read = lambda p: {k: float(v) for k, v in (l.strip().split('=') for l in open(p))}
b, a = read(sys.argv[1]), read(sys.argv[2])
d = {k: a[k] - b[k] for k in a}
driver = open(sys.argv[3]).read()
webhooks = sum(int(n) for p in sys.argv[6:] for n in re.findall(r'callflow_webhooks_total\{[^}]*\} (\d+)', open(p).read()))
calls = int((re.search(r'calls_completed: (\d+)', driver) or [0, 0])[1])
conflicts = sum(float(n) for p in sys.argv[6:] for n in re.findall(r'^callflow_store_conflicts_total(?:\{[^}]*\})? (\S+)', open(p).read(), re.M))
print("%-14s %6s  %8.1f %8.1f  %8.0f  %7.0f  %8.0f  %6d" % (sys.argv[4], sys.argv[5], d['commands'] / max(webhooks, 1), d['evalsha'] / max(webhooks, 1),
      d['net'] / max(webhooks, 1), d['cpu'] * 1e6 / max(webhooks, 1), a['memory'] / max(calls, 1), conflicts))
PY
}

for rate in $RATES; do
  run "one instance" "$rate" 0 1
  run "two instances" "$rate" 0-1 0 1
done
echo
printf "%-14s" "" ; python3 bench/calls_row.py --header | sed '2,$s/^/              /'
cat "$WORK/summary.txt"
echo
echo "Redis per webhook:       commands  scripts  net bytes  CPU us  bytes held per completed call  commit conflicts"
cat "$WORK/redis-summary.txt"
