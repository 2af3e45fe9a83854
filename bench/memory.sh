#!/usr/bin/env bash
# Memory per live call: RSS growth while the engine holds 10k and then 100k calls at main/menu,
# then 100k in an AI conversation (ai-receptionist) and 100k at a speech menu with the call
# recording and transcription running (support). Target: <= 2 KiB (2048 bytes) per call mid-menu.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product callflow-bench >/dev/null
for n in 10000 100000; do
  echo "== $n live calls at main/menu"
  .build/release/callflow-bench bench-memory --calls "$n"
done
for held in assistant recorded; do
  echo "== 100000 live calls held: $held"
  .build/release/callflow-bench bench-memory --calls 100000 --held "$held"
done
