"""SQLite metadata: references, images, layers, containers, volumes, build cache.

One database file under the data root. Every change that matters happens in a
transaction, so a crash leaves either the old state or the new, never half.
Each service owns its tables and writes its own SQL; this module only opens
the database, creates the schema and hands out transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id          TEXT PRIMARY KEY,          -- sha256:<hex> of the config blob
    manifest    TEXT,                      -- sha256:<hex> of the manifest blob
    created     TEXT NOT NULL,             -- RFC 3339, from the config
    size        INTEGER NOT NULL,          -- sum of the unpacked layer sizes
    parent      TEXT NOT NULL DEFAULT '',  -- image this one was built or committed on
    loaded_at   REAL NOT NULL
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
    blob        TEXT NOT NULL DEFAULT ''   -- digest of the (uncompressed) tar in blobs/
);
CREATE TABLE IF NOT EXISTS containers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,      -- without the leading '/'
    image_id    TEXT NOT NULL,
    created     TEXT NOT NULL,
    record      TEXT NOT NULL              -- JSON: config, host config, state (engine.containers)
);
CREATE TABLE IF NOT EXISTS volumes (
    name        TEXT PRIMARY KEY,
    driver      TEXT NOT NULL,
    created     TEXT NOT NULL,
    labels      TEXT NOT NULL DEFAULT '{}',
    options     TEXT NOT NULL DEFAULT '{}'
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

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves in transaction().
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0

    def query(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def close(self) -> None:
        self.db.close()
