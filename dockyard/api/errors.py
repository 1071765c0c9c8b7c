"""The one place where dockyard errors become Engine API status codes.

Every handler lets ``dockyard.errors`` exceptions propagate; the middleware
here answers them as Docker does: the status code of the error's kind and a
``{"message": "..."}`` body (304 has no body).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard import errors
from dockyard.api import responses

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Most specific first: CommandError is a SystemError, but moby answers a
# command that cannot be executed as an invalid container config (400).
_STATUS: tuple[tuple[type[errors.DockyardError], int], ...] = (
    (errors.InvalidArgument, 400),
    (errors.CommandError, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.NotModified, 304),
    (errors.Conflict, 409),
    (errors.NotSupported, 501),
    (errors.Unavailable, 503),
)


def status_of(error: errors.DockyardError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    return responses.json_response({"message": message}, status)


def page_not_found() -> web.Response:
    return error_response(404, "page not found")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        response = responses.started(request)
        if response is None:
            return _answer(request, exc)
        # The status line is gone already: end what was started.
        log.warning(
            "%s %s failed after its response started: %s", request.method, request.path, exc
        )
        return response


def _answer(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, errors.DockyardError):
        log.debug("%s %s: %s", request.method, request.path, exc.message)
        return error_response(status_of(exc), exc.message)
    if isinstance(exc, web.HTTPNotFound | web.HTTPMethodNotAllowed):
        # moby answers an unknown path and a known path with the wrong method alike.
        return page_not_found()
    if isinstance(exc, web.HTTPException) and exc.status < 500:
        return error_response(exc.status, exc.text or exc.reason)
    log.error("%s %s failed", request.method, request.path, exc_info=exc)
    return error_response(500, str(exc) or type(exc).__name__)
