"""Stages that do not depend on each other are built at the same time, their lines
labelled by stage as in BuildKit's plain progress."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.build.test_e2e import dockyard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_independent_stages_run_at_the_same_time(daemon: Any, roots: Any) -> None:
    # Stage "listener" ends only once stage "talker" has reached it: built one after
    # the other, the listener would give up (timeout) and the build would fail.
    port = _free_port()
    context = roots.base / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox AS listener\n"
        # nc's stdin a FIFO it holds open itself: at a stdin EOF busybox nc shuts its side
        # down, and the talker could then leave before it sent anything.
        f"RUN mkfifo /in && timeout 60 nc -l -p {port} <>/in > /got && cat /got\n"
        "FROM busybox AS talker\n"
        f"RUN until echo hello | nc 127.0.0.1 {port}; do usleep 20000; done; echo sent > /sent\n"
        "FROM busybox\n"
        "COPY --from=listener /got /got\n"
        "COPY --from=talker /sent /sent\n"
        'CMD ["cat", "/got", "/sent"]\n'
    )
    result = dockyard(daemon, "build", "--network", "host", "-t", "both", str(context))
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    lines = out.splitlines()
    assert "[listener 1/2] FROM busybox AS listener" in lines
    assert (
        f"[listener 2/2] RUN mkfifo /in && timeout 60 nc -l -p {port} <>/in > /got && cat /got"
        in lines
    )
    assert "[listener 2/2] hello" in lines, out
    assert "[talker 1/2] FROM busybox AS talker" in lines
    assert "[stage-2 2/4] COPY --from=listener /got /got" in lines
    assert out.endswith("Successfully tagged both:latest\n")
    assert daemon.cli("run", "--rm", "both").stdout == "hello\nsent\n"


def test_a_chain_of_stages_keeps_the_classic_output(daemon: Any, roots: Any) -> None:
    context = roots.base / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox AS a\nRUN echo a > /a\nFROM a\nRUN cat /a\n")
    out = dockyard(daemon, "build", str(context)).stdout.decode()
    assert "Step 3/4 : FROM a" in out
    assert "[" not in out


def test_a_failing_stage_fails_the_build(daemon: Any, roots: Path) -> None:
    context = roots.base / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox AS bad\nRUN exit 7\n"
        "FROM busybox AS good\nRUN true\n"
        "FROM busybox\nCOPY --from=bad / /bad\nCOPY --from=good / /good\n"
    )
    result = dockyard(daemon, "build", str(context))
    assert result.returncode == 7
    assert "The command '/bin/sh -c exit 7' returned a non-zero code: 7" in result.stderr.decode()
