#!/usr/bin/env bash
# Not in CI (it debootstraps and boots a container): the shipped unit under a REAL systemd. systemd-nspawn boots a
# minimal Debian 12 with systemd as PID 1 and no python3; the packed package is installed globally in it, a task
# module under /etc imports 'task-backend-worker', and deploy/task-backend-worker.service runs it as its system
# user. Checks: Type=notify start (READY=1 through systemd-notify, NotifyAccess=all), STATUS=, a task end to end,
# reload (HUP), stop (exit 0), and that NotifyAccess=main would time the start out. Prints what it saw.
#   scripts/systemd-check.sh            (as root; state in /var/tmp/tbw-systemd-check, reused between runs)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${TBW_SYSTEMD_CHECK_DIR:-/var/tmp/tbw-systemd-check}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rootfs="$WORK/rootfs"
t0=$SECONDS
say() { printf '[systemd-check +%ss] %s\n' "$((SECONDS - t0))" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
[[ "$(id -u)" == 0 ]] || fail "run as root (debootstrap, systemd-nspawn)"

missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$WORK"
if [[ ! -f "$WORK/.rootfs-ready" ]]; then
  say "debootstrap Debian 12 minbase + systemd, dbus, redis-server into $rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,redis-server bookworm "$rootfs" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || fail "debootstrap: see $WORK/debootstrap.log"
  touch "$WORK/.rootfs-ready"
fi
[[ ! -e "$rootfs/usr/bin/python3" ]] || fail "the container has python3; the point is a host without it"

say "packing and installing the package globally into the container (/usr/local)"
cp "$(command -v node)" "$rootfs/usr/local/bin/node"
rm -rf "$rootfs/usr/local/lib/node_modules/task-backend-worker" "$WORK"/task-backend-worker-*.tgz
(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" >/dev/null)
tgz=$(ls "$WORK"/task-backend-worker-*.tgz)
npm install -g --prefix "$rootfs/usr/local" --no-audit --no-fund --prefer-offline "$tgz" >/dev/null

chroot "$rootfs" id task-backend-worker >/dev/null 2>&1 \
  || chroot "$rootfs" useradd --system --home /var/lib/task-backend-worker --shell /usr/sbin/nologin task-backend-worker
sed 's#^ExecStart=.*#ExecStart=/usr/local/bin/task-backend-worker#' "$ROOT/deploy/task-backend-worker.service" \
  >"$rootfs/etc/systemd/system/task-backend-worker.service"
mkdir -p "$rootfs/etc/task-backend-worker"
cat >"$rootfs/etc/task-backend-worker/tasks.mjs" <<'JS'
import { defineTask } from 'task-backend-worker';
export const mul = defineTask({ name: 'sd_mul', async run([a, b]) { return a * b; } });
JS
cat >"$rootfs/etc/task-backend-worker.env" <<'ENV'
CELERY_BROKER_URL=redis://127.0.0.1:6379/0
TASK_WORKER_CONCURRENCY=2
TASK_MODULES=/etc/task-backend-worker/tasks.mjs
ENV
# A short watchdog for this check (the unit says 60 s), so WATCHDOG=1 pings show within seconds.
mkdir -p "$rootfs/etc/systemd/system/task-backend-worker.service.d"
printf '[Service]\nWatchdogSec=4s\n' >"$rootfs/etc/systemd/system/task-backend-worker.service.d/watchdog.conf"

say "booting the container (systemd-nspawn -b, private network)"
systemd-nspawn -D "$rootfs" --register=no --keep-unit --private-network -b --console=passive \
  >"$WORK/boot.log" 2>&1 &
nspawn=$!
cleanup() {
  [[ -n "${leader:-}" ]] && nsenter -t "$leader" -a systemctl poweroff >/dev/null 2>&1 || true
  for _ in $(seq 50); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.2; done
  kill "$nspawn" 2>/dev/null || true
}
trap cleanup EXIT
leader=""
for _ in $(seq 100); do
  leader=$(pgrep -P "$nspawn" -x systemd || true)
  [[ -n "$leader" ]] && break
  sleep 0.2
done
[[ -n "$leader" ]] || fail "systemd did not start in the container: $(tail -5 "$WORK/boot.log")"
# A clean environment inside (nothing of this host's, e.g. NODE_EXTRA_CA_CERTS, leaks into the container).
ct() { nsenter -t "$leader" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
state=""
for _ in $(seq 300); do
  state=$(ct systemctl is-system-running 2>/dev/null || true)
  [[ "$state" == running || "$state" == degraded ]] && break
  sleep 0.2
done
say "container up: $(ct systemctl --version | head -n1), system $state, python3: $(ct sh -c 'command -v python3 || echo absent')"

show() { ct systemctl show task-backend-worker -p "$1" --value; }
say "systemctl start task-backend-worker"
start_s=$SECONDS
ct systemctl start task-backend-worker || fail "start failed: $(ct journalctl -u task-backend-worker -n 20 --no-pager -o cat)"
say "started in $((SECONDS - start_s)) s: ActiveState=$(show ActiveState) SubState=$(show SubState) NotifyAccess=$(show NotifyAccess) MainPID=$(show MainPID)"
say "StatusText=$(show StatusText)"
[[ "$(show ActiveState)" == active && "$(show StatusText)" == "running: 2/2 children ready"* ]] || fail "not active/ready"

wd1=$(show WatchdogTimestampMonotonic)
sleep 3
wd2=$(show WatchdogTimestampMonotonic)
say "watchdog (WatchdogSec=4s): last ping at ${wd1} µs, 3 s later at ${wd2} µs"
((wd2 > wd1)) || fail "no WATCHDOG=1 reached systemd"

result=$(ct env CELERY_BROKER_URL=redis://127.0.0.1:6379/0 TASK_MODULES=/etc/task-backend-worker/tasks.mjs \
  /usr/local/bin/task-backend-worker submit sd_mul 6 7 --wait | tail -n1)
say "submit sd_mul 6 7 --wait -> $result (a task from /etc/task-backend-worker/tasks.mjs, run by the service)"
[[ "$result" == 42 ]] || fail "task result $result"

main=$(show MainPID)
# Child pids from the pool's own status socket (the unit's TASK_CONTROL_SOCKET), to see the rolling restart.
kids() {
  ct /usr/local/bin/task-backend-worker status --json --socket /run/task-backend-worker/worker.sock \
    | ct node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const d=JSON.parse(s);console.log(d.children.filter(c=>c.state==="ready").map(c=>c.pid).sort().join(","))})'
}
before=$(kids)
ct systemctl reload task-backend-worker || fail "reload: $(ct journalctl -u task-backend-worker -n 5 --no-pager -o cat)"
after=""
for _ in $(seq 150); do
  after=$(kids)
  [[ "$after" == *,* && ",$after," != *",${before%%,*},"* && ",$after," != *",${before##*,},"* ]] && break
  sleep 0.2
done
say "reload (HUP): children $before -> $after; ActiveState=$(show ActiveState) MainPID=$(show MainPID) (was $main)"
[[ "$(show ActiveState)" == active && "$(show MainPID)" == "$main" && "$after" != "$before" ]] || fail "reload"

ct systemctl stop task-backend-worker
say "stopped: Result=$(show Result) ExecMainStatus=$(show ExecMainStatus)"
[[ "$(show Result)" == success && "$(show ExecMainStatus)" == 0 ]] || fail "stop"
say "journal (last lines):"
ct journalctl -u task-backend-worker --no-pager -o short-monotonic | grep -v 'Unknown key' | tail -n 8 | cut -c1-220 >&2

say "negative check: NotifyAccess=main with User= (systemd-notify sends with its own pid), TimeoutStartSec=15s"
mkdir -p "$rootfs/etc/systemd/system/task-backend-worker.service.d"
printf '[Service]\nNotifyAccess=main\nTimeoutStartSec=15s\n' >"$rootfs/etc/systemd/system/task-backend-worker.service.d/main.conf"
ct systemctl daemon-reload
if ct systemctl start task-backend-worker 2>/dev/null; then
  fail "NotifyAccess=main started: expected a timeout (the messages come from systemd-notify's pid)"
fi
refused=$(ct journalctl -b -u task-backend-worker --no-pager -o cat | grep -i 'reception only permitted' | tail -n1 || true)
say "as expected: Result=$(show Result); journal: ${refused:-(no refusal line)}"
rm -rf "$rootfs/etc/systemd/system/task-backend-worker.service.d"
ct systemctl daemon-reload
ct systemctl reset-failed task-backend-worker 2>/dev/null || true
say "PASS: Type=notify with NotifyAccess=all works under systemd $(ct systemctl --version | head -n1 | cut -d' ' -f2) without python3"
