"""Image routes: /images/... of the Engine API."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard import platforms
from dockyard.api import query, responses
from dockyard.api.body import body_file
from dockyard.api.engine_access import containers, images, transfers
from dockyard.api.versioning import api_at_least
from dockyard.engine.transfers import Credentials, credentials
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.store import compression


async def list_images(request: web.Request) -> web.Response:
    summaries = images(request).list(
        all=query.flag(request, "all"),
        filters=query.filters(request),
        digests=query.flag(request, "digests"),
    )
    for summary in summaries:
        if not api_at_least(request, "1.43") and not (
            summary["RepoTags"] or summary["RepoDigests"]
        ):
            summary.update(RepoTags=["<none>:<none>"], RepoDigests=["<none>@<none>"])
        if not api_at_least(request, "1.44"):
            summary["VirtualSize"] = summary["Size"]
    return responses.json_response(summaries)


async def inspect(request: web.Request) -> web.Response:
    """ImageInspect in the shape of the request's API version (moby's image router)."""
    result = images(request).inspect(request.match_info["name"])
    if not api_at_least(request, "1.44"):
        result["VirtualSize"] = result["Size"]
    return responses.json_response(result)


async def history(request: web.Request) -> web.Response:
    return responses.json_response(images(request).history(request.match_info["name"]))


async def tag(request: web.Request) -> web.Response:
    images(request).tag(
        request.match_info["name"],
        query.text(request, "repo"),
        query.text(request, "tag") or None,
    )
    return web.Response(status=201)


async def commit(request: web.Request) -> web.Response:
    """POST /commit: a container's changes as a new image."""
    repo = query.text(request, "repo")
    tag = query.text(request, "tag")
    reference = f"{repo}:{tag}" if repo and tag else repo or None
    body = await request.read()
    # No body, or JSON null (the docker CLI 20.10 sends it): no config to change.
    override = (json.loads(body) if body.strip() else None) or {}
    if not isinstance(override, dict):
        raise InvalidArgument("invalid JSON: the body must be a container config object")
    changes = [*request.query.getall("changes", [])]
    image_id = await asyncio.to_thread(
        containers(request).commit,
        query.text(request, "container"),
        reference,
        comment=query.text(request, "comment"),
        author=query.text(request, "author"),
        changes=changes,
        pause=query.flag(request, "pause", True),
        config=override,
    )
    return responses.json_response({"Id": image_id}, status=201)


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not name.strip():
        raise InvalidArgument("image name cannot be blank")
    deleted = await images(request).remove(
        name, force=query.flag(request, "force"), noprune=query.flag(request, "noprune")
    )
    return responses.json_response(deleted)


async def prune(request: web.Request) -> web.Response:
    return responses.json_response(await images(request).prune(query.filters(request)))


async def create(request: web.Request) -> web.StreamResponse:
    """Pull (fromImage) or import (fromSrc)."""
    if query.text(request, "fromImage"):
        return await _pull(request, query.text(request, "fromImage"), query.text(request, "tag"))
    source = query.text(request, "fromSrc")
    if source != "-":
        raise InvalidArgument(
            f"cannot import from {source!r}: only fromSrc=- (the request body) is supported"
        )
    repo, tag_name = query.text(request, "repo"), query.text(request, "tag")
    target = f"{repo}:{tag_name}" if repo and tag_name else repo or None
    message = query.text(request, "message") or f"Imported from {source}"
    image_id = await asyncio.to_thread(
        images(request).import_tar,
        body_file(request),
        target,
        request.query.getall("changes", []),
        message,
    )
    # The progress stream of an import from the body is this one status line.
    status = json.dumps({"status": image_id}).encode() + b"\r\n"
    return web.Response(body=status, content_type="application/json")


async def save(request: web.Request) -> web.StreamResponse:
    """GET /images/get?names=A&names=B and GET /images/{name}/get: a docker-archive tar."""
    names = [request.match_info["name"]] if "name" in request.match_info else []
    names += request.query.getall("names", [])
    if not names:
        raise InvalidArgument("no images given to save")
    tar = await asyncio.to_thread(images(request).save, names)
    with tar:
        response = await responses.start_stream(request, "application/x-tar")
        while chunk := await asyncio.to_thread(tar.read, 1 << 20):
            await response.write(chunk)
    return response


async def load(request: web.Request) -> web.Response:
    """POST /images/load: the archive in the body; one JSON stream message per image loaded."""
    loaded = await asyncio.to_thread(images(request).load, body_file(request))
    lines = [
        {"stream": f"Loaded image ID: {name}\n"}
        if name.startswith("sha256:")
        else {"stream": f"Loaded image: {name}\n"}
        for name in loaded
    ]
    body = "".join(responses.dumps(line) + "\n" for line in lines).encode()
    return web.Response(body=body, content_type="application/json")


async def _pull(request: web.Request, image: str, tag: str) -> web.StreamResponse:
    """POST /images/create?fromImage=: Docker's pull progress stream."""
    separator = "@" if tag.startswith("sha256:") else ":"
    name = f"{image}{separator}{tag}" if tag else image
    given = _credentials(request)
    wanted = query.text(request, "platform")
    platform = platforms.parse(wanted) if wanted else None
    return await _progress(
        request, lambda emit: transfers(request).pull(name, emit, given, platform)
    )


async def push(request: web.Request) -> web.StreamResponse:
    """POST /images/{name}/push?tag=: Docker's push progress stream.

    ``compression`` (gzip or zstd) is dockyard's own parameter: how to compress
    layers that have no compressed form yet (gzip when not given).
    """
    name, tag = request.match_info["name"], query.text(request, "tag")
    algorithm = query.text(request, "compression")
    if algorithm:
        compression.checked(algorithm)  # refused before the stream starts
    given = _credentials(request)
    return await _progress(
        request, lambda emit: transfers(request).push(name, tag, emit, given, algorithm)
    )


def _credentials(request: web.Request) -> Credentials | None:
    """The X-Registry-Auth header: base64url JSON with username and password (or nothing)."""
    header = request.headers.get("X-Registry-Auth", "")
    if not header:
        return None
    try:
        auth = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise InvalidArgument("invalid X-Registry-Auth header") from None
    return credentials(auth) if isinstance(auth, dict) else None


async def _progress(
    request: web.Request, work: Callable[[Callable[[dict[str, Any]], None]], object]
) -> web.StreamResponse:
    """Run ``work`` in a thread and stream what it emits as JSON lines.

    As in moby, a failure before the first message is an HTTP error; one after
    it is an ``{"errorDetail": ...}`` line.
    """
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def emit(message: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(messages.put_nowait, message)

    def run() -> None:
        try:
            work(emit)
        finally:
            loop.call_soon_threadsafe(messages.put_nowait, None)

    worker = asyncio.ensure_future(asyncio.to_thread(run))
    message = await messages.get()
    if message is None:
        await worker
    response = await responses.start_stream(request, "application/json")
    try:
        while message is not None:
            await responses.write_json(response, message)
            message = await messages.get()
        await worker
    except DockyardError as e:
        await responses.write_json(
            response, {"errorDetail": {"message": e.message}, "error": e.message}
        )
    return response


def routes() -> list[web.RouteDef]:
    # Image names contain slashes (localhost:5000/team/app): match them greedily.
    one = "/images/{name:.+}"
    return [
        web.get("/images/json", list_images),
        web.post("/images/create", create),
        web.post("/images/prune", prune),
        web.get("/images/get", save),
        web.post("/images/load", load),
        web.post("/commit", commit),
        web.get(one + "/json", inspect),
        web.get(one + "/history", history),
        web.get(one + "/get", save),
        web.post(one + "/push", push),
        web.post(one + "/tag", tag),
        web.delete(one, remove),
    ]
