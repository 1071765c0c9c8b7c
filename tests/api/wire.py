"""A plain HTTP/1.1 client over a Unix socket, for tests that need the raw wire."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any

from dockyard import stdcopy


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def request(
    path: str,
    method: str,
    url: str,
    body: bytes | dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = _UnixConnection(path, timeout)
    try:
        conn.request(method, url, body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def connect(path: str, timeout: float = 30) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock


def send_request(
    sock: socket.socket,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes = b"",
    after: bytes = b"",
) -> None:
    """One request; ``after`` goes in the same send, as stream data past the body."""
    lines = [f"{method} {url} HTTP/1.1", "Host: localhost", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body + after)


def read_until(sock: socket.socket, wanted: bytes, data: bytes = b"") -> bytes:
    while wanted not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before {wanted!r}: {data!r}")
        data += chunk
    return data


def read_head(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers, and whatever arrived in the same reads after them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed inside the headers: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


class ChunkedReader:
    """Decodes a chunked body as it arrives on a socket."""

    def __init__(self, sock: socket.socket, data: bytes = b"") -> None:
        self._sock = sock
        self._raw = data
        self.body = b""
        self.done = False

    def _more(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a chunked body")
        self._raw += chunk

    def read_chunk(self) -> bytes:
        while b"\r\n" not in self._raw:
            self._more()
        size_line, _, rest = self._raw.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            self._more()
            rest = self._raw.partition(b"\r\n")[2]
        self._raw = rest[size + 2 :]
        self.body += rest[:size]
        self.done = size == 0
        return rest[:size]

    def read_all(self) -> bytes:
        while not self.done:
            self.read_chunk()
        return self.body

    def read_until(self, wanted: bytes) -> bytes:
        while wanted not in self.body:
            self.read_chunk()
        return self.body


def deframe(data: bytes) -> list[tuple[int, bytes]]:
    return stdcopy.FrameParser().feed(data)
