"""Execs and build steps run under their own shim, forked by the zygote: never by the daemon,
not tied to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api import wire
from tests.conftest import DOCKYARD

UPGRADE = {"Connection": "Upgrade", "Upgrade": "tcp", "Content-Type": "application/json"}


def _sleeper(path: str) -> str:
    body = {"Image": "busybox", "Cmd": ["sleep", "600"]}
    container = wire.request(path, "POST", "/v1.44/containers/create", body).json()["Id"]
    assert wire.request(path, "POST", f"/v1.44/containers/{container}/start").status == 204
    return str(container)


def _exec(path: str, container: str, cmd: list[str], **config: Any) -> str:
    body = {"Cmd": cmd, **config}
    return str(wire.request(path, "POST", f"/v1.44/containers/{container}/exec", body).json()["Id"])


def _exec_pid(path: str, exec_id: str) -> int:
    """The exec's pid, once it runs (a hijacked start answers before that)."""
    pids: list[int] = []

    def started() -> bool:
        pids.append(wire.request(path, "GET", f"/v1.44/exec/{exec_id}/json").json()["Pid"])
        return bool(pids[-1])

    _wait_for(started, f"exec {exec_id} to start")
    return pids[-1]


def _status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split()[1]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _parent(pid: int) -> int:
    return int(_status(pid, "PPid"))


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_execs_survive_the_daemon_killed(daemon: Any) -> None:
    """A detached exec, and an attached one whose output has nowhere to go once the
    daemon is gone: both keep running (their shims own their stdio)."""
    path = str(daemon.roots.socket)
    container = _sleeper(path)
    files = {}
    for name, detach in (("detached", True), ("attached", False)):
        script = f"while :; do echo x >> /tmp/{name}; echo tick; sleep 0.05; done"
        exec_id = _exec(path, container, ["sh", "-c", script], AttachStdout=not detach)
        body = json.dumps({"Detach": detach, "Tty": False}).encode()
        sock = wire.connect(path)
        wire.send_request(sock, "POST", f"/v1.44/exec/{exec_id}/start", UPGRADE, body)
        files[name] = (Path(f"/proc/{_exec_pid(path, exec_id)}/root/tmp/{name}"), sock)
    for grows, _ in files.values():
        _wait_for(grows.exists, f"the first write to {grows}")

    # The daemon's whole process group, as a service manager or a terminal's Ctrl-C kills it.
    os.killpg(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait(timeout=20)
    for _, sock in files.values():
        sock.close()
    daemon.start()

    for grows, _ in files.values():
        size = grows.stat().st_size
        _wait_for(lambda g=grows, s=size: g.stat().st_size > s, f"{grows} to keep growing")


def test_every_exec_runs_under_its_shim_not_the_daemon(daemon: Any) -> None:
    path = str(daemon.roots.socket)
    container = _sleeper(path)
    detached = _exec(path, container, ["sleep", "600"])
    wire.request(path, "POST", f"/v1.44/exec/{detached}/start", {"Detach": True})
    attached = _exec(path, container, ["cat"], AttachStdin=True, AttachStdout=True)
    with wire.connect(path) as sock:
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        wire.send_request(sock, "POST", f"/v1.44/exec/{attached}/start", UPGRADE, body)
        assert wire.read_head(sock)[0] == "HTTP/1.1 101 UPGRADED"
        for exec_id in (detached, attached):
            parent = _parent(_exec_pid(path, exec_id))
            assert parent != daemon.process.pid
            assert _comm(parent) == "dockyard-exec"
            assert _parent(parent) != daemon.process.pid  # detached: init's, not ours


def test_a_slow_exec_client_pauses_the_process_not_the_memory(daemon: Any) -> None:
    path = str(daemon.roots.socket)
    container = _sleeper(path)
    exec_id = _exec(path, container, ["cat", "/dev/zero"], AttachStdout=True)
    daemon_rss = int(_status(daemon.process.pid, "VmRSS"))
    with wire.connect(path) as sock:  # a client that never reads
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        wire.send_request(sock, "POST", f"/v1.44/exec/{exec_id}/start", UPGRADE, body)
        pid = _exec_pid(path, exec_id)
        shim = _parent(pid)
        written: list[int] = []

        def paused() -> bool:
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                if line.startswith("wchar:"):
                    written.append(int(line.split()[1]))
            return len(written) > 4 and written[-1] == written[-5]

        _wait_for(paused, "cat to block on its full pipe")
        assert written[-1] < 32 * 1024 * 1024  # socket and pipe buffers, and the high-water marks
        assert int(_status(daemon.process.pid, "VmRSS")) - daemon_rss < 32 * 1024  # kB
        assert int(_status(shim, "VmRSS")) < 64 * 1024


def test_a_build_step_runs_under_its_shim_not_the_daemon(daemon: Any, tmp_path: Path) -> None:
    marker = f"step-{os.getpid()}-{time.monotonic_ns()}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nRUN sh -c 'while [ ! -e /go ]; do sleep 0.05; done' {marker}\n"
    )
    build = subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, "build", "-q", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        steps: list[int] = []

        def running() -> bool:
            steps.extend(pid for pid in _pids() if marker.encode() in _cmdline(pid))
            return bool(steps)

        _wait_for(running, "the RUN step to start", seconds=60)
        parent = _parent(steps[0])
        assert parent != daemon.process.pid
        assert _comm(parent) == "dockyard-exec"
        Path(f"/proc/{steps[0]}/root/go").touch()
        assert build.wait(timeout=60) == 0
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
