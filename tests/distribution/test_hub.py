"""Docker Hub names pulled for real: through registry-mirrors, else at the Hub's endpoint.

No test here (nor anywhere in the suite) reaches the real Docker Hub: the run
points it at a closed loopback port (tests/conftest.py), or a test points it at a
registry of its own on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.daemonconfig import RegistrySettings
from dockyard.distribution.endpoints import HUB_URL, HUB_URL_OVERRIDE, Endpoint, endpoints
from dockyard.distribution.registry import Credentials
from tests.conftest import (
    CLOSED_HUB_URL,
    Daemon,
    Roots,
    _spawn_daemon,
    daemon_config,
    import_busybox,
)
from tests.distribution.conftest import TOKEN_SERVICE, Registry, TokenRegistry
from tests.distribution.test_registry import Progress


def _put_on(engine: Any, registry: Registry, path: str) -> str:
    """busybox pushed to ``registry`` as ``path`` (the Hub's name for it); its image ID."""
    name = f"{registry.address}/{path}"
    engine.images.tag("busybox", name, None)
    engine.transfers.push(name, "", Progress())
    engine.loop.run_until_complete(engine.images.remove(name))
    return str(engine.images.inspect("busybox")["Id"])


def test_hub_names_go_to_the_hub_with_its_token_flow(
    engine: Any, registry: Registry, token_registry: TokenRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = _put_on(engine, registry, "library/busybox")
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    monkeypatch.setenv(HUB_URL_OVERRIDE, f"http://{token_registry.address}")
    progress = Progress()
    assert engine.transfers.pull("busybox", progress, Credentials("alice", "s3cret")) == image_id
    # The official image's library/ prefix, in the token's scope and in the registry's paths.
    assert token_registry.issued == [(TOKEN_SERVICE, ["repository:library/busybox:pull"])]
    assert progress.statuses()[0] == "Pulling from library/busybox"
    assert engine.images.inspect("busybox")["RepoTags"] == ["busybox:latest"]
    assert ("GET", "/v2/library/busybox/manifests/latest", 200) in registry.requests()


def test_an_unreachable_hub_is_named_in_the_error(engine: Any) -> None:
    address = CLOSED_HUB_URL.removeprefix("http://")
    with pytest.raises(Exception) as caught:
        engine.transfers.pull("alpine", Progress())
    assert caught.value.message == (  # type: ignore[attr-defined]
        f'Get "{CLOSED_HUB_URL}/v2/": dial tcp {address}: connect: connection refused'
    )


@pytest.fixture
def mirrored(roots: Roots, busybox_tar: Path, registry: Registry) -> Iterator[Daemon]:
    """A daemon whose daemon.json makes ``registry`` Docker Hub's mirror."""
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    config = daemon_config(roots.base, {"registry-mirrors": [f"http://{registry.address}"]})
    args = ("--config-file", str(config))
    daemon = Daemon(roots, _spawn_daemon(roots, args), args)
    yield daemon
    for cid in daemon.cli("ps", "-aq").stdout.split():
        daemon.cli("rm", "-f", cid)
    daemon.stop()


def _mirror_busybox(daemon: Daemon, registry: Registry) -> None:
    """The mirror gets library/busybox; the daemon then has no busybox of its own."""
    name = f"{registry.address}/library/busybox"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    pushed = daemon.cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert daemon.cli("rmi", name, "busybox").returncode == 0


def test_pull_busybox_through_the_mirror(mirrored: Daemon, registry: Registry) -> None:
    _mirror_busybox(mirrored, registry)
    pulled = mirrored.cli("pull", "busybox")
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert (lines[0], lines[-1]) == (
        "latest: Pulling from library/busybox",
        "docker.io/library/busybox:latest",
    )
    assert ("GET", "/v2/library/busybox/manifests/latest", 200) in registry.requests()
    ran = mirrored.cli("run", "--rm", "busybox", "echo", "mirrored")
    assert (ran.returncode, ran.stdout) == (0, "mirrored\n")


def test_build_from_busybox_pulls_it_through_the_mirror(
    mirrored: Daemon, registry: Registry, tmp_path: Path
) -> None:
    _mirror_busybox(mirrored, registry)
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built\n")
    built = mirrored.cli("build", "-t", "frommirror", str(tmp_path))
    assert built.returncode == 0, built.stderr
    assert "Pulling from library/busybox" in built.stdout
    assert ("GET", "/v2/library/busybox/manifests/latest", 200) in registry.requests()
    ran = mirrored.cli("run", "--rm", "frommirror", "cat", "/built")
    assert (ran.returncode, ran.stdout) == (0, "built\n")
    assert mirrored.cli("image", "inspect", "busybox").returncode == 0


def test_a_mirror_without_the_image_falls_back_to_the_hub(
    mirrored: Daemon, registry: Registry
) -> None:
    pulled = mirrored.cli("pull", "nosuch")
    address = CLOSED_HUB_URL.removeprefix("http://")
    assert pulled.returncode == 1
    assert pulled.stderr.strip() == (
        f'Error response from daemon: Get "{CLOSED_HUB_URL}/v2/": '
        f"dial tcp {address}: connect: connection refused"
    )
    # The mirror was asked first, then the Hub.
    assert ("GET", "/v2/library/nosuch/manifests/latest", 404) in registry.requests()
    assert "Attempting next endpoint" in (mirrored.roots.base / "daemon.log").read_text()


# ---------------------------------------------------------------------- endpoints, no traffic
def test_hub_endpoints_are_its_mirrors_then_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = RegistrySettings(mirrors=("https://m1.test/", "http://m2.test:5000/"))
    for name in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert endpoints(name, settings) == [
            Endpoint("https://m1.test", mirror=True),
            Endpoint("http://m2.test:5000", mirror=True),
            Endpoint(CLOSED_HUB_URL),
        ]
    monkeypatch.delenv(HUB_URL_OVERRIDE)
    assert endpoints("docker.io", RegistrySettings()) == [Endpoint(HUB_URL)]
    assert HUB_URL == "https://registry-1.docker.io"


def test_insecure_registries_decide_http_or_https() -> None:
    settings = RegistrySettings(insecure=("r.test:5000", "10.99.0.0/16"))
    unverified_then_http = [
        Endpoint("https://r.test:5000", verify_tls=False),
        Endpoint("http://r.test:5000"),
    ]
    assert endpoints("r.test:5000", settings) == unverified_then_http
    assert endpoints("10.99.4.2:443", settings) == [
        Endpoint("https://10.99.4.2:443", verify_tls=False),
        Endpoint("http://10.99.4.2:443"),
    ]
    assert endpoints("r.test:5001", settings) == [Endpoint("https://r.test:5001")]
    assert endpoints("10.98.0.1", settings) == [Endpoint("https://10.98.0.1")]
    # Loopback is insecure without being listed, and plain HTTP.
    assert endpoints("127.0.0.1:5000", RegistrySettings()) == [Endpoint("http://127.0.0.1:5000")]
    assert endpoints("localhost:5000", RegistrySettings()) == [Endpoint("http://localhost:5000")]
