"""Where a build's result goes (``--output``), as the daemon takes it.

``image`` (the default) stores and tags the image, and with ``push=true``
(``registry``: BuildKit's alias) pushes it by each of its names. The others are archives
the client writes on its own side, so they work with a daemon elsewhere as
buildx's do: ``local`` and ``tar`` (the final stage's files, as a tar the
client unpacks into a directory or keeps) and ``docker``/``oci`` (the image
as BuildKit's exporters of those names write it: a docker-archive that is
also an OCI layout, and an OCI layout; ``tar=false``, a layout directory, is
the client's doing). The daemon sends the archive in the build response
itself, as ``{"export": "<base64 of the next bytes>"}`` lines after the
build's own messages; the destination never leaves the client.

The API parameter is moby's ``outputs``: ``[{"Type": "local", "Attrs": {}}]``.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.units import parse_bool

EXPORT_KEY = "export"
# A local cache sent back to the client: {"cacheexport": "<base64>", "index": i}, the
# i-th cache its session asked for, as a tar of the OCI layout.
CACHE_EXPORT_KEY = "cacheexport"
IMAGE = "image"
FILE_TYPES = ("local", "tar")  # the final stage's files, no image
ARCHIVE_TYPES = ("docker", "oci")  # the image, as an archive
_CHUNK = 1 << 18  # bytes per message: a line the client splits cheaply
# The attributes each type takes (``dest`` stays with the client).
_ARCHIVE_ATTRIBUTES = {"name", "oci-mediatypes", "tar"}
_ATTRIBUTES = {
    IMAGE: {"name", "push"},
    "local": set(),
    "tar": set(),
    "docker": _ARCHIVE_ATTRIBUTES,
    "oci": _ARCHIVE_ATTRIBUTES,
}
_BOOLEANS = ("oci-mediatypes", "tar", "push")
_EMPTY_IS_TRUE = ("tar", "push")  # BuildKit reads a bare key as true


@dataclass(frozen=True)
class Output:
    type: str = IMAGE
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """The ``name=`` attribute: image names, comma-separated, as BuildKit's."""
        return [n for n in self.attrs.get("name", "").split(",") if n]

    @property
    def oci_types(self) -> bool:
        """``oci-mediatypes``: OCI's media types (the oci exporter's default) or Docker's
        (the docker exporter's, as BuildKit before its compatibility version 0.31)."""
        value = self.attrs.get("oci-mediatypes")
        return self.type == "oci" if value is None else parse_bool(value)

    @property
    def push(self) -> bool:
        """``push``: the image goes to its registries too, by each of its names."""
        value = self.attrs.get("push")
        return value is not None and (value == "" or parse_bool(value))


def parse_outputs(raw: str) -> Output:
    """The ``outputs`` query parameter; at most one output, of a type this engine has."""
    if not raw:
        return Output()
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid outputs parameter: {e}") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidArgument("invalid outputs parameter: expected a JSON list of objects")
    if len(value) > 1:
        raise InvalidArgument("multiple outputs currently unsupported")
    if not value:
        return Output()
    return _output(value[0])


def _output(entry: dict[str, Any]) -> Output:
    kind = entry.get("Type") or ""
    attrs = entry.get("Attrs") or {}
    if not isinstance(kind, str) or not kind:
        raise InvalidArgument("type is required for output")
    if not isinstance(attrs, dict) or not all(isinstance(v, str) for v in attrs.values()):
        raise InvalidArgument("invalid outputs parameter: Attrs must map names to strings")
    if kind == "registry":
        kind, attrs = IMAGE, {"push": "true", **attrs}
    known = _ATTRIBUTES.get(kind)
    if known is None:
        raise InvalidArgument(f'exporter "{kind}" could not be found')
    unknown = sorted(set(attrs) - known)
    if unknown:
        raise InvalidArgument(f"unknown key {unknown[0]!r} for the {kind} exporter")
    for key in _BOOLEANS:
        value = attrs.get(key)
        if value is None or (key in _EMPTY_IS_TRUE and not value):
            continue
        try:
            parse_bool(value)
        except InvalidArgument as e:
            raise InvalidArgument(f"non-bool value specified for {key}: {e.message}") from None
    return Output(kind, dict(attrs))


class ExportStream(io.RawIOBase):
    """A writable stream that sends what is written as export messages (``key``), a chunk
    at a time."""

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], None],
        key: str = EXPORT_KEY,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._key = key
        self._extra = extra or {}  # more fields of each message
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) >= _CHUNK:
            self._send(bytes(self._buffer[:_CHUNK]))
            del self._buffer[:_CHUNK]
        return len(data)

    def flush(self) -> None:
        if self._buffer and not self.closed:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def _send(self, data: bytes) -> None:
        self._emit({self._key: base64.b64encode(data).decode(), **self._extra})
