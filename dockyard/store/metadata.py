"""SQLite metadata: references, images, layers, containers, volumes, networks, build cache.

One database file under the data root. Every change that matters happens in a
transaction, so a crash leaves either the old state or the new, never half.
Each service owns its tables and writes its own SQL; this module only opens
the database, creates the schema and hands out transactions.

The data root is shared with what containers write: a container can fill the
disk. The database keeps a reserve (``dockyard.db-reserve``, a file of
``RESERVE_BYTES``) that it gives back when the disk is all but full, so that it
can still record what happens next (a container's exit, the removals that free
space) and open again; the reserve is taken back once the space has returned.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dockyard.config import PRIVATE_FILE_MODE
from dockyard.errors import SystemError as EngineSystemError

RESERVE_BYTES = 4 << 20

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,          -- sha256:<hex> of the config blob
    manifest    TEXT,                      -- sha256:<hex> of the manifest blob
    created     TEXT NOT NULL,             -- RFC 3339, from the config
    size        INTEGER NOT NULL,          -- sum of the unpacked layer sizes
    parent      TEXT NOT NULL DEFAULT '',  -- image this one was built or committed on
    loaded_at   REAL NOT NULL,
    last_tagged TEXT NOT NULL DEFAULT ''   -- RFC 3339 time of the last tag, '' if never tagged
);
CREATE TABLE IF NOT EXISTS image_indexes (   -- the multi-platform index an image was pulled through
    image_id    TEXT PRIMARY KEY REFERENCES images(id),
    digest      TEXT NOT NULL,             -- sha256:<hex> of the index blob, as received
    source      TEXT NOT NULL              -- "domain/path" of the repository it came from
);
CREATE TABLE IF NOT EXISTS refs (
    name        TEXT PRIMARY KEY,          -- normalized "repo:tag" or "repo@sha256:..."
    image_id    TEXT NOT NULL REFERENCES images(id)
);
CREATE TABLE IF NOT EXISTS layers (
    chain_id    TEXT PRIMARY KEY,
    diff_id     TEXT NOT NULL,
    parent      TEXT NOT NULL DEFAULT '',  -- chain id of the layer below, '' for a base layer
    size        INTEGER NOT NULL,          -- bytes of the unpacked diff
    blob        TEXT NOT NULL DEFAULT '',  -- digest of the (uncompressed) tar in blobs/
    refs        INTEGER NOT NULL DEFAULT 0 -- images and containers whose chain holds this layer
);
CREATE TABLE IF NOT EXISTS layer_blobs (     -- compressed forms of layer tars, kept to push as they are
    digest      TEXT PRIMARY KEY,          -- sha256:<hex> of the compressed blob in blobs/
    diff_id     TEXT NOT NULL,             -- the layer tar it unpacks to
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    source      TEXT NOT NULL DEFAULT ''   -- "domain/path" of the repository it was pulled from
);
CREATE TABLE IF NOT EXISTS containers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,      -- without the leading '/'
    image_id    TEXT NOT NULL,
    created     TEXT NOT NULL,
    record      TEXT NOT NULL              -- JSON: config, host config, state (engine.containers)
);
CREATE TABLE IF NOT EXISTS container_layers ( -- the image layers a container holds, from create to rm
    container_id TEXT PRIMARY KEY,
    chain_id     TEXT NOT NULL               -- the top one; a container of an older engine has no row
);
CREATE TABLE IF NOT EXISTS volumes (
    name        TEXT PRIMARY KEY,
    driver      TEXT NOT NULL,
    created     TEXT NOT NULL,
    labels      TEXT NOT NULL DEFAULT '{}',
    options     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS networks (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL,             -- RFC 3339
    record      TEXT NOT NULL              -- JSON: the network's inspect document, without Containers
);
CREATE TABLE IF NOT EXISTS endpoints (       -- a running container's place on a network
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL,
    address      TEXT NOT NULL,            -- its IPv4 address, unique in the network
    record       TEXT NOT NULL,            -- JSON: endpoint id, MAC, interface names, published ports
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, address)
);
CREATE TABLE IF NOT EXISTS links (          -- legacy links (--link on the default bridge)
    parent_id   TEXT NOT NULL,
    alias       TEXT NOT NULL,             -- the link's name is /<parent name>/<alias>
    child_id    TEXT NOT NULL,
    PRIMARY KEY (parent_id, alias)
);
CREATE TABLE IF NOT EXISTS build_cache (
    key         TEXT PRIMARY KEY,          -- sha256 of the step's inputs
    image_id    TEXT NOT NULL,
    inputs      TEXT NOT NULL,             -- JSON of the inputs, for --explain
    created     REAL NOT NULL,
    last_used   REAL NOT NULL
);
"""


class Metadata:
    """The engine's SQLite database."""

    def __init__(self, path: Path, reserve: int = RESERVE_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.reserve = DiskReserve(path.with_name(path.name + "-reserve"), reserve)
        self.reserve.keep()
        # Made private before SQLite opens it: its -wal and -shm files take the database's mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE))
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves in transaction().
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        with _disk_full_as_error():
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        # One connection serves the event loop and the worker threads (import, build):
        # a transaction holds the lock from BEGIN to COMMIT, and only its own thread nests.
        self._lock = threading.RLock()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls in the same thread join the outer one."""
        with self._lock:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                if depth:
                    yield self.db
                    return
                self.reserve.keep()
                with _disk_full_as_error():
                    self.db.execute("BEGIN IMMEDIATE")
                    try:
                        yield self.db
                        self._commit()
                    except BaseException:
                        if self.db.in_transaction:
                            self.db.execute("ROLLBACK")
                        raise
            finally:
                self._local.depth = depth

    def _commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            full = getattr(e, "sqlite_errorname", "") == "SQLITE_FULL"
            if not (full and self.db.in_transaction and self.reserve.release()):
                raise
            self.db.execute("COMMIT")  # into the room the reserve made

    def query(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def lookup(self, table: str, columns: str, ref: str, name: str) -> list[sqlite3.Row]:
        """Docker's lookup of a container or network: the row whose id is ``ref``, else
        the one named ``name``, else those whose id starts with ``ref``. One row, none,
        or, for an ambiguous prefix, every row it matches. ``table`` and ``columns`` are
        the caller's constants, never input."""
        rows = self.query(f"SELECT {columns} FROM {table} WHERE id = ? OR name = ?", ref, name)
        if rows:
            return [next((r for r in rows if r["id"] == ref), rows[0])]
        if not ref:
            return []
        return self.query(f"SELECT {columns} FROM {table} WHERE id LIKE ? || '%'", ref.lower())

    def close(self) -> None:
        self.db.close()


class DiskReserve:
    """A file holding ``size`` bytes of the disk for the database: given back when the
    disk is nearly full, taken again when there is room for it twice over."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self.held = path.exists()

    def keep(self) -> None:
        if not self.size:
            return
        st = os.statvfs(self.path.parent)
        free = st.f_bfree * st.f_frsize  # root's view: the engine may use the reserved blocks
        if self.held and free < self.size:
            self.release()
        elif not self.held and free > 3 * self.size:
            self.held = self._take()

    def release(self) -> bool:
        """Give the reserve back now; whether there was one to give."""
        held, self.held = self.held, False
        self.path.unlink(missing_ok=True)
        return held

    def _take(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        except OSError:
            return False
        try:
            os.posix_fallocate(fd, 0, self.size)
            return True
        except OSError:  # taken meanwhile by another writer
            self.path.unlink(missing_ok=True)
            return False
        finally:
            os.close(fd)


@contextlib.contextmanager
def _disk_full_as_error() -> Iterator[None]:
    """SQLite's "database or disk is full" as the engine's error, which clients are shown."""
    try:
        yield
    except sqlite3.OperationalError as e:
        if getattr(e, "sqlite_errorname", "") != "SQLITE_FULL":
            raise
        raise EngineSystemError(f"no space left on device: the engine's database: {e}") from None
