"""Network routes: /networks/... of the Engine API."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aiohttp import web

from dockyard.api import query, responses, schema
from dockyard.api.body import json_body
from dockyard.api.engine_access import engine
from dockyard.errors import NotFound

if TYPE_CHECKING:
    from dockyard.engine.networks import NetworkService

# moby's network.CreateRequest (swarm-only fields are accepted and ignored).
_IPAM_CONFIG = schema.Struct(
    "IPAMConfig",
    {
        "Subnet": schema.STRING,
        "IPRange": schema.STRING,
        "Gateway": schema.STRING,
        "AuxiliaryAddresses": schema.LABELS,
    },
)
CREATE_REQUEST = schema.Struct(
    "CreateRequest",
    {
        "Name": schema.STRING,
        "CheckDuplicate": schema.BOOL,
        "Driver": schema.STRING,
        "Scope": schema.STRING,
        "EnableIPv4": schema.BOOL,
        "EnableIPv6": schema.BOOL,
        "IPAM": schema.Struct(
            "IPAM",
            {
                "Driver": schema.STRING,
                "Options": schema.LABELS,
                "Config": schema.ListOf(_IPAM_CONFIG),
            },
        ),
        "Internal": schema.BOOL,
        "Attachable": schema.BOOL,
        "Ingress": schema.BOOL,
        "ConfigOnly": schema.BOOL,
        "Options": schema.LABELS,
        "Labels": schema.LABELS,
    },
)
# The EndpointSettings of a container create request's NetworkingConfig.
_ENDPOINT_SETTINGS = cast(
    schema.MapOf,
    cast(schema.Struct, schema.CREATE_REQUEST.fields["NetworkingConfig"]).fields["EndpointsConfig"],
).value
CONNECT_REQUEST = schema.Struct(
    "ConnectOptions", {"Container": schema.STRING, "EndpointConfig": _ENDPOINT_SETTINGS}
)
DISCONNECT_REQUEST = schema.Struct(
    "DisconnectOptions", {"Container": schema.STRING, "Force": schema.BOOL}
)


def networks(request: web.Request) -> NetworkService:
    return engine(request).networks


async def list_networks(request: web.Request) -> web.Response:
    return responses.json_response(networks(request).list(query.filters(request)))


async def create(request: web.Request) -> web.Response:
    body = await json_body(request, CREATE_REQUEST, required=True) or {}
    ipam = body.get("IPAM") or {}
    if (ipam.get("Driver") or "default") != "default":
        raise NotFound(f'plugin "{ipam["Driver"]}" not found')  # moby's, for a missing driver
    created = networks(request).create(
        name=body.get("Name") or "",
        driver=body.get("Driver") or "bridge",
        ipam_config=ipam.get("Config") or [],
        options=body.get("Options"),
        labels=body.get("Labels"),
        internal=bool(body.get("Internal")),
        attachable=bool(body.get("Attachable")),
        ipam_options=ipam.get("Options") if body.get("IPAM") is not None else None,
        enable_ipv6=bool(body.get("EnableIPv6")),
    )
    return responses.json_response(created, status=201)


async def inspect(request: web.Request) -> web.Response:
    return responses.json_response(networks(request).inspect(request.match_info["id"]))


async def remove(request: web.Request) -> web.Response:
    networks(request).remove(request.match_info["id"])
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    body = await json_body(request, CONNECT_REQUEST, required=True) or {}
    networks(request).connect(
        request.match_info["id"], body.get("Container") or "", body.get("EndpointConfig")
    )
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    body = await json_body(request, DISCONNECT_REQUEST, required=True) or {}
    networks(request).disconnect(
        request.match_info["id"], body.get("Container") or "", bool(body.get("Force"))
    )
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    return responses.json_response(networks(request).prune(query.filters(request)))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/networks", list_networks),
        web.post("/networks/create", create),
        web.post("/networks/prune", prune),
        web.get("/networks/{id}", inspect),
        web.delete("/networks/{id}", remove),
        web.post("/networks/{id}/connect", connect),
        web.post("/networks/{id}/disconnect", disconnect),
    ]
