#!/usr/bin/env bash
# Where the server's CPU goes during webhook ingest: the load of bench/ingest.sh (wrk on core 0,
# server on core 1, commands to a loopback sink), `perf record --call-graph dwarf` of the server for
# a few seconds, and the samples split by what they were doing (verification, decode, engine, store,
# command client, ...). Needs perf (Debian: apt-get install linux-perf).
# Usage: bench/profile.sh [SECONDS]   INGEST_FLOW=quiet for the flow that sends no command;
# KEEP_STACKS=FILE keeps the raw `perf script` stacks for a closer look.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}
command -v perf >/dev/null || { echo "perf not found (Debian: apt-get install linux-perf)"; exit 1; }
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/common.sh
source bench/ingest-load.sh
ingest_sign 60000
ingest_serve
taskset -c 0 wrk -t1 -c32 -d$((SECS + 3))s -s "$WORK/replay.lua" "http://127.0.0.1:18997/webhooks/telnyx" > "$WORK/wrk.txt" &
WRK=$!
sleep 1.5
perf record -q -F 999 --call-graph dwarf,16384 -p "$SERVER" -o "$WORK/perf.data" -- sleep "$SECS" >/dev/null 2>&1
wait "$WRK"
grep "Requests/sec" "$WORK/wrk.txt"
perf script -i "$WORK/perf.data" 2>/dev/null > "$WORK/stacks.txt"
[ -n "${KEEP_STACKS:-}" ] && cp "$WORK/stacks.txt" "$KEEP_STACKS"
python3 - "$WORK/stacks.txt" <<'PY'
import re, sys, collections
# The first category whose marker appears anywhere in a sample's stack takes the sample.
CATEGORIES = [
    ("Ed25519 verification (libsodium)", ["8VerifierV6verify"]),
    ("JSON decode of the envelope", ["WebhookEventV6decode"]),
    ("engine (route, machine)", ["CallEngineV7receive", "CallEngineV5apply"]),
    ("runtime around the engine (recording, metrics, effects)", ["CallRuntimeC7receive", "CallRuntimeC5apply"]),
    ("store: SQLite", ["SQLiteCallStoreC6commit", "sqlite3Checkpoint"]),
    ("store: replies and hand-off after the commit", ["CallRuntimeC6commit"]),
    ("command client (libcurl and its callbacks)", ["curl_multi_socket_action", "HTTPClientC10timerFired"]),
    ("webhook endpoint (rest)", ["WebhookIngestC6handle"]),
]
samples = 0
counts = collections.Counter()
for block in open(sys.argv[1]).read().split("\n\n"):
    lines = block.strip().split("\n")[1:]
    if not lines: continue
    samples += 1
    stack = " ".join(lines)
    for name, markers in CATEGORIES:
        if any(m in stack for m in markers):
            counts[name] += 1
            break
    else:
        counts["inbound HTTP, event loop, kernel, other"] += 1
print("%d samples" % samples)
for name, n in counts.most_common():
    print("%5.1f%%  %s" % (100.0 * n / max(samples, 1), name))
PY
