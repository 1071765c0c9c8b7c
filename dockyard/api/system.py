"""System routes: /_ping, /version, /info, /events, /system/df, /auth, and the swarm refusal."""

from __future__ import annotations

import asyncio
import base64
import contextlib

from aiohttp import web

from dockyard.api import query, responses, schema
from dockyard.api.body import json_body
from dockyard.api.engine_access import engine, transfers
from dockyard.api.versioning import api_at_least
from dockyard.errors import InvalidArgument, Unavailable

_PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Builder-Version": "1",
    "Swarm": "inactive",
}

# /system/df?type=… → the part of the answer it selects.
_DF_PARTS = {
    "container": "Containers",
    "image": "Images",
    "volume": "Volumes",
    "build-cache": "BuildCache",
}


async def ping(request: web.Request) -> web.Response:
    if request.method == "HEAD":
        return web.Response(
            headers={**_PING_HEADERS, "Content-Length": "0"},
            content_type="text/plain",
            charset="utf-8",
        )
    return web.Response(text="OK", headers=_PING_HEADERS, charset="utf-8")


async def version(request: web.Request) -> web.Response:
    return responses.json_response(engine(request).version())


async def info(request: web.Request) -> web.Response:
    return responses.json_response(engine(request).info())


async def disk_usage(request: web.Request) -> web.Response:
    usage = await asyncio.to_thread(engine(request).df)  # it walks trees: off the loop
    wanted = request.query.getall("type", [])
    if wanted and api_at_least(request, "1.42"):
        unknown = [kind for kind in wanted if kind not in _DF_PARTS]
        if unknown:
            raise InvalidArgument(f"unknown object type: {unknown[0]}")
        for kind, part in _DF_PARTS.items():
            if kind not in wanted:
                usage[part] = None
    return responses.json_response(usage)


async def events(request: web.Request) -> web.StreamResponse:
    since = query.optional_timestamp(request, "since")
    until = query.optional_timestamp(request, "until")
    if since is not None and until is not None and until < since:
        raise InvalidArgument(
            f"`since` time ({query.text(request, 'since')}) cannot be after "
            f"`until` time ({query.text(request, 'until')})"
        )
    subscription = engine(request).events.subscribe(since, until, query.filters(request))
    response = await responses.start_stream(request, "application/json")
    async with contextlib.aclosing(subscription):
        async for event in subscription:
            await responses.write_json(response, event)
    return response


async def auth(request: web.Request) -> web.Response:
    """POST /auth: check credentials with a registry, as ``docker login`` asks the daemon to."""
    body = await json_body(request, schema.AUTH_CONFIG) or {}
    username, password = body.get("username") or "", body.get("password") or ""
    if not username and body.get("auth"):
        username, _, password = _decode_auth(str(body["auth"]))
    server = body.get("serveraddress") or ""
    token = await asyncio.to_thread(transfers(request).login, server, username, password)
    return responses.json_response({"Status": "Login Succeeded", "IdentityToken": token})


def _decode_auth(auth: str) -> tuple[str, str, str]:
    try:
        return base64.b64decode(auth).decode().partition(":")
    except ValueError:
        raise InvalidArgument("invalid auth field in the auth config") from None


async def check(request: web.Request) -> web.Response:
    """The system check (engine/check.py): GET finds, POST finds and repairs."""
    findings = await engine(request).check.run(repair=request.method == "POST")
    return responses.json_response({"Findings": [finding.view() for finding in findings]})


async def swarm_leave(request: web.Request) -> web.Response:
    raise Unavailable("This node is not part of a swarm")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/_ping", ping),
        web.get("/version", version),
        web.get("/info", info),
        web.get("/events", events),
        web.get("/system/df", disk_usage),
        web.post("/auth", auth),
        web.get("/dockyard/check", check),
        web.post("/dockyard/check", check),
        web.post("/swarm/leave", swarm_leave),
    ]
