#!/usr/bin/env bash
# Prints one of the README's two set-up commands, exactly as written there (the fenced ```bash blocks of one line
# each in "## Set up": the first runs the worker, the second the tests), so CI and scripts/fresh-machine-check.sh
# run what the README says, not a copy of it.
#   scripts/readme-commands.sh run|test [README path]
set -euo pipefail
which=${1:?usage: readme-commands.sh run|test [README]}
readme=${2:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/README.md"}
n=$([[ "$which" == run ]] && echo 1 || echo 2)
[[ "$which" == run || "$which" == test ]] || { echo "usage: readme-commands.sh run|test [README]" >&2; exit 64; }
cmd=$(awk -v n="$n" '
  /^## / { in_setup = ($0 == "## Set up"); next }
  in_setup && /^```bash$/ { block++; inside = 1; lines = 0; next }
  in_setup && inside && /^```$/ { inside = 0; if (block == n) { print text; exit } next }
  in_setup && inside { lines++; text = $0; if (lines > 1 && block == n) { print "MULTILINE"; exit } }
' "$readme")
if [[ -z "$cmd" || "$cmd" == MULTILINE ]]; then
  echo "README.md \"## Set up\" has no one-line bash block number $n" >&2
  exit 1
fi
printf '%s\n' "$cmd"
