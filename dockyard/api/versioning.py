"""API version negotiation and the headers Docker puts on every response.

A request path may carry the client's API version (``/v1.41/containers/json``);
the router matches it as the ``PATH_PART`` of each route (see
``server.versioned``). Without one, the request speaks the server's version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard.config import API_VERSION, ENGINE_VERSION, MIN_API_VERSION
from dockyard.errors import InvalidArgument

# The name of the version part of a route's path: /{api_version:v[0-9.]+}/...
PATH_PART = "api_version"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

VERSION_KEY = web.RequestKey("api_version", str)

STANDARD_HEADERS = {
    "Api-Version": API_VERSION,
    "Ostype": "linux",
    "Server": f"Dockyard/{ENGINE_VERSION} (linux)",
    "Docker-Experimental": "false",
}


def parse_version(text: str) -> tuple[int, ...]:
    """Turn "1.41" into (1, 41); a non-numeric part counts as 0, as in moby's comparison."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split("."))


def api_version(request: web.Request) -> str:
    return request.get(VERSION_KEY, API_VERSION)


def api_at_least(request: web.Request, version: str) -> bool:
    return parse_version(api_version(request)) >= parse_version(version)


def _check(version: str) -> None:
    if parse_version(version) < parse_version(MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if parse_version(version) > parse_version(API_VERSION):
        raise InvalidArgument(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    prefix = request.match_info.get(PATH_PART)  # absent from unmatched requests too
    if prefix is not None:
        version = prefix.removeprefix("v")
        _check(version)
        request[VERSION_KEY] = version
    return await handler(request)


async def add_standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: runs for streamed and error responses too."""
    response.headers.update(STANDARD_HEADERS)
