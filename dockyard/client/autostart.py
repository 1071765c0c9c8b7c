"""Start the daemon on first use, the way the embedded default wants it.

When nothing answers on the default socket and the user is root, the CLI
spawns ``dockyardd`` in its own session (so it outlives the CLI and ignores the
terminal's signals), logging to ``<data-root>/dockyardd.log``, and waits until
``/_ping`` answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dockyard.client.endpoint import connect_unix
from dockyard.client.http import Connection
from dockyard.errors import SystemError

READY_TIMEOUT = 10.0


def daemon_command() -> list[str]:
    """The ``dockyardd`` console script beside this interpreter, or the module itself."""
    script = os.path.join(os.path.dirname(sys.executable), "dockyardd")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-c", "import sys; from dockyard.daemon import main; sys.exit(main())"]


def start_daemon(socket_path: str) -> None:
    """Spawn the daemon detached and return once it answers on ``socket_path``."""
    from dockyard.config import Paths

    data_root = Paths.from_env().data_root
    data_root.mkdir(parents=True, exist_ok=True)
    log_path = data_root / "dockyardd.log"
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(
            daemon_command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    wait_until_ready(socket_path, daemon, str(log_path))


def wait_until_ready(socket_path: str, daemon: subprocess.Popen[bytes], log_path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    delay = 0.005
    while time.monotonic() < deadline:
        if answers_ping(socket_path):
            return
        status = daemon.poll()
        if status is not None and not answers_ping(socket_path):
            raise SystemError(
                f"dockyardd exited with status {status} at start-up: "
                f"{last_log_line(log_path)} (see {log_path})"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise SystemError(
        f"dockyardd did not answer on {socket_path} within {READY_TIMEOUT:.0f}s; see {log_path}"
    )


def last_log_line(log_path: str) -> str:
    """The daemon's last words, which usually name why it could not start."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 4096))
            lines = log.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "nothing logged"


def answers_ping(socket_path: str) -> bool:
    try:
        conn = Connection(connect_unix(socket_path, timeout=1.0))
    except OSError:
        return False
    try:
        conn.send_request("GET", "/_ping", {}, None)
        status, _, _ = conn.read_head()
        return status == 200
    except OSError:
        return False
    finally:
        conn.close()
