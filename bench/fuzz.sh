#!/usr/bin/env bash
# bench/fuzz.sh SECONDS [TARGET...]
#
# Builds the libFuzzer targets in fuzz/ (a separate package, `-sanitize=fuzzer,address`, scratch path
# fuzz/.build-fuzz, so the root's `swift build`/`swift test` are untouched), writes a seed corpus from
# the repository's fixtures, and runs each target for SECONDS (libFuzzer `-max_total_time`), JOBS at a
# time (default 2). Prints, per target: executions, exec/s, coverage (`cov:` of libFuzzer's last
# status line), features, corpus size and crashes; exits 1 if any target crashed (a crash, a failed
# invariant, a timeout over 10 s or an out-of-memory; the input is saved under the artifacts folder).
#
#   bench/fuzz.sh 600                      # the 10-minute run of issue 18
#   JOBS=1 bench/fuzz.sh 60 FuzzJSON       # one target
#   FRESH=1 bench/fuzz.sh 20               # forget the corpus grown by earlier runs
#
# Reproduce a crash: fuzz/.build-fuzz/debug/<Target> <artifact file>
# Environment: JOBS (2), FRESH (0), FUZZ_WORK (fuzz/.build-fuzz/work), FUZZ_ARGS (extra libFuzzer flags),
# SKIP_BUILD=1.
set -euo pipefail

SECONDS_PER_TARGET=${1:?usage: bench/fuzz.sh SECONDS [TARGET...]}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ALL=(FuzzJSON FuzzWebhook FuzzFlow FuzzScenario FuzzMocks FuzzConfig FuzzRequest)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
JOBS=${JOBS:-2}
SCRATCH=fuzz/.build-fuzz
WORK=${FUZZ_WORK:-$SCRATCH/work}
FACTS=${CALLFLOW_TELNYX_FACTS:-$ROOT/../shared/telnyx}

# libFuzzer's runtime: Swift's toolchain ships compiler-rt's (libclang_rt.fuzzer*.a beside its clang).
SWIFT_BIN=$(dirname "$(readlink -f "$(command -v swift)")")
if ! ls "$SWIFT_BIN"/../lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 \
    && ! ls "$SWIFT_BIN"/../lib/swift/clang/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
    echo "fuzz.sh: this Swift toolchain has no libFuzzer runtime (libclang_rt.fuzzer); installing Debian's" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq 'libclang-rt-*-dev' >/dev/null || true
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "== building fuzz targets (swift build -c debug, -sanitize=fuzzer,address) =="
    # -enable-testing: FuzzRequest reaches EventHTTP's internal RequestParser with @testable import.
    # -use-ld=lld: gold fails on the sanitizer runtime ("internal error in format_file_lineno").
    swift build -c debug --package-path fuzz --scratch-path "$SCRATCH" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xswiftc -use-ld=lld 2>&1 \
        | grep -v -e "Cannot export local symbol" -e "prohibited flag" | tail -3
fi
BIN=$SCRATCH/debug

# ---- seed corpus, regenerated from the fixtures on every run ----
[ "${FRESH:-0}" = 1 ] && rm -rf "$WORK/corpus"
rm -rf "$WORK/seeds"
mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/artifacts" "$WORK/logs"
python3 - "$WORK/seeds" "$FACTS" <<'PY'
import glob, json, os, sys
seeds, facts = sys.argv[1], sys.argv[2]
def put(target, name, data):
    d = os.path.join(seeds, target); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), "wb").write(data)
def files(pattern): return sorted(glob.glob(pattern))
def base(p): return os.path.basename(p)

flows, scenarios = files("flows/*.json"), files("tests/scenarios/*.json")
configs = ["config.example.json"] + files("docker/*.json")
webhooks = []
for vf in ("signature-vectors.json", "telnyx-vectors.json"):
    try: doc = json.load(open(os.path.join(facts, vf)))
    except OSError: continue
    for i, v in enumerate(doc["vectors"] if isinstance(doc, dict) else doc):
        if isinstance(v.get("payload"), str): webhooks.append((f"{vf}-{i}", v["payload"]))
# Webhooks the scenarios script (events written inline), when any are whole bodies.
for p in flows: put("FuzzFlow", base(p), open(p, "rb").read())
for p in scenarios: put("FuzzScenario", base(p), open(p, "rb").read())
put("FuzzMocks", "mocks.json", open("mocks.json", "rb").read())
for p in scenarios:  # scenarios carry their own http mocks in the same format
    http = json.load(open(p)).get("http")
    if http is not None: put("FuzzMocks", base(p), json.dumps(http))
for p in configs: put("FuzzConfig", base(p), open(p, "rb").read())
put("FuzzConfig", "empty.json", "{}")
for n, w in webhooks: put("FuzzWebhook", n, w)
for p in flows + scenarios + configs + ["mocks.json"]: put("FuzzJSON", base(p).replace("/", "_"), open(p, "rb").read())
for n, w in webhooks: put("FuzzJSON", n, w)
for n, t in [("num", "[0,-0,1e308,1E-400,-12.5e+3,9223372036854775807,9223372036854775808,-9223372036854775809]"),
             ("str", '["\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/", "caf\u00e9"]'), ("lit", "[true,false,null,{}]")]:
    put("FuzzJSON", n, t)
# HTTP requests: byte 0 seeds the feed sizes (0 = one feed), byte 1 the limits (see FuzzRequest.swift).
body = webhooks[0][1] if webhooks else '{"data":{}}'
reqs = {
    "webhook": f"POST /webhooks/telnyx HTTP/1.1\r\nHost: callflow\r\nContent-Type: application/json\r\n"
               f"telnyx-signature-ed25519: AAAA\r\ntelnyx-timestamp: 1763700000\r\nContent-Length: {len(body.encode())}\r\n\r\n{body}",
    "get": "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    "pipelined": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "chunked": "POST /webhooks/telnyx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: 1\r\n\r\n",
    "continue": "POST /w HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    "http10": "GET http://example.com/v1/calls?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    "smuggle-cl-cl": "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 60\r\n\r\nabcGET /smuggled HTTP/1.1\r\n\r\n",
    "smuggle-cl-te": "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad-version": "GET / HTTP/2.0\r\n\r\n",
    "leading-crlf": "\r\n\r\nDELETE /v1/calls/abc HTTP/1.1\r\nHost: x\r\n\r\n",
}
for n, r in reqs.items():
    for prefix in (b"\x00\x0a", b"\x05\x0e", b"\x81\x0a"):
        put("FuzzRequest", f"{n}-{prefix.hex()}", prefix + r.encode())
PY
cat > "$WORK/json.dict" <<'D'
"{"
"}"
"["
"]"
":"
","
"true"
"false"
"null"
"\\u0000"
"\\ud800"
"\\udc00"
"1e999"
"-0"
"\xf0\x9f\x98\x80"
D
cat > "$WORK/http.dict" <<'D'
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
"HTTP/1.1"
"HTTP/1.0"
"Content-Length: "
"Transfer-Encoding: chunked"
"Connection: close"
"Connection: keep-alive"
"Expect: 100-continue"
"POST / HTTP/1.1\x0d\x0a"
"0\x0d\x0a\x0d\x0a"
D

run_one() {
    local t=$1 dict=json.dict
    [ "$t" = FuzzRequest ] && dict=http.dict
    mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t"
    local rc=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1} \
    "$BIN/$t" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -dict="$WORK/$dict" -artifact_prefix="$WORK/artifacts/$t/" ${FUZZ_ARGS:-} \
        "$WORK/corpus/$t" "$WORK/seeds/$t" >"$WORK/logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$WORK/logs/$t.rc"
}

touch "$WORK/started"
echo "== running ${#TARGETS[@]} targets for ${SECONDS_PER_TARGET}s each, $JOBS at a time (logs: $WORK/logs) =="
for t in "${TARGETS[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_one "$t" &
done
wait

failed=0
printf '%-13s %12s %8s %7s %7s %7s %8s\n' target execs exec/s cov ft corpus crashes
for t in "${TARGETS[@]}"; do
    log=$WORK/logs/$t.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    crashes=$(find "$WORK/artifacts/$t" -type f -newer "$WORK/started" | wc -l)
    rc=$(cat "$WORK/logs/$t.rc")
    [ "$rc" != 0 ] && [ "$crashes" = 0 ] && crashes="rc=$rc"
    printf '%-13s %12s %8s %7s %7s %7s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
    if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
        failed=1
        grep -E 'ERROR: |Fatal error|SUMMARY|Test unit written' "$log" | head -5 | sed "s/^/    $t: /" || true
    fi
done
exit $failed
