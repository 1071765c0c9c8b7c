"""HTTP as Go's net/http serves it: 1 MiB request heads, refusals that quote nothing, half-closes."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.api import wire
from tests.api.conftest import Api

# What a client's credentials look like in a header: base64, and recognisable here.
SECRET = base64.b64encode(b"hunter2-" * 3).decode()


def _raw(path: str, request: bytes) -> bytes:
    """Send ``request``, shut the sending side, read the answer to its end."""
    sock = wire.connect(path, timeout=10)
    try:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before it took everything: the answer is read below
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer
    finally:
        sock.close()


def test_a_9_kb_header_is_taken(api: Api) -> None:
    reply = api.call("GET", "/_ping", headers={"X-Registry-Config": SECRET * (9000 // len(SECRET))})
    assert (reply.status, reply.body) == (200, b"OK")


def test_a_2_mb_header_is_refused_without_quoting_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    head = f"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Registry-Config: {SECRET * (2_000_000 // 32)}\r\n"
    with caplog.at_level(logging.DEBUG):
        answer = api.run(_raw, api.socket, head.encode() + b"\r\n")
    assert answer.startswith(b"HTTP/1.0 431 Request Header Fields Too Large\r\n")
    assert answer.endswith(b"\r\n\r\n431 Request Header Fields Too Large")
    assert SECRET[:8] not in caplog.text
    assert "refused a malformed request: LineTooLong (431)" in caplog.text


def test_a_malformed_header_is_refused_without_quoting_it(api: Api) -> None:
    answer = api.run(_raw, api.socket, f"GET /_ping HTTP/1.1\r\n{SECRET}\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert SECRET[:8].encode() not in answer


def test_an_http_1_0_request_on_a_half_closed_socket_is_answered(api: Api) -> None:
    answer = api.run(_raw, api.socket, b"GET /version HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert json.loads(body)["ApiVersion"]


def test_a_request_whose_body_the_half_close_cut_short_is_dropped(api: Api) -> None:
    cut = b"POST /v1.44/containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}"
    assert api.run(_raw, api.socket, cut) == b""
    assert api.engine.containers.all() == []


def test_docker_build_with_four_registry_logins(
    docker_cli: Any, roots: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docker CLI sends all the logins of config.json in X-Registry-Config (~11 KB here)."""
    token = base64.b64encode(os.urandom(1500)).decode()
    auths = {
        f"registry{n}.example.invalid": {
            "auth": base64.b64encode(f"u{n}:{token}".encode()).decode()
        }
        for n in range(4)
    }
    config = Path(roots.base / "docker-config")
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": auths}))
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    built = docker_cli("build", "-q", "-", input=b"FROM busybox\nRUN true\n")
    assert built.returncode == 0, built.stderr
    assert token[:16] not in built.stdout + built.stderr
