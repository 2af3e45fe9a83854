#!/usr/bin/env bash
# Calls through flows/main.json (menu, gather, http, transfer) at a fixed webhook rate: the emulator
# is a separate process on core 0, the server (release, SQLite store) on core 1. Prints calls/s and
# p50/p99/p99.9 of webhook received -> command handed to the Telnyx client, measured inside the
# server (histogram callflow_webhook_to_command_seconds). Target: p99 < 2 ms at 1,000 webhooks/s.
# The driver also prints each webhook's round trip as the emulator saw it (sent -> 200 back).
# Usage: bench/calls.sh [WEBHOOKS_PER_SECOND] [SECONDS]   (STORE_SYNC, FSYNC_DELAY_MS: see common.sh;
# CALLS_DRIVER_BIN: the emulator from another build than BENCH_BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000}; SECS=${2:-20}
source bench/common.sh
PORT=18996
taskset -c 0 "${CALLS_DRIVER_BIN:-$BENCH_BIN}" bench-calls --server-port $PORT --rate "$RATE" --duration "$SECS" --webhooks-per-call 16 --ready-file "$WORK/ready" > "$WORK/driver.txt" &
DRIVER=$!
for _ in $(seq 50); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
PUB=$(sed -n 1p "$WORK/ready"); API=$(sed -n 2p "$WORK/ready")
# flows/ as shipped, except that main starts after its hours check, so the run exercises the menu,
# gather, http and transfer whatever the local time (the hours node sends closed calls to voicemail).
mkdir -p "$WORK/flows" && cp flows/*.json "$WORK/flows/"
python3 -c "import json,sys; f=json.load(open(sys.argv[1])); f['start']='welcome'; json.dump(f, open(sys.argv[1],'w'))" "$WORK/flows/main.json"
store_config bench/ingest-config.json "$WORK/config.json"
sed -i "s|\"dir\": \"[^\"]*\"|\"dir\": \"$WORK/flows\"|" "$WORK/config.json"
serve_callflow "http://127.0.0.1:$API/v2" "$PORT"
wait $DRIVER
cat "$WORK/driver.txt"
curl -s "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt"
grep -E "^callflow_store_errors_total|^callflow_commands_total" "$WORK/metrics.txt" | head -8 || true
grep -iE "error|warn" "$WORK/serve.log" | cut -c1-200 | sort | uniq -c | sort -rn | head -5 || true
python3 - "$WORK/metrics.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def histogram(name):
    buckets = [(float('inf') if le == '+Inf' else float(le), int(c)) for le, c in re.findall(name + r'_bucket\{le="([^"]+)"\} (\d+)', text)]
    total = int((re.search(name + r'_count (\d+)', text) or [0, 0])[1])
    def q(p):
        for bound, count in buckets:
            if count >= p * total: return bound
    return total, q
webhooks = sum(int(n) for n in re.findall(r'callflow_webhooks_total\{[^}]*\} (\d+)', text))
print(f"webhooks received by the server: {webhooks}")
for name, label in [("callflow_webhook_to_command_seconds", "webhook->command"), ("callflow_store_commit_seconds", "store commit")]:
    total, q = histogram(name)
    parts = []
    for pname, p in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)]:
        b = q(p)
        parts.append(f"{pname} <= {b*1000:.2f} ms" if b not in (None, float('inf')) else f"{pname} > 10 s")
    print(f"{label} ({total}): " + ", ".join(parts))
_, q = histogram("callflow_webhook_to_command_seconds")
b = q(0.99)
print("target p99 < 2 ms:", "met" if b is not None and b <= 0.002 else "not met")
PY
