"""How a handler reaches the engine: ``request.app["engine"]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from dockyard.engine.containers import ContainerService
    from dockyard.engine.engine import Engine
    from dockyard.engine.execs import ExecService
    from dockyard.engine.images import ImageService
    from dockyard.engine.transfers import TransferService

ENGINE_KEY = "engine"


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]


def containers(request: web.Request) -> ContainerService:
    return engine(request).containers


def execs(request: web.Request) -> ExecService:
    return engine(request).execs


def images(request: web.Request) -> ImageService:
    return engine(request).images


def transfers(request: web.Request) -> TransferService:
    return engine(request).transfers
