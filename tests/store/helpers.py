"""Building layer tars in memory, and snapshots of a store to prove a failure changed nothing."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.store.blobs import BlobStore
from dockyard.store.layers import LayerStore
from dockyard.store.metadata import Metadata


@dataclass
class Store:
    root: Path
    metadata: Metadata
    blobs: BlobStore
    layers: LayerStore


def open_store(root: Path) -> Store:
    metadata = Metadata(root / "dockyard.db")
    blobs = BlobStore(root)
    return Store(root, metadata, blobs, LayerStore(root, metadata, blobs))


def entry(
    name: str, data: bytes | None = None, **attrs: object
) -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar member: a regular file when ``data`` is given, else what ``attrs`` say (type=...)."""
    info = tarfile.TarInfo(name)
    info.mtime = 1_600_000_000
    info.mode = 0o644 if data is not None else 0o755
    if data is None and "type" not in attrs:
        info.type = tarfile.DIRTYPE
    for key, value in attrs.items():
        setattr(info, key, value)
    if data is not None:
        info.size = len(data)
    return info, data


def make_tar(*entries: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def state(store: Store) -> dict[str, object]:
    """Everything a store holds: its image tables and every file under blobs/, layers/ and tmp/."""
    tables = {
        table: [tuple(row) for row in store.metadata.query(f"SELECT * FROM {table} ORDER BY 1")]
        for table in ("images", "refs", "layers")
    }
    files = {
        top: sorted(
            os.path.relpath(os.path.join(d, n), store.root / top)
            for d, dirs, names in os.walk(store.root / top)
            for n in dirs + names
        )
        for top in ("blobs", "layers", "tmp")
    }
    return {"tables": tables, "files": files}
