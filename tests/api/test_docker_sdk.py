"""The docker SDK for Python (docker-py 7) drives dockyardd."""

from __future__ import annotations

import socket
from typing import Any

import docker
import pytest
import requests

from tests.conftest import CLOSED_HUB_URL


def test_run_without_detach_returns_the_output(docker_sdk: Any) -> None:
    assert docker_sdk.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        docker_sdk.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 2"])
    assert failed.value.exit_status == 2
    assert failed.value.stderr == b"bad\n"


def test_detached_container_through_its_life(docker_sdk: Any) -> None:
    container = docker_sdk.containers.run(
        "busybox", ["sh", "-c", "echo up; sleep 60"], detach=True, name="sdk"
    )
    assert [c.name for c in docker_sdk.containers.list()] == ["sdk"]
    found = docker_sdk.containers.get("sdk")
    assert (found.id, found.status) == (container.id, "running")
    assert container.exec_run("echo from exec") == (0, b"from exec\n")
    code, (out, err) = container.exec_run(["sh", "-c", "echo o; echo e >&2; exit 4"], demux=True)
    assert (code, out, err) == (4, b"o\n", b"e\n")
    assert container.logs() == b"up\n"
    container.stop(timeout=1)
    assert container.wait() == {"StatusCode": 137, "Error": None}
    container.remove()
    assert docker_sdk.containers.list(all=True) == []


def test_images_list(docker_sdk: Any) -> None:
    assert [image.tags for image in docker_sdk.images.list()] == [["busybox:latest"]]


def test_unknown_image_is_pulled_from_the_hub(docker_sdk: Any) -> None:
    """Not here: docker-py pulls it, and the pull's error (the run's stand-in for an
    unreachable Docker Hub) is what it raises."""
    with pytest.raises(docker.errors.APIError) as caught:
        docker_sdk.containers.run("nosuchimage", "true")
    assert caught.value.explanation.startswith(f'Get "{CLOSED_HUB_URL}/v2/": dial tcp')


def test_attach_socket_reads_frames_after_a_half_close(docker_sdk: Any) -> None:
    api = docker_sdk.api
    container = api.create_container("busybox", "cat", stdin_open=True)
    sock = api.attach_socket(container, params={"stdin": 1, "stdout": 1, "stream": 1})
    api.start(container)
    raw = sock._sock  # docker-py reads the raw socket behind http.client's buffer
    raw.sendall(b"through attach\n")
    raw.shutdown(socket.SHUT_WR)
    output = b""
    while chunk := raw.recv(4096):
        output += chunk
    assert output == b"\x01\x00\x00\x00\x00\x00\x00\x0fthrough attach\n"
    assert api.wait(container)["StatusCode"] == 0


def test_exec_start_socket_uses_the_start_tty(docker_sdk: Any) -> None:
    api = docker_sdk.api
    container = api.create_container("busybox", "sleep 60")
    api.start(container)
    exec_id = api.exec_create(container, "echo framed", tty=True)["Id"]
    sock = api.exec_start(exec_id, socket=True, tty=False)
    frames = list(docker.utils.socket.frames_iter(sock, tty=False))
    assert frames == [(1, b"framed\r\n")]  # a terminal's CRLF, in frames


def test_wait_sends_headers_first_so_a_timeout_is_a_connection_error(docker_sdk: Any) -> None:
    # docker-py's test_wait_with_condition: only flushed headers make this a ConnectionError.
    api = docker_sdk.api
    # It runs a moment, so the second wait is asked for before the container is gone.
    container = api.create_container(
        "busybox", ["sleep", "1"], host_config=api.create_host_config(auto_remove=True)
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        api.wait(container, condition="removed", timeout=1)
    api.start(container)
    assert api.wait(container, condition="removed")["StatusCode"] == 0
