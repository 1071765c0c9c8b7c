"""What a client does with a daemon it reaches from afar, run by a CLI over a transport.

``exercise`` builds (with a .dockerignore), runs, follows logs, attaches,
execs with stdin that ends (the half-close) and with a terminal, copies both
ways, saves and loads; ``cli(*args, input=...)`` is our CLI or the docker
CLI, already pointed at the daemon over TLS or ssh.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
from collections.abc import Callable
from pathlib import Path

CLI = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def exercise(cli: CLI, argv: list[str], env: dict[str, str], tmp: Path) -> None:
    """Every stream a remote client needs; ``argv``/``env`` start the same CLI in a terminal."""
    _build(cli, tmp)
    assert ok(cli("run", "--rm", "busybox", "echo", "hello")) == "hello\n"
    ok(cli("run", "-d", "--name", "box", "busybox", "sleep", "300"))
    # stdin that ends: the daemon must learn it (half-close) and still send what follows.
    piped = cli("exec", "-i", "box", "sh", "-c", "cat; echo after-eof", input=b"data\n")
    assert ok(piped) == "data\nafter-eof\n"
    assert ok(cli("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"abc\n")) == "ABC\n"
    command = ["exec", "-it", "box", "sh", "-c", "tty; echo typed-$(head -c 3)"]
    terminal = in_terminal([*argv, *command], env, prompt=b"/dev/pts/", typed=b"xyz\n")
    assert "/dev/pts/" in terminal and "typed-xyz" in terminal, terminal
    _logs_and_attach(cli)
    _copy(cli, tmp)
    _save_and_load(cli, tmp)


def _build(cli: CLI, tmp: Path) -> None:
    context = tmp / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\nRUN ls /ctx > /listing\n")
    (context / "kept.txt").write_text("kept\n")
    (context / "secret.txt").write_text("never leaves the client\n")
    (context / ".dockerignore").write_text("secret.txt\nDockerfile\n")
    ok(cli("build", "-q", "-t", "remote-built", str(context)))
    listing = ok(cli("run", "--rm", "remote-built", "cat", "/listing")).split()
    assert "kept.txt" in listing and "secret.txt" not in listing, listing


def _logs_and_attach(cli: CLI) -> None:
    ok(
        cli(
            "run",
            "-d",
            "--name",
            "talker",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo line$i; sleep 0.1; done",
        )
    )
    assert ok(cli("logs", "-f", "talker")) == "line1\nline2\nline3\n"
    ok(cli("run", "-d", "-i", "--name", "listener", "busybox", "sh", "-c", "read x; echo got-$x"))
    assert ok(cli("attach", "listener", input=b"hello\n")) == "got-hello\n"


def _copy(cli: CLI, tmp: Path) -> None:
    source = tmp / "to-container.txt"
    source.write_text("copied in\n")
    ok(cli("cp", str(source), "box:/tmp/in.txt"))
    assert ok(cli("exec", "box", "cat", "/tmp/in.txt")) == "copied in\n"
    out = tmp / "out"
    out.mkdir()
    ok(cli("cp", "box:/tmp/in.txt", str(out)))
    assert (out / "in.txt").read_text() == "copied in\n"


def _save_and_load(cli: CLI, tmp: Path) -> None:
    archive = tmp / "image.tar"
    ok(cli("save", "-o", str(archive), "remote-built"))
    ok(cli("rmi", "remote-built"))
    assert "remote-built:latest" in ok(cli("load", "-i", str(archive)))
    assert ok(cli("image", "inspect", "-f", "{{.Id}}", "remote-built")).startswith("sha256:")


def in_terminal(
    argv: list[str], env: dict[str, str], prompt: bytes, typed: bytes, timeout: float = 60
) -> str:
    """Run ``argv`` with a terminal as stdin, stdout and stderr; type ``typed`` once ``prompt``
    shows (the terminal is raw by then: what comes before may be flushed); its output."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        argv,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, **env},
        start_new_session=True,
    )
    os.close(secondary)
    output = bytearray()
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], timeout)
            assert ready, f"no output within {timeout}s: {bytes(output)!r}"
            try:
                data = os.read(primary, 4096)
            except OSError:  # EIO: the terminal's last user is gone
                break
            if not data:
                break
            output += data
            if typed and prompt in output:
                os.write(primary, typed)
                typed = b""
        assert process.wait(timeout=timeout) == 0, bytes(output)
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()
            process.wait()
    return output.decode(errors="replace")
