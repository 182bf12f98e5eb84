#!/usr/bin/env bash
# Builds and runs a real, version-stamped Hatchet server (hatchet-lite on Debian PostgreSQL) for tests and benches.
# Everything lives under .tbw/hatchet and listens on 127.0.0.1 only.
#   scripts/hatchet-server.sh build   go install hatchet-lite/admin/migrate at the pinned tag (idempotent)
#   scripts/hatchet-server.sh start   build if needed, start postgres + hatchet-lite, write .tbw/hatchet/env
#   scripts/hatchet-server.sh stop    stop both (pids from the state dir)
#   scripts/hatchet-server.sh status  exit 0 (and print the env) when the server answers
#   scripts/hatchet-server.sh acquire PID / release PID   shared on-demand use by test files (see below)
set -euo pipefail

# The engine release that matches @hatchet-dev/typescript-sdk 1.33.2 (see docs/hatchet.md for the reasoning).
HATCHET_TAG="${HATCHET_TAG:-v0.104.7}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${HATCHET_STATE_DIR:-$ROOT/.tbw/hatchet}"
BIN="${HATCHET_BIN_DIR:-$ROOT/.tbw/hatchet/bin}"
# The newest PostgreSQL the distribution installed (15 on Debian 12, 16 on Ubuntu 24.04, 17 on Debian 13).
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin/ 2>/dev/null | sort -V | tail -n 1)}"
PG_BIN="${PG_BIN%/}"
# The Go toolchain scripts/provision.sh fetched when the distribution's is older than Hatchet needs.
[[ -x "$ROOT/.tbw/go/bin/go" ]] && PATH="$ROOT/.tbw/go/bin:$PATH"

log() { printf '[hatchet-server] %s\n' "$*" >&2; }

build() {
  mkdir -p "$BIN"
  local stamp="$BIN/.version"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$HATCHET_TAG" ]] \
    && [[ -x "$BIN/hatchet-lite" && -x "$BIN/hatchet-admin" && -x "$BIN/hatchet-migrate" ]]; then
    log "binaries for $HATCHET_TAG already built"
    return 0
  fi
  local t0=$SECONDS
  # `go install pkg@tag` is what we want, but it asks the proxy for the module's version list (deprecation check),
  # which the reachable proxy refuses; so fetch the pinned module zip through the same proxy and build from it.
  local src
  src="$(GOTOOLCHAIN=local go mod download -json "github.com/hatchet-dev/hatchet@$HATCHET_TAG" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$src" ]] || { log "go mod download of hatchet@$HATCHET_TAG failed"; exit 1; }
  for cmd in hatchet-migrate hatchet-admin hatchet-lite; do
    log "go build $cmd@$HATCHET_TAG"
    # main.Version is what the dispatcher's GetVersion reports; unstamped builds say v0.1.0-alpha.0 and
    # the TypeScript SDK then falls back to its legacy worker path.
    (cd "$src" && GOFLAGS=-mod=readonly GOTOOLCHAIN=local go build -trimpath \
      -ldflags "-s -w -X main.Version=$HATCHET_TAG" -o "$BIN/$cmd" "./cmd/$cmd")
  done
  echo "$HATCHET_TAG" >"$stamp"
  log "built $HATCHET_TAG in $((SECONDS - t0))s"
}

RUN="$STATE/run"
PGDATA="$STATE/pg"
PGSOCK="$RUN/pgsock"
PGPASS="$RUN/pgpass.tmp"

# PostgreSQL runs as the postgres user, which must reach its files. A state directory it cannot reach (a root
# clone under /root, mode 0700) gets the cluster under /var/tmp instead; the choice is remembered in
# $STATE/pg-home so start and stop agree.
pg_layout() {
  local home=""
  id -u postgres >/dev/null 2>&1 || return 0 # not installed: start_postgres says so
  if [[ -f "$STATE/pg-home" ]]; then
    home=$(cat "$STATE/pg-home")
  elif ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    home="/var/tmp/tbw-hatchet-pg.$(printf '%s' "$STATE" | sha256sum | cut -c1-16)"
    echo "$home" >"$STATE/pg-home"
  fi
  [[ -n "$home" ]] || return 0
  mkdir -p "$home"
  chown postgres:postgres "$home"
  chmod 700 "$home"
  PGDATA="$home/pg" PGSOCK="$home/sock" PGPASS="$home/pgpass.tmp"
}
CONF="$STATE/config"
ENV_FILE="$STATE/env"
PG_USER_PASS=hatchet

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
pidof_file() { [[ -f "$1" ]] && cat "$1" || true; }

# Wait until a command succeeds, or fail naming what never came up.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  local rc
  while true; do
    rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    ((rc == 0)) && return 0
    ((rc == 2)) && return 1
    if ((SECONDS >= deadline)); then log "timed out after ${timeout}s waiting for $what"; return 1; fi
    sleep 0.2
  done
}

start_postgres() {
  [[ -x "$PG_BIN/initdb" ]] || { log "no PostgreSQL under /usr/lib/postgresql: run scripts/provision.sh test"; exit 1; }
  pg_layout
  mkdir -p "$PGSOCK"
  chown postgres:postgres "$PGSOCK"
  if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    local pw="$PGPASS"
    echo "$PG_USER_PASS" >"$pw"
    chown postgres "$pw"
    # postgres refuses to run as root, so the cluster belongs to the Debian postgres user.
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" -U hatchet --pwfile="$pw" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$RUN/initdb.log" 2>&1
    rm -f "$pw"
  fi
  PG_PORT=$(free_port)
  # A throwaway test database: durability settings off for speed.
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGSOCK/postgres.log" -w -t 60 start 9>&- \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGSOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
  runuser -u postgres -- "$PG_BIN/psql" -h "$PGSOCK" -p "$PG_PORT" -U hatchet -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='hatchet'" | grep -q 1 \
    || runuser -u postgres -- "$PG_BIN/createdb" -h "$PGSOCK" -p "$PG_PORT" -U hatchet hatchet
}

stop_postgres() {
  pg_layout
  if [[ -f "$PGDATA/postmaster.pid" ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

server_env() {
  export DATABASE_URL="postgresql://hatchet:$PG_USER_PASS@127.0.0.1:$PG_PORT/hatchet?sslmode=disable"
  export SERVER_PORT=$API_PORT SERVER_URL="http://127.0.0.1:$RUNTIME_PORT"
  export SERVER_GRPC_PORT=$GRPC_PORT SERVER_GRPC_BIND_ADDRESS=127.0.0.1
  export SERVER_GRPC_BROADCAST_ADDRESS="127.0.0.1:$GRPC_PORT" SERVER_GRPC_INSECURE=t
  export SERVER_HEALTHCHECK_PORT=$HEALTH_PORT
  export SERVER_AUTH_COOKIE_DOMAIN=127.0.0.1 SERVER_AUTH_COOKIE_INSECURE=t SERVER_AUTH_SET_EMAIL_VERIFIED=t
  export SERVER_MSGQUEUE_KIND=postgres SERVER_DEFAULT_ENGINE_VERSION=V1
  export SERVER_SECURITY_CHECK_ENABLED=f SERVER_ANALYTICS_POSTHOG_ENABLED=f
  export SERVER_LOGGER_LEVEL=warn SERVER_ADDITIONAL_LOGGERS_QUEUE_LEVEL=warn SERVER_ADDITIONAL_LOGGERS_PGXSTATS_LEVEL=warn
  export DATABASE_LOGGER_LEVEL=warn DATABASE_MAX_CONNS=50
  export LITE_STATIC_ASSET_DIR="$RUN/static" LITE_FRONTEND_PORT=$FRONTEND_PORT LITE_RUNTIME_PORT=$RUNTIME_PORT
}

status() {
  [[ -f "$ENV_FILE" ]] || return 1
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  alive "$HATCHET_LITE_PID" || return 1
  python3 - "$HATCHET_CLIENT_HOST_PORT" <<'PY'
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
socket.create_connection((h, int(p)), timeout=2).close()
PY
}

# Up = answering; a dead process ends the wait at once instead of after the timeout.
lite_up() {
  alive "$1" || { log "hatchet-lite exited"; return 2; }
  status
}

start() {
  if status; then log "already running"; cat "$ENV_FILE"; return 0; fi
  build
  mkdir -p "$RUN/static" "$CONF"
  # hatchet-lite serves a dashboard from here; we ship none, but it needs an index.html template to start.
  [[ -f "$RUN/static/index.html" ]] || echo '<!doctype html><title>hatchet-lite</title><p>No dashboard in this build.</p>' >"$RUN/static/index.html"
  stop_quiet
  local t0=$SECONDS
  start_postgres
  API_PORT=$(free_port) GRPC_PORT=$(free_port) HEALTH_PORT=$(free_port)
  FRONTEND_PORT=$(free_port) RUNTIME_PORT=$(free_port)
  server_env
  # Logs hold no secrets worth hiding here (a local throwaway server), but they are kept out of stdout.
  (cd "$STATE" && "$BIN/hatchet-migrate") >"$RUN/migrate.log" 2>&1 || { log "migrate failed: see $RUN/migrate.log"; exit 1; }
  (cd "$STATE" && "$BIN/hatchet-admin" quickstart --skip certs --generated-config-dir "$CONF" --overwrite=false) \
    >"$RUN/quickstart.log" 2>&1 || { log "quickstart failed: see $RUN/quickstart.log"; exit 1; }
  local token
  token=$(cd "$STATE" && "$BIN/hatchet-admin" token create --config "$CONF" --name tbw-test 2>>"$RUN/token.log" | tail -n 1)
  [[ "$token" == *.*.* ]] || { log "token create failed: see $RUN/token.log"; exit 1; }
  # setsid: the server gets its own process group, so a test runner's group signals never reach it.
  # 9>&-: the long-lived server must not inherit (and so hold forever) the state lock.
  setsid "$BIN/hatchet-lite" --config "$CONF" >"$RUN/hatchet-lite.log" 2>&1 </dev/null 9>&- &
  local lite_pid=$!
  echo "$lite_pid" >"$RUN/hatchet-lite.pid"
  umask 077
  cat >"$ENV_FILE" <<ENV
HATCHET_CLIENT_TOKEN=$token
HATCHET_CLIENT_HOST_PORT=127.0.0.1:$GRPC_PORT
HATCHET_CLIENT_API_URL=http://127.0.0.1:$API_PORT
HATCHET_CLIENT_TLS_STRATEGY=none
HATCHET_VERSION=$HATCHET_TAG
HATCHET_LITE_PID=$lite_pid
HATCHET_PG_PORT=$PG_PORT
HATCHET_STARTED_AT=$(date +%s)
ENV
  wait_for "hatchet-lite gRPC on 127.0.0.1:$GRPC_PORT" 120 lite_up "$lite_pid" \
    || { log "hatchet-lite did not come up: see $RUN/hatchet-lite.log"; tail -20 "$RUN/hatchet-lite.log" >&2; stop_quiet; exit 1; }
  log "started $HATCHET_TAG in $((SECONDS - t0))s (grpc 127.0.0.1:$GRPC_PORT, api 127.0.0.1:$API_PORT)"
  echo "$ENV_FILE"
}

stop_quiet() {
  local pid
  pid=$(pidof_file "$RUN/hatchet-lite.pid")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "hatchet-lite to exit" 30 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/hatchet-lite.pid" "$ENV_FILE"
  stop_postgres
}

# Shared use by concurrent test files: each user registers its pid; `release` stops the server only when it was
# started on demand (not by `start`) and no registered user is still alive.
acquire() {
  local user=$1
  exec 9>"$STATE/.lock"
  flock 9
  mkdir -p "$STATE/users"
  if ! status; then
    start >/dev/null
    touch "$STATE/users/.on-demand"
  fi
  touch "$STATE/users/$user"
  echo "$ENV_FILE"
}

release() {
  local user=$1
  exec 9>"$STATE/.lock"
  flock 9
  rm -f "$STATE/users/$user"
  [[ -f "$STATE/users/.on-demand" ]] || return 0
  local f
  for f in "$STATE"/users/*; do
    [[ -e "$f" ]] || continue
    alive "$(basename "$f")" && return 0
    rm -f "$f"
  done
  rm -f "$STATE/users/.on-demand"
  stop_quiet
  log "stopped (last user released)"
}

case "${1:-}" in
  build) build ;;
  start) mkdir -p "$STATE"; exec 9>"$STATE/.lock"; flock 9; start; rm -f "$STATE/users/.on-demand" ;;
  stop) mkdir -p "$STATE"; exec 9>"$STATE/.lock"; flock 9; stop_quiet; rm -rf "$STATE/users"; log "stopped" ;;
  status) status && echo "$ENV_FILE" ;;
  acquire) mkdir -p "$STATE"; acquire "${2:?usage: acquire PID}" ;;
  release) mkdir -p "$STATE"; release "${2:?usage: release PID}" ;;
esac
