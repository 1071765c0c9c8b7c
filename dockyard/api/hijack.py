"""Connection hijacking: attach and exec start turn the HTTP connection into a byte pipe.

The answer is ``HTTP/1.1 101 UPGRADED`` with ``Upgrade: tcp`` (or ``200 OK``
when the client did not ask to upgrade), written in its own send before any
stream data: docker-py reads the headers through a buffered reader and then
reads the raw socket, so bytes in the same read as the headers would be lost.

After the headers the socket belongs to a ``HijackedConnection``, which takes
the transport over from aiohttp's protocol. aiohttp would close the socket
when the client half-closes it; the docker CLI half-closes at stdin EOF (at
once when stdin is not attached) and still reads the output, so here a
half-close only closes the container's stdin and output keeps flowing until
it ends. Then the server closes the connection, which is what ends the
client's copy.

aiohttp's C parser upgrades only to websocket, so bytes a client sends in
the same packet as its request, before it has read the 101, are taken by
the HTTP parser and lost. The docker CLI and docker-py read the 101 before
they send stdin, as the protocol intends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from dockyard.api import responses
from dockyard.api.detach import DetachWatcher
from dockyard.api.versioning import STANDARD_HEADERS, api_at_least
from dockyard.engine.streams import Stream

log = logging.getLogger(__name__)

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"

# Stop reading from the client while this many bytes wait for the container (a chunk
# from the transport is up to 256 KiB: counting chunks would bound little).
_MAX_PENDING_INPUT = 1 << 20


def stream_content_type(request: web.Request, tty: bool) -> str:
    """Multiplexed frames without a TTY from API 1.42 on; raw bytes otherwise."""
    return MULTIPLEXED_STREAM if not tty and api_at_least(request, "1.42") else RAW_STREAM


class HijackedConnection(asyncio.Protocol):
    """The client socket once aiohttp has handed it over."""

    def __init__(self, transport: asyncio.Transport, previous: asyncio.BaseProtocol) -> None:
        self._transport = transport
        self._previous = previous
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._pending = 0  # bytes in _incoming
        self._reading_paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # asyncio.Protocol callbacks

    def data_received(self, data: bytes) -> None:
        self._incoming.put_nowait(data)
        self._pending += len(data)
        if self._pending >= _MAX_PENDING_INPUT and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._incoming.put_nowait(b"")
        return True  # keep the socket open: the client still reads the output

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._incoming.put_nowait(None)
        self._writable.set()
        if not self.lost.done():
            self.lost.set_result(None)
        # aiohttp still counts this connection as its own until told it is gone.
        self._previous.connection_lost(exc)

    # The pipe

    async def read(self) -> bytes | None:
        """Client bytes; b"" once the client half-closed; None once it is gone."""
        data = await self._incoming.get()
        self._pending -= len(data or b"")
        if self._reading_paused and self._pending < _MAX_PENDING_INPUT // 2:
            self._reading_paused = False
            self._transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self._transport.write(data)
        await self._writable.wait()

    def close(self) -> None:
        """Close once everything written so far is sent."""
        self._transport.close()


class _HijackedResponse(web.StreamResponse):
    """What a hijacking handler returns: the socket was answered and closed by hand."""

    async def prepare(self, request: web.BaseRequest) -> None:  # type: ignore[override]
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _Leftover:
    """Takes the bytes aiohttp read past the request (stdin sent right after it)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""

    def feed_eof(self) -> None:
        pass


def hijack(
    request: web.Request, content_type: str
) -> tuple[HijackedConnection, web.StreamResponse]:
    """Answer the request with the upgrade headers and take the socket over.

    Returns the connection and the response the handler must return.
    """
    transport, protocol = request.transport, request.protocol
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the client closed the connection")
    upgrade = "Upgrade" in request.headers
    if upgrade:
        head = [
            "HTTP/1.1 101 UPGRADED",
            f"Content-Type: {content_type}",
            "Connection: Upgrade",
            "Upgrade: tcp",
        ]
    else:
        head = ["HTTP/1.1 200 OK", f"Content-Type: {RAW_STREAM}"]
    head += [f"{name}: {value}" for name, value in STANDARD_HEADERS.items()]
    leftover = _Leftover()
    protocol.set_parser(leftover)  # type: ignore[arg-type]
    connection = HijackedConnection(transport, protocol)
    if leftover.data:
        connection.data_received(bytes(leftover.data))
    transport.set_protocol(connection)
    if not transport.is_reading():
        transport.resume_reading()
    transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
    response = _HijackedResponse(status=101 if upgrade else 200)
    responses.mark_started(request, response)
    return connection, response


async def pipe(
    connection: HijackedConnection, stream: Stream, detach: DetachWatcher | None = None
) -> None:
    """Copy both ways until the output ends, the client leaves, or it types the detach keys."""
    loop = asyncio.get_running_loop()
    detached: asyncio.Future[None] = loop.create_future()
    output = asyncio.create_task(_copy_output(stream, connection))
    feeder = asyncio.create_task(_copy_input(connection, stream, detach, detached))
    try:
        await asyncio.wait({output, detached, connection.lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        output.cancel()
        feeder.cancel()
        for result in await asyncio.gather(output, feeder, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(result, ConnectionError):
                log.warning("hijacked stream failed: %s", result)
        with contextlib.suppress(OSError):
            await stream.close()
        connection.close()


async def _copy_output(stream: Stream, connection: HijackedConnection) -> None:
    while data := await stream.read():
        await connection.write(data)


async def _copy_input(
    connection: HijackedConnection,
    stream: Stream,
    detach: DetachWatcher | None,
    detached: asyncio.Future[None],
) -> None:
    while (data := await connection.read()) is not None:
        if not data:
            await stream.close_stdin()
            return
        found = False
        if detach is not None:
            data, found = detach.feed(data)
        if data:
            await stream.write(data)
        if found:
            detached.set_result(None)
            return
