"""The Engine API server: an aiohttp application on Unix sockets and TCP (with TLS).

Each resource has its route module (``system``, ``containers``, ``exec``,
``images``, ``build``) exposing ``routes()``; every route is served both as
it is and under a ``/v1.NN`` prefix.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.api.connection import HEAD_LIMITS, Connection
from dockyard.api.engine_access import ENGINE_KEY
from dockyard.api.errors import error_middleware
from dockyard.api.tls import TLSServerProtocol
from dockyard.api.versioning import PATH_PART, add_standard_headers, version_middleware

if TYPE_CHECKING:
    import ssl

    from dockyard.api.listeners import Listener
    from dockyard.engine.engine import Engine

log = logging.getLogger(__name__)

ROUTE_MODULES = (
    "system",
    "containers",
    "exec",
    "images",
    "build",
    "buildsession",
    "agentforward",
    "volumes",
    "networks",
)
VERSION_PREFIX = "/{" + PATH_PART + r":v[0-9][0-9.]*}"
# Streams (events, logs -f, attach) never finish by themselves: on shutdown
# give requests this long, then cancel them.
SHUTDOWN_TIMEOUT = 1.0


def _routes() -> Iterator[web.RouteDef]:
    for name in ROUTE_MODULES:
        module_name = f"{__package__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            log.info("no %s routes: %s is not installed", name, module_name)
            continue
        yield from module.routes()


def versioned(route: web.RouteDef) -> list[web.RouteDef]:
    """The route as it is and under the /v1.NN prefix."""
    prefixed = web.RouteDef(route.method, VERSION_PREFIX + route.path, route.handler, route.kwargs)
    return [route, prefixed]


def make_app(engine: Engine) -> web.Application:
    # Docker does not limit JSON bodies; 64 MiB is far above any real one.
    app = web.Application(
        middlewares=[error_middleware, version_middleware], client_max_size=64 * 2**20
    )
    with warnings.catch_warnings():
        # "engine" is the documented key route modules of other teams use.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app[ENGINE_KEY] = engine
    app.on_response_prepare.append(add_standard_headers)
    app.add_routes([each for route in _routes() for each in versioned(route)])
    return app


async def serve(
    engine: Engine,
    listeners: list[Listener],
    tls: ssl.SSLContext | None,
    stop: asyncio.Event,
    access_log: bool,
) -> None:
    """Serve the API on every listener until ``stop`` is set.

    Unix sockets and TCP, with TLS or without, are served by the same
    connections (api/connection.py): TLS only sits between them and the socket.
    """
    runner = web.AppRunner(
        make_app(engine), handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    manager, loop = runner.server, asyncio.get_running_loop()
    assert manager is not None  # set up

    def connection() -> Connection:
        # Our own connections rather than aiohttp's sites: see api/connection.py.
        return Connection(manager, loop=loop, access_log=log if access_log else None, **HEAD_LIMITS)

    def tls_connection() -> TLSServerProtocol:
        assert tls is not None
        return TLSServerProtocol(tls, connection)

    servers: list[asyncio.AbstractServer] = []
    try:
        for listener in listeners:
            if listener.sock.family == socket.AF_UNIX:
                servers.append(await loop.create_unix_server(connection, sock=listener.sock))
            else:
                factory = tls_connection if tls is not None else connection
                servers.append(await loop.create_server(factory, sock=listener.sock))
            log.info("API listening on %s", listener.host)
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        await runner.cleanup()
