#!/usr/bin/env bash
# A queue of waiting callers with announcements and agents rung for them (issue 20): memory and
# CPU per waiting caller and the engine's time from an agent's answer to the bridge command, each
# printed beside a reference measured in the same run (the same callers held in a pause → say
# loop with the same period). Usage: bench/queue.sh [callers] [minutes] [agents]
set -euo pipefail
cd "$(dirname "$0")/.."
callers="${1:-1000}"; minutes="${2:-10}"; agents="${3:-20}"
bin="${CALLFLOW_BENCH_BIN:-}"
if [ -z "$bin" ]; then
  swift build -c release --product callflow-bench >/dev/null
  bin=.build/release/callflow-bench
fi
"$bin" bench-queue --callers "$callers" --minutes "$minutes" --agents "$agents"
