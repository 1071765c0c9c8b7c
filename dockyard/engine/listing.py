"""What `docker ps` reads of the containers: one query, and each image name looked up once.

A record is a few kilobytes of JSON of which a summary shows a dozen fields:
SQLite extracts those (json_extract with many paths parses the record once and
answers a JSON array), so a listing of a thousand containers decodes kilobytes,
not megabytes, and reads no file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockyard.engine.container import Container
from dockyard.errors import InvalidArgument, NotFound
from dockyard.store.metadata import Metadata

# The record's fields a summary and the `ps` filters read (engine/containers.py).
LISTED_FIELDS = (
    "$.Id",
    "$.Name",
    "$.Image",
    "$.Created",
    "$.Path",
    "$.Args",
    "$.State",
    "$.Config.Image",
    "$.Config.Labels",
    "$.Config.ExposedPorts",
    "$.HostConfig.NetworkMode",
    "$.NetworkSettings.Networks",
    "$.NetworkSettings.Ports",
    "$.Mounts",
)
# Each field as (its parents' keys, its key): "$.Config.Image" is (("Config",), "Image").
_KEYS = [
    (tuple(keys[:-1]), keys[-1])
    for keys in (p.removeprefix("$.").split(".") for p in LISTED_FIELDS)
]
_QUERY = (
    "SELECT id, json_extract(record, {}) AS fields FROM containers ORDER BY created DESC".format(
        ", ".join(f"'{path}'" for path in LISTED_FIELDS)
    )
)


def listed_containers(db: Metadata, containers_dir: Path) -> list[Container]:
    """Every container, newest first, its record holding only LISTED_FIELDS."""
    return [
        Container(_partial_record(json.loads(row["fields"])), containers_dir / row["id"])
        for row in db.query(_QUERY)
    ]


def _partial_record(values: list[Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for (parents, key), value in zip(_KEYS, values, strict=True):
        node = record
        for parent in parents:  # made even when its fields are null: summaries index them
            node = node.setdefault(parent, {})
        if value is not None:
            node[key] = value
    return record


class ImageNames:
    """What `ps` shows as a container's image (moby's refreshImage): the name it was made
    from while that still names its image, else the image's ID. Each name is resolved once
    per listing."""

    def __init__(self, images: Any) -> None:
        self._images = images
        self._ids: dict[str, str] = {}

    def shown(self, c: Container) -> str:
        name, image_id = str(c.config["Image"]), str(c.record["Image"])
        return name if name == image_id or self._id_of(name) == image_id else image_id

    def _id_of(self, name: str) -> str:
        if name not in self._ids:
            try:
                self._ids[name] = self._images.id_of(name)
            except (NotFound, InvalidArgument):
                self._ids[name] = ""
        return self._ids[name]
