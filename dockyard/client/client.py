"""The Engine API client: requests, version negotiation, hijacked streams."""

from __future__ import annotations

import contextlib
import json
import os
import socket

from dockyard.client.endpoint import Endpoint
from dockyard.client.errors import APIError, DaemonUnreachable
from dockyard.client.http import Connection, ProtocolError, Response
from dockyard.errors import SystemError

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.client.http import Body
    from dockyard.tlsconfig import TLSFiles

# The newest API version this client speaks; the daemon may make it lower.
CLIENT_API_VERSION = "1.44"
# What a daemon that sends no Api-Version header is taken to speak (docker's fallback).
FALLBACK_API_VERSION = "1.24"

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

QueryValue = str | int | bool | None
Query = dict[str, QueryValue | list[str]]


def quote(text: str, safe: bytes = b"") -> str:
    """Percent-encode like urllib.parse.quote, which costs more to import than to write."""
    allowed = _UNRESERVED | frozenset(safe)
    return "".join(chr(b) if b in allowed else f"%{b:02X}" for b in text.encode("utf-8"))


def encode_query(query: Query | None) -> str:
    """``?a=1&b=x``: None is left out, booleans are 1/0, a list repeats its key."""
    if not query:
        return ""
    pairs = []
    for key, value in query.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "1" if item else "0"
            pairs.append(f"{quote(key)}={quote(str(item))}")
    return "?" + "&".join(pairs) if pairs else ""


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def default_host() -> str:
    from dockyard.config import local_host

    return os.environ.get("DOCKYARD_HOST") or local_host()


class Hijacked:
    """A connection after ``101 UPGRADED``: a raw two-way byte stream.

    Bytes the daemon sent right behind the response headers are kept and
    returned by the first ``recv``; ``pending`` says there are some, or that
    TLS holds decrypted bytes, which select() on the socket cannot see.
    """

    def __init__(self, conn: Connection) -> None:
        self.sock = conn.sock
        self._pending = bytes(conn.buffer)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self, size: int = 65536) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self.sock.recv(size)

    def pending(self) -> bool:
        buffered = getattr(self.sock, "pending", None)
        return bool(self._pending) or bool(buffered and buffered())

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: tell the container its stdin ended, keep reading its output."""
        # OSError: the daemon already closed its side; there is nothing left to tell it.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


class Client:
    """A client of one daemon; negotiates the API version on its first request."""

    def __init__(
        self, host: str | None = None, version: str | None = None, tls: TLSFiles | None = None
    ) -> None:
        from dockyard.config import local_host
        from dockyard.hosts import parse_host

        self.host = parse_host(host or default_host(), local_host(), tls is not None)
        self.endpoint = Endpoint(self.host, tls)
        self._version = version or os.environ.get("DOCKYARD_API_VERSION")
        self._idle: list[Connection] = []

    @property
    def local(self) -> bool:
        """Whether the daemon is on this machine, behind a Unix socket."""
        return self.endpoint.local

    # -- connections ---------------------------------------------------------

    def _connect(self) -> Connection:
        return Connection(self.dial())

    def dial(self) -> Any:
        """A new raw connection to the daemon, started first when it is ours to start."""
        try:
            return self._dial()
        except (FileNotFoundError, ConnectionRefusedError):
            if not self._may_autostart():
                raise DaemonUnreachable(self.host) from None
        from dockyard.client.autostart import start_daemon
        from dockyard.hosts import socket_path

        start_daemon(socket_path(self.host))
        return self._dial()

    def _dial(self) -> Any:
        try:
            return self.endpoint.dial()
        except (FileNotFoundError, ConnectionRefusedError):
            raise
        except OSError as exc:  # a TLS handshake refused, an unreachable address...
            raise SystemError(f"error during connect: {self.host}: {exc}") from None

    def _may_autostart(self) -> bool:
        from dockyard.config import local_host

        # root's engine for root; a user's rootless one for that user (docs/rootless.md)
        return self.host == local_host()

    def _release(self, conn: Connection, keep: bool) -> None:
        if keep:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    # -- version -------------------------------------------------------------

    @property
    def api_version(self) -> str:
        if self._version is None:
            self._version = self._negotiate()
        return self._version

    def _negotiate(self) -> str:
        response = self._send("HEAD", "/_ping", {}, None)
        if response.status not in (200, 500):
            response = self._send("GET", "/_ping", {}, None)
        response.read()
        server = response.headers.get("api-version") or FALLBACK_API_VERSION
        return min(server, CLIENT_API_VERSION, key=version_tuple)

    # -- requests ------------------------------------------------------------

    def url(self, path: str, query: Query | None = None) -> str:
        return f"/v{self.api_version}{path}{encode_query(query)}"

    def request(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send a request; a 4xx/5xx answer raises APIError with the daemon's message."""
        headers = dict(headers or {})
        payload = encode_body(body, headers)
        response = self._send(method, self.url(path, query), headers, payload)
        if response.status >= 400:
            raise api_error(response)
        return response

    def _send(self, method: str, target: str, headers: dict[str, str], body: Body) -> Response:
        while self._idle:
            conn = self._idle.pop()
            try:
                return self._exchange(conn, method, target, headers, body)
            except (ConnectionResetError, BrokenPipeError):
                # An idle keep-alive connection the daemon had closed: try a fresh one.
                conn.close()
                if not isinstance(body, bytes | None):
                    raise
        return self._exchange(self._connect(), method, target, headers, body)

    def _exchange(
        self, conn: Connection, method: str, target: str, headers: dict[str, str], body: Body
    ) -> Response:
        status, reason, response_headers = round_trip(conn, method, target, headers, body)
        return Response(conn, method, status, reason, response_headers, self._release)

    def hijack(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
    ) -> Hijacked:
        """Send an ``Upgrade: tcp`` request on a new connection and take over its socket."""
        target = self.url(path, query)
        headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if body is None:
            headers["Content-Type"] = "text/plain"
        payload = encode_body(body, headers)
        conn = self._connect()
        status, reason, response_headers = round_trip(conn, method, target, headers, payload)
        if status == 101:
            return Hijacked(conn)
        response = Response(conn, method, status, reason, response_headers, _discard)
        if status >= 400:
            raise api_error(response)
        conn.close()
        raise ProtocolError(f"unable to upgrade to tcp, received {status}")


def round_trip(
    conn: Connection, method: str, target: str, headers: dict[str, str], body: Body
) -> tuple[int, str, dict[str, str]]:
    """Send one request and read the response head; a failed connection is closed."""
    try:
        conn.send_request(method, target, headers, body)
        return conn.read_head()
    except BaseException:
        conn.close()
        raise


def _discard(conn: Connection, keep: bool) -> None:
    conn.close()


def encode_body(body: Any, headers: dict[str, str]) -> Body:
    """JSON for dicts and lists; bytes, files and iterables of bytes as they are."""
    if body is None or isinstance(body, bytes) or hasattr(body, "read"):
        return body
    if isinstance(body, dict | list):
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode()
    return body  # an iterable of byte chunks, sent chunked


def api_error(response: Response) -> APIError:
    data = response.read()
    message = data.decode("utf-8", "replace").strip()
    if response.headers.get("content-type", "").startswith("application/json"):
        # A body that is not the usual {"message": ...} is shown as it is.
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(data).get("message", message)
    return APIError(response.status, message or f"{response.status} {response.reason}".strip())
