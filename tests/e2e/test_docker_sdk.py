"""The docker SDK for Python against dockyardd: high-level objects and the raw streams under them."""

from __future__ import annotations

import re
from typing import Any

import docker
import pytest
from docker.utils.socket import STDERR, STDOUT, frames_iter

from tests.e2e.helpers import wait_until

Client = Any  # docker.DockerClient


def test_run_without_detach_returns_the_output(docker_sdk: Client) -> None:
    out = docker_sdk.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True)
    assert out == b"out\n"
    both = docker_sdk.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], stderr=True)
    assert sorted(both.splitlines()) == [b"err", b"out"]
    with pytest.raises(docker.errors.ContainerError) as failure:
        docker_sdk.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"])
    assert failure.value.exit_status == 3 and failure.value.stderr == b"bad\n"


def test_run_detached_then_list_get_logs_stop_wait_remove(docker_sdk: Client) -> None:
    container = docker_sdk.containers.run(
        "busybox",
        ["sh", "-c", "echo ready; exec sleep 300"],
        detach=True,
        name="sdk",
        labels={"k": "v"},
    )
    assert isinstance(container, docker.models.containers.Container)
    assert re.fullmatch(r"[0-9a-f]{64}", container.id) and container.name == "sdk"
    assert [c.id for c in docker_sdk.containers.list()] == [container.id]
    assert [c.name for c in docker_sdk.containers.list(filters={"label": "k=v"})] == ["sdk"]
    fetched = docker_sdk.containers.get("sdk")
    assert fetched.id == container.id and fetched.status == "running"
    assert fetched.image.tags == ["busybox:latest"] and fetched.labels == {"k": "v"}
    wait_until(lambda: fetched.logs() == b"ready\n", what="the container's first line")
    fetched.stop(timeout=1)
    assert fetched.wait(timeout=10) == {"StatusCode": 137, "Error": None}
    fetched.reload()
    assert fetched.status == "exited" and fetched.attrs["State"]["ExitCode"] == 137
    assert docker_sdk.containers.list() == []
    assert [c.id for c in docker_sdk.containers.list(all=True)] == [container.id]
    fetched.remove()
    assert docker_sdk.containers.list(all=True) == []


def test_logs_streams_and_options(docker_sdk: Client) -> None:
    container = docker_sdk.containers.run(
        "busybox",
        ["sh", "-c", "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three"],
        detach=True,
    )
    assert container.wait(timeout=10)["StatusCode"] == 0
    assert container.logs() == b"one\ntwo\nthree\n"
    assert container.logs(stderr=False) == b"one\nthree\n"
    assert container.logs(stdout=False) == b"two\n"
    assert container.logs(tail=1) == b"three\n"
    stamped = container.logs(timestamps=True).decode().splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three"]
    # Following an exited container gives what it wrote, then ends.
    assert b"".join(container.logs(stream=True, follow=True)) == b"one\ntwo\nthree\n"


def test_exec_run_output_exit_code_and_options(docker_sdk: Client) -> None:
    container = docker_sdk.containers.run("busybox", ["sleep", "300"], detach=True)
    result = container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert result.exit_code == 4 and sorted(result.output.splitlines()) == [b"err", b"out"]
    split = container.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert split == (0, (b"out\n", b"err\n"))
    configured = container.exec_run(
        ["sh", "-c", 'echo "$X $(pwd) $(id -u)"'],
        environment={"X": "1"},
        workdir="/tmp",
        user="nobody",
    )
    assert configured == (0, b"1 /tmp 65534\n")
    tty = container.exec_run(["tty"], tty=True)
    assert tty.exit_code == 0 and re.fullmatch(rb"/dev/pts/\d+\r\n", tty.output), tty


def test_wait_returns_the_status_code(docker_sdk: Client) -> None:
    container = docker_sdk.containers.run("busybox", ["sh", "-c", "sleep 0.5; exit 5"], detach=True)
    assert container.wait(timeout=10) == {"StatusCode": 5, "Error": None}
    assert container.wait(timeout=10, condition="not-running") == {"StatusCode": 5, "Error": None}


def test_images_list_and_get(docker_sdk: Client) -> None:
    images = docker_sdk.images.list()
    assert [image.tags for image in images] == [["busybox:latest"]]
    image = docker_sdk.images.get("busybox")
    assert image.id == images[0].id and re.fullmatch(r"sha256:[0-9a-f]{64}", image.id)
    assert image.attrs["Config"]["Cmd"] == ["sh"]
    assert image.tag("sdk/tagged", "v2") is True
    assert sorted(docker_sdk.images.get("busybox").tags) == ["busybox:latest", "sdk/tagged:v2"]
    assert [sorted(i.tags) for i in docker_sdk.images.list(name="sdk/tagged")] == [
        ["busybox:latest", "sdk/tagged:v2"]
    ]
    docker_sdk.images.remove("sdk/tagged:v2")
    assert docker_sdk.images.get("busybox").tags == ["busybox:latest"]
    with pytest.raises(docker.errors.ImageNotFound):
        docker_sdk.images.get("sdk/tagged:v2")


def test_attach_socket_reads_framed_output(docker_sdk: Client) -> None:
    container = docker_sdk.containers.create(
        "busybox", ["sh", "-c", "echo to-out; echo to-err >&2"], stdin_open=True
    )
    sock = container.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1})
    try:
        container.start()
        frames = list(frames_iter(sock, tty=False))
    finally:
        sock.close()
    assert _joined(frames, STDOUT) == b"to-out\n" and _joined(frames, STDERR) == b"to-err\n"
    assert container.wait(timeout=10)["StatusCode"] == 0


def test_exec_start_socket_reads_framed_output(docker_sdk: Client) -> None:
    container = docker_sdk.containers.run("busybox", ["sleep", "300"], detach=True)
    api = docker_sdk.api
    # Created with a TTY but started without one (docker-py's own test): the process
    # has a terminal, so stderr joins stdout, yet the start's Tty:false frames the stream.
    exec_id = api.exec_create(
        container.id, ["sh", "-c", "printf framed; printf oops >&2; exit 6"], tty=True
    )["Id"]
    sock = api.exec_start(exec_id, socket=True)
    try:
        frames = list(frames_iter(sock, tty=False))
    finally:
        sock.close()
    assert {stream for stream, _ in frames} == {STDOUT}
    assert _joined(frames, STDOUT) == b"framedoops"
    inspected = api.exec_inspect(exec_id)
    assert (inspected["Running"], inspected["ExitCode"]) == (False, 6)


def _joined(frames: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(data for kind, data in frames if kind == stream)
