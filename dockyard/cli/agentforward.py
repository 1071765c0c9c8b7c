"""``dockyard build --ssh`` to a daemon elsewhere: this machine's agent, served to the
daemon over a hijacked connection (``POST /build/session/{id}/ssh/{ssh_id}``).

One thread owns the connection (a TLS one may not be read and written from
two threads) and every connection to the agent: the daemon's channels
(``dockyard.agentframes``) each get a connection of their own to the agent
socket, joined both ways until either side ends it, or the build does.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from urllib.parse import quote

from dockyard.agentframes import frame, frame_reader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.client import Client
    from dockyard.client.client import Hijacked

_CHUNK = 1 << 16


class AgentForward:
    """Serves the daemon's channels from the agent at ``agent``, until ``close``."""

    def __init__(self, client: Client, session: str, ssh_id: str, agent: str) -> None:
        path = f"/build/session/{session}/ssh/{quote(ssh_id, safe='')}"
        self._stream: Hijacked = client.hijack("POST", path)
        self._agent = agent
        self._agents: dict[int, socket.socket] = {}
        self._ended: set[int] = set()  # channels closed here, whose late frames are dropped
        self._stop, self._stopping = os.pipe()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        os.write(self._stopping, b"x")
        self._thread.join()
        for fd in (self._stop, self._stopping):
            os.close(fd)
        self._stream.close()

    def _serve(self) -> None:
        frames = frame_reader()
        try:
            while True:
                ready = self._wait()
                if self._stop in ready:
                    return
                if self._stream in ready:
                    data = self._stream.recv(_CHUNK)
                    if not data:
                        return  # the daemon ended the session
                    for channel, payload in frames.feed(data):
                        self._to_agent(channel, payload)
                for channel, agent in list(self._agents.items()):
                    if agent in ready and channel in self._agents:
                        self._from_agent(channel, agent)
        except OSError:
            return  # the connection to the daemon broke: the build says why
        finally:
            for agent in self._agents.values():
                agent.close()

    def _wait(self) -> list[Any]:
        if self._stream.pending():
            return [self._stream]
        watched: list[Any] = [self._stop, self._stream, *self._agents.values()]
        ready, _, _ = select.select(watched, [], [])
        return ready

    def _to_agent(self, channel: int, payload: bytes) -> None:
        if channel in self._ended:
            return
        agent = self._agents.get(channel)
        if not payload:
            self._end(channel)
            return
        try:
            if agent is None:
                agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._agents[channel] = agent
                agent.connect(self._agent)
            agent.sendall(payload)
        except OSError:  # no agent there, or it went away: the step sees the channel end
            self._end(channel)
            self._stream.sendall(frame(channel, b""))

    def _from_agent(self, channel: int, agent: socket.socket) -> None:
        try:
            data = agent.recv(_CHUNK)
        except OSError:
            data = b""
        self._stream.sendall(frame(channel, data))
        if not data:
            self._end(channel)

    def _end(self, channel: int) -> None:
        self._ended.add(channel)
        agent = self._agents.pop(channel, None)
        if agent is not None:
            with contextlib.suppress(OSError):
                agent.close()
