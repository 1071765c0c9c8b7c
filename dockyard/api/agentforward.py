"""``POST /build/session/{id}/ssh/{ssh_id}``: a client elsewhere forwards its ssh agent.

The connection is hijacked (``Upgrade: tcp``) and stays open until the session
ends (its build ends, or it expires unused). Meanwhile the daemon listens on a
socket in the session's directory, which the build's ``RUN --mount=type=ssh``
steps get as the agent ``ssh_id``; every connection a step makes there goes to
the client as a channel of ``dockyard.agentframes``, and the client joins it to
its own agent. Nothing the agent says is kept.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from dockyard.agentframes import frame, frame_reader
from dockyard.api.buildsession import sessions
from dockyard.api.hijack import RAW_STREAM, HijackedConnection, hijack

_CHUNK = 1 << 16


async def forward_agent(request: web.Request) -> web.StreamResponse:
    held = sessions(request)
    session, path = await asyncio.to_thread(
        held.forward_agent, request.match_info["id"], request.match_info["ssh_id"]
    )
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def end() -> None:  # from the worker thread that closes the session
        with contextlib.suppress(RuntimeError):  # the loop is closed: the daemon stopped
            loop.call_soon_threadsafe(_settle, ended)

    session.on_close.append(end)
    channels = _Channels()
    server = await asyncio.start_unix_server(channels.accept, path)
    try:
        connection, response = hijack(request, RAW_STREAM)
        channels.connection = connection
        from_client = asyncio.create_task(channels.from_client())
        try:
            ends: set[asyncio.Future[None]] = {from_client, ended, connection.lost}
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            from_client.cancel()
            await asyncio.gather(from_client, return_exceptions=True)
            channels.close()
            connection.close()
    finally:
        server.close()
    return response


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Channels:
    """The steps' connections to the agent, and the client's end of each."""

    def __init__(self) -> None:
        self.connection: HijackedConnection | None = None
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._next = 1

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A step connected: what it sends goes to the client, until either side ends."""
        channel, self._next = self._next, self._next + 1
        self._writers[channel] = writer
        try:
            while self.connection is not None and (data := await reader.read(_CHUNK)):
                await self.connection.write(frame(channel, data))
            if self.connection is not None:
                await self.connection.write(frame(channel, b""))
        except OSError:  # the client or the step went away
            pass
        finally:
            self._writers.pop(channel, None)
            writer.close()

    async def from_client(self) -> None:
        """The agent's answers, to the step of each channel."""
        assert self.connection is not None
        frames = frame_reader()
        while data := await self.connection.read():
            for channel, payload in frames.feed(data):
                writer = self._writers.get(channel)
                if writer is None:
                    continue  # that step has gone
                if not payload:
                    writer.close()
                    continue
                writer.write(payload)
                with contextlib.suppress(OSError):
                    await writer.drain()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def routes() -> list[web.RouteDef]:
    return [web.post("/build/session/{id}/ssh/{ssh_id}", forward_agent)]
