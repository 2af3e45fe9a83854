# Sourced by the bench scripts that run servers: the binary to measure (CALLFLOW_BIN, or the release
# build made here) and a scratch directory WORK removed on exit with every job still running.
[ -n "${CALLFLOW_BIN:-}" ] || swift build -c release --product callflow >/dev/null
BIN=${CALLFLOW_BIN:-$PWD/.build/release/callflow}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
