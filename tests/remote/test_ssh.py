"""``ssh://`` hosts: the client runs ``dockyard system dial-stdio`` on the far side through ssh."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import DOCKYARD, Daemon
from tests.remote.conftest import SSHD, free_port, run
from tests.remote.workload import exercise, ok


def test_our_cli_over_ssh(daemon: Daemon, sshd: SSHD, tmp_path: Path) -> None:
    argv = [DOCKYARD, "-H", sshd.host]

    def cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run([*argv, *args], input, sshd.env)

    exercise(cli, argv, sshd.env, tmp_path)


def test_docker_cli_over_ssh_with_the_shim(daemon: Daemon, sshd: SSHD, tmp_path: Path) -> None:
    """The docker CLI runs ``docker system dial-stdio`` over ssh: the far side's ``docker``
    is the one-line shim that hands it to dockyard."""
    docker_cli = shutil.which("docker")
    assert docker_cli, "the docker CLI is part of this machine's set-up"
    argv = [docker_cli, "-H", sshd.host]
    env = {**sshd.env, "DOCKER_CONFIG": str(tmp_path / "docker-config")}

    def cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run([*argv, *args], input, env)

    exercise(cli, argv, env, tmp_path)


def test_dockyard_host_names_an_ssh_daemon(daemon: Daemon, sshd: SSHD) -> None:
    ok(daemon.cli("run", "-d", "--name", "seen-from-afar", "busybox", "sleep", "300"))
    listed = run(
        [DOCKYARD, "ps", "--format", "{{.Names}}"], env={**sshd.env, "DOCKYARD_HOST": sshd.host}
    )
    assert ok(listed).split() == ["seen-from-afar"]


def test_dial_stdio_speaks_to_the_local_daemon(daemon: Daemon) -> None:
    """What runs on the far side: stdin to the daemon's socket, its answer to stdout,
    the end of stdin passed on (an HTTP/1.0 request is answered, then the daemon closes)."""
    result = subprocess.run(
        [DOCKYARD, "-H", daemon.host, "system", "dial-stdio"],
        input=b"GET /_ping HTTP/1.0\r\n\r\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.0 200 OK\r\n")
    assert result.stdout.endswith(b"\r\n\r\nOK")


def test_an_unreachable_ssh_host_says_why(sshd: SSHD) -> None:
    host = f"ssh://root@127.0.0.1:{free_port()}"
    failed = run([DOCKYARD, "-H", host, "ps"], env=sshd.env)
    assert failed.returncode == 1
    assert failed.stderr.startswith(
        "error during connect: command [ssh -o ConnectTimeout=30 -T -l root -p "
    )
    assert "has exited with exit status 255" in failed.stderr
    assert "Connection refused" in failed.stderr


def test_ssh_urls_are_checked_as_docker_checks_them() -> None:
    from dockyard.client.ssh import ssh_command
    from dockyard.errors import InvalidArgument

    assert ssh_command("ssh://me@box:2222") == [
        "ssh", "-o", "ConnectTimeout=30", "-T", "-l", "me", "-p", "2222", "--", "box",
        "dockyard system dial-stdio",
    ]  # fmt: skip
    assert ssh_command("ssh://box/run/other.sock")[-1] == (
        "dockyard --host=unix:///run/other.sock system dial-stdio"
    )
    for bad, reason in (
        ("ssh://me:secret@box", "plain-text password is not supported"),
        ("ssh://box?x=1", "query parameters are not allowed"),
        ("ssh://", "hostname is empty"),
    ):
        try:
            ssh_command(bad)
        except InvalidArgument as exc:
            assert reason in exc.message
        else:
            raise AssertionError(f"{bad} was taken")
