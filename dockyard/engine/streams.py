"""The engine's side of attach and exec: a two-way byte stream.

Output comes out already in the Engine API's form (frames without a TTY,
raw bytes with one), so api/ only copies bytes between a socket and a Stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
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
    reads wait. ``history`` is log output to send first (attach with logs=1).
    """

    def __init__(
        self, *, tty: bool, stdin: bool, stdout: bool, stderr: bool, history: Iterable[bytes] = ()
    ) -> None:
        self.tty = tty
        self._stdin = stdin
        self._wanted = {stdcopy.STDOUT} if stdout else set()
        if stderr:
            self._wanted.add(stdcopy.STDERR)
        self._history = list(history)
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
        if self._history:
            return self._history.pop(0)
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
        conn = self._connected.result()
        if conn is not None:
            conn[1].close()
            with contextlib.suppress(OSError):
                await conn[1].wait_closed()


class PipeStream:
    """An exec's stdio: pipes (or one pty master) of a process the daemon started."""

    def __init__(
        self,
        *,
        tty: bool,
        stdin_fd: int | None,
        outputs: dict[int, int],
        finished: asyncio.Event | None = None,
    ) -> None:
        """``outputs`` maps our read end fd → stdcopy stream number; the stream ends only
        once ``finished`` is set (the process's exit recorded), as moby ends exec streams
        after the exit event, so a client asking for the exit code right away gets it."""
        self.tty = tty
        self._finished = finished
        self._stdin_fd = stdin_fd
        self._outputs = dict(outputs)
        self._unclosed = set(outputs) | ({stdin_fd} if stdin_fd is not None else set())
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        for fd in outputs:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._on_output, fd)

    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO from a pty whose slave side is gone
            data = b""
        if data:
            self._queue.put_nowait(data if self.tty else stdcopy.frame(self._outputs[fd], data))
            return
        asyncio.get_running_loop().remove_reader(fd)
        del self._outputs[fd]
        if not self._outputs:
            self._queue.put_nowait(b"")

    async def read(self) -> bytes:
        data = await self._queue.get()
        if not data and self._finished is not None:
            await self._finished.wait()
        return data

    async def write(self, data: bytes) -> None:
        while data and self._stdin_fd is not None:
            try:
                data = data[os.write(self._stdin_fd, data) :]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError:
                return

    async def close_stdin(self) -> None:
        # A pty master is stdin and output at once: closing it would cut the output.
        if self._stdin_fd is not None and self._stdin_fd not in self._outputs:
            self._close(self._stdin_fd)
        self._stdin_fd = None

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in self._outputs:
            loop.remove_reader(fd)
        self._outputs.clear()
        for fd in list(self._unclosed):
            self._close(fd)

    def _close(self, fd: int) -> None:
        if fd in self._unclosed:
            self._unclosed.discard(fd)
            os.close(fd)
