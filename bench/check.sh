#!/usr/bin/env bash
# `callflow check` on a generated 2,000-node flow, against parsing the same file with Python's
# json module (the reference, same run). Target: check < 100 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product callflow >/dev/null
DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR/big.json" <<'PY'
import json, sys
nodes = {}
n = 2000
for i in range(n):
    nxt = f"n{i+1}" if i + 1 < n else "end"
    k = i % 4
    if k == 0:
        nodes[f"n{i}"] = {"type": "say", "text": f"Step {i} for {{{{call.from}}}}", "next": nxt}
    elif k == 1:
        nodes[f"n{i}"] = {"type": "menu", "prompt": {"say": f"Menu {i}: press 1 or 2"}, "choices": {"1": nxt, "2": nxt},
                          "on_invalid": nxt, "on_no_input": "end"}
    elif k == 2:
        nodes[f"n{i}"] = {"type": "set", "vars": {f"v{i}": "{{call.to}}"}, "next": nxt}
    else:
        nodes[f"n{i}"] = {"type": "http", "method": "POST", "url": f"https://crm.example.com/steps/{i}", "body": {"step": i},
                          "timeout_ms": 2000, "next": nxt, "on_error": "end"}
nodes["end"] = {"type": "hangup"}
json.dump({"start": "n0", "nodes": nodes}, open(sys.argv[1], "w"), indent=1)
PY
python3 - "$DIR/big.json" ".build/release/callflow" <<'PY'
import json, subprocess, sys, time
path, binary = sys.argv[1], sys.argv[2]
def best(f, runs=7):
    times = []
    for _ in range(runs):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times) * 1000
subprocess.run([binary, "check", path], check=True, capture_output=True)
check = best(lambda: subprocess.run([binary, "check", path], check=True, capture_output=True))
ref = best(lambda: subprocess.run([sys.executable, "-c", f"import json; json.load(open({path!r}))"], check=True, capture_output=True))
print(f"nodes: 2001, file: {__import__('os').path.getsize(path)} bytes")
print(f"callflow check: {check:.1f} ms (best of 7, whole process)   target < 100 ms")
print(f"reference (python3 -c json.load, whole process): {ref:.1f} ms   ratio {check/ref:.2f}")
PY
