#!/usr/bin/env bash
# Installs what this project needs on Debian 12, Debian 13 or Ubuntu 24.04 with only Node >= 20 on it, and only
# what is missing: when everything is there, the checks take a few seconds. Run by the README's two commands.
#   scripts/provision.sh dev    `npm run setup`: node modules and redis-server (what `npm run dev` needs)
#   scripts/provision.sh test   `npm test`: also PostgreSQL, RabbitMQ, Python 3 with a venv of the real clients
#                               (requirements-test.txt), a Go >= 1.26 toolchain and the Hatchet server build,
#                               systemd (systemd-analyze, systemd-notify), openssl, procps, git
# System packages come from the distribution (apt-get) as root, or through sudo. Without either, it prints the
# exact commands to run and exits 78. The test suite itself runs as root (its PostgreSQL and RabbitMQ run under
# those packages' system users), so `test` as another user stops after the packages, saying so (exit 78).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-test}"
GO_WANT="1.26"
GO_TOOLCHAIN_VERSION="v0.0.1-go1.26.0"
EX_CONFIG=78
t0=$(date +%s%N)

say() { printf 'provision: %s\n' "$*" >&2; }
die() { say "$*"; exit "$EX_CONFIG"; }
elapsed() { echo "$((($(date +%s%N) - t0) / 1000000)) ms"; }

case "$MODE" in
  dev | test) ;;
  *) echo "usage: scripts/provision.sh dev|test" >&2; exit 64 ;;
esac

# --- Node ---------------------------------------------------------------------------------------------------------
node_version=$(node --version 2>/dev/null || echo none) # v20.20.2 (no script: works in any cwd)
node_major=${node_version#v}
node_major=${node_major%%.*}
[[ "$node_major" =~ ^[0-9]+$ ]] && ((node_major >= 20)) || die "Node.js >= 20 is required (found: $node_version)"

# --- What is missing ----------------------------------------------------------------------------------------------
packages=(redis-server)
if [[ "$MODE" == test ]]; then
  packages+=(postgresql rabbitmq-server python3 python3-venv openssl procps systemd git ca-certificates)
fi

# A Go >= 1.26 here: .tbw/go (provisioned earlier), PATH, or /usr/local/go. Prints its path.
go_ok() { # $1 = go binary
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1 # go1.26.0
  v=${v#go}
  [[ "$(printf '%s\n%s\n' "$GO_WANT" "$v" | sort -V | head -n1)" == "$GO_WANT" ]]
}
find_go() {
  local c
  for c in "$ROOT/.tbw/go/bin/go" "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go; do
    [[ -n "$c" && -x "$c" ]] && go_ok "$c" && { echo "$c"; return 0; }
  done
  return 1
}
if [[ "$MODE" == test ]] && ! find_go >/dev/null && ! command -v go >/dev/null; then
  # Debian 12's golang-go is 1.19, too old to build Hatchet, but it can fetch the pinned toolchain (below).
  packages+=(golang-go)
fi

have_os_apt() { [[ -r /etc/os-release ]] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; }
missing=()
if have_os_apt; then
  for p in "${packages[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" == "ii"* ]] || missing+=("$p")
  done
else
  die "not a Debian or Ubuntu system (no apt-get): install these yourself, then run again: ${packages[*]}"
fi

# --- System packages (root or sudo) -------------------------------------------------------------------------------
as_root=()
if ((${#missing[@]} > 0)); then
  install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ "$(id -u)" == 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [[ -t 0 ]]; }; then
    as_root=(sudo)
  else
    say "missing: ${missing[*]}; installing them needs root. Run as root, then the same npm command again:"
    printf '  apt-get update\n  %s\n' "$install_cmd" >&2
    exit "$EX_CONFIG"
  fi
  say "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install failed; on Ubuntu, rabbitmq-server and redis-server need the universe component"
fi

# --- Node modules (as package-lock.json says) ---------------------------------------------------------------------
node "$ROOT/scripts/node-modules.mjs"

if [[ "$MODE" == dev ]]; then
  say "ready for npm run dev ($(elapsed))"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  die "the test suite runs PostgreSQL and RabbitMQ under their own system users, which needs root: run sudo npm test"
fi

# --- Python venv with the real clients ----------------------------------------------------------------------------
bash "$ROOT/scripts/setup-python.sh"

# --- Go >= 1.26 ---------------------------------------------------------------------------------------------------
if ! go_bin=$(find_go); then
  old_go=$(command -v go) || die "no go command after installing golang-go"
  case "$(dpkg --print-architecture)" in
    amd64) arch=amd64 ;;
    arm64) arch=arm64 ;;
    *) die "no Go toolchain module for architecture $(dpkg --print-architecture): install Go >= $GO_WANT yourself" ;;
  esac
  mod="golang.org/toolchain@$GO_TOOLCHAIN_VERSION.linux-$arch"
  say "fetching the Go toolchain $mod through the Go module proxy ($("$old_go" env GOVERSION) is too old)"
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod GOTOOLCHAIN=local "$old_go" mod download -json "$mod" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$dir/bin" ]] || die "go mod download $mod failed"
  # The module cache is read-only and a zip keeps no file modes: set the execute bits on the commands, as the go
  # command itself does when it switches to a downloaded toolchain.
  chmod u+w "$dir" "$dir/bin" "$dir"/pkg/tool/*/
  chmod 0555 "$dir"/bin/* "$dir"/pkg/tool/*/*
  chmod u-w "$dir" "$dir/bin" "$dir"/pkg/tool/*/
  mkdir -p "$ROOT/.tbw"
  ln -sfn "$dir" "$ROOT/.tbw/go"
  go_bin=$(find_go) || die "the downloaded toolchain in $dir does not run"
fi

# --- Hatchet server binaries (pinned tag; skipped when built) -----------------------------------------------------
PATH="$(dirname "$go_bin"):$PATH" bash "$ROOT/scripts/hatchet-server.sh" build

say "ready for npm test: $("$go_bin" env GOVERSION), $(ls /usr/lib/postgresql), python venv, hatchet ($(elapsed))"
