"""The crash tests' fixtures: an engine's roots to stop, damage by hand and open again."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Roots, import_busybox
from tests.distribution.conftest import registry  # noqa: F401 - the kill loop pulls and pushes


class Store:
    """The roots of an engine that is opened and closed by the test, on one event loop."""

    def __init__(self, roots: Roots) -> None:
        self.roots = roots
        self.loop = asyncio.new_event_loop()
        self.engine: Any = None

    def open(self, start: bool = False) -> Any:
        """An engine on the roots; ``start`` runs its start-up (and its repairs)."""
        from dockyard.config import Paths
        from dockyard.engine.engine import Engine

        self.close()
        asyncio.set_event_loop(self.loop)
        self.engine = Engine(Paths(self.roots.data_root, self.roots.exec_root))
        if start:
            self.run(self.engine.start())
        return self.engine

    def close(self) -> None:
        """The engine goes away as a daemon does: its containers go on running."""
        if self.engine is not None and not self.engine.closed:
            self.engine.close()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def check(self, repair: bool = False) -> list[Any]:
        return self.run(self.engine.check.run(repair))  # type: ignore[no-any-return]

    def sql(self, statement: str, *args: object) -> list[Any]:
        """A statement run on the stopped engine's database, as damage is done by hand."""
        with sqlite3.connect(self.roots.data_root / "dockyard.db") as db:
            rows = db.execute(statement, args).fetchall()
        db.close()
        return rows

    def record(self, cid: str) -> dict[str, Any]:
        return json.loads(self.sql("SELECT record FROM containers WHERE id = ?", cid)[0][0])  # type: ignore[no-any-return]

    def set_record(self, cid: str, record: dict[str, Any]) -> None:
        self.sql("UPDATE containers SET record = ? WHERE id = ?", json.dumps(record), cid)

    def create(self, *cmd: str, **config: Any) -> str:
        body = {"Image": "busybox", "Cmd": list(cmd), **config}
        return self.run(self.engine.containers.create(body, None))["Id"]  # type: ignore[no-any-return]

    def start(self, cid: str) -> None:
        self.run(self.engine.containers.start(cid))

    @property
    def data(self) -> Path:
        return self.roots.data_root

    def teardown(self) -> None:
        engine = self.open(start=True)
        for c in engine.containers.all():
            self.run(engine.containers.remove(c.id, force=True))
        self.close()
        self.loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def store(roots: Roots, busybox_tar: Path) -> Iterator[Store]:
    """Roots with busybox:latest; the test opens (and closes) engines on them."""
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    store = Store(roots)
    yield store
    store.teardown()
