"""Attach and exec start hijack the connection; a client's half-close keeps the output coming."""

from __future__ import annotations

import json
import socket

from tests.api import wire
from tests.api.conftest import Api

UPGRADE = {"Connection": "Upgrade", "Upgrade": "tcp"}
ATTACH_ALL = "stream=1&stdin=1&stdout=1&stderr=1"


def _interactive(api: Api, *cmd: str, tty: bool = False) -> str:
    return api.create(*cmd, OpenStdin=True, AttachStdin=True, StdinOnce=True, Tty=tty)


def test_attach_before_start_then_half_close(api: Api) -> None:
    container = _interactive(api, "sh", "-c", "cat; echo done >&2")

    def client() -> tuple[str, dict[str, str], bytes, bytes]:
        with wire.connect(api.socket) as sock:
            wire.send_request(
                sock, "POST", f"/v1.44/containers/{container}/attach?{ATTACH_ALL}", UPGRADE
            )
            status, headers, early = wire.read_head(sock)
            wire.request(api.socket, "POST", f"/v1.44/containers/{container}/start")
            sock.sendall(b"hello\n")
            sock.shutdown(socket.SHUT_WR)  # stdin EOF, as the docker CLI sends it
            return status, headers, early, wire.read_to_end(sock)

    status, headers, early, output = api.run(client)
    assert status == "HTTP/1.1 101 UPGRADED"
    assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert (headers["connection"], headers["upgrade"]) == ("Upgrade", "tcp")
    assert early == b""  # the headers went out alone, before any stream data
    assert wire.deframe(output) == [(1, b"hello\n"), (2, b"done\n")]
    wait = api.call("POST", f"/v1.44/containers/{container}/wait").json()
    assert wait["StatusCode"] == 0


def test_exec_start_half_close(api: Api) -> None:
    container = api.create("sleep", "30")
    api.start(container)
    created = api.call(
        "POST",
        f"/v1.44/containers/{container}/exec",
        {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True, "AttachStderr": True},
    )
    exec_id = created.json()["Id"]
    body = json.dumps({"Detach": False, "Tty": False}).encode()

    def client() -> tuple[str, bytes]:
        with wire.connect(api.socket) as sock:
            headers = {**UPGRADE, "Content-Type": "application/json"}
            wire.send_request(sock, "POST", f"/v1.44/exec/{exec_id}/start", headers, body)
            status, _, early = wire.read_head(sock)
            sock.sendall(b"to exec\n")
            sock.shutdown(socket.SHUT_WR)
            return status, early + wire.read_to_end(sock)

    status, output = api.run(client)
    assert status == "HTTP/1.1 101 UPGRADED"
    assert wire.deframe(output) == [(1, b"to exec\n")]
    assert api.call("GET", f"/v1.44/exec/{exec_id}/json").json()["ExitCode"] == 0


def test_stdin_sent_before_the_container_starts_reaches_it(api: Api) -> None:
    container = _interactive(api, "cat")

    def client() -> bytes:
        with wire.connect(api.socket) as sock:
            url = f"/v1.44/containers/{container}/attach?{ATTACH_ALL}"
            wire.send_request(sock, "POST", url, UPGRADE)
            _, _, early = wire.read_head(sock)
            sock.sendall(b"early\n")  # `echo x | docker run -i` sends it as soon as attached
            sock.shutdown(socket.SHUT_WR)
            wire.request(api.socket, "POST", f"/v1.44/containers/{container}/start")
            return early + wire.read_to_end(sock)

    assert wire.deframe(api.run(client)) == [(1, b"early\n")]


def test_exec_framing_follows_the_start_request_not_the_exec(api: Api) -> None:
    container = api.create("sleep", "30")
    api.start(container)
    config = {"Cmd": ["echo", "framed"], "Tty": True, "AttachStdout": True}
    exec_id = api.call("POST", f"/v1.44/containers/{container}/exec", config).json()["Id"]

    def client() -> bytes:
        with wire.connect(api.socket) as sock:
            headers = {**UPGRADE, "Content-Type": "application/json"}
            wire.send_request(
                sock, "POST", f"/v1.44/exec/{exec_id}/start", headers, b'{"Tty":false}'
            )
            wire.read_head(sock)
            return wire.read_to_end(sock)

    # The exec's own Tty gave it a terminal (hence CRLF); the start's Tty chose the framing.
    assert wire.deframe(api.run(client)) == [(1, b"framed\r\n")]


def test_without_upgrade_the_answer_is_200_and_a_raw_stream(api: Api) -> None:
    container = api.create("echo", "plain")

    def client() -> tuple[str, str, bytes]:
        with wire.connect(api.socket) as sock:
            wire.send_request(
                sock, "POST", f"/v1.44/containers/{container}/attach?stream=1&stdout=1", {}
            )
            status, headers, early = wire.read_head(sock)
            wire.request(api.socket, "POST", f"/v1.44/containers/{container}/start")
            return status, headers["content-type"], early + wire.read_to_end(sock)

    status, content_type, output = api.run(client)
    assert (status, content_type) == ("HTTP/1.1 200 OK", "application/vnd.docker.raw-stream")
    assert wire.deframe(output) == [(1, b"plain\n")]


def test_before_api_1_42_the_content_type_is_always_raw(api: Api) -> None:
    container = api.create("true")

    def client() -> str:
        with wire.connect(api.socket) as sock:
            url = f"/v1.41/containers/{container}/attach?stream=1&stdout=1"
            wire.send_request(sock, "POST", url, UPGRADE)
            _, headers, _ = wire.read_head(sock)
            wire.request(api.socket, "POST", f"/v1.41/containers/{container}/start")
            wire.read_to_end(sock)
            return headers["content-type"]

    assert api.run(client) == "application/vnd.docker.raw-stream"


def test_detach_keys_end_a_tty_attach_and_leave_the_container_running(api: Api) -> None:
    container = _interactive(api, "sh", tty=True)
    api.start(container)

    def client() -> bytes:
        with wire.connect(api.socket) as sock:
            url = f"/v1.44/containers/{container}/attach?{ATTACH_ALL}&detachKeys=ctrl-x"
            wire.send_request(sock, "POST", url, UPGRADE)
            _, headers, early = wire.read_head(sock)
            assert headers["content-type"] == "application/vnd.docker.raw-stream"
            sock.sendall(b"echo $((6*7))\n")
            seen = wire.read_until(sock, b"42\r\n", early)
            sock.sendall(b"\x18")
            return seen + wire.read_to_end(sock)

    assert b"42" in api.run(client)
    assert api.call("GET", f"/v1.44/containers/{container}/json").json()["State"]["Running"]


def test_a_client_that_goes_away_leaves_the_container_running(api: Api) -> None:
    # Not StdinOnce (as `run -di`): with it, the client's leaving would close cat's stdin.
    container = api.create("cat", OpenStdin=True, AttachStdin=True, StdinOnce=False)
    api.start(container)

    def client() -> None:
        with wire.connect(api.socket) as sock:
            wire.send_request(
                sock, "POST", f"/v1.44/containers/{container}/attach?{ATTACH_ALL}", UPGRADE
            )
            wire.read_head(sock)

    api.run(client)
    assert api.call("GET", f"/v1.44/containers/{container}/json").json()["State"]["Running"]
    reply = api.call("POST", f"/v1.44/containers/{container}/exec", {"Cmd": ["true"]})
    assert reply.status == 201


def test_an_exec_that_cannot_start_says_so_in_the_stream(api: Api) -> None:
    container = api.create("sleep", "30")
    api.start(container)
    exec_id = api.call("POST", f"/v1.44/containers/{container}/exec", {"Cmd": ["true"]}).json()[
        "Id"
    ]
    assert api.call("POST", f"/v1.44/containers/{container}/kill").status == 204
    api.call("POST", f"/v1.44/containers/{container}/wait")

    def client() -> tuple[str, bytes]:
        with wire.connect(api.socket) as sock:
            headers = {**UPGRADE, "Content-Type": "application/json"}
            wire.send_request(sock, "POST", f"/v1.44/exec/{exec_id}/start", headers, b"{}")
            status, _, early = wire.read_head(sock)
            return status, early + wire.read_to_end(sock)

    status, output = api.run(client)
    assert status == "HTTP/1.1 101 UPGRADED"
    assert wire.deframe(output) == [(1, f"container {container} is not running\r\n".encode())]
