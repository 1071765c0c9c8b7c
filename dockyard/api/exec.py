"""Exec routes: POST /containers/{id}/exec and /exec/{id}/...."""

from __future__ import annotations

import contextlib

from aiohttp import web

from dockyard import stdcopy
from dockyard.api import detach, hijack, query, responses, schema
from dockyard.api.body import json_body
from dockyard.api.engine_access import execs
from dockyard.api.versioning import api_at_least
from dockyard.errors import DockyardError


async def create(request: web.Request) -> web.Response:
    body = await json_body(request, schema.EXEC_CONFIG) or {}
    if not api_at_least(request, "1.42"):
        body.pop("ConsoleSize", None)
    exec_id = execs(request).create(request.match_info["id"], body)
    return responses.json_response({"Id": exec_id}, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, schema.EXEC_START_CONFIG) or {}
    exec_id = request.match_info["id"]
    service = execs(request)
    details = service.inspect(exec_id)  # an unknown exec is a 404, before any hijack
    tty = bool(body.get("Tty"))
    keys = detach.parse(details.get("DetachKeys") or detach.DEFAULT)
    if body.get("Detach"):
        await service.start(exec_id, detach=True, tty=tty)
        return web.Response()
    # Framing follows this request's Tty, not the exec's (docker-py relies on it).
    connection, response = hijack.hijack(request, hijack.stream_content_type(request, tty))
    with contextlib.closing(connection):
        try:
            stream = await service.start(exec_id, detach=False, tty=tty)
        except DockyardError as exc:
            # Past the 101 the only way to report is in the stream, as moby does.
            message = f"{exc.message}\r\n".encode()
            with contextlib.suppress(ConnectionError):
                await connection.write(message if tty else stdcopy.frame(stdcopy.STDOUT, message))
            return response
        assert stream is not None  # only a detached start has no stream
        size = body.get("ConsoleSize")
        if tty and size and len(size) == 2 and api_at_least(request, "1.42"):
            # The process may be gone already; the client sends its own resize too.
            with contextlib.suppress(DockyardError):
                service.resize(exec_id, size[0], size[1])
        watcher = detach.DetachWatcher(keys) if tty else None
        await hijack.pipe(connection, stream, watcher)
    return response


async def inspect(request: web.Request) -> web.Response:
    return responses.json_response(execs(request).inspect(request.match_info["id"]))


async def resize(request: web.Request) -> web.Response:
    height = query.dimension(request, "h", "height")
    width = query.dimension(request, "w", "width")
    execs(request).resize(request.match_info["id"], height, width)
    return web.Response()


def routes() -> list[web.RouteDef]:
    return [
        web.post("/containers/{id}/exec", create),
        web.post("/exec/{id}/start", start),
        web.get("/exec/{id}/json", inspect),
        web.post("/exec/{id}/resize", resize),
    ]
