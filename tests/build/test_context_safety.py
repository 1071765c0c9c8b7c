"""A build reads and writes only inside its context: a context or ADD tar with a hard
link to a symlink to a host file, and a Dockerfile named outside the context."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def host_file(roots: Any) -> Path:
    secret = roots.base / "host-secret"
    secret.write_text(f"SECRET-{secrets.token_hex(8)} first line\n")
    os.utime(secret, (1_000_000, 1_000_000))
    return secret


def linking_tar(target: Path, *files: tuple[str, bytes]) -> bytes:
    """A tar holding ``s`` (a symlink to ``target``) and ``h``, a hard link to ``s``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("s")
        link.type, link.linkname = tarfile.SYMTYPE, str(target)
        tar.addfile(link)
        hard = tarfile.TarInfo("h")
        hard.type, hard.linkname, hard.mode, hard.mtime = tarfile.LNKTYPE, "s", 0o777, 4242
        tar.addfile(hard)
    return out.getvalue()


def state(path: Path) -> tuple[int, int, int, bytes]:
    st = path.stat()
    return st.st_mode, st.st_nlink, st.st_mtime_ns, path.read_bytes()


def test_a_context_tar_linking_to_a_host_file_leaves_it_alone(
    docker_sdk: Any, host_file: Path
) -> None:
    before = state(host_file)
    dockerfile = b"FROM busybox\nCOPY . /ctx/\nRUN test -L /ctx/h && readlink /ctx/h\n"
    context = linking_tar(host_file, ("Dockerfile", dockerfile))
    image, logs = docker_sdk.images.build(fileobj=io.BytesIO(context), custom_context=True)
    assert str(host_file) in "".join(chunk.get("stream", "") for chunk in logs)
    assert state(host_file) == before


def test_add_of_a_tar_linking_to_a_host_file_leaves_it_alone(
    docker_sdk: Any, host_file: Path, tmp_path: Path
) -> None:
    before = state(host_file)
    (tmp_path / "evil.tar").write_bytes(linking_tar(host_file))
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nADD evil.tar /x/\nRUN test -L /x/h && readlink /x/h\n"
    )
    image, logs = docker_sdk.images.build(path=str(tmp_path))
    assert str(host_file) in "".join(chunk.get("stream", "") for chunk in logs)
    assert state(host_file) == before


def test_the_dockerfile_is_read_only_inside_a_local_context(
    daemon: Any, host_file: Path, tmp_path: Path
) -> None:
    from dockyard.client import APIError, Client

    (tmp_path / "linked").symlink_to(host_file)
    client = Client(daemon.host)
    try:
        for name in (str(host_file), "linked", "../" * 20 + str(host_file).lstrip("/")):
            with pytest.raises(APIError) as refused:
                client.request("POST", "/build", {"context": str(tmp_path), "dockerfile": name})
            assert refused.value.status == 400
            assert refused.value.message == f"Cannot locate specified Dockerfile: {name}"
    finally:
        client.close()


def test_our_cli_sends_a_dockerfile_from_outside_the_context(daemon: Any, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "inside.txt").write_text("inside\n")
    outside = tmp_path / "Outside.dockerfile"
    outside.write_text("FROM busybox\nCOPY inside.txt /\nRUN cat /inside.txt\n")
    built = daemon.cli("build", "-f", str(outside), str(context))
    assert built.returncode == 0, built.stderr
    assert "inside" in built.stdout
