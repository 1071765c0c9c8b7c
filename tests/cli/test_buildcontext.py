"""The build context our CLI sends to a daemon elsewhere: .dockerignore applied on this side."""

from __future__ import annotations

import tarfile
from pathlib import Path

from dockyard.cli.buildcontext import context_tar
from dockyard.client import Client


def _names(
    directory: Path, dockerfile: str = "Dockerfile", outside: bytes | None = None
) -> tuple[dict[str, bytes], dict]:
    query: dict = {}
    with (
        context_tar(str(directory), dockerfile, outside, query) as body,
        tarfile.open(fileobj=body) as tar,
    ):
        files = {
            member.name.removeprefix("./"): tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar
            if member.isfile()
        }
    return files, query


def test_ignored_files_never_leave_the_client(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "app.py").write_text("print()\n")
    (tmp_path / "secret.env").write_text("TOKEN=1\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "big.log").write_text("x" * 1000)
    (tmp_path / "logs" / "keep.log").write_text("kept\n")
    # Dockerfile and .dockerignore themselves are sent whatever the patterns say.
    (tmp_path / ".dockerignore").write_text(
        "*.env\nlogs\n!logs/keep.log\nDockerfile\n.dockerignore\n"
    )
    files, query = _names(tmp_path)
    assert sorted(files) == [".dockerignore", "Dockerfile", "app.py", "logs/keep.log"]
    assert query["dockerfile"] == "Dockerfile"


def test_a_dockerfile_from_outside_goes_in_under_its_own_name(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print()\n")
    (tmp_path / ".dockerignore").write_text("*.pyc")
    files, query = _names(tmp_path, outside=b"FROM busybox\nCOPY . /app\n")
    name = query["dockerfile"]
    assert name.startswith(".dockerfile.") and files[name] == b"FROM busybox\nCOPY . /app\n"
    # Listed in the .dockerignore sent, so that COPY . leaves it out.
    assert files[".dockerignore"].decode().split() == ["*.pyc", name]
    assert sorted(files) == sorted([".dockerignore", "app.py", name])


def test_only_a_unix_socket_is_local() -> None:
    assert Client("unix:///run/x.sock").local
    for host in ("tcp://127.0.0.1:2375", "ssh://me@box", "127.0.0.1:2376"):
        assert not Client(host).local, host
