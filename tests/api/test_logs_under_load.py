"""`logs` of a 100 MB log: the daemon reads it in bounded memory and keeps serving others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api import wire

# 100,000,000 bytes in lines of 999 "a"s; the last 100 run into "last".
BIG_LOG = "head -c 100000000 /dev/zero | tr '\\0' a | fold -w 999; echo last"
MB = 1 << 20


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def _run_to_exit(path: str, command: str) -> str:
    body = {"Image": "busybox", "Cmd": ["sh", "-c", command]}
    cid = wire.request(path, "POST", "/v1.44/containers/create", body).json()["Id"]
    assert wire.request(path, "POST", f"/v1.44/containers/{cid}/start").status == 204
    waited = wire.request(path, "POST", f"/v1.44/containers/{cid}/wait", timeout=120)
    assert waited.json()["StatusCode"] == 0
    return cid


def test_a_tail_of_a_big_log_and_a_stalled_reader_hold_little_memory(daemon: Any) -> None:
    path, pid = str(daemon.roots.socket), daemon.process.pid
    cid = _run_to_exit(path, BIG_LOG)
    logs = f"/v1.44/containers/{cid}/logs?stdout=1"

    _reset_peak_rss(pid)
    before = _status_kb(pid, "VmRSS")
    # A client asks for the whole log, reads its first bytes and then nothing more.
    stalled = wire.connect(path)
    try:
        wire.send_request(stalled, "GET", logs, {})
        status, _, _ = wire.read_head(stalled)
        assert status.startswith("HTTP/1.1 200")
        assert wire.request(path, "GET", "/_ping", timeout=10).body == b"OK"

        reply = wire.request(path, "GET", logs + "&tail=1", timeout=30)
        assert wire.deframe(reply.body) == [(1, b"a" * 100 + b"last\n")]
        assert wire.request(path, "GET", "/_ping", timeout=10).body == b"OK"
    finally:
        stalled.close()
    grown = _status_kb(pid, "VmHWM") - before
    assert grown * 1024 < 50 * MB, f"the daemon grew by {grown} kB at its peak"
