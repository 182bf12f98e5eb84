#!/usr/bin/env bash
# Run a local Temporal dev server (headless, loopback only) for manual work and benchmarks.
# Usage: scripts/temporal-dev.sh [port]   (default 7233; state is in memory unless TEMPORAL_DB is set)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cli="${TEMPORAL_CLI:-$here/.tbw/venv/bin/temporal}"
if [[ ! -x "$cli" ]]; then
  echo "temporal CLI not found at $cli: run scripts/setup-python.sh" >&2
  exit 1
fi
port="${1:-7233}"
args=(server start-dev --headless --ip 127.0.0.1 --port "$port" --http-port "$((port + 1))" --metrics-port "$((port + 2))" --log-level warn)
if [[ -n "${TEMPORAL_DB:-}" ]]; then args+=(--db-filename "$TEMPORAL_DB"); fi
echo "temporal dev server on 127.0.0.1:$port (export TEMPORAL_ADDRESS=127.0.0.1:$port)" >&2
exec "$cli" "${args[@]}"
