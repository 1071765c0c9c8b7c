"""`python -m dockyard.runtime run`: runc's `run` verb, in the foreground with our stdio."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .conftest import Bundle

RUNTIME = [sys.executable, "-m", "dockyard.runtime"]


def _run(
    bundle: Bundle, spec: dict, *extra: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    bundle.write(spec)
    return subprocess.run(
        [*RUNTIME, "run", "--bundle", str(bundle.path), *extra, bundle.name],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_output_and_exit_code(bundle: Bundle) -> None:
    result = _run(bundle, bundle.spec(["sh", "-c", "echo out; echo err >&2; exit 3"]))
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_missing_command_exits_127(bundle: Bundle) -> None:
    result = _run(bundle, bundle.spec(["nosuchcmd"]))
    assert result.returncode == 127
    assert (
        result.stderr == 'dockyard-runtime: exec: "nosuchcmd": executable file not found in $PATH\n'
    )


def test_setup_failure_exits_125(bundle: Bundle) -> None:
    mount = {
        "destination": "/x",
        "type": "bind",
        "source": "/nonexistent-source",
        "options": ["rbind"],
    }
    result = _run(bundle, bundle.spec(["true"], mounts=[mount]))
    assert result.returncode == 125
    assert result.stderr.startswith("dockyard-runtime: preparing the rootfs: ")


def test_usage() -> None:
    result = subprocess.run([*RUNTIME, "start", "x"], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m dockyard.runtime run")


def test_terminal_is_relayed(bundle: Bundle) -> None:
    result = _run(bundle, bundle.spec(["sh", "-c", "test -t 0 && echo on-a-tty"], terminal=True))
    assert (result.returncode, result.stdout) == (0, "on-a-tty\n")


def _start(bundle: Bundle, spec: dict, pid_file: str) -> subprocess.Popen[str]:
    bundle.write(spec)
    return subprocess.Popen(
        [*RUNTIME, "run", "--bundle", str(bundle.path), "--pid-file", pid_file, bundle.name],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for_pid(pid_file: str) -> int:
    deadline = time.monotonic() + 10
    while not os.path.exists(pid_file):
        assert time.monotonic() < deadline, "no pid file"
        time.sleep(0.01)
    with open(pid_file) as f:
        return int(f.read())


def test_killed_container_exits_128_plus_the_signal(bundle: Bundle) -> None:
    pid_file = str(bundle.path / "init.pid")
    proc = _start(bundle, bundle.spec(["sleep", "60"]), pid_file)
    os.kill(_wait_for_pid(pid_file), signal.SIGKILL)
    assert proc.wait(timeout=10) == 137


def test_signals_are_forwarded_to_the_container(bundle: Bundle) -> None:
    script = 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done'
    proc = _start(bundle, bundle.spec(["sh", "-c", script]), str(bundle.path / "init.pid"))
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 42
    assert proc.stdout.read() == "got-term\n"
