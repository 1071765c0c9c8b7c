"""dockyardd: one daemon per socket and exec root, a clean stop, containers that outlive it."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

from tests.api import wire
from tests.conftest import DOCKYARDD, daemon_config
from tests.ready import answers_ping


def _dockyardd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKYARDD, *args], capture_output=True, text=True, timeout=30)


def test_socket_mode_and_pid_file(daemon: Any) -> None:
    assert stat.S_IMODE(os.stat(daemon.roots.socket).st_mode) == 0o660
    pid_file = daemon.roots.exec_root / "dockyardd.pid"
    assert pid_file.read_text() == f"{daemon.process.pid}\n"


def test_a_second_daemon_on_the_same_socket_is_refused(daemon: Any, tmp_path: Path) -> None:
    result = _dockyardd(
        "--config-file",
        str(daemon_config(tmp_path)),
        "--data-root",
        str(tmp_path / "d"),
        "--exec-root",
        str(tmp_path / "e"),
        "-H",
        daemon.host,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"dockyardd: a daemon is already serving on {daemon.host}; stop it first or use -H"
    )
    assert wire.request(str(daemon.roots.socket), "GET", "/_ping").body == b"OK"


def test_a_second_daemon_on_the_same_exec_root_is_refused(daemon: Any, tmp_path: Path) -> None:
    other = f"unix://{tmp_path}/other.sock"
    result = _dockyardd(
        "--config-file",
        str(daemon_config(tmp_path)),
        "--data-root",
        str(daemon.roots.data_root),
        "--exec-root",
        str(daemon.roots.exec_root),
        "-H",
        other,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"dockyardd: another dockyardd (pid {daemon.process.pid}) is using the exec root "
        f"{daemon.roots.exec_root}; stop it first"
    )
    assert not (tmp_path / "other.sock").exists()


def test_a_stale_socket_is_replaced(roots: Any, busybox_tar: Path) -> None:
    roots.exec_root.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(roots.socket))  # bound, never listening: what a killed daemon leaves
    stale.close()
    process = subprocess.Popen(
        roots.dockyardd("--config-file", str(daemon_config(roots.base))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reply = _wait_for_ping(str(roots.socket), process)
        assert reply.body == b"OK"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def _wait_for_ping(path: str, process: subprocess.Popen[str]) -> wire.Reply:
    for _ in range(500):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        if answers_ping(path):
            return wire.request(path, "GET", "/_ping", timeout=10)
        subprocess.run(["sleep", "0.02"], check=True)
    raise AssertionError("the daemon did not answer")


def test_sigterm_stops_serving_and_leaves_containers_running(daemon: Any) -> None:
    path = str(daemon.roots.socket)
    body = {"Image": "busybox", "Cmd": ["sleep", "60"]}
    container = wire.request(path, "POST", "/v1.44/containers/create", body).json()["Id"]
    assert wire.request(path, "POST", f"/v1.44/containers/{container}/start").status == 204
    pid = wire.request(path, "GET", f"/v1.44/containers/{container}/json").json()["State"]["Pid"]

    daemon.stop(signal.SIGTERM)
    assert daemon.process.returncode == 0
    assert not daemon.roots.socket.exists()
    assert not (daemon.roots.exec_root / "dockyardd.pid").exists()
    os.kill(pid, 0)  # still alive without the daemon

    daemon.start()
    state = wire.request(path, "GET", f"/v1.44/containers/{container}/json").json()["State"]
    assert (state["Running"], state["Pid"]) == (True, pid)
