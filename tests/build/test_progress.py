"""``dockyard build --progress``: quiet, plain, and the live view on a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.build.test_e2e import dockyard
from tests.conftest import DOCKYARD


def _context(roots: Any) -> Path:
    context = roots.base / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY a.txt /a.txt\nRUN echo from-the-$((20+1))st-step\n"
    )
    (context / "a.txt").write_text("a\n")
    return context


def _on_a_terminal(daemon: Any, *args: str) -> tuple[int, str, str]:
    """Run our CLI with stderr on a pseudo-terminal; its status, stdout and what the
    terminal received (without its escape sequences)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    process = subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, *args], stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last holder of the terminal's other end is gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))
    return process.wait(timeout=60), out, screen


def test_the_live_view_on_a_terminal(daemon: Any, roots: Any) -> None:
    context = _context(roots)
    status, out, screen = _on_a_terminal(daemon, "build", "--progress=tty", str(context))
    assert status == 0, screen
    assert out == ""
    assert "[+] Building" in screen
    assert "FINISHED" in screen
    assert "[3/3] RUN echo from-the-$((20+1))st-step" in screen
    assert "from-the-21st-step" in screen  # the running step's output, under it
    assert "CACHED" not in screen

    status, _, again = _on_a_terminal(daemon, "build", "--progress=auto", str(context))
    assert status == 0
    assert "CACHED [2/3] COPY a.txt /a.txt" in again
    assert "CACHED [3/3] RUN" in again


def test_a_failure_keeps_the_step_s_last_lines(daemon: Any, roots: Any) -> None:
    context = _context(roots)
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo about-to-fail; exit 4\n")
    status, _, screen = _on_a_terminal(daemon, "build", "--progress=tty", str(context))
    assert status == 4
    assert "=> # about-to-fail" in screen
    assert "returned a non-zero code: 4" in screen


def test_quiet_and_plain(daemon: Any, roots: Any) -> None:
    context = _context(roots)
    quiet = dockyard(daemon, "build", "--progress=quiet", str(context))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.decode().startswith("sha256:")
    assert len(quiet.stdout.decode().splitlines()) == 1
    plain = dockyard(daemon, "build", "--progress=plain", str(context)).stdout.decode()
    assert "Step 3/3 : RUN echo" in plain
