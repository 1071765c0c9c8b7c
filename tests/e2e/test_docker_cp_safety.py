"""`docker cp` against dockyardd with hostile containers and archives: the docker CLI,
the docker SDK and our own CLI; the host's files never change."""

from __future__ import annotations

import io
import os
import secrets
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import Docker, wait_until

Snapshot = dict[str, tuple[int, int, int, int, bytes]]


@pytest.fixture
def host(roots: Any) -> Path:
    directory = roots.base / "host"
    directory.mkdir()
    secret = directory / "secret.txt"
    secret.write_text(f"host secret {secrets.token_hex(8)}\n")
    secret.chmod(0o640)
    return directory


def snapshot(directory: Path) -> Snapshot:
    found: Snapshot = {}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        found[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, content)
    return found


def hostile_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("../../../../escape")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    return out.getvalue()


def ready(docker_cli: Docker, name: str, script: str) -> None:
    """Run ``script`` in a detached container ``name``, then wait until it is done."""
    started = docker_cli(
        "run", "-d", "--name", name, "busybox", "sh", "-c", f"{script}\ntouch /ready\nsleep 300"
    )
    assert started.returncode == 0, started.stderr
    wait_until(
        lambda: docker_cli("exec", name, "test", "-e", "/ready").returncode == 0,
        what=f"{name} to be ready",
    )


def test_a_hostile_tar_is_a_400_with_its_reason(
    docker_cli: Docker, docker_sdk: Any, daemon: Any
) -> None:
    import docker

    ready(docker_cli, "target", "mkdir /in")
    with pytest.raises(docker.errors.APIError) as refused:
        docker_sdk.containers.get("target").put_archive("/in", hostile_tar())
    assert refused.value.status_code == 400
    assert "is outside the archive" in str(refused.value.explanation)
    piped = docker_cli("cp", "-", "target:/in", input=hostile_tar())
    assert piped.returncode == 1
    assert piped.stderr.startswith("Error response from daemon: invalid tar archive: ")
    ours = daemon.cli("cp", "-", "target:/in", input=hostile_tar())
    assert ours.returncode == 1 and "is outside the archive" in ours.stderr
    assert "Traceback" not in (daemon.roots.base / "daemon.log").read_text()


def test_docker_cp_over_a_planted_symlink_leaves_the_host_alone(
    docker_cli: Docker, host: Path, tmp_path: Path
) -> None:
    before = snapshot(host)
    ready(docker_cli, "planter", f"mkdir /in && ln -s {host} /in/planted")
    source = tmp_path / "src"
    (source / "planted").mkdir(parents=True)
    (source / "planted" / "owned").write_text("owned\n")
    copied = docker_cli("cp", f"{source}/.", "planter:/in/")
    assert copied.returncode == 1
    assert "cannot overwrite non-directory '/in/planted' with directory" in copied.stderr
    # The link resolves in the container's root, where that directory does not exist.
    into_link = docker_cli("cp", str(source / "planted" / "owned"), "planter:/in/planted/")
    assert into_link.returncode == 1 and "no such directory" in into_link.stderr
    assert snapshot(host) == before


def test_docker_cp_of_a_symlink_gives_the_link(
    docker_cli: Docker, daemon: Any, tmp_path: Path
) -> None:
    ready(docker_cli, "links", "echo target > /target && ln -s /target /link")
    raw = subprocess.run(
        ["docker", "-H", daemon.host, "cp", "links:/link", "-"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        [member] = tar.getmembers()
    assert member.name == "link" and member.issym() and member.linkname == "/target"
    followed = docker_cli("cp", "-L", "links:/link", str(tmp_path / "by-docker"))
    assert followed.returncode == 0, followed.stderr
    assert (tmp_path / "by-docker").read_text() == "target\n"
    assert daemon.cli("cp", "links:/link", str(tmp_path / "ours")).returncode == 0
    assert os.readlink(tmp_path / "ours") == "/target"
    assert daemon.cli("cp", "-L", "links:/link", str(tmp_path / "ours-L")).returncode == 0
    assert (tmp_path / "ours-L").read_text() == "target\n"


def test_our_cli_extracts_only_inside_the_destination(
    docker_cli: Docker, daemon: Any, host: Path, tmp_path: Path
) -> None:
    """A container's hard link to its symlink to a host file must not become a hard
    link to that file here, nor change its mode; renamed, the link still links."""
    before = snapshot(host)
    ready(docker_cli, "linker", f"mkdir /d && ln -s {host}/secret.txt /d/a && ln /d/a /d/b")
    into_existing = daemon.cli("cp", "linker:/d", str(tmp_path))
    assert into_existing.returncode == 0, into_existing.stderr
    assert snapshot(host) == before
    renamed = daemon.cli("cp", "linker:/d", str(tmp_path / "out"))
    assert renamed.returncode == 0, renamed.stderr
    assert snapshot(host) == before
    for copy in (tmp_path / "d", tmp_path / "out"):
        assert os.readlink(copy / "b") == f"{host}/secret.txt"
        assert (copy / "b").lstat().st_ino == (copy / "a").lstat().st_ino
