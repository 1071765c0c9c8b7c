"""Clients that stop reading (attach, build) or that send more than the container reads: the
high-water marks of the shims and the daemon pause the flow, so neither grows."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard import stdcopy
from tests.api import wire
from tests.e2e.helpers import wait_until

UPGRADE = {"Connection": "Upgrade", "Upgrade": "tcp", "Content-Type": "application/json"}
MB = 1 << 20
OUTPUT = 64 * MB
NO_LOG = {"LogConfig": {"Type": "none", "Config": {}}}


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _written(pid: int) -> int:
    """What the process wrote so far; all of it once it ended (it was never paused)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except FileNotFoundError:
        return OUTPUT
    for line in text.splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no wchar in /proc/{pid}/io")


def _stable(sample: Callable[[], int]) -> Callable[[], bool]:
    """A condition: the sampled count has stopped moving (the same over five polls)."""
    seen: list[int] = []

    def check() -> bool:
        seen.append(sample())
        return len(seen) > 4 and seen[-1] == seen[-5]

    return check


def _create(path: str, body: dict[str, Any]) -> str:
    reply = wire.request(path, "POST", "/v1.44/containers/create", {"Image": "busybox", **body})
    assert reply.status == 201, reply.body
    return str(reply.json()["Id"])


def _attach(path: str, cid: str, query: str) -> socket.socket:
    sock = wire.connect(path, timeout=60)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    wire.send_request(sock, "POST", f"/v1.44/containers/{cid}/attach?stream=1&{query}", UPGRADE)
    status, _, rest = wire.read_head(sock)
    assert status == "HTTP/1.1 101 UPGRADED" and not rest
    return sock


def _start(path: str, cid: str, data_root: Path) -> tuple[int, int]:
    """Start it; its pid and its shim's."""
    assert wire.request(path, "POST", f"/v1.44/containers/{cid}/start").status == 204
    shim = json.loads((data_root / "containers" / cid / "shim.json").read_text())
    return int(shim["pid"]), int(shim["shim_pid"])


def test_a_stalled_attach_client_pauses_the_container_not_the_memory(daemon: Any) -> None:
    path, daemon_pid = str(daemon.roots.socket), daemon.process.pid
    cid = _create(path, {"Cmd": ["head", "-c", str(OUTPUT), "/dev/zero"], "HostConfig": NO_LOG})
    daemon_rss = _status_kb(daemon_pid, "VmRSS")
    with _attach(path, cid, "stdout=1&stderr=1") as client:  # it reads nothing for now
        pid, shim = _start(path, cid, daemon.roots.data_root)
        wait_until(_stable(lambda: _written(pid)), 30, "head to block on its full pipe")

        assert _written(pid) < OUTPUT // 4  # the pipe, the sockets and the high-water marks
        assert _status_kb(shim, "VmRSS") < 48 * 1024
        assert _status_kb(daemon_pid, "VmRSS") - daemon_rss < 32 * 1024

        # Nothing was lost: once the client reads, all of it arrives and the container ends.
        parser, received = stdcopy.FrameParser(), 0
        while chunk := client.recv(MB):
            received += sum(len(data) for _, data in parser.feed(chunk))
    assert received == OUTPUT
    waited = wire.request(path, "POST", f"/v1.44/containers/{cid}/wait", timeout=60).json()
    assert waited["StatusCode"] == 0


def test_stdin_the_container_does_not_read_pushes_back_on_the_client(daemon: Any) -> None:
    path, daemon_pid = str(daemon.roots.socket), daemon.process.pid
    cid = _create(
        path, {"Cmd": ["sleep", "600"], "OpenStdin": True, "AttachStdin": True, **{"Tty": False}}
    )
    daemon_rss = _status_kb(daemon_pid, "VmRSS")
    sent = [0]
    with _attach(path, cid, "stdin=1&stdout=1") as client:
        _, shim = _start(path, cid, daemon.roots.data_root)

        def send() -> None:
            block = b"x" * MB
            try:
                while sent[0] < OUTPUT:
                    client.sendall(block)
                    sent[0] += len(block)
            except OSError:  # the connection closed under a write the daemon never took
                pass

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        wait_until(_stable(lambda: sent[0]), 30, "the client's writes to block")

        # Socket buffers, the daemon's 1 MiB of pending input, the shim's high-water mark.
        assert sent[0] < 8 * MB
        assert _status_kb(shim, "VmRSS") < 48 * 1024
        assert _status_kb(daemon_pid, "VmRSS") - daemon_rss < 48 * 1024
        client.shutdown(socket.SHUT_RDWR)
    sender.join(10)
    assert wire.request(path, "DELETE", f"/v1.44/containers/{cid}?force=1").status == 204


def _read_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar in /proc/{pid}/io")


def test_attach_with_logs_reads_the_past_as_a_stalled_client_takes_it(daemon: Any) -> None:
    path, daemon_pid = str(daemon.roots.socket), daemon.process.pid
    # 64 MiB of "a" in lines of 1,000 bytes, into the json-file log.
    write = f"head -c {OUTPUT} /dev/zero | tr '\\0' a | fold -w 999"
    cid = _create(path, {"Cmd": ["sh", "-c", write]})
    assert wire.request(path, "POST", f"/v1.44/containers/{cid}/start").status == 204
    waited = wire.request(path, "POST", f"/v1.44/containers/{cid}/wait", timeout=120).json()
    assert waited["StatusCode"] == 0
    tail = wire.request(path, "GET", f"/v1.44/containers/{cid}/logs?stdout=1&tail=1")
    assert tail.status == 200  # the log reader's code, loaded before the baseline
    daemon_rss = _status_kb(daemon_pid, "VmRSS")
    with wire.connect(path, timeout=60) as client:  # it reads nothing for now
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        query = "stdout=1&logs=1&stream=0"
        wire.send_request(client, "POST", f"/v1.44/containers/{cid}/attach?{query}", UPGRADE)
        wait_until(_stable(lambda: _read_bytes(daemon_pid)), 30, "the daemon to stop reading")

        assert _status_kb(daemon_pid, "VmRSS") - daemon_rss < 32 * 1024

        status, _, rest = wire.read_head(client)
        assert status == "HTTP/1.1 101 UPGRADED"
        parser, received, chunk = stdcopy.FrameParser(), 0, rest
        while chunk:
            received += sum(data.count(b"a") for _, data in parser.feed(chunk))
            chunk = client.recv(MB)
    assert received == OUTPUT


def _context_tar(dockerfile: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    return buffer.getvalue()


def _process_running(name: str, token: str) -> int:
    """The pid of a process called ``name`` whose command line holds ``token``; 0 when none.

    busybox's sh runs applets in a fork of itself: the command line is the shell's."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if comm == name and token.encode() in cmdline:
                return int(entry)
    return 0


def test_a_stalled_build_client_pauses_the_build_not_the_memory(daemon: Any) -> None:
    path, daemon_pid = str(daemon.roots.socket), daemon.process.pid
    # A size of its own, so that this test finds its RUN step's head among the host's.
    size = str(OUTPUT + 13)
    warm_up = _context_tar("FROM busybox\nRUN true\n")  # the builder's code, loaded once
    headers = {"Content-Type": "application/x-tar"}
    assert wire.request(path, "POST", "/v1.44/build", warm_up, headers, timeout=60).status == 200
    context = _context_tar(f"FROM busybox\nRUN head -c {size} /dev/zero | tr '\\0' a\n")
    daemon_rss = _status_kb(daemon_pid, "VmRSS")
    with wire.connect(path, timeout=120) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        wire.send_request(client, "POST", "/v1.44/build?rm=1", headers, context)
        pids: list[int] = []
        wait_until(lambda: pids.append(_process_running("head", size)) or pids[-1] > 0, 60, "RUN")
        pid = pids[-1]
        wait_until(_stable(lambda: _written(pid)), 30, "head to block on its full pipe")

        assert _written(pid) < OUTPUT // 4  # pipes, sockets, the shim's and the daemon's marks
        assert _status_kb(daemon_pid, "VmRSS") - daemon_rss < 32 * 1024

        # Nothing was lost: once the client reads, all of it arrives and the build succeeds.
        status, _, rest = wire.read_head(client)
        assert status == "HTTP/1.1 200 OK"
        reader, received, last = wire.ChunkedReader(client, rest), 0, b""
        while not reader.done:
            chunk = reader.read_chunk()
            received += chunk.count(b"a")
            last, reader.body = chunk or last, b""  # count, without keeping 64 MB
    assert received >= OUTPUT
    assert b"Successfully built" in last
