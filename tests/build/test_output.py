"""``dockyard build --output``: the build's files or image as an archive, written by the client."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.build.test_e2e import dockyard
from tests.remote.conftest import TLSDaemon, pki, tls_daemon  # noqa: F401 - the fixtures

DOCKERFILE = (
    "FROM busybox AS build\n"
    "RUN mkdir /out && echo built > /out/artifact && chmod 750 /out/artifact\n"
    "FROM scratch\n"
    "COPY --from=build /out/ /\n"
    "COPY note.txt /docs/note.txt\n"
)


@pytest.fixture
def context(roots: Any) -> Path:
    ctx = roots.base / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "note.txt").write_text("a note\n")
    return ctx


def test_local_output_writes_the_final_stage_s_files(daemon: Any, context: Path) -> None:
    dest = context.parent / "out"
    result = dockyard(
        daemon, "build", "-t", "notmade", "-o", f"type=local,dest={dest}", str(context)
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "artifact",
        "docs",
        "docs/note.txt",
    ]
    assert (dest / "artifact").read_text() == "built\n"
    assert (dest / "artifact").stat().st_mode & 0o777 == 0o750
    assert (dest / "docs/note.txt").read_text() == "a note\n"
    # No image is tagged: the output was the files.
    assert daemon.cli("image", "inspect", "notmade").returncode != 0

    shorthand = context.parent / "short"
    assert dockyard(daemon, "build", "-o", str(shorthand), str(context)).returncode == 0
    assert (shorthand / "artifact").read_text() == "built\n"


def test_tar_output_to_a_file_and_to_stdout(daemon: Any, context: Path) -> None:
    dest = context.parent / "sub" / "files.tar"
    result = dockyard(daemon, "build", "--output", f"type=tar,dest={dest}", str(context))
    assert result.returncode == 0, result.stderr
    with tarfile.open(dest) as tar:
        assert sorted(tar.getnames()) == ["artifact", "docs", "docs/note.txt"]
        member = tar.extractfile("docs/note.txt")
        assert member is not None and member.read() == b"a note\n"

    piped = dockyard(daemon, "build", "-o", "-", str(context))
    assert piped.returncode == 0, piped.stderr
    assert b"Step 1/5" in piped.stderr  # progress moved aside for the archive
    with tarfile.open(fileobj=io.BytesIO(piped.stdout)) as tar:
        assert sorted(tar.getnames()) == ["artifact", "docs", "docs/note.txt"]


def test_docker_and_oci_archives_load_back(daemon: Any, context: Path) -> None:
    for kind in ("docker", "oci"):
        dest = context.parent / f"{kind}.tar"
        name = f"exported/{kind}:v1"
        out = f"type={kind},dest={dest},name={name}"
        result = dockyard(daemon, "build", "-o", out, str(context))
        assert result.returncode == 0, result.stderr
        with tarfile.open(dest) as tar:
            index = tar.extractfile("index.json")
            assert index is not None
            manifests = json.load(index)["manifests"]
        assert manifests[0]["annotations"]["io.containerd.image.name"] == f"docker.io/{name}"
        assert daemon.cli("image", "inspect", name).returncode != 0
        loaded = daemon.cli("load", "-i", str(dest))
        assert f"Loaded image: {name}" in loaded.stdout
        inspected = json.loads(daemon.cli("image", "inspect", name).stdout)[0]
        assert inspected["Config"]["Cmd"] is None
        assert len(inspected["RootFS"]["Layers"]) == 2


def test_image_output_names_are_tags(daemon: Any, context: Path) -> None:
    for value in ("type=image,name=named/a:1", "type=docker,name=named/b:1"):
        result = dockyard(daemon, "build", "-t", "plain:1", "-o", value, str(context))
        assert result.returncode == 0, result.stderr
    images = daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert {"named/a:1", "named/b:1", "plain:1"} <= set(images)


def test_output_refusals_are_buildx_s(daemon: Any, context: Path) -> None:
    cases = [
        ("type=local", "output directory is required for local exporter"),
        ("type=nope,dest=x", 'exporter "nope" could not be found'),
        ("name=x,dest=y", "type is required for output"),
        ("type=registry,name=r/x", "pushing from a build is not supported"),
    ]
    for value, message in cases:
        result = dockyard(daemon, "build", "-o", value, str(context))
        assert result.returncode != 0
        assert message in result.stderr.decode(), value
    both = dockyard(daemon, "build", "-o", "a", "-o", "b", str(context))
    assert "multiple outputs currently unsupported" in both.stderr.decode()


def test_a_failed_build_writes_no_directory(daemon: Any, context: Path) -> None:
    (context / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    dest = context.parent / "never"
    result = dockyard(daemon, "build", "-o", str(dest), str(context))
    assert result.returncode == 3
    assert not dest.exists()


def test_output_through_a_tar_context_lands_on_the_client(daemon: Any, context: Path) -> None:
    """A context sent as a tar (as to a daemon elsewhere): the export still comes back."""
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        tar.add(context, arcname=".")
    dest = context.parent / "from-stdin"
    result = dockyard(daemon, "build", "-o", str(dest), "-", stdin=body.getvalue())
    assert result.returncode == 0, result.stderr
    assert (dest / "artifact").read_text() == "built\n"


def test_a_large_export_streams_whole(daemon: Any, context: Path) -> None:
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN head -c 5000000 /dev/urandom > /blob && sha256sum /blob > /sum\n"
    )
    dest = context.parent / "big"
    result = dockyard(daemon, "build", "-o", str(dest), str(context))
    assert result.returncode == 0, result.stderr
    expected = (dest / "sum").read_text().split()[0]
    assert hashlib.sha256((dest / "blob").read_bytes()).hexdigest() == expected


def test_output_from_a_daemon_over_tcp_lands_on_the_client(
    tls_daemon: TLSDaemon,  # noqa: F811 - the fixture
    context: Path,
) -> None:
    dest = context.parent / "over-tcp"
    result = tls_daemon.cli("build", "-o", f"type=local,dest={dest}", str(context))
    assert result.returncode == 0, result.stderr
    assert (dest / "artifact").read_text() == "built\n"
    assert (dest / "docs/note.txt").read_text() == "a note\n"
