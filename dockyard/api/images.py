"""Image routes: /images/... of the Engine API."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from dockyard.api import query, responses
from dockyard.api.body import body_file
from dockyard.api.engine_access import containers, images
from dockyard.errors import InvalidArgument, NotFound
from dockyard.store import reference


async def list_images(request: web.Request) -> web.Response:
    return responses.json_response(
        images(request).list(
            all=query.flag(request, "all"),
            filters=query.filters(request),
            digests=query.flag(request, "digests"),
        )
    )


async def inspect(request: web.Request) -> web.Response:
    return responses.json_response(images(request).inspect(request.match_info["name"]))


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
    override = json.loads(body) if body.strip() else {}
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
    deleted = images(request).remove(
        name, force=query.flag(request, "force"), noprune=query.flag(request, "noprune")
    )
    return responses.json_response(deleted)


async def prune(request: web.Request) -> web.Response:
    return responses.json_response(images(request).prune(query.filters(request)))


async def create(request: web.Request) -> web.Response:
    """Pull (fromImage) or import (fromSrc)."""
    if query.text(request, "fromImage"):
        _refuse_pull(query.text(request, "fromImage"))
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


def _refuse_pull(image: str) -> None:
    """No registry client yet: every pull fails the way Docker's does for a missing repository."""
    name = reference.parse(image.removesuffix(":")).familiar_name
    raise NotFound(
        f"pull access denied for {name}, repository does not exist or may require "
        f"'docker login': denied: requested access to the resource is denied"
    )


def routes() -> list[web.RouteDef]:
    # Image names contain slashes (localhost:5000/team/app): match them greedily.
    one = "/images/{name:.+}"
    return [
        web.get("/images/json", list_images),
        web.post("/images/create", create),
        web.post("/images/prune", prune),
        web.post("/commit", commit),
        web.get(one + "/json", inspect),
        web.get(one + "/history", history),
        web.post(one + "/tag", tag),
        web.delete(one, remove),
    ]
