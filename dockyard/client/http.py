"""A small HTTP/1.1 client over a daemon connection: just what the Engine API needs.

The standard library's http.client costs ~40 ms to import (it pulls in email
and ssl), more than the whole budget of `dockyard run`, so this module speaks
the protocol itself: a request line and headers, bodies by Content-Length or
chunked transfer coding (or until the server closes), keep-alive, and the
`Upgrade: tcp` hijack that turns a connection into a raw two-way stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from dockyard.errors import SystemError

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, BinaryIO

READ_SIZE = 65536
FILE_CHUNK = 1 << 20

if TYPE_CHECKING:
    Body = bytes | BinaryIO | Iterable[bytes] | None


class ProtocolError(SystemError):
    """The daemon answered something that is not HTTP/1.1 as we know it."""


class Connection:
    """One connection to the daemon (a socket, or TLS or ssh over one) with its read buffer."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def close(self) -> None:
        self.sock.close()

    def fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        data = self.sock.recv(READ_SIZE)
        if not data:
            return False
        self.buffer += data
        return True

    def read_line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                return line
            if not self.fill():
                raise ConnectionResetError("the daemon closed the connection")

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self.fill():
                raise ConnectionResetError("the daemon closed the connection mid-body")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_some(self) -> bytes:
        """What is buffered, or the next read from the socket; b"" at end of stream."""
        if not self.buffer and not self.fill():
            return b""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def send_request(self, method: str, target: str, headers: dict[str, str], body: Body) -> None:
        head = [f"{method} {target} HTTP/1.1", "Host: docker"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if isinstance(body, bytes):
            head.append(f"Content-Length: {len(body)}")
        elif body is not None:
            head.append("Transfer-Encoding: chunked")
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if isinstance(body, bytes):
            self.sock.sendall(message + body)
            return
        self.sock.sendall(message)
        if body is not None:
            self._send_chunked(body)

    def _send_chunked(self, body: BinaryIO | Iterable[bytes]) -> None:
        chunks = iter(lambda: body.read(FILE_CHUNK), b"") if hasattr(body, "read") else body
        for chunk in chunks:
            if chunk:
                self.sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.sock.sendall(b"0\r\n\r\n")

    def read_head(self) -> tuple[int, str, dict[str, str]]:
        """The status line and the headers (names lower-cased)."""
        parts = self.read_line().split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"malformed response from the daemon: {bytes(parts[0])[:40]!r}")
        headers: dict[str, str] = {}
        while line := self.read_line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        return int(parts[1]), reason, headers


class Response:
    """A response whose body is read on demand."""

    def __init__(
        self,
        conn: Connection,
        method: str,
        status: int,
        reason: str,
        headers: dict[str, str],
        release: Any,
    ) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self._release = release
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = int(length) if length is not None else None
        if method == "HEAD" or status in (204, 304):
            self._remaining = 0
            self._chunked = False
        self._done = False
        if self._remaining == 0:
            self._finish(reusable=True)

    def _finish(self, reusable: bool) -> None:
        if self._done:
            return
        self._done = True
        keep = reusable and self.headers.get("connection", "").lower() != "close"
        self._release(self.conn, keep)

    def iter_chunks(self) -> Iterator[bytes]:
        """The body as it arrives, in pieces of any size."""
        try:
            if self._chunked:
                yield from self._iter_chunked()
            elif self._remaining is not None:
                yield from self._iter_sized()
            else:
                while data := self.conn.read_some():
                    yield data
                self._finish(reusable=False)
        finally:
            self._finish(reusable=False)

    def _iter_sized(self) -> Iterator[bytes]:
        assert self._remaining is not None
        while self._remaining > 0:
            data = self.conn.read_some()
            if not data:
                raise ConnectionResetError("the daemon closed the connection mid-body")
            extra = len(data) - self._remaining
            if extra > 0:
                # Bytes of a next response cannot arrive before we ask; keep them anyway.
                self.conn.buffer[:0] = data[self._remaining :]
                data = data[: self._remaining]
            self._remaining -= len(data)
            yield data
        self._finish(reusable=True)

    def _iter_chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.conn.read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self.conn.read_line():
                    pass  # trailers
                self._finish(reusable=True)
                return
            remaining = size
            while remaining:
                if not self.conn.buffer and not self.conn.fill():
                    raise ConnectionResetError("the daemon closed the connection mid-chunk")
                piece = bytes(self.conn.buffer[:remaining])
                del self.conn.buffer[: len(piece)]
                remaining -= len(piece)
                yield piece
            self.conn.read_exact(2)

    def read(self) -> bytes:
        return b"".join(self.iter_chunks())

    def json(self) -> Any:
        return json.loads(self.read() or b"null")

    def iter_lines(self) -> Iterator[bytes]:
        """The body split at newlines (the end of each JSON message in a stream)."""
        pending = b""
        for chunk in self.iter_chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from (line for line in lines if line.strip())
        if pending.strip():
            yield pending

    def iter_json(self) -> Iterator[Any]:
        """A stream of JSON messages, one per line (events, pull progress, build output)."""
        return (json.loads(line) for line in self.iter_lines())

    def close(self) -> None:
        """Give up on the rest of the body; the connection cannot be reused."""
        if not self._done:
            self._finish(reusable=False)
