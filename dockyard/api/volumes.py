"""Volume routes: /volumes/... of the Engine API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.api import query, responses, schema
from dockyard.api.body import json_body
from dockyard.api.engine_access import engine
from dockyard.api.versioning import api_at_least

if TYPE_CHECKING:
    from dockyard.engine.volumes import VolumeService

# moby's volume.CreateOptions; ClusterVolumeSpec is for swarm, which this engine is not.
CREATE_OPTIONS = schema.Struct(
    "CreateOptions",
    {
        "Name": schema.STRING,
        "Driver": schema.STRING,
        "DriverOpts": schema.LABELS,
        "Labels": schema.LABELS,
    },
)


def volumes(request: web.Request) -> VolumeService:
    return engine(request).volumes


async def list_volumes(request: web.Request) -> web.Response:
    found = volumes(request).list(query.filters(request))
    return responses.json_response({"Volumes": found, "Warnings": None})


async def create(request: web.Request) -> web.Response:
    body = await json_body(request, CREATE_OPTIONS) or {}
    volume = volumes(request).create(
        name=body.get("Name") or None,
        driver=body.get("Driver") or "local",
        driver_opts=body.get("DriverOpts"),
        labels=body.get("Labels"),
    )
    return responses.json_response(volume, status=201)


async def inspect(request: web.Request) -> web.Response:
    return responses.json_response(volumes(request).inspect(request.match_info["name"]))


async def remove(request: web.Request) -> web.Response:
    await volumes(request).remove(request.match_info["name"], force=query.flag(request, "force"))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = query.filters(request)
    if not api_at_least(request, "1.42"):
        # Before API 1.42 a prune removed named volumes too.
        filters["all"] = sorted({*filters.get("all", []), "true"})
    return responses.json_response(await volumes(request).prune(filters))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/volumes", list_volumes),
        web.post("/volumes/create", create),
        web.post("/volumes/prune", prune),
        web.get("/volumes/{name}", inspect),
        web.delete("/volumes/{name}", remove),
    ]
