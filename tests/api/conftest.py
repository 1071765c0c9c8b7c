"""The API served from the test's in-process engine, on the engine's own loop.

The loop serves while a test's blocking client (plain sockets, http.client,
docker-py) runs in a worker thread: ``api.run(fn, ...)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.api import server
from dockyard.api.listeners import open_listener
from tests.api import wire

T = TypeVar("T")


@dataclass
class Api:
    engine: Any
    socket: str

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking client call in a thread while the loop serves it."""
        return self.engine.loop.run_until_complete(asyncio.to_thread(fn, *args))

    def call(
        self,
        method: str,
        url: str,
        body: bytes | dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> wire.Reply:
        return self.run(wire.request, self.socket, method, url, body, headers)

    def create(self, *cmd: str, name: str = "", **config: Any) -> str:
        """A busybox container running ``cmd``; ``config`` adds create body fields."""
        reply = self.call(
            "POST",
            f"/v1.44/containers/create?name={name}",
            {"Image": "busybox", "Cmd": list(cmd), **config},
        )
        assert reply.status == 201, reply.body
        return reply.json()["Id"]

    def start(self, container_id: str) -> None:
        reply = self.call("POST", f"/v1.44/containers/{container_id}/start")
        assert reply.status == 204, reply.body


@pytest.fixture
def api(engine: Any, roots: Any) -> Iterator[Api]:
    path = str(Path(roots.base) / "api.sock")
    stop = asyncio.Event()
    listener = open_listener(f"unix://{path}")  # bound and listening: requests wait for serve()
    task = engine.loop.create_task(server.serve(engine, [listener], None, stop, access_log=False))
    yield Api(engine, path)
    stop.set()
    engine.loop.run_until_complete(task)
    listener.close()
