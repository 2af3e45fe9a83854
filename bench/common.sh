# Sourced by the bench scripts that run servers: the binary to measure (CALLFLOW_BIN, or the release
# build made here), the drivers that load it (BENCH_BIN: CALLFLOW_BENCH_BIN, or the release build of
# callflow-bench made here; an older build's `callflow`, which had the bench-* subcommands, works too)
# and a scratch directory WORK removed on exit with every job still running.
[ -n "${CALLFLOW_BIN:-}" ] || swift build -c release --product callflow >/dev/null
BIN=${CALLFLOW_BIN:-$PWD/.build/release/callflow}
[ -n "${CALLFLOW_BENCH_BIN:-}" ] || swift build -c release --product callflow-bench >/dev/null
BENCH_BIN=${CALLFLOW_BENCH_BIN:-$PWD/.build/release/callflow-bench}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# The server's store and disk: STORE_SYNC=full fsyncs every group commit (default normal);
# FSYNC_DELAY_MS=N makes each fsync N ms slower (a network volume), through an LD_PRELOAD shim.
# store_config SRC DST: SRC's config with the database in $WORK and that synchronous mode (STORE_KIND=memory: none).
# SERVER_ENV: what to put before the server's command line for the shim. SERVER_CORES (default 1):
# the CPUs the server may use in ingest, compare and calls.
store_config() {
  # Relative paths in a config resolve beside the file ($WORK), so the flows dir is made absolute.
  sed "s|\"path\": \"callflow.db\"|\"path\": \"$WORK/calls.db\"|; s|\"synchronous\": \"normal\"|\"synchronous\": \"${STORE_SYNC:-normal}\"|; s|\"dir\": \"flows\"|\"dir\": \"$PWD/flows\"|" "$1" > "$2"
  # STORE_KIND=memory: no durable store at all, an upper bound for what the store costs (diagnostic only).
  if [ "${STORE_KIND:-sqlite}" = memory ]; then
    python3 - "$2" <<'PY2'
import json, sys
c = json.load(open(sys.argv[1])); c["store"] = {"kind": "memory"}; json.dump(c, open(sys.argv[1], "w"), indent=2)
PY2
  fi
}
SERVER_ENV=()
if [ "${FSYNC_DELAY_MS:-0}" != 0 ]; then
  cc -O2 -shared -fPIC -o "$WORK/slow_fsync.so" bench/reference/slow_fsync.c -ldl
  SERVER_ENV=(env LD_PRELOAD="$WORK/slow_fsync.so" FSYNC_DELAY_MS="$FSYNC_DELAY_MS")
fi

# serve_callflow API_BASE PORT: Callflow with $WORK/config.json in the background (its pid in $!),
# signing key $PUB, commands to API_BASE, pinned to SERVER_CORES, log in $WORK/serve.log.
serve_callflow() {
  TELNYX_PUBLIC_KEY="$PUB" TELNYX_API_KEY=bench TELNYX_API_BASE_URL="$1" PORT="$2" \
    taskset -c "${SERVER_CORES:-1}" "${SERVER_ENV[@]}" "$BIN" serve --config "$WORK/config.json" 2>"$WORK/serve.log" &
}

# calls_flows: $WORK/flows, flows/ as shipped, except that main starts after its hours check, so a
# calls run exercises the menu, gather, http and transfer whatever the local time (the hours node
# sends closed calls to voicemail). For bench/calls.sh and bench/scale.sh.
calls_flows() {
  mkdir -p "$WORK/flows" && cp -r flows/. "$WORK/flows/"
  python3 -c "import json,sys; f=json.load(open(sys.argv[1])); f['start']='welcome'; json.dump(f, open(sys.argv[1],'w'))" "$WORK/flows/main.json"
}

# await_driver DRIVER_PID SERVER_PID LOG [SERVER_PID LOG ...]: waits for the driver to finish; a
# server that exits meanwhile fails the run with its log (the driver would wait for it forever).
await_driver() {
  local driver=$1; shift
  while kill -0 "$driver" 2>/dev/null; do
    local args=("$@") i
    for ((i = 0; i < ${#args[@]}; i += 2)); do
      if ! kill -0 "${args[i]}" 2>/dev/null; then echo "the server with log ${args[i + 1]} exited:" >&2; cat "${args[i + 1]}" >&2; exit 1; fi
    done
    sleep 0.5
  done
  wait "$driver"
}

# server_cpu PID: "server_cpu_seconds: S", the user + system CPU of a running server over its life.
server_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "server_cpu_seconds: %.1f\n", ($14 + $15) / hz}' "/proc/$1/stat"
}
