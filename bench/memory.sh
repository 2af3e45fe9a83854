#!/usr/bin/env bash
# Memory per live call: RSS growth while the engine holds 10k and then 100k calls at main/menu.
# Target: <= 2 KiB (2048 bytes) per call.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product callflow >/dev/null
for n in 10000 100000; do
  echo "== $n live calls"
  .build/release/callflow bench-memory --calls "$n"
done
