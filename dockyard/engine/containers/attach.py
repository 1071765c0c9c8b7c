"""A container's input and output: its logs, attach (also before it starts), resize."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from pathlib import Path

from dockyard import stdcopy
from dockyard.config import Paths
from dockyard.engine import logdrivers
from dockyard.engine.container import Container
from dockyard.engine.containers.store import ContainerStore
from dockyard.engine.events import EventBus
from dockyard.engine.logs import LogReader
from dockyard.engine.streams import AttachStream
from dockyard.errors import Conflict, NotSupported
from dockyard.runtime import shim


class ContainerIO:
    def __init__(self, paths: Paths, store: ContainerStore, events: EventBus) -> None:
        self.paths = paths
        self.store = store
        self.events = events
        self._pending: dict[str, list[AttachStream]] = {}  # attached before the start

    async def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        since: float = 0.0,
        until: float = 0.0,
        timestamps: bool = False,
        tail: int | None = None,
        details: bool = False,
    ) -> AsyncGenerator[tuple[int, bytes], None]:
        c = self.store.get(ref)
        reader = LogReader(_log_path(c), stdout, stderr, since, until, timestamps, details)
        store = self.store
        running = (lambda: store.exists(c.id) and store.get(c.id).running) if follow else None
        async with contextlib.aclosing(reader.read(tail, running)) as items:
            async for item in items:
                yield item

    async def attach(
        self,
        ref: str,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        logs: bool = False,
        stream: bool = True,
    ) -> AttachStream:
        c = self.store.get(ref)
        history = None
        if logs:  # read as the client takes it, never whole
            past = LogReader(_log_path(c), stdout, stderr).read(None, None)
            history = (data if c.tty else stdcopy.frame(n, data) async for n, data in past)
        attach = AttachStream(
            tty=c.tty,
            stdin=stdin and bool(c.config.get("OpenStdin")),
            stdout=stdout,
            stderr=stderr,
            history=history,
        )
        if not stream:
            attach.abandon()
        elif c.running:
            await attach.connect(str(self.paths.exec_root / c.id / "attach.sock"))
        else:
            self._pending.setdefault(c.id, []).append(attach)
        self.events.publish("container", "attach", c.id, self.store.event_attributes(c.record))
        return attach

    async def connect_pending(self, cid: str, socket_path: str) -> None:
        """The container's shim listens: the clients that attached before it started join."""
        for stream in self._pending.pop(cid, []):
            await stream.connect(socket_path)

    def abandon_pending(self, cid: str) -> None:
        """The container will not run (its start failed, it is removed)."""
        for stream in self._pending.pop(cid, []):
            stream.abandon()

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.store.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.tty:
            shim.request(self.paths.exec_root / c.id / "control.sock", {"resize": [height, width]})


def _log_path(c: Container) -> Path:
    driver = c.host_config["LogConfig"]["Type"]
    if driver not in logdrivers.READABLE:
        raise NotSupported("configured logging driver does not support reading")
    if driver == "json-file":
        return Path(c.record["LogPath"])
    return logdrivers.local_log_path(c.root)
