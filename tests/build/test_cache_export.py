"""``--cache-to``/``--cache-from`` of type local and registry: a daemon with an empty
store (a CI machine) reuses the steps another daemon built."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.build.test_e2e import dockyard
from tests.conftest import Daemon, Roots, _spawn_daemon
from tests.distribution.conftest import (  # noqa: F401 - the fixtures
    Registry,
    auth_registry,
    registry,
)

DOCKERFILE = (
    "FROM busybox AS base\n"
    "RUN echo base-$((1+1)) | tee /base\n"
    "FROM busybox\n"
    "COPY app.txt /app.txt\n"
    "RUN echo step-$((40+2)) && cat /app.txt > /copy\n"
    "COPY --from=base /base /base\n"
)


@pytest.fixture
def context(roots: Roots) -> Path:
    ctx = roots.base / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "app.txt").write_text("v1\n")
    return ctx


@pytest.fixture
def ci_daemon(roots: Roots, daemon: Daemon) -> Iterator[Daemon]:
    """A second daemon with a store of its own, holding only busybox (loaded from the
    first, so that the base image is the same one)."""
    base = roots.base / "ci"
    base.mkdir()
    ci = Roots(base, base / "data", base / "r", base / "r" / "d.sock")  # short: socket paths
    other = Daemon(ci, _spawn_daemon(ci))
    archive = roots.base / "busybox.tar"
    assert daemon.cli("save", "-o", str(archive), "busybox").returncode == 0
    assert other.cli("load", "-i", str(archive)).returncode == 0
    assert _image_id(other, "busybox") == _image_id(daemon, "busybox")
    yield other
    other.stop()


def _image_id(d: Daemon, name: str) -> str:
    return str(json.loads(d.cli("image", "inspect", name).stdout)[0]["Id"])


def _build(d: Daemon, context: Path, *args: str) -> str:
    result = dockyard(d, "build", *args, str(context))
    assert result.returncode == 0, result.stderr
    return str(result.stdout.decode())


def test_a_local_cache_takes_a_build_to_an_empty_store(
    daemon: Daemon, ci_daemon: Daemon, context: Path
) -> None:
    cache = context.parent / "cache"
    first = _build(daemon, context, "-t", "app:1", "--cache-to", f"type=local,dest={cache}")
    assert "step-42" in first
    assert json.loads((cache / "index.json").read_text())["manifests"]
    assert (cache / "oci-layout").is_file()

    second = _build(ci_daemon, context, "-t", "app:1", "--cache-from", f"type=local,src={cache}")
    assert "step-42" not in second
    assert "base-2" in second  # mode=min: the base stage's steps were not exported
    # COPY app.txt and the RUN; COPY --from=base follows a base stage built anew.
    assert second.count(" ---> Using cache") == 2
    run = ci_daemon.cli("run", "--rm", "app:1", "cat", "/copy", "/base")
    assert run.stdout == "v1\nbase-2\n", run.stderr


def test_mode_max_exports_every_stage_and_explain_still_says_why(
    daemon: Daemon, ci_daemon: Daemon, context: Path
) -> None:
    cache = context.parent / "cache"
    _build(daemon, context, "--cache-to", f"type=local,dest={cache},mode=max")
    (context / "app.txt").write_text("v2\n")
    again = _build(ci_daemon, context, "--explain", "--cache-from", f"type=local,src={cache}")
    assert "base-2" not in again  # the base stage came from the cache
    assert "step-42" in again
    assert " ---> Cache miss: file app.txt changed" in again


def test_a_registry_cache_round_trip(
    daemon: Daemon,
    ci_daemon: Daemon,
    context: Path,
    registry: Registry,  # noqa: F811 - the fixture
) -> None:
    ref = f"{registry.address}/cache/app:buildcache"
    _build(daemon, context, "-t", "app:1", "--cache-to", f"type=registry,ref={ref},mode=max")
    assert ("PUT", "/v2/cache/app/manifests/buildcache", 201) in registry.requests()
    second = _build(ci_daemon, context, "-t", "app:1", "--cache-from", f"type=registry,ref={ref}")
    assert "step-42" not in second
    assert "base-2" not in second
    assert _image_id(ci_daemon, "app:1") == _image_id(daemon, "app:1")


def test_a_cache_not_there_yet_builds_everything(daemon: Daemon, context: Path) -> None:
    out = _build(daemon, context, "--cache-from", f"type=local,src={context.parent / 'none'}")
    assert "step-42" in out


def test_cache_option_refusals(daemon: Daemon, context: Path) -> None:
    cases: list[tuple[str, str, Any]] = [
        ("--cache-to", "type=inline,mode=max", "the inline cache takes no options"),
        ("--cache-to", "type=gha", "unsupported cache type 'gha'"),
        ("--cache-to", "type=local", "dest is required for a local cache"),
        ("--cache-from", "type=local,dest=/x", "src is required for a local cache"),
        ("--cache-to", "type=local,dest=/x,mode=all", "invalid cache mode 'all'"),
    ]
    for flag, value, message in cases:
        result = dockyard(daemon, "build", flag, value, str(context))
        assert result.returncode != 0, value
        assert message in result.stderr.decode(), value


def test_an_inline_cache_travels_in_the_image(
    daemon: Daemon,
    ci_daemon: Daemon,
    context: Path,
    registry: Registry,  # noqa: F811 - the fixture
) -> None:
    name = f"{registry.address}/team/app:1"
    _build(daemon, context, "-t", name, "--cache-to", "type=inline")
    assert daemon.cli("push", name).returncode == 0
    assert ci_daemon.cli("pull", name).returncode == 0

    second = _build(ci_daemon, context, "-t", "app:2", "--cache-from", name)
    assert "step-42" not in second
    assert second.count(" ---> Using cache") == 2
    run = ci_daemon.cli("run", "--rm", "app:2", "cat", "/copy")
    assert run.stdout == "v1\n", run.stderr
    # What only the inline cache's records know: why a step missed.
    (context / "app.txt").write_text("v2\n")
    third = _build(ci_daemon, context, "--explain", "--cache-from", name)
    assert " ---> Cache miss: file app.txt changed" in third


def test_a_registry_cache_with_the_stored_login(
    daemon: Daemon,
    context: Path,
    auth_registry: Registry,  # noqa: F811 - the fixture
) -> None:
    config = {"DOCKER_CONFIG": str(context.parent / "docker-config")}
    cache = f"type=registry,ref={auth_registry.address}/cache/app:c"
    refused = dockyard(daemon, "build", "--cache-to", cache, str(context), **config)
    assert refused.returncode != 0
    login = dockyard(
        daemon,
        "login",
        "-u",
        "alice",
        "--password-stdin",
        auth_registry.address,
        stdin=b"s3cret\n",
        **config,
    )
    assert login.returncode == 0, login.stderr
    pushed = dockyard(daemon, "build", "--cache-to", cache, str(context), **config)
    assert pushed.returncode == 0, pushed.stderr
    assert ("PUT", "/v2/cache/app/manifests/c", 201) in auth_registry.requests()
    (context / "Dockerfile").write_text(DOCKERFILE)  # the same build, the cache read back
    read = dockyard(daemon, "build", "--no-cache", "--cache-from", cache, str(context), **config)
    assert read.returncode == 0, read.stderr
