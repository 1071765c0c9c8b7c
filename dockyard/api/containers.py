"""Container routes: /containers/... of the Engine API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
from typing import Any, BinaryIO

from aiohttp import web

from dockyard import platforms, stdcopy
from dockyard.api import detach, hijack, query, responses, schema
from dockyard.api.body import body_file, json_body
from dockyard.api.engine_access import containers
from dockyard.api.versioning import api_at_least
from dockyard.engine import processes
from dockyard.errors import InvalidArgument
from dockyard.network.linkspec import is_user_defined

STAT_HEADER = "X-Docker-Container-Path-Stat"
STATS_INTERVAL = 1.0
_START_BODY_REMOVED = (
    "starting container with non-empty request body was deprecated since API v1.22 "
    "and removed in v1.24"
)


def _no_content() -> web.Response:
    return web.Response(status=204)


async def list_containers(request: web.Request) -> web.Response:
    size = query.flag(request, "size")

    def listing() -> list[dict[str, Any]]:
        return containers(request).list(
            all=query.flag(request, "all"),
            limit=query.integer(request, "limit", -1),
            size=size,
            filters=query.filters(request),
        )

    # Sizes walk each container's tree: in a worker, so that the loop serves others.
    return responses.json_response(await asyncio.to_thread(listing) if size else listing())


async def create(request: web.Request) -> web.Response:
    body = await json_body(request, schema.CREATE_REQUEST, required=True)
    if body is None or not set(body) - {"HostConfig", "NetworkingConfig"}:
        raise InvalidArgument("config cannot be empty in order to create a container")
    name = query.text(request, "name") or None
    wanted = query.text(request, "platform") if api_at_least(request, "1.41") else ""
    platform = platforms.parse(wanted) if wanted else None
    _name_default_network(body)
    warnings = _move_container_mac(body, api_at_least(request, "1.44"))
    created = await containers(request).create(body, name, platform)
    if warnings:
        created["Warnings"] = [*(created["Warnings"] or []), *warnings]
    return responses.json_response(created, status=201)


MAC_DEPRECATED = (
    "The container-wide MacAddress field is now deprecated. "
    "It should be specified in EndpointsConfig instead."
)


def _name_default_network(body: dict[str, Any]) -> None:
    """NetworkMode "" or "default" is "bridge", and so is an EndpointsConfig "default"
    entry, as moby names them before anything else looks at them."""
    host_config = body.get("HostConfig")
    if host_config is None or (host_config.get("NetworkMode") or "default") != "default":
        return
    host_config["NetworkMode"] = "bridge"
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    if "default" in endpoints:
        endpoints["bridge"] = endpoints.pop("default")


def _move_container_mac(body: dict[str, Any], v1_44: bool) -> list[str]:
    """moby's handleMACAddressBC: the container-wide Config.MacAddress (deprecated in
    1.44) becomes the MacAddress of the endpoint on the network the container is
    created on; from 1.44 with a warning. The warnings to add."""
    mac = body.pop("MacAddress", None) or ""
    mode = (body.get("HostConfig") or {}).get("NetworkMode") or "bridge"
    on_a_network = mode not in ("host", "none") and not mode.startswith("container:")
    if not v1_44:
        if not mac:
            endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
            for endpoint in endpoints.values():  # a field the old API did not have
                if endpoint:
                    endpoint["MacAddress"] = ""
            return []
        if not on_a_network:
            raise InvalidArgument("conflicting options: mac-address and the network mode")
        _endpoint_of(body, mode, v1_44)["MacAddress"] = mac
        return []
    if not mac:
        return []
    if on_a_network:
        endpoint = _endpoint_of(body, mode, v1_44)
        if not endpoint.get("MacAddress"):
            endpoint["MacAddress"] = mac
        elif endpoint["MacAddress"] != mac:
            raise InvalidArgument(
                "the container-wide MAC address must match the endpoint-specific MAC address "
                "for the main network, or be left empty"
            )
    return [MAC_DEPRECATED]


def _endpoint_of(body: dict[str, Any], mode: str, v1_44: bool) -> dict[str, Any]:
    """moby's epConfigForNetMode: the EndpointsConfig entry of the NetworkMode network
    (made when there is none; before 1.44 there is at most one, whatever its name)."""
    networking = body["NetworkingConfig"] = body.get("NetworkingConfig") or {}
    endpoints = networking["EndpointsConfig"] = networking.get("EndpointsConfig") or {}
    if not endpoints:
        key = mode
    elif not v1_44:
        key = next(iter(endpoints))
    elif mode in endpoints:
        key = mode
    else:
        raise InvalidArgument(
            "unable to migrate container-wide MAC address to a specific network: "
            "HostConfig.NetworkMode must match the identity of a network in "
            "NetworkSettings.Networks"
        )
    endpoints[key] = endpoints.get(key) or {}
    return endpoints[key]


async def inspect(request: web.Request) -> web.Response:
    id_, size = request.match_info["id"], query.flag(request, "size")
    inspect = functools.partial(containers(request).inspect, id_, size=size)
    record = await asyncio.to_thread(inspect) if size else inspect()  # as list's sizes
    if not api_at_least(request, "1.45"):
        record = _with_legacy_aliases(record)
    return responses.json_response(record)


def _with_legacy_aliases(record: dict[str, Any]) -> dict[str, Any]:
    """Before API 1.45 the Aliases of a user-defined network's endpoint also held the
    container's short ID and hostname (moby's inspect route keeps them for old clients)."""
    extra = [record["Id"][:12], record["Config"]["Hostname"]]
    networks = {}
    for name, endpoint in record["NetworkSettings"]["Networks"].items():
        if is_user_defined(name):
            aliases = dict.fromkeys([*(endpoint.get("Aliases") or []), *extra])
            endpoint = {**endpoint, "Aliases": [a for a in aliases if a]}
        networks[name] = endpoint
    return {**record, "NetworkSettings": {**record["NetworkSettings"], "Networks": networks}}


async def top(request: web.Request) -> web.Response:
    ps_args = query.text(request, "ps_args") or "-ef"
    return responses.json_response(await containers(request).top(request.match_info["id"], ps_args))


async def changes(request: web.Request) -> web.Response:
    return responses.json_response(containers(request).changes(request.match_info["id"]))


async def start(request: web.Request) -> web.Response:
    # A JSON object with any field in it is longer than 7 bytes (moby's test).
    chunked = request.content_length is None and request.body_exists
    if chunked or (request.content_length or 0) > 7:
        raise InvalidArgument(_START_BODY_REMOVED)
    # Shielded, as moby detaches these from the request: a client that hangs
    # up must not leave a container half started or half stopped.
    await asyncio.shield(containers(request).start(request.match_info["id"]))
    return _no_content()


async def stop(request: web.Request) -> web.Response:
    await asyncio.shield(
        containers(request).stop(
            request.match_info["id"],
            timeout=query.optional_int(request, "t"),
            signal=query.text(request, "signal") or None,
        )
    )
    return _no_content()


async def restart(request: web.Request) -> web.Response:
    timeout = query.optional_int(request, "t")
    await asyncio.shield(containers(request).restart(request.match_info["id"], timeout=timeout))
    return _no_content()


async def kill(request: web.Request) -> web.Response:
    signal = query.text(request, "signal") or "KILL"
    await asyncio.shield(containers(request).kill(request.match_info["id"], signal))
    return _no_content()


async def remove(request: web.Request) -> web.Response:
    await asyncio.shield(
        containers(request).remove(
            request.match_info["id"],
            force=query.flag(request, "force"),
            volumes=query.flag(request, "v"),
            link=query.flag(request, "link"),
        )
    )
    return _no_content()


async def rename(request: web.Request) -> web.Response:
    containers(request).rename(request.match_info["id"], query.text(request, "name"))
    return _no_content()


async def update(request: web.Request) -> web.Response:
    """POST /containers/{id}/update: UpdateConfig is Resources plus RestartPolicy."""
    changes = await json_body(request, schema.HOST_CONFIG, required=True) or {}
    if not api_at_least(request, "1.40"):
        changes.pop("PidsLimit", None)
    answer = await containers(request).update(request.match_info["id"], changes)
    return responses.json_response(answer)


async def pause(request: web.Request) -> web.Response:
    containers(request).pause(request.match_info["id"])
    return _no_content()


async def unpause(request: web.Request) -> web.Response:
    containers(request).unpause(request.match_info["id"])
    return _no_content()


async def resize(request: web.Request) -> web.Response:
    height = query.dimension(request, "h", "height")
    width = query.dimension(request, "w", "width")
    containers(request).resize(request.match_info["id"], height, width)
    return web.Response()


async def prune(request: web.Request) -> web.Response:
    return responses.json_response(await containers(request).prune(query.filters(request)))


async def wait(request: web.Request) -> web.StreamResponse:
    condition = query.text(request, "condition") or "not-running"
    outcome = containers(request).wait_begin(request.match_info["id"], condition)
    # Headers now: `docker run` blocks on them before it starts the container.
    response = await responses.start_stream(request, "application/json")
    # Shielded: a client that hangs up must not cancel the engine's future.
    result = await asyncio.shield(outcome)
    await responses.write_json(response, result)
    return response


async def logs(request: web.Request) -> web.StreamResponse:
    stdout, stderr = query.flag(request, "stdout"), query.flag(request, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    id_ = request.match_info["id"]
    tty = bool(containers(request).inspect(id_)["Config"].get("Tty"))
    tail = query.text(request, "tail", "all")
    entries = containers(request).logs(
        id_,
        stdout=stdout,
        stderr=stderr,
        follow=query.flag(request, "follow"),
        since=query.timestamp(request, "since"),
        until=query.timestamp(request, "until"),
        timestamps=query.flag(request, "timestamps"),
        tail=int(tail) if tail.isdigit() else None,
        details=query.flag(request, "details"),
    )
    async with contextlib.aclosing(entries):
        first = asyncio.ensure_future(anext(entries, None))
        # One step of the engine's generator: its checks (such as a logging
        # driver that cannot be read) fail now, while a status can still say so.
        await asyncio.sleep(0)
        if first.done():
            first.result()
        response = await responses.start_stream(request, hijack.stream_content_type(request, tty))
        item = await first
        while item is not None:
            stream, data = item
            await response.write(data if tty else stdcopy.frame(stream, data))
            item = await anext(entries, None)
    return response


async def stats(request: web.Request) -> web.StreamResponse:
    id_ = request.match_info["id"]
    service = containers(request)
    sample = service.stats(id_)
    if not query.flag(request, "stream", default=True):
        one_shot = query.flag(request, "one-shot") and api_at_least(request, "1.41")
        if not one_shot and sample["read"] != processes.ZERO_TIME:
            # As moby does: wait for a second sample, so CPU use can be computed.
            await asyncio.sleep(STATS_INTERVAL)
            sample = service.stats(id_, sample)
        return responses.json_response(sample)
    response = await responses.start_stream(request, "application/json")
    while True:
        await responses.write_json(response, sample)
        await asyncio.sleep(STATS_INTERVAL)
        sample = service.stats(id_, sample)


async def attach(request: web.Request) -> web.StreamResponse:
    keys = detach.parse(query.text(request, "detachKeys") or detach.DEFAULT)
    stream = await containers(request).attach(
        request.match_info["id"],
        stdin=query.flag(request, "stdin"),
        stdout=query.flag(request, "stdout"),
        stderr=query.flag(request, "stderr"),
        logs=query.flag(request, "logs"),
        stream=query.flag(request, "stream"),
    )
    try:
        connection, response = hijack.hijack(
            request, hijack.stream_content_type(request, stream.tty)
        )
    except ConnectionError:
        await stream.close()
        raise
    # moby watches for the detach keys only on a TTY, where they are typed.
    watcher = detach.DetachWatcher(keys) if stream.tty else None
    await hijack.pipe(connection, stream, watcher)
    return response


def _archive_path(request: web.Request) -> str:
    path = query.text(request, "path")
    if not path:
        raise InvalidArgument("bad parameter: path cannot be empty")
    return path


def _stat_header(stat: dict[str, Any]) -> dict[str, str]:
    return {STAT_HEADER: base64.b64encode(responses.dumps(stat).encode()).decode()}


async def archive_head(request: web.Request) -> web.Response:
    stat = await asyncio.to_thread(
        containers(request).archive_stat, request.match_info["id"], _archive_path(request)
    )
    return web.Response(headers=_stat_header(stat))


async def archive_get(request: web.Request) -> web.StreamResponse:
    tar, stat = await asyncio.to_thread(
        containers(request).archive_get, request.match_info["id"], _archive_path(request)
    )
    return await _send_tar(request, tar, _stat_header(stat))


async def export(request: web.Request) -> web.StreamResponse:
    tar = await asyncio.to_thread(containers(request).export, request.match_info["id"])
    return await _send_tar(request, tar, {})


async def _send_tar(
    request: web.Request, tar: BinaryIO, headers: dict[str, str]
) -> web.StreamResponse:
    """Stream a tar a thread writes; one that cannot be finished cuts the connection, so
    that the client sees a broken transfer rather than a short archive."""
    with tar:
        response = web.StreamResponse(headers=headers)
        response.content_type = "application/x-tar"
        await response.prepare(request)
        responses.mark_started(request, response)
        try:
            while chunk := await asyncio.to_thread(tar.read, 65536):
                await response.write(chunk)
        except OSError:
            if request.transport is not None:
                request.transport.abort()
            raise
    return response


async def archive_put(request: web.Request) -> web.Response:
    await asyncio.to_thread(
        containers(request).archive_put,
        request.match_info["id"],
        _archive_path(request),
        body_file(request),
        query.flag(request, "noOverwriteDirNonDir"),
    )
    return web.Response()


def routes() -> list[web.RouteDef]:
    one = "/containers/{id}"
    return [
        web.get("/containers/json", list_containers),
        web.post("/containers/create", create),
        web.post("/containers/prune", prune),
        web.get(one + "/json", inspect),
        web.get(one + "/top", top),
        web.get(one + "/changes", changes),
        web.get(one + "/export", export),
        web.get(one + "/logs", logs),
        web.get(one + "/stats", stats),
        web.post(one + "/start", start),
        web.post(one + "/stop", stop),
        web.post(one + "/restart", restart),
        web.post(one + "/kill", kill),
        web.post(one + "/rename", rename),
        web.post(one + "/pause", pause),
        web.post(one + "/update", update),
        web.post(one + "/unpause", unpause),
        web.post(one + "/resize", resize),
        web.post(one + "/wait", wait),
        web.post(one + "/attach", attach),
        # A link's name has slashes: `docker rm --link /parent/alias` (moby's {name:.*}).
        web.delete("/containers/{id:.+}", remove),
        web.head(one + "/archive", archive_head),
        web.get(one + "/archive", archive_get, allow_head=False),
        web.put(one + "/archive", archive_put),
    ]
