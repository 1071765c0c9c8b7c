#!/usr/bin/env bash
# The getting-started workflow, for real, against a throw-away daemon; each step is checked.
# Run by `make demo` (which installs everything first).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
BASE=$(mktemp -d /tmp/dy-demo-XXXXXX)
SOCK=$BASE/run/d.sock
export DOCKYARD_HOST=unix://$SOCK
dy() { "$BIN/dockyard" "$@"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ok() { printf '   \033[32mok\033[0m %s\n' "$*"; }
fail() { printf '   \033[31mFAILED\033[0m %s\n' "$*"; exit 1; }

cleanup() {
    set +e
    for c in $(dy ps -aq 2>/dev/null); do dy rm -f "$c" >/dev/null 2>&1; done
    [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    grep " $BASE" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    rm -rf "$BASE"
}
trap cleanup EXIT

step "start the daemon (dockyardd --data-root $BASE/data)"
mkdir -p "$BASE/run"
"$BIN/dockyardd" --data-root "$BASE/data" --exec-root "$BASE/run" -H "$DOCKYARD_HOST" >"$BASE/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
dy version >/dev/null && ok "daemon answers on $SOCK"

step "make a busybox base image from the host's busybox-static"
scripts/mkbusybox-rootfs.sh "$BASE/busybox.tar"
dy import --change 'CMD ["sh"]' "$BASE/busybox.tar" busybox:latest
dy images
dy images --format '{{.Repository}}:{{.Tag}}' | grep -qx busybox:latest && ok "busybox:latest imported"

step "dockyard run busybox echo (attached: output and exit status)"
out=$(dy run --rm busybox echo hello from a container)
[ "$out" = "hello from a container" ] && ok "output: $out"
set +e; dy run --rm busybox sh -c 'exit 3'; code=$?; set -e
[ "$code" = 3 ] && ok "exit status passed through: $code" || fail "exit status $code"

step "isolation: own pid namespace, hostname, root"
dy run --rm busybox sh -c 'echo "pid=$$ hostname=$(hostname) procs=$(ps | wc -l)"'

step "dockyard run -d, ps, logs, exec, stop, rm"
id=$(dy run -d --name web busybox sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done')
ok "started $id"
dy ps
sleep 0.7
dy logs web | head -3
[ "$(dy exec web cat /etc/hostname)" = "${id:0:12}" ] && ok "exec sees hostname ${id:0:12}"
dy stop -t 1 web >/dev/null && ok "stopped"
dy ps -a --filter name=web
dy rm web >/dev/null && ok "removed"
[ -z "$(dy ps -aq)" ] && ok "no containers left"

step "the daemon can die: containers keep running and are found again"
dy run -d --name survivor busybox sh -c 'sleep 2; echo done; exit 7' >/dev/null
kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
"$BIN/dockyardd" --data-root "$BASE/data" --exec-root "$BASE/run" -H "$DOCKYARD_HOST" >>"$BASE/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do dy version >/dev/null 2>&1 && break; sleep 0.1; done
code=$(dy wait survivor)
[ "$code" = 7 ] && ok "exit code recorded across a daemon restart: $code" || fail "wait gave $code"
dy logs survivor
dy rm survivor >/dev/null

printf '\n\033[1mdemo finished: every step worked\033[0m\n'
