#!/usr/bin/env bash
# Creates .tbw/venv with the real Python clients of requirements-test.txt (Celery, Flower, temporalio and the
# Temporal CLI, hatchet-sdk, SQLAlchemy + psycopg).
# Idempotent: re-running only installs what changed in requirements-test.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.tbw/venv"
stamp="$venv/.requirements.sha"
want=$(sha256sum "$root/requirements-test.txt" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements-test.txt"
echo "$want" >"$stamp"
echo "python venv ready: $venv"
