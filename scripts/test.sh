#!/usr/bin/env bash
# `npm test`: provision what the suite needs (scripts/provision.sh test: only what is missing), build, run tap.
# With no arguments (the whole suite) the shared Hatchet server starts in the background first, so its warm-up
# overlaps the unit tests; the test files share it (test/helpers/hatchet.ts) and it stops when this script ends.
#   npm test                        everything
#   npm test -- test/unit/x.test.ts  only those files (no early Hatchet start)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/provision.sh test
npm run build
if (($# == 0)); then
  (bash scripts/hatchet-server.sh acquire "$$" >/dev/null || echo "test.sh: early Hatchet start failed; the tests retry" >&2) &
  starter=$!
  # Wait for the start to finish before releasing, or a late start would outlive this script.
  release() {
    wait "$starter" 2>/dev/null || true
    bash scripts/hatchet-server.sh release "$$" >/dev/null 2>&1 || true
  }
  trap release EXIT
fi
# Not exec: the EXIT trap must run after tap to release the server.
"$ROOT/node_modules/.bin/tap" "$@"
