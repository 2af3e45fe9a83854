# Sourced by bench/ingest.sh and bench/profile.sh: the same signed webhooks and the same server set-up
# for both. Needs BENCH_BIN (the callflow-bench binary) and WORK (a scratch directory), as common.sh sets them.

# ingest_sign N: N distinct signed call.initiated webhooks in $WORK/requests.tsv, replayed by
# $WORK/replay.lua (wrk prints non_200 at the end); sets PUB to the signing key.
ingest_sign() {
  PUB=$("$BENCH_BIN" bench-webhooks --count "$1" --out "$WORK/requests.tsv")
  cat > "$WORK/replay.lua" <<LUA
local reqs = {}
local i = 0
init = function(args)
  for line in io.lines("$WORK/requests.tsv") do
    local sig, ts, body = line:match("([^\t]+)\t([^\t]+)\t(.*)")
    reqs[#reqs + 1] = wrk.format("POST", "/webhooks/telnyx",
      {["Content-Type"] = "application/json", ["telnyx-signature-ed25519"] = sig, ["telnyx-timestamp"] = ts}, body)
  end
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  io.write(string.format("non_200: %d\n", summary.errors.status))
end
LUA
}

# ingest_prepare: the command sink on core 0 (port 18999) and $WORK/config.json: the default durable
# store (SQLite, WAL, synchronous=normal; STORE_SYNC and FSYNC_DELAY_MS, see common.sh) in a fresh
# file and flows/ — or, with INGEST_FLOW=quiet, a flow that starts with a pause (a timer, no command).
ingest_prepare() {
  taskset -c 0 "$BENCH_BIN" bench-commands --sink-only 18999 >/dev/null & sleep 0.3
  store_config bench/ingest-config.json "$WORK/config.json"
  if [ "${INGEST_FLOW:-main}" = quiet ]; then
    mkdir -p "$WORK/flows"
    echo '{"start":"wait","nodes":{"wait":{"type":"pause","seconds":600,"next":"end"},"end":{"type":"hangup"}}}' > "$WORK/flows/main.json"
    sed -i "s|\"dir\": \"[^\"]*\"|\"dir\": \"$WORK/flows\"|" "$WORK/config.json"
  fi
}

# ingest_serve: ingest_prepare, then Callflow on core 1 (port 18997). Sets SERVER to its pid.
ingest_serve() {
  ingest_prepare
  serve_callflow http://127.0.0.1:18999/v2 18997
  SERVER=$!
  sleep 1
}
