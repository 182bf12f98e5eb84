#!/usr/bin/env bash
# Not in CI (about an hour on 2 cores): a new user's first run, literally. Debootstraps a minimal Debian 12
# (minbase: no python3, no Go, no Redis, no PostgreSQL, no git) into a temporary directory, copies in the running
# Node + npm and this machine's CA certificates and registry client settings (apt sources and options, npmrc,
# pip.conf, PIP_*/npm_config_*/GO*/proxy variables), mounts /proc, /sys and /dev, clones this repository inside,
# and runs the README's two set-up commands exactly as the README writes them (scripts/readme-commands.sh), as root:
#   1. the run command: in the background until it prints its submit line; that line is run as printed, then the
#      dev pool gets Ctrl-C (SIGINT to its process group) and must exit 0;
#   2. the test command, to the end.
# Reports minutes per step, what got installed, and the last lines of each command.
#   scripts/fresh-machine-check.sh [--keep]      (root; --keep leaves the root file system for a look)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEEP=false
[[ "${1:-}" == --keep ]] && KEEP=true
[[ "$(id -u)" == 0 ]] || { echo "fresh-machine-check: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }

t0=$SECONDS
declare -a REPORT=()
say() { printf '[fresh +%dm%02ds] %s\n' "$(((SECONDS - t0) / 60))" "$(((SECONDS - t0) % 60))" "$*" >&2; }
mins() { awk -v s="$1" 'BEGIN { printf "%.1f min", s / 60 }'; }
record() { REPORT+=("$*"); say "$*"; }

command -v debootstrap >/dev/null \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }

WORK=$(mktemp -d /var/tmp/tbw-fresh.XXXXXX)
R="$WORK/root"
mounted=()
cleanup() {
  local m i
  if [[ -n "${dev_pid:-}" ]] && kill -0 "$dev_pid" 2>/dev/null; then kill -KILL -- "-$dev_pid" 2>/dev/null || true; fi
  # Anything still running from inside the root (servers a failed run left) must go before its mounts and files.
  for m in /proc/[0-9]*; do
    [[ "$(readlink "$m/root" 2>/dev/null)" == "$R" ]] && kill -KILL "${m#/proc/}" 2>/dev/null || true
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  if $KEEP; then say "kept: $R"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- 1. A minimal Debian 12 -----------------------------------------------------------------------------------------
s=$SECONDS
say "debootstrap --variant=minbase bookworm into $R"
debootstrap --variant=minbase bookworm "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
base_pkgs=$(chroot "$R" dpkg-query -W -f='${Package}\n' | sort)
record "debootstrap minbase: $(mins $((SECONDS - s))), $(wc -l <<<"$base_pkgs") packages, python3: $(chroot "$R" sh -c 'command -v python3 || echo absent'), go: $(chroot "$R" sh -c 'command -v go || echo absent'), git: $(chroot "$R" sh -c 'command -v git || echo absent')"

# --- 2. Node, certificates, registry settings -----------------------------------------------------------------------
node_bin=$(command -v node)
npm_dir="$(npm root -g)/npm"
install -m 0755 "$node_bin" "$R/usr/local/bin/node"
mkdir -p "$R/usr/local/lib/node_modules"
cp -a "$npm_dir" "$R/usr/local/lib/node_modules/npm"
ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
[[ -d /usr/include/node ]] && mkdir -p "$R/usr/include" && cp -a /usr/include/node "$R/usr/include/node"
# CA bundle as this machine has it; also as a local CA so a later update-ca-certificates keeps every one of them.
mkdir -p "$R/etc/ssl/certs" "$R/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
cp /etc/ssl/certs/ca-certificates.crt "$R/usr/local/share/ca-certificates/host-bundle.crt"
# apt: this machine's Debian sources (not third-party ones) and its Acquire:: options.
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
  if [[ -f "$f" ]] && grep -q 'debian.org' "$f"; then
    cp "$f" "$R/etc/apt/sources.list.d/"
    : >"$R/etc/apt/sources.list"
  fi
done
for f in /etc/apt/apt.conf.d/*; do
  if grep -q '^Acquire::' "$f" 2>/dev/null; then cp "$f" "$R/etc/apt/apt.conf.d/"; fi
done
# npm: user and global config (the global file moves with the prefix: /usr/local/etc/npmrc inside).
[[ -f "$HOME/.npmrc" ]] && cp "$HOME/.npmrc" "$R/root/.npmrc"
gcfg=$(npm config get globalconfig)
[[ -f "$gcfg" ]] && mkdir -p "$R/usr/local/etc" && cp "$gcfg" "$R/usr/local/etc/npmrc"
[[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$R/etc/pip.conf"
cp /etc/resolv.conf "$R/etc/resolv.conf"
cp /etc/hosts "$R/etc/hosts"
# Like container images: packages installed in a chroot must not start their services (policy-rc.d, see
# invoke-rc.d(8)); the tests start their own private servers anyway.
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
env_args=(HOME=/root LANG=C.UTF-8 TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
while IFS='=' read -r k v; do
  [[ "$k" == PIP_FIND_LINKS ]] && continue # a local wheel directory of this machine: not a registry setting
  env_args+=("$k=$v")
done < <(env | grep -E '^(PIP_[A-Z_]+|npm_config_[a-z_]+|NPM_CONFIG_[A-Z_]+|GO(PROXY|SUMDB|NOSUMDB|PRIVATE|FLAGS|TOOLCHAIN)|(http|https|no)_proxy|(HTTP|HTTPS|NO)_PROXY)=' || true)
record "copied in: node $("$node_bin" --version), npm $(npm --version), CA bundle, apt sources + options, npmrc, pip.conf, ${#env_args[@]} environment settings"

for m in proc sys dev dev/pts; do
  mkdir -p "$R/$m"
  case $m in
    proc) mount -t proc proc "$R/proc" ;;
    *) mount --rbind "/$m" "$R/$m" && mount --make-rslave "$R/$m" ;;
  esac
  mounted+=("$R/$m")
done

# --- 3. The repository, cloned inside -------------------------------------------------------------------------------
git clone -q --no-hardlinks "$ROOT" "$R/root/task-backend-worker"
record "cloned $(git -C "$ROOT" rev-parse --short HEAD) ($(git -C "$ROOT" log -1 --format=%s | cut -c1-60))"
run_cmd=$(bash "$ROOT/scripts/readme-commands.sh" run)
test_cmd=$(bash "$ROOT/scripts/readme-commands.sh" test)
inside() { chroot "$R" /usr/bin/env -i "${env_args[@]}" bash -c "cd /root/task-backend-worker && $1"; }

# --- 4. README command 1: set up, run dev, submit as printed, Ctrl-C ------------------------------------------------
say "README run command: $run_cmd"
s=$SECONDS
setsid chroot "$R" /usr/bin/env -i "${env_args[@]}" bash -c "cd /root/task-backend-worker && $run_cmd" \
  >"$WORK/run.log" 2>&1 &
dev_pid=$!
line=""
while kill -0 "$dev_pid" 2>/dev/null && ((SECONDS - s < 1800)); do
  line=$(sed -n 's/^  \(CELERY_BROKER_URL=.* submit .*\)$/\1/p' "$WORK/run.log" | head -n1)
  [[ -n "$line" ]] && break
  sleep 2
done
[[ -n "$line" ]] || { tail -30 "$WORK/run.log" >&2; record "FAIL: the run command printed no submit line"; exit 1; }
record "run command: pool up after $(mins $((SECONDS - s))); printed: $line"
# The pool logs 'pool state changed' ... 'running' once every child is ready; the result waits anyway (bounded).
submit_out=$(timeout 120 chroot "$R" /usr/bin/env -i "${env_args[@]}" bash -c "cd /root/task-backend-worker && $line" 2>&1) || true
record "submit as printed -> $(tail -n1 <<<"$submit_out")"
kill -INT -- "-$dev_pid"
set +e
wait "$dev_pid"
dev_rc=$?
set -e
dev_pid=""
# npm itself reports a Ctrl-C as 130 (SIGINT) whatever its script did; the pool's own verdict is its last log
# line, and the private redis-server must be gone with it.
pool_exit=$(sed -n 's/.*"exitCode":\([0-9]*\),"msg":"supervisor exiting".*/\1/p' "$WORK/run.log" | tail -n1)
left=$(for m in /proc/[0-9]*; do [[ "$(readlink "$m/root" 2>/dev/null)" == "$R" ]] && cat "$m/comm"; done | sort -u | tr '\n' ' ' || true)
record "Ctrl-C: the run command exited $dev_rc (npm's code for SIGINT is 130), the pool with ${pool_exit:-?}; still running inside: ${left:-nothing}"
tail -n 2 "$WORK/run.log" | cut -c1-200 >&2
[[ "$(tail -n1 <<<"$submit_out")" == 5 && ($dev_rc == 0 || $dev_rc == 130) && "$pool_exit" == 0 && -z "$left" ]] \
  || { record "FAIL: run command"; exit 1; }
after_setup=$(chroot "$R" dpkg-query -W -f='${Package}\n' | sort)
record "installed by the run command: $(comm -13 <(echo "$base_pkgs") <(echo "$after_setup") | wc -l) packages (asked: $(grep -o 'installing .*' "$WORK/run.log" | head -n1 || echo nothing))"

# --- 5. README command 2: the whole test suite ----------------------------------------------------------------------
say "README test command: $test_cmd"
s=$SECONDS
set +e
inside "$test_cmd" >"$WORK/test.log" 2>&1
test_rc=$?
set -e
after_test=$(chroot "$R" dpkg-query -W -f='${Package}\n' | sort)
record "test command: exit $test_rc after $(mins $((SECONDS - s)))"
record "installed by the test command: $(comm -13 <(echo "$after_setup") <(echo "$after_test") | wc -l) more packages (asked: $(grep -o 'provision: installing .*' "$WORK/test.log" | head -n1 | cut -c1-300 || echo nothing))"
while read -r l; do record "  $l"; done < <(grep -E '^provision: |^\[hatchet-server\] built|python venv ready' "$WORK/test.log" | cut -c1-200)
record "  sizes: $(inside 'du -sh node_modules .tbw/venv .tbw/hatchet/bin .tbw/go/ 2>/dev/null | tr "\n\t" ", "')"
summary=$(grep -E '^# \{ total' "$WORK/test.log" | tail -n1)
record "tap: ${summary:-no summary line}"
while read -r l; do record "  $l"; done < <(grep -E '^not ok ' "$WORK/test.log" | head -20)
say "last lines of the test command:"
tail -n 6 "$WORK/test.log" >&2

echo
echo "== fresh-machine-check summary ($(mins $((SECONDS - t0))) in all) =="
printf '%s\n' "${REPORT[@]}"
[[ $test_rc == 0 ]]
