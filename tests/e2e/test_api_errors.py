"""Bad requests on the wire, as the docker SDK and a plain HTTP client send them: Docker's statuses and messages."""

from __future__ import annotations

import json
import re
from typing import Any

import docker
import pytest

from tests.api import wire
from tests.conftest import Daemon

Client = Any  # docker.DockerClient


def _post_create(daemon: Daemon, body: bytes) -> wire.Reply:
    return wire.request(
        str(daemon.roots.socket),
        "POST",
        "/v1.44/containers/create",
        body,
        {"Content-Type": "application/json"},
    )


def _container_ids(docker_sdk: Client) -> list[str]:
    return [c.id for c in docker_sdk.containers.list(all=True)]


def test_malformed_json_body_is_400(daemon: Daemon, docker_sdk: Client) -> None:
    reply = _post_create(daemon, b'{"Image": "busybox", "Cmd": ["true"]')
    assert reply.status == 400
    assert reply.headers["Content-Type"].startswith("application/json")
    message = reply.json()["message"]
    assert isinstance(message, str) and message and "\n" not in message
    assert _container_ids(docker_sdk) == []


def test_wrong_typed_field_is_400_naming_it(daemon: Daemon, docker_sdk: Client) -> None:
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": "x"}}
    reply = _post_create(daemon, json.dumps(body).encode())
    assert reply.status == 400
    assert "Memory" in reply.json()["message"]
    with pytest.raises(docker.errors.APIError) as failure:
        docker_sdk.api.create_container("busybox", ["true"], host_config={"Memory": "x"})
    assert failure.value.status_code == 400 and "Memory" in failure.value.explanation
    assert _container_ids(docker_sdk) == []


def test_exec_into_a_stopped_container_is_409(docker_sdk: Client) -> None:
    container = docker_sdk.containers.run("busybox", ["true"], detach=True)
    container.wait(timeout=10)
    with pytest.raises(docker.errors.APIError) as failure:
        container.exec_run(["echo", "hi"])
    assert failure.value.status_code == 409
    assert failure.value.explanation == f"container {container.id} is not running"


def test_unknown_container_is_404(daemon: Daemon, docker_sdk: Client) -> None:
    with pytest.raises(docker.errors.NotFound) as failure:
        docker_sdk.containers.get("no-such-box")
    assert failure.value.status_code == 404
    assert failure.value.explanation == "No such container: no-such-box"
    for method, url in [
        ("GET", "/v1.44/containers/no-such-box/json"),
        ("POST", "/v1.44/containers/no-such-box/start"),
        ("GET", "/v1.44/containers/no-such-box/logs?stdout=1"),
        ("DELETE", "/v1.44/containers/no-such-box"),
    ]:
        reply = wire.request(str(daemon.roots.socket), method, url)
        assert (reply.status, reply.json()) == (
            404,
            {"message": "No such container: no-such-box"},
        ), url


def test_unknown_image_on_create_is_404(docker_sdk: Client) -> None:
    with pytest.raises(docker.errors.ImageNotFound) as failure:
        docker_sdk.api.create_container("no-such-image:1", ["true"])
    assert failure.value.status_code == 404
    assert re.fullmatch(r"No such image: no-such-image:1", failure.value.explanation)
    assert _container_ids(docker_sdk) == []
