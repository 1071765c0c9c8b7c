"""``POST /build/session``: what the client's next build gets besides its context.

The body is ``{"Secrets": {"<id>": "<base64 value>"}, "SSH": {"<id>": "<socket>"},
"CacheExports": ["min"|"max", ...]}``; the answer ``{"ID": "<session>"}``, which
the build names as ``session``. An ssh agent's socket is a path on this
machine, so only a client on the local Unix socket may name one; a client
elsewhere forwards its agent instead (``api/agentforward.py``).
``CacheExports`` are local caches the build sends back in its response
(``{"cacheexport": "<base64>", "index": i}`` lines, a tar of each OCI layout)
for the client to write. A client elsewhere then uploads its directories as
tars: ``PUT /build/session/{id}/contexts?name=NAME`` (a ``--build-context``
directory) and ``PUT /build/session/{id}/caches`` (a ``--cache-from
type=local`` directory, one per request).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import socket
import stat
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.api import query, responses
from dockyard.api.body import body_file
from dockyard.api.engine_access import engine
from dockyard.engine.buildsessions import MODES, BuildSession
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.buildsessions import BuildSessions


def sessions(request: web.Request) -> BuildSessions:
    held: BuildSessions = engine(request).builds.sessions
    return held


def from_unix_socket(request: web.Request) -> bool:
    """Whether the client reached us on a Unix socket: it shares this machine's files."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport else None
    return sock is not None and sock.family == socket.AF_UNIX


async def open_session(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError as e:
        raise InvalidArgument(f"invalid build session: {e}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("invalid build session: expected a JSON object")
    session = BuildSession(
        _secrets(body.get("Secrets")),
        _agents(request, body.get("SSH")),
        _cache_exports(body.get("CacheExports")),
    )
    session_id = await asyncio.to_thread(sessions(request).open, session)
    return responses.json_response({"ID": session_id}, status=201)


async def upload_context(request: web.Request) -> web.Response:
    name = query.text(request, "name")
    if not name:
        raise InvalidArgument("a build context needs a name")
    tar = body_file(request)
    await asyncio.to_thread(sessions(request).add_context, request.match_info["id"], name, tar)
    return web.Response(status=204)


async def upload_cache(request: web.Request) -> web.Response:
    tar = body_file(request)
    await asyncio.to_thread(sessions(request).add_cache, request.match_info["id"], tar)
    return web.Response(status=204)


def _cache_exports(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(mode in MODES for mode in value):
        raise InvalidArgument('invalid build session: CacheExports must list "min" or "max"')
    return value


def _strings(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"invalid build session: {name} must map ids to strings")
    return value


def _secrets(value: Any) -> dict[str, bytes]:
    try:
        return {
            k: base64.b64decode(v, validate=True) for k, v in _strings(value, "Secrets").items()
        }
    except binascii.Error:
        raise InvalidArgument("invalid build session: a secret is not base64") from None


def _agents(request: web.Request, value: Any) -> dict[str, str]:
    agents = _strings(value, "SSH")
    if agents and not from_unix_socket(request):
        raise InvalidArgument(
            "ssh agent forwarding needs a client on this machine (the daemon's Unix socket)"
        )
    for ssh_id, path in agents.items():
        try:
            is_socket = os.path.isabs(path) and stat.S_ISSOCK(os.stat(path).st_mode)
        except OSError:
            is_socket = False
        if not is_socket:
            raise InvalidArgument(f"ssh agent {ssh_id}: {path} is not a socket")
    return agents


def routes() -> list[web.RouteDef]:
    return [
        web.post("/build/session", open_session),
        web.put("/build/session/{id}/contexts", upload_context),
        web.put("/build/session/{id}/caches", upload_cache),
    ]
