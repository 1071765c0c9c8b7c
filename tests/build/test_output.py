"""``dockyard build --output``: the build's files or image as an archive, written by the client."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.build.test_e2e import dockyard
from tests.conftest import DOCKYARD, DockerCli
from tests.distribution.conftest import Registry, registry  # noqa: F401 - the fixture
from tests.remote.conftest import TLSDaemon, pki, tls_daemon  # noqa: F401 - the fixtures

REF_NAME = "org.opencontainers.image.ref.name"
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


IMAGE_DOCKERFILE = "FROM busybox\nRUN echo made > /made\n"
GZIP_MAGIC = b"\x1f\x8b"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _skopeo_inspect(transport: str) -> dict[str, Any]:
    """What skopeo (another reader of both formats) makes of an archive or layout."""
    done = subprocess.run(
        ["skopeo", "--insecure-policy", "inspect", transport],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    inspected: dict[str, Any] = json.loads(done.stdout)
    return inspected


def _members(archive: Path | bytes) -> dict[str, bytes]:
    """The regular files of a tar archive (a file or its bytes), by name."""
    source = {"fileobj": io.BytesIO(archive)} if isinstance(archive, bytes) else {"name": archive}
    with tarfile.open(**source) as tar:  # type: ignore[call-overload]
        files = {}
        for member in tar:
            reader = tar.extractfile(member)
            if reader is not None:
                files[member.name] = reader.read()
        return files


def _image_manifest(files: dict[str, bytes], index_entry: dict[str, Any]) -> dict[str, Any]:
    name = "blobs/sha256/" + str(index_entry["digest"]).removeprefix("sha256:")
    assert len(files[name]) == index_entry["size"]
    manifest: dict[str, Any] = json.loads(files[name])
    return manifest


def _loads_and_runs(daemon: Any, archive: Path, name: str, load: Any = None) -> None:
    """``archive`` loads (by ``load``, else our CLI) as ``name``, which then runs."""
    loaded = (load or daemon.cli)("load", "-i", str(archive))
    assert f"Loaded image: {name}" in loaded.stdout, loaded.stderr
    ran = daemon.cli("run", "--rm", name, "cat", "/made")
    assert ran.stdout == "made\n", ran.stderr


def test_docker_output_is_buildkit_s_docker_archive(
    daemon: Any, docker_cli: DockerCli, context: Path
) -> None:
    """type=docker: a docker-archive with the OCI layout beside it, gzip layers, Docker's media
    types, no legacy ``repositories`` file; docker load and skopeo read it."""
    (context / "Dockerfile").write_text(IMAGE_DOCKERFILE)
    dest = context.parent / "docker.tar"
    out = f"type=docker,dest={dest},name=exported/docker:v1"
    result = dockyard(daemon, "build", "-o", out, str(context))
    assert result.returncode == 0, result.stderr

    files = _members(dest)
    blobs = {n for n in files if n.startswith("blobs/sha256/")}
    assert set(files) - blobs == {"oci-layout", "index.json", "manifest.json"}
    [entry] = json.loads(files["manifest.json"])
    assert entry["RepoTags"] == ["exported/docker:v1"]
    [indexed] = json.loads(files["index.json"])["manifests"]
    assert indexed["annotations"]["io.containerd.image.name"] == "docker.io/exported/docker:v1"
    assert indexed["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    assert "org.opencontainers.image.created" in indexed["annotations"]
    manifest = _image_manifest(files, indexed)
    assert indexed["mediaType"] == manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert entry["Config"] == "blobs/sha256/" + manifest["config"]["digest"][7:]
    assert entry["Layers"] == ["blobs/sha256/" + d["digest"][7:] for d in manifest["layers"]]
    assert len(entry["Layers"]) == 2
    for layer in manifest["layers"]:
        assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        assert files["blobs/sha256/" + layer["digest"][7:]].startswith(GZIP_MAGIC)

    assert len(_skopeo_inspect(f"docker-archive:{dest}")["Layers"]) == 2
    assert daemon.cli("image", "inspect", "exported/docker:v1").returncode != 0  # not tagged
    _loads_and_runs(daemon, dest, "exported/docker:v1", docker_cli)

    oci_types = context.parent / "docker-oci-types.tar"
    out = f"type=docker,dest={oci_types},oci-mediatypes=true"
    assert dockyard(daemon, "build", "-o", out, str(context)).returncode == 0
    files = _members(oci_types)
    [indexed] = json.loads(files["index.json"])["manifests"]
    assert _image_manifest(files, indexed)["mediaType"] == OCI_MANIFEST
    assert json.loads(files["manifest.json"])[0]["RepoTags"] is None


def test_oci_output_is_an_oci_layout(daemon: Any, context: Path) -> None:
    """type=oci: an OCI layout alone, gzip layers in OCI's media types, named in its index as
    BuildKit names it; to a file or to stdout, read back by dockyard load and skopeo."""
    (context / "Dockerfile").write_text(IMAGE_DOCKERFILE)
    dest = context.parent / "oci.tar"
    out = f"type=oci,dest={dest},name=exported/oci:v1"
    result = dockyard(daemon, "build", "-o", out, str(context))
    assert result.returncode == 0, result.stderr

    files = _members(dest)
    blobs = {n for n in files if n.startswith("blobs/sha256/")}
    assert set(files) - blobs == {"oci-layout", "index.json"}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    [indexed] = json.loads(files["index.json"])["manifests"]
    assert indexed["annotations"]["io.containerd.image.name"] == "docker.io/exported/oci:v1"
    assert indexed["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    manifest = _image_manifest(files, indexed)
    assert indexed["mediaType"] == manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert len(manifest["layers"]) == 2
    for layer in manifest["layers"]:
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        assert files["blobs/sha256/" + layer["digest"][7:]].startswith(GZIP_MAGIC)

    assert len(_skopeo_inspect(f"oci-archive:{dest}")["Layers"]) == 2
    _loads_and_runs(daemon, dest, "exported/oci:v1")

    # No dest (or dest=-): the archive on stdout, the progress on stderr.
    for value in ("type=oci", "type=oci,dest=-"):
        piped = dockyard(daemon, "build", "-t", "piped/oci", "-o", value, str(context))
        assert piped.returncode == 0, piped.stderr
        assert b"Step 1/2" in piped.stderr
        files = _members(piped.stdout)
        assert "manifest.json" not in files
        [indexed] = json.loads(files["index.json"])["manifests"]
        assert indexed["annotations"]["io.containerd.image.name"] == "docker.io/piped/oci:latest"


def test_oci_layout_directory_gathers_images(daemon: Any, context: Path) -> None:
    """tar=false: the image is added to an OCI layout directory, as BuildKit's client adds it:
    an entry per name, replaced by a later build of the same name; unnamed is ``latest``."""
    (context / "Dockerfile").write_text(IMAGE_DOCKERFILE)
    layout = context.parent / "layout"
    for value in (
        f"type=oci,tar=false,dest={layout},name=first:1",
        f"type=oci,tar=false,dest={layout}",
        f"type=docker,tar=false,dest={layout},name=first:1",
    ):
        result = dockyard(daemon, "build", "--no-cache", "-o", value, str(context))
        assert result.returncode == 0, result.stderr
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    names = [
        (m["annotations"].get("io.containerd.image.name"), m["annotations"][REF_NAME])
        for m in index["manifests"]
    ]
    assert names == [(None, "latest"), ("docker.io/library/first:1", "1")]
    for entry in index["manifests"]:
        digest = entry["digest"].removeprefix("sha256:")
        manifest = json.loads((layout / "blobs/sha256" / digest).read_bytes())
        for blob in [manifest["config"], *manifest["layers"]]:
            assert (layout / "blobs/sha256" / blob["digest"].removeprefix("sha256:")).is_file()
    # The last build of first:1 was the docker exporter's: Docker's media types (which
    # skopeo 1.9 does not look up in a layout: it reads the OCI entry).
    assert index["manifests"][1]["mediaType"] == DOCKER_MANIFEST
    assert len(_skopeo_inspect(f"oci:{layout}:latest")["Layers"]) == 2
    packed = context.parent / "layout.tar"
    with tarfile.open(packed, "w") as tar:
        tar.add(layout, arcname=".")
    _loads_and_runs(daemon, packed, "first:1")


def test_image_output_names_are_tags(daemon: Any, context: Path) -> None:
    for value in ("type=image,name=named/a:1", "type=docker,name=named/b:1"):
        result = dockyard(daemon, "build", "-t", "plain:1", "-o", value, str(context))
        assert result.returncode == 0, result.stderr
    images = daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert {"named/a:1", "named/b:1", "plain:1"} <= set(images)


def test_image_output_pushes_by_its_names(
    daemon: Any,
    context: Path,
    registry: Registry,  # noqa: F811 - the fixture
) -> None:
    """push=true (and type=registry, BuildKit's alias): the built image is tagged and pushed
    by each of its names, the push's progress in the build's."""
    (context / "Dockerfile").write_text(IMAGE_DOCKERFILE)
    first, second = f"{registry.address}/built/app:1", f"{registry.address}/built/app:2"
    result = dockyard(daemon, "build", "-t", first, "-o", "type=image,push=true", str(context))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert f"The push refers to repository [{registry.address}/built/app]" in out
    assert "1: digest: sha256:" in out
    assert ("PUT", "/v2/built/app/manifests/1", 201) in registry.requests()
    pushed = dockyard(daemon, "build", "-o", f"type=registry,name={second}", str(context))
    assert pushed.returncode == 0, pushed.stderr
    assert ("PUT", "/v2/built/app/manifests/2", 201) in registry.requests()

    for name in (first, second):
        assert daemon.cli("rmi", name).returncode == 0
        assert daemon.cli("pull", name).returncode == 0
        ran = daemon.cli("run", "--rm", name, "cat", "/made")
        assert ran.stdout == "made\n", ran.stderr

    unreachable = f"127.0.0.1:{_closed_port()}/built/app:3"
    failed = dockyard(daemon, "build", "-o", f"type=registry,name={unreachable}", str(context))
    assert failed.returncode != 0
    assert f"failed to push {unreachable}: " in failed.stderr.decode()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_output_refusals_are_buildx_s(daemon: Any, context: Path) -> None:
    cases = [
        ("type=local", "output directory is required for local exporter"),
        ("type=nope,dest=x", 'exporter "nope" could not be found'),
        ("name=x,dest=y", "type is required for output"),
        (
            "type=image,push=maybe",
            'non-bool value specified for push: strconv.ParseBool: parsing "maybe"',
        ),
        ("type=oci,tar=false", "dest is required for oci exporter"),
        ("type=docker,tar=false,dest=-", "dest cannot be stdout for docker exporter"),
        (f"type=oci,tar=false,dest={context / 'note.txt'}", "note.txt is a file"),
        (f"type=oci,dest={context}", f"destination file {context} is a directory"),
        (
            f"type=oci,oci-mediatypes=maybe,dest={context.parent / 'never.tar'}",
            'non-bool value specified for oci-mediatypes: strconv.ParseBool: parsing "maybe"',
        ),
    ]
    for value, message in cases:
        result = dockyard(daemon, "build", "-o", value, str(context))
        assert result.returncode != 0
        assert message in result.stderr.decode(), value
    assert not (context.parent / "never.tar").exists()
    for value in ("type=oci", "type=docker,dest=-"):  # stdout, but a terminal
        kind = value.split(",")[0].removeprefix("type=")
        message = f"dest file is required for {kind} exporter. refusing to write to console"
        assert message in _on_a_terminal(daemon, "build", "-o", value, str(context)), value
    both = dockyard(daemon, "build", "-o", "a", "-o", "b", str(context))
    assert "multiple outputs currently unsupported" in both.stderr.decode()


def _on_a_terminal(daemon: Any, *args: str) -> str:
    """Our CLI's stderr when its stdout is a terminal (it must fail: nothing reads the terminal)."""
    terminal, ours = os.openpty()
    try:
        done = subprocess.run(
            [DOCKYARD, "-H", daemon.host, *args],
            stdout=ours,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(ours)
        os.close(terminal)
    assert done.returncode != 0
    return done.stderr.decode()


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
