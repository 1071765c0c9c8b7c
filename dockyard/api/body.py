"""Request bodies: JSON checked like moby's decoder, and raw bodies for worker threads."""

from __future__ import annotations

import asyncio
import io
import json
from typing import BinaryIO

from aiohttp import web

from dockyard.api import schema
from dockyard.errors import InvalidArgument

EMPTY_BODY = "invalid JSON: got EOF while reading request body"


def _require_json_content_type(request: web.Request, raw: bytes) -> None:
    content_type = request.headers.get("Content-Type", "")
    if not content_type and not raw:
        return
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidArgument(
            f"unsupported Content-Type header ({content_type}): must be 'application/json'"
        )


async def json_body(
    request: web.Request, kind: schema.Struct, required: bool = False
) -> dict | None:
    """The body checked against ``kind``; None when it is ``null`` or (if allowed) empty."""
    raw = await request.read()
    _require_json_content_type(request, raw)
    if not raw.strip():
        if required:
            raise InvalidArgument(EMPTY_BODY)
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    if value is None:
        return None
    return schema.check(value, kind)


class BodyReader(io.RawIOBase):
    """The request body as a blocking binary file, for engine work run in a thread.

    Each read waits on the event loop for the next piece of the body, so a
    large upload (an import, a build context, a ``cp`` into a container)
    streams through without being held in memory or on disk.
    """

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._content = request.content
        self._loop = loop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        pending = asyncio.run_coroutine_threadsafe(self._content.read(len(buffer)), self._loop)
        data = pending.result()
        buffer[: len(data)] = data
        return len(data)


def body_file(request: web.Request) -> BinaryIO:
    """The body as a buffered blocking file; read it only from a worker thread."""
    return io.BufferedReader(BodyReader(request, asyncio.get_running_loop()), 1 << 20)
