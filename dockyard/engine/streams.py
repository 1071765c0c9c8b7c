"""The engine's side of attach and exec: a two-way byte stream.

Output comes out already in the Engine API's form (frames without a TTY,
raw bytes with one), so api/ only copies bytes between a socket and a Stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Protocol

from dockyard import stdcopy


class Stream(Protocol):
    tty: bool

    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def close(self) -> None: ...


class AttachStream:
    """A client of a container's shim (its attach.sock), possibly before the container starts.

    ``connect`` is called by the engine when the shim is listening; until then
    reads wait. ``history`` is log output to send first (attach with logs=1), read
    as the client takes it: a big log is never held whole.
    """

    def __init__(
        self,
        *,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        history: AsyncGenerator[bytes, None] | None = None,
    ) -> None:
        self.tty = tty
        self._stdin = stdin
        self._wanted = {stdcopy.STDOUT} if stdout else set()
        if stderr:
            self._wanted.add(stdcopy.STDERR)
        self._history = history
        self._connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]
        self._connected = asyncio.get_running_loop().create_future()
        self._parser = stdcopy.FrameParser()

    async def connect(self, socket_path: str) -> None:
        if not self._connected.done():
            self._connected.set_result(await asyncio.open_unix_connection(socket_path))

    def abandon(self) -> None:
        """The container will not run (removed): reads end at once."""
        if not self._connected.done():
            self._connected.set_result(None)

    async def read(self) -> bytes:
        if self._history is not None:
            async for data in self._history:
                if data:
                    return data
            self._history = None
        conn = await self._connected
        if conn is None:
            return b""
        reader, _ = conn
        while True:
            data = await reader.read(65536)
            if not data or self.tty:
                return data
            kept = b"".join(
                stdcopy.frame(s, p) for s, p in self._parser.feed(data) if s in self._wanted
            )
            if kept:
                return kept

    async def write(self, data: bytes) -> None:
        conn = await self._connected
        if conn is not None and self._stdin:
            conn[1].write(data)
            await conn[1].drain()

    async def close_stdin(self) -> None:
        conn = await self._connected
        if conn is not None and conn[1].can_write_eof():
            with contextlib.suppress(OSError):
                conn[1].write_eof()

    async def close(self) -> None:
        self.abandon()
        if self._history is not None:
            await self._history.aclose()
        conn = self._connected.result()
        if conn is not None:
            conn[1].close()
            with contextlib.suppress(OSError):
                await conn[1].wait_closed()


class ShimStream:
    """An exec's stdio, through the exec's shim (runtime.execshim), which frames its output.

    Reads end only once ``finished`` is set (the process's exit recorded), as moby ends
    exec streams after the exit event, so a client asking for the exit code right away
    gets it. The shim holds at most its high-water mark of output for us; we hold one
    read at a time, so a slow client pauses the process.
    """

    def __init__(
        self,
        *,
        tty: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        finished: asyncio.Event,
    ) -> None:
        self.tty = tty
        self._reader = reader
        self._writer = writer
        self._finished = finished

    async def read(self) -> bytes:
        data = await self._reader.read(65536)
        if not data:
            await self._finished.wait()
        return data

    async def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._writer.write(data)
            await self._writer.drain()

    async def close_stdin(self) -> None:
        if self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
