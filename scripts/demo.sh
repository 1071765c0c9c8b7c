#!/usr/bin/env bash
# Docker's getting-started workflow, for real, against a throw-away daemon; each step is checked.
# Run by `make demo` (which installs everything first). The app (examples/getting-started) is a
# todo list served by busybox httpd: Docker Hub's node image is out of reach on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$REPO/.venv/bin
BASE=$(mktemp -d /tmp/dy-demo-XXXXXX)
APP=$BASE/getting-started
export DOCKYARD_HOST=unix://$BASE/run/d.sock
dy() { "$BIN/dockyard" "$@"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ok() { printf '   \033[32mok\033[0m %s\n' "$*"; }
fail() { printf '   \033[31mFAILED\033[0m %s\n' "$*"; exit 1; }
page() { curl -fsS --max-time 5 "http://127.0.0.1:3000$1" "${@:2}"; }
wait_page() { for _ in $(seq 50); do page / >/dev/null 2>&1 && return 0; sleep 0.1; done; fail "nothing answers on :3000"; }

cleanup() {
    set +e
    for c in $(dy ps -aq 2>/dev/null); do dy rm -f "$c" >/dev/null 2>&1; done
    [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    grep " $BASE" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    rm -rf "$BASE"
}
trap cleanup EXIT

start_daemon() {
    "$BIN/dockyardd" --data-root "$BASE/data" --exec-root "$BASE/run" -H "$DOCKYARD_HOST" >>"$BASE/daemon.log" 2>&1 &
    DAEMON=$!
    for _ in $(seq 100); do dy version >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "the daemon did not start: $(tail -3 "$BASE/daemon.log")"
}

step "start the daemon, import a busybox base image from the host's busybox-static"
mkdir -p "$BASE/run"
start_daemon
scripts/mkbusybox-rootfs.sh "$BASE/busybox.tar"
dy import --change 'CMD ["sh"]' "$BASE/busybox.tar" busybox:latest >/dev/null
dy images
cp -r examples/getting-started "$APP"
cd "$APP"

step "dockyard build -t getting-started ."
dy build -t getting-started .
dy images --format '{{.Repository}}' | grep -qx getting-started && ok "image getting-started built"

step "dockyard run -d -p 3000:3000 getting-started   (the page answers on :3000)"
id=$(dy run -d -p 3000:3000 getting-started)
wait_page
page / | grep -q "<h1>Todo App</h1>" && ok "http://127.0.0.1:3000/ serves the Todo App"

step "change the source, rebuild: only the changed layers rebuild"
sed -i 's|<h1>Todo App</h1>|<h1>Todo App</h1><p>You have no todo items yet! Add one above!</p>|' www/index.html
out=$(dy build -t getting-started . | tee /dev/stderr)
grep -A1 "WORKDIR /app" <<<"$out" | grep -q "Using cache" && ok "steps before the changed COPY came from cache"
grep -A1 "COPY www/ www/" <<<"$out" | grep -q "Using cache" && fail "the changed COPY was not rebuilt"
ok "the COPY of the changed file and the steps after it were rebuilt"

step "dockyard ps; dockyard stop ID; dockyard rm ID; run the new image"
dy ps
dy stop "$id" >/dev/null && ok "stopped ${id:0:12}"
dy rm "$id" >/dev/null && ok "removed ${id:0:12}"
id=$(dy run -d -p 3000:3000 getting-started)
wait_page
page / | grep -q "no todo items yet" && ok "the updated page is served"
dy rm -f "$id" >/dev/null

step "dockyard volume create todo-db; the data survives a new container"
dy volume create todo-db
id=$(dy run -dp 3000:3000 -v todo-db:/etc/todos getting-started)
wait_page
page /cgi-bin/todos -d "item=Buy milk" >/dev/null
dy rm -f "$id" >/dev/null && ok "added 'Buy milk', then removed the container"
id=$(dy run -dp 3000:3000 -v todo-db:/etc/todos getting-started)
wait_page
page /cgi-bin/todos | grep -qx "Buy milk" && ok "a new container still has 'Buy milk'"
dy rm -f "$id" >/dev/null

step "dockyard volume inspect todo-db"
dy volume inspect todo-db
[ -f "$(dy volume inspect -f '{{.Mountpoint}}' todo-db)/todo.db" ] && ok "the data lives in the volume's Mountpoint"

step "bind mount: dockyard run -dp 3000:3000 -v \"\$PWD/data:/data\" getting-started"
mkdir -p data
echo "from the host" > data/note.txt
id=$(dy run -dp 3000:3000 -v "$PWD/data:/data" getting-started)
wait_page
[ "$(dy exec "$id" cat /data/note.txt)" = "from the host" ] && ok "the container sees the host's file"
dy exec "$id" sh -c 'echo from the container > /data/reply.txt'
[ "$(cat data/reply.txt)" = "from the container" ] && ok "the host sees the container's file"
dy rm -f "$id" >/dev/null

step "containers outlive the daemon"
dy run -d --name survivor busybox sh -c 'sleep 2; echo done; exit 7' >/dev/null
kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
ok "killed the daemon with SIGKILL"
start_daemon
[ "$(dy wait survivor)" = 7 ] && ok "the exit code was recorded across the restart: 7"
dy rm survivor >/dev/null

printf '\n\033[1mdemo finished: every step worked\033[0m\n'
