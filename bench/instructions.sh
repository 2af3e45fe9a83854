#!/usr/bin/env bash
# Instructions per webhook, counted by valgrind (callgrind) rather than timed: the same figure on
# every run, so a change to the hot path can be judged on a machine whose speed wanders ±30%
# between minutes. Callflow (flows/main.json, SQLite, commands to the loopback sink) and the two C
# references of bench/ingest.sh (verify-only, and same-work: verify, three fields, dedupe, a SQLite
# row per webhook, an answer through libcurl) each get the same signed webhooks at low concurrency;
# counters are zeroed after start-up, so what is counted is the load (and a graceful stop). Callflow
# and the same-work reference are split by part side by side, so the gap between them can be located.
# Instructions are not time (memory stalls and system calls are missing): this ranks where the work
# is and shows whether a change removed some; bench/ingest.sh says what it is worth in req/s.
# Usage: bench/instructions.sh [SECONDS]   (INGEST_FLOW=quiet works here too; KEEP=DIR keeps the annotated profiles there)   Needs valgrind and wrk (apt-get install valgrind wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/common.sh
# valgrind 3.19 (Debian 12) gives up on the one DWARF 5 unit in the binary (swift-atomics'
# _AtomicsShims.c, which clang compiles with DWARF 5; it comes with swift-prometheus) and the server
# never starts. The counts need only the symbol table, so callgrind runs a copy without debug info.
objcopy --strip-debug "$BIN" "$WORK/callflow-nodebug"
BIN="$WORK/callflow-nodebug"
source bench/ingest-load.sh
cc -O2 -g -o "$WORK/ingest_ref" bench/reference/ingest_ref.c -levent -lsodium
cc -O2 -g -o "$WORK/samework_ref" bench/reference/samework_ref.c -levent -lsodium -lsqlite3 -lcurl
ingest_sign 20000
ingest_prepare

# measure NAME PORT COMMAND...: counts of a server under load; prints requests answered. The server
# is pinned like ingest.sh's (SERVER_CORES, default one CPU): with more, Callflow moves its commits
# to a writer thread, which changes the work counted (two thread hand-offs per commit).
measure() {
  local name=$1 port=$2; shift 2
  taskset -c "${SERVER_CORES:-1}" valgrind -q --tool=callgrind --callgrind-out-file="$WORK/$name.out" "$@" 2>"$WORK/$name.log" &
  local pid=$!
  local tries=0
  until curl -s -o /dev/null -X POST "http://127.0.0.1:$port/webhooks/telnyx"; do
    tries=$((tries + 1))
    if ! kill -0 "$pid" 2>/dev/null || [ "$tries" -gt 600 ]; then  # exited, or not listening after 2 min
      echo "$name did not start listening on port $port:" >&2; cat "$WORK/$name.log" >&2; exit 1
    fi
    sleep 0.2
  done
  callgrind_control --zero "$pid" >/dev/null 2>&1
  taskset -c 0 wrk -t1 -c4 -d"${SECS}s" -s "$WORK/replay.lua" "http://127.0.0.1:$port/webhooks/telnyx" > "$WORK/$name.wrk"
  sleep 1  # the last commands' replies
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true  # callgrind writes its counts at exit
  awk '/requests in/ {print $1}' "$WORK/$name.wrk" > "$WORK/$name.n"
}
measure reference 18998 "$WORK/ingest_ref" 18998 "$PUB"
measure samework 18996 "$WORK/samework_ref" 18996 "$PUB" "$WORK/ref.db" http://127.0.0.1:18999/v2
TELNYX_PUBLIC_KEY="$PUB" TELNYX_API_KEY=bench TELNYX_API_BASE_URL=http://127.0.0.1:18999/v2 PORT=18997 \
  measure callflow 18997 "$BIN" serve --config "$WORK/config.json"

for name in reference samework callflow; do
  callgrind_annotate --inclusive=yes "$WORK/$name.out" 2>/dev/null | { command -v swift >/dev/null && swift demangle --simplified || cat; } > "$WORK/$name.txt"
done
python3 - "$WORK" "$SECS" <<'PY'
import re, sys
work = sys.argv[1]
def inclusive(name):
    counts = {}
    for line in open("%s/%s.txt" % (work, name)):
        m = re.match(r'\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)', line)
        if m: counts.setdefault(m.group(2), int(m.group(1).replace(',', '')))
    return counts
def find(counts, *markers):
    """Largest inclusive count among functions whose name contains every marker."""
    return max([n for f, n in counts.items() if all(m in f for m in markers)] or [0])
ref, same, cf = inclusive("reference"), inclusive("samework"), inclusive("callflow")
nref, nsame, ncf = (int(open("%s/%s.n" % (work, n)).read()) for n in ("reference", "samework", "callflow"))
ref_total = find(ref, "event_base_loop") / nref
same_total = find(same, "event_base_loop") / nsame
cf_total = find(cf, "event_base_loop") / ncf
verify = find(cf, "WebhookVerifier.verify") / ncf
# Part markers: the pipeline's names, or (to measure a build from before it) the runtime's.
engine = (find(cf, "CallEngine.step(") or find(cf, "CallEngine.receive(")) / ncf
runtime = (find(cf, "CallPipeline.enqueue(_:)") or find(cf, "CallRuntime.receive(")) / ncf - engine
store = find(cf, "SQLiteCallStore.commit(") / ncf
decode = find(cf, "WebhookEvent.decode") / ncf or find(cf, "JSONParser.parse(_:)") / ncf
# The command client: libcurl's socket and timer callbacks, and handing each command to it (which
# runs inside the commit's completion, so it is taken out of the replies).
handoff = find(cf, "TelnyxClient.attempt(") / ncf
client = find(cf, "HTTPClient.socketCallback") / ncf + find(cf, "HTTPClient.timerFired") / ncf + handoff
commit = (find(cf, "LocalLedger.commit()") or find(cf, "CallRuntime.commit()")) / ncf - store - handoff
s = lambda *m: find(same, *m) / nsame
s_verify, s_fields, s_dedupe, s_store, s_reply = s("crypto_sign_verify_detached"), s(":field "), s("seen_insert"), s(":sqlite3_step "), s(":reply ")
s_client = s("send_answer") + s("on_socket_event") + s("on_curl_timeout")
print("webhooks counted: verify-only %d, same-work %d, Callflow %d (wrk -c4, %s s each, under callgrind)" % (nref, nsame, ncf, sys.argv[2]))
print("instructions per webhook: verify-only %.0f (verification %.0f), same-work %.0f, Callflow %.0f"
      % (ref_total, find(ref, "crypto_sign_verify_detached") / nref, same_total, cf_total))
print("instruction ratio same-work/Callflow: %.2f (the ingest target is 0.85 by req/s)" % (same_total / cf_total))
print("instruction ratio verify-only/Callflow: %.2f" % (ref_total / cf_total))
print("by part, per webhook:      same-work     Callflow   Callflow - same-work")
rest = cf_total - verify - decode - engine - runtime - store - commit - client
s_rest = same_total - s_verify - s_fields - s_dedupe - s_store - s_reply - s_client
for label, a, b in [("Ed25519 verification", s_verify, verify), ("reading the envelope", s_fields, decode),
                    ("dedupe / engine", s_dedupe, engine), ("runtime around the engine", 0, runtime),
                    ("store: SQLite", s_store, store), ("replies after the commit", s_reply, commit),
                    ("command client (libcurl)", s_client, client), ("inbound HTTP, loop, other", s_rest, rest)]:
    print("  %-26s %9.0f  %9.0f %4.1f%%  %+9.0f" % (label, a, b, 100 * b / cf_total, b - a))
PY
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/{reference,samework,callflow}.{txt,out} "$KEEP/"; fi
