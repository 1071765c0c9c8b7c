"""Responses that stream: wait flushes its headers at once; logs are framed; events flow."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.api import wire
from tests.api.conftest import Api


def test_wait_sends_its_headers_before_the_container_starts(api: Api) -> None:
    container = api.create("sh", "-c", "exit 3")

    def client() -> tuple[str, dict, dict]:
        with wire.connect(api.socket, timeout=10) as sock:
            url = f"/v1.44/containers/{container}/wait?condition=next-exit"
            wire.send_request(sock, "POST", url, {})
            status, headers, rest = wire.read_head(sock)  # would time out if held back
            wire.request(api.socket, "POST", f"/v1.44/containers/{container}/start")
            return status, headers, json.loads(wire.ChunkedReader(sock, rest).read_all())

    status, headers, result = api.run(client)
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/json"
    assert result == {"StatusCode": 3, "Error": None}


def test_wait_for_removal(api: Api) -> None:
    container = api.create("true", HostConfig={"AutoRemove": True})

    def client() -> dict:
        with wire.connect(api.socket, timeout=10) as sock:
            url = f"/v1.44/containers/{container}/wait?condition=removed"
            wire.send_request(sock, "POST", url, {})
            _, _, rest = wire.read_head(sock)
            wire.request(api.socket, "POST", f"/v1.44/containers/{container}/start")
            return json.loads(wire.ChunkedReader(sock, rest).read_all())

    assert api.run(client)["StatusCode"] == 0
    assert api.call("GET", f"/v1.44/containers/{container}/json").status == 404


def test_logs_are_framed_by_stream_without_a_tty(api: Api) -> None:
    container = api.create("sh", "-c", "echo out; echo err >&2")
    api.start(container)
    api.call("POST", f"/v1.44/containers/{container}/wait")
    reply = api.call("GET", f"/v1.44/containers/{container}/logs?stdout=1&stderr=1")
    assert reply.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert sorted(wire.deframe(reply.body)) == [(1, b"out\n"), (2, b"err\n")]
    only_err = api.call("GET", f"/v1.44/containers/{container}/logs?stderr=1")
    assert wire.deframe(only_err.body) == [(2, b"err\n")]


def test_logs_of_a_tty_container_are_raw(api: Api) -> None:
    container = api.create("echo", "hi", Tty=True)
    api.start(container)
    api.call("POST", f"/v1.44/containers/{container}/wait")
    reply = api.call("GET", f"/v1.44/containers/{container}/logs?stdout=1&timestamps=1")
    assert reply.headers["Content-Type"] == "application/vnd.docker.raw-stream"
    stamp, _, line = reply.body.partition(b" ")
    assert line == b"hi\r\n"
    assert stamp.endswith(b"Z")


def test_logs_follow_until_the_container_stops(api: Api, roots: Any) -> None:
    go = roots.base / "go"  # the container goes on when this directory holds "now"
    go.mkdir()
    script = "echo one; while [ ! -e /go/now ]; do sleep 0.05; done; echo two"
    container = api.create("sh", "-c", script, HostConfig={"Binds": [f"{go}:/go"]})
    api.start(container)

    def client() -> bytes:
        with wire.connect(api.socket, timeout=10) as sock:
            wire.send_request(
                sock, "GET", f"/v1.44/containers/{container}/logs?stdout=1&follow=1", {}
            )
            _, _, rest = wire.read_head(sock)
            body = wire.ChunkedReader(sock, rest)
            body.read_until(b"one\n")  # what there is so far, while the container runs on
            (go / "now").touch()
            return body.read_all()  # the rest, until the container stops

    assert wire.deframe(api.run(client)) == [(1, b"one\n"), (1, b"two\n")]


def test_events_stream_as_json_lines(api: Api) -> None:
    def client() -> list[dict]:
        with wire.connect(api.socket, timeout=10) as sock:
            wire.send_request(
                sock, "GET", "/v1.44/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D", {}
            )
            _, headers, rest = wire.read_head(sock)
            assert headers["content-type"] == "application/json"
            body = {"Image": "busybox", "Cmd": ["true"]}
            wire.request(api.socket, "POST", "/v1.44/containers/create?name=evented", body)
            body = wire.ChunkedReader(sock, rest).read_until(b'"create"')
            return [json.loads(line) for line in body.splitlines()]

    events = api.run(client)
    assert [(e["Type"], e["Action"], e["Actor"]["Attributes"]["name"]) for e in events] == [
        ("container", "create", "evented")
    ]


def test_past_events_until_a_time_end_the_stream(api: Api) -> None:
    api.create("true", name="past")
    now = time.time()
    reply = api.call("GET", f"/v1.44/events?since=0&until={now:.9f}")
    events = [json.loads(line) for line in reply.body.splitlines()]
    assert ("create", "past") in [
        (e["Action"], e["Actor"]["Attributes"].get("name")) for e in events
    ]
