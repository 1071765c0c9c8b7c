"""Builds through a real daemon: our CLI, the docker CLI's classic builder, docker-py."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.api import wire
from tests.conftest import DOCKYARD

DOCKERFILE = (
    "FROM busybox\n"
    "ARG GREETING=hello\n"
    "COPY big.txt /data/big.txt\n"
    'RUN echo "$GREETING from RUN" && wc -c < /data/big.txt > /data/size\n'
    "COPY late.txt /data/late.txt\n"
    'CMD ["cat", "/data/late.txt"]\n'
)


@pytest.fixture
def context(roots: Any) -> Path:
    ctx = roots.base / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "big.txt").write_text("x" * 4096)
    (ctx / "late.txt").write_text("v1\n")
    (ctx / ".dockerignore").write_text("*.secret\n")
    (ctx / "ignored.secret").write_text("do not send\n")
    return ctx


def dockyard(daemon: Any, *args: str, stdin: bytes | None = None, **env: str) -> Any:
    return subprocess.run(
        [DOCKYARD, "-H", daemon.host, *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_dockyard_build_cache_and_explain(daemon: Any, context: Path) -> None:
    first = dockyard(daemon, "build", "-t", "e2e:1", str(context))
    out = first.stdout.decode()
    assert first.returncode == 0, first.stderr
    assert "Step 1/6 : FROM busybox" in out
    assert "hello from RUN" in out
    assert out.endswith("Successfully tagged e2e:1\n")

    cached = dockyard(daemon, "build", "-t", "e2e:1", str(context)).stdout.decode()
    assert cached.count(" ---> Using cache") == 5

    (context / "late.txt").write_text("v2\n")
    explained = dockyard(daemon, "build", "-t", "e2e:1", str(context), DOCKYARD_EXPLAIN="1")
    text = explained.stdout.decode()
    assert text.count(" ---> Using cache") == 3
    assert " ---> Cache miss: file late.txt changed" in text
    run = daemon.cli("run", "--rm", "e2e:1")
    assert run.stdout == "v2\n"


def test_dockyard_build_quiet_and_iidfile(daemon: Any, context: Path) -> None:
    iid = context.parent / "iid"
    result = dockyard(daemon, "build", "-q", "--iidfile", str(iid), str(context))
    assert result.returncode == 0, result.stderr
    image_id = iid.read_text()
    assert image_id.startswith("sha256:")
    assert result.stdout.decode() == image_id + "\n"


def test_dockyard_build_from_stdin(daemon: Any, context: Path) -> None:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        tar.add(context, arcname=".")
    from_tar = dockyard(daemon, "build", "-t", "fromtar", "-", stdin=body.getvalue())
    assert from_tar.returncode == 0, from_tar.stderr
    lone = dockyard(daemon, "build", "-", stdin=b"FROM busybox\nRUN echo lone dockerfile\n")
    assert "lone dockerfile" in lone.stdout.decode()
    piped = dockyard(
        daemon, "build", "-f", "-", str(context), stdin=b"FROM busybox\nCOPY late.txt /\n"
    )
    assert piped.returncode == 0, piped.stderr


def test_dockyard_build_failure(daemon: Any, context: Path) -> None:
    images = daemon.cli("images", "-aq").stdout
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo failing; exit 7\n")
    result = dockyard(daemon, "build", "-t", "never:1", str(context))
    assert result.returncode == 7
    assert "The command '/bin/sh -c echo failing; exit 7' returned a non-zero code: 7" in (
        result.stderr.decode()
    )
    assert daemon.cli("images", "-aq").stdout == images


def test_builder_prune(daemon: Any, context: Path) -> None:
    assert dockyard(daemon, "build", str(context)).returncode == 0
    pruned = dockyard(daemon, "builder", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    text = pruned.stdout.decode()
    assert text.startswith("Deleted build cache objects:\n")
    assert "Total reclaimed space:" in text
    again = dockyard(daemon, "build", str(context)).stdout.decode()
    assert " ---> Using cache" not in again


def test_docker_cli_classic_builder(
    docker_cli: Any, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    built = docker_cli("build", "-t", "viadocker:1", str(context))
    assert built.returncode == 0, built.stderr
    assert "Successfully tagged viadocker:1" in built.stdout
    again = docker_cli("build", "-t", "viadocker:1", str(context))
    assert again.stdout.count(" ---> Using cache") == 5
    outside = context.parent / "Outside.dockerfile"
    outside.write_text("FROM busybox\nCOPY late.txt /late\n")
    elsewhere = docker_cli("build", "-f", str(outside), str(context))
    assert elsewhere.returncode == 0, elsewhere.stderr
    bad = docker_cli("build", "-", input=b"FROM busybox\nRUN exit 4\n")
    assert bad.returncode == 4
    assert "returned a non-zero code: 4" in bad.stderr
    parse = docker_cli("build", "-", input=b"FROM busybox\nNOPE x\n")
    assert parse.returncode == 1
    assert "Error response from daemon:" in parse.stderr
    assert "on line 2: unknown instruction: NOPE" in parse.stderr


def test_docker_sdk_images_build(docker_sdk: Any, context: Path) -> None:
    import docker

    image, logs = docker_sdk.images.build(
        path=str(context), tag="sdk:1", buildargs={"GREETING": "hi"}
    )
    assert "sdk:1" in image.tags
    streamed = "".join(chunk.get("stream", "") for chunk in logs)
    assert "hi from RUN" in streamed
    with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 9"):
        docker_sdk.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 9\n"))


def test_context_directory_needs_absolute_paths(daemon: Any, context: Path) -> None:
    from dockyard.client import APIError, Client

    client = Client(daemon.host)
    try:
        with pytest.raises(APIError, match="must be an absolute path"):
            client.request("POST", "/build", {"context": "relative/dir"})
    finally:
        client.close()


NETWORK_PROBE = b"FROM busybox\nRUN ip -o -4 addr show | grep -v ' lo ' || echo no-network\n"


def test_run_steps_join_the_build_network(docker_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    bridge = docker_cli("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
    gateway = bridge.stdout.strip().rpartition(".")[0]

    def probe(*options: str) -> str:
        built = docker_cli("build", "--no-cache", *options, "-", input=NETWORK_PROBE)
        assert built.returncode == 0, built.stderr
        return built.stdout

    assert f" eth0    inet {gateway}." in probe()  # the classic builder's default: the bridge
    assert "no-network" in probe("--network", "none")
    assert docker_cli("network", "create", "--subnet", "10.231.9.0/24", "buildnet").returncode == 0
    assert " eth0    inet 10.231.9.2/24" in probe("--network", "buildnet")
    assert docker_cli("network", "rm", "buildnet").returncode == 0
    missing = docker_cli("build", "--network", "nowhere", "-", input=NETWORK_PROBE)
    assert missing.returncode == 1
    assert "Error response from daemon: network nowhere not found" in missing.stderr
    shared = docker_cli("build", "--network", "container:other", "-", input=NETWORK_PROBE)
    assert shared.returncode == 1
    assert "network mode 'container:other' is not supported for builds" in shared.stderr


def test_cache_from_takes_steps_from_the_images_named(
    docker_cli: Any, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    assert docker_cli("build", "-t", "origin:1", str(context)).returncode == 0
    origin = docker_cli("image", "inspect", "-f", "{{.Id}}", "origin:1").stdout.strip()
    assert docker_cli("builder", "prune", "-f").returncode == 0  # this engine's cache is gone
    cold = docker_cli("build", str(context))
    assert cold.returncode == 0 and " ---> Using cache" not in cold.stdout
    warm = docker_cli(
        "build", "--cache-from", "origin:1", "--cache-from", "absent:1", "-t", "again", str(context)
    )
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.count(" ---> Using cache") == 5
    assert docker_cli("image", "inspect", "-f", "{{.Id}}", "again").stdout.strip() == origin
    (context / "late.txt").write_text("v2\n")
    changed = docker_cli("build", "--cache-from", "origin:1", str(context))
    assert changed.stdout.count(" ---> Using cache") == 3  # up to the step whose input changed


def test_a_failing_step_ends_the_stream_as_moby(daemon: Any) -> None:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        dockerfile = b"FROM busybox\nRUN false\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    reply = wire.request(
        str(daemon.roots.socket),
        "POST",
        "/v1.44/build",
        body.getvalue(),
        {"Content-Type": "application/x-tar"},
    )
    assert reply.status == 200
    message = "The command '/bin/sh -c false' returned a non-zero code: 1"
    assert reply.body.splitlines()[-1] == (
        b'{"errorDetail":{"code":1,"message":"' + message.encode() + b'"},"error":"'
        + message.encode() + b'"}'
    )  # fmt: skip


def test_copy_of_a_missing_file_fails_as_docker_says(
    docker_cli: Any, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    (context / "Dockerfile").write_text("FROM busybox\nCOPY nothere /x\n")
    failed = docker_cli("build", str(context))
    assert failed.returncode == 1
    assert failed.stderr.endswith(
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat nothere: file does not exist\n"
    )
