"""The containers' records, and the state the verbs share about them: who holds a
container's lock, which containers are being created."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any, Protocol

from dockyard.config import Paths
from dockyard.engine.container import Container
from dockyard.engine.names import random_name
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.store.metadata import Metadata


class LayerStack(Protocol):
    """The layer store as the records read it (store/layers.py)."""

    def stack(self, chain: str) -> list[str]: ...


class ContainerStore:
    def __init__(self, paths: Paths, metadata: Metadata, layers: LayerStack) -> None:
        self.paths = paths
        self.db = metadata
        self._layers = layers
        self._locks: dict[str, asyncio.Lock] = {}
        self._creating: set[str] = set()  # ids whose directory exists before their record
        self._stopping: set[str] = set()  # ids stopped, killed or removed on purpose

    def _load(self, row: Any) -> Container:
        return Container(json.loads(row["record"]), self.paths.containers / row["id"])

    def get(self, ref: str) -> Container:
        """By full id, by name, then by unique id prefix — Docker's order."""
        rows = self.db.lookup("containers", "id, record", ref, ref.lstrip("/"))
        if len(rows) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        if not rows:
            raise NotFound(f"No such container: {ref}")
        return self._load(rows[0])

    def get_running(self, ref: str) -> Container:
        """For the verbs that need a running container."""
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        return c

    def ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self.db.query("SELECT id FROM containers WHERE id LIKE ? || '%'", prefix)
        return [row["id"] for row in rows]

    def all(self) -> list[Container]:
        rows = self.db.query("SELECT id, record FROM containers ORDER BY created DESC")
        return [self._load(r) for r in rows]

    def exists(self, cid: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM containers WHERE id = ?", cid))

    def save(self, c: Container) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE containers SET record = ?, name = ? WHERE id = ?",
                (json.dumps(c.record), c.name, c.id),
            )

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One for a change that spans the records and what they hold (layers, links)."""
        return self.db.transaction()

    def insert(self, tx: sqlite3.Connection, c: Container, image_id: str, top_layer: str) -> None:
        """Store a new container's record, and its hold on its layers (the chain ID of the
        topmost, if any): Conflict if its name is taken."""
        holder = self.name_holder(tx, c.name)
        if holder:
            raise name_conflict(c.name, holder)
        tx.execute(
            "INSERT INTO containers (id, name, image_id, created, record) VALUES (?,?,?,?,?)",
            (c.id, c.name, image_id, c.record["Created"], json.dumps(c.record)),
        )
        if top_layer:
            tx.execute(
                "INSERT INTO container_layers (container_id, chain_id) VALUES (?, ?)",
                (c.id, top_layer),
            )

    def delete(self, tx: sqlite3.Connection, cid: str) -> None:
        tx.execute("DELETE FROM containers WHERE id = ?", (cid,))
        tx.execute("DELETE FROM container_layers WHERE container_id = ?", (cid,))

    @staticmethod
    def name_holder(tx: sqlite3.Connection, name: str) -> str:
        """The id of the container of that name, or ""."""
        row = tx.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
        return str(row["id"]) if row else ""

    def unused_name(self) -> str:
        while True:
            name = random_name()
            if not self.db.query("SELECT 1 FROM containers WHERE name = ?", name):
                return name

    def users_of_image(self, image_id: str) -> list[tuple[str, bool]]:
        """The containers made from the image: (id, whether it is running)."""
        rows = self.db.query(
            "SELECT id, json_extract(record, '$.State.Running') AS running FROM containers"
            " WHERE image_id = ?",
            image_id,
        )
        return [(r["id"], bool(r["running"])) for r in rows]

    def held_layers(self, cid: str) -> list[str]:
        """The chain IDs of the layers the container holds, base first (none for a container
        an older engine created: it holds no reference of its own)."""
        rows = self.db.query("SELECT chain_id FROM container_layers WHERE container_id = ?", cid)
        return self._layers.stack(rows[0]["chain_id"]) if rows else []

    @staticmethod
    def event_attributes(record: dict) -> dict[str, str]:
        labels = record["Config"].get("Labels") or {}
        return {**labels, "image": record["Config"]["Image"], "name": record["Name"].lstrip("/")}

    # ------------------------------------------------------------------ what is going on
    def lock(self, cid: str) -> asyncio.Lock:
        """Held by each operation that changes the container (start, rm, update, ...)."""
        return self._locks.setdefault(cid, asyncio.Lock())

    def forget_lock(self, cid: str) -> None:
        self._locks.pop(cid, None)

    def stopping(self, cid: str, on_purpose: bool = True) -> None:
        """Mark the container as stopped on purpose (stop, kill, rm: its restart policy
        must not start it again), or no longer (it starts)."""
        if on_purpose:
            self._stopping.add(cid)
        else:
            self._stopping.discard(cid)

    def stopped_on_purpose(self, cid: str) -> bool:
        return cid in self._stopping

    @contextlib.contextmanager
    def creating_one(self, cid: str) -> Iterator[None]:
        """While the container's directory exists before its record: not an orphan."""
        self._creating.add(cid)
        try:
            yield
        finally:
            self._creating.discard(cid)

    def creating(self) -> bool:
        """Whether a container is being created now."""
        return bool(self._creating)

    def busy(self, cid: str) -> bool:
        """Whether an operation is changing the container now (create, start, rm, ...):
        what its record and its files say may disagree until it is done."""
        lock = self._locks.get(cid)
        return cid in self._creating or (lock is not None and lock.locked())


def name_conflict(name: str, holder: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
