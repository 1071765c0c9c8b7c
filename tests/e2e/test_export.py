"""`docker export` against dockyardd: the container's file system as moby archives it
(its layers and init layer, nothing mounted in it), running or stopped, with -o or to a pipe."""

from __future__ import annotations

import io
import os
import pty
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.helpers import Docker

# What moby's init layer adds to every container's root.
INIT_ENTRIES = {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/console"}


def _docker_bytes(daemon: Any, *args: str, stdout: Any = subprocess.PIPE) -> Any:
    """The docker CLI with its output kept as bytes (a tar)."""
    env = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_CONFIG": str(daemon.roots.base)}
    docker = shutil.which("docker")
    assert docker is not None, "the docker CLI 28 is needed"
    return subprocess.run(
        [docker, *args], stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=60, check=False
    )


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        return {m.name.rstrip("/"): m for m in tar}


def _file(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_export_of_a_running_then_stopped_container(daemon: Any, docker_cli: Docker) -> None:
    started = docker_cli("run", "-d", "--name", "box", "-v", "/data", "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    changed = docker_cli(
        "exec", "box", "sh", "-c", "echo made > /made; echo hidden > /data/x; rm /etc/group"
    )
    assert changed.returncode == 0, changed.stderr

    running = _docker_bytes(daemon, "export", "box")
    assert running.returncode == 0, running.stderr
    names = set(_members(running.stdout))
    assert (
        INIT_ENTRIES | {"made", "bin/sh", "etc/passwd", "proc", "sys", "dev/pts", "data"} <= names
    )
    assert "etc/group" not in names  # deleted in the container's layer
    assert "data/x" not in names  # a volume's contents are not the container's
    assert not any(n.startswith(("proc/", "sys/", "dev/pts/")) for n in names)
    assert not any(n.startswith(("./", "/")) for n in names)  # named from the root, as moby does
    assert _file(running.stdout, "made") == b"made\n"

    assert docker_cli("stop", "-t", "0", "box").returncode == 0
    stopped = _docker_bytes(daemon, "export", "box")
    assert stopped.returncode == 0, stopped.stderr
    assert set(_members(stopped.stdout)) == names
    assert _file(stopped.stdout, "made") == b"made\n"


def test_export_of_a_created_container_and_its_event(
    daemon: Any, docker_cli: Docker, tmp_path: Path
) -> None:
    since = str(int(time.time()) - 1)
    assert docker_cli("create", "--name", "fresh", "busybox").returncode == 0
    target = tmp_path / "fresh.tar"
    exported = docker_cli("export", "-o", str(target), "fresh")
    assert (exported.returncode, exported.stdout, exported.stderr) == (0, "", "")
    assert target.stat().st_mode & 0o777 == 0o600  # the docker CLI's mode for -o
    assert INIT_ENTRIES | {"bin/sh"} <= set(_members(target.read_bytes()))
    assert [p.name for p in tmp_path.iterdir()] == ["fresh.tar"]  # no temp file left
    events = docker_cli(
        "events", "--since", since, "--until", str(int(time.time()) + 1),
        "--filter", "event=export", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
    )  # fmt: skip
    assert events.stdout == "export fresh\n"
    ours = daemon.cli("export", "-o", str(tmp_path / "ours.tar"), "fresh")  # our own CLI
    assert (ours.returncode, ours.stderr) == (0, "")
    assert set(_members((tmp_path / "ours.tar").read_bytes())) == set(_members(target.read_bytes()))


def test_export_errors(daemon: Any, docker_cli: Docker, tmp_path: Path) -> None:
    assert docker_cli("create", "--name", "kept", "busybox").returncode == 0
    missing_dir = tmp_path / "no"
    bad = docker_cli("export", "-o", str(missing_dir / "x.tar"), "kept")
    assert bad.returncode == 1
    into_dir = docker_cli("export", "-o", str(tmp_path), "kept")
    assert into_dir.returncode == 1
    if docker_cli.version >= (23,):  # the -o checks are the CLI's own: CLI 28's wording
        assert bad.stderr == (
            f"failed to export container: invalid output path: stat {missing_dir}: "
            "no such file or directory\n"
        )
        assert into_dir.stderr == "failed to export container: cannot write to a directory\n"
    else:  # CLI 20.10 checks less and fails later, in its own words
        assert bad.stderr and into_dir.stderr
    unknown = docker_cli("export", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr == "Error response from daemon: No such container: nope\n"

    main, terminal = pty.openpty()
    try:
        refused = _docker_bytes(daemon, "export", "kept", stdout=terminal)
    finally:
        os.close(main)
        os.close(terminal)
    assert refused.returncode == 1
    assert refused.stderr == (
        b"cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    )


def test_export_through_the_sdk_matches_the_cli(daemon: Any, docker_sdk: Any) -> None:
    container = docker_sdk.containers.run("busybox", ["sh", "-c", "echo sdk > /sdk"], detach=True)
    assert container.wait()["StatusCode"] == 0
    data = b"".join(container.export())
    assert _file(data, "sdk") == b"sdk\n"
    cli = _docker_bytes(daemon, "export", container.id)
    assert set(_members(cli.stdout)) == set(_members(data))
